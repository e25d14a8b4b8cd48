"""Real-time style transfer: a network trained once per style (Johnson, Alahi & Fei-Fei, 2016).

Optimisation-based transfer (``stylize``) solves one optimisation per picture. Johnson et al.
train a *transformation network* instead: it sees many photos, and its weights are optimised so
that its outputs minimise the very same perceptual loss (VGG19 content and style terms). Once
trained, one forward pass stylises a photo of any size in milliseconds.

``TransformerNet`` is their architecture, with two later fixes everyone adopted: instance
normalisation instead of batch normalisation (Ulyanov et al., 2016) and resize-convolution
instead of transposed convolution for upsampling (Odena et al., 2016, against checkerboard
artefacts). Shapes for an input ``[B, 3, H, W]`` in [0, 1], ``c = channels`` (32)::

    9x9 conv, stride 1      -> [B,  c, H,   W  ]
    3x3 conv, stride 2      -> [B, 2c, H/2, W/2]
    3x3 conv, stride 2      -> [B, 4c, H/4, W/4]
    5 residual blocks       -> [B, 4c, H/4, W/4]
    upsample x2, 3x3 conv   -> [B, 2c, H/2, W/2]
    upsample x2, 3x3 conv   -> [B,  c, H,   W  ]
    9x9 conv, sigmoid       -> [B,  3, H,   W  ]  in [0, 1]

Every convolution pads by reflection (no dark borders); the upsampling layers resize to the
exact size of the matching encoder stage, so any H and W (not only multiples of 4) come back
unchanged.

``train_transformer`` trains one with the library's own ``FeatureExtractor``, ``gram_matrix``
and losses, with the same layers and normalisation as ``stylize``.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .. import devices
from ..config import DEFAULT_STYLE_WEIGHT, check_number
from ..features import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    FeatureExtractor,
    _weights_key,
    min_input_size,
    validate_layers,
)
from ..images import (
    ImageSource,
    denormalize,
    image_to_tensor,
    load_image,
    normalize,
    tensor_to_image,
)
from ..losses import NORMALIZATIONS, gram_matrix, layer_weights, objective
from ..runtime.files import atomic_write

MODEL_FORMAT = "nst_helpers.TransformerNet"
CHECKPOINT_FORMAT = "nst_helpers.train_transformer"
FORMAT_VERSION = 1
MIN_SIDE = 5
"""Smallest input side: reflection padding must be narrower than the map it pads (4 px for
the 9x9 convolutions, 1 px at a quarter of the size)."""
EXPORT_HINT = "pip install nst-helpers[export]"
EXPORTERS = ("auto", "dynamo", "torchscript")
# Defaults of train_transformer (also the CLI's). The loss weights and layers are stylize's
# (relative normalisation, so alpha/beta mean the same at every size). Johnson et al. trained two
# epochs of COCO at batch 4 (40k steps); 4000 steps at 256 px should give a usable network in
# about 15 minutes on a Colab GPU: an estimate, not measured on a GPU.
TRAIN_DEFAULTS = dict(
    steps=4000, image_size=256, batch_size=4, lr=1e-3, content_weight=1.0,
    style_weight=DEFAULT_STYLE_WEIGHT, tv_weight=0.0,
)  # fmt: skip

Record = dict[str, Any]


class ModelFileError(ValueError):
    """A file that is not a ``TransformerNet`` saved by this library (or is damaged)."""


class ExportUnavailableError(ImportError):
    """ONNX export or inference was asked for but ``onnx``/``onnxruntime`` are not installed."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; ``.net`` holds the last finite network."""

    def __init__(self, message: str, net: TransformerNet) -> None:
        super().__init__(message)
        self.net = net


# ---- the network -------------------------------------------------------------------------


