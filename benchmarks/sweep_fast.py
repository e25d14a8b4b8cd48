"""Tune ``preset="fast"``: a repeatable sweep of its constants against 500 Adam steps.

Each variant changes the constants of ``nst_helpers/optimize/presets.py`` (schedule, learning
rate per scale, EMA decay, L-BFGS iterations, first scale, which scales) for one run, restoring
them after, and may pass ``precision`` (the precision switch: ``auto`` runs the Adam scales in bf16 where
the CPU has it, L-BFGS always fp32) or one of round 6's probes of the loss across stages
(``probe``: benchmark-only, the preset never changes the caller's weights). Every run is scored by ``bench_quality``'s ruler against the
same reference, 500 fp32 Adam steps of the default method, run first in the same process:

    python benchmarks/sweep_fast.py --size 384 --threads 1 [--variants current "EMA 0.95"]
        [--pairs gallery] [--reference outputs/sweep_references.json]

Prints one Markdown table row per variant and photo/painting pair as it finishes (wall and CPU
time against that pair's reference, content and style distance against it, whether the target
is met: both distances at most 1.05x in at most 1/10 of the wall time), with several pairs
(``--pairs``, default chelsea + starry_night) a row of the worst of them, then the whole table.
Each row also shows the picture's *layout* (``bench_quality.Scorer.layout``: how well its
coarse light and dark follow the photo's; the reference's in brackets), which the target's two
distances do not see: round 7's route lost the rocket at 1.3x the reference's content distance.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import warnings
from pathlib import Path

from bench_quality import Scorer, meets_target, run
from common import PAIRS, add_arguments, machine, resolve

from nst_helpers import load_image
from nst_helpers.optimize import presets
from nst_helpers.optimize import problem as problem_module

ROUND3 = {"ROUTE": "coarse-to-fine", "SKIP_SECOND_FINEST": False, "COARSE_STEPS": 60,
          "MIDDLE_STEPS": 30, "FINAL_STEPS": 20}  # fmt: skip
"""The preset's shape before round 4 (every scale of ``sqrt2_scales``; 60/30/.../20 L-BFGS):
rounds 1-3 pin it, so each of their rows runs as it ran then."""
IMAGE = {**ROUND3, "CARRY": "image"}
"""The upsampled image carried between scales, as every variant before round 3 ran."""
RESIDUAL = {**ROUND3, "CARRY": "residual"}
"""Round 3's carry: the photo at each size plus the upsampled stylisation."""
SKIP = {**RESIDUAL, "SKIP_SECOND_FINEST": True, "FINAL_STEPS": 30}
"""Round 4: the second-finest scale dropped, its time given to 10 more L-BFGS iterations."""
ROUND4 = {**SKIP, "COARSE_STEPS": 100, "FIRST_SCALE": 128, "FIRST_CONV_PADDING": "replicate"}
"""Round 4's choice (the preset's defaults): rounds 5 to 7 pin it."""
FOURIER = {"ROUTE": "fourier", "FOURIER_STEPS": 72, "FOURIER_LR": 0.15, "EMA_DECAY": 0.9,
           "FIRST_CONV_PADDING": "replicate", "LONGEST_PERIOD": None,
           "FOURIER_OPTIMIZER": "adam"}  # fmt: skip
"""Round 7's shape: one stage of Adam on the image's spectrum at the output size (72 steps,
about 1/10 of the reference's time in bf16 on the AVX512-BF16 CPU)."""
CONSTANT = {**FOURIER, "FOURIER_LR_END": 0.15, "WARMUP_STEPS": 0, "DECAY_POWER": 1.0}
"""Round 7's first row: a constant step size, no warm-up, the parameterisation's own 1/f."""
DECAYED = {**CONSTANT, "FOURIER_LR_END": 0.03, "DECAY_FROM": 0.6}
WARMED = {**DECAYED, "DECAY_POWER": 1.25, "WARMUP_STEPS": 6}
"""Round 7's fourth row: the decay, 1/f^1.25 and a warm-up."""
ROUND7 = {**WARMED, "FOURIER_LR_END": None}
"""Round 7's best row: the fourth without the decay (``presets.FOURIER_*`` hold it; not the
preset's route: its pictures, README, Speed, round 7)."""
PIXELS = {**ROUND7, "ROUTE": "pixels", "PIXEL_STEPS": 72, "PIXEL_LR_END": None}
"""Round 8: round 7's one stage (warm-up, EMA, padding) on the pixels instead of the spectrum
(``presets.pixel_plan``); each row sets ``PIXEL_LR``."""
AUTO = {"precision": "auto"}
"""Round 7 runs the preset's own precision (bf16 on the AVX512-BF16 CPU), not fp32."""
DEEP = ("relu4_1", "relu5_1")
"""The layers where round 5 found the style gap (README, Speed)."""

