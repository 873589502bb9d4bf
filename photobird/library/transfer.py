"""Moving a library's catalogue to another engine: the folder's SQLite file to a PostgreSQL server (a library
outgrowing one computer), or back, or from one server to another (``photobird library copy``).

Every table of the schema is copied (``Base.metadata.sorted_tables``, so a table added later is copied too), with
the same ids, in one transaction on the target: a copy that fails half-way leaves the target as empty as it was,
and running it again is the way to start over (a copy in committed chunks would leave a half library that the
next run must refuse, since PhotoBird never mixes two libraries). The source is read in one snapshot, so an
indexer writing to it meanwhile does not make the copy disagree with itself, and in chunks of ``CHUNK`` rows, so
the embeddings of a million photos go through in constant memory. Then the target's id sequences are moved past
the copied ids (``db.sequences``), and every table's rows are counted on both sides.

A catalogue is not all of a library: the trained models' weights (``model_versions.file``) and the thumbnails are
files in the folder that opens it (``Library.models_dir``, ``thumbs_dir``). The target's folder is the target
itself when it is a folder, else the folder that will open the server's catalogue (the source's by default);
what that folder lacks is copied there. Its keepsake is written from the new catalogue, so the folder's copy of
the user's decisions agrees with it (and a folder catalogue opened afterwards finds its keepsake beside it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Table, func, insert, select

from photobird.library import keepsake
from photobird.library.db import engines, postgres, sequences
from photobird.library.db.engines import DatabaseAddressError, EngineKind
from photobird.library.schema import Base, ModelVersion, Photo
from photobird.library.store import Library, LibraryError
from photobird.library.versions import SHIPPED_PREFIX

#: Rows read and written at a time: some 5 MB of embeddings, whatever the library's size.
CHUNK = 2000


class CopyRefused(LibraryError):
    """A copy that must not run (its target is the source, or holds another library); one sentence."""


@dataclass(frozen=True)
class CopyProgress:
    """Where the copy is: a table and the rows of it written so far (in the target's open transaction)."""

    table: str
    done: int
    total: int


@dataclass(frozen=True)
class Copied:
    """What a finished copy did, and how it checked itself."""

    source: str
    target: str
    #: table -> (rows in the source, rows in the target), in the order they were copied
    counts: dict[str, tuple[int, int]]
    #: The folder whose ``models/`` and ``thumbs/`` the copied catalogue is to be opened with.
    folder: Path
    #: Model weights and thumbnails copied into ``folder`` (0 when it is the source's own folder).
    model_files: int
    thumbnails: int
    seconds: float

    @property
    def verified(self) -> bool:
        return all(source == target for source, target in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "tables": {name: {"source": s, "target": t} for name, (s, t) in self.counts.items()},
            "verified": self.verified,
            "folder": str(self.folder),
            "model_files": self.model_files,
            "thumbnails": self.thumbnails,
            "seconds": round(self.seconds, 3),
        }


def tables() -> list[Table]:
    """Every table of the catalogue, each after the tables it refers to."""
    return list(Base.metadata.sorted_tables)


def where(library: Library) -> str:
    """A catalogue's address for messages: the server's (no password), or the folder's file."""
    return postgres.where(library.url) if library.kind is EngineKind.POSTGRESQL else str(library.db_path)


def counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in tables()}


def _server_database(url: URL) -> tuple[str, int, str | None]:
    return (url.host or "localhost", url.port or 5432, url.database)


def open_target(source: Library, to: str, folder: Path | None = None) -> Library:
    """The target of a copy, migrated to the newest schema and checked to be empty: ``to`` is a PostgreSQL URL
    (opened from ``folder``, by default the source's folder) or a library folder (its own SQLite file).
    Raises ``CopyRefused`` (or the ``LibraryError`` of a server that cannot be reached) in one sentence."""
    url = "://" in to
    if url:
        try:
            server = engines.catalogue_url(Path(), to)
        except DatabaseAddressError as e:
            raise CopyRefused(str(e).replace("in --database", "to copy to")) from None
        if source.kind is EngineKind.POSTGRESQL and _server_database(server) == _server_database(source.url):
            raise CopyRefused(f"The catalogue at {postgres.where(server)} is the one being copied: give another.")
        root = Path(folder).expanduser().resolve() if folder else source.root
    else:
        if folder is not None:
            raise CopyRefused("--folder is for a copy to a server: a library folder keeps its models in itself.")
        root = Path(to).expanduser().resolve()
        if source.kind is EngineKind.SQLITE and root == source.root:
            raise CopyRefused(f"The library at {root} is the one being copied: give another folder.")
    if root != source.root:
        _refuse_another_keepsake(source, root)
    if url:
        target = Library(root, migrate=False, database=to)
        target.check()  # a server that cannot be reached: one sentence, before anything is written
    else:
        target = Library(root, migrate=False, database=engines.Catalogue.OWN_FILE)
        if target.db_path.is_file() and target.db_path.stat().st_size:
            target.check()
    try:
        target.require_writable("copying a library into it")
        target.migrate()
        with target.connect() as conn:
            held = {name: n for name, n in counts(conn).items() if n}
    except BaseException:
        target.close()
        raise
    if held:
        target.close()
        photos = held.get(Photo.__tablename__, 0)
        what = f"{photos:,} photos, {sum(held.values()) - photos:,} other rows"
        raise CopyRefused(
            f"The catalogue at {where(target)} already holds a library ({what}): copy to an empty database or a "
            "new folder, since PhotoBird never mixes two libraries."
        )
    return target


