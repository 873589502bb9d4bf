"""The library folder: ``catalogue.sqlite`` (WAL), the thumbnail cache and the user's trained models.

Readers never block on the indexer (SQLite's write-ahead log lets them read the last committed state while a
batch is being written), and only one indexer may write at a time: it holds an exclusive ``flock`` on
``indexer.lock`` for as long as it runs, and a second one is refused with a message naming the first and what it
is doing (indexing, or watching: the app keeping the library up to date).

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
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from photobird import config
from photobird.library.schema import Setting

CATALOGUE = "catalogue.sqlite"
#: The user's decisions (labels, names, folders, settings, models), kept beside the catalogue (``keepsake``).
KEEPSAKE = "keepsake.json"
#: A catalogue up to this size is checked page by page when opened (``PRAGMA quick_check``, some 50 ms);
#: a bigger one by its header, and by every read, which says so the moment it meets a damaged page.
CHECK_WHOLE_BYTES = 64 << 20


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


def is_damage(error: BaseException) -> bool:
    """Whether SQLite refused a read because the file is not (or no longer) a sound database: "database disk
    image is malformed" or "file is not a database" (SQLAlchemy wraps the driver's error)."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class DiskFull(LibraryError):
    """The disk holding the library ran out of room mid-work: the sentence says what was kept (everything
    committed) and to free some space; the next run goes on from there."""


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` comes of the disk holding the library being full: a file write's ``ENOSPC`` (or a
    quota's ``EDQUOT``: a thumbnail), or SQLite's ``SQLITE_FULL``, "database or disk is full" (SQLAlchemy wraps
    the driver's error). An error raised while handling one (a batch written again on the way out) counts too."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(seen, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) == sqlite3.SQLITE_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class LibraryBusy(Exception):
    """Another process is already indexing or watching this library."""


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


def _sqlite_url(path: Path, options: str = "") -> URL:
    """The catalogue's URL, as an SQLite URI with the path percent-encoded: a folder named "100% #1 ?" must
    not end the path at its "?" (a catalogue created somewhere else) or be decoded at its "%"."""
    return URL.create("sqlite", database=f"file:{urllib.parse.quote(str(path))}{options}", query={"uri": "true"})


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across application crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MB page cache
    cur.close()


class Library:
    """One library folder. Cheap to open; every process (CLI, app, indexer) opens its own."""

    def __init__(self, root: Path | str | None = None, migrate: bool = True) -> None:
        self.root = Path(root).expanduser().resolve() if root else config.default_library_dir().resolve()
        self.thumbs_dir = self.root / "thumbs"
        self.models_dir = self.root / "models"
        self.db_path = self.root / CATALOGUE
        if self.root.exists() and not self.root.is_dir():
            raise LibraryError(f"The library {self.root} is a file, not a folder; choose a folder for the library.")
        #: Whether this process may not write here (``os.access``: root may write a folder without write bits).
        self.read_only = self.root.is_dir() and not (
            os.access(self.root, os.W_OK) and (not self.db_path.exists() or os.access(self.db_path, os.W_OK))
        )
        if self.read_only:
            if not self.db_path.is_file():
                raise LibraryError(
                    f"This library is read-only ({self.root}): it has no catalogue yet, and PhotoBird cannot "
                    "create one there."
                )
            # immutable: SQLite reads a WAL catalogue without creating the -shm file it could not create here
            url = _sqlite_url(self.db_path, "?mode=ro&immutable=1")
        else:
            try:
                for folder in (self.root, self.thumbs_dir, self.models_dir):
                    folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LibraryError(f"PhotoBird cannot create the library at {self.root}: {e.strerror}.") from e
            url = _sqlite_url(self.db_path)
        self.engine: Engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(self.engine, "connect", _on_connect)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._pinned = threading.local()  # the connection of this thread's ``snapshot``, if it is in one
        if migrate:
            self.check()
            self.migrate()

    # ----------------------------------------------------------------------------------------------------------

    def check(self, whole: bool = False) -> None:
        """Refuse a damaged catalogue (``CatalogueDamaged``) before anything reads it: one that is not an SQLite
        database, is shorter than its header says, or fails ``PRAGMA quick_check`` (read whole when it is small,
        or when ``whole``: ``photobird repair`` asks), and an empty or missing one beside a keepsake (a fresh
        catalogue there would soon overwrite the keepsake with nothing)."""
        size = self.db_path.stat().st_size if self.db_path.is_file() else 0
        if size == 0:
            if (self.root / KEEPSAKE).is_file():
                raise CatalogueDamaged(self.root, "missing" if not self.db_path.exists() else "empty")
            return
        # Read through SQLite only, never by opening the file here: closing any other descriptor of the catalogue
        # drops every SQLite lock this process holds on it (POSIX locks belong to the process), and another
        # connection of this process would lose its write-ahead log to the next process that closes it.
        with self.connect() as conn:  # not a database at all: CatalogueDamaged, from ``connect``
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
            page_size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
            # a file cut short (a full disk, a copy stopped half-way) is refused before a query meets its missing
            # pages; one shorter than its header says is sound while a write-ahead log holds the rest
            wal = self.db_path.with_name(self.db_path.name + "-wal")
            with_log = wal.is_file() and wal.stat().st_size > 0
            if not with_log and size < pages * page_size:
                raise CatalogueDamaged(self.root)
            if (whole or size <= CHECK_WHOLE_BYTES) and conn.exec_driver_sql("PRAGMA quick_check").scalar() != "ok":
                raise CatalogueDamaged(self.root)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it already is)."""
        cfg = _alembic_config()
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        self.require_writable("upgrading its catalogue from an older PhotoBird")
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read this thread makes inside sees one committed state of the catalogue, so numbers shown
        side by side (the folders' "to do", the grid's count, "Indexing 83 of 269") agree while the indexer
        commits between the reads. One read transaction on one connection (SQLite: a deferred ``BEGIN``,
        whose first read fixes what the rest see); ``session`` and ``connect`` use it while it lasts."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")
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
        try:
            with self.engine.connect() as conn:
                yield conn
        except Exception as e:  # (a search reads through the driver's own cursor: its errors are not wrapped)
            if is_damage(e):
                raise CatalogueDamaged(self.root) from e
            raise

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
            if is_damage(e):
                raise CatalogueDamaged(self.root) from e
            raise
        finally:
            s.close()

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
        raises ``LibraryBusy`` if another process has it, saying which process and what it is doing."""
        self.require_writable("indexing" if mode is LockMode.INDEXING else "watching for changes")
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
