"""A catalogue on a real PostgreSQL server (started for the session by ``tests/postgres.py``): what PhotoBird says
when it cannot be opened, and two computers migrating a new catalogue at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, make_url

from photobird.library.store import Library, LibraryError, _alembic_config


def _refusal(tmp_path: Path, url: URL) -> str:
    with pytest.raises(LibraryError) as refused:
        Library(tmp_path / "library", database=url.render_as_string(hide_password=False))
    message = str(refused.value)
    assert message.startswith(f"PhotoBird cannot open the catalogue at postgresql://{url.username}@{url.host}:")
    assert "\n" not in message and message.endswith(".")
    if url.password:
        assert url.password not in message
    return message


def test_a_refused_login_is_one_sentence_naming_the_server_and_never_the_password(
    tmp_path: Path, postgres_server: URL
) -> None:
    url = postgres_server.set(username="nobody", password="wrong-s3cret")
    message = _refusal(tmp_path, url)
    assert f":{url.port}/postgres: " in message
    assert 'for user "nobody"' in message or 'role "nobody" does not exist' in message  # (a trusting server)


def test_a_database_the_server_does_not_have_is_named(tmp_path: Path, postgres_server: URL) -> None:
    message = _refusal(tmp_path, postgres_server.set(database="no_such_catalogue"))
    assert message.endswith('/no_such_catalogue: database "no_such_catalogue" does not exist.')


def test_a_server_that_is_not_there_is_named(tmp_path: Path, postgres_server: URL) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on (bound, never listening: refused)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        message = _refusal(tmp_path, postgres_server.set(port=port))
    assert message.endswith(f"127.0.0.1:{port}/postgres: connection refused.")


def test_an_option_libpq_does_not_know_is_named(tmp_path: Path, postgres_url: str) -> None:
    message = _refusal(tmp_path, make_url(postgres_url).update_query_dict({"colour": "blue"}))
    assert message.endswith('?colour=blue: invalid connection option "colour".')


#: One computer opening the catalogue: ready once PhotoBird is loaded, it migrates when told to go.
OPEN_AND_MIGRATE = """
import sys
from photobird.library.store import Library
lib = Library(sys.argv[1], migrate=False, database=sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
lib.migrate()
lib.close()
"""


def test_two_computers_opening_a_new_catalogue_at_once_migrate_it_one_after_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    """The second waits for the first's migration (an advisory lock), then finds the catalogue current; without
    the lock both would create the same tables and one would fail."""
    computers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_MIGRATE, str(tmp_path / f"computer-{i}"), postgres_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for c in computers:
        assert c.stdout is not None and c.stdout.readline() == "ready\n"
    for c in computers:  # both go at once
        assert c.stdin is not None
        c.stdin.write("go\n")
        c.stdin.flush()
    for c in computers:
        _, err = c.communicate(timeout=120)
        assert c.returncode == 0, err
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with Library(tmp_path / "checker", migrate=False, database=postgres_url) as lib, lib.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
