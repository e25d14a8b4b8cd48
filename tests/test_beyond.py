"""Beyond the paper: colour preservation, style blends and scale, pooling, coarse-to-fine,
Fourier parameterisation, TV, layer weights and mixed precision.

Every ``stylize`` run here is tiny (32-64 px, a few steps) with the seeded random VGG19: the
tests check the mechanics (what each option changes, and what it must leave alone), not art.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nst_helpers import gram_matrix, image_to_tensor, stylize, tv_loss
from nst_helpers.color import match_histogram, rgb_to_yiq, transfer_luminance, yiq_to_rgb
from nst_helpers.features import FeatureExtractor
from nst_helpers.fourier import FourierParameterization, frequency_scale
from nst_helpers.images import denormalize, resize_to

RUN = dict(image_size=32, steps=3, seed=0, weights="random", device="cpu", precision="fp32")


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _smooth(h: int, w: int, seed: int, low: float = 0.2, high: float = 0.8) -> Image.Image:
    """A mid-range RGB image with correlated channels (no clipping anywhere near it)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, (h, w, 1))
    arr = 0.6 * base + 0.4 * rng.uniform(0, 1, (h, w, 3))
    return Image.fromarray(((low + (high - low) * arr) * 255).round().astype(np.uint8), "RGB")


def _yiq(img: Image.Image) -> np.ndarray:
    """Independent YIQ of a PIL image, written out from the NTSC coefficients."""
    a = np.asarray(img, dtype=np.float64) / 255.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return np.stack(
        [
            0.299 * r + 0.587 * g + 0.114 * b,
            0.5959 * r - 0.2746 * g - 0.3213 * b,
            0.2115 * r - 0.5227 * g + 0.3112 * b,
        ],
        axis=-1,
    )


# ------------------------------------------------------------------------------ colour


def test_yiq_known_values_and_round_trip():
    white = np.ones((1, 1, 3))
    np.testing.assert_allclose(rgb_to_yiq(white)[0, 0], [1.0, 0.0, 0.0], atol=1e-4)
    red = np.array([[[1.0, 0.0, 0.0]]])
    np.testing.assert_allclose(rgb_to_yiq(red)[0, 0], [0.299, 0.5959, 0.2115], atol=1e-12)
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)  # tensors are channels-first
    y = rgb_to_yiq(x)
    assert isinstance(y, torch.Tensor) and y.shape == x.shape
    torch.testing.assert_close(y[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])
    torch.testing.assert_close(yiq_to_rgb(y), x)
    arr = np.random.default_rng(0).uniform(size=(4, 6, 3))  # arrays are channels-last
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(arr)), arr, atol=1e-12)
    np.testing.assert_allclose(rgb_to_yiq(x.numpy(), channel_axis=-3), y.numpy(), atol=1e-12)


def test_yiq_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="3 colour channels"):
        rgb_to_yiq(torch.rand(1, 4, 5, 5))
    with pytest.raises(TypeError, match="float"):
        rgb_to_yiq(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))


def test_transfer_luminance_keeps_content_chroma_and_stylized_luma():
    stylized, content = _smooth(24, 30, seed=1), _smooth(24, 30, seed=2, low=0.3, high=0.7)
    out = transfer_luminance(stylized, content)
    assert out.size == stylized.size and out.mode == "RGB"
    got, want_chroma, want_luma = _yiq(out), _yiq(content), _yiq(stylized)
    # 8-bit rounding moves each channel by <= 0.5/255 -> YIQ by < 0.0025.
    assert np.abs(got[..., 1:] - want_chroma[..., 1:]).max() < 0.005
    assert np.abs(got[..., 0] - want_luma[..., 0]).max() < 0.005
    # ... and it really changed something: the stylized image's own chroma is gone.
    assert np.abs(want_luma[..., 1:] - want_chroma[..., 1:]).max() > 0.05


def test_transfer_luminance_resizes_content():
    stylized, content = _smooth(20, 30, seed=3), _smooth(40, 60, seed=4)
    out = transfer_luminance(stylized, content)
    assert out.size == (30, 20)
    small = resize_to(content, (20, 30))
    assert np.abs(_yiq(out)[..., 1:] - _yiq(small)[..., 1:]).mean() < 0.005


