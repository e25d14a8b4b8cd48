"""Where does a step's time go? ``torch.profiler`` over a few ``stylize`` steps, top operators.

On a GPU a step of a small network can be bound by the host (Python, kernel launches,
synchronisations), not by the GPU's arithmetic; this table says which, per operator:

    python benchmarks/profile_step.py --device cuda --size 512 --steps 40 [--precision auto]
"""

from __future__ import annotations

import argparse

from common import add_arguments, resolve
from torch.profiler import ProfilerActivity, profile

from nst_helpers import load_image, stylize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--rows", type=int, default=15)
    add_arguments(parser)
    args = parser.parse_args()
    measured = resolve(args)
    content, style = load_image("chelsea"), load_image("starry_night")
    options = dict(image_size=args.size, device=args.device, precision=args.precision, seed=0,
                   **measured.options)  # fmt: skip
    stylize(content, style, steps=5, **options)  # warm-up: context, autotuning
    cuda = args.device.startswith("cuda")
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with profile(activities=activities) as prof:
        stylize(content, style, steps=args.steps, **options)
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(f"# {args.steps} steps at {args.size} px, {args.device}, {args.precision}, "
          f"{measured.words}")  # fmt: skip
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
