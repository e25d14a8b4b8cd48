"""Exercise checkers for the course: run a learner's function, compare, explain what went wrong.

Every ``check_*`` calls the learner's function on small fixed inputs, compares the answer with a
reference written out here by explicit formula (deliberately *not* by calling
``nst_helpers.losses``, so the checkers double as an independent test of the library), prints
``✅ ...`` or ``❌ ...`` with a specific hint, and returns ``True``/``False``. A wrong answer
never raises: an exception inside the learner's code becomes a hint quoting its message.

The functions the exercises ask for (the paper's conventions, Gatys et al. 2015):

* ``normalize(x)``: ``x`` ``[B, 3, H, W]`` in [0, 1] -> ``(x - mean) / std`` with ImageNet's
  per-channel RGB mean and std, a new tensor of the same shape.
* ``gram_matrix(F)``: ``F`` ``[B, C, H, W]`` -> ``G = F F^T`` per image, ``[B, C, C]``,
  unnormalised (``G_ij = sum_k F_ik F_jk`` over the ``M = H * W`` positions).
* ``content_loss(F, P)``: ``1/2 * sum (F - P)^2`` over everything -> 0-dim tensor.
* ``style_loss(F, A)``: one layer's ``E_l = sum_ij (G_ij - A_ij)^2 / (4 N^2 M^2)`` where ``F``
  and ``A`` are the generated and the style image's features ``[1, C, H, W]``, ``G`` and ``A``
  their Grams, ``N = C`` and ``M = H * W`` -> 0-dim tensor. A wrong normalisation is named as
  the formula it computes, in N and M (e.g. the PyTorch tutorial's ``/(N^4 M^2)``).
* ``style_gradient(F, A)``: eq. 6, ``dE_l/dF`` by hand for ``F`` ``[N, M]`` (post-ReLU) and
  the target Gram ``A`` ``[N, N]``: ``(G - A) F / (N^2 M^2)`` where ``F > 0``, else 0; the
  checker compares it with autograd.
* ``extract_features(vgg, x, names)``: ``{name: output of vgg[VGG19_LAYERS[name]]}`` for
  torchvision's VGG19 ``features`` (in-place ReLUs), by walking the layers or with hooks.
* ``style_transfer(extractor, loss_fn, content, style, steps, optimizer)``: the whole loop,
  ``-> (image, history)``; ``check_loop`` runs it with Adam and L-BFGS on a tiny network.
* ``tv_loss(x)``: ``sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2`` -> 0-dim tensor.

``check_answer``/``quiz`` check the self-test questions at the end of a chapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

# ImageNet statistics, written out again on purpose (see the module docstring).
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_RTOL = 1e-4


class _Fail(Exception):
    """Internal: one failed check, with what is wrong and how to fix it."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.hint = problem, hint


# ---- plumbing shared by every checker ------------------------------------------------------


def _inputs(seed: int, *shape: int, low: float | None = None) -> torch.Tensor:
    """Deterministic test input that leaves the learner's global RNG untouched."""
    gen = torch.Generator().manual_seed(seed)
    if low is not None:  # uniform in [low, 1]
        return low + (1 - low) * torch.rand(*shape, generator=gen)
    return torch.randn(*shape, generator=gen)


def _exception_hint(err: Exception) -> str:
    msg = str(err)
    if isinstance(err, NotImplementedError):
        return "replace the `raise NotImplementedError` line with your code."
    if "in-place operation" in msg and "leaf" in msg:
        return (
            "you changed the input in place (e.g. `x -= ...`, `.sub_()`, `.div_()`); compute a "
            "new tensor instead (`x - ...`)."
        )
    if "numpy()" in msg and "requires grad" in msg:
        return "stay in torch: converting to NumPy cuts the gradient the optimiser needs."
    if "must match the size of tensor" in msg:
        return (
            "shapes do not line up for broadcasting; per-channel values need shape [1, 3, 1, 1] "
            "(or [3, 1, 1]) to act on the channel axis of [B, 3, H, W]."
        )
    if "cannot be multiplied" in msg or "batch1" in msg or "batch2" in msg:
        return (
            "a matrix product with mismatched sizes: flatten to [B, C, H*W] and multiply by its "
            "transpose over the last two axes (`f @ f.transpose(1, 2)` or `torch.bmm`)."
        )
    if "same device" in msg:
        return (
            "make new tensors on the input's device, e.g. `torch.tensor(..., device=x.device)`, "
            "so the function works on CPU and GPU alike."
        )
    if "view size is not compatible" in msg:
        return "use `.reshape(...)` instead of `.view(...)` (the tensor is not contiguous)."
    if "invalid for input of size" in msg:
        return "the reshape does not fit: flatten to [B, C, H * W], taking B, C, H, W from x.shape."
    return "read the error message above; print the shapes of your tensors to find the culprit."


def _call(fn: Callable, name: str, *args: Any) -> Any:
    """Call the learner's ``fn``, turning exceptions and in-place edits of tensors into ``_Fail``."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    before = [a.detach().clone() for a in tensors]
    try:
        out = fn(*args)
    except Exception as err:  # noqa: BLE001 - any learner error becomes a hint
        raise _Fail(
            f"{name} raised {type(err).__name__}: {err}".rstrip(": "), _exception_hint(err)
        ) from None
    for a, b in zip(tensors, before, strict=True):
        if a.shape != b.shape or not torch.equal(a.detach(), b):
            raise _Fail(
                f"{name} modified its input in place",
                "compute a new tensor (`x - m`) instead of changing the argument (`x -= m`, "
                "`.sub_()`, `.div_()`): the caller still needs the original.",
            )
    return out


def _as_tensor(out: Any, name: str, expected: torch.Tensor) -> torch.Tensor:
    """Insist on a tensor; for numbers and arrays, say whether at least the value was right."""
    if isinstance(out, torch.Tensor):
        return out
    if out is None:
        raise _Fail(f"{name} returned None", "did you forget the `return` statement?")
    value = None
    if isinstance(out, int | float) and not isinstance(out, bool):
        value, kind = torch.tensor(float(out), dtype=torch.float64), "a Python number"
    elif type(out).__module__ == "numpy":
        value, kind = torch.as_tensor(out).double(), "a NumPy array"
    else:
        raise _Fail(f"{name} returned a {type(out).__name__}, not a torch.Tensor")
    right = value.shape == expected.shape and _close(value, expected)
    verdict = "Its value is right, but" if right else "Also,"
    raise _Fail(
        f"{name} returned {kind} instead of a torch.Tensor",
        f"{verdict} `.item()`, `float()` or `.numpy()` cut the result off from autograd, so the "
        "optimiser could not get a gradient: return the tensor itself.",
    )


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = _RTOL) -> bool:
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    if got.shape != want.shape or not torch.isfinite(got).all() or not torch.isfinite(want).all():
        return False
    scale = want.abs().max().item() if want.numel() else 0.0
    return torch.allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-12))


def _diagnose(got: torch.Tensor, mistakes: list[tuple[torch.Tensor, str, str]]) -> None:
    """Raise the ``_Fail`` of the first known mistake that reproduces ``got`` exactly."""
    for value, problem, hint in mistakes:
        if _close(got, value, rtol=1e-3):
            raise _Fail(problem, hint)


def _differs(name: str, got: torch.Tensor, want: torch.Tensor) -> _Fail:
    g, w = got.detach().double().flatten(), want.double().flatten()
    if g.numel() == 1:
        detail = f"got {g.item():.6g}, expected {w.item():.6g}"
    else:
        detail = f"first entries: got {_fmt(g[:3])}, expected {_fmt(w[:3])}"
    return _Fail(
        f"{name} gives the right shape but wrong values ({detail})",
        "compare your code with the formula in the text, one term at a time.",
    )


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in t.tolist()) + ", ...]"


def _check_scalar(out: torch.Tensor, name: str) -> None:
    if out.numel() != 1:
        raise _Fail(
            f"{name} returned a tensor of shape {list(out.shape)}, not a single number",
            "sum over every entry (`.sum()`) so the loss is one 0-dim tensor.",
        )


def _check_grad(fn: Callable, name: str, args: list[torch.Tensor], reference: Callable) -> None:
    """The learner's output must be differentiable w.r.t. ``args[0]`` with the right gradient."""
    x = args[0].clone().requires_grad_(True)
    out = _call(fn, name, x, *args[1:])
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise _Fail(
            f"{name}'s result does not depend on its input through autograd (gradients lost)",
            "avoid `.detach()`, `.item()`, `.numpy()`, `torch.tensor(...)` or `with "
            "torch.no_grad()` inside the function: the optimiser needs the gradient.",
        )
    out.sum().backward()
    x_ref = args[0].double().clone().requires_grad_(True)
    reference(x_ref, *(a.double() for a in args[1:])).sum().backward()
    if x.grad is None or not _close(x.grad, x_ref.grad):
        raise _Fail(
            f"{name}'s values are right but its gradient is not",
            "something in the function is cut off from autograd; use plain torch operations.",
        )


