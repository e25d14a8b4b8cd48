"""preset="fast": its plan, the pieces it is built from, and that it delivers at the size asked."""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nst_helpers import (
    StyleConfig,
    StylizeResult,
    image_to_tensor,
    load_checkpoint,
    load_image,
    stylize,
)
from nst_helpers.apps.cli import main
from nst_helpers.features import FeatureExtractor, load_vgg19
from nst_helpers.images import pixel_bounds
from nst_helpers.optimize import Plan, Stage
from nst_helpers.optimize import presets as P
from nst_helpers.optimize.averaging import EMA
from nst_helpers.optimize.plan import make_plan
from nst_helpers.optimize.steps import carry_adam_moments

FAST = dict(device="cpu", weights="random", seed=0)
SMALL = dict(FAST, content_layers=["conv2_2"], style_layers=["conv1_1", "conv2_1", "conv3_1"])


def test_sqrt2_scales():
    assert P.sqrt2_scales(512) == [128, 181, 256, 362, 512]
    assert P.sqrt2_scales(256) == [128, 181, 256]
    assert P.sqrt2_scales(200) == [128, 200]  # 181 is within 10% of 200: merged into it
    assert P.sqrt2_scales(140) == [140]
    assert P.sqrt2_scales(64) == [64]
    ratios = [b / a for a, b in itertools.pairwise(P.sqrt2_scales(4096)[:-1])]
    assert all(r == pytest.approx(math.sqrt(2), abs=0.01) for r in ratios)


def test_fast_scales_leave_out_the_second_finest():
    # round 4 of benchmarks/sweep_fast.py: the finest stage starts two sqrt(2) steps up
    assert P.fast_scales(512) == [128, 181, 256, 512]
    assert P.fast_scales(384) == [128, 181, 384]
    assert P.fast_scales(256) == [128, 256]
    assert P.fast_scales(1024) == [128, 181, 256, 362, 512, 1024]
    assert P.fast_scales(200) == [128, 200]  # two scales: nothing between them to leave out
    assert P.fast_scales(140) == [140]
    assert P.fast_scales(96, first=48) == [48, 96]


def test_fast_scales_follow_the_switch(monkeypatch):
    monkeypatch.setattr(P, "SKIP_SECOND_FINEST", False)  # the shape of rounds 1-3
    assert P.fast_scales(512) == P.sqrt2_scales(512) == [128, 181, 256, 362, 512]
    assert P.coarse_to_fine_plan(384, None, None, None).scales == [128, 181, 256, 384]


@pytest.fixture
def coarse_to_fine(monkeypatch):
    """``preset="fast"`` as it was until round 7: coarse to fine, L-BFGS at the finest scale."""
    monkeypatch.setattr(P, "ROUTE", "coarse-to-fine")


