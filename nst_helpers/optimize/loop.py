"""The stage loop: coarse to fine, each stage a few hundred steps of one optimiser.

``run`` walks the plan's stages. Each stage computes its targets, starts from the last stage's
image (upsampled) or the initial image, builds a fresh optimiser (Adam's moments carried over
when the plan says so) and steps until its share of the steps is done. The inner loop is the
whole algorithm the chapters teach, with the run's bookkeeping around it::

    while state.step < end_of_stage:
        with boundary.step():                  # a first Ctrl-C waits for the end of the step
            state.add(current.step(k, i, t0))  # evaluate, keep the image if best, update
        stop = watch.after_step(record, ...)   # progress bar, snapshot, preview, callback
        ... save a checkpoint when one is due

Everything a resumed run needs lives in a ``RunState`` (see ``state``), written and read by
``resume``; the best image so far is ``RunState.best``, and a stopped or diverged run returns
it. The pieces: ``steps`` (one Adam or L-BFGS step), ``scaler`` (fp16), ``averaging`` (the
moving average), ``hooks`` (what the caller sees), ``problem`` (targets and loss).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .. import devices
from ..images import clamp_pixels
from ..parameterization import make_parameterization
from ..runtime.interrupts import StepBoundary
from . import graphs
from .averaging import EMA
from .hooks import Hooks, Watch
from .plan import Plan, Stage
from .problem import Problem
from .result import NonFiniteLossError, StylizeResult
from .resume import Checkpointer, load_into, restore_rng
from .state import Record, RunState
from .steps import LossFn, NonFiniteStep, carry_adam_moments, make_optimizer, make_step


@dataclass(frozen=True)
class StageRun:
    """One stage at work: its image parameters, optimiser, moving average, loss and step;
    ``content`` is the photo at this stage's size (what a residual carry subtracts)."""

    stage: Stage
    content: torch.Tensor
    dtype: torch.dtype | None
    param: Any
    opt: torch.optim.Optimizer
    ema: EMA | None
    loss_fn: LossFn
    step_fn: Callable[[int], tuple[dict[str, float], dict[str, Any]]]

    def step(self, k: int, i: int, t0: float) -> Record:
        """Take step ``k`` of the run, the stage's ``i``-th (``t0``: when the run began); its
        record."""
        if self.stage.scheduled:
            for group in self.opt.param_groups:
                group["lr"] = self.stage.lr_at(i)
        values, extra = self.step_fn(k)
        if self.ema is not None:
            self.ema.update(self.image())
        lr = self.opt.param_groups[0]["lr"]
        seconds = time.perf_counter() - t0
        return {
            "step": k,
            **values,
            "seconds": seconds,
            "lr": lr,
            "scale": self.stage.size,
            **extra,
        }

    def image(self) -> torch.Tensor:
        return self.param.image().detach()

    def handed_on(self) -> torch.Tensor:
        """What the next stage starts from: the moving average of the iterates, if kept (a
        stage given no steps, as a small ``steps`` split by a preset may be, has none yet)."""
        return self.ema.value() if self.ema is not None and self.ema.weight else self.image()


def run(
    plan: Plan,
    problem: Problem,
    hooks: Hooks,
    settings: dict[str, Any],
    checkpointer: Checkpointer,
    state: RunState | None = None,
    checkpointing: bool = False,
) -> StylizeResult:
    """Optimise through ``plan``'s stages (from where ``state`` left off, if given); returns
    the best image. Ctrl-C or a callback's ``False`` stop between steps (``interrupted``);
    a NaN or infinite loss raises ``NonFiniteLossError`` holding the best finite image.
    ``settings`` go into the result and the checkpoints; ``checkpointing`` recomputes the
    network's activations in the backward pass."""
    state = state or RunState()
    if state.resumed is not None:
        restore_rng(state.resumed)
    t0 = time.perf_counter() - state.seconds
    watch = Watch(hooks, state.step, plan.total_steps, problem.output_image, state.snapshots)
    ends = list(itertools.accumulate(plan.steps_per_scale))
    current, interrupted = None, False
    with StepBoundary() as boundary:  # Ctrl-C stops between steps (see runtime/interrupts)
        try:
            for k in range(state.stage, len(plan.stages)):
                current = _start(plan, k, problem, state, current, checkpointing)
                begins = ends[k] - plan.stages[k].steps
                while state.step < ends[k] and not interrupted:
                    with boundary.step():  # a first Ctrl-C waits for the end of the step
                        state.add(current.step(state.step + 1, state.step + 1 - begins, t0))
                    stop = watch.after_step(state.history[-1], current.image)
                    interrupted = stop or boundary.stop_requested
                    # after the callback: the checkpoint holds the RNG state of the step's end
                    if not interrupted and checkpointer.due(state.step):
                        # torch.save cut short by a Ctrl-C raises its own error: let it finish
                        with boundary.step():
                            checkpointer.save(settings, state, current, problem.device)
                        interrupted = boundary.stop_requested
                if interrupted:
                    break
            else:
                if current is not None:
                    _score_last(current, state)
        except KeyboardInterrupt:
            interrupted = True
        except NonFiniteStep as err:
            result = _result(problem, plan, state, current, settings, t0, True, checkpointing)
            raise NonFiniteLossError(
                f"the loss became {err.value} at step {err.step}; the run stopped and kept the "
                "best finite image so far (see .result). Lower lr or the style weight, or use "
                "fp32.",
                result,
            ) from None
        finally:
            watch.close()
    # A second Ctrl-C tore a step: its half-updated state is no step at all, so the last
    # checkpoint written (if any) stays the one to resume from.
    if interrupted and current is not None and not boundary.torn:
        checkpointer.save(settings, state, current, problem.device)
    return _result(problem, plan, state, current, settings, t0, interrupted, checkpointing)


