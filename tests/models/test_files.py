"""The model file format: round trip, sha256, and refusing files that do not match what they claim."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from photobird.models import files, nets


def seed_meta(**kw) -> files.ModelMeta:
    return files.ModelMeta(
        arch="seed",
        arch_args={"num_classes": 2},
        classes=["not bird", "bird"],
        threshold=0.4,
        metrics={"test": {"recall": 0.9}},
        **kw,
    )


def test_round_trip_keeps_weights_and_metadata(tmp_path: Path) -> None:
    model = nets.SeedNet()
    path = tmp_path / "seed.pt"
    digest = files.save(path, seed_meta(version="v1"), model)
    loaded = files.load(path, expect_sha256=digest)
    assert loaded.meta.arch == "seed"
    assert loaded.meta.classes == ["not bird", "bird"]
    assert loaded.meta.threshold == 0.4
    assert loaded.meta.metrics == {"test": {"recall": 0.9}}
    assert loaded.meta.version == "v1"
    assert loaded.sha256 == digest == files.sha256_of(path)
    x = torch.randn(3, 3, 32, 32)
    model.eval()
    torch.testing.assert_close(loaded.module(x), model(x))
    assert not loaded.module.training


def test_sha256_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seed.pt"
    files.save(path, seed_meta(), nets.SeedNet())
    with pytest.raises(files.ModelFileError, match="sha256"):
        files.load(path, expect_sha256="0" * 64)


def test_corrupted_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seed.pt"
    files.save(path, seed_meta(), nets.SeedNet())
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(files.ModelFileError, match="not a readable model file"):
        files.load(path)
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(files.ModelFileError, match="not a readable model file"):
        files.load(path)


def test_file_with_code_is_not_executed(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": files.FORMAT, "meta": Evil()}, f)
    with pytest.raises(files.ModelFileError):
        files.load(path)
    assert not (tmp_path / "pwned").exists()


def test_class_count_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seed.pt"
    files.save(path, seed_meta(), nets.SeedNet())
    blob = torch.load(path, weights_only=True)
    blob["meta"]["classes"] = ["a", "b", "c"]
    torch.save(blob, path)
    with pytest.raises(files.ModelFileError, match=r"3 classes .* 2 outputs"):
        files.load(path)


def test_weights_for_another_architecture_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "seed.pt"
    files.save(path, seed_meta(), nets.SeedNet())
    blob = torch.load(path, weights_only=True)
    blob["meta"]["arch"] = "cifar-resnet"
    blob["meta"]["arch_args"] = {"num_classes": 2}
    torch.save(blob, path)
    with pytest.raises(files.ModelFileError, match="do not match architecture 'cifar-resnet'"):
        files.load(path)


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "head.pt"
    meta = files.ModelMeta(arch="bird-head", arch_args={"in_dim": 8}, classes=["bird"])
    files.save(path, meta, nets.BirdHead(8))
    blob = torch.load(path, weights_only=True)
    blob["meta"]["arch_args"] = {"in_dim": 16}
    torch.save(blob, path)
    with pytest.raises(files.ModelFileError, match="shape"):
        files.load(path)


def test_unknown_architecture_and_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    files.save(path, seed_meta(), nets.SeedNet())
    blob = torch.load(path, weights_only=True)
    blob["meta"]["arch"] = "resnet152"
    torch.save(blob, path)
    with pytest.raises(files.ModelFileError, match="unknown architecture 'resnet152'"):
        files.load(path)
    torch.save(nets.SeedNet().state_dict(), path)  # a bare state dict: no metadata
    with pytest.raises(files.ModelFileError, match="not a PhotoBird model file"):
        files.load(path)


def test_expected_architecture_is_enforced(tmp_path: Path) -> None:
    path = tmp_path / "seed.pt"
    files.save(path, seed_meta(), nets.SeedNet())
    with pytest.raises(files.ModelFileError, match="expected 'bird-head'"):
        files.load(path, expect_arch="bird-head")


def test_save_refuses_to_write_an_unloadable_file(tmp_path: Path) -> None:
    meta = files.ModelMeta(arch="seed", arch_args={"num_classes": 2}, classes=["only one"])
    with pytest.raises(files.ModelFileError):
        files.save(tmp_path / "bad.pt", meta, nets.SeedNet())
    assert not (tmp_path / "bad.pt").exists()


def test_descriptor_checks_package_weights_by_sha256(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    torch.save(nets.SeedNet().state_dict(), weights)
    desc = {
        "format": files.FORMAT,
        "weights": {"file": "w.pth", "sha256": files.sha256_of(weights)},
        "meta": {"arch": "seed", "arch_args": {"num_classes": 2}, "classes": ["not bird", "bird"]},
    }
    (tmp_path / "d.json").write_text(json.dumps(desc))
    assert files.load(tmp_path / "d.json").meta.arch == "seed"
    desc["weights"]["sha256"] = "f" * 64
    (tmp_path / "d.json").write_text(json.dumps(desc))
    with pytest.raises(files.ModelFileError, match="sha256"):
        files.load(tmp_path / "d.json")


def test_shipped_backbone_descriptor_loads_strictly() -> None:
    from photobird.models.runner import BACKBONE_FILE, load_shipped

    loaded = load_shipped(BACKBONE_FILE, expect_arch="efficientnet-lite0")
    assert len(loaded.meta.classes) == 1000
    assert loaded.meta.mean == [0.5, 0.5, 0.5]
