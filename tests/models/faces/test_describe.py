"""The PyTorch port of dlib's face descriptor: it reproduces dlib, and it refuses a damaged weights file.

``data/dlib_descriptors.npy`` holds dlib 20.0.1's own descriptors of the three chips ``reference_chips`` makes
(fixed crops of two lossless TIFFs from the shared EXIF samples, one also mirrored), written once with::

    dlib.face_recognition_model_v1(str(weights_path())).compute_face_descriptor(list(reference_chips()))
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from photobird import config
from photobird.models.faces import align
from photobird.models.faces.describe import WEIGHTS_SHA256, FaceDescriber, read_network, weights_path
from photobird.models.files import ModelFileError

DATA = Path(__file__).parent / "data"
TIFFS = config.shared_data_dir() / "exif-samples" / "tiff"
FACES = config.shared_data_dir() / "faces-dev"


@pytest.fixture(scope="module")
def describer() -> FaceDescriber:
    return FaceDescriber(torch.device("cpu"))


def reference_chips() -> np.ndarray:
    if not TIFFS.is_dir():
        pytest.skip(f"shared EXIF samples not found at {TIFFS}")
    dudley = np.asarray(Image.open(TIFFS / "DudleyLeavittUtah.tiff").convert("RGB"))[10:160, 25:175]
    band = np.asarray(Image.open(TIFFS / "BSG1.tiff").convert("RGB"))[110:260, 190:340]
    return np.stack([dudley, dudley[:, ::-1], band])


def test_reproduces_dlib(describer: FaceDescriber) -> None:
    ours = describer.describe(reference_chips())
    theirs = np.load(DATA / "dlib_descriptors.npy")
    assert ours.shape == (3, 128) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() <= 1e-5


def test_batches_agree_with_single_chips(describer: FaceDescriber) -> None:
    chips = np.random.default_rng(0).integers(0, 256, (35, 150, 150, 3), dtype=np.uint8)  # crosses a batch edge
    together = describer.describe(chips)
    alone = np.concatenate([describer.describe(chips[i : i + 1]) for i in (0, 33, 34)])
    assert np.abs(together[[0, 33, 34]] - alone).max() <= 1e-5
    assert describer.describe(chips[:0]).shape == (0, 128)


def test_names_its_weights(describer: FaceDescriber) -> None:
    assert describer.version == "dlib-resnet-v1"
    assert describer.sha256 == WEIGHTS_SHA256


def test_rejects_chips_of_the_wrong_shape(describer: FaceDescriber) -> None:
    with pytest.raises(ValueError, match="150"):
        describer.describe(np.zeros((1, 112, 112, 3), np.uint8))


def test_refuses_a_file_with_another_sha256(tmp_path: Path) -> None:
    copy = tmp_path / "model.dat"
    shutil.copyfile(weights_path(), copy)
    with open(copy, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ModelFileError, match=r"sha256.*reinstall"):
        FaceDescriber(torch.device("cpu"), weights=copy)


def test_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="reinstall"):
        FaceDescriber(torch.device("cpu"), weights=tmp_path / "absent.dat")


def test_refuses_a_truncated_file(tmp_path: Path) -> None:
    data = weights_path().read_bytes()
    short = tmp_path / "short.dat"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        FaceDescriber(torch.device("cpu"), weights=short)
    # past the checksum, the reader itself must fail cleanly wherever the file stops
    for end in (0, 1, 20, 300, 340, 19_700, len(data) // 2, len(data) - 1):
        with pytest.raises(ModelFileError, match="ends early"):
            read_network(data[:end], "short.dat")


def test_refuses_a_file_that_is_not_the_network() -> None:
    data = bytearray(weights_path().read_bytes())
    layer = data.index(b"max_pool_2")
    data[layer : layer + 10] = b"avg_pool_2"  # a valid layer, in the wrong place
    with pytest.raises(ModelFileError, match="max_pool"):
        read_network(bytes(data), "edited.dat")
    with pytest.raises(ModelFileError, match="after the network"):
        read_network(weights_path().read_bytes() + b"\0", "longer.dat")


#: MTCNN's landmarks (facenet-pytorch 2.6.0, the face nearest the centre) in four faces-dev photos of two people.
LANDMARKS = {
    "face_0050.jpg": [[62.8, 66.8], [86.2, 64.7], [71.7, 83.3], [67.4, 93.5], [88.7, 91.4]],
    "face_0051.jpg": [[78.0, 80.4], [95.6, 81.5], [88.0, 93.7], [73.5, 96.2], [90.7, 97.6]],
    "face_0058.jpg": [[63.9, 67.2], [88.3, 67.5], [76.6, 84.3], [65.3, 98.0], [85.1, 98.9]],
    "face_0265.jpg": [[64.2, 65.5], [89.4, 66.7], [78.8, 81.8], [65.0, 95.5], [84.8, 97.0]],
}


def test_tells_people_apart(describer: FaceDescriber) -> None:
    if not FACES.is_dir():
        pytest.skip(f"shared faces-dev photos not found at {FACES}")
    chips = [
        align.face_chip(np.asarray(Image.open(FACES / name).convert("RGB")), np.array(points))
        for name, points in LANDMARKS.items()
    ]
    d = describer.describe(np.stack(chips))
    dist = np.linalg.norm(d[:, None] - d[None], axis=2)
    assert dist[0, 1] < 0.5 and dist[2, 3] < 0.5  # person_05 twice, person_02 twice
    assert dist[:2, 2:].min() > 0.6
