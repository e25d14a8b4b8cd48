"""What a run hands back: a ``StylizeResult``, or an error that still holds the best image."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..images import save_image
from .state import Record


@dataclass
class StylizeResult:
    """What ``stylize`` returns.

    ``image`` is the lowest-loss image seen (PIL, RGB), ``history`` one record per step,
    ``snapshots`` ``{step: PIL image}``, ``interrupted`` whether the run stopped early,
    ``checkpointing`` whether VGG blocks were recomputed in the backward pass (see ``stylize``).
    """

    image: Image.Image
    history: list[Record]
    snapshots: dict[int, Image.Image] = field(default_factory=dict)
    interrupted: bool = False
    best_step: int = 0
    best_loss: float = math.inf
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    random_weights: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    checkpointing: bool = False

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the image atomically; refuses to replace an existing file unless asked."""
        return save_image(self.image, path, overwrite=overwrite)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; ``.result`` holds the best finite image so far."""

    def __init__(self, message: str, result: StylizeResult) -> None:
        super().__init__(message)
        self.result = result


def detached(err: BaseException) -> BaseException:
    """``err`` without its traceback and chained exceptions, which hold the failed run's frames
    (its images, Grams and optimiser state): an error kept in a notebook then frees them."""
    err.__traceback__, err.__cause__, err.__context__ = None, None, None
    return err
