"""Rebuilding a damaged catalogue (``photobird repair``): the damaged file is set aside, a fresh catalogue gets
back what the user decided from the keepsake (``photobird.library.keepsake``), and indexing the photos again
does the rest: labels, rotations and face decisions are keyed by content, so they find their photos again by
content hash, and the faces found again are put back in their people by the decisions.

Without a keepsake (a library damaged before it first wrote one, or the keepsake damaged too) whatever can still
be read of the damaged catalogue, table by table, is restored instead, and the rest is rebuilt from the photos.
Nothing is deleted: the damaged files stay beside the new ones under a name that says when they were set aside.
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from photobird.library import keepsake, scan, versions
from photobird.library.db import postgres
from photobird.library.db.engines import EngineKind
from photobird.library.keepsake import Keepsake, KeepsakeError, Restored
from photobird.library.store import CATALOGUE, CatalogueDamaged, Library, LibraryError


class Source(enum.StrEnum):
    """Where the restored decisions came from."""

    KEEPSAKE = "keepsake"
    #: No usable keepsake: what could still be read of the damaged catalogue.
    SALVAGED = "salvaged"


@dataclass(frozen=True)
class Repaired:
    """What a repair did, for the lines ``photobird repair`` prints before it indexes the photos."""

    root: Path
    #: The damaged files, as they are now named (the catalogue, its write-ahead log, a damaged keepsake).
    set_aside: list[Path]
    source: Source
    restored: Restored
    #: Why the keepsake could not be used (None: it was, or there was none).
    keepsake_problem: str | None
    #: The parts of a damaged catalogue that could not be read (salvaging only).
    lost: list[str] = field(default_factory=list)
    #: Photos in the watched folders, all to be indexed again.
    photos: int = 0

    def report(self) -> list[str]:
        r = self.restored
        names = ", ".join(p.name for p in self.set_aside)
        lines = [f"Set the damaged files aside as {names}."] if names else []
        if self.keepsake_problem:
            lines.append(self.keepsake_problem)
        restored = (
            f"{_count(r.folders, 'folder')}, {_count(r.labels, 'label')}, {_count(r.named_people, 'named person')}"
            f" ({_count(r.decisions, 'face decision')}), {_count(r.versions, 'model version')}"
            + (f" ({r.active} active)" if r.active else "")
            + (f", {_count(r.rotations, 'rotated photo')}" if r.rotations else "")
        )
        if self.source is Source.KEEPSAKE:
            said = f"Restored {restored} from {keepsake.path_of(self.root).name}"
        else:
            lost = f" (unreadable: {', '.join(self.lost)})" if self.lost else ""
            said = (
                "There was no keepsake to restore from; from what could still be read of the damaged catalogue"
                f"{lost}, restored {restored}"
            )
        if r.folders:
            lines.append(f"{said}; indexing {_count(self.photos, 'photo')}\u2026")
        else:
            lines.append(f"{said}; add your photo folders again (photobird folders add DIR) and index them.")
        return lines


def _count(n: int, thing: str) -> str:
    plural = "named people" if thing == "named person" else thing + "s"
    return f"{n} {thing if n == 1 else plural}"


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _set_aside(path: Path, stamp: str, *companions: str) -> list[Path]:
    """Rename ``path`` (and its companion files, "-wal"...) to ``<name>.damaged-<stamp>`` (with the same
    endings, so SQLite still finds the log of the renamed catalogue); returns the new paths."""
    moved = []
    for ending in ("", *companions):
        old = path.with_name(path.name + ending)
        if old.exists():
            new = path.with_name(f"{path.name}.damaged-{stamp}{ending}")
            old.rename(new)
            moved.append(new)
    return moved


def _salvage(path: Path) -> tuple[Keepsake, list[str]]:
    """What can be read of a damaged catalogue file, opened read-only."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        with engine.connect() as conn:
            return keepsake.salvage(conn)
    finally:
        engine.dispose()


def _usable(library: Library) -> Callable[[dict[str, Any]], bool]:
    def usable(version: dict[str, Any]) -> bool:
        """A version whose weights are still there (the shipped one's are in the app)."""
        file = str(version.get("file") or "")
        return file.startswith(versions.SHIPPED_PREFIX) or (library.models_dir / file).is_file()

    return usable


def repair(root: Path, database: str | None = None) -> Repaired | None:
    """Rebuild the catalogue of the library at ``root`` if it is damaged (every page is checked first); None when
    it is sound. The photos are not indexed here: the caller runs the indexer, as ``photobird index`` does.
    ``database`` (or ``PHOTOBIRD_DATABASE``) naming a server's catalogue is refused in one sentence: what is
    rebuilt here is the folder's own SQLite file."""
    probe = Library(root, migrate=False, database=database)
    try:
        if probe.kind is EngineKind.POSTGRESQL:
            raise LibraryError(
                f"The catalogue of the library at {probe.root} is on the PostgreSQL server at "
                f"{postgres.where(probe.url)}, and photobird repair rebuilds only a library folder's own file: "
                "restore a damaged catalogue on a server from the server's backups with PostgreSQL's own tools "
                "(pg_restore)."
            )
        probe.require_writable("repairing its catalogue")
        with probe.indexer_lock():
            try:
                probe.check(whole=True)
            except CatalogueDamaged:
                pass
            else:
                return None
            probe.close()  # no connection may hold the damaged file while it is renamed
            return _rebuild(probe.root)
    finally:
        probe.close()


def _rebuild(root: Path) -> Repaired:
    stamp = _stamp()
    problem = None
    set_aside = _set_aside(root / CATALOGUE, stamp, "-wal", "-shm")
    try:
        kept = keepsake.load(root)
    except KeepsakeError as e:
        kept = None
        moved = _set_aside(keepsake.path_of(root), stamp)
        set_aside += moved
        problem = f"{e} It was set aside as {moved[0].name}." if moved else str(e)
    lost: list[str] = []
    source = Source.KEEPSAKE
    if kept is None:
        source = Source.SALVAGED
        damaged = root / f"{CATALOGUE}.damaged-{stamp}"
        kept, lost = _salvage(damaged) if damaged.is_file() else (Keepsake(), [])
    with Library(root, migrate=False) as fresh:
        fresh.migrate()
        restored = keepsake.restore(fresh, kept, _usable(fresh))
        keepsake.save(fresh)
        scan.scan(fresh)
        photos = len(scan.pending_ids(fresh))
    return Repaired(root, set_aside, source, restored, problem, lost, photos)
