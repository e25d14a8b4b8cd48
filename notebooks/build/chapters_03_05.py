"""Build chapters 03-05 of the course (Gram matrices, losses, the optimisation loop) as notebooks.

    .venv/bin/python notebooks/build/chapters_03_05.py            # write, execute, strip
    .venv/bin/python notebooks/build/chapters_03_05.py --no-execute  # text-only edits

The notebooks are generated from this file so they can be reviewed as Python. After writing,
each one is executed once in quick mode with random weights (``NST_QUICK=1``,
``NST_WEIGHTS=random``) to record the outputs of the ``# NBVAL_CHECK_OUTPUT`` cells, which
nbval compares; every other output is stripped and execution counts are cleared, as the
repository commits them. ``--no-execute`` instead carries those outputs over from the
committed notebook for check cells whose source is unchanged (and says which ones it could
not). ``--executed DIR`` also keeps the fully executed copies for review.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from common import SETUP_CELL, colab_badge, offline_environment
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent
CHECK = "# NBVAL_CHECK_OUTPUT"

SETUP = SETUP_CELL


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell from an indented triple-quoted string."""
    return new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    """A code cell from an indented triple-quoted string."""
    return new_code_cell(textwrap.dedent(text).strip())


def title_cell(
    name: str, title: str, intro: str, objectives: list[str], timing: str
) -> nbformat.NotebookNode:
    """First cell of a chapter: title, Colab badge, timing, a short intro and the objectives."""
    badge = colab_badge(f"{name}.ipynb")
    goals = "\n".join(f"- {goal}" for goal in objectives)
    intro = textwrap.dedent(intro).strip()
    return new_markdown_cell(
        f"# {title}\n\n{badge}\n\n*{timing}*\n\n{intro}\n\n**Learning objectives**\n\n{goals}"
    )


def solution(body: str) -> nbformat.NotebookNode:
    """A collapsed solution: learners open it only after trying."""
    body = textwrap.dedent(body).strip()
    return new_markdown_cell(
        "<details><summary><b>Solution</b> (open after you have tried)</summary>\n\n"
        f"```python\n{body}\n```\n\n</details>"
    )


# ---------------------------------------------------------------------------------------------
# 03 · Gram matrices and style
# ---------------------------------------------------------------------------------------------


