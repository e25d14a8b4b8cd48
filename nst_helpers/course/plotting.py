"""Figures for the chapters: image grids, loss curves, feature maps, Gram matrices, snapshots.

Every function accepts PIL images or ImageNet-normalised tensors (``[1, 3, H, W]`` or
``[3, H, W]``, as ``image_to_tensor`` returns them) and returns the matplotlib ``Figure`` or
``Axes`` it drew, so a caller can save or restyle it. In a notebook write
``fig = show_images(...)`` (or end the line with ``;``) so the figure is shown only once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from PIL import Image, ImageOps

from ..images import load_image, tensor_to_image

ImageLike = Image.Image | torch.Tensor | np.ndarray | str | os.PathLike

X_AXES = ("step", "seconds")


def as_pil(img: ImageLike) -> Image.Image:
    """One displayable RGB image from a PIL image, a normalised tensor, an array or a path.

    Tensors are ImageNet-normalised ``[1, 3, H, W]`` / ``[3, H, W]``; arrays are ``HxWx3`` or
    ``HxW``, uint8 in [0, 255] or float in [0, 1]; strings are paths or sample names.
    """
    if isinstance(img, Image.Image):
        return img if img.mode in ("RGB", "L") else img.convert("RGB")
    if isinstance(img, torch.Tensor):
        return tensor_to_image(img)
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
            raise ValueError(f"expected an HxW or HxWx3 array, got shape {img.shape}")
        if img.dtype != np.uint8:
            img = (np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(img).convert("RGB")
    if isinstance(img, str | os.PathLike):
        return load_image(img)
    raise TypeError(
        f"cannot show a {type(img).__name__}; pass a PIL image, a normalised tensor "
        "[1, 3, H, W], an HxWx3 array or a path"
    )


def _flatten(images: Any) -> list[ImageLike]:
    """A list of single images; a batched tensor ``[B, 3, H, W]`` counts as B images."""
    if isinstance(images, Image.Image | torch.Tensor | np.ndarray | str | os.PathLike):
        images = [images]
    out: list[ImageLike] = []
    for img in images:
        if isinstance(img, torch.Tensor) and img.dim() == 4 and img.shape[0] > 1:
            out.extend(img[i : i + 1] for i in range(img.shape[0]))
        else:
            out.append(img)
    return out


def _grid(n: int, ncols: int | None, max_cols: int = 5) -> tuple[int, int]:
    if n < 1:
        raise ValueError("nothing to show: the list of images is empty")
    if ncols is None:
        ncols = n if n <= max_cols else 4
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int or None, got {ncols!r}")
    ncols = min(ncols, n)
    return math.ceil(n / ncols), ncols


def _subplots(n: int, nrows: int, ncols: int, width: float, height: float) -> tuple[Figure, list]:
    """A figure with exactly ``n`` axes on an ``nrows x ncols`` grid (spare cells removed)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def show_images(
    images: Sequence[ImageLike] | Mapping[str, ImageLike] | ImageLike,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
) -> Figure:
    """Images side by side, ``size`` inches wide each, with optional titles and a caption.

    ``images`` may be a list, one image, a batched tensor ``[B, 3, H, W]`` (B panels) or a
    dict ``{title: image}``. Up to 5 images go on one row, more wrap onto rows of 4.
    """
    if isinstance(images, Mapping):
        if titles is not None:
            raise ValueError("pass titles either as dict keys or as titles=, not both")
        titles = list(images.keys())
        images = list(images.values())
    pils = [as_pil(img) for img in _flatten(images)]
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(pils):
            raise ValueError(f"got {len(titles)} titles for {len(pils)} images")
    nrows, ncols = _grid(len(pils), ncols)
    aspect = max(img.height / img.width for img in pils)
    title_room = 0.35 if titles else 0.0
    height = nrows * (size * aspect + title_room) + (0.5 if suptitle else 0.0)
    fig, axes = _subplots(len(pils), nrows, ncols, size * ncols, height)
    for i, (ax, img) in enumerate(zip(axes, pils, strict=True)):
        ax.imshow(img, cmap="gray" if img.mode == "L" else None)
        ax.set_axis_off()
        if titles:
            ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def _records(history: Any) -> list[Mapping[str, Any]]:
    history = getattr(history, "history", history)  # a StylizeResult works too
    records = list(history)
    if not records:
        raise ValueError("history is empty: nothing to plot (did the run take 0 steps?)")
    return records


