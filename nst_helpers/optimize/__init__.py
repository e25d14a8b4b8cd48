"""The optimisation loop: find an image whose VGG19 features match a photo's content and a
painting's style (Gatys, Ecker & Bethge, 2015).

``stylize`` is the one entry point. Its defaults are the original method: VGG19 truncated after
``relu5_1``, content from ``relu4_2``, style from the Grams of ``relu1_1 ... relu5_1`` weighted
equally (the paper's ``conv*`` blobs, which Caffe's in-place ReLUs left post-ReLU), the generated
image initialised from the content photo and optimised with Adam. The loss is the paper's with
each term taken relative to its target's energy (``normalization="relative"``), so that
``content_weight`` and ``style_weight`` mean the same at every image size;
``normalization="paper"`` is eq. 1-5 exactly.

Speed comes from doing less, not from tricks: the network is frozen (no weight gradients),
truncated after the deepest layer used, loaded once per process, and the content and style
targets are computed once under ``no_grad``; channels_last and autocast help on top.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import devices
from ..config import (  # noqa: F401 - re-exported: the names have always been importable here
    DEFAULT_LR,
    DEFAULT_STYLE_WEIGHT,
    INITS,
    OPTIMIZERS,
    PRESERVE_COLOR,
    StyleConfig,
    check_names,
    check_number,
)
from ..features import (  # noqa: F401 - re-exported
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    FeatureExtractor,
    _weights_key,
    min_input_size,
)
from ..images import (
    ImageSource,
    image_to_tensor,
    load_image,
    normalize,
    resize_to,
    save_image,
    tensor_to_image,
)
from ..losses import gram_matrix, objective, tv_loss
from ..parameterization import make_parameterization

DEFAULT_STEPS = 4000
"""``steps`` when neither the caller nor a preset chose them: the original report's recipe."""

