"""The library folder: ``catalogue.sqlite`` (WAL), the thumbnail cache and the user's trained models; or, with
``--database`` / ``PHOTOBIRD_DATABASE``, a catalogue on a PostgreSQL server shared by several computers, while
the folder keeps this computer's thumbnails and models (each computer its own, or one shared folder). What
differs between the two engines lives in ``library.db``; this module only asks it.

Readers never block on the indexer (they read the last committed state while a batch is being written), and
only one indexer may write at a time: it holds an exclusive ``flock`` on ``indexer.lock`` for as long as it runs,
and a second one is refused with a message naming the first and what it is doing (indexing, or watching: the
app keeping the library up to date). On a PostgreSQL catalogue any number of indexers share the work instead
(``library.index``), and only watching is one computer's at a time.

A folder this process cannot write to (a read-only share, another user's library) is opened read-only: search,
info and statistics work, and whatever would write says so in one sentence instead of failing inside SQLite.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import os
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from photobird import config
from photobird.library.db import engines, locks, postgres, sqlite
from photobird.library.db.engines import DatabaseAddressError, EngineKind
from photobird.library.db.sqlite import is_damage, is_disk_full
from photobird.library.schema import Setting

CATALOGUE = "catalogue.sqlite"
#: The user's decisions (labels, names, folders, settings, models), kept beside the catalogue (``keepsake``).
KEEPSAKE = "keepsake.json"


class LibraryError(Exception):
    """A library folder PhotoBird cannot use, or cannot write to; the message is one sentence naming the folder
    and the problem, for the command line and the app to show as it is."""


class CatalogueDamaged(LibraryError):
    """The catalogue cannot be read (truncated, overwritten, emptied beside a keepsake): the one sentence says so,
    where the user's decisions are safe, and to run ``photobird repair``."""

    def __init__(self, root: Path, what: str = "damaged") -> None:
        self.root = root
        default = root == config.default_library_dir().resolve()
        repair = "photobird repair" if default else f"photobird --library {shlex.quote(str(root))} repair"
        if (root / KEEPSAKE).is_file():
            todo = f"your labels and names are safe in {KEEPSAKE} beside it: run {repair} to rebuild it with them"
        else:
            todo = f"run {repair} to rebuild it from the photos and what can still be read of it"
        super().__init__(f"The catalogue of the library at {root} is {what}; {todo}.")


class DiskFull(LibraryError):
    """The disk holding the library ran out of room mid-work: the sentence says what was kept (everything
    committed) and to free some space; the next run goes on from there."""


class LibraryBusy(Exception):
    """Another process is already indexing or watching this library. ``takes_over``: another computer watches a
    shared catalogue, and this one may take its place when it stops (ask again every ``WATCH_POLL_SECONDS``)."""

    def __init__(self, message: str, takes_over: bool = False) -> None:
        super().__init__(message)
        self.takes_over = takes_over


#: How often a second watcher of a shared catalogue asks whether the first has stopped.
WATCH_POLL_SECONDS = 3.0


class LockMode(enum.StrEnum):
    """Why the indexer lock is held, written beside the holder's process id so a refused second indexer can
    say whether to wait (an indexing run ends) or not to bother (the app watching keeps the library current)."""

    INDEXING = "indexing"
    WATCHING = "watching"


class SettingKey(enum.StrEnum):
    """The library-wide settings, in one place (their defaults in ``SETTING_DEFAULTS``)."""

    #: Find faces and group them into people; turning it off deletes every face, person and name.
    FACES = "faces"
    #: The newest face grouping has seen, so a run that was cancelled before grouping groups on the next run.
    FACES_GROUPED_THROUGH = "faces.grouped-through"


SETTING_DEFAULTS: dict[SettingKey, Any] = {SettingKey.FACES: True, SettingKey.FACES_GROUPED_THROUGH: 0}
#: Settings that describe this catalogue's rows (face ids), not the user's wishes: left out of the keepsake.
BOOKKEEPING = frozenset({SettingKey.FACES_GROUPED_THROUGH})


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


