"""Duplicates and similar photos on a real library: indexed by the real networks, found from what the catalogue
keeps, through the command a user runs."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps
from sqlalchemy import delete, func, select

from photobird import config
from photobird.library import duplicates
from photobird.library.duplicates import GroupPhoto, keeper_order
from photobird.library.index import index
from photobird.library.scan import add_folder
from photobird.library.schema import AnalyzerKind, Photo, PhotoAnalysis, PhotoLooks, PhotoState
from photobird.library.store import Library, SettingKey
from photobird.media import looks
from photobird.models.runner import Models
from tests.library.conftest import Libraries, environment

pytestmark = pytest.mark.both_engines

VARIANTS = ("half", "q60", "crop", "bright", "copy")


def make_variants(folder: Path, seed: int = 0) -> list[list[str]]:
    """The issue's folder: 60 real photos each with 2-3 variants (half size, JPEG quality 60, cropped by 10%,
    15% brighter, a byte-identical copy) among 150 unrelated photos. Returns the file names of each group."""
    folder.mkdir(parents=True)
    sources = sorted(config.real_photos_dir().glob("*.JPEG"))
    rng = random.Random(seed)
    rng.shuffle(sources)
    groups = []
    for i, src in enumerate(sources[:60]):
        im = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
        w, h = im.size
        names = [f"g{i:02d}.jpg"]
        shutil.copy2(src, folder / names[0])
        for kind in rng.sample(VARIANTS, rng.choice([2, 3])):
            name = f"g{i:02d}-{kind}.jpg"
            names.append(name)
            if kind == "half":
                im.resize((w // 2, h // 2), Image.LANCZOS).save(folder / name, quality=90)
            elif kind == "q60":
                im.save(folder / name, quality=60)
            elif kind == "crop":  # a tenth off: centred, at a corner, or off one side
                box = rng.choice([(0.05, 0.05, 0.95, 0.95), (0, 0, 0.9, 0.9), (0.1, 0, 1, 1), (0, 0.1, 1, 1)])
                im.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))).save(folder / name)
            elif kind == "bright":
                ImageEnhance.Brightness(im).enhance(1.15).save(folder / name, quality=90)
            else:
                shutil.copy2(src, folder / name)
        groups.append(names)
    for src in sources[60:210]:
        shutil.copy2(src, folder / f"other-{src.name}")
    # and one photo twice, nothing else like it: exact copies
    for name in ("twin.jpg", "twin (1).jpg"):
        shutil.copy2(sources[210], folder / name)
    groups.append(["twin.jpg", "twin (1).jpg"])
    return groups


def cli(library: Library, *args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "photobird", *args],
        env=environment(library),
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def variants_library(
    tmp_path_factory: pytest.TempPathFactory, models: Models, module_libraries: Libraries
) -> tuple[Library, Path, list]:
    root = tmp_path_factory.mktemp("variants")
    groups = make_variants(root / "photos")
    lib = module_libraries(root / "library")
    lib.set_setting(SettingKey.FACES, False)
    add_folder(lib, root / "photos")
    index(lib, models)
    return lib, root / "photos", groups


def pairs(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}


def test_duplicates_groups_the_variants_of_each_photo_and_nothing_else(variants_library) -> None:
    lib, _, truth = variants_library
    found = cli(lib, "duplicates", "--json")
    assert all(set(g) == {"kind", "photos"} and g["kind"] in ("exact", "similar") for g in found)
    grouped = pairs([[Path(p).name for p in g["photos"]] for g in found])
    expected = pairs(truth)
    recall = len(grouped & expected) / len(expected)
    precision = len(grouped & expected) / len(grouped)
    assert recall >= 0.95, sorted(map(sorted, expected - grouped))
    assert precision >= 0.99, sorted(map(sorted, grouped - expected))
    for g in found:
        names = [Path(p).name for p in g["photos"]]
        assert "-" not in names[0], names  # the keeper is the original, not a variant or a copy of it
        assert g["kind"] == ("exact" if names[0] == "twin.jpg" else "similar"), g


def test_more_like_this_puts_a_photos_variants_first(variants_library) -> None:
    lib, folder, truth = variants_library
    index_ = duplicates.SimilarIndex.build(lib)
    with lib.session() as s:
        ids = dict(s.execute(select(Photo.name, Photo.id)).all())
    names = {v: k for k, v in ids.items()}
    for group in truth[:20]:
        found = index_.query(lib, ids[group[0]], limit=len(group) - 1)
        assert {names[i] for i, _ in found} == set(group[1:])
        assert [c for _, c in found] == sorted((c for _, c in found), reverse=True)
    through_cli = cli(lib, "similar", str(folder / truth[0][0]), "--limit", "3", "--json")
    assert {Path(r["path"]).name for r in through_cli[: len(truth[0]) - 1]} == set(truth[0][1:])


def test_each_indexed_photo_keeps_its_looks_and_an_older_library_gets_them_without_reindexing(
    tmp_path: Path, library: Library, models: Models
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    sources = sorted(config.real_photos_dir().glob("*.JPEG"))[:4]
    for src in sources:
        shutil.copy2(src, folder / src.name)
    shutil.copy2(sources[0], folder / "copy.jpg")  # a byte-identical copy: results copied, not decoded
    lib = library
    lib.set_setting(SettingKey.FACES, False)
    add_folder(lib, folder)
    index(lib, models)

    def stored() -> dict[str, bytes]:
        with lib.session() as s:
            return dict(s.execute(select(Photo.name, PhotoLooks.hashes).join(PhotoLooks)).all())

    first = stored()
    assert set(first) == {"copy.jpg", *(s.name.lower() for s in sources)}
    assert first["copy.jpg"] == first[sources[0].name.lower()]
    with lib.session() as s:
        versions = set(s.scalars(select(PhotoAnalysis.version).where(PhotoAnalysis.analyzer == AnalyzerKind.LOOKS)))
        assert versions == {looks.VERSION}
        # a library from before looks were kept: no hashes, and no record of them
        s.execute(delete(PhotoLooks))
        s.execute(delete(PhotoAnalysis).where(PhotoAnalysis.analyzer == AnalyzerKind.LOOKS))
        indexed_at = dict(s.execute(select(Photo.id, Photo.indexed_at)).all())
    # until its next index, duplicates finds only the exact copies, and says why
    assert duplicates.unhashed(lib) == 5
    said = subprocess.run(
        [sys.executable, "-m", "photobird", "duplicates", "--json"],
        env=environment(lib),
        capture_output=True,
        text=True,
        check=True,
    )
    assert said.stderr.startswith("photobird: 5 photos have not been looked at for similar photos yet")
    assert [json.loads(line)["kind"] for line in said.stdout.splitlines()] == ["exact"]
    summary = index(lib, models)
    assert duplicates.unhashed(lib) == 0
    assert summary.indexed == 0
    again = stored()
    assert set(again) == set(first)
    with lib.session() as s:
        assert dict(s.execute(select(Photo.id, Photo.indexed_at)).all()) == indexed_at  # not indexed again
        assert s.scalar(select(func.count()).select_from(Photo).where(Photo.state != PhotoState.INDEXED)) == 0
    # the analyzer decodes smaller than the index did: a few bits may differ, the picture is the same
    for name, data in again.items():
        assert int(looks.from_bytes(data)[0] ^ looks.from_bytes(first[name])[0]).bit_count() <= 4, name
    assert [sorted(Path(p.path).name for p in g.photos) for g in duplicates.find_groups(lib)] == [
        sorted(["copy.jpg", sources[0].name])
    ]


def test_the_suggested_keeper_is_the_original() -> None:
    def photo(pid: int, path: str, side: int, size: int, mtime: int, exif: bool) -> GroupPhoto:
        return GroupPhoto(pid, path, side, side, size, "2020" if exif else None, mtime, f"h{pid}")  # type: ignore[arg-type]

    original = photo(1, "/p/IMG_1.jpg", 4000, 5_000_000, 10, True)
    copy = photo(2, "/p/IMG_1 (1).jpg", 4000, 5_000_000, 10, True)
    smaller = photo(3, "/p/small.jpg", 2000, 1_000_000, 5, True)
    edited = photo(4, "/p/IMG_1-edit.jpg", 4000, 6_000_000, 20, False)
    assert keeper_order([smaller, edited, copy, original]) == [original, copy, edited, smaller]
