"""nst_helpers: Neural Style Transfer (Gatys, Ecker & Bethge, 2015) in small, tested pieces.

The chapters of the nst-course build each piece by hand, then call the helper here::

    from nst_helpers import stylize
    result = stylize("chelsea", "brush_strokes", steps=300, image_size=256)
    result.image
"""

from . import _aliases
from .config import StyleConfig
from .devices import DeviceUnavailableError, resolve_device, resolve_precision
from .features import (
    VGG16_LAYERS,
    VGG19_LAYERS,
    FeatureExtractor,
    RandomWeightsWarning,
    WeightsError,
    describe_weights,
    load_vgg,
    load_vgg19,
    weights_are_random,
)
from .feedforward import TrainConfig, TransformerNet, train_transformer
from .images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    denormalize,
    image_to_tensor,
    load_image,
    normalize,
    save_image,
    tensor_to_image,
)
from .losses import content_loss, gram_matrix, objective, style_loss, tv_loss
from .optimize import NonFiniteLossError, StylizeResult, stylize
from .optimize.memory import InsufficientMemoryError, estimate_memory
from .optimize.resume import load_checkpoint, save_checkpoint
from .runtime.data import SampleUnavailableError, list_samples, sample_path

_aliases.install()  # old module paths (nst_helpers.memory, ...) still import

__version__ = "0.1.0"

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16_LAYERS",
    "VGG19_LAYERS",
    "DeviceUnavailableError",
    "FeatureExtractor",
    "ImageError",
    "InsufficientMemoryError",
    "NonFiniteLossError",
    "RandomWeightsWarning",
    "SampleUnavailableError",
    "StyleConfig",
    "StylizeResult",
    "TrainConfig",
    "TransformerNet",
    "WeightsError",
    "content_loss",
    "denormalize",
    "describe_weights",
    "estimate_memory",
    "gram_matrix",
    "image_to_tensor",
    "list_samples",
    "load_checkpoint",
    "load_image",
    "load_vgg",
    "load_vgg19",
    "normalize",
    "objective",
    "resolve_device",
    "resolve_precision",
    "sample_path",
    "save_checkpoint",
    "save_image",
    "style_loss",
    "stylize",
    "tensor_to_image",
    "train_transformer",
    "tv_loss",
    "weights_are_random",
]
