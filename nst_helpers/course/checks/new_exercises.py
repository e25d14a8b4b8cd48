"""Checkers for two exercises at the course's key ideas (issue 20): the relative style loss
(chapter 04) and one training step of the feed-forward network (chapter 08).

They follow the package's rule (``_verdict``: references written out here by formula, never
by calling the library; a wrong answer prints a hint and never raises) and are imported as the
others are, ``from nst_helpers.checks import check_relative_loss, check_training_step``. Kept in
one file for now, to be moved into ``ch04_losses`` and a chapter 08 module.

* ``relative_style_loss(F, A)``: ``||G - A_gram||^2 / ||A_gram||^2`` for the features ``F`` and
  ``A`` ``[1, N, H, W]`` of the generated and the style image (``G``, ``A_gram`` their
  unnormalised Grams) -> 0-dim tensor.
* ``training_step(net, optimizer, extractor, loss_fn, photos)``: one step of training a
  feed-forward network: stylise ``photos`` with ``net``, the photos' own features as content
  targets, ``loss_fn(features, content_features)`` the loss, then
  ``zero_grad``, ``backward``, ``step`` on the network's weights; return the loss as a float.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import _verdict as V

# ---- plumbing ---------------------------------------------------------------------------------


def _call(fn: Callable, name: str, *args: object) -> object:
    """The learner's ``fn(*args)``: an exception or an input changed in place becomes a ``Fail``."""
    return V.call(fn, name, V.Probe(tuple(args), ", ".join(_label(a) for a in args)))


def _label(a: object) -> str:
    return f"tensor {V.shape(a)}" if isinstance(a, torch.Tensor) else type(a).__name__


def _scalar(out: torch.Tensor, name: str) -> None:
    if out.numel() != 1:
        raise V.Fail(
            f"{name} returned a tensor of shape {V.shape(out)}, not a single number",
            "sum over every entry (`.sum()`) so the loss is one 0-dim tensor.",
        )


def _diagnose(got: torch.Tensor, mistakes: list[tuple[torch.Tensor, str, str]]) -> None:
    """Raise the ``Fail`` of the first known mistake that reproduces ``got``."""
    for value, problem, hint in mistakes:
        if V.close(got, value, rtol=V.MISTAKE_RTOL):
            raise V.Fail(problem, hint)


def _differs(name: str, got: torch.Tensor, want: torch.Tensor) -> V.Fail:
    return V.Fail(
        f"{name} gives a wrong value (got {got.item():.6g}, expected {want.item():.6g})",
        "compare your code with the formula in the text, one term at a time.",
    )


# ---- the relative style loss (chapter 04) ---------------------------------------------------

_RELATIVE_SHAPES = ((31, (1, 3, 4, 5)), (32, (1, 4, 6, 3)), (33, (1, 5, 3, 7)))


def _gram(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    flat = f.double().reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2)


