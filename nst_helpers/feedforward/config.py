"""``TrainConfig``: every option that decides what network ``train_transformer`` trains, and where.

Training minimises ``stylize``'s own perceptual loss, so the options of that loss, of the VGG
network and of the machine (weights, layers, normalisation, pooling, precision, device, seed)
are ``StyleConfig``'s fields (``network`` too: Johnson et al. trained against VGG16), taken
over with their help text, choices and validation. Only what
training alone has is declared here: steps, crop size, batch size, the learning rate of the
network's weights and the network's size::

    from nst_helpers.feedforward import TrainConfig, train_transformer

    config = TrainConfig(steps=2000, image_size=256, style_weight=20.0)  # validated now
    net = train_transformer("mosaic", "flowers102", config=config, seed=0)  # keywords override

The ``nst train`` flags are generated from these fields, as ``nst stylize``'s are from
``StyleConfig``'s. How a run reports and survives (``progress``, ``callback``, ``preview``,
``checkpoint``, ``resume``) stays explicit keywords of ``train_transformer``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import StyleConfig, check_count, check_number
from ..config import check_names as check_field_names
from ..features import min_input_size
from .net import MIN_SIDE

_STYLE_FIELDS = {f.name: f for f in dataclasses.fields(StyleConfig)}
STYLIZE_ONLY = (
    "steps",
    "image_size",
    "optimizer",
    "lr",
    "init",
    "preserve_color",
    "style_blend",
    "style_scale",
    "scales",
    "parameterization",
    "preset",
    "checkpointing",
)
"""``StyleConfig`` fields training has no use for (``steps``, ``image_size`` and ``lr`` mean
something else here and are ``TrainConfig``'s own); every other field is shared."""


def _option(default: Any, help: str, **meta: Any) -> Any:
    """A training-only field: its default, help line and how the CLI reads it."""
    return field(default=default, metadata={"help": help, **meta})


def _shared(name: str, **default: Any) -> Any:
    """``StyleConfig``'s field ``name``: its help, choices and parsing, and its default unless
    one is given."""
    f = _STYLE_FIELDS[name]
    return field(default=default.get("default", f.default), metadata=f.metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Every ``train_transformer`` option with its default; validated when made (``ValueError``).

    The shared fields are checked by ``StyleConfig`` itself (the same rules and messages) and
    come back in its form: lists become tuples, ``style_layer_weights`` given as a mapping a
    tuple in ``style_layers``' order. ``replace(**changes)`` returns a validated copy.
    """

    steps: int = _option(4000, "training steps: Adam steps on the network's weights")
    image_size: int = _option(256, "side of the square training crops in pixels", flag="--size")
    batch_size: int = _option(4, "crops per step")
    lr: float = _option(1e-3, "Adam's learning rate for the network's weights", parse=float)
    content_weight: float = _shared("content_weight")
    style_weight: float = _shared("style_weight")
    tv_weight: float = _shared("tv_weight")
    normalization: str = _shared("normalization")
    content_layers: tuple[str, ...] = _shared("content_layers")
    style_layers: tuple[str, ...] = _shared("style_layers")
    style_layer_weights: tuple[float, ...] | None = _shared("style_layer_weights")
    pooling: str = _shared("pooling")
    network: str = _shared("network")
    weights: str | os.PathLike | None = _shared("weights")
    device: str = _shared("device")
    # fp32, train_transformer's default since v0.1 (StyleConfig's is "auto")
    precision: str = _shared("precision", default="fp32")
    seed: int | None = _shared("seed")
    channels: int = _option(32, "width of the network's first layer (then 2x and 4x)")
    residual_blocks: int = _option(5, "residual blocks: the network's depth")

    def __post_init__(self) -> None:
        check_count("steps", self.steps, 0)
        check_count("batch_size", self.batch_size)
        object.__setattr__(self, "lr", check_number("lr", self.lr, positive=True))
        # StyleConfig checks the shared fields: one set of rules and messages for both.
        style = StyleConfig(**{name: getattr(self, name) for name in SHARED_NAMES})
        for name in SHARED_NAMES:
            object.__setattr__(self, name, getattr(style, name))
        object.__setattr__(self, "_style_config", style)
        check_count("channels", self.channels)
        check_count("residual_blocks", self.residual_blocks)
        layers = self.content_layers + self.active_style_layers
        min_side = max(MIN_SIDE, min_input_size(layers, self.network))
        if (
            not isinstance(self.image_size, int)
            or isinstance(self.image_size, bool)
            or self.image_size < min_side
        ):
            raise ValueError(
                f"image_size must be an int >= {min_side} (the chosen {self.network.upper()} "
                "layers need it), "
                f"got {self.image_size!r}"
            )

    @property
    def layer_weights(self) -> dict[str, float]:
        """``{style layer: w_l}`` of the layers that count (weight > 0), ``1 / L`` by default."""
        return self.style_config.layer_weights

    @property
    def active_style_layers(self) -> tuple[str, ...]:
        """``style_layers`` without those weighted zero."""
        return tuple(self.layer_weights)

    @property
    def style_config(self) -> StyleConfig:
        """The shared fields as a ``StyleConfig`` (its other fields at their defaults)."""
        return self._style_config

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with ``changes``; unknown names are a ``TypeError``."""
        check_names(changes, "TrainConfig.replace()")
        return dataclasses.replace(self, **changes)

    @classmethod
    def build(cls, config: TrainConfig | None = None, **options: Any) -> TrainConfig:
        """``config`` (default: all defaults) with ``options`` overriding its fields."""
        if config is not None and not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig or None, got {type(config).__name__}")
        config = config or DEFAULTS
        return config.replace(**options) if options else config


def fields() -> tuple[dataclasses.Field, ...]:
    """``TrainConfig``'s fields, in order (what the CLI iterates over)."""
    return dataclasses.fields(TrainConfig)


FIELD_NAMES = tuple(f.name for f in fields())
SHARED_NAMES = tuple(n for n in FIELD_NAMES if n in _STYLE_FIELDS and n not in STYLIZE_ONLY)
"""The fields that are ``StyleConfig``'s (the loss, the network, the machine)."""


def check_names(options: Mapping[str, Any], where: str = "train_transformer()") -> None:
    """``TypeError`` for an option that is not a ``TrainConfig`` field, with the nearest name."""
    check_field_names(options, where, FIELD_NAMES)


DEFAULTS = TrainConfig()
"""The defaults, validated once at import."""

__all__ = ["DEFAULTS", "STYLIZE_ONLY", "TrainConfig", "fields"]
