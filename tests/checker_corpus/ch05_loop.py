"""Chapter 05, ``style_transfer(extractor, loss_fn, content, style, steps, optimizer)``.

``-> (image, history)``: Adam(lr=0.05) with a clamp after every step, or LBFGS(max_iter=4)
with a closure and the clamp only on the result; the history holds the loss of each step.
"""

from __future__ import annotations

import torch

from . import Case

C = "check_loop"


def loop(
    *,
    start="clone",
    no_grad_targets=True,
    targets_inside=False,
    zero_grad=True,
    log="before",
    clamp="after",
    lbfgs_clamp="result",
    lr=0.05,
    adam_kw=None,
    max_iter=4,
    history_as="floats",
    optimise="image",
):
    """A learner's loop, right by default, with the given deviations."""

    def style_transfer(extractor, loss_fn, content, style, steps, optimizer="adam"):
        def targets():
            if no_grad_targets:
                with torch.no_grad():
                    return extractor(content), extractor(style)
            return extractor(content), extractor(style)

        pc, ps = targets()
        if start == "clone":
            x = content.clone().requires_grad_(True)
        elif start == "caller":  # no copy: optimises the caller's photo itself
            x = content.requires_grad_(True)
        elif start == "detach":  # detach() shares the storage with content
            x = content.detach().requires_grad_(True)
        elif start == "tolist":  # float32, like the chapter's images
            x = torch.tensor(content.tolist(), requires_grad=True)
        elif start == "noise":
            x = torch.rand(content.shape, generator=torch.Generator().manual_seed(0))
            x.requires_grad_(True)
        elif start == "style":
            x = style.clone().requires_grad_(True)
        params = list(extractor.parameters()) if optimise == "network" else [x]
        history = []

        def record(loss):
            history.append(loss.detach() if history_as == "tensors" else loss.item())

        if optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr, **(adam_kw or {}))
            for _ in range(steps):
                if targets_inside:
                    pc, ps = targets()
                if zero_grad:
                    opt.zero_grad()
                loss = loss_fn(extractor(x), pc, ps)
                loss.backward()
                if log == "before":
                    record(loss)
                opt.step()
                if clamp == "after":
                    with torch.no_grad():
                        x.clamp_(0, 1)
                if log == "after":
                    with torch.no_grad():
                        record(loss_fn(extractor(x), pc, ps))
        else:
            opt = torch.optim.LBFGS(params, max_iter=max_iter)

            def closure():
                if lbfgs_clamp == "closure":
                    with torch.no_grad():
                        x.clamp_(0, 1)
                if zero_grad:
                    opt.zero_grad()
                loss = loss_fn(extractor(x), pc, ps)
                loss.backward()
                return loss

            for _ in range(steps):
                if targets_inside:
                    pc, ps = targets()
                record(opt.step(closure))
            if lbfgs_clamp == "result":
                with torch.no_grad():
                    x.clamp_(0, 1)
        if history_as == "tensor":
            history = torch.tensor(history)
        return x.detach(), history

    return style_transfer


def pytorch_tutorial(extractor, loss_fn, content, style, steps, optimizer="adam"):
    # PyTorch tutorial run_style_transfer: LBFGS([input_img]), the clamp at the top of the
    # closure, and once more at the end (the Adam branch is the exercise's).
    if optimizer == "adam":
        return loop()(extractor, loss_fn, content, style, steps, optimizer)
    with torch.no_grad():
        pc, ps = extractor(content), extractor(style)
    input_img = content.clone()
    input_img.requires_grad_(True)
    opt = torch.optim.LBFGS([input_img], max_iter=4)
    history = []
    for _ in range(steps):

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            opt.zero_grad()
            loss = loss_fn(extractor(input_img), pc, ps)
            loss.backward()
            return loss

        history.append(opt.step(closure).item())
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img.detach(), history


def needs_no_closure(extractor, loss_fn, content, style, steps, optimizer="adam"):
    if optimizer == "adam":
        return loop()(extractor, loss_fn, content, style, steps, optimizer)
    with torch.no_grad():
        pc, ps = extractor(content), extractor(style)
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=4)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(extractor(x), pc, ps)
        loss.backward()
        history.append(loss.item())
        opt.step()  # L-BFGS needs the closure
    return x.detach().clamp(0, 1), history


