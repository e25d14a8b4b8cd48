"""Device and numeric precision, decided in one place.

Everything else in the package asks these functions which device to use, which dtype the
network runs in, and which memory layout pays off, so that CUDA, Apple's MPS and the CPU
behave the same from the caller's point of view.
"""

from __future__ import annotations

import contextlib
import functools

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/``"cuda"``/``"mps"``/``"cpu"`` into an available ``torch.device``.

    ``"auto"`` picks CUDA, then MPS, then the CPU. Asking for a device that is not present
    raises ``ValueError`` instead of failing later inside the network.
    """
    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but CUDA is not available here; use 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _mps_available():
        raise ValueError("device='mps' was requested but MPS is not available here; use 'auto'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'")
    return dev


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device``; ``None`` means plain fp32.

    ``"auto"`` chooses bf16 on GPUs that support it (fp16 on older CUDA cards and on MPS) and
    on CPUs with native bf16; otherwise fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        dtype = _DTYPES[precision]
        if dtype is torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("precision='bf16' is not supported by this GPU; use 'fp16' or 'auto'")
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16 if _mps_autocast_supported() else None
    return torch.bfloat16 if cpu_has_fast_bf16() else None


@functools.cache
def _mps_autocast_supported() -> bool:
    try:  # autocast on MPS arrived in torch 2.5
        torch.autocast(device_type="mps", dtype=torch.float16)
        return True
    except (RuntimeError, ValueError):
        return False


def precision_name(dtype: torch.dtype | None) -> str:
    """The user-facing name of an autocast dtype (``None`` -> ``"fp32"``)."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast context for the network's forward pass, or a no-op in fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Switch autocast off for a block (Grams, losses), even inside a caller's autocast region."""
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except (RuntimeError, ValueError):  # older torch: no autocast for this device type at all
        return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last where the convolution kernels prefer it (CPU oneDNN, CUDA cuDNN)."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
