"""The one rule every exercise checker obeys, and the plumbing it needs.

**Success only when the answer matches the reference on every probe**: the same values (within
float32 rounding), shape and dtype, with the inputs left untouched and, where the exercise feeds
an optimiser, the gradient reaching the input. Any other answer fails, and the first line of the
feedback says why, in this order:

1. what the learner's code did on its own terms: an exception (which line of the learner's code
   raised it, and the shapes of the tensors there), an input changed in place, no tensor
   returned;
2. the first known mistake (a published convention or a classic slip) that reproduces the
   answer on **every** probe, never one that merely gives the same number on one probe;
3. a fitted family of mistakes (e.g. a normaliser ``c N^a M^b``) that holds on every probe;
4. a wrong shape;
5. otherwise, honestly: how far the answer is from the reference, and where.

``judge`` is that rule for the exercises whose answer is a tensor; ``check_loop`` and
``check_feature_extractor`` apply it to a loop and to a dict of features.
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

RTOL = 1e-4  # a right answer computed in float32 is this close to the float64 reference
MISTAKE_RTOL = 1e-3  # a mistake must reproduce the answer this closely, on every probe


class Fail(Exception):
    """One failed check: the first line (``problem``), an optional detail line and a hint."""

    def __init__(self, problem: str, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.hint, self.detail = problem, hint, detail


@dataclass(frozen=True)
class Probe:
    """One input to the learner's function: the arguments and how to name them in feedback."""

    args: tuple[Any, ...]
    label: str  # e.g. "features [2, 4, 3, 6]"

    def double(self) -> tuple[Any, ...]:
        """The arguments in float64 (what references and mistakes are computed from)."""
        return tuple(a.detach().double() if isinstance(a, torch.Tensor) else a for a in self.args)


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: what it computes (from the probe's float64 arguments) and why."""

    compute: Callable[..., torch.Tensor]
    problem: str
    hint: str


@dataclass(frozen=True)
class Raised:
    """An exception from the learner's code, located: for exercise-specific explanations."""

    err: Exception
    where: str | None  # "line N: `src`" in the learner's code, or None
    shapes: dict[str, list[int]] = field(default_factory=dict)  # tensors at that line

    @property
    def message(self) -> str:
        """The error's first sentence (torch's messages can run to a paragraph)."""
        text = str(self.err).strip().split("\n")[0]
        first, dot, rest = text.partition(". ")
        return first + "." if dot and len(text) > 120 else text

    def broadcast(self) -> tuple[int, int, int] | None:
        """``(size_a, size_b, dim)`` of a broadcasting error, else None."""
        m = re.search(
            r"tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at "
            r"non-singleton dimension (\d+)",
            str(self.err),
        )
        return tuple(int(g) for g in m.groups()) if m else None  # type: ignore[return-value]


# An exercise's explanation of an exception: (first line or None, hint or None).
Explain = Callable[[Raised, Probe], tuple[str | None, str | None]]


def inputs(seed: int, *shape: int, low: float | None = None) -> torch.Tensor:
    """Deterministic float32 input (the chapters' dtype) that leaves the global RNG untouched."""
    gen = torch.Generator().manual_seed(seed)
    if low is not None:  # uniform in [low, 1]
        return low + (1 - low) * torch.rand(*shape, generator=gen)
    return torch.randn(*shape, generator=gen)


def shape(t: torch.Tensor | torch.Size) -> str:
    return str(list(t.shape if isinstance(t, torch.Tensor) else t))


def close(got: torch.Tensor, want: torch.Tensor, rtol: float = RTOL) -> bool:
    """Same shape and values within ``rtol`` of the reference's largest entry."""
    if got.is_complex() or want.is_complex():
        return False
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    if got.shape != want.shape or not torch.isfinite(got).all() or not torch.isfinite(want).all():
        return False
    scale = want.abs().max().item() if want.numel() else 0.0
    return torch.allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-12))


# ---- calling the learner's code ---------------------------------------------------------------

