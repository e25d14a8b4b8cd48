"""optimize.stylize end to end on tiny images (random VGG19 weights, CPU, a few steps each)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_helpers import (
    NonFiniteLossError,
    StylizeResult,
    WeightsError,
    features,
    losses,
    optimize,
    stylize,
)
from nst_helpers.features import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, load_vgg19
from nst_helpers.images import load_image, resize_to

SIZE = 32  # conv5_1, the deepest default layer, needs 16 px; 48x32 content -> 32x21
FAST = dict(image_size=SIZE, device="cpu", weights="random", precision="fp32")


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img)


def _assert_record(record: dict, step: int) -> None:
    assert record["step"] == step and isinstance(record["step"], int)
    for key in ("total", "content", "style", "tv", "seconds", "lr"):
        assert type(record[key]) is float, (key, type(record[key]))
        assert math.isfinite(record[key]), key


# ---- a normal run ----------------------------------------------------------------------------


def test_result_structure_history_and_snapshots(tiny_images) -> None:
    content, style = tiny_images
    weights = dict(content_weight=2.0, style_weight=1e3, tv_weight=0.5)
    result = stylize(content, style, steps=5, snapshot_every=2, seed=0, **weights, **FAST)
    assert isinstance(result, StylizeResult)
    assert isinstance(result.image, Image.Image) and result.image.mode == "RGB"
    assert result.image.size == (32, 21)  # longest side = image_size, aspect kept
    assert not result.interrupted
    assert len(result.history) == 5
    for step, record in enumerate(result.history, start=1):
        _assert_record(record, step)
        expected = 2.0 * record["content"] + 1e3 * record["style"] + 0.5 * record["tv"]
        assert record["total"] == pytest.approx(expected, rel=1e-5)
        assert record["tv"] > 0 and record["style"] > 0
    assert result.history[0]["content"] == 0.0  # step 1 scores the content image itself
    # every 2 steps, plus the final image
    assert sorted(result.snapshots) == [2, 4, 5]
    assert all(s.size == (32, 21) and s.mode == "RGB" for s in result.snapshots.values())
    assert result.device == "cpu" and result.precision == "fp32"
    assert result.random_weights is True
    assert 0 <= result.best_step <= 5
    assert result.best_loss <= min(r["total"] for r in result.history)


def test_loss_falls_from_noise(tiny_images) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=10, init="noise", seed=0, **FAST)
    totals = [r["total"] for r in result.history]
    assert len(totals) == 10
    assert totals[-1] < totals[0]
    assert result.best_loss < totals[0]


def test_best_image_is_the_lowest_loss_image(tiny_images) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=4, init="noise", seed=3, snapshot_every=1, **FAST)
    # Snapshot k is the image after step k; record k+1 scores it; the last one is scored at
    # the end. The loss falls from noise, so the best image is the last one.
    assert result.best_step == 4
    np.testing.assert_array_equal(_pixels(result.image), _pixels(result.snapshots[4]))


def test_lbfgs_counts_real_iterations(tiny_images) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=3, optimizer="lbfgs", seed=0, **FAST)
    assert [r["step"] for r in result.history] == [1, 2, 3]
    for step, record in enumerate(result.history, start=1):
        _assert_record(record, step)
        assert record.get("evals", 1) >= 1
    assert result.history[-1]["total"] < result.history[0]["total"]
    assert result.image.size == (32, 21)


def test_same_seed_same_pixels(tiny_images) -> None:
    content, style = tiny_images
    run = dict(steps=3, init="noise", **FAST)
    torch.manual_seed(5)
    untouched = torch.rand(4)
    torch.manual_seed(5)
    a = stylize(content, style, seed=1, **run)
    torch.testing.assert_close(torch.rand(4), untouched)  # the caller's RNG is left alone
    b = stylize(content, style, seed=1, **run)
    c = stylize(content, style, seed=2, **run)
    np.testing.assert_array_equal(_pixels(a.image), _pixels(b.image))
    assert [r["total"] for r in a.history] == [r["total"] for r in b.history]
    assert not np.array_equal(_pixels(a.image), _pixels(c.image))


def test_bf16_precision_runs(tiny_images) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=2, seed=0, **{**FAST, "precision": "bf16"})
    assert result.precision == "bf16"
    for step, record in enumerate(result.history, start=1):
        _assert_record(record, step)


# ---- inputs and sizes --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pil", "path", "str", "bytes", "sample"])
def test_content_and_style_accept_what_load_image_does(kind, tiny_images, tiny_image_files):
    content_path, style_path = tiny_image_files
    content, style = {
        "pil": tiny_images,
        "path": (content_path, style_path),
        "str": (str(content_path), str(style_path)),
        "bytes": (content_path.read_bytes(), style_path.read_bytes()),
        "sample": ("chelsea", "mosaic"),
    }[kind]
    result = stylize(content, style, steps=0, init="content", **FAST)
    # zero steps from the content image: the result is the content image at image_size
    expected = resize_to(load_image(content, max_size=SIZE), SIZE)
    assert result.image.size == expected.size and max(expected.size) == SIZE
    np.testing.assert_array_equal(_pixels(result.image), _pixels(expected))
    assert result.history == [] and not result.interrupted


@pytest.mark.parametrize(("size", "expected"), [(24, (24, 16)), (32, (32, 21)), (64, (64, 43))])
def test_result_size_is_image_size_on_the_longest_side(size, expected, tiny_images) -> None:
    content, style = tiny_images
    run = dict(steps=0, image_size=size, device="cpu", weights="random", precision="fp32")
    landscape = stylize(content, style, **run)
    assert landscape.image.size == expected
    portrait = stylize(content.transpose(Image.Transpose.TRANSPOSE), style, **run)
    assert portrait.image.size == expected[::-1]


def test_init_style_starts_from_the_style_image(tiny_images) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=0, init="style", **FAST)
    expected = resize_to(load_image(style, max_size=SIZE), (21, 32))
    np.testing.assert_array_equal(_pixels(result.image), _pixels(expected))


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto picks the GPU")
def test_device_auto_and_default_weights(tiny_images, monkeypatch) -> None:
    monkeypatch.setenv("NST_WEIGHTS", "random")
    content, style = tiny_images
    result = stylize(content, style, steps=1, image_size=SIZE)  # device="auto", weights=None
    assert result.device in ("cpu", "mps")
    assert result.random_weights


def test_missing_weights_file(tiny_images, tmp_path) -> None:
    content, style = tiny_images
    with pytest.raises(WeightsError, match="nothing.pth"):
        stylize(
            content, style, steps=1, image_size=SIZE, device="cpu", weights=tmp_path / "nothing.pth"
        )


def test_save_refuses_to_overwrite(tiny_images, tmp_path: Path) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=0, **FAST)
    path = result.save(tmp_path / "out" / "result.png")
    np.testing.assert_array_equal(_pixels(Image.open(path)), _pixels(result.image))
    with pytest.raises(FileExistsError):
        result.save(path)


# ---- invalid arguments: ValueError before any work -----------------------------------------


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if stylize builds the network (which every optimisation needs first)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("stylize did work before rejecting its arguments")

    monkeypatch.setattr(features, "load_vgg19", forbidden)
    monkeypatch.setattr(losses, "objective", forbidden)


class _Untouchable(Image.Image):
    """A PIL image that fails the test as soon as it is loaded (``load_image`` copies it)."""

    def copy(self):
        raise AssertionError("stylize loaded images before checking its arguments")


def _untouchable(img: Image.Image) -> Image.Image:
    spy = img.copy()
    spy.__class__ = _Untouchable
    return spy


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "sgd"}, "sgd"),
        ({"optimizer": "Adam"}, "Adam"),
        ({"steps": -1}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": "10"}, "steps"),
        ({"content_weight": float("nan")}, "content_weight"),
        ({"style_weight": float("inf")}, "style_weight"),
        ({"tv_weight": -float("inf")}, "tv_weight"),
        ({"style_weight": -1.0}, "style_weight"),
        ({"content_weight": "1"}, "content_weight"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"init": "zeros"}, "zeros"),
        ({"precision": "fp64"}, "fp64"),
        ({"device": "bogus"}, "bogus"),
        ({"image_size": 8}, "too small"),
        ({"image_size": 0}, "too small"),
        ({"image_size": 32.0}, "32.0"),
        ({"content_layers": ("conv9_9",)}, "conv9_9"),
        ({"style_layers": ["relu1_1", "bogus"]}, "bogus"),
        ({"style_layers": []}, "layer"),
        ({"snapshot_every": 0}, "snapshot_every"),
        ({"pooling": "min"}, "pooling"),
        ({"normalization": "gatys"}, "normalization"),
    ],
)
def test_invalid_arguments_fail_before_any_work(kwargs, match, tiny_images, no_work):
    content, style = (_untouchable(img) for img in tiny_images)
    with pytest.raises(AssertionError, match="loaded images"):
        _untouchable(content).copy()  # the spy works
    run = {"steps": 3, **FAST, **kwargs}
    with pytest.raises(ValueError, match=match):
        stylize(content, style, **run)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_unavailable_cuda_fails_before_any_work(tiny_images, no_work) -> None:
    content, style = tiny_images
    with pytest.raises(ValueError, match="CUDA"):
        stylize(content, style, steps=1, image_size=SIZE, device="cuda")


def test_image_too_small_for_the_deepest_layer(tiny_images, no_work) -> None:
    _, style = tiny_images
    sliver = Image.new("RGB", (200, 10), (90, 90, 90))  # 32 px wide -> 2 px tall
    with pytest.raises(ValueError, match="16 px"):
        stylize(sliver, style, steps=1, **FAST)


def test_shallow_layers_work_on_small_images(tiny_images) -> None:
    _, style = tiny_images
    sliver = Image.new("RGB", (200, 10), (90, 90, 90))
    result = stylize(
        sliver, style, steps=1, content_layers=("conv1_1",), style_layers=("conv2_1",), **FAST
    )
    assert result.image.size == (32, 2)


def test_unreadable_input_fails_before_any_work(tmp_path, tiny_images, no_work) -> None:
    content, _ = tiny_images
    bad = tmp_path / "style.jpg"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="style.jpg"):
        stylize(content, bad, steps=1, **FAST)
    with pytest.raises(FileNotFoundError):
        stylize(tmp_path / "missing.png", content, steps=1, **FAST)


# ---- stopping early ------------------------------------------------------------------------


def test_callback_returning_false_stops(tiny_images) -> None:
    content, style = tiny_images
    seen: list[dict] = []

    def callback(record: dict) -> bool:
        seen.append(record)
        return record["step"] < 3

    result = stylize(content, style, steps=20, callback=callback, seed=0, **FAST)
    assert result.interrupted
    assert [r["step"] for r in result.history] == [1, 2, 3]
    assert seen == result.history
    assert result.image.size == (32, 21)


def test_callback_returning_none_continues(tiny_images) -> None:
    content, style = tiny_images
    result = stylize(content, style, steps=2, callback=lambda record: None, **FAST)
    assert not result.interrupted and len(result.history) == 2


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_ctrl_c_returns_best_image_so_far(optimizer, tiny_images) -> None:
    content, style = tiny_images

    def callback(record: dict) -> None:
        if record["step"] == 2:
            raise KeyboardInterrupt

    result = stylize(
        content,
        style,
        steps=20,
        init="noise",
        seed=0,
        optimizer=optimizer,
        callback=callback,
        snapshot_every=1,
        **FAST,
    )
    assert result.interrupted
    assert len(result.history) == 2
    totals = [r["total"] for r in result.history]
    assert result.best_loss == min(totals)
    assert result.image.size == (32, 21)
    if result.best_step >= 1:  # record k scores the image after step k - 1
        np.testing.assert_array_equal(
            _pixels(result.image), _pixels(result.snapshots[result.best_step])
        )


def test_non_finite_loss_stops_with_last_finite_image(tiny_images, monkeypatch) -> None:
    content, style = tiny_images
    calls = {"n": 0}
    real_objective = losses.objective

    def style_nan_from_step_3(*args, **kwargs):
        calls["n"] += 1
        out = real_objective(*args, **kwargs)
        if calls["n"] >= 3:
            out["style"] = out["style"] * float("nan")
            out["total"] = out["total"] + out["style"]
        return out

    monkeypatch.setattr(losses, "objective", style_nan_from_step_3)  # stylize's loss
    with pytest.raises(NonFiniteLossError) as info:
        stylize(content, style, steps=10, seed=0, snapshot_every=1, **FAST)
    message = str(info.value)
    assert "nan" in message and "step 3" in message
    result = info.value.result
    assert isinstance(result, StylizeResult) and result.interrupted
    assert [r["step"] for r in result.history] == [1, 2]
    assert math.isfinite(result.best_loss)
    assert result.best_loss == min(r["total"] for r in result.history)
    assert result.image.size == (32, 21)
    if result.best_step >= 1:
        np.testing.assert_array_equal(
            _pixels(result.image), _pixels(result.snapshots[result.best_step])
        )


def test_non_finite_loss_with_lbfgs(tiny_images, monkeypatch) -> None:
    content, style = tiny_images
    real_objective = losses.objective
    calls = {"n": 0}

    def content_inf(*args, **kwargs):
        calls["n"] += 1
        out = real_objective(*args, **kwargs)
        if calls["n"] >= 3:
            out["content"] = out["content"] * float("inf")
            out["total"] = out["total"] + out["content"]
        return out

    monkeypatch.setattr(losses, "objective", content_inf)
    with pytest.raises(NonFiniteLossError) as info:
        stylize(content, style, steps=10, optimizer="lbfgs", seed=0, **FAST)
    result = info.value.result
    assert math.isfinite(result.best_loss)
    assert result.image.size == (32, 21)
    assert all(math.isfinite(r["total"]) for r in result.history)


# ---- progress bar --------------------------------------------------------------------------


def test_progress_bar(tiny_images, capsys) -> None:
    content, style = tiny_images
    stylize(content, style, steps=2, progress=True, **FAST)
    err = capsys.readouterr().err
    assert "stylize" in err and "2/2" in err


def test_no_progress_bar_by_default(tiny_images, capsys) -> None:
    content, style = tiny_images
    stylize(content, style, steps=2, **FAST)
    captured = capsys.readouterr()
    assert "2/2" not in captured.err and "2/2" not in captured.out


# ---- the loss's normalisation: weights that mean the same at every size and scale ----------


def test_history_records_per_layer_style_terms_and_settings_the_normalisation(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, steps=3, seed=0, **FAST)
    assert result.settings["normalization"] == "relative"
    assert result.settings["content_weight"] == 1.0
    assert result.settings["style_weight"] == optimize.DEFAULT_STYLE_WEIGHT
    assert result.settings["style_layers"] == list(DEFAULT_STYLE_LAYERS)
    assert result.settings["content_layers"] == list(DEFAULT_CONTENT_LAYERS)
    for record in result.history:
        per_layer = [record[f"style/{n}"] for n in DEFAULT_STYLE_LAYERS]
        assert all(type(v) is float and v > 0 for v in per_layer)
        assert sum(per_layer) == pytest.approx(record["style"], rel=1e-5)
        assert record["total"] == pytest.approx(
            record["content"] + optimize.DEFAULT_STYLE_WEIGHT * record["style"], rel=1e-5
        )


def _scaled_vgg19_file(path: Path) -> Path:
    """The random VGG19 with conv k's weight times s_k and its bias times s_1 * ... * s_k:
    every activation is then an exact positive multiple (c_k = s_1 * ... * s_k) of the
    original's, because ReLU and pooling commute with positive scaling."""
    state = {k: v.clone() for k, v in load_vgg19("random").state_dict().items()}
    factors = [3.0, 0.4, 2.5, 1.7, 0.6, 4.0, 1.3, 0.8]  # c_k ranges over ~[1, 200]
    c = 1.0
    convs = sorted({int(k.split(".")[0]) for k in state}, key=int)
    for k, index in enumerate(convs):
        s = factors[k % len(factors)]
        c *= s
        state[f"{index}.weight"] *= s
        state[f"{index}.bias"] += 0.01  # random VGG19 has zero biases: make them matter
        state[f"{index}.bias"] *= c
    torch.save(state, path)
    return path


