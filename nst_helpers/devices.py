"""Device and numeric precision, decided in one place.

Everything else in the package asks these functions which device to use, which dtype the
network runs in, and which memory layout pays off, so that CUDA, Apple's MPS and the CPU
behave the same from the caller's point of view.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import warnings

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceUnavailableError(ValueError):
    """A device that is a real device name but is not present on this machine (exit code 3)."""


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
        raise DeviceUnavailableError(
            f"device={str(device)!r} was requested but CUDA is not available here; use 'auto'"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here"
        )
    if dev.type == "mps" and not _mps_available():
        raise DeviceUnavailableError(
            "device='mps' was requested but MPS is not available here; use 'auto'"
        )
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'")
    return dev


def device_key(device: torch.device) -> str:
    """One name per physical device, for caches: ``cuda`` and ``cuda:0`` (when 0 is the current
    device) are the same GPU, ``cpu`` and ``cpu:0`` the same CPU."""
    if device.type == "cpu":
        return "cpu"
    if device.index is not None:
        return f"{device.type}:{device.index}"
    index = torch.cuda.current_device() if device.type == "cuda" else 0
    return f"{device.type}:{index}"


def release_memory(device: torch.device) -> None:
    """Hand what a failed run held back to the device: collect cycles, empty the allocator cache.

    Without it PyTorch keeps the freed blocks reserved, and other processes (and the memory
    guard's view of what is free) cannot use them.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        with contextlib.suppress(RuntimeError, AttributeError):
            torch.mps.empty_cache()


def available_devices() -> list[str]:
    """The device types present here: ``"cpu"``, then ``"cuda"`` and ``"mps"`` where available
    (the one probe of each: ``resolve_device`` asks the same questions)."""
    return ["cpu"] + ["cuda"] * torch.cuda.is_available() + ["mps"] * _mps_available()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _cuda_has_native_bf16() -> bool:
    """bf16 in hardware (Ampere and newer). ``is_bf16_supported()`` alone also says yes on
    cards that only emulate it (a T4, free Colab's GPU), where it is slower than fp16."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3 has no emulation and no such keyword
        return torch.cuda.is_bf16_supported()


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device``; ``None`` means plain fp32.

    ``"auto"`` chooses bf16 on GPUs that have it in hardware (fp16 on older CUDA cards such as
    the T4, where bf16 is only emulated, and on MPS) and
    on CPUs with native bf16; otherwise fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        dtype = _DTYPES[precision]
        if dtype is torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("precision='bf16' is not supported by this GPU; use 'fp16' or 'auto'")
        if dtype is not None and device.type == "mps" and not mps_supports(dtype):
            raise ValueError(
                f"precision='{precision}' is not supported on this Mac's MPS with torch "
                f"{torch.__version__} (bf16 needs macOS 14, autocast on MPS torch 2.5); use "
                "'fp32' or 'auto'"
            )
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if _cuda_has_native_bf16() else torch.float16
    if device.type == "mps":
        return torch.float16 if mps_supports(torch.float16) else None
    return torch.bfloat16 if cpu_has_fast_bf16() else None


@functools.cache
def mps_supports(dtype: torch.dtype) -> bool:
    """True when the network can run under MPS autocast in ``dtype`` on this Mac.

    Tried, not assumed: autocast on MPS arrived in torch 2.5 (older versions raise, or warn and
    switch it off), and bf16 kernels need macOS 14.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "...not supported. Disabling autocast." is a no
            torch.autocast(device_type="mps", dtype=dtype)
            (
                torch.ones(2, 2, device="mps", dtype=dtype)
                @ torch.ones(2, 2, device="mps", dtype=dtype)
            ).cpu()
        return True
    except (RuntimeError, ValueError, TypeError, UserWarning):
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