_LIBRARY_DIRS = tuple(
    str(Path(p).resolve())
    for p in {
        Path(sys.modules[__name__.split(".")[0]].__file__).parent,  # nst_helpers, which the
        # learner's code may call: the learner's line is the one that called it
        Path(torch.__file__).parent,
        Path(os.__file__).parent,  # the standard library
        *(sysconfig.get_paths()[k] for k in ("purelib", "platlib")),
    }
)


def _learner_frame(tb: TracebackType | None) -> TracebackType | None:
    """The innermost traceback entry in the learner's own code (not torch, not this package)."""
    found = None
    while tb is not None:
        filename = str(Path(tb.tb_frame.f_code.co_filename).resolve())
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith("<frozen"):
            found = tb
        tb = tb.tb_next
    return found


def locate(err: Exception) -> Raised:
    """Where in the learner's code ``err`` was raised, and the shapes of the tensors there."""
    tb = _learner_frame(err.__traceback__)
    if tb is None:
        return Raised(err, None)
    code = tb.tb_frame.f_code
    src = linecache.getline(code.co_filename, tb.tb_lineno).strip()
    where = f"line {tb.tb_lineno}: `{src}`" if src else f"line {tb.tb_lineno} of {code.co_name}"
    shapes = {
        k: list(v.shape) for k, v in tb.tb_frame.f_locals.items() if isinstance(v, torch.Tensor)
    }
    return Raised(err, where, shapes)


def _generic_hint(raised: Raised) -> tuple[str | None, str]:
    """First line (or None) and hint for exceptions whose cause is the same in every exercise."""
    msg = str(raised.err)
    if "in-place operation" in msg and "leaf" in msg:
        return "changes a tensor that requires grad in place", (
            "compute a new tensor (`x - m`) instead of changing one (`x -= m`, `.sub_()`, "
            "`.clamp_()`); where a change in place is meant, do it under torch.no_grad()."
        )
    if "numpy()" in msg and "requires grad" in msg:
        return "converts a tensor that requires grad to NumPy", (
            "stay in torch: NumPy cuts the gradient the optimiser needs."
        )
    if "same device" in msg or "expected device" in msg:
        return None, (
            "make new tensors on the input's device, e.g. `torch.tensor(..., device=x.device)`, "
            "so the function works on CPU and GPU alike."
        )
    if "view size is not compatible" in msg:
        return None, "use `.reshape(...)` instead of `.view(...)`: the tensor is not contiguous."
    if "invalid for input of size" in msg:
        return None, "the reshape does not fit: take the sizes from x.shape (B, C, H, W)."
    if "cannot be multiplied" in msg or "batch1" in msg or "batch2" in msg:
        return None, (
            "a matrix product needs matching inner sizes: [.., n, k] @ [.., k, m]; compare the "
            "shapes listed above."
        )
    if raised.broadcast():
        return None, (
            "these shapes do not broadcast: compared axis by axis from the right, each pair of "
            "sizes must be equal or one of them 1. Compare the shapes listed above."
        )
    return None, "run the function on an input of the shape above to reproduce the error there."


def exception_fail(
    err: Exception, name: str, probe: Probe, explain: Explain | None, signature: str
) -> Fail:
    """The ``Fail`` for an exception: its cause if known, the learner's line, the shapes."""
    if isinstance(err, NotImplementedError):  # the exercise's stub: nothing to locate
        return Fail(
            f"{name} is not written yet: it raises NotImplementedError",
            "replace the `raise NotImplementedError(...)` line with your code.",
        )
    raised = locate(err)
    kind = type(err).__name__
    if raised.where is None and isinstance(err, TypeError) and "argument" in raised.message:
        return Fail(
            f"{name} raised TypeError when called as {signature}: {raised.message}",
            f"the exercise calls {signature}; define the function with those parameters.",
        )
    problem, hint = explain(raised, probe) if explain else (None, None)
    generic_problem, generic_hint = _generic_hint(raised)
    where = f" at {raised.where}" if raised.where else ""
    if problem is None and generic_problem is not None:
        problem = f"{name} {generic_problem}"
    shapes = ", ".join(f"{k} {v}" for k, v in list(raised.shapes.items())[:6])
    detail = f"Input: {probe.label}" + (f"; tensors at that line: {shapes}" if shapes else "")
    if problem is not None:
        first = f"{problem}{where.replace(' at ', ', at ', 1)}"
        detail = f"{kind}: {raised.message}\n   {detail}".replace(": \n", "\n")
    else:
        first = f"{name} raised {kind}{where}: {raised.message}".rstrip(": ")
    return Fail(first, hint or generic_hint, detail)