def _sweep(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import sweep_fast

    return sweep_fast


def test_the_sweeps_rounds_keep_the_plans_they_ran(monkeypatch):
    # benchmarks/sweep_fast.py's rows in the README stay reproducible when the defaults move
    sweep_fast = _sweep(monkeypatch)

    def plan_of(name):
        with monkeypatch.context() as m:
            for k, v in sweep_fast.VARIANTS[name][0].items():
                m.setattr(P, k, v)
            return P.fast_plan(384, None, None, None)

    round1 = plan_of("current (60/30/30 Adam lr 0.05, EMA 0.9, 20 L-BFGS)")
    round3 = plan_of("residual carry")
    assert round1.scales == round3.scales == [128, 181, 256, 384]
    assert round1.steps_per_scale == round3.steps_per_scale == [60, 30, 30, 20]
    assert (round1.carry, round3.carry) == ("image", "residual")
    round4 = plan_of("residual carry, no second-finest scale, 60/30 Adam + 30 L-BFGS")
    assert (round4.scales, round4.steps_per_scale) == ([128, 181, 384], [60, 30, 30])
    chosen = plan_of("residual carry, no second-finest scale, 100/30 Adam + 30 L-BFGS")
    assert chosen == plan_of("round 4") == P.coarse_to_fine_plan(384, None, None, None)
    # round 8 made the one stage on the pixels the default
    assert (
        plan_of("defaults")
        == P.fast_plan(384, None, None, None)
        == P.pixel_plan(384, None, None, None)
    )
    assert plan_of("round 8, pixels, Adam lr 0.15") == plan_of("defaults")
    assert chosen.first_conv_padding == "replicate"
    for name in ("round 4, steps x2 (320)", "round 4, steps x4 (640)"):  # round 5
        assert plan_of(name) == chosen
    zeros = plan_of("round 4, zero padding")  # round 5: the ruler's padding
    assert zeros.first_conv_padding == "zeros"
    assert (zeros.scales, zeros.steps_per_scale) == (chosen.scales, chosen.steps_per_scale)
    # round 6: smaller first scales, from round 4's plan
    assert plan_of("round 4, first scale 90").scales == [90, 127, 180, 384]
    assert plan_of("round 4, first scale 64").scales == [64, 91, 128, 181, 384]
    assert plan_of("round 4, coarse deep layers x0") == chosen
    with sweep_fast.probe(384, final_stage=("adam", 500, 0.02)):  # the round's diagnostic
        diagnostic = plan_of("round 4, finest: 500 Adam steps at lr 0.02 (diagnostic)")
    assert diagnostic.stages[:-1] == chosen.stages[:-1]
    assert (diagnostic.final.optimizer, diagnostic.final.steps, diagnostic.final.lr) == (
        "adam",
        500,
        0.02,
    )
    # round 7: one Fourier stage; its best row is what presets.FOURIER_* hold
    round7 = plan_of("round 7, no decay (lr 0.15 to the end)")
    assert round7 == P.fourier_plan(384, None, None, None)
    warmed = plan_of("round 7, ... and 6 warm-up steps")
    assert (warmed.final.lr_end, warmed.final.warmup, warmed.decay_power) == (0.03, 6, 1.25)
    first = plan_of("round 7, Fourier, lr 0.15 constant")
    assert (first.scales, first.parameterization, first.decay_power) == ([384], "fourier", 1.0)
    assert [first.final.lr_at(i) for i in (1, 40, 72)] == [0.15] * 3
    assert plan_of("round 7, zero padding").first_conv_padding == "zeros"
    assert plan_of("round 7, spectrum 1/f^1.5").decay_power == 1.5
    # round 8: round 7's best with the spectrum's coarsest waves capped
    assert round7.longest_period is None
    capped = plan_of("round 8, longest period 32 px, lr 0.075")
    assert (capped.longest_period, capped.final.lr, capped.final.steps) == (32, 0.075, 72)
    lbfgs = plan_of("round 8, L-BFGS on the spectrum, 45 iterations")
    assert (lbfgs.parameterization, lbfgs.final.optimizer, lbfgs.final.precision) == (
        "fourier",
        "lbfgs",
        "fp32",
    )
    assert (lbfgs.final.steps, lbfgs.final.lr, lbfgs.final.scheduled) == (45, 1.0, False)
    pixels = plan_of("round 8, pixels, Adam lr 0.1 -> 0.02 over the last 40%")
    assert (pixels.parameterization, pixels.decay_power, pixels.longest_period) == (
        "pixel",
        None,
        None,
    )
    assert (pixels.final.lr, pixels.final.lr_end, pixels.final.warmup) == (0.1, 0.02, 6)
    assert plan_of("round 8, pixels, Adam lr 0.15") == P.pixel_plan(384, None, None, None)


def test_the_benchmarks_layout_is_the_correlation_of_coarse_luminance(monkeypatch):
    sweep_fast = _sweep(monkeypatch)
    from bench_quality import LAYOUT_SIDE, Scorer, luminance

    photo, style = load_image("rocket", max_size=96), load_image("shipwreck", max_size=96)
    measured = argparse.Namespace(options={"network": "vgg19", "weights": "random"})
    scorer = Scorer(photo, style, 96, measured)
    assert max(scorer.photo_luma.shape) == LAYOUT_SIDE
    assert scorer.layout(photo) == pytest.approx(1.0)
    # brightness and contrast do not move it (a correlation); an inverted photo scores -1
    a = np.asarray(photo, dtype=np.float64)
    duller = Image.fromarray((0.5 * a + 60).astype(np.uint8))
    assert scorer.layout(duller) > 0.99
    inverted = Image.fromarray((255 - a).astype(np.uint8))
    assert scorer.layout(inverted) == pytest.approx(-1.0, abs=1e-4)  # bicubic rounding
    assert scorer.layout(Image.new("RGB", photo.size, (90, 90, 90))) == 0.0
    # by hand: the luma of one bright left half against the photo's own coarse luma
    half = np.zeros_like(a)
    half[:, : a.shape[1] // 2] = 255
    lum, mask = scorer.photo_luma.ravel(), luminance(Image.fromarray(half.astype(np.uint8)),
                                                     scorer.shape).ravel()  # fmt: skip
    assert scorer.layout(Image.fromarray(half.astype(np.uint8))) == pytest.approx(
        np.corrcoef(lum, mask)[0, 1]
    )
    assert sweep_fast.Scorer is Scorer


def test_the_sweep_reads_photo_painting_pairs(monkeypatch):
    sweep_fast = _sweep(monkeypatch)
    assert sweep_fast.parse_pairs(None, "coffee", "mosaic") == [("coffee", "mosaic")]
    gallery = sweep_fast.parse_pairs(["gallery", "coffee:mosaic", "chelsea:starry_night"], "", "")
    assert gallery == [
        ("chelsea", "starry_night"),
        ("astronaut", "the_scream"),
        ("rocket", "shipwreck"),
        ("coffee", "mosaic"),
    ]
    for bad in ("chelsea", "chelsea:", "a:b:c"):
        with pytest.raises(SystemExit, match=repr(bad)):
            sweep_fast.parse_pairs([bad], "", "")


def test_the_sweep_keeps_one_reference_per_pair(monkeypatch, tmp_path):
    sweep_fast = _sweep(monkeypatch)
    ran = []

    def fake_run(name, scorer, content, style, every, **options):
        ran.append((content, style))
        return {"name": name, "precision": "fp32", "wall": 10.0 + len(ran), "cpu": 9.0,
                "content": 0.5, "style": 0.03, "layout": 0.9, "steps": options["steps"]}  # fmt: skip

    monkeypatch.setattr(sweep_fast, "run", fake_run)
    path = tmp_path / "refs.json"
    measured = argparse.Namespace(words="vgg16, weights=hed")
    args = argparse.Namespace(size=64, steps=5, reference=str(path), measured=measured)
    a = sweep_fast.reference(args, ("chelsea", "starry_night"), None, "c1", "s1")
    b = sweep_fast.reference(args, ("rocket", "shipwreck"), None, "c2", "s2")
    assert ran == [("c1", "s1"), ("c2", "s2")] and (a["wall"], b["wall"]) == (11.0, 12.0)
    again = sweep_fast.reference(args, ("chelsea", "starry_night"), None, "c1", "s1")
    assert len(ran) == 2 and again["wall"] == 11.0 and again["pair"] == ("chelsea", "starry_night")
    assert [e["key"]["content"] for e in json.loads(path.read_text())["entries"]] == [
        "chelsea",
        "rocket",
    ]
    # a file of the old format (one reference, no "entries") is still read
    path.write_text(json.dumps(json.loads(path.read_text())["entries"][1]))
    assert sweep_fast.reference(args, ("rocket", "shipwreck"), None, "c2", "s2")["wall"] == 12.0
    assert len(ran) == 2


def test_the_fourier_route_is_one_stage_at_the_output_size(monkeypatch):
    # round 7's route (README, Speed): not the default, for its pictures
    assert P.ROUTE == "pixels"
    monkeypatch.setattr(P, "ROUTE", "fourier")
    for size in (256, 384, 512, 1024):
        plan = P.fast_plan(size, None, None, None)
        assert plan.scales == [size] and plan.steps_per_scale == [P.FOURIER_STEPS] == [72]
        assert (
            (plan.parameterization, plan.decay_power)
            == ("fourier", P.DECAY_POWER)
            == (
                "fourier",
                1.25,
            )
        )
        assert plan.optimizers == ["adam"] and plan.precisions == ["auto"]
        assert plan.ema_decay == P.EMA_DECAY and plan.first_conv_padding == "replicate"
        assert plan.preset == "fast" and plan.carry_moments is False
    stage = P.fast_plan(384, None, None, None).final
    assert (stage.lr, stage.lr_end, stage.warmup) == (0.15, None, 6)
    assert [stage.lr_at(i) for i in (1, 6, 7, 72)] == [0.15 / 7, 0.15 * 6 / 7, 0.15, 0.15]
    # steps and lr given: the warm-up keeps its share (and a decay, when set, its ratio)
    mine = P.fast_plan(384, 144, "fp32", 0.3).final
    assert (mine.steps, mine.warmup, mine.lr, mine.precision) == (144, 12, 0.3, "fp32")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(P, "FOURIER_LR_END", 0.03)
        assert P.fast_plan(384, 144, "fp32", 0.3).final.lr_end == pytest.approx(0.06)
    assert P.fast_plan(384, 3, None, None).final.warmup == 0
    with pytest.MonkeyPatch.context() as m:
        m.setattr(P, "ROUTE", "slow")
        with pytest.raises(ValueError, match="ROUTE"):
            P.fast_plan(384, None, None, None)


def test_a_stages_step_size_schedule():
    stage = Stage(64, 11, "adam", 0.2, "fp32", lr_end=0.05, decay_from=0.5, warmup=3)
    want = [0.2 * 1 / 4, 0.2 * 2 / 4, 0.2 * 3 / 4]  # warm-up: i / (warmup + 1) of lr
    want += [0.2] * 3  # held until half of the stage (steps 4-6: progress 0.3 .. 0.5)
    # then linear from 0.2 at progress 0.5 (step 6) to 0.05 at the last step (11)
    want += [0.2 - 0.15 * (k / 10 - 0.5) / 0.5 for k in range(6, 11)]
    got = [stage.lr_at(i) for i in range(1, 12)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert stage.lr_at(11) == pytest.approx(0.05) and stage.scheduled
    plain = Stage(64, 11, "adam", 0.2, "fp32")
    assert not plain.scheduled and {plain.lr_at(i) for i in range(1, 12)} == {0.2}
    assert Stage(64, 1, "adam", 0.2, "fp32", lr_end=0.05).lr_at(1) == 0.2
    with pytest.raises(ValueError, match="decay_from"):
        Stage(64, 11, "adam", 0.2, "fp32", lr_end=0.05, decay_from=1.0)
    with pytest.raises(ValueError, match="warmup"):
        Stage(64, 11, "adam", 0.2, "fp32", warmup=-1)
    with pytest.raises(ValueError, match="parameterization"):
        Plan((plain,), parameterization="wavelet")


def test_the_fourier_route_runs_its_schedule_on_the_spectrum(monkeypatch):
    from nst_helpers.fourier import FourierParameterization

    monkeypatch.setattr(P, "ROUTE", "fourier")
    made = _spy_starts(monkeypatch)
    content, style = load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)
    result = stylize(content, style, image_size=48, steps=12, preset="fast", **SMALL)
    stage = P.fast_plan(48, 12, None, None).final
    assert [r["lr"] for r in result.history] == [stage.lr_at(i) for i in range(1, 13)]
    assert result.history[0]["lr"] < stage.lr == result.history[-1]["lr"]
    ((start, param),) = made
    assert isinstance(param, FourierParameterization) and param.decay_power == P.DECAY_POWER
    torch.testing.assert_close(start, image_to_tensor(content, tuple(start.shape[-2:])))
    settings = result.settings
    assert (settings["parameterization"], settings["decay_power"]) == ("fourier", 1.25)
    assert settings["lr_schedules"] == [[1, None, P.DECAY_FROM]]
    assert result.history[-1]["total"] < result.history[0]["total"]
    # a plain run keeps v0.1's settings: none of the plan's new keys
    plain = stylize(content, style, image_size=48, steps=2, **SMALL).settings
    assert plain["parameterization"] == "pixel"
    assert "decay_power" not in plain and "lr_schedules" not in plain
    assert "longest_period" not in settings and "longest_period" not in plain


def test_the_fourier_routes_longest_period_reaches_the_spectrum_and_the_settings(monkeypatch):
    from nst_helpers.fourier import frequency_scale

    monkeypatch.setattr(P, "ROUTE", "fourier")
    monkeypatch.setattr(P, "LONGEST_PERIOD", 16)
    made = _spy_starts(monkeypatch)
    content, style = load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)
    result = stylize(content, style, image_size=48, steps=3, preset="fast", **SMALL)
    ((start, param),) = made
    h, w = start.shape[-2:]
    assert param.longest_period == 16
    torch.testing.assert_close(param._scale, frequency_scale(h, w, P.DECAY_POWER, 16))
    assert not torch.allclose(param._scale, frequency_scale(h, w, P.DECAY_POWER))
    assert result.settings["longest_period"] == 16


def test_the_pixel_route_is_one_adam_stage_on_the_pixels_from_the_photo(monkeypatch):
    from nst_helpers.parameterization import PixelParameterization

    monkeypatch.setattr(P, "ROUTE", "pixels")
    plan = P.fast_plan(384, None, None, None)
    assert (plan.scales, plan.steps_per_scale, plan.optimizers) == ([384], [72], ["adam"])
    stage = plan.final
    assert (stage.lr, stage.warmup, stage.lr_end, stage.precision) == (0.15, 6, None, "auto")
    assert [stage.lr_at(i) for i in (1, 6, 7, 72)] == pytest.approx([0.15 / 7, 0.9 / 7, 0.15, 0.15])
    assert (plan.parameterization, plan.decay_power, plan.ema_decay) == ("pixel", None, 0.9)
    # the caller's steps and lr: the warm-up in proportion
    scaled = P.fast_plan(384, 144, "fp32", 0.05).final
    assert (scaled.steps, scaled.warmup, scaled.lr, scaled.precision) == (144, 12, 0.05, "fp32")
    made = _spy_starts(monkeypatch)
    content, style = load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)
    result = stylize(content, style, image_size=48, steps=8, preset="fast", **SMALL)
    ((start, param),) = made
    assert isinstance(param, PixelParameterization)
    torch.testing.assert_close(start, image_to_tensor(content, tuple(start.shape[-2:])))
    assert len(result.history) == 8 and result.settings["parameterization"] == "pixel"
    assert "decay_power" not in result.settings
    assert result.history[-1]["total"] < result.history[0]["total"]