class ConvLayer(nn.Sequential):
    """Reflection padding, then a convolution: ``[B, C_in, H, W]`` -> ``[B, C_out, H/s, W/s]``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride))


def _conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        ConvLayer(c_in, c_out, kernel, stride), nn.InstanceNorm2d(c_out, affine=True), nn.ReLU()
    )


class ResidualBlock(nn.Module):
    """``x + IN(conv(ReLU(IN(conv(x)))))``: two 3x3 convolutions, shape ``[B, C, H, W]`` kept.

    The skip connection makes the identity easy to learn: the network only has to learn how the
    stylised image *differs* from the photo (He et al., 2016; Johnson et al., 2016).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_norm_relu(channels, channels, 3),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour resize to ``size``, then a convolution, instance norm and ReLU.

    Resize-then-convolve cannot produce the checkerboard patterns of a strided transposed
    convolution, whose kernels overlap unevenly (Odena, Dumoulin & Olah, 2016).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = _conv_norm_relu(c_in, c_out, 3)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


def _new_file(path: str | os.PathLike, example: str, overwrite: bool) -> Path:
    """``path`` as a ``Path`` a model may be written to: not a folder, and not an existing file
    unless ``overwrite`` (``ValueError`` / ``FileExistsError`` naming it)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; give a file name such as {example}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; choose another name or pass overwrite=True")
    return path


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network: ``[B, 3, H, W]`` in [0, 1] -> same shape.

    ``channels`` (32) sets the width of the first layer (then 2x and 4x), ``residual_blocks`` (5)
    the depth. After ``train_transformer`` it carries ``history`` (one record per step, with
    ``total``, ``content``, ``style``, ``tv`` and ``style/<layer>``), ``settings``,
    ``interrupted`` and ``random_weights`` (True when trained against a random VGG19: such a
    network has learnt nothing artistic).
    """

    def __init__(self, channels: int = 32, residual_blocks: int = 5) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("residual_blocks", residual_blocks)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        c = channels
        self.channels, self.residual_blocks = channels, residual_blocks
        self.down1 = _conv_norm_relu(3, c, 9)
        self.down2 = _conv_norm_relu(c, 2 * c, 3, stride=2)
        self.down3 = _conv_norm_relu(2 * c, 4 * c, 3, stride=2)
        self.residuals = nn.Sequential(*(ResidualBlock(4 * c) for _ in range(residual_blocks)))
        self.up1 = UpsampleConv(4 * c, 2 * c)
        self.up2 = UpsampleConv(2 * c, c)
        self.out = ConvLayer(c, 3, 9)
        self.history: list[Record] = []
        self.settings: dict[str, Any] = {}
        self.interrupted = False
        self.random_weights = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in [0, 1] (H, W >= 5) -> stylised ``[B, 3, H, W]`` in [0, 1]."""
        h1 = self.down1(x)
        h2 = self.down2(h1)
        y = self.residuals(self.down3(h2))
        y = self.up2(self.up1(y, h2.shape[-2:]), h1.shape[-2:])
        return torch.sigmoid(self.out(y))

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.parameters()).device

    @torch.no_grad()
    def stylize(self, image: ImageSource, max_size: int | None = None) -> Image.Image:
        """Stylise one picture of any size (RGB ``PIL.Image`` out, same size as it went in).

        ``image`` is anything ``load_image`` takes; ``max_size`` shrinks its longest side first.
        Runs in eval mode on the network's device; raises ``ValueError`` for a side < 5 px.
        """
        img = load_image(image, max_size=max_size)
        if min(img.size) < MIN_SIDE:
            raise ValueError(
                f"image is {img.width}x{img.height}; TransformerNet needs at least {MIN_SIDE} px "
                "per side"
            )
        x = denormalize(image_to_tensor(img, device=self.device))
        was_training = self.training
        self.eval()
        try:
            y = self(x.contiguous(memory_format=devices.memory_format(self.device)))
        finally:
            self.train(was_training)
        return tensor_to_image(normalize(y.float()))

    # -- files ----------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT, "version": FORMAT_VERSION,
            "architecture": {"channels": self.channels, "residual_blocks": self.residual_blocks},
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "history": self.history, "settings": self.settings,
            "random_weights": self.random_weights,
        }  # fmt: skip

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write weights, architecture, settings and history to ``path`` (atomically).

        Refuses to replace an existing file unless ``overwrite=True`` (``FileExistsError``).
        """
        path = _new_file(path, "model.pt", overwrite)
        payload = self._payload()
        return atomic_write(path, lambda fh: torch.save(payload, fh))

    @classmethod
    def load(
        cls, path: str | os.PathLike, device: str | torch.device | None = "cpu"
    ) -> TransformerNet:
        """A network saved by ``save`` (or a ``train_transformer`` checkpoint), in eval mode.

        The file is read with ``torch.load(weights_only=True)``: tensors and plain data only, so
        a file from elsewhere cannot run code. Raises ``FileNotFoundError`` for a missing file and
        ``ModelFileError`` naming the file for anything that is not such a network.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {str(path)!r}")
        if path.is_dir():
            raise ModelFileError(f"{str(path)!r} is a directory, not a model file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - pickle and zip errors come in many types
            raise ModelFileError(
                f"{str(path)!r} is not a TransformerNet model file (it cannot be read as a safe "
                f"PyTorch file: {type(err).__name__})"
            ) from err
        if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
            state = state.get("model")
        if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
            what = "a stylize checkpoint" if isinstance(state, dict) and "best_x" in state else None
            raise ModelFileError(
                f"{str(path)!r} is {what or 'not a TransformerNet model file'}; expected a file "
                "written by TransformerNet.save() or `nst train`"
            )
        if state.get("version", 0) > FORMAT_VERSION:
            raise ModelFileError(
                f"{str(path)!r} was written by a newer nst_helpers (format {state['version']}); "
                "upgrade the package"
            )
        try:
            net = cls(**state["architecture"])
            net.load_state_dict(state["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelFileError(f"{str(path)!r} is damaged: {type(err).__name__}: {err}") from err
        net.history = list(state.get("history", []))
        net.settings = dict(state.get("settings", {}))
        net.random_weights = bool(state.get("random_weights", False))
        dev = devices.resolve_device(device)
        return net.to(dev, memory_format=devices.memory_format(dev)).eval()

    def export_onnx(
        self,
        path: str | os.PathLike,
        overwrite: bool = False,
        opset: int = 18,
        exporter: str = "auto",
    ) -> Path:
        """Export to ONNX: input ``image`` ``[1, 3, H, W]`` float32 in [0, 1], H and W dynamic.

        The output ``stylized`` has the input's shape, in [0, 1]. ``exporter``: ``"dynamo"``
        (``torch.export``, PyTorch's default since 2.9; needs ``onnxscript``), ``"torchscript"``
        (the older tracer, deprecated by PyTorch) or ``"auto"`` (dynamo where it is available,
        else torchscript). Needs the ``export`` extra (``pip install nst-helpers[export]``),
        else raises ``ExportUnavailableError``. Written atomically; refuses to replace a file
        unless ``overwrite=True``.
        """
        if exporter not in EXPORTERS:
            raise ValueError(f"exporter={exporter!r} must be one of {', '.join(EXPORTERS)}")
        _require("onnx")
        if exporter == "auto":
            exporter = "dynamo" if _dynamo_export_available() else "torchscript"
        if exporter == "dynamo":
            _require("onnxscript")
        path = _new_file(path, "model.onnx", overwrite)
        # A float32 copy on the CPU: the graph must not depend on where or how we trained.
        net = TransformerNet(self.channels, self.residual_blocks)
        net.load_state_dict({k: v.detach().float().cpu() for k, v in self.state_dict().items()})
        net.eval()
        example = (torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(0)),)
        names = dict(input_names=["image"], output_names=["stylized"], opset_version=opset)
        with warnings.catch_warnings():
            # torchscript: its deprecation notice and an instance-norm note (ours has no running
            # statistics, so train and eval mode compute the same thing).
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                height = torch.export.Dim("height", min=MIN_SIDE)
                width = torch.export.Dim("width", min=MIN_SIDE)
                program = torch.onnx.export(
                    net, example, dynamic_shapes=({2: height, 3: width},), dynamo=True,
                    verbose=False, **names,
                )  # fmt: skip
                data = program.model_proto.SerializeToString()
            else:
                buffer = io.BytesIO()
                torch.onnx.export(
                    net, example, buffer, dynamo=False, **names,
                    dynamic_axes={"image": {2: "height", 3: "width"},
                                  "stylized": {2: "height", 3: "width"}},
                )  # fmt: skip
                data = buffer.getvalue()
        return atomic_write(path, lambda fh: fh.write(data))


def _dynamo_export_available() -> bool:
    """torch.export-based ONNX export: torch >= 2.6 (dynamic shapes settled) and onnxscript."""
    import importlib.util

    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    return (major, minor) >= (2, 6) and importlib.util.find_spec("onnxscript") is not None


def _require(module: str) -> Any:
    """Import ``module`` or raise ``ExportUnavailableError`` naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ExportUnavailableError(
            f"{module} is not installed; ONNX export and inference need the optional extra: "
            f"{EXPORT_HINT}"
        ) from err


def run_onnx(
    path: str | os.PathLike, image: ImageSource, max_size: int | None = None
) -> Image.Image:
    """Stylise ``image`` with an exported model in ONNX Runtime (no PyTorch involved).

    Needs the ``export`` extra; raises ``ExportUnavailableError`` without it.
    """
    ort = _require("onnxruntime")
    img = load_image(image, max_size=max_size)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    (y,) = session.run(None, {"image": x})
    out = np.clip(y[0].transpose(1, 2, 0) * 255.0, 0, 255).round().astype(np.uint8)
    return Image.fromarray(out, "RGB")


# ---- training ------------------------------------------------------------------------------


def _seeded_net(channels: int, residual_blocks: int, seed: int | None) -> TransformerNet:
    """A fresh network; with a seed, the same initial weights every time (global RNG untouched)."""
    if seed is None:
        return TransformerNet(channels, residual_blocks)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TransformerNet(channels, residual_blocks)


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _check_checkpoint_path(path: Path, resume: str | os.PathLike | None) -> None:
    """Refuse a checkpoint path where saving would destroy a file that is not a checkpoint."""
    if path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} is a directory; give a file name")
    if not path.exists() or (resume is not None and Path(resume).resolve() == path.resolve()):
        return
    try:
        _load_training_checkpoint(path)
    except ValueError:
        raise ValueError(
            f"checkpoint {str(path)!r} exists and is not a training checkpoint; refusing to "
            "overwrite it: choose another file name"
        ) from None


