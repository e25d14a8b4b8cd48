"""Dynamic loss scaling: small gradients survive an fp16 backward pass.

fp16 holds nothing below about 6e-8, and a style loss's gradients often are that small. The
loss is multiplied by ``scale`` before the backward pass and the gradients divided by it
afterwards; when the scaled gradients overflow (inf/NaN), the scale is halved, and after
``growth_interval`` good backward passes in a row it is doubled again (up to ``max_scale``).
bf16 has fp32's range and needs none of this.

``LossScaler`` is torch's ``GradScaler`` idea written out in twenty lines, for two callers:
``stylize`` retries a step's backward pass at a halved scale until it is finite (an optimised
image has one parameter tensor; losing a step is worse than a second backward pass), and a
training loop can skip the batch instead: ``if scaler.backward(loss, params): opt.step()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class LossScaler:
    """Dynamic fp16 loss scale: ``backward(loss, params)`` returns whether the unscaled
    gradients now in ``params``' ``.grad`` are finite (when not, the scale was halved)."""

    def __init__(
        self, scale: float = 2.0**16, growth_interval: int = 200, max_scale: float = 2.0**24
    ) -> None:
        self.scale = scale
        self.growth_interval = growth_interval
        self.max_scale = max_scale
        self.good_steps = 0  # finite backward passes since the scale last changed down

    def backward(self, loss: torch.Tensor, params: Iterable[torch.Tensor]) -> bool:
        """Back-propagate ``loss * scale`` and unscale the gradients of ``params`` in place.

        ``True``: all finite (counted towards growing the scale). ``False``: they overflowed,
        are left as they are, and the scale is halved; do not step on them.
        """
        (loss * self.scale).backward()
        grads = [p.grad for p in params if p.grad is not None]  # a frozen or unused layer has none
        if not all(torch.isfinite(g).all() for g in grads):
            self.scale /= 2.0
            self.good_steps = 0
            return False
        for g in grads:
            g.div_(self.scale)
        self.good_steps += 1
        if self.good_steps % self.growth_interval == 0:
            self.scale = min(self.scale * 2.0, self.max_scale)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_steps": self.good_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of ``state_dict``; also reads a ``torch.amp.GradScaler``'s state."""
        self.scale = float(state["scale"])
        self.good_steps = int(state.get("good_steps", state.get("_growth_tracker", 0)))