def call(
    fn: Callable,
    name: str,
    probe: Probe,
    explain: Explain | None = None,
    signature: str = "",
) -> Any:
    """Call the learner's ``fn``; exceptions and changes to its input tensors become ``Fail``."""
    tensors = [a for a in probe.args if isinstance(a, torch.Tensor)]
    before = [a.detach().clone() for a in tensors]
    try:
        out = fn(*probe.args)
    except Exception as err:  # noqa: BLE001 - any learner error becomes a hint
        raise exception_fail(err, name, probe, explain, signature or f"{name}(...)") from None
    for a, b in zip(tensors, before, strict=True):
        if a.shape != b.shape or not torch.equal(a.detach(), b):
            raise Fail(
                f"{name} modified its input in place",
                "compute a new tensor (`x - m`) instead of changing the argument (`x -= m`, "
                "`.sub_()`, `.div_()`): the caller still needs the original.",
            )
    return out


def as_tensor(out: Any, name: str, want: torch.Tensor) -> torch.Tensor:
    """Insist on a tensor; for numbers and arrays, say whether at least the value was right."""
    if isinstance(out, torch.Tensor):
        return out
    if out is None:
        raise Fail(f"{name} returned None", "did you forget the `return` statement?")
    if isinstance(out, int | float) and not isinstance(out, bool):
        value, kind = torch.tensor(float(out), dtype=torch.float64), "a Python number"
    elif type(out).__module__ == "numpy":
        value, kind = torch.as_tensor(out).double(), "a NumPy array"
    else:
        raise Fail(f"{name} returned a {type(out).__name__}, not a torch.Tensor")
    verdict = "Its value is right, but" if close(value, want) else "Also,"
    raise Fail(
        f"{name} returned {kind} instead of a torch.Tensor",
        f"{verdict} `.item()`, `float()` or `.numpy()` cut the result off from autograd, so the "
        "optimiser could not get a gradient: return the tensor itself.",
    )


# ---- the verdict ------------------------------------------------------------------------------


def _reproduces(mistake: Callable[..., torch.Tensor], outs: list, probes: Sequence[Probe]) -> bool:
    """Whether ``mistake`` gives the learner's answer on every probe."""
    for out, probe in zip(outs, probes, strict=True):
        try:
            value = mistake(*probe.double())
        except Exception:  # noqa: BLE001 - a mistake that cannot apply to this probe
            return False
        if not isinstance(out, torch.Tensor) or not close(out, value, MISTAKE_RTOL):
            return False
    return True


def differs(name: str, outs: list[torch.Tensor], wants: list[torch.Tensor], probes) -> Fail:
    """The honest failure: the largest difference from the reference, and where it is."""
    for out, want, probe in zip(outs, wants, probes, strict=True):
        if close(out, want):
            continue
        g, w = out.detach().double().cpu(), want.double().cpu()
        gap = (g - w).abs().nan_to_num(float("inf"))
        i = int(gap.flatten().argmax())
        index = list(torch.unravel_index(torch.tensor(i), g.shape)) if g.dim() else []
        at = f" at {[int(k) for k in index]}" if index else ""
        return Fail(
            f"{name} differs from the reference by {gap.flatten()[i].item():.3g}{at} "
            f"(got {g.flatten()[i].item():.6g}, expected {w.flatten()[i].item():.6g}) "
            f"for {probe.label}",
            "no known mistake gives these values: compare your code with the formula in the "
            "text, one term at a time, on a small input.",
        )
    raise AssertionError("differs() called for a right answer")