def _run(title: str, body: Callable[[], str]) -> bool:
    """Print the verdict of one checker; never raise."""
    try:
        message = body()
    except _Fail as fail:
        print(f"❌ {fail.problem}")
        if fail.hint:
            print(f"   Hint: {fail.hint}")
        return False
    except Exception as err:  # noqa: BLE001 - a checker must never stop a notebook
        print(f"❌ {title}: the checker could not test your function ({type(err).__name__}: {err})")
        print("   Hint: make sure you pass the function itself, e.g. check(my_fn), not my_fn().")
        return False
    print(f"✅ {message}")
    return True


def _callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise _Fail(
            f"expected a function to check, got {type(fn).__name__}",
            f"pass the function itself: check_{name}({name}), without calling it.",
        )


# ---- normalize ---------------------------------------------------------------------------


def _channel(values: tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(1, 3, 1, 1).to(x.dtype)


def _ref_normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - _channel(_MEAN, x)) / _channel(_STD, x)


def check_normalize(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)``: ``[B, 3, H, W]`` in [0, 1] -> ``(x - mean) / std`` (ImageNet, RGB)."""

    def body() -> str:
        _callable(fn, "normalize")
        for seed, shape in ((1, (1, 3, 4, 5)), (2, (2, 3, 6, 7))):
            x = _inputs(seed, *shape, low=0.0)
            out = _as_tensor(_call(fn, "normalize", x), "normalize", _ref_normalize(x.double()))
            want = _ref_normalize(x.double())
            if out.shape != x.shape:
                hint = "return a tensor shaped like the input: [B, 3, H, W]."
                if out.shape[-3:] == x.shape[1:]:
                    hint = "keep the batch dimension: return [B, 3, H, W] for any B, even B = 1."
                raise _Fail(
                    f"normalize returned shape {list(out.shape)} for input {list(x.shape)}", hint
                )
            if _close(out, want):
                continue
            m, s = _channel(_MEAN, want), _channel(_STD, want)
            xd = x.double()
            rev = (xd - m.flip(1)) / s.flip(1)
            _diagnose(out, [
                (xd * s + m, "normalize computes the inverse, x * std + mean",
                 "normalising subtracts the mean and then divides by the std."),
                (xd - m, "normalize subtracts the mean but does not divide by the std",
                 "finish with `/ std`."),
                (xd / s, "normalize divides by the std but does not subtract the mean",
                 "subtract the mean first: (x - mean) / std."),
                (xd - m / s, "normalize computes x - mean / std (operator precedence)",
                 "add brackets: (x - mean) / std."),
                ((xd - s) / m, "normalize swaps mean and std",
                 "mean is (0.485, 0.456, 0.406), std is (0.229, 0.224, 0.225)."),
                ((xd / 255 - m) / s, "normalize divides by 255 again",
                 "the input is already in [0, 1]; only subtract the mean and divide by the std."),
                (rev, "normalize uses the channel statistics in reverse (BGR) order",
                 "the tensor is RGB: mean[0] = 0.485 belongs to the red channel (index 0)."),
                ((xd - xd.mean()) / xd.std(), "normalize uses the image's own mean and std",
                 "use ImageNet's fixed statistics: VGG19 was trained with those."),
            ])  # fmt: skip
            raise _differs("normalize", out, want)
        return "normalize is correct: (x - mean) / std per RGB channel, any batch size."

    return _run("normalize", body)


# ---- gram_matrix -------------------------------------------------------------------------


def _ref_gram(f: torch.Tensor) -> torch.Tensor:
    """``G[b, i, j] = sum_k F[b, i, k] F[b, j, k]``, written as an explicit sum."""
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return (flat[:, :, None, :] * flat[:, None, :, :]).sum(dim=-1)


def check_gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F)``: ``[B, C, H, W]`` -> unnormalised ``G = F F^T`` per image, ``[B, C, C]``."""

    def body() -> str:
        _callable(fn, "gram_matrix")
        for seed, shape in ((3, (1, 3, 4, 5)), (4, (2, 4, 3, 6))):
            f = _inputs(seed, *shape)
            b, c, h, w = shape
            m = h * w
            want = _ref_gram(f.double())
            out = _as_tensor(_call(fn, "gram_matrix", f), "gram_matrix", want)
            got = list(out.shape)
            if got != [b, c, c]:
                where = f"gram_matrix returned shape {got} for features {list(shape)}"
                if got[-2:] == [m, m] or got[-2:] == [b * m, b * m]:
                    hint = (
                        "you computed F^T F (positions x positions). The Gram matrix compares "
                        "channels: G = F F^T with F flattened to [B, C, H*W], so G is [B, C, C]."
                    )
                elif got[-2:] in ([c, m], [m, c]):
                    hint = "you flattened F but did not multiply it by its own transpose."
                elif got == [c, c]:
                    hint = (
                        "keep the batch dimension: return [B, C, C] (one Gram per image), "
                        "even when B = 1."
                        if b == 1
                        else "the batch was merged into one Gram; compute one Gram per image."
                    )
                else:
                    hint = "flatten to [B, C, H*W], then multiply by its transpose: [B, C, C]."
                raise _Fail(where, hint)
            if _close(out, want):
                continue
            flat = f.double().reshape(b, c, m)
            scrambled = f.double().reshape(b, m, c).transpose(1, 2)
            _diagnose(out, [
                (want / (c * m), "gram_matrix divides by N*M (channels x positions)",
                 "keep the Gram unnormalised, as in the paper: the 1 / (4 N^2 M^2) lives in "
                 "the style loss."),
                (want / m, "gram_matrix divides by M = H*W",
                 "keep the Gram unnormalised; the style loss does the normalising."),
                (want / c, "gram_matrix divides by the number of channels",
                 "keep the Gram unnormalised; the style loss does the normalising."),
                (want / (b * c * m), "gram_matrix divides by B*C*H*W",
                 "keep the Gram unnormalised; the style loss does the normalising."),
                (scrambled @ scrambled.transpose(1, 2),
                 "gram_matrix reshapes F to [B, H*W, C] directly, which scrambles the values",
                 "reshape to [B, C, H*W] (channels first, as stored), then multiply by the "
                 "transpose."),
                (flat.pow(2).sum(-1, keepdim=True).expand(b, c, c),
                 "gram_matrix multiplies elementwise instead of as matrices",
                 "use the matrix product `@` (or torch.bmm), not `*`."),
                (_ref_gram(f.double().sum(0, keepdim=True)).expand(b, c, c),
                 "gram_matrix mixes the images of the batch together",
                 "compute one Gram per image: flatten to [B, C, H*W] and use torch.bmm or "
                 "`f @ f.transpose(1, 2)`."),
            ])  # fmt: skip
            if b > 1 and _close(out[:1], want[:1]):
                raise _Fail(
                    "gram_matrix is right for the first image of a batch but not the others",
                    "compute one Gram per image using every batch item (torch.bmm, or `@` with "
                    "transpose(1, 2)); do not index [0].",
                )
            raise _differs("gram_matrix", out, want)
        _check_grad(fn, "gram_matrix", [_inputs(5, 1, 3, 4, 5)], _ref_gram)
        return "gram_matrix is correct: G = F F^T per image, shape [B, C, C], unnormalised."

    return _run("gram_matrix", body)


