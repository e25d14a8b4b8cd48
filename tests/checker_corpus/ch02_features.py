"""Chapter 02, ``extract_features(vgg, x, names)`` -> {name: output of vgg[VGG19_LAYERS[name]]}."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst_helpers import VGG19_LAYERS

from . import Case

C = "check_feature_extractor"


def walk(vgg, x, names):
    wanted = {VGG19_LAYERS[n]: n for n in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted) + 1]):
        h = module(h)
        if i in wanted:
            out[wanted[i]] = h.clone()  # the next ReLU is in place
    return out


def hooks(vgg, x, names):
    out, handles = {}, []
    for n in names:
        hook = lambda m, i, o, n=n: out.__setitem__(n, o.clone())  # noqa: E731
        handles.append(vgg[VGG19_LAYERS[n]].register_forward_hook(hook))
    try:
        vgg(x)
    finally:
        for h in handles:
            h.remove()
    return out


def pytorch_tutorial(vgg, x, names):
    # PyTorch tutorial get_style_model_and_losses: rebuild the network with out-of-place ReLUs
    # ("the in-place version doesn't play very nicely with the ContentLoss ...").
    wanted = {VGG19_LAYERS[n]: n for n in names}
    model = nn.Sequential()
    for i, layer in enumerate(vgg[: max(wanted) + 1]):
        model.add_module(str(i), nn.ReLU(inplace=False) if isinstance(layer, nn.ReLU) else layer)
    out, h = {}, x
    for i, layer in enumerate(model):
        h = layer(h)
        if i in wanted:
            out[wanted[i]] = h
    return out


def gatys_port(vgg, x, names):
    # leongatys/PytorchNeuralStyleTransfer VGG.forward: out['r11'] = F.relu(self.conv1_1(x)),
    # every ReLU out of place; here walking torchvision's modules in the same way.
    wanted = {VGG19_LAYERS[n]: n for n in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted) + 1]):
        h = F.relu(h) if isinstance(module, nn.ReLU) else module(h)
        if i in wanted:
            out[wanted[i]] = h
    return out


def d2l(vgg, x, names):
    # d2l 14.12 extract_features: `X = net[i](X); if i in style_layers: styles.append(X)`,
    # no copy: torchvision's in-place ReLU then overwrites the kept conv outputs.
    wanted = {VGG19_LAYERS[n]: n for n in names}
    out = {}
    for i in range(max(wanted) + 1):
        x = vgg[i](x)
        if i in wanted:
            out[wanted[i]] = x
    return out


def pytorch_examples_slices(vgg, x, names):
    # pytorch/examples Vgg16: consecutive slices of vgg.features, the output of each kept.
    ends = sorted(VGG19_LAYERS[n] for n in names)
    out, h, start = {}, x, 0
    for end in ends:
        h = vgg[start : end + 1](h)
        out[next(n for n in names if VGG19_LAYERS[n] == end)] = h
        start = end + 1
    return out


def enumerate_from_one(vgg, x, names):
    wanted = {VGG19_LAYERS[n]: n for n in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted) + 1], start=1):
        h = module(h)
        if i in wanted:
            out[wanted[i]] = h.clone()
    return out


def stops_early(vgg, x, names):
    wanted = {VGG19_LAYERS[n]: n for n in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted)]):
        h = module(h)
        if i in wanted:
            out[wanted[i]] = h.clone()
    return out


def hooks_without_clone(vgg, x, names):
    out, handles = {}, []
    for n in names:
        hook = lambda m, i, o, n=n: out.__setitem__(n, o)  # noqa: E731
        handles.append(vgg[VGG19_LAYERS[n]].register_forward_hook(hook))
    vgg(x)
    for h in handles:
        h.remove()
    return out


def hooks_left_behind(vgg, x, names):
    out = {}
    for n in names:
        hook = lambda m, i, o, n=n: out.__setitem__(n, o.clone())  # noqa: E731
        vgg[VGG19_LAYERS[n]].register_forward_hook(hook)
    vgg(x)
    return out


def under_no_grad(vgg, x, names):
    with torch.no_grad():  # "saves memory", and cuts the gradient the loop needs
        return walk(vgg, x, names)


def detached(vgg, x, names):
    return {n: t.detach() for n, t in walk(vgg, x, names).items()}


def index_keys(vgg, x, names):
    return {VGG19_LAYERS[n]: t for n, t in walk(vgg, x, names).items()}


def normalises_in_place(vgg, x, names):
    x.clamp_(-3, 3)
    return walk(vgg, x, names)


CASES = [
    Case(C, walk, True, "extract_features is correct", "walk-with-clone"),
    Case(C, hooks, True, "extract_features is correct", "hooks-with-clone"),
    Case(C, pytorch_tutorial, True, "extract_features is correct", "pytorch-tutorial"),
    Case(C, gatys_port, True, "extract_features is correct", "gatys-port"),
    Case(C, d2l, False, "in-place ReLU", "d2l-no-copy"),
    Case(C, pytorch_examples_slices, False, "in-place ReLU", "pytorch-examples-slices"),
    Case(C, enumerate_from_one, False, "one module off", "enumerate-from-1"),
    Case(C, stops_early, False, "stops before", "slice-stops-early"),
    Case(C, hooks_without_clone, False, "in-place ReLU", "hooks-without-clone"),
    Case(C, hooks_left_behind, False, "left forward hooks", "hooks-left-behind"),
    Case(C, under_no_grad, False, "gradient", "no-grad-inside"),
    Case(C, detached, False, "gradient", "detach-inside"),
    Case(C, index_keys, False, "keys", "index-keys"),
    Case(C, normalises_in_place, False, "in place", "changes-x-in-place"),
    Case(C, lambda vgg, x, names: [vgg(x)], False, "not a dict", "returns-list"),
]
