"""StyleStudio, driven headless the way a learner drives it: set controls, click buttons.

Runs are tiny (64 px, a few steps, random weights). Waiting uses ``StyleStudio.wait`` and short
polling loops with a deadline; nothing is timed.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import time

import ipywidgets as W
import numpy as np
import pytest
from PIL import Image

from nst_helpers.apps import studio as studio_module
from nst_helpers.apps.studio import (
    StyleStudio,
    loss_plot_png,
    png_bytes,
    unique_path,
    uploaded_files,
)
from nst_helpers.optimize import NonFiniteLossError, StylizeResult
from nst_helpers.optimize.balance import weighted_ratio
from nst_helpers.runtime import data

RUN_TIMEOUT = 300  # generous: CI machines are slow and shared; a hang still fails the test


@pytest.fixture
def studio(tmp_path) -> StyleStudio:
    s = StyleStudio(output_dir=tmp_path)
    s.image_size.value = 64
    s.device.value = "cpu"
    yield s
    s.stop()
    s.wait(RUN_TIMEOUT)


def wait_until(predicate, timeout: float = RUN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.02)


def decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img.convert("RGB")


def upload_entry(name: str, content: bytes) -> dict:
    """One file as ipywidgets 8's FileUpload reports it."""
    return {
        "name": name,
        "type": "application/octet-stream",
        "size": len(content),
        "content": memoryview(content),
        "last_modified": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    }


def upload(widget: W.FileUpload, name: str, content: bytes) -> None:
    """What the browser does when a learner picks a file, in this ipywidgets' version."""
    if int(W.__version__.split(".")[0]) >= 8:
        widget.value = (upload_entry(name, content),)
    else:  # ipywidgets 7 (Colab's): the front end sends metadata and data, then a count
        widget.metadata, widget.data = [{"name": name, "size": len(content)}], [content]
        widget._counter += 1


def test_uploaded_files_reads_both_ipywidgets_formats():
    png = png_bytes(Image.new("RGB", (4, 4)))
    v8 = (upload_entry("a.png", png),)
    v7 = {"a.png": {"metadata": {"name": "a.png", "size": len(png)}, "content": png}}
    assert uploaded_files(v8) == uploaded_files(v7) == [("a.png", png)]
    assert uploaded_files(()) == uploaded_files({}) == []


def status_text(s: StyleStudio) -> str:
    return s.status.value


def test_contract_and_quick_defaults(tmp_path):
    s = StyleStudio(output_dir=tmp_path)
    assert isinstance(s, W.VBox) and s.ui is s
    assert isinstance(s.preview, W.Image) and s.preview.value
    for slider in (s.steps, s.image_size, s.content_weight, s.style_weight):
        assert slider.min <= slider.max
    assert 64 <= s.image_size.value <= 128 and s.steps.value <= 50  # NST_QUICK=1 (conftest)
    assert s.result is None and s.history == []
    assert s.wait(0) is True  # nothing running
    assert s.stop_button.disabled  # Stop is off until a run starts
    assert s.save_button.disabled
    # NST_WEIGHTS=random: the banner is part of the widget itself
    htmls = [c.value for c in s.children if isinstance(c, W.HTML)]
    assert any("RANDOM WEIGHTS" in h for h in htmls)
    # samples are offered (the paintings bundled like the rest), with thumbnails
    assert "chelsea" in dict(map(reversed, s.content_picker.options))
    labels = dict(map(reversed, s.style_picker.options))
    assert labels["starry_night"] == "The Starry Night, Vincent van Gogh (1889)"
    assert "brush_strokes" in labels
    assert decode(s.content_thumb.value).size[0] <= studio_module.THUMB_PX
    assert decode(s.style_thumb.value).size[1] <= studio_module.THUMB_PX


def test_run_updates_preview_history_and_result(studio):
    initial = studio.preview.value
    studio.steps.value = 4
    studio.preview_every = 1
    previews: list[bytes] = []
    studio.preview.observe(lambda c: previews.append(c["new"]), "value")

    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)

    result = studio.result
    assert isinstance(result, StylizeResult) and not result.interrupted
    assert studio.error is None
    assert [r["step"] for r in studio.history] == [1, 2, 3, 4]
    assert studio.history == result.history
    assert studio.preview.value != initial
    # the preview ends on the kept (best) image and was also updated during the run
    assert np.array_equal(np.asarray(decode(studio.preview.value)), np.asarray(result.image))
    assert len(previews) >= 4  # live: one per step (preview_every=1), then the kept image
    assert max(result.image.size) == 64
    assert studio.progress.value == 4 and studio.progress.max == 4
    assert not studio.run_button.disabled and studio.stop_button.disabled
    assert not studio.save_button.disabled
    assert "Done: 4 steps" in status_text(studio)
    ratio = weighted_ratio(result.history[-1], result.settings)
    assert f"weighted style/content {ratio:.3g}" in status_text(studio)
    assert f"style/content {ratio:.2g}" in studio.progress_label.value
    assert "not a stylised image" in status_text(studio)  # random weights, said again
    assert decode(studio.loss_plot.value).size[0] > 100