def chapter_03() -> list[nbformat.NotebookNode]:
    return [
        title_cell(
            "03_gram_matrices_and_style",
            "03 · Gram matrices and style",
            """
            Chapter 02 showed that VGG19 turns an image into stacks of feature maps. This chapter
            adds the one idea that makes style transfer work: **the style of an image is which
            features occur together, not where they occur.** A Gram matrix measures exactly
            that.
            """,
            [
                "Say what an entry of a Gram matrix measures, and why it forgets positions.",
                "Compute a Gram matrix by hand and in three lines of batched PyTorch "
                "(`[B, C, H, W]` → `[B, C, C]`).",
                "Synthesise a texture from white noise with the style loss alone.",
                "See how deeper layers add larger structures to a style "
                "(Gatys et al., Fig. 1, top row).",
            ],
            "About 30 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a "
            "minute on a laptop CPU; without it the sizes suit a Colab GPU (about 3 minutes).",
        ),
        code(SETUP),
        code(
            """
            import warnings

            import matplotlib.pyplot as plt
            import torch

            from nst_helpers import (
                FeatureExtractor,
                RandomWeightsWarning,
                gram_matrix,
                image_to_tensor,
                load_image,
                stylize,
            )
            from nst_helpers.checks import check_answer, check_gram_matrix
            from nst_helpers.plotting import show_gram, show_images

            warnings.simplefilter("ignore", RandomWeightsWarning)  # the banner above already says so

            # Every figure caption says so when the pictures come from a random network.
            caveat = " (random VGG19 weights: NOT a real result)" if cfg.random_weights else ""
            """
        ),
        md(
            r"""
            ## 1. A Gram matrix by hand

            A layer $l$ of VGG19 produces $N_l$ feature maps (channels), each with
            $M_l = H_l \times W_l$ positions. Write them as a matrix $F^l$ of shape
            $N_l \times M_l$: one row per channel, one column per position. The **Gram matrix**
            is

            $$G^l_{ij} = \sum_k F^l_{ik} F^l_{jk}, \qquad G^l = F^l (F^l)^\top \in \mathbb{R}^{N_l \times N_l}.$$

            Entry $G_{ij}$ is the dot product of channel $i$'s map with channel $j$'s map: large
            when the two channels are active *at the same positions*. The sum over $k$ throws
            away *which* positions those were.

            Here is a toy feature tensor with three channels on a 2 × 2 image.
            """
        ),
        code(
            f"""
            {CHECK}
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
            """
        ),
        md(
            """
            Read it like this:

            - the **diagonal** $G_{ii} = \\sum_k F_{ik}^2$ is how active channel $i$ is overall;
            - $G_{01} = 2$: stripes and red always fire together, so *red stripes* are part of
              this "style";
            - $G_{02} = 0$: stripes and dots never coincide.

            Now shuffle the positions (the columns of $F$). The Gram matrix does not change,
            the features do: a Gram matrix describes *what goes with what*, never *where*.
            That is what we want from style, and it would be wrong for content.
            """
        ),
        code(
            f"""
            {CHECK}
            shuffled = F[:, torch.tensor([3, 1, 0, 2])]  # the same columns in another order
            print("same features after shuffling positions:", torch.equal(shuffled, F))
            print("same Gram after shuffling positions:    ", torch.equal(shuffled @ shuffled.T, G))
            """
        ),
        md(
            """
            ## 2. Exercise: write `gram_matrix`

            Write `my_gram_matrix(features)` for a whole batch: `features` is `[B, C, H, W]`,
            the result `[B, C, C]`, one unnormalised Gram matrix $G = F F^\\top$ per image.
            (The paper's normalisation lives in the style loss, chapter 04, not here.)

            Hints: `features.reshape(b, c, h * w)` flattens the positions;
            `x.transpose(1, 2)` swaps the last two axes; `@` multiplies batches of matrices.
            Then run the cell: `check_gram_matrix` tries your function on small inputs and tells
            you what is wrong (shape, transpose, normalisation, batch, gradients, ...).
            """
        ),
        code(
            '''
            def my_gram_matrix(features: torch.Tensor) -> torch.Tensor:
                """[B, C, H, W] features -> [B, C, C] Gram matrices G = F F^T, one per image."""
                # YOUR CODE HERE (about 3 lines)
                raise NotImplementedError("write your Gram matrix here")


            check_gram_matrix(my_gram_matrix);
            '''
        ),
        solution(
            '''
            def my_gram_matrix(features: torch.Tensor) -> torch.Tensor:
                """[B, C, H, W] features -> [B, C, C] Gram matrices G = F F^T, one per image."""
                b, c, h, w = features.shape
                flat = features.reshape(b, c, h * w)  # [B, C, M]
                return flat @ flat.transpose(1, 2)  # [B, C, M] @ [B, M, C] -> [B, C, C]
            '''
        ),
        md(
            """
            From now on we use the library's `nst_helpers.gram_matrix`: the same three lines,
            plus a cast to float32 so that it stays accurate under mixed precision (a Gram sums
            $M_l$ products, which would overflow float16). It agrees with the hand computation:
            """
        ),
        code(
            f"""
            {CHECK}
            G_lib = gram_matrix(toy.float())  # [1, 3, 3]
            print(G_lib.shape, G_lib.dtype)
            print(G_lib[0].long())
            assert torch.equal(G_lib[0].long(), G)
            """
        ),
        md(
            """
            ## 3. Gram matrices of real images

            The same computation on VGG19's `conv1_1` (64 channels) for two paintings and a
            photo. Each Gram is divided by $M$ here only so the colour scales are comparable
            between images (average co-activation per position).
            """
        ),
        code(
            """
            size = cfg.pick(128, 512)  # longest side in pixels
            names = ["brush_strokes", "mosaic", "chelsea"]
            extractor = FeatureExtractor(["conv1_1", "conv3_1"], weights=cfg.weights, device=cfg.device)
            with torch.no_grad():
                feats = {name: extractor(image_to_tensor(name, size, cfg.device)) for name in names}

            fig, axes = plt.subplots(2, 3, figsize=(12, 7))
            for col, name in enumerate(names):
                f = feats[name]["conv1_1"]
                axes[0, col].imshow(load_image(name))
                axes[0, col].set_title(name)
                axes[0, col].set_axis_off()
                show_gram(gram_matrix(f) / (f.shape[-2] * f.shape[-1]), ax=axes[1, col], title="conv1_1")
            fig.suptitle("Each image has its own pattern of channel co-activations" + caveat)
            fig.tight_layout()
            """
        ),
        md(
            """
            Position-freedom on a real image: cut a painting into tiles and shuffle them. The
            features change completely, the Gram matrices hardly (only the tile borders are
            new). With random weights this still holds: it is a property of convolutions plus
            the Gram matrix, not of training.
            """
        ),
        code(
            '''
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


            for layer in ["conv1_1", "conv3_1"]:
                fa, fb = before[layer], after[layer]
                print(
                    f"{layer}: features differ by {rel(fa, fb):4.0%}, "
                    f"Gram matrices by {rel(gram_matrix(fa), gram_matrix(fb)):4.0%}"
                )
            fig = show_images(
                [painting, tiled], titles=["painting", "tiles shuffled"], size=3,
                suptitle="Same Gram matrices, different features",
            )  # fmt: skip
            '''
        ),
        md(
            """
            ## 4. Texture synthesis: the style loss alone

            Gatys et al. first used Gram matrices to *synthesise textures*: start from white
            noise and change the pixels until the image's Gram matrices match the painting's
            (chapter 04 writes down this **style loss**, chapter 05 the loop). `stylize` does
            this when the content weight is zero and the start is noise. Its `content` argument
            then only sets the output's shape, so we pass the painting itself.
            """
        ),
        code(
            """
            steps = cfg.pick(10, 1000)
            size = cfg.pick(64, 256)
            texture_args = dict(
                content_weight=0, init="noise", image_size=size, seed=0,
                weights=cfg.weights, device=cfg.device,
            )  # fmt: skip
            start = stylize("brush_strokes", "brush_strokes", steps=0, **texture_args)  # the noise
            texture = stylize("brush_strokes", "brush_strokes", steps=steps, **texture_args)
            fig = show_images(
                [load_image("brush_strokes"), start.image, texture.image],
                titles=["style image", "start: white noise", f"after {steps} steps"],
                suptitle="Texture synthesis: only the Gram matrices are matched" + caveat,
            )
            """
        ),
        md(
            """
            With ImageNet weights the result has the painting's colours and strokes everywhere
            but none of its layout: positions were never part of the objective. (With random
            weights, the quick test setting, expect coloured noise.)

            ## 5. Which layers carry the style? (paper, Fig. 1, top row)

            The paper rebuilds the style from growing sets of layers: `conv1_1` alone, then
            `conv1_1` + `conv2_1`, and so on up to `conv5_1`. Deeper layers see larger patches
            of the image (their *receptive field* grows with every pooling), so each added
            layer contributes larger structures.
            """
        ),
        code(
            """
            all_layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
            reconstructions = []
            for depth in range(1, len(all_layers) + 1):
                layers = all_layers[:depth]
                result = stylize(
                    "brush_strokes", "brush_strokes", steps=steps, style_layers=layers,
                    # content_weight is 0: use the deepest style layer as the (unused) content
                    # layer so the network is cut right after it and runs faster.
                    content_layers=layers[-1:], **texture_args,
                )  # fmt: skip
                reconstructions.append(result.image)

            titles = ["style image"] + ["conv1_1"] + [f"+ {name}" for name in all_layers[1:]]
            fig = show_images(
                [load_image("brush_strokes"), *reconstructions], titles=titles, ncols=6, size=2.4,
                suptitle="Style from growing layer sets: deeper layers add larger structures" + caveat,
            )  # fmt: skip
            """
        ),
        md(
            """
            What to look for with ImageNet weights: `conv1_1` alone gives colours and pixel-level
            grain; each deeper layer adds larger, more coherent strokes, until the last image
            looks like a piece of the painting without its composition. This is why the default
            style layers are all five.

            ## 6. Check yourself

            Replace each `...` with your answer and run the cell.
            """
        ),
        code(
            """
            # Q1. conv3_1 has 256 channels. For one 512 x 512 image its maps are 128 x 128.
            #     What is the shape of gram_matrix(features)? Answer as a tuple, e.g. (1, 2, 3).
            answer = ...
            check_answer(
                answer, (1, 256, 256),
                hint="[B, C, C]: the Gram compares channels; positions are summed away.",
                explanation="B = 1 image, 256 x 256 channel pairs; the 128 x 128 positions are summed.",
            );  # fmt: skip
            """
        ),
        code(
            """
            # Q2. Which change leaves every Gram matrix of a layer unchanged?
            #     (a) shuffling the positions of the feature maps
            #     (b) doubling every activation
            #     (c) adding 1 to every activation
            answer = ...
            check_answer(
                answer, "a",
                hint="G_ij = sum_k F_ik F_jk: which change keeps every such sum the same?",
                explanation="A sum does not care about the order of its terms; (b) multiplies G by 4.",
            );  # fmt: skip
            """
        ),
        code(
            """
            # Q3. For the toy F of section 1, what is G[2, 2]? Compute it by hand.
            answer = ...
            check_answer(answer, 5, hint="channel 2 is [0, 2, 0, 1]; G[2, 2] = sum of its squares.");
            """
        ),
        md(
            """
            ## Key takeaways

            - A Gram matrix $G = F F^\\top$ holds the dot products between all pairs of channel
              maps: which features fire *together*. Summing over positions makes it blind to
              *where*, which is what separates style from content.
            - In PyTorch: flatten to `[B, C, H*W]`, multiply by the transpose: `[B, C, C]`.
              `nst_helpers.gram_matrix` does exactly that (in float32).
            - Matching Gram matrices from white noise synthesises a texture; more (and deeper)
              layers capture larger structures of the style.

            **Next:** [04 · Losses](04_losses.ipynb) turns "match the Gram matrices" and "match
            the features" into the paper's two loss functions, with their normalisations, and
            weighs them against each other.
            """
        ),
    ]


