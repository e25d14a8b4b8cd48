"""The optimisation loop: find an image whose VGG19 features match a photo's content and a
painting's style (Gatys, Ecker & Bethge, 2015).

``stylize`` is the one entry point. Its defaults are the original method: VGG19 truncated after
``relu5_1``, content from ``relu4_2``, style from the Grams of ``relu1_1 ... relu5_1`` weighted
equally (the paper's ``conv*`` blobs, which Caffe's in-place ReLUs left post-ReLU), the generated
image initialised from the content photo and optimised with Adam. The loss is the paper's with
each term taken relative to its target's energy (``normalization="relative"``), so that
``content_weight`` and ``style_weight`` mean the same at every image size;
``normalization="paper"`` is eq. 1-5 exactly.

Speed comes from doing less, not from tricks: the network is frozen (no weight gradients),
truncated after the deepest layer used, loaded once per process, and the content and style
targets are computed once under ``no_grad``; channels_last and autocast help on top, and on a
CUDA GPU each Adam step is one replay of a recorded CUDA graph.

The modules, in the order a run meets them::

    api.py        stylize: config -> plan -> images -> guard -> run -> result
    plan.py       Plan, Stage: how the minimum is searched for (plain runs and presets alike)
    presets.py    the named plans ("fast") and why each choice
    memory.py     will it fit? the estimate, the guard, the advice
    problem.py    targets, initial image and loss at one scale
    loop.py       the stage loop and its inner loop
    steps.py      one Adam or L-BFGS step (with the L-BFGS evaluation cache)
    graphs.py     on CUDA: an Adam step recorded once as a CUDA graph, then replayed
    scaler.py     fp16 loss scaling          averaging.py  moving average of the iterates
    hooks.py      callback, previews, snapshots, progress bar
    state.py      what a run has made so far (history, best image, ...)
    resume.py     checkpoints: written, vetted and restored
    recompute.py  activation checkpointing  balance.py    advice on the weights
    result.py     StylizeResult, NonFiniteLossError
"""

from ..config import (  # noqa: F401 - re-exported: the names have always been importable here
    DEFAULT_LR,
    DEFAULT_STYLE_WEIGHT,
    INITS,
    OPTIMIZERS,
    PRESERVE_COLOR,
    StyleConfig,
    check_names,
    check_number,
)
from ..features import (  # noqa: F401 - re-exported
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    FeatureExtractor,
    min_input_size,
)
from .api import stylize
from .plan import DEFAULT_STEPS, Plan, Stage
from .result import NonFiniteLossError, StylizeResult, detached
from .state import Record

_detached = detached  # the studio's import of v0.1's private name, until it takes the public one

__all__ = [
    "DEFAULT_STEPS",
    "NonFiniteLossError",
    "Plan",
    "Record",
    "Stage",
    "StylizeResult",
    "detached",
    "stylize",
]
