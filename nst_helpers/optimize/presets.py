"""Presets: a whole optimisation plan chosen for the caller, by name.

``stylize(..., preset="fast")`` is the quickest route this library knows to a finished picture
at the requested size. Every choice, and why (the anchor is crowsonkb/style-transfer-pytorch,
which produces high-resolution pictures the same way):

* **Coarse to fine in sqrt(2) steps from 128 px, the second-finest left out**
  (``fast_scales``: ``[128, 181, 384]`` for 384 px, ``[128, 181, 256, 512]`` for 512 px).
  Most of the work of style transfer is moving large areas (colour, big strokes), which a
  small image does as well for a fraction of the cost: a step at 128 px costs 1/4 of one at
  256 px, and each finer scale starts from what the last one painted, upsampled (next point),
  so it only adds detail. Steps of sqrt(2) (each scale has twice the pixels of the one before)
  keep the upsampling blur small enough for a few steps to repair; the last step is two of
  them, because the scale just below the output cost a quarter of the preset's time and the
  finest stage made better use of it (measured, next points and README, Speed, round 4).
  A start at 90 or 64 px (round 6) only trades one distance for the other (1.208x / 1.460x and
  1.253x / 1.398x against 1.227x / 1.421x).
* **Each finer scale starts from the photo plus the stylisation carried so far**
  (``CARRY = "residual"``, ``Plan.carry``): ``photo_at_new_size + upsample(handed_on -
  photo_at_last_size)``, clamped to valid pixels, instead of the upsampled image. An upsampled
  image has lost the photo's fine detail (none of the coarse scales ever had it), and the
  content loss at the new size pays for that; the finest scale's L-BFGS iterations never
  won it back. Carrying only the difference puts the photo's detail at each size into the
  start, and the stylisation is upsampled as before. Measured (``benchmarks/sweep_fast.py``,
  trained VGG16/HED features, chelsea + starry_night, 384 px, fp32, same schedule and time):
  content 1.339x and style 1.506x the distances of 500 Adam steps, against 1.437x and 1.559x
  with the upsampled image (0.106x and 0.107x its CPU time) -- better on both, far from the
  target of 1.05x (see README, Speed). With it, as without, more L-BFGS iterations trade
  style for content (40/20/20 Adam + 30 L-BFGS: 1.217x / 1.570x), a 192 px start likewise
  (1.301x / 1.535x), EMA 0.8 the other way (1.351x / 1.486x), and 100 Adam steps at the
  first scale buy style for time (1.351x / 1.376x at 0.114x): none is better on both. A change
  of shape was (round 4, the defaults since): no second-finest scale, its time given to 10 more
  L-BFGS iterations (30), and 100 Adam steps at 128 px instead of 60: 1.215x / 1.472x in the
  same time (0.110x against 0.111x of the reference's CPU time).
* **Adam's moments carried to the next scale.** Restarting Adam at each scale throws away
  what it learnt about the size of each pixel's gradient, and its first steps (with bias
  correction, about ``lr`` per pixel in every direction) undo part of the work. The moments
  are resized like the image (first moment bicubic, second bilinear and kept >= 0) and the
  step count is kept.
* **An exponential moving average of the iterates** (decay ``EMA_DECAY``, bias-corrected) is
  what a scale hands on and what the run returns, if its loss is the lowest seen: Adam at a
  useful learning rate jitters around the minimum, and the average is smoother and usually
  lower-loss than any single iterate.
* **Replicate padding on the first convolution.** Zero padding makes the border of the image
  look like a dark frame to VGG19, and the style loss then paints edge artefacts; replicating
  the border pixels (only in the first layer, whose input is the image itself) removes the
  cause. The network's weights are shared, not changed (``FIRST_CONV_PADDING``). Round 5 of
  the sweep: zero padding scores 3-4% better on style by the benchmark's ruler, which itself
  zero-pads; replicate stays, for the pictures' borders.
* **L-BFGS at the finest scale** (``FINAL_OPTIMIZER``), for ``FINAL_STEPS`` iterations: once
  the coarse scales have done the large moves, the remaining problem is smooth and close to
  its minimum, where quasi-Newton steps are expected to beat Adam per evaluation. It is left
  out when there is a single scale. Measured (README, Speed; random weights, 256 px): after
  the coarse scales, the L-BFGS stage gives the preset's largest drop of the style distance,
  while L-BFGS *from the photo* is the slowest of all recipes on style.
  The stage's start, not its optimiser, is what holds the preset back on trained features
  (round 6): after the same coarse scales, the reference's own 500 Adam steps (lr 0.02, 0.93x
  its time) end at 1.147x / 1.120x its distances.
* **Autocast where it pays**: ``precision="auto"`` unless the caller chose one: bf16 on GPUs
  that have it and CPUs with native bf16, fp16 on MPS, else fp32;
  L-BFGS's line search needs exact gradients, so the finest scale runs fp32 whenever it is
  L-BFGS.
* **The schedule comes from the image size**: ``COARSE_STEPS`` (100) Adam steps at the first
  scale, ``MIDDLE_STEPS`` (30) at each further coarse one, then ``FINAL_STEPS`` (30) at the
  finest: 130 steps at 256 px, 160 at 384 px, 190 at 512 px. The finest stage costs most: a
  step at each coarse scale costs half of one at the scale above, and the one just below the
  output is left out, so all coarse scales together cost about as much as 20 Adam steps at
  the output size, whatever the size.
  A given ``steps`` is split in the same proportions.

The weights of the loss (``content_weight``, ``style_weight``, layers, ...) stay the caller's:
a preset changes how the minimum is found, not which picture is wanted.

Made for the CPU. On a CUDA GPU (one H200, 512 px, Adam steps as CUDA graphs) the coarse steps
are not cheap: a 128 px step costs 0.42 of a 512 px one, and the eager L-BFGS stage is half
the preset's 0.9 s. There, plain Adam at the same time (275 steps) ends closer to the 500-step
reference on both distances (README, Speed, *On a GPU*). The preset is not yet device-aware.
"""

