"""Adam steps replayed from a CUDA graph: one launch a step instead of a few hundred.

On a GPU an eager step of this library is bound by the host, not by the arithmetic: an H200 was
busy 3.0 ms of each 7-10 ms step at 512 px while Python launched about 220 kernels (README,
Speed, *On a GPU*). A CUDA graph records the kernels of one whole step once (the forward pass,
the backward pass, Adam's update, the clamp) and replays them with a single call, so the host
only reads the step's losses back. Measured on the same H200 (random weights, with set-up):
6.7 ms a 512 px fp32 step against 9.4 ms eager; 500 steps on HED's VGG16 in 1.7 s, not 4.0 s.

What a graph needs, and how it gets it here:

* **Static tensors.** A replay reads and writes the memory it was recorded with: the image
  parameter, its gradient (created by the recorded backward pass), Adam's state
  (``capturable=True``: the step count lives on the device too) and the loss terms, stacked
  into one tensor inside the graph, all updated in place.
* **A warm-up before recording**, on a side stream (cuDNN and cuBLAS choose algorithms and
  allocate workspaces the first time): the first ``WARMUP_STEPS`` steps of a stage are
  ordinary steps run that way, so no step is wasted and none is run twice.
* **No host reads inside.** The step's losses are read once after the replay (one copy to the
  host, as in the eager step); the best-image tracker and the checks for a non-finite loss
  work on that copy. A non-finite loss has already moved the image by the time it is read, so
  the image is put back as it was before the step, as the eager step leaves it.

Eager steps (``steps.AdamStep``) run instead wherever a graph cannot: L-BFGS (its line search
decides on the host), fp16 (the loss scaler retries a backward pass), recomputed activations,
parameterisations other than pixels, and every device but CUDA. ``NST_CUDA_GRAPHS=0`` turns
graphs off; if recording fails, a warning says so and the stage goes on with eager steps.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..parameterization import PixelParameterization
from ..runtime.env import env_flag
from .state import Best
from .steps import LossFn, NonFiniteStep, Step

WARMUP_STEPS = 3
"""Eager steps on a side stream before a stage's graph is recorded (as PyTorch's guide does)."""
ENV = "NST_CUDA_GRAPHS"


def enabled(device: torch.device) -> bool:
    """True where graphs may run: a CUDA device, and ``NST_CUDA_GRAPHS`` not off (``0``,
    ``false``, ``no``, ``off``; a value that is no switch at all is a ``ValueError``)."""
    return device.type == "cuda" and env_flag(ENV, True)


def eligible(
    optimizer: str, dtype: torch.dtype | None, param, device: torch.device, checkpointing: bool
) -> bool:
    """Whether a stage's steps can be a graph (see the module docstring for each condition)."""
    return (
        enabled(device)
        and optimizer == "adam"
        and dtype is not torch.float16
        and not checkpointing
        and isinstance(param, PixelParameterization)
    )


def record_graph(body: Callable[[], None]) -> torch.cuda.CUDAGraph:
    """``body``'s kernels recorded as a CUDA graph (not run: ``.replay()`` runs them)."""
    # The graph allocates from a pool of its own: hand the warm-up's cached blocks back first,
    # so that the device holds one step's activations, not two.
    torch.cuda.empty_cache()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph


class GraphedAdamStep(Step):
    """``step(k)`` as ``steps.AdamStep``'s, each one a replay of a recorded CUDA graph.

    ``record=False`` never records: every step runs the same body eagerly (what the CPU's
    tests check against ``AdamStep``). ``opt`` is Adam, ``capturable=True`` when recording.
    """

    def __init__(self, param, opt, loss_fn: LossFn, best: Best, *, record: bool = True) -> None:
        super().__init__(param, opt, loss_fn, None, best)
        self.record = record
        self.warmup_left = WARMUP_STEPS
        self.graph: Any = None
        self.keys: list[str] = []
        self.terms: torch.Tensor | None = None
        self.x_before = torch.empty_like(param.x.detach())
        cuda = param.x.device.type == "cuda"
        self.stream = torch.cuda.Stream(param.x.device) if record and cuda else None
        # Streams and graphs belong to the current device: on cuda:1, make it the current one
        self.on_device = torch.cuda.device(param.x.device) if cuda else contextlib.nullcontext()

    def _body(self) -> None:
        """One whole step on static tensors, no host read: score, update, clamp."""
        x = self.param.x
        self.x_before.copy_(x.detach())
        out = self.loss_fn(x)
        out["total"].backward()
        self.opt.step()
        self.param.project_()
        self.keys = list(out)
        self.terms = torch.stack([v.detach().float() for v in out.values()])

    def _eager(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        if self.stream is None:
            self._body()
            return
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            self._body()
        torch.cuda.current_stream().wait_stream(self.stream)

    def _capture(self) -> None:
        """Record the body (nothing runs while recording); on failure, stay eager."""
        self.opt.zero_grad(set_to_none=True)  # the recorded backward creates static .grad
        try:
            self.graph = record_graph(self._body)
        except RuntimeError as err:
            warnings.warn(
                f"recording a CUDA graph of the step failed ({err}); going on with eager steps "
                f"(set {ENV}=0 to skip the attempt)",
                RuntimeWarning,
                stacklevel=2,
            )
            self.record = False

    def __call__(self, step: int) -> tuple[dict[str, float], dict[str, Any]]:
        """``(loss terms, {})`` of step ``step``; ``NonFiniteStep`` (image put back) if the
        loss at its start was NaN or infinite."""
        with self.on_device:
            if self.graph is None and self.record and self.warmup_left <= 0:
                self._capture()
            if self.graph is not None:
                self.graph.replay()
            else:
                self.warmup_left -= 1
                self._eager()
        values = dict(zip(self.keys, self.terms.tolist(), strict=True))
        if not math.isfinite(values["total"]):
            with torch.no_grad():
                self.param.x.copy_(self.x_before)
            raise NonFiniteStep(step, values["total"])
        self.best.offer(self.x_before, values["total"], step - 1)
        return values, {}