# ---------------------------------------------------------------------------------------------
# 04 · Losses
# ---------------------------------------------------------------------------------------------


def chapter_04() -> list[nbformat.NotebookNode]:
    return [
        title_cell(
            "04_losses",
            "04 · Content and style losses",
            """
            Style transfer is an optimisation: we look for the image that minimises one number.
            This chapter builds that number from the paper's two losses: one says *how far the
            image's content is from the photo*, the other *how far its style is from the
            painting*, and a ratio $\\alpha/\\beta$ trades them off.
            """,
            [
                "Write the content loss (eq. 1) and the style loss (eq. 4-5) with the paper's "
                "normalisations, and explain the $1/(4N_l^2M_l^2)$.",
                "Combine style layers with weights $w_l$ and the two losses with "
                "$\\alpha$ and $\\beta$ (eq. 7).",
                "Read a grid of results over $\\alpha/\\beta$ (the idea of the paper's Fig. 3).",
            ],
            "About 30 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a "
            "minute on a laptop CPU; without it the sizes suit a Colab GPU (about 3 minutes).",
        ),
        code(SETUP),
        code(
            """
            import warnings

            import matplotlib.pyplot as plt
            import torch

            from nst_helpers import (
                FeatureExtractor,
                RandomWeightsWarning,
                image_to_tensor,
                load_image,
                losses,
                stylize,
            )
            from nst_helpers.checks import check_answer, check_content_loss, check_style_loss
            from nst_helpers.plotting import show_images

            warnings.simplefilter("ignore", RandomWeightsWarning)  # the banner above already says so
            caveat = " (random VGG19 weights: NOT a real result)" if cfg.random_weights else ""
            """
        ),
        md(
            """
            ## 1. The features we compare

            As in the paper: content is compared at `conv4_2`, style at `conv1_1`, `conv2_1`,
            `conv3_1`, `conv4_1` and `conv5_1`. `P` holds the photo's features, `S` the
            painting's, each `{layer: [1, N_l, H_l, W_l]}`.
            """
        ),
        code(
            """
            size = cfg.pick(128, 512)
            style_layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
            content_layer = "conv4_2"
            extractor = FeatureExtractor(style_layers + [content_layer], weights=cfg.weights, device=cfg.device)
            photo = image_to_tensor("chelsea", size, cfg.device)
            # The painting at exactly the photo's H x W, so that both Grams sum over as many positions
            # (chapter 05 shows how stylize handles a style image of another shape).
            painting = image_to_tensor("brush_strokes", tuple(photo.shape[-2:]), cfg.device)
            with torch.no_grad():  # targets: no gradients needed
                P, S = extractor(photo), extractor(painting)
            for name, f in P.items():
                print(f"{name}: N = {f.shape[1]:3d} maps of {f.shape[2]} x {f.shape[3]} positions")
            """
        ),
        md(
            r"""
            ## 2. The content loss (eq. 1)

            $$\mathcal{L}_{content} = \tfrac{1}{2} \sum_{i,j} \left(F^l_{ij} - P^l_{ij}\right)^2$$

            $F$ are the generated image's features, $P$ the photo's, at one layer. The
            $\tfrac{1}{2}$ makes the gradient simply $\partial\mathcal{L}/\partial F = F - P$
            (eq. 2; the paper's extra "0 where $F < 0$" comes from taking features after the
            ReLU, ours are taken before it). Autograd agrees:
            """
        ),
        code(
            '''
            def content_loss_by_hand(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
                """Eq. 1: 1/2 * sum (F - P)^2 over all entries -> 0-dim tensor."""
                return 0.5 * ((F - P) ** 2).sum()


            assert check_content_loss(content_loss_by_hand)

            # A noisy copy of the photo, compared with the photo at conv4_2.
            noisy = (photo + 0.5 * torch.randn_like(photo)).requires_grad_(True)
            F = extractor(noisy)[content_layer]
            F.retain_grad()  # keep dL/dF (an intermediate tensor) for inspection
            loss = content_loss_by_hand(F, P[content_layer])
            loss.backward()
            print(f"content loss of the noisy photo: {loss.item():.4g}")
            print("dL/dF == F - P:", torch.allclose(F.grad, F - P[content_layer]))
            assert torch.allclose(loss, losses.content_loss(F, P[content_layer]))
            '''
        ),
        md(
            r"""
            ## 3. The style loss (eq. 4-5)

            For each style layer, compare the Gram matrix $G^l$ of the generated image with the
            painting's, $A^l$:

            $$E_l = \frac{1}{4 N_l^2 M_l^2} \sum_{i,j} \left(G^l_{ij} - A^l_{ij}\right)^2,
            \qquad \mathcal{L}_{style} = \sum_l w_l E_l .$$

            Why $4 N_l^2 M_l^2$? Each Gram entry is a sum over $M_l$ positions, so it grows like
            $M_l$ and its squared error like $M_l^2$; there are $N_l^2$ entries. Dividing by both
            puts layers of very different sizes on a comparable scale, so that the paper's
            equal weights $w_l = 1/5$ really give every layer a similar say. (The 4 makes the
            gradient tidy, like the $\tfrac12$ above.) Compare the raw sums with $E_l$:
            """
        ),
        code(
            """
            print(f"{'layer':8} {'N':>4} {'M':>6} {'sum (G - A)^2':>14} {'E_l':>10}")
            for name in style_layers:
                _, n, h, w = P[name].shape
                m = h * w
                raw = ((losses.gram_matrix(P[name]) - losses.gram_matrix(S[name])) ** 2).sum().item()
                print(f"{name:8} {n:4d} {m:6d} {raw:14.3e} {raw / (4 * n**2 * m**2):10.3e}")
            """
        ),
        md(
            """
            The raw sums fall by orders of magnitude from layer to layer ($M_l^2$ shrinks
            16-fold at every pooling, while $N_l^2$ at most quadruples); the normalised $E_l$
            are far closer to each other, though not equal: the layers still disagree by
            different amounts.

            ## 4. Exercise: write the style loss of one layer

            Write `my_style_loss(F, A)` where `F` are the generated image's features and `A`
            the style image's features at the same layer, both `[1, C, H, W]` (features, not
            Grams: compute both Gram matrices inside). Return the single-layer $E_l$ above as
            a 0-dim tensor, with $N = C$ and $M = H \\cdot W$. You may use
            `losses.gram_matrix` (or your `my_gram_matrix` from chapter 03).
            """
        ),
        code(
            '''
            def my_style_loss(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
                """E_l = sum (G - A_gram)^2 / (4 N^2 M^2) for features F, A of shape [1, N, H, W]."""
                # YOUR CODE HERE (about 4 lines)
                raise NotImplementedError("write your style loss here")


            check_style_loss(my_style_loss);
            '''
        ),
        solution(
            '''
            def my_style_loss(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
                """E_l = sum (G - A_gram)^2 / (4 N^2 M^2) for features F, A of shape [1, N, H, W]."""
                _, n, h, w = F.shape
                m = h * w
                G, A_gram = losses.gram_matrix(F), losses.gram_matrix(A)
                return ((G - A_gram) ** 2).sum() / (4 * n**2 * m**2)
            '''
        ),
        md(
            """
            ## 5. All layers at once, and the library

            A ten-line version of eq. 4-5 over all five layers, checked against
            `nst_helpers.losses.style_loss` (which also takes precomputed Grams and batches):
            """
        ),
        code(
            '''
            def style_layer_loss_by_hand(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
                """Eq. 4 for one layer; F, A: [1, N, H, W] features -> E_l."""
                _, n, h, w = F.shape
                m = h * w
                G = F.reshape(n, m) @ F.reshape(n, m).T
                A_gram = A.reshape(n, m) @ A.reshape(n, m).T
                return ((G - A_gram) ** 2).sum() / (4 * n**2 * m**2)


            def style_loss_by_hand(feats: dict, style_feats: dict, weights: dict) -> torch.Tensor:
                """Eq. 5: sum over layers of w_l * E_l."""
                return sum(w * style_layer_loss_by_hand(feats[n], style_feats[n]) for n, w in weights.items())


            w_l = {name: 1 / len(style_layers) for name in style_layers}  # the paper: equal weights
            mine = style_loss_by_hand(P, S, w_l)  # how far the photo's style is from the painting's
            lib = losses.style_loss({n: P[n] for n in style_layers}, {n: S[n] for n in style_layers}, w_l)
            print(f"style loss of the photo: by hand {mine.item():.6g}, library {lib.item():.6g}")
            assert torch.allclose(mine, lib, rtol=1e-4)
            assert check_style_loss(style_layer_loss_by_hand)
            '''
        ),
        md(
            r"""
            ## 6. Weighing content against style: $\alpha / \beta$ (eq. 7)

            $$\mathcal{L}_{total} = \alpha\,\mathcal{L}_{content} + \beta\,\mathcal{L}_{style}$$

            Only the **ratio** $\alpha/\beta$ decides what the best image looks like (scaling both
            just scales the loss). In `stylize` they are `content_weight` ($\alpha$, default 1)
            and `style_weight` ($\beta$, default $10^6$); the layer weights $w_l$ are
            `style_layer_weights` (default: equal). The paper's Fig. 3 shows ratios from
            $10^{-5}$ to $10^{-2}$; the numbers that work depend on image size, layers and the
            network's activation scale (torchvision's VGG19 sees normalised inputs, the paper's
            Caffe model saw 0-255), so ours differ. Below, the same photo and painting over four
            ratios a hundredfold apart, starting from the photo each time: find the one you like,
            then refine between its neighbours.
            """
        ),
        code(
            """
            steps = cfg.pick(10, 800)
            size = cfg.pick(64, 384)
            style_weights = [1e4, 1e6, 1e8, 1e10]  # beta, with alpha = 1
            runs = {}
            for beta in style_weights:
                runs[beta] = stylize(
                    "chelsea", "brush_strokes", steps=steps, image_size=size, content_weight=1.0,
                    style_weight=beta, seed=0, weights=cfg.weights, device=cfg.device,
                )  # fmt: skip

            fig = show_images(
                [load_image("chelsea"), load_image("brush_strokes")] + [r.image for r in runs.values()],
                titles=["content", "style"] + [f"α/β = {1 / beta:.0e}" for beta in runs],
                ncols=6, size=2.4,
                suptitle="Less style weight keeps the photo, more style weight paints over it" + caveat,
            )  # fmt: skip
            """
        ),
        code(
            """
            fig, ax = plt.subplots(figsize=(5.5, 3.5))
            betas = list(runs)
            ax.loglog(betas, [r.history[-1]["content"] for r in runs.values()], "o-", label="content loss")
            ax.loglog(betas, [r.history[-1]["style"] for r in runs.values()], "s-", label="style loss")
            ax.set_xlabel("style weight β (α = 1)")
            ax.set_ylabel(f"loss after {steps} steps")
            ax.set_title("The trade-off: more β buys less style loss for more content loss")
            ax.legend();
            """
        ),
        md(
            """
            ## 7. Check yourself
            """
        ),
        code(
            """
            # Q1. You double the width and the height of the image. By what factor does M_l
            #     (the number of positions in a layer) grow?
            answer = ...
            check_answer(answer, 4, hint="M_l = H_l * W_l.");
            """
        ),
        code(
            """
            # Q2. Which result stays closer to the photo: alpha/beta = 1e-3 (a) or 1e-5 (b)?
            answer = ...
            check_answer(
                answer, "a",
                hint="alpha weighs the content loss: a larger alpha/beta means more content.",
            );  # fmt: skip
            """
        ),
        code(
            """
            # Q3. Why does E_l divide by 4 N_l^2 M_l^2?
            #     (a) to make the Gram matrix symmetric
            #     (b) so layers of very different sizes contribute on comparable scales
            #     (c) because the Gram matrix must lie in [0, 1]
            answer = ...
            check_answer(
                answer, "b",
                explanation="Gram entries grow with M_l and there are N_l^2 of them.",
            );  # fmt: skip
            """
        ),
        md(
            r"""
            ## Key takeaways

            - Content loss (eq. 1): $\tfrac12\sum(F - P)^2$ at `conv4_2`; its gradient is
              $F - P$.
            - Style loss (eq. 4-5): per layer $E_l = \sum (G - A)^2 / (4N_l^2M_l^2)$, Grams
              unnormalised; the $4N_l^2M_l^2$ makes layers comparable, and $w_l$ (default
              $1/5$) weighs them.
            - Total loss (eq. 7): $\alpha\mathcal{L}_{content} + \beta\mathcal{L}_{style}$;
              only $\alpha/\beta$ matters, and it moves the result from photo to painting.
            - `nst_helpers.losses` implements exactly these formulas (checked against the
              by-hand versions above).

            **Next:** [05 · The optimisation loop](05_the_optimisation_loop.ipynb) minimises this
            loss over the pixels: the whole method in twenty lines, then the library call.
            """
        ),
    ]