@pytest.mark.parametrize("mode", ["pca", "cholesky"])
def test_match_histogram_matches_mean_and_covariance(mode):
    rng = np.random.default_rng(5)
    # Style: uniform colours strongly mixed between channels; content: a dim bluish photo.
    mix = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.3, 0.1, 0.6]])
    style_arr = rng.uniform(0, 1, (40, 50, 3)) @ mix.T
    content_arr = 0.35 + 0.08 * rng.normal(size=(30, 30, 3)) @ mix + np.array([0, 0.05, 0.2])
    to_img = lambda a: Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8))  # noqa: E731
    style, content = to_img(style_arr), to_img(content_arr)
    out = match_histogram(style, content, mode=mode)
    assert out.size == style.size
    o = np.asarray(out, dtype=np.float64).reshape(-1, 3) / 255
    c = np.asarray(content, dtype=np.float64).reshape(-1, 3) / 255
    s = np.asarray(style, dtype=np.float64).reshape(-1, 3) / 255
    np.testing.assert_allclose(o.mean(0), c.mean(0), atol=0.005)
    np.testing.assert_allclose(o.std(0), c.std(0), atol=0.005)
    np.testing.assert_allclose(np.cov(o.T), np.cov(c.T), atol=3e-4)
    assert np.abs(s.mean(0) - c.mean(0)).max() > 0.05  # the test is not trivially satisfied


def test_match_histogram_validates_mode_and_survives_grey_style():
    grey = Image.new("RGB", (8, 8), (128, 128, 128))
    with pytest.raises(ValueError, match="mode"):
        match_histogram(grey, grey, mode="lab")
    content = _smooth(8, 8, seed=6)
    out = np.asarray(match_histogram(grey, content))  # flat style: no division by zero
    np.testing.assert_allclose(
        out.reshape(-1, 3).mean(0), np.asarray(content).reshape(-1, 3).mean(0), atol=1.0
    )


def test_stylize_preserve_color_luminance_keeps_content_chroma(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, preserve_color="luminance", **RUN)
    plain = stylize(content, style, **RUN)
    ref = resize_to(content, (result.image.height, result.image.width))
    chroma = np.abs(_yiq(result.image)[..., 1:] - _yiq(ref)[..., 1:])
    assert np.median(chroma) < 0.005  # clipping may move a few saturated pixels
    np.testing.assert_allclose(_yiq(result.image)[..., 0], _yiq(plain.image)[..., 0], atol=0.02)


def test_stylize_preserve_color_histogram_changes_the_result(tiny_images):
    content, style = tiny_images
    matched = stylize(content, style, preserve_color="histogram", **RUN)
    plain = stylize(content, style, **RUN)
    assert matched.image.size == plain.image.size
    assert not np.array_equal(_pixels(matched.image), _pixels(plain.image))


# ------------------------------------------------------------------------ style blends


def test_blend_one_zero_equals_single_style(tiny_images):
    content, style = tiny_images
    other = _smooth(40, 40, seed=7)
    single = stylize(content, style, **RUN)
    blended = stylize(content, [style, other], style_blend=[1.0, 0.0], **RUN)
    np.testing.assert_array_equal(_pixels(blended.image), _pixels(single.image))
    mixed = stylize(content, [style, other], style_blend=[0.5, 0.5], **RUN)
    assert not np.array_equal(_pixels(mixed.image), _pixels(single.image))


@pytest.mark.parametrize(
    ("blend", "message"),
    [([1.0], "2 style"), ([1.0, 0.5, 0.2], "2 style"), ([1.0, -0.5], ">= 0"), ([0, 0], "zero")],
)
def test_blend_weights_are_validated(tiny_images, blend, message):
    content, style = tiny_images
    with pytest.raises(ValueError, match=message):
        stylize(content, [style, style], style_blend=blend, **RUN)


def test_blend_weights_are_normalised(tiny_images):
    content, style = tiny_images
    result = stylize(content, [style, style], style_blend=[3, 1], **{**RUN, "steps": 0})
    assert result.settings["style_blend"] == pytest.approx([0.75, 0.25])


def test_style_scale_changes_targets_and_is_validated(tiny_images):
    content, style = tiny_images
    base = stylize(content, style, **RUN)
    scaled = stylize(content, style, style_scale=2.0, **RUN)
    assert scaled.image.size == base.image.size  # only the style's size changes
    assert scaled.history[0]["style"] != pytest.approx(base.history[0]["style"], rel=1e-3)
    assert not np.array_equal(_pixels(scaled.image), _pixels(base.image))
    for bad in (0, 0.0, -1.0):
        with pytest.raises(ValueError, match="style_scale"):
            stylize(content, style, style_scale=bad, **RUN)


# ---------------------------------------------------------------------------- pooling


def test_avg_pooling_swaps_the_pools_and_changes_the_result(tiny_images):
    avg = FeatureExtractor(["conv5_1"], weights="random", pooling="avg")
    kinds = [type(m) for m in avg.net]
    assert kinds.count(nn.AvgPool2d) == 4 and nn.MaxPool2d not in kinds
    assert nn.AvgPool2d not in [
        type(m) for m in FeatureExtractor(["conv5_1"], weights="random").net
    ]
    content, style = tiny_images
    a = stylize(content, style, pooling="avg", **RUN)
    m = stylize(content, style, pooling="max", **RUN)
    assert a.settings["pooling"] == "avg"
    assert not np.array_equal(_pixels(a.image), _pixels(m.image))
    with pytest.raises(ValueError, match="pooling"):
        stylize(content, style, pooling="min", **RUN)


