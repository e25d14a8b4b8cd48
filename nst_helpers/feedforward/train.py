"""Training a ``TransformerNet`` with ``stylize``'s own loss (Johnson, Alahi & Fei-Fei, 2016).

Optimisation-based transfer (``stylize``) solves one optimisation per picture. Johnson et al.
train a *transformation network* instead: it sees many photos, and its weights are optimised so
that its outputs minimise the very same perceptual loss (VGG content and style terms). Once
trained, one forward pass stylises a photo of any size in milliseconds.

``train_transformer`` does that with the library's own ``FeatureExtractor``, ``gram_matrix`` and
``objective``, with the options in ``TrainConfig`` (the loss options are ``StyleConfig``'s).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from .. import devices
from ..config import check_count
from ..features import FeatureExtractor, min_input_size, weights_key
from ..images import ImageSource, image_digest, image_to_tensor, load_image, normalize
from ..losses import objective, target_gram
from ..optimize.resume import check_compatible, save_checkpoint
from ..optimize.scaler import LossScaler
from ..runtime.files import check_checkpoint_path, read_checkpoint
from ..runtime.interrupts import StepBoundary
from .config import DEFAULTS, FIELD_NAMES, TrainConfig, check_names, fields
from .net import CHECKPOINT_FORMAT, FORMAT_VERSION, Record, TransformerNet
from .photos import RandomCrops, photo_sources, sources_key

TRAIN_DEFAULTS = {
    name: getattr(DEFAULTS, name)
    for name in (
        "steps",
        "image_size",
        "batch_size",
        "lr",
        "content_weight",
        "style_weight",
        "tv_weight",
    )
}
"""v0.1's table of training defaults, kept for old code; ``TrainConfig`` is their source.
Johnson et al. trained two epochs of COCO at batch 4 (40k steps); 4000 steps at 256 px should
give a usable network in about 15 minutes on a Colab GPU: an estimate, not measured on a GPU."""
NEWER_SETTINGS = {"pooling": "max"}
"""Settings a v0.1 checkpoint does not record, with the value it was trained with."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; ``.net`` holds the last finite network."""

    def __init__(self, message: str, net: TransformerNet) -> None:
        super().__init__(message)
        self.net = net


class _Unset:
    """A parameter left out: the config (or its default) decides."""

    def __repr__(self) -> str:
        return "<from config>"


_UNSET: Any = _Unset()


