# ---
# jupyter:
#   colab:
#     provenance: []
#   jupytext:
#     notebook_metadata_filter: accelerator,colab,rise,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Solutions to the exercises
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/solutions/solutions.ipynb)
#
# *A few seconds to run, on any machine: no network, no pictures.*
#
# **Try each exercise in its chapter first.** The checkers there tell you what is wrong with your
# version, with a hint. This notebook collects one reference solution per exercise, verifies each
# with the same checker from `nst_helpers.checks`, and compares it with the library function the
# chapter switches to afterwards.
#
# | # | Exercise | Chapter |
# |---|---|---|
# | 1 | `normalize`: ImageNet normalisation | [01 · Images and preprocessing](../01_images_and_preprocessing.ipynb) |
# | 2 | `gram_matrix`: $G = F F^\top$ per image | [03 · Gram matrices and style](../03_gram_matrices_and_style.ipynb) |
# | 3 | content loss (eq. 1) | [04 · Content and style losses](../04_losses.ipynb) |
# | 4 | style loss of one layer (eq. 4) | [04 · Content and style losses](../04_losses.ipynb) |
# | 5 | style loss over all layers (eq. 5) | [04 · Content and style losses](../04_losses.ipynb) |
#
# The answers to the end-of-chapter self-check questions are explained by the checker itself once
# you answer correctly.

# %%
# Setup: on Colab, fetch the course and install its helpers; locally, use this checkout.
import importlib.util
import os

on_colab = importlib.util.find_spec("google") and importlib.util.find_spec("google.colab")
if on_colab and not os.path.isdir("/content/nst-course"):
    # !git clone -q --depth 1 https://github.com/nst-course/nst-course /content/nst-course
    # %pip install -q -e /content/nst-course
    os.chdir("/content/nst-course/notebooks")

from nst_helpers.course import setup

cfg = setup()  # device, quick mode, weights; shows a banner when weights are random

# %%
import torch

from nst_helpers import IMAGENET_MEAN, IMAGENET_STD, losses, normalize
from nst_helpers.checks import (
    check_content_loss,
    check_gram_matrix,
    check_normalize,
    check_style_loss,
)

gen = torch.Generator().manual_seed(0)  # inputs for the comparisons with the library


# %% [markdown]
# ## 1. `normalize` (chapter 01)
#
# `x` is `[B, 3, H, W]` with values in [0, 1]; return $(x - \text{mean}) / \text{std}$ per
# channel. The statistics become `[1, 3, 1, 1]` tensors so that they broadcast over batch, height
# and width, with the input's `dtype` and `device` (the same code then runs on a GPU and under
# half precision). The result is a **new** tensor: `x -= mean` would change the caller's image.

# %%
def my_normalize(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> (x - mean) / std with ImageNet's RGB statistics."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


assert check_normalize(my_normalize)
x = torch.rand(2, 3, 8, 8, generator=gen)
torch.testing.assert_close(my_normalize(x), normalize(x))  # the library agrees


# %% [markdown]
# ## 2. `gram_matrix` (chapter 03)
#
# Flatten the positions, `[B, C, H, W]` → `[B, C, M]` with $M = H W$, and multiply by the
# transpose of the last two axes: `[B, C, M] @ [B, M, C]` → `[B, C, C]`, one Gram matrix per
# image. No normalisation here: the paper's $1 / (4 N^2 M^2)$ belongs to the style loss.

# %%
def my_gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] features -> [B, C, C] Gram matrices G = F F^T, one per image."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)  # [B, C, M]
    return flat @ flat.transpose(1, 2)  # [B, C, M] @ [B, M, C] -> [B, C, C]


assert check_gram_matrix(my_gram_matrix)
f = torch.randn(2, 4, 5, 6, generator=gen)
torch.testing.assert_close(my_gram_matrix(f), losses.gram_matrix(f))


# %% [markdown]
# ## 3. The content loss (chapter 04, eq. 1)
#
# $\mathcal{L}_{content} = \tfrac12 \sum (F - P)^2$ over every entry, returned as a 0-dim
# tensor that autograd can differentiate (no `.item()`): its gradient is simply $F - P$.

