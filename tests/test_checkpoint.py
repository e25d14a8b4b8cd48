"""Checkpoints: stop a run, resume it, and get exactly the pixels of a run never stopped.

Everything runs on the CPU with the seeded random VGG19 and tiny images, where the same seed
gives the same pixels, so "resumed == uninterrupted" can be checked bit for bit.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_helpers import load_checkpoint, load_image, save_checkpoint, stylize
from nst_helpers.optimize import resume as ckpt

pytestmark = pytest.mark.filterwarnings("ignore::nst_helpers.RandomWeightsWarning")

STEPS = 10
# Shallow layers keep each run cheap; the checkpoint logic does not depend on depth.
CONTENT, STYLE = ["conv2_2"], ["conv1_1", "conv2_1", "conv3_1"]


@pytest.fixture(scope="module")
def images() -> tuple[Image.Image, Image.Image]:
    """Small content and style images (PIL), so every run below takes a fraction of a second."""
    return load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)


def run(images, **options):
    """``stylize`` with the settings every test here shares; ``options`` override them."""
    content, style = images
    settings = dict(
        steps=STEPS,
        image_size=32,
        weights="random",
        device="cpu",
        seed=0,
        init="noise",
        style_weight=1e4,
        content_layers=CONTENT,
        style_layers=STYLE,
    )
    settings.update(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stylize(content, style, **settings)


def stop_at(step: int):
    """A callback that stops the run after ``step``."""
    return lambda record: record["step"] < step


def assert_same_run(resumed, reference) -> None:
    """Same best pixels and the same loss at every step (timings aside)."""
    assert np.array_equal(np.asarray(resumed.image), np.asarray(reference.image))
    assert [r["step"] for r in resumed.history] == [r["step"] for r in reference.history]
    assert [r["total"] for r in resumed.history] == [r["total"] for r in reference.history]
    assert resumed.best_step == reference.best_step
    assert resumed.best_loss == reference.best_loss
    assert not resumed.interrupted


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def reference(images):
    """The uninterrupted Adam run every resumed run must reproduce."""
    return run(images)


# ---- stop, resume, same pixels -------------------------------------------------------------


@pytest.mark.parametrize("k", [1, STEPS - 3])
def test_stopped_run_leaves_checkpoint_and_resumes_exactly(images, reference, tmp_path, k):
    ck = tmp_path / "run.ckpt"
    stopped = run(images, checkpoint=ck, callback=stop_at(k))
    assert stopped.interrupted
    assert len(stopped.history) == k
    assert ck.exists()
    state = load_checkpoint(ck)
    assert state["step"] == k
    assert [r["total"] for r in state["history"]] == [r["total"] for r in reference.history[:k]]

    resumed = run(images, resume=ck)
    assert_same_run(resumed, reference)
    assert temp_files(tmp_path) == []


def test_periodic_checkpoints_resume_exactly(images, reference, tmp_path):
    ck = tmp_path / "run.ckpt"
    copies: dict[int, Path] = {}

    def keep_copies(record):
        # The loop saves before it calls back, so the file now holds the latest multiple of 3.
        step = load_checkpoint(ck)["step"] if ck.exists() else None
        if step is not None and step not in copies:
            copies[step] = shutil.copy(ck, tmp_path / f"copy{step}.ckpt")

    full = run(images, checkpoint=ck, checkpoint_every=3, callback=keep_copies)
    assert_same_run(full, reference)  # checkpointing does not perturb the run
    assert sorted(copies) == [3, 6, 9]
    assert load_checkpoint(ck)["step"] == 9  # STEPS = 10 is not a multiple of 3
    for step in (3, 9):
        assert_same_run(run(images, resume=copies[step]), reference)
    assert temp_files(tmp_path) == []


def test_snapshots_survive_a_resume(images, tmp_path):
    ck = tmp_path / "run.ckpt"
    reference = run(images, snapshot_every=3)
    run(images, snapshot_every=3, checkpoint=ck, callback=stop_at(5))
    resumed = run(images, snapshot_every=3, resume=ck)
    assert sorted(resumed.snapshots) == sorted(reference.snapshots) == [3, 6, 9, STEPS]
    for step, img in reference.snapshots.items():
        assert np.array_equal(np.asarray(resumed.snapshots[step]), np.asarray(img))


def test_resume_can_extend_a_finished_run(images, tmp_path):
    """Single-scale runs may continue past their first ``steps``: same as one longer run."""
    ck = tmp_path / "run.ckpt"
    run(images, steps=6, checkpoint=ck, checkpoint_every=6)
    longer = run(images, steps=10, resume=ck)
    assert_same_run(longer, run(images, steps=10))


def test_lbfgs_resumes_exactly_and_keeps_descending(images, tmp_path):
    ck = tmp_path / "run.ckpt"
    # Content init: the first full L-BFGS step overshoots, so the line search must do its job.
    reference = run(images, optimizer="lbfgs", init="content")
    stopped = run(images, optimizer="lbfgs", init="content", checkpoint=ck, callback=stop_at(4))
    assert stopped.interrupted and load_checkpoint(ck)["step"] == 4
    resumed = run(images, optimizer="lbfgs", init="content", resume=ck)
    assert_same_run(resumed, reference)
    # The restored L-BFGS state is used: the loss keeps falling after the resume point.
    totals = [r["total"] for r in resumed.history]
    assert all(b < a for a, b in zip(totals[3:], totals[4:], strict=False)), totals


@pytest.fixture(scope="module")
def multiscale_reference(images):
    return run(images, scales=[32, 48])


@pytest.mark.parametrize("k", [3, 5, 7])  # before, at and after the 32 -> 48 boundary (step 5)
def test_multiscale_resume_across_scale_boundary(images, multiscale_reference, tmp_path, k):
    ck = tmp_path / "run.ckpt"
    reference = multiscale_reference
    assert [r["scale"] for r in reference.history] == [32] * 5 + [48] * 5
    stopped = run(images, scales=[32, 48], checkpoint=ck, callback=stop_at(k))
    assert load_checkpoint(ck)["step"] == k
    resumed = run(images, scales=[32, 48], resume=ck)
    assert_same_run(resumed, reference)
    assert max(stopped.image.size) == (32 if k <= 5 else 48)  # the best image of its scale
    assert max(resumed.image.size) == 48


def test_keyboard_interrupt_in_callback_keeps_best_image_and_checkpoint(
    images, reference, tmp_path
):
    ck = tmp_path / "run.ckpt"

    def ctrl_c(record):
        if record["step"] == 4:
            raise KeyboardInterrupt

    result = run(images, checkpoint=ck, callback=ctrl_c)
    assert result.interrupted
    assert isinstance(result.image, Image.Image) and result.image.size == reference.image.size
    assert len(result.history) == 4 and result.best_step <= 4
    assert result.best_loss == min(r["total"] for r in result.history)
    assert load_checkpoint(ck)["step"] == 4
    assert_same_run(run(images, resume=ck), reference)


# ---- broken and mismatched checkpoints -----------------------------------------------------


@pytest.fixture
def good_checkpoint(images, tmp_path) -> Path:
    ck = tmp_path / "good.ckpt"
    run(images, steps=2, checkpoint=ck, checkpoint_every=2)
    return ck


def _truncated(good: Path, bad: Path) -> None:
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])


def _random_bytes(good: Path, bad: Path) -> None:
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _empty(good: Path, bad: Path) -> None:
    bad.write_bytes(b"")


def _other_torch_file(good: Path, bad: Path) -> None:
    torch.save({"weight": torch.zeros(3), "step": 3}, bad)


def _tensor_file(good: Path, bad: Path) -> None:
    torch.save(torch.zeros(3), bad)


def _pickled_object(good: Path, bad: Path) -> None:
    torch.save(Image.new("RGB", (2, 2)), bad)


@pytest.mark.parametrize(
    "corrupt",
    [_truncated, _random_bytes, _empty, _other_torch_file, _tensor_file, _pickled_object],
)
def test_corrupt_checkpoint_is_a_value_error_naming_the_file(
    images, good_checkpoint, tmp_path, corrupt
):
    bad = tmp_path / "bad checkpoint.ckpt"
    corrupt(good_checkpoint, bad)
    with pytest.raises(ValueError, match="bad checkpoint.ckpt") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError) as info:
        run(images, resume=bad)
    assert str(bad) in str(info.value)


class _Payload:
    """Unpickling this object would create a file: a stand-in for a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_a_checkpoint_runs_no_code(tmp_path):
    marker, bad = tmp_path / "code-ran", tmp_path / "evil.ckpt"
    torch.save({"version": 1, "payload": _Payload(marker)}, bad)
    with pytest.raises(ValueError, match="evil.ckpt"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_missing_checkpoint_is_file_not_found(images, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.ckpt"):
        run(images, resume=tmp_path / "nowhere.ckpt")


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"style_weight": 1e5}, "style_weight"),
        ({"content_layers": ["conv3_2"]}, "content_layers"),
        ({"style_layers": ["conv1_1", "conv2_1"]}, "style_layers"),
        ({"style_layers": ["conv1_1", "conv3_1", "conv2_1"]}, "style_layers"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"scales": [32, 48]}, "scales"),
    ],
)
def test_mismatched_settings_name_file_and_setting(images, good_checkpoint, change, setting):
    with pytest.raises(ValueError, match=setting) as info:
        run(images, resume=good_checkpoint, **change)
    assert str(good_checkpoint) in str(info.value)


