"""A trained network outside PyTorch: ONNX export, and running the export in ONNX Runtime.

Needs the optional ``export`` extra (``onnx``, ``onnxruntime``, ``onnxscript``); without it each
function raises ``ExportUnavailableError`` naming the command that installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..images import ImageSource, load_image
from ..runtime.files import atomic_write, new_file
from .net import MIN_SIDE, TransformerNet

EXPORT_HINT = "pip install nst-helpers[export]"
EXPORTERS = ("auto", "dynamo", "torchscript")


class ExportUnavailableError(ImportError):
    """ONNX export or inference was asked for but ``onnx``/``onnxruntime`` are not installed."""


def export_onnx(
    net: TransformerNet,
    path: str | os.PathLike,
    overwrite: bool = False,
    opset: int = 18,
    exporter: str = "auto",
) -> Path:
    """Export ``net`` to ONNX: input ``image`` ``[1, 3, H, W]`` float32 in [0, 1], H and W dynamic.

    The output ``stylized`` has the input's shape, in [0, 1]. ``exporter``: ``"dynamo"``
    (``torch.export``, PyTorch's default since 2.9; needs ``onnxscript``), ``"torchscript"``
    (the older tracer, deprecated by PyTorch) or ``"auto"`` (dynamo where it is available,
    else torchscript). Needs the ``export`` extra (``pip install nst-helpers[export]``),
    else raises ``ExportUnavailableError``. Written atomically; refuses to replace a file
    unless ``overwrite=True``. Also ``net.export_onnx(path, ...)``.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r} must be one of {', '.join(EXPORTERS)}")
    _require("onnx")
    if exporter == "auto":
        exporter = "dynamo" if _dynamo_export_available() else "torchscript"
    if exporter == "dynamo":
        _require("onnxscript")
    path = new_file(path, "model.onnx", overwrite)
    # A float32 copy on the CPU: the graph must not depend on where or how we trained.
    copy = TransformerNet(net.channels, net.residual_blocks)
    copy.load_state_dict({k: v.detach().float().cpu() for k, v in net.state_dict().items()})
    copy.eval()
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
                copy,
                example,
                dynamic_shapes=({2: height, 3: width},),
                dynamo=True,
                verbose=False,
                **names,
            )
            data = program.model_proto.SerializeToString()
        else:
            buffer = io.BytesIO()
            axes = {2: "height", 3: "width"}
            torch.onnx.export(
                copy,
                example,
                buffer,
                dynamo=False,
                dynamic_axes={"image": axes, "stylized": axes},
                **names,
            )
            data = buffer.getvalue()
    return atomic_write(path, lambda fh: fh.write(data))


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


def _dynamo_export_available() -> bool:
    """torch.export-based ONNX export: torch >= 2.6 (dynamic shapes settled) and onnxscript."""
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    return (major, minor) >= (2, 6) and importlib.util.find_spec("onnxscript") is not None


def _require(module: str) -> Any:
    """Import ``module`` or raise ``ExportUnavailableError`` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ExportUnavailableError(
            f"{module} is not installed; ONNX export and inference need the optional extra: "
            f"{EXPORT_HINT}"
        ) from err
