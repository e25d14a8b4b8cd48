"""Chapter 08: ``instance_norm(x)`` and one ``training_step`` of the feed-forward network."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import Case

C, T = "check_instance_norm", "check_training_step"


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


# ---- one training step ---------------------------------------------------------------------


def step(*, zero="before", no_grad=True, targets="photos", log="before", returns="float",
         order="backward-step"):  # fmt: skip
    """A learner's training step, right by default, with the given deviations."""

    def training_step(net, optimizer, extractor, loss_fn, photos):
        if zero == "before":
            optimizer.zero_grad()
        feats = extractor(net(photos))
        if targets == "output":
            content = {k: v.detach() for k, v in feats.items()}
        elif no_grad:
            with torch.no_grad():
                content = extractor(photos)
        else:
            content = extractor(photos)
        loss = loss_fn(feats, content)
        if order == "backward-step":
            loss.backward()
            if zero == "between":
                optimizer.zero_grad()
            optimizer.step()
        else:
            optimizer.step()
            loss.backward()
        if log == "after":
            with torch.no_grad():
                return loss_fn(extractor(net(photos)), extractor(photos)).item()
        return loss if returns == "tensor" else loss.item()

    return training_step


def pytorch_examples(net, optimizer, extractor, loss_fn, photos):
    # pytorch/examples fast_neural_style train(): the targets vgg(x) without no_grad (the VGG is
    # frozen and x needs no grad, so they have no graph), then backward, step, loss.item().
    optimizer.zero_grad()
    y = net(photos)
    features_y = extractor(y)
    features_x = extractor(photos)
    total_loss = loss_fn(features_y, features_x)
    total_loss.backward()
    optimizer.step()
    return total_loss.item()


def normalises_photos_in_place(net, optimizer, extractor, loss_fn, photos):
    photos.clamp_(0.05, 0.95)
    return step()(net, optimizer, extractor, loss_fn, photos)


CASES += [
    Case(T, step(), True, "training_step is correct", "solution"),
    Case(T, pytorch_examples, True, "training_step is correct", "pytorch-examples"),
    Case(T, step(no_grad=False), True, "training_step is correct", "targets-without-no-grad"),
    Case(T, step(zero="never"), False, "zero_grad() is missing", "no-zero-grad"),
    Case(T, step(zero="between"), False, "did not change", "zero-grad-before-step"),
    Case(T, step(targets="output"), False, "network's own output", "targets-from-output"),
    Case(T, step(log="after"), False, "measured after the update", "log-after"),
    Case(T, step(returns="tensor"), False, "returned a tensor", "returns-tensor"),
    Case(T, step(order="step-backward"), False, "did not change", "step-before-backward"),
    Case(T, normalises_photos_in_place, False, "in place", "photos-in-place"),
]
