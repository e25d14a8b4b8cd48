"""Chapter 07, ``tv_loss(x)``: sum of squared neighbour differences along H and W, 0-dim."""

from __future__ import annotations

import torch

from nst_helpers import losses

from . import Case

C = "check_tv_loss"


def slices(x):
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh**2).sum() + (dw**2).sum()


def tf_tutorial(image):
    # TensorFlow tutorial total_variation_loss (and tf.image.total_variation): L1, summed.
    x_deltas = image[:, :, :, 1:] - image[:, :, :, :-1]
    y_deltas = image[:, :, 1:, :] - image[:, :, :-1, :]
    return torch.sum(torch.abs(x_deltas)) + torch.sum(torch.abs(y_deltas))


def keras_example(x):
    # keras.io neural_style_transfer total_variation_loss: the cropped (H-1) x (W-1) grid,
    # sum (a + b) ** 1.25.
    a = torch.square(x[:, :, :-1, :-1] - x[:, :, 1:, :-1])
    b = torch.square(x[:, :, :-1, :-1] - x[:, :, :-1, 1:])
    return torch.sum(torch.pow(a + b, 1.25))


def neural_style(x):
    # jcjohnson/neural-style TVLoss (the loss whose gradient it writes out): 1/2 of the squared
    # differences on the cropped (H-1) x (W-1) grid.
    x_diff = x[:, :, :-1, :-1] - x[:, :, :-1, 1:]
    y_diff = x[:, :, :-1, :-1] - x[:, :, 1:, :-1]
    return 0.5 * ((x_diff**2).sum() + (y_diff**2).sum())


def neural_style_pt(input):
    # ProGamerGov/neural-style-pt TVLoss: L1 over the full grid, summed.
    x_diff = input[:, :, 1:, :] - input[:, :, :-1, :]
    y_diff = input[:, :, :, 1:] - input[:, :, :, :-1]
    return torch.sum(torch.abs(x_diff)) + torch.sum(torch.abs(y_diff))


def l1_cropped(x):
    dh = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    dw = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    return dh.abs().sum() + dw.abs().sum()


def d2l(Y_hat):
    # d2l 14.12 tv_loss: 0.5 * (mean |dh| + mean |dw|).
    return 0.5 * (
        torch.abs(Y_hat[:, :, 1:, :] - Y_hat[:, :, :-1, :]).mean()
        + torch.abs(Y_hat[:, :, :, 1:] - Y_hat[:, :, :, :-1]).mean()
    )


def l1_mean(x):
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return dh.abs().mean() + dw.abs().mean()


def squared_mean(x):
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh**2).mean() + (dw**2).mean()


def roll(x):
    return ((x.roll(-1, 2) - x) ** 2).sum() + ((x.roll(-1, 3) - x) ** 2).sum()


def added_before_summing(x):
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh**2 + dw**2).sum()  # [.., H-1, W] + [.., H, W-1]


def per_image(x):
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh**2).sum(dim=(1, 2, 3)) + (dw**2).sum(dim=(1, 2, 3))


CASES = [
    Case(C, losses.tv_loss, True, "tv_loss is correct", "library"),
    Case(C, slices, True, "tv_loss is correct", "solution"),
    Case(
        C,
        lambda x: x.diff(dim=2).pow(2).sum() + x.diff(dim=3).pow(2).sum(),
        True,
        "tv_loss is correct",
        "torch-diff",
    ),
    Case(C, tf_tutorial, False, "TensorFlow tutorial", "tf-tutorial-l1"),
    Case(C, neural_style_pt, False, "L1", "neural-style-pt-l1"),
    Case(C, keras_example, False, "Keras", "keras-example"),
    Case(C, neural_style, False, "cropped", "neural-style-cropped"),
    Case(C, l1_cropped, False, "L1 total variation on the cropped", "l1-cropped"),
    Case(C, d2l, False, "d2l", "d2l-half-l1-mean"),
    Case(C, l1_mean, False, "mean of |differences|", "l1-mean"),
    Case(C, squared_mean, False, "averages", "squared-mean"),
    Case(C, roll, False, "torch.roll", "roll"),
    Case(
        C,
        lambda x: ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum(),
        False,
        "only sums the vertical",
        "vertical-only",
    ),
    Case(C, added_before_summing, False, "entry by entry", "add-before-sum"),
    Case(C, per_image, False, "0-dim", "per-image"),
    Case(C, lambda x: x, False, "returns its input unchanged", "identity"),
    Case(C, lambda x: torch.rand(()), False, "differs from the reference", "random"),
    Case(C, lambda x: losses.tv_loss(x).item(), False, "Python number", "item"),
]
