"""Chapter 03: ``gram_matrix(F)``, ``[B, C, H, W]`` -> unnormalised ``G = F F^T`` per image."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._verdict import Grad, Mistake, Probe, Raised, inputs, judge, require_callable, run


def ref_gram(f: torch.Tensor) -> torch.Tensor:
    """``G[b, i, j] = sum_k F[b, i, k] F[b, j, k]``, written as an explicit sum."""
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return (flat[:, :, None, :] * flat[:, None, :, :]).sum(dim=-1)


def _flat(f: torch.Tensor) -> torch.Tensor:
    return f.reshape(f.shape[0], f.shape[1], -1)


def _nm(f: torch.Tensor) -> tuple[int, int]:
    return f.shape[1], f.shape[2] * f.shape[3]


def pytorch_tutorial_gram(f: torch.Tensor) -> torch.Tensor:
    """The PyTorch NST tutorial's: ``view(a * b, c * d)``, ``F F^T``, ``/ (a * b * c * d)``."""
    a, b, c, d = f.shape
    x = f.reshape(a * b, c * d)
    return x @ x.T / (a * b * c * d)


def d2l_gram(f: torch.Tensor) -> torch.Tensor:
    """d2l's: reshape to ``[C, B*H*W]``, ``X X^T / (C * B*H*W)``."""
    c, n = f.shape[1], f.numel() // f.shape[1]
    x = f.reshape(c, n)
    return x @ x.T / (c * n)


_UNNORMALISED = (
    "keep the Gram unnormalised, as in the paper: the 1 / (4 N^2 M^2) lives in the style loss "
    "(chapter 04), and normalising twice changes the balance of the layers."
)


def _mistakes() -> list[Mistake]:
    def ftf(f):
        x = _flat(f)
        return x.transpose(1, 2) @ x

    def scrambled(f):
        b, c, h, w = f.shape
        x = f.reshape(b, h * w, c).transpose(1, 2)
        return x @ x.transpose(1, 2)

    return [
        Mistake(
            lambda f: ref_gram(f) / (_nm(f)[0] * _nm(f)[1]),
            "gram_matrix divides by N*M = C*H*W, a normalisation several published codes use "
            "(pytorch/examples' fast_neural_style, d2l, neural-style's style loss)",
            _UNNORMALISED,
        ),
        Mistake(
            lambda f: ref_gram(f) / _nm(f)[1],
            "gram_matrix divides by M = H*W, as the TensorFlow tutorial and Gatys' PyTorch port do",
            _UNNORMALISED,
        ),
        Mistake(
            lambda f: ref_gram(f) / _nm(f)[0],
            "gram_matrix divides by the number of channels",
            _UNNORMALISED,
        ),
        Mistake(
            lambda f: ref_gram(f) / f.numel(),
            "gram_matrix divides by B*C*H*W (the PyTorch tutorial's a*b*c*d, which also counts "
            "the batch)",
            _UNNORMALISED,
        ),
        Mistake(
            pytorch_tutorial_gram,
            "gram_matrix is the PyTorch tutorial's: it flattens the batch into the channels "
            "(view(a * b, c * d), [C, C] for one image) and divides by a*b*c*d",
            "keep one Gram per image, [B, C, C] (reshape to [B, C, H*W], then "
            "`f @ f.transpose(1, 2)`), even for B = 1; " + _UNNORMALISED,
        ),
        Mistake(
            d2l_gram,
            "gram_matrix is d2l's: it flattens to [C, B*H*W] (one [C, C] matrix that drops "
            "the batch dimension and mixes its images) and divides by N*M",
            "keep one Gram per image, [B, C, C], even for B = 1; " + _UNNORMALISED,
        ),
        Mistake(
            lambda f: ref_gram(f)[0],
            "gram_matrix returns one [C, C] matrix, the first image's: keep the batch dimension",
            "return [B, C, C] (one Gram per image), even when B = 1.",
        ),
        Mistake(
            ftf,
            "gram_matrix computes F^T F (positions x positions)",
            "the Gram matrix compares channels: G = F F^T with F flattened to [B, C, H*W], "
            "so G is [B, C, C].",
        ),
        Mistake(
            _flat,
            "gram_matrix returns F flattened: you did not multiply it by its transpose",
            "G = F F^T: `f @ f.transpose(1, 2)` with f of shape [B, C, H*W].",
        ),
        Mistake(
            lambda f: _flat(f) * _flat(f),
            "gram_matrix multiplies F by itself elementwise: it did not multiply by the transpose",
            "use the matrix product `@` (or torch.bmm) with the transpose, not `*`.",
        ),
        Mistake(
            scrambled,
            "gram_matrix reshapes F to [B, H*W, C] directly, which scrambles the values",
            "reshape to [B, C, H*W] (channels first, as stored), then multiply by the transpose.",
        ),
        Mistake(
            lambda f: _flat(f).pow(2).sum(-1, keepdim=True).expand(-1, -1, f.shape[1]),
            "gram_matrix multiplies elementwise instead of as matrices",
            "use the matrix product `@` (or torch.bmm), not `*`.",
        ),
        Mistake(
            lambda f: ref_gram(f.sum(0, keepdim=True)).expand(f.shape[0], -1, -1),
            "gram_matrix mixes the images of the batch together",
            "compute one Gram per image: flatten to [B, C, H*W] and use torch.bmm or "
            "`f @ f.transpose(1, 2)`.",
        ),
        Mistake(
            lambda f: ref_gram(f[:1]).expand(f.shape[0], -1, -1),
            "gram_matrix is right for the first image of a batch but not the others",
            "compute one Gram per image using every batch item (torch.bmm, or `@` with "
            "transpose(1, 2)); do not index [0].",
        ),
    ]


