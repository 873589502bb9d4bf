"""The device the networks run on: what the user asks for, refused with the usable ones when it is not here."""

from __future__ import annotations

import pytest
import torch

from photobird.models.runner import DeviceError, choose_device, usable_devices


def test_unknown_and_unavailable_devices_are_refused_with_the_usable_ones() -> None:
    assert "cpu" in usable_devices()
    assert choose_device("cpu") == torch.device("cpu")
    for name in ["tpu", "cuda:99", "banana"] + ([] if torch.cuda.is_available() else ["cuda"]):
        with pytest.raises(DeviceError, match="cpu") as refused:
            choose_device(name)
        assert f"'{name}'" in str(refused.value)