Record = dict[str, Any]
"""One step of history: ``step``, ``total``, ``content``, ``style``, ``tv``, one
``style/<layer>`` per style layer (its w_l-weighted term, before beta), ``seconds``, ..."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; ``.result`` holds the best finite image so far."""

    def __init__(self, message: str, result: StylizeResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class StylizeResult:
    """What ``stylize`` returns.

    ``image`` is the lowest-loss image seen (PIL, RGB), ``history`` one record per step,
    ``snapshots`` ``{step: PIL image}``, ``interrupted`` whether the run stopped early,
    ``checkpointing`` whether VGG blocks were recomputed in the backward pass (see ``stylize``).
    """

    image: Image.Image
    history: list[Record]
    snapshots: dict[int, Image.Image] = field(default_factory=dict)
    interrupted: bool = False
    best_step: int = 0
    best_loss: float = math.inf
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    random_weights: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    checkpointing: bool = False

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the image atomically; refuses to replace an existing file unless asked."""
        return save_image(self.image, path, overwrite=overwrite)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _image_digest(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()[:16]


def _split_steps(steps: int, n_scales: int) -> list[int]:
    """Equal shares of ``steps`` per scale; the remainder goes to the finest scale."""
    share = [steps // n_scales] * n_scales
    share[-1] += steps - sum(share)
    return share


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
    # ---- validate everything before any work --------------------------------------------
    from .presets import fast_plan

    check_names(options)
    cfg = StyleConfig.build(config, **options)
    checkpoint, resume = _local_files(checkpoint, resume)
    preset, plan = cfg.preset, None
    if preset == "fast":
        plan = fast_plan(cfg.image_size, cfg.steps, cfg.precision, cfg.lr)
        # The plan replaces how the minimum is found; the loss stays the caller's.
        cfg = cfg.replace(
            preset=None, scales=tuple(plan.scales), steps=sum(plan.steps_per_scale),
            optimizer=plan.optimizers[-1], lr=plan.lrs[-1], precision=plan.precision,
        )  # fmt: skip
    elif cfg.steps is None:
        cfg = cfg.replace(steps=DEFAULT_STEPS)
    checkpointing = cfg.checkpointing
    for name, value in (
        ("snapshot_every", snapshot_every),
        ("checkpoint_every", checkpoint_every),
        ("preview_every", preview_every),
    ):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("checkpoint_every needs checkpoint=PATH")
    if checkpoint is not None:
        _check_checkpoint_path(Path(checkpoint), resume)
    if preview_seconds is not None:
        preview_seconds = check_number("preview_seconds", preview_seconds)
    weights_l = cfg.layer_weights
    content_layers, style_layers = list(cfg.content_layers), list(weights_l)
    styles = _as_list(style)
    if not styles:
        raise ValueError("style must be an image or a non-empty list of images")
    blend = _blend_weights(cfg.style_blend, len(styles))
    sizes = list(cfg.sizes)
    min_side = min_input_size(content_layers + style_layers, cfg.network)
    dev = devices.resolve_device(cfg.device)
    dtype = devices.resolve_precision(cfg.precision, dev)
    style_scale, preserve_color, steps = cfg.style_scale, cfg.preserve_color, cfg.steps
    steps_per_scale = _split_steps(steps, len(sizes))
    dtypes = [dtype] * len(sizes)
    if plan is not None:
        steps_per_scale = list(plan.steps_per_scale)
        # L-BFGS's line search wants exact gradients: its scales run in fp32.
        dtypes = [dtype if o == "adam" else None for o in plan.optimizers]
        dtype = dtypes[-1]

    # ---- images (cheap), then checks that depend on their shapes -------------------------
    content_img = load_image(content, max_size=max(sizes))
    style_imgs = [load_image(s, max_size=max(1, round(max(sizes) * style_scale))) for s in styles]
    if preserve_color == "histogram":
        from ..color import match_histogram

        style_imgs = [match_histogram(s, content_img) for s in style_imgs]
    for s in sizes:
        short = min(resize_to(content_img, s).size)
        if short < min_side:
            raise ValueError(
                f"at image size {s} the content image is only {short} px on its short side; "
                f"the chosen layers need {min_side} px: use a larger size or less extreme aspect"
            )
        for img in style_imgs:
            if min(resize_to(img, round(s * style_scale)).size) < min_side:
                raise ValueError(
                    f"style image too small at size {s} x style_scale {style_scale}: "
                    f"needs {min_side} px per side"
                )

    # What a checkpoint must agree on: the config's key fields, as this run resolved them.
    settings = {
        "content": _image_digest(content_img),
        "style": [_image_digest(s) for s in style_imgs],
        **cfg.key(), "preset": preset,
        "lr": cfg.learning_rate, "content_layers": content_layers, "style_layers": style_layers,
        "style_layer_weights": weights_l, "weights": _weights_key(cfg.weights, cfg.network),
        "precision": devices.precision_name(dtype), "style_blend": blend, "scales": sizes,
        "steps_per_scale": steps_per_scale if len(sizes) > 1 else None,
    }  # fmt: skip
    if plan is not None:
        settings.update(
            preset=preset, optimizers=plan.optimizers, lrs=plan.lrs,
            precisions=[devices.precision_name(d) for d in dtypes], ema_decay=plan.ema_decay,
            carry_moments=plan.carry_moments, first_conv_padding=plan.first_conv_padding,
        )  # fmt: skip
    state = None
    if resume is not None:
        from .resume import check_compatible, load_checkpoint

        state = load_checkpoint(resume)
        check_compatible(state.get("settings", {}), settings, resume)
        state["source"] = str(resume)  # named in errors found when the state is loaded

    from .memory import InsufficientMemoryError, check_memory, choose_checkpointing, oom_message

    out_w, out_h = resize_to(content_img, sizes[-1]).size
    memory_options = {**cfg.memory_options(settings["precision"]), "n_styles": len(styles)}
    if memory_check:
        checkpointing = choose_checkpointing((out_h, out_w), dev, checkpointing, **memory_options)
        check_memory((out_h, out_w), dev, checkpointing=checkpointing, **memory_options)
    checkpointing = checkpointing is True
    memory_options["checkpointing"] = checkpointing

    run = None
    try:
        hooks = _Hooks(
            snapshot_every,
            callback,
            preview,
            preview_every,
            checkpoint,
            checkpoint_every,
            preview_seconds,
        )
        run = _Run(
            content_img, style_imgs, blend, settings, weights_l, dev, dtype, cfg.weights, hooks
        )
        run.checkpointing, run.dtypes = checkpointing, dtypes
        return run.execute(steps_per_scale, state, progress)
    except NonFiniteLossError as err:
        run = state = None  # this frame stays in the traceback: it must not hold the run
        _detached(err)
        devices.release_memory(dev)
        raise err from None
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
        # CUDA raises OutOfMemoryError, MPS a RuntimeError that says so: both get our advice.
        if not _is_out_of_memory(err):
            raise
        said = " ".join(str(err).split())[:300]
    # Out of memory. Raised here, outside the handler, with no cause attached: the CUDA error's
    # traceback holds every frame of the failed run (Grams, images, optimiser state), and a
    # notebook keeps the last exception. Free all of it first, so the next, smaller run fits
    # and the advice below sees what is really free.
    run = state = None
    devices.release_memory(dev)
    advice = oom_message((out_h, out_w), dev, **memory_options)
    raise InsufficientMemoryError(f"{advice} (The device said: {said})")


def _load_resumed(param, opt, param_state: dict, opt_state: dict, source: str | None) -> None:
    """Load a checkpoint's image and optimiser state; one that does not fit is a ValueError."""
    current = param.state_dict()
    shapes = {k: tuple(v.shape) for k, v in current.items()}
    saved = {k: tuple(v.shape) for k, v in param_state.items()}
    try:
        if shapes != saved:  # copy_ would broadcast a wrong shape without a word
            raise ValueError(f"image parameters {saved}, this run needs {shapes}")
        param.load_state_dict(param_state)
        opt.load_state_dict(opt_state)
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as err:
        raise ValueError(
            f"checkpoint {source!r} does not fit this run (damaged or foreign): "
            f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        ) from None


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def _detached(err: BaseException) -> BaseException:
    """``err`` without its traceback and chained exceptions, which hold the failed run's frames."""
    err.__traceback__, err.__cause__, err.__context__ = None, None, None
    return err


def _local_files(*paths: str | Path | None) -> tuple[Path | None, ...]:
    """Checkpoint paths as local Paths (``file://`` URLs too); other URLs are a ValueError."""
    from ..runtime.files import local_path

    return tuple(None if p is None else local_path(p, "checkpoint") for p in paths)


def _with_config_fields(fn: Callable) -> inspect.Signature:
    """``fn``'s signature with each ``StyleConfig`` field as a keyword (in place of
    ``**options``), so ``help(stylize)``, IDEs and ``inspect`` show every option and default."""
    from .. import config

    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    first_hook = next(i for i, p in enumerate(params) if p.kind is p.KEYWORD_ONLY)
    options = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=f.type)
        for f in config.fields()
    ]  # fmt: skip
    return sig.replace(parameters=params[:first_hook] + options + params[first_hook:])


