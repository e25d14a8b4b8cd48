"""Chapter 04: the content loss (eq. 1), one layer's style loss (eq. 4) and its gradient (eq. 6).

A wrong normalisation of the style loss or of eq. 6 is named as the formula it computes, in
``N`` (feature maps) and ``M`` (positions): the probes have three sizes, so the formula is
identified whatever sizes they happen to be, and only when it holds on all three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import product

import torch

from ._verdict import (
    Fail,
    Grad,
    Mistake,
    Probe,
    Raised,
    close,
    inputs,
    judge,
    require_callable,
    run,
)
from .ch03_gram import explain_product, ref_gram

# ---- content loss ------------------------------------------------------------------------------


def ref_content(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((f - p) ** 2).sum()


def _content_mistakes() -> list[Mistake]:
    sq = lambda f, p: ((f - p) ** 2).sum()  # noqa: E731
    return [
        Mistake(
            sq,
            "content_loss is twice the expected value: the factor 1/2 is missing (the "
            "Keras example's sum of squares)",
            "the paper's content loss is 1/2 * sum (F - P)^2.",
        ),
        Mistake(
            lambda f, p: sq(f, p) / f.numel(),
            "content_loss takes the mean of the squares (F.mse_loss, as the PyTorch and "
            "TensorFlow tutorials, d2l and Gatys' port do) instead of 1/2 * sum",
            "sum over all entries and multiply by 1/2; do not divide by the number of "
            "entries (the paper's alpha / beta assume the sum).",
        ),
        Mistake(
            lambda f, p: 0.5 * sq(f, p) / f.numel(),
            "content_loss divides by the number of entries",
            "the paper's loss is a sum: 1/2 * sum (F - P)^2, no mean.",
        ),
        Mistake(
            lambda f, p: sq(f, p).sqrt(),
            "content_loss returns the norm ||F - P||, not half its square",
            "square the differences and do not take a square root.",
        ),
        Mistake(
            lambda f, p: (f - p).abs().sum(),
            "content_loss sums |F - P|",
            "square the differences: 1/2 * sum (F - P)^2.",
        ),
        Mistake(
            lambda f, p: 0.5 * (f - p).sum() ** 2,
            "content_loss squares the sum instead of summing the squares",
            "square each difference first, then sum: 1/2 * ((F - P) ** 2).sum().",
        ),
    ]


def _scalar_hint(out: torch.Tensor, probe: Probe) -> str:
    return "sum over every entry (`.sum()` without `dim`) so the loss is one 0-dim tensor."


def check_content_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, P)``: the paper's content loss ``1/2 * sum (F - P)^2`` as a 0-dim tensor."""

    def body() -> str:
        require_callable(fn, "content_loss")
        probes = [
            Probe((inputs(seed, *shape), inputs(seed + 100, *shape)), f"F, P {list(shape)}")
            for seed, shape in ((6, (1, 3, 4, 5)), (7, (1, 8, 3, 2)))
        ]
        judge(
            "content_loss",
            fn,
            probes,
            ref_content,
            mistakes=_content_mistakes(),
            shape_hint=_scalar_hint,
            signature="content_loss(F, P)",
            grad=Grad(Probe((inputs(6, 1, 3, 4, 5), inputs(106, 1, 3, 4, 5)), "F, P [1, 3, 4, 5]")),
        )
        return "content_loss is correct: 1/2 * sum (F - P)^2, a differentiable scalar."

    return run("content_loss", body)


# ---- the normalisation of a wrong answer, as a formula in N and M -----------------------------

_CONSTANTS = (1, 2, 4, 8, 16, 0.5, 0.25)
# Powers of N and M: the paper's kind of slip (non-negative) first, precedence slips after.
_POWERS = sorted(product(range(-4, 5), repeat=2), key=lambda ab: (min(ab) < 0, ab))


def fit_normaliser(samples: list[tuple[int, int, float]]) -> tuple[float, int, int] | None:
    """``(c, a, b)`` with ``ratio == 1 / (c N^a M^b)`` for every ``(N, M, ratio)``, or None."""
    if not samples or any(not (r > 0 and math.isfinite(r)) for _, _, r in samples):
        return None
    for a, b in _POWERS:
        for c in _CONSTANTS:
            if all(math.isclose(r * c * n**a * m**b, 1, rel_tol=1e-3) for n, m, r in samples):
                return c, a, b
    return None


