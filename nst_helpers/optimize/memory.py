"""Memory guard: will a run fit on the device, and if not, what will?

Style transfer memory is dominated by the activations VGG19 keeps for the backward pass, and
those grow with the number of pixels. ``estimate_memory`` adds up, tensor by tensor, what one
optimisation step holds at its peak (the start of the backward pass):

* **weights** - VGG19's conv weights and biases in fp32: all 16 convolutions, because
  ``load_vgg19`` caches the whole feature stack on the device, truncated or not;
* **activations** - what autograd saves: the network input, every ReLU output, every pooled
  map (plus its int64 argmax indices for max-pooling), each captured layer's fp32 copy for the
  Gram / content difference, and under autocast the half-precision copy of every conv weight;
* **backward** - gradients in flight: about three maps the size of the largest activation
  (incoming gradient, outgoing gradient, and the sum where a captured layer's two paths meet);
* **targets** - the content features, the style Grams and the content image, kept all run;
* **image** - the optimised image and everything image-sized around it: its gradient, the best
  image so far, the pre-step copy, and the optimiser state (Adam: 2 buffers; L-BFGS: 50 pairs of
  history plus ~4 work vectors);

and multiplies the sum by ``SAFETY_FACTOR`` for what the arithmetic cannot see (cuDNN/oneDNN
workspaces, weight reorders, allocator rounding and fragmentation).

Checked on the CPU in two ways. The ``activations`` term equals, byte for byte, what autograd
saves (summed over ``torch.autograd.graph.saved_tensors_hooks``; see tests/test_memory.py), for
fp32, bf16 and fp16, max and avg pooling, both normalisations, any layer set (conv, relu, pool).
The whole estimate against the peak RSS growth of real Adam steps in a fresh process (measured
with the former conv* default layers, one thread; not re-measured for relu*): fp32 at 512 px is
1.21x the measured peak and 1.23x at 768 px; bf16 at 512 px 1.04x (oneDNN's bf16 backward keeps
fp32 temporaries the sum does not see, which the safety factor absorbs). L-BFGS at 192 px:
1.46x, the history term being an upper bound (pairs are only stored when the curvature
condition holds). Below ~300 px, allocator and oneDNN caches of some tens of MB make RSS noisy
(0.9x-1.3x at 256 px), but a run that small fits anywhere.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .. import config as _config
from ..config import StyleConfig
from ..features import (
    _CFGS,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    min_input_size,
    network_layers,
)
from .steps import LBFGS_HISTORY

PRECISION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
SAFETY_FACTOR = 1.25
"""Headroom for workspaces and allocator overhead the tensor arithmetic does not see."""
FP32, INDEX = 4, 8  # bytes per float32 and per int64 (max-pool indices)

Size = int | tuple[int, int]


class InsufficientMemoryError(MemoryError):
    """The requested run will not fit (or did not fit) on the device; the message says what will."""


# ---- what the estimate depends on -----------------------------------------------------------


@dataclass(frozen=True)
class MemoryOptions:
    """The options of a run that decide its memory: ``StyleConfig``'s ``memory`` fields (with
    the precision *resolved*: ``"fp32"``, ``"bf16"`` or ``"fp16"``, as autocast will run),
    the number of style images and whether activations are recomputed.

    Every function here takes one (``options``) or the same names as keywords, which are
    checked once, by ``StyleConfig``'s own rules (``memory_options``).
    """

    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    precision: str = "fp32"
    optimizer: str = "adam"
    pooling: str = "max"
    parameterization: str = "pixel"
    normalization: str = "relative"
    network: str = "vgg19"
    n_styles: int = 1
    checkpointing: bool = False

    def __post_init__(self) -> None:
        # Only what StyleConfig does not check: its precision may still be "auto".
        if self.precision not in PRECISION_BYTES:
            raise ValueError(
                f"precision={self.precision!r} must be one of {', '.join(PRECISION_BYTES)} "
                "(the precision a run resolves to, see devices.resolve_precision)"
            )
        if (
            not isinstance(self.n_styles, int)
            or isinstance(self.n_styles, bool)
            or self.n_styles < 1
        ):
            raise ValueError(f"n_styles must be an int >= 1, got {self.n_styles!r}")
        if not isinstance(self.checkpointing, bool):
            raise ValueError(
                f"checkpointing must be True or False here, got {self.checkpointing!r}"
            )

    @classmethod
    def of(
        cls,
        config: StyleConfig,
        *,
        precision: str,
        optimizer: str | None = None,
        n_styles: int = 1,
        parameterization: str | None = None,
    ) -> MemoryOptions:
        """The options of a validated ``config`` run at ``precision`` (resolved) with
        ``optimizer`` and ``parameterization`` (default the config's: a preset's plan may
        choose its own) on ``n_styles`` style images."""
        fields = config.memory_options(precision)
        if optimizer is not None:
            fields["optimizer"] = optimizer
        if parameterization is not None:
            fields["parameterization"] = parameterization
        return cls(**fields, n_styles=n_styles)


_RUN_ONLY = ("precision", "n_styles", "checkpointing")  # not taken from a StyleConfig


def memory_options(options: MemoryOptions | None = None, **keywords: Any) -> MemoryOptions:
    """``options`` (default: all defaults) with ``keywords`` changed, validated: the
    ``StyleConfig`` fields by ``StyleConfig``, the rest by ``MemoryOptions``."""
    base = options or MemoryOptions()
    if not keywords:
        return base
    allowed = {f.name for f in _config.fields() if f.metadata.get("memory")} | set(_RUN_ONLY)
    for name in keywords:
        if name not in allowed:
            raise TypeError(f"unexpected memory option {name!r}; the options are {sorted(allowed)}")
    own = {k: keywords.pop(k) for k in _RUN_ONLY if k in keywords}
    names = allowed - set(_RUN_ONLY)
    checked = StyleConfig(**{**{k: getattr(base, k) for k in names}, **keywords})
    fields = {k: getattr(checked, k) for k in names}
    return dataclasses.replace(base, **fields, **own)


# ---- the arithmetic ---------------------------------------------------------------------------


def _hw(image_size: Size) -> tuple[int, int]:
    """``(H, W)`` from an int side or an ``(H, W)`` pair, validated."""
    if isinstance(image_size, bool):
        raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}")
    if isinstance(image_size, int):
        h = w = image_size
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        h, w = image_size
    else:
        raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (h, w)):
        raise ValueError(f"image_size must hold positive ints, got {image_size!r}")
    return h, w


def _conv_channels(network: str = "vgg19") -> list[tuple[int, int]]:
    """``(in, out)`` channels of every convolution of ``network``, in order."""
    pairs, channels = [], 3
    for item in _CFGS[network]:
        if item != "M":
            pairs.append((channels, item))
            channels = item
    return pairs


def _image_vectors(optimizer: str, parameterization: str) -> int:
    """How many float32 tensors of the image's size live all run (see the module docstring)."""
    # parameter + its gradient + best image + pre-step copy
    n = 4
    n += 2 if optimizer == "adam" else 2 * LBFGS_HISTORY + 4
    if parameterization == "fourier":
        n += 3  # complex spectrum (2 floats per half-spectrum bin), its scaled copy, the image
    return n