def _ref_relative(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    g, t = _gram(f), _gram(a)
    return ((g - t) ** 2).sum() / (t**2).sum()


def check_relative_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: one layer's relative style loss ``||G - A||^2 / ||A||^2`` (Grams).

    ``F``, ``A``: the generated and the style image's features ``[1, N, H, W]``. Tested at three
    sizes, for the invariance that is the point of the relative form (all activations times a
    constant: the same value), and for its gradient. Names the usual slips: the paper's
    ``4 N^2 M^2`` instead of the target's energy, the generated image's energy, a norm that is
    not squared, a mean instead of a sum, features compared instead of Grams.
    """

    def body() -> str:
        V.require_callable(fn, "relative_style_loss")
        for seed, shape in _RELATIVE_SHAPES:
            f = torch.relu(V.inputs(seed, *shape))
            a = torch.relu(V.inputs(seed + 100, *shape))
            want = _ref_relative(f, a)
            out = V.as_tensor(_call(fn, "relative_style_loss", f, a), "relative_style_loss", want)
            _scalar(out, "relative_style_loss")
            if not V.close(out, want):
                g, t = _gram(f), _gram(a)
                _, n, h, w = shape
                m = h * w
                diff2 = ((g - t) ** 2).sum()
                fd, ad = f.double(), a.double()
                _diagnose(out, [
                    (diff2 / (4 * n**2 * m**2), "relative_style_loss divides by 4 N^2 M^2 (the "
                     "paper's E_l), not by the target's energy",
                     "divide by ||A||^2 = (A_gram ** 2).sum(), the style Gram's own energy."),
                    (diff2 / (g**2).sum(), "relative_style_loss divides by the generated image's "
                     "Gram energy, ||G||^2", "divide by the *target's* energy, ||A||^2: it is a "
                     "constant, so the loss keeps the shape of eq. 4."),
                    (diff2.sqrt() / (t**2).sum().sqrt(), "relative_style_loss uses norms, not "
                     "squared norms", "square both: ((G - A) ** 2).sum() / (A ** 2).sum()."),
                    (diff2 / (t**2).sum().sqrt(), "relative_style_loss divides by ||A||, not "
                     "||A||^2", "divide by (A_gram ** 2).sum(), the squared norm."),
                    (((g - t) ** 2).mean() / (t**2).sum(), "relative_style_loss averages the "
                     "squared differences instead of summing them",
                     "sum over every Gram entry: ((G - A) ** 2).sum()."),
                    (((fd - ad) ** 2).sum() / (ad**2).sum(), "relative_style_loss compares the "
                     "features, not their Gram matrices",
                     "compute G = gram_matrix(F) and A_gram = gram_matrix(A) first: style is in "
                     "the Grams (chapter 03)."),
                ])  # fmt: skip
                raise _differs("relative_style_loss", out, want)
        f = torch.relu(V.inputs(34, 1, 4, 5, 5))
        a = torch.relu(V.inputs(35, 1, 4, 5, 5))
        base = _call(fn, "relative_style_loss", f, a)
        scaled = _call(fn, "relative_style_loss", 7.0 * f, 7.0 * a)
        if not V.close(torch.as_tensor(scaled), torch.as_tensor(base)):
            raise V.Fail(
                "relative_style_loss changes when every activation is multiplied by 7",
                "divide by the target's energy ||A||^2: then a common scale cancels.",
            )
        V.check_grad(fn, "relative_style_loss", V.Grad(V.Probe((f, a), "features [1, 4, 5, 5]")),
                     _ref_relative)  # fmt: skip
        return (
            "relative_style_loss is correct: ||G - A||^2 / ||A||^2, the same for activations "
            "of any scale, with the right gradient."
        )

    return V.run("relative_style_loss", body)


# ---- one training step of the feed-forward network (chapter 08) ------------------------------

_TRAIN_STEPS = 2
_TRAIN_LR = 0.05


class _Net(torch.nn.Module):
    """A tiny 'transformation network' (float64): a 3x3 convolution and a sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(41)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1).double()
        with torch.no_grad():
            for p in self.conv.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


class _Extractor(torch.nn.Module):
    """A tiny frozen loss network (float64) that records the grad mode of each pass of the photos."""

    def __init__(self, photos: torch.Tensor) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(43)
        self.conv1, self.conv2 = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 5, 3, 2, 1)
        self.double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
        self.requires_grad_(False)
        self.photos = photos
        self.photo_calls: list[bool] = []  # grad mode on, each time the photos came through

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape == self.photos.shape and torch.equal(x.detach(), self.photos):
            self.photo_calls.append(torch.is_grad_enabled())
        a = torch.relu(self.conv1(x))
        return {"block1": a, "block2": torch.relu(self.conv2(a))}


def _train_loss(style_grams: dict[str, torch.Tensor]) -> Callable:
    """content at block2 (each photo against itself) + 10 x relative style over both blocks."""

    def loss_fn(feats: dict, content_feats: dict) -> torch.Tensor:
        f, p = feats["block2"], content_feats["block2"]
        content = ((f - p) ** 2).sum() / (p**2).sum()
        style = 0
        for name, target in style_grams.items():
            g = _gram(feats[name])
            style = style + (((g - target) ** 2).sum(dim=(1, 2)) / (target**2).sum()).mean()
        return content + 10.0 * style / len(style_grams)

    return loss_fn


def _train_setup() -> tuple[_Net, torch.optim.Optimizer, _Extractor, Callable, torch.Tensor]:
    """Network, optimiser, loss network, loss and photos, the same every time."""
    photos = V.inputs(44, 2, 3, 6, 6, low=0.0).double()
    painting = V.inputs(45, 1, 3, 6, 6, low=0.0).double()
    extractor = _Extractor(photos)
    with torch.no_grad():
        grams = {name: _gram(f) for name, f in extractor(painting).items()}
    extractor.photo_calls.clear()
    net = _Net()
    return (
        net,
        torch.optim.Adam(net.parameters(), lr=_TRAIN_LR),
        extractor,
        _train_loss(grams),
        photos,
    )


