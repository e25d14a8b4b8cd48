"""The self-check questions at the end of every chapter, as data (``polish.py`` writes the cells).

Each chapter gets two or three short questions: multiple choice (answer with the letter), a number
or a shape. The learner types an answer into ``answer = ...`` and ``check_answer`` (from
``nst_helpers.checks``) says at once whether it is right, with a hint when it is not and an
explanation when it is. ``tests/test_polish.py`` checks every expected answer, recomputing the
numeric ones from the network and the images where it can.

Chapters that already end with their own ``check_answer`` questions keep those; the questions
below for such a chapter are only used if its own ones are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Question:
    """One self-check question.

    ``expected`` is what ``check_answer`` compares with: a letter for multiple choice (then
    ``options`` maps each letter to its text), a number (``tol`` is the absolute tolerance),
    a tuple for a shape, or a bool. ``example`` is the format hint shown after ``answer = ...``.
    """

    id: str
    text: str
    expected: Any
    options: dict[str, str] = field(default_factory=dict)
    example: str = ""
    hint: str | None = None
    explanation: str | None = None
    accept: tuple[Any, ...] = ()
    tol: float | None = None


SELF_CHECKS: dict[str, list[Question]] = {
    "00": [
        Question(
            id="00-what-is-optimised",
            text="During style transfer, what does gradient descent change?",
            options={
                "a": "the weights of VGG19",
                "b": "the pixels of the generated image",
                "c": "both the weights and the pixels",
            },
            expected="b",
            hint="Which part of the pipeline diagram is frozen?",
            explanation="VGG19 stays frozen; it only measures content and style. The pixels are "
            "the parameters.",
        ),
        Question(
            id="00-what-is-style",
            text="What does the method use to describe the *style* of the painting?",
            options={
                "a": "the feature maps of one deep layer (conv4_2)",
                "b": "the Gram matrices (feature correlations) of several layers",
                "c": "the colour histogram of the painting's pixels",
            },
            expected="b",
            hint="Style is *which* textures occur, regardless of *where*.",
            explanation="Gram matrices sum over positions, so they keep what occurs together and "
            "forget where; (a) is how content is described.",
        ),
        Question(
            id="00-vgg-modules",
            text="How many modules (convolutions, ReLUs and poolings) does VGG19's `features` "
            "part have? The cell that loaded the network printed it.",
            expected=37,
            example="e.g. 19",
            hint="Look for 'VGG19 features: ... layers' in the output above.",
            explanation="16 convolutions + 16 ReLUs + 5 max-poolings = 37; the classifier "
            "after them is never used.",
        ),
    ],
    "01": [
        Question(
            id="01-chelsea-shape",
            text="`load_image('chelsea').size` is (451, 300). What is the shape of "
            "`image_to_tensor(load_image('chelsea'))` (no resizing)?",
            expected=(1, 3, 300, 451),
            example="a tuple, e.g. (1, 2, 3, 4)",
            hint="PIL gives (width, height); PyTorch wants [B, C, H, W].",
            explanation="A batch of 1, 3 channels, then height 300 and width 451: PIL's "
            "(W, H) is the other way round.",
        ),
        Question(
            id="01-white-red-normalised",
            text="A pure white pixel has red value 1.0. What is its red value after ImageNet "
            "normalisation? (Two decimals are enough.)",
            expected=(1.0 - 0.485) / 0.229,
            tol=0.01,
            example="e.g. 0.5",
            hint="(x - mean) / std with the red channel's mean 0.485 and std 0.229.",
            explanation="(1 - 0.485) / 0.229 = 2.25: normalised images run from about -2.1 "
            "to +2.6, which is why they must be de-normalised before display.",
        ),
        Question(
            id="01-cost-of-size",
            text="You halve the longest side of the image (512 px -> 256 px). Roughly how does "
            "the time of one optimisation step change?",
            options={
                "a": "it halves",
                "b": "it drops to about a quarter",
                "c": "it stays the same",
            },
            expected="b",
            hint="Convolutions cost per pixel; how many pixels are left?",
            explanation="Half the side is a quarter of the pixels, so about a quarter of the work "
            "(and of the activation memory).",
        ),
    ],
    "02": [
        Question(
            id="02-conv3_1-channels",
            text="How many channels (feature maps) does `conv3_1` have?",
            expected=256,
            example="e.g. 64",
            hint="The table at the top of the chapter lists channels per layer.",
            explanation="64 in block 1, 128 in block 2, 256 in block 3, 512 in blocks 4 and 5.",
        ),
        Question(
            id="02-conv4_2-shape",
            text="What is the shape of the `conv4_2` features of one 256 x 256 image?",
            expected=(1, 512, 32, 32),
            example="a tuple, e.g. (1, 2, 3, 4)",
            hint="conv4_x comes after three 2x2 poolings; block 4 has 512 channels.",
            explanation="Three poolings halve 256 three times: 32 x 32 positions, 512 channels.",
        ),
        Question(
            id="02-inplace-relu",
            text="You keep a reference to `conv1_2`'s output while running torchvision's VGG19 "
            "(with its `ReLU(inplace=True)`) under `torch.no_grad()`. What does the stored "
            "tensor hold afterwards?",
            options={
                "a": "the convolution's output, negative values included",
                "b": "the ReLU's output: every negative value replaced by 0",
                "c": "nothing: PyTorch raises an error",
            },
            expected="b",
            hint="What does `inplace=True` write over?",
            explanation="The in-place ReLU overwrites the tensor you stored, silently. "
            "FeatureExtractor runs that ReLU out of place.",
        ),
    ],
    "03": [
        Question(
            id="03-gram-shape-conv2_1",
            text="What is the shape of `gram_matrix(features)` for the `conv2_1` features of "
            "one 256 x 256 image?",
            expected=(1, 128, 128),
            example="a tuple, e.g. (1, 2, 3)",
            hint="[B, C, C]: conv2_1 has 128 channels; the positions are summed away.",
            explanation="One image, 128 x 128 channel pairs; the 128 x 128 positions are summed.",
        ),
        Question(
            id="03-gram-scaling",
            text="Every activation of a layer is multiplied by 2. By what factor does every "
            "entry of its Gram matrix change?",
            expected=4,
            example="e.g. 3",
            hint="G_ij = sum_k F_ik F_jk: each term is a product of two activations.",
            explanation="Each product gains 2 x 2 = 4, so the whole Gram matrix does.",
        ),
        Question(
            id="03-gram-symmetric",
            text="Is a Gram matrix always symmetric (G_ij == G_ji)? Answer True or False.",
            expected=True,
            example="True or False",
            hint="Compare sum_k F_ik F_jk with sum_k F_jk F_ik.",
            explanation="The dot product of channel i with channel j equals that of j with i.",
        ),
    ],
    "04": [
        Question(
            id="04-content-gradient",
            text="What is the gradient of the content loss 1/2 sum (F - P)^2 with respect to F?",
            options={"a": "F - P", "b": "2 (F - P)", "c": "(F - P)^2"},
            expected="a",
            hint="The derivative of 1/2 u^2 is u.",
            explanation="That is what the 1/2 is for: the gradient is simply F - P (eq. 2).",
        ),
        Question(
            id="04-normaliser-conv1_1",
            text="For `conv1_1` (N = 64 channels) on a 64 x 64 image, what is the style-loss "
            "normaliser 4 N^2 M^2? (Let Python do the arithmetic.)",
            expected=4 * 64**2 * (64 * 64) ** 2,
            example="e.g. 1e9",
            hint="conv1_1 keeps the image size, so M = H * W = 64 * 64.",
            explanation="4 x 64^2 x 4096^2, about 2.7e11: raw Gram differences are huge, which "
            "is why the loss divides by it.",
        ),
        Question(
            id="04-scale-both-weights",
            text="You multiply both alpha (content weight) and beta (style weight) by 10. Does "
            "the balance between content and style in the result change? Answer True or False.",
            expected=False,
            example="True or False",
            hint="What does eq. 7 look like divided by 10?",
            explanation="Only the ratio alpha / beta sets the balance; scaling both just scales "
            "the loss.",
        ),
    ],
    "05": [
        Question(
            id="05-targets-once",
            text="When should the targets (the photo's features P and the painting's Grams A) "
            "be computed?",
            options={
                "a": "once, before the loop, under torch.no_grad()",
                "b": "at every step, inside the loop, so they stay up to date",
            },
            expected="a",
            hint="Do the photo and the painting change during the optimisation?",
            explanation="They never change: recomputing them every step only costs two extra "
            "forward passes (and memory, if done with gradients).",
        ),
        Question(
            id="05-initial-content-loss",
            text="With `init='content'` (start from the photo), what is the content loss "
            "recorded at step 1?",
            expected=0,
            example="e.g. 1.5",
            hint="Step 1's loss is measured before the first update.",
            explanation="The image *is* the photo at first, so F == P; the content loss then "
            "rises while the style loss falls.",
            tol=1e-6,
        ),
        Question(
            id="05-lbfgs-clamp",
            text="You optimise with L-BFGS and want the pixels to stay in [0, 1]. Where should "
            "the clamping go?",
            options={
                "a": "inside the closure, before the forward pass",
                "b": "outside the closure, after optimizer.step(closure) (or only at the end)",
            },
            expected="b",
            hint="The closure is called several times during one line search.",
            explanation="Clamping inside the closure moves the point behind L-BFGS's back and "
            "spoils its line search and curvature estimates.",
        ),
    ],
    "06": [
        Question(
            id="06-ratio",
            text="In the studio you multiply both the content weight and the style weight by 10. "
            "What happens to the picture?",
            options={
                "a": "much more style",
                "b": "much more content",
                "c": "about the same: only the ratio matters",
            },
            expected="c",
            hint="Compare the ratio before and after.",
            explanation="The ratio style/content is unchanged, so the optimum is the same.",
        ),
        Question(
            id="06-shallow-layers",
            text="You tick only `conv1_1` and `conv2_1` as style layers. What do you expect to "
            "be transferred?",
            options={
                "a": "colours and fine grain",
                "b": "large strokes and shapes",
                "c": "the painting's composition",
            },
            expected="a",
            hint="Shallow layers see small patches of the image.",
            explanation="Small receptive fields give colour and grain; deep layers (conv4_1, "
            "conv5_1) give larger strokes. No layer transfers the composition: Grams forget "
            "positions.",
        ),
        Question(
            id="06-callback-stop",
            text="What must a `stylize` callback return to stop the run (keeping the best image "
            "so far)? Answer True or False.",
            expected=False,
            example="True or False",
            hint="Look at the callback in 'Under the hood'.",
            explanation="Returning False stops stylize after that step, with interrupted=True.",
        ),
    ],
    "07": [
        Question(
            id="07-coarse-to-fine-saves",
            text="What does coarse-to-fine (`scales=[...]`) save compared with one run at the "
            "full size, with the same total number of steps?",
            options={"a": "time", "b": "peak memory", "c": "both time and peak memory"},
            expected="a",
            hint="Which scale sets the peak?",
            explanation="Fewer steps run at full size, but the last scale still does, so the "
            "peak memory is that of a full-size run.",
        ),
        Question(
            id="07-gram-entry-fp16",
            text="A 64 x 64 feature map is 300 everywhere. What is its Gram matrix entry "
            "G_00 = sum_k F_0k^2 (exactly)?",
            expected=300**2 * 64 * 64,
            example="e.g. 1000000",
            hint="64 x 64 positions, each contributing 300^2.",
            explanation="368,640,000: far above float16's maximum of 65504, which is why Grams "
            "stay in float32 under mixed precision.",
        ),
        Question(
            id="07-luminance",
            text="`preserve_color='luminance'` gives the result whose colours?",
            options={"a": "the photo's", "b": "the painting's", "c": "a mix of both"},
            expected="a",
            hint="Luminance transfer keeps the stylised brightness and takes chrominance from...",
            explanation="Only the brightness comes from the stylised image; hue and saturation are "
            "the photo's.",
        ),
    ],
}
