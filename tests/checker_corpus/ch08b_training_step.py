"""Chapter 08, ``training_step(net, optimizer, extractor, loss_fn, photos)``: one step on net."""

from __future__ import annotations

from functools import partial

import torch

from . import Case

C = "check_training_step"


def step(net, optimizer, extractor, loss_fn, photos, *, zero=True, no_grad=True, own=True,
         after=False, tensor=False):  # fmt: skip
    """The right step (the defaults), or one with a single slip switched on."""
    if zero:
        optimizer.zero_grad()
    feats = extractor(net(photos))  # the stylised batch through the loss network
    if not own:
        content = {k: v.detach() for k, v in feats.items()}
    elif no_grad:
        with torch.no_grad():
            content = extractor(photos)
    else:  # pytorch/examples fast_neural_style: no no_grad, and none needed (nothing requires grad)
        content = extractor(photos)
    loss = loss_fn(feats, content)
    loss.backward()
    optimizer.step()
    if after:
        with torch.no_grad():
            return loss_fn(extractor(net(photos)), extractor(photos)).item()
    return loss if tensor else loss.item()


def no_step(net, optimizer, extractor, loss_fn, photos):
    with torch.no_grad():
        return loss_fn(extractor(net(photos)), extractor(photos)).item()


CASES = [
    Case(C, step, True, "training_step is correct", "solution"),
    Case(C, partial(step, no_grad=False), True, "training_step is correct", "pytorch-examples"),
    Case(C, partial(step, zero=False), False, "zero_grad() is missing", "no-zero-grad"),
    Case(C, partial(step, own=False), False, "the network's own output", "targets-from-output"),
    Case(C, partial(step, after=True), False, "measured after the update", "loss-after-update"),
    Case(C, partial(step, tensor=True), False, "returned a tensor", "tensor-returned"),
    Case(C, no_step, False, "did not change", "no-update"),
]
