"""One set of defaults everywhere: ``StyleConfig``, the single source of ``stylize``'s options.

Every option that decides what picture a run makes, and where it runs, is a field here with its
default, its help text and its validation. The rest of the package reads these fields instead of
repeating them: ``stylize``'s keyword arguments (and its signature), the CLI's flags, the
studio's controls, the memory estimate's options and the checkpoint-compatibility key::

    from nst_helpers import StyleConfig, stylize

    config = StyleConfig(image_size=384, steps=300)  # validated now, before any work
    result = stylize("chelsea", "brush_strokes", config, seed=0)  # keywords override fields
    result.settings["style_weight"]

What is *not* here is how a run reports and survives (``callback``, ``preview``, ``progress``,
``snapshot_every``, ``checkpoint``, ``resume``, ...): those stay explicit keywords of ``stylize``.

Field metadata: ``help`` (one line), ``flag`` (the CLI flag when not ``--field-name``),
``parse`` (how the CLI reads the value), ``choices``, ``memory`` (an option of
``estimate_memory``), ``key`` (``False``: may differ when resuming a checkpoint) and ``before``
(a key field added after v0.1: the value older checkpoints were made with).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .devices import PRECISIONS
from .features import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    NETWORKS,
    min_input_size,
    network_layers,
    validate_layers,
)
from .losses import NORMALIZATIONS, layer_weights
from .parameterization import PARAMETERIZATIONS

OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise", "style")
PRESERVE_COLOR = (None, "luminance", "histogram")
POOLINGS = ("max", "avg")
PRESETS = (None, "fast")
"""Named optimisation plans; what each one does lives in ``optimize/presets.py``."""
DEFAULT_LR = {"adam": 0.02, "lbfgs": 1.0}
DEFAULT_STYLE_WEIGHT = 10.0
"""beta for ``normalization="relative"`` (alpha = 1); chosen by ``benchmarks/calibrate.py``,
see the README's calibration section."""


def _option(default: Any, help: str, **meta: Any) -> Any:
    """A ``StyleConfig`` field: its default and the metadata the CLI/studio/memory read."""
    return field(default=default, metadata={"help": help, **meta})