VARIANTS: dict[str, tuple[dict, dict]] = {
    # name: (presets.py constants to change, stylize options)
    # rounds 1 and 2 ran before the residual carry existed: they pin CARRY = "image"
    "current (60/30/30 Adam lr 0.05, EMA 0.9, 20 L-BFGS)": ({**IMAGE}, {}),
    "EMA 0.95": ({**IMAGE, "EMA_DECAY": 0.95}, {}),
    "EMA 0.8": ({**IMAGE, "EMA_DECAY": 0.8}, {}),
    "Adam lr 0.03": ({**IMAGE, "ADAM_LR": 0.03}, {}),
    "Adam lr 0.08": ({**IMAGE, "ADAM_LR": 0.08}, {}),
    "Adam lr 0.08, x0.7 per scale": ({**IMAGE, "ADAM_LR": 0.08, "ADAM_LR_DECAY": 0.7}, {}),
    "40/20/20 Adam, 30 L-BFGS": (
        {**IMAGE, "COARSE_STEPS": 40, "MIDDLE_STEPS": 20, "FINAL_STEPS": 30},
        {},
    ),
    "80/40/40 Adam, 10 L-BFGS": (
        {**IMAGE, "COARSE_STEPS": 80, "MIDDLE_STEPS": 40, "FINAL_STEPS": 10},
        {},
    ),
    "Adam at the finest scale too (40 steps)": (
        {**IMAGE, "FINAL_OPTIMIZER": "adam", "FINAL_STEPS": 40},
        {},
    ),
    "first scale 192": ({**IMAGE, "FIRST_SCALE": 192}, {}),
    "current, precision auto": ({**IMAGE}, {"precision": "auto"}),
    # round 2: more of the budget to L-BFGS at the finest scale; and how much more time the
    # current plan needs (steps=N splits N in the schedule's proportions, 110 by default at 384)
    "20/10/10 Adam, 40 L-BFGS": (
        {**IMAGE, "COARSE_STEPS": 20, "MIDDLE_STEPS": 10, "FINAL_STEPS": 40},
        {},
    ),
    "current, steps x2 (220)": ({**IMAGE}, {"steps": 220}),
    "current, steps x3 (330)": ({**IMAGE}, {"steps": 330}),
    # round 3: carry the stylisation, not the image (presets.CARRY = "residual"): each finer
    # scale starts from the photo at its size plus the upsampled difference of the last scale's
    # image from the photo at that size, so the photo's fine detail is in every start
    "residual carry": ({**RESIDUAL}, {}),  # the preset's defaults in round 3
    "residual carry, precision auto": ({**RESIDUAL}, {"precision": "auto"}),
    "residual carry, 40/20/20 Adam, 30 L-BFGS": (
        {**RESIDUAL, "COARSE_STEPS": 40, "MIDDLE_STEPS": 20, "FINAL_STEPS": 30},
        {},
    ),
    "residual carry, 20/10/10 Adam, 40 L-BFGS": (
        {**RESIDUAL, "COARSE_STEPS": 20, "MIDDLE_STEPS": 10, "FINAL_STEPS": 40},
        {},
    ),
    "residual carry, first scale 192": ({**RESIDUAL, "FIRST_SCALE": 192}, {}),
    "residual carry, EMA 0.8": ({**RESIDUAL, "EMA_DECAY": 0.8}, {}),
    "residual carry, Adam lr 0.08, x0.7 per scale": (
        {**RESIDUAL, "ADAM_LR": 0.08, "ADAM_LR_DECAY": 0.7},
        {},
    ),
    "residual carry, 100/30/30 Adam, 20 L-BFGS": ({**RESIDUAL, "COARSE_STEPS": 100}, {}),
    "residual carry, precision auto, 40/20/20 Adam, 30 L-BFGS": (
        {**RESIDUAL, "COARSE_STEPS": 40, "MIDDLE_STEPS": 20, "FINAL_STEPS": 30},
        {"precision": "auto"},
    ),
    # round 4: the second-finest Adam scale costs ~1/4 of the preset's time; drop it and give
    # the finest stage 10 more L-BFGS iterations (and, second, the first scale 100 steps)
    "residual carry, no second-finest scale, 60/30 Adam + 30 L-BFGS": ({**SKIP}, {}),
    "residual carry, no second-finest scale, 100/30 Adam + 30 L-BFGS": (
        {**SKIP, "COARSE_STEPS": 100},
        {},
    ),  # the preset's defaults since round 4
    "defaults": ({}, {}),  # whatever presets.py says now (round 8's pixel route since then)
    "round 4": ({**ROUND4}, {}),  # the defaults of rounds 4 to 7, which their "defaults" ran
    # round 5: not a new shape but the price of the target's quality: the round-4 preset with
    # every stage's steps multiplied (at 384 px its 160 steps are 100 + 30 Adam + 30 L-BFGS)
    "round 4, steps x2 (320)": ({**ROUND4}, {"steps": 320}),
    "round 4, steps x3 (480)": ({**ROUND4}, {"steps": 480}),
    "round 4, steps x4 (640)": ({**ROUND4}, {"steps": 640}),
    # ... and whether its plateau on style is the ruler's: the preset optimises with replicate
    # padding on the first convolution, the ruler (and the reference) measure with zero padding
    "round 4, zero padding": ({**ROUND4, "FIRST_CONV_PADDING": "zeros"}, {}),
    "round 4, zero padding, steps x4 (640)": (
        {**ROUND4, "FIRST_CONV_PADDING": "zeros"},
        {"steps": 640},
    ),
    # round 6: a 192 px start had been worse on style than 128 px (round 3); does a smaller
    # one, with one or two more cheap sqrt(2) scales, start the finest scale in a better basin?
    "round 4, first scale 90": ({**ROUND4, "FIRST_SCALE": 90}, {}),
    "round 4, first scale 64": ({**ROUND4, "FIRST_SCALE": 64}, {}),
    # ... and two probes of round 5's guess that the coarse scales fix the deep layers'
    # statistics too early (``probe``: benchmark-only changes of the loss across stages; the
    # preset itself keeps the caller's weights). Deep layers weighted x0, x0.5, x2 at the
    # coarse scales; then, at the finest, the first 15 L-BFGS iterations with them x3 or x10
    # and a fresh L-BFGS for the other 15 with the caller's weights (a continuation)
    "round 4, coarse deep layers x0": ({**ROUND4}, {"probe_coarse_deep": 0.0}),
    "round 4, coarse deep layers x0.5": ({**ROUND4}, {"probe_coarse_deep": 0.5}),
    "round 4, coarse deep layers x2": ({**ROUND4}, {"probe_coarse_deep": 2.0}),
    "round 4, finest: deep layers x3 for 15 L-BFGS, then 15": (
        {**ROUND4},
        {"probe_final_deep": (3.0, 15)},
    ),
    "round 4, finest: deep layers x10 for 15 L-BFGS, then 15": (
        {**ROUND4},
        {"probe_final_deep": (10.0, 15)},
    ),
    # a diagnostic, far over the time budget: is the finest stage's start the limit, or its
    # optimiser? The coarse scales as round 4, then the reference's own optimiser (500 Adam
    # steps at lr 0.02) from their stylised start instead of 30 L-BFGS iterations
    "round 4, finest: 500 Adam steps at lr 0.02 (diagnostic)": (
        {**ROUND4},
        {"probe_final_stage": ("adam", 500, 0.02)},
    ),
    # round 7: no coarse scales at all (round 6: they start the output size in the wrong
    # basin). One stage from the photo at the output size, Adam on the Fourier
    # parameterisation (fourier.py: 1/f-scaled spectrum, decorrelated colours), which moves
    # large areas first the way the coarse scales did, but at full size; then its schedule
    "round 7, Fourier, lr 0.15 constant": ({**CONSTANT}, AUTO),
    "round 7, Fourier, lr 0.15 -> 0.03 over the last 40%": ({**DECAYED}, AUTO),
    "round 7, ... and spectrum 1/f^1.25": ({**DECAYED, "DECAY_POWER": 1.25}, AUTO),
    "round 7, ... and 6 warm-up steps": ({**WARMED}, AUTO),
    # ... and variants of that fourth row
    "round 7, spectrum 1/f^1.5": ({**WARMED, "DECAY_POWER": 1.5}, AUTO),
    "round 7, lr 0.12 (-> 0.03)": ({**WARMED, "FOURIER_LR": 0.12}, AUTO),
    "round 7, EMA 0.8": ({**WARMED, "EMA_DECAY": 0.8}, AUTO),
    "round 7, zero padding": ({**WARMED, "FIRST_CONV_PADDING": "zeros"}, AUTO),
    "round 7, no decay (lr 0.15 to the end)": ({**ROUND7}, AUTO),  # round 7's best
    "round 7, 12 warm-up steps": ({**WARMED, "WARMUP_STEPS": 12}, AUTO),
    # what a CPU without native bf16 gets: the same steps in fp32, and as many as fit 1/10
    "round 7, fp32, 45 steps": ({**WARMED}, {"precision": "fp32", "steps": 45}),
    "round 7, best in fp32": ({**ROUND7}, {"precision": "fp32"}),
    # round 8: round 7's route lost the astronaut and the rocket (gallery), so every row is
    # scored on the gallery's three pairs (--pairs gallery). Its 1/f^1.25 spectrum moves the
    # coarsest waves 20x or more faster than a brush stroke's: the layout goes first. Here the
    # waves longer than a period are weighted like it (presets.LONGEST_PERIOD); the weights are
    # renormalised, so a short period also moves the fine waves faster: hence the lower lrs
    "round 8, longest period 128 px": ({**ROUND7, "LONGEST_PERIOD": 128}, AUTO),
    "round 8, longest period 64 px": ({**ROUND7, "LONGEST_PERIOD": 64}, AUTO),
    "round 8, longest period 64 px, lr 0.1": (
        {**ROUND7, "LONGEST_PERIOD": 64, "FOURIER_LR": 0.1},
        AUTO,
    ),
    "round 8, longest period 32 px": ({**ROUND7, "LONGEST_PERIOD": 32}, AUTO),
    "round 8, longest period 32 px, lr 0.075": (
        {**ROUND7, "LONGEST_PERIOD": 32, "FOURIER_LR": 0.075},
        AUTO,
    ),
    # ... and L-BFGS on the spectrum, from the photo: L-BFGS from the photo kept the content
    # (1.05x) but was slow on style (2.1x in 0.22x); the 1/f weights precondition it. fp32, so
    # about 45 iterations fit 1/10 of the reference at 384 px (0.9 s each)
    "round 8, L-BFGS on the spectrum, 45 iterations": (
        {**ROUND7, "FOURIER_OPTIMIZER": "lbfgs", "FOURIER_STEPS": 45},
        {},
    ),
    "round 8, L-BFGS on the spectrum up to 64 px, 45 iterations": (
        {**ROUND7, "FOURIER_OPTIMIZER": "lbfgs", "FOURIER_STEPS": 45, "LONGEST_PERIOD": 64},
        {},
    ),
    # ... and no spectrum at all: the one stage on the pixels, from the photo, as the reference,
    # but 72 bf16 steps with a larger step size (the reference's is 0.02), eased in and decayed
    "round 8, pixels, Adam lr 0.05": ({**PIXELS, "PIXEL_LR": 0.05}, AUTO),
    "round 8, pixels, Adam lr 0.1": ({**PIXELS, "PIXEL_LR": 0.1}, AUTO),
    "round 8, pixels, Adam lr 0.1 -> 0.02 over the last 40%": (
        {**PIXELS, "PIXEL_LR": 0.1, "PIXEL_LR_END": 0.02},
        AUTO,
    ),
    "round 8, pixels, Adam lr 0.15": ({**PIXELS, "PIXEL_LR": 0.15}, AUTO),
    "round 8, pixels, Adam lr 0.2": ({**PIXELS, "PIXEL_LR": 0.2}, AUTO),
    "round 8, pixels, Adam lr 0.25": ({**PIXELS, "PIXEL_LR": 0.25}, AUTO),
    "round 8, pixels, Adam lr 0.3": ({**PIXELS, "PIXEL_LR": 0.3}, AUTO),
    "round 8, pixels, Adam lr 0.15 -> 0.03 over the last 40%": (
        {**PIXELS, "PIXEL_LR": 0.15, "PIXEL_LR_END": 0.03},
        AUTO,
    ),
}
"""The documented sweep. Variants without a ``precision`` run fp32, like the reference."""


