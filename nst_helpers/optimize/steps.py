"""One optimisation step with Adam or L-BFGS, and what each needs around it.

A step evaluates the loss at the current image (``evaluate``: forward, backward, fp16 loss
scaling), offers that loss to the best-image tracker and moves the image. Both optimisers
score the image at the *start* of the step, so record ``k`` holds the loss of the image after
step ``k - 1``; the image after the last step is scored by the loop.

* ``AdamStep``: one evaluation, one update, then the pixels are clamped to their range.
* ``LbfgsStep``: ``torch.optim.LBFGS`` with one real iteration per step (``max_iter=1``), a
  strong-Wolfe line search and no convergence tests (the step budget decides when to stop).
  Its line search ends on the point it accepted, and the next step's first evaluation asks for
  that same point again: an evaluation cache answers it from memory (one forward-backward
  pass saved per step). Its image is not clamped between steps: moving the point behind its
  back would spoil the curvature pairs; the output is clamped when it is made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .scaler import LossScaler
from .state import Best

Losses = dict[str, torch.Tensor]
"""``{"total": scalar, "content": ..., "style": ..., "tv": ..., "style/<layer>": ...}``"""
LossFn = Callable[[torch.Tensor], Losses]
"""The loss of an image ``[1, 3, H, W]``, differentiable (see ``problem.Problem.loss_fn``)."""
MAX_SCALE_TRIES = 30
"""fp16: backward passes tried at ever halved loss scales before a step is skipped."""
LBFGS_HISTORY = 50


class NonFiniteStep(FloatingPointError):
    """The loss at the start of step ``step`` was ``value`` (NaN or infinite)."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(step, value)
        self.step, self.value = step, value


def make_optimizer(
    name: str, lr: float, param, *, capturable: bool = False
) -> torch.optim.Optimizer:
    """Adam, or L-BFGS set up so that each ``.step()`` is one real iteration; ``capturable``:
    Adam keeps its step count on the device, as a CUDA graph of the step needs."""
    if name == "adam":
        return torch.optim.Adam(param.parameters(), lr=lr, capturable=capturable)
    # Zero tolerances: the caller's step budget decides when to stop, not L-BFGS's own
    # convergence tests (which quit at once on the small gradients of style losses).
    # max_eval is the line search's budget; its default (max_iter * 5/4 = 1) leaves none.
    return torch.optim.LBFGS(
        param.parameters(),
        lr=lr,
        max_iter=1,
        max_eval=25,
        history_size=LBFGS_HISTORY,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )


def carry_adam_moments(old: torch.optim.Optimizer, new: torch.optim.Optimizer) -> None:
    """Warm-start Adam at a new scale with the last scale's moments, resized like the image.

    As crowsonkb/style-transfer-pytorch does: the first moment bicubic, the second bilinear and
    kept >= 0 (it is a mean of squares), the step count kept so bias correction goes on.
    Only between Adam optimisers of same-shaped parameters (``[1, 3, H, W]`` pixels).
    """
    if not (isinstance(old, torch.optim.Adam) and isinstance(new, torch.optim.Adam)):
        return
    pairs = zip(old.param_groups[0]["params"], new.param_groups[0]["params"], strict=True)
    for p_old, p_new in pairs:
        state = old.state.get(p_old)
        if not state or p_old.dim() != 4 or p_old.shape[:2] != p_new.shape[:2]:
            continue
        size = p_new.shape[-2:]
        first = F.interpolate(state["exp_avg"], size=size, mode="bicubic", align_corners=False)
        second = F.interpolate(state["exp_avg_sq"], size=size, mode="bilinear", align_corners=False)
        # A capturable Adam keeps its step count beside the pixels, any other on the CPU.
        step_device = p_new.device if new.defaults.get("capturable") else "cpu"
        new.state[p_new] = {
            "step": state["step"].detach().to(step_device, torch.float32, copy=True),
            "exp_avg": first.contiguous(),
            "exp_avg_sq": second.clamp_min(0).contiguous(),
        }


