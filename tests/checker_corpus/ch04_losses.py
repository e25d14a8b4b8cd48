"""Chapter 04: ``content_loss(F, P)``, ``style_loss(F, A)`` (one layer) and eq. 6 by hand."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nst_helpers import losses

from . import Case, gram, nm

CL, SL, SG = "check_content_loss", "check_style_loss", "check_style_gradient"
RL = "check_relative_loss"


# ---- content loss --------------------------------------------------------------------------


def d2l_content(Y_hat, Y):
    # d2l 14.12 content_loss: torch.square(Y_hat - Y.detach()).mean()
    return torch.square(Y_hat - Y.detach()).mean()


def keras_content(base, combination):
    # keras.io neural_style_transfer content_loss: reduce_sum(square(combination - base)).
    return torch.sum(torch.square(combination - base))


CONTENT = [
    Case(CL, losses.content_loss, True, "content_loss is correct", "library"),
    Case(CL, lambda f, p: 0.5 * ((f - p) ** 2).sum(), True, "is correct", "solution"),
    Case(
        CL, lambda f, p: 0.5 * F.mse_loss(f, p, reduction="sum"), True, "is correct", "mse-sum-half"
    ),
    Case(CL, lambda f, p: F.mse_loss(f, p), False, "mean", "pytorch-tutorial-mse"),
    Case(CL, d2l_content, False, "mean", "d2l"),
    Case(CL, keras_content, False, "1/2 is missing", "keras-example"),
    Case(CL, lambda f, p: (f - p).norm(), False, "norm", "norm"),
    Case(CL, lambda f, p: 0.5 * (f - p) ** 2, False, "single number", "no-sum"),
    Case(CL, lambda f, p: (0.5 * ((f - p) ** 2).sum()).item(), False, "Python number", "item"),
    Case(CL, lambda f, p: f, False, "returns its first input unchanged", "identity"),
    Case(CL, lambda f, p: torch.rand(()), False, "differs from the reference", "random"),
    Case(
        CL,
        lambda f, p: 0.5 * ((f - p) ** 2).sum(dim=(1, 2, 3)),
        False,
        "0-dim",
        "shape-1-per-image",
    ),
    Case(
        CL, lambda f, p: 0.5 * ((f.double() - p.double()) ** 2).sum(), False, "float64", "float64"
    ),
]


# ---- style loss of one layer -----------------------------------------------------------------


def paper(f, a):
    n, m = nm(f)
    return ((gram(f) - gram(a)) ** 2).sum() / (4 * n**2 * m**2)


def pytorch_tutorial(f, a):
    # PyTorch tutorial StyleLoss: gram_matrix (/ a*b*c*d), then F.mse_loss of the Grams.
    def gram_matrix(input):
        a, b, c, d = input.size()
        features = input.view(a * b, c * d)
        return torch.mm(features, features.t()).div(a * b * c * d)

    return F.mse_loss(gram_matrix(f), gram_matrix(a).detach())


def neural_style(f, a):
    # neural-style / neural-style-pt StyleLoss: G:div(input:nElement()), then MSECriterion.
    _, c, h, w = f.shape
    x, y = f.view(c, h * w), a.view(c, h * w)
    return F.mse_loss((x @ x.t()).div(f.nelement()), (y @ y.t()).div(a.nelement()))


def d2l(Y_hat, A):
    # d2l 14.12: gram / (num_channels * n), then torch.square(...).mean().
    def g(X):
        num_channels, n = X.shape[1], X.numel() // X.shape[1]
        X = X.reshape((num_channels, n))
        return torch.matmul(X, X.T) / (num_channels * n)

    return torch.square(g(Y_hat) - g(A).detach()).mean()


def tf_tutorial(f, a):
    # TensorFlow tutorial: Grams / num_locations, then reduce_mean of the squared difference.
    m = f.shape[2] * f.shape[3]
    g = torch.einsum("bchw,bdhw->bcd", f, f) / m
    t = torch.einsum("bchw,bdhw->bcd", a, a) / m
    return torch.mean((g - t) ** 2)


def gatys_port(f, a):
    # leongatys/PytorchNeuralStyleTransfer GramMSELoss: MSELoss of Grams divided by h * w.
    def g(x):
        b, c, h, w = x.size()
        x = x.view(b, c, h * w)
        return torch.bmm(x, x.transpose(1, 2)).div(h * w)

    return torch.nn.MSELoss()(g(f), g(a))


def keras_example(style, combination):
    # keras.io neural_style_transfer style_loss: channels = 3 and size = img_nrows * img_ncols
    # are the *image's*, the same for every layer.
    channels, size = 3, 400 * 400
    return torch.sum(torch.square(gram(style) - gram(combination))) / (
        4.0 * (channels**2) * (size**2)
    )


def precedence(f, a):
    n, m = nm(f)
    return ((gram(f) - gram(a)) ** 2).sum() / 4 * n**2 * m**2


def m_is_h(f, a):
    n, h = f.shape[1], f.shape[2]
    return ((gram(f) - gram(a)) ** 2).sum() / (4 * n**2 * h**2)


def feature_mse(f, a):
    return 0.5 * ((f - a) ** 2).sum()


def numpy_normaliser(f, a):
    # A 0-dim float64 tensor from NumPy: float32 / float64 (both 0-dim) gives float64. (A plain
    # np.float64 number would not: it counts as a Python scalar and the result stays float32.)
    n, m = nm(f)
    return ((gram(f) - gram(a)) ** 2).sum() / torch.from_numpy(np.array(4.0 * n**2 * m**2))


def gram_minus_features(F, A):
    n, m = nm(F)
    return ((gram(F) - A) ** 2).sum() / (4 * n**2 * m**2)  # A is features, not a Gram


STYLE = [
    Case(SL, lambda f, a: losses.style_loss(f, a), True, "style_loss is correct", "library"),
    Case(SL, paper, True, "style_loss is correct", "solution"),
    Case(
        SL,
        lambda f, a: (
            F.mse_loss(gram(f), gram(a), reduction="sum") / (4 * nm(f)[0] ** 2 * nm(f)[1] ** 2)
        ),
        True,
        "style_loss is correct",
        "mse-sum",
    ),
    Case(SL, pytorch_tutorial, False, "PyTorch tutorial", "pytorch-tutorial"),
    Case(SL, neural_style, False, "neural-style", "neural-style"),
    Case(SL, d2l, False, "(N^4 M^2)", "d2l"),
    Case(SL, tf_tutorial, False, "TensorFlow tutorial", "tf-tutorial"),
    Case(SL, gatys_port, False, "the 4 of 4 N^2 M^2 is missing", "gatys-port"),
    Case(SL, keras_example, False, "ignores the layer's size", "keras-example"),
    Case(SL, precedence, False, "precedence", "precedence-slip"),
    Case(SL, m_is_h, False, "M = H", "m-is-h"),
    Case(SL, feature_mse, False, "compares the features", "features-not-grams"),
    Case(SL, lambda f, a: F.mse_loss(gram(f), gram(a)), False, "F.mse_loss", "mse-of-grams"),
    Case(SL, lambda f, a: f, False, "returns its first input unchanged", "identity"),
    Case(SL, lambda f, a: torch.rand(()), False, "differs from the reference", "random"),
    Case(SL, numpy_normaliser, False, "float64", "numpy-array-normaliser"),
    Case(SL, lambda f, a: paper(f, a) / np.float64(1.0), True, "is correct", "numpy-scalar"),
    Case(SL, lambda f, a: paper(f, a).detach().requires_grad_(), False, "gradient", "detached"),
    Case(SL, gram_minus_features, False, "gram(F) - A", "gram-minus-features"),
]


# ---- eq. 6, the style gradient by hand --------------------------------------------------------


def eq6(f, a):
    n, m = f.shape
    return (f @ f.T - a) @ f / (n**2 * m**2) * (f > 0)


def eq6_as_printed(f, a):
    # ((F^T (G - A))^T)_ij, as the paper prints it, with torch.where for the ReLU case.
    n, m = f.shape
    g = f @ f.T
    return torch.where(f > 0, (f.T @ (g - a)).T / (n**2 * m**2), torch.zeros_like(f))


def eq6_numpy(f, a):
    x, t = f.numpy().astype(np.float64), a.numpy().astype(np.float64)
    n, m = x.shape
    return torch.from_numpy((x @ x.T - t) @ x / (n**2 * m**2) * (x > 0))


def eq6_precedence(f, a):
    n, m = f.shape
    return (f @ f.T - a) @ f / n**2 * m**2 * (f > 0)


GRADIENT = [
    Case(SG, eq6, True, "style_gradient is correct", "solution"),
    Case(SG, eq6_as_printed, True, "style_gradient is correct", "as-printed-where"),
    Case(SG, lambda f, a: f, False, "returns its first input unchanged", "identity"),
    Case(SG, lambda f, a: torch.randn(f.shape), False, "differs from the reference", "random"),
    Case(SG, lambda f, a: torch.zeros_like(f), False, "zero", "zeros"),
    Case(SG, eq6_numpy, False, "float64", "numpy-float64"),
    Case(SG, lambda f, a: -eq6(f, a), False, "wrong sign", "sign"),
    Case(
        SG,
        lambda f, a: (f @ f.T - a) @ f / (f.shape[0] * f.shape[1]) ** 2,
        False,
        "not zero where",
        "no-relu-mask",
    ),
    Case(SG, lambda f, a: eq6(f, a) / 4, False, "4 N^2 M^2", "keeps-the-4"),
    Case(SG, lambda f, a: eq6(f, a).T, False, "transpose", "transposed"),
    Case(SG, lambda f, a: f @ f.T - a, False, "multiply by F", "g-minus-a"),
    Case(SG, eq6_precedence, False, "precedence", "precedence-slip"),
]

# ---- the relative style loss ------------------------------------------------------------------


def relative(F, A):
    G, T = gram(F), gram(A)
    return ((G - T) ** 2).sum() / (T**2).sum()


def relative_mse(F_, A):
    # F.mse_loss over F.mse_loss of the target against zero: the N^2 of both means cancels.
    G, T = gram(F_), gram(A)
    return F.mse_loss(G, T) / F.mse_loss(T, torch.zeros_like(T))


RELATIVE = [
    Case(RL, lambda f, a: losses.relative_style_layer_loss(f, losses.gram_matrix(a)), True,
         "relative_style_loss is correct", "library"),
    Case(RL, relative, True, "relative_style_loss is correct", "solution"),
    Case(RL, relative_mse, True, "relative_style_loss is correct", "ratio-of-mse"),
    Case(RL, lambda f, a: paper(f, a), False, "4 N^2 M^2", "paper-normaliser"),
    Case(RL, lambda f, a: ((gram(f) - gram(a)) ** 2).sum() / (gram(f) ** 2).sum(), False,
         "generated image's Gram energy", "generated-energy"),
    Case(RL, lambda f, a: (gram(f) - gram(a)).norm() / gram(a).norm(), False,
         "not squared norms", "norms"),
    Case(RL, lambda f, a: ((gram(f) - gram(a)) ** 2).sum() / gram(a).norm(), False,
         "not ||A||^2", "divides-by-norm"),
    Case(RL, lambda f, a: ((gram(f) - gram(a)) ** 2).mean() / (gram(a) ** 2).sum(), False,
         "averages", "mean"),
    Case(RL, lambda f, a: ((f - a) ** 2).sum() / (a**2).sum(), False, "compares the features",
         "features"),
    Case(RL, lambda f, a: ((gram(f) - gram(a)) ** 2).sum() / (a**2).sum(), False,
         "energy of the style features", "feature-energy"),
    Case(RL, lambda f, a: relative(f.detach(), a), False, "gradient", "detached"),
    Case(RL, lambda f, a: f, False, "returns its first input unchanged", "identity"),
    Case(RL, lambda f, a: torch.rand(()), False, "differs from the reference", "random"),
]  # fmt: skip

CASES = CONTENT + STYLE + GRADIENT + RELATIVE