@contextlib.contextmanager
def probe(
    size: int,
    coarse_deep: float | None = None,
    final_deep: tuple | None = None,
    final_stage: tuple | None = None,
):
    """Round 6's probes, for the runs inside: ``coarse_deep`` multiplies the ``DEEP`` layers'
    style weights at every stage below ``size``; ``final_deep = (factor, k)`` splits the finest
    stage in two at the same size, the first ``k`` steps with the ``DEEP`` weights times
    ``factor``, the rest (a new optimiser) with the caller's; ``final_stage = (optimizer,
    steps, lr)`` replaces the finest stage (fp32). Nothing to probe: no change."""
    original_loss, original_plan = problem_module.Problem.loss_fn, presets.fast_plan
    finest_losses = 0

    def reweighted(problem, factor):
        other = copy.copy(problem)  # the loss closure reads layer_weights at every call
        other.layer_weights = {n: w * factor if n in DEEP else w
                               for n, w in problem.layer_weights.items()}  # fmt: skip
        return other

    def loss_fn(self, targets, dtype, checkpointing):
        nonlocal finest_losses
        at_finest = max(targets.content.shape[-2:]) == size
        finest_losses += at_finest
        if coarse_deep is not None and not at_finest:
            self = reweighted(self, coarse_deep)
        elif final_deep is not None and at_finest and finest_losses == 1:
            self = reweighted(self, final_deep[0])
        return original_loss(self, targets, dtype, checkpointing)

    def fast_plan(*args, **kwargs):
        plan = original_plan(*args, **kwargs)
        last = plan.stages[-1]
        if final_stage is not None:
            optimizer, steps, lr = final_stage
            last = dataclasses.replace(last, optimizer=optimizer, steps=steps, lr=lr)
        finest = [last]
        if final_deep is not None:
            k = final_deep[1]
            finest = [
                dataclasses.replace(last, steps=k),
                dataclasses.replace(last, steps=last.steps - k),
            ]
        return dataclasses.replace(plan, stages=(*plan.stages[:-1], *finest))

    problem_module.Problem.loss_fn = loss_fn
    if final_deep is not None or final_stage is not None:
        presets.fast_plan = fast_plan
    try:
        yield
    finally:
        problem_module.Problem.loss_fn, presets.fast_plan = original_loss, original_plan