class Library:
    """One library folder, and its catalogue (the folder's SQLite file, or ``database``: a PostgreSQL URL, else
    ``PHOTOBIRD_DATABASE`` if set; ``Catalogue.OWN_FILE``: the folder's file regardless). Cheap to open; every
    process (CLI, app, indexer) opens its own."""

    def __init__(
        self, root: Path | str | None = None, migrate: bool = True, database: str | engines.Catalogue | None = None
    ) -> None:
        self.root = Path(root).expanduser().resolve() if root else config.default_library_dir().resolve()
        self.thumbs_dir = self.root / "thumbs"
        self.models_dir = self.root / "models"
        self.db_path = self.root / CATALOGUE
        if self.root.exists() and not self.root.is_dir():
            raise LibraryError(f"The library {self.root} is a file, not a folder; choose a folder for the library.")
        try:
            self.url: URL = engines.catalogue_url(self.db_path, database)
        except DatabaseAddressError as e:
            raise LibraryError(str(e)) from None
        self.kind = EngineKind.of(self.url)
        #: Whether this process may not write here (``os.access``: root may write a folder without write bits).
        #: Only the folder's own catalogue can be read-only this way; a server's is written through the server.
        self.read_only = (
            self.kind is EngineKind.SQLITE
            and self.root.is_dir()
            and not (os.access(self.root, os.W_OK) and (not self.db_path.exists() or os.access(self.db_path, os.W_OK)))
        )
        if self.read_only:
            if not self.db_path.is_file():
                raise LibraryError(
                    f"This library is read-only ({self.root}): it has no catalogue yet, and PhotoBird cannot "
                    "create one there."
                )
            self.url = sqlite.url(self.db_path, read_only=True)
        else:
            try:
                for folder in (self.root, self.thumbs_dir, self.models_dir):
                    folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LibraryError(f"PhotoBird cannot create the library at {self.root}: {e.strerror}.") from e
        self.engine: Engine = engines.open_engine(self.url)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._pinned = threading.local()  # the connection of this thread's ``snapshot``, if it is in one
        if migrate:
            self.check()
            self.migrate()

    # ----------------------------------------------------------------------------------------------------------

    def check(self, whole: bool = False) -> None:
        """Refuse a catalogue that cannot be used before anything reads it. On a server: one that does not answer,
        refuses the login or has no such database (``LibraryError``, one sentence naming the server). In the
        folder, a damaged one (``CatalogueDamaged``): not an SQLite database, shorter than its header says, or
        failing ``PRAGMA quick_check`` (read whole when it is small, or when ``whole``: ``photobird repair``
        asks), and an empty or missing one beside a keepsake (a fresh catalogue there would soon overwrite the
        keepsake with nothing)."""
        if self.kind is EngineKind.POSTGRESQL:
            with self.connect():
                return
        size = self.db_path.stat().st_size if self.db_path.is_file() else 0
        if size == 0:
            if (self.root / KEEPSAKE).is_file():
                from photobird.library import keepsake  # (it reads the library through this module)

                raise keepsake.elsewhere(self.root) or CatalogueDamaged(
                    self.root, "missing" if not self.db_path.exists() else "empty"
                )
            return
        with self.connect() as conn:  # not a database at all: CatalogueDamaged, from ``connect``
            if not sqlite.sound(conn, self.db_path, whole):
                raise CatalogueDamaged(self.root)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it already is). On a server, several computers
        opening an older catalogue at once take turns: the first migrates, the others find it current."""
        cfg = _alembic_config()
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        self.require_writable("upgrading its catalogue from an older PhotoBird")
        with self.engine.begin() as conn:
            if self.kind is EngineKind.POSTGRESQL:
                postgres.lock_for_migration(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read this thread makes inside sees one committed state of the catalogue, so numbers shown
        side by side (the folders' "to do", the grid's count, "Indexing 83 of 269") agree while the indexer
        commits between the reads. One read transaction on one connection (SQLite: a deferred ``BEGIN``, whose
        first read fixes what the rest see; PostgreSQL: a read-only REPEATABLE READ transaction); ``session`` and
        ``connect`` use it while it lasts."""
        with self._connection() as conn:
            engines.begin_snapshot(conn)
            self._pinned.conn = conn
            try:
                yield
            finally:
                self._pinned.conn = None
                conn.rollback()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for Core reads: this thread's ``snapshot`` if it is in one, else a new one."""
        pinned = getattr(self._pinned, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self._connection() as conn:
            yield conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A new connection, whose errors that say the catalogue cannot be used become one sentence."""
        try:
            conn = self.engine.connect()
        except Exception as e:
            said = self._unusable(e, connecting=True)
            if said is None:
                raise
            raise said from e
        try:
            with conn:
                yield conn
        except Exception as e:  # (a search reads through the driver's own cursor: its errors are not wrapped)
            said = self._unusable(e)
            if said is None:
                raise
            raise said from e

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error (inside a ``snapshot``: reads it)."""
        pinned = getattr(self._pinned, "conn", None)
        s = self.Session() if pinned is None else Session(bind=pinned, expire_on_commit=False)
        try:
            yield s
            s.commit()
        except BaseException as e:
            s.rollback()
            said = self._unusable(e)
            if said is None:
                raise
            raise said from e
        finally:
            s.close()

    def _unusable(self, error: BaseException, connecting: bool = False) -> LibraryError | None:
        """The one-sentence error to raise instead of ``error`` when it says the catalogue cannot be used: the
        folder's file is damaged, or the server cannot be reached (``connecting``: ``error`` came of opening a
        connection). None for any other error, which is raised as it is."""
        if self.kind is EngineKind.SQLITE:
            return CatalogueDamaged(self.root) if is_damage(error) else None
        said = postgres.cannot_open(self.url, error, connecting)
        return LibraryError(said) if said else None

    def require_writable(self, doing: str) -> None:
        """Refuse, in one sentence, what would write to a read-only library (before it fails inside SQLite or
        on a lock file); ``doing`` names it: "labelling photos", "indexing"."""
        if self.read_only:
            raise LibraryError(
                f"This library is read-only ({self.root}): {doing} needs to write to it "
                "(searching and reading it still work)."
            )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def indexer_lock(self, mode: LockMode = LockMode.INDEXING) -> Iterator[None]:
        """Exclusive right to index this library, held for ``mode`` (written in the lock file as "PID MODE");
        raises ``LibraryBusy`` if another process has it, saying which process and what it is doing.

        On PostgreSQL any number of indexers share the catalogue (each claims its own photos), so indexing takes
        no lock; watching is one computer's at a time (an advisory lock held on a connection of its own for as
        long as it watches), and a second watcher is refused with ``LibraryBusy.takes_over``."""
        self.require_writable("indexing" if mode is LockMode.INDEXING else "watching for changes")
        if self.kind is EngineKind.POSTGRESQL:
            with self._shared_lock(mode):
                yield
            return
        path = self.root / "indexer.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise LibraryBusy(self._busy_message(fd)) from None
            os.ftruncate(fd, 0)
            try:
                os.pwrite(fd, f"{os.getpid()} {mode.value}".encode(), 0)
            except OSError as e:  # a run started again on a disk still full: no room for these few bytes
                if not is_disk_full(e):
                    raise
                raise DiskFull(
                    f"The disk holding the library is full ({self.root}): indexing cannot start; free some space "
                    "and index again."
                ) from e
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _shared_lock(self, mode: LockMode) -> Iterator[None]:
        if mode is LockMode.INDEXING:
            yield
            return
        watching = locks.SessionLock(self.engine, locks.Key.WATCHING)
        try:
            if not watching.take():
                raise LibraryBusy(
                    f"Another computer (or another PhotoBird on this one) is watching the catalogue at "
                    f"{postgres.where(self.url)} and keeping it up to date; this one takes over when it stops",
                    takes_over=True,
                )
            yield
        finally:
            watching.release()

    def _busy_message(self, fd: int) -> str:
        """What the lock's holder wrote: its process id and why it holds the lock (a holder from before the
        reason was written, or one caught between taking the lock and writing, counts as indexing)."""
        written = ""
        with contextlib.suppress(OSError):
            written = os.pread(fd, 64, 0).decode(errors="replace")
        pid, _, why = written.strip().partition(" ")
        who = f" (process {pid})" if pid else ""
        if why == LockMode.WATCHING:
            return (
                f"PhotoBird{who} is watching the library at {self.root} and keeping it up to date (the app, or "
                "photobird index --watch), so there is nothing to index here"
            )
        return (
            f"another PhotoBird{who} is already indexing the library at {self.root}; "
            "wait for it to finish or stop it first"
        )

    # ----------------------------------------------------------------------------------------------------------
    # settings: one registry for library-wide settings

    def get_setting(self, key: str, default: Any = None) -> Any:
        """A setting's value; for a ``SettingKey`` not yet set, its default."""
        if default is None and isinstance(key, SettingKey):
            default = SETTING_DEFAULTS.get(key)
        with self.session() as s:
            row = s.get(Setting, str(key))
            return default if row is None else row.value

    def set_setting(self, key: str, value: Any) -> None:
        with self.session() as s:
            s.merge(Setting(key=str(key), value=value))
        if key not in BOOKKEEPING:
            from photobird.library import keepsake  # (it reads the library through this module)

            keepsake.save(self)

    def settings(self) -> dict[str, Any]:
        with self.session() as s:
            return {r.key: r.value for r in s.scalars(select(Setting))}

    def thumb_path(self, content_hash: str) -> Path:
        return self.thumbs_dir / content_hash[:2] / f"{content_hash}.jpg"