# ---- content loss ------------------------------------------------------------------------


def _ref_content(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((f - p) ** 2).sum()


def check_content_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, P)``: the paper's content loss ``1/2 * sum (F - P)^2`` as a 0-dim tensor."""

    def body() -> str:
        _callable(fn, "content_loss")
        for seed, shape in ((6, (1, 3, 4, 5)), (7, (1, 8, 3, 2))):
            f, p = _inputs(seed, *shape), _inputs(seed + 100, *shape)
            want = _ref_content(f.double(), p.double())
            out = _as_tensor(_call(fn, "content_loss", f, p), "content_loss", want)
            _check_scalar(out, "content_loss")
            out = out.reshape(())
            if _close(out, want):
                continue
            sq = ((f.double() - p.double()) ** 2).sum()
            n = f.numel()
            _diagnose(out, [
                (sq, "content_loss is twice the expected value: the factor 1/2 is missing",
                 "the paper's content loss is 1/2 * sum (F - P)^2."),
                (sq / n, "content_loss takes the mean (like F.mse_loss) instead of 1/2 * sum",
                 "sum over all entries and multiply by 1/2; do not divide by the number of "
                 "entries."),
                (0.5 * sq / n, "content_loss divides by the number of entries",
                 "the paper's loss is a sum: 1/2 * sum (F - P)^2, no mean."),
                (sq.sqrt(), "content_loss returns the norm ||F - P||, not half its square",
                 "square the differences and do not take a square root."),
                ((f.double() - p.double()).abs().sum(), "content_loss sums |F - P|",
                 "square the differences: 1/2 * sum (F - P)^2."),
                (0.5 * (f.double() - p.double()).sum() ** 2,
                 "content_loss squares the sum instead of summing the squares",
                 "square each difference first, then sum: 1/2 * ((F - P) ** 2).sum()."),
            ])  # fmt: skip
            raise _differs("content_loss", out, want)
        p = _inputs(106, 1, 3, 4, 5)
        _check_grad(fn, "content_loss", [_inputs(6, 1, 3, 4, 5), p], _ref_content)
        return "content_loss is correct: 1/2 * sum (F - P)^2, a differentiable scalar."

    return _run("content_loss", body)


# ---- the normalisation of a wrong answer, as a formula in N and M ---------------------------

_CONSTANTS = (1, 2, 4, 8, 16, 0.5, 0.25)


def _fit_normaliser(samples: list[tuple[int, int, float]]) -> tuple[float, int, int] | None:
    """``(c, a, b)`` with ``ratio == 1 / (c N^a M^b)`` for every ``(N, M, ratio)``, or None.

    The checkers test several sizes, so a wrong normalisation is identified exactly, whatever
    sizes the checker happens to use (unlike a ratio, which depends on them).
    """
    if not samples or any(not (r > 0 and math.isfinite(r)) for _, _, r in samples):
        return None
    for c in _CONSTANTS:
        for a in range(5):
            for b in range(5):
                if all(math.isclose(r * c * n**a * m**b, 1.0, rel_tol=1e-3) for n, m, r in samples):
                    return c, a, b
    return None


def _power(symbol: str, k: int) -> str:
    return "" if k == 0 else symbol if k == 1 else f"{symbol}^{k}"


def _normaliser_text(c: float, a: int, b: int) -> str:
    """``4 N^2 M^2``-style text for ``c N^a M^b``."""
    parts = [_power("N", a), _power("M", b)]
    if c >= 1:
        parts.insert(0, f"{c:g}" if c != 1 or not any(parts) else "")
    text = " ".join(p for p in parts if p)
    if c < 1:
        text = f"{text} / {1 / c:g}" if text else f"1 / {1 / c:g}"
    return text or "1"


# ---- the style loss's known wrong normalisations -------------------------------------------

_STYLE_NOTES = {
    (1, 0, 0): "no normalisation at all",
    (1, 2, 2): "the 4 of 4 N^2 M^2 is missing",
    (1, 2, 0): "that is the mean over the N^2 Gram entries, as F.mse_loss(G, A) computes",
    (1, 4, 2): "Grams divided by N M, then F.mse_loss: the PyTorch tutorial's normalisation",
    (16, 2, 2): "(4 N M)^2: the square also took the 4",
    (4, 1, 2): "4 N M^2: N needs squaring too",
    (4, 2, 1): "4 N^2 M: M needs squaring too",
    (4, 1, 1): "4 N M: both N and M need squaring",
    (1, 1, 1): "N M: both need squaring, and the 4 is missing",
    (4, 4, 4): "normalised twice: Grams divided by N M and then the loss by 4 N^2 M^2",
    (2, 2, 2): "2 N^2 M^2: the paper's factor is 1/4",
}

_PAPER_STYLE = "sum (G - A)^2 / (4 N^2 M^2)"