stylize.__signature__ = _with_config_fields(stylize)


def _check_checkpoint_path(path: Path, resume: str | Path | None) -> None:
    """Refuse a checkpoint path where saving would destroy something that is not a checkpoint,
    or where it cannot be written at all (found now, not at the first save mid-run)."""
    from ..runtime.files import check_writable

    check_writable(path, "checkpoint")
    if not path.exists() or (resume is not None and Path(resume).resolve() == path.resolve()):
        return  # nothing there, or the file being resumed (load_checkpoint will vet it)
    from .resume import load_checkpoint

    try:
        load_checkpoint(path)
    except ValueError:
        raise ValueError(
            f"checkpoint {str(path)!r} exists and is not a checkpoint; refusing to overwrite "
            "it: choose another file name"
        ) from None


def _check_energies(content_targets: dict, grams: dict) -> None:
    """A relative term divides by its target's energy: refuse a target that has none."""
    empty = [n for n, t in {**content_targets, **grams}.items() if not bool(t.abs().sum() > 0)]
    if empty:
        raise ValueError(
            f"the targets at {empty} are all zero (a blank image gives no activations there), "
            "so normalization='relative' has nothing to divide by: use other layers, another "
            "image, or normalization='paper'"
        )


def _blend_weights(blend: Sequence[float] | None, n: int) -> list[float]:
    if blend is None:
        return [1.0 / n] * n
    blend = list(blend) if isinstance(blend, list | tuple) else [blend]
    if len(blend) != n:
        raise ValueError(f"style_blend has {len(blend)} weights for {n} style image(s)")
    blend = [float(w) for w in blend]  # StyleConfig checked each is finite and >= 0
    total = sum(blend)
    if total <= 0:
        raise ValueError("style_blend weights must not all be zero")
    return [w / total for w in blend]


