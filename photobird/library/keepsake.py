"""The keepsake: what the user decided, kept beside the catalogue in a small JSON file (``keepsake.json``).

The catalogue is one SQLite file; a full disk, a copy stopped half-way or a bad sector can leave it unreadable,
and with it the only copy of the user's own work. Everything else in it (what the networks saw, thumbnails,
faces found) can be computed again from the photos; what the user decided cannot. So after every change of
that (a label, a name, a merge or move of a face, a rotation, a watched folder, a setting, the active model) the
whole of it is written again beside the catalogue: the watched folders, the settings, the labels and rotations by
content hash, the people and the face decisions by content hash and box, and the model versions with the active
one (their weights are files in ``models/`` already). ``photobird repair`` rebuilds a catalogue from it and the photos
(``photobird.library.repair``). A catalogue on a PostgreSQL server (backed up by the server) has its keepsake too,
naming the server: the folder opened without ``--database`` then says where its catalogue is (``elsewhere``).

Written atomically and durably (a temporary file in the same folder, fsync, rename over the old one, fsync of
the folder), so a crash at any moment leaves the previous keepsake or the new one, never a part; and under a
lock on the folder: each change is read from the catalogue after it has committed, and the writers take turns,
so the last keepsake written holds every committed change (two processes changing the library at once). Only a
complete read is written: a catalogue that fails half-way through the read never replaces a good keepsake.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import inspect
import json
import os
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import DBAPIError

from photobird.library.db import postgres, sequences
from photobird.library.db.engines import DATABASE_ENV, EngineKind
from photobird.library.schema import (
    FaceDecision,
    Folder,
    ModelVersion,
    Person,
    PhotoEdit,
    Setting,
    UserLabel,
    utcnow,
)
from photobird.library.store import BOOKKEEPING, KEEPSAKE, CatalogueDamaged, Library, LibraryError, is_damage

#: The keepsake's format; a newer one is refused by name (its fields may mean something this one does not know).
FORMAT = 1

P = ParamSpec("P")
R = TypeVar("R")


class KeepsakeError(LibraryError):
    """The keepsake could not be written or read; one sentence saying which and why."""


@dataclass
class Keepsake:
    """The user's decisions, as the file holds them (JSON-able values only)."""

    folders: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    #: content hash -> "bird" | "not-bird"
    labels: dict[str, str] = field(default_factory=dict)
    #: person id -> name (None: a person the user placed faces in without naming them)
    people: dict[int, str | None] = field(default_factory=dict)
    #: each: content_hash, box (left, top, right, bottom as fractions), person (id), verdict (``FaceVerdict``)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    #: each: name, file, sha256, embedder_key, threshold, created_at (ISO), metrics
    versions: list[dict[str, Any]] = field(default_factory=list)
    active: str | None = None
    #: content hash -> clockwise degrees (90, 180, 270) the user turned the picture
    rotations: dict[str, int] = field(default_factory=dict)
    #: Where the catalogue is when it is not the folder's own file: its server's address (never the password).
    database: str | None = None

    def as_json(self) -> dict[str, Any]:
        where = {"database": self.database} if self.database else {}
        return {
            "format": FORMAT,
            **where,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "folders": self.folders,
            "settings": self.settings,
            "labels": self.labels,
            "rotations": self.rotations,
            "people": [{"id": pid, "name": name} for pid, name in self.people.items()],
            "face_decisions": self.decisions,
            "models": {"active": self.active, "versions": self.versions},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Keepsake:
        models = data.get("models") or {}
        return cls(
            folders=list(data.get("folders") or []),
            settings=dict(data.get("settings") or {}),
            labels=dict(data.get("labels") or {}),
            people={int(p["id"]): p.get("name") for p in data.get("people") or []},
            decisions=list(data.get("face_decisions") or []),
            versions=list(models.get("versions") or []),
            active=models.get("active"),
            rotations={h: int(r) for h, r in (data.get("rotations") or {}).items()},
            database=data.get("database"),
        )


def path_of(root: Path) -> Path:
    return root / KEEPSAKE


# --------------------------------------------------------------------------------------------------------------
# reading the catalogue: each part on its own, so what a damaged catalogue still holds can be salvaged


def _folders(conn: Connection) -> list[str]:
    return list(conn.scalars(select(Folder.path).order_by(Folder.path)))


def _settings(conn: Connection) -> dict[str, Any]:
    return {k: v for k, v in conn.execute(select(Setting.key, Setting.value)) if k not in BOOKKEEPING}


def _labels(conn: Connection) -> dict[str, str]:
    return {h: label for h, label in conn.execute(select(UserLabel.content_hash, UserLabel.label))}


def _rotations(conn: Connection) -> dict[str, int]:
    q = select(PhotoEdit.content_hash, PhotoEdit.rotation).where(PhotoEdit.rotation != 0)
    return {h: rotation for h, rotation in conn.execute(q)}


def _decisions(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            FaceDecision.content_hash,
            FaceDecision.left,
            FaceDecision.top,
            FaceDecision.right,
            FaceDecision.bottom,
            FaceDecision.person_id,
            FaceDecision.verdict,
        ).order_by(FaceDecision.id)
    )
    return [{"content_hash": h, "box": [lt, tp, rt, bt], "person": p, "verdict": v} for h, lt, tp, rt, bt, p, v in rows]