def memory_breakdown(
    image_size: Size, options: MemoryOptions | None = None, **keywords: Any
) -> dict[str, int]:
    """Bytes per component (``weights``, ``activations``, ``backward``, ``targets``, ``image``)
    of one run at ``image_size``, before the safety factor; see the module docstring.

    ``options`` (or the same names as keywords: ``content_layers``, ``style_layers``,
    ``precision``, ``optimizer``, ``pooling``, ``parameterization``, ``normalization``,
    ``network``, ``n_styles``, ``checkpointing``) describe the run, see ``MemoryOptions``.
    ``checkpointing=True`` (see ``nst_helpers.recompute``): the forward pass keeps only each
    block's input; the peak is then in the backward pass of one block ``k``, holding the inputs
    of blocks ``1..k``, block ``k``'s recomputed activations and its gradients, whichever ``k``
    needs most."""
    h, w = _hw(image_size)
    o = memory_options(options, **keywords)
    content_layers, style_layers, precision = o.content_layers, o.style_layers, o.precision
    # "relative" divides each term by its target's energy: autograd keeps each divisor ([1])
    per_term = FP32 if o.normalization == "relative" else 0
    half = precision != "fp32"
    act = PRECISION_BYTES[precision]
    captured = set(content_layers) | set(style_layers)
    indices = network_layers(o.network)
    deepest = max(indices[n] for n in captured)
    names = {i: n for n, i in indices.items()}
    pixels = 3 * h * w

    def loss_terms(name: str, channels: int, out: int, saved_by_network: bool) -> int:
        """What the losses keep of a captured layer (and its targets, added to ``targets``)."""
        nonlocal targets
        kept = 0
        if name in style_layers:
            # gram_matrix keeps its fp32 input for bmm: a new copy under autocast, else the
            # layer's own output (counted once, whoever else saves it); then (G - A)
            if half or not saved_by_network:
                kept += out * FP32
            kept += channels * channels * FP32 + per_term
            targets += channels * channels * FP32
        if name in content_layers:
            kept += out * FP32 + per_term  # (F - P), kept for the square
            targets += out * FP32
        return kept

    # load_vgg19 keeps the whole feature stack on the device, however little of it is used.
    weights = sum(FP32 * (c_in * c_out * 9 + c_out) for c_in, c_out in _conv_channels(o.network))
    activations = largest = targets = 0
    activations += pixels * act  # the network's input: channels_last copy, or its half cast
    # Per block (ending after its pool): the input it is recomputed from, what its recompute
    # saves, its largest map. The input is the fp32 channels_last copy, cast inside block 1.
    blocks = [{"input": pixels * FP32, "saved": pixels * act if half else 0, "largest": 0}]

    def keep(nbytes: int) -> None:
        nonlocal activations
        activations += nbytes
        blocks[-1]["saved"] += nbytes

    channels, index = 3, 0
    for item in _CFGS[o.network]:
        if index > deepest:
            break
        if item == "M":
            h, w = h // 2, w // 2
            out = channels * h * w
            # the pooled map is saved by the next conv; max-pooling also keeps int64 argmaxes
            saved = index < deepest
            keep(out * INDEX if o.pooling == "max" else 0)
            keep(loss_terms(names[index], channels, out, saved))
            if saved:  # the next block's input, where checkpointing recomputes from
                activations += out * act
                blocks.append({"input": out * act, "saved": 0, "largest": 0})
            index += 1
            continue
        if half:
            # autocast's cast copy of the frozen weight (not the bias), saved for backward
            keep(channels * item * 9 * act)
        channels, out = item, item * h * w
        largest = max(largest, out)
        blocks[-1]["largest"] = max(blocks[-1]["largest"], out)
        # A captured conv output is nobody else's: the ReLU after it then runs out of place.
        keep(loss_terms(names[index], channels, out, saved_by_network=False))
        if index < deepest:
            # the ReLU's output, saved by the ReLU itself (and by the next layer)
            keep(out * act)
            keep(loss_terms(names[index + 1], channels, out, saved_by_network=True))
        index += 2  # conv and its ReLU
    backward = 3 * largest * act
    if o.checkpointing:
        peaks = []
        for k, block in enumerate(blocks):
            held = sum(b["input"] for b in blocks[: k + 1]) + block["saved"]
            peaks.append((held + 3 * block["largest"] * act, held, 3 * block["largest"] * act))
        _, activations, backward = max(peaks)
    targets += pixels * FP32 * o.n_styles  # content image; one style image at a time, transient
    image = _image_vectors(o.optimizer, o.parameterization) * pixels * FP32
    return {
        "weights": weights,
        "activations": activations,
        "backward": backward,
        "targets": targets,
        "image": image,
    }


