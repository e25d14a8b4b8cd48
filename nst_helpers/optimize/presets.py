"""Presets: a whole optimisation plan chosen for the caller, by name.

``stylize(..., preset="fast")`` is the quickest route this library knows to a finished picture
at the requested size (``ROUTE = "pixels"``, ``pixel_plan``, round 8 of
``benchmarks/sweep_fast.py``, scored on the gallery's three photo/painting pairs). Its choices:

* **One stage at the output size, on the pixels, from the photo**: the reference's own method
  (Adam on the pixels, as in the report), with no coarse scales and no spectrum. Round 6 had
  found that coarse to fine starts the output size in another basin; round 7's Fourier
  spectrum reached the reference's distances more closely on one photo but lost the layout of
  the others (the astronaut's face, the rocket). On the pixels every step keeps the photo's
  light and dark where they were (``bench_quality``'s layout 0.93-0.99, the reference's
  0.91-0.99), and the route beats round 4 on both distances on all three pairs (trained VGG16/HED
  features, 384 px, bf16 on an AVX512-BF16 CPU): chelsea + starry_night 1.090x / 1.159x,
  astronaut + the_scream 1.143x / 1.327x, rocket + shipwreck 1.203x / 1.690x the 500-step
  reference's content / style distances, against round 4's 1.227x / 1.421x, 1.214x / 1.573x
  and 1.352x / 1.798x. In one ``bench_quality`` run (chelsea + starry_night): 1.090x / 1.159x
  in 0.101x the reference's wall time at 384 px, 1.082x / 1.198x in 0.104x at 512 px. The
  target (1.05x on both in 0.1x) is still missed (README, Speed, round 8).
* **A 7.5x larger step size than the report's, eased in**: ``PIXEL_LR`` (0.15, in the
  ImageNet-normalised pixel units of the report's 0.02), reached after ``WARMUP_STEPS`` (6)
  steps rising linearly to it.
  Round 8 tried 0.05 to 0.3: content improves up to 0.2 on two pairs, style up to 0.25 on two,
  and the rocket gets worse on both above 0.15; 0.15 is the best mean over the three pairs at
  a worst case within 2% of 0.1's. A linear decay over the last 40% (``PIXEL_LR_END``) was worse
  on style at 0.1 and 0.15, so it is off.
* **``PIXEL_STEPS`` (72) steps at any size**: the reference's time grows with the pixels as the
  preset's does, so one count keeps the ratio. A given ``steps`` is the stage's step count
  (the warm-up keeps its share).
* **An exponential moving average of the iterates** (``EMA_DECAY``, 0.9, bias-corrected), which
  the run returns when its loss is the lowest seen; **replicate padding** on the first
  convolution (``FIRST_CONV_PADDING``, against dark-frame artefacts at the borders); and
  **``precision="auto"``** unless the caller chose one (bf16 on CPUs with native bf16 and on
  GPUs that have it, fp16 on MPS, else fp32). On a CPU without native bf16 the 72 steps take
  0.15-0.16x the reference's time instead of 0.10x (the same benchmark's fp32 rows).
* **Eager on CUDA**: a recorded CUDA graph replays the step size it was captured with, so a
  stage with a warm-up is not graphed. Not yet measured on a GPU.

**Round 4's route, the default until round 8** (``ROUTE = "coarse-to-fine"``,
``coarse_to_fine_plan``). Every choice, and why (the anchor is crowsonkb/style-transfer-pytorch,
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
reference on both distances (README, Speed, *On a GPU*): the same finding, on a GPU, that
made round 8 choose one stage on the pixels. Neither round 7's nor round 8's route has run on
a GPU.

**Round 7's route, not the default** (``ROUTE = "fourier"``, ``fourier_plan``): one stage at the
output size, from the photo, with no coarse scales. By the benchmark's ruler it is much closer
to 500 Adam steps than round 4 in the same time, but on the one photo the ruler uses. The
gallery's other photos showed what the ruler missed: at 256 px the astronaut's face and the
rocket were lost in the style's strokes, where round 4 and the default method keep both
(README, Speed, round 7). So the default stays round 4's until a route wins on the numbers and
on the pictures. Its choices:

* **Adam on the image's spectrum, not its pixels** (``Plan.parameterization = "fourier"``,
  ``fourier.py``, after Mordvintsev et al., Distill 2018): each coefficient is scaled by
  ``1 / f ** DECAY_POWER``, so a step of the same size moves large areas much more than fine
  detail. That is what the coarse scales of round 4 were for, but here every step is taken
  and scored at the output size, starting from the photo. Round 6 had found that coarse to fine
  starts the output size in another basin: after its coarse scales even the reference's own
  500 Adam steps ended 1.147x / 1.120x its distances. On the spectrum, 72 Adam steps from the
  photo end at 1.133x / 1.079x in 0.103x of its time (trained VGG16/HED features, chelsea +
  starry_night, 384 px, bf16 on an AVX512-BF16 CPU; 1.144x / 1.100x in 0.102x at 512 px),
  against round 4's 1.227x / 1.421x in 0.109x. The target (1.05x on both) is still missed, on
  content. ``DECAY_POWER = 1.25`` (more weight on large areas than the parameterisation's
  default 1) with the warm-up below: better on both than 1/f alone (round 7's table).
* **A large step size, eased in** (``Stage.lr_at``): ``WARMUP_STEPS`` (6) steps rising linearly
  to ``FOURIER_LR`` (0.15), then held. Adam's first, bias-corrected steps are full-sized in
  every coefficient and throw the photo's content away; the warm-up keeps more of it. A linear
  decay over the last 40% of the steps (to 0.03; ``FOURIER_LR_END``, ``DECAY_FROM``) was
  expected to settle the jitter of a large step but measured worse on style and no better on
  content, with and without the warm-up, so it is off.
* **An exponential moving average of the iterates** (``EMA_DECAY``, 0.9, bias-corrected): the
  run returns it when its loss is the lowest seen.
* **Replicate padding on the first convolution** (``FIRST_CONV_PADDING``): zero padding scores
  about 6% better on style by the benchmark's ruler (which zero-pads) but paints a light line
  along the top and left border; replicate paints none.
* **The precision**: ``precision="auto"`` unless the caller chose one (bf16 on GPUs that have
  it and on CPUs with native bf16, fp16 on MPS, else fp32). On a CPU without native bf16
  the same 72 steps take about 0.15x the reference's time instead of 0.10x.
* **The schedule does not depend on the size**: ``FOURIER_STEPS`` (72) steps at any size,
  because the reference's time grows with the pixels as the preset's does. A given ``steps``
  is the stage's step count, and the warm-up keeps its share.
* **Not graphed on CUDA**: a recorded CUDA graph replays the step size it was captured with,
  so a scheduled stage runs eagerly (and the graphs serve pixel Adam only). Not measured on a
  GPU.
"""