def _shape_hint(out: torch.Tensor, probe: Probe) -> str:
    b, c, h, w = probe.args[0].shape
    m, got = h * w, list(out.shape)
    if got[-2:] in ([m, m], [b * m, b * m]):
        return "you computed F^T F (positions x positions): G = F F^T is [B, C, C]."
    if got[-2:] in ([c, m], [m, c]):
        return "you flattened F but did not multiply it by its own transpose."
    if got == [c, c]:
        return "keep the batch dimension: return [B, C, C] (one Gram per image), even for B = 1."
    return "flatten to [B, C, H*W], then multiply by its transpose: [B, C, C]."


def explain_product(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    """Hints for the Gram's matrix product (also used where the style loss builds Grams)."""
    msg = str(raised.err)
    if "cannot be multiplied" in msg or "batch1" in msg or "batch2" in msg or "mat1" in msg:
        return None, (
            "a matrix product with mismatched sizes: flatten to [B, C, H*W] and multiply by its "
            "transpose over the last two axes (`f @ f.transpose(1, 2)` or `torch.bmm`)."
        )
    if raised.broadcast():
        return None, (
            "a Gram is a matrix product (`@`), not an elementwise one: `f @ f.transpose(1, 2)` "
            "with f of shape [B, C, H*W] gives [B, C, C]."
        )
    return None, None


def check_gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F)``: ``[B, C, H, W]`` -> unnormalised ``G = F F^T`` per image, ``[B, C, C]``.

    Probes float32 features (the chapter's dtype) with B = 1 and B = 2, and the gradient.
    """

    def body() -> str:
        require_callable(fn, "gram_matrix")
        probes = [
            Probe((inputs(seed, *shape),), f"features {list(shape)}")
            for seed, shape in ((3, (1, 3, 4, 5)), (4, (2, 4, 3, 6)))
        ]
        judge(
            "gram_matrix",
            fn,
            probes,
            ref_gram,
            mistakes=_mistakes(),
            shape_hint=_shape_hint,
            explain=explain_product,
            signature="gram_matrix(features)",
            grad=Grad(Probe((inputs(5, 1, 3, 4, 5),), "features [1, 3, 4, 5]"), inputs(6, 1, 3, 3)),
        )
        return "gram_matrix is correct: G = F F^T per image, shape [B, C, C], unnormalised."

    return run("gram_matrix", body)
