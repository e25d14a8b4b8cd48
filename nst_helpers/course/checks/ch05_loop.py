"""Chapter 05: ``style_transfer(extractor, loss_fn, content, style, steps, optimizer)``, the loop.

The checker replays the learner's loop on a tiny frozen float32 network (the chapter's dtype)
with both optimisers and compares the image and the loss history with the reference loop. It
watches every ``optimizer.step`` (a global optimiser hook), so a wrong setting is named from
what the optimiser really ran with, and a diagnosis is given only when re-running the
reference with that mistake reproduces the learner's image and history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ._verdict import Fail, Probe, Raised, close, exception_fail, inputs, require_callable, run
from .ch04_losses import ref_style

STEPS = 6
ADAM = {"lr": 0.05}  # the exercise's settings; everything else is PyTorch's default
LBFGS = {"max_iter": 4}
_DEFAULTS = {
    "adam": torch.optim.Adam([torch.zeros(1, requires_grad=True)], **ADAM).defaults,
    "lbfgs": torch.optim.LBFGS([torch.zeros(1, requires_grad=True)], **LBFGS).defaults,
}
_CLASSES = {"adam": torch.optim.Adam, "lbfgs": torch.optim.LBFGS}
# Settings published code uses, named when the learner's optimiser ran with them.
_KNOWN_SETTINGS = [
    (
        "adam",
        {"lr": 0.02, "betas": (0.99, 0.999), "eps": 0.1},
        "the TensorFlow tutorial's settings",
    ),
    ("adam", {"lr": 0.3}, "d2l's learning rate"),
    ("lbfgs", {"max_iter": 20}, "PyTorch's default, kept by the PyTorch tutorial and Gatys' port"),
]


class ProbeNetwork(torch.nn.Module):
    """A tiny frozen float32 'VGG' (two conv+ReLU blocks) that remembers its target passes."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(17)
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, padding=1, stride=2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        self.requires_grad_(False)
        self.images = {"content": content.clone(), "style": style.clone()}
        self.target_calls: list[str] = []  # which image, each time one went through unchanged

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not x.requires_grad:
            for label, image in self.images.items():
                if x.shape == image.shape and torch.equal(x.detach(), image):
                    self.target_calls.append(label)
        a = torch.relu(self.conv1(x))
        b = torch.relu(self.conv2(a))
        return {"block1": a, "block2": b}


def loop_loss(feats: dict, content_feats: dict, style_feats: dict) -> torch.Tensor:
    """alpha * 1/2 sum (F - P)^2 at block2 + beta * sum_l E_l over both blocks."""
    content = 0.5 * ((feats["block2"] - content_feats["block2"]) ** 2).sum()
    style = sum(ref_style(feats[n], style_feats[n]) for n in ("block1", "block2"))
    return content + 1e2 * style