# ------------------------------------------------------------------------- multi-scale


def test_coarse_to_fine_ends_at_final_size_with_history_per_step(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, **{**RUN, "steps": 7}, scales=[32, 48, 64])
    assert max(result.image.size) == 64
    assert result.image.size == resize_to(content, 64).size
    assert [r["step"] for r in result.history] == list(range(1, 8))
    scales = [r["scale"] for r in result.history]
    assert scales == [32, 32, 48, 48, 64, 64, 64]  # 7 // 3 each, the remainder at the end
    assert all(np.isfinite(r["total"]) for r in result.history)


def test_scales_are_validated(tiny_images):
    content, style = tiny_images
    with pytest.raises(ValueError, match="too small"):
        stylize(content, style, **RUN, scales=[8, 32])


# ------------------------------------------------------------------------------ Fourier


@pytest.mark.parametrize("shape", [(32, 32), (21, 32), (31, 45)])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_fourier_round_trips_an_image(shape, decorrelate):
    x = image_to_tensor(_smooth(*shape, seed=8))
    param = FourierParameterization(x, decorrelate=decorrelate)
    assert param.image().shape == x.shape
    torch.testing.assert_close(param.image().detach(), x, atol=1e-5, rtol=0)
    noise = torch.randn(1, 3, *shape)  # also outside [0, 1]: the map is linear, not clipped
    torch.testing.assert_close(
        FourierParameterization(noise).image().detach(), noise, atol=1e-5, rtol=0
    )


def test_fourier_is_differentiable_projects_and_checkpoints():
    x = image_to_tensor(_smooth(16, 20, seed=9))
    param = FourierParameterization(x)
    (spectrum,) = param.parameters()
    assert spectrum.requires_grad and spectrum.dtype == torch.float32
    (param.image() ** 2).sum().backward()
    assert spectrum.grad is not None and spectrum.grad.abs().sum() > 0
    saved = param.state_dict()
    with torch.no_grad():
        spectrum.mul_(5.0)  # pushes many pixels outside [0, 1]
    assert not (denormalize(param.image().detach()) >= 0).all()
    param.project_()
    pixels = denormalize(param.image().detach())
    assert pixels.min() > -1e-5 and pixels.max() < 1 + 1e-5
    param.load_state_dict(saved)
    torch.testing.assert_close(param.image().detach(), x, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="does not fit"):
        FourierParameterization(torch.zeros(1, 3, 8, 8)).load_state_dict(saved)


def test_frequency_scale_is_one_over_f_with_unit_rms():
    scale = frequency_scale(8, 8)
    assert scale.shape == (8, 5)
    assert scale[0, 1] == pytest.approx(2 * scale[0, 2])  # f = 1/8 vs 2/8
    assert scale[0, 0] == pytest.approx(scale[0, 1])  # DC is capped at the lowest frequency
    full = torch.cat([scale, scale[:, 1:4].flip(1)], dim=1)  # the implied mirror half
    assert (full**2).mean().item() == pytest.approx(1.0, rel=1e-5)


def test_frequency_scale_weights_waves_longer_than_the_longest_period_like_it():
    scale = frequency_scale(8, 8, decay_power=1.25, longest_period=4)
    assert scale[0, 0] == pytest.approx(scale[0, 2])  # DC and f = 1/8 are weighted like f = 1/4
    assert scale[0, 1] == pytest.approx(scale[0, 2])
    assert scale[1, 1] == pytest.approx(scale[0, 2])  # f = sqrt(2)/8 < 1/4 as well
    assert scale[0, 2] / scale[0, 3] == pytest.approx(1.5**1.25)  # f = 2/8 vs 3/8, unchanged
    full = torch.cat([scale, scale[:, 1:4].flip(1)], dim=1)
    assert (full**2).mean().item() == pytest.approx(1.0, rel=1e-5)
    # a period at least the image's size is the default
    torch.testing.assert_close(frequency_scale(8, 6, longest_period=50), frequency_scale(8, 6))
    with pytest.raises(ValueError, match="longest_period"):
        frequency_scale(8, 8, longest_period=0)


def test_stylize_fourier_reduces_the_loss(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, parameterization="fourier", **{**RUN, "steps": 6})
    totals = [r["total"] for r in result.history]
    assert totals[-1] < totals[0]
    assert result.best_loss < totals[0]
    assert result.settings["parameterization"] == "fourier"


