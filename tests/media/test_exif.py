"""The camera's name as people say it, from EXIF's Make and Model, on the ways cameras actually write them."""

from __future__ import annotations

import pytest
from PIL import Image

from photobird import config
from photobird.media import exif
from photobird.media.exif import camera_name


@pytest.mark.parametrize(
    ("make", "model", "name"),
    [
        ("Canon", "Canon EOS 5D Mark III", "Canon EOS 5D Mark III"),
        ("NIKON CORPORATION", "NIKON D750", "NIKON D750"),
        ("NIKON CORPORATION", "COOLPIX P7000", "NIKON COOLPIX P7000"),
        ("Apple", "iPhone 12", "Apple iPhone 12"),
        ("SONY", "ILCE-7M3", "SONY ILCE-7M3"),
        ("OLYMPUS IMAGING CORP.", "E-M10", "OLYMPUS IMAGING E-M10"),
        ("FUJIFILM", "X-T3", "FUJIFILM X-T3"),
        ("samsung", "SM-G991B", "samsung SM-G991B"),
        ("Canon", None, "Canon"),
        (None, "DMC-FZ50", "DMC-FZ50"),
        (None, None, None),
        ("  Canon ", " Canon PowerShot S95 ", "Canon PowerShot S95"),
    ],
)
def test_camera_names(make: str | None, model: str | None, name: str | None) -> None:
    assert camera_name(make, model) == name


def test_the_shared_exif_samples_never_repeat_the_maker() -> None:
    files = sorted((config.shared_data_dir() / "exif-samples").rglob("*.jpg"))
    named = 0
    for f in files:
        with Image.open(f) as im:
            info = exif.read(im)
        name = camera_name(info.make, info.model)
        if name:
            named += 1
            first = name.split(" ")[0].lower()
            assert not name.lower().startswith(f"{first} {first}"), (f.name, info.make, info.model, name)
    assert named > 0