def check_number(name: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number >= 0 (> 0 with ``positive``), else a
    ``ValueError`` naming ``name``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if positive and value == 0:
        raise ValueError(f"{name} must be > 0")
    return float(value)


def check_count(name: str, value: Any, low: int = 1) -> int:
    """``value`` if it is an int >= ``low`` (not a bool), else a ``ValueError`` naming ``name``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} must be one of {shown}")
    return value


def check_checkpointing(value: object) -> bool | str:
    """Validate a ``checkpointing`` option: ``False``, ``True`` or ``"auto"``."""
    if value is None:
        return False
    if isinstance(value, bool) or value == "auto":
        return value
    raise ValueError(f"checkpointing={value!r} must be False, True or 'auto'")


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


@dataclass(frozen=True)
class StyleConfig:
    """Every ``stylize`` option with its default; validated when made (``ValueError``).

    Lists become tuples (the config is hashable and can be compared), ``style_layer_weights``
    given as a mapping becomes a tuple in ``style_layers``' order. ``replace(**changes)``
    returns a validated copy.
    """

    steps: int | None = _option(
        None, "optimisation steps (L-BFGS: real iterations); None: 4000, the original "
        "report's recipe, or with a preset its own schedule", key=False,
    )  # fmt: skip
    image_size: int = _option(
        512, "longest side of the output in pixels (a coarse-to-fine run: the last of scales)",
        flag="--size", key=False,
    )  # fmt: skip
    optimizer: str = _option("adam", "Adam (as in the original report) or L-BFGS",
                             choices=OPTIMIZERS, memory=True)  # fmt: skip
    lr: float | None = _option(
        None, "learning rate (default 0.02 for Adam, in normalised-pixel units; 1 for L-BFGS)",
        parse=float,
    )  # fmt: skip
    content_weight: float = _option(1.0, "alpha, the content term's weight", parse=float)
    style_weight: float = _option(
        DEFAULT_STYLE_WEIGHT, "beta, the style term's weight (its ratio to alpha is what matters)",
        parse=float,
    )  # fmt: skip
    tv_weight: float = _option(0.0, "total-variation smoothing (0: off)", parse=float)
    normalization: str = _option(
        "relative", "relative: each term over its target's energy, so the weights mean the "
        "same at every size; paper: eq. 1-5 exactly", choices=NORMALIZATIONS, memory=True,
    )  # fmt: skip
    content_layers: tuple[str, ...] = _option(
        DEFAULT_CONTENT_LAYERS, "network layers for content (reluX_Y after the ReLU, convX_Y "
        "before it)", parse="names", memory=True,
    )  # fmt: skip
    style_layers: tuple[str, ...] = _option(
        DEFAULT_STYLE_LAYERS, "network layers whose Gram matrices carry the style",
        parse="names", memory=True,
    )  # fmt: skip
    style_layer_weights: tuple[float, ...] | None = _option(
        None, "one weight per style layer (default 1/L each; 0 drops a layer)", parse="floats"
    )
    init: str = _option("content", "start from the content photo, white noise or the style "
                        "image", choices=INITS)  # fmt: skip
    network: str = _option(
        "vgg19", "vgg19 (the paper's) or vgg16 (Johnson et al.'s, and HED's); layer names "
        "are the same scheme, the defaults exist in both", choices=NETWORKS, memory=True,
        before="vgg19",
    )  # fmt: skip
    weights: str | os.PathLike | None = _option(
        None, "imagenet, hed (offline: trained VGG16 features from HED edge detection), random "
        "(tests only) or a .pth file; default $NST_WEIGHTS, else imagenet where its file is "
        "here, else hed", parse=str,
    )  # fmt: skip
    device: str = _option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
                          parse=str, key=False)  # fmt: skip
    precision: str = _option(
        "auto", "auto: bf16/fp16 autocast where it pays (GPUs, CPUs with native bf16), else "
        "fp32; Grams and losses are always fp32", choices=PRECISIONS, memory=True,
    )  # fmt: skip
    seed: int | None = _option(None, "same seed, same pixels (on the same machine)", parse=int)
    preserve_color: str | None = _option(None, "keep the photo's colours",
                                         choices=PRESERVE_COLOR)  # fmt: skip
    style_blend: tuple[float, ...] | None = _option(
        None, "weights of several style images, e.g. 0.7,0.3 (default equal)", parse="floats"
    )
    style_scale: float = _option(1.0, "style image size / output size (bigger: coarser "
                                 "strokes)", parse=float)  # fmt: skip
    pooling: str = _option("max", "avg: average pooling, as the paper suggests for synthesis",
                           choices=POOLINGS, memory=True)  # fmt: skip
    scales: tuple[int, ...] | None = _option(
        None, "coarse-to-fine sizes, e.g. 256,512 (the last is the output size)", parse="ints"
    )
    parameterization: str = _option("pixel", "fourier: a decorrelated Fourier-space image",
                                    choices=PARAMETERIZATIONS, memory=True)  # fmt: skip
    preset: str | None = _option(
        None, "fast: the quickest route to a finished picture at the output size (72 Adam "
        "steps on the pixels at lr 0.15, eased in; chooses scales, optimiser, steps and lr itself)",
        choices=PRESETS,
    )  # fmt: skip
    checkpointing: bool | str = _option(
        "auto", "recompute activations in the backward pass: about half the memory, slower "
        "steps (auto: only when the run would not fit otherwise)", parse="switch", key=False,
    )  # fmt: skip

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if self.steps is not None:
            check_count("steps", self.steps, 0)
        _choice("preset", self.preset, PRESETS)
        if self.preset is not None and self.scales is not None:
            raise ValueError(
                f"preset={self.preset!r} chooses its own scales: pass scales or a preset"
            )
        put("checkpointing", check_checkpointing(self.checkpointing))
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr is not None:
            put("lr", check_number("lr", self.lr, positive=True))
        for name in ("content_weight", "style_weight", "tv_weight"):
            put(name, check_number(name, getattr(self, name)))
        put("style_scale", check_number("style_scale", self.style_scale, positive=True))
        _choice("normalization", self.normalization, NORMALIZATIONS)
        _choice("init", self.init, INITS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("preserve_color", self.preserve_color, PRESERVE_COLOR)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("network", self.network, NETWORKS)
        _choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        if self.seed is not None and (
            not isinstance(self.seed, int) or isinstance(self.seed, bool)
            or not -(2**63) <= self.seed < 2**64
        ):  # fmt: skip
            raise ValueError(f"seed must be None or a whole number (64 bit), got {self.seed!r}")
        if not isinstance(self.device, str):
            put("device", str(self.device))  # a torch.device
        put("content_layers", tuple(validate_layers(self.content_layers, self.network)))
        put("style_layers", tuple(validate_layers(self.style_layers, self.network)))
        if self.style_layer_weights is not None:
            weights = layer_weights(self.style_layers, self.style_layer_weights)
            if not any(weights.values()):
                raise ValueError(
                    "style_layer_weights are all zero: give at least one style layer a weight > 0"
                )
            put("style_layer_weights", tuple(weights.values()))
        if self.style_blend is not None:
            blend = _as_tuple(self.style_blend)
            put("style_blend", tuple(check_number("style_blend weight", w) for w in blend))
        self._check_sizes()

    def _check_sizes(self) -> None:
        if self.scales is not None:
            scales = _as_tuple(self.scales)
            if not scales:
                raise ValueError(
                    "scales must be None or a non-empty list of sizes, e.g. [256, 512]"
                )
            object.__setattr__(self, "scales", scales)
        layers = list(self.content_layers + self.active_style_layers)
        min_side = min_input_size(layers, self.network)
        for s in self.sizes:
            if not isinstance(s, int) or isinstance(s, bool):
                what = "scales" if self.scales is not None else "image_size"
                raise ValueError(f"{what} must hold whole numbers of pixels, got {s!r}")
            if s < min_side:
                deepest = max(layers, key=network_layers(self.network).__getitem__)
                raise ValueError(
                    f"image size {s!r} is too small: layers up to {deepest} need at least "
                    f"{min_side} px per side"
                )
        if any(b <= a for a, b in itertools.pairwise(self.sizes)):
            raise ValueError(
                f"scales={list(self.sizes)} must increase (coarse to fine), e.g. [256, 384, 512]"
            )

    # ---- derived values -----------------------------------------------------------------
    @property
    def sizes(self) -> tuple[int, ...]:
        """The sizes the run optimises at: ``scales``, or just ``image_size``."""
        return (self.image_size,) if self.scales is None else self.scales

    @property
    def learning_rate(self) -> float:
        """``lr``, or the optimiser's default step size."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def layer_weights(self) -> dict[str, float]:
        """``{style layer: w_l}`` of the layers that count (weight > 0), ``1 / L`` by default."""
        weights = layer_weights(self.style_layers, self.style_layer_weights)
        return {name: w for name, w in weights.items() if w > 0}

    @property
    def active_style_layers(self) -> tuple[str, ...]:
        """``style_layers`` without those weighted zero (they would cost a Gram for nothing)."""
        return tuple(self.layer_weights)

    def memory_options(self, precision: str | None = None) -> dict[str, Any]:
        """The options of ``estimate_memory`` this config implies (``precision``: the resolved
        one, e.g. ``"bf16"`` for ``"auto"`` on a GPU)."""
        options = {f.name: getattr(self, f.name) for f in fields() if f.metadata.get("memory")}
        options["style_layers"] = self.active_style_layers
        if precision is not None:
            options["precision"] = precision
        return options

    def key(self) -> dict[str, Any]:
        """The fields a checkpoint must agree on to be resumed (everything with ``key``)."""
        return {f.name: getattr(self, f.name) for f in fields() if f.metadata.get("key", True)}

    def replace(self, **changes: Any) -> StyleConfig:
        """A validated copy with ``changes``; unknown names are a ``TypeError``."""
        check_names(changes, "StyleConfig.replace()")
        return dataclasses.replace(self, **changes)

    @classmethod
    def build(cls, config: StyleConfig | None = None, **options: Any) -> StyleConfig:
        """``config`` (default: all defaults) with ``options`` overriding its fields."""
        if config is not None and not isinstance(config, StyleConfig):
            raise TypeError(f"config must be a StyleConfig or None, got {type(config).__name__}")
        return (config or DEFAULTS).replace(**options) if options else (config or DEFAULTS)


def fields() -> tuple[dataclasses.Field, ...]:
    """``StyleConfig``'s fields, in order (what the CLI, studio and docs iterate over)."""
    return dataclasses.fields(StyleConfig)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(StyleConfig))