def _ref_training(mistake: str | None = None) -> tuple[list[float], list[torch.Tensor]]:
    """``_TRAIN_STEPS`` steps done right (or with one typical mistake): losses, final weights."""
    net, opt, extractor, loss_fn, photos = _train_setup()
    losses = []
    for _ in range(_TRAIN_STEPS):
        if mistake != "no_zero_grad":
            opt.zero_grad()
        out = net(photos)
        feats = extractor(out)
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


def check_training_step(fn: Callable[..., float]) -> bool:
    """Check ``fn(net, optimizer, extractor, loss_fn, photos)``: one feed-forward training step.

    ``net`` maps photos ``[B, 3, H, W]`` in [0, 1] to stylised images of the same shape;
    ``optimizer`` holds ``net``'s weights; ``extractor(images)`` -> ``{layer: features}``
    (frozen); ``loss_fn(features, content_features)`` -> the total loss (the style targets are
    inside it). One step: ``zero_grad``; stylise the photos; the photos' own features, without
    gradients, as content targets; ``loss_fn``; ``backward``; ``step``; return the loss as a
    float. The checker runs two steps on a tiny network and names the typical mistake: the
    targets from the output, a missing ``zero_grad``, the loss after the update, a tensor
    returned, the photos changed. (Targets computed with gradients enabled pass, as in
    pytorch/examples: a frozen network and plain photos record no graph.)
    """

    def body() -> str:
        V.require_callable(fn, "training_step")
        net, opt, extractor, loss_fn, photos = _train_setup()
        frozen = [p.detach().clone() for p in extractor.parameters()]
        start = [p.detach().clone() for p in net.parameters()]
        got = []
        for _ in range(_TRAIN_STEPS):
            out = _call(fn, "training_step", net, opt, extractor, loss_fn, photos)
            if isinstance(out, torch.Tensor):
                raise V.Fail(
                    "training_step returned a tensor, not a number",
                    "return loss.item(): a tensor keeps the step's whole graph alive.",
                )
            if not isinstance(out, int | float):
                raise V.Fail(
                    f"training_step returned {type(out).__name__}, not the loss as a float",
                    "return loss.item() at the end of the step.",
                )
            got.append(float(out))
        if any(not torch.equal(p, f) for p, f in zip(extractor.parameters(), frozen, strict=True)):
            raise V.Fail(
                "the loss network's weights changed",
                "only the transformation network learns: the optimiser holds net's weights, "
                "the extractor stays frozen.",
            )
        if all(torch.equal(p, s) for p, s in zip(net.parameters(), start, strict=True)):
            raise V.Fail(
                "the network's weights did not change",
                "call loss.backward() and then optimizer.step() in every step.",
            )
        weights = [p.detach() for p in net.parameters()]
        want_losses, want_weights = _ref_training()

        def same(losses: list[float], final: list[torch.Tensor]) -> bool:
            return V.close(
                torch.tensor(got, dtype=torch.float64), torch.tensor(losses), rtol=1e-6
            ) and all(V.close(w, v, rtol=1e-6) for w, v in zip(weights, final, strict=True))

        if same(want_losses, want_weights):
            return (
                "training_step is correct: each photo its own content target (without "
                "gradients), the network's weights updated, the loss of the step returned."
            )
        if not extractor.photo_calls:
            raise V.Fail(*_TRAIN_MISTAKES["targets_from_output"])
        for mistake in ("no_zero_grad", "log_after", "targets_from_output"):
            if same(*_ref_training(mistake)):
                raise V.Fail(*_TRAIN_MISTAKES[mistake])
        raise V.Fail(
            f"training_step does not follow the expected step (losses {got}, expected "
            f"{[round(v, 6) for v in want_losses]})",
            "zero_grad; out = net(photos); feats = extractor(out); content_feats = "
            "extractor(photos) under no_grad; loss = loss_fn(feats, content_feats); backward; "
            "step; return loss.item().",
        )

    return V.run("training_step", body)