# ---------------------------------------------------------------------------------------------
# 05 · The optimisation loop
# ---------------------------------------------------------------------------------------------


def chapter_05() -> list[nbformat.NotebookNode]:
    return [
        title_cell(
            "05_the_optimisation_loop",
            "05 · The optimisation loop",
            """
            Everything is in place: a frozen network that describes images (chapter 02), Gram
            matrices (03) and a loss (04). What is left is to *change the pixels* of an image
            until the loss is small. This chapter writes that loop out (the one of the project
            report: Adam, 4000 epochs, snapshots every 1000), checks it against the library's
            `stylize`, and then looks at optimisers, learning rates and long runs.
            """,
            [
                "Write the whole style-transfer optimisation with Adam in about twenty lines.",
                "Check it against `stylize` step by step, and read loss curves and snapshots.",
                "Compare Adam with L-BFGS per second of compute, and see what the learning "
                "rate does.",
                "Run long jobs on Colab safely with checkpoints that can be resumed.",
            ],
            "About 40 minutes. Quick mode (`NST_QUICK=1`) runs the whole chapter in about a "
            "minute on a laptop CPU; at full size (512 px, 4000 Adam steps, as in the report) "
            "the runs take roughly 15 minutes on a Colab GPU.",
        ),
        code(SETUP),
        code(
            """
            import warnings

            import matplotlib.pyplot as plt
            import torch

            from nst_helpers import (
                FeatureExtractor,
                RandomWeightsWarning,
                content_loss,
                gram_matrix,
                image_to_tensor,
                load_image,
                style_loss,
                stylize,
                tensor_to_image,
            )
            from nst_helpers.checks import check_answer
            from nst_helpers.images import pixel_bounds
            from nst_helpers.plotting import plot_history, snapshot_grid

            warnings.simplefilter("ignore", RandomWeightsWarning)  # the banner above already says so
            caveat = " (random VGG19 weights: NOT a real result)" if cfg.random_weights else ""
            """
        ),
        md(
            """
            ## 1. The loop, written out

            The settings first. They are `stylize`'s defaults, spelled out so that our loop and
            the library can run the very same optimisation.
            """
        ),
        code(
            """
            size = cfg.pick(64, 512)  # longest side in pixels
            steps = cfg.pick(12, 4000)  # the report: 4000 Adam epochs, a snapshot every 1000
            lr = 0.02  # Adam's step size, in normalised-pixel units
            content_weight, style_weight = 1.0, 1e6  # alpha and beta
            content_layers = ["conv4_2"]
            style_layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
            layer_weights = {name: 1 / len(style_layers) for name in style_layers}  # w_l
            content_name, style_name = "chelsea", "brush_strokes"
            """
        ),
        md(
            """
            The loop itself. Only the image `x` is optimised; the network is frozen and the
            targets (photo features `P`, painting Grams `A`) are computed once. After every Adam
            step the pixels are clamped to the valid range $[0, 1]$. The loss is recorded
            *before* each update: record $k$ is the loss of the image that step $k$ started
            from.
            """
        ),
        code(
            """
            extractor = FeatureExtractor(content_layers + style_layers, weights=cfg.weights, device=cfg.device)
            content = image_to_tensor(load_image(content_name, max_size=size), size, cfg.device)
            style = image_to_tensor(load_image(style_name, max_size=size), size, cfg.device)
            low, high = pixel_bounds(cfg.device)  # the normalised values of pixels 0 and 1

            with torch.no_grad():  # the targets never change: compute them once, without a graph
                feats_c, feats_s = extractor(content), extractor(style)
                P = {n: feats_c[n] for n in content_layers}
                # Grams sum over positions; rescale so a style image of another shape counts like ours.
                A = {n: gram_matrix(feats_s[n]) * feats_c[n][0, 0].numel() / feats_s[n][0, 0].numel()
                     for n in style_layers}  # fmt: skip

            x = content.clone().requires_grad_(True)  # start from the photo
            optimizer = torch.optim.Adam([x], lr=lr)
            history, snapshots = [], {}
            for step in range(1, steps + 1):
                optimizer.zero_grad()
                feats = extractor(x)
                lc = sum(content_loss(feats[n], P[n]) for n in content_layers)
                ls = style_loss({n: feats[n] for n in style_layers}, A, layer_weights)
                loss = content_weight * lc + style_weight * ls
                loss.backward()
                history.append({"step": step, "total": loss.item(), "content": lc.item(), "style": ls.item()})
                optimizer.step()
                with torch.no_grad():
                    x.clamp_(low, high)  # keep every pixel inside [0, 1]
                if step % (steps // 4) == 0:
                    snapshots[step] = tensor_to_image(x)
                    print(f"step {step}: loss {loss.item():.4g}")
            print(f"loss: {history[0]['total']:.4g} at the start, {history[-1]['total']:.4g} at step {steps}")
            """
        ),
        md(
            """
            ## 2. The same run with the library

            `stylize` runs this loop (plus progress bars, checkpoints, mixed precision,
            multi-scale and more). With the same settings it must give the same loss curve. One
            difference: `result.image` is the image with the *lowest* loss seen, not
            necessarily the last one.
            """
        ),
        code(
            """
            common = dict(
                image_size=size, content_weight=content_weight, style_weight=style_weight,
                content_layers=content_layers, style_layers=style_layers,
                style_layer_weights=layer_weights, init="content", precision="fp32", seed=0,
                weights=cfg.weights, device=cfg.device, normalization="paper",
            )  # fmt: skip
            result = stylize(
                content_name, style_name, steps=steps, lr=lr, snapshot_every=steps // 4, progress=True,
                **common,
            )  # fmt: skip

            ours = torch.tensor([r["total"] for r in history])
            lib = torch.tensor([r["total"] for r in result.history])
            gap = ((ours - lib).abs() / lib.abs()).max().item()
            print(f"largest relative difference between the two loss curves: {gap:.1e}")
            # On a GPU the two runs may pick different convolution kernels (stylize uses the
            # channels_last layout); their tiny differences can grow over thousands of steps.
            tolerance = 1e-3 if cfg.device.type == "cpu" else 2e-2
            assert gap < tolerance, gap
            assert sorted(snapshots) == sorted(result.snapshots)

            ax = plot_history(history, keys=("total",), label="our loop")
            plot_history(result, keys=("total",), label="stylize", ax=ax)
            ax.lines[1].set_linestyle("--")
            ax.legend()
            ax.set_title("Our loop and stylize: one curve on top of the other");
            """
        ),
        md(
            """
            ## 3. Reading the run: loss curves and snapshots

            We start from the photo, so the content loss starts at zero and *rises* while the
            style loss falls: the optimiser trades a little content for a lot of style. The
            total keeps falling, fast at first, then slowly.
            """
        ),
        code(
            """
            ax = plot_history(result)
            ax.set_title("Content rises from 0, style falls, the total falls" + caveat);
            """
        ),
        code(
            """
            fig = snapshot_grid(result.snapshots)
            fig.suptitle("Snapshots at 1/4, 2/4, 3/4 and 4/4 of the run" + caveat)
            fig.tight_layout()
            """
        ),
        md(
            """
            ## 4. Adam or L-BFGS?

            The paper used **L-BFGS**, a quasi-Newton method that builds a picture of the
            loss's curvature from recent gradients; each of its iterations may evaluate the loss
            several times (a line search). Adam makes one cheap evaluation per step. A fair
            comparison therefore gives both the same *time*: here L-BFGS gets as many seconds as
            the Adam run above took (at full size: its first 1000 steps); a `callback` that
            returns `False` stops `stylize`.
            """
        ),
        code(
            """
            adam = result.history[: cfg.pick(steps, 1000)]  # full size: the first 1000 Adam steps
            budget = adam[-1]["seconds"]
            lbfgs = stylize(
                content_name, style_name, steps=steps, optimizer="lbfgs",  # lr defaults to 1
                callback=lambda record: record["seconds"] < budget, **common,
            )  # fmt: skip
            print(f"in {budget:.1f} s: {len(adam)} Adam steps, {len(lbfgs.history)} L-BFGS steps")

            ax = plot_history(adam, keys=("total",), x="seconds", label="Adam")
            plot_history(lbfgs, keys=("total",), x="seconds", label="L-BFGS", ax=ax)
            ax.set_title("Total loss per second of compute");
            """
        ),
        md(
            """
            L-BFGS usually reaches a low loss in fewer iterations, but each costs more, needs
            more memory (it keeps `history_size` past gradients) and it cannot cope with the
            clamping or with a noisy loss as gracefully as Adam. The report used Adam, which
            is also what `stylize` does by default.

            ## 5. What the learning rate does

            Adam's learning rate is roughly the largest change per pixel per step (in
            normalised units, where 1 is about a quarter of the full pixel range). Too small and
            the image barely moves; too large and the loss jumps around and the pixels pile up at
            the clamping bounds.
            """
        ),
        code(
            """
            lr_steps = cfg.pick(8, 1000)
            # The lr = 0.02 run already exists: its first lr_steps records are that run's curve.
            curves = {lr: result.history[:lr_steps]}
            for other in (0.005, 0.1):
                curves[other] = stylize(content_name, style_name, steps=lr_steps, lr=other, **common).history

            fig, ax = plt.subplots(figsize=(6, 3.5))
            for rate in sorted(curves):
                plot_history(curves[rate], keys=("total",), label=f"lr = {rate}", ax=ax)
            ax.set_title("The learning rate sets how fast, and how smoothly, the loss falls");
            """
        ),
        md(
            """
            ## 6. Long runs on Colab: checkpoint and resume

            4000 steps at 512 px take several minutes on a Colab GPU, and Colab runtimes
            disconnect. `stylize(..., checkpoint=PATH, checkpoint_every=N)` saves everything
            needed to continue (image, optimiser state, history, snapshots) every `N` steps and
            when the run is stopped; `stylize(..., resume=PATH)` with the same settings
            continues where it stopped. Below, the first session is stopped halfway, as a
            disconnect would; the second resumes it, and its loss curve matches a run that
            was never interrupted.
            """
        ),
        code(
            """
            ckpt = cfg.outputs / "run.pt"
            ckpt.unlink(missing_ok=True)  # start afresh every time this chapter runs
            short = cfg.pick(6, 400)
            save = dict(checkpoint=ckpt, checkpoint_every=short // 2)

            # Session 1: stopped at step short // 2 (as a disconnect would).
            first = stylize(
                content_name, style_name, steps=short, lr=lr,
                callback=lambda record: record["step"] < short // 2, **save, **common,
            )  # fmt: skip
            print(f"session 1: stopped after {len(first.history)} steps, interrupted={first.interrupted}")

            # Session 2 (it could be a fresh runtime): the same call plus resume= finishes the run.
            second = stylize(content_name, style_name, steps=short, lr=lr, resume=ckpt, **save, **common)
            print(f"session 2: history now has {len(second.history)} steps")

            resumed = torch.tensor([r["total"] for r in second.history])
            straight = torch.tensor([r["total"] for r in result.history[:short]])
            gap = ((resumed - straight).abs() / straight).max().item()
            print(f"resumed vs uninterrupted run, largest relative difference: {gap:.1e}")
            assert len(second.history) == short and gap < tolerance, gap
            """
        ),
        md(
            """
            On Colab, files under `/content` vanish with the runtime. Write the checkpoint to
            your Google Drive instead, so that a new runtime can resume it (run this on Colab
            only; it asks for permission to mount your Drive):

            ```python
            from google.colab import drive

            drive.mount("/content/drive")
            ckpt = "/content/drive/MyDrive/nst-course/run.pt"
            result = stylize("chelsea", "brush_strokes", steps=4000, snapshot_every=1000,
                             checkpoint=ckpt, checkpoint_every=250)
            # ... runtime disconnected? Reconnect, run the setup cell and mount Drive again, then:
            result = stylize("chelsea", "brush_strokes", steps=4000, snapshot_every=1000,
                             checkpoint=ckpt, checkpoint_every=250, resume=ckpt)
            ```

            Resuming checks that the settings match the checkpoint's and names any that differ.
            Only resume checkpoints you wrote yourself: they are loaded with `torch.load`.

            ## 7. Check yourself
            """
        ),
        code(
            """
            # Q1. Is `stylize`'s history loss for step k measured before or after that step's
            #     Adam update? Answer "before" or "after".
            answer = ...
            check_answer(answer, "before", hint="Look at where history.append sits in our loop.");
            """
        ),
        code(
            """
            # Q2. A run of 4000 steps with snapshot_every=1000: how many snapshots?
            answer = ...
            check_answer(answer, 4, explanation="Steps 1000, 2000, 3000 and 4000.");
            """
        ),
        code(
            """
            # Q3. Which optimiser did Gatys et al. use in the paper?
            answer = ...
            check_answer(answer, "L-BFGS", accept=("lbfgs", "l-bfgs-b"), hint="Section 4 above.");
            """
        ),
        md(
            """
            ## Key takeaways

            - Neural style transfer is plain gradient descent on the pixels: targets once under
              `no_grad`, then *features → losses → backward → step → clamp*, a few thousand
              times.
            - `stylize` is that loop; with the same settings and seed it reproduces our loss
              curve, and it returns the lowest-loss image, the history and snapshots.
            - Compare optimisers per second, not per step: an L-BFGS iteration costs several
              loss evaluations. Adam's learning rate trades speed for stability.
            - For long runs, checkpoint (to Google Drive on Colab) and resume with the same
              settings.

            **Next:** [06 · The Style Studio](06_interactive_studio.ipynb) puts `stylize` behind
            sliders and buttons, so you can explore weights, layers and learning rates live;
            [07 · Beyond the paper](07_beyond_the_paper.ipynb) then adds colour preservation,
            coarse-to-fine runs and more.
            """
        ),
    ]


