"""Build notebooks 00-02 of the nst-course from this file, so they can be reviewed as Python.

    python notebooks/build/chapters_00_02.py            # write, run once, keep checked outputs
    python notebooks/build/chapters_00_02.py --no-execute   # write sources only (outputs dropped)
    python notebooks/build/chapters_00_02.py --check    # exit 1 if a notebook's cells differ

Notebooks are written without outputs and with ``execution_count`` null, except code cells
marked ``# NBVAL_CHECK_OUTPUT``: their output (and an execution count, which nbval requires
for a reference output) is recorded by running the notebook once with
``NST_WEIGHTS=random NST_QUICK=1`` and compared by ``pytest --nbval-lax``. Those cells print
only things that are the same on every machine and in both modes (names, indices, shapes).
Cell ids are fixed (``c00-05``), so rebuilding an unchanged chapter gives an identical file.
When ``polish.py`` sits beside this file, its slide metadata and self-check questions are
applied too, so ``polish.py --check`` passes right after a build.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from textwrap import dedent

import nbformat
from common import SETUP_CELL, colab_badge, offline_environment
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"

SETUP = SETUP_CELL


def md(text: str) -> dict:
    """A markdown cell from an indented triple-quoted string."""
    return new_markdown_cell(dedent(text).strip("\n"))


def code(text: str) -> dict:
    """A code cell from an indented triple-quoted string."""
    return new_code_cell(dedent(text).strip("\n"))


def title(name: str, heading: str, objectives: list[str], minutes: str) -> dict:
    """The first cell of every chapter: title, Colab badge, learning objectives."""
    items = "\n".join(f"- {line}" for line in objectives)
    return new_markdown_cell(
        f"# {heading}\n\n"
        f"{colab_badge(f'{name}.ipynb')}\n\n"
        f"*About {minutes} minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about "
        "a minute on a laptop CPU; without it the sizes suit a Colab GPU.*\n\n"
        f"**Learning objectives**\n\n{items}"
    )


def notebook(name: str, cells: list[dict], gpu: bool) -> nbformat.NotebookNode:
    """Wrap cells into a notebook with stable cell ids and Colab-friendly metadata."""
    prefix = name[:2]
    for i, cell in enumerate(cells):
        cell["id"] = f"c{prefix}-{i:02d}"
    nb = new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
    }
    if gpu:
        nb.metadata["accelerator"] = "GPU"  # Colab opens it on a GPU runtime
    return nb


# ---- 00: setup and tour ----------------------------------------------------------------------


def chapter_00() -> nbformat.NotebookNode:
    name = "00_setup_and_tour"
    cells = [
        title(
            name,
            "00 · Setup and a tour of Neural Style Transfer",
            [
                "Say in one sentence what Neural Style Transfer optimises, and name the parts "
                "of its pipeline.",
                "Run the course on Colab or locally, and pick the device (CUDA, Apple MPS or CPU).",
                "Get the pretrained VGG19 weights online (download with a progress bar) or "
                "offline (put the file in place yourself).",
                "Run style transfer end to end in one cell with `nst_helpers.stylize`.",
            ],
            "20",
        ),
        code(SETUP),
        md(
            r"""
            ## What Neural Style Transfer does

            Gatys, Ecker & Bethge ([*A Neural Algorithm of Artistic Style*, 2015](https://arxiv.org/abs/1508.06576))
            noticed that a network trained to recognise objects (VGG19, trained on ImageNet) describes
            an image at two levels at once:

            - **content**: *what is where*, read off the feature maps of a deep layer (`conv4_2`);
            - **style**: *which textures, colours and strokes occur*, regardless of where, read off
              the correlations between feature maps (the **Gram matrices**) of several layers.

            Style transfer then searches for a new image $x$ whose content features match a photo $p$
            and whose Gram matrices match a painting $a$. Nothing is trained: the network stays frozen
            and **the pixels of $x$ are the parameters** that gradient descent changes.
            """
        ),
        code(
            """
            from nst_helpers.plotting import show_pipeline

            fig = show_pipeline(
                "chelsea",
                "brush_strokes",
                title="The pipeline: only the generated image x changes; VGG19 stays frozen",
            )
            """
        ),
        md(
            """
            Every box in this diagram gets its own chapter: images and normalisation (01), VGG19
            features (02), then the content loss, the Gram matrix and style loss, and the
            optimisation loop. Each chapter builds its piece by hand in a few lines, then switches
            to the tested helper in `nst_helpers` and checks that both agree.
            """
        ),
        md(
            """
            ## Running the course: Colab or locally

            **On Colab** click the badge at the top of any chapter, then *Runtime → Change runtime
            type → GPU*. The setup cell above clones the course and installs `nst_helpers`; nothing
            else is needed.

            **Locally** (Python 3.10 or newer):

            ```bash
            git clone https://github.com/nst-course/nst-course && cd nst-course
            python -m venv .venv && source .venv/bin/activate
            pip install -e ".[dev]"
            jupyter lab notebooks/
            ```

            Four environment variables change how every chapter runs (set them before starting
            Jupyter, or in a cell with `os.environ[...] = ...` before `setup()`):

            | variable | values | effect |
            |---|---|---|
            | `NST_QUICK` | `1` or unset | `1`: small images and few steps, about a minute per chapter on a CPU |
            | `NST_WEIGHTS` | `imagenet` (default), `random`, or a file path | which VGG19 weights to use |
            | `NST_VGG19_WEIGHTS` | a file path | where your copy of the ImageNet weights is (offline use) |
            | `NST_DEVICE` | `auto` (default), `cuda`, `mps`, `cpu` | force a device |
            """
        ),
        md(
            """
            ## Picking the device

            `setup()` picked a device for you: an NVIDIA GPU (`cuda`) if there is one, else an Apple
            GPU (`mps`), else the CPU. Style transfer runs VGG19 forwards and backwards hundreds of
            times, so at 512 px a GPU is tens of times faster than a CPU. Quick mode keeps CPU runs
            short.
            """
        ),
        code(
            """
            import torch

            print("CUDA GPU available: ", torch.cuda.is_available())
            print("Apple MPS available:", torch.backends.mps.is_available())
            print("this chapter runs on:", cfg.device)

            # cfg.pick(quick, full) is how every chapter sizes its work
            image_size = cfg.pick(96, 512)
            steps = cfg.pick(40, 500)
            print(f"quick mode: {cfg.quick} -> images of {image_size} px, {steps} steps")
            """
        ),
        md(
            """
            To force a device, call `setup(device="cpu")` (or `"cuda"`, `"mps"`) or set
            `NST_DEVICE`. Asking for a device that is not present fails immediately with a message
            instead of deep inside the network.
            """
        ),
        md(
            """
            ## The VGG19 weights

            The pretrained network is torchvision's `VGG19_Weights.IMAGENET1K_V1`: one file,
            `vgg19-dcbb9e9d.pth` (548 MB). Two routes:

            - **Online** (Colab, most laptops): `load_vgg19("imagenet")` downloads it once, with a
              progress bar, into torch's hub cache and checks its hash. Later runs load it from there.
            - **Offline** (a cluster without internet, a train): download
              <https://download.pytorch.org/models/vgg19-dcbb9e9d.pth> on another machine, then either
              copy it to the cache path printed below, or set `NST_VGG19_WEIGHTS=/path/to/vgg19-dcbb9e9d.pth`.

            If neither works, `load_vgg19` raises a `WeightsError` whose message says exactly this.
            For tests without internet the course also runs with `NST_WEIGHTS=random`: a seeded
            random VGG19 that exercises every line of code but whose pictures are **not** art.
            """
        ),
        code(
            """
            from pathlib import Path

            from nst_helpers import WeightsError, load_vgg19

            cache_file = Path(torch.hub.get_dir()) / "checkpoints" / "vgg19-dcbb9e9d.pth"
            print("torchvision's cache file:", cache_file, "(present)" if cache_file.exists() else "(absent)")
            print("NST_VGG19_WEIGHTS:", os.environ.get("NST_VGG19_WEIGHTS", "(not set)"))
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## The sample images

            The course ships four content photos (from scikit-image's sample data) and four style
            textures drawn by a script, so everything works offline. Three famous paintings
            (*The Starry Night*, *The Scream*, *The Shipwreck*) are downloaded on first use when
            you are online. Any of these names can be passed wherever an image is expected; so can
            a file path or a PIL image.
            """
        ),
        code(
            """
            # NBVAL_CHECK_OUTPUT
            from nst_helpers import list_samples

            print("bundled content:", list_samples("content", bundled_only=True))
            print("bundled styles: ", list_samples("style", bundled_only=True))
            print("online only:    ", sorted(set(list_samples()) - set(list_samples(bundled_only=True))))
            """
        ),
        code(
            """
            from nst_helpers import load_image
            from nst_helpers.plotting import show_images

            names = list_samples(bundled_only=True)
            fig = show_images(
                {name: load_image(name, max_size=256) for name in names},
                ncols=4,
                size=2.5,
                suptitle="Bundled samples: photos on top, style textures below",
            )
            """
        ),
        md(
            """
            ## Style transfer in one cell

            `stylize` runs the whole pipeline: load and resize both images, compute the targets once,
            then take `steps` Adam steps on the pixels, starting from the photo. This is a preview at
            `image_size` px and `steps` steps (chosen above); chapter by chapter we will take it apart.
            """
        ),
        code(
            """
            from nst_helpers import stylize

            result = stylize(
                "chelsea",
                "brush_strokes",
                image_size=image_size,
                steps=steps,
                weights=cfg.weights,
                device=cfg.device,
                seed=cfg.seed,
                progress=True,
            )
            print(f"{len(result.history)} steps in {result.seconds:.1f} s on {result.device}")
            path = result.save(cfg.outputs / "00_preview.png", overwrite=True)
            print("saved to", path.relative_to(cfg.repo))
            """
        ),
        code(
            """
            if result.random_weights:
                caption = "RANDOM VGG19 weights: the result is NOT stylised, it only shows the code runs"
            else:
                caption = f"After {steps} steps the cat is painted with the texture's strokes and colours"
            fig = show_images(
                [load_image("chelsea"), load_image("brush_strokes"), result.image],
                titles=["content photo", "style image", "result"],
                suptitle=caption,
            )
            """
        ),
        md(
            """
            ## Key takeaways

            - Style transfer **optimises pixels**, not network weights: VGG19 is frozen and only
              measures how far the image is from the photo's content and the painting's style.
            - Content = deep feature maps; style = Gram matrices (feature correlations) over several
              layers.
            - `cfg = setup()` seeds everything, picks the device and reads `NST_QUICK` /
              `NST_WEIGHTS`; `cfg.pick(quick, full)` sizes the work.
            - The ImageNet weights come from torchvision (downloaded once) or from a file you place
              in the cache or point `NST_VGG19_WEIGHTS` to. Random weights are for tests only.

            **Next:** [01 · Images and preprocessing](01_images_and_preprocessing.ipynb): how a photo
            becomes the `[B, C, H, W]` tensor VGG19 expects, and back.
            """
        ),
    ]
    return notebook(name, cells, gpu=True)


# ---- 01: images and preprocessing -------------------------------------------------------------


def chapter_01() -> nbformat.NotebookNode:
    name = "01_images_and_preprocessing"
    cells = [
        title(
            name,
            "01 · Images and preprocessing",
            [
                "Go from an image file to a tensor and back, knowing the layout at each step "
                "(PIL `H×W×C` versus PyTorch `[B, C, H, W]`).",
                "Resize by the longest side, and explain what image size costs and changes.",
                "Explain ImageNet normalisation and why VGG19 needs it; write `normalize` "
                "yourself.",
                "De-normalise a tensor for display, and check the round trip is exact.",
            ],
            "25",
        ),
        code(SETUP),
        md(
            """
            ## From a file to pixels

            `load_image` accepts a path, raw bytes, a PIL image or a sample name, applies the EXIF
            orientation of phone photos and converts every colour mode (grey, palette, CMYK, alpha)
            to 8-bit RGB. Note the two conventions: PIL reports its size as **(width, height)**, while
            the NumPy array of the same image is **height × width × channels**.
            """
        ),
        code(
            """
            # NBVAL_CHECK_OUTPUT
            import numpy as np

            from nst_helpers import load_image

            img = load_image("chelsea")
            arr = np.asarray(img)
            print("PIL size (W, H):", img.size, "mode:", img.mode)
            print("array shape (H, W, C):", arr.shape, "dtype:", arr.dtype)
            """
        ),
        md(
            """
            ## Resizing by the longest side

            VGG19's cost grows with the number of pixels, so doubling the side quadruples time and
            memory. The size also changes the *result*: the network's filters have a fixed size in
            pixels, so on a small image a brush stroke covers more of the picture. The course
            therefore fixes the **longest side** (whatever the orientation) and keeps the aspect
            ratio; `resize_to(img, (H, W))` sets an exact shape when two images must match.
            """
        ),
        code(
            """
            from nst_helpers.images import resize_to
            from nst_helpers.plotting import show_images

            sizes = [32, 64, 128, cfg.pick(256, 512)]
            resized = [resize_to(img, s) for s in sizes]
            fig = show_images(
                resized,
                titles=[f"longest side {s}: {r.width}×{r.height}" for s, r in zip(sizes, resized, strict=True)],
                suptitle="Same photo, same panel size: fewer pixels keep the layout but lose the fur",
            )
            """
        ),
        md(
            """
            ## Layouts: `H×W×C` bytes to a `[B, C, H, W]` float tensor

            PyTorch convolutions expect a **batch** of images, channels first, as floats. Three
            steps, by hand: scale bytes 0-255 to floats in [0, 1], move the channel axis to the front,
            add a batch axis of size 1.
            """
        ),
        code(
            """
            # NBVAL_CHECK_OUTPUT
            import torch


            def to_tensor_by_hand(img):
                arr = np.asarray(img, dtype=np.float32) / 255.0  # H x W x C, floats in [0, 1]
                x = torch.from_numpy(arr).permute(2, 0, 1)  # C x H x W: channels first
                return x.unsqueeze(0)  # 1 x C x H x W: a batch of one


            small = resize_to(img, 128)
            x = to_tensor_by_hand(small)
            print("PIL size:", small.size, "-> tensor shape:", tuple(x.shape), x.dtype)
            """
        ),
        md(
            r"""
            ## ImageNet normalisation, and why

            VGG19 was trained on ImageNet photos after subtracting the dataset's mean colour and
            dividing by its standard deviation, channel by channel:

            $$x_{\text{norm}} = \frac{x - \text{mean}}{\text{std}}, \qquad
            \text{mean} = (0.485, 0.456, 0.406), \quad \text{std} = (0.229, 0.224, 0.225).$$

            Its first filters and biases are tuned to inputs centred near 0 with spread near 1. Feed
            it raw [0, 1] pixels and every activation is shifted: the features, and therefore the
            content and style losses, describe a different image from the one you meant. (Some
            older NST code uses Caffe's VGG, which wants BGR pixels in 0-255 minus the mean:
            weights and preprocessing must always come as a pair.)
            """
        ),
        code(
            """
            from nst_helpers import IMAGENET_MEAN, IMAGENET_STD

            print("ImageNet mean:", IMAGENET_MEAN, " std:", IMAGENET_STD)
            print("this photo's channel means:", [round(v, 3) for v in x.mean(dim=(0, 2, 3)).tolist()])
            print("this photo's channel stds: ", [round(v, 3) for v in x.std(dim=(0, 2, 3)).tolist()])
            """
        ),
        md(
            """
            ### Exercise: write `normalize`

            Complete `my_normalize(x)`: `x` is `[B, 3, H, W]` with values in [0, 1]; return
            `(x - mean) / std` per channel, same shape. Hints: turn `IMAGENET_MEAN` and `IMAGENET_STD`
            into tensors of shape `[1, 3, 1, 1]` so they broadcast over batch, height and width; use
            the input's `dtype` and `device`; do not change `x` in place.

            **The cell below contains a reference solution so the notebook runs end to end. Try it
            yourself first:** delete the three lines under `# --- reference solution`, write your
            own, and run the cell. `check_normalize` tests your function on small inputs and prints
            a hint if something is off.
            """
        ),
        code(
            """
            from nst_helpers.checks import check_normalize


            def my_normalize(x: torch.Tensor) -> torch.Tensor:
                # --- reference solution: try it yourself first (delete these three lines) ---
                mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
                std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
                return (x - mean) / std


            passed = check_normalize(my_normalize)
            """
        ),
        md(
            """
            From here on we use the library's `normalize` (and `image_to_tensor`, which resizes,
            converts and normalises in one call). First, check that the by-hand pipeline and the
            helper agree:
            """
        ),
        code(
            """
            from nst_helpers import image_to_tensor, normalize

            by_hand = normalize(to_tensor_by_hand(small))
            helper = image_to_tensor(img, size=128)
            assert helper.shape == by_hand.shape == (1, 3, 85, 128)
            assert torch.allclose(helper, by_hand, atol=1e-6)
            print("image_to_tensor == normalize(to_tensor_by_hand(resize_to(img, 128)))")
            if passed:
                assert torch.allclose(my_normalize(x), normalize(x), atol=1e-6)
                print("...and your my_normalize agrees with nst_helpers.normalize")
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## De-normalising for display

            A normalised tensor is not a picture: its values run from about -2 to +2.6. To look at
            one, undo the normalisation (`x * std + mean`), clamp to [0, 1], go back to `H×W×C`
            bytes. Here is what happens if you skip the first step:
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## The round trip is exact

            `tensor_to_image(image_to_tensor(img))` must give back the same bytes (to within one
            level in 255: float rounding may move a value by one). Every image the course shows
            goes through this path, so we check it rather than trust it.
            """
        ),
        code(
            """
            photo = load_image("coffee", max_size=cfg.pick(128, 512))
            back = tensor_to_image(image_to_tensor(photo))
            diff = np.abs(np.asarray(back, dtype=int) - np.asarray(photo, dtype=int))
            print(f"{photo.size}: largest difference {diff.max()}/255, {np.mean(diff > 0):.2%} of values moved")
            assert back.size == photo.size and diff.max() <= 1
            """
        ),
        md(
            """
            ## Key takeaways

            - PIL: `(W, H)` size and `H×W×C` bytes. PyTorch: `[B, C, H, W]` floats. Keep track of
              which one you hold.
            - Resize by the longest side: it fixes the cost and the scale of the strokes and keeps
              the aspect ratio.
            - VGG19 expects ImageNet-normalised inputs; weights and preprocessing belong together.
            - De-normalise (and clamp) before showing a tensor; the round trip is exact to 1/255.

            **Next:** [02 · VGG19 features](02_vgg19_features.ipynb): what the network computes from
            these tensors, layer by layer.
            """
        ),
    ]
    return notebook(name, cells, gpu=False)


# ---- 02: VGG19 features -----------------------------------------------------------------------


def chapter_02() -> nbformat.NotebookNode:
    name = "02_vgg19_features"
    cells = [
        title(
            name,
            "02 · VGG19 features",
            [
                "Read VGG19 as a table of layers: name, index, type, channels, spatial scale.",
                "Translate between the paper's layer names (`conv4_2`) and torchvision's indices "
                "(`features[21]`).",
                "Explain why the network is truncated after `conv5_1`, and what that saves.",
                "Avoid the in-place ReLU pitfall when capturing activations.",
                "See what each layer keeps of an image, by reconstructing the photo from one "
                "layer (paper, Fig. 1).",
            ],
            "35",
        ),
        code(SETUP),
        md(
            """
            ## The network as a table

            VGG19 is 16 convolutions (all 3×3, padding 1, so they keep the spatial size), each
            followed by a ReLU, in five blocks separated by 2×2 max-pooling that halves height and
            width. torchvision stores this part as one flat `nn.Sequential` of 37 modules called
            `features`; the classifier after it is not used by style transfer. The paper names the
            layers by block and position: `conv3_2` is the second convolution of block 3, `relu3_2`
            the ReLU after it. `VGG19_LAYERS` maps each name to its index.
            """
        ),
        code(
            """
            import torch
            from torch import nn

            from nst_helpers import VGG19_LAYERS, load_vgg19

            vgg = load_vgg19(cfg.weights, device=cfg.device)  # frozen, eval mode, cached
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            **Scale** is the height (and width) of that layer's maps relative to the input: a
            512-px image gives 64-px maps at `conv4_x` (1/8) and 32-px maps at `conv5_x` (1/16).
            Channels grow as resolution shrinks: deeper layers describe fewer positions with more
            detectors each.

            ## Names versus indices

            Code written against torchvision uses indices; the paper and this course use names.
            Mixing them up by one (conv versus the ReLU after it) silently changes the features.
            """
        ),
        code(
            """
            # NBVAL_CHECK_OUTPUT
            for name in ("conv1_1", "relu1_1", "conv4_2", "conv5_1", "pool5"):
                print(f"{name:>8} -> features[{VGG19_LAYERS[name]}]: {vgg[VGG19_LAYERS[name]]}")
            """
        ),
        md(
            """
            ## Why truncate after `conv5_1`

            The deepest layer style transfer reads is `conv5_1` (style); content uses `conv4_2`.
            Everything after index 28 (three more convolutions, the last pooling) and the whole
            classifier never influences the loss, yet it would cost memory and time on every one of
            hundreds of forward and backward passes. `FeatureExtractor` runs the network only as far
            as the deepest layer asked for. Parameter counts (the full model is built on the `meta`
            device: shapes only, no memory):
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            The classifier holds 86 % of the weights (490 MB in fp32) and is never used. Within
            `features` the saving is in time: the cell below times a forward and backward pass
            (what every optimisation step does) through all 37 modules and through the 29 up to
            `conv5_1`. The numbers depend on your machine; the ratio is what to look at.
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## The in-place ReLU pitfall

            torchvision's ReLUs are `nn.ReLU(inplace=True)`: they overwrite their input to save
            memory. That is fine for classification but a trap for feature extraction. If you keep
            a *reference* to a convolution's output and run on, the next ReLU rewrites that same
            tensor: what you stored as `conv1_2` is silently `relu1_2`, with every negative value
            gone. (With gradients on, autograd usually notices and raises an error in `backward`;
            under `torch.no_grad()`, as here, nothing warns you.)

            Here is the naive loop, and the true `conv1_2` computed separately without in-place
            operations:
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            `FeatureExtractor` avoids this by making the ReLU that follows a captured convolution
            run out of place (the others stay in place, to save memory). Its `conv1_2` is the real
            pre-ReLU output:
            """
        ),
        code(
            """
            from nst_helpers import FeatureExtractor

            extractor = FeatureExtractor(["conv1_2"], weights=cfg.weights, device=cfg.device)
            with torch.no_grad():
                got = extractor(small)["conv1_2"]
            assert torch.allclose(got, true_conv, atol=1e-4) and got.min() < 0
            print(f"FeatureExtractor conv1_2: min {got.min().item():+.3f}, matches the true conv output")
            """
        ),
        md(
            """
            ## What the layers see

            Below are eight feature maps (the most varied channels) from the first convolution of
            each block. Early layers are sharp, full-resolution responses to edges and colours; by
            block 5 each map is 1/16 of the image's size and responds to larger patterns. Each map
            has its own colour scale, and values can be negative (these are taken before the ReLU).
            """
        ),
        code(
            """
            from nst_helpers.plotting import show_feature_maps

            blocks = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
            photo = image_to_tensor("chelsea", size=cfg.pick(128, 512), device=cfg.device)
            with torch.no_grad():
                feats = FeatureExtractor(blocks, weights=cfg.weights, device=cfg.device)(photo)
            note = " (random weights: responses of random filters)" if cfg.random_weights else ""
            for name in blocks:
                _, c, h, w = feats[name].shape
                show_feature_maps(feats[name], n=8, title=f"{name}: {c} channels of {h}×{w}{note}")
            """
        ),
        md(
            """
            ## Content reconstruction: what a layer keeps

            How much of the photo does one layer remember? Start from white noise and change the
            pixels until their features at that layer match the photo's; whatever comes back is what
            the layer encodes. This is the bottom row of the paper's Figure 1: from `conv1_2`,
            `conv2_2` and `conv3_2` the photo returns almost perfectly; from `conv4_2` and `conv5_2`
            the arrangement survives but the exact pixels do not. That is why content is taken from
            a deep layer: it fixes *what is where* and leaves the texture free for the style.

            `stylize` does this when the style is switched off (`style_weight=0`): the content loss
            alone drives the image. Passing the same layer as the only style layer keeps the network
            truncated at that layer. L-BFGS, the paper's optimiser, converges here in far fewer steps
            than Adam.
            """
        ),
        code(
            """
            from nst_helpers import load_image, stylize
            from nst_helpers.plotting import show_images

            layers = ["conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"]
            size, steps = cfg.pick(96, 512), cfg.pick(40, 300)
            panels = {"photo": load_image("chelsea", max_size=size)}
            for layer in layers:
                result = stylize(
                    "chelsea",
                    "brush_strokes",  # unused: style_weight=0
                    style_weight=0,
                    content_layers=(layer,),
                    style_layers=(layer,),  # so the network stops at `layer`
                    init="noise",
                    optimizer="lbfgs",
                    image_size=size,
                    steps=steps,
                    weights=cfg.weights,
                    device=cfg.device,
                    seed=cfg.seed,
                )
                panels[layer] = result.image
                print(f"{layer}: content loss {result.history[0]['content']:.3g} -> {result.best_loss:.3g}")
            """
        ),
        code(
            """
            if cfg.random_weights:
                caption = "RANDOM weights (not the paper's result): only shallow layers pin down the pixels"
            else:
                caption = "Reconstructions from one layer: detail fades with depth, the layout stays"
            fig = show_images(panels, ncols=6, size=2.2, suptitle=caption)
            """
        ),
        md(
            """
            With ImageNet weights and the full-size run, `conv4_2` and `conv5_2` give a recognisable
            cat whose fine texture is scrambled. With random weights the deep layers' filters were
            never trained to respond to natural images, so a few steps leave mostly noise: a reminder
            that the *trained* features are what make style transfer work.

            ## Key takeaways

            - VGG19's `features` are 16 3×3 convolutions with ReLUs in five blocks; channels go
              64 → 512 while the maps shrink to 1/16.
            - The paper's names (`conv4_2`) map to torchvision's indices (`features[21]`) through
              `VGG19_LAYERS`; `convX_Y` here means the output *before* its ReLU.
            - Truncating after the deepest layer used (`conv5_1`) drops 91 % of VGG19's parameters
              and the passes through the unused layers.
            - In-place ReLUs overwrite captured activations; `FeatureExtractor` handles it.
            - Shallow layers keep the pixels, deep layers keep the layout: content comes from deep.

            **Next:** chapter 03 turns these features into Gram matrices, which describe style
            as textures; chapter 04 builds the content and style losses from them.
            """
        ),
    ]
    return notebook(name, cells, gpu=True)


CHAPTERS = {
    "00_setup_and_tour": chapter_00,
    "01_images_and_preprocessing": chapter_01,
    "02_vgg19_features": chapter_02,
}


# ---- writing, executing, checking ---------------------------------------------------------------


def is_checked(cell: dict) -> bool:
    """True for code cells whose output nbval compares."""
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def record_checked_outputs(nb: nbformat.NotebookNode, path: Path, timeout: int) -> float:
    """Run ``nb`` in quick mode with random weights; keep outputs of checked cells only."""
    from nbclient import NotebookClient

    run = copy.deepcopy(nb)
    with offline_environment():
        start = time.perf_counter()
        NotebookClient(run, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
        seconds = time.perf_counter() - start
    for cell, ran in zip(nb.cells, run.cells, strict=True):
        if is_checked(cell):
            outputs = [o for o in ran.outputs if o.output_type == "stream" and o.name == "stdout"]
            if len(outputs) != len(ran.outputs):
                kinds = [o.output_type for o in ran.outputs]
                raise RuntimeError(
                    f"{path.name} cell {cell.id}: checked cells must only print ({kinds})"
                )
            cell.outputs = outputs
    return seconds


def strip(nb: nbformat.NotebookNode) -> None:
    """No outputs or execution counts, except on checked cells.

    nbval refuses a reference output whose cell has no execution count ("Unrun reference cell
    has outputs"), so checked cells get their position among the code cells: deterministic.
    """
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        cell.metadata = {}
        if is_checked(cell):
            cell.execution_count = number
        else:
            cell.execution_count = None
            cell.outputs = []


def polish(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Apply ``polish.py`` beside this file (slide types, self-check questions) if present.

    Polishing here keeps a rebuild from dropping what ``polish.py`` adds to every chapter.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from polish import polish_notebook
    except ImportError:
        return nb
    finally:
        sys.path.pop(0)
    return polish_notebook(nb, name[:2])


def sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", default=list(CHAPTERS), help="default: all three")
    parser.add_argument("--no-execute", action="store_true", help="do not record checked outputs")
    parser.add_argument("--check", action="store_true", help="compare cells with the files")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.chapters) - set(CHAPTERS))
    if unknown:
        parser.error(f"unknown chapter(s) {unknown}; choose from {list(CHAPTERS)}")
    status = 0
    for name in args.chapters:
        nb = CHAPTERS[name]()
        path = NOTEBOOKS / f"{name}.ipynb"
        if args.check:
            polish(nb, name)
            same = path.exists() and sources(nbformat.read(path, as_version=4)) == sources(nb)
            print(f"{path.name}: {'up to date' if same else 'DIFFERS from the build script'}")
            status |= not same
            continue
        if not args.no_execute:
            seconds = record_checked_outputs(nb, path, args.timeout)
            print(f"{path.name}: executed in {seconds:.0f} s (quick mode, random weights)")
        strip(nb)
        polish(nb, name)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(NOTEBOOKS.parent)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
