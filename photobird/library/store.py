"""The library folder: ``catalogue.sqlite`` (WAL), the thumbnail cache and the user's trained models.

Readers never block on the indexer (SQLite's write-ahead log lets them read the last committed state while a
batch is being written), and only one indexer may write at a time: it holds an exclusive ``flock`` on
``indexer.lock`` for as long as it runs, and a second one is refused with a message naming the first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from photobird import config
from photobird.library.schema import Setting

CATALOGUE = "catalogue.sqlite"


class LibraryBusy(Exception):
    """Another process is already indexing this library."""


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
        self.root.mkdir(parents=True, exist_ok=True)
        self.thumbs_dir = self.root / "thumbs"
        self.models_dir = self.root / "models"
        self.thumbs_dir.mkdir(exist_ok=True)
        self.models_dir.mkdir(exist_ok=True)
        self.db_path = self.root / CATALOGUE
        self.engine: Engine = create_engine(
            f"sqlite:///{self.db_path}",
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", _on_connect)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    # ----------------------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it already is)."""
        cfg = _alembic_config()
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        s = self.Session()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def indexer_lock(self) -> Iterator[None]:
        """Exclusive right to index this library; raises ``LibraryBusy`` if another process has it."""
        path = self.root / "indexer.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = ""
                with contextlib.suppress(OSError):
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                who = f" (process {holder})" if holder else ""
                raise LibraryBusy(
                    f"another PhotoBird is already indexing the library at {self.root}{who}; "
                    "wait for it to finish or stop it first"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ----------------------------------------------------------------------------------------------------------
    # settings: one registry for library-wide settings

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.session() as s:
            row = s.get(Setting, key)
            return default if row is None else row.value

    def set_setting(self, key: str, value: Any) -> None:
        with self.session() as s:
            s.merge(Setting(key=key, value=value))

    def settings(self) -> dict[str, Any]:
        with self.session() as s:
            return {r.key: r.value for r in s.scalars(select(Setting))}

    def thumb_path(self, content_hash: str) -> Path:
        return self.thumbs_dir / content_hash[:2] / f"{content_hash}.jpg"