def added_later() -> dict[str, Any]:
    """Checkpoint-key fields that v0.1 did not have, each with the value every v0.1 run used.

    A field's ``before`` metadata records it; a checkpoint that lacks the field was made with
    that value, so it still resumes (``optimize.resume.check_compatible``)."""
    return {f.name: f.metadata["before"] for f in fields() if "before" in f.metadata}


def check_names(
    options: Mapping[str, Any], where: str = "stylize()", names: Sequence[str] = FIELD_NAMES
) -> None:
    """``TypeError`` for an option that is not one of ``names`` (``StyleConfig``'s fields), with
    the nearest name."""
    for name in options:
        if name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}{hint}")


def with_fields_as_keywords(fn: Callable, options: Sequence[dataclasses.Field]) -> Callable:
    """Give ``fn`` (which takes ``**keywords``) a signature that lists each of ``options`` as a
    keyword with its default, before ``fn``'s own keyword-only parameters, so ``help()``, IDEs
    and ``inspect`` show every option. Returns ``fn``."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    first = next((i for i, p in enumerate(params) if p.kind is p.KEYWORD_ONLY), len(params))
    keywords = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type
        )
        for f in options
        if f.name not in sig.parameters  # already a parameter of its own
    ]
    fn.__signature__ = sig.replace(parameters=params[:first] + keywords + params[first:])
    return fn


DEFAULTS = StyleConfig()
"""The defaults, validated once at import."""

__all__ = ["DEFAULTS", "DEFAULT_LR", "DEFAULT_STYLE_WEIGHT", "StyleConfig", "fields"]