# %%
def my_content_loss(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 1: 1/2 * sum (F - P)^2 over all entries -> 0-dim tensor."""
    return 0.5 * ((F - P) ** 2).sum()


assert check_content_loss(my_content_loss)
F, P = torch.randn(2, 1, 8, 3, 3, generator=gen)
torch.testing.assert_close(my_content_loss(F, P), losses.content_loss(F, P))


# %% [markdown]
# ## 4. The style loss of one layer (chapter 04, eq. 4)
#
# `F` and `A` are the generated and the style image's features at one layer, both
# `[1, N, H, W]`. Compare their Gram matrices and normalise by $4 N^2 M^2$, with $N$ channels
# and $M = H W$ positions: both are squared because a Gram entry grows with $M$ and there are
# $N^2$ entries.

# %%
def my_style_loss(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """E_l = sum (G - A_gram)^2 / (4 N^2 M^2) for features F, A of shape [1, N, H, W]."""
    _, n, h, w = F.shape
    m = h * w
    G, A_gram = my_gram_matrix(F), my_gram_matrix(A)
    return ((G - A_gram) ** 2).sum() / (4 * n**2 * m**2)


assert check_style_loss(my_style_loss)
F, A = torch.randn(2, 1, 8, 5, 5, generator=gen)
torch.testing.assert_close(my_style_loss(F, A), losses.style_layer_loss(F, losses.gram_matrix(A)))


# %% [markdown]
# ## 5. The style loss over all layers (chapter 04, eq. 5)
#
# $\mathcal{L}_{style} = \sum_l w_l E_l$, with the paper's equal weights $w_l = 1/5$ over
# `conv1_1` ... `conv5_1`. The dictionaries map a layer name to its features; the library's
# `style_loss` takes the same dictionaries (or precomputed Gram matrices).

# %%
def my_total_style_loss(feats: dict, style_feats: dict, weights: dict) -> torch.Tensor:
    """Eq. 5: sum over layers of w_l * E_l."""
    return sum(w * my_style_loss(feats[name], style_feats[name]) for name, w in weights.items())


shapes = {"conv1_1": (1, 4, 8, 8), "conv2_1": (1, 6, 4, 4), "conv3_1": (1, 8, 2, 2)}
feats = {name: torch.randn(*shape, generator=gen) for name, shape in shapes.items()}
style_feats = {name: torch.randn(*shape, generator=gen) for name, shape in shapes.items()}
weights = {name: 1 / len(shapes) for name in shapes}
mine = my_total_style_loss(feats, style_feats, weights)
torch.testing.assert_close(mine, losses.style_loss(feats, style_feats, weights))
print(f"style loss over {len(shapes)} layers: {mine.item():.4g} (the library agrees)")


# %% [markdown]
# ## What the checkers say about classic mistakes
#
# The checkers recognise the usual slips and name them: here are three wrong versions. (This is
# also a quick way for a lecturer to show what learners will see.)

# %%
def normalize_in_place(x: torch.Tensor) -> torch.Tensor:
    x -= torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)  # changes the caller's tensor
    return x / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def gram_over_positions(features: torch.Tensor) -> torch.Tensor:
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat.transpose(1, 2) @ flat  # F^T F: [B, M, M] instead of [B, C, C]


def style_loss_without_the_4(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    _, n, h, w = F.shape
    return ((my_gram_matrix(F) - my_gram_matrix(A)) ** 2).sum() / (n**2 * (h * w) ** 2)


assert not check_normalize(normalize_in_place)
assert not check_gram_matrix(gram_over_positions)
assert not check_style_loss(style_loss_without_the_4)

# %% [markdown]
# ## Key takeaways
#
# - Four small functions carry the whole method: `normalize` feeds VGG19 what it was trained on,
#   `gram_matrix` turns features into style statistics, and the two losses measure how far an
#   image is from the photo's content and the painting's style.
# - Each is a few lines of plain PyTorch; what matters is the conventions (RGB order, `[B, C, H,
#   W]`, unnormalised Grams, $4 N^2 M^2$) and never modifying an input in place.
#
# **Next:** back to [05 · The optimisation loop](../05_the_optimisation_loop.ipynb), which puts
# them together, or to any chapter's self-check questions.