def _load_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"checkpoint {str(path)!r} is corrupt or truncated: {err}") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a train_transformer checkpoint")
    return state


def _style_grams(
    extractor: FeatureExtractor, style: torch.Tensor, layers: Sequence[str], crop: int, dtype
) -> dict[str, torch.Tensor]:
    """The style image's Grams ``{layer: [1, C, C]}``, rescaled to a ``crop`` x ``crop`` output.

    A Gram sums over positions, so a style image of another size is rescaled by
    ``M_out / M_style``, as ``stylize`` does.
    """
    dev = style.device
    with torch.no_grad(), devices.autocast(dev, dtype):
        feats = extractor(style.contiguous(memory_format=devices.memory_format(dev)))
        probe = extractor(torch.zeros(1, 3, crop, crop, device=dev))
    grams = {}
    for n in layers:
        m_out = probe[n].shape[-2] * probe[n].shape[-1]
        grams[n] = gram_matrix(feats[n]) * (m_out / (feats[n].shape[-2] * feats[n].shape[-1]))
    return grams


def train_transformer(
    style: ImageSource,
    content_images: str | os.PathLike | Sequence[ImageSource],
    steps: int = TRAIN_DEFAULTS["steps"],
    image_size: int = TRAIN_DEFAULTS["image_size"],
    batch_size: int = TRAIN_DEFAULTS["batch_size"],
    lr: float = TRAIN_DEFAULTS["lr"],
    content_weight: float = TRAIN_DEFAULTS["content_weight"],
    style_weight: float = TRAIN_DEFAULTS["style_weight"],
    tv_weight: float = TRAIN_DEFAULTS["tv_weight"],
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    seed: int | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    *,
    checkpoint_every: int | None = None,
    callback: Callable[[Record], bool | None] | None = None,
    preview: Callable[[int, TransformerNet], None] | None = None,
    preview_every: int = 50,
    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
    style_layer_weights: Sequence[float] | dict[str, float] | None = None,
    normalization: str = "relative",
    precision: str = "fp32",
    channels: int = 32,
    residual_blocks: int = 5,
) -> TransformerNet:
    """Train a ``TransformerNet`` to paint any photo in ``style`` (Johnson et al., 2016).

    Each step draws ``batch_size`` random ``image_size`` x ``image_size`` crops (with flips) from
    ``content_images`` (a folder, ``"samples"``, ``"flowers102"`` or a list; see
    ``photos.photo_sources``), stylises them, and takes one Adam step (``lr``) on the network's
    weights to lower the perceptual loss of ``stylize``: the same VGG19 layers, Grams and
    ``normalization`` (``"relative"``, or ``"paper"`` for eq. 1-5), with ``content_weight`` /
    ``style_weight`` as alpha/beta and each photo as its own content target. Loss values are per
    image (the batch mean).

    Returns the trained network (in eval mode) with ``history`` (one record per step),
    ``settings`` and ``interrupted``. ``callback(record)`` returning ``False`` stops the run, as
    does Ctrl-C: the network trained so far is returned with ``interrupted=True``.
    ``preview(step, net)`` runs every ``preview_every`` steps (live samples). ``checkpoint=PATH``
    saves everything needed to ``resume=PATH`` (every ``checkpoint_every`` steps, when stopped
    and at the end); a resumed run gives the same weights as one that was never stopped.
    ``precision`` "bf16"/"fp16"/"auto" runs both networks under autocast (losses stay fp32).
    """
    # ---- validate before any work ------------------------------------------------------------
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    batch_size = _positive_int("batch_size", batch_size)
    preview_every = _positive_int("preview_every", preview_every)
    if checkpoint_every is not None:
        _positive_int("checkpoint_every", checkpoint_every)
        if checkpoint is None:
            raise ValueError("checkpoint_every needs checkpoint=PATH")
    content_weight = check_number("content_weight", content_weight)
    style_weight = check_number("style_weight", style_weight)
    tv_weight = check_number("tv_weight", tv_weight)
    check_number("lr", lr, positive=True)
    content_layers = validate_layers(content_layers)
    style_layers = validate_layers(style_layers)
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization={normalization!r} must be one of {', '.join(NORMALIZATIONS)}"
        )
    weights_l = layer_weights(style_layers, style_layer_weights)
    style_layers = [n for n in style_layers if weights_l[n] > 0]
    if not style_layers:
        raise ValueError("style_layer_weights are all zero: give one style layer a weight > 0")
    weights_l = {n: weights_l[n] for n in style_layers}
    min_side = max(MIN_SIDE, min_input_size(content_layers + style_layers))
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < min_side:
        raise ValueError(
            f"image_size must be an int >= {min_side} (the chosen VGG19 layers need it), "
            f"got {image_size!r}"
        )
    if checkpoint is not None:
        _check_checkpoint_path(Path(checkpoint), resume)
    dev = devices.resolve_device(device)
    dtype = devices.resolve_precision(precision, dev)

    from ..optimize import _image_digest
    from .photos import RandomCrops, photo_sources, sources_key

    style_img = load_image(style, max_size=image_size)
    if min(style_img.size) < min_input_size(style_layers):
        raise ValueError(
            f"style image is {style_img.width}x{style_img.height} at image_size {image_size}; "
            f"the style layers need {min_input_size(style_layers)} px per side"
        )
    sources = photo_sources(content_images)
    settings = {
        "style": _image_digest(style_img), "content_images": sources_key(sources),
        "image_size": image_size, "batch_size": batch_size, "lr": float(lr),
        "content_weight": content_weight, "style_weight": style_weight, "tv_weight": tv_weight,
        "content_layers": content_layers, "style_layers": style_layers,
        "style_layer_weights": weights_l, "normalization": normalization,
        "weights": _weights_key(weights),
        "precision": devices.precision_name(dtype), "seed": seed, "channels": channels,
        "residual_blocks": residual_blocks,
    }  # fmt: skip
    state = None
    if resume is not None:
        from ..optimize.resume import check_compatible

        state = _load_training_checkpoint(resume)
        check_compatible(state.get("settings", {}), settings, resume)

    # ---- set up ------------------------------------------------------------------------------
    net = _seeded_net(channels, residual_blocks, seed)
    fmt = devices.memory_format(dev)
    net = net.to(dev, memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    history: list[Record] = []
    start = 0
    if state is not None:
        net.load_state_dict(state["model"]["state_dict"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        history = list(state["history"])
        start = int(state["step"])
    # fp16 only: scale the loss so small gradients survive half precision (bf16 needs none).
    scaler = torch.amp.GradScaler(dev.type) if dtype is torch.float16 else None
    if scaler is not None and state is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    net.history, net.settings = history, settings
    net.random_weights = settings["weights"] == "random"
    extractor = FeatureExtractor(
        list(dict.fromkeys(content_layers + style_layers)), weights=weights, device=dev
    )
    # The photos' content targets need only the content layers: a network truncated there.
    content_extractor = FeatureExtractor(content_layers, weights=weights, device=dev)
    crops = RandomCrops(sources, image_size, gen)
    style_t = image_to_tensor(style_img, device=dev)
    grams = _style_grams(extractor, style_t, style_layers, image_size, dtype)

    def save_checkpoint(step: int) -> None:
        from ..optimize.resume import save_checkpoint as write

        write(checkpoint, {
            "format": CHECKPOINT_FORMAT, "version": FORMAT_VERSION, "settings": settings,
            "step": step, "model": net._payload(), "optimizer": opt.state_dict(),
            "generator": gen.get_state(), "history": history,
            "scaler": scaler.state_dict() if scaler is not None else None,
        })  # fmt: skip

    def features(x: torch.Tensor, net: FeatureExtractor = extractor) -> dict[str, torch.Tensor]:
        with devices.autocast(dev, dtype):
            return net(normalize(x).contiguous(memory_format=fmt))

    # ---- train -------------------------------------------------------------------------------
    from tqdm.auto import tqdm

    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    bar = tqdm(total=steps, initial=min(start, steps), disable=not progress, desc="train",
               unit="step", dynamic_ncols=True)  # fmt: skip
    step, interrupted = start, False
    net.train()
    try:
        while step < steps:
            x = crops.batch(batch_size).to(dev).contiguous(memory_format=fmt)
            with torch.no_grad():
                targets = {n: f.float() for n, f in features(x, content_extractor).items()}
            opt.zero_grad(set_to_none=True)
            with devices.autocast(dev, dtype):
                y = net(x)
            parts = objective(
                features(y.float()), targets, grams, content_weight=content_weight,
                style_weight=style_weight, style_layer_weights=weights_l, tv_weight=tv_weight,
                image=normalize(y.float()) if tv_weight > 0 else None, normalization=normalization,
            )  # fmt: skip
            loss = parts["total"] / batch_size
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"the training loss became {loss.item()} at step {step + 1}; the network "
                    "before that step is kept (see .net). Lower lr or the style weight, or use "
                    "fp32.",
                    _finish(net, interrupted=True),
                )
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            step += 1
            record: Record = {"step": step}
            record.update({k: float(v.detach()) / batch_size for k, v in parts.items()})
            record.update(seconds=time.perf_counter() - t0, lr=opt.param_groups[0]["lr"])
            history.append(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['total']:.4g}", refresh=False)
            if checkpoint_every and step % checkpoint_every == 0:
                save_checkpoint(step)
            if preview is not None and (step % preview_every == 0 or step == steps):
                preview(step, net)
                net.train()
            if callback is not None and callback(record) is False:
                interrupted = step < steps
                break
    except KeyboardInterrupt:
        # Stopped mid-step, the weights may hold part of an Adam update: still a usable network.
        interrupted = True
    finally:
        bar.close()
    if checkpoint is not None:
        save_checkpoint(len(history))
    return _finish(net, interrupted)


def _finish(net: TransformerNet, interrupted: bool) -> TransformerNet:
    net.interrupted = interrupted
    return net.eval()


__all__ = [
    "EXPORT_HINT",
    "ExportUnavailableError",
    "ModelFileError",
    "ResidualBlock",
    "TrainingDivergedError",
    "TransformerNet",
    "UpsampleConv",
    "run_onnx",
    "train_transformer",
]
