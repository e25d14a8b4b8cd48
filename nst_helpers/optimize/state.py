"""What a run has made so far: the part of it a checkpoint keeps.

``RunState`` is everything that lives longer than one step: the step count and stage, the
history, the snapshots, the best image, the fp16 loss scale and the moving average's state.
The image parameters and the optimiser belong to the current stage and are handed to
``resume.save_run`` beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from .scaler import LossScaler

Record = dict[str, Any]
"""One step of history: ``step``, ``total``, ``content``, ``style``, ``tv``, one
``style/<layer>`` per style layer (its w_l-weighted term, before beta), ``seconds``, ``lr``,
``scale`` (the stage's size), L-BFGS's ``evals``, and ``skipped`` when fp16 overflowed."""


class Best:
    """The lowest-loss image offered so far, with its loss and step (losses of one scale only:
    ``reset`` when a new scale starts, whose losses are not comparable)."""

    def __init__(
        self, loss: float = math.inf, step: int = 0, x: torch.Tensor | None = None
    ) -> None:
        self.loss, self.step, self.x = loss, step, x

    def offer(self, x: torch.Tensor, loss: float, step: int, *, ties: bool = False) -> None:
        """Keep a copy of ``x`` if ``loss`` is finite and lower (``ties``: or equal)."""
        if math.isfinite(loss) and (loss < self.loss or (ties and loss == self.loss)):
            self.loss, self.step, self.x = loss, step, x.clone()

    def reset(self) -> None:
        """Forget the image (a new scale), keeping ``step``."""
        self.loss, self.x = math.inf, None


@dataclass
class RunState:
    """A run's progress; ``stage`` is the index of the stage that ``step`` belongs to."""

    step: int = 0
    stage: int = 0
    history: list[Record] = field(default_factory=list)
    snapshots: dict[int, Image.Image] = field(default_factory=dict)
    best: Best = field(default_factory=Best)
    scaler: LossScaler = field(default_factory=LossScaler)
    ema: dict[str, Any] | None = None
    """The moving average's ``state_dict`` to restore (a resumed run), else ``None``."""
    resumed: dict[str, Any] | None = None
    """A checkpoint's image parameters and optimiser state, until the loop has loaded them."""

    def add(self, record: Record) -> None:
        """Count a finished step (``record["step"]``, the next one) into the history."""
        self.step = record["step"]
        self.history.append(record)

    @property
    def seconds(self) -> float:
        """Time spent so far (before a resume too)."""
        return self.history[-1]["seconds"] if self.history else 0.0