def test_a_fourier_route_run_resumes_exactly(monkeypatch, tmp_path):
    monkeypatch.setattr(P, "ROUTE", "fourier")
    content, style = load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)
    options = dict(image_size=48, steps=10, preset="fast", precision="fp32", **SMALL)
    reference = stylize(content, style, **options)
    ck = tmp_path / "run.ckpt"
    stylize(content, style, checkpoint=ck, callback=lambda r: r["step"] < 6, **options)
    resumed = stylize(content, style, resume=ck, **options)
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in reference.history]
    assert [r["total"] for r in resumed.history] == [r["total"] for r in reference.history]
    assert np.array_equal(np.asarray(resumed.image), np.asarray(reference.image))


def test_a_preset_plan_sizes_memory_by_its_own_parameterization():
    from nst_helpers.optimize.memory import MemoryOptions, estimate_memory

    cfg = StyleConfig(preset="fast")
    pixel = MemoryOptions.of(cfg, precision="fp32")
    fourier = MemoryOptions.of(cfg, precision="fp32", parameterization="fourier")
    assert (pixel.parameterization, fourier.parameterization) == ("pixel", "fourier")
    assert estimate_memory((512, 512), fourier) > estimate_memory((512, 512), pixel)


def test_coarse_to_fine_plan_schedule_and_choices(coarse_to_fine):
    # the defaults chosen by the sweep's round 4 (README, Speed)
    assert P.fast_plan(512, None, None, None) == P.coarse_to_fine_plan(512, None, None, None)
    assert (P.COARSE_STEPS, P.MIDDLE_STEPS, P.FINAL_STEPS) == (100, 30, 30)
    plan = P.coarse_to_fine_plan(512, None, None, None)
    assert plan.scales == [128, 181, 256, 512]
    assert plan.optimizers == ["adam"] * 3 + ["lbfgs"]
    assert plan.steps_per_scale == [100, 30, 30, 30]
    assert P.coarse_to_fine_plan(384, None, None, None).steps_per_scale == [100, 30, 30]
    assert P.coarse_to_fine_plan(256, None, None, None).steps_per_scale == [100, 30]
    assert plan.lrs == [P.ADAM_LR] * 3 + [1.0]
    assert plan.precisions == ["auto"] * 3 + ["fp32"]  # L-BFGS's line search: exact gradients
    assert plan.ema_decay == P.EMA_DECAY and plan.preset == "fast"
    assert plan.carry == P.CARRY == "residual"  # finer scales start from photo + stylisation
    assert P.coarse_to_fine_plan(512, None, "bf16", 0.1).precisions == ["bf16"] * 3 + ["fp32"]
    assert P.coarse_to_fine_plan(512, None, "fp32", 0.1).lrs[:3] == [0.1] * 3
    single = P.coarse_to_fine_plan(96, None, None, None)
    assert (single.scales, single.optimizers) == ([96], ["adam"])
    for steps in (0, 1, 7, 100, 1001):
        split = P.coarse_to_fine_plan(512, steps, None, None).steps_per_scale
        assert sum(split) == steps and len(split) == 4
    assert P.coarse_to_fine_plan(512, 1900, None, None).steps_per_scale == [1000, 300, 300, 300]