def test_fourier_checkpoint_resumes_exactly(tiny_images, tmp_path):
    content, style = tiny_images
    run = {**RUN, "steps": 4, "parameterization": "fourier"}
    full = stylize(content, style, **run)
    ckpt = tmp_path / "run.ckpt"
    cut = stylize(content, style, checkpoint=ckpt, callback=lambda r: r["step"] < 2, **run)
    assert cut.interrupted and len(cut.history) == 2
    resumed = stylize(content, style, resume=ckpt, **run)
    assert [r["total"] for r in resumed.history] == [r["total"] for r in full.history]
    np.testing.assert_array_equal(_pixels(resumed.image), _pixels(full.image))


def test_features_compose(tiny_images):
    content, style = tiny_images
    result = stylize(
        content, [style, _smooth(40, 40, seed=10)], style_blend=[0.7, 0.3], scales=[32, 45],
        parameterization="fourier", preserve_color="luminance", pooling="avg", tv_weight=1.0,
        style_scale=1.5, **{**RUN, "steps": 4},
    )  # fmt: skip
    assert max(result.image.size) == 45
    assert [r["scale"] for r in result.history] == [32, 32, 45, 45]
    assert all(np.isfinite(r["total"]) for r in result.history)


# ------------------------------------------------------------------------------ TV prior


def test_tv_weight_makes_the_result_smoother(tiny_images):
    content, style = tiny_images
    run = {**RUN, "steps": 5}  # content init: the style loss roughens it, TV smooths it
    rough = stylize(content, style, tv_weight=0.0, **run)
    smooth = stylize(content, style, tv_weight=10.0, **run)
    assert smooth.history[-1]["tv"] > 0 and rough.history[-1]["tv"] == 0
    tv_rough = tv_loss(image_to_tensor(rough.image)).item()
    tv_smooth = tv_loss(image_to_tensor(smooth.image)).item()
    assert tv_smooth < 0.7 * tv_rough  # about 0.35 here


# -------------------------------------------------------------------------- layer weights


@pytest.mark.parametrize(
    "weights",
    [{"conv9_9": 1.0}, [1.0, 1.0], [1.0, -1.0, 0, 0, 0], {"relu1_1": float("nan")}, ["a"] * 5],
)
def test_style_layer_weights_are_validated(tiny_images, weights):
    content, style = tiny_images
    with pytest.raises(ValueError):
        stylize(content, style, style_layer_weights=weights, **RUN)


def test_zero_layer_weights_drop_those_layers(tiny_images):
    content, style = tiny_images
    as_dict = stylize(content, style, style_layer_weights={"relu1_1": 1.0, "relu3_1": 0.0}, **RUN)
    as_list = stylize(content, style, style_layer_weights=[1.0, 0, 0, 0, 0], **RUN)
    only = stylize(content, style, style_layers=["relu1_1"], style_layer_weights=[1.0], **RUN)
    for run in (as_dict, as_list):
        assert [r["style"] for r in run.history] == pytest.approx(
            [r["style"] for r in only.history], rel=1e-5
        )
        assert np.abs(_pixels(run.image) - _pixels(only.image)).max() <= 1
    equal = stylize(content, style, **RUN)  # default: 1/5 each, a different loss
    assert equal.history[0]["style"] != pytest.approx(only.history[0]["style"], rel=1e-3)


def test_content_layer_choice_changes_the_content_loss(tiny_images):
    content, style = tiny_images
    deep = stylize(content, style, **{**RUN, "init": "noise", "steps": 1})
    shallow = stylize(
        content, style, content_layers=["relu2_2"], **{**RUN, "init": "noise", "steps": 1}
    )
    assert shallow.history[0]["content"] != pytest.approx(deep.history[0]["content"], rel=1e-3)


# --------------------------------------------------------------------------- precision


def test_bf16_on_cpu_runs_and_keeps_grams_fp32(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, **{**RUN, "precision": "bf16"})
    assert result.precision == "bf16"
    assert all(np.isfinite(r["total"]) for r in result.history)
    feats = torch.randn(1, 4, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        conv = nn.Conv2d(4, 4, 3)(feats)
        assert conv.dtype == torch.bfloat16  # autocast really is on
        g = gram_matrix(conv)
    assert g.dtype == torch.float32
    flat = conv.float().reshape(1, 4, -1)
    torch.testing.assert_close(g, flat @ flat.transpose(1, 2))


def test_fp16_gram_does_not_overflow():
    x = torch.full((1, 8, 64, 64), 300.0, dtype=torch.float16)
    # Each entry is 300^2 * 4096 = 368,640,000: far above fp16's max of 65,504.
    assert torch.isinf((x[0, 0].flatten() * x[0, 0].flatten()).sum())  # fp16 would overflow
    g = gram_matrix(x)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()
    assert torch.equal(g, torch.full((1, 8, 8), 368_640_000.0))
