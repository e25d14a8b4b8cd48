"""The plan of a run: how the minimum is searched for, fixed before any work starts.

``StyleConfig`` says which picture is wanted (the loss, its layers and weights, the init);
a ``Plan`` says how to get there: a frozen tuple of ``Stage``\\ s, coarse to fine, each with
its image size, step count, optimiser, learning rate and precision, plus the few choices that
span stages (a moving average of the iterates, Adam's moments carried across, the padding of
the first convolution). A plain run makes one stage per entry of ``scales`` with the steps
split equally; ``preset="fast"`` makes its own (``presets.fast_plan``). Both are the same type,
so the loop has one path and never asks whether a key is present.

``settings`` turns a config and its plan into ``StylizeResult.settings``, the public dict that
is also what a checkpoint must agree on to be resumed; it keeps the keys of v0.1 so that old
checkpoints still resume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .. import devices
from ..config import StyleConfig
from ..features import weights_key
from ..images import image_digest
from ..parameterization import PARAMETERIZATIONS

CARRIES = ("image", "residual")
"""What a finer stage starts from (``Plan.carry``)."""
DEFAULT_STEPS = 4000
"""``steps`` when neither the caller nor a preset chose them: the original report's recipe."""


@dataclass(frozen=True)
class Stage:
    """One scale of a run: ``steps`` steps of ``optimizer`` at ``size`` px (longest side).

    ``precision`` is ``"fp32"``, ``"bf16"`` or ``"fp16"`` once the plan is ``resolved`` for a
    device (``"auto"`` before); ``lr`` is the optimiser's step size. A schedule (``lr_at``):
    the first ``warmup`` steps rise linearly towards ``lr``; with ``lr_end`` set, the step size
    holds at ``lr`` until ``decay_from`` of the stage's steps are done, then falls linearly to
    ``lr_end`` at its last step.
    """

    size: int
    steps: int
    optimizer: str
    lr: float
    precision: str
    lr_end: float | None = None
    decay_from: float = 0.5
    warmup: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.decay_from < 1.0:
            raise ValueError(f"decay_from={self.decay_from!r} must be in [0, 1)")
        if self.warmup < 0:
            raise ValueError(f"warmup={self.warmup!r} must be >= 0 steps")

    @property
    def scheduled(self) -> bool:
        """Whether the step size changes within the stage."""
        return self.lr_end is not None or self.warmup > 0

    def lr_at(self, i: int) -> float:
        """The step size of this stage's step ``i`` (1 for its first, ``steps`` for its last)."""
        if i <= self.warmup:  # Adam's first, bias-corrected steps are full-sized: ease them in
            return self.lr * i / (self.warmup + 1)
        if self.lr_end is None or self.steps <= 1:
            return self.lr
        progress = (i - 1) / (self.steps - 1)  # 0 at the first step, 1 at the last
        t = max(0.0, progress - self.decay_from) / (1.0 - self.decay_from)
        return self.lr + (self.lr_end - self.lr) * t

    def dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype of this stage on ``device`` (``None``: plain fp32)."""
        return devices.resolve_precision(self.precision, device)


@dataclass(frozen=True)
class Plan:
    """How a run searches: its stages, coarse to fine, and the choices that span them.

    ``ema_decay``: the iterates' moving average a stage hands on (Adam stages only; ``None``:
    off). ``carry_moments``: start each Adam stage with the last one's moments, resized.
    ``first_conv_padding``: ``"replicate"`` swaps the first convolution's zero padding.
    ``preset``: the name of the preset that made the plan, if any. ``carry``: what a stage
    after the first starts from: ``"image"`` (the default), the last stage's image upsampled;
    ``"residual"``, the photo at the new size plus the upsampled *difference* between the last
    stage's image and the photo at its size, so the photo's fine detail, which no coarse scale
    had, is in the start and only the stylisation is carried (see ``loop.carried_image``).
    ``parameterization``: how the image is optimised (``"pixel"``, ``"fourier"``); ``None``:
    the caller's ``StyleConfig.parameterization``. ``decay_power``: a Fourier
    parameterisation's ``1 / f ** decay_power`` scaling (``None``: its default, 1).
    ``longest_period``: a Fourier parameterisation's coarsest wave in pixels, coarser ones
    weighted like it (``None``: the image's size; see ``fourier.frequency_scale``).
    """

    stages: tuple[Stage, ...]
    ema_decay: float | None = None
    carry_moments: bool = False
    first_conv_padding: str = "zeros"
    preset: str | None = None
    carry: str = "image"
    parameterization: str | None = None
    decay_power: float | None = None
    longest_period: int | None = None

    def __post_init__(self) -> None:
        if self.carry not in CARRIES:
            raise ValueError(f"carry={self.carry!r} must be one of {', '.join(CARRIES)}")
        if self.parameterization not in (None, *PARAMETERIZATIONS):
            raise ValueError(
                f"parameterization={self.parameterization!r} must be None or one of "
                + ", ".join(PARAMETERIZATIONS)
            )

    def parameterization_for(self, config: StyleConfig) -> str:
        """The parameterisation this plan optimises: its own, else the caller's."""
        return self.parameterization or config.parameterization

    def parameterization_options(self) -> dict[str, float]:
        """Keywords for ``make_parameterization`` beyond the kind (none by default)."""
        options = {"decay_power": self.decay_power, "longest_period": self.longest_period}
        return {k: v for k, v in options.items() if v is not None}

    @property
    def final(self) -> Stage:
        """The last (finest) stage: it makes the output."""
        return self.stages[-1]

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    @property
    def scales(self) -> list[int]:
        return [stage.size for stage in self.stages]

    @property
    def steps_per_scale(self) -> list[int]:
        return [stage.steps for stage in self.stages]

    @property
    def optimizers(self) -> list[str]:
        return [stage.optimizer for stage in self.stages]

    @property
    def lrs(self) -> list[float]:
        return [stage.lr for stage in self.stages]

    @property
    def precisions(self) -> list[str]:
        return [stage.precision for stage in self.stages]

    def resolved(self, device: torch.device) -> Plan:
        """The plan with each stage's ``"auto"`` precision made concrete for ``device``."""
        stages = tuple(
            dataclasses.replace(s, precision=devices.precision_name(s.dtype(device)))
            for s in self.stages
        )
        return dataclasses.replace(self, stages=stages)


def split_steps(steps: int, n_scales: int) -> list[int]:
    """Equal shares of ``steps`` per scale; the remainder goes to the finest scale."""
    share = [steps // n_scales] * n_scales
    share[-1] += steps - sum(share)
    return share


def make_plan(config: StyleConfig) -> Plan:
    """The plan ``config`` asks for: its preset's, or one stage per size of ``config.sizes``
    with ``config.steps`` (default ``DEFAULT_STEPS``) split equally among them."""
    if config.preset == "fast":
        from .presets import fast_plan

        return fast_plan(config.image_size, config.steps, config.precision, config.lr)
    steps = DEFAULT_STEPS if config.steps is None else config.steps
    stages = tuple(
        Stage(size, n, config.optimizer, config.learning_rate, config.precision)
        for size, n in zip(config.sizes, split_steps(steps, len(config.sizes)), strict=True)
    )
    return Plan(stages)


def settings(
    config: StyleConfig,
    plan: Plan,
    content: Image.Image,
    styles: list[Image.Image],
    blend: list[float],
) -> dict[str, Any]:
    """``StylizeResult.settings``: ``config``'s key fields as ``plan`` (resolved) runs them,
    with digests of the loaded images; a checkpoint resumes only under equal settings."""
    final = plan.final
    out = {
        "content": image_digest(content),
        "style": [image_digest(s) for s in styles],
        **config.key(),
        "optimizer": final.optimizer,
        "preset": plan.preset,
        "lr": final.lr,
        "content_layers": list(config.content_layers),
        "style_layers": list(config.layer_weights),
        "style_layer_weights": config.layer_weights,
        "weights": weights_key(config.weights, config.network),
        "precision": final.precision,
        "style_blend": blend,
        "scales": plan.scales,
        "steps_per_scale": plan.steps_per_scale if len(plan.stages) > 1 else None,
    }
    if plan.preset is not None:  # a plain run keeps v0.1's keys, so its checkpoints resume
        out.update(
            optimizers=plan.optimizers,
            lrs=plan.lrs,
            precisions=plan.precisions,
            ema_decay=plan.ema_decay,
            carry_moments=plan.carry_moments,
            first_conv_padding=plan.first_conv_padding,
        )
        if plan.carry != "image":  # absent when "image": checkpoints made before it resume
            out["carry"] = plan.carry
        # Absent when the plan keeps to its defaults, so that older checkpoints still resume.
        if plan.parameterization is not None:
            out["parameterization"] = plan.parameterization
        if plan.decay_power is not None:
            out["decay_power"] = plan.decay_power
        if plan.longest_period is not None:
            out["longest_period"] = plan.longest_period
        if any(stage.scheduled for stage in plan.stages):
            out["lr_schedules"] = [
                [stage.warmup, stage.lr_end, stage.decay_from] for stage in plan.stages
            ]
    return out