from __future__ import annotations

import math

from ..features import replicate_first_conv  # noqa: F401 - importable here, as in v0.1
from .plan import Plan, Stage

FIRST_SCALE = 128
SKIP_SECOND_FINEST = True
"""Leave out the sqrt(2) scale just below the output (``fast_scales``; round 4 of the sweep)."""
EMA_DECAY = 0.9
COARSE_STEPS = 100
MIDDLE_STEPS = 30
FINAL_STEPS = 30
FINAL_OPTIMIZER = "lbfgs"
ADAM_LR = 0.05
"""Adam's learning rate at the first scale (normalised-pixel units; the EMA absorbs the jitter)."""
ADAM_LR_DECAY = 1.0
"""Each finer Adam scale's learning rate is the one before times this (1: the same lr at all)."""
CARRY = "residual"
"""What each finer scale starts from (``Plan.carry``): the upsampled image, or the photo plus
the upsampled stylisation (``"residual"``)."""
FIRST_CONV_PADDING = "replicate"
"""The first convolution's padding (``Plan.first_conv_padding``; see the module docstring)."""


def sqrt2_scales(image_size: int, first: int = FIRST_SCALE) -> list[int]:
    """Sides from ``first`` up to ``image_size`` in steps of sqrt(2), ending at ``image_size``.

    ``sqrt2_scales(512) == [128, 181, 256, 362, 512]``; a size at or below ``first`` is a
    single scale, and a last coarse scale within 10% of ``image_size`` is merged into it.
    """
    sizes, k = [], 0
    while round(first * math.sqrt(2) ** k) < image_size:
        sizes.append(round(first * math.sqrt(2) ** k))
        k += 1
    if sizes and sizes[-1] > 0.9 * image_size:
        sizes.pop()
    return [*sizes, image_size]


def fast_scales(image_size: int, first: int = FIRST_SCALE) -> list[int]:
    """The preset's scales: ``sqrt2_scales`` without the one just below ``image_size``.

    ``fast_scales(512) == [128, 181, 256, 512]``, ``fast_scales(384) == [128, 181, 384]``,
    ``fast_scales(256) == [128, 256]``: the finest stage starts from a stylisation carried up
    two sqrt(2) steps. Two scales or fewer are kept as they are; with ``SKIP_SECOND_FINEST``
    false this is ``sqrt2_scales`` (the preset's scales before round 4).
    """
    scales = sqrt2_scales(image_size, first)
    if not SKIP_SECOND_FINEST or len(scales) < 3:
        return scales
    return [*scales[:-2], scales[-1]]


def fast_plan(image_size: int, steps: int | None, precision: str | None, lr: float | None) -> Plan:
    """The ``"fast"`` preset's plan for an output whose longest side is ``image_size``.

    ``steps`` (``None``: the preset's own schedule) is split in the schedule's proportions;
    ``precision`` (``None``: ``"auto"``) is kept for the Adam stages, the L-BFGS stage runs
    fp32; ``lr`` (``None``: ``ADAM_LR``) is the first Adam scale's learning rate, each finer
    one's ``ADAM_LR_DECAY`` times the last. See the module docstring for every choice.
    """
    scales = fast_scales(image_size, FIRST_SCALE)  # read now: a sweep may change it
    n = len(scales)
    if n == 1:
        schedule, optimizers = [COARSE_STEPS], ["adam"]
    else:
        schedule = [COARSE_STEPS] + [MIDDLE_STEPS] * (n - 2) + [FINAL_STEPS]
        optimizers = ["adam"] * (n - 1) + [FINAL_OPTIMIZER]
    if steps is not None:
        schedule = _scale_schedule(schedule, steps)
    adam_lr = ADAM_LR if lr is None else lr
    adam_precision = "auto" if precision is None else precision
    # L-BFGS's line search wants exact gradients: its stage runs in fp32.
    lrs = [adam_lr * ADAM_LR_DECAY**k if o == "adam" else 1.0 for k, o in enumerate(optimizers)]
    stages = tuple(
        Stage(size, n_steps, opt, lr_k, adam_precision if opt == "adam" else "fp32")
        for size, n_steps, opt, lr_k in zip(scales, schedule, optimizers, lrs, strict=True)
    )
    return Plan(
        stages,
        ema_decay=EMA_DECAY,
        carry_moments=True,
        first_conv_padding=FIRST_CONV_PADDING,
        preset="fast",
        carry=CARRY,
    )


def _scale_schedule(schedule: list[int], steps: int) -> list[int]:
    """``steps`` split in ``schedule``'s proportions (largest remainders), summing exactly."""
    total = sum(schedule)
    exact = [steps * s / total for s in schedule]
    out = [math.floor(e) for e in exact]
    order = sorted(range(len(out)), key=lambda i: exact[i] - out[i], reverse=True)
    for i in order[: steps - sum(out)]:
        out[i] += 1
    return out