def _power(symbol: str, k: int) -> str:
    return "" if k <= 0 else symbol if k == 1 else f"{symbol}^{k}"


def normaliser_text(c: float, a: int, b: int) -> str:
    """``4 N^2 M^2``-style text for ``c N^a M^b`` (a, b >= 0)."""
    parts = [_power("N", a), _power("M", b)]
    if c >= 1:
        parts.insert(0, f"{c:g}" if c != 1 or not any(parts) else "")
    text = " ".join(p for p in parts if p)
    if c < 1:
        text = f"{text} / {1 / c:g}" if text else f"1 / {1 / c:g}"
    return text or "1"


def formula(base: str, c: float, a: int, b: int) -> str:
    """``base`` divided by ``c N^a M^b``, written as a learner would read it."""
    if a >= 0 and b >= 0:
        text = normaliser_text(c, a, b)
        return base if text == "1" else f"{base} / ({text})"
    num = " ".join(filter(None, (_power("N", -a), _power("M", -b))))
    den = " ".join(filter(None, (f"{c:g}" if c != 1 else "", _power("N", a), _power("M", b))))
    return f"{base} * {num}" + (f" / {den}" if den else "")


_PRECEDENCE = (
    "operator precedence: in `/ 4 * n**2 * m**2` only the 4 divides, and the rest multiplies; "
    "put the whole denominator in brackets"
)


# ---- style loss --------------------------------------------------------------------------------

_STYLE_SHAPES = ((8, (1, 3, 4, 5)), (9, (1, 4, 6, 3)), (10, (1, 5, 3, 7)))
_PAPER_STYLE = "sum (G - A)^2 / (4 N^2 M^2)"
_N4M2 = (
    "Grams divided by N M, then the mean squared error: the normalisation of the PyTorch "
    "tutorial, neural-style and neural-style-pt, d2l and pytorch/examples"
)
_STYLE_NOTES = {
    (1, 0, 0): "no normalisation at all",
    (1, 2, 2): "the 4 of 4 N^2 M^2 is missing: Grams divided by M, then the mean squared error, "
    "as in the TensorFlow tutorial and Gatys' PyTorch port",
    (1, 2, 0): "that is the mean over the N^2 Gram entries, as F.mse_loss(G, A) computes",
    (1, 4, 2): _N4M2,
    (16, 2, 2): "(4 N M)^2: the square also took the 4",
    (4, 1, 2): "4 N M^2: N needs squaring too",
    (4, 2, 1): "4 N^2 M: M needs squaring too",
    (4, 1, 1): "4 N M: both N and M need squaring",
    (1, 1, 1): "N M: both need squaring, and the 4 is missing",
    (4, 4, 4): "normalised twice: Grams divided by N M and then the loss by 4 N^2 M^2",
    (2, 2, 2): "2 N^2 M^2: the paper's factor is 1/4",
}