CHAPTERS = {
    "03_gram_matrices_and_style": chapter_03,
    "04_losses": chapter_04,
    "05_the_optimisation_loop": chapter_05,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` without outputs, with stable cell ids (clean diffs)."""
    nb = new_notebook(cells=CHAPTERS[name]())
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
        "accelerator": "GPU",
    }
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:02d}"
    nbformat.validate(nb)
    return nb


def execute(nb: nbformat.NotebookNode) -> float:
    """Run ``nb`` in place, quick mode with random weights, from the notebooks folder."""
    from nbclient import NotebookClient

    with offline_environment():
        start = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()  # fmt: skip
        return time.perf_counter() - start


def strip(nb: nbformat.NotebookNode) -> None:
    """Drop outputs and execution counts, except on ``NBVAL_CHECK_OUTPUT`` cells.

    nbval rejects a reference output whose cell has no execution count ("Unrun reference cell
    has outputs"), so checked cells get their position among the code cells: deterministic.
    """
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        cell.metadata.pop("execution", None)
        checked = CHECK in cell.source and cell.outputs
        cell.execution_count = number if checked else None
        if not checked:
            cell.outputs = []
        for out in cell.outputs:
            if "execution_count" in out:
                out.execution_count = cell.execution_count


def carry_checked_outputs(nb: nbformat.NotebookNode, old_path: Path) -> list[str]:
    """Copy recorded outputs of unchanged check cells from ``old_path``; return cells lacking them."""
    old = nbformat.read(old_path, as_version=4) if old_path.exists() else None
    recorded = {} if old is None else {c.source: c.outputs for c in old.cells if CHECK in c.source}
    missing = []
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK in cell.source:
            if cell.source in recorded:
                cell.outputs = recorded[cell.source]
            else:
                missing.append(cell.id)
    strip(nb)
    return missing


def main(argv: list[str] | None = None) -> int:
    """Write (and by default execute, then strip) the chapter notebooks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(CHAPTERS)}")
    parser.add_argument("--no-execute", action="store_true", help="write without running")
    parser.add_argument("--executed", type=Path, help="also keep executed copies in this folder")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(CHAPTERS))
    if unknown:
        parser.error(f"unknown chapter(s) {unknown}; choose from {', '.join(CHAPTERS)}")
    for name in args.names or list(CHAPTERS):
        nb = build(name)
        path = NOTEBOOKS / f"{name}.ipynb"
        if args.no_execute:
            missing = carry_checked_outputs(nb, path)
            if missing:
                print(
                    f"{name}: no recorded output for check cells {missing}; run without --no-execute"
                )
        else:
            seconds = execute(nb)
            print(f"{name}: executed in {seconds:.0f} s")
            if args.executed:
                args.executed.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, args.executed / f"{name}.ipynb")
            strip(nb)
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(NOTEBOOKS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