def evaluate(param, opt, loss_fn: LossFn, scaler: LossScaler | None) -> tuple[Losses, bool]:
    """The losses at the current image (detached), gradients left in the parameters' ``.grad``.

    With a ``scaler`` (fp16) the backward pass is retried at halved loss scales until its
    gradients are finite; if none is, the gradients are zero and the second value is ``True``
    (skip this update: never apply inf gradients). A non-finite loss is back-propagated as it
    is and left for the caller to report: no scale helps it.
    """
    for _ in range(MAX_SCALE_TRIES):
        opt.zero_grad(set_to_none=True)
        out = loss_fn(param.image())
        if scaler is None or not torch.isfinite(out["total"]):
            out["total"].backward()
            return _detached(out), False
        if scaler.backward(out["total"], param.parameters()):
            return _detached(out), False
    for p in param.parameters():
        p.grad = torch.zeros_like(p)
    return _detached(out), True


def _detached(out: Losses) -> Losses:
    return {k: v.detach() for k, v in out.items()}


def _floats(out: Losses) -> dict[str, float]:
    """Every term as a float, in one device-to-host copy (a sync per term stalls a GPU)."""
    return dict(zip(out, torch.stack(list(out.values())).tolist(), strict=True))


class Step:
    """A step of ``opt`` on ``param`` (a parameterisation) against ``loss_fn``; the start
    point's loss goes to ``best``; ``scaler`` scales fp16 losses (``None``: no scaling)."""

    def __init__(self, param, opt, loss_fn: LossFn, scaler: LossScaler | None, best: Best):
        self.param, self.opt, self.loss_fn = param, opt, loss_fn
        self.scaler, self.best = scaler, best


class AdamStep(Step):
    """``step(k)``: score the image, keep it if best, take one update, clamp. For Adam, or any
    optimiser that steps on the gradient alone."""

    def __call__(self, step: int) -> tuple[dict[str, float], dict[str, Any]]:
        """``(loss terms, extra record fields)`` of step ``step``; ``NonFiniteStep`` if the
        loss is NaN or infinite (nothing is updated then)."""
        x_before = self.param.image().detach()
        out, skipped = evaluate(self.param, self.opt, self.loss_fn, self.scaler)
        total = out["total"].item()
        if math.isfinite(total):
            self.best.offer(x_before, total, step - 1)  # before the update moves x_before
            if not skipped:
                self.opt.step()
        values = _floats(out)
        if not math.isfinite(values["total"]):
            raise NonFiniteStep(step, values["total"])
        self.param.project_()
        return values, {"skipped": True} if skipped else {}


class LbfgsStep(Step):
    """``step(k)``: one L-BFGS iteration (a line search of up to 25 evaluations), its start
    point kept if best. Remembers its last evaluation for the next step's first question."""

    def __init__(self, param, opt, loss_fn: LossFn, scaler: LossScaler | None, best: Best):
        super().__init__(param, opt, loss_fn, scaler, best)
        self._cache: tuple[list[torch.Tensor], list[torch.Tensor], Losses] | None = None

    def __call__(self, step: int) -> tuple[dict[str, float], dict[str, Any]]:
        """As ``AdamStep``; the extra fields say how many evaluations the step cost."""
        first: Losses | None = None
        evals, skipped = 0, False

        def closure() -> torch.Tensor:
            nonlocal first, evals, skipped
            out = self._cached()
            if out is None:
                evals += 1
                out, overflowed = evaluate(self.param, self.opt, self.loss_fn, self.scaler)
                skipped = skipped or overflowed
                params = self.param.parameters()
                self._cache = (
                    [p.detach().clone() for p in params],
                    [p.grad.clone() for p in params],
                    out,
                )
            first = out if first is None else first
            return out["total"]

        x_before = self.param.image().detach().clone()  # the line search moves it in place
        self.opt.step(closure)
        values = _floats(first)
        if not math.isfinite(values["total"]):
            raise NonFiniteStep(step, values["total"])
        self.best.offer(x_before, values["total"], step - 1)
        return values, {"evals": evals, **({"skipped": True} if skipped else {})}

    def _cached(self) -> Losses | None:
        """The last evaluation, with its gradients put back, if it was at the current point."""
        if self._cache is None:
            return None
        xs, grads, out = self._cache
        params = self.param.parameters()
        if not all(torch.equal(p, x) for p, x in zip(params, xs, strict=True)):
            return None
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        return out


def make_step(optimizer: str, param, opt, loss_fn: LossFn, scaler, best: Best) -> Step:
    """The step of ``optimizer`` (``"adam"`` or ``"lbfgs"``) on ``param``."""
    return (AdamStep if optimizer == "adam" else LbfgsStep)(param, opt, loss_fn, scaler, best)