def ref_style(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    _, n, h, w = f.shape
    m = h * w
    return ((ref_gram(f) - ref_gram(a)) ** 2).sum() / (4 * n**2 * m**2)


def _sq_gram(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return ((ref_gram(f) - ref_gram(a)) ** 2).sum()


def _style_mistakes() -> list[Mistake]:
    def nm(f):
        return f.shape[1], f.shape[2] * f.shape[3]

    def gram_t(f):
        x = f.reshape(f.shape[1], -1).T[None]
        return x @ x.transpose(1, 2)

    return [
        Mistake(
            lambda f, a: _sq_gram(f, a) / (4 * nm(f)[0] ** 2 * f.shape[2] ** 2),
            "style_loss uses M = H instead of M = H * W",
            "M is the number of positions, H * W.",
        ),
        Mistake(
            lambda f, a: _sq_gram(f, a) / (4 * nm(f)[0] ** 2 * f.shape[3] ** 2),
            "style_loss uses M = W instead of M = H * W",
            "M is the number of positions, H * W.",
        ),
        Mistake(
            lambda f, a: ((gram_t(f) - gram_t(a)) ** 2).sum() / (4 * nm(f)[0] ** 2 * nm(f)[1] ** 2),
            "style_loss builds Grams as F^T F (positions x positions)",
            "the Gram compares channels: G = F F^T with F flattened to [1, C, H*W].",
        ),
        Mistake(
            lambda f, a: 0.5 * ((f - a) ** 2).sum(),
            "style_loss compares the features directly, like the content loss",
            f"compare Gram matrices: G = gram(F), A = gram(A), then {_PAPER_STYLE}.",
        ),
        Mistake(
            lambda f, a: ((f - a) ** 2).mean(),
            "style_loss compares the features directly (their mean squared error), not their Grams",
            f"compare Gram matrices: {_PAPER_STYLE}.",
        ),
        Mistake(
            lambda f, a: (
                (ref_gram(f) - ref_gram(a)).abs().sum() / (4 * nm(f)[0] ** 2 * nm(f)[1] ** 2)
            ),
            "style_loss sums |G - A| instead of (G - A)^2",
            "square the Gram differences before summing.",
        ),
    ]


def _fit_style(outs: list, wants: list, probes: Sequence[Probe]) -> Fail | None:
    samples = []
    for out, probe in zip(outs, probes, strict=True):
        if out.numel() != 1:
            return None
        f, a = probe.double()
        samples.append((f.shape[1], f.shape[2] * f.shape[3], out.item() / _sq_gram(f, a).item()))
    hint = (
        "N = C is the number of feature maps and M = H * W the number of positions; the Grams "
        "stay unnormalised (G = F F^T) and only the loss divides, once, by 4 N^2 M^2."
    )
    fit = fit_normaliser(samples)
    if fit is not None:
        c, a, b = fit
        note = _PRECEDENCE if a < 0 or b < 0 else _STYLE_NOTES.get(fit)
        text = formula("sum (G - A)^2", c, a, b)
        return Fail(
            f"style_loss computes {text} instead of {_PAPER_STYLE}"
            + (f" ({note})" if note else ""),
            hint,
        )
    ratios = [r for *_, r in samples]
    if all(r > 0 and math.isclose(r, ratios[0], rel_tol=1e-3) for r in ratios):
        return Fail(
            f"style_loss divides sum (G - A)^2 by the same number ({1 / ratios[0]:.4g}) at every "
            "layer size: a normaliser that ignores the layer's size (the Keras example's 4 * 3^2 "
            "* (image height * width)^2 uses the image's channels and size)",
            hint,
        )
    return None


def _explain_style(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    if raised.broadcast():
        return None, (
            "F and A are both features [1, C, H, W]: compute both Grams inside, gram(F) and "
            "gram(A) ([1, C, C] each), and compare those."
        )
    return explain_product(raised, probe)


def check_style_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: one layer's style loss ``E_l = sum (G - A)^2 / (4 N^2 M^2)``.

    ``F`` and ``A`` are the generated and the style image's features, both ``[1, C, H, W]``
    (``N = C`` maps of ``M = H * W`` positions); the Grams are ``F F^T`` per image. A wrong
    normalisation is named as the formula it computes, in N and M.
    """

    def body() -> str:
        require_callable(fn, "style_loss")
        probes = [
            Probe((inputs(seed, *shape), inputs(seed + 100, *shape)), f"F, A {list(shape)}")
            for seed, shape in _STYLE_SHAPES
        ]
        judge(
            "style_loss",
            fn,
            probes,
            ref_style,
            mistakes=_style_mistakes(),
            fits=[_fit_style],
            shape_hint=_scalar_hint,
            explain=_explain_style,
            signature="style_loss(F, A)",
            grad=Grad(Probe((inputs(8, 1, 3, 4, 5), inputs(108, 1, 3, 4, 5)), "F, A [1, 3, 4, 5]")),
        )
        return f"style_loss is correct: {_PAPER_STYLE}, a differentiable scalar."

    return run("style_loss", body)


# ---- the style gradient (eq. 6) ----------------------------------------------------------------

_GRADIENT_SHAPES = ((11, 3, 20), (12, 4, 18), (13, 5, 14))
_GRADIENT_NOTES = {
    (4, 2, 2): " (the 4 of the loss is kept: the derivative's 2 x 2 cancels it)",
    (0.5, 2, 2): " (one factor 2 too many: 2 x 2 = 4 cancels the 4, no more)",
    (2, 2, 2): " (only one factor 2 of the derivative: G = F F^T gives two)",
}


def ref_style_gradient(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``dE_l/dZ`` for post-ReLU ``F = relu(Z)`` ``[N, M]``, by autograd: eq. 6."""
    f = f.detach().clone().requires_grad_(True)
    n, m = f.shape
    loss = ((f @ f.T - a) ** 2).sum() / (4 * n**2 * m**2)
    (grad,) = torch.autograd.grad(loss, f)
    return grad * (f.detach() > 0)  # the ReLU passes the gradient only where it let F through


def _raw(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``(F^T (G - A))^T``, before the normaliser and the ReLU mask."""
    return (f @ f.T - a) @ f


def _gradient_mistakes() -> list[Mistake]:
    return [
        Mistake(
            lambda f, a: -ref_style_gradient(f, a),
            "style_gradient has the wrong sign",
            "eq. 6 is the gradient (the direction of steepest ascent); gradient descent "
            "subtracts it.",
        ),
        Mistake(
            lambda f, a: _raw(f, a) / (f.shape[0] ** 2 * f.shape[1] ** 2),
            "style_gradient is not zero where F_ij = 0",
            "eq. 6 holds only where F_ij > 0: the ReLU passes no gradient where it cut the "
            "activation to 0. Multiply by (F > 0).",
        ),
        Mistake(
            lambda f, a: ref_style_gradient(f, a).T,
            "style_gradient returns the transpose, [M, N]",
            "transpose it: eq. 6 has ((F^T (G - A))^T)_ij, i.e. (G - A) F, [N, M].",
        ),
        Mistake(
            lambda f, a: f @ f.T - a,
            "style_gradient returns G - A alone, [N, N]: multiply by F",
            "(G - A) F is [N, M]; then normalise by N^2 M^2 and mask with (F > 0).",
        ),
    ]


def _fit_gradient(outs: list, wants: list, probes: Sequence[Probe]) -> Fail | None:
    samples = []
    for out, probe in zip(outs, probes, strict=True):
        f, a = probe.double()
        masked = _raw(f, a) * (f > 0)
        if out.shape != masked.shape:
            return None
        ratio = out.detach().double().abs().sum().item() / masked.abs().sum().item()
        if not close(out, masked * ratio, rtol=1e-3):
            return None
        samples.append((f.shape[0], f.shape[1], ratio))
    fit = fit_normaliser(samples)
    if fit is None:
        return None
    c, a, b = fit
    note = f" ({_PRECEDENCE})" if a < 0 or b < 0 else _GRADIENT_NOTES.get(fit, "")
    return Fail(
        f"style_gradient computes {formula('(G - A) F', c, a, b)} where F > 0, instead of "
        f"(G - A) F / (N^2 M^2){note}",
        "differentiate sum (G - A)^2 / (4 N^2 M^2): the square gives 2 (G - A), and G = F F^T "
        "gives 2 F: 4 (G - A) F / (4 N^2 M^2) = (G - A) F / (N^2 M^2).",
    )


def _explain_gradient(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    if raised.broadcast() or "cannot be multiplied" in str(raised.err):
        return None, ("F is [N, M] and A [N, N]: G = F @ F.T is [N, N], and (G - A) @ F is [N, M].")
    return None, None


def check_style_gradient(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: eq. 6 of the paper, the gradient of ``E_l`` written out by hand.

    ``F`` is a layer's post-ReLU features as a matrix ``[N, M]`` (``N`` maps, ``M`` positions),
    ``A`` the style image's Gram ``[N, N]``; ``fn`` returns ``dE_l / dF`` ``[N, M]``:
    ``((F^T (G - A))^T)_ij / (N^2 M^2)`` where ``F_ij > 0``, else 0 (the gradient that passes
    the ReLU). The expected values come from autograd.
    """

    def body() -> str:
        require_callable(fn, "style_gradient")
        probes = []
        for seed, n, m in _GRADIENT_SHAPES:
            f = torch.relu(inputs(seed, n, m))
            a = ref_gram(torch.relu(inputs(seed + 100, 1, n, m, 1)))[0]
            probes.append(Probe((f, a), f"F [{n}, {m}], A [{n}, {n}]"))
        judge(
            "style_gradient",
            fn,
            probes,
            ref_style_gradient,
            mistakes=_gradient_mistakes(),
            fits=[_fit_gradient],
            explain=_explain_gradient,
            signature="style_gradient(F, A)",
        )
        return (
            "style_gradient is correct: eq. 6, (G - A) F / (N^2 M^2) where F > 0, as autograd "
            "computes it."
        )

    return run("style_gradient", body)


# ---- the relative style loss (this course's default normalisation) ------------------------------

_RELATIVE_SHAPES = ((31, (1, 3, 4, 5)), (32, (1, 4, 6, 3)), (33, (1, 5, 3, 7)))


def ref_relative(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``||G - A_gram||^2 / ||A_gram||^2`` with unnormalised Grams."""
    g, t = ref_gram(f), ref_gram(a)
    return ((g - t) ** 2).sum() / (t**2).sum()


def _relative_mistakes() -> list[Mistake]:
    def parts(f, a):
        g, t = ref_gram(f), ref_gram(a)
        return ((g - t) ** 2).sum(), g, t

    def paper(f, a):
        _, n, h, w = f.shape
        return parts(f, a)[0] / (4 * n**2 * (h * w) ** 2)

    return [
        Mistake(
            paper,
            "relative_style_loss divides by 4 N^2 M^2 (the paper's E_l), not by the "
            "target's energy",
            "divide by ||A||^2 = (A_gram ** 2).sum(), the style Gram's own energy.",
        ),
        Mistake(
            lambda f, a: parts(f, a)[0] / (parts(f, a)[1] ** 2).sum(),
            "relative_style_loss divides by the generated image's Gram energy, ||G||^2",
            "divide by the *target's* energy, ||A||^2: it is a constant, so the loss keeps "
            "the shape of eq. 4.",
        ),
        Mistake(
            lambda f, a: parts(f, a)[0].sqrt() / (parts(f, a)[2] ** 2).sum().sqrt(),
            "relative_style_loss uses norms, not squared norms",
            "square both: ((G - A) ** 2).sum() / (A ** 2).sum().",
        ),
        Mistake(
            lambda f, a: parts(f, a)[0] / (parts(f, a)[2] ** 2).sum().sqrt(),
            "relative_style_loss divides by ||A||, not ||A||^2",
            "divide by (A_gram ** 2).sum(), the squared norm.",
        ),
        Mistake(
            lambda f, a: ((ref_gram(f) - ref_gram(a)) ** 2).mean() / (ref_gram(a) ** 2).sum(),
            "relative_style_loss averages the squared differences instead of summing them",
            "sum over every Gram entry: ((G - A) ** 2).sum().",
        ),
        Mistake(
            lambda f, a: parts(f, a)[0] / (a**2).sum(),
            "relative_style_loss divides by the energy of the style features, not of their Gram",
            "divide by (A_gram ** 2).sum(), with A_gram = gram_matrix(A).",
        ),
        Mistake(
            lambda f, a: ((f - a) ** 2).sum() / (a**2).sum(),
            "relative_style_loss compares the features, not their Gram matrices",
            "compute G = gram_matrix(F) and A_gram = gram_matrix(A) first: style is in the "
            "Grams (chapter 03).",
        ),
    ]


def check_relative_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: one layer's relative style loss ``||G - A||^2 / ||A||^2`` (Grams).

    ``F``, ``A``: the generated and the style image's features ``[1, N, H, W]``. Tested at three
    sizes, for its gradient, and for the invariance that is the point of the relative form
    (every activation times a constant: the same value). Names the usual slips: the paper's
    ``4 N^2 M^2`` instead of the target's energy, the generated image's energy, a norm that is
    not squared, a mean instead of a sum, features compared instead of Grams.
    """

    def body() -> str:
        require_callable(fn, "relative_style_loss")
        probes = [
            Probe(
                (torch.relu(inputs(seed, *shape)), torch.relu(inputs(seed + 100, *shape))),
                f"F, A [{', '.join(map(str, shape))}] (post-ReLU)",
            )
            for seed, shape in _RELATIVE_SHAPES
        ]
        f, a = torch.relu(inputs(34, 1, 4, 5, 5)), torch.relu(inputs(35, 1, 4, 5, 5))
        why = "that is the point of the relative form: a common scale of the activations cancels."
        judge(
            "relative_style_loss",
            fn,
            probes,
            ref_relative,
            mistakes=_relative_mistakes(),
            shape_hint=_scalar_hint,
            explain=_explain_style,
            signature="relative_style_loss(F, A)",
            grad=Grad(Probe((f, a), "F, A [1, 4, 5, 5]")),
            extra=[(Probe((7.0 * f, 7.0 * a), "every activation multiplied by 7"), why)],
        )
        return (
            "relative_style_loss is correct: ||G - A||^2 / ||A||^2, the same for activations "
            "of any scale, with the right gradient."
        )

    return run("relative_style_loss", body)