def estimate_memory(image_size: Size, options: MemoryOptions | None = None, **keywords: Any) -> int:
    """Peak device bytes of a ``stylize`` run at ``image_size`` (int: square side; or ``(H, W)``).

    The sum of ``memory_breakdown`` times ``SAFETY_FACTOR``, rounded up. The options (a
    ``MemoryOptions`` or keywords) are those of ``stylize`` that decide memory, with
    ``precision`` the autocast precision (``"fp32"``, ``"bf16"``, ``"fp16"``) and
    ``checkpointing`` ``True`` or ``False`` (``"auto"`` is resolved by ``choose_checkpointing``);
    plus ``n_styles``, the number of style images. Raises ``ValueError`` for an unknown value.
    """
    parts = memory_breakdown(image_size, options, **keywords)
    return math.ceil(sum(parts.values()) * SAFETY_FACTOR)


def _shape_for(side: int, aspect: tuple[int, int] | float) -> tuple[int, int]:
    """``(H, W)`` with longest side ``side`` and the aspect of ``aspect`` (as ``resize_to``)."""
    if isinstance(aspect, tuple):
        ah, aw = aspect
    else:
        ah, aw = float(aspect), 1.0  # a number is H / W
    scale = side / max(ah, aw)
    return max(1, round(ah * scale)), max(1, round(aw * scale))


