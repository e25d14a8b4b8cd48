"""devices.py: device and precision choice, including GPUs simulated by monkeypatching."""

from __future__ import annotations

import pytest
import torch

from nst_helpers import devices
from nst_helpers.devices import (
    autocast,
    memory_format,
    precision_name,
    resolve_device,
    resolve_precision,
)

CPU = torch.device("cpu")
no_gpu = pytest.mark.skipif(
    torch.cuda.is_available() or devices._mps_available(), reason="a GPU is present"
)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """Pretend one CUDA device is present; the test sets bf16 support with the returned setter."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    def set_bf16(supported: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)

    set_bf16(True)
    return set_bf16


@no_gpu
@pytest.mark.parametrize("device", ["auto", "AUTO", None])
def test_auto_is_cpu_without_gpu(device) -> None:
    assert resolve_device(device) == CPU
    assert resolve_device() == CPU


@pytest.mark.parametrize("device", ["cpu", CPU])
def test_cpu_always_resolves(device) -> None:
    dev = resolve_device(device)
    assert isinstance(dev, torch.device) and dev.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_unavailable_raises(device) -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(device)


@pytest.mark.skipif(devices._mps_available(), reason="MPS is present")
def test_mps_unavailable_raises() -> None:
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("device", ["bogus", "gpu", "cuda:x", "", 3.5, "meta"])
def test_bogus_device_raises_value_error(device) -> None:
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    assert repr(device) in str(info.value)
    assert "cpu" in str(info.value)  # says what would be accepted


def test_auto_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch, fake_cuda) -> None:
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="only 1 CUDA"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")


# ---- precision -----------------------------------------------------------------------------


def test_explicit_precisions_on_cpu() -> None:
    assert resolve_precision("fp32", CPU) is None
    assert resolve_precision("bf16", CPU) is torch.bfloat16
    assert resolve_precision("fp16", CPU) is torch.float16


def test_auto_precision_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("auto", CPU) in (None, torch.bfloat16)
    monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", CPU) is torch.bfloat16
    monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("auto", CPU) is None


def test_cpu_has_fast_bf16_is_a_bool() -> None:
    assert isinstance(devices.cpu_has_fast_bf16(), bool)


@pytest.mark.parametrize("precision", ["fp64", "FP32", "float16", "", None, 16])
def test_unknown_precision_raises(precision) -> None:
    with pytest.raises(ValueError) as info:
        resolve_precision(precision, CPU)
    assert repr(precision) in str(info.value)
    assert "fp32" in str(info.value) and "bf16" in str(info.value)


def test_precision_on_simulated_cuda(fake_cuda) -> None:
    cuda = torch.device("cuda")
    assert resolve_precision("auto", cuda) is torch.bfloat16
    assert resolve_precision("bf16", cuda) is torch.bfloat16
    fake_cuda(False)  # an older card (e.g. T4 / V100)
    assert resolve_precision("auto", cuda) is torch.float16
    assert resolve_precision("fp16", cuda) is torch.float16
    assert resolve_precision("fp32", cuda) is None
    with pytest.raises(ValueError, match="bf16"):
        resolve_precision("bf16", cuda)


def test_auto_precision_on_mps_is_half_or_fp32() -> None:
    assert resolve_precision("auto", torch.device("mps")) in (torch.float16, None)


def test_precision_name() -> None:
    assert precision_name(None) == "fp32"
    assert precision_name(torch.bfloat16) == "bf16"
    assert precision_name(torch.float16) == "fp16"
    for name in ("fp32", "bf16", "fp16"):
        assert precision_name(resolve_precision(name, CPU)) == name


# ---- autocast and layout -------------------------------------------------------------------


def test_autocast_fp32_is_a_no_op() -> None:
    a = torch.randn(4, 4)
    with autocast(CPU, None):
        assert (a @ a).dtype == torch.float32


def test_autocast_bf16_runs_matmul_in_bf16() -> None:
    a = torch.randn(4, 4)
    with autocast(CPU, torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
    assert (a @ a).dtype == torch.float32


def test_no_autocast_switches_it_off_inside() -> None:
    a = torch.randn(4, 4)
    with autocast(CPU, torch.bfloat16), devices.no_autocast("cpu"):
        assert (a @ a).dtype == torch.float32


def test_memory_format() -> None:
    assert memory_format(CPU) == torch.channels_last
    assert memory_format(torch.device("cuda")) == torch.channels_last
    assert memory_format(torch.device("mps")) == torch.contiguous_format


def test_synchronize_on_cpu_is_harmless() -> None:
    devices.synchronize(CPU)


def test_auto_does_not_pick_emulated_bf16_on_cuda(fake_cuda, monkeypatch) -> None:
    # A T4 (free Colab) answers is_bf16_supported() True by emulation, which is slow there:
    # "auto" must ask for native support only, and fall back to fp16.
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation
    )
    assert resolve_precision("auto", torch.device("cuda")) is torch.float16