def _biased_vgg19_file(path: Path) -> Path:
    """The reference for the scaled file: the same nonzero biases, no scaling."""
    state = {k: v.clone() for k, v in load_vgg19("random").state_dict().items()}
    for key in state:
        if key.endswith("bias"):
            state[key] += 0.01
    torch.save(state, path)
    return path


@pytest.mark.parametrize("normalization", ["relative", "paper"])
def test_rescaled_network_gives_the_same_pixels_only_when_relative(
    normalization, tiny_images, tmp_path, fresh_vgg_cache
):
    content, style = tiny_images
    run = dict(
        steps=8,
        image_size=SIZE,
        device="cpu",
        seed=0,
        normalization=normalization,
        precision="fp32",
    )
    if normalization == "paper":
        run["style_weight"] = 1e6  # the old default: a sensible balance for eq. 1-5 here
    plain = stylize(content, style, weights=_biased_vgg19_file(tmp_path / "plain.pth"), **run)
    scaled = stylize(content, style, weights=_scaled_vgg19_file(tmp_path / "scaled.pth"), **run)
    a, b = _pixels(plain.image).astype(int), _pixels(scaled.image).astype(int)
    if normalization == "relative":
        assert np.abs(a - b).max() <= 1  # float rounding may move a pixel by one level
        assert np.mean(a != b) < 0.01
        for ra, rb in zip(plain.history, scaled.history, strict=True):
            assert rb["total"] == pytest.approx(ra["total"], rel=1e-4, abs=1e-9)
    else:
        assert np.abs(a - b).mean() > 2, "eq. 1-5 should depend on the activations' scale"


def _noise_start_balance(size: int, normalization: str) -> float:
    beta = optimize.DEFAULT_STYLE_WEIGHT if normalization == "relative" else 1e6
    result = stylize(
        "chelsea",
        "brush_strokes",
        steps=1,
        image_size=size,
        init="noise",
        seed=0,
        style_weight=beta,
        normalization=normalization,
        device="cpu",
        precision="fp32",
        weights="random",
    )
    first = result.history[0]  # scores the noise image itself
    return beta * first["style"] / (1.0 * first["content"])


@pytest.mark.parametrize("normalization", ["relative", "paper"])
def test_balance_from_noise_barely_moves_when_the_side_doubles(normalization):
    small, large = _noise_start_balance(64, normalization), _noise_start_balance(128, normalization)
    change = max(small, large) / min(small, large)
    if normalization == "relative":
        assert change < 2, (small, large)
    else:
        assert change > 2, (small, large)  # eq. 1-5: content grows with positions, ~4x here