def largest_fitting_size(
    available_bytes: int,
    aspect: tuple[int, int] | float = 1.0,
    options: MemoryOptions | None = None,
    **keywords: Any,
) -> int:
    """The largest longest side whose ``estimate_memory`` fits in ``available_bytes``.

    ``aspect`` is the image's ``(H, W)`` (any scale) or the ratio ``H / W``; the options are
    those of ``estimate_memory``. Returns 0 when not even the smallest usable size fits.
    """
    if isinstance(aspect, tuple):
        if len(aspect) != 2 or min(aspect) <= 0:
            raise ValueError(f"aspect must be (H, W) with positive sides, got {aspect!r}")
    elif not (isinstance(aspect, int | float) and math.isfinite(aspect) and aspect > 0):
        raise ValueError(f"aspect must be (H, W) or a positive ratio H / W, got {aspect!r}")
    options = memory_options(options, **keywords)
    min_side = min_input_size([*options.content_layers, *options.style_layers], options.network)

    def fits(side: int) -> bool:
        h, w = _shape_for(side, aspect)
        return min(h, w) >= min_side and estimate_memory((h, w), options) <= available_bytes

    # The smallest usable side: an elongated aspect needs a longer side before the short one
    # reaches min_side. Memory only grows from there, so if that does not fit, nothing does.
    h, w = _shape_for(1000, aspect)
    low = max(min_side, math.floor(min_side * max(h, w) / min(h, w)))
    while min(_shape_for(low, aspect)) < min_side:
        low += 1
    if not fits(low):
        return 0
    high = 2 * low
    while fits(high):  # memory grows with the pixel count, so doubling soon overshoots
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


# ---- what the device has -----------------------------------------------------------------


def available_memory(device: torch.device | str, after_oom: bool = False) -> int | None:
    """Bytes free for a new run on ``device``, or ``None`` when it cannot be told.

    CUDA: free device memory plus what PyTorch's allocator holds unused (``after_oom``: plus
    all it holds, since the failed run's tensors are freed once its exception is gone). MPS:
    the recommended working-set size minus what Metal already holds. CPU: ``MemAvailable`` of
    /proc/meminfo, else free physical pages from ``os.sysconf``.
    """
    device = torch.device(device)
    try:
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            reserved = torch.cuda.memory_reserved(device)
            in_use = 0 if after_oom else torch.cuda.memory_allocated(device)
            return int(free + reserved - in_use)
        if device.type == "mps":
            mps = torch.mps
            if not hasattr(mps, "recommended_max_memory"):
                return None
            used = getattr(mps, "driver_allocated_memory", mps.current_allocated_memory)()
            return int(mps.recommended_max_memory() - used)
        if device.type == "cpu":
            return _cpu_available()
    except (RuntimeError, AttributeError, OSError):
        return None
    return None


def _cpu_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def _size_text(image_size: Size) -> str:
    h, w = _hw(image_size)
    return f"{w}x{h} (W x H)"