def _generic_mistakes(name: str, probes: Sequence[Probe]) -> list[Mistake]:
    which = "its input" if len(probes[0].args) == 1 else "its first input"
    return [
        Mistake(
            lambda *a: a[0],
            f"{name} returns {which} unchanged",
            "the function must compute something from it; see the formula in the text.",
        ),
    ]


def _check_dtype(name: str, outs: list[torch.Tensor], probes: Sequence[Probe]) -> None:
    for out, probe in zip(outs, probes, strict=True):
        x = next(a for a in probe.args if isinstance(a, torch.Tensor))
        if out.dtype != x.dtype:
            raise Fail(
                f"{name}'s values are right but it returns {str(out.dtype)[6:]} for "
                f"{str(x.dtype)[6:]} input",
                "float64 comes from NumPy (np.array, np.float64 numbers) or `.double()`: build "
                "constants with `torch.tensor(..., dtype=x.dtype, device=x.device)` and stay in "
                "torch, so the result keeps the input's dtype (VGG's float32 weights refuse "
                "float64 images).",
            )
        if out.device != x.device:
            raise Fail(
                f"{name} returns a tensor on {out.device} for an input on {x.device}",
                "create every constant on the input's device: `device=x.device`.",
            )


@dataclass(frozen=True)
class Grad:
    """Where gradient flow matters: ``d sum(out * weight) / d args[0]`` must match the reference."""

    probe: Probe
    weight: torch.Tensor | None = None  # None: a scalar output, its gradient directly


def check_grad(
    fn: Callable, name: str, grad: Grad, reference: Callable, explain: Explain | None = None
) -> None:
    """The learner's result must be differentiable w.r.t. its first input, with the right gradient."""
    x = grad.probe.args[0].clone().requires_grad_(True)
    probe = Probe((x, *grad.probe.args[1:]), grad.probe.label)
    out = call(fn, name, probe, explain)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise Fail(
            f"{name}'s result is cut off from autograd: no gradient reaches its input "
            "(gradients lost)",
            "avoid `.detach()`, `.item()`, `.numpy()`, `torch.tensor(...)` and `with "
            "torch.no_grad()` inside the function: the optimiser needs the gradient.",
        )
    weight = 1.0 if grad.weight is None else grad.weight
    try:
        (out * weight).sum().backward()
    except RuntimeError as err:
        raise Fail(f"{name}'s result cannot be differentiated: {err}".splitlines()[0]) from None
    x_ref = grad.probe.args[0].double().clone().requires_grad_(True)
    weight_ref = 1.0 if grad.weight is None else grad.weight.double()
    (reference(x_ref, *probe.double()[1:]) * weight_ref).sum().backward()
    if x.grad is None or not x.grad.abs().sum():
        raise Fail(
            f"{name}'s values are right but its gradient is not: none reaches its input (the "
            "result is cut off from autograd)",
            "something in the function detaches the result (`.detach()`, `torch.tensor(...)`, "
            "`.data`); use plain torch operations.",
        )
    if not close(x.grad, x_ref.grad):
        raise Fail(
            f"{name}'s values are right but its gradient is not",
            "something in the function is cut off from autograd; use plain torch operations.",
        )


