"""The first cell of every chapter: seeds, device, quick mode, weights, and where outputs go.

Every notebook starts with ``cfg = setup()`` so that the same environment variables mean the
same thing everywhere:

* The **mode**, which sizes every chapter's work (``cfg.pick(quick, full, cpu=...)``):

  - ``quick`` (``NST_QUICK=1``): small images and few steps, about a minute a chapter on a
    laptop CPU, and what CI runs; too small to judge a picture by;
  - ``cpu-fast`` (no GPU, and ``NST_QUICK`` not set): 256 px pictures made with
    ``preset="fast"`` (``cfg.preset``; 21-34 s a picture on a quiet 2-core CPU, README *Speed*)
    and smaller versions of each chapter's runs;
  - ``full`` (a CUDA or Apple GPU): the chapters' full sizes and step counts.

  ``NST_MODE=quick|cpu-fast|full`` (or ``setup(mode=...)``) overrides the choice; ``setup()``
  prints the mode it picked and why.
* ``NST_WEIGHTS``: ``imagenet``, ``hed`` (trained VGG16 features from HED edge detection, in
  VGG19's shape: real pictures offline), ``random`` (offline tests: a seeded random VGG19
  whose pictures are *not* art) or a path to ``vgg19-dcbb9e9d.pth``. Unset: ``imagenet`` where
  its file is on this machine, else ``hed`` where its package is installed (see
  ``features.default_weights``).
* ``NST_DEVICE``: ``auto`` (default: CUDA, then Apple MPS, then CPU), ``cuda``, ``mps``, ``cpu``.

    >>> cfg = setup()  # doctest: +SKIP
    nst-course | device: cpu | mode: quick | VGG19 weights: hed | seed: 0
    mode quick: NST_QUICK=1: small images and few steps (about a minute a chapter), too small to judge a picture by
    VGG19 weights: trained VGG16 features from HED edge detection (in VGG19's shape), not ImageNet VGG19
"""

from __future__ import annotations

import html
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from ..devices import resolve_device
from ..features import (
    RandomWeightsWarning,
    default_weights,
    describe_weights,
    weights_are_random,
)
from ..runtime.env import TRUE, env_flag

T = TypeVar("T")

COURSE_URL = "https://github.com/nst-course/nst-course"
"""Where the course is cloned from: the one definition (every chapter's setup cell copies it,
and ``tests/test_colab_setup.py`` fails if a copy differs)."""
COLAB_DIR = "/content/nst-course"
"""Where a chapter's setup cell clones the course on Colab, and puts it on ``sys.path``."""

BANNER_LINES = (
    "VGG19 HAS RANDOM WEIGHTS (NST_WEIGHTS=random)",
    "The code runs end to end, but the pictures are NOT stylised and NOT artistic.",
    "For real pictures unset NST_WEIGHTS: ImageNet VGG19, else HED's VGG16 (chapter 00).",
)


MODES = ("quick", "cpu-fast", "full")
CPU_FAST_SIZE = 256
"""The longest side, in pixels, of a picture in ``cpu-fast`` mode (with ``preset="fast"``)."""
_UNSET: Any = object()