def test_stop_keeps_best_image_and_second_run_is_refused(studio):
    studio.steps.value = studio.steps.max
    studio.run_button.click()
    wait_until(lambda: len(studio.history) >= 3)
    thread = studio._thread

    studio.run_button.click()  # politely refused: same run goes on
    assert "already in progress" in status_text(studio)
    assert studio._thread is thread and studio.running

    studio.stop_button.click()
    assert studio.wait(RUN_TIMEOUT)
    result = studio.result
    assert result is not None and result.interrupted
    assert 3 <= len(result.history) < studio.steps.max
    # the kept image is the lowest-loss one seen, not simply the last
    assert result.best_loss == pytest.approx(min(r["total"] for r in result.history))
    assert 0 <= result.best_step <= len(result.history)
    assert np.array_equal(np.asarray(decode(studio.preview.value)), np.asarray(result.image))
    assert "Stopped after" in status_text(studio)
    assert studio.progress.bar_style == "warning"

    # after the stop a new run is accepted again
    studio.steps.value = 1
    assert studio.run() is True
    assert studio.wait(RUN_TIMEOUT) and not studio.result.interrupted


def test_controls_reach_stylize(studio):
    studio.optimizer.value = "lbfgs"
    assert studio.lr.value == 1.0  # switching optimiser picks its default step size
    studio.lr.value = 0.5
    studio.content_weight.value = 10.0
    studio.style_weight.value = 1000.0
    studio.tv_weight.value = 1e-3
    studio.content_layer.value = "relu3_2"
    for name, box in studio.style_layer_boxes.items():
        box.value = name in ("relu1_1", "relu2_1")
    studio.init.value = "noise"
    studio.seed.value = 7
    studio.precision.value = "fp32"
    studio.image_size.value = 96
    studio.steps.value = 2

    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)
    assert studio.error is None, studio.status.value

    got = studio.result.settings
    assert got["optimizer"] == "lbfgs" and got["lr"] == 0.5
    assert got["content_weight"] == 10.0 and got["style_weight"] == pytest.approx(1000.0)
    assert got["tv_weight"] == 1e-3
    assert got["content_layers"] == ["relu3_2"]
    assert got["style_layers"] == ["relu1_1", "relu2_1"]
    assert got["init"] == "noise" and got["seed"] == 7 and got["precision"] == "fp32"
    assert got["scales"] == [96] and max(studio.result.image.size) == 96
    assert studio.result.device == "cpu"
    # the weights really are the ones the loss used: total = a*content + b*style + tv*TV
    for r in studio.history:
        expected = 10.0 * r["content"] + 1000.0 * r["style"] + 1e-3 * r["tv"]
        assert r["total"] == pytest.approx(expected, rel=1e-4)
    assert any(r["tv"] > 0 for r in studio.history)


def test_optimizer_switch_restores_its_default_lr(studio):
    studio.optimizer.value = "lbfgs"
    assert studio.lr.value == 1.0
    studio.optimizer.value = "adam"
    assert studio.lr.value == pytest.approx(0.02)


def test_no_style_layer_is_refused_with_a_message(studio):
    for box in studio.style_layer_boxes.values():
        box.value = False
    studio.run_button.click()
    assert not studio.running and studio.result is None
    assert "at least one style layer" in status_text(studio)


@pytest.mark.parametrize("payload", [b"definitely not an image", b"", b"\x89PNG\r\n\x1a\n0000"])
def test_bad_upload_gives_a_message_not_a_traceback(studio, payload):
    before = (studio.content_picker.value, studio.content_picker.options)
    upload(studio.upload_content, "notes.txt", payload)
    assert "notes.txt cannot be used" in status_text(studio)
    assert "nst-error" in status_text(studio)
    assert (studio.content_picker.value, studio.content_picker.options) == before
    assert not studio.upload_content.value  # reset, so another file can be picked


def test_uploaded_image_is_used_for_the_run(studio):
    red = Image.new("RGB", (80, 60), (250, 10, 10))
    upload(studio.upload_content, "my cat.png", png_bytes(red))
    assert studio.content_picker.value == "upload:my cat.png"
    assert "Uploaded: my cat.png" in dict(studio.content_picker.options)
    assert decode(studio.content_thumb.value).getpixel((5, 5)) == (250, 10, 10)
    assert studio.image_source("content").size == (80, 60)

    # the same name again gets its own entry rather than replacing the first
    upload(studio.upload_content, "my cat.png", png_bytes(red))
    assert studio.content_picker.value == "upload:my cat.png (2)"

    studio.steps.value = 1
    studio.lr.value = studio.lr.base**studio.lr.min  # tiny step: the image stays the photo
    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)
    arr = np.asarray(studio.result.image).astype(float)
    assert studio.result.image.size == (64, 48)
    assert arr[..., 0].mean() > 235 and arr[..., 1:].mean() < 25


