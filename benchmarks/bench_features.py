"""What does each "beyond the paper" feature of ``stylize`` cost? One run per feature.

Every run uses the same images, size, seed and number of Adam steps as the baseline and
changes one keyword. Prints a Markdown table: wall seconds, median milliseconds per step, the
ratio to the baseline, and peak memory: measured on CUDA (``torch.cuda.max_memory_allocated``),
otherwise the ``estimate_memory`` model (the table says which).

    NST_WEIGHTS=random python benchmarks/bench_features.py [--size 256] [--steps 20]
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import numpy as np
import torch

from nst_helpers import estimate_memory, stylize
from nst_helpers.devices import resolve_device
from nst_helpers.features import load_vgg19

FEATURES: dict[str, dict[str, Any]] = {
    "baseline": {},
    "tv_weight=1": {"tv_weight": 1.0},
    "preserve_color=luminance": {"preserve_color": "luminance"},
    "preserve_color=histogram": {"preserve_color": "histogram"},
    "two styles 50/50": {"style": ["brush_strokes", "mosaic"], "style_blend": [0.5, 0.5]},
    "style_scale=0.5": {"style_scale": 0.5},
    "style_scale=2": {"style_scale": 2.0},
    "pooling=avg": {"pooling": "avg"},
    "scales (1/2, 3/4, 1)": {"scales": "coarse-to-fine"},
    "parameterization=fourier": {"parameterization": "fourier"},
    "deep style layers only": {"style_layer_weights": [0, 0, 0, 0.5, 0.5]},
    "precision=auto": {"precision": "auto"},
}


def run(options: dict[str, Any], device: torch.device) -> dict[str, float | str]:
    """One ``stylize`` call; returns seconds, median seconds per step and memory bytes."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = stylize(**options)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    stamps = [0.0] + [r["seconds"] for r in result.history]
    if device.type == "cuda":
        memory, how = torch.cuda.max_memory_allocated(), "measured"
    else:
        s = result.settings
        memory = estimate_memory(
            result.image.size[::-1], content_layers=s["content_layers"],
            style_layers=s["style_layers"], precision=s["precision"], optimizer=s["optimizer"],
            pooling=s["pooling"], parameterization=s["parameterization"], n_styles=len(s["style"]),
        )  # fmt: skip
        how = "estimated"
    return {"seconds": seconds, "per_step": float(np.median(np.diff(stamps))), "memory": memory,
            "how": how}  # fmt: skip


def main() -> None:
    """Parse arguments, run every feature once, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="output's longest side (px)")
    parser.add_argument("--steps", type=int, default=20, help="Adam steps per run")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    args = parser.parse_args()
    device = resolve_device(args.device)
    base = dict(content="chelsea", style="brush_strokes", image_size=args.size, steps=args.steps,
                seed=0, device=device)  # fmt: skip
    load_vgg19(device=device)  # no run pays for loading the network ...
    stylize(**{**base, "steps": 1})  # ... or for one-off kernel selection and caches
    scales = [args.size // 2, args.size * 3 // 4, args.size]
    print(f"device {device} ({platform.processor() or platform.machine()}), torch "
          f"{torch.__version__}, {args.size} px, {args.steps} steps\n")  # fmt: skip
    print("| feature | seconds | vs baseline | ms/step (median) | memory (MiB) |")
    print("|---|---|---|---|---|")
    baseline = None
    for name, change in FEATURES.items():
        if change.get("scales") == "coarse-to-fine":
            change = {"scales": scales}
        r = run({**base, **change}, device)
        baseline = baseline or r["seconds"]
        print(f"| {name} | {r['seconds']:.2f} | {r['seconds'] / baseline:.2f}x | "
              f"{r['per_step'] * 1000:.0f} | {r['memory'] / 2**20:.0f} ({r['how']}) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
