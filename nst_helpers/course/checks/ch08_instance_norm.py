"""Chapter 08: ``instance_norm(x)``, ``(x - mean) / sqrt(var + 1e-5)`` per image and channel."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._verdict import Fail, Grad, Mistake, Probe, Raised, inputs, judge, require_callable, run

EPS = 1e-5


def _standardise(x: torch.Tensor, dims: tuple[int, ...], unbiased: bool = False) -> torch.Tensor:
    mean = x.mean(dims, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dims, unbiased=unbiased, keepdim=True) + EPS)


def ref_instance_norm(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


def _mistakes() -> list[Mistake]:
    hw = (2, 3)
    return [
        Mistake(
            lambda x: _standardise(x, (0, 2, 3)),
            "instance_norm uses batch statistics (mean over B, H, W: batch norm)",
            "take mean and variance over dim=(2, 3) only: each image's channel on its own.",
        ),
        Mistake(
            lambda x: _standardise(x, (1, 2, 3)),
            "instance_norm uses layer statistics (mean over C, H, W: layer norm)",
            "take mean and variance over dim=(2, 3) only, separately for every channel.",
        ),
        Mistake(
            lambda x: _standardise(x, hw, unbiased=True),
            "instance_norm uses the unbiased variance (divides by M - 1), as AdaIN's "
            "calc_mean_std does with torch.var's default",
            "use the biased variance, the plain mean of the squared deviations "
            "(unbiased=False), as InstanceNorm2d does.",
        ),
        Mistake(
            lambda x: (
                (x - x.mean(hw, keepdim=True))
                / (x.var(hw, unbiased=False, keepdim=True).sqrt() + EPS)
            ),
            "instance_norm adds eps to the standard deviation instead of to the variance",
            "sqrt(var + eps), with eps inside the square root: it matters for channels of "
            "very small variance.",
        ),
        Mistake(
            lambda x: x - x.mean(hw, keepdim=True),
            "instance_norm only subtracts the mean",
            "also divide by sqrt(var + eps): unit variance per channel.",
        ),
        Mistake(
            lambda x: x / torch.sqrt(x.var(hw, unbiased=False, keepdim=True) + EPS),
            "instance_norm only divides by the standard deviation",
            "subtract each channel's mean first.",
        ),
    ]


def _not_finite(outs: list, wants: list, probes: Sequence[Probe]) -> Fail | None:
    if any(not torch.isfinite(o).all() for o in outs):
        return Fail(
            "instance_norm gives inf or NaN for a channel whose values are all equal: eps is "
            "missing from the division",
            "add eps = 1e-5 to the variance *inside* the square root: sqrt(var + eps).",
        )
    return None


def _explain(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    x = probe.args[0]
    if not raised.broadcast():
        return None, None
    flat = [k for k, v in raised.shapes.items() if v == list(x.shape[:2])]
    hint = "use keepdim=True so the statistics are [B, C, 1, 1] and broadcast over H and W."
    if flat:
        return (
            f"instance_norm's statistics ({', '.join(flat)}) have shape {list(x.shape[:2])}, "
            f"without keepdim=True, so they do not broadcast against x {list(x.shape)}",
            hint,
        )
    return None, hint


def check_instance_norm(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)``: ``[B, C, H, W]`` -> ``(x - mean) / sqrt(var + 1e-5)`` per image and channel.

    ``mean`` and the biased ``var`` are taken over the ``H * W`` positions of each image's
    channel separately (Ulyanov et al., 2016), as ``torch.nn.InstanceNorm2d`` does without
    its learnt scale and shift.
    """

    def body() -> str:
        require_callable(fn, "instance_norm")
        x = inputs(21, 3, 4, 5, 6) * 3 + 1
        x[1, 2] = 0.5  # a flat channel: its variance is 0, only eps keeps the division finite
        x[2, 1] = 0.5 + 1e-3 * inputs(24, 5, 6)  # variance ~1e-6: where eps goes matters
        # Weighted: a plain sum of normalised values is constant (0), its gradient meaningless.
        grad = Grad(Probe((inputs(22, 2, 3, 4, 4),), "x [2, 3, 4, 4]"), inputs(23, 2, 3, 4, 4))
        judge(
            "instance_norm",
            fn,
            [Probe((x,), "x [3, 4, 5, 6]")],
            ref_instance_norm,
            mistakes=_mistakes(),
            fits=[_not_finite],
            explain=_explain,
            signature="instance_norm(x)",
            grad=grad,
            shape_hint=lambda o, p: (
                "normalise each value: the output has the input's shape "
                "[B, C, H, W]; use keepdim=True so the statistics broadcast."
            ),
        )
        return (
            "instance_norm is correct: each image's channels get zero mean and unit variance, "
            "whatever the batch holds."
        )

    return run("instance_norm", body)
