"""Real-time style transfer: a network trained once per style (Johnson, Alahi & Fei-Fei, 2016).

Optimisation-based transfer (``stylize``) solves one optimisation per picture; here a
transformation network learns to minimise the same perceptual loss over many photos, and then
stylises any photo in one forward pass. The rooms:

    net.py      ``TransformerNet`` (the architecture), its model files (``save`` / ``load``)
    config.py   ``TrainConfig``: training's options (the loss options are ``StyleConfig``'s)
    train.py    ``train_transformer``: the training loop, checkpoints and resume
    export.py   ONNX export and ONNX Runtime inference (the optional ``export`` extra)
    photos.py   the training photos: folders, the bundled samples, Flowers102
"""

from .config import TrainConfig
from .export import EXPORT_HINT, EXPORTERS, ExportUnavailableError, export_onnx, run_onnx
from .net import (
    CHECKPOINT_FORMAT,
    FORMAT_VERSION,
    MIN_SIDE,
    MODEL_FORMAT,
    ConvLayer,
    ModelFileError,
    Record,
    ResidualBlock,
    TransformerNet,
    UpsampleConv,
)
from .train import TRAIN_DEFAULTS, TrainingDivergedError, train_transformer

__all__ = [
    "CHECKPOINT_FORMAT",
    "EXPORTERS",
    "EXPORT_HINT",
    "FORMAT_VERSION",
    "MIN_SIDE",
    "MODEL_FORMAT",
    "TRAIN_DEFAULTS",
    "ConvLayer",
    "ExportUnavailableError",
    "ModelFileError",
    "Record",
    "ResidualBlock",
    "TrainConfig",
    "TrainingDivergedError",
    "TransformerNet",
    "UpsampleConv",
    "export_onnx",
    "run_onnx",
    "train_transformer",
]
