"""Johnson, Alahi & Fei-Fei's (2016) image transformation network, and its model files.

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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .. import devices
from ..config import check_count
from ..images import (
    ImageSource,
    denormalize,
    image_to_tensor,
    load_image,
    normalize,
    tensor_to_image,
)
from ..runtime.files import atomic_write, load_torch_file, new_file

MODEL_FORMAT = "nst_helpers.TransformerNet"
CHECKPOINT_FORMAT = "nst_helpers.train_transformer"
"""A ``train_transformer`` checkpoint: also a model file (its ``"model"`` is one)."""
FORMAT_VERSION = 1
MIN_SIDE = 5
"""Smallest input side: reflection padding must be narrower than the map it pads (4 px for
the 9x9 convolutions, 1 px at a quarter of the size)."""

Record = dict[str, Any]


class ModelFileError(ValueError):
    """A file that is not a ``TransformerNet`` saved by this library (or is damaged)."""


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
        check_count("channels", channels)
        check_count("residual_blocks", residual_blocks)
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
    def payload(self) -> dict[str, Any]:
        """What ``save`` writes (weights on the CPU, architecture, history, settings); a
        training checkpoint holds one as its ``"model"``."""
        return {
            "format": MODEL_FORMAT,
            "version": FORMAT_VERSION,
            "architecture": {"channels": self.channels, "residual_blocks": self.residual_blocks},
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "history": self.history,
            "settings": self.settings,
            "random_weights": self.random_weights,
        }

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write weights, architecture, settings and history to ``path`` (atomically).

        Refuses to replace an existing file unless ``overwrite=True`` (``FileExistsError``).
        """
        path = new_file(path, "model.pt", overwrite)
        payload = self.payload()
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
        state = load_torch_file(
            path,
            ModelFileError,
            missing=lambda p: f"model file not found: {p!r}",
            directory=lambda p: f"{p!r} is a directory, not a model file",
            unreadable=lambda p, err: (
                f"{p!r} is not a TransformerNet model file (it cannot be read as a safe "
                f"PyTorch file: {type(err).__name__})"
            ),
        )
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
        """Export to ONNX for ONNX Runtime: see ``nst_helpers.feedforward.export.export_onnx``."""
        from .export import export_onnx  # export builds on the network, not the other way

        return export_onnx(self, path, overwrite=overwrite, opset=opset, exporter=exporter)
