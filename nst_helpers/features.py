"""VGG as a feature extractor: layer names, weight loading and a truncated, frozen network.

Gatys et al. describe the network by layer *names* (``conv4_2``, ``relu3_1``); torchvision
stores it as a flat ``nn.Sequential`` indexed by position. ``VGG19_LAYERS`` (the paper's
network) and ``VGG16_LAYERS`` (Johnson et al.'s, and HED's) map one onto the other, and
``FeatureExtractor`` runs the network only as deep as the deepest layer asked for.

Weights: ``"imagenet"`` (torchvision's, downloaded once), ``"hed"`` (VGG16 retrained for edge
detection, installed from the package index and usable offline: see ``nst_helpers.hed``),
``"random"`` (seeded, for tests) or a state-dict file.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .devices import device_key, memory_format, resolve_device
from .runtime.files import load_torch_file

# torchvision's configurations "E" (VGG19) and "D" (VGG16): channels per conv, "M" a 2x2 max-pool.
_CFGS: dict[str, tuple] = {
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
}  # fmt: skip
_VGG19_CFG = _CFGS["vgg19"]
NETWORKS = tuple(_CFGS)
"""The architectures: ``"vgg19"`` (the paper's, the default) and ``"vgg16"``."""


def _layer_names(cfg: tuple) -> dict[str, int]:
    names: dict[str, int] = {}
    block, conv, index = 1, 1, 0
    for item in cfg:
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


VGG19_LAYERS: dict[str, int] = _layer_names(_CFGS["vgg19"])
"""Layer name -> index in ``torchvision.models.vgg19().features`` (``conv4_2`` -> 21)."""
VGG16_LAYERS: dict[str, int] = _layer_names(_CFGS["vgg16"])
"""Layer name -> index in ``torchvision.models.vgg16().features`` (``conv4_2`` -> 19)."""
LAYERS: dict[str, dict[str, int]] = {"vgg19": VGG19_LAYERS, "vgg16": VGG16_LAYERS}


def check_network(network: object) -> str:
    """``network`` if it is one of ``NETWORKS``, else a ``ValueError`` listing them."""
    if network not in NETWORKS:
        raise ValueError(f"network={network!r} must be one of {', '.join(map(repr, NETWORKS))}")
    return network  # type: ignore[return-value]


def network_layers(network: str = "vgg19") -> dict[str, int]:
    """Layer name -> index of ``network`` (``VGG19_LAYERS`` or ``VGG16_LAYERS``)."""
    return LAYERS[check_network(network)]


DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
"""The paper's layers as its Caffe model computed them: Gatys et al. name ``conv4_2`` and
``conv1_1 ... conv5_1``, but Caffe's ReLUs run in place, so those blobs hold the post-ReLU
activations (Gatys' own PyTorch port uses ``r42`` and ``r11 ... r51``). Here ``convX_Y`` means
the output before the ReLU and ``reluX_Y`` after it, so the defaults are ``relu*``. Both
networks have them."""


@dataclass(frozen=True)
class _ImageNetFile:
    """torchvision's ImageNet weights of one network, and how a user points at a local copy."""

    network: str
    filename: str
    megabytes: int
    env: str  # an environment variable naming a local copy
    enum: str  # the torchvision.models weights enum

    @property
    def url(self) -> str:
        return f"https://download.pytorch.org/models/{self.filename}"

    @property
    def cache_file(self) -> Path:
        """torchvision's own cache path for the file (found there automatically)."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename


IMAGENET_FILES = {
    "vgg19": _ImageNetFile(
        "vgg19", "vgg19-dcbb9e9d.pth", 548, "NST_VGG19_WEIGHTS", "VGG19_Weights"
    ),
    "vgg16": _ImageNetFile(
        "vgg16", "vgg16-397923af.pth", 528, "NST_VGG16_WEIGHTS", "VGG16_Weights"
    ),
}
VGG19_FILENAME = IMAGENET_FILES["vgg19"].filename
VGG19_URL = IMAGENET_FILES["vgg19"].url
RANDOM_SEED = 0
NAMED_WEIGHTS = ("imagenet", "hed", "random")
"""The weights given by name; anything else is a path to a state-dict file."""


class WeightsError(RuntimeError):
    """VGG weights could not be found, downloaded or read; the message says how to fix it."""


class RandomWeightsWarning(UserWarning):
    """Shown whenever a randomly initialised VGG is used: its pictures are not art."""


def build_features(network: str = "vgg19") -> nn.Sequential:
    """The layer structure of ``torchvision.models.<network>().features``, no classifier.

    Building only the features skips the 120M-parameter classifier that NST never uses.
    """
    layers: list[nn.Module] = []
    channels = 3
    for item in _CFGS[check_network(network)]:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers)


def build_vgg19_features() -> nn.Sequential:
    """``build_features("vgg19")``: the layers of ``torchvision.models.vgg19().features``."""
    return build_features("vgg19")


def empty_features(network: str = "vgg19") -> nn.Sequential:
    """``build_features(network)`` with uninitialised weights, for loading into.

    Built on the meta device, so it skips the default init: loading a network never draws from
    the global RNG (a seeded notebook gets the same noise whether or not VGG19 was cached).
    """
    with torch.device("meta"):
        net = build_features(network)
    return net.to_empty(device="cpu")


def _imagenet_present(network: str) -> bool:
    spec = IMAGENET_FILES[network]
    return bool(os.environ.get(spec.env)) or spec.cache_file.exists()


def default_weights(network: str = "vgg19") -> str:
    """The weights used when none are given: ``NST_WEIGHTS`` when set (``imagenet``, ``hed``,
    ``random`` or a path); else ``imagenet`` where that network's ImageNet file is on this
    machine (torchvision's cache or ``NST_VGG19_WEIGHTS``/``NST_VGG16_WEIGHTS``); else ``hed``
    where its package is installed (offline: trained features instead of a 548 MB download);
    else ``imagenet`` (downloaded once)."""
    env = os.environ.get("NST_WEIGHTS", "").strip()
    if env:
        return env
    if _imagenet_present(check_network(network)):
        return "imagenet"
    from .hed import hed_available

    return "hed" if hed_available() else "imagenet"


def weights_are_random(weights: str | os.PathLike | None = None) -> bool:
    """True when ``weights`` (or the default from ``NST_WEIGHTS``) means a random network."""
    return str(weights if weights is not None else default_weights()).lower() == "random"


def describe_weights(weights: str | os.PathLike | None = None, network: str = "vgg19") -> str:
    """Which network and weights make the pictures, in words, for banners, CLI and studio.

    >>> describe_weights("hed", "vgg16")
    'trained VGG16 features from HED edge detection, not ImageNet VGG19'
    """
    net = check_network(network).upper()
    key = str(weights if weights is not None else default_weights(network))
    if key.lower() == "random":
        return f"RANDOM {net} weights: the pictures are not stylised"
    if key.lower() == "hed":
        shape = "" if network == "vgg16" else " (in VGG19's shape)"
        return f"trained VGG16 features from HED edge detection{shape}, not ImageNet VGG19"
    if key.lower() == "imagenet":
        return f"ImageNet {net}"
    return f"{net} weights from {key}"


def _how_to_get_weights(spec: _ImageNetFile) -> str:
    from .hed import INSTALL_COMMAND

    name = spec.network.upper()
    return (
        f"To get the ImageNet {name} weights, download {spec.filename} ({spec.megabytes} MB) "
        f"from\n  {spec.url}\n"
        "on a machine with internet access, then either\n"
        f"  * put it at {spec.cache_file} (torchvision's cache, found automatically), or\n"
        f"  * set {spec.env}=/path/to/{spec.filename}, or pass weights='/path/to/file'.\n"
        "Offline, weights='hed' (NST_WEIGHTS=hed) uses trained VGG16 features from HED edge "
        f"detection instead: `{INSTALL_COMMAND}` installs them. NST_WEIGHTS=random is for tests "
        "only (its pictures are not stylised)."
    )


def _read_state_dict(path: Path, spec: _ImageNetFile) -> dict[str, torch.Tensor]:
    name = spec.network.upper()
    state = load_torch_file(
        path,
        WeightsError,
        missing_error=WeightsError,
        missing=lambda p: f"{name} weights file not found: {p!r}\n" + _how_to_get_weights(spec),
        directory=lambda p: f"{p!r} is a directory, not a {name} weights file",
        unreadable=lambda p, err: (
            f"{p!r} could not be read as a PyTorch state dict (corrupt or truncated "
            f"download?): {err}\n" + _how_to_get_weights(spec)
        ),
    )
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict")
    return state


def _features_state(
    state: dict[str, torch.Tensor], source: str, spec: _ImageNetFile
) -> dict[str, torch.Tensor]:
    """Accept full-model (``features.N.weight``) or features-only (``N.weight``) state dicts."""
    if any(k.startswith("features.") for k in state):
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    expected = empty_features(spec.network).state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or wrong:
        detail = f"missing {missing[:4]}" if missing else f"wrong shapes for {wrong[:4]}"
        raise WeightsError(
            f"{source} is not a {spec.network.upper()} state dict ({detail}). It must be "
            f"torchvision's {spec.filename}.\n" + _how_to_get_weights(spec)
        )
    return {k: state[k] for k in expected}


def _imagenet_state(spec: _ImageNetFile) -> dict[str, torch.Tensor]:
    cache_file = spec.cache_file
    if cache_file.exists():
        return _features_state(_read_state_dict(cache_file, spec), repr(str(cache_file)), spec)
    import torchvision.models

    enum = getattr(torchvision.models, spec.enum)
    try:
        state = enum.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
    except Exception as err:  # noqa: BLE001 - URLError, HTTPError, hash mismatch, OSError ...
        raise WeightsError(
            f"Could not download the ImageNet {spec.network.upper()} weights "
            f"({type(err).__name__}: {err}).\n" + _how_to_get_weights(spec)
        ) from err
    return _features_state(state, f"the download of {spec.filename}", spec)


def _random_features(network: str) -> nn.Sequential:
    net = empty_features(network)
    gen = torch.Generator().manual_seed(RANDOM_SEED)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            # torchvision's own VGG init, drawn from a private generator so results repeat.
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
                m.bias.zero_()
    return net


_CACHE: dict[tuple[str, str, str], nn.Sequential] = {}
_CACHE_LOCK = threading.Lock()


def weights_key(weights: str | os.PathLike | None, network: str = "vgg19") -> str:
    """The one name of ``network``'s ``weights`` for caches and checkpoint keys: a named set
    (``"imagenet"``, ``"hed"``, ``"random"``) or a resolved file path (``None``: the default,
    see ``default_weights``; the network's ImageNet variable names the file behind
    ``"imagenet"``)."""
    if weights is None:
        weights = default_weights(network)
    key = str(weights)
    if key.lower() in NAMED_WEIGHTS:
        env = IMAGENET_FILES[network].env
        if key.lower() == "imagenet" and os.environ.get(env):
            return str(Path(os.environ[env]).expanduser().resolve())
        return key.lower()
    return str(_local_weights_path(key, network).expanduser().resolve())


def _local_weights_path(text: str, network: str = "vgg19") -> Path:
    """A weights path as a local ``Path``; a network URL is a ``WeightsError`` that says how to
    get the file instead (``file://`` URLs are local files)."""
    from .runtime.files import local_path

    try:
        return local_path(text, "weights")
    except ValueError as err:
        raise WeightsError(f"{err}.\n" + _how_to_get_weights(IMAGENET_FILES[network])) from None


def load_vgg(
    network: str = "vgg19",
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> nn.Sequential:
    """``network``'s ``features`` as a frozen ``nn.Sequential`` in eval mode, cached per process.

    Takes ImageNet-normalised RGB ``[B, 3, H, W]``; indices match
    ``torchvision.models.vgg19().features`` (``"vgg19"``) or ``vgg16().features`` (``"vgg16"``).

    ``weights``: ``"imagenet"`` (torchvision's ``VGG19_Weights``/``VGG16_Weights.IMAGENET1K_V1``,
    from its cache or downloaded once; ``NST_VGG19_WEIGHTS``/``NST_VGG16_WEIGHTS`` point to a
    local copy instead), ``"hed"`` (VGG16 retrained for edge detection, offline; as ``"vgg19"``
    it sits inside VGG19's shape with ``conv3_4``/``conv4_4``/``conv5_4`` as exact identities,
    see ``nst_helpers.hed``), ``"random"`` (seeded, for offline tests: warns that results are
    not artistic) or a path to a state-dict file. ``None``: ``default_weights(network)``.
    Raises ``WeightsError`` with instructions when weights are missing or unreadable. Do not
    modify the returned network in place (it is shared), build on it instead.
    """
    network = check_network(network)
    key = weights_key(weights, network)
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    if key == "random":
        warnings.warn(
            f"{network.upper()} has RANDOM weights (NST_WEIGHTS=random): images are not "
            "stylised, only the code path is exercised. Use weights='imagenet' (or 'hed' "
            "offline) for real results.",
            RandomWeightsWarning,
            stacklevel=2,
        )
    with _CACHE_LOCK:
        net = _CACHE.get((network, key, device_key(dev)))
        if net is None:
            net = _build(network, key)
            net = net.eval().requires_grad_(False).to(dev, memory_format=memory_format(dev))
            _CACHE[(network, key, device_key(dev))] = net
    return net


def _build(network: str, key: str) -> nn.Sequential:
    if key == "random":
        return _random_features(network)
    if key == "hed":
        from .hed import hed_features

        return hed_features(network)
    spec = IMAGENET_FILES[network]
    if key == "imagenet":
        state = _imagenet_state(spec)
    else:
        path = Path(key)
        state = _features_state(_read_state_dict(path, spec), repr(str(path)), spec)
    net = empty_features(network)
    net.load_state_dict(state)
    return net


def load_vgg19(
    weights: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> nn.Sequential:
    """``load_vgg("vgg19", weights, device)``: the paper's network (see ``load_vgg``)."""
    return load_vgg("vgg19", weights, device)


def clear_cache() -> None:
    """Forget cached networks (frees memory; the next ``load_vgg`` loads again)."""
    from .hed import clear_cache as clear_hed

    with _CACHE_LOCK:
        _CACHE.clear()
    clear_hed()


def validate_layers(layers: Iterable[str], network: str = "vgg19") -> list[str]:
    """Return ``layers`` as a list, or raise ``ValueError`` listing valid names for unknown ones."""
    names = network_layers(network)
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(
            f"unknown {network.upper()} layer(s) {unknown}; valid names are: {', '.join(names)}"
        )
    if not layers:
        raise ValueError("at least one layer name is needed")
    return layers


def min_input_size(layers: Iterable[str], network: str = "vgg19") -> int:
    """Smallest image side for which every layer in ``layers`` has at least a 1x1 map."""
    names = network_layers(network)
    deepest = max(names[name] for name in validate_layers(layers, network))
    pools = sum(1 for name, i in names.items() if name.startswith("pool") and i <= deepest)
    return 2**pools


class FeatureExtractor(nn.Module):
    """VGG truncated after the deepest requested layer; returns ``{name: activation}``.

    Called on an ImageNet-normalised ``[B, 3, H, W]`` tensor. ``convX_Y`` is the convolution's
    output *before* its ReLU: torchvision's ReLUs work in place and would overwrite it, so the
    ReLU that follows a captured convolution runs out of place here. ``pooling="avg"`` swaps
    max-pooling for average pooling, as the paper recommends for image synthesis.
    ``network``: ``"vgg19"`` (the paper's) or ``"vgg16"``; ``indices`` maps each requested
    layer to its index in ``net``.
    """

    def __init__(
        self,
        layers: Sequence[str],
        weights: str | os.PathLike | None = None,
        pooling: str = "max",
        device: str | torch.device | None = None,
        network: str = "vgg19",
    ) -> None:
        super().__init__()
        self.network = check_network(network)
        self.layers = validate_layers(layers, network)
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling={pooling!r} must be 'max' or 'avg'")
        self.pooling = pooling
        base = load_vgg(network, weights, device=device)
        self.indices = {name: network_layers(network)[name] for name in self.layers}
        wanted = {index: name for name, index in self.indices.items()}
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
