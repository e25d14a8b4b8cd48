"""Chapter 02: ``extract_features(vgg, x, names)`` -> ``{name: output of vgg[VGG19_LAYERS[name]]}``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._verdict import Fail, Probe, close, differs, inputs, require_callable, run
from ._verdict import call as call_learner

_EXTRACT = ("conv1_1", "relu1_2", "conv2_1", "pool2", "conv3_1")


def _probe_vgg() -> tuple[torch.nn.Sequential, dict[str, int]]:
    """A seeded VGG19 ``features`` (torchvision's layout, in-place ReLUs) and its layer names."""
    from nst_helpers.features import VGG19_LAYERS, build_vgg19_features

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vgg = build_vgg19_features()
    return vgg.eval().requires_grad_(False), dict(VGG19_LAYERS)


def ref_features(vgg: torch.nn.Sequential, x: torch.Tensor, upto: int) -> list[torch.Tensor]:
    """Every module's output up to index ``upto``, each a tensor of its own (no in-place)."""
    outs, h = [], x
    for module in vgg[: upto + 1]:
        h = torch.relu(h) if isinstance(module, torch.nn.ReLU) else module(h)
        outs.append(h)
    return outs


def _offset(got: torch.Tensor, outputs: list[torch.Tensor], i: int) -> int | None:
    """-1 or +1 when ``got`` is the output of the module before or after index ``i``."""
    for j in (i - 1, i + 1):
        if 0 <= j < len(outputs) and got.shape == outputs[j].shape and close(got, outputs[j]):
            return j - i
    return None


def _name_of(index: dict[str, int], j: int) -> str:
    return next((k for k, v in index.items() if v == j), f"module {j}")


def _check_keys(out: dict, names: list[str], index: dict, outputs: list[torch.Tensor]) -> None:
    """Wrong keys: name the off-by-one or the early stop behind them, when that is the cause."""
    missing = [n for n in names if n not in out]
    extra = [k for k in out if k not in names]
    if not missing and not extra:
        return
    present = [n for n in names if n in out and isinstance(out[n], torch.Tensor)]
    offsets = {_offset(out[n], outputs, index[n]) for n in present}
    if present and len(offsets) == 1 and None not in offsets:
        (off,) = offsets
        raise Fail(
            f"extract_features keeps each layer's output one module off ({'+' if off > 0 else ''}"
            f"{off}): {present[0]} holds the output of {_name_of(index, index[present[0]] + off)}"
            f", and {', '.join(missing)} never {'comes' if len(missing) == 1 else 'come'} up",
            "enumerate the modules from 0 (`enumerate(vgg)`, not `enumerate(vgg, 1)`): "
            "VGG19_LAYERS[name] is the module's index in vgg.",
        )
    deepest = max(index[n] for n in names)
    right = all(close(out[n], outputs[index[n]]) for n in present)
    if right and not extra and missing == [_name_of(index, deepest)] and len(present) > 1:
        raise Fail(
            f"extract_features stops before vgg[{deepest}] ({missing[0]}, the deepest layer "
            "asked for), which never comes up",
            f"vgg[:k] ends at index k - 1: walk vgg[: {deepest} + 1], up to the deepest index "
            "plus one.",
        )
    raise Fail(
        "extract_features returned the wrong keys"
        + (f"; missing {missing}" if missing else "")
        + (f"; not asked for {extra}" if extra else ""),
        'use the requested names as keys ("conv1_1"), exactly one entry for each.',
    )


def _check_values(out: dict, names: list[str], index: dict, outputs: list[torch.Tensor]) -> None:
    # ReLU and pooling outputs first: an off-by-one shows there, while a conv* value that
    # equals its ReLU's output can also mean "stored without a copy" (the in-place trap).
    for name in sorted(names, key=lambda n: n.startswith("conv")):
        got, i = out[name], index[name]
        want = outputs[i]
        if not isinstance(got, torch.Tensor):
            raise Fail(f"extract_features gave {name} as a {type(got).__name__}, not a tensor")
        if close(got, want):
            continue
        if name.startswith("conv") and close(got, torch.relu(want)):
            raise Fail(
                f"{name} holds post-ReLU values: the in-place ReLU after it overwrote the "
                "tensor you kept",
                "store a copy (`h.clone()`), or run that ReLU out of place: torchvision's ReLUs "
                "are nn.ReLU(inplace=True) and rewrite their input (d2l's extract_features and "
                "slices as in pytorch/examples keep such references too).",
            )
        off = _offset(got, outputs, i)
        if off is not None:
            raise Fail(
                f"{name} is the output of {_name_of(index, i + off)} (index {i + off}), one "
                "module off",
                f"{name} is vgg[{i}]: keep the output right after module {i} runs (enumerate "
                "from 0).",
            )
        if got.shape != want.shape:
            raise Fail(
                f"{name} has shape {list(got.shape)}, expected {list(want.shape)}",
                f"{name} is the output of vgg[{i}]; count the modules from 0.",
            )
        raise differs(f"extract_features[{name!r}]", [got], [want], [Probe((), "x [1, 3, 32, 32]")])
    for name in names:
        if out[name].dtype != outputs[index[name]].dtype:
            raise Fail(f"extract_features gives {name} as {out[name].dtype} for a float32 image")


def _check_gradient(fn: Callable, vgg, x: torch.Tensor, names: list[str], index: dict) -> None:
    """The loop differentiates the loss through these features: the gradient must reach x."""
    x = x.clone().requires_grad_(True)
    out = call_learner(fn, "extract_features", Probe((vgg, x, list(names)), "x [1, 3, 32, 32]"))
    cut = [n for n in names if not (isinstance(out.get(n), torch.Tensor) and out[n].requires_grad)]
    if cut:
        raise Fail(
            f"extract_features cuts the gradient to the image: {', '.join(cut)} "
            f"{'does' if len(cut) == 1 else 'do'} not require grad (torch.no_grad() or .detach() "
            "inside it)",
            "the loop differentiates the loss through these features back to the pixels: keep "
            "torch.no_grad() for the targets, outside the extractor, and detach nothing inside.",
        )
    weights = [inputs(30 + k, *out[n].shape) for k, n in enumerate(names)]
    sum((out[n] * w).sum() for n, w in zip(names, weights, strict=True)).backward()
    x_ref = x.detach().clone().requires_grad_(True)
    outputs = ref_features(vgg, x_ref, max(index[n] for n in names))
    sum((outputs[index[n]] * w).sum() for n, w in zip(names, weights, strict=True)).backward()
    if x.grad is None or not close(x.grad, x_ref.grad):
        raise Fail(
            "extract_features gives the right values but the wrong gradient to the image",
            "something between the image and the features is cut off from autograd.",
        )


def check_feature_extractor(
    fn: Callable[[torch.nn.Sequential, torch.Tensor, list[str]], dict[str, torch.Tensor]],
) -> bool:
    """Check ``fn(vgg, x, names)`` -> ``{name: output of that layer}`` for VGG19's ``features``.

    ``vgg`` is torchvision's ``nn.Sequential`` of 37 modules (in-place ReLUs), ``x`` a
    normalised float32 batch ``[B, 3, H, W]`` and ``names`` layer names such as ``"conv1_1"``
    (index ``VGG19_LAYERS[name]``). Each value must be exactly that module's output, a ``conv*``
    before its ReLU, and the gradient must flow from the features back to ``x`` (the loop
    optimises the pixels through them). Works by walking the layers or with forward hooks.
    """

    def body() -> str:
        require_callable(fn, "extract_features")
        vgg, index = _probe_vgg()
        names = list(_EXTRACT)
        upto = max(index[n] for n in names)
        x = inputs(16, 1, 3, 32, 32)
        ran: list[int] = []
        probes = [
            m.register_forward_pre_hook(lambda mod, args, i=i: ran.append(i))
            for i, m in enumerate(vgg)
        ]
        try:
            out = call_learner(
                fn,
                "extract_features",
                Probe((vgg, x, list(names)), "x [1, 3, 32, 32]"),
                signature="extract_features(vgg, x, names)",
            )
        finally:
            for handle in probes:
                handle.remove()
        if out is None:
            raise Fail("extract_features returned None", "did you forget the `return` statement?")
        if not isinstance(out, dict):
            raise Fail(
                f"extract_features returned a {type(out).__name__}, not a dict",
                "return {name: tensor} with one entry per requested name.",
            )
        leftover = [i for i, m in enumerate(vgg) if m._forward_hooks or m._forward_pre_hooks]
        if leftover:
            raise Fail(
                f"extract_features left forward hooks on the network (modules {leftover[:5]})",
                "keep the handle that register_forward_hook returns and call handle.remove() "
                "when done (in a `finally:`), or every later forward pass keeps capturing.",
            )
        with torch.no_grad():
            outputs = ref_features(vgg, x, upto + 1)
        _check_keys(out, names, index, outputs)
        _check_values(out, names, index, outputs)
        _check_gradient(fn, vgg, x, names, index)
        message = "extract_features is correct: the output of each named layer, conv* before ReLU."
        if ran and max(ran) > upto:
            message += (
                f" Tip: it ran {max(ran) + 1} modules; stopping after vgg[{upto}] (the deepest "
                "layer asked for) saves the rest of the work."
            )
        return message

    return run("extract_features", body)
