"""Time to quality: how soon does each recipe reach a finished picture? Timed in one process.

Four recipes on the same images at the same output size, each scored by the same independent
measures, computed at the output size by a plain fp32 VGG19 (zero padding, max pooling) that
none of the runs shares state with:

* **content distance** at ``relu4_2``: ``||F - P||^2 / ||P||^2`` (output vs photo);
* **style distance**: the normalised Gram distance ``||G - A||^2 / ||A||^2`` averaged over
  ``relu1_1 ... relu5_1`` (Grams divided by their number of positions, so the style image's
  size does not matter).

Recipes: the report's (``stylize`` defaults: Adam from the photo, one scale, fp32) for
``--steps`` steps; ``preset="fast"`` with its own schedule; L-BFGS and plain two-scale Adam
with a fifth of the steps. Snapshots along each run give the measures against seconds.

    NST_WEIGHTS=random python benchmarks/bench_quality.py [--size 256] [--steps 500]
        [--plot outputs/bench_quality.png]

Prints a Markdown table (wall and CPU seconds, their ratios to the reference, both measures
and their ratios to the reference's final values; on a machine shared with other work the
CPU time of this process is the steadier clock) and writes the plot of both measures against seconds.
With random weights (``NST_WEIGHTS=random``) the measures are still well defined, but the
pictures are not paintings: the numbers say how fast each recipe optimises, not how good it
looks.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import torch
from PIL import Image

from nst_helpers import image_to_tensor, load_image, stylize
from nst_helpers.features import FeatureExtractor
from nst_helpers.losses import gram_matrix

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class Scorer:
    """The independent measures, against one photo and one painting at one output size."""

    def __init__(self, content: Image.Image, style: Image.Image, size: int) -> None:
        self.net = FeatureExtractor([CONTENT_LAYER, *STYLE_LAYERS])
        self.size = size
        with torch.no_grad():
            photo = self.net(image_to_tensor(content, size))
            art = self.net(image_to_tensor(style, size))
        self.shape = image_to_tensor(content, size).shape[-2:]
        self.p = photo[CONTENT_LAYER]
        self.grams = {n: self._gram(art[n]) for n in STYLE_LAYERS}

    @staticmethod
    def _gram(f: torch.Tensor) -> torch.Tensor:
        return gram_matrix(f) / (f.shape[-2] * f.shape[-1])

    @torch.no_grad()
    def __call__(self, image: Image.Image) -> tuple[float, float]:
        """``(content distance, style distance)`` of ``image``, resized to the output size."""
        x = image_to_tensor(image, tuple(self.shape))
        f = self.net(x)
        content = ((f[CONTENT_LAYER] - self.p).pow(2).sum() / self.p.pow(2).sum()).item()
        style = sum(
            ((self._gram(f[n]) - a).pow(2).sum() / a.pow(2).sum()).item()
            for n, a in self.grams.items()
        ) / len(STYLE_LAYERS)
        return content, style


def run(name: str, scorer: Scorer, content, style, every: int, **options) -> dict:
    """One recipe: wall time of the whole call, then its snapshots scored against seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    result = stylize(content, style, seed=0, device="cpu", snapshot_every=every, **options)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    seconds = {r["step"]: r["seconds"] for r in result.history}
    curve = [(seconds[s], *scorer(img)) for s, img in sorted(result.snapshots.items())]
    final = scorer(result.image)
    return {"name": name, "wall": wall, "cpu": cpu, "steps": len(result.history), "curve": curve,
            "content": final[0], "style": final[1],
            "precision": "+".join(dict.fromkeys(result.settings.get("precisions",
                                                                    [result.precision])))}  # fmt: skip


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for row in rows:
        t = [c[0] for c in row["curve"]]
        for ax, i in zip(axes, (1, 2), strict=True):
            ax.plot(t, [c[i] for c in row["curve"]], marker=".", label=row["name"])
    for ax, title in zip(axes, ("content distance (relu4_2)", "style distance (Gram)"),
                         strict=True):  # fmt: skip
        ax.set(xlabel="seconds", title=title, yscale="log")
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=500, help="the reference's Adam steps")
    parser.add_argument("--content", default="chelsea")
    parser.add_argument("--style", default="brush_strokes")
    parser.add_argument("--plot", default="outputs/bench_quality.png")
    parser.add_argument("--only", nargs="*", default=None, help="recipes to run (names)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    content, style = load_image(args.content), load_image(args.style)
    scorer = Scorer(content, style, args.size)
    n = args.steps
    # The report's recipe and the other plain recipes run fp32, as the report did (the library's
    # default precision is "auto", bf16 on some CPUs); the preset is measured both ways.
    recipes = {
        f"report recipe: Adam, {n} steps": dict(steps=n, precision="fp32"),
        "preset='fast'": dict(preset="fast"),
        "preset='fast', fp32": dict(preset="fast", precision="fp32"),
        f"L-BFGS, {n // 5} steps": dict(steps=n // 5, optimizer="lbfgs", precision="fp32"),
        f"Adam 2 scales, {n // 5} steps": dict(
            steps=n // 5, scales=[args.size // 2, args.size], precision="fp32"
        ),
    }
    rows = []
    for name, options in recipes.items():
        if args.only and not any(o in name for o in args.only) and rows:
            continue
        every_here = 5 if "preset" in name else max(1, options["steps"] // 20)
        rows.append(run(name, scorer, content, style, every_here, image_size=args.size, **options))
        r = rows[-1]
        print(f"# {r['name']}: {r['wall']:.1f} s, content {r['content']:.4g}, "
              f"style {r['style']:.4g}", flush=True)  # fmt: skip
    ref = rows[0]
    print(f"\n{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"{args.size} px, {args.content} + {args.style}, weights from NST_WEIGHTS\n")  # fmt: skip
    print("| recipe | precision | steps | wall s | wall vs ref | CPU s | CPU vs ref | content "
          "| vs ref | style | vs ref |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['precision']} | {r['steps']} | {r['wall']:.1f} | "
              f"{r['wall'] / ref['wall']:.3f} | {r['cpu']:.1f} | {r['cpu'] / ref['cpu']:.3f} | "
              f"{r['content']:.4g} | {r['content'] / ref['content']:.3f} | {r['style']:.4g} | "
              f"{r['style'] / ref['style']:.3f} |")  # fmt: skip
    if args.plot:
        plot(rows, Path(args.plot))
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