def test_other_content_image_is_refused(images, good_checkpoint):
    _, style = images
    other = load_image("coffee", max_size=48)
    with pytest.raises(ValueError, match="content") as info:
        run((other, style), resume=good_checkpoint)
    assert str(good_checkpoint) in str(info.value)


# ---- atomic writes -------------------------------------------------------------------------


def _crashing_save(real_save):
    """``torch.save`` that writes half of the file, then fails like a full disk."""

    def save(obj, fh, *args, **kwargs):
        real_save(obj, fh, *args, **kwargs)
        size = fh.tell()
        fh.seek(size // 2)
        fh.truncate()
        raise OSError(28, "No space left on device (simulated)")

    return save


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ck = tmp_path / "state.ckpt"
    old = {
        "version": 1,
        "settings": {"a": 1},
        "step": 3,
        "scale_index": 0,
        "param": {"x": torch.arange(6.0)},
        "optimizer": {},
        "history": [{"step": 3}],
        "snapshots": {},
        "best_loss": 1.0,
        "best_step": 2,
        "best_x": None,
    }
    save_checkpoint(ck, old)
    before = ck.read_bytes()
    monkeypatch.setattr(ckpt.torch, "save", _crashing_save(torch.save))
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(ck, {**old, "step": 4})
    assert ck.read_bytes() == before
    assert load_checkpoint(ck)["step"] == 3
    assert temp_files(tmp_path) == []
    assert os.listdir(tmp_path) == ["state.ckpt"]


def test_crash_mid_write_during_a_run_keeps_last_good_checkpoint(
    images, reference, tmp_path, monkeypatch
):
    ck = tmp_path / "run.ckpt"
    real_save = torch.save
    calls = {"n": 0}

    def save_then_crash_on_fourth(obj, fh, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            return _crashing_save(real_save)(obj, fh, *args, **kwargs)
        return real_save(obj, fh, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", save_then_crash_on_fourth)
    with pytest.raises(OSError, match="simulated"):
        run(images, checkpoint=ck, checkpoint_every=1)
    monkeypatch.undo()
    assert load_checkpoint(ck)["step"] == 3
    assert temp_files(tmp_path) == []
    assert_same_run(run(images, resume=ck), reference)


def test_checkpoint_refuses_to_overwrite_a_file_that_is_not_a_checkpoint(images, tmp_path):
    """A mistyped ``checkpoint=`` must not destroy the user's own file."""
    precious = tmp_path / "holiday.png"
    images[0].save(precious)
    before = precious.read_bytes()
    with pytest.raises(ValueError, match="holiday.png"):
        run(images, checkpoint=precious, checkpoint_every=1)
    assert precious.read_bytes() == before


def test_result_save_does_not_overwrite_without_asking(reference, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"user data")
    with pytest.raises(FileExistsError):
        reference.save(out)
    assert out.read_bytes() == b"user data"
    reference.save(out, overwrite=True)
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(reference.image))
