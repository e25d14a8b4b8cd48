"""VGG19 as a feature extractor: layer names, weight loading and a truncated, frozen network.

Gatys et al. describe the network by layer *names* (``conv4_2``, ``relu3_1``); torchvision
stores it as a flat ``nn.Sequential`` indexed by position. ``VGG19_LAYERS`` maps one onto the
other, and ``FeatureExtractor`` runs the network only as deep as the deepest layer asked for.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from .devices import device_key, memory_format, resolve_device

# torchvision's configuration "E" (VGG19): channels per conv, "M" for a 2x2 max-pool.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M")  # fmt: skip


def _layer_names() -> dict[str, int]:
    names: dict[str, int] = {}
    block, conv, index = 1, 1, 0
    for item in _VGG19_CFG:
        if item == "M":
            names[f"pool{block}"] = index
            index += 1
            block, conv = block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
            conv += 1
    return names


VGG19_LAYERS: dict[str, int] = _layer_names()
"""Layer name -> index in ``torchvision.models.vgg19().features`` (``conv4_2`` -> 21)."""

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
"""The paper's layers as its Caffe model computed them: Gatys et al. name ``conv4_2`` and
``conv1_1 ... conv5_1``, but Caffe's ReLUs run in place, so those blobs hold the post-ReLU
activations (Gatys' own PyTorch port uses ``r42`` and ``r11 ... r51``). Here ``convX_Y`` means
the output before the ReLU and ``reluX_Y`` after it, so the defaults are ``relu*``."""

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILENAME}"
RANDOM_SEED = 0


class WeightsError(RuntimeError):
    """VGG19 weights could not be found, downloaded or read; the message says how to fix it."""


class RandomWeightsWarning(UserWarning):
    """Shown whenever a randomly initialised VGG19 is used: its pictures are not art."""


def build_vgg19_features() -> nn.Sequential:
    """The layer structure of ``torchvision.models.vgg19().features``, without the classifier.

    Building only the features skips the 120M-parameter classifier that NST never uses.
    """
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers)


def _empty_vgg19_features() -> nn.Sequential:
    """``build_vgg19_features()`` with uninitialised weights, for loading into.

    Built on the meta device, so it skips the default init: loading a network never draws from
    the global RNG (a seeded notebook gets the same noise whether or not VGG19 was cached).
    """
    with torch.device("meta"):
        net = build_vgg19_features()
    return net.to_empty(device="cpu")


def default_weights() -> str:
    """``NST_WEIGHTS`` when set (``imagenet``, ``random`` or a path), else ``imagenet``."""
    return os.environ.get("NST_WEIGHTS", "").strip() or "imagenet"


def weights_are_random(weights: str | os.PathLike | None = None) -> bool:
    """True when ``weights`` (or the default from ``NST_WEIGHTS``) means a random network."""
    return str(weights if weights is not None else default_weights()).lower() == "random"


def _how_to_get_weights(cache_file: Path) -> str:
    return (
        f"To get the ImageNet VGG19 weights, download {VGG19_FILENAME} (548 MB) from\n"
        f"  {VGG19_URL}\n"
        "on a machine with internet access, then either\n"
        f"  * put it at {cache_file} (torchvision's cache, found automatically), or\n"
        f"  * set NST_VGG19_WEIGHTS=/path/to/{VGG19_FILENAME}, or pass weights='/path/to/file'.\n"
        "For offline tests only, NST_WEIGHTS=random uses a seeded random network "
        "(its pictures are not stylised)."
    )


def _cache_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise WeightsError(
            f"VGG19 weights file not found: {str(path)!r}\n" + _how_to_get_weights(_cache_file())
        )
    if path.is_dir():
        raise WeightsError(f"{str(path)!r} is a directory, not a VGG19 weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise WeightsError(
            f"{str(path)!r} could not be read as a PyTorch state dict (corrupt or truncated "
            f"download?): {err}\n" + _how_to_get_weights(_cache_file())
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict")
    return state


def _features_state(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Accept full-model (``features.N.weight``) or features-only (``N.weight``) state dicts."""
    if any(k.startswith("features.") for k in state):
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    expected = _empty_vgg19_features().state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or wrong:
        detail = f"missing {missing[:4]}" if missing else f"wrong shapes for {wrong[:4]}"
        raise WeightsError(
            f"{source} is not a VGG19 state dict ({detail}). It must be torchvision's "
            f"{VGG19_FILENAME}.\n" + _how_to_get_weights(_cache_file())
        )
    return {k: state[k] for k in expected}


def _imagenet_state() -> dict[str, torch.Tensor]:
    cache_file = _cache_file()
    if cache_file.exists():
        return _features_state(_read_state_dict(cache_file), repr(str(cache_file)))
    from torchvision.models import VGG19_Weights

    try:
        state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
    except Exception as err:  # noqa: BLE001 - URLError, HTTPError, hash mismatch, OSError ...
        raise WeightsError(
            f"Could not download the ImageNet VGG19 weights ({type(err).__name__}: {err}).\n"
            + _how_to_get_weights(cache_file)
        ) from err
    return _features_state(state, f"the download of {VGG19_FILENAME}")


def _random_features() -> nn.Sequential:
    net = _empty_vgg19_features()
    gen = torch.Generator().manual_seed(RANDOM_SEED)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            # torchvision's own VGG init, drawn from a private generator so results repeat.
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
                m.bias.zero_()
    return net


_CACHE: dict[tuple[str, str], nn.Sequential] = {}
_CACHE_LOCK = threading.Lock()


def weights_key(weights: str | os.PathLike | None) -> str:
    """The one name of ``weights`` for caches and checkpoint keys: ``"imagenet"``, ``"random"``
    or a resolved file path (``None`` reads ``NST_WEIGHTS``; ``NST_VGG19_WEIGHTS`` names the
    file behind ``"imagenet"``)."""
    if weights is None:
        weights = default_weights()
    key = str(weights)
    if key.lower() in ("imagenet", "random"):
        if key.lower() == "imagenet" and os.environ.get("NST_VGG19_WEIGHTS"):
            return str(Path(os.environ["NST_VGG19_WEIGHTS"]).expanduser().resolve())
        return key.lower()
    return str(_local_weights_path(key).expanduser().resolve())


def _local_weights_path(text: str) -> Path:
    """A weights path as a local ``Path``; a network URL is a ``WeightsError`` that says how to
    get the file instead (``file://`` URLs are local files)."""
    from .runtime.files import local_path

    try:
        return local_path(text, "weights")
    except ValueError as err:
        raise WeightsError(f"{err}.\n" + _how_to_get_weights(_cache_file())) from None


def load_vgg19(
    weights: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> nn.Sequential:
    """VGG19's ``features`` as a frozen ``nn.Sequential`` in eval mode, cached per process.

    ``weights``: ``"imagenet"`` (torchvision's ``VGG19_Weights.IMAGENET1K_V1``, from its cache or
    downloaded once; ``NST_VGG19_WEIGHTS`` points to a local copy instead), ``"random"`` (seeded,
    for offline tests: warns that results are not artistic) or a path to a state-dict file.
    ``None`` reads ``NST_WEIGHTS``. Raises ``WeightsError`` with instructions when weights are
    missing or unreadable. Indices match ``torchvision.models.vgg19().features``; do not modify
    the returned network in place (it is shared), build on it instead.
    """
    key = weights_key(weights)
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    if key == "random":
        warnings.warn(
            "VGG19 has RANDOM weights (NST_WEIGHTS=random): images are not stylised, only "
            "the code path is exercised. Use weights='imagenet' for real results.",
            RandomWeightsWarning,
            stacklevel=2,
        )
    with _CACHE_LOCK:
        net = _CACHE.get((key, device_key(dev)))
        if net is None:
            if key == "random":
                net = _random_features()
            else:
                state = _imagenet_state() if key == "imagenet" else None
                if state is None:
                    path = Path(key)
                    state = _features_state(_read_state_dict(path), repr(str(path)))
                net = _empty_vgg19_features()
                net.load_state_dict(state)
            net = net.eval().requires_grad_(False).to(dev, memory_format=memory_format(dev))
            _CACHE[(key, device_key(dev))] = net
    return net


def clear_cache() -> None:
    """Forget cached networks (frees memory; the next ``load_vgg19`` loads again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def validate_layers(layers: Iterable[str]) -> list[str]:
    """Return ``layers`` as a list, or raise ``ValueError`` listing valid names for unknown ones."""
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    unknown = [name for name in layers if name not in VGG19_LAYERS]
    if unknown:
        raise ValueError(
            f"unknown VGG19 layer(s) {unknown}; valid names are: {', '.join(VGG19_LAYERS)}"
        )
    if not layers:
        raise ValueError("at least one layer name is needed")
    return layers


def min_input_size(layers: Iterable[str]) -> int:
    """Smallest image side for which every layer in ``layers`` has at least a 1x1 map."""
    deepest = max(VGG19_LAYERS[name] for name in validate_layers(layers))
    pools = sum(1 for name, i in VGG19_LAYERS.items() if name.startswith("pool") and i <= deepest)
    return 2**pools


class FeatureExtractor(nn.Module):
    """VGG19 truncated after the deepest requested layer; returns ``{name: activation}``.

    Called on an ImageNet-normalised ``[B, 3, H, W]`` tensor. ``convX_Y`` is the convolution's
    output *before* its ReLU: torchvision's ReLUs work in place and would overwrite it, so the
    ReLU that follows a captured convolution runs out of place here. ``pooling="avg"`` swaps
    max-pooling for average pooling, as the paper recommends for image synthesis.
    """

    def __init__(
        self,
        layers: Sequence[str],
        weights: str | os.PathLike | None = None,
        pooling: str = "max",
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        self.layers = validate_layers(layers)
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling={pooling!r} must be 'max' or 'avg'")
        self.pooling = pooling
        base = load_vgg19(weights, device=device)
        wanted = {VGG19_LAYERS[name]: name for name in self.layers}
        deepest = max(wanted)
        modules: list[nn.Module] = []
        for i, module in enumerate(base[: deepest + 1]):
            if isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=(i - 1) not in wanted)
            elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(kernel_size=2, stride=2)
            modules.append(module)
        self.net = nn.Sequential(*modules)  # shares the cached, frozen conv weights
        self._names = wanted

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, 3, H, W]`` -> ``{layer_name: [B, C_l, H_l, W_l]}`` for the requested layers."""
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.net):
            x = module(x)
            name = self._names.get(i)
            if name is not None:
                out[name] = x
        return {name: out[name] for name in self.layers}


def replicate_first_conv(extractor: FeatureExtractor) -> None:
    """Give ``extractor.net[0]`` (VGG19's first convolution) replicate padding, in place.

    Zero padding makes the image's border look like a dark frame to the network; replicating
    the border pixels (only in the first layer, whose input is the image itself) removes that
    cause of edge artefacts (``preset="fast"`` uses it). The new module shares the frozen
    weight and bias tensors of the cached network, which is left as it was; only this
    extractor sees the change.
    """
    conv = extractor.net[0]
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"the network's first layer is {type(conv).__name__}, not a Conv2d")
    padded = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        padding=conv.padding,
        padding_mode="replicate",
        device="meta",
    )
    padded.weight, padded.bias = conv.weight, conv.bias
    extractor.net[0] = padded
