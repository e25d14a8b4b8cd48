"""The answers to the chapters' self-check questions, kept out of the notebooks.

A chapter asks a question in a code cell (the question and its options as comments) and ends it
with ``quiz("02-inplace-relu", answer)``; the expected answer, the hint shown after a wrong
answer and the explanation shown after a right one live here, so the notebook never prints the
answer next to the question. ``why`` explains, per wrong option of a multiple-choice question,
what that option gets wrong (shown when the learner picks it).

Question ids are ``"<chapter>-<topic>"``. ``tests/test_quizzes.py`` checks that every id a
notebook asks exists here (and the other way round), that the options a notebook lists are the
``choices`` here, and recomputes every numeric answer from the network or the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Question:
    """What ``quiz`` needs to judge one answer.

    ``expected`` is compared by ``check_answer``: a letter for multiple choice (``choices``
    lists the letters the notebook offers), a number (``tol`` is the absolute tolerance), a
    tuple (e.g. a shape), a bool or a short string (``accept`` lists other right spellings).
    """

    expected: Any
    hint: str
    explanation: str
    choices: str = ""
    why: dict[str, str] = field(default_factory=dict)
    accept: tuple[Any, ...] = ()
    tol: float | None = None


QUESTIONS: dict[str, Question] = {
    # ---- 00 · setup and tour ----------------------------------------------------------------
    "00-what-is-optimised": Question(
        expected="b",
        choices="abc",
        hint="Which part of the pipeline diagram is frozen?",
        explanation="VGG19 stays frozen; it only measures content and style. The pixels are "
        "the parameters.",
        why={
            "a": "the network is never trained here: it is a fixed measuring instrument.",
            "c": "only one thing changes; the network's weights have requires_grad=False.",
        },
    ),
    "00-what-is-style": Question(
        expected="b",
        choices="abc",
        hint="Style is *which* textures occur, regardless of *where*.",
        explanation="Gram matrices sum over positions, so they keep what occurs together and "
        "forget where.",
        why={
            "a": "the feature maps of one deep layer describe the *content*: they keep positions.",
            "c": "a colour histogram knows nothing about strokes or textures.",
        },
    ),
    "00-vgg-modules": Question(
        expected=37,
        hint="Look for 'VGG19 features: ... layers' in the output above.",
        explanation="16 convolutions + 16 ReLUs + 5 max-poolings = 37; the classifier after "
        "them is never used.",
    ),
    # ---- 01 · images ------------------------------------------------------------------------
    "01-chelsea-shape": Question(
        expected=(1, 3, 300, 451),
        hint="PIL gives (width, height); PyTorch wants [B, C, H, W].",
        explanation="A batch of 1, 3 channels, then height 300 and width 451: PIL's (W, H) is "
        "the other way round.",
    ),
    "01-white-red-normalised": Question(
        expected=(1.0 - 0.485) / 0.229,
        tol=0.01,
        hint="(x - mean) / std with the red channel's mean 0.485 and std 0.229.",
        explanation="(1 - 0.485) / 0.229 = 2.25: normalised images run from about -2.1 to "
        "+2.6, which is why they must be de-normalised before display.",
    ),
    "01-cost-of-size": Question(
        expected="b",
        choices="abc",
        hint="Convolutions cost per pixel; how many pixels are left?",
        explanation="Half the side is a quarter of the pixels, so about a quarter of the work "
        "(and of the activation memory).",
        why={
            "a": "the side halves, but the pixels are side x side.",
            "c": "every convolution visits every pixel: fewer pixels, less work.",
        },
    ),
    # ---- 02 · VGG19 features ----------------------------------------------------------------
    "02-conv3_1-channels": Question(
        expected=256,
        hint="The table at the top of the chapter lists channels per layer.",
        explanation="64 in block 1, 128 in block 2, 256 in block 3, 512 in blocks 4 and 5.",
    ),
    "02-conv4_2-shape": Question(
        expected=(1, 512, 32, 32),
        hint="conv4_x comes after three 2x2 poolings; block 4 has 512 channels.",
        explanation="Three poolings halve 256 three times: 32 x 32 positions, 512 channels.",
    ),
    "02-inplace-relu": Question(
        expected="b",
        choices="abc",
        hint="What does `inplace=True` write over?",
        explanation="The in-place ReLU overwrites the tensor you stored, silently. That is why "
        "the paper's Caffe 'conv1_1' blobs held post-ReLU values, and why FeatureExtractor "
        "names both: conv* (before the ReLU) and relu* (after it).",
        why={
            "a": "the tensor you stored is the very memory the next ReLU overwrites.",
            "c": "autograd only complains when it needs the overwritten value for a backward "
            "pass; under no_grad nothing is checked.",
        },
    ),
    # ---- 03 · Gram matrices -----------------------------------------------------------------
    "03-gram-shape-conv3_1": Question(
        expected=(1, 256, 256),
        hint="[B, C, C]: the Gram compares channels; positions are summed away.",
        explanation="B = 1 image, 256 x 256 channel pairs; the 128 x 128 positions are summed.",
    ),
    "03-position-free": Question(
        expected="a",
        choices="abc",
        hint="G_ij = sum_k F_ik F_jk: which change keeps every such sum the same?",
        explanation="A sum does not care about the order of its terms, so shuffling positions "
        "keeps every G_ij.",
        why={
            "b": "each term is a product of two activations, so doubling both multiplies G by 4.",
            "c": "(F_ik + 1)(F_jk + 1) adds F_ik + F_jk + 1 to every term.",
        },
    ),
    "03-toy-g22": Question(
        expected=5,
        hint="Channel 2 of the toy F is [0, 2, 0, 1]; G[2, 2] is the sum of its squares.",
        explanation="0 + 4 + 0 + 1 = 5: a diagonal entry is the energy of one channel.",
    ),
    # ---- 04 · losses ------------------------------------------------------------------------
    "04-positions-grow": Question(
        expected=4,
        hint="M_l = H_l * W_l.",
        explanation="Both H_l and W_l double, so M_l = H_l W_l grows 4x (and M_l^2 by 16x).",
    ),
    "04-alpha-beta-closer": Question(
        expected="a",
        choices="ab",
        hint="alpha weighs the content loss: a larger alpha/beta means more content.",
        explanation="1e-3 is a hundred times more content weight relative to style than 1e-5.",
        why={"b": "a smaller alpha/beta gives the style loss more say, not the content loss."},
    ),
    "04-why-normalise": Question(
        expected="b",
        choices="abc",
        hint="How big are the raw sums of squared Gram differences at conv1_1 and at conv5_1?",
        explanation="Gram entries grow with M_l and there are N_l^2 of them: the division "
        "puts layers of very different sizes on comparable scales.",
        why={
            "a": "a Gram matrix is symmetric by construction, whatever it is divided by.",
            "c": "nothing keeps Gram entries in [0, 1]; activations are not bounded by 1.",
        },
    ),
    # ---- 05 · the loop ----------------------------------------------------------------------
    "05-history-before": Question(
        expected="before",
        accept=("b",),
        hint="Look at where history.append sits in our loop.",
        explanation="The loss is what the forward pass measured, and the forward pass comes "
        "before the update: step 1's record is the starting image's loss.",
    ),
    "05-snapshots": Question(
        expected=4,
        hint="A snapshot is taken whenever the step number is a multiple of snapshot_every.",
        explanation="Steps 1000, 2000, 3000 and 4000.",
    ),
    "05-lbfgs-clamp": Question(
        expected="b",
        choices="ab",
        hint="The closure is called several times during one line search.",
        explanation="Clamping inside the closure moves the point behind L-BFGS's back and "
        "spoils its line search and curvature estimates.",
        why={
            "a": "L-BFGS evaluates the closure at points of its own choosing; changing the "
            "image there makes the loss it sees disagree with the point it thinks it is at."
        },
    ),  # fmt: skip
    # ---- 06 · studio ------------------------------------------------------------------------
    "06-ratio": Question(
        expected="c",
        choices="abc",
        hint="Compare the ratio before and after.",
        explanation="The ratio style/content is unchanged, so the optimum is the same.",
        why={
            "a": "the style weight grew, but so did the content weight, by the same factor.",
            "b": "the content weight grew, but so did the style weight, by the same factor.",
        },
    ),
    "06-shallow-layers": Question(
        expected="a",
        choices="abc",
        hint="Shallow layers see small patches of the image.",
        explanation="Small receptive fields give colour and grain; deep layers (4_1, 5_1) give "
        "larger strokes. No layer transfers the composition: Grams forget positions.",
        why={
            "b": "large strokes need large receptive fields: the deep layers.",
            "c": "Gram matrices sum over positions, so no layer keeps the composition.",
        },
    ),
    "06-callback-stop": Question(
        expected=False,
        hint="Look at the callback in 'Under the hood'.",
        explanation="Returning False stops stylize after that step, with interrupted=True.",
    ),
    # ---- 07 · beyond the paper --------------------------------------------------------------
    "07-coarse-to-fine-saves": Question(
        expected="a",
        choices="abc",
        hint="Which scale sets the peak?",
        explanation="Fewer steps run at full size, but the last scale still does, so the peak "
        "memory is that of a full-size run.",
        why={
            "b": "the last scale runs at the full size, so the peak is the same.",
            "c": "only one of the two: the last scale runs at the full size.",
        },
    ),
    "07-gram-entry-fp16": Question(
        expected=300**2 * 64 * 64,
        hint="64 x 64 positions, each contributing 300^2.",
        explanation="368,640,000: far above float16's maximum of 65504, which is why Grams stay "
        "in float32 under mixed precision.",
    ),
    "07-luminance": Question(
        expected="a",
        choices="abc",
        hint="Luminance transfer keeps the stylised brightness and takes chrominance from...",
        explanation="Only the brightness comes from the stylised image; hue and saturation are "
        "the photo's.",
        why={
            "b": "the painting's colours are what plain style transfer gives.",
            "c": "the colour (chrominance) comes from one image only.",
        },
    ),
    # ---- 08 · real-time style transfer -------------------------------------------------------
    "08-what-is-trained": Question(
        expected="b",
        choices="abc",
        hint="Which part is new compared with chapter 05, and which stays frozen?",
        explanation="The network's weights W: VGG19 stays a frozen measuring instrument, and the "
        "pixels are whatever the network outputs.",
        why={
            "a": "that is stylize; here the pixels are the network's output, not parameters.",
            "c": "VGG19 only measures content and style: it stays frozen, as in every chapter.",
        },
    ),
    "08-residual-side": Question(
        expected=64,
        hint="Each stride-2 convolution halves the side.",
        explanation="256 / 2 / 2: the residual blocks see 16x fewer positions than the photo, "
        "which makes them cheap and gives them a large receptive field.",
    ),
    "08-instance-not-batch": Question(
        expected="b",
        choices="abc",
        hint="Which statistics does each normalisation pool over?",
        explanation="Statistics per image and channel: the result depends on that photo alone, "
        "and a contrast change (3x + 2) disappears.",
        why={
            "a": "both cost about the same; speed is not the reason.",
            "c": "like batch norm it learns a scale and a shift per channel.",
        },
    ),
}