def test_plain_and_preset_runs_make_the_same_kind_of_plan():
    plain = make_plan(StyleConfig(scales=(64, 96, 128), steps=10, optimizer="lbfgs", lr=0.5))
    assert plain == Plan(
        (
            Stage(64, 3, "lbfgs", 0.5, "auto"),
            Stage(96, 3, "lbfgs", 0.5, "auto"),
            Stage(128, 4, "lbfgs", 0.5, "auto"),
        )
    )
    assert make_plan(StyleConfig()).steps_per_scale == [4000]  # DEFAULT_STEPS, one stage
    fast = make_plan(StyleConfig(image_size=256, preset="fast", precision="fp32"))
    assert fast == P.fast_plan(256, None, "fp32", None) and isinstance(fast, Plan)
    resolved = fast.resolved(torch.device("cpu"))
    assert resolved.precisions == ["fp32"]  # one stage at 256 px
    cpu_auto = make_plan(StyleConfig()).resolved(torch.device("cpu")).final.precision
    assert cpu_auto in ("fp32", "bf16")  # "auto" is made concrete for the device
    with pytest.raises(AttributeError):
        fast.final.steps = 1  # frozen


def test_fast_preset_without_steps_returns_a_result_at_image_size(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, image_size=40, preset="fast", **FAST)
    assert isinstance(result, StylizeResult)
    assert max(result.image.size) == 40 and result.image.size == (40, 27)
    assert len(result.history) == P.PIXEL_STEPS
    assert result.settings["preset"] == "fast" and result.settings["scales"] == [40]
    assert result.best_loss <= min(r["total"] for r in result.history)
    assert result.history[-1]["total"] < result.history[0]["total"]


