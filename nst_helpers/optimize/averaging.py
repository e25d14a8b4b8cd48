"""A moving average of the iterates (``preset="fast"``).

Adam at a useful learning rate jitters around the minimum; the exponential moving average of
its images is smoother and usually lower-loss than any single one, so it is what a stage hands
on to the next and a candidate for the result. Bias-corrected, as Adam's own moments are: the
first average is the first image, not a tenth of it.
"""

from __future__ import annotations

from typing import Any

import torch


class EMA:
    """Bias-corrected exponential moving average of ``[1, 3, H, W]`` images (decay ``d``)."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.weight = 0.0  # 1 - decay**n after n updates: what the average is divided by
        self.biased: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().float()
        if self.biased is None:
            self.biased = torch.zeros_like(x)
        self.biased.mul_(self.decay).add_(x, alpha=1 - self.decay)
        self.weight = self.decay * self.weight + (1 - self.decay)

    def value(self) -> torch.Tensor:
        """The average so far (call after at least one ``update``)."""
        return self.biased / self.weight

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "biased": None if self.biased is None else self.biased.cpu()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.weight = state["weight"]
        self.biased = None if state["biased"] is None else state["biased"].to(device)