@dataclass
class _Hooks:
    """What the caller wants to see or keep while a run goes on."""

    snapshot_every: int | None
    callback: Callable[[Record], bool | None] | None
    preview: Callable[[int, Image.Image], None] | None
    preview_every: int
    checkpoint: str | Path | None
    checkpoint_every: int | None
    preview_seconds: float | None = None


class _Run:
    """One call of ``stylize``: holds what every scale and step shares."""

    def __init__(
        self, content_img, style_imgs, blend, settings, layer_weights, dev, dtype, weights,
        hooks: _Hooks,
    ) -> None:  # fmt: skip
        self.content_img, self.style_imgs, self.blend = content_img, style_imgs, blend
        self.settings, self.layer_weights = settings, layer_weights
        self.dev, self.dtype = dev, dtype
        self.fmt = devices.memory_format(dev)
        self.snapshot_every, self.callback = hooks.snapshot_every, hooks.callback
        self.preview, self.preview_every = hooks.preview, hooks.preview_every
        self.preview_seconds, self.last_preview = hooks.preview_seconds, -math.inf
        self.checkpoint, self.checkpoint_every = hooks.checkpoint, hooks.checkpoint_every
        s = settings
        self.extractor = FeatureExtractor(
            list(dict.fromkeys(s["content_layers"] + s["style_layers"])), weights=weights,
            pooling=s["pooling"], device=dev, network=s["network"],
        )  # fmt: skip
        if s.get("first_conv_padding") == "replicate":
            from .presets import replicate_first_conv

            replicate_first_conv(self.extractor)
        self.random_weights = s["weights"] == "random"
        self.dtypes: list | None = None  # autocast dtype per scale (preset="fast")
        self.ema = None  # moving average of the iterates (preset="fast")
        self.checkpointing = False  # recompute VGG blocks in the backward pass (see recompute)
        self.history: list[Record] = []
        self.snapshots: dict[int, Image.Image] = {}
        self.best_loss, self.best_step, self.best_x = math.inf, 0, None
        self.loss_scale, self.good_steps = 2.0**16, 0  # fp16 only: see evaluate()
        self._cache = None  # L-BFGS: (parameters, gradients, losses) of the last evaluation

    # -- targets ------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with devices.autocast(self.dev, self.dtype):
            return self.extractor(x.contiguous(memory_format=self.fmt))

    @torch.no_grad()
    def targets(self, size: int) -> tuple[torch.Tensor, dict, dict]:
        s = self.settings
        content = image_to_tensor(self.content_img, size, self.dev)
        feats = self.features(content)
        content_targets = {n: feats[n].float() for n in s["content_layers"]}
        m_out = {n: feats[n].shape[-2] * feats[n].shape[-1] for n in s["style_layers"]}
        grams: dict[str, torch.Tensor] = {}
        for img, w in zip(self.style_imgs, self.blend, strict=True):
            if w == 0:
                continue
            sf = self.features(image_to_tensor(img, round(size * s["style_scale"]), self.dev))
            for n in s["style_layers"]:
                # Rescale by M_out / M_style so a style image of another size means the same
                # texture: Grams sum over positions, and the loss assumes the output's count.
                g = gram_matrix(sf[n]) * (m_out[n] / (sf[n].shape[-2] * sf[n].shape[-1]))
                grams[n] = w * g if n not in grams else grams[n] + w * g
        if s["normalization"] == "relative":
            _check_energies(content_targets, grams)
        return content, content_targets, grams

    def initial_image(self, content: torch.Tensor) -> torch.Tensor:
        init, (h, w) = self.settings["init"], content.shape[-2:]
        if init == "content":
            return content.clone()
        if init == "style":
            main_style = max(range(len(self.blend)), key=self.blend.__getitem__)
            return image_to_tensor(self.style_imgs[main_style], (h, w), self.dev)
        # White noise in pixel space, drawn on the CPU so every device sees the same pixels.
        gen = torch.Generator()
        if self.settings["seed"] is None:
            gen.seed()
        else:
            gen.manual_seed(self.settings["seed"])
        return normalize(torch.rand(1, 3, h, w, generator=gen)).to(self.dev)

    # -- one scale --------------------------------------------------------------------------
    def losses(self, x, content_targets, grams) -> dict[str, torch.Tensor]:
        s = self.settings
        if self.checkpointing:
            return self.checkpointed_losses(x, content_targets, grams)
        return objective(
            self.features(x), content_targets, grams, content_weight=s["content_weight"],
            style_weight=s["style_weight"], style_layer_weights=self.layer_weights,
            tv_weight=s["tv_weight"], image=x, normalization=s["normalization"],
        )  # fmt: skip

    def checkpointed_losses(self, x, content_targets, grams) -> dict[str, torch.Tensor]:
        """``losses`` with VGG blocks recomputed in the backward pass (``checkpointing=True``).

        ``objective`` is a sum of per-layer terms, so each captured layer's terms are computed
        inside its block (see ``recompute``) and no activation outlives its block; the values
        equal ``losses``' up to float rounding.
        """
        from .recompute import checkpointed_terms

        s = self.settings

        def head(name: str, f: torch.Tensor) -> dict[str, torch.Tensor]:
            with devices.no_autocast(f.device.type):
                out = objective(
                    {name: f},
                    {name: content_targets[name]} if name in content_targets else {},
                    {name: grams[name]} if name in grams else {},
                    content_weight=1.0, style_weight=1.0, normalization=s["normalization"],
                    style_layer_weights={name: self.layer_weights[name]} if name in grams else None,
                )  # fmt: skip
            return {k: v for k, v in out.items() if k not in ("total", "tv")}

        with devices.autocast(self.dev, self.dtype):
            terms = checkpointed_terms(self.extractor, x.contiguous(memory_format=self.fmt), head)
        if s["normalization"] == "relative":  # objective averages the content layers
            terms["content"] = terms["content"] / len(content_targets)
        tv = torch.zeros((), device=x.device)
        if s["tv_weight"] > 0:
            tv = tv_loss(x)
            if s["normalization"] == "relative":  # as objective: per pixel position
                tv = tv / (x.shape[-2] * x.shape[-1])
        total = (s["content_weight"] * terms["content"] + s["style_weight"] * terms["style"]
                 + s["tv_weight"] * tv)  # fmt: skip
        layers = {k: v for k, v in terms.items() if k.startswith("style/")}
        return {"total": total, "content": terms["content"], "style": terms["style"], "tv": tv,
                **layers}  # fmt: skip

    def execute(
        self, steps_per_scale: list[int], state: dict | None, progress: bool
    ) -> StylizeResult:
        from tqdm.auto import tqdm

        from ..runtime.interrupts import StepBoundary
        from .resume import restore_rng

        s = self.settings
        start_scale, start_step, param_state, opt_state = 0, 0, None, None
        if state is not None:
            start_scale, start_step = state["scale_index"], state["step"]
            param_state, opt_state = state["param"], state["optimizer"]
            self.history = list(state["history"])
            self.snapshots = {
                int(k): Image.fromarray(v.numpy(), "RGB") for k, v in state["snapshots"].items()
            }
            self.best_loss, self.best_step = state["best_loss"], state["best_step"]
            self.best_x = state["best_x"]
            self.loss_scale = state.get("loss_scale", self.loss_scale)  # fp16 only
            self.good_steps = state.get("good_steps", 0)
            restore_rng(state)
        total_steps = sum(steps_per_scale)
        self.t0 = time.perf_counter() - (self.history[-1]["seconds"] if self.history else 0.0)
        bar = tqdm(total=total_steps, initial=min(start_step, total_steps), disable=not progress,
                   desc="stylize", unit="step", dynamic_ncols=True)  # fmt: skip
        interrupted, x_prev, param, opt = False, None, None, None
        boundary = StepBoundary().__enter__()  # Ctrl-C stops between steps (see interrupts.py)
        try:
            step = start_step
            for k, size in enumerate(s["scales"]):
                end = sum(steps_per_scale[: k + 1])
                if k < start_scale:
                    continue
                self.dtype = self.dtypes[k] if self.dtypes else self.dtype
                content, content_targets, grams = self.targets(size)
                if x_prev is not None:
                    init = F.interpolate(x_prev, size=content.shape[-2:], mode="bilinear",
                                         align_corners=False)  # fmt: skip
                    self.best_loss, self.best_x = math.inf, None  # losses differ between scales
                else:
                    init = self.initial_image(content)
                prev_opt = opt
                param = make_parameterization(s["parameterization"], init.to(self.dev))
                opt = self.make_optimizer(param, k)
                if s.get("carry_moments") and prev_opt is not None:
                    _carry_adam_moments(prev_opt, opt)
                self.ema = _EMA(s["ema_decay"]) if s.get("ema_decay") and _is_adam(opt) else None
                if param_state is not None:
                    _load_resumed(param, opt, param_state, opt_state, state.get("source"))
                    param_state = opt_state = None
                    if self.best_x is not None:
                        self.best_x = self.best_x.to(self.dev)
                    if self.ema is not None and state.get("ema") is not None:
                        self.ema.load_state_dict(state["ema"], self.dev)
                self.scale_index = k
                while step < end:
                    step += 1
                    with boundary.step():  # the EMA is part of the step's state
                        record = self.step(param, opt, content_targets, grams, step, size)
                        if self.ema is not None:
                            self.ema.update(param.image().detach())
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['total']:.4g}", refresh=False)
                    if self.snapshot_every and (
                        step % self.snapshot_every == 0 or step == total_steps
                    ):
                        self.snapshots[step] = self.output_image(param.image())
                    if self.preview_due(step, start_step, total_steps):
                        self.last_preview = time.perf_counter()
                        self.preview(step, self.output_image(param.image().detach()))
                    stop = self.callback is not None and self.callback(record) is False
                    if stop or boundary.stop_requested:
                        interrupted = True
                        break
                    # after the callback: the checkpoint holds the RNG state of the step's end
                    if self.checkpoint_every and step % self.checkpoint_every == 0:
                        self.save_checkpoint(param, opt, step)
                if interrupted:
                    break
                # A moving average of the iterates (preset="fast") is what the scale hands on.
                x_prev = self.ema.value() if self.ema is not None else param.image().detach()
            if not interrupted and param is not None:
                # The last update has not been scored yet, nor has the average of the iterates.
                candidates = [param.image().detach()]
                if self.ema is not None:
                    candidates.append(self.ema.value())
                for x in candidates:
                    with torch.no_grad():
                        final = self.losses(x, content_targets, grams)["total"].item()
                    if math.isfinite(final) and final <= self.best_loss:
                        self.best_loss, self.best_step = final, step
                        self.best_x = x.clone()
        except KeyboardInterrupt:
            interrupted = True
        except _NonFinite as err:
            bar.close()
            result = self.result(param, interrupted=True)
            raise NonFiniteLossError(
                f"the loss became {err.value} at step {err.step}; the run stopped and kept the "
                "best finite image so far (see .result). Lower lr or the style weight, or use fp32.",
                result,
            ) from None
        finally:
            bar.close()
            boundary.__exit__()
        # A second Ctrl-C tore a step: its half-updated state is no step at all, so the last
        # checkpoint written (if any) stays the one to resume from.
        if interrupted and self.checkpoint is not None and opt is not None and not boundary.torn:
            self.save_checkpoint(param, opt, len(self.history))
        return self.result(param, interrupted)

    def preview_due(self, step: int, first: int, last: int) -> bool:
        """Whether to make a preview now: every ``preview_every`` steps, no more often than
        every ``preview_seconds``, and always at the first and the last step."""
        if self.preview is None:
            return False
        if step == last or (self.preview_seconds is not None and step == first + 1):
            return True
        if step % self.preview_every:
            return False
        return (
            self.preview_seconds is None
            or time.perf_counter() - self.last_preview >= self.preview_seconds
        )

    def make_optimizer(self, param, scale_index: int = 0) -> torch.optim.Optimizer:
        s = self.settings
        name = s["optimizers"][scale_index] if "optimizers" in s else s["optimizer"]
        lr = s["lrs"][scale_index] if "lrs" in s else s["lr"]
        if name == "adam":
            return torch.optim.Adam(param.parameters(), lr=lr)
        # max_iter=1: each .step() is one real L-BFGS iteration, so `steps` means iterations.
        # Zero tolerances: the caller's step budget decides when to stop, not L-BFGS's own
        # convergence tests (which quit at once on the small gradients of style losses).
        # max_eval is the line search's budget; its default (max_iter * 5/4 = 1) leaves none.
        return torch.optim.LBFGS(param.parameters(), lr=lr, max_iter=1, max_eval=25, history_size=50,
                                 tolerance_grad=0.0, tolerance_change=0.0,
                                 line_search_fn="strong_wolfe")  # fmt: skip

    def step(self, param, opt, content_targets, grams, step: int, size: int) -> Record:
        lbfgs = isinstance(opt, torch.optim.LBFGS)
        parts: dict[str, torch.Tensor] = {}
        evals = 0

        def closure() -> torch.Tensor:
            nonlocal parts, evals
            out = self._cached_evaluation(param) if lbfgs else None
            if out is None:
                evals += 1
                out = self.evaluate(param, opt, content_targets, grams)
                if lbfgs:
                    self._cache = ([p.detach().clone() for p in param.parameters()],
                                   [p.grad.clone() for p in param.parameters()], out)  # fmt: skip
            if not parts:
                parts = out
            return out["total"]

        self.overflowed = False
        x_before = param.image().detach()
        if lbfgs:
            x_before = x_before.clone()  # the line search moves the parameters in place
            opt.step(closure)
        else:
            closure()
            total = parts["total"].item()
            if math.isfinite(total) and total < self.best_loss:
                self._keep_best(x_before, total, step - 1)
            if math.isfinite(total) and not self.overflowed:
                opt.step()
        # one device-to-host copy for all terms (a sync per term would stall a GPU each time)
        values = dict(zip(parts, torch.stack(list(parts.values())).tolist(), strict=True))
        if not math.isfinite(values["total"]):
            raise _NonFinite(step, values["total"])
        if lbfgs and values["total"] < self.best_loss:
            self._keep_best(x_before, values["total"], step - 1)
        if not lbfgs:
            # L-BFGS is left unclamped: moving the point behind its back would spoil its
            # curvature pairs and waste an evaluation per step. Its output is clamped at the end.
            param.project_()
        record: Record = {"step": step, **values, "seconds": time.perf_counter() - self.t0,
                          "lr": opt.param_groups[0]["lr"], "scale": size}  # fmt: skip
        if lbfgs:
            record["evals"] = evals
        if self.overflowed:
            record["skipped"] = True
        self.history.append(record)
        return record

    def evaluate(self, param, opt, content_targets, grams) -> dict[str, torch.Tensor]:
        """Losses at the current image, with gradients left in the parameters' ``.grad``."""
        for _ in range(30):
            opt.zero_grad(set_to_none=True)
            out = self.losses(param.image(), content_targets, grams)
            if self.dtype is not torch.float16 or not torch.isfinite(out["total"]):
                out["total"].backward()  # a diverged loss is reported by step(); no scale helps
                break
            # fp16: scale the loss up so tiny style gradients survive the half-precision
            # backward pass; shrink the scale when that overflows, grow it back when it's safe.
            (out["total"] * self.loss_scale).backward()
            grads = [p.grad for p in param.parameters()]
            if all(torch.isfinite(g).all() for g in grads):
                for g in grads:
                    g.div_(self.loss_scale)
                self.good_steps += 1
                if self.good_steps % 200 == 0:
                    self.loss_scale = min(self.loss_scale * 2.0, 2.0**24)
                break
            self.loss_scale /= 2.0
            self.good_steps = 0
        else:  # overflowed at every scale tried: skip this update, never apply inf gradients
            for p in param.parameters():
                p.grad = torch.zeros_like(p)
            self.overflowed = True
        return {k: v.detach() for k, v in out.items()}

    def _cached_evaluation(self, param) -> dict[str, torch.Tensor] | None:
        """L-BFGS asks again for the point its line search just scored: answer from memory."""
        if self._cache is None:
            return None
        xs, grads, out = self._cache
        params = param.parameters()
        if not all(torch.equal(p, x) for p, x in zip(params, xs, strict=True)):
            return None
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        return out

    def _keep_best(self, x: torch.Tensor, loss: float, step: int) -> None:
        self.best_loss, self.best_step = loss, step
        self.best_x = x.clone()

    def output_image(self, x: torch.Tensor) -> Image.Image:
        img = tensor_to_image(x)
        if self.settings["preserve_color"] == "luminance":
            from ..color import transfer_luminance

            img = transfer_luminance(img, resize_to(self.content_img, img.size[::-1]))
        return img

    def result(self, param, interrupted: bool) -> StylizeResult:
        if self.best_x is not None:
            x = self.best_x
        elif param is not None:
            x = param.image().detach()
        else:  # zero steps: the initial image is the answer
            content, _, _ = self.targets(self.settings["scales"][-1])
            x = self.initial_image(content)
        return StylizeResult(
            image=self.output_image(x), history=self.history, snapshots=self.snapshots,
            interrupted=interrupted, best_step=self.best_step, best_loss=self.best_loss,
            seconds=time.perf_counter() - self.t0, device=str(self.dev),
            precision=devices.precision_name(self.dtype), random_weights=self.random_weights,
            settings=dict(self.settings), checkpointing=self.checkpointing,
        )  # fmt: skip

    def save_checkpoint(self, param, opt, step: int) -> None:
        from .resume import CHECKPOINT_VERSION, rng_state, save_checkpoint

        save_checkpoint(self.checkpoint, {
            "version": CHECKPOINT_VERSION, "settings": self.settings, "step": step,
            "scale_index": self.scale_index, "param": param.state_dict(),
            "optimizer": opt.state_dict(), "history": self.history,
            # uint8 [H, W, 3] tensors, not PIL objects: the file then loads with weights_only=True
            "snapshots": {k: torch.from_numpy(np.asarray(v).copy())
                          for k, v in self.snapshots.items()},
            "best_loss": self.best_loss, "best_step": self.best_step,
            "best_x": None if self.best_x is None else self.best_x.cpu(),
            **rng_state(self.dev),
            "loss_scale": self.loss_scale, "good_steps": self.good_steps,
            "ema": None if self.ema is None else self.ema.state_dict(),
        })  # fmt: skip


