"""Exercise checkers for the course: run a learner's function, compare, explain what went wrong.

Every ``check_*`` calls the learner's function on small fixed float32 inputs (the chapters'
dtype), compares the answer with a reference written out here by explicit formula (deliberately
*not* by calling ``nst_helpers.losses``, so the checkers double as an independent test of the
library), prints ``✅ ...`` or ``❌ ...`` and returns ``True``/``False``. A wrong answer never
raises. They all obey one rule (``_verdict``): success only when the answer matches the
reference on every probe, in values, shape and dtype, with the inputs untouched and the gradient
flowing where the exercise feeds an optimiser; otherwise the first line names the cause (the
learner's line that raised, a published convention or classic slip that reproduces the answer
on every probe, or how far the answer is from the reference and where).

One module per chapter, the exercises it asks for (the paper's conventions, Gatys et al. 2015):

* ``ch01_images``: ``normalize(x)``, ``[B, 3, H, W]`` in [0, 1] -> ``(x - mean) / std``.
* ``ch02_features``: ``extract_features(vgg, x, names)`` -> ``{name: vgg[VGG19_LAYERS[name]]}``.
* ``ch03_gram``: ``gram_matrix(F)``, ``[B, C, H, W]`` -> unnormalised ``F F^T``, ``[B, C, C]``.
* ``ch04_losses``: ``content_loss(F, P)`` ``1/2 sum (F - P)^2``; ``style_loss(F, A)`` one
  layer's ``sum (G - A)^2 / (4 N^2 M^2)``; ``style_gradient(F, A)``, eq. 6 by hand;
  ``relative_style_loss(F, A)``, ``||G - A||^2 / ||A||^2``.
* ``ch05_loop``: ``style_transfer(extractor, loss_fn, content, style, steps, optimizer)``.
* ``ch07_tv``: ``tv_loss(x)``, the squared differences of neighbours along H and W, summed.
* ``ch08_real_time``: ``instance_norm(x)``, ``(x - mean) / sqrt(var + 1e-5)`` per channel;
  ``training_step(net, optimizer, extractor, loss_fn, photos)``, one step of training the
  feed-forward network.
* ``self_test``: ``check_answer`` / ``quiz`` for the self-test questions of every chapter.
"""

from .ch01_images import check_normalize
from .ch02_features import check_feature_extractor
from .ch03_gram import check_gram_matrix
from .ch04_losses import (
    check_content_loss,
    check_relative_loss,
    check_style_gradient,
    check_style_loss,
)
from .ch05_loop import check_loop
from .ch07_tv import check_tv_loss
from .ch08_real_time import check_instance_norm, check_training_step
from .self_test import check_answer, quiz

__all__ = [
    "check_answer",
    "check_content_loss",
    "check_feature_extractor",
    "check_gram_matrix",
    "check_instance_norm",
    "check_loop",
    "check_normalize",
    "check_relative_loss",
    "check_style_gradient",
    "check_style_loss",
    "check_training_step",
    "check_tv_loss",
    "quiz",
]
