"""Time to quality: how soon does each recipe reach a finished picture? Timed in one process.

Every recipe runs on the same photo and painting at the same output size and is scored by the
same ruler, the benchmark's own, computed from the features by a plain fp32 network (zero
padding, max pooling; the measured network and weights, see ``benchmarks/common.py``) that
none of the runs shares state with, never from an optimiser's own loss:

* **content distance** at ``relu4_2``: ``||F - P||^2 / ||P||^2`` (output vs photo);
* **style distance**: the normalised Gram distance ``||G - A||^2 / ||A||^2`` averaged over
  ``relu1_1 ... relu5_1`` (Grams divided by their number of positions, so the style image's
  size does not matter);
* **layout** (not part of the target; round 8 of ``sweep_fast.py``): the correlation of the
  output's luminance with the photo's, both box-averaged to ``LAYOUT_SIDE`` px on the long side.
  1 keeps where the photo is light and dark; the 500-step reference scores about 0.9-0.98.
  Round 7's Fourier route scored 0.19-0.24 with a content distance only 1.13-1.3x the
  reference's: ``relu4_2`` did not see that the cat had turned blue and the rocket a blob.

Recipes, at the sizes in ``--curves`` (all five) and the other ``--sizes`` (the reference and
``fast`` only):

* **the report's recipe**: ``stylize``'s defaults (Adam from the photo, lr 0.02, one scale),
  fp32, ``--report-steps`` (4000) steps, stopped early at ``--report-cap`` of wall time
  if given (then its 4000-step time is extrapolated from the measured median step and said so);
* **500 Adam steps** (``--steps``), the reference of the target: the report's run after its
  500th step. Adam's learning rate is constant, so a 500-step run *is* the first 500 steps of
  the 4000-step one (same seed: identical pixels, checked when this was written); its time is
  the wall and CPU time from the call's start to the end of step 500, set-up included;
* ``preset="fast"``, its own precision (``auto``) and fp32;
* plain L-BFGS from the photo and plain two-scale Adam (half size, then full), fp32, with a
  fifth of the reference's steps.

Wall and CPU time are taken in a callback after every step (snapshots are scored after the run,
untimed), so each curve is distance against the seconds a user would have waited.

``--device cuda`` (or ``mps``) runs everything there, the ruler included; on CUDA each step's
time is read after a synchronise, and a few untimed steps of every kind warm the device up
first (see ``warm_up``). ``--auto-reference`` adds the reference's steps in ``precision="auto"``
(bf16 on a recent GPU). ``benchmarks/gpu_quality.sh`` is the run made on a lent GPU.

    python benchmarks/bench_quality.py --sizes 384,512 --curves 384 --threads 1 \\
        --report-cap 1.6x --plot docs/images/time_to_quality.png

Prints one Markdown table per size (ratios against the 500-step reference) and the target's
verdict: ``fast`` at most 1.05x the reference's content and style distances in at most 1/10 of
its wall time. ``--json`` keeps every number and curve; ``--save-images`` the final pictures.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import textwrap
import warnings
from pathlib import Path

import numpy as np
import torch
from common import Clock, Measured, add_arguments, machine, resolve
from PIL import Image

from nst_helpers import image_to_tensor, load_image, stylize
from nst_helpers.devices import resolve_device, synchronize
from nst_helpers.features import FeatureExtractor
from nst_helpers.losses import gram_matrix
from nst_helpers.optimize import presets

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
TARGET_RATIO, TARGET_TIME = 1.05, 0.10
LAYOUT_SIDE = 32
"""Pixels on the long side of the luminance maps that ``Scorer.layout`` correlates."""
LUMA = (0.299, 0.587, 0.114)
"""Rec. 601 luma weights of R, G, B."""


def meets_target(content: float, style: float, wall: float) -> bool:
    """Issue 19's target, from ratios against the reference: both distances at most
    ``TARGET_RATIO`` in at most ``TARGET_TIME`` of its wall time."""
    return content <= TARGET_RATIO and style <= TARGET_RATIO and wall <= TARGET_TIME


def luminance(image: Image.Image, shape: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``shape`` ``(H, W)``, box-averaged to ``LAYOUT_SIDE`` px on its long
    side: its luma ``[h, w]`` in [0, 1], float64."""
    h, w = shape
    small = (max(1, round(w * LAYOUT_SIDE / max(h, w))), max(1, round(h * LAYOUT_SIDE / max(h, w))))
    image = image.convert("RGB").resize((w, h), Image.BICUBIC).resize(small, Image.BOX)
    return np.asarray(image, dtype=np.float64) @ np.array(LUMA) / 255.0