def _advice(
    image_size: Size, device: torch.device, available: int | None, options: MemoryOptions
) -> str:
    """The shared part of both messages: the largest size that fits and other ways out."""
    h, w = _hw(image_size)
    if available is None:
        return (
            f"Try a smaller image_size (e.g. {max(h, w) // 2}), precision='bf16'/'fp16' on a GPU, "
            f"or a coarse-to-fine run such as scales=[{max(h, w) // 4}, {max(h, w) // 2}]."
        )

    def fits_up_to(**changes: Any) -> int:
        return largest_fitting_size(available, (h, w), dataclasses.replace(options, **changes))

    lines = []
    best = fits_up_to()
    if best:
        lines.append(
            f"The largest size that fits is image_size={best}; use it, or refine up to it "
            f"coarse-to-fine with scales=[{max(best // 2, 1)}, {best}]."
        )
    else:
        lines.append("Not even the smallest usable image fits; free memory or use another device.")
    if options.precision == "fp32" and device.type in ("cuda", "mps"):
        low = "bf16" if device.type == "cuda" else "fp16"
        lower = fits_up_to(precision=low)
        lines.append(f"precision='{low}' stores activations in half the bytes: fits up to {lower}.")
    other = fits_up_to(checkpointing=not options.checkpointing)
    if options.checkpointing:
        lines.append(f"(This is with checkpointing; without it, up to {other} would fit.)")
    else:
        lines.append(
            "checkpointing=True recomputes activations in the backward pass instead of keeping "
            f"them (slower steps, about half the memory): fits up to {other}."
        )
    if options.optimizer == "lbfgs":
        lines.append(
            f"optimizer='adam' keeps no L-BFGS history ({LBFGS_HISTORY} image pairs): "
            f"fits up to {fits_up_to(optimizer='adam')}."
        )
    return " ".join(lines)


def choose_checkpointing(
    image_size: Size,
    device: torch.device | str,
    checkpointing: bool | str,
    options: MemoryOptions | None = None,
    **keywords: Any,
) -> bool:
    """Resolve ``checkpointing="auto"``: ``True`` when the run would not fit without it.

    ``True``/``False`` are returned as given; ``"auto"`` is ``False`` when the free memory of
    ``device`` cannot be told. The options are those of ``estimate_memory``.
    """
    if checkpointing != "auto":
        return bool(checkpointing)
    available = available_memory(torch.device(device))
    options = memory_options(options, **keywords)
    return available is not None and estimate_memory(image_size, options) > available


def check_memory(
    image_size: Size,
    device: torch.device | str,
    options: MemoryOptions | None = None,
    **keywords: Any,
) -> None:
    """Raise ``InsufficientMemoryError`` if a run at ``image_size`` will not fit on ``device``.

    The options are those of ``estimate_memory``. Does nothing when the free memory of the
    device cannot be told. The message gives the estimate, what is free, the largest size
    that fits, and other ways to fit (``scales=[...]``, lower precision). Pass
    ``memory_check=False`` to ``stylize`` to skip this check.
    """
    device = torch.device(device)
    options = memory_options(options, **keywords)
    need = estimate_memory(image_size, options)
    available = available_memory(device)
    if available is None or need <= available:
        return
    raise InsufficientMemoryError(
        f"a run at {_size_text(image_size)} needs about {_gib(need)} on {device}, but only "
        f"{_gib(available)} is free. "
        + _advice(image_size, device, available, options)
        + " (The check is an estimate: memory_check=False skips it.)"
    )


def oom_message(
    image_size: Size,
    device: torch.device | str,
    options: MemoryOptions | None = None,
    **keywords: Any,
) -> str:
    """Advice for a real out-of-memory failure at ``image_size`` on ``device``."""
    device = torch.device(device)
    options = memory_options(options, **keywords)
    need = estimate_memory(image_size, options)
    available = available_memory(device, after_oom=True)
    free = "" if available is None else f"; about {_gib(available)} is usable"
    return (
        f"out of memory on {device} at {_size_text(image_size)} (estimated need "
        f"{_gib(need)}{free}). " + _advice(image_size, device, available, options)
    )


# ---- the guard a run goes through -----------------------------------------------------------


def guard(
    image_size: Size,
    device: torch.device,
    options: MemoryOptions,
    checkpointing: bool | str,
    check: bool = True,
) -> MemoryOptions:
    """The options a run goes ahead with: ``checkpointing="auto"`` resolved (on only when the
    run would not fit without it), then ``InsufficientMemoryError`` if it still does not fit.
    ``check=False`` asks nothing: ``"auto"`` is then off."""
    if check:
        checkpointing = choose_checkpointing(image_size, device, checkpointing, options)
        check_memory(image_size, device, dataclasses.replace(options, checkpointing=checkpointing))
    return dataclasses.replace(options, checkpointing=checkpointing is True)


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA raises ``OutOfMemoryError``, MPS a ``RuntimeError`` that says so."""
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


for _fn in (
    memory_breakdown,
    estimate_memory,
    largest_fitting_size,
    choose_checkpointing,
    check_memory,
    oom_message,
):
    _config.with_fields_as_keywords(_fn, dataclasses.fields(MemoryOptions))