def train_transformer(
    style: ImageSource,
    content_images: str | os.PathLike | Sequence[ImageSource],
    steps: int = _UNSET,
    image_size: int = _UNSET,
    batch_size: int = _UNSET,
    lr: float = _UNSET,
    content_weight: float = _UNSET,
    style_weight: float = _UNSET,
    tv_weight: float = _UNSET,
    weights: str | os.PathLike | None = _UNSET,
    device: str | torch.device | None = _UNSET,
    seed: int | None = _UNSET,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    *,
    config: TrainConfig | None = None,
    checkpoint_every: int | None = None,
    callback: Callable[[Record], bool | None] | None = None,
    preview: Callable[[int, TransformerNet], None] | None = None,
    preview_every: int = 50,
    **options: Any,
) -> TransformerNet:
    """Train a ``TransformerNet`` to paint any photo in ``style`` (Johnson et al., 2016).

    Each step draws ``batch_size`` random ``image_size`` x ``image_size`` crops (with flips) from
    ``content_images`` (a folder, ``"samples"``, ``"flowers102"`` or a list; see
    ``photos.photo_sources``), stylises them, and takes one Adam step (``lr``) on the network's
    weights to lower the perceptual loss of ``stylize``: the same VGG layers, Grams and
    ``normalization`` (``"relative"``, or ``"paper"`` for eq. 1-5), with ``content_weight`` /
    ``style_weight`` as alpha/beta and each photo as its own content target. Loss values are per
    image (the batch mean).

    The options are ``TrainConfig``'s fields: pass ``config=TrainConfig(...)``, keywords (which
    override the config's fields), or both. Returns the trained network (in eval mode) with
    ``history`` (one record per step), ``settings`` and ``interrupted``. ``callback(record)``
    returning ``False`` stops the run, as does Ctrl-C, which lets the current step finish (a
    second one stops at once): the network trained so far is returned with
    ``interrupted=True``. ``preview(step, net)`` runs every ``preview_every`` steps (live
    samples). ``checkpoint=PATH`` saves everything needed to ``resume=PATH`` (every
    ``checkpoint_every`` steps, when stopped and at the end); a resumed run gives the same
    weights as one that was never stopped. ``precision`` "bf16"/"fp16"/"auto" runs both
    networks under autocast (losses stay fp32).
    """
    given = {k: v for k, v in locals().items() if k in FIELD_NAMES and v is not _UNSET}
    check_names(options)
    cfg = TrainConfig.build(config, **given, **options)
    _check_hooks(checkpoint, checkpoint_every, preview_every)
    if checkpoint is not None:
        check_checkpoint_path(
            checkpoint, resume, load=_load_training_checkpoint, kind="training checkpoint"
        )
    dev = devices.resolve_device(cfg.device)
    dtype = devices.resolve_precision(cfg.precision, dev)
    style_layers = list(cfg.active_style_layers)
    style_img = load_image(style, max_size=cfg.image_size)
    style_side = min_input_size(style_layers, cfg.network)
    if min(style_img.size) < style_side:
        raise ValueError(
            f"style image is {style_img.width}x{style_img.height} at image_size "
            f"{cfg.image_size}; the style layers need {style_side} px per side"
        )
    sources = photo_sources(content_images)
    settings = {
        "style": image_digest(style_img),
        "content_images": sources_key(sources),
        "image_size": cfg.image_size,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "content_weight": cfg.content_weight,
        "style_weight": cfg.style_weight,
        "tv_weight": cfg.tv_weight,
        "content_layers": list(cfg.content_layers),
        "style_layers": style_layers,
        "style_layer_weights": cfg.layer_weights,
        "normalization": cfg.normalization,
        "pooling": cfg.pooling,
        "network": cfg.network,
        "weights": weights_key(cfg.weights, cfg.network),
        "precision": devices.precision_name(dtype),
        "seed": cfg.seed,
        "channels": cfg.channels,
        "residual_blocks": cfg.residual_blocks,
    }
    state = None
    if resume is not None:
        state = _load_training_checkpoint(resume)
        check_compatible({**NEWER_SETTINGS, **state.get("settings", {})}, settings, resume)

    # ---- set up ------------------------------------------------------------------------------
    fmt = devices.memory_format(dev)
    net = _seeded_net(cfg.channels, cfg.residual_blocks, cfg.seed).to(dev, memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator()
    if cfg.seed is None:
        gen.seed()
    else:
        gen.manual_seed(cfg.seed)
    history: list[Record] = []
    step = 0
    if state is not None:
        net.load_state_dict(state["model"]["state_dict"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        history = list(state["history"])
        step = int(state["step"])
    # fp16 only: scale the loss so small gradients survive half precision (bf16 needs none).
    # torch's GradScaler's schedule (x2 after 2000 good steps), written once in optimize.scaler;
    # an overflowing batch is skipped, as GradScaler skips it.
    scaler = LossScaler(growth_interval=2000) if dtype is torch.float16 else None
    if scaler is not None and state is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    net.history, net.settings = history, settings
    net.random_weights = settings["weights"] == "random"
    vgg = dict(weights=cfg.weights, pooling=cfg.pooling, device=dev, network=cfg.network)
    extractor = FeatureExtractor(list(dict.fromkeys([*cfg.content_layers, *style_layers])), **vgg)
    # The photos' content targets need only the content layers: a network truncated there.
    content_extractor = FeatureExtractor(cfg.content_layers, **vgg)
    crops = RandomCrops(sources, cfg.image_size, gen)
    style_t = image_to_tensor(style_img, device=dev)
    grams = _style_grams(extractor, style_t, style_layers, cfg.image_size, dtype)

    def write_checkpoint(step: int) -> None:
        save_checkpoint(
            checkpoint,
            {
                "format": CHECKPOINT_FORMAT,
                "version": FORMAT_VERSION,
                "settings": settings,
                "step": step,
                "model": net.payload(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "history": history,
                "scaler": scaler.state_dict() if scaler is not None else None,
            },
        )

    def features(x: torch.Tensor, vgg: FeatureExtractor = extractor) -> dict[str, torch.Tensor]:
        with devices.autocast(dev, dtype):
            return vgg(normalize(x).contiguous(memory_format=fmt))

    def train_step(step: int) -> Record:
        """One Adam step on the network's weights; its record (losses per image)."""
        x = crops.batch(cfg.batch_size).to(dev).contiguous(memory_format=fmt)
        with torch.no_grad():
            targets = {n: f.float() for n, f in features(x, content_extractor).items()}
        opt.zero_grad(set_to_none=True)
        with devices.autocast(dev, dtype):
            y = net(x)
        parts = objective(
            features(y.float()),
            targets,
            grams,
            content_weight=cfg.content_weight,
            style_weight=cfg.style_weight,
            style_layer_weights=settings["style_layer_weights"],
            tv_weight=cfg.tv_weight,
            image=normalize(y.float()) if cfg.tv_weight > 0 else None,
            normalization=cfg.normalization,
        )
        loss = parts["total"] / cfg.batch_size
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"the training loss became {loss.item()} at step {step}; the network before "
                "that step is kept (see .net). Lower lr or the style weight, or use fp32.",
                _finish(net, interrupted=True),
            )
        if scaler is None:
            loss.backward()
            opt.step()
        elif scaler.backward(loss, net.parameters()):
            opt.step()
        record: Record = {"step": step}
        record.update({k: float(v.detach()) / cfg.batch_size for k, v in parts.items()})
        record.update(seconds=time.perf_counter() - t0, lr=opt.param_groups[0]["lr"])
        return record

    # ---- train -------------------------------------------------------------------------------
    steps = cfg.steps
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    bar = tqdm(
        total=steps,
        initial=min(step, steps),
        disable=not progress,
        desc="train",
        unit="step",
        dynamic_ncols=True,
    )
    interrupted = False
    net.train()
    with StepBoundary() as boundary:
        try:
            while step < steps:
                with boundary.step():  # the step, its RNG draw and its record: all or nothing
                    record = train_step(step + 1)
                    history.append(record)
                    step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{record['total']:.4g}", refresh=False)
                if checkpoint_every and step % checkpoint_every == 0:
                    with boundary.step():  # a Ctrl-C waits for the write (see optimize/loop)
                        write_checkpoint(step)
                if preview is not None and (step % preview_every == 0 or step == steps):
                    preview(step, net)
                    net.train()
                stopped = callback is not None and callback(record) is False
                if stopped or boundary.stop_requested:
                    interrupted = step < steps
                    break
        except KeyboardInterrupt:
            interrupted = True  # a second Ctrl-C inside a step leaves a usable network
        finally:
            bar.close()
    # A torn step is no step at all: the last checkpoint written stays the one to resume from.
    if checkpoint is not None and not boundary.torn:
        write_checkpoint(len(history))
    return _finish(net, interrupted)


def _config_signature() -> inspect.Signature:
    """``train_transformer``'s signature with ``TrainConfig``'s defaults in place of "unset",
    and its other fields as keywords (what ``help()`` and editors show)."""
    sig = inspect.signature(train_transformer)
    defaults = {f: getattr(DEFAULTS, f) for f in FIELD_NAMES}
    params = [
        p.replace(default=defaults[p.name]) if p.name in defaults else p
        for p in sig.parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]
    named = {p.name for p in params}
    params += [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type
        )
        for f in fields()
        if f.name not in named
    ]
    return sig.replace(parameters=params)


train_transformer.__signature__ = _config_signature()


def _check_hooks(
    checkpoint: str | os.PathLike | None, checkpoint_every: int | None, preview_every: int
) -> None:
    check_count("preview_every", preview_every)
    if checkpoint_every is not None:
        check_count("checkpoint_every", checkpoint_every)
        if checkpoint is None:
            raise ValueError("checkpoint_every needs checkpoint=PATH")


def _seeded_net(channels: int, residual_blocks: int, seed: int | None) -> TransformerNet:
    """A fresh network; with a seed, the same initial weights every time (global RNG untouched)."""
    if seed is None:
        return TransformerNet(channels, residual_blocks)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TransformerNet(channels, residual_blocks)


def _load_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    state = read_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a train_transformer checkpoint")
    return state


def _style_grams(
    extractor: FeatureExtractor,
    style: torch.Tensor,
    layers: Sequence[str],
    crop: int,
    dtype: torch.dtype | None,
) -> dict[str, torch.Tensor]:
    """The style image's Grams ``{layer: [1, C, C]}``, rescaled to a ``crop`` x ``crop`` output.

    A Gram sums over positions, so a style image of another size is rescaled by
    ``M_out / M_style``, as ``stylize`` does.
    """
    dev = style.device
    with torch.no_grad(), devices.autocast(dev, dtype):
        feats = extractor(style.contiguous(memory_format=devices.memory_format(dev)))
        probe = extractor(torch.zeros(1, 3, crop, crop, device=dev))
    return {n: target_gram(feats[n], probe[n].shape[-2:]) for n in layers}


def _finish(net: TransformerNet, interrupted: bool) -> TransformerNet:
    net.interrupted = interrupted
    return net.eval()
