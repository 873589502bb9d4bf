"""The command line over a real library, as the README tells a user to run it, on the 250 real photos."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from photobird import config
from photobird.cli import build_parser
from photobird.library.store import Library
from photobird.models import real_photos


def run(library: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(library)}
    return subprocess.run(
        [sys.executable, "-m", "photobird", *args], env=env, capture_output=True, text=True, check=True
    )


def test_folders_add_index_search_bird_label_info(tmp_path: Path) -> None:
    library = tmp_path / "library"
    photos = config.real_photos_dir()
    truth = {str(photos / r["file"]): r["is_bird"] == "1" for r in real_photos.rows()}

    run(library, "folders", "add", str(photos))
    summary = json.loads(run(library, "index", "--json").stdout.strip().splitlines()[-1])
    assert set(summary) >= {"indexed", "unchanged", "removed", "failed", "seconds"}
    assert summary["indexed"] == len(truth) and summary["failed"] == 0

    hits = [json.loads(line) for line in run(library, "search", "bird", "--json").stdout.splitlines()]
    assert all(set(h) >= {"path", "score", "labels"} for h in hits)
    found = {h["path"] for h in hits}
    birds = {p for p, is_bird in truth.items() if is_bird}
    assert found == birds  # all 16 birds and nothing else, as the backbone's bird classes find on photos
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)

    # the user corrects one: "not bird" wins over the model, and info says so
    one = sorted(birds)[0]
    run(library, "label", one, "not-bird")
    again = {json.loads(line)["path"] for line in run(library, "search", "birds", "--json").stdout.splitlines()}
    assert again == birds - {one}
    info = json.loads(run(library, "info", one, "--json").stdout)
    assert info["user_label"] == "not-bird" and info["path"] == one

    # an unchanged library indexes nothing again
    summary = json.loads(run(library, "index", "--json").stdout.strip().splitlines()[-1])
    assert summary["indexed"] == 0 and summary["unchanged"] == len(truth)
    assert json.loads(run(library, "errors", "--json").stdout or "[]") == []


def cli(library: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``photobird --library LIBRARY ARGS``, whatever its exit status (a guard, not a timing, against a hang)."""
    return subprocess.run(
        [sys.executable, "-m", "photobird", "--library", str(library), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


OFFSCREEN = {"QT_QPA_PLATFORM": "offscreen"}  # the app, where it opens, opens without a display


def said_one_sentence(out: subprocess.CompletedProcess[str]) -> str:
    """A refusal: a non-zero status and one line on stderr, no traceback."""
    assert out.returncode != 0, out
    assert "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr.strip()


def test_a_library_that_is_a_file_is_refused_in_one_sentence(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("not a library\n")
    for args in (["stats"], ["folders", "list"], ["search", "bird"]):
        assert str(not_a_folder) in said_one_sentence(cli(not_a_folder, *args))
    # the app too: no window, the same sentence
    app = cli(not_a_folder, env={"QT_QPA_PLATFORM": "offscreen"})
    assert "not a folder" in said_one_sentence(app)


def test_an_empty_read_only_library_is_refused_in_one_sentence(tmp_path: Path, make_read_only) -> None:
    library = tmp_path / "library"
    library.mkdir()
    make_read_only(library)
    for args in (["stats"], ["search", "bird"], ["label", str(tmp_path / "a.jpg"), "bird"]):
        message = said_one_sentence(cli(library, *args))
        assert message.startswith(f"photobird: This library is read-only ({library}): "), message
    assert not any(library.iterdir())


def test_a_read_only_library_is_read_but_not_written(tmp_path: Path, make_read_only) -> None:
    from tests.library.conftest import make_catalogue

    library = tmp_path / "library"
    with Library(library) as lib:
        made = make_catalogue(lib, 60)
    one = next(p for p in made.photos if p["state"] == "indexed")
    make_read_only(library)

    assert cli(library, "stats").returncode == 0
    assert json.loads(cli(library, "stats", "--json").stdout)["photos"] > 0
    assert cli(library, "search", "dog").returncode == 0
    assert json.loads(cli(library, "info", one["path"], "--json").stdout)["path"] == one["path"]
    assert cli(library, "folders", "list").returncode == 0
    assert cli(library, "errors").returncode == 0
    for args in (
        ["label", one["path"], "bird"],
        ["index"],
        ["train"],
        ["folders", "add", str(tmp_path)],
        ["folders", "remove", "/photos"],
    ):
        message = said_one_sentence(cli(library, *args))
        assert message.startswith(f"photobird: This library is read-only ({library}): "), (args, message)
    assert sorted(p.name for p in library.iterdir()) == sorted(["catalogue.sqlite", "models", "thumbs"])


def test_index_while_the_app_watches_says_so(tmp_path: Path) -> None:
    """The app (or ``photobird index --watch``) keeps the library up to date: ``index`` says that, not that
    another PhotoBird is indexing."""
    library = tmp_path / "library"
    watching = subprocess.Popen(
        [sys.executable, "-m", "photobird", "--library", str(library), "index", "--watch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = library / "indexer.lock"
        while not (lock.is_file() and lock.read_text().strip()):
            assert watching.poll() is None, "the watcher ended"
            time.sleep(0.05)
        out = cli(library, "index")
        message = said_one_sentence(out)
        assert out.returncode == 3
        assert "watching" in message and "up to date" in message and str(watching.pid) in message, message
        assert "already indexing" not in message
    finally:
        watching.terminate()
        watching.wait()


def test_a_second_indexer_is_told_the_first_is_indexing(tmp_path: Path) -> None:
    library = tmp_path / "library"
    with Library(library) as lib, lib.indexer_lock():
        message = said_one_sentence(cli(library, "index"))
    assert "already indexing" in message and f"process {os.getpid()}" in message, message


def test_unknown_or_unavailable_devices_are_refused_with_the_usable_ones(tmp_path: Path) -> None:
    import torch

    photo = next(config.real_photos_dir().glob("*.JPEG"))
    wanted = ["tpu", "cuda:99"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in wanted:
        # the app too, before its window opens (it would only fail in the worker that loads the models)
        for args in (["classify", str(photo)], ["index"], ["train"], ["gui"]):
            message = said_one_sentence(cli(tmp_path / "library", "--device", device, *args, env=OFFSCREEN))
            assert f"'{device}'" in message and "cpu" in message, message
    for args in (["index"], ["gui"]):
        env_says = said_one_sentence(cli(tmp_path / "library", *args, env={"PHOTOBIRD_DEVICE": "tpu", **OFFSCREEN}))
        assert "PHOTOBIRD_DEVICE" in env_says, env_says


def test_every_argument_has_help() -> None:
    def walk(parser: argparse.ArgumentParser, where: str) -> Iterator[str]:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = f"{where} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                yield name
            if isinstance(action, argparse._SubParsersAction):
                yield from (f"{where} {c.dest}" for c in action._choices_actions if not c.help)
                for sub_name, sub in action.choices.items():
                    yield from walk(sub, f"{where} {sub_name}")

    assert list(walk(build_parser(), "photobird")) == []


def test_commands_that_need_no_models_do_not_load_torch(tmp_path: Path) -> None:
    library = tmp_path / "library"
    photo = str(tmp_path / "photo.jpg")
    for args in (
        ["stats"],
        ["folders", "list"],
        ["folders", "add", str(tmp_path)],
        ["search", "bird"],
        ["info", photo],
        ["errors"],
        ["label", photo, "bird"],
        ["models", "list"],
        ["faces", "--json"],
        ["people"],
        ["duplicates", "--json"],
        ["similar", photo],
    ):
        code = (
            "import sys\n"
            "from photobird.cli import main\n"
            f"main(['--library', {str(library)!r}, *{args!r}])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, (args, out.stderr)


def test_faces_and_people_from_the_command_line(tmp_path: Path) -> None:
    """Index photos of two people, list their faces (boxes in the photo's own pixels), name, merge, move."""
    from PIL import Image

    from tests.library.test_face_analysis import copy_lfw, lfw

    library, photos = tmp_path / "library", tmp_path / "photos"
    truth = copy_lfw(photos, lfw(2, 3))
    run(library, "folders", "add", str(photos))
    run(library, "index")
    faces = [json.loads(line) for line in run(library, "faces", "--json").stdout.splitlines()]
    assert {Path(f["path"]).name for f in faces} == set(truth)
    for f in faces:
        assert set(f) >= {"id", "path", "box", "score", "person", "name"}
        w, h = Image.open(f["path"]).size
        left, top, right, bottom = f["box"]
        assert 0 <= left < right <= w and 0 <= top < bottom <= h and f["score"] >= 0.97
    listed = [json.loads(line) for line in run(library, "people", "--json").stdout.splitlines()]
    assert sorted(p["photos"] for p in listed) == [3, 3]
    a, b = listed[0]["id"], listed[1]["id"]
    assert run(library, "people", "name", str(a), "Anna", "Smith").stdout.strip() == f"Person {a} is now Anna Smith."
    anna = {json.loads(line)["path"] for line in run(library, "search", "anna", "--json").stdout.splitlines()}
    assert anna == {f["path"] for f in faces if f["person"] == a}
    run(library, "people", "merge", str(a), str(b))
    listed = [json.loads(line) for line in run(library, "people", "--json").stdout.splitlines()]
    assert [(p["id"], p["name"], p["photos"]) for p in listed] == [(a, "Anna Smith", 6)]
    face = next(f for f in faces if f["person"] == b)
    run(library, "faces", "move", str(face["id"]), "none")
    after = {f["id"]: f for f in map(json.loads, run(library, "faces", "--json").stdout.splitlines())}
    assert after[face["id"]]["person"] is None
    # mistakes get one sentence, not a traceback
    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(library)}
    for args, said in (
        (["people", "name", "999", "Bob"], "there is no person 999"),
        (["people", "merge", str(a), str(a)], "cannot be merged with themselves"),
        (["faces", "move", "abc", "none"], "'abc' is not a face id"),
        (["faces", "move", str(face["id"]), "12345"], "there is no person 12345"),
    ):
        out = subprocess.run([sys.executable, "-m", "photobird", *args], env=env, capture_output=True, text=True)
        assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    # turning faces off deletes them all
    run(library, "faces", "off")
    assert run(library, "faces", "--json").stdout == "" and run(library, "people", "--json").stdout == ""
