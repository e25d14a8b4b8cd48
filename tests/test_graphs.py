"""CUDA graphs of the Adam step (``optimize.graphs``).

On the CPU: which stages may be graphs, and the graphed step's body run eagerly (what each
replay does) against the eager ``AdamStep``, step for step, bit for bit, including a loss that
turns NaN. On a CUDA device (skipped elsewhere): ``stylize`` with graphs against
``NST_CUDA_GRAPHS=0``, a plain run, the ``fast`` preset and a resumed run.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from nst_helpers import load_image, stylize
from nst_helpers.fourier import FourierParameterization
from nst_helpers.optimize import graphs, presets
from nst_helpers.optimize.state import Best
from nst_helpers.optimize.steps import AdamStep, NonFiniteStep
from nst_helpers.parameterization import make_parameterization

CUDA = torch.device("cuda")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# ---- where graphs may run ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("1", True), ("0", False), ("off", False), ("no", False)]
)
def test_graphs_are_on_for_cuda_unless_switched_off(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(graphs.ENV, raising=False)
    else:
        monkeypatch.setenv(graphs.ENV, value)
    assert graphs.enabled(CUDA) is expected
    assert graphs.enabled(torch.device("cpu")) is False
    assert graphs.enabled(torch.device("mps")) is False


def test_a_value_that_is_no_switch_names_the_variable(monkeypatch):
    monkeypatch.setenv(graphs.ENV, "disable")
    with pytest.raises(ValueError, match=r"NST_CUDA_GRAPHS='disable'.*0/false/no/off"):
        graphs.enabled(CUDA)
    assert graphs.enabled(torch.device("cpu")) is False  # not read where graphs never run


def test_only_pixel_adam_stages_in_fp32_or_bf16_without_recomputation_are_graphs(monkeypatch):
    monkeypatch.delenv(graphs.ENV, raising=False)
    pixels = make_parameterization("pixel", torch.zeros(1, 3, 8, 8))
    fourier = FourierParameterization(torch.zeros(1, 3, 8, 8))
    assert graphs.eligible("adam", None, pixels, CUDA, False)
    assert graphs.eligible("adam", torch.bfloat16, pixels, CUDA, False)
    assert not graphs.eligible("adam", torch.float16, pixels, CUDA, False)  # the loss scaler
    assert not graphs.eligible("lbfgs", None, pixels, CUDA, False)  # the line search
    assert not graphs.eligible("adam", None, pixels, CUDA, True)  # recomputed activations
    assert not graphs.eligible("adam", None, fourier, CUDA, False)
    assert not graphs.eligible("adam", None, pixels, torch.device("cpu"), False)


# ---- the body of a replay, run eagerly on the CPU -----------------------------------------------


def _toy(nan_at: int | None = None):
    """A pixel image, Adam and a loss with several terms (NaN from call ``nan_at`` on)."""
    gen = torch.Generator().manual_seed(0)
    init = torch.randn(1, 3, 6, 5, generator=gen)
    target = torch.randn(1, 3, 6, 5, generator=gen)
    param = make_parameterization("pixel", init)
    opt = torch.optim.Adam(param.parameters(), lr=0.1)
    calls = 0

    def loss(x):
        nonlocal calls
        calls += 1
        content = (x - target).pow(2).mean()
        style = (x.mean(dim=(2, 3)) - 0.3).pow(2).sum()
        total = content + 10 * style
        if nan_at is not None and calls >= nan_at:
            total = total * math.nan
        return {"total": total, "content": content, "style": style, "style/conv1_1": style}

    return param, opt, loss


def test_graphed_body_matches_the_eager_adam_step_bit_for_bit():
    eager_param, eager_opt, eager_loss = _toy()
    graph_param, graph_opt, graph_loss = _toy()
    eager = AdamStep(eager_param, eager_opt, eager_loss, None, Best())
    graphed = graphs.GraphedAdamStep(graph_param, graph_opt, graph_loss, Best(), record=False)
    for k in range(1, 8):
        assert graphed(k) == eager(k)
        assert torch.equal(graph_param.x, eager_param.x)
    assert graphed.best.step == eager.best.step and graphed.best.loss == eager.best.loss
    assert torch.equal(graphed.best.x, eager.best.x)
    assert graphed.graph is None  # record=False: nothing was recorded


def test_graphed_body_with_a_nan_loss_raises_and_puts_the_image_back():
    param, opt, loss = _toy(nan_at=4)
    best = Best()
    step = graphs.GraphedAdamStep(param, opt, loss, best, record=False)
    for k in (1, 2, 3):
        step(k)
    before = param.x.detach().clone()
    with pytest.raises(NonFiniteStep) as err:
        step(4)
    assert err.value.step == 4 and math.isnan(err.value.value)
    assert torch.equal(param.x, before)  # as the eager step leaves it: not moved
    assert best.step == 2 and math.isfinite(best.loss)  # the image after step 2, scored at 3


class _FakeGraph:
    """What ``record_graph`` returns, on the CPU: each replay runs the recorded body.

    A real replay overwrites the gradient its recorded backward pass created; the body alone
    would add to it, so the fake clears it first."""

    def __init__(self, body) -> None:
        self.body, self.opt = body, body.__self__.opt

    def replay(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.body()


def _use_cpu_graphs(monkeypatch) -> None:
    """From now on ``stylize`` on the CPU goes through the graphed step: warm-up, "recording",
    replays (``_FakeGraph``)."""
    from nst_helpers.optimize import loop

    make_optimizer = loop.make_optimizer
    monkeypatch.setattr(graphs, "eligible", lambda optimizer, *_: optimizer == "adam")
    monkeypatch.setattr(graphs, "record_graph", _FakeGraph)
    # capturable Adam exists only for accelerators; on the CPU its update is the same
    monkeypatch.setattr(loop, "make_optimizer", lambda *a, capturable=False: make_optimizer(*a))


@pytest.mark.parametrize(
    "options",
    # fast from 32 px to 96 px, 32 steps: Adam 20 steps at 32 px and 6 at 45 px (Adam's
    # moments carried between two graphed stages), then 6 L-BFGS iterations at 96 px (eager)
    [dict(steps=10, image_size=32), dict(preset="fast", image_size=96, steps=32)],
    ids=["adam", "fast"],
)
def test_stylize_through_graphed_steps_is_the_eager_run(tiny_images, monkeypatch, options):
    content, style = tiny_images
    monkeypatch.setattr(presets, "ROUTE", "coarse-to-fine")  # graphed stages, moments carried
    monkeypatch.setattr(presets, "FIRST_SCALE", 32)
    settings = dict(weights="random", device="cpu", seed=0, precision="fp32", **options)
    settings.update(content_layers=["conv2_2"], style_layers=["conv1_1", "conv2_1", "conv3_1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = stylize(content, style, **settings)
        replays = _count_replays(monkeypatch)
        _use_cpu_graphs(monkeypatch)
        graphed = stylize(content, style, **settings)
    adam = [r["scale"] for r in graphed.history if "evals" not in r]  # L-BFGS records evals
    per_stage = [adam.count(size) for size in dict.fromkeys(adam)]
    assert list(dict.fromkeys(r["scale"] for r in graphed.history)) == (
        [32] if "preset" not in options else [32, 45, 96]
    )
    assert per_stage == ([10] if "preset" not in options else [20, 6])
    assert replays["replays"] == sum(n - graphs.WARMUP_STEPS for n in per_stage)
    assert [r["total"] for r in graphed.history] == [r["total"] for r in eager.history]
    assert [r["scale"] for r in graphed.history] == [r["scale"] for r in eager.history]
    assert np.array_equal(np.asarray(graphed.image), np.asarray(eager.image))
    assert graphed.best_step == eager.best_step and graphed.best_loss == eager.best_loss


def test_a_stage_with_a_step_size_schedule_is_not_graphed(tiny_images, monkeypatch):
    # a recorded graph would replay the step size it was captured with: preset="fast" (its
    # warm-up: 2 of 24 steps) runs eagerly even where graphs are on and its steps eligible
    content, style = tiny_images
    monkeypatch.setattr(graphs, "GraphedAdamStep", None)  # calling it would raise
    _use_cpu_graphs(monkeypatch)
    monkeypatch.setattr(presets, "ROUTE", "fourier")
    result = stylize(content, style, image_size=32, steps=24, preset="fast", weights="random",
                     device="cpu", seed=0, precision="fp32")  # fmt: skip
    assert len({r["lr"] for r in result.history}) > 1


# ---- on a CUDA device ---------------------------------------------------------------------------


def _run(monkeypatch, graphs_on: bool, **options):
    monkeypatch.setenv(graphs.ENV, "1" if graphs_on else "0")
    settings = dict(steps=24, image_size=64, weights="random", device="cuda", seed=0)
    settings.update(options)
    side = settings["image_size"]
    content, style = load_image("chelsea", max_size=side), load_image("starry_night", max_size=side)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stylize(content, style, **settings)


def _assert_close(a, b, rtol: float, pixels: float | None = None) -> None:
    """Same steps, losses within ``rtol`` step by step and at the end; with ``pixels``, the
    pictures within that mean difference (of 255).

    Not bit for bit: cuDNN's TF32 kernels and Adam's capturable update round differently from
    the eager ones, and Adam amplifies such differences in the pixels whose gradient is near
    zero (it steps ``lr`` whatever the gradient's size). Measured on the CPU, where both are
    exact: the learning rate changed by one part in 10^6 moves the losses of these runs by
    0.05% (plain) and 0.4% (``fast``) and the pictures by 0.7 and 11.9 of 255 on average, so
    ``fast``'s pixels are not compared. A step the graph did not take would change far more:
    the plain run's 24 steps lower its loss by much more than ``rtol``, checked here too.
    """
    totals_a = np.array([r["total"] for r in a.history])
    totals_b = np.array([r["total"] for r in b.history])
    assert [r["step"] for r in a.history] == [r["step"] for r in b.history]
    np.testing.assert_allclose(totals_a, totals_b, rtol=rtol)
    np.testing.assert_allclose(a.best_loss, b.best_loss, rtol=rtol)
    if pixels is not None:
        diff = np.abs(np.asarray(a.image, np.int16) - np.asarray(b.image, np.int16))
        assert diff.mean() < pixels, diff.mean()


@pytest.fixture
def replays(monkeypatch):
    """Counts the steps that were replays of a recorded graph."""
    return _count_replays(monkeypatch)


def _count_replays(monkeypatch) -> dict[str, int]:
    counted = {"replays": 0}
    original = graphs.GraphedAdamStep.__call__

    def counting(self, step):
        out = original(self, step)
        counted["replays"] += self.graph is not None
        return out

    monkeypatch.setattr(graphs.GraphedAdamStep, "__call__", counting)
    return counted


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graph_run_matches_eager_steps(monkeypatch, replays, precision):
    eager = _run(monkeypatch, False, precision=precision)
    assert replays["replays"] == 0
    graphed = _run(monkeypatch, True, precision=precision)
    assert replays["replays"] == 24 - graphs.WARMUP_STEPS  # warm-up, then record + replay
    assert graphed.history[-1]["total"] < 0.8 * graphed.history[0]["total"]  # the steps moved
    _assert_close(graphed, eager, rtol=1e-2 if precision == "fp32" else 3e-2, pixels=4.0)


@needs_cuda
def test_cuda_graph_fast_preset_matches_eager_steps(monkeypatch, replays):
    # 384 px: Adam at 128 and 181 px (graphs, Adam's moments carried between them), then
    # L-BFGS at 384 px (eager)
    monkeypatch.setattr(presets, "ROUTE", "coarse-to-fine")  # the graphed route (round 4)
    eager = _run(monkeypatch, False, preset="fast", image_size=384, steps=None)
    graphed = _run(monkeypatch, True, preset="fast", image_size=384, steps=None)
    adam_steps = presets.COARSE_STEPS + presets.MIDDLE_STEPS
    assert replays["replays"] == adam_steps - 2 * graphs.WARMUP_STEPS
    assert [r["scale"] for r in graphed.history] == [r["scale"] for r in eager.history]
    _assert_close(graphed, eager, rtol=5e-2)


@needs_cuda
def test_cuda_graph_run_resumes_from_a_checkpoint(monkeypatch, replays, tmp_path):
    ck = tmp_path / "run.ckpt"
    full = _run(monkeypatch, True)
    stopped = _run(monkeypatch, True, checkpoint=ck, callback=lambda r: r["step"] < 10)
    assert stopped.interrupted and len(stopped.history) == 10
    resumed = _run(monkeypatch, True, resume=ck)
    _assert_close(resumed, full, rtol=1e-2, pixels=4.0)
