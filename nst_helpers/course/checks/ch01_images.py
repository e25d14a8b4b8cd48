"""Chapter 01: ``normalize(x)``, ``[B, 3, H, W]`` in [0, 1] -> ``(x - mean) / std`` (ImageNet RGB)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._verdict import Grad, Mistake, Probe, Raised, inputs, judge, require_callable, run

# ImageNet statistics, written out again on purpose (the checkers test the library too).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# Caffe's VGG mean pixel, BGR order, 0-255 scale (Keras' preprocess_input "caffe" mode).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def channel(values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
    """``values`` as a ``[1, 3, 1, 1]`` tensor with ``like``'s dtype and device."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


def ref_normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - channel(MEAN, x)) / channel(STD, x)


_CAFFE = (
    "torchvision's VGG19 was trained on RGB in [0, 1], normalised as (x - mean) / std with "
    "ImageNet's per-channel mean and std; the Caffe conventions belong to Caffe-trained weights."
)


def _mistakes() -> list[Mistake]:
    m, s = (lambda x: channel(MEAN, x)), (lambda x: channel(STD, x))
    caffe = lambda x: channel(CAFFE_MEAN_BGR, x)  # noqa: E731
    return [
        Mistake(
            lambda x: x * s(x) + m(x),
            "normalize computes the inverse, x * std + mean",
            "normalising subtracts the mean and then divides by the std.",
        ),
        Mistake(
            lambda x: x - m(x),
            "normalize subtracts the mean but does not divide by the std",
            "finish with `/ std`.",
        ),
        Mistake(
            lambda x: x / s(x),
            "normalize divides by the std but does not subtract the mean",
            "subtract the mean first: (x - mean) / std.",
        ),
        Mistake(
            lambda x: x - m(x) / s(x),
            "normalize computes x - mean / std (operator precedence: / binds first)",
            "add brackets: (x - mean) / std.",
        ),
        Mistake(
            lambda x: (x - s(x)) / m(x),
            "normalize swaps mean and std",
            "mean is (0.485, 0.456, 0.406), std is (0.229, 0.224, 0.225).",
        ),
        Mistake(
            lambda x: (x / 255 - m(x)) / s(x),
            "normalize divides by 255 again",
            "the input is already in [0, 1]; only subtract the mean and divide by the std.",
        ),
        Mistake(
            lambda x: (x - m(x).flip(1)) / s(x).flip(1),
            "normalize uses the channel statistics in reverse (BGR) order",
            "the tensor is RGB: mean[0] = 0.485 belongs to the red channel (index 0).",
        ),
        Mistake(
            lambda x: x.flip(1) * 255 - caffe(x),
            "normalize does Caffe-style preprocessing: BGR order, 0-255 scale, the mean pixel "
            "subtracted, no std (Keras' vgg19.preprocess_input, used by the TensorFlow "
            "tutorial; Gatys' PyTorch port, for his Caffe-trained VGG)",
            _CAFFE,
        ),
        Mistake(
            lambda x: x.flip(1) * 256 - caffe(x),
            "normalize does Caffe-style preprocessing as neural-style does: BGR order, x 256, "
            "the mean pixel subtracted, no std (also neural-style-pt)",
            _CAFFE,
        ),
        Mistake(
            lambda x: x * 255 - caffe(x).flip(1),
            "normalize subtracts Caffe's mean pixel on the 0-255 scale (in RGB order), with no std",
            _CAFFE,
        ),
        Mistake(
            lambda x: (x - x.mean()) / x.std(),
            "normalize uses the image's own mean and std",
            "use ImageNet's fixed statistics: VGG19 was trained with those.",
        ),
        Mistake(
            lambda x: (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True),
            "normalize uses the batch's own per-channel mean and std",
            "use ImageNet's fixed statistics: VGG19 was trained with those.",
        ),
    ]


def _explain(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    sizes = raised.broadcast()
    if sizes and 3 in sizes[:2] and sizes[2] == 3:
        return (
            "normalize's per-channel statistics line up with the last axis (W), not the "
            "channels: they need shape [1, 3, 1, 1]",
            "broadcasting matches axes from the right, so a [3] tensor meets W; `.view(1, 3, 1, 1)`"
            " (or [3, 1, 1]) puts the three values on the channel axis of [B, 3, H, W].",
        )
    if sizes:
        return None, "per-channel values need shape [1, 3, 1, 1] (or [3, 1, 1])."
    return None, None


def _shape_hint(out: torch.Tensor, probe: Probe) -> str:
    x = probe.args[0]
    if out.shape[-3:] == x.shape[1:]:
        return "keep the batch dimension: return [B, 3, H, W] for any B, even B = 1."
    return "return a tensor shaped like the input: [B, 3, H, W]."


def _course_device() -> torch.device:
    from nst_helpers.devices import resolve_device

    return resolve_device("auto")


def check_normalize(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)``: ``[B, 3, H, W]`` in [0, 1] -> ``(x - mean) / std`` (ImageNet, RGB).

    Probes float32 images (the chapter's dtype) of two sizes, the gradient to the image (the
    loop differentiates through ``normalize``) and, where the course runs on a GPU, that device.
    """

    def body() -> str:
        require_callable(fn, "normalize")
        probes = [
            Probe((inputs(seed, *shape, low=0.0),), f"x {list(shape)}")
            for seed, shape in ((1, (1, 3, 4, 5)), (2, (2, 3, 6, 7)))
        ]
        device = _course_device()
        extra = []
        if device.type != "cpu":
            x = inputs(1, 1, 3, 4, 5, low=0.0).to(device)
            extra.append((Probe((x,), f"x on {device.type}"), "the chapter runs on this device."))
        judge(
            "normalize",
            fn,
            probes,
            ref_normalize,
            mistakes=_mistakes(),
            explain=_explain,
            shape_hint=_shape_hint,
            signature="normalize(x)",
            grad=Grad(
                Probe((inputs(3, 1, 3, 4, 5, low=0.0),), "x [1, 3, 4, 5]"), inputs(4, 1, 3, 4, 5)
            ),
            extra=extra,
        )
        return "normalize is correct: (x - mean) / std per RGB channel, any batch size."

    return run("normalize", body)
