"""Answers to the course's exercises, each with the verdict its checker must give.

Every module holds ``CASES`` for one chapter's exercises: answers from published NST code,
adapted only in layout to the exercise's signature (the PyTorch and TensorFlow/Keras
tutorials, d2l, pytorch/examples, neural-style and its PyTorch port, Gatys' own port, AdaIN),
and learner-style mistakes. ``first`` is a phrase the first line of the checker's feedback
must contain: the real cause, not a symptom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
# Caffe's VGG mean pixel in BGR order, on the 0-255 scale (Keras' preprocess_input "caffe" mode).
CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class Case:
    """One answer: which checker judges it, the verdict, the phrase its first line names."""

    checker: str  # a public name of nst_helpers.course.checks, e.g. "check_normalize"
    fn: Callable[..., Any]
    ok: bool
    first: str  # must appear in the first line of the printed feedback
    origin: str  # where the answer comes from, used as the test id


def flat(f: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, H*W]."""
    b, c, h, w = f.shape
    return f.reshape(b, c, h * w)


def gram(f: torch.Tensor) -> torch.Tensor:
    """The paper's unnormalised Gram, [B, C, C]."""
    x = flat(f)
    return x @ x.transpose(1, 2)


def nm(f: torch.Tensor) -> tuple[int, int]:
    """(N, M) = (channels, positions) of [B, C, H, W] features."""
    return f.shape[1], f.shape[2] * f.shape[3]


def all_cases() -> list[Case]:
    """Every chapter's cases, in chapter order."""
    from importlib import import_module
    from pathlib import Path

    modules = sorted(p.stem for p in Path(__file__).parent.glob("ch*.py"))
    return [case for m in modules for case in import_module(f"{__name__}.{m}").CASES]