def test_paintings_need_no_network(studio, monkeypatch, tmp_path):
    monkeypatch.setenv("NST_DATA_DIR", str(tmp_path / "cache"))  # nothing cached

    def offline(name, progress=True, url=None):
        raise AssertionError("the studio tried to download a painting")

    monkeypatch.setattr(data, "fetch_painting", offline)
    studio.style_picker.value = "starry_night"
    assert decode(studio.style_thumb.value).size[0] <= studio_module.THUMB_PX
    assert studio.image_source("style") == "starry_night"


def test_network_control_and_the_weights_it_says(monkeypatch):
    from nst_helpers.apps.studio import StyleStudio

    studio = StyleStudio(weights="hed", device="cpu", quick=True)
    assert studio.settings()["network"] == "vgg19"
    assert "HED edge detection (in VGG19's shape)" in html.unescape(studio.weights_note.value)
    studio.network.value = "vgg16"
    assert studio.settings()["network"] == "vgg16"
    assert "trained VGG16 features from HED edge detection, not ImageNet VGG19" in (
        html.unescape(studio.weights_note.value)
    )
    assert studio.network in studio._job_controls()  # locked while a run uses it
    studio.close()
    imagenet = StyleStudio(weights="imagenet", device="cpu", quick=True)
    assert imagenet.weights_note.value == ""  # the paper's network: nothing to warn about
    imagenet.close()


def test_errors_in_a_run_become_messages(studio, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(studio_module, "stylize", boom)
    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)
    assert "RuntimeError: boom" in status_text(studio)
    assert studio.result is None and isinstance(studio.error, RuntimeError)
    assert not studio.run_button.disabled and studio.save_button.disabled

    partial = StylizeResult(image=Image.new("RGB", (8, 8)), history=[], interrupted=True)

    def diverge(*args, **kwargs):
        raise NonFiniteLossError("the loss became nan at step 3", partial)

    monkeypatch.setattr(studio_module, "stylize", diverge)
    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)
    assert "loss became nan" in status_text(studio)
    assert studio.result is partial  # the last finite image is still there to look at/save


def test_save_writes_png_and_never_overwrites(studio, tmp_path):
    assert studio.save() is None
    assert "Nothing to save" in status_text(studio)

    studio.steps.value = 2
    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)

    squatter = tmp_path / "stylized_chelsea_brush_strokes_random-weights.png"
    squatter.write_bytes(b"someone else's file")
    studio.save_button.click()
    studio.save_button.click()
    first, second = studio.saved
    assert squatter.read_bytes() == b"someone else's file"
    assert first.name == "stylized_chelsea_brush_strokes_random-weights_1.png"
    assert second.name == "stylized_chelsea_brush_strokes_random-weights_2.png"
    for path in (first, second):
        assert path.parent == tmp_path
        saved = Image.open(path)
        assert saved.format == "PNG"
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(studio.result.image))
    assert str(second) in status_text(studio)

    custom = studio.save(tmp_path / "mine.jpg")  # always PNG, still never overwriting
    assert custom == tmp_path / "mine.png"
    assert studio.save(tmp_path / "mine.png") == tmp_path / "mine_1.png"


def test_unique_path(tmp_path):
    target = tmp_path / "a.png"
    assert unique_path(target) == target
    target.write_bytes(b"x")
    (tmp_path / "a_1.png").write_bytes(b"x")
    assert unique_path(target) == tmp_path / "a_2.png"


def test_loss_plot_png_draws_history():
    empty = decode(loss_plot_png([]))
    history = [
        {"step": i, "total": 10.0 / i, "content": 1.0 / i, "style": 1e-5 / i, "tv": 0.0}
        for i in range(1, 6)
    ]
    plot = decode(loss_plot_png(history, {"content_weight": 1.0, "style_weight": 1e6}))
    assert plot.size == empty.size
    assert not np.array_equal(np.asarray(plot), np.asarray(empty))


def test_fast_preset_choice_reaches_stylize(studio):
    from nst_helpers.optimize.presets import fast_plan

    studio.image_size.value = 64
    studio.preset.value = "fast"
    assert studio.optimizer.disabled and studio.lr.disabled and studio.steps.disabled
    kwargs = studio.settings()
    assert kwargs["preset"] == "fast" and kwargs["lr"] is None
    assert kwargs["steps"] == sum(fast_plan(64, None, None, None).steps_per_scale)
    studio.preset.value = None
    assert not studio.steps.disabled and "preset" not in studio.settings()


def test_the_final_status_comes_after_the_controls_are_free(studio):
    # A learner (or the browser test) who sees "Done" must find Run enabled and the job's
    # controls unlocked at that moment: widget updates reach the browser in this order.
    seen = []
    studio.status.observe(
        lambda change: seen.append(
            (change["new"], studio.run_button.disabled, studio.steps.disabled)
        ),
        "value",
    )
    studio.steps.value = 2
    studio.run_button.click()
    assert studio.wait(RUN_TIMEOUT)
    final = [(run, steps) for text, run, steps in seen if "Done: 2 steps" in text]
    assert final == [(False, False)]