@pytest.mark.parametrize("checkpointing", [False, True])
def test_fast_preset_across_scales(checkpointing, coarse_to_fine):
    content = Image.new("RGB", (200, 150), (120, 80, 40))
    style = Image.effect_noise((64, 64), 60).convert("RGB")
    result = stylize(
        content, style, image_size=200, steps=6, preset="fast", checkpointing=checkpointing, **FAST
    )
    assert result.image.size == (200, 150)
    assert result.settings["scales"] == [128, 200]
    assert result.settings["optimizers"] == ["adam", "lbfgs"]
    coarse, fine = P.fast_plan(200, 6, None, None).steps_per_scale
    assert (coarse, fine) == (5, 1)  # 6 in the proportions 100 : 30, largest remainder first
    assert [r["scale"] for r in result.history] == [128] * coarse + [200] * fine
    assert result.checkpointing is checkpointing
    assert result.settings["precisions"][-1] == "fp32"  # L-BFGS's line search: exact gradients


def test_fast_preset_with_a_stage_given_no_steps(monkeypatch, coarse_to_fine):
    # steps=1 split 100 : 30 : 30 is [1, 0, 0]: the empty middle stage hands on its start
    monkeypatch.setattr(P, "FIRST_SCALE", 48)
    monkeypatch.setattr(P, "SKIP_SECOND_FINEST", False)  # three scales at 96 px: 48, 68, 96
    content, style = load_image("chelsea", max_size=96), load_image("brush_strokes", max_size=96)
    assert P.fast_plan(96, 1, None, None).steps_per_scale == [1, 0, 0]
    result = stylize(content, style, image_size=96, steps=1, preset="fast", **SMALL)
    assert max(result.image.size) == 96 and len(result.history) == 1