@dataclass(frozen=True)
class CourseConfig:
    """What a chapter needs to know about where and how it runs (made by ``setup``)."""

    device: torch.device
    quick: bool
    weights: str
    random_weights: bool
    repo: Path
    outputs: Path
    seed: int = 0
    mode: str = ""  # "quick", "cpu-fast" or "full"; "" = derived from ``quick``
    mode_reason: str = ""

    def __post_init__(self) -> None:
        if not self.mode:
            object.__setattr__(self, "mode", "quick" if self.quick else "full")
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} must be one of {', '.join(MODES)}")

    @property
    def preset(self) -> str | None:
        """``"fast"`` in ``cpu-fast`` mode (pass it to ``stylize(preset=...)``), else None."""
        return "fast" if self.mode == "cpu-fast" else None

    @property
    def caveat(self) -> str:
        """What to add to a figure's title so it says which weights made it: ``""`` for the
        paper's ImageNet VGG19, else a short note in parentheses (random: not a result).

        >>> replace(cfg, weights="hed", random_weights=False).caveat  # doctest: +SKIP
        " (HED's trained VGG16 features, not ImageNet VGG19)"
        """
        key = self.weights.lower()
        if self.random_weights:
            return " (random VGG19 weights: NOT a real result)"
        if key == "imagenet":
            return ""
        if key == "hed":
            return " (HED's trained VGG16 features, not ImageNet VGG19)"
        return f" (VGG19 weights from {self.weights})"

    def pick(self, quick_value: T, full_value: T, cpu: T = _UNSET) -> T:
        """The value for this mode: ``quick_value`` in quick mode, ``cpu`` (when given) in
        ``cpu-fast`` mode, else ``full_value``.

        >>> cfg.pick(96, 512, cpu=256)  # doctest: +SKIP
        256
        """
        if self.mode == "quick":
            return quick_value
        if self.mode == "cpu-fast" and cpu is not _UNSET:
            return cpu
        return full_value


def quick_mode() -> bool:
    """Read ``NST_QUICK``: ``1/true/yes/on`` -> True, ``0/false/no/off`` or unset -> False."""
    return env_flag("NST_QUICK", False)


def choose_mode(quick: bool, device: torch.device, requested: str | None = None) -> tuple[str, str]:
    """``(mode, why)``: which of ``MODES`` a chapter runs in, and the reason in words.

    ``requested`` (``setup(mode=...)`` or ``NST_MODE``) wins; then ``quick`` (``NST_QUICK=1``);
    then the device: a GPU runs the full sizes, a CPU the ``cpu-fast`` ones.
    """
    if requested:
        mode = requested.strip().lower()
        if mode not in MODES:
            raise ValueError(f"NST_MODE={requested!r} is not a mode; use one of {', '.join(MODES)}")
        return mode, f"asked for (NST_MODE or setup(mode=...)): {_MODE_EFFECT[mode]}"
    if quick:
        return "quick", f"NST_QUICK=1: {_MODE_EFFECT['quick']}"
    if device.type in ("cuda", "mps"):
        return "full", f"a GPU ({device.type}) is there: {_MODE_EFFECT['full']}"
    return "cpu-fast", (
        f"no GPU, and NST_QUICK is not set: {_MODE_EFFECT['cpu-fast']}. NST_MODE=full runs the "
        "full sizes (hours on a CPU); NST_QUICK=1 a one-minute check"
    )


_MODE_EFFECT = {
    "quick": "small images and few steps (about a minute a chapter), too small to judge a picture by",
    "cpu-fast": f"{CPU_FAST_SIZE} px pictures made with preset='fast' (21-34 s each on a quiet "
    "2-core CPU) and smaller versions of each chapter's runs",
    "full": "the chapters' full sizes and step counts",
}


def find_repo(start: Path | None = None) -> Path:
    """The course checkout: the folder holding ``nst_helpers/`` and ``pyproject.toml``.

    Looks next to the package first (a clone on ``sys.path``, as on Colab, or an editable
    install), then upwards from ``start`` (default: the working directory); falls back to
    ``start`` itself so that a plain ``pip install`` still has somewhere to write outputs.
    """
    start = (start or Path.cwd()).resolve()
    package_parent = Path(__file__).resolve().parents[2]  # nst_helpers/course/ -> repo
    for candidate in (package_parent, start, *start.parents):
        if (candidate / "nst_helpers").is_dir() and (candidate / "pyproject.toml").is_file():
            return candidate
    return start


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a chapter draws the same numbers each run."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    # A Jupyter/Colab kernel has a `kernel` attribute; the terminal IPython shell does not.
    return shell is not None and getattr(shell, "kernel", None) is not None


def _banner_text() -> str:
    width = max(len(line) for line in BANNER_LINES) + 4
    rule = "!" * width
    body = [f"! {line.ljust(width - 4)} !" for line in BANNER_LINES]
    return "\n".join([rule, *body, rule])


