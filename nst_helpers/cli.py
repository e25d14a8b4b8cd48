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


CLI_DEFAULTS = {"steps": 500}
"""Where the CLI deliberately departs from ``StyleConfig``: a terminal run should end in minutes
(the API keeps the original report's 4000 steps)."""

_PARSERS = {"names": _names, "floats": _floats, "ints": _ints}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``StyleConfig`` field: name, type, choices, help and default all from it.

    Flags not given are left out of the namespace, so ``StyleConfig`` (or ``CLI_DEFAULTS``)
    decides their value and the help text cannot drift from the API."""
    from .config import fields

    for f in fields():
        meta = f.metadata
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        default = CLI_DEFAULTS.get(f.name, f.default)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = meta["help"] + ("" if default is None else f" (default: {shown})")
        if f.name in CLI_DEFAULTS:
            text += f"; the API's is {f.default}: a terminal run should end in minutes"
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": text}
        if "choices" in meta:
            kwargs["choices"] = [c for c in meta["choices"] if c is not None]
        else:
            parse = meta.get("parse", int)
            kwargs["type"] = _PARSERS.get(parse, parse)
            if parse in _PARSERS:
                kwargs["metavar"] = "A,B,..."
        parser.add_argument(flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
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
    _add_config_flags(p)
    p.add_argument(
        "--save-every", type=int, default=None, metavar="N",
        help="also save the image every N steps as OUT_stepNNNNN.png",
    )  # fmt: skip
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
    from .balance import balance_advice, weighted_ratio
    from .features import WeightsError, weights_are_random
    from .images import ImageError, save_image
    from .memory import InsufficientMemoryError

    try:
        out = _check_output(args)
        scales, size = getattr(args, "scales", None), getattr(args, "image_size", None)
        if scales and size is not None and size != scales[-1]:
            raise ValueError(
                f"--size {size} disagrees with --scales {scales}: the output size is the last "
                "scale; drop --size"
            )
    except ValueError as err:
        return _fail(EXIT_BAD_INPUT, _one_line(err))
    announced = False

    def announce_random_weights(record: dict) -> bool:
        # Said once the run has really started, so a bad-input error stays a single line.
        nonlocal announced
        if not announced and weights_are_random(getattr(args, "weights", None)):
            print(
                "\nWARNING: VGG19 weights are RANDOM: the output is NOT a stylised image, only a "
                "test of the code path. Use --weights imagenet for real results.",
                file=sys.stderr,
            )
        announced = True
        _RUNNING.set()  # from now on the first Ctrl-C stops between steps (see _request_stop)
        return not _STOP.is_set()

    from .config import FIELD_NAMES

    options = {**CLI_DEFAULTS, **{k: v for k, v in vars(args).items() if k in FIELD_NAMES}}
    options.update(
        snapshot_every=args.save_every, progress=not args.quiet, callback=announce_random_weights,
        checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume,
    )  # fmt: skip
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
        ratio = weighted_ratio(last, result.settings)
        summary += f", weighted style/content {ratio:.3g}"
    summary += f", {result.seconds:.1f} s on {result.device} {result.precision})"
    if result.random_weights:
        summary += " [RANDOM WEIGHTS: not a stylised image]"
    if result.interrupted:
        print(f"interrupted: {summary}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary)
    advice = balance_advice(result.history, result.settings, cli=True)
    if advice is not None:
        print(f"advice: {advice}")
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
