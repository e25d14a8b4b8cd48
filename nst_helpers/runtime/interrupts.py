"""Ctrl-C that waits for the end of a step: the one way a long run stops cleanly.

An optimisation step is not atomic: L-BFGS moves the image to trial points during its line
search, and Adam updates its moments before the image (or the network's weights). A
``KeyboardInterrupt`` landing inside a step would leave a state that is neither the last step
nor the next, and a checkpoint of it would not resume exactly. ``StepBoundary`` turns the first
Ctrl-C inside a step into a request the loop honours once the step is done; a second Ctrl-C
still stops at once.

``stylize`` and ``train_transformer`` each run their steps inside one; the ``nst`` command wraps
the whole command in another that also catches SIGTERM (a scheduler, a notebook host). While
boundaries are nested, a signal goes to the innermost, whose steps are the ones running.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any

_ACTIVE: list[StepBoundary] = []
"""The boundaries entered in the main thread, innermost last (signals reach only that thread)."""


class StepBoundary:
    """Context manager: while it is active (in the main thread), Ctrl-C stops between steps.

    Wrap each step in ``with boundary.step():``; check ``boundary.stop_requested`` after it.
    Wrap each checkpoint write too: ``torch.save`` interrupted half-way raises its own
    ``RuntimeError`` instead of the ``KeyboardInterrupt``, so a first Ctrl-C must wait for it.
    Outside a step, the signal raises ``KeyboardInterrupt`` at once, as usual (between steps the
    state is whole). ``signals``: the signals handled so (SIGINT; the CLI adds SIGTERM). In other
    threads it does nothing. ``torn`` tells whether the last ``KeyboardInterrupt`` arrived inside
    a step (a second Ctrl-C): that step's state is partial, so it must not be saved as a step.
    """

    def __init__(self, signals: Iterable[int] = (signal.SIGINT,)) -> None:
        self.signals = tuple(signals)
        self.stop_requested = False
        self.torn = False
        self._in_step = False
        self._entered = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StepBoundary:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                if signal.getsignal(sig) is _to_innermost:
                    continue  # an outer boundary already routes it
                # embedded interpreters without signal support: stop at once, as before
                with contextlib.suppress(ValueError, OSError):
                    self._previous[sig] = signal.signal(sig, _to_innermost)
            _ACTIVE.append(self)
            self._entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._entered:
            return
        _ACTIVE.remove(self)
        for sig, previous in self._previous.items():
            if previous is None:  # not set from Python: Python's own handler is the closest
                previous = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            signal.signal(sig, previous)
        self._previous.clear()
        self._entered = False

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Mark one step: a first Ctrl-C inside it is deferred until it has finished."""
        self._in_step = True
        try:
            yield
        except KeyboardInterrupt:
            self.torn = True
            raise
        finally:
            self._in_step = False

    def _on_signal(self) -> None:
        if not self._in_step or self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        print("\nstopping after this step (press Ctrl-C again to stop at once)", file=sys.stderr)


def _to_innermost(signum: int, frame: FrameType | None) -> None:
    """The signal handler every boundary installs: the innermost active one decides."""
    if not _ACTIVE:
        raise KeyboardInterrupt
    _ACTIVE[-1]._on_signal()
