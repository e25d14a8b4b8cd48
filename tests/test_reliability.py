"""Reliability: failed runs free their memory, "don't overwrite" is atomic, resumes are exact,
Ctrl-C stops between steps, the studio locks its controls while it runs, devices key one cache.

Each test here was written against a defect and failed before its fix. Runs are tiny (CPU,
seeded random VGG19, 32 px, shallow layers); GPUs are simulated where the logic allows it.
"""

from __future__ import annotations

import gc
import math
import os
import signal
import threading
import warnings
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from nst_helpers import devices, load_checkpoint, load_image, losses, optimize, stylize
from nst_helpers.apps.cli import main
from nst_helpers.features import RandomWeightsWarning, load_vgg19
from nst_helpers.images import save_image
from nst_helpers.optimize import NonFiniteLossError, StylizeResult
from nst_helpers.optimize.memory import InsufficientMemoryError
from nst_helpers.runtime import data, files

pytestmark = pytest.mark.filterwarnings("ignore::nst_helpers.RandomWeightsWarning")

CONTENT, STYLE = ["conv2_2"], ["conv1_1", "conv2_1", "conv3_1"]
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def images() -> tuple[Image.Image, Image.Image]:
    return load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)


def run(images, **options) -> StylizeResult:
    content, style = images
    settings = dict(steps=8, image_size=32, weights="random", device="cpu", seed=0,
                    init="noise", style_weight=1e4, content_layers=CONTENT,
                    style_layers=STYLE)  # fmt: skip
    settings.update(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return stylize(content, style, **settings)


def cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err.strip()


# ---- the CLI: every failure is one line, only the random-weights warning is silenced ---------


def test_cli_paintings_need_no_network(tmp_path, monkeypatch, capsys):
    """The paintings are bundled: offline, with nothing cached, the CLI stylises with one."""
    monkeypatch.setenv("NST_DATA_DIR", str(tmp_path / "cache"))

    def offline(name, progress=True, url=None):
        raise data.SampleUnavailableError(f"Could not fetch the painting {name!r}: offline")

    monkeypatch.setattr(data, "fetch_painting", offline)
    out = tmp_path / "o.png"
    code, err = cli(["stylize", "chelsea", "starry_night", "-o", str(out), "--steps", "1",
                     "--size", "32", "--weights", "random", "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    assert out.is_file()
    assert not (tmp_path / "cache").exists()


def test_cli_silences_only_the_random_weights_warning(tmp_path, monkeypatch):
    def fake_stylize(content, style, **options):
        warnings.warn("VGG19 has RANDOM weights", RandomWeightsWarning, stacklevel=2)
        warnings.warn("an unrelated problem the user should see", UserWarning, stacklevel=2)
        return StylizeResult(image=Image.new("RGB", (8, 8)), history=[])

    monkeypatch.setattr(optimize, "stylize", fake_stylize)
    with pytest.warns(UserWarning) as caught:
        code = main(["stylize", "chelsea", "mosaic", "-o", str(tmp_path / "o.png"), "--quiet"])
    assert code == 0
    messages = [(w.category, str(w.message)) for w in caught]
    assert (UserWarning, "an unrelated problem the user should see") in messages
    assert not [m for c, m in messages if issubclass(c, RandomWeightsWarning)]


# ---- failed runs free what they hold ---------------------------------------------------------


def _held_by_the_loss(held: dict, content_targets: dict, image: torch.Tensor | None) -> None:
    """Weak references to what a run holds: its targets and the image it optimises."""
    held["targets"] = weakref.ref(next(iter(content_targets.values())))
    held["image"] = weakref.ref(image)  # pixel parameterisation: the leaf itself


def test_out_of_memory_frees_the_failed_run_and_calls_empty_cache(images, monkeypatch):
    held: dict[str, weakref.ref] = {}
    released: list[torch.device] = []

    def out_of_memory(features, content_targets, style_grams, *, image=None, **kwargs):
        _held_by_the_loss(held, content_targets, image)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(losses, "objective", out_of_memory)  # stylize's loss, in its first step
    monkeypatch.setattr(devices, "release_memory", released.append)
    with pytest.raises(InsufficientMemoryError) as info:
        run(images)
    err = info.value  # a notebook keeps the last exception (sys.last_value): so do we
    gc.collect()
    assert held["targets"]() is None, "the failed run is still reachable from its exception"
    assert held["image"]() is None
    assert released == [torch.device("cpu")]
    assert "Tried to allocate 2.00 GiB" in str(err)  # the device's words are kept, as text
    monkeypatch.undo()
    assert run(images, steps=2, image_size=24).image.size[0] == 24  # the next run goes ahead


def test_release_memory_empties_the_cuda_cache_only_on_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("cuda"))
    devices.release_memory(torch.device("cpu"))
    assert calls == []
    devices.release_memory(torch.device("cuda", 0))
    assert calls == ["cuda"]


def test_non_finite_loss_error_does_not_keep_the_run_alive(images, monkeypatch):
    held: dict[str, weakref.ref] = {}
    real_objective = losses.objective
    calls = {"n": 0}

    def diverge(features, content_targets, style_grams, **kwargs):
        calls["n"] += 1
        _held_by_the_loss(held, content_targets, kwargs["image"])
        out = real_objective(features, content_targets, style_grams, **kwargs)
        if calls["n"] == 3:  # Adam evaluates once per step: the start of step 3
            out = {**out, "total": out["total"] * float("nan")}
        return out

    monkeypatch.setattr(losses, "objective", diverge)
    with pytest.raises(NonFiniteLossError) as info:
        run(images)
    err = info.value
    gc.collect()
    assert held["targets"]() is None and held["image"]() is None
    assert len(err.result.history) == 2 and err.result.image.size == (32, 21)


def test_studio_keeps_the_error_but_not_the_failed_run(tmp_path, monkeypatch):
    from nst_helpers.apps import studio as widgets

    held = {}

    def failing_stylize(content, style, **kwargs):
        grams = torch.zeros(64, 64)  # stands in for the Grams and images a run holds
        held["grams"] = weakref.ref(grams)
        raise RuntimeError(f"boom after allocating {grams.numel()} numbers")

    monkeypatch.setattr(widgets, "stylize", failing_stylize)
    studio = widgets.StyleStudio(output_dir=tmp_path)
    studio.device.value = "cpu"
    assert studio.run()
    assert studio.wait(RUN_TIMEOUT)
    gc.collect()
    assert isinstance(studio.error, RuntimeError) and "boom" in str(studio.error)
    assert "failing_stylize" in studio.error_traceback  # debugging text survives, frames do not
    assert held["grams"]() is None


# ---- "don't overwrite" is atomic; no process-wide umask changes ------------------------------


def _race(monkeypatch, target, theirs: bytes):
    """Another writer creates ``target`` after save_image has looked, before it commits."""
    real_save = Image.Image.save

    def save_then_race(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        if not target.exists():
            target.write_bytes(theirs)

    monkeypatch.setattr(Image.Image, "save", save_then_race)


def test_save_image_without_overwrite_never_clobbers_a_racing_writer(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    _race(monkeypatch, target, b"their file")
    with pytest.raises(FileExistsError, match="out.png"):
        save_image(Image.new("RGB", (4, 4), "red"), target, overwrite=False)
    assert target.read_bytes() == b"their file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left


def test_studio_save_retries_with_a_new_name_when_raced(tmp_path, monkeypatch):
    from nst_helpers.apps import studio as widgets

    studio = widgets.StyleStudio(output_dir=tmp_path)
    studio.result = StylizeResult(image=Image.new("RGB", (4, 4), "blue"), history=[])
    target = tmp_path / "mine.png"
    _race(monkeypatch, target, b"their file")
    saved = studio.save(target)
    assert saved == tmp_path / "mine_1.png"
    assert target.read_bytes() == b"their file"
    assert np.asarray(Image.open(saved).convert("RGB"))[0, 0].tolist() == [0, 0, 255]


def test_atomic_write_never_changes_the_process_umask(tmp_path, monkeypatch):
    umask = os.umask(0o022)
    os.umask(umask)

    def forbidden(mask):
        raise AssertionError("os.umask changes a process-wide setting other threads rely on")

    monkeypatch.setattr(os, "umask", forbidden)
    new = files.atomic_write(tmp_path / "new.bin", lambda fh: fh.write(b"x"))
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(new, 0o640)
    files.atomic_write(new, lambda fh: fh.write(b"y"))  # replacing keeps the file's own mode
    assert new.stat().st_mode & 0o777 == 0o640 and new.read_bytes() == b"y"


# ---- resumes are exact: RNG state, Ctrl-C between steps --------------------------------------


def _draws(into: list, stop_at: int | None = None):
    """A callback that consumes the global RNG every step, as user code or augmentation may;
    it stops the run after step ``stop_at``."""

    def callback(record):
        into.append(torch.rand(()).item())
        return stop_at is None or record["step"] < stop_at

    return callback


@pytest.mark.parametrize(
    "first_part",
    [{"stop_at": 3}, {"steps": 4, "checkpoint_every": 4}],
    ids=["stopped-by-callback", "periodic-checkpoint"],
)
def test_resume_restores_the_rng_state(images, tmp_path, first_part):
    torch.manual_seed(1234)
    reference: list[float] = []
    run(images, callback=_draws(reference))

    ck, first = tmp_path / "run.ckpt", []
    torch.manual_seed(1234)
    options = {k: v for k, v in first_part.items() if k != "stop_at"}
    run(images, checkpoint=ck, callback=_draws(first, first_part.get("stop_at")), **options)
    torch.manual_seed(99)  # a new session: the global RNG is somewhere else entirely
    rest: list[float] = []
    run(images, resume=ck, callback=_draws(rest))
    assert first + rest == reference


def _signal_during_line_search(monkeypatch, steps_done: dict, at_step: int, sig, times: int):
    """Raise ``sig`` ``times`` times while L-BFGS evaluates a trial point of step ``at_step``.

    ``steps_done["n"]`` must follow the finished steps (a callback's records say so). The first
    loss evaluated in a step is a trial point: the start point comes from L-BFGS's cache.
    """
    real_objective = losses.objective
    fired = {"done": False}

    def objective(*args, **kwargs):
        if steps_done["n"] == at_step - 1 and not fired["done"]:
            fired["done"] = True
            for _ in range(times):
                signal.raise_signal(sig)
        return real_objective(*args, **kwargs)

    monkeypatch.setattr(losses, "objective", objective)


def _counting(steps_done: dict):
    def callback(record):
        steps_done["n"] = record["step"]

    return callback


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_ctrl_c_inside_an_lbfgs_line_search_stops_after_that_step(images, tmp_path, monkeypatch):
    reference = run(images, optimizer="lbfgs", steps=6)
    ck, handler = tmp_path / "run.ckpt", signal.getsignal(signal.SIGINT)
    done = {"n": 0}
    _signal_during_line_search(monkeypatch, done, at_step=3, sig=signal.SIGINT, times=1)
    stopped = run(images, optimizer="lbfgs", steps=6, checkpoint=ck, callback=_counting(done))
    monkeypatch.undo()
    assert stopped.interrupted
    assert [r["step"] for r in stopped.history] == [1, 2, 3]  # step 3 was finished, not torn
    assert load_checkpoint(ck)["step"] == 3
    resumed = run(images, optimizer="lbfgs", steps=6, resume=ck)
    assert [r["total"] for r in resumed.history] == [r["total"] for r in reference.history]
    assert np.array_equal(np.asarray(resumed.image), np.asarray(reference.image))
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's handler is back


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_second_ctrl_c_stops_at_once_and_keeps_the_last_whole_checkpoint(
    images, tmp_path, monkeypatch
):
    reference = run(images, optimizer="lbfgs", steps=6)
    ck, done = tmp_path / "run.ckpt", {"n": 0}
    _signal_during_line_search(monkeypatch, done, at_step=3, sig=signal.SIGINT, times=2)
    stopped = run(images, optimizer="lbfgs", steps=6, checkpoint=ck, checkpoint_every=1,
                  callback=_counting(done))  # fmt: skip
    monkeypatch.undo()
    assert stopped.interrupted
    assert [r["step"] for r in stopped.history] == [1, 2]
    assert load_checkpoint(ck)["step"] == 2  # the torn step 3 was not saved as finished
    resumed = run(images, optimizer="lbfgs", steps=6, resume=ck)
    assert [r["total"] for r in resumed.history] == [r["total"] for r in reference.history]


# ---- the studio locks what a running job depends on ------------------------------------------


def _job_controls(studio) -> list:
    return [
        studio.content_picker, studio.style_picker, studio.upload_content, studio.upload_style,
        studio.content_weight, studio.style_weight, studio.tv_weight, studio.content_layer,
        *studio.style_layer_boxes.values(), studio.normalization, studio.optimizer, studio.lr,
        studio.steps, studio.preset, studio.image_size, studio.init, studio.precision,
        studio.device, studio.seed,
    ]  # fmt: skip


@pytest.mark.parametrize("outcome", ["finishes", "fails"])
def test_studio_disables_job_controls_while_running(tmp_path, monkeypatch, outcome):
    from nst_helpers.apps import studio as widgets

    started, release = threading.Event(), threading.Event()

    def slow_stylize(content, style, *, callback, steps, **kwargs):
        started.set()
        assert release.wait(RUN_TIMEOUT)
        record = {"step": 1, "total": 1.0, "content": 1.0, "style": 0.0, "tv": 0.0}
        callback(record)
        if outcome == "fails":
            raise RuntimeError("boom")
        return StylizeResult(image=Image.new("RGB", (8, 8)), history=[record])

    monkeypatch.setattr(widgets, "stylize", slow_stylize)
    studio = widgets.StyleStudio(output_dir=tmp_path)
    studio.device.value = "cpu"
    studio.steps.value = 5
    assert studio.run()
    assert started.wait(RUN_TIMEOUT)
    try:
        assert all(c.disabled for c in _job_controls(studio))
        studio.steps.value = 30  # a notebook cell may still set it from code
        assert studio.progress.max == 5
    finally:
        release.set()
    assert studio.wait(RUN_TIMEOUT)
    expected = {"finishes": "1 / 5", "fails": "failed"}[outcome]
    assert studio.progress_label.value.startswith(expected)
    assert not any(c.disabled for c in _job_controls(studio))
    assert not studio.run_button.disabled and studio.stop_button.disabled


# ---- devices: one cached network per device, precisions checked before use ---------------------


def test_device_key_is_the_resolved_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    key = devices.device_key
    assert key(torch.device("cuda")) == key(torch.device("cuda:0")) == key(torch.device("cuda", 0))
    assert key(torch.device("cuda:1")) != key(torch.device("cuda:0"))
    assert key(torch.device("cpu")) == key(torch.device("cpu:0"))
    assert key(torch.device("mps")) == key(torch.device("mps:0"))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)  # torch.cuda.set_device(1)
    assert key(torch.device("cuda")) == key(torch.device("cuda:1"))


def test_one_cached_network_per_device(fresh_vgg_cache):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        assert load_vgg19("random", "cpu") is load_vgg19("random", torch.device("cpu:0"))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_on_mps_is_checked_before_use(monkeypatch, precision):
    mps = torch.device("mps")
    monkeypatch.setattr(devices, "mps_supports", lambda dtype: False)
    with pytest.raises(ValueError, match=f"precision='{precision}'.*MPS"):
        devices.resolve_precision(precision, mps)
    monkeypatch.setattr(devices, "mps_supports", lambda dtype: True)
    assert devices.precision_name(devices.resolve_precision(precision, mps)) == precision


# ---- fp16 dynamic loss scaling --------------------------------------------------------------


def _fp16_toy(factor: float, scale: float):
    """A one-parameter toy loss around the step stylize takes, with an fp16 loss scaler.

    ``loss = sum(fp16(x) * factor)``: its gradient is ``factor`` per pixel, which the fp16
    backward pass holds as ``factor * scale``: it overflows (> 65504) while the scale is large.
    """
    from nst_helpers.optimize.scaler import LossScaler
    from nst_helpers.optimize.state import Best
    from nst_helpers.optimize.steps import AdamStep
    from nst_helpers.parameterization import make_parameterization

    param = make_parameterization("pixel", torch.zeros(1, 3, 2, 2))
    opt = torch.optim.SGD(param.parameters(), lr=0.01)
    scaler = LossScaler(scale)

    def loss(x):
        total = (x.half() * torch.tensor(factor, dtype=torch.float16)).float().sum()
        return {"total": total, "content": total.detach(), "style": total.detach() * 0,
                "tv": total.detach() * 0}  # fmt: skip

    step = AdamStep(param, opt, loss, scaler, Best())
    return step, scaler, param


def test_fp16_overflow_halves_the_scale_and_never_applies_inf_gradients():
    step, scaler, param = _fp16_toy(factor=1000.0, scale=2.0**16)  # 1000 * 64 does not overflow
    scaler.good_steps = 7
    values, extra = step(1)
    assert scaler.scale == 64.0  # halved until the backward pass stayed finite
    assert scaler.good_steps == 1  # the overflow reset the count of good steps, this one counts
    assert extra == {} and values["total"] == 0.0
    x = next(iter(param.parameters()))
    assert torch.equal(x.grad, torch.full_like(x, 1000.0))  # the true gradient, unscaled
    assert torch.isfinite(x).all() and (x < 0).all()  # and SGD took it


def test_fp16_gradient_that_always_overflows_skips_the_step():
    step, scaler, param = _fp16_toy(factor=60000.0, scale=2.0**16)
    before = next(iter(param.parameters())).detach().clone()

    def always_inf(x):  # finite loss, infinite gradient at any scale
        total = torch.sqrt((x - x.detach()).abs().half()).float().sum()
        return {"total": total, "content": total.detach(), "style": total.detach(),
                "tv": total.detach()}  # fmt: skip

    step.loss_fn = always_inf
    values, extra = step(1)
    after = next(iter(param.parameters())).detach()
    assert torch.equal(after, before)  # skipped: no update from a non-finite gradient
    assert scaler.scale < 1.0 and scaler.good_steps == 0
    assert extra == {"skipped": True} and math.isfinite(values["total"])


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_cli_signal_inside_a_line_search_stops_after_that_step(
    images, tmp_path, monkeypatch, capsys, sig
):
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    images[0].save(content)
    images[1].save(style)
    out, ck = tmp_path / "o.png", tmp_path / "run.ckpt"
    done, real_stylize = {"n": 0}, optimize.stylize

    def stylize_counting_steps(*args, callback, **kwargs):  # what the CLI runs, watched
        def counted(record):
            done["n"] = record["step"]
            return callback(record)

        return real_stylize(*args, callback=counted, **kwargs)

    monkeypatch.setattr(optimize, "stylize", stylize_counting_steps)
    _signal_during_line_search(monkeypatch, done, at_step=3, sig=getattr(signal, sig), times=1)
    code = main([
        "stylize", str(content), str(style), "-o", str(out), "--optimizer", "lbfgs",
        "--steps", "6", "--size", "32", "--weights", "random", "--seed", "0", "--quiet",
        "--device", "cpu", "--init", "noise", "--content-layers", "conv2_2",
        "--style-layers", "conv1_1,conv2_1", "--checkpoint", str(ck),
    ])  # fmt: skip
    assert code == 130, capsys.readouterr().err
    assert load_checkpoint(ck)["step"] == 3 and out.exists()