def _start(
    plan: Plan,
    k: int,
    problem: Problem,
    state: RunState,
    previous: StageRun | None,
    checkpointing: bool,
) -> StageRun:
    """Stage ``k``'s targets, starting image, parameters and optimiser (from a checkpoint's
    state when the run is resumed in this stage)."""
    stage = plan.stages[k]
    dtype = stage.dtype(problem.device)
    targets = problem.targets(stage.size, dtype)
    if previous is None:
        init = problem.initial_image(targets)
    else:
        init = carried_image(plan.carry, previous, targets.content)
        state.best.reset()  # losses differ between scales
    kind = plan.parameterization_for(problem.config)
    param = make_parameterization(kind, init.to(problem.device), **plan.parameterization_options())
    # A recorded graph replays the step size it was captured with: a schedule runs eagerly.
    graphed = not stage.scheduled and graphs.eligible(
        stage.optimizer, dtype, param, problem.device, checkpointing
    )
    opt = make_optimizer(stage.optimizer, stage.lr, param, capturable=graphed)
    if plan.carry_moments and previous is not None:
        carry_adam_moments(previous.opt, opt)
    ema = EMA(plan.ema_decay) if plan.ema_decay and stage.optimizer == "adam" else None
    if state.resumed is not None:
        load_into(param, opt, state.resumed, state.resumed["source"])
        if ema is not None and state.ema is not None:
            ema.load_state_dict(state.ema, problem.device)
        state.resumed = None
    state.stage = k
    loss_fn = problem.loss_fn(targets, dtype, checkpointing)
    scaler = state.scaler if dtype is torch.float16 else None  # bf16 has fp32's range
    if graphed:
        step_fn = graphs.GraphedAdamStep(param, opt, loss_fn, state.best)
    else:
        step_fn = make_step(stage.optimizer, param, opt, loss_fn, scaler, state.best)
    return StageRun(stage, targets.content, dtype, param, opt, ema, loss_fn, step_fn)


def carried_image(carry: str, previous: StageRun, content: torch.Tensor) -> torch.Tensor:
    """Where a finer stage starts (``Plan.carry``), ``content`` being the photo at its size.

    ``"image"``: the last stage's handed-on image, upsampled (bilinear). ``"residual"``:
    ``content + upsample(handed_on - previous.content)``, clamped to valid pixels: only the
    stylisation is upsampled, and the photo's detail at the new size is there from the start
    (an upsampled image has lost it, and the content loss pays for that). Both need only the
    last ``StageRun``, which a resumed run rebuilds, so resuming changes nothing.
    """

    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=content.shape[-2:], mode="bilinear", align_corners=False)

    if carry == "image":
        return up(previous.handed_on())
    return clamp_pixels(content + up(previous.handed_on() - previous.content))


def _score_last(current: StageRun, state: RunState) -> None:
    """The last update has not been scored yet, nor has the average of the iterates."""
    candidates = [current.image()]
    if current.ema is not None:
        candidates.append(current.ema.value())
    for x in candidates:
        with torch.no_grad():
            loss = current.loss_fn(x)["total"].item()
        state.best.offer(x, loss, state.step, ties=True)


def _result(
    problem: Problem,
    plan: Plan,
    state: RunState,
    current: StageRun | None,
    settings: dict[str, Any],
    t0: float,
    interrupted: bool,
    checkpointing: bool,
) -> StylizeResult:
    if state.best.x is not None:
        x = state.best.x
    elif current is not None:
        x = current.image()
    else:  # stopped before the first stage began: the initial image is the answer
        final = plan.final
        x = problem.initial_image(problem.targets(final.size, final.dtype(problem.device)))
    dtype = plan.final.dtype(problem.device) if current is None else current.dtype
    return StylizeResult(
        image=problem.output_image(x),
        history=state.history,
        snapshots=state.snapshots,
        interrupted=interrupted,
        best_step=state.best.step,
        best_loss=state.best.loss,
        seconds=time.perf_counter() - t0,
        device=str(problem.device),
        precision=devices.precision_name(dtype),
        random_weights=settings["weights"] == "random",
        settings=dict(settings),
        checkpointing=checkpointing,
    )