def _is_adam(opt: torch.optim.Optimizer) -> bool:
    return isinstance(opt, torch.optim.Adam)


def _carry_adam_moments(old: torch.optim.Optimizer, new: torch.optim.Optimizer) -> None:
    """Warm-start Adam at a new scale with the last scale's moments, resized like the image.

    As crowsonkb/style-transfer-pytorch does: the first moment bicubic, the second bilinear and
    kept >= 0 (it is a mean of squares), the step count kept so bias correction goes on.
    Only between Adam optimisers of same-shaped parameters (``[1, 3, H, W]`` pixels).
    """
    if not (_is_adam(old) and _is_adam(new)):
        return
    for p_old, p_new in zip(old.param_groups[0]["params"], new.param_groups[0]["params"],
                            strict=True):  # fmt: skip
        state = old.state.get(p_old)
        if not state or p_old.dim() != 4 or p_old.shape[:2] != p_new.shape[:2]:
            continue
        size = p_new.shape[-2:]
        new.state[p_new] = {
            "step": state["step"].clone(),
            "exp_avg": F.interpolate(state["exp_avg"], size=size, mode="bicubic",
                                     align_corners=False).contiguous(),
            "exp_avg_sq": F.interpolate(state["exp_avg_sq"], size=size, mode="bilinear",
                                        align_corners=False).clamp_min(0).contiguous(),
        }  # fmt: skip


class _EMA:
    """Bias-corrected exponential moving average of the iterates (decay ``d``)."""

    def __init__(self, decay: float) -> None:
        self.decay, self.weight, self.biased = decay, 0.0, None

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().float()
        if self.biased is None:
            self.biased = torch.zeros_like(x)
        self.biased.mul_(self.decay).add_(x, alpha=1 - self.decay)
        self.weight = self.decay * self.weight + (1 - self.decay)

    def value(self) -> torch.Tensor:
        return self.biased / self.weight

    def state_dict(self) -> dict:
        return {"weight": self.weight, "biased": None if self.biased is None else self.biased.cpu()}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.weight = state["weight"]
        self.biased = None if state["biased"] is None else state["biased"].to(device)


class _NonFinite(Exception):
    def __init__(self, step: int, value: float) -> None:
        super().__init__(step, value)
        self.step, self.value = step, value