def _style_formula_fail(c: float, a: int, b: int) -> _Fail:
    got = _normaliser_text(c, a, b)
    formula = "sum (G - A)^2" if got == "1" else f"sum (G - A)^2 / ({got})"
    note = _STYLE_NOTES.get((c, a, b))
    return _Fail(
        f"style_loss computes {formula} instead of {_PAPER_STYLE}" + (f" ({note})" if note else ""),
        "N = C is the number of feature maps and M = H * W the number of positions; the Grams "
        "stay unnormalised (G = F F^T) and only the loss divides, once, by 4 N^2 M^2.",
    )


# ---- style loss ----------------------------------------------------------------------------

_STYLE_SHAPES = ((8, (1, 3, 4, 5)), (9, (1, 4, 6, 3)), (10, (1, 5, 3, 7)))


def _ref_style(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    _, n, h, w = f.shape
    m = h * w
    return ((_ref_gram(f) - _ref_gram(a)) ** 2).sum() / (4 * n**2 * m**2)


def check_style_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: one layer's style loss ``E_l = sum (G - A)^2 / (4 N^2 M^2)``.

    ``F`` and ``A`` are the generated and the style image's features, both ``[1, C, H, W]``
    (``N = C`` maps of ``M = H * W`` positions); the Grams are ``F F^T`` per image. A wrong
    normalisation is named as the formula it computes, in N and M.
    """

    def body() -> str:
        _callable(fn, "style_loss")
        wrong, first = [], None
        for seed, shape in _STYLE_SHAPES:
            f, a = _inputs(seed, *shape), _inputs(seed + 100, *shape)
            fd, ad = f.double(), a.double()
            want = _ref_style(fd, ad)
            out = _as_tensor(_call(fn, "style_loss", f, a), "style_loss", want)
            _check_scalar(out, "style_loss")
            out = out.reshape(())
            if _close(out, want):
                continue
            _, n, h, w = shape
            m = h * w
            sq = ((_ref_gram(fd) - _ref_gram(ad)) ** 2).sum()
            ft, at = fd.reshape(1, n, m).transpose(1, 2), ad.reshape(1, n, m).transpose(1, 2)
            sq_t = ((ft @ ft.transpose(1, 2) - at @ at.transpose(1, 2)) ** 2).sum()
            _diagnose(out, [
                (sq / (4 * n**2 * h**2), "style_loss uses M = H instead of M = H * W",
                 "M is the number of positions, H * W."),
                (sq / (4 * n**2 * w**2), "style_loss uses M = W instead of M = H * W",
                 "M is the number of positions, H * W."),
                (sq_t / (4 * n**2 * m**2),
                 "style_loss builds Grams as F^T F (positions x positions)",
                 "the Gram compares channels: G = F F^T with F flattened to [1, C, H*W]."),
                (0.5 * ((fd - ad) ** 2).sum(),
                 "style_loss compares the features directly, like the content loss",
                 "compare Gram matrices: G = gram(F), A = gram(A), then sum (G - A)^2 / "
                 "(4 N^2 M^2)."),
                ((_ref_gram(fd) - _ref_gram(ad)).abs().sum() / (4 * n**2 * m**2),
                 "style_loss sums |G - A| instead of (G - A)^2",
                 "square the Gram differences before summing."),
            ])  # fmt: skip
            ratio = out.detach().double().item() / sq.item()
            wrong.append((n, m, ratio))
            first = first or (out, want)
        if wrong:
            fit = _fit_normaliser(wrong) if len(wrong) == len(_STYLE_SHAPES) else None
            if fit is not None:
                raise _style_formula_fail(*fit)
            raise _differs("style_loss", *first)
        a = _inputs(108, 1, 3, 4, 5)
        _check_grad(fn, "style_loss", [_inputs(8, 1, 3, 4, 5), a], _ref_style)
        return f"style_loss is correct: {_PAPER_STYLE}, a differentiable scalar."

    return _run("style_loss", body)


# ---- the style gradient (eq. 6) ------------------------------------------------------------

_GRADIENT_SHAPES = ((11, 3, 20), (12, 4, 18), (13, 5, 14))


def _ref_style_gradient(z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(F, dE/dZ)`` for ``F = relu(Z)`` ``[N, M]``: eq. 6, computed by autograd."""
    z = z.double().clone().requires_grad_(True)
    f = torch.relu(z)
    n, m = f.shape
    loss = ((f @ f.T - a.double()) ** 2).sum() / (4 * n**2 * m**2)
    (grad,) = torch.autograd.grad(loss, z)
    return f.detach(), grad


def check_style_gradient(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: eq. 6 of the paper, the gradient of ``E_l`` written out by hand.

    ``F`` is a layer's post-ReLU features as a matrix ``[N, M]`` (``N`` maps, ``M`` positions),
    ``A`` the style image's Gram ``[N, N]``; ``fn`` returns ``dE_l / dF`` ``[N, M]``:
    ``((F^T (G - A))^T)_ij / (N^2 M^2)`` where ``F_ij > 0``, else 0 (the gradient that passes
    the ReLU). The expected values come from autograd.
    """

    def body() -> str:
        _callable(fn, "style_gradient")
        wrong, first = [], None
        for seed, n, m in _GRADIENT_SHAPES:
            z = _inputs(seed, n, m)
            a = _ref_gram(torch.relu(_inputs(seed + 100, 1, n, m, 1)).double())[0]
            f, want = _ref_style_gradient(z, a)
            f32, a32 = f.float(), a.float()
            out = _as_tensor(_call(fn, "style_gradient", f32, a32), "style_gradient", want)
            if out.shape != f.shape:
                hint = "return one value per entry of F: shape [N, M]."
                if list(out.shape) == [m, n]:
                    hint = "transpose it: eq. 6 has ((F^T (G - A))^T)_ij, i.e. (G - A) F, [N, M]."
                elif list(out.shape) == [n, n]:
                    hint = "that is G - A alone; multiply by F: (G - A) F is [N, M]."
                raise _Fail(
                    f"style_gradient returned shape {list(out.shape)}, not [{n}, {m}]", hint
                )
            if _close(out, want):
                continue
            g = f @ f.T
            raw = (g - a) @ f  # (F^T (G - A))^T, before the normaliser and the ReLU mask
            mask = (f > 0).double()
            _diagnose(out, [
                (-want, "style_gradient has the wrong sign",
                 "eq. 6 is the gradient (the direction of steepest ascent); gradient descent "
                 "subtracts it."),
                (raw / (n**2 * m**2),
                 "style_gradient is not zero where F_ij = 0",
                 "eq. 6 holds only where F_ij > 0: the ReLU passes no gradient where it cut the "
                 "activation to 0. Multiply by (F > 0)."),
            ])  # fmt: skip
            masked = raw * mask
            ratio = out.detach().double().abs().sum().item() / masked.abs().sum().item()
            if _close(out, masked * ratio, rtol=1e-3):
                wrong.append((n, m, ratio))
            first = first or (out, want)
        if wrong:
            fit = _fit_normaliser(wrong) if len(wrong) == len(_GRADIENT_SHAPES) else None
            if fit is not None:
                note = {
                    (4, 2, 2): " (the 4 of the loss is kept: the derivative's 2 x 2 cancels it)",
                    (0.5, 2, 2): " (one factor 2 too many: 2 x 2 = 4 cancels the 4, no more)",
                    (2, 2, 2): " (only one factor 2 of the derivative: G = F F^T gives two)",
                }.get(fit, "")
                raise _Fail(
                    f"style_gradient computes (G - A) F / ({_normaliser_text(*fit)}) where "
                    f"F > 0, instead of (G - A) F / (N^2 M^2){note}",
                    "differentiate sum (G - A)^2 / (4 N^2 M^2): the square gives 2 (G - A), "
                    "and G = F F^T gives 2 F: 4 (G - A) F / (4 N^2 M^2) = (G - A) F / (N^2 M^2).",
                )
            raise _differs("style_gradient", *first)
        return (
            "style_gradient is correct: eq. 6, (G - A) F / (N^2 M^2) where F > 0, as autograd "
            "computes it."
        )

    return _run("style_gradient", body)


# ---- total variation -----------------------------------------------------------------------


def _ref_tv(x: torch.Tensor) -> torch.Tensor:
    """``sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2`` over everything."""
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh**2).sum() + (dw**2).sum()


def check_tv_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)``: ``x`` ``[B, C, H, W]`` -> the squared total variation, a 0-dim tensor.

    ``sum (x[:, :, i+1, j] - x[:, :, i, j])^2 + sum (x[:, :, i, j+1] - x[:, :, i, j])^2``:
    the squared differences between vertical and horizontal neighbours, summed (as
    ``nst_helpers.tv_loss``).
    """

    def body() -> str:
        _callable(fn, "tv_loss")
        for seed, shape in ((14, (1, 3, 5, 7)), (15, (2, 3, 6, 4))):
            x = _inputs(seed, *shape, low=0.0)
            xd = x.double()
            want = _ref_tv(xd)
            out = _as_tensor(_call(fn, "tv_loss", x), "tv_loss", want)
            _check_scalar(out, "tv_loss")
            out = out.reshape(())
            if _close(out, want):
                continue
            dh = xd[:, :, 1:, :] - xd[:, :, :-1, :]
            dw = xd[:, :, :, 1:] - xd[:, :, :, :-1]
            rh = xd.roll(-1, dims=2) - xd
            rw = xd.roll(-1, dims=3) - xd
            _diagnose(out, [
                ((dh**2).sum(), "tv_loss only sums the vertical differences (along H)",
                 "add the horizontal ones: x[..., :, 1:] - x[..., :, :-1] along W."),
                ((dw**2).sum(), "tv_loss only sums the horizontal differences (along W)",
                 "add the vertical ones: x[..., 1:, :] - x[..., :-1, :] along H."),
                (dh.abs().sum() + dw.abs().sum(),
                 "tv_loss sums |differences| (the L1 total variation)",
                 "square the differences: this course's TV (and tv_loss) is the squared form, "
                 "smooth everywhere."),
                ((dh**2).mean() + (dw**2).mean(), "tv_loss averages instead of summing",
                 "sum the squared differences; the tv_weight then sets their scale."),
                (_ref_tv(xd) / xd.numel(), "tv_loss divides by the number of entries",
                 "sum the squared differences, without dividing."),
                ((rh**2).sum() + (rw**2).sum(),
                 "tv_loss compares the last row and column with the first (torch.roll wraps "
                 "around)",
                 "use slices, x[:, :, 1:] - x[:, :, :-1]: the image's edges have no neighbour "
                 "beyond them."),
                ((dh[:, :, :, :-1] ** 2 + dw[:, :, :-1, :] ** 2).sqrt().sum(),
                 "tv_loss computes the isotropic TV, sum sqrt(dh^2 + dw^2)",
                 "sum the squared differences themselves, without the square root."),
                (((xd[1:] - xd[:-1]) ** 2).sum() + ((xd[:, 1:] - xd[:, :-1]) ** 2).sum(),
                 "tv_loss takes differences along the batch and channel axes",
                 "x is [B, C, H, W]: the neighbours are along H (dim 2) and W (dim 3)."),
            ])  # fmt: skip
            raise _differs("tv_loss", out, want)
        _check_grad(fn, "tv_loss", [_inputs(14, 1, 3, 5, 7, low=0.0)], _ref_tv)
        return "tv_loss is correct: the squared differences of neighbours along H and W, summed."

    return _run("tv_loss", body)


# ---- a feature extractor -------------------------------------------------------------------

_EXTRACT = ("conv1_1", "relu1_2", "conv2_1", "pool2", "conv3_1")


def _probe_vgg() -> tuple[torch.nn.Sequential, dict[str, int]]:
    """A seeded VGG19 ``features`` (torchvision's layout, in-place ReLUs) and its layer names."""
    from .features import VGG19_LAYERS, build_vgg19_features

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vgg = build_vgg19_features()
    return vgg.eval().requires_grad_(False), dict(VGG19_LAYERS)


def _ref_features(vgg: torch.nn.Sequential, x: torch.Tensor, upto: int) -> list[torch.Tensor]:
    """Every module's output up to index ``upto``, each a tensor of its own (no in-place)."""
    outs, h = [], x
    for module in vgg[: upto + 1]:
        h = torch.relu(h) if isinstance(module, torch.nn.ReLU) else module(h)
        outs.append(h)
    return outs


def check_feature_extractor(
    fn: Callable[[torch.nn.Sequential, torch.Tensor, list[str]], dict[str, torch.Tensor]],
) -> bool:
    """Check ``fn(vgg, x, names)`` -> ``{name: output of that layer}`` for VGG19's ``features``.

    ``vgg`` is torchvision's ``nn.Sequential`` of 37 modules (in-place ReLUs), ``x`` a
    normalised batch ``[B, 3, H, W]`` and ``names`` layer names such as ``"conv1_1"`` (index
    ``VGG19_LAYERS[name]``). Each value must be exactly that module's output, a ``conv*``
    before its ReLU. Works by walking the layers or with forward hooks.
    """

    def body() -> str:
        _callable(fn, "extract_features")
        vgg, index = _probe_vgg()
        names = list(_EXTRACT)
        upto = max(index[n] for n in names)
        x = _inputs(16, 1, 3, 32, 32)
        ran: list[int] = []
        probes = [
            m.register_forward_pre_hook(lambda mod, args, i=i: ran.append(i))
            for i, m in enumerate(vgg)
        ]
        try:
            with torch.no_grad():
                out = _call(fn, "extract_features", vgg, x, list(names))
        finally:
            for handle in probes:
                handle.remove()
        if out is None:
            raise _Fail("extract_features returned None", "did you forget the `return` statement?")
        if not isinstance(out, dict):
            raise _Fail(
                f"extract_features returned a {type(out).__name__}, not a dict",
                "return {name: tensor} with one entry per requested name.",
            )
        if set(out) != set(names):
            missing, extra = set(names) - set(out), set(out) - set(names)
            raise _Fail(
                "extract_features returned the wrong keys"
                + (f"; missing {sorted(missing)}" if missing else "")
                + (f"; not asked for {sorted(extra)}" if extra else ""),
                "use the requested names as keys, exactly one entry for each.",
            )
        leftover = [i for i, m in enumerate(vgg) if m._forward_hooks or m._forward_pre_hooks]
        if leftover:
            raise _Fail(
                f"extract_features left forward hooks on the network (modules {leftover[:5]})",
                "keep the handle that register_forward_hook returns and call handle.remove() "
                "when done (in a `finally:`), or every later forward pass keeps capturing.",
            )
        outputs = _ref_features(vgg, x, upto + 1)
        # ReLU and pooling outputs first: an off-by-one shows there, while a conv* value that
        # equals its ReLU's output can also mean "stored without a copy" (the in-place trap).
        for name in sorted(names, key=lambda n: n.startswith("conv")):
            got, i = out[name], index[name]
            want = outputs[i]
            if not isinstance(got, torch.Tensor):
                raise _Fail(f"extract_features gave {name} as a {type(got).__name__}")
            if got.shape == want.shape and _close(got, want):
                continue
            if name.startswith("conv") and _close(got, torch.relu(want)):
                raise _Fail(
                    f"{name} holds post-ReLU values: the in-place ReLU after it overwrote the "
                    "tensor you kept",
                    "store a copy (`h.clone()`), or run that ReLU out of place: torchvision's "
                    "ReLUs are nn.ReLU(inplace=True) and rewrite their input.",
                )
            for j in (i - 1, i + 1):
                other = outputs[j] if 0 <= j < len(outputs) else None
                if other is not None and got.shape == other.shape and _close(got, other):
                    who = next((k for k, v in index.items() if v == j), f"module {j}")
                    raise _Fail(
                        f"{name} is the output of {who} (index {j}), one module off",
                        f"{name} is vgg[{i}]: keep the output right after module {i} runs "
                        "(enumerate from 0).",
                    )
            if got.shape != want.shape:
                raise _Fail(
                    f"{name} has shape {list(got.shape)}, expected {list(want.shape)}",
                    f"{name} is the output of vgg[{i}]; count the modules from 0.",
                )
            raise _differs(f"extract_features[{name!r}]", got, want)
        message = "extract_features is correct: the output of each named layer, conv* before ReLU."
        if ran and max(ran) > upto:
            message += (
                f" Tip: it ran {max(ran) + 1} modules; stopping after vgg[{upto}] (the deepest "
                "layer asked for) saves the rest of the work."
            )
        return message

    return _run("extract_features", body)


# ---- the optimisation loop -----------------------------------------------------------------

_LOOP_STEPS = 6
_LOOP_LR = 0.05
_LBFGS_ITER = 4


class _Probe(torch.nn.Module):
    """A tiny frozen 'VGG' (float64, two conv+ReLU blocks) that remembers how it was called."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(17)
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1).double()
        self.conv2 = torch.nn.Conv2d(4, 6, 3, padding=1, stride=2).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
        self.requires_grad_(False)
        self.content, self.style = content, style
        self.target_calls: list[tuple[str, bool]] = []  # (which image, grad mode on?)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not x.requires_grad:
            for label, image in (("content", self.content), ("style", self.style)):
                if x.shape == image.shape and torch.equal(x.detach(), image):
                    self.target_calls.append((label, torch.is_grad_enabled()))
        a = torch.relu(self.conv1(x))
        b = torch.relu(self.conv2(a))
        return {"block1": a, "block2": b}


def _loop_loss(feats: dict, content_feats: dict, style_feats: dict) -> torch.Tensor:
    """alpha * 1/2 sum (F - P)^2 at block2 + beta * sum_l E_l over both blocks."""
    content = 0.5 * ((feats["block2"] - content_feats["block2"]) ** 2).sum()
    style = 0
    for name in ("block1", "block2"):
        f, s = feats[name], style_feats[name]
        style = style + _ref_style(f, s)
    return content + 1e2 * style


def _ref_loop(
    content: torch.Tensor, style: torch.Tensor, optimizer: str, mistake: str | None = None
) -> tuple[torch.Tensor, list[float]]:
    """The loop done right (``mistake=None``), or with one typical mistake, for diagnosis."""
    net = _Probe(content, style)
    with torch.no_grad():
        pc, ps = net(content), net(style)
    x = content.clone().requires_grad_(True)
    history: list[float] = []

    def evaluate() -> torch.Tensor:
        return _loop_loss(net(x), pc, ps)

    if optimizer == "adam":
        opt = torch.optim.Adam([x], lr=_LOOP_LR)
        for _ in range(_LOOP_STEPS):
            if mistake != "no_zero_grad":
                opt.zero_grad()
            loss = evaluate()
            loss.backward()
            if mistake != "log_after":
                history.append(loss.item())
            opt.step()
            if mistake != "no_clamp":
                with torch.no_grad():
                    x.clamp_(0, 1)
            if mistake == "log_after":
                with torch.no_grad():
                    history.append(evaluate().item())
        return x.detach(), history
    opt = torch.optim.LBFGS([x], max_iter=_LBFGS_ITER)

    def closure() -> torch.Tensor:
        if mistake == "clamp_in_closure":
            with torch.no_grad():
                x.clamp_(0, 1)
        if mistake != "no_zero_grad":
            opt.zero_grad()
        loss = evaluate()
        loss.backward()
        return loss

    for _ in range(_LOOP_STEPS):
        loss = opt.step(closure)
        if mistake == "log_after":
            with torch.no_grad():
                history.append(evaluate().item())
        else:
            history.append(float(loss.detach()))
    return x.detach().clamp(0, 1), history


_LOOP_MISTAKES = {
    "no_zero_grad": (
        "the gradients accumulate from step to step: optimizer.zero_grad() is missing",
        "call optimizer.zero_grad() before every loss.backward() (inside the closure for "
        "L-BFGS): backward adds to .grad, it does not overwrite it.",
    ),
    "log_after": (
        "history holds the loss measured after each update, not the loss of the step",
        "record loss.item() of the forward pass that computed the gradient (for L-BFGS the "
        "value optimizer.step(closure) returns); an extra forward pass after the step costs "
        "time and shifts the curve by one step.",
    ),
    "no_clamp": (
        "the pixels are never clamped (with Adam)",
        "after optimizer.step(), under torch.no_grad(), x.clamp_(0, 1) keeps every pixel in "
        "[0, 1].",
    ),
    "clamp_in_closure": (
        "the image is clamped inside the L-BFGS closure",
        "L-BFGS calls the closure several times per step at points of its own choosing; "
        "moving the point there spoils its line search and curvature estimate. Clamp the final "
        "image instead (or after optimizer.step(closure)).",
    ),
}


def check_loop(fn: Callable[..., tuple[torch.Tensor, list[float]]]) -> bool:
    """Check ``fn(extractor, loss_fn, content, style, steps, optimizer)``: the whole NST loop.

    ``extractor(x)`` -> ``{layer: features}`` (frozen); ``loss_fn(feats, content_feats,
    style_feats)`` -> the total loss; ``content``/``style`` ``[1, 3, H, W]`` in [0, 1];
    ``optimizer`` ``"adam"`` (``torch.optim.Adam([x], lr=0.05)``, clamp to [0, 1] after each
    step) or ``"lbfgs"`` (``torch.optim.LBFGS([x], max_iter=4)``, clamp only the result).
    Start from the content image. Return ``(image, history)``: ``history[k]`` the loss (a
    float) of step ``k + 1``, measured before its update. The checker runs both optimisers
    for 6 steps on a tiny network and names the typical mistake it finds: targets recomputed
    in the loop or with gradients, the network optimised instead of the image, a missing
    ``zero_grad``, logging after the step, clamping inside the L-BFGS closure.
    """

    def body() -> str:
        _callable(fn, "style_transfer")
        content = _inputs(18, 1, 3, 8, 8, low=0.0).double()
        style = _inputs(19, 1, 3, 8, 8, low=0.0).double()
        for optimizer in ("adam", "lbfgs"):
            _check_one_loop(fn, content, style, optimizer)
        return (
            "your loop is correct with Adam and with L-BFGS: targets once without gradients, "
            "only the pixels optimised, zero_grad every step, the loss logged before the update."
        )

    return _run("style_transfer", body)


def _check_one_loop(fn: Callable, content: torch.Tensor, style: torch.Tensor, opt: str) -> None:
    net = _Probe(content, style)
    weights = [p.detach().clone() for p in net.parameters()]
    name = f"style_transfer(..., optimizer={opt!r})"
    try:
        out = fn(net, _loop_loss, content.clone(), style.clone(), _LOOP_STEPS, opt)
    except Exception as err:  # noqa: BLE001 - any learner error becomes a hint
        raise _Fail(f"{name} raised {type(err).__name__}: {err}", _exception_hint(err)) from None
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise _Fail(f"{name} must return (image, history), got {type(out).__name__}")
    image, history = out
    if not isinstance(image, torch.Tensor) or image.shape != content.shape:
        raise _Fail(
            f"{name}: the image must be a tensor shaped like the content, {list(content.shape)}"
        )
    if any(not torch.equal(p, w) for p, w in zip(net.parameters(), weights, strict=True)):
        raise _Fail(
            "the network's weights changed: the optimiser was given the network's parameters",
            "optimise the image only: x = content.clone().requires_grad_(True) and "
            "torch.optim.Adam([x], ...); the network stays frozen.",
        )
    if torch.equal(image.detach(), content):
        raise _Fail(
            f"{name} returned the content image unchanged",
            "give the optimiser the image, [x] with x.requires_grad_(True), not the network's "
            "(frozen) parameters, and call optimizer.step() every step.",
        )
    calls = {
        label: [g for lbl, g in net.target_calls if lbl == label] for label in ("content", "style")
    }
    for label, grads in calls.items():
        if len(grads) > 1:
            raise _Fail(
                f"the {label} image went through the network {len(grads)} times: the targets "
                "are recomputed inside the loop",
                "compute content_feats and style_feats once, before the loop: the photo and the "
                "painting never change, so every extra pass is wasted time.",
            )
        if grads and grads[0]:
            raise _Fail(
                f"the {label} targets were computed with gradients enabled",
                "wrap the target computation in `with torch.no_grad():`: the targets are "
                "constants, and a graph kept for them costs memory for nothing.",
            )
    if not calls["content"]:
        raise _Fail(
            "the content image never went through the network: where do the content targets "
            "come from?",
            "content_feats = extractor(content), once, under torch.no_grad().",
        )
    if not isinstance(history, list | tuple) or len(history) != _LOOP_STEPS:
        got = len(history) if hasattr(history, "__len__") else type(history).__name__
        hint = "append one loss per step."
        if opt == "lbfgs" and isinstance(got, int) and got > _LOOP_STEPS:
            hint = (
                "append once per step, the value optimizer.step(closure) returns, not inside "
                "the closure (L-BFGS calls it several times per step)."
            )
        raise _Fail(f"{name}: history has {got} entries for {_LOOP_STEPS} steps", hint)
    if any(isinstance(h, torch.Tensor) for h in history):
        raise _Fail(
            "history holds tensors, not numbers",
            "append loss.item(): a tensor that requires grad keeps its whole graph (and the "
            "feature maps) alive until the end of the run.",
        )
    want_image, want_history = _ref_loop(content, style, opt)
    got_history = torch.tensor([float(h) for h in history], dtype=torch.float64)

    def same(img: torch.Tensor, hist: list[float]) -> bool:
        return _close(image.detach().double(), img, rtol=1e-5) and _close(
            got_history, torch.tensor(hist, dtype=torch.float64), rtol=1e-5
        )

    if same(want_image, want_history):
        return
    mistakes = ["no_zero_grad", "log_after"] + (
        ["no_clamp"] if opt == "adam" else ["clamp_in_closure"]
    )
    for mistake in mistakes:
        if same(*_ref_loop(content, style, opt, mistake)):
            raise _Fail(*_LOOP_MISTAKES[mistake])
    if _close(got_history[:1], torch.tensor(want_history[:1], dtype=torch.float64), rtol=1e-5):
        detail = "the first loss is right, later ones differ"
    else:
        detail = f"the first loss is {got_history[0].item():.6g}, expected {want_history[0]:.6g}"
    raise _Fail(
        f"{name} does not follow the expected loop ({detail})",
        "start from x = content.clone(); per step: zero_grad, forward, loss_fn, backward, log "
        "loss.item(), step; Adam(lr=0.05) with a clamp after the step, or LBFGS(max_iter=4) "
        "with the clamp only on the result.",
    )


# ---- self-test questions -----------------------------------------------------------------


def _norm_text(value: Any) -> str:
    return str(value).strip().strip("().").strip().lower()


def _matches(answer: Any, expected: Any, tol: float | None) -> bool:
    if isinstance(expected, bool):
        if isinstance(answer, str):
            text = _norm_text(answer)
            answer = {"true": True, "yes": True, "false": False, "no": False}.get(text, text)
        return answer is expected or (isinstance(answer, int) and answer == expected)
    if isinstance(expected, int | float):
        try:
            value = float(answer.item() if hasattr(answer, "item") else answer)
        except (TypeError, ValueError):
            return False
        if tol is None:
            return math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12)
        return abs(value - expected) <= tol
    if isinstance(expected, set | frozenset):
        if isinstance(answer, str):
            answer = [part for part in answer.replace(",", " ").split() if part]
        try:
            return {_norm_text(a) for a in answer} == {_norm_text(e) for e in expected}
        except TypeError:
            return False
    if isinstance(expected, list | tuple):
        if isinstance(answer, str) or not hasattr(answer, "__len__"):
            return False
        answer = list(answer)
        return len(answer) == len(expected) and all(
            _matches(a, e, tol) for a, e in zip(answer, expected, strict=True)
        )
    return _norm_text(answer) == _norm_text(expected)


def check_answer(
    answer: Any,
    expected: Any,
    *,
    tol: float | None = None,
    hint: str | None = None,
    explanation: str | None = None,
    accept: tuple[Any, ...] = (),
) -> bool:
    """Check a self-test answer, print ✅/❌ (with ``hint`` or ``explanation``), return a bool.

    ``expected`` may be a number (``tol`` is the absolute tolerance; default: equal to 6
    significant digits), a string (case, spaces, brackets and a final dot ignored, so ``"b"``
    matches ``"(B)"``), a bool (``"yes"``/``"no"`` accepted), a ``set`` of choices that must all
    be picked (order-free), or a tuple/list compared item by item (e.g. a shape). ``accept``
    lists further answers that also count as right (e.g. spellings).
    """
    if answer is None or answer is Ellipsis:
        print("❓ No answer yet: replace the `...` with your answer and run the cell again.")
        return False
    try:
        right = any(_matches(answer, e, tol) for e in (expected, *accept))
    except Exception:  # noqa: BLE001 - a quiz must never stop a notebook
        right = False
    if right:
        print("✅ Correct!" + (f" {explanation}" if explanation else ""))
    else:
        print(f"❌ Not quite ({answer!r})." + (f" Hint: {hint}" if hint else " Try again."))
    return right


_ASK = object()  # quiz(question_id, answer): the expected answer comes from nst_helpers.quizzes


def quiz(
    question: str,
    answer: Any,
    expected: Any = _ASK,
    hint: str | None = None,
    *,
    tol: float | None = None,
    explanation: str | None = None,
    accept: tuple[Any, ...] = (),
) -> bool:
    """Check a self-check answer; print ✅/❌ with feedback; return the verdict.

    ``quiz("02-inplace-relu", answer)`` looks the question up in ``nst_helpers.quizzes`` (so the
    notebook never shows the answer): a wrong answer gets the hint and, for a wrong option of a
    multiple-choice question, what that option gets wrong; a right one gets the explanation.
    The expected answer is never printed.

    ``quiz(text, answer, expected, hint)`` (an expected value given) prints ``text`` and then
    ``check_answer(answer, expected, ...)``, for questions a lecturer adds in a notebook.
    """
    if expected is not _ASK:
        print(question)
        return check_answer(
            answer, expected, tol=tol, hint=hint, explanation=explanation, accept=accept
        )
    from .course.quizzes import QUESTIONS

    q = QUESTIONS.get(question)
    if q is None:
        known = ", ".join(sorted(k for k in QUESTIONS if k[:2] == question[:2])) or "none"
        raise KeyError(f"no self-check question {question!r}; this chapter's ids: {known}")
    if answer is None or answer is Ellipsis:
        return check_answer(answer, q.expected)
    if q.choices and _norm_text(answer) not in q.choices:
        print(f"❌ Answer with one letter: {' or '.join(repr(c) for c in q.choices)}.")
        return False
    try:
        right = any(_matches(answer, e, q.tol) for e in (q.expected, *q.accept))
    except Exception:  # noqa: BLE001 - a quiz must never stop a notebook
        right = False
    if right:
        print(f"✅ Correct! {q.explanation}")
        return True
    why = q.why.get(_norm_text(answer)) if q.choices else None
    print(f"❌ Not quite ({answer!r})." + (f" {why[0].upper()}{why[1:]}" if why else ""))
    print(f"   Hint: {q.hint}")
    return False


# ---- instance normalisation (chapter 08) -----------------------------------------------

_IN_EPS = 1e-5


def _ref_instance_norm(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + _IN_EPS)


def check_instance_norm(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)``: ``[B, C, H, W]`` -> ``(x - mean) / sqrt(var + 1e-5)`` per image and channel.

    ``mean`` and the biased ``var`` are taken over the ``H * W`` positions of each image's
    channel separately (Ulyanov et al., 2016), as ``torch.nn.InstanceNorm2d`` does without
    its learnt scale and shift.
    """

    def body() -> str:
        _callable(fn, "instance_norm")
        x = _inputs(21, 3, 4, 5, 6) * 3 + 1
        x[1, 2] = 0.5  # a flat channel: its variance is 0, only eps keeps the division finite
        xd = x.double()
        want = _ref_instance_norm(xd)
        out = _as_tensor(_call(fn, "instance_norm", x), "instance_norm", want)
        if out.shape != x.shape:
            raise _Fail(
                f"instance_norm returned shape {list(out.shape)} for input {list(x.shape)}",
                "normalise each value: the output has the input's shape [B, C, H, W]; use "
                "keepdim=True so the statistics broadcast.",
            )
        if not torch.isfinite(out).all():
            raise _Fail(
                "instance_norm gives inf or NaN for a channel whose values are all equal",
                "add eps = 1e-5 to the variance *inside* the square root: sqrt(var + eps).",
            )
        if not _close(out, want):
            dims_b = (xd - xd.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
                xd.var((0, 2, 3), unbiased=False, keepdim=True) + _IN_EPS
            )
            dims_l = (xd - xd.mean((1, 2, 3), keepdim=True)) / torch.sqrt(
                xd.var((1, 2, 3), unbiased=False, keepdim=True) + _IN_EPS
            )
            centred = xd - xd.mean((2, 3), keepdim=True)
            unbiased = centred / torch.sqrt(xd.var((2, 3), keepdim=True) + _IN_EPS)
            _diagnose(out, [
                (dims_b, "instance_norm uses batch statistics (mean over B, H, W: batch norm)",
                 "take mean and variance over dim=(2, 3) only: each image's channel on its own."),
                (dims_l, "instance_norm uses layer statistics (mean over C, H, W: layer norm)",
                 "take mean and variance over dim=(2, 3) only, separately for every channel."),
                (unbiased, "instance_norm uses the unbiased variance (divides by M - 1)",
                 "use the biased variance, the plain mean of the squared deviations "
                 "(unbiased=False), as InstanceNorm2d does."),
                (centred, "instance_norm only subtracts the mean",
                 "also divide by sqrt(var + eps): unit variance per channel."),
                (xd / torch.sqrt(xd.var((2, 3), unbiased=False, keepdim=True) + _IN_EPS),
                 "instance_norm only divides by the standard deviation",
                 "subtract each channel's mean first."),
            ])  # fmt: skip
            raise _differs("instance_norm", out, want)
        # Weighted: a plain sum of normalised values is constant (0), its gradient meaningless.
        weights = _inputs(23, 2, 3, 4, 4)
        _check_grad(
            lambda t: fn(t) * weights, "instance_norm", [_inputs(22, 2, 3, 4, 4)],
            lambda t: _ref_instance_norm(t) * weights.double(),
        )  # fmt: skip
        return (
            "instance_norm is correct: each image's channels get zero mean and unit variance, "
            "whatever the batch holds."
        )

    return _run("instance_norm", body)


# ---- exercises added by issue 20 ----------------------------------------------------------

_NEW_EXERCISES = ("check_relative_loss", "check_training_step")


def __getattr__(name: str) -> Any:
    """``check_relative_loss`` and ``check_training_step`` live in ``checks_new_exercises``
    (their own file, to be merged into issue 21's per-chapter modules); imported on first use
    so that either module can be imported first."""
    if name in _NEW_EXERCISES:
        from . import checks_new_exercises

        return getattr(checks_new_exercises, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