from __future__ import annotations

import math

from ..features import replicate_first_conv  # noqa: F401 - importable here, as in v0.1
from .plan import Plan, Stage

ROUTES = ("coarse-to-fine", "fourier", "pixels")
ROUTE = "pixels"
"""The preset's shape: ``"pixels"`` (round 8, ``pixel_plan``, the default), ``"coarse-to-fine"``
(round 4, ``coarse_to_fine_plan``) or ``"fourier"`` (round 7, ``fourier_plan``: better by the
ruler on one photo, lost the layout of the others); see the module docstring."""
FOURIER_STEPS = 72
"""Adam steps of ``fourier_plan`` when ``steps`` is not given, at any size (the reference's
time grows with the pixels like the preset's, so one count keeps the same ratio)."""
FOURIER_LR = 0.15
"""``fourier_plan``'s step size, on the spectrum's coefficients."""
FOURIER_OPTIMIZER = "adam"
"""``fourier_plan``'s optimiser; ``"lbfgs"``: L-BFGS on the spectrum instead (fp32, its own
step size 1 and line search, no schedule: ``FOURIER_LR`` and the warm-up are Adam's)."""
FOURIER_LR_END = None
"""Its step size at the last step, reached by a linear decay after ``DECAY_FROM`` of the steps
(scaled with ``lr`` when the caller gives one); ``None``: no decay (round 7: the decay to 0.03
was worse on style and no better on content)."""
DECAY_FROM = 0.6
"""Fraction of the steps before the decay to ``FOURIER_LR_END`` begins."""
WARMUP_STEPS = 6
"""Steps of the one-stage routes' linear warm-up (for ``FOURIER_STEPS`` or ``PIXEL_STEPS``;
scaled with ``steps``)."""
DECAY_POWER = 1.25
"""The spectrum's ``1 / f ** DECAY_POWER`` scaling (the parameterisation's default is 1)."""
LONGEST_PERIOD = None
"""The spectrum's coarsest wave in pixels: coarser ones move no faster than it (``None``: the
image's size, as in round 7; see ``fourier.frequency_scale``)."""
PIXEL_STEPS = 72
"""Adam steps of ``pixel_plan`` when ``steps`` is not given, at any size (as ``FOURIER_STEPS``)."""
PIXEL_LR = 0.15
"""``pixel_plan``'s step size on the pixels (ImageNet-normalised units, like the report's 0.02)."""
PIXEL_LR_END = None
"""``pixel_plan``'s step size at its last step after a linear decay from ``DECAY_FROM``;
``None``: no decay (round 8: the decay to 0.02 was worse on style)."""
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

    ``ROUTE`` picks its shape: round 8's one stage of Adam on the pixels (``pixel_plan``, the
    default), round 4's coarse to fine (``coarse_to_fine_plan``) or round 7's one stage on the
    image's spectrum (``fourier_plan``). ``steps``
    (``None``: the preset's own schedule) keeps the schedule's proportions; ``precision``
    (``None``: ``"auto"``) is the Adam stages'; ``lr`` (``None``: the preset's) its first Adam
    step size. See the module docstring for every choice.
    """
    if ROUTE == "pixels":
        return pixel_plan(image_size, steps, precision, lr)
    if ROUTE == "fourier":
        return fourier_plan(image_size, steps, precision, lr)
    if ROUTE == "coarse-to-fine":
        return coarse_to_fine_plan(image_size, steps, precision, lr)
    raise ValueError(f"presets.ROUTE={ROUTE!r} must be one of {', '.join(ROUTES)}")


def _one_stage(
    image_size: int,
    steps: int | None,
    precision: str | None,
    lr: float | None,
    own: tuple[int, float, float | None],
) -> Stage:
    """The one-stage routes' Adam stage: ``own = (steps, lr, lr_end)`` are the route's defaults;
    the caller's ``steps`` scale the warm-up, its ``lr`` scales ``lr_end`` in proportion."""
    own_steps, own_lr, own_lr_end = own
    n = own_steps if steps is None else steps
    first = own_lr if lr is None else lr
    return Stage(
        image_size,
        n,
        "adam",
        first,
        "auto" if precision is None else precision,
        lr_end=None if own_lr_end is None else first * own_lr_end / own_lr,
        decay_from=DECAY_FROM,
        warmup=round(n * WARMUP_STEPS / own_steps),
    )


