"""The command line survives being stopped: Ctrl-C (SIGINT) and kill -9 (SIGKILL) mid-run.

Each test starts ``python -m nst_helpers stylize`` in a subprocess with a checkpoint written
every step, waits (polling, with a deadline) until the first checkpoint exists, signals it,
then resumes with ``--resume`` and compares the final image with an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_helpers import load_checkpoint, load_image

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

REPO = Path(__file__).resolve().parent.parent
STEPS = 40  # long enough that the run is still going when the first checkpoint appears
DEADLINE_S = 120.0  # generous: CI machines may be slow, and nothing here waits this long if well


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """Tiny content and style files, so each process spends its time on steps, not decoding."""
    folder = tmp_path_factory.mktemp("inputs")
    content, style = folder / "content.png", folder / "style.png"
    load_image("chelsea", max_size=40).save(content)
    load_image("brush_strokes", max_size=40).save(style)
    return content, style


def command(inputs, out: Path, *extra: str) -> list[str]:
    content, style = inputs
    return [
        sys.executable, "-m", "nst_helpers", "stylize", str(content), str(style), "-o", str(out),
        "--steps", str(STEPS), "--size", "32", "--seed", "0", "--weights", "random",
        "--device", "cpu", "--precision", "fp32", "--init", "noise", "--quiet",
        "--content-layers", "conv2_2", "--style-layers", "conv1_1,conv2_1,conv3_1", *extra,
    ]  # fmt: skip


def environment() -> dict[str, str]:
    # One thread: tiny images gain nothing from more, and on a busy 2-core CI runner two
    # spinning OpenMP threads per process make every step several times slower.
    env = dict(os.environ, NST_WEIGHTS="random", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def finish(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=environment(),
                          timeout=DEADLINE_S, cwd=REPO)  # fmt: skip


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


class Reference:
    """An uninterrupted run, started at once in the background and awaited when needed."""

    def __init__(self, cmd: list[str], out: Path) -> None:
        self.out, self._pixels = out, None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=environment(), cwd=REPO)  # fmt: skip

    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            _, err = self.proc.communicate(timeout=DEADLINE_S)
            assert self.proc.returncode == 0, err
            self._pixels = pixels(self.out)
        return self._pixels


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """The output of a run nobody interrupted (it runs while the first test does)."""
    out = tmp_path_factory.mktemp("reference") / "out.png"
    ref = Reference(command(inputs, out), out)
    yield ref
    if ref.proc.poll() is None:
        ref.proc.kill()
        ref.proc.communicate()


def start_and_signal(cmd: list[str], checkpoint: Path, sig: int) -> subprocess.CompletedProcess:
    """Start ``cmd``, send ``sig`` once ``checkpoint`` exists, and wait for the process to end."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(), cwd=REPO)  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not checkpoint.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(
                    f"the run ended (code {proc.returncode}) before its first checkpoint:\n{err}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint after {DEADLINE_S} s")
            time.sleep(0.01)  # polling interval, not a check
        if proc.poll() is not None:
            pytest.fail(f"the run finished before it could be interrupted; raise STEPS ({STEPS})")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_ctrl_c_leaves_image_and_checkpoint_and_resume_matches(inputs, reference, tmp_path):
    out, ck = tmp_path / "out.png", tmp_path / "run.ckpt"
    cmd = command(inputs, out, "--checkpoint", str(ck), "--checkpoint-every", "1")
    stopped = start_and_signal(cmd, ck, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr  # interrupted, best image saved
    assert "Traceback" not in stopped.stderr
    assert "interrupted" in stopped.stderr
    step = load_checkpoint(ck)["step"]
    assert 1 <= step < STEPS
    assert pixels(out).shape == reference.pixels().shape  # a usable image, full size

    resumed = finish([*cmd, "--resume", str(ck)])
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(ck)["step"] == STEPS
    assert np.array_equal(pixels(out), reference.pixels())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_kill_9_leaves_a_loadable_checkpoint_and_resume_matches(inputs, reference, tmp_path):
    out, ck = tmp_path / "out.png", tmp_path / "run.ckpt"
    cmd = command(inputs, out, "--checkpoint", str(ck), "--checkpoint-every", "1")
    killed = start_and_signal(cmd, ck, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    state = load_checkpoint(ck)  # atomic writes: the last finished checkpoint is whole
    assert 1 <= state["step"] < STEPS
    assert not out.exists()  # nothing half-written where the image will go

    resumed = finish([*cmd, "--resume", str(ck)])
    assert resumed.returncode == 0, resumed.stderr
    assert np.array_equal(pixels(out), reference.pixels())


def test_resume_from_corrupt_checkpoint_is_one_line_error(inputs, tmp_path, capsys):
    from nst_helpers.apps.cli import main

    out, ck = tmp_path / "out.png", tmp_path / "broken.ckpt"
    ck.write_bytes(b"not a checkpoint at all")
    code = main([*command(inputs, out)[3:], "--resume", str(ck)])  # in-process: no start-up
    err = capsys.readouterr().err
    assert code == 2
    assert str(ck) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
