"""What the caller sees of a run while it goes on: callback, previews, snapshots, progress bar.

``Hooks`` holds ``stylize``'s keywords for them (validated when made); ``Watch`` is one run's
use of them. The loop calls ``watch.after_step(...)`` once per step, which updates the bar,
keeps a snapshot when one is due, shows a preview when one is due, and asks the callback
whether to go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from ..config import check_number
from .state import Record


def check_every(name: str, value: object) -> None:
    """``ValueError`` unless ``value`` (a period in steps) is ``None`` or an int >= 1."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")


@dataclass(frozen=True)
class Hooks:
    """``callback(record)`` after every step (``False`` stops the run); ``preview(step, image)``
    every ``preview_every`` steps and after the last, no more often than every
    ``preview_seconds`` (first and last always); a snapshot every ``snapshot_every`` steps; a
    progress bar when ``progress``."""

    callback: Callable[[Record], bool | None] | None = None
    preview: Callable[[int, Image.Image], None] | None = None
    preview_every: int = 10
    preview_seconds: float | None = None
    snapshot_every: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        check_every("snapshot_every", self.snapshot_every)
        check_every("preview_every", self.preview_every)
        if self.preview_seconds is not None:
            seconds = check_number("preview_seconds", self.preview_seconds)
            object.__setattr__(self, "preview_seconds", seconds)


class Watch:
    """One run's hooks: ``after_step`` is called with each step's record; ``close`` at the end.

    ``render(x)`` makes the picture of an image tensor; ``snapshots`` is where kept images go.
    """

    def __init__(
        self,
        hooks: Hooks,
        first: int,
        last: int,
        render: Callable[[torch.Tensor], Image.Image],
        snapshots: dict[int, Image.Image],
    ) -> None:
        from tqdm.auto import tqdm

        self.hooks, self.first, self.last = hooks, first, last
        self.render, self.snapshots = render, snapshots
        self.last_preview = -math.inf
        self.bar = tqdm(
            total=last,
            initial=min(first, last),
            disable=not hooks.progress,
            desc="stylize",
            unit="step",
            dynamic_ncols=True,
        )

    def after_step(self, record: Record, image: Callable[[], torch.Tensor]) -> bool:
        """Report step ``record["step"]``, whose image ``image()`` gives; ``True``: stop."""
        h, step = self.hooks, record["step"]
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{record['total']:.4g}", refresh=False)
        if h.snapshot_every and (step % h.snapshot_every == 0 or step == self.last):
            self.snapshots[step] = self.render(image())
        if self._preview_due(step):
            self.last_preview = time.perf_counter()
            h.preview(step, self.render(image()))
        return h.callback is not None and h.callback(record) is False

    def _preview_due(self, step: int) -> bool:
        """Every ``preview_every`` steps, no more often than every ``preview_seconds``, and
        always at the first and the last step."""
        h = self.hooks
        if h.preview is None:
            return False
        if step == self.last or (h.preview_seconds is not None and step == self.first + 1):
            return True
        if step % h.preview_every:
            return False
        return (
            h.preview_seconds is None
            or time.perf_counter() - self.last_preview >= h.preview_seconds
        )

    def close(self) -> None:
        self.bar.close()