def run_variant(name: str, scorer: Scorer, content, style, args) -> dict:
    """One variant: constants set, one ``preset="fast"`` run, constants restored."""
    constants, options = VARIANTS[name]
    options = dict(options)
    probes = {"coarse_deep": options.pop("probe_coarse_deep", None),
              "final_deep": options.pop("probe_final_deep", None),
              "final_stage": options.pop("probe_final_stage", None)}  # fmt: skip
    saved = {k: getattr(presets, k) for k in constants}
    try:
        for k, v in constants.items():
            setattr(presets, k, v)
        with probe(args.size, **probes):
            plan = presets.fast_plan(args.size, options.get("steps"),
                                     options.get("precision", "fp32"), None)  # fmt: skip
            row = run(name, scorer, content, style, 5, measured=args.measured,
                      image_size=args.size, preset="fast", **{"precision": "fp32", **options})  # fmt: skip
    finally:
        for k, v in saved.items():
            setattr(presets, k, v)
    row["plan"] = ", ".join(f"{st.size}: {st.steps} {st.optimizer} lr {st.lr:.3g}"
                            + (f" -> {st.lr_end:.3g}" if st.lr_end is not None else "")
                            + f" {st.precision}" for st in plan.stages)  # fmt: skip
    row["plan"] += f"; EMA {plan.ema_decay}"
    if plan.parameterization == "pixel":
        row["plan"] += "; pixels"
    elif plan.parameterization is not None:
        row["plan"] += f"; {plan.parameterization} 1/f^{plan.decay_power}"
        if plan.longest_period is not None:
            row["plan"] += f" up to {plan.longest_period} px"
    return row


