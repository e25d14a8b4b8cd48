"""Ctrl-C that waits for the end of a step.

An optimisation step is not atomic: L-BFGS moves the image to trial points during its line
search, and Adam updates its moments before the image. A ``KeyboardInterrupt`` landing inside a
step would leave a state that is neither the last step nor the next, and a checkpoint of it
would not resume exactly. ``StepBoundary`` turns the first Ctrl-C inside a step into a request
the loop honours once the step is done; a second Ctrl-C still stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType


class StepBoundary:
    """Context manager: while it is active (in the main thread), Ctrl-C stops between steps.

    Wrap each step in ``with boundary.step():``; check ``boundary.stop_requested`` after it.
    Outside a step, Ctrl-C raises ``KeyboardInterrupt`` at once, as usual. In other threads
    (signals only reach the main thread) it does nothing. ``torn`` tells whether the last
    ``KeyboardInterrupt`` arrived inside a step (a second Ctrl-C): that step's state is partial.
    """

    def __init__(self) -> None:
        self.stop_requested = False
        self.torn = False
        self._in_step = False
        self._installed = False
        self._previous = None

    def __enter__(self) -> StepBoundary:
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._on_sigint)
                self._installed = True
            except (ValueError, OSError):  # embedded interpreters without signal support
                pass
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            # None: the old handler was not set from Python; Python's own is the closest
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self._installed = False

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

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if not self._in_step or self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        print("\nstopping after this step (press Ctrl-C again to stop at once)", file=sys.stderr)