def plot_history(
    history: Sequence[Mapping[str, Any]] | Any,
    keys: Sequence[str] = ("total", "content", "style"),
    x: str = "step",
    log: bool = True,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Loss curves from ``StylizeResult.history`` (or the result itself), one line per key.

    ``x="seconds"`` plots against wall-clock time, to compare optimisers fairly. On a log scale
    keys whose values are all zero (e.g. ``tv`` when unused) are skipped. ``label`` prefixes
    the legend entries, so several runs can share one ``ax``.
    """
    if x not in X_AXES:
        raise ValueError(f"x={x!r} must be one of {X_AXES}")
    if isinstance(keys, str):
        keys = (keys,)
    records = _records(history)
    unknown = [k for k in keys if k not in records[0]]
    if unknown:
        raise ValueError(f"history has no {unknown}; its records have {sorted(records[0])}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    xs = np.array([r[x] for r in records], dtype=float)
    for key in keys:
        ys = np.array([r[key] for r in records], dtype=float)
        if log:
            if not (ys > 0).any():
                continue
            ys = np.where(ys > 0, ys, np.nan)  # log scale cannot show zero or negative values
        name = key if label is None else (label if len(keys) == 1 else f"{label}: {key}")
        ax.plot(xs, ys, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("seconds" if x == "seconds" else "step")
    ax.set_ylabel("loss (log scale)" if log else "loss")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=9)
    return ax


def _feature_batch(features: torch.Tensor | np.ndarray) -> np.ndarray:
    f = torch.as_tensor(features).detach().float().cpu()
    if f.dim() == 4:
        if f.shape[0] != 1:
            raise ValueError(f"expected one image's features [1, C, H, W], got {tuple(f.shape)}")
        f = f[0]
    if f.dim() != 3:
        raise ValueError(f"expected features [1, C, H, W] or [C, H, W], got {tuple(f.shape)}")
    return f.numpy()


def show_feature_maps(
    features: torch.Tensor | np.ndarray,
    n: int = 16,
    title: str | None = None,
    channels: Sequence[int] | None = None,
    size: float = 1.6,
) -> Figure:
    """``n`` feature maps of ``[1, C, H, W]`` activations as small heat maps.

    By default the ``n`` channels with the largest spread (standard deviation) are shown, in
    channel order, since many channels are nearly flat for any one image; ``channels`` picks
    them explicitly. Each map has its own colour scale: compare shapes, not brightness.
    """
    maps = _feature_batch(features)
    c = maps.shape[0]
    if channels is None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        spread = maps.reshape(c, -1).std(axis=1)
        channels = sorted(np.argsort(-spread, kind="stable")[: min(n, c)].tolist())
    else:
        channels = [int(ch) for ch in channels]
        bad = [ch for ch in channels if not 0 <= ch < c]
        if bad:
            raise ValueError(f"channels {bad} out of range: the features have {c} channels")
    ncols = min(len(channels), 8)
    nrows = math.ceil(len(channels) / ncols)
    aspect = maps.shape[1] / maps.shape[2]
    height = nrows * (size * aspect + 0.25) + (0.45 if title else 0.0)
    fig, axes = _subplots(len(channels), nrows, ncols, size * ncols, height)
    for ax, ch in zip(axes, channels, strict=True):
        ax.imshow(maps[ch], cmap="viridis")
        ax.set_title(f"ch {ch}", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def show_gram(
    gram: torch.Tensor | np.ndarray,
    ax: Axes | None = None,
    title: str | None = None,
    vmax: float | None = None,
) -> Axes:
    """A Gram matrix ``[C, C]`` (or ``[1, C, C]``) as a heat map with a colour bar.

    Entry (i, j) says how strongly channels i and j fire together, summed over positions. The
    colour scale is diverging and symmetric about 0 (``-vmax`` blue, 0 white, ``+vmax`` red),
    so a sign is never hidden by the colour map; pass the same ``vmax`` to panels that are to
    be compared (default: this matrix's largest magnitude).
    """
    g = torch.as_tensor(gram).detach().float().cpu()
    if g.dim() == 3 and g.shape[0] == 1:
        g = g[0]
    if g.dim() != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"expected a Gram matrix [C, C] or [1, C, C], got {tuple(g.shape)}")
    if vmax is None:
        vmax = float(g.abs().max()) or 1.0
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.5))
    im = ax.imshow(g.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel("channel j")
    ax.set_ylabel("channel i")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def snapshot_grid(snapshots: Mapping[int, ImageLike], ncols: int = 4, size: float = 2.5) -> Figure:
    """``StylizeResult.snapshots`` (``{step: image}``) in step order, titled by step."""
    if not snapshots:
        raise ValueError("no snapshots to show; run stylize(..., snapshot_every=N)")
    steps = sorted(snapshots)
    return show_images(
        [snapshots[s] for s in steps], titles=[f"step {s}" for s in steps], ncols=ncols, size=size
    )


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, color: str) -> None:
    ax.add_patch(
        FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.08", fc=color, ec="#333", lw=1.2)
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=10)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **kw: Any) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", lw=1.5, **kw))


def show_pipeline(
    content: ImageLike = "chelsea",
    style: ImageLike = "brush_strokes",
    generated: ImageLike | None = None,
    title: str | None = None,
) -> Figure:
    """The Gatys et al. pipeline as one diagram, drawn with the given images as thumbnails.

    Content photo, painting and the generated image all pass through the same frozen VGG19;
    the content loss compares features, the style loss compares Gram matrices, and only the
    generated image's pixels are updated. ``generated=None`` shows the content photo there,
    where ``stylize`` starts by default (``init="content"``); ``generated="noise"`` shows
    white noise (``init="noise"``, the paper's start). ``title`` goes above the diagram.
    """
    thumb = (200, 160)
    imgs = [ImageOps.fit(as_pil(img).convert("RGB"), thumb) for img in (content, style)]
    x_label = "generated image x"
    if generated is None:
        generated, x_label = imgs[0], "generated image x (starts as p)"
    elif isinstance(generated, str) and generated == "noise":
        x_label = "generated image x (starts as noise)"
        rng = np.random.default_rng(0)
        noise = rng.integers(0, 256, size=(thumb[1], thumb[0], 3), dtype=np.uint8)
        generated = Image.fromarray(noise)
    imgs.insert(1, ImageOps.fit(as_pil(generated).convert("RGB"), thumb))
    top = 6.0 + (0.6 if title else 0.0)
    fig = plt.figure(figsize=(12, 5.6 * (top + 0.6) / 6.6))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 12)
    ax.set_ylim(-0.6, top)
    ax.set_axis_off()
    if title:
        ax.text(6.0, 6.3, title, ha="center", va="center", fontsize=13)
    labels = ["content photo p", x_label, "style image a"]
    ys = [4.1, 2.2, 0.3]
    for img, y, label in zip(imgs, ys, labels, strict=True):
        ax.imshow(img, extent=(0.3, 2.3, y, y + 1.6), aspect="auto")
        ax.text(1.3, y + 1.65, label, ha="center", va="bottom", fontsize=10)
        _arrow(ax, (2.35, y + 0.8), (3.1, y + 0.8))
    _box(ax, 3.2, 0.3, 1.6, 5.4, "VGG19\n(frozen,\ntrained on\nImageNet)", "#e3f2fd")
    _box(
        ax, 5.9, 3.3, 2.5, 1.4, "content loss\n$\\frac{1}{2}\\sum(F - P)^2$\nat relu4_2", "#e8f5e9"
    )
    _box(
        ax,
        5.9,
        1.0,
        2.5,
        1.4,
        "style loss\nGram matrices $G = FF^T$\nrelu1_1 ... relu5_1",
        "#fff3e0",
    )
    _box(ax, 9.4, 2.2, 2.3, 1.3, "total loss\n$\\alpha L_{content} + \\beta L_{style}$", "#f3e5f5")
    _arrow(ax, (4.95, 4.3), (5.85, 4.0))
    _arrow(ax, (4.95, 3.0), (5.85, 3.6))
    _arrow(ax, (4.95, 2.6), (5.85, 1.9))
    _arrow(ax, (4.95, 1.1), (5.85, 1.5))
    _arrow(ax, (8.5, 4.0), (9.35, 3.2))
    _arrow(ax, (8.5, 1.7), (9.35, 2.5))
    # the loop that makes it an optimisation: gradients flow back to x's pixels only
    ax.plot([10.55, 10.55, 0.1, 0.1], [2.1, -0.35, -0.35, 3.0], color="#c62828", lw=1.8)
    _arrow(ax, (0.1, 3.0), (0.29, 3.0), color="#c62828")
    ax.text(6.6, -0.28, "gradient of the loss w.r.t. the pixels of x: update x, repeat",
            ha="center", va="bottom", fontsize=10, color="#c62828")  # fmt: skip
    return fig


def show_transformer_net(net: torch.nn.Module | None = None, size: int = 256) -> Figure:
    """Johnson et al.'s transformation network drawn to scale, and how it is trained.

    Top: one block per stage of ``net`` (default: a fresh ``TransformerNet``), its height
    proportional to the feature map's side for a ``size`` x ``size`` input, its label the
    measured output shape. Bottom: the training loop, where the loss of ``stylize`` updates the
    network's weights instead of an image's pixels.
    """
    from ..feedforward import TransformerNet

    net = net if net is not None else TransformerNet()
    stages = [("down1", "9x9 conv"), ("down2", "3x3 conv /2"), ("down3", "3x3 conv /2"),
              ("residuals", f"{len(net.residuals)} residual\nblocks"),
              ("up1", "resize x2\n3x3 conv"), ("up2", "resize x2\n3x3 conv"),
              ("out", "9x9 conv\nsigmoid")]  # fmt: skip
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        getattr(net, name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name, _ in stages
    ]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, size, size, device=next(net.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    fig = plt.figure(figsize=(13, 6.2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 6.2)
    ax.set_axis_off()
    ax.text(6.5, 5.95, f"TransformerNet on a {size} x {size} photo (block height ~ map side)",
            ha="center", fontsize=12)  # fmt: skip
    colors = {"down": "#e3f2fd", "residuals": "#fff3e0", "up": "#e8f5e9", "out": "#f3e5f5"}
    _box(ax, 0.15, 3.6, 0.9, 1.2, f"photo\n3x{size}x{size}", "#eeeeee")
    x, centre = 1.4, 4.2
    for name, label in stages:
        c, h, _ = shapes[name]
        height = 0.5 + 1.9 * h / size
        color = colors.get(name, colors["up" if name.startswith("up") else "down"])
        _box(ax, x, centre - height / 2, 1.25, height, label, color)
        ax.text(x + 0.62, centre - height / 2 - 0.3, f"{c}x{h}x{shapes[name][2]}",
                ha="center", fontsize=8.5)  # fmt: skip
        _arrow(ax, (x - 0.3, centre), (x - 0.05, centre))
        x += 1.62
    ax.text(6.5, 2.2, "every conv: reflection padding, then instance norm + ReLU (not the last); "
            "each resize goes to the size of the matching encoder stage, so any H x W works",
            ha="center", fontsize=9, style="italic")  # fmt: skip
    # the training loop
    _box(ax, 0.3, 0.5, 1.7, 1.0, "batch of\nphotos x", "#eeeeee")
    _box(ax, 2.8, 0.5, 1.9, 1.0, "TransformerNet\n(weights W)", "#fff3e0")
    _box(ax, 5.5, 0.5, 1.7, 1.0, "VGG19\n(frozen)", "#e3f2fd")
    _box(ax, 8.0, 0.5, 2.5, 1.0, "loss of stylize:\ncontent vs x, style vs\nthe painting's Grams",
         "#f3e5f5")  # fmt: skip
    _arrow(ax, (2.1, 1.0), (2.75, 1.0))
    _arrow(ax, (4.8, 1.0), (5.45, 1.0))
    _arrow(ax, (7.3, 1.0), (7.95, 1.0))
    ax.plot([10.6, 11.2, 11.2, 3.75, 3.75], [1.0, 1.0, 0.15, 0.15, 0.38], color="#c62828", lw=1.8)
    _arrow(ax, (3.75, 0.3), (3.75, 0.42), color="#c62828")
    ax.text(7.4, 0.2, "gradient w.r.t. W: one Adam step per batch (the pixels are not optimised)",
            ha="center", va="bottom", fontsize=9.5, color="#c62828")  # fmt: skip
    return fig
