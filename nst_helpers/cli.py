"""Command line: ``python -m nst_helpers stylize CONTENT STYLE -o OUT`` (also installed as ``nst``).

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 3 the machine cannot run
it (weights missing, not enough memory), 130 interrupted (the best image so far is still saved).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite comma-separated numbers, got {text!r}")
    return values


def _ints(text: str) -> list[int]:
    values = _floats(text)
    if any(v != int(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")
    return [int(v) for v in values]


def _names(text: str) -> list[str]:
    return [v for v in text.replace(" ", "").split(",") if v]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from .features import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
    from .optimize import DEFAULT_STYLE_WEIGHT

    parser = _Parser(prog="python -m nst_helpers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser(
        "stylize",
        help="paint CONTENT in the style of STYLE",
        description="Neural Style Transfer (Gatys et al. 2015). CONTENT and STYLE are image files "
        "or sample names (see `python -m nst_helpers samples`).",
    )
    p.add_argument("content", help="content image: a file or a sample name")
    p.add_argument("style", nargs="+", help="style image(s): files or sample names")
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    p.add_argument(
        "--steps", type=int, default=None,
        help="optimisation steps (default 500; with --preset, the preset's own schedule)",
    )  # fmt: skip
    p.add_argument(
        "--preset", choices=("fast",), default=None,
        help="fast: the quickest route to a finished picture at --size (coarse to fine, "
        "L-BFGS at the end; chooses scales, optimiser and schedule)",
    )  # fmt: skip
    p.add_argument(
        "--checkpointing", choices=("auto", "on", "off"), default="auto",
        help="recompute activations in the backward pass: about half the memory, slower "
        "steps (auto: only when the run would not fit otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="longest side in pixels (default 512, or --scales' last)",
    )
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    p.add_argument("--lr", type=float, default=None, help="learning rate (adam 0.02, lbfgs 1)")
    p.add_argument("--content-weight", type=float, default=1.0, help="alpha (default 1)")
    p.add_argument(
        "--style-weight", type=float, default=DEFAULT_STYLE_WEIGHT,
        help=f"beta (default {DEFAULT_STYLE_WEIGHT:g}, in --normalization relative units)",
    )  # fmt: skip
    p.add_argument("--tv-weight", type=float, default=0.0, help="total variation (default 0)")
    p.add_argument(
        "--content-layers", type=_names, default=None,
        help=f"default {','.join(DEFAULT_CONTENT_LAYERS)} (reluX_Y: after the ReLU, convX_Y: before)",
    )  # fmt: skip
    p.add_argument(
        "--style-layers", type=_names, default=None,
        help=f"default {','.join(DEFAULT_STYLE_LAYERS)}",
    )  # fmt: skip
    p.add_argument(
        "--normalization", choices=("relative", "paper"), default="relative",
        help="relative (default): each loss term over its target's energy, weights mean the "
        "same at every size; paper: eq. 1-5 exactly",
    )  # fmt: skip
    p.add_argument("--init", choices=("content", "noise", "style"), default="content")
    p.add_argument(
        "--weights", default=None,
        help="imagenet (default; or $NST_WEIGHTS), random (tests only) or a .pth file",
    )  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"), default="auto")
    p.add_argument("--seed", type=int, default=None, help="same seed, same pixels")
    p.add_argument(
        "--save-every", type=int, default=None, metavar="N",
        help="also save the image every N steps as OUT_stepNNNNN.png",
    )  # fmt: skip
    p.add_argument("--preserve-color", choices=("luminance", "histogram"), default=None)
    p.add_argument("--style-blend", type=_floats, default=None, help="weights, e.g. 0.7,0.3")
    p.add_argument("--style-scale", type=float, default=1.0, help="style size / output size")
    p.add_argument("--pooling", choices=("max", "avg"), default="max")
    p.add_argument("--scales", type=_ints, default=None, help="coarse-to-fine, e.g. 256,512")
    p.add_argument("--parameterization", choices=("pixel", "fourier"), default="pixel")
    p.add_argument("--checkpoint", default=None, help="save resumable state to this file")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N")
    p.add_argument("--resume", default=None, help="continue from this checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    s = commands.add_parser("samples", help="list the sample images")
    s.add_argument("--kind", choices=("content", "style"), default=None)
    return parser


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _check_output(args: argparse.Namespace) -> Path:
    from PIL import Image

    out = Path(args.output)
    if Image.registered_extensions().get(out.suffix.lower()) is None:
        raise ValueError(f"output {str(out)!r} needs an image extension such as .png or .jpg")
    for source in [args.content, *args.style]:
        if _same_file(out, Path(source)):
            raise ValueError(f"output {str(out)!r} is an input image; choose another name")
    if out.is_dir():
        raise ValueError(f"output {str(out)!r} is a directory; give a file name")
    if out.exists() and not (args.overwrite or args.resume):
        raise ValueError(f"output {str(out)!r} exists; pass --overwrite to replace it")
    return out


def _stylize(args: argparse.Namespace) -> int:
    from . import optimize
    from .features import WeightsError, weights_are_random
    from .images import ImageError, save_image
    from .memory import InsufficientMemoryError

    try:
        out = _check_output(args)
        if args.scales and args.size is not None and args.size != args.scales[-1]:
            raise ValueError(
                f"--size {args.size} disagrees with --scales {args.scales}: the output size is "
                "the last scale; drop --size"
            )
    except ValueError as err:
        return _fail(EXIT_BAD_INPUT, _one_line(err))
    size = args.size if args.size is not None else (args.scales[-1] if args.scales else 512)
    announced = False

    def announce_random_weights(record: dict) -> bool:
        # Said once the run has really started, so a bad-input error stays a single line.
        nonlocal announced
        if not announced and weights_are_random(args.weights):
            print(
                "\nWARNING: VGG19 weights are RANDOM: the output is NOT a stylised image, only a "
                "test of the code path. Use --weights imagenet for real results.",
                file=sys.stderr,
            )
        announced = True
        _RUNNING.set()  # from now on the first Ctrl-C stops between steps (see _request_stop)
        return not _STOP.is_set()

    steps = args.steps if args.steps is not None or args.preset else 500
    checkpointing = {"auto": "auto", "on": True, "off": False}[args.checkpointing]
    options = dict(
        steps=steps, image_size=size, preset=args.preset, checkpointing=checkpointing, optimizer=args.optimizer, lr=args.lr,
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, init=args.init, weights=args.weights, device=args.device,
        precision=args.precision, seed=args.seed, snapshot_every=args.save_every,
        progress=not args.quiet, callback=announce_random_weights, preserve_color=args.preserve_color,
        style_blend=args.style_blend, style_scale=args.style_scale, pooling=args.pooling,
        scales=args.scales, parameterization=args.parameterization,
        normalization=args.normalization,
        checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume,
    )  # fmt: skip
    if args.content_layers:
        options["content_layers"] = args.content_layers
    if args.style_layers:
        options["style_layers"] = args.style_layers
    style = args.style if len(args.style) > 1 else args.style[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the random-weights warning was printed above
            result = optimize.stylize(args.content, style, **options)
    except optimize.NonFiniteLossError as err:
        save_image(err.result.image, out, overwrite=True)
        return _fail(EXIT_BAD_INPUT, f"{_one_line(err)} Best finite image saved to {out}")
    except (FileNotFoundError, ImageError, ValueError) as err:
        return _fail(EXIT_BAD_INPUT, _one_line(err))
    except (WeightsError, InsufficientMemoryError) as err:
        return _fail(EXIT_ENVIRONMENT, str(err))
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted before the first step; nothing was saved")
    save_image(result.image, out, overwrite=True)
    for step, img in sorted(result.snapshots.items()):
        save_image(img, out.with_name(f"{out.stem}_step{step:05d}{out.suffix}"), overwrite=True)
    last = result.history[-1] if result.history else None
    summary = f"saved {out} ({result.image.width}x{result.image.height}"
    if last is not None:
        summary += f", {len(result.history)} steps, best loss {result.best_loss:.4g}"
    summary += f", {result.seconds:.1f} s on {result.device} {result.precision})"
    if result.random_weights:
        summary += " [RANDOM WEIGHTS: not a stylised image]"
    if result.interrupted:
        print(f"interrupted: {summary}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary)
    return EXIT_OK


def _samples(args: argparse.Namespace) -> int:
    from .data import SAMPLES, list_samples

    for name in list_samples(args.kind):
        sample = SAMPLES[name]
        where = "bundled" if sample.bundled else "download"
        print(f"{name:<14} {sample.kind:<8} {where:<9} {sample.title} ({sample.licence})")
    return EXIT_OK


_RUNNING = threading.Event()  # the optimisation loop has finished its first step
_STOP = threading.Event()  # a stop was requested: end after the current step


def _request_stop(signum, frame) -> None:
    """Ctrl-C / SIGTERM: once steps are running, finish the current one so the checkpoint and
    image are those of a whole step (a resume then matches an uninterrupted run exactly);
    before that, or on a second signal, stop at once."""
    if _STOP.is_set() or not _RUNNING.is_set():
        raise KeyboardInterrupt
    _STOP.set()
    print("\nstopping after this step (press Ctrl-C again to stop at once)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "samples":
        return _samples(args)
    # Ctrl-C and SIGTERM (a scheduler, a notebook host) stop between steps: keep the best image.
    _RUNNING.clear()
    _STOP.clear()
    signals = [signal.SIGINT] + ([signal.SIGTERM] if os.name == "posix" else [])
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _request_stop) for s in signals} if in_main_thread else {}
    try:
        return _stylize(args)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
