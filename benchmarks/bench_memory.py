"""Peak memory and time per step of ``stylize``, with and without activation checkpointing.

Each measurement runs in a fresh process (peak RSS is a per-process high-water mark): it warms
up with one step at 64 px, reads its resident set, then runs ``--steps`` Adam steps at the
size asked for and reports the peak RSS above that baseline and the seconds per step (the
mean of the steps after the first). The slope between two sizes, in GiB per megapixel, is free
of the baseline.

    NST_WEIGHTS=random python benchmarks/bench_memory.py [--sizes 768 1536] [--big 3840x2160]
    NST_WEIGHTS=random python benchmarks/bench_memory.py --time 512   # time cost only

Prints a Markdown table: size, checkpointing, precision, peak RSS above baseline, the
estimate of ``nst_helpers.memory.estimate_memory`` and the seconds per step; then the slopes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

GIB = 2**30


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(height: int, width: int, checkpointing: bool, precision: str, steps: int) -> dict:
    """One measurement, in this process: peak RSS above the warmed-up baseline."""
    warnings.simplefilter("ignore")
    from PIL import Image

    from nst_helpers import estimate_memory, load_image, stylize

    content = load_image("chelsea").resize((width, height), Image.BICUBIC)
    style = load_image("brush_strokes")
    common = dict(device="cpu", seed=0, memory_check=False, precision=precision,
                  checkpointing=checkpointing)  # fmt: skip
    stylize(content, style, steps=1, image_size=64, **common)
    baseline = _rss()
    start = time.perf_counter()
    result = stylize(content, style, steps=steps, image_size=max(height, width), **common)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = [r["seconds"] for r in result.history]
    per_step = (seconds[-1] - seconds[0]) / (len(seconds) - 1) if len(seconds) > 1 else wall
    estimate = estimate_memory((height, width), precision=result.precision,
                               checkpointing=checkpointing)  # fmt: skip
    return {"h": height, "w": width, "checkpointing": checkpointing, "precision": precision,
            "peak_above_baseline": peak - baseline, "peak": peak, "estimate": estimate,
            "seconds_per_step": per_step}  # fmt: skip


def time_cost(side: int, rounds: int, steps: int) -> dict[bool, float]:
    """Seconds per Adam step without and with checkpointing, interleaved in this process.

    The best of ``rounds`` alternating runs each (the least disturbed by other work)."""
    warnings.simplefilter("ignore")
    from nst_helpers import stylize

    best = {False: float("inf"), True: float("inf")}
    for _ in range(rounds):
        for ck in (False, True):
            r = stylize("chelsea", "brush_strokes", steps=steps, image_size=side, device="cpu",
                        seed=0, memory_check=False, checkpointing=ck)  # fmt: skip
            s = [h["seconds"] for h in r.history]
            best[ck] = min(best[ck], (s[-1] - s[0]) / (len(s) - 1))
    return best


def measure(height: int, width: int, checkpointing: bool, precision: str, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--child", f"{height}x{width}", str(int(checkpointing)),
           precision, str(steps)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _hw(text: str) -> tuple[int, int]:
    """``"WxH"`` or a square side -> ``(H, W)``."""
    if "x" in text:
        w, h = text.split("x")
        return int(h), int(w)
    return int(text), int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", default=["768", "1536"], help="sides or WxH")
    parser.add_argument("--big", default=None, help="one more size, checkpointed only (3840x2160)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--no-baseline-runs", action="store_true",
                        help="skip the runs without checkpointing")  # fmt: skip
    parser.add_argument(
        "--time",
        type=int,
        default=None,
        metavar="SIDE",
        help="only time a step with and without checkpointing at SIDE px",
    )
    args = parser.parse_args()
    if args.time:
        best = time_cost(args.time, rounds=3, steps=max(args.steps, 2))
        print(f"{args.time} px, s/step: without {best[False]:.3f}, with checkpointing "
              f"{best[True]:.3f} ({best[True] / best[False]:.2f}x)")  # fmt: skip
        return
    if args.child:
        hw, ck, precision, steps = args.child
        h, w = (int(v) for v in hw.split("x"))
        print(json.dumps(child(h, w, bool(int(ck)), precision, int(steps))))
        return

    rows = []
    for precision in args.precisions:
        for ck in (False, True) if not args.no_baseline_runs else (True,):
            for text in args.sizes:
                rows.append(measure(*_hw(text), ck, precision, args.steps))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        if args.big:
            rows.append(measure(*_hw(args.big), True, precision, args.steps))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        "| size (W x H) | checkpointing | precision | peak RSS above baseline | estimate | s/step |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['w']}x{r['h']} | {r['checkpointing']} | {r['precision']} | "
              f"{r['peak_above_baseline'] / GIB:.2f} GiB (total {r['peak'] / GIB:.2f}) | "
              f"{r['estimate'] / GIB:.2f} GiB | {r['seconds_per_step']:.2f} |")  # fmt: skip
    print()
    for precision in args.precisions:
        for ck in (False, True):
            sizes = [_hw(t) for t in args.sizes]
            pts = [r for r in rows if r["precision"] == precision and r["checkpointing"] == ck
                   and (r["h"], r["w"]) in sizes]  # fmt: skip
            if len(pts) >= 2:
                a, b = pts[0], pts[-1]
                mp = (b["h"] * b["w"] - a["h"] * a["w"]) / 1e6
                slope = (b["peak"] - a["peak"]) / GIB / mp
                est = (b["estimate"] - a["estimate"]) / GIB / mp
                print(f"{precision}, checkpointing={ck}: {slope:.2f} GiB per megapixel "
                      f"(estimate {est:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
