"""Chapter 07: ``tv_loss(x)``, the squared total variation of ``[B, C, H, W]``, a 0-dim tensor."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._verdict import Grad, Mistake, Probe, Raised, inputs, judge, require_callable, run


def _dh(x: torch.Tensor) -> torch.Tensor:
    return x[:, :, 1:, :] - x[:, :, :-1, :]


def _dw(x: torch.Tensor) -> torch.Tensor:
    return x[:, :, :, 1:] - x[:, :, :, :-1]


def ref_tv(x: torch.Tensor) -> torch.Tensor:
    """``sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2`` over everything."""
    return (_dh(x) ** 2).sum() + (_dw(x) ** 2).sum()


def _cropped(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both differences on the (H-1) x (W-1) grid of pixels that have both neighbours."""
    return _dh(x)[:, :, :, :-1], _dw(x)[:, :, :-1, :]


_SQUARED = (
    "this course's TV (and nst_helpers.tv_loss) is the sum of squared differences of vertical "
    "and horizontal neighbours over the whole image: smooth everywhere, and tv_weight sets "
    "its scale."
)


def _mistakes() -> list[Mistake]:
    dh, dw = _dh, _dw
    return [
        Mistake(
            lambda x: (dh(x) ** 2).sum(),
            "tv_loss only sums the vertical differences (along H)",
            "add the horizontal ones: x[..., :, 1:] - x[..., :, :-1] along W.",
        ),
        Mistake(
            lambda x: (dw(x) ** 2).sum(),
            "tv_loss only sums the horizontal differences (along W)",
            "add the vertical ones: x[..., 1:, :] - x[..., :-1, :] along H.",
        ),
        Mistake(
            lambda x: dh(x).abs().sum() + dw(x).abs().sum(),
            "tv_loss sums |differences|: the L1 total variation, as the TensorFlow tutorial "
            "(tf.image.total_variation) and neural-style-pt compute it",
            _SQUARED,
        ),
        Mistake(
            lambda x: sum(d.abs().sum() for d in _cropped(x)),
            "tv_loss is the L1 total variation on the cropped (H-1) x (W-1) grid",
            _SQUARED,
        ),
        Mistake(
            lambda x: 0.5 * sum((d**2).sum() for d in _cropped(x)),
            "tv_loss is neural-style's TVLoss: 1/2 of the squared differences on the cropped "
            "(H-1) x (W-1) grid",
            _SQUARED,
        ),
        Mistake(
            lambda x: sum((d**2).sum() for d in _cropped(x)),
            "tv_loss sums the squared differences on the cropped (H-1) x (W-1) grid only "
            "(the last row and column are left out)",
            _SQUARED,
        ),
        Mistake(
            lambda x: ((_cropped(x)[0] ** 2 + _cropped(x)[1] ** 2) ** 1.25).sum(),
            "tv_loss is the Keras example's: (dh^2 + dw^2)^1.25 on the cropped (H-1) x (W-1) grid",
            _SQUARED,
        ),
        Mistake(
            lambda x: 0.5 * (dh(x).abs().mean() + dw(x).abs().mean()),
            "tv_loss is d2l's: 1/2 of the mean |differences| along H plus along W",
            _SQUARED,
        ),
        Mistake(
            lambda x: dh(x).abs().mean() + dw(x).abs().mean(),
            "tv_loss takes the mean of |differences| (the L1 TV, averaged)",
            _SQUARED,
        ),
        Mistake(
            lambda x: (dh(x) ** 2).mean() + (dw(x) ** 2).mean(),
            "tv_loss averages the squared differences instead of summing them",
            "sum the squared differences; the tv_weight then sets their scale.",
        ),
        Mistake(
            lambda x: ref_tv(x) / x.numel(),
            "tv_loss divides by the number of entries",
            "sum the squared differences, without dividing.",
        ),
        Mistake(
            lambda x: ((x.roll(-1, 2) - x) ** 2).sum() + ((x.roll(-1, 3) - x) ** 2).sum(),
            "tv_loss compares the last row and column with the first (torch.roll wraps around)",
            "use slices, x[:, :, 1:] - x[:, :, :-1]: the image's edges have no "
            "neighbour beyond them.",
        ),
        Mistake(
            lambda x: (_cropped(x)[0] ** 2 + _cropped(x)[1] ** 2).sqrt().sum(),
            "tv_loss computes the isotropic TV, sum sqrt(dh^2 + dw^2)",
            "sum the squared differences themselves, without the square root.",
        ),
        Mistake(
            lambda x: ((x[1:] - x[:-1]) ** 2).sum() + ((x[:, 1:] - x[:, :-1]) ** 2).sum(),
            "tv_loss takes differences along the batch and channel axes",
            "x is [B, C, H, W]: the neighbours are along H (dim 2) and W (dim 3).",
        ),
    ]


def _explain(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    b, c, h, w = probe.args[0].shape
    shapes = raised.shapes.values()
    if raised.broadcast() and [b, c, h - 1, w] in shapes and [b, c, h, w - 1] in shapes:
        return (
            f"tv_loss combines the vertical differences [{b}, {c}, {h - 1}, {w}] with the "
            f"horizontal ones [{b}, {c}, {h}, {w - 1}] entry by entry, but their shapes differ",
            "square and sum each on its own, then add the two sums.",
        )
    if raised.broadcast():
        return None, (
            "the vertical differences are [B, C, H-1, W] and the horizontal ones [B, C, H, W-1]: "
            "square and sum each on its own, then add the two sums."
        )
    return None, None


def _scalar_hint(out: torch.Tensor, probe: Probe) -> str:
    return "sum over every entry, all images included (`.sum()` without `dim`): one 0-dim tensor."


def check_tv_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)``: ``x`` ``[B, C, H, W]`` -> the squared total variation, a 0-dim tensor.

    ``sum (x[:, :, i+1, j] - x[:, :, i, j])^2 + sum (x[:, :, i, j+1] - x[:, :, i, j])^2``:
    the squared differences between vertical and horizontal neighbours, summed (as
    ``nst_helpers.tv_loss``).
    """

    def body() -> str:
        require_callable(fn, "tv_loss")
        probes = [
            Probe((inputs(seed, *shape, low=0.0),), f"x {list(shape)}")
            for seed, shape in ((14, (1, 3, 5, 7)), (15, (2, 3, 6, 4)))
        ]
        judge(
            "tv_loss",
            fn,
            probes,
            ref_tv,
            mistakes=_mistakes(),
            shape_hint=_scalar_hint,
            explain=_explain,
            signature="tv_loss(x)",
            grad=Grad(Probe((inputs(16, 1, 3, 5, 7, low=0.0),), "x [1, 3, 5, 7]")),
        )
        return "tv_loss is correct: the squared differences of neighbours along H and W, summed."

    return run("tv_loss", body)
