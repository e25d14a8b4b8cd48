"""Chapter 08, real-time style transfer: ``instance_norm(x)`` and one ``training_step``.

* ``instance_norm(x)``: ``(x - mean) / sqrt(var + 1e-5)`` per image and channel.
* ``training_step(net, optimizer, extractor, loss_fn, photos)``: one step of training the
  feed-forward network, the loss of the step returned as a float.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._verdict import (
    Fail,
    Grad,
    Mistake,
    Probe,
    Raised,
    call,
    close,
    inputs,
    judge,
    require_callable,
    run,
)
from .ch03_gram import ref_gram
from .ch05_loop import ProbeNetwork

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


# ---- one training step of the feed-forward network ---------------------------------------------

_TRAIN_STEPS = 2
_TRAIN_LR = 0.05


class _Net(torch.nn.Module):
    """A tiny float32 'transformation network': a 3x3 convolution and a sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(41)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            for p in self.conv.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


def _train_loss(style_grams: dict[str, torch.Tensor]) -> Callable:
    """Content at block2 (each photo against itself) + 10 x relative style over both blocks."""

    def loss_fn(feats: dict, content_feats: dict) -> torch.Tensor:
        f, p = feats["block2"], content_feats["block2"]
        content = ((f - p) ** 2).sum() / (p**2).sum()
        style = 0
        for name, target in style_grams.items():
            g = ref_gram(feats[name])
            style = style + (((g - target) ** 2).sum(dim=(1, 2)) / (target**2).sum()).mean()
        return content + 10.0 * style / len(style_grams)

    return loss_fn


def _train_setup() -> tuple[_Net, torch.optim.Optimizer, ProbeNetwork, Callable, torch.Tensor]:
    """Network, optimiser, loss network (it records the photos' passes), loss and photos."""
    photos = inputs(44, 2, 3, 6, 6, low=0.0)
    painting = inputs(45, 1, 3, 6, 6, low=0.0)
    extractor = ProbeNetwork(photos, painting)
    with torch.no_grad():
        grams = {name: ref_gram(f) for name, f in extractor(painting).items()}
    extractor.target_calls.clear()
    net = _Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=_TRAIN_LR)
    return net, optimizer, extractor, _train_loss(grams), photos


def ref_training(mistake: str | None = None) -> tuple[list[float], list[torch.Tensor]]:
    """``_TRAIN_STEPS`` steps done right (or with one typical mistake): losses, final weights."""
    net, opt, extractor, loss_fn, photos = _train_setup()
    losses = []
    for _ in range(_TRAIN_STEPS):
        if mistake != "no_zero_grad":
            opt.zero_grad()
        feats = extractor(net(photos))
        if mistake == "targets_from_output":
            content = {k: v.detach() for k, v in feats.items()}
        else:
            with torch.no_grad():
                content = extractor(photos)
        loss = loss_fn(feats, content)
        loss.backward()
        opt.step()
        if mistake == "log_after":
            with torch.no_grad():
                loss = loss_fn(extractor(net(photos)), extractor(photos))
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in net.parameters()]


_TRAIN_MISTAKES = {
    "no_zero_grad": (
        "the gradients accumulate from step to step: optimizer.zero_grad() is missing",
        "call optimizer.zero_grad() at the start of every step: backward adds to .grad.",
    ),
    "log_after": (
        "the loss returned is measured after the update, not the loss of the step",
        "return loss.item() of the forward pass that computed the gradient.",
    ),
    "targets_from_output": (
        "the content targets are the network's own output, not the photos",
        "each photo is its own content target: content_feats = extractor(photos), under "
        "torch.no_grad(); the stylised output only goes into feats = extractor(net(photos)).",
    ),
}
_STEP = (
    "zero_grad; out = net(photos); feats = extractor(out); content_feats = extractor(photos) "
    "under no_grad; loss = loss_fn(feats, content_feats); backward; step; return loss.item()."
)


def _run_steps(fn: Callable, setup: tuple) -> list[float]:
    net, opt, extractor, loss_fn, photos = setup
    probe = Probe((net, opt, extractor, loss_fn, photos), "photos [2, 3, 6, 6] float32")
    got = []
    for _ in range(_TRAIN_STEPS):
        out: Any = call(
            fn,
            "training_step",
            probe,
            signature="training_step(net, optimizer, extractor, loss_fn, photos)",
        )
        if isinstance(out, torch.Tensor):
            raise Fail(
                "training_step returned a tensor, not a number",
                "return loss.item(): a tensor keeps the step's whole graph alive.",
            )
        if not isinstance(out, int | float) or isinstance(out, bool):
            raise Fail(
                f"training_step returned {type(out).__name__}, not the loss as a float",
                "return loss.item() at the end of the step.",
            )
        got.append(float(out))
    return got


def check_training_step(fn: Callable[..., float]) -> bool:
    """Check ``fn(net, optimizer, extractor, loss_fn, photos)``: one feed-forward training step.

    ``net`` maps photos ``[B, 3, H, W]`` in [0, 1] to stylised images of the same shape;
    ``optimizer`` holds ``net``'s weights; ``extractor(images)`` -> ``{layer: features}``
    (frozen); ``loss_fn(features, content_features)`` -> the total loss (the style targets are
    inside it). One step: ``zero_grad``; stylise the photos; the photos' own features as content
    targets (no_grad is good practice; with a frozen extractor they have no graph either way);
    ``loss_fn``; ``backward``; ``step``; return the loss as a float. The checker runs two steps
    on a tiny float32 network and compares the losses and the weights with the reference step;
    it names the mistake that reproduces them: targets from the output, a missing
    ``zero_grad``, the loss after the update, a tensor returned, the photos changed.
    """

    def body() -> str:
        require_callable(fn, "training_step")
        setup = _train_setup()
        net, _, extractor, _, _ = setup
        frozen = [p.detach().clone() for p in extractor.parameters()]
        start = [p.detach().clone() for p in net.parameters()]
        got = _run_steps(fn, setup)
        if any(not torch.equal(p, f) for p, f in zip(extractor.parameters(), frozen, strict=True)):
            raise Fail(
                "the loss network's weights changed",
                "only the transformation network learns: the optimiser holds net's weights, "
                "the extractor stays frozen.",
            )
        if all(torch.equal(p, s) for p, s in zip(net.parameters(), start, strict=True)):
            raise Fail(
                "the network's weights did not change",
                "call loss.backward() and then optimizer.step() in every step (step uses the "
                "gradients backward computes, and zero_grad clears them).",
            )
        weights = [p.detach() for p in net.parameters()]

        def same(want: tuple[list[float], list[torch.Tensor]]) -> bool:
            losses, final = want
            return close(torch.tensor(got), torch.tensor(losses)) and all(
                close(w, v) for w, v in zip(weights, final, strict=True)
            )

        if same(ref_training()):
            return (
                "training_step is correct: each photo its own content target, the network's "
                "weights updated, the loss of the step returned."
            )
        for mistake in ("targets_from_output", "no_zero_grad", "log_after"):
            if same(ref_training(mistake)):
                raise Fail(*_TRAIN_MISTAKES[mistake])
        if "content" not in extractor.target_calls:
            raise Fail(
                "the photos never went through the loss network on their own: where do the "
                "content targets come from?",
                _STEP,
            )
        want = ref_training()[0]
        raise Fail(
            f"training_step's losses {[round(v, 6) for v in got]} differ from the reference "
            f"step's {[round(v, 6) for v in want]}; no known mistake explains them",
            _STEP,
        )

    return run("training_step", body)
