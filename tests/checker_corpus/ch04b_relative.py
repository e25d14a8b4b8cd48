"""Chapter 04, ``relative_style_loss(F, A)``: ``||G - A||^2 / ||A||^2`` with unnormalised Grams."""

from __future__ import annotations

import torch.nn.functional as F_

from nst_helpers import losses

from . import Case, gram, nm

C = "check_relative_loss"


def solution(F, A):
    G, T = gram(F), gram(A)
    return ((G - T) ** 2).sum() / (T**2).sum()


def tutorial_gram(F, A):
    # the PyTorch tutorial's Gram (divided by the number of elements): a common factor that the
    # relative form cancels, so this is right
    n, m = nm(F)
    G, T = gram(F) / (n * m), gram(A) / (n * m)
    return F_.mse_loss(G, T, reduction="sum") / (T**2).sum()


def paper_normaliser(F, A):
    n, m = nm(F)
    return ((gram(F) - gram(A)) ** 2).sum() / (4 * n**2 * m**2)


CASES = [
    Case(C, solution, True, "relative_style_loss is correct", "solution"),
    Case(
        C,
        lambda F, A: losses.relative_style_layer_loss(F, gram(A)),
        True,
        "relative_style_loss is correct",
        "nst-helpers-library",
    ),  # fmt: skip
    Case(C, tutorial_gram, True, "relative_style_loss is correct", "pytorch-tutorial-gram"),
    Case(C, paper_normaliser, False, "4 N^2 M^2", "paper-e-l"),
    Case(
        C,
        lambda F, A: ((gram(F) - gram(A)) ** 2).sum() / (gram(F) ** 2).sum(),
        False,
        "generated image's Gram energy",
        "generated-energy",
    ),  # fmt: skip
    Case(
        C,
        lambda F, A: (gram(F) - gram(A)).norm() / gram(A).norm(),
        False,
        "not squared norms",
        "norms",
    ),  # fmt: skip
    Case(
        C,
        lambda F, A: ((gram(F) - gram(A)) ** 2).sum() / gram(A).norm(),
        False,
        "not ||A||^2",
        "norm-not-squared",
    ),  # fmt: skip
    Case(
        C,
        lambda F, A: ((F - A) ** 2).sum() / (A**2).sum(),
        False,
        "compares the features",
        "features-not-grams",
    ),  # fmt: skip
    Case(
        C,
        lambda F, A: ((gram(F) - gram(A)) ** 2).mean() / (gram(A) ** 2).sum(),
        False,
        "averages",
        "mean-over-sum",
    ),  # fmt: skip
    Case(C, lambda F, A: solution(F.detach(), A), False, "gradient", "detached"),
]