def judge(
    name: str,
    fn: Callable,
    probes: Sequence[Probe],
    reference: Callable[..., torch.Tensor],
    *,
    mistakes: Sequence[Mistake] = (),
    fits: Sequence[Callable[[list, list, Sequence[Probe]], Fail | None]] = (),
    shape_hint: Callable[[torch.Tensor, Probe], str | None] | None = None,
    explain: Explain | None = None,
    signature: str = "",
    grad: Grad | None = None,
    extra: Sequence[tuple[Probe, str]] = (),
) -> None:
    """Apply the rule (module docstring) to a function whose answer is a tensor; raise ``Fail``.

    ``reference`` and every ``Mistake`` get a probe's arguments in float64. ``extra`` probes
    (with a sentence saying why they matter) are tried once the main probes are right.
    """
    wants = [reference(*p.double()) for p in probes]
    outs: list[Any] = []
    raised: list[tuple[Fail, Probe]] = []
    for i, (probe, want) in enumerate(zip(probes, wants, strict=True)):
        try:
            outs.append(as_tensor(call(fn, name, probe, explain, signature), name, want))
        except Fail as fail:
            if i == 0 or "modified its input" in fail.problem:
                raise
            outs.append(None)
            raised.append((fail, probe))
    got = [(o, w, p) for o, w, p in zip(outs, wants, probes, strict=True) if o is not None]
    if all(close(o, w) for o, w, _ in got):
        if raised:
            fail, probe = raised[0]
            fail.problem = f"{fail.problem} (for {probe.label}; the other inputs work)"
            raise fail
        _check_dtype(name, outs, probes)
        if grad is not None:
            check_grad(fn, name, grad, reference, explain)
        for probe, why in extra:
            _extra(fn, name, probe, why, reference, explain, signature)
        return
    if not raised:
        if all(o.shape == w.shape and not o.detach().abs().sum() for o, w, _ in got):
            raise Fail(f"{name} returns zeros everywhere", "compute the formula from the inputs.")
        for mistake in [*_generic_mistakes(name, probes), *mistakes]:
            if _reproduces(mistake.compute, outs, probes):
                raise Fail(mistake.problem, mistake.hint)
        for fit in fits:
            fail = fit(outs, wants, probes)
            if fail is not None:
                raise fail
    for o, w, p in got:
        if o.shape != w.shape:
            hint = (shape_hint(o, p) if shape_hint else None) or "see the exercise for the shape."
            if w.dim() == 0:
                problem = f"{name} returned a tensor of shape {shape(o)}, not a single number"
                raise Fail(f"{problem} (a 0-dim tensor) for {p.label}", hint)
            raise Fail(f"{name} returned shape {shape(o)} for {p.label}; expected {shape(w)}", hint)
    if raised:
        raise raised[0][0]
    raise differs(name, *zip(*got, strict=True))


def _extra(fn, name, probe: Probe, why: str, reference, explain, signature) -> None:
    """An extra probe, tried once the answer is right on the main ones."""
    try:
        out = as_tensor(call(fn, name, probe, explain, signature), name, reference(*probe.double()))
    except Fail as fail:
        fail.problem = f"{name} is right on plain inputs but not on {probe.label}: {fail.problem}"
        fail.hint = f"{why} {fail.hint or ''}".strip()
        raise
    want = reference(*probe.double())
    if not close(out, want):
        fail = differs(name, [out], [want], [probe])
        raise Fail(f"{name} is right on plain inputs but not on {probe.label}", why, fail.problem)
    _check_dtype(name, [out], [probe])


def run(title: str, body: Callable[[], str]) -> bool:
    """Print the verdict of one checker (✅/❌, the first line names the cause); never raise."""
    try:
        message = body()
    except Fail as fail:
        print(f"❌ {fail.problem}")
        if fail.detail:
            print(f"   {fail.detail}")
        if fail.hint:
            print(f"   Hint: {fail.hint}")
        return False
    except Exception as err:  # noqa: BLE001 - a checker must never stop a notebook
        print(f"❌ {title}: the checker could not test your function ({type(err).__name__}: {err})")
        print("   Hint: make sure you pass the function itself, e.g. check(my_fn), not my_fn().")
        return False
    print(f"✅ {message}")
    return True


def require_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise Fail(
            f"expected a function to check, got {type(fn).__name__}",
            f"pass the function itself: check_{name}({name}), without calling it.",
        )