class Scorer:
    """The benchmark's ruler, against one photo and one painting at one output size."""

    def __init__(self, content: Image.Image, style: Image.Image, size: int, measured: Measured,
                 device: str = "cpu"):  # fmt: skip
        self.device = device
        self.net = FeatureExtractor([CONTENT_LAYER, *STYLE_LAYERS], device=device,
                                    **measured.options)  # fmt: skip
        photo_x = image_to_tensor(content, size, device)
        self.shape = tuple(photo_x.shape[-2:])
        with torch.no_grad():
            photo, art = self.net(photo_x), self.net(image_to_tensor(style, size, device))
        self.p = photo[CONTENT_LAYER]
        self.grams = {n: self._gram(art[n]) for n in STYLE_LAYERS}
        self.photo_luma = luminance(content, self.shape)

    @staticmethod
    def _gram(f: torch.Tensor) -> torch.Tensor:
        return gram_matrix(f) / (f.shape[-2] * f.shape[-1])

    @torch.no_grad()
    def __call__(self, image: Image.Image) -> tuple[float, float]:
        """``(content distance, style distance)`` of ``image``, resized to the output size."""
        f = self.net(image_to_tensor(image, self.shape, self.device))
        content = ((f[CONTENT_LAYER] - self.p).pow(2).sum() / self.p.pow(2).sum()).item()
        style = sum(
            ((self._gram(f[n]) - a).pow(2).sum() / a.pow(2).sum()).item()
            for n, a in self.grams.items()
        ) / len(STYLE_LAYERS)
        return content, style

    def layout(self, image: Image.Image) -> float:
        """Correlation of ``image``'s coarse luminance with the photo's (1: the same layout of
        light and dark; a flat image: 0). See the module docstring."""
        a, b = self.photo_luma.ravel(), luminance(image, self.shape).ravel()
        a, b = a - a.mean(), b - b.mean()
        denominator = math.sqrt((a @ a) * (b @ b))
        return float(a @ b / denominator) if denominator > 0 else 0.0


def run(name: str, scorer: Scorer, content, style, every: int, *, measured: Measured,
        cap: str | None = None, min_steps: int = 0, device: str = "cpu", **options) -> dict:  # fmt: skip
    """One recipe, timed per step; then its snapshots scored. ``cap`` stops it once ``min_steps``
    are done and that much wall time has passed: seconds (``"900"``), or a multiple of the wall
    time at ``min_steps`` (``"1.6x"``). On a GPU each step's time is read after a
    synchronise, so it counts the kernels the step queued, not only their launch."""
    sync = functools.partial(synchronize, torch.device(device))
    sync()  # a GPU's queued work from the last recipe is not this one's
    clock, marks, deadline = Clock(), {}, None
    if cap is not None and not cap.endswith("x"):
        deadline = float(cap)

    def tick(record: dict) -> bool:
        nonlocal deadline
        sync()
        marks[record["step"]] = (clock.wall, clock.cpu)
        if cap is not None and cap.endswith("x") and record["step"] == min_steps:
            deadline = clock.wall * float(cap[:-1])
        return not (deadline is not None and record["step"] >= min_steps and clock.wall > deadline)

    result = stylize(content, style, seed=0, device=device, snapshot_every=every, callback=tick,
                     **measured.options, **options)  # fmt: skip
    sync()
    wall, cpu = clock.wall, clock.cpu
    curve = [(s, *marks[s], *scorer(img)) for s, img in sorted(result.snapshots.items())]
    final = scorer(result.image)
    steps = sorted(marks)
    per_step = [(marks[b][0] - marks[a][0], marks[b][1] - marks[a][1])
                for a, b in zip(steps[5:], steps[6:], strict=False)]  # fmt: skip
    precisions = result.settings.get("precisions", [result.precision])
    return {
        "name": name, "wall": wall, "cpu": cpu, "steps": len(result.history),
        "interrupted": result.interrupted, "curve": curve, "marks": marks,
        "content": final[0], "style": final[1], "layout": scorer.layout(result.image),
        "image": result.image,
        "snapshots": result.snapshots, "precision": "+".join(dict.fromkeys(precisions)),
        "step_wall": statistics.median(p[0] for p in per_step) if per_step else math.nan,
        "step_cpu": statistics.median(p[1] for p in per_step) if per_step else math.nan,
    }  # fmt: skip


