"""``stylize``: config -> plan -> images -> guard -> run -> result, top to bottom.

Every check comes before any work, in the order the things checked become known: the options
(``StyleConfig``, the hooks, the checkpoint file), the plan and the device, then the images'
shapes, a resumed checkpoint, and whether the run fits in memory. Only then is the network
built and the loop started (``loop.run``); its two failures that a caller can act on, a loss
that diverged and a device that ran out of memory, come back without the failed run's tensors.

(This module is not called ``stylize.py``: a submodule named like the function it holds is
hidden by it, so ``import nst_helpers.optimize.stylize as m`` would give the function.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .. import config as _config
from .. import devices
from ..config import StyleConfig, check_names
from ..features import min_input_size
from ..images import ImageSource, load_image, resize_to
from . import loop
from .hooks import Hooks
from .memory import InsufficientMemoryError, MemoryOptions, guard, is_out_of_memory, oom_message
from .plan import Plan, make_plan, settings
from .problem import Problem
from .result import NonFiniteLossError, StylizeResult, detached
from .resume import Checkpointer, local_files, resumed_state
from .state import Record


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: StyleConfig | None = None,
    *,
    snapshot_every: int | None = None,
    callback: Callable[[Record], bool | None] | None = None,
    preview: Callable[[int, Image.Image], None] | None = None,
    preview_every: int = 10,
    preview_seconds: float | None = None,
    progress: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: str | Path | None = None,
    memory_check: bool = True,
    **options: Any,
) -> StylizeResult:
    """Neural Style Transfer: an image with ``content``'s content painted in ``style``'s style.

    ``content`` and ``style`` take anything ``load_image`` does; ``style`` may be a list, mixed
    by ``style_blend`` weights. Every option of the picture (``steps``, ``image_size``,
    ``content_weight``, ``style_weight``, ``normalization``, ``content_layers``,
    ``style_layers``, ``optimizer``, ``lr``, ``precision``, ``seed``, ...) is a field of
    ``StyleConfig``, documented there with its default: pass a ``config``, keywords, or both
    (keywords win). ``normalization="relative"`` (default) divides each loss term by its
    target's energy, so the weights mean the same at any size and for any network; ``"paper"``
    is eq. 1-5 exactly (see ``losses.objective``). The same ``seed`` gives the same pixels on
    the same machine.

    ``callback(record)`` runs after every step; returning ``False`` stops the run, as does
    Ctrl-C: the result then holds the best image so far with ``interrupted=True``.
    ``preview(step, image)`` receives the current image every ``preview_every`` steps and after
    the last (for live displays; unlike snapshots nothing is kept). ``preview_seconds=S`` also
    throttles it by time: a due preview is skipped unless S seconds have passed since the last
    one (the first and last steps are always shown), so a live display can ask every step
    (``preview_every=1``) without paying for images nobody sees (each costs a device-to-host
    copy and a conversion to PIL).
    ``snapshot_every=N`` keeps the image every N steps. ``checkpoint=PATH`` (every
    ``checkpoint_every`` steps, and when stopped) saves everything needed to ``resume=PATH``.

    ``checkpointing=True`` recomputes each VGG19 block in the backward pass instead of keeping
    its activations (see ``nst_helpers.recompute``): about half the memory per pixel for more
    time per step (1.7x measured on a 2-core CPU), with the same pixels up to float rounding.
    ``"auto"`` (the default) turns it on only when the memory guard finds the run would not fit
    without it (never when ``memory_check=False`` or the free memory cannot be told).

    ``steps`` defaults to 4000. ``preset="fast"`` is the quickest route to a finished picture
    at ``image_size`` (see ``nst_helpers.presets`` for every choice): coarse to fine in sqrt(2)
    steps from 128 px with Adam (moments carried between scales, a moving average of the
    iterates handed on), L-BFGS at the finest scale, replicate padding on the first
    convolution, autocast where the device has a fast half precision. It chooses ``scales``,
    the optimiser, its own step schedule from the image size (``steps``, when given, is split
    in the same proportions) and, unless given, ``lr``; the loss (weights, layers, init) stays
    as asked.

    Raises ``ValueError`` for invalid arguments before any optimisation, ``TypeError`` for an
    unknown keyword, and ``NonFiniteLossError`` (holding the best finite image so far) if the
    loss diverges.

    Ctrl-C during a step (an L-BFGS line search, say) waits for that step to finish, so the
    image and the checkpoint are those of whole steps; a second Ctrl-C stops at once (the
    checkpoint then stays at the last one written). A damaged or foreign ``resume`` file is a
    ``ValueError`` before any step; running out of device memory is ``InsufficientMemoryError``.
    Neither error keeps the failed run's tensors alive, and the device cache is emptied, so a
    smaller run can follow at once.
    """
    # ---- config -> plan: every option checked before any work --------------------------------
    check_names(options)
    cfg = StyleConfig.build(config, **options)
    hooks = Hooks(callback, preview, preview_every, preview_seconds, snapshot_every, progress)
    checkpoint, resume = local_files(checkpoint, resume)
    saver = Checkpointer(checkpoint, checkpoint_every, resume)
    styles = list(style) if isinstance(style, list | tuple) else [style]
    if not styles:
        raise ValueError("style must be an image or a non-empty list of images")
    blend = _blend_weights(cfg.style_blend, len(styles))
    device = devices.resolve_device(cfg.device)
    plan = make_plan(cfg).resolved(device)

    # ---- the images (cheap), what depends on their shapes, a resumed checkpoint -------------
    content_img, style_imgs = _load_images(content, styles, cfg, plan)
    run_settings = settings(cfg, plan, content_img, style_imgs, blend)
    state = None if resume is None else resumed_state(resume, run_settings, device)

    # ---- guard: will it fit? ----------------------------------------------------------------
    final = plan.final
    width, height = resize_to(content_img, final.size).size
    memory = MemoryOptions.of(
        cfg,
        precision=final.precision,
        optimizer=final.optimizer,
        n_styles=len(styles),
        parameterization=plan.parameterization_for(cfg),
    )
    memory = guard((height, width), device, memory, cfg.checkpointing, memory_check)

    # ---- run -> result ----------------------------------------------------------------------
    try:
        problem = Problem(cfg, plan, content_img, style_imgs, blend, device)
        return loop.run(plan, problem, hooks, run_settings, saver, state, memory.checkpointing)
    except NonFiniteLossError as err:
        problem = state = None  # this frame stays in the traceback: it must not hold the run
        devices.release_memory(device)
        raise detached(err) from None
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        said = " ".join(str(err).split())[:300]
    # Out of memory. Raised here, outside the handler, with no cause attached: the device's
    # error holds every frame of the failed run (Grams, images, optimiser state), and a
    # notebook keeps the last exception. Free all of it first, so the next, smaller run fits
    # and the advice below sees what is really free.
    problem = state = None
    devices.release_memory(device)
    advice = oom_message((height, width), device, memory)
    raise InsufficientMemoryError(f"{advice} (The device said: {said})")


_config.with_fields_as_keywords(stylize, _config.fields())


def _blend_weights(blend: Sequence[float] | None, n: int) -> list[float]:
    """``style_blend`` as ``n`` weights summing to 1 (equal when not given)."""
    if blend is None:
        return [1.0 / n] * n
    if len(blend) != n:
        raise ValueError(f"style_blend has {len(blend)} weights for {n} style image(s)")
    blend = [float(w) for w in blend]  # StyleConfig checked each is finite and >= 0
    total = sum(blend)
    if total <= 0:
        raise ValueError("style_blend weights must not all be zero")
    return [w / total for w in blend]


def _load_images(
    content: ImageSource, styles: list[ImageSource], cfg: StyleConfig, plan: Plan
) -> tuple[Image.Image, list[Image.Image]]:
    """The content and style images at the largest size the plan needs, checked against the
    smallest input the chosen layers can take at every stage."""
    biggest = plan.final.size
    content_img = load_image(content, max_size=biggest)
    style_max = max(1, round(biggest * cfg.style_scale))
    style_imgs = [load_image(s, max_size=style_max) for s in styles]
    if cfg.preserve_color == "histogram":
        from ..color import match_histogram

        style_imgs = [match_histogram(s, content_img) for s in style_imgs]
    min_side = min_input_size([*cfg.content_layers, *cfg.active_style_layers], cfg.network)
    for s in plan.scales:
        short = min(resize_to(content_img, s).size)
        if short < min_side:
            raise ValueError(
                f"at image size {s} the content image is only {short} px on its short side; "
                f"the chosen layers need {min_side} px: use a larger size or less extreme aspect"
            )
        for img in style_imgs:
            if min(resize_to(img, round(s * cfg.style_scale)).size) < min_side:
                raise ValueError(
                    f"style image too small at size {s} x style_scale {cfg.style_scale}: "
                    f"needs {min_side} px per side"
                )
    return content_img, style_imgs