def test_preset_refuses_conflicts_and_unknown_names(tiny_images):
    with pytest.raises(ValueError, match="scales"):
        stylize(*tiny_images, image_size=32, preset="fast", scales=[16, 32], **FAST)
    with pytest.raises(ValueError, match="preset"):
        stylize(*tiny_images, image_size=32, preset="slow", **FAST)


def test_replicate_padding_is_local_to_the_extractor():
    extractor = FeatureExtractor(["relu1_1"], weights="random")
    P.replicate_first_conv(extractor)
    base = load_vgg19("random")
    assert base[0].padding_mode == "zeros"  # the shared, cached network is untouched
    assert extractor.net[0].weight is base[0].weight
    x = torch.rand(1, 3, 12, 10)
    want = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), base[0].weight, base[0].bias))
    torch.testing.assert_close(extractor(x)["relu1_1"], want)


def test_adam_moments_are_resized_and_the_step_kept():
    small = torch.zeros(1, 3, 8, 8, requires_grad=True)
    big = torch.zeros(1, 3, 16, 12, requires_grad=True)
    old, new = torch.optim.Adam([small]), torch.optim.Adam([big])
    small.grad = torch.full_like(small, 2.0)
    for _ in range(3):
        old.step()
    carry_adam_moments(old, new)
    state = new.state[big]
    assert state["step"].item() == 3
    assert state["exp_avg"].shape == state["exp_avg_sq"].shape == big.shape
    # constant gradients: constant moments, whatever the resizing
    torch.testing.assert_close(
        state["exp_avg"], torch.full_like(big, old.state[small]["exp_avg"][0, 0, 0, 0].item())
    )
    assert (state["exp_avg_sq"] >= 0).all()
    new.zero_grad()
    big.grad = torch.ones_like(big)
    new.step()  # Adam accepts the carried state
    assert new.state[big]["step"].item() == 4


