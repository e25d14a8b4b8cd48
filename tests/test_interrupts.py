"""runtime.interrupts.StepBoundary: the one mechanism that stops a long run between steps.

Real signals, raised in this process (``signal.raise_signal``), in the main thread."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from nst_helpers.runtime.interrupts import StepBoundary

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals"
)
TERM = [signal.SIGTERM] if os.name == "posix" else []


def test_first_ctrl_c_in_a_step_waits_for_its_end_and_a_second_stops_at_once():
    before = signal.getsignal(signal.SIGINT)
    finished = []
    with StepBoundary() as boundary:
        with boundary.step():
            signal.raise_signal(signal.SIGINT)
            finished.append(1)  # the step goes on
        assert boundary.stop_requested and not boundary.torn
        with pytest.raises(KeyboardInterrupt), boundary.step():
            signal.raise_signal(signal.SIGINT)  # a second one
            finished.append(2)
        assert boundary.torn
    assert finished == [1]
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_between_steps_stops_at_once():
    with StepBoundary() as boundary, pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert not boundary.torn and not boundary.stop_requested


@pytest.mark.skipif(not TERM, reason="SIGTERM")
def test_nested_boundaries_give_the_signal_to_the_innermost():
    # The CLI's boundary takes SIGINT and SIGTERM; stylize's own takes SIGINT. A SIGTERM in a
    # stylize step must be deferred by stylize's boundary, whose steps are the ones running.
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StepBoundary([signal.SIGINT, *TERM]) as outer:
        with StepBoundary() as inner, inner.step():
            signal.raise_signal(signal.SIGTERM)
        assert inner.stop_requested and not outer.stop_requested
        with outer.step():  # the inner one is gone: the outer decides again
            signal.raise_signal(signal.SIGINT)
        assert outer.stop_requested
    assert {s: signal.getsignal(s) for s in before} == before


def test_in_another_thread_it_changes_nothing():
    seen = []

    def run():
        with StepBoundary() as boundary, boundary.step():
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]


def test_ctrl_c_while_a_checkpoint_is_written_waits_for_the_write(
    tiny_images, tmp_path, ctrl_c_in_first_save
):
    # A Ctrl-C landing inside torch.save's zip writer used to surface as its RuntimeError
    # ("unexpected pos"), not as an interruption: the run crashed instead of stopping.
    from nst_helpers import stylize
    from nst_helpers.optimize import resume

    content, style = tiny_images
    ck = tmp_path / "run.ckpt"
    result = stylize(content, style, image_size=32, steps=6, seed=0, weights="random",
                     device="cpu", precision="fp32", checkpoint=ck, checkpoint_every=1)  # fmt: skip
    assert result.interrupted and len(result.history) == 1  # stopped once the write was done
    assert resume.load_checkpoint(ck)["step"] == 1  # the checkpoint written whole