def _people(conn: Connection) -> dict[int, str | None]:
    """The named people, and the unnamed ones a decision puts faces in (the user's grouping, not a name)."""
    decided = select(FaceDecision.person_id)
    q = select(Person.id, Person.name).where(Person.name.is_not(None) | Person.id.in_(decided)).order_by(Person.id)
    return {pid: name for pid, name in conn.execute(q)}


def _versions(conn: Connection) -> tuple[list[dict[str, Any]], str | None]:
    """The model versions and the active one. Of each version's ``info`` only its metrics (a few numbers): the
    rest (the evaluation's every photo, the hashes it trained on) is large and not needed to use it again."""
    rows = conn.execute(
        select(
            ModelVersion.name,
            ModelVersion.file,
            ModelVersion.sha256,
            ModelVersion.embedder_key,
            ModelVersion.threshold,
            ModelVersion.created_at,
            ModelVersion.active,
            ModelVersion.info["metrics"],
        ).order_by(ModelVersion.id)
    ).all()
    versions = [
        {
            "name": name,
            "file": file,
            "sha256": sha,
            "embedder_key": key,
            "threshold": threshold,
            "created_at": created.isoformat() if created else None,
            "metrics": metrics,
        }
        for name, file, sha, key, threshold, created, _, metrics in rows
    ]
    return versions, next((r[0] for r in rows if r[6]), None)


def read(conn: Connection) -> Keepsake:
    """The keepsake of a catalogue (of one on a server, with its address)."""
    versions, active = _versions(conn)
    url = conn.engine.url
    return Keepsake(
        _folders(conn),
        _settings(conn),
        _labels(conn),
        _people(conn),
        _decisions(conn),
        versions,
        active,
        rotations=_rotations(conn),
        database=postgres.where(url) if EngineKind.of(url) is EngineKind.POSTGRESQL else None,
    )


def salvage(conn: Connection) -> tuple[Keepsake, list[str]]:
    """What can still be read of a damaged catalogue, part by part, and the names of the parts that could not."""
    lost: list[str] = []

    def part(name: str, reader: Callable[[Connection], R], nothing: R) -> R:
        try:
            return reader(conn)
        except DBAPIError:  # that part's pages are damaged (or its table is gone): the others may be fine
            conn.rollback()
            lost.append(name)
            return nothing

    versions, active = part("model versions", _versions, ([], None))
    found = Keepsake(
        part("folders", _folders, []),
        part("settings", _settings, {}),
        part("labels", _labels, {}),
        part("people", _people, {}),
        part("face decisions", _decisions, []),
        versions,
        active,
        rotations=part("rotations", _rotations, {}),
    )
    return found, lost


# --------------------------------------------------------------------------------------------------------------
# writing and loading the file


@contextlib.contextmanager
def _folder_locked(root: Path) -> Iterator[int]:
    """The library folder, open (its descriptor, to fsync it) and locked against other writers of the keepsake."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # (releases the lock)


def _write_durably(target: Path, data: bytes, folder_fd: int) -> None:
    """Write ``data`` to ``target`` so that a crash at any moment leaves the old file or the new one whole."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a writer that crashed (we hold the lock)
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.fsync(folder_fd)  # the rename itself survives a power cut


def save(library: Library) -> None:
    """Write the keepsake again from the catalogue (after a change of what the user decided has committed).

    Some 0.3 s for 100,000 labels and 20,000 face decisions: a plain read of a few tables (Core rows, not ORM
    objects) and one compact JSON write."""
    target = path_of(library.root)
    try:
        with _folder_locked(library.root) as folder_fd:
            with library.engine.connect() as conn:  # not a ``snapshot``: the newest state, with this change
                decided = read(conn)
            data = json.dumps(decided.as_json(), separators=(",", ":")).encode()
            _write_durably(target, data, folder_fd)
    except DBAPIError as e:
        if is_damage(e):
            raise CatalogueDamaged(library.root) from e
        raise
    except OSError as e:
        raise KeepsakeError(
            f"The change is saved in the catalogue, but its copy in {target} could not be written "
            f"({e.strerror or e}); it is written again with the next change."
        ) from e


