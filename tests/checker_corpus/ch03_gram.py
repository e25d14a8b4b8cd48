"""Chapter 03, ``gram_matrix(F)``: [B, C, H, W] -> unnormalised G = F F^T per image, [B, C, C]."""

from __future__ import annotations

import numpy as np
import torch

from nst_helpers import losses

from . import Case, flat, gram, nm

C = "check_gram_matrix"


def per_image_loop(f):
    b, c, h, w = f.shape
    return torch.stack([f[i].reshape(c, -1) @ f[i].reshape(c, -1).T for i in range(b)])


def keras_example(f):
    # keras.io neural_style_transfer gram_matrix (one image, channels first after a transpose),
    # applied per image: unnormalised, like the paper.
    out = []
    for x in f:
        features = x.reshape(x.shape[0], -1)
        out.append(features @ features.T)
    return torch.stack(out)


def pytorch_tutorial(input):
    # PyTorch NST tutorial: view(a * b, c * d), torch.mm, divided by a * b * c * d.
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


def pytorch_examples(y):
    # pytorch/examples fast_neural_style utils.gram_matrix: bmm, divided by ch * h * w.
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    return features.bmm(features.transpose(1, 2)) / (ch * h * w)


def tf_tutorial(f):
    # TensorFlow tutorial: einsum('bijc,bijd->bcd') / num_locations (here channels first).
    return torch.einsum("bchw,bdhw->bcd", f, f) / (f.shape[2] * f.shape[3])


def gatys_port(input):
    # leongatys/PytorchNeuralStyleTransfer GramMatrix: bmm, then G.div_(h * w).
    b, c, h, w = input.size()
    F = input.view(b, c, h * w)
    G = torch.bmm(F, F.transpose(1, 2))
    G.div_(h * w)
    return G


def d2l(X):
    # d2l 14.12 gram: reshape to (num_channels, numel // num_channels), / (num_channels * n).
    num_channels, n = X.shape[1], X.numel() // X.shape[1]
    X = X.reshape((num_channels, n))
    return torch.matmul(X, X.T) / (num_channels * n)


def one_image_only(f):
    # Written for B = 1: the reshape hard-codes the batch size.
    c, h, w = f.shape[1:]
    x = f.reshape(1, c, h * w)
    return x @ x.transpose(1, 2)


def positions_first(f):
    x = flat(f)
    return x.transpose(1, 2) @ x


def scrambled_reshape(f):
    b, c, h, w = f.shape
    x = f.reshape(b, h * w, c)
    return x.transpose(1, 2) @ x


def numpy_float64(f):
    x = flat(f).detach().numpy().astype(np.float64)
    return torch.from_numpy(x @ x.transpose(0, 2, 1))


def view(f):
    # .view, as pytorch/examples and the PyTorch tutorial flatten: it also works on the
    # channels_last features the course's VGG19 produces (H and W stay adjacent in memory).
    b, c, h, w = f.shape
    x = f.view(b, c, h * w)
    return x @ x.transpose(1, 2)


CASES = [
    Case(C, losses.gram_matrix, True, "gram_matrix is correct", "library"),
    Case(C, gram, True, "gram_matrix is correct", "solution"),
    Case(C, lambda f: torch.einsum("bchw,bdhw->bcd", f, f), True, "is correct", "einsum"),
    Case(C, per_image_loop, True, "gram_matrix is correct", "loop-over-batch"),
    Case(C, keras_example, True, "gram_matrix is correct", "keras-example"),
    Case(C, lambda f: f, False, "returns its input unchanged", "identity"),
    Case(
        C,
        lambda f: torch.randn(f.shape[0], f.shape[1], f.shape[1]),
        False,
        "differs from the reference",
        "random",
    ),
    Case(C, pytorch_tutorial, False, "PyTorch tutorial", "pytorch-tutorial"),
    Case(C, pytorch_examples, False, "divides by N*M", "pytorch-examples"),
    Case(C, tf_tutorial, False, "divides by M", "tf-tutorial"),
    Case(C, gatys_port, False, "divides by M", "gatys-port"),
    Case(C, d2l, False, "d2l", "d2l"),
    Case(C, one_image_only, False, "the other inputs work", "hard-coded-batch-1"),
    Case(C, positions_first, False, "F^T F", "ftf"),
    Case(C, scrambled_reshape, False, "scrambles", "reshape-hw-c"),
    Case(C, lambda f: flat(f) * flat(f), False, "did not multiply", "elementwise"),
    Case(
        C,
        lambda f: gram(f[:1]).expand(f.shape[0], -1, -1),
        False,
        "first image",
        "first-image-only",
    ),
    Case(C, lambda f: gram(f).detach(), False, "gradient", "detached"),
    Case(C, numpy_float64, False, "float64", "numpy-round-trip"),
    Case(C, lambda f: gram(f.double()), False, "float64", "float64-output"),
    Case(C, view, True, "gram_matrix is correct", "view-also-on-channels-last"),
    Case(C, lambda f: gram(f) / (nm(f)[0] * nm(f)[1]), False, "divides by N*M", "divide-nm"),
]
