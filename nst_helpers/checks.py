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
  their Grams, ``N = C`` and ``M = H * W`` -> 0-dim tensor.

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


def _call(fn: Callable, name: str, *args: torch.Tensor) -> Any:
    """Call the learner's ``fn``, turning exceptions and in-place edits into ``_Fail``."""
    before = [a.detach().clone() for a in args]
    try:
        out = fn(*args)
    except Exception as err:  # noqa: BLE001 - any learner error becomes a hint
        raise _Fail(
            f"{name} raised {type(err).__name__}: {err}".rstrip(": "), _exception_hint(err)
        ) from None
    for a, b in zip(args, before, strict=True):
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
    if got.shape != want.shape or not torch.isfinite(got).all():
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
    if w.abs().sum() > 0 and torch.isfinite(g).all():
        ratio = (g.abs().sum() / w.abs().sum()).item()
        if not math.isclose(ratio, 1.0, rel_tol=1e-3):
            detail += f"; your values are about {ratio:.4g} x the expected ones"
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


# ---- style loss --------------------------------------------------------------------------


def _ref_style(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    _, n, h, w = f.shape
    m = h * w
    return ((_ref_gram(f) - _ref_gram(a)) ** 2).sum() / (4 * n**2 * m**2)


def check_style_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(F, A)``: one layer's style loss ``E_l = sum (G - A)^2 / (4 N^2 M^2)``.

    ``F`` and ``A`` are the generated and the style image's features, both ``[1, C, H, W]``
    (``N = C`` maps of ``M = H * W`` positions); the Grams are ``F F^T`` per image.
    """

    def body() -> str:
        _callable(fn, "style_loss")
        for seed, shape in ((8, (1, 3, 4, 5)), (9, (1, 4, 6, 3))):
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
            norm = "1 / (4 N^2 M^2) with N = C channels and M = H * W positions"
            _diagnose(out, [
                (sq, "style_loss is missing the normalisation 1 / (4 N^2 M^2)",
                 f"divide the summed squared Gram difference by 4 N^2 M^2 ({norm})."),
                (sq / (n**2 * m**2), "style_loss is 4x too large: the 4 in 4 N^2 M^2 is missing",
                 f"divide by 4 N^2 M^2 ({norm})."),
                (sq / (4 * n * m), "style_loss divides by 4 N M instead of 4 N^2 M^2",
                 "both N and M are squared: the Gram's entries grow with M, and there are "
                 "N^2 of them."),
                (sq / (n * m), "style_loss divides by N M instead of 4 N^2 M^2",
                 f"divide by 4 N^2 M^2 ({norm})."),
                (sq / (4 * n**2 * m**2) / (n**2 * m**2),
                 "style_loss normalises twice (Grams divided by N M and then 1 / (4 N^2 M^2))",
                 "use unnormalised Grams G = F F^T; only the loss divides by 4 N^2 M^2."),
                (sq / (4 * n**2 * h**2), "style_loss uses M = H instead of M = H * W",
                 "M is the number of positions, H * W."),
                (sq / (4 * n**2 * w**2), "style_loss uses M = W instead of M = H * W",
                 "M is the number of positions, H * W."),
                (sq / n**2, "style_loss takes the mean over the Gram entries (like F.mse_loss)",
                 f"sum the squared differences, then divide by 4 N^2 M^2 ({norm})."),
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
            raise _differs("style_loss", out, want)
        a = _inputs(108, 1, 3, 4, 5)
        _check_grad(fn, "style_loss", [_inputs(8, 1, 3, 4, 5), a], _ref_style)
        return "style_loss is correct: sum (G - A)^2 / (4 N^2 M^2), a differentiable scalar."

    return _run("style_loss", body)


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
    from .quizzes import QUESTIONS

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