def test_ema_is_bias_corrected():
    ema = EMA(0.9)
    a, b = torch.full((1, 3, 2, 2), 1.0), torch.full((1, 3, 2, 2), 3.0)
    ema.update(a)
    torch.testing.assert_close(ema.value(), a)  # no pull towards zero at the start
    ema.update(b)
    expected = (0.9 * 0.1 * 1.0 + 0.1 * 3.0) / (1 - 0.9**2)
    torch.testing.assert_close(ema.value(), torch.full_like(a, expected))


def test_cli_preset_fast(tmp_path, capsys):
    out = tmp_path / "fast.png"
    argv = ["stylize", "chelsea", "brush_strokes", "-o", str(out), "--preset", "fast",
            "--steps", "3", "--size", "48", "--weights", "random", "--seed", "0", "--quiet",
            "--checkpointing", "on"]  # fmt: skip
    assert main(argv) == 0
    assert max(Image.open(out).size) == 48
    assert "saved" in capsys.readouterr().out


# ---- Plan.carry: what a finer scale starts from ---------------------------------------------


def test_carry_defaults_to_the_upsampled_image_and_is_checked():
    assert Plan((Stage(32, 1, "adam", 0.1, "fp32"),)).carry == "image"
    assert make_plan(StyleConfig(scales=(32, 48), steps=4)).carry == "image"
    with pytest.raises(ValueError, match="carry"):
        Plan((Stage(32, 1, "adam", 0.1, "fp32"),), carry="photo")