def parse_pairs(words: list[str] | None, content: str, style: str) -> list[tuple[str, str]]:
    """``photo:painting`` words as pairs; ``gallery`` stands for ``common.PAIRS`` (the gallery's
    side-by-side sheet); none: ``content`` with ``style``."""
    pairs: list[tuple[str, str]] = []
    for word in words or [f"{content}:{style}"]:
        if word == "gallery":
            pairs.extend(PAIRS)
        elif word.count(":") == 1 and all(word.split(":")):
            pairs.append(tuple(word.split(":")))
        else:
            raise SystemExit(f"--pairs: {word!r} is not photo:painting (e.g. chelsea:starry_night) "
                             "or gallery")  # fmt: skip
    return list(dict.fromkeys(pairs))


def reference(args, pair: tuple[str, str], scorer: Scorer, content, style) -> dict:
    """500 fp32 Adam steps on ``pair``: run here, or read from ``--reference`` when it holds the
    same one. The file keeps one entry per pair, size, step count and network.

    A reused reference was timed in another process, under another load: its CPU time compares,
    its wall time less so (the final verdict is ``bench_quality.py``'s, in one process)."""
    key = {"size": args.size, "steps": args.steps, "content": pair[0], "style": pair[1],
           "measured": args.measured.words}  # fmt: skip
    path = Path(args.reference) if args.reference else None
    kept = json.loads(path.read_text()) if path is not None and path.is_file() else {}
    entries = kept.get("entries", [kept] if "key" in kept else [])  # one entry: the old format
    for entry in entries:
        if entry["key"] == key:
            print(f"# reference for {pair[0]} + {pair[1]} reused from {path}", flush=True)
            return {**entry["row"], "pair": pair}
    ref = run(f"reference: Adam, {args.steps} steps", scorer, content, style,
              max(1, args.steps // 20), measured=args.measured, image_size=args.size,
              steps=args.steps, precision="fp32")  # fmt: skip
    ref["pair"] = pair
    if path is not None:
        keep = ("name", "precision", "wall", "cpu", "content", "style", "layout", "steps")
        row = {k: ref[k] for k in keep}
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = [e for e in entries if e["key"] != key] + [{"key": key, "row": row}]
        path.write_text(json.dumps({"entries": entries}, indent=1))
    return ref


def ratios(r: dict, ref: dict) -> tuple[float, float, float]:
    """``(content, style, wall time)`` of row ``r`` against its reference."""
    return r["content"] / ref["content"], r["style"] / ref["style"], r["wall"] / ref["wall"]


def met(c: float, s: float, t: float) -> str:
    return "yes" if meets_target(c, s, t) else "no"


def line(r: dict, ref: dict) -> str:
    c, s, t = ratios(r, ref)
    return (f"| {r['name']} | {' + '.join(r['pair'])} | {r.get('plan', '')} | {r['precision']} | "
            f"{r['wall']:.1f} | {t:.3f} | {r['cpu']:.1f} | {r['cpu'] / ref['cpu']:.3f} | "
            f"{c:.3f} | {s:.3f} | {r['layout']:.2f} ({ref.get('layout', math.nan):.2f}) | "
            f"{met(c, s, t)} |")  # fmt: skip


def worst(rows: list[dict], refs: dict) -> str:
    """A variant over several pairs: its worst content and style ratios, and its time against the
    references' (summed), as one row; the target is met only if it is on every pair."""
    each = [ratios(r, refs[r["pair"]]) for r in rows]
    c, s = max(e[0] for e in each), max(e[1] for e in each)
    t = sum(r["wall"] for r in rows) / sum(refs[r["pair"]]["wall"] for r in rows)
    cpu = sum(r["cpu"] for r in rows) / sum(refs[r["pair"]]["cpu"] for r in rows)
    return (f"| **{rows[0]['name']}** | worst of {len(rows)} | | | "
            f"{sum(r['wall'] for r in rows):.1f} | {t:.3f} | {sum(r['cpu'] for r in rows):.1f} | "
            f"{cpu:.3f} | **{c:.3f}** | **{s:.3f}** | **{min(r['layout'] for r in rows):.2f}** | "
            f"{met(c, s, max(e[2] for e in each))} |")  # fmt: skip


HEAD = ("| variant | pair | plan | precision | wall s | wall vs ref | CPU s | CPU vs ref "
        "| content vs ref | style vs ref | layout (ref's) | target |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=500, help="the reference's Adam steps")
    parser.add_argument("--content", default="chelsea")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--pairs", nargs="*", default=None,
                        help="photo:painting pairs to score every variant on (default: --content "
                             "with --style); 'gallery' stands for the gallery's three pairs")  # fmt: skip
    parser.add_argument("--variants", nargs="*", default=None, choices=list(VARIANTS),
                        help="names of VARIANTS to run (default: all)")  # fmt: skip
    parser.add_argument("--json", default=None, help="write the rows here")
    parser.add_argument("--reference", default=None,
                        help="a JSON file: reuse the references kept there by an earlier sweep of "
                             "the same size, images and network (else run them and keep them there)")  # fmt: skip
    parser.add_argument("--save-images", default=None,
                        help="folder for each variant's final picture (and the reference's, "
                             "when it is run here)")  # fmt: skip
    add_arguments(parser)
    args = parser.parse_args()
    pairs = parse_pairs(args.pairs, args.content, args.style)
    args.measured = resolve(args)
    warnings.simplefilter("ignore")
    print(f"# sweep of preset='fast' at {args.size} px, "
          f"{', '.join(' + '.join(p) for p in pairs)}, {args.measured.words}; {machine()}",
          flush=True)  # fmt: skip
    folder = Path(args.save_images) if args.save_images else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    inputs, refs = {}, {}
    for pair in pairs:
        content, style = load_image(pair[0]), load_image(pair[1])
        scorer = Scorer(content, style, args.size, args.measured)
        inputs[pair] = (scorer, content, style)
        refs[pair] = ref = reference(args, pair, scorer, content, style)
        print(f"# reference, {' + '.join(pair)}: {ref['wall']:.1f} s wall, {ref['cpu']:.1f} s "
              f"CPU, content {ref['content']:.4g}, style {ref['style']:.4g}", flush=True)  # fmt: skip
        if folder is not None and "image" in ref:
            ref["image"].save(folder / f"{'-'.join(pair)}-{args.size}-reference.png")
    print(HEAD, flush=True)
    rows, lines = [], []
    for name in args.variants or VARIANTS:
        mine = []
        for pair in pairs:
            mine.append(run_variant(name, *inputs[pair], args))
            mine[-1]["pair"] = pair
            lines.append(line(mine[-1], refs[pair]))
            print(lines[-1], flush=True)
            if folder is not None:
                slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
                mine[-1]["image"].save(folder / f"{'-'.join(pair)}-{args.size}-{slug[:60]}.png")
        if len(pairs) > 1:
            lines.append(worst(mine, refs))
            print(lines[-1], flush=True)
        rows.extend(mine)
    print(f"\n{HEAD}\n" + "\n".join(lines))
    if args.json:
        keep = ("name", "pair", "plan", "precision", "wall", "cpu", "content", "style", "layout",
                "steps")  # fmt: skip
        out = {"references": [{k: r[k] for k in keep if k in r} for r in refs.values()],
               "rows": [{k: r[k] for k in keep} for r in rows]}  # fmt: skip
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