@dataclass
class _Seen:
    """What the learner's optimisers did, from the global step hook."""

    optimizers: list[torch.optim.Optimizer] = field(default_factory=list)
    steps: int = 0

    def hook(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        self.steps += 1
        if not any(o is opt for o in self.optimizers):
            self.optimizers.append(opt)

    def settings(self) -> dict[str, Any]:
        """The first optimiser's hyper-parameters (without its parameter list)."""
        if not self.optimizers:
            return {}
        return {k: v for k, v in self.optimizers[0].param_groups[0].items() if k != "params"}


# ---- the reference loop, with switchable mistakes ------------------------------------------

_MISTAKES = {
    "no_zero_grad": (
        "the gradients accumulate from step to step: optimizer.zero_grad() is missing",
        "call optimizer.zero_grad() before every loss.backward() (inside the closure for "
        "L-BFGS): backward adds to .grad, it does not overwrite it.",
    ),
    "log_after": (
        "history holds the loss measured after each update, not the loss of the step",
        "record loss.item() of the forward pass that computed the gradient (for L-BFGS the "
        "value optimizer.step(closure) returns); an extra forward pass after the step costs "
        "time and shifts the curve by one step.",
    ),
    "no_clamp": (
        "the pixels are never clamped (with Adam)",
        "after optimizer.step(), under torch.no_grad(), x.clamp_(0, 1) keeps every pixel in "
        "[0, 1].",
    ),
    "clamp_in_closure": (
        "the image is clamped inside the L-BFGS closure (as the PyTorch tutorial does)",
        "L-BFGS calls the closure several times per step at points of its own choosing; "
        "moving the point there spoils its line search and curvature estimate. Clamp the final "
        "image instead (or after optimizer.step(closure)).",
    ),
    "no_final_clamp": (
        "the L-BFGS result is never clamped to [0, 1]: every logged loss is right, the image "
        "is not (Gatys' PyTorch port clamps only for display)",
        "return x.detach().clamp(0, 1): L-BFGS leaves pixels outside [0, 1], which no image "
        "file can hold.",
    ),
    "from_style": (
        "the loop starts from the style image instead of the content image",
        "start from the photo: x = content.clone().requires_grad_(True).",
    ),
}
_FOR = {
    "adam": ("no_zero_grad", "log_after", "no_clamp", "from_style"),
    "lbfgs": ("no_zero_grad", "log_after", "clamp_in_closure", "no_final_clamp", "from_style"),
}


def ref_loop(
    content: torch.Tensor,
    style: torch.Tensor,
    optimizer: str,
    settings: dict[str, Any] | None = None,
    mistakes: tuple[str, ...] = (),
) -> tuple[torch.Tensor, list[float]]:
    """The loop done right, or with ``settings`` for the optimiser and the given ``mistakes``."""
    net = ProbeNetwork(content, style)
    with torch.no_grad():
        pc, ps = net(content), net(style)
    x = (style if "from_style" in mistakes else content).clone().requires_grad_(True)
    history: list[float] = []

    def evaluate() -> torch.Tensor:
        return loop_loss(net(x), pc, ps)

    kwargs = {**(ADAM if optimizer == "adam" else LBFGS), **(settings or {})}
    opt = _CLASSES[optimizer]([x], **kwargs)
    if optimizer == "adam":
        for _ in range(STEPS):
            if "no_zero_grad" not in mistakes:
                opt.zero_grad()
            loss = evaluate()
            loss.backward()
            if "log_after" not in mistakes:
                history.append(loss.item())
            opt.step()
            if "no_clamp" not in mistakes:
                with torch.no_grad():
                    x.clamp_(0, 1)
            if "log_after" in mistakes:
                with torch.no_grad():
                    history.append(evaluate().item())
        return x.detach(), history

    def closure() -> torch.Tensor:
        if "clamp_in_closure" in mistakes:
            with torch.no_grad():
                x.clamp_(0, 1)
        if "no_zero_grad" not in mistakes:
            opt.zero_grad()
        loss = evaluate()
        loss.backward()
        return loss

    for _ in range(STEPS):
        loss = opt.step(closure)
        if "log_after" in mistakes:
            with torch.no_grad():
                history.append(evaluate().item())
        else:
            history.append(float(loss.detach()))
    return (x.detach() if "no_final_clamp" in mistakes else x.detach().clamp(0, 1)), history


# ---- the checks ---------------------------------------------------------------------------


def _explain(raised: Raised, probe: Probe) -> tuple[str | None, str | None]:
    msg = str(raised.err)
    if "closure" in msg:
        return "L-BFGS needs a closure: optimizer.step() was called without one", (
            "def closure(): optimizer.zero_grad(); loss = loss_fn(extractor(x), content_feats, "
            "style_feats); loss.backward(); return loss, then loss = optimizer.step(closure)."
        )
    if "backward through the graph a second time" in msg:
        return "the targets are part of the image's graph, so the second backward fails", (
            "compute the targets from the content and style images once, under "
            "torch.no_grad(), not from x (or .detach() them): they are constants."
        )
    if "leaf" in msg and "in-place" in msg:
        return "the image x is clamped in place outside torch.no_grad()", (
            "with torch.no_grad(): x.clamp_(0, 1). Autograd cannot track an in-place change "
            "of a tensor it differentiates with respect to."
        )
    if "does not require grad" in msg:
        return "the image x does not require grad, so loss.backward() has nothing to do", (
            "x = content.clone().requires_grad_(True): the pixels are what is optimised."
        )
    if "non-leaf" in msg:
        return "the optimiser was given a non-leaf tensor", (
            "x = content.clone().requires_grad_(True), and give the optimiser [x] itself (not "
            "x * 1 or x.clamp(...), which are new tensors)."
        )
    return None, None


def _call(fn: Callable, opt: str, net: ProbeNetwork, content, style, seen: _Seen) -> Any:
    name = f"style_transfer(..., optimizer={opt!r})"
    handle = register_optimizer_step_pre_hook(seen.hook)
    try:
        return fn(net, loop_loss, content, style, STEPS, opt)
    except Exception as err:  # noqa: BLE001 - any learner error becomes a hint
        probe = Probe((), f"content and style [1, 3, 8, 8] float32, {STEPS} steps, {opt!r}")
        signature = "style_transfer(extractor, loss_fn, content, style, steps, optimizer)"
        raise exception_fail(err, name, probe, _explain, signature) from None
    finally:
        handle.remove()


def _check_side_effects(net: ProbeNetwork, weights: list, content, style, seen: _Seen, out) -> None:
    for label, image in (("content", content), ("style", style)):
        if image.requires_grad:
            raise Fail(
                f"style_transfer set requires_grad on the caller's {label} image: x = "
                f"{label}.requires_grad_(True) makes x the caller's photo itself, not a copy",
                "start from a copy: x = content.clone().requires_grad_(True); the caller's "
                "images must stay as they were.",
            )
        if not torch.equal(image, net.images[label]):
            raise Fail(
                f"style_transfer overwrote the caller's {label} image: the optimised x shares "
                f"its memory with {label} (`{label}.detach()` and `.data` do not copy)",
                "start from a copy: x = content.clone().requires_grad_(True).",
            )
    if any(not torch.equal(p, w) for p, w in zip(net.parameters(), weights, strict=True)):
        raise Fail(
            "the network's weights changed: the optimiser was given the network's parameters",
            "optimise the image only: x = content.clone().requires_grad_(True) and "
            "torch.optim.Adam([x], ...); the network stays frozen.",
        )
    params = {id(p) for p in net.parameters()}
    if any(id(p) in params for o in seen.optimizers for g in o.param_groups for p in g["params"]):
        raise Fail(
            "the optimiser was given the network's parameters, not the image (they are frozen, "
            "so nothing changes)",
            "optimise the image: torch.optim.Adam([x], lr=0.05) with x = "
            "content.clone().requires_grad_(True).",
        )


def _unpack(out: Any, name: str, content: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise Fail(f"{name} must return (image, history), got {type(out).__name__}")
    image, history = out
    if not isinstance(image, torch.Tensor) or image.shape != content.shape:
        raise Fail(f"{name}: the image must be a tensor shaped like the content, [1, 3, 8, 8]")
    if image.dtype != content.dtype:
        raise Fail(
            f"{name} returns a {str(image.dtype)[6:]} image for {str(content.dtype)[6:]} photos",
            "optimise a copy of the content, which keeps its dtype: content.clone().",
        )
    if isinstance(history, torch.Tensor):
        raise Fail(
            f"{name}: history is a tensor, not a list of floats",
            "history = [] before the loop and history.append(loss.item()) each step.",
        )
    if not isinstance(history, list | tuple):
        raise Fail(f"{name}: history is a {type(history).__name__}, not a list of floats")
    if any(isinstance(h, torch.Tensor) for h in history):
        raise Fail(
            "history holds tensors, not numbers",
            "append loss.item(): a tensor that requires grad keeps its whole graph (and the "
            "feature maps) alive until the end of the run.",
        )
    if len(history) != STEPS:
        hint = "append one loss per step."
        if name.endswith("'lbfgs')") and len(history) > STEPS:
            hint = (
                "append once per step, the value optimizer.step(closure) returns, not inside "
                "the closure (L-BFGS calls it several times per step)."
            )
        raise Fail(f"{name}: history has {len(history)} entries for {STEPS} steps", hint)
    try:
        return image.detach(), [float(h) for h in history]
    except (TypeError, ValueError):
        raise Fail(f"{name}: history holds {type(history[0]).__name__}s, not numbers") from None


def _same(image, history, want: tuple[torch.Tensor, list[float]]) -> bool:
    got = torch.tensor(history, dtype=torch.float64)
    return close(image, want[0], rtol=1e-4) and close(got, torch.tensor(want[1]), rtol=1e-4)


# The hyper-parameters that change the arithmetic (not foreach, fused, capturable, ...).
_MATH = {
    "adam": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"),
    "lbfgs": (
        "lr",
        "max_iter",
        "max_eval",
        "tolerance_grad",
        "tolerance_change",
        "history_size",
        "line_search_fn",
    ),
}


def _settings_diff(opt: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters that differ from the exercise's (L-BFGS' derived max_eval left out)."""
    diff = {
        k: settings[k] for k in _MATH[opt] if k in settings and settings[k] != _DEFAULTS[opt][k]
    }
    if opt == "lbfgs" and diff.get("max_eval") == settings["max_iter"] * 5 // 4:
        del diff["max_eval"]
    return diff


def _settings_text(opt: str, diff: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in diff.items())
    want = ", ".join(f"{k}={_DEFAULTS[opt][k]}" for k in diff)
    known = next((f" ({who})" for o, s, who in _KNOWN_SETTINGS if o == opt and s == diff), "")
    return f"{_CLASSES[opt].__name__} runs with {text} instead of {want}{known}"


def _diagnose(opt: str, seen: _Seen, image, history, content, style) -> Fail:
    """Why the learner's run differs from the reference: the first cause that reproduces it."""
    if seen.optimizers and not isinstance(seen.optimizers[0], _CLASSES[opt]):
        used = type(seen.optimizers[0]).__name__
        return Fail(
            f"optimizer={opt!r} ran torch.optim.{used}",
            f"use torch.optim.{_CLASSES[opt].__name__}([x], "
            f"{'lr=0.05' if opt == 'adam' else 'max_iter=4'}).",
        )
    if len(seen.optimizers) > 1:
        return Fail(
            f"a new optimiser is created {len(seen.optimizers)} times, once per step: its state "
            "(Adam's moment estimates, L-BFGS's curvature history) restarts every step",
            "create the optimiser once, before the loop.",
        )
    if seen.steps != STEPS:
        return Fail(
            f"optimizer.step ran {seen.steps} times for steps={STEPS}",
            "call optimizer.step (with the closure, for L-BFGS) exactly once per step.",
        )
    diff = _settings_diff(opt, seen.settings())
    singles = [(m,) for m in _FOR[opt]]
    pairs = [(a, b) for i, a in enumerate(_FOR[opt]) for b in _FOR[opt][i + 1 :]]
    for mistakes in [(), *singles, *pairs]:
        if _same(image, history, ref_loop(content, style, opt, diff, mistakes)):
            causes = [_settings_text(opt, diff)] if diff else []
            causes += [_MISTAKES[m][0] for m in mistakes]
            hints = [_HINT[opt]] if diff else []
            hints += [_MISTAKES[m][1] for m in mistakes]
            return Fail(", and ".join(causes), " ".join(h[0].upper() + h[1:] for h in hints))
    if diff:
        return Fail(
            f"{_settings_text(opt, diff)} (and the run differs in some other way)", _HINT[opt]
        )
    want_image, want_history = ref_loop(content, style, opt)
    if not abs(history[0] - want_history[0]) <= 1e-4 * abs(want_history[0]):
        return Fail(
            f"the first logged loss ({history[0]:.6g}) is not the loss of the content image "
            f"({want_history[0]:.6g})",
            "start from x = content.clone().requires_grad_(True), and log each step's loss "
            "before its update.",
        )
    if close(torch.tensor(history), torch.tensor(want_history), rtol=1e-4):
        gap = (image.double() - want_image.double()).abs()
        at = [int(i) for i in torch.unravel_index(gap.argmax(), gap.shape)]
        return Fail(
            f"every logged loss is right but the returned image differs by up to "
            f"{gap.max().item():.3g} (at {at})",
            "return the optimised x itself after the last step, clamped to [0, 1].",
        )
    k = next(
        i
        for i, (h, w) in enumerate(zip(history, want_history, strict=True))
        if not abs(h - w) <= 1e-4 * abs(w)  # NaN counts as different
    )
    return Fail(
        f"the loss history departs from the reference at step {k + 1} (got {history[k]:.6g}, "
        f"expected {want_history[k]:.6g}); no known mistake explains it",
        _HINT[opt],
    )


_HINT = {
    "adam": "per step: zero_grad, forward, loss_fn, backward, log loss.item(), step, then "
    "clamp x to [0, 1] under no_grad; torch.optim.Adam([x], lr=0.05) with its other defaults.",
    "lbfgs": "torch.optim.LBFGS([x], max_iter=4); per step: loss = optimizer.step(closure), "
    "log loss.item(); the closure zero-grads, computes the loss, calls backward and returns it; "
    "clamp only the final image.",
}


def _check_one_loop(fn: Callable, opt: str) -> None:
    content = inputs(18, 1, 3, 8, 8, low=0.0)
    style = inputs(19, 1, 3, 8, 8, low=0.0)
    net = ProbeNetwork(content, style)
    weights = [p.detach().clone() for p in net.parameters()]
    seen = _Seen()
    name = f"style_transfer(..., optimizer={opt!r})"
    out = _call(fn, opt, net, content, style, seen)
    _check_side_effects(net, weights, content, style, seen, out)
    image, history = _unpack(out, name, content)
    if not _same(image, history, ref_loop(content, style, opt)):
        if torch.equal(image, content):
            raise Fail(
                f"{name} returned the content image unchanged",
                "give the optimiser the image, [x] with x.requires_grad_(True), and call "
                "optimizer.step() every step.",
            )
        raise _diagnose(opt, seen, image, history, content, style)
    for label in ("content", "style"):
        n = net.target_calls.count(label)
        if n > 1:
            raise Fail(
                f"the {label} image went through the network {n} times: the targets are "
                "recomputed inside the loop",
                "compute content_feats and style_feats once, before the loop: the photo and the "
                "painting never change, so every extra pass is wasted time.",
            )


def check_loop(fn: Callable[..., tuple[torch.Tensor, list[float]]]) -> bool:
    """Check ``fn(extractor, loss_fn, content, style, steps, optimizer)``: the whole NST loop.

    ``extractor(x)`` -> ``{layer: features}`` (frozen); ``loss_fn(feats, content_feats,
    style_feats)`` -> the total loss; ``content``/``style`` ``[1, 3, H, W]`` float32 in [0, 1];
    ``optimizer`` ``"adam"`` (``torch.optim.Adam([x], lr=0.05)``, clamp to [0, 1] after each
    step) or ``"lbfgs"`` (``torch.optim.LBFGS([x], max_iter=4)``, clamp only the result).
    Start from a copy of the content image and leave the caller's images untouched. Return
    ``(image, history)``: ``history[k]`` the loss (a float) of step ``k + 1``, measured before
    its update. The checker runs both optimisers for 6 steps on a tiny network and names the
    mistake that reproduces the run: a wrong optimiser setting, targets recomputed in the loop,
    the network optimised instead of the image, a missing ``zero_grad``, logging after the
    step, clamping inside the L-BFGS closure or not at all.
    """

    def body() -> str:
        require_callable(fn, "style_transfer")
        for optimizer in ("adam", "lbfgs"):
            _check_one_loop(fn, optimizer)
        return (
            "your loop is correct with Adam and with L-BFGS: targets once, only a copy of the "
            "photo optimised, zero_grad every step, the loss logged before the update."
        )

    return run("style_transfer", body)
