"""Chapter 08, ``instance_norm(x)``: (x - mean) / sqrt(var + 1e-5) per image and channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import Case

C = "check_instance_norm"


def solution(x):
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def adain(feat, eps=1e-5):
    # naoto0804/pytorch-AdaIN calc_mean_std + the normalisation in adaptive_instance_normalization:
    # torch.var's default is the unbiased variance.
    size = feat.size()
    N, C = size[:2]
    feat_var = feat.view(N, C, -1).var(dim=2) + eps
    feat_std = feat_var.sqrt().view(N, C, 1, 1)
    feat_mean = feat.view(N, C, -1).mean(dim=2).view(N, C, 1, 1)
    return (feat - feat_mean.expand(size)) / feat_std.expand(size)


def eps_on_std(x):
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - mean) / (std + 1e-5)


def no_keepdim(x):
    mean = x.mean(dim=(2, 3))
    var = x.var(dim=(2, 3), unbiased=False)
    return (x - mean) / torch.sqrt(var + 1e-5)


def batch_stats(x):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def no_eps(x):
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) / x.std(dim=(2, 3), unbiased=False, keepdim=True)


CASES = [
    Case(C, solution, True, "instance_norm is correct", "solution"),
    Case(C, F.instance_norm, True, "instance_norm is correct", "torch-functional"),
    Case(
        C,
        lambda x: torch.nn.InstanceNorm2d(x.shape[1], affine=True)(x),
        True,
        "instance_norm is correct",
        "pytorch-examples-instancenorm2d-affine",
    ),
    Case(C, adain, False, "unbiased", "adain-calc-mean-std"),
    Case(C, eps_on_std, False, "standard deviation", "eps-outside-sqrt"),
    Case(C, no_keepdim, False, "keepdim", "no-keepdim"),
    Case(C, batch_stats, False, "batch statistics", "batch-norm"),
    Case(C, lambda x: F.layer_norm(x, x.shape[1:]), False, "layer statistics", "layer-norm"),
    Case(C, no_eps, False, "eps", "no-eps"),
    Case(
        C,
        lambda x: x - x.mean(dim=(2, 3), keepdim=True),
        False,
        "only subtracts the mean",
        "centre-only",
    ),
    Case(C, lambda x: x, False, "returns its input unchanged", "identity"),
    Case(C, lambda x: torch.randn_like(x), False, "differs from the reference", "random"),
    Case(C, lambda x: solution(x).detach(), False, "gradient", "detached"),
]