def _spy_starts(monkeypatch) -> list:
    """Every stage's start image and its (live) parameterisation, in order."""
    import nst_helpers.optimize.loop as loop

    made, real = [], loop.make_parameterization

    def spy(kind, init, **options):
        param = real(kind, init, **options)
        made.append((init.detach().clone(), param))
        return param

    monkeypatch.setattr(loop, "make_parameterization", spy)
    return made


@pytest.mark.parametrize("carry", ["image", "residual"])
def test_a_finer_scale_starts_from_what_carry_says(monkeypatch, carry, coarse_to_fine):
    # No moving average: what a stage hands on is its last image, the parameter itself.
    monkeypatch.setattr(P, "CARRY", carry)
    monkeypatch.setattr(P, "EMA_DECAY", None)
    monkeypatch.setattr(P, "FIRST_SCALE", 48)
    monkeypatch.setattr(P, "SKIP_SECOND_FINEST", False)  # two scale changes to check, not one
    made = _spy_starts(monkeypatch)
    content = Image.effect_mandelbrot((96, 72), (-2.0, -1.2, 1.0, 1.2), 40).convert("RGB")
    style = Image.effect_noise((64, 64), 60).convert("RGB")
    result = stylize(content, style, image_size=96, steps=12, preset="fast", **SMALL)
    assert result.settings["scales"] == [48, 68, 96]
    assert result.settings.get("carry") == (None if carry == "image" else carry)
    assert len(made) == 3
    low, high = pixel_bounds()
    for (_, before), (start, _) in itertools.pairwise(made):
        old = before.image().detach()
        size = start.shape[-2:]
        photo_old = image_to_tensor(content, tuple(old.shape[-2:]))
        photo_new = image_to_tensor(content, tuple(size))

        def up(x, size=size):
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

        if carry == "image":
            want = up(old)
        else:
            want = (photo_new + up(old - photo_old)).clamp(min=low, max=high)
            # the photo's detail at the new size is in the start; the upsampled image lacks it
            assert (start - photo_new).abs().mean() < (up(old) - photo_new).abs().mean()
        torch.testing.assert_close(start, want)


def test_a_residual_carry_run_resumes_exactly(monkeypatch, tmp_path, coarse_to_fine):
    monkeypatch.setattr(P, "CARRY", "residual")
    monkeypatch.setattr(P, "FIRST_SCALE", 32)
    content, style = load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)
    options = dict(image_size=48, steps=8, preset="fast", precision="fp32", **SMALL)
    reference = stylize(content, style, **options)
    assert [r["scale"] for r in reference.history] == [32] * 6 + [48] * 2
    ck = tmp_path / "run.ckpt"
    stylize(content, style, checkpoint=ck, callback=lambda r: r["step"] < 4, **options)
    assert load_checkpoint(ck)["settings"]["carry"] == "residual"
    resumed = stylize(content, style, resume=ck, **options)
    assert np.array_equal(np.asarray(resumed.image), np.asarray(reference.image))
    assert [r["total"] for r in resumed.history] == [r["total"] for r in reference.history]
    monkeypatch.setattr(P, "CARRY", "image")  # another start for the finer scales: refused
    with pytest.raises(ValueError, match="carry"):
        stylize(content, style, resume=ck, **options)
