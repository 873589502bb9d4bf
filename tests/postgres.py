"""A real PostgreSQL server for the tests, started once per session with Debian's binaries, nothing mocked.

``postgres_server`` starts ``initdb`` + ``pg_ctl`` in a temporary folder, listening on a free port of 127.0.0.1
and on a unix socket in that folder only, and stops it at the end of the session (also when a test fails or the
run is interrupted). The server asks for a password over TCP (so a wrong one is refused, as on a real server)
and trusts only its own unix socket. ``postgres_url`` gives each test a fresh database of its own, dropped after.

Tests run as root here and in CI, and ``initdb`` refuses to run as root: then the server runs as the
``postgres`` system user (Debian's package creates it), which owns the folder.

- ``PHOTOBIRD_TEST_POSTGRES_URL``: use an existing server instead (a superuser's URL; each test's database is
  created and dropped there).
- ``PHOTOBIRD_TEST_POSTGRES=skip``: skip the PostgreSQL tests where the binaries are missing (they fail,
  saying how to install them, otherwise).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, make_url, text

URL_ENV = "PHOTOBIRD_TEST_POSTGRES_URL"
MODE_ENV = "PHOTOBIRD_TEST_POSTGRES"
SUPERUSER = "photobird"
#: The system user a server started by root runs as (``initdb`` refuses root).
SERVER_USER = "postgres"


def _binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the one on PATH, else Debian's newest version's."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for folder in [*candidates, *debian]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Run by a process of its own beside the tests: once the tests' end of its standard input closes (the session
#: ended, or the test process was killed and never got to its own clean-up), stop the server and remove its
#: folder.
_GUARD = """
import shutil, subprocess, sys
sys.stdin.read()
subprocess.run(sys.argv[2:], capture_output=True)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


def _as_server(command: list[str], as_root: bool) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if as_root else command


def _run(command: list[str], as_root: bool) -> None:
    """Run a server command, as the server's system user when this process is root; fail the tests with what
    it said when it fails."""
    done = subprocess.run(_as_server(command, as_root), capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


@contextlib.contextmanager
def _started(binaries: Path) -> Iterator[URL]:
    """A new server in a temporary folder, stopped and removed on the way out (by a guard process, so also when
    this process is killed); its superuser's TCP URL."""
    as_root = os.geteuid() == 0
    # in /tmp itself, not pytest's temporary folder: that one is private to this user, and the server's own
    # user must reach its data folder; the unix socket's path must also stay short (about 100 bytes)
    home = Path(tempfile.mkdtemp(prefix="photobird-pg-"))
    data, log = home / "data", home / "server.log"
    password = secrets.token_hex(8)
    (home / "password").write_text(password)
    if as_root:
        shutil.chown(home, SERVER_USER)
        shutil.chown(home / "password", SERVER_USER)
    stop = _as_server([str(binaries / "pg_ctl"), f"--pgdata={data}", "-m", "immediate", "-w", "stop"], as_root)
    # in a session of its own, so that what kills the tests' process group leaves it to clean up
    guard = subprocess.Popen(
        [sys.executable, "-c", _GUARD, str(home), *stop], stdin=subprocess.PIPE, start_new_session=True
    )
    try:
        _run(
            [
                str(binaries / "initdb"),
                f"--pgdata={data}",
                f"--username={SUPERUSER}",
                f"--pwfile={home / 'password'}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            as_root,
        )
        port = _free_port()
        # fsync off: a test server that loses power loses nothing anyone needs, and it spares the disk
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off -c full_page_writes=off"
        _run([str(binaries / "pg_ctl"), f"--pgdata={data}", f"--log={log}", "-o", options, "-w", "start"], as_root)
        yield URL.create(
            "postgresql+psycopg",
            username=SUPERUSER,
            password=password,
            host="127.0.0.1",
            port=port,
            database="postgres",
        )
    finally:
        assert guard.stdin is not None
        guard.stdin.close()  # the guard stops the server (if it started) and removes its folder
        guard.wait()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """A PostgreSQL server for this session: its superuser's URL (password included), database ``postgres``."""
    given = os.environ.get(URL_ENV)
    if given:
        yield make_url(given).set(drivername="postgresql+psycopg")
        return
    binaries = _binaries()
    if binaries is None:
        if os.environ.get(MODE_ENV) == "skip":
            pytest.skip(f"PostgreSQL's server binaries are not installed ({MODE_ENV}=skip)")
        pytest.fail(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install them with "
            f"`apt-get install postgresql`, point {URL_ENV} at a server, or set {MODE_ENV}=skip to skip these tests",
            pytrace=False,
        )
    with _started(binaries) as url:
        yield url


@contextlib.contextmanager
def fresh_database(server: URL) -> Iterator[str]:
    """A fresh, empty database on ``server``, dropped on the way out; its URL (password included)."""
    name = f"photobird_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as c:  # WITH (FORCE): a connection the test left open does not keep it
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: URL) -> Iterator[str]:
    """A fresh, empty database on the session's server for this test alone, dropped after it; its URL."""
    with fresh_database(postgres_server) as url:
        yield url
