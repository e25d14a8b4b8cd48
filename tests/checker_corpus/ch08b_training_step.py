"""Chapter 08, ``training_step(net, optimizer, extractor, loss_fn, photos)``: one step on net."""

from __future__ import annotations

import torch

from . import Case

C = "check_training_step"


def solution(net, optimizer, extractor, loss_fn, photos):
    optimizer.zero_grad()
    feats = extractor(net(photos))
    with torch.no_grad():
        content = extractor(photos)
    loss = loss_fn(feats, content)
    loss.backward()
    optimizer.step()
    return loss.item()


def pytorch_examples(net, optimizer, extractor, loss_fn, photos):
    # pytorch/examples fast_neural_style/neural_style.py: the targets without no_grad (a frozen
    # network and plain photos record no graph), zero_grad first, loss.item() logged
    optimizer.zero_grad()
    y = net(photos)
    features_y, features_x = extractor(y), extractor(photos)
    total_loss = loss_fn(features_y, features_x)
    total_loss.backward()
    optimizer.step()
    return total_loss.item()


def no_zero_grad(net, optimizer, extractor, loss_fn, photos):
    feats = extractor(net(photos))
    with torch.no_grad():
        content = extractor(photos)
    loss = loss_fn(feats, content)
    loss.backward()
    optimizer.step()
    return loss.item()


def own_output(net, optimizer, extractor, loss_fn, photos):
    optimizer.zero_grad()
    feats = extractor(net(photos))
    loss = loss_fn(feats, {k: v.detach() for k, v in feats.items()})
    loss.backward()
    optimizer.step()
    return loss.item()


def after_update(net, optimizer, extractor, loss_fn, photos):
    solution(net, optimizer, extractor, loss_fn, photos)
    with torch.no_grad():
        return loss_fn(extractor(net(photos)), extractor(photos)).item()


def returns_tensor(net, optimizer, extractor, loss_fn, photos):
    optimizer.zero_grad()
    feats = extractor(net(photos))
    with torch.no_grad():
        content = extractor(photos)
    loss = loss_fn(feats, content)
    loss.backward()
    optimizer.step()
    return loss


def no_step(net, optimizer, extractor, loss_fn, photos):
    with torch.no_grad():
        return loss_fn(extractor(net(photos)), extractor(photos)).item()


CASES = [
    Case(C, solution, True, "training_step is correct", "solution"),
    Case(C, pytorch_examples, True, "training_step is correct", "pytorch-examples"),
    Case(C, no_zero_grad, False, "zero_grad() is missing", "no-zero-grad"),
    Case(C, own_output, False, "the network's own output", "targets-from-output"),
    Case(C, after_update, False, "measured after the update", "loss-after-update"),
    Case(C, returns_tensor, False, "returned a tensor", "tensor-returned"),
    Case(C, no_step, False, "did not change", "no-update"),
]