def _one_stage_plan(stage: Stage, parameterization: str, **spectrum) -> Plan:
    """A one-stage route's plan: ``stage`` on ``parameterization``, with the preset's EMA and
    padding; ``spectrum``: the Fourier parameterisation's weights (``decay_power``, ...)."""
    return Plan(
        (stage,),
        ema_decay=EMA_DECAY,
        first_conv_padding=FIRST_CONV_PADDING,
        preset="fast",
        parameterization=parameterization,
        **spectrum,
    )


def pixel_plan(image_size: int, steps: int | None, precision: str | None, lr: float | None) -> Plan:
    """Round 8's plan: ``PIXEL_STEPS`` Adam steps at ``image_size`` on the pixels, from the
    photo, as the reference but with a 7.5x larger step size eased in over ``WARMUP_STEPS``;
    moving average of the iterates, replicate padding. ``steps`` given: that many."""
    stage = _one_stage(image_size, steps, precision, lr, (PIXEL_STEPS, PIXEL_LR, PIXEL_LR_END))
    return _one_stage_plan(stage, "pixel")


def fourier_plan(
    image_size: int, steps: int | None, precision: str | None, lr: float | None
) -> Plan:
    """Round 7's plan: ``FOURIER_STEPS`` Adam steps at ``image_size`` on the Fourier
    parameterisation, the step size eased in over the first ``WARMUP_STEPS``, then held
    (decayed to ``FOURIER_LR_END`` if that is set); moving average of the iterates as before.
    ``steps`` given: that many, the warm-up in the same proportion. ``FOURIER_OPTIMIZER =
    "lbfgs"`` (round 8): as many L-BFGS iterations on the spectrum instead."""
    if FOURIER_OPTIMIZER == "lbfgs":  # its line search wants exact gradients: fp32
        n = FOURIER_STEPS if steps is None else steps
        stage = Stage(image_size, n, "lbfgs", 1.0 if lr is None else lr, "fp32")
    else:
        own = (FOURIER_STEPS, FOURIER_LR, FOURIER_LR_END)
        stage = _one_stage(image_size, steps, precision, lr, own)
    return _one_stage_plan(stage, "fourier", decay_power=DECAY_POWER, longest_period=LONGEST_PERIOD)


def coarse_to_fine_plan(
    image_size: int, steps: int | None, precision: str | None, lr: float | None
) -> Plan:
    """Round 4's plan (the preset's default): coarse to fine, L-BFGS at the finest scale.

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
