"""Seconds per image: optimisation (``stylize``) against a feed-forward ``TransformerNet``.

For each size, ``stylize`` runs ``--opt-steps`` Adam steps (timed after a warm-up; scaled to
``--nominal-steps``, the steps a result needs, when fewer are run) and the network stylises the
same photo (median of ``--repeats`` runs after a warm-up). Also times one training step. The
network's weights do not change its speed, so an untrained one is timed. Prints a Markdown table.

    python benchmarks/bench_realtime.py [--sizes 256,512,1024] [--opt-steps 5] [--threads 1]

The loss network is the library's default (offline: ``weights="hed"`` on VGG16, HED's own
network) for both ``stylize`` and ``train_transformer``, see ``benchmarks/common.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import add_arguments, machine, resolve

from nst_helpers import TransformerNet, load_image, stylize, train_transformer
from nst_helpers.devices import resolve_device, synchronize


def timed(fn, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--opt-steps", type=int, default=5)
    parser.add_argument("--nominal-steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-size", type=int, default=256)
    add_arguments(parser)
    args = parser.parse_args()
    measured = resolve(args)
    device = resolve_device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")]
    photo = load_image("chelsea")
    net = TransformerNet().to(device).eval()
    # load the network, warm up
    stylize(photo, "brush_strokes", image_size=64, steps=1, device=device, **measured.options)
    print(f"device: {device}; {machine()}; {measured.words}\n")
    print("| size (px) | optimisation, s per image | feed-forward, s per image | speed-up |")
    print("|---|---|---|---|")
    for size in sizes:
        img = photo.resize((size, round(size * photo.height / photo.width)))
        opt = timed(
            lambda img=img, size=size: stylize(
                img,
                "brush_strokes",
                image_size=size,
                steps=args.opt_steps,
                device=device,
                **measured.options,
            ),
            device,
        )
        opt *= args.nominal_steps / args.opt_steps
        net.stylize(img)
        ff = statistics.median(
            timed(lambda img=img: net.stylize(img), device) for _ in range(args.repeats)
        )
        print(f"| {size} | {opt:.1f} | {ff:.3f} | {opt / ff:,.0f}x |")
    steps = 3
    t = timed(
        lambda: train_transformer(
            "brush_strokes", "samples", steps=steps, image_size=args.train_size, batch_size=4,
            device=device, seed=0, **measured.options,
        ),
        device,
    )  # fmt: skip
    print(
        f"\noptimisation: {args.opt_steps} Adam steps timed per size, scaled to "
        f"{args.nominal_steps}. Training: {t / steps:.2f} s per step at batch 4 x "
        f"{args.train_size} px (setup included), so 4000 steps take about "
        f"{4000 * t / steps / 60:.0f} min here."
    )


if __name__ == "__main__":
    main()