def prefix(row: dict, steps: int, name: str, scorer: Scorer) -> dict:
    """The row of the same run stopped after ``steps`` steps (its snapshot and clock there)."""
    s, wall, cpu, content, style = next(c for c in row["curve"] if c[0] == steps)
    image = row["snapshots"][s]
    return {**row, "name": name, "steps": s, "wall": wall, "cpu": cpu, "content": content,
            "style": style, "layout": scorer.layout(image), "image": image, "interrupted": False,
            "curve": [c for c in row["curve"] if c[0] <= steps]}  # fmt: skip


def extrapolated(row: dict, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``steps`` steps of ``row``'s recipe: set-up (the time before its
    first step) plus ``steps`` of its median measured step."""
    first = row["marks"][min(row["marks"])]
    setup = (first[0] - row["step_wall"], first[1] - row["step_cpu"])
    return setup[0] + steps * row["step_wall"], setup[1] + steps * row["step_cpu"]


def recipes(size: int, n: int, report_steps: int, curves: bool, auto: bool = False
            ) -> dict[str, dict]:  # fmt: skip
    """``{name: stylize options}`` for one size (``curves``: all five recipes; ``auto``: the
    reference's steps again in the device's own precision, bf16 on a recent GPU)."""
    out = {f"report recipe: Adam, {report_steps} steps": dict(steps=report_steps, precision="fp32")}
    if not curves:
        out = {f"Adam, {n} steps": dict(steps=n, precision="fp32")}
    if auto:
        out[f"Adam, {n} steps, precision='auto'"] = dict(steps=n, precision="auto")
    out["preset='fast'"] = dict(preset="fast")
    out["preset='fast', fp32"] = dict(preset="fast", precision="fp32")
    if curves:
        out[f"L-BFGS, {n // 5} steps"] = dict(steps=n // 5, optimizer="lbfgs", precision="fp32")
        out[f"Adam 2 scales ({size // 2}, {size}), {n // 5} steps"] = dict(
            steps=n // 5, scales=[size // 2, size], precision="fp32"
        )
    return out


def bench_size(size: int, args: argparse.Namespace, content, style) -> list[dict]:
    """Every recipe at one size; the first row is the 500-step reference."""
    scorer = Scorer(content, style, size, args.measured, args.device)
    if args.device != "cpu":
        warm_up(content, style, size, args)
    curves = size in args.curves
    rows: list[dict] = []
    recipe = recipes(size, args.steps, args.report_steps, curves, args.auto_reference)
    for name, options in recipe.items():
        every = 5 if "preset" in name else max(1, args.steps // 20)
        cap = args.report_cap if name.startswith("report") else None
        row = run(name, scorer, content, style, every, measured=args.measured, cap=cap,
                  min_steps=args.steps, image_size=size, device=args.device, **options)  # fmt: skip
        if name.startswith("report"):
            rows.append(prefix(row, args.steps, f"Adam, {args.steps} steps (the report's run "
                                                f"after step {args.steps})", scorer))  # fmt: skip
            if row["interrupted"]:
                row["name"] = (
                    f"report recipe: Adam, stopped at {row['steps']} of {args.report_steps}"
                )
                row["wall_full"], row["cpu_full"] = extrapolated(row, args.report_steps)
        rows.append(row)
        print(f"# {size} px, {row['name']}: {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU, "
              f"content {row['content']:.4g}, style {row['style']:.4g}", flush=True)  # fmt: skip
    if not curves:
        rows[0]["name"] = f"Adam, {args.steps} steps (reference)"
    return rows


def warm_up(content, style, size: int, args: argparse.Namespace) -> None:
    """Untimed, on a GPU: a few steps of every precision and of ``fast``'s scales, so that the
    first recipe timed does not pay for the CUDA context, the libraries' start-up and the
    convolution autotuning that every later one gets for free (4.3 s of the first 25 steps,
    measured on an H200 before this was added)."""
    clock = Clock()
    for options in (dict(precision="fp32"), dict(precision="auto"),
                    dict(preset="fast", steps=20), dict(optimizer="lbfgs", steps=2)):  # fmt: skip
        stylize(content, style, **{"steps": 3, **options}, image_size=size, seed=0,
                device=args.device, progress=False, **args.measured.options)  # fmt: skip
    synchronize(torch.device(args.device))
    print(f"# {size} px, warm-up (untimed): {clock.wall:.1f} s", flush=True)


def table(rows: list[dict]) -> str:
    """One size's rows as the README's Markdown table (ratios against ``rows[0]``)."""
    ref = rows[0]
    lines = ["| recipe | precision | steps | wall s | wall vs ref | CPU s | CPU vs ref | content "
             "| vs ref | style | vs ref | layout |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['precision']} | {r['steps']} | {r['wall']:.1f} | "
            f"{r['wall'] / ref['wall']:.3f} | {r['cpu']:.1f} | {r['cpu'] / ref['cpu']:.3f} | "
            f"{r['content']:.4g} | {r['content'] / ref['content']:.3f} | {r['style']:.4g} | "
            f"{r['style'] / ref['style']:.3f} | {r['layout']:.3f} |"
        )
    for r in rows:
        if "wall_full" in r:
            lines.append(f"\n{r['name']}: {r['steps']} steps in {r['wall']:.0f} s wall; "
                         f"{r['step_wall']:.2f} s wall ({r['step_cpu']:.2f} s CPU) per step, so "
                         f"all 4000 steps would take about {r['wall_full'] / 60:.0f} min wall "
                         f"({r['cpu_full'] / 60:.0f} min CPU): extrapolated, not run.")  # fmt: skip
    return "\n".join(lines)


def verdict(rows: list[dict], size: int) -> str:
    """The target, for each ``fast`` row: met, or by how much it is missed."""
    ref, out = rows[0], []
    for r in rows:
        if "fast" not in r["name"]:
            continue
        c, s = r["content"] / ref["content"], r["style"] / ref["style"]
        t_wall, t_cpu = r["wall"] / ref["wall"], r["cpu"] / ref["cpu"]
        ok = meets_target(c, s, t_wall)
        out.append(f"{size} px, {r['name']}: content {c:.3f}x, style {s:.3f}x in {t_wall:.3f}x "
                   f"the wall time ({t_cpu:.3f}x the CPU time): target "
                   f"{'MET' if ok else 'not met'} (<= {TARGET_RATIO}x both, <= {TARGET_TIME}x "
                   "wall time)")  # fmt: skip
    return "\n".join(out)


def plot(rows: list[dict], path: Path, caption: str, device: str = "cpu") -> None:
    """Both distances against wall seconds, one line per recipe (log-log)."""
    where = "this 2-core CPU, shared" if device == "cpu" else device
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for row in rows[1:]:  # rows[0] (500 steps) is the first part of the report's curve
        t = [c[1] for c in row["curve"]]
        for ax, i in zip(axes, (3, 4), strict=True):
            ax.plot(t, [c[i] for c in row["curve"]], marker=".", ms=3, label=row["name"])
    ref = rows[0]
    for ax, value in zip(axes, (ref["content"], ref["style"]), strict=True):
        ax.axhline(TARGET_RATIO * value, color="grey", ls=":", lw=1)
        ax.axvline(TARGET_TIME * ref["wall"], color="grey", ls=":", lw=1)
        ax.plot([ref["wall"]], [value], "k*", ms=10, label=f"after {ref['steps']} Adam steps")
    for ax, title in zip(axes, ("content distance (relu4_2)", "style distance (Gram, relu1_1..5_1)"),
                         strict=True):  # fmt: skip
        ax.set(xlabel=f"wall seconds ({where})", title=title, xscale="log", yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=7)
    fig.suptitle(textwrap.fill(caption, 140), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def to_json(rows: dict[int, list[dict]]) -> dict:
    """The numbers and curves (no images) by size."""
    skip = {"image", "snapshots", "marks"}
    return {str(size): [{k: v for k, v in r.items() if k not in skip} for r in rs]
            for size, rs in rows.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256", help="output sizes, e.g. 384,512")
    parser.add_argument("--curves", default=None,
                        help="sizes that run all five recipes (default: the first size)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=500, help="the reference's Adam steps")
    parser.add_argument("--report-steps", type=int, default=4000)
    parser.add_argument("--report-cap", default=None,
                        help="stop the report's recipe (after --steps) at this wall time: seconds, "
                             "or e.g. 1.6x its time at --steps")  # fmt: skip
    parser.add_argument("--content", default="chelsea")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--plot", default="outputs/bench_quality.png")
    parser.add_argument("--json", default=None, help="write every number and curve here")
    parser.add_argument("--save-images", default=None, help="folder for the final pictures")
    parser.add_argument("--auto-reference", action="store_true",
                        help="also the reference's Adam steps in precision='auto' (bf16 on a GPU)")  # fmt: skip
    parser.add_argument("--device", default="cpu",
                        help="cpu (the README's numbers), cuda or mps; the ruler runs there too")  # fmt: skip
    parser.add_argument("--fast-route", default=None, choices=presets.ROUTES,
                        help="the shape preset='fast' takes here (presets.ROUTE; default: the "
                             "preset's own)")  # fmt: skip
    add_arguments(parser)
    args = parser.parse_args()
    if args.fast_route is not None:
        presets.ROUTE = args.fast_route
    args.measured = resolve(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    args.curves = [int(s) for s in (args.curves or str(sizes[0])).split(",")]
    warnings.simplefilter("ignore")
    content, style = load_image(args.content), load_image(args.style)
    args.device = str(resolve_device(args.device))
    caption = f"{args.content} + {args.style}, {args.measured.words}; {machine(args.device)}"
    print(f"# {caption}", flush=True)
    results = {size: bench_size(size, args, content, style) for size in sizes}
    for size, rows in results.items():
        print(f"\n### {size} px\n\n{table(rows)}\n\n{verdict(rows, size)}")
    if args.plot:
        size = args.curves[0]
        plot(results[size], Path(args.plot), f"{size} px, {caption}", args.device)
        print(f"\nplot: {args.plot}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"caption": caption, "rows": to_json(results)}, indent=1)
        )
    if args.save_images:
        folder = Path(args.save_images)
        folder.mkdir(parents=True, exist_ok=True)
        for size, rows in results.items():
            for r in rows:
                key = (
                    "fast" if r["name"] == "preset='fast'" else "adam500" if r is rows[0] else None
                )
                if key:
                    r["image"].save(folder / f"{args.content}-{args.style}-{size}-{key}.png")


if __name__ == "__main__":
    main()