def new_optimizer_every_step(extractor, loss_fn, content, style, steps, optimizer="adam"):
    if optimizer != "adam":
        return loop()(extractor, loss_fn, content, style, steps, optimizer)
    with torch.no_grad():
        pc, ps = extractor(content), extractor(style)
    x = content.clone().requires_grad_(True)
    history = []
    for _ in range(steps):
        opt = torch.optim.Adam([x], lr=0.05)  # its moment estimates restart every step
        opt.zero_grad()
        loss = loss_fn(extractor(x), pc, ps)
        loss.backward()
        history.append(loss.item())
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), history


def clamp_without_no_grad(extractor, loss_fn, content, style, steps, optimizer="adam"):
    with torch.no_grad():
        pc, ps = extractor(content), extractor(style)
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(extractor(x), pc, ps)
        loss.backward()
        history.append(loss.item())
        opt.step()
        x.clamp_(0, 1)
    return x.detach(), history


def targets_from_x(extractor, loss_fn, content, style, steps, optimizer="adam"):
    x = content.clone().requires_grad_(True)
    pc, ps = extractor(x), extractor(style)  # the content targets are in x's graph
    opt = torch.optim.Adam([x], lr=0.05)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(extractor(x), pc, ps)
        loss.backward()
        history.append(loss.item())
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), history


TF_ADAM = {"betas": (0.99, 0.999), "eps": 1e-1}

CASES = [
    Case(C, loop(), True, "your loop is correct", "solution"),
    Case(
        C,
        loop(no_grad_targets=False),
        True,
        "your loop is correct",
        "frozen-net-targets-without-no-grad",
    ),
    Case(C, loop(start="tolist"), True, "your loop is correct", "float32-copy-via-tolist"),
    Case(
        C,
        loop(no_grad_targets=False, zero_grad=False),
        False,
        "zero_grad() is missing",
        "no-zero-grad-and-no-no-grad",
    ),
    Case(C, pytorch_tutorial, False, "PyTorch tutorial", "pytorch-tutorial-lbfgs"),
    Case(C, loop(lbfgs_clamp="never"), False, "never clamped", "gatys-port-lbfgs-no-clamp"),
    Case(C, loop(lr=0.02, adam_kw=TF_ADAM), False, "TensorFlow tutorial", "tf-tutorial-adam"),
    Case(C, loop(lr=0.3, clamp="never"), False, "lr=0.3", "d2l-adam"),
    Case(C, loop(clamp="never"), False, "never clamped", "adam-no-clamp"),
    Case(C, loop(lr=0.01), False, "lr=0.01", "adam-lr"),
    Case(C, loop(max_iter=20), False, "max_iter=20", "lbfgs-default-max-iter"),
    Case(C, loop(start="caller"), False, "caller's content", "no-clone"),
    Case(C, loop(start="detach"), False, "caller's content", "detach-shares-storage"),
    Case(C, loop(start="noise"), False, "first", "starts-from-noise"),
    Case(C, loop(start="style"), False, "style image", "starts-from-style"),
    Case(C, loop(history_as="tensor"), False, "history is a tensor", "history-tensor"),
    Case(C, loop(history_as="tensors"), False, "holds tensors", "history-of-tensors"),
    Case(C, loop(zero_grad=False), False, "zero_grad() is missing", "no-zero-grad"),
    Case(C, loop(log="after"), False, "after each update", "log-after"),
    Case(C, loop(targets_inside=True), False, "recomputed inside the loop", "targets-inside"),
    Case(C, loop(lbfgs_clamp="closure"), False, "inside the L-BFGS closure", "clamp-in-closure"),
    Case(C, loop(optimise="network"), False, "network's parameters", "optimises-network"),
    Case(C, needs_no_closure, False, "closure", "lbfgs-without-closure"),
    Case(C, new_optimizer_every_step, False, "new optimiser", "new-optimizer-every-step"),
    Case(C, clamp_without_no_grad, False, "no_grad", "clamp-without-no-grad"),
    Case(C, targets_from_x, False, "targets are part of the image's graph", "targets-in-the-graph"),
]