def _banner_html() -> str:
    title, *rest = (html.escape(line) for line in BANNER_LINES)
    return (
        '<div style="border:4px solid #c62828;background:#ffebee;color:#b71c1c;'
        'padding:12px 16px;margin:8px 0;font-family:sans-serif;border-radius:6px">'
        f'<div style="font-size:1.4em;font-weight:bold">&#9888; {title}</div>'
        + "".join(f"<div style='font-size:1.1em'>{line}</div>" for line in rest)
        + "</div>"
    )


def random_weights_banner(weights: str | os.PathLike | None = None) -> bool:
    """Show a large warning when ``weights`` (default: ``NST_WEIGHTS``) means random VGG19.

    In a notebook it is a red HTML box (with a plain-text fallback); elsewhere a printed box.
    Returns True when the banner was shown, False when the weights are real.
    """
    if not weights_are_random(weights):
        return False
    text = _banner_text()
    if _in_notebook():
        from IPython.display import display

        display({"text/html": _banner_html(), "text/plain": text}, raw=True)
    else:
        print(text)
    return True


HIDDEN_FIGURES = (
    "MPLBACKEND=Agg: this notebook's figures are drawn but never shown. Unset MPLBACKEND (or "
    "run `%matplotlib inline`) to see them; test runs set NST_TESTING=1 to silence this."
)


def warn_if_figures_hidden() -> bool:
    """Warn (and return True) when a notebook kernel uses matplotlib's Agg backend.

    ``MPLBACKEND=Agg`` is right for tests and CI, which only need figures to be drawn, but in
    a notebook it hides every figure without a word. Test runs set ``NST_TESTING=1``.
    """
    if not _in_notebook() or os.environ.get("NST_TESTING", "").strip().lower() in TRUE:
        return False
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        return False
    warnings.warn(HIDDEN_FIGURES, UserWarning, stacklevel=3)
    return True


def setup(
    seed: int = 0,
    *,
    quick: bool | None = None,
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    mode: str | None = None,
    banner: bool = True,
) -> CourseConfig:
    """Prepare a chapter: seed everything, resolve device/mode/weights, create outputs/.

    Each argument overrides its environment variable (``NST_QUICK``, ``NST_WEIGHTS``,
    ``NST_DEVICE``, ``NST_MODE``). Prints a summary, the mode and why it was picked
    (``choose_mode``), a line saying which network and weights make the pictures when they
    are not ImageNet VGG19's, and, when they are random, a banner that cannot be missed; that
    banner then replaces the ``RandomWeightsWarning`` which every network load would repeat.
    Raises ``ValueError`` for an unknown device, mode or ``NST_QUICK`` value.
    """
    seed_everything(seed)
    quick = quick_mode() if quick is None else bool(quick)
    weights = str(weights) if weights is not None else default_weights()
    random_weights = weights_are_random(weights)
    dev = resolve_device(device if device is not None else os.environ.get("NST_DEVICE") or "auto")
    chosen, why = choose_mode(quick, dev, mode if mode is not None else os.environ.get("NST_MODE"))
    repo = find_repo()
    outputs = repo / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    cfg = CourseConfig(
        device=dev,
        quick=chosen == "quick",
        weights="random" if random_weights else weights,
        random_weights=random_weights,
        repo=repo,
        outputs=outputs,
        seed=seed,
        mode=chosen,
        mode_reason=why,
    )
    print(
        f"nst-course | device: {dev} | mode: {chosen} | VGG19 weights: {cfg.weights} | seed: {seed}"
    )
    print(f"mode {chosen}: {why}")
    if not random_weights and cfg.weights.lower() != "imagenet":
        print(f"VGG19 weights: {describe_weights(cfg.weights)}")  # the pictures are not ImageNet's
    if random_weights:
        # The banner says it loudly once; the same warning on every stylize call would bury the
        # output. ("once" does not help: any catch_warnings() resets its memory.)
        warnings.filterwarnings("ignore", category=RandomWeightsWarning)
    if banner:
        random_weights_banner(cfg.weights)
    warn_if_figures_hidden()
    return cfg
