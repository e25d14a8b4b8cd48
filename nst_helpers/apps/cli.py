"""Command line: ``python -m nst_helpers stylize CONTENT STYLE -o OUT`` (also installed as ``nst``).

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 3 the machine cannot run
it (weights missing, not enough memory), 130 interrupted (the best image so far is still saved).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from .. import config, feedforward, optimize
from ..devices import DeviceUnavailableError
from ..features import (
    NAMED_WEIGHTS,
    RandomWeightsWarning,
    WeightsError,
    describe_weights,
    weights_are_random,
)
from ..feedforward import TrainingDivergedError, TransformerNet
from ..feedforward import config as train_config
from ..feedforward.photos import PhotoUnavailableError, photo_sources
from ..images import ImageError, output_format, save_image
from ..optimize.balance import balance_advice, weighted_ratio
from ..optimize.memory import InsufficientMemoryError
from ..runtime.data import SAMPLES, SampleUnavailableError, list_samples
from ..runtime.files import check_writable, local_path
from ..runtime.interrupts import StepBoundary

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


def _switch(text: str) -> bool | str:
    """``auto``, ``on``/``off`` (or ``true``/``false``) -> ``"auto"``, ``True``, ``False``."""
    value = {"auto": "auto", "on": True, "true": True, "off": False, "false": False}.get(
        text.strip().lower()
    )
    if value is None:
        raise argparse.ArgumentTypeError(f"expected auto, on or off, got {text!r}")
    return value


CLI_DEFAULTS = {"steps": 500}
"""Where the CLI deliberately departs from ``StyleConfig``: a terminal run should end in minutes
(the API keeps the original report's 4000 steps; with ``--preset`` the preset's schedule)."""

_PARSERS = {"names": _names, "floats": _floats, "ints": _ints, "switch": _switch}
_METAVARS = {"names": "A,B,...", "floats": "A,B,...", "ints": "A,B,...", "switch": "{auto,on,off}"}


def _add_config_flags(
    parser: argparse.ArgumentParser,
    config_fields: Sequence[dataclasses.Field],
    departures: dict[str, object] | None = None,
    why: str = "",
) -> None:
    """One flag per config field (``StyleConfig``'s or ``TrainConfig``'s): name, type, choices,
    help and default all from it.

    Flags not given are left out of the namespace, so the config (or ``departures``, where the
    CLI deliberately differs, for the reason ``why``) decides their value and the help text
    cannot drift from the API."""
    departures = departures or {}
    for f in config_fields:
        meta = f.metadata
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        default = departures.get(f.name, f.default)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = meta["help"] + ("" if default is None else f" (default: {shown})")
        if f.name in departures:
            text += f"; {why}"
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": text}
        if "choices" in meta:
            kwargs["choices"] = [c for c in meta["choices"] if c is not None]
        else:
            parse = meta.get("parse", int)
            kwargs["type"] = _PARSERS.get(parse, parse)
            if parse in _METAVARS:
                kwargs["metavar"] = _METAVARS[parse]
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
    why = "the API's is 4000: a terminal run should end in minutes"
    _add_config_flags(p, config.fields(), CLI_DEFAULTS, why)
    p.add_argument(
        "--save-every",
        type=int,
        default=None,
        metavar="N",
        help="also save the image every N steps as OUT_stepNNNNN.png",
    )
    p.add_argument("--checkpoint", default=None, help="save resumable state to this file")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N")
    p.add_argument("--resume", default=None, help="continue from this checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    s = commands.add_parser("samples", help="list the sample images")
    s.add_argument("--kind", choices=("content", "style"), default=None)
    _add_realtime_parsers(commands)
    return parser


def _add_realtime_parsers(commands) -> None:
    """``train`` and ``apply``: real-time style transfer (Johnson et al. 2016, chapter 08)."""

    t = commands.add_parser(
        "train",
        help="train a real-time style network for STYLE",
        description="Train a feed-forward network that paints any photo in the style of STYLE "
        "(Johnson et al. 2016), with the same losses as `stylize`. Then use `apply`. Options "
        "left out take TrainConfig's defaults (4000 steps of 4 crops of 256 px).",
    )
    t.add_argument("style", help="style image: a file or a sample name")
    t.add_argument(
        "--images",
        required=True,
        help="training photos: a folder, 'samples' (bundled, quick tests) or 'flowers102' "
        "(8189 photos, downloaded once)",
    )
    t.add_argument("-o", "--output", required=True, help="model file to write, e.g. model.pt")
    _add_config_flags(t, train_config.fields())
    t.add_argument("--checkpoint", default=None, help="save resumable state to this file")
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="N")
    t.add_argument("--resume", default=None, help="continue from this checkpoint")
    t.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    a = commands.add_parser(
        "apply",
        help="stylise images with a trained network",
        description="Stylise photos with a network from `train`. INPUT may be files or folders; "
        "OUT is an image file for a single input, else a folder (one PNG per input).",
    )
    a.add_argument("model", help="model file written by `train`")
    a.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    a.add_argument("-o", "--output", required=True, help="output image or folder")
    a.add_argument("--size", type=int, default=None, help="shrink the longest side to this")
    a.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    a.add_argument("--overwrite", action="store_true", help="replace existing output files")
    a.add_argument("--quiet", action="store_true", help="no progress bar")


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
    """Everything about the files a run will write, checked before it starts (ValueError)."""
    for what, value in (("--resume", args.resume), ("--checkpoint", args.checkpoint)):
        if value is not None:
            local_path(value, what)  # a URL is refused with one line
    weights = getattr(args, "weights", None)  # flags not given are not in the namespace
    if weights is not None and str(weights).lower() not in NAMED_WEIGHTS:
        local_path(weights, "--weights")
    out = local_path(args.output, "output")
    if out.is_dir():
        raise ValueError(f"output {str(out)!r} is a directory; give a file name")
    try:
        output_format(out)
    except ValueError as err:
        raise ValueError(f"output {str(out)!r}: {err}") from None
    for source in [args.content, *args.style]:
        if _same_file(out, Path(source)):
            raise ValueError(f"output {str(out)!r} is an input image; choose another name")
    if args.checkpoint is not None and _same_file(out, local_path(args.checkpoint, "checkpoint")):
        raise ValueError(f"output {str(out)!r} is also the checkpoint; give them two names")
    if out.exists() and not (args.overwrite or args.resume):
        raise ValueError(f"output {str(out)!r} exists; pass --overwrite to replace it")
    return check_writable(out, "output")


def _save(img, path: Path) -> str | None:
    """Write ``img``; the reason in one line if the disk or folder refuses (full, removed)."""
    try:
        save_image(img, path, overwrite=True)
    except OSError as err:
        return f"could not write {str(path)!r}: {err.strerror or err}"
    return None


def _say_weights(weights: str | None, network: str, random_means: str) -> None:
    """On stderr, once a run has started: which network and weights make the picture, unless
    it is ImageNet VGG19 (the paper's); a loud warning for random weights."""
    if weights_are_random(weights):
        print(
            f"\nWARNING: {network.upper()} weights are RANDOM: {random_means}, only the code "
            "path is tested. Use --weights imagenet (or hed, offline) for real results.",
            file=sys.stderr,
        )
        return
    said = describe_weights(weights, network)
    if said != "ImageNet VGG19":
        print(f"\nnetwork: {said}", file=sys.stderr)


def _stylize(args: argparse.Namespace, boundary: StepBoundary) -> int:
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
    network = getattr(args, "network", config.DEFAULTS.network)

    def announce_random_weights(record: dict) -> None:
        # Said once the run has really started, so a bad-input error stays a single line.
        nonlocal announced
        if not announced:
            _say_weights(
                getattr(args, "weights", None), network, "the output is NOT a stylised image"
            )
        announced = True

    given = {k: v for k, v in vars(args).items() if k in config.FIELD_NAMES}
    # A preset picks its own schedule: the CLI's shorter default applies to plain runs only.
    options = given if given.get("preset") else {**CLI_DEFAULTS, **given}
    options.update(
        snapshot_every=args.save_every,
        progress=not args.quiet,
        callback=announce_random_weights,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
    )
    style = args.style if len(args.style) > 1 else args.style[0]
    try:
        with warnings.catch_warnings():
            # only this one: it is said above in words; every other warning still shows
            warnings.filterwarnings("ignore", category=RandomWeightsWarning)
            result = optimize.stylize(args.content, style, **options)
    except optimize.NonFiniteLossError as err:
        with boundary.step():
            problem = _save(err.result.image, out)
        saved = f"Best finite image saved to {out}"
        if problem:
            saved = f"could not save the best finite image: {problem}"
        return _fail(EXIT_BAD_INPUT, f"{_one_line(err)} {saved}")
    except (DeviceUnavailableError, SampleUnavailableError) as err:  # the machine, not the input
        return _fail(EXIT_ENVIRONMENT, _one_line(err))
    except (FileNotFoundError, ImageError, ValueError) as err:
        return _fail(EXIT_BAD_INPUT, _one_line(err))
    except (WeightsError, InsufficientMemoryError) as err:
        return _fail(EXIT_ENVIRONMENT, str(err))
    except OSError as err:  # a checkpoint could not be written mid-run: disk full, folder gone
        where = repr(str(err.filename)) if err.filename else "a file"
        return _fail(EXIT_ENVIRONMENT, f"could not write {where}: {err.strerror or err}")
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted before the first step; nothing was saved")
    with boundary.step():  # a first Ctrl-C now waits until the picture is saved
        problem = _save(result.image, out)
        for step, img in sorted(result.snapshots.items()):
            name = out.with_name(f"{out.stem}_step{step:05d}{out.suffix}")
            problem = problem or _save(img, name)
    if problem:
        return _fail(EXIT_ENVIRONMENT, f"{problem}; the run finished but its image is not saved")
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
    for name in list_samples(args.kind):
        sample = SAMPLES[name]
        where = "bundled" if sample.bundled else "download"
        print(f"{name:<14} {sample.kind:<8} {where:<9} {sample.title} ({sample.licence})")
    return EXIT_OK


def _train(args: argparse.Namespace, boundary: StepBoundary) -> int:
    """``train``: fit a TransformerNet, save it; Ctrl-C keeps the network trained so far."""
    out = Path(args.output)
    if out.is_dir():
        return _fail(EXIT_BAD_INPUT, f"output {str(out)!r} is a directory; give a file name")
    if _same_file(out, Path(args.style)) or (args.resume and _same_file(out, Path(args.resume))):
        return _fail(EXIT_BAD_INPUT, f"output {str(out)!r} is an input; choose another name")
    if out.exists() and not args.overwrite:
        return _fail(EXIT_BAD_INPUT, f"output {str(out)!r} exists; pass --overwrite to replace it")
    weights = getattr(args, "weights", None)  # flags not given are not in the namespace
    network = getattr(args, "network", train_config.DEFAULTS.network)

    def announce_random_weights(record: dict) -> None:
        # Said once training has started, so a bad-input error stays a single line.
        if record["step"] == 1:
            _say_weights(weights, network, "the network learns NO style")

    options = {k: v for k, v in vars(args).items() if k in train_config.FIELD_NAMES}
    try:
        with warnings.catch_warnings():
            # only this one: it is said above in words; every other warning still shows
            warnings.filterwarnings("ignore", category=RandomWeightsWarning)
            net = feedforward.train_transformer(  # looked up here: tests replace it
                args.style,
                args.images,
                progress=not args.quiet,
                checkpoint=args.checkpoint,
                checkpoint_every=args.checkpoint_every,
                resume=args.resume,
                callback=announce_random_weights,
                **options,
            )
    except TrainingDivergedError as err:
        with boundary.step():
            err.net.save(out, overwrite=True)
        return _fail(EXIT_BAD_INPUT, f"{_one_line(err)} The network before it is saved to {out}")
    except DeviceUnavailableError as err:  # the machine, not the input
        return _fail(EXIT_ENVIRONMENT, _one_line(err))
    except (FileNotFoundError, ImageError, ValueError) as err:
        return _fail(EXIT_BAD_INPUT, _one_line(err))
    except (WeightsError, InsufficientMemoryError, PhotoUnavailableError) as err:
        return _fail(EXIT_ENVIRONMENT, _one_line(err))
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted before the first step; nothing was saved")
    with boundary.step():  # a first Ctrl-C now waits until the network is saved
        net.save(out, overwrite=True)
    last = net.history[-1] if net.history else None
    summary = f"saved {out} ({len(net.history)} steps"
    if last is not None:
        summary += f", last loss {last['total']:.4g}, {last['seconds']:.1f} s"
    summary += f" on {net.device})"
    if net.random_weights:
        summary += f" [RANDOM {network} WEIGHTS: no style was learnt]"
    if net.interrupted:
        print(f"interrupted: {summary}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary)
    return EXIT_OK


def _apply_plan(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """(input, output) pairs, checked before any work: no overwrite, no clobbered input."""
    inputs: list[Path] = []
    for item in args.inputs:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {str(path)!r}")
        inputs += [Path(p) for p in photo_sources(path)] if path.is_dir() else [path]
    out = Path(args.output)
    single = len(inputs) == 1 and not out.is_dir() and out.suffix != ""
    if single:
        if Image.registered_extensions().get(out.suffix.lower()) is None:
            raise ValueError(f"output {str(out)!r} needs an image extension such as .png or .jpg")
        pairs = [(inputs[0], out)]
    else:
        if out.exists() and not out.is_dir():
            raise ValueError(f"output {str(out)!r} must be a folder for {len(inputs)} inputs")
        pairs = [(p, out / f"{p.stem}.png") for p in inputs]
        seen: dict[Path, Path] = {}
        for src, dst in pairs:
            if dst in seen:
                raise ValueError(
                    f"{str(seen[dst])!r} and {str(src)!r} would both be written to {str(dst)!r}; "
                    "rename one or apply them separately"
                )
            seen[dst] = src
    for _, dst in pairs:
        if any(_same_file(dst, p) for p in inputs):
            raise ValueError(f"output {str(dst)!r} is an input image; choose another output")
        if dst.exists() and not args.overwrite:
            taken = sum(d.exists() for _, d in pairs)
            raise ValueError(
                f"output {str(dst)!r} exists ({taken} of {len(pairs)} outputs do); pass "
                "--overwrite to replace them"
            )
    return pairs


def _apply(args: argparse.Namespace, boundary: StepBoundary) -> int:
    """``apply``: stylise files and folders with a trained network."""
    try:
        if args.size is not None and args.size < 1:
            raise ValueError(f"--size must be >= 1, got {args.size}")
        pairs = _apply_plan(args)
        net = TransformerNet.load(args.model, device=args.device)
    except DeviceUnavailableError as err:  # the machine, not the input
        return _fail(EXIT_ENVIRONMENT, _one_line(err))
    except (FileNotFoundError, ValueError) as err:  # ModelFileError and ImageError are ValueErrors
        return _fail(EXIT_BAD_INPUT, _one_line(err))
    if net.random_weights:
        network = net.settings.get("network", "vgg19").upper()
        print(
            f"WARNING: this network was trained against RANDOM {network} weights: its outputs "
            "are NOT stylised images.",
            file=sys.stderr,
        )
    done, t0 = 0, time.perf_counter()
    try:
        for src, dst in tqdm(pairs, disable=args.quiet or len(pairs) == 1, unit="image"):
            with boundary.step():  # a first Ctrl-C lets this image be written
                save_image(net.stylize(src, max_size=args.size), dst, overwrite=True)
            done += 1
            if boundary.stop_requested:
                break
    except (FileNotFoundError, ImageError, ValueError) as err:
        return _fail(EXIT_BAD_INPUT, f"{_one_line(err)} ({done} of {len(pairs)} written)")
    except KeyboardInterrupt:
        pass
    where = pairs[0][1] if len(pairs) == 1 else Path(args.output)
    per_image = (time.perf_counter() - t0) / max(done, 1)
    summary = (
        f"wrote {done} of {len(pairs)} image(s) to {where} ({per_image:.3f} s per image on "
        f"{net.device})"
    )
    if done < len(pairs):
        print(f"interrupted: {summary}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "samples":
        return _samples(args)
    # Ctrl-C and SIGTERM (a scheduler, a notebook host) stop between steps: keep the best image.
    # The run's own boundary (inside stylize, train_transformer) takes them while steps run.
    signals = [signal.SIGINT] + ([signal.SIGTERM] if os.name == "posix" else [])
    handlers = {"stylize": _stylize, "train": _train, "apply": _apply}
    with StepBoundary(signals) as boundary:
        return handlers[args.command](args, boundary)


if __name__ == "__main__":
    sys.exit(main())
