"""``photobird repair`` as a user runs it: a library indexed, labelled and with named people, its catalogue
overwritten with garbage in the middle; every command (and the app) says so in one sentence, and the repair
brings back every label and name. A catalogue on a PostgreSQL server is not the folder's file to rebuild: the
repair refuses it, and the folder opened without its server says where it is."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import make_url

from photobird.library.db import postgres
from tests.library.conftest import copy_real
from tests.library.test_face_analysis import copy_lfw, lfw
from tests.library.test_keepsake import Damage, damage
from tests.test_cli import cli, said_one_sentence


def ok(library: Path, *args: str) -> str:
    out = cli(library, *args)
    assert out.returncode == 0, (args, out.stderr)
    return out.stdout


def state(library: Path, photos: Path) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Each photo's label, and the name of each photo's face (one face at most here)."""
    labels = {p.name: json.loads(ok(library, "info", str(p), "--json"))["user_label"] for p in photos.iterdir()}
    faces = {Path(f["path"]).name: f["name"] for f in map(json.loads, ok(library, "faces", "--json").splitlines())}
    return labels, faces


def test_repair_after_garbage_in_the_catalogue_restores_every_label_and_name(tmp_path: Path) -> None:
    library, photos = tmp_path / "library", tmp_path / "photos"
    truth = copy_lfw(photos, lfw(2, 2))
    birds = copy_real(photos, 1, 1)
    ok(library, "folders", "add", str(photos))
    ok(library, "index")
    for name, is_bird in birds.items():
        ok(library, "label", str(photos / name), "bird" if is_bird else "not-bird")
    listed = [json.loads(line) for line in ok(library, "people", "--json").splitlines()]
    assert len(listed) == 2
    ok(library, "people", "name", str(listed[0]["id"]), "Anna", "Smith")
    ok(library, "people", "name", str(listed[1]["id"]), "Bob")
    before = state(library, photos)
    assert sorted(n for n in before[1].values()) == ["Anna Smith", "Anna Smith", "Bob", "Bob"]

    damage(library, Damage.GARBAGE)
    for args in (["stats"], ["search", "bird"], ["people"], []):  # [] is the app
        said = said_one_sentence(cli(library, *args, env={"QT_QPA_PLATFORM": "offscreen"}))
        assert said == (
            f"photobird: The catalogue of the library at {library} is damaged; your labels and names are safe in "
            f"keepsake.json beside it: run photobird --library {library} repair to rebuild it with them."
        ), args

    out = ok(library, "repair")
    n = len(truth) + len(birds)
    assert "Restored 1 folder, 2 labels, 2 named people (4 face decisions), 1 model version (" in out
    assert f"from keepsake.json; indexing {n} photos\u2026" in out
    assert f"indexed {n}, unchanged 0" in out
    assert state(library, photos) == before
    assert len(list(library.glob("catalogue.sqlite.damaged-*"))) == 1
    assert "nothing to repair" in ok(library, "repair")


def test_a_catalogue_on_a_server_is_not_repaired_here_and_its_folder_says_where_it_is(
    tmp_path: Path, postgres_url: str
) -> None:
    library, photos = tmp_path / "library", tmp_path / "photos"
    photos.mkdir()
    ok(library, "--database", postgres_url, "folders", "add", str(photos))
    where = postgres.where(make_url(postgres_url))  # (no password)
    said = said_one_sentence(cli(library, "--database", postgres_url, "repair"))
    assert said.startswith(f"photobird: The catalogue of the library at {library} is on the PostgreSQL server at ")
    assert said.endswith("from the server's backups with PostgreSQL's own tools (pg_restore).")
    assert make_url(postgres_url).password not in said
    for args in (["stats"], ["repair"]):  # without --database: where the catalogue is, not "run repair"
        assert said_one_sentence(cli(library, *args)) == (
            f"photobird: The catalogue of the library at {library} is on a PostgreSQL server, not in its folder: "
            f"open it with --database {where} (or set PHOTOBIRD_DATABASE to that address)."
        ), args
    assert str(photos) in ok(library, "--database", postgres_url, "folders", "list")
