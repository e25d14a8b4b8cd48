"""Calibrate ``style_weight``: sweep beta and print where each run ends, at two sizes.

For every beta (alpha = 1, all other options at their defaults: relu layers, relative
normalisation, Adam from the content photo) it prints the end state of one seeded run:

* ``ratio``: the weighted balance ``beta * L_style / (alpha * L_content)`` of the last step
  (the PyTorch tutorial's published 300-step run ends at 0.264 / 2.358 = 0.11);
* ``d_content``: ``||F - P|| / ||P||`` at the content layer, how far the features moved from
  the photo's (0: the photo itself);
* ``d_style``: ``sqrt(sum_l w_l ||G_l - A_l||^2 / ||A_l||^2)``, how far the Gram matrices are
  from the painting's, with ``d_style`` at the start for reference;
* each style layer's share of the style term, in percent.

Then it names the beta that ``nst_helpers.balance.choose_style_weight`` picks: among the betas
whose final ``d_style`` is within ``--tolerance`` (2x) of the best in the sweep at every size
(past the knee: enough style), the one whose end ratio is nearest the tutorial's 0.11. That is
the procedure behind the README's calibration table.

    # here, offline: trained VGG16 features (weights=hed, network vgg16), one thread, niced:
    nice python benchmarks/calibrate.py --sizes 128,256 --threads 1
    # the history (random weights; the README keeps that table labelled as such):
    NST_WEIGHTS=random nice python benchmarks/calibrate.py --sizes 64,128 --style brush_strokes
    # on Colab with a GPU and the ImageNet VGG19 weights, one command (10 runs):
    NST_WEIGHTS=imagenet python benchmarks/calibrate.py

Weights default to the library's default (offline: ``hed``), the network to ``vgg16`` with
``hed`` (see ``benchmarks/common.py``).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

from common import add_arguments, machine, resolve

from nst_helpers import stylize
from nst_helpers.balance import TUTORIAL_RATIO, choose_style_weight, layer_shares, weighted_ratio
from nst_helpers.config import DEFAULTS


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def sweep(args: argparse.Namespace) -> dict[int, list[dict]]:
    """``{size: [row per beta]}``; a row holds beta, the end-state numbers and the seconds."""
    rows: dict[int, list[dict]] = {}
    for size in args.sizes:
        rows[size] = []
        for beta in args.betas:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the random-weights warning: said in the header
                result = stylize(
                    args.content, args.style, steps=args.steps, image_size=size,
                    style_weight=beta, seed=0, device=args.device, precision=args.precision,
                    **args.measured.options,
                )  # fmt: skip
            first, last = result.history[0], result.history[-1]
            rows[size].append({
                "beta": beta, "ratio": weighted_ratio(last, result.settings),
                "d_content": math.sqrt(last["content"]), "d_style": math.sqrt(last["style"]),
                "d_style_start": math.sqrt(first["style"]), "shares": layer_shares(last),
                "seconds": time.perf_counter() - t0, "precision": result.precision,
            })  # fmt: skip
            row = rows[size][-1]
            print(f"  {size} px, beta {beta:g}: ratio {row['ratio']:.3g}, "
                  f"d_style {row['d_style']:.3f} ({row['seconds']:.0f} s)", flush=True)  # fmt: skip
    return rows


def table(rows: dict[int, list[dict]]) -> str:
    """The sweep as a Markdown table (what the README records)."""
    layers = list(next(iter(rows.values()))[0]["shares"])
    head = ["size", "beta", "ratio", "d_content", "d_style (start)"] + [f"{n} %" for n in layers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for size, runs in rows.items():
        for r in runs:
            cells = [str(size), f"{r['beta']:g}", f"{r['ratio']:.3g}", f"{r['d_content']:.3f}",
                     f"{r['d_style']:.3f} ({r['d_style_start']:.3f})"]  # fmt: skip
            cells += [f"{100 * r['shares'][n]:.0f}" for n in layers]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda t: [int(v) for v in t.split(",")],
                        default=[256, 512], help="two (or more) image sizes")  # fmt: skip
    parser.add_argument("--betas", type=_floats, default=[0.1, 1, 10, 100, 1000])
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per run")
    parser.add_argument("--content", default="chelsea")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--device", default=DEFAULTS.device)
    parser.add_argument("--precision", default=DEFAULTS.precision)
    parser.add_argument("--tolerance", type=float, default=2.0)
    add_arguments(parser)
    args = parser.parse_args()
    args.measured = resolve(args)
    print(f"# calibrate: {args.content} + {args.style}, {args.steps} Adam steps, "
          f"{args.measured.words}; defaults except style_weight\n# {machine()}", flush=True)  # fmt: skip
    rows = sweep(args)
    print(f"\nprecision: {next(iter(rows.values()))[0]['precision']}")
    print()
    print(table(rows))
    print()
    best = choose_style_weight(rows, tolerance=args.tolerance)
    print(f"chosen: style_weight = {best:g} (end ratio nearest the PyTorch tutorial's "
          f"{TUTORIAL_RATIO:.2f} among betas whose d_style is within {args.tolerance:g}x of the "
          f"best at every size); current default {DEFAULTS.style_weight:g}")  # fmt: skip


if __name__ == "__main__":
    main()