def _refuse_another_keepsake(source: Library, root: Path) -> None:
    """Refuse a folder whose keepsake holds decisions other than the source's: writing the copy's over it would
    lose another library's only spare copy of its user's work."""
    theirs = keepsake.load(root) if root.is_dir() else None
    if theirs is None:
        return
    with source.snapshot(), source.connect() as conn:
        ours = keepsake.read(conn)
    if _decisions(theirs) != _decisions(ours):
        raise CopyRefused(
            f"The folder {root} holds the keepsake of another library ({keepsake.path_of(root).name}): choose "
            "a new folder, since PhotoBird never mixes two libraries."
        )


def _decisions(kept: keepsake.Keepsake) -> Any:
    """A keepsake as its file says it, less the moment it was written."""
    data = json.loads(json.dumps(kept.as_json()))
    data.pop("written_at", None)
    return data


def copy_steps(source: Library, target: Library) -> Generator[CopyProgress, None, Copied]:
    """Copy ``source``'s catalogue into ``target`` (from ``open_target``: migrated and empty), then the files
    the catalogue names into the target's folder, then write its keepsake; yields progress, returns what was
    done. A failure leaves the target's catalogue empty."""
    start = time.monotonic()
    model_files = _copy_models(source, target)
    thumbnails = _copy_thumbnails(source, target)
    with source.snapshot(), source.connect() as src:
        before = counts(src)
        with target.connect() as dst, dst.begin():
            for table in tables():
                yield CopyProgress(table.name, 0, before[table.name])
                done = 0
                rows = src.execute(
                    select(table).order_by(*table.primary_key.columns).execution_options(yield_per=CHUNK)
                )
                for part in rows.partitions():
                    dst.execute(insert(table), [dict(row._mapping) for row in part])
                    done += len(part)
                    yield CopyProgress(table.name, done, before[table.name])
            sequences.catch_up(dst)
    with target.connect() as dst:
        after = counts(dst)
    keepsake.save(target)
    return Copied(
        source=where(source),
        target=where(target),
        counts={name: (n, after[name]) for name, n in before.items()},
        folder=target.root,
        model_files=model_files,
        thumbnails=thumbnails,
        seconds=time.monotonic() - start,
    )


def copy(source: Library, target: Library, progress: Callable[[CopyProgress], None] | None = None) -> Copied:
    """``copy_steps`` to its end."""
    steps = copy_steps(source, target)
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(step)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _copy_models(source: Library, target: Library) -> int:
    """Copy the weights of the user's model versions into the target's ``models/`` (the shipped head is in the
    app's resources); refuse a file there of the same name and other content, before anything is copied."""
    if target.models_dir == source.models_dir:
        return 0
    with source.snapshot(), source.connect() as conn:
        rows = conn.execute(select(ModelVersion.file, ModelVersion.sha256)).all()
    todo = []
    for file, sha in rows:
        if file.startswith(SHIPPED_PREFIX) or not (source.models_dir / file).is_file():
            continue  # (a version whose file is gone is copied as it is: it says so when it is used)
        there = target.models_dir / file
        if there.is_file():
            if _sha256(there) != sha:
                raise CopyRefused(
                    f"The folder {target.root} already holds another model file {file}: choose a new folder."
                )
            continue
        todo.append(file)
    for file in todo:
        there = target.models_dir / file
        there.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.models_dir / file, there)
    return len(todo)


def _copy_thumbnails(source: Library, target: Library) -> int:
    """Copy the thumbnails the target's folder lacks (named by content: one already there is the same picture's).
    The index makes a photo's thumbnail when it reads the photo, so a folder without them would show none."""
    if target.thumbs_dir == source.thumbs_dir or not source.thumbs_dir.is_dir():
        return 0
    copied = 0
    for folder, _, names in os.walk(source.thumbs_dir):
        into = target.thumbs_dir / Path(folder).relative_to(source.thumbs_dir)
        for name in names:
            if name.startswith(".") or (into / name).exists():  # (a thumbnail being written: ``.tmp``)
                continue
            into.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder) / name, into / name)
            copied += 1
    return copied