def load(root: Path) -> Keepsake | None:
    """The keepsake beside a catalogue; None when there is none."""
    target = path_of(root)
    try:
        data = json.loads(target.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise KeepsakeError(f"The keepsake {target} cannot be read ({getattr(e, 'strerror', None) or e}).") from e
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise KeepsakeError(f"The keepsake {target} is not one PhotoBird wrote.")
    if data["format"] > FORMAT:
        raise KeepsakeError(f"The keepsake {target} was written by a newer PhotoBird; update PhotoBird to use it.")
    try:
        return Keepsake.from_json(data)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise KeepsakeError(f"The keepsake {target} is damaged ({e}).") from e


def elsewhere(root: Path) -> LibraryError | None:
    """For a library folder without its own catalogue: when its keepsake says the catalogue is on a server, the
    one sentence saying to open it there (None when it says nothing of the kind, or cannot be read)."""
    try:
        decided = load(root)
    except KeepsakeError:
        return None
    if decided is None or not decided.database:
        return None
    where = shlex.quote(decided.database)
    return LibraryError(
        f"The catalogue of the library at {root} is on a PostgreSQL server, not in its folder: open it with "
        f"--database {where} (or set {DATABASE_ENV} to that address)."
    )


def kept(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that changes what the user decided (its first argument the ``Library``): once it has
    returned (its transaction committed), the keepsake is written again. A generator (long work) is followed to
    its end: one closed before it (cancelled) changed nothing."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def steps(*args: P.args, **kwargs: P.kwargs) -> Any:
            result = yield from fn(*args, **kwargs)  # type: ignore[misc]
            save(args[0])  # type: ignore[arg-type]
            return result

        return steps  # type: ignore[return-value]

    @functools.wraps(fn)
    def changed(*args: P.args, **kwargs: P.kwargs) -> R:
        result = fn(*args, **kwargs)
        save(args[0])  # type: ignore[arg-type]
        return result

    return changed


# --------------------------------------------------------------------------------------------------------------
# restoring into a fresh catalogue


@dataclass(frozen=True)
class Restored:
    """How much of a keepsake went into a fresh catalogue (for the one line ``photobird repair`` prints)."""

    folders: int
    labels: int
    named_people: int
    decisions: int
    versions: int
    #: The model version made active again (None: the shipped one is, once the photos are indexed).
    active: str | None
    #: Pictures the user had turned.
    rotations: int = 0


def restore(library: Library, decided: Keepsake, usable: Callable[[dict[str, Any]], bool]) -> Restored:
    """Write a keepsake into a fresh, empty catalogue: people keep their ids (the decisions name them), labels and
    decisions their content hashes. ``usable``: whether a model version's weights are still there to load (one
    that is not is left out rather than made active and failing on the first index)."""
    versions = [v for v in decided.versions if usable(v)]
    active = decided.active if any(v["name"] == decided.active for v in versions) else None
    with library.session() as s:
        if decided.folders:
            s.execute(insert(Folder), [{"path": p} for p in decided.folders])
        for key, value in decided.settings.items():
            s.merge(Setting(key=key, value=value))
        if decided.labels:
            s.execute(insert(UserLabel), [{"content_hash": h, "label": v} for h, v in decided.labels.items()])
        if decided.rotations:
            s.execute(insert(PhotoEdit), [{"content_hash": h, "rotation": r} for h, r in decided.rotations.items()])
        if decided.people:
            s.execute(insert(Person), [{"id": pid, "name": name} for pid, name in decided.people.items()])
            sequences.catch_up(s.connection())  # (the people grouping finds next are numbered past these)
        decisions = [d for d in decided.decisions if d["person"] in decided.people]
        if decisions:
            s.execute(
                insert(FaceDecision),
                [
                    {
                        "content_hash": d["content_hash"],
                        "left": d["box"][0],
                        "top": d["box"][1],
                        "right": d["box"][2],
                        "bottom": d["box"][3],
                        "person_id": d["person"],
                        "verdict": d["verdict"],
                    }
                    for d in decisions
                ],
            )
        if versions:
            s.execute(
                insert(ModelVersion),
                [
                    {
                        "name": v["name"],
                        "file": v["file"],
                        "sha256": v["sha256"],
                        "embedder_key": v["embedder_key"],
                        "threshold": v["threshold"],
                        "created_at": dt.datetime.fromisoformat(v["created_at"]) if v.get("created_at") else utcnow(),
                        "active": False,
                        "info": {"metrics": v.get("metrics") or {}},
                    }
                    for v in versions
                ],
            )
            s.execute(update(ModelVersion).where(ModelVersion.name == active).values(active=True))
    return Restored(
        folders=len(decided.folders),
        labels=len(decided.labels),
        named_people=sum(1 for name in decided.people.values() if name),
        decisions=len(decisions),
        versions=len(versions),
        active=active,
        rotations=len(decided.rotations),
    )
