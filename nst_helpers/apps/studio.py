"""StyleStudio: an interactive Neural Style Transfer playground built from core ipywidgets.

Pick a photo and a painting (bundled samples, the paintings among them, or your own uploads), move
the sliders and press Run. ``stylize`` runs in a background thread, so the notebook stays
responsive while the preview and the loss plot update live; Stop keeps the best image so far;
Save writes a PNG next to the notebook (and offers a download on Colab)::

    from nst_helpers.widgets import StyleStudio

    studio = StyleStudio()
    studio  # the last expression of a cell displays it

Everything a button does is also a method (``run``, ``stop``, ``save``, ``wait``), so tests and
notebooks can drive the studio from code exactly as a learner would with the mouse.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W
import torch
from PIL import Image

from .. import devices
from ..config import DEFAULTS, NORMALIZATIONS, PRECISIONS, StyleConfig
from ..course.session import BANNER_LINES, quick_mode
from ..features import (
    DEFAULT_STYLE_LAYERS,
    NETWORKS,
    describe_weights,
    weights_are_random,
)
from ..images import ImageError, load_image, save_image
from ..optimize import (
    DEFAULT_LR,
    DEFAULT_STEPS,
    NonFiniteLossError,
    Record,
    StylizeResult,
    _detached,
    stylize,
)
from ..optimize.balance import balance_advice, weighted_ratio
from ..runtime import data

CONTENT_LAYER_CHOICES = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
STYLE_LAYER_CHOICES = DEFAULT_STYLE_LAYERS
# tv_weight in the relative normalisation's units (TV per pixel position): 1e-4 ... 10
TV_CHOICES = (
    ("0", 0.0),
    *((f"1e{e}", 10.0**e) for e in range(-4, 0)),
    ("1", 1.0),
    ("10", 10.0),
)
PRECISION_CHOICES = (
    DEFAULTS.precision,
    *(p for p in PRECISIONS if p != DEFAULTS.precision),
)
UPLOAD_MAX_SIDE = 2048  # uploads are shrunk on decode: a 40 MP phone photo stays cheap
THUMB_PX = 88
PLOT_EVERY_S = 0.4  # redraw the loss plot at most this often: drawing costs ~30 ms
PREVIEW_EVERY_S = 0.25  # refresh the preview at most this often: each costs a GPU->CPU copy
UPLOAD_KEY = "upload:"

_LEVEL_COLOURS = {
    "info": "#1f4e79",
    "ok": "#1b5e20",
    "warning": "#8a5300",
    "error": "#b00020",
}
_LABEL_STYLE = {"description_width": "112px"}
_PICKER_STYLE = {"description_width": "60px"}


def _slider() -> W.Layout:
    return W.Layout(width="395px")  # long tracks: a log slider needs room for its decades


def default_run_size(device: torch.device, quick: bool) -> tuple[int, int]:
    """``(image_size, steps)`` that give a result in reasonable time on ``device``.

    Where the studio departs from ``StyleConfig``: size and steps by device, so a run ends in a
    couple of minutes, and seed 0, so two runs differ only by the knob that was moved."""
    if quick:
        return 64, 20
    if device.type == "cpu":
        return 256, 150  # a CPU does ~1-3 steps/s here: a couple of minutes
    return 512, 400


def png_bytes(img: Image.Image) -> bytes:
    """Encode ``img`` as PNG bytes (what ``ipywidgets.Image`` displays)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def thumbnail(img: Image.Image, px: int = THUMB_PX) -> bytes:
    """A PNG thumbnail whose longest side is ``px``."""
    small = img.copy()
    small.thumbnail((px, px), Image.Resampling.LANCZOS)
    return png_bytes(small)


def _placeholder(text: str, size: tuple[int, int] = (THUMB_PX, THUMB_PX)) -> bytes:
    """A grey tile with a short text, for images not available (yet)."""
    from PIL import ImageDraw

    tile = Image.new("RGB", size, (225, 225, 225))
    ImageDraw.Draw(tile).multiline_text((6, size[1] // 2 - 12), text, fill=(80, 80, 80))
    return png_bytes(tile)


def unique_path(path: Path) -> Path:
    """``path`` if it is free, else ``stem_1.ext``, ``stem_2.ext``, ...: never an existing file."""
    if not path.exists():
        return path
    n = 1
    while (candidate := path.with_name(f"{path.stem}_{n}{path.suffix}")).exists():
        n += 1
    return candidate


def loss_plot_png(
    history: list[Record], weights: dict[str, float] | None = None, size=(4.8, 2.9)
) -> bytes:
    """Plot total / weighted content / weighted style (and TV) loss against step, as PNG.

    ``weights`` holds ``content_weight``, ``style_weight``, ``tv_weight``: each term is drawn as
    it enters the total, so the curves are comparable. Uses a bare ``Figure`` (no pyplot), so
    it is safe in a background thread and never shows up as a stray notebook figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not history:
        ax.text(0.5, 0.5, "Press Run: the losses appear here", ha="center", va="center")
        ax.set_axis_off()
    else:
        _draw_losses(ax, history, weights or {})
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _draw_losses(ax, history: list[Record], w: dict[str, float]) -> None:
    from matplotlib.ticker import MaxNLocator, NullFormatter

    steps = [r["step"] for r in history]
    curves = [
        ("total", 1.0, "total", "black"),
        ("content", w.get("content_weight", 1.0), "content x weight", "tab:blue"),
        ("style", w.get("style_weight", 1.0), "style x weight", "tab:orange"),
    ]
    if w.get("tv_weight", 0.0) > 0:
        curves.append(("tv", w["tv_weight"], "TV x weight", "tab:green"))
    marker = "o" if len(history) < 3 else None  # a line needs two points; show the first ones
    positive = []
    for key, scale, label, colour in curves:
        ys = [scale * r.get(key, 0.0) for r in history]
        positive += [y for y in ys if y > 0 and math.isfinite(y)]
        ax.plot(steps, ys, label=label, color=colour, marker=marker, markersize=3)
    if positive:
        ax.set_yscale("log", nonpositive="mask")
        ax.yaxis.set_minor_formatter(NullFormatter())
        lo, hi = min(positive), max(positive)
        if hi < 10 * lo:  # at least a decade, or the log axis labels every tick 7.36x10^1
            mid = math.sqrt(lo * hi)
            ax.set_ylim(mid / 4, mid * 4)
    ax.set_xlim(0, max(max(steps), 5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.8)
    ax.set_title("Loss terms as they enter the total", fontsize=10)


def random_weights_banner_widget() -> W.HTML:
    """The course's random-weights warning (``nst_helpers.course.BANNER_LINES``) as a widget.

    ``course.random_weights_banner`` displays into the cell; the studio needs a widget it can
    keep inside its own layout, so it renders the same lines here.
    """
    title, *rest = (html.escape(line) for line in BANNER_LINES)
    return W.HTML(
        '<div class="nst-random-weights" style="border:3px solid #c62828;background:#ffebee;'
        'color:#b71c1c;padding:8px 14px;margin:4px 0 8px 0;border-radius:6px">'
        f'<div style="font-size:1.2em;font-weight:bold">&#9888; {title}</div>'
        + "".join(f"<div>{line}</div>" for line in rest)
        + "</div>"
    )


def _safe_stem(text: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(text).stem).strip("-")
    return stem[:40] or "image"


class StyleStudio(W.VBox):
    """Interactive NST: image pickers, every ``stylize`` knob, Run/Stop/Save, live preview.

    ``weights`` and ``device`` are passed to ``stylize`` (``None`` weights: ``NST_WEIGHTS`` or
    ImageNet). ``output_dir`` is where Save writes (default: the current folder, i.e. next to
    the notebook). The widget displays itself; ``.ui`` is the widget too, for symmetry with
    tools that expect one.

    After a run, ``result`` holds the ``StylizeResult`` and ``history`` the loss records, one
    per step (filled live during the run).
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str = "auto",
        *,
        output_dir: str | os.PathLike | None = None,
        quick: bool | None = None,
    ) -> None:
        self.weights = weights
        self.output_dir = Path.cwd() if output_dir is None else Path(output_dir)
        self.quick = quick_mode() if quick is None else bool(quick)
        self.random_weights = weights_are_random(weights)
        self.history: list[Record] = []
        self.result: StylizeResult | None = None
        self.error: BaseException | None = None  # the last run's exception, for debugging
        self.error_traceback = ""  # ... and its traceback as text (frames would hold the run)
        self.saved: list[Path] = []
        self.preview_every: int | None = None  # steps between previews; None: by time
        self._uploads: dict[str, Image.Image] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_plot = 0.0
        self._plot_weights: dict[str, float] = {}

        device_options = self._device_options(device)
        resolved = _resolve_quietly(device)
        size, steps = default_run_size(resolved, self.quick)

        # ---- images ----------------------------------------------------------------------
        self.content_picker = W.Dropdown(
            options=self._sample_options("content"),
            value="chelsea",
            description="Photo",
            style=_PICKER_STYLE,
            layout=W.Layout(width="300px"),
        )
        self.style_picker = W.Dropdown(
            options=self._sample_options("style"),
            value="brush_strokes",
            description="Painting",
            style=_PICKER_STYLE,
            layout=W.Layout(width="300px"),
        )
        self.upload_content = W.FileUpload(
            accept="image/*",
            multiple=False,
            description="Upload photo",
            layout=W.Layout(width="180px", margin="4px 0 0 64px"),
        )
        self.upload_style = W.FileUpload(
            accept="image/*",
            multiple=False,
            description="Upload painting",
            layout=W.Layout(width="180px", margin="4px 0 0 64px"),
        )
        thumb_layout = {
            "width": f"{THUMB_PX}px",
            "height": f"{THUMB_PX}px",
            "object_fit": "contain",
        }
        self.content_thumb = W.Image(format="png", layout=W.Layout(**thumb_layout))
        self.style_thumb = W.Image(format="png", layout=W.Layout(**thumb_layout))

        # ---- the loss --------------------------------------------------------------------
        self.content_weight = W.FloatLogSlider(
            value=DEFAULTS.content_weight,
            base=10,
            min=-3,
            max=4,
            step=0.1,
            description="Content weight",
            readout_format=".2g",
            style=_LABEL_STYLE,
            layout=_slider(),
        )
        self.style_weight = W.FloatLogSlider(
            # relative units around the default; up to 1e10 for normalization="paper"
            value=DEFAULTS.style_weight,
            base=10,
            min=-2,
            max=10,
            step=0.1,
            description="Style weight",
            readout_format=".2g",
            style=_LABEL_STYLE,
            layout=_slider(),
        )
        self.tv_weight = W.SelectionSlider(
            options=TV_CHOICES,
            value=DEFAULTS.tv_weight,
            description="TV weight",
            style=_LABEL_STYLE,
            layout=_slider(),
        )
        self.style_layer_boxes = {
            name: W.Checkbox(
                value=name in DEFAULTS.style_layers,
                description=name,
                indent=False,
                layout=W.Layout(width="84px"),
            )
            for name in STYLE_LAYER_CHOICES
        }
        self.content_layer = W.Dropdown(
            options=CONTENT_LAYER_CHOICES,
            value=DEFAULTS.content_layers[0],
            description="Content layer",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
        )
        self.network = W.Dropdown(
            options=[
                (f"{n.upper()}{' (the paper’s)' if n == 'vgg19' else ''}", n) for n in NETWORKS
            ],
            value=DEFAULTS.network,
            description="Network",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
            **_tooltip("the network whose features define content and style"),
        )
        self.weights_note = W.HTML()
        self.network.observe(lambda _: self._show_weights_note(), "value")
        self._show_weights_note()
        self.normalization = W.Dropdown(
            options=NORMALIZATIONS,
            value=DEFAULTS.normalization,
            description="Normalisation",
            **_tooltip(
                "relative: weights mean the same at every size; paper: eq. 1-5 (beta ~1e6+)"
            ),
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
        )

        # ---- the optimiser ---------------------------------------------------------------
        self.optimizer = W.ToggleButtons(
            options=[("Adam", "adam"), ("L-BFGS", "lbfgs")],
            value=DEFAULTS.optimizer,
            style={"button_width": "88px"},
            layout=W.Layout(width="auto"),
        )
        self.lr = W.FloatLogSlider(
            value=DEFAULTS.learning_rate,
            base=10,
            min=-3,
            max=1,
            step=0.1,
            description="Learning rate",
            readout_format=".2g",
            style=_LABEL_STYLE,
            layout=_slider(),
        )
        self.steps = W.IntSlider(
            value=steps,
            min=1,
            max=2000,
            description="Steps",
            style=_LABEL_STYLE,
            layout=_slider(),
        )
        self.preset = W.Dropdown(
            options=[
                ("none: the settings below", None),
                ("fast: quickest finished picture", "fast"),
            ],
            value=DEFAULTS.preset,
            description="Preset",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
            **_tooltip("fast chooses scales, optimiser, learning rate and steps itself"),
        )
        self.image_size = W.IntSlider(
            value=size,
            min=64,
            max=1024,
            step=32,
            description="Image size (px)",
            style=_LABEL_STYLE,
            layout=_slider(),
        )
        self.init = W.Dropdown(
            options=[
                ("content photo", "content"),
                ("white noise", "noise"),
                ("painting", "style"),
            ],
            value=DEFAULTS.init,
            description="Start from",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
        )
        self.precision = W.Dropdown(
            options=PRECISION_CHOICES,
            value=DEFAULTS.precision,
            description="Precision",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
        )
        self.device = W.Dropdown(
            options=device_options,
            value=device_options[0],
            description="Device",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
        )
        self.seed = W.IntText(
            value=0,
            description="Seed",
            style=_LABEL_STYLE,
            layout=W.Layout(width="300px"),
        )

        # ---- run, output -----------------------------------------------------------------
        self.run_button = W.Button(
            description="Run",
            button_style="success",
            icon="play",
            tooltip="Start a run",
            layout=W.Layout(width="96px"),
        )
        self.stop_button = W.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            disabled=True,
            tooltip="Stop and keep the best image so far",
            layout=W.Layout(width="96px"),
        )
        self.save_button = W.Button(
            description="Save",
            icon="download",
            disabled=True,
            tooltip="Write the result as a PNG next to the notebook",
            layout=W.Layout(width="96px"),
        )
        self.progress = W.IntProgress(value=0, min=0, max=steps, layout=W.Layout(width="230px"))
        self.progress_label = W.Label("ready")
        self.status = W.HTML()
        self.preview = W.Image(
            format="png",
            layout=W.Layout(width="380px", height="300px", object_fit="contain"),
        )
        self.loss_plot = W.Image(
            value=loss_plot_png([]),
            format="png",
            layout=W.Layout(width="384px", object_fit="contain"),
        )

        self._wire()
        super().__init__(children=self._layout(), layout=W.Layout(width="100%"))
        # stable CSS hooks for browser tests and for learners who restyle the studio
        self.add_class("nst-style-studio")
        for name in (
            "run_button",
            "stop_button",
            "save_button",
            "preview",
            "loss_plot",
            "status",
            "progress",
            "progress_label",
        ):
            getattr(self, name).add_class(f"nst-{name.replace('_', '-')}")
        self.ui = self
        self._show_thumb("content")
        self._show_thumb("style")
        self.preview.value = self._initial_preview()
        self._say(
            "Pick a photo and a painting, then press <b>Run</b>. "
            f"{'Quick mode: small and short runs. ' if self.quick else ''}"
            f"{size} px and {steps} steps end in minutes here (stylize's defaults: "
            f"{DEFAULTS.image_size} px, {DEFAULT_STEPS} steps). Stop keeps the best image so far.",
        )

    # ---- construction helpers ----------------------------------------------------------------
    @staticmethod
    def _sample_options(kind: str) -> list[tuple[str, str]]:
        options = []
        for name in data.list_samples(kind):
            sample = data.SAMPLES[name]
            options.append((sample.title, name))
        return options

    @staticmethod
    def _device_options(device: str) -> list[str]:
        options = ["auto", *devices.available_devices()]
        device = str(device)
        if device not in options:
            devices.resolve_device(device)  # a clear ValueError for a device that is not here
            options.append(device)
        options.remove(device)
        return [device, *options]

    def _wire(self) -> None:
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.save_button.on_click(lambda _: self.save())
        self.content_picker.observe(lambda _: self._show_thumb("content"), "value")
        self.style_picker.observe(lambda _: self._show_thumb("style"), "value")
        self.upload_content.observe(lambda c: self._on_upload("content", c["new"]), "value")
        self.upload_style.observe(lambda c: self._on_upload("style", c["new"]), "value")
        self.optimizer.observe(self._on_optimizer, "value")
        self.preset.observe(self._on_preset, "value")
        # idle only: a running job keeps the step count it started with
        self.steps.observe(
            lambda c: None if self.running else setattr(self.progress, "max", c["new"]),
            "value",
        )

    def _layout(self) -> list[W.Widget]:
        title = W.HTML(
            '<h3 style="margin:4px 0">Style Studio</h3><span style="color:#555">Neural Style '
            "Transfer (Gatys, Ecker &amp; Bethge, 2015), live.</span>"
        )
        header = [title, self.weights_note]
        header += [random_weights_banner_widget()] if self.random_weights else []
        fixed = W.Layout(flex="0 0 auto", margin="0 8px 0 0")  # never squeeze the pickers
        images = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox([self.content_picker, self.upload_content], layout=fixed),
                        self.content_thumb,
                    ]
                ),
                W.HBox(
                    [
                        W.VBox([self.style_picker, self.upload_style], layout=fixed),
                        self.style_thumb,
                    ]
                ),
                W.HTML(
                    '<span style="color:#666;font-size:12px">Every sample is bundled (the '
                    "paintings at 512 px); uploads stay in memory.</span>"
                ),
            ]
        )
        layer_grid = W.GridBox(
            list(self.style_layer_boxes.values()),
            layout=W.Layout(grid_template_columns="repeat(3, 88px)", margin="0 0 0 116px"),
        )
        weights = W.VBox(
            [
                self.content_weight,
                self.style_weight,
                self.tv_weight,
                W.HTML(
                    '<div style="margin:6px 0 0 4px"><b>Style layers</b> (Gram matrices '
                    "matched):</div>"
                ),
                layer_grid,
                self.content_layer,
                self.network,
                self.normalization,
            ]
        )
        optim = W.VBox(
            [
                self.preset,
                W.HBox([_label("Optimizer"), self.optimizer]),
                self.lr,
                self.steps,
                self.image_size,
                self.init,
                self.precision,
                self.device,
                self.seed,
            ]
        )
        tabs = W.Tab(children=[images, weights, optim], titles=["Images", "Loss", "Optimizer"])
        controls = W.VBox(
            [
                tabs,
                W.HBox([self.run_button, self.stop_button, self.save_button]),
                W.HBox([self.progress, self.progress_label]),
                self.status,
            ],
            layout=W.Layout(width="430px", min_width="400px", margin="0 16px 0 0"),
        )
        outputs = W.VBox(
            [
                W.HTML("<b>Preview</b> (the image being optimised; best image kept at the end)"),
                self.preview,
                W.HTML("<b>Loss</b>"),
                self.loss_plot,
            ],
            layout=W.Layout(flex="1 1 auto"),
        )
        body = W.HBox([controls, outputs], layout=W.Layout(flex_flow="row wrap"))
        return [*header, body]

    # ---- images ------------------------------------------------------------------------------
    def _selected(self, kind: str) -> str:
        return (self.content_picker if kind == "content" else self.style_picker).value

    def image_source(self, kind: str) -> str | Image.Image:
        """What ``stylize`` gets for ``kind`` ("content"/"style"): a sample name or an upload."""
        key = self._selected(kind)
        return self._uploads[key] if key.startswith(UPLOAD_KEY) else key

    def _show_thumb(self, kind: str) -> None:
        thumb = self.content_thumb if kind == "content" else self.style_thumb
        key = self._selected(kind)
        if key.startswith(UPLOAD_KEY):
            thumb.value = thumbnail(self._uploads[key])
            return
        try:
            img = load_image(key, max_size=4 * THUMB_PX)  # every sample is bundled
        except (OSError, ValueError) as err:
            thumb.value = _placeholder("missing")
            self._say(f"Could not open the sample {key!r}: {_short(err)}", "error")
            return
        thumb.value = thumbnail(img)

    def _show_weights_note(self) -> None:
        """Which network and weights make the pictures, in words (not for ImageNet VGG19)."""
        text = describe_weights(self.weights, self.network.value)
        self.weights_note.value = (
            ""
            if text == "ImageNet VGG19" or self.random_weights
            else f'<span style="color:#1f4e79">Network: {html.escape(text)}.</span>'
        )

    def _on_upload(self, kind: str, files: Any) -> None:
        uploaded = uploaded_files(files)
        if not uploaded:
            return  # our own reset below
        upload = self.upload_content if kind == "content" else self.upload_style
        name, content = uploaded[0]
        try:
            self.add_upload(kind, name, content)
        except Exception as err:  # noqa: BLE001 - an upload must never end in a traceback
            self._say(f"{html.escape(name)} cannot be used: {_short(err)}", "error")
        clear_upload(upload)  # lets the learner pick the same file again

    def add_upload(self, kind: str, name: str, content: bytes) -> bool:
        """Use ``content`` (an image file's bytes) as the photo or painting; False if unusable.

        A file that is not an image leaves the pickers unchanged and says why in ``status``.
        """
        if kind not in ("content", "style"):
            raise ValueError(f"kind={kind!r} must be 'content' or 'style'")
        try:
            img = load_image(content, max_size=UPLOAD_MAX_SIDE)
        except (ImageError, ValueError, OSError) as err:
            self._say(
                f"{html.escape(name)} cannot be used: {_short(err)} Upload a JPEG, PNG, "
                "WebP or BMP image.",
                "error",
            )
            return False
        key = f"{UPLOAD_KEY}{name}"
        n = 1
        while key in self._uploads:
            n += 1
            key = f"{UPLOAD_KEY}{name} ({n})"
        self._uploads[key] = img
        picker = self.content_picker if kind == "content" else self.style_picker
        label = f"Uploaded: {key[len(UPLOAD_KEY) :]}"
        picker.options = [*picker.options, (label, key)]
        picker.value = key
        self._say(
            f"Using {html.escape(name)} ({img.width}x{img.height}) as the {kind} image.",
            "ok",
        )
        return True

    def _initial_preview(self) -> bytes:
        try:
            return png_bytes(load_image(self.image_source("content"), max_size=384))
        except (OSError, ValueError):
            return _placeholder("preview", (256, 192))

    def _on_preset(self, change: dict) -> None:
        # the preset chooses these itself
        for widget in (self.optimizer, self.lr, self.steps):
            widget.disabled = change["new"] is not None

    def _on_optimizer(self, change: dict) -> None:
        # the two optimisers live on very different step-size scales
        self.lr.value = DEFAULT_LR[change["new"]]

    # ---- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def settings(self) -> dict[str, Any]:
        """The ``stylize`` keyword arguments the controls describe right now (``StyleConfig``
        fields, validated: a ``ValueError`` says what is wrong)."""
        style_layers = [n for n, box in self.style_layer_boxes.items() if box.value]
        if not style_layers:
            raise ValueError("tick at least one style layer (Loss tab): style needs a Gram matrix")
        kwargs = {
            "steps": int(self.steps.value),
            "image_size": int(self.image_size.value),
            "optimizer": self.optimizer.value,
            "lr": float(self.lr.value),
            "content_weight": float(self.content_weight.value),
            "style_weight": float(self.style_weight.value),
            "tv_weight": float(self.tv_weight.value),
            "normalization": self.normalization.value,
            "network": self.network.value,
            "content_layers": (self.content_layer.value,),
            "style_layers": tuple(style_layers),
            "init": self.init.value,
            "precision": self.precision.value,
            "device": self.device.value,
            "seed": int(self.seed.value),
            "weights": self.weights,
        } | self._preset_settings()
        StyleConfig(**kwargs)  # the same validation as stylize, before a thread starts
        return kwargs

    def _preset_settings(self) -> dict[str, Any]:
        """With a preset: its name and no optimiser, learning rate or steps of the controls'."""
        if self.preset.value is None:
            return {}
        from ..optimize.presets import fast_plan

        plan = fast_plan(int(self.image_size.value), None, None, None)
        return {
            "preset": self.preset.value,
            "optimizer": "adam",
            "lr": None,
            "steps": sum(plan.steps_per_scale),
        }

    def run(self) -> bool:
        """Start a run with the current controls (what Run does); False if refused."""
        with self._lock:
            if self.running:
                self._say(
                    "A run is already in progress: press <b>Stop</b> or wait for it to "
                    "finish before starting another.",
                    "warning",
                )
                return False
            try:
                kwargs = self.settings()
            except ValueError as err:
                self._say(html.escape(str(err)), "error")
                return False
            content, style = self.image_source("content"), self.image_source("style")
            steps = kwargs["steps"]
            self._stop.clear()
            self.history = []
            self.result, self.error = None, None
            self._plot_weights = {
                k: kwargs[k] for k in ("content_weight", "style_weight", "tv_weight")
            }
            self.progress.max, self.progress.value = steps, 0
            self.progress.bar_style = ""
            self.progress_label.value = f"0 / {steps}"
            self.loss_plot.value = loss_plot_png([])
            self.run_button.disabled, self.stop_button.disabled = True, False
            self.save_button.disabled = True
            self._lock_job_controls(True)
            self._say("Preparing: loading VGG19 and computing the targets...")
            self._thread = threading.Thread(
                target=self._run_thread,
                args=(content, style, kwargs, self.history),
                daemon=True,
                name="nst-studio-run",
            )
            self._thread.start()
            return True

    def stop(self) -> None:
        """Ask the current run to stop after its current step; the best image so far is kept."""
        if self.running:
            self._stop.set()
            self.stop_button.disabled = True
            self._say("Stopping after this step...")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run has finished; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _callback(self, history: list[Record]) -> Callable[[Record], bool]:
        t0 = time.monotonic()

        def on_step(record: Record) -> bool:
            history.append(record)
            step = record["step"]
            self.progress.value = min(step, self.progress.max)
            self.progress_label.value = (
                f"{step} / {self.progress.max}  ·  {time.monotonic() - t0:.1f} s  ·  "
                f"loss {record['total']:.3g}  ·  "
                f"style/content {weighted_ratio(record, self._plot_weights):.2g}"
            )
            if time.monotonic() - self._last_plot > PLOT_EVERY_S:
                self._draw_plot(history)
            if step == 1 and not self._stop.is_set():
                self._say("Running: watch the preview and the losses. Stop keeps the best image.")
            return not self._stop.is_set()

        return on_step

    def _preview(self) -> Callable[[int, Image.Image], None]:
        def on_image(step: int, image: Image.Image) -> None:
            # stylize throttles by time itself (preview_seconds), so every image is shown.
            self.preview.value = png_bytes(image)

        return on_image

    def _draw_plot(self, history: list[Record]) -> None:
        self._last_plot = time.monotonic()
        self.loss_plot.value = loss_plot_png(list(history), self._plot_weights)

    def _run_thread(self, content, style, kwargs: dict, history: list) -> None:
        message: tuple[str, str] | None = None  # the final status, said once the UI is free
        try:
            result = stylize(
                content,
                style,
                callback=self._callback(history),
                preview=self._preview(),
                preview_every=self.preview_every or 1,
                preview_seconds=None if self.preview_every else PREVIEW_EVERY_S,
                **kwargs,
            )
            message = self._finish(result, history)
        except NonFiniteLossError as err:
            self._keep_error(err)
            self._finish(err.result, history)
            message = html.escape(str(err)), "error"
        except (ImageError, FileNotFoundError, ValueError, MemoryError) as err:
            self._keep_error(err)
            message = f"Cannot run: {html.escape(str(err))}", "error"
        except Exception as err:  # noqa: BLE001 - the UI shows a message, never a traceback
            self._keep_error(err)
            message = (
                f"The run failed: {type(err).__name__}: {html.escape(str(err))}",
                "error",
            )
        finally:
            self._lock_job_controls(False)
            self.run_button.disabled, self.stop_button.disabled = False, True
            self.save_button.disabled = self.result is None
            if self.result is None:
                self.progress.bar_style = "danger"
                self.progress_label.value = "failed"
            # Last, so that whoever sees "Done" or "Stopped" (a learner, a browser test) also
            # finds Run enabled again: widget updates reach the browser in order.
            if message is not None:
                self._say(*message)

    def _job_controls(self) -> list[W.Widget]:
        """Every control whose value a running job was started with."""
        return [
            self.content_picker,
            self.style_picker,
            self.upload_content,
            self.upload_style,
            self.content_weight,
            self.style_weight,
            self.tv_weight,
            self.content_layer,
            *self.style_layer_boxes.values(),
            self.network,
            self.normalization,
            self.optimizer,
            self.lr,
            self.steps,
            self.preset,
            self.image_size,
            self.init,
            self.precision,
            self.device,
            self.seed,
        ]

    def _lock_job_controls(self, locked: bool) -> None:
        # Moving one mid-run would change nothing in the job but mislead (and, for Steps,
        # the progress bar): they wait, greyed out, until it ends however it ends.
        for control in self._job_controls():
            control.disabled = locked

    def _keep_error(self, err: BaseException) -> None:
        """Keep the exception and its traceback as text, not its frames: those reference the
        failed run's images, Grams and optimiser state, and would keep them in memory."""
        self.error_traceback = "".join(traceback.format_exception(err))
        self.error = _detached(err)

    def _finish(self, result: StylizeResult, history: list[Record]) -> tuple[str, str]:
        """Show ``result``; returns the status message and its level, for the caller to say."""
        self.result = result
        self.preview.value = png_bytes(result.image)
        self._draw_plot(history)
        self.progress.bar_style = "warning" if result.interrupted else "success"
        done = len(result.history)
        steps = f"{done} step{'s' if done != 1 else ''}"
        what = f"Stopped after {steps}" if result.interrupted else f"Done: {steps}"
        note = (
            " <b>Random weights: this is not a stylised image.</b>" if result.random_weights else ""
        )
        best = f"best loss {result.best_loss:.4g} at step {result.best_step}"
        balance, advice = "", None
        if result.history:
            ratio = weighted_ratio(result.history[-1], result.settings)
            balance = f"; weighted style/content {ratio:.3g}"
            advice = balance_advice(result.history, result.settings)
        return (
            f"{what} in {result.seconds:.1f} s on {result.device} ({result.precision}); "
            f"kept the best image ({best}{balance}). Press <b>Save</b> to keep it.{note}"
            + (f"<br>Advice: {html.escape(advice)}." if advice else ""),
            "warning" if result.interrupted or advice else "ok",
        )

    # ---- saving ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write the last result as PNG without overwriting anything; returns the path.

        Default name: ``stylized_<content>_<style>.png`` in ``output_dir``; an existing file
        gets a numbered sibling (``_1``, ``_2``, ...) instead. On Colab the file is also offered
        as a download.
        """
        if self.result is None:
            self._say("Nothing to save yet: press <b>Run</b> first.", "warning")
            return None
        if path is None:
            parts = [
                _safe_stem(self._selected(k).removeprefix(UPLOAD_KEY)) for k in ("content", "style")
            ]
            tag = "_random-weights" if self.result.random_weights else ""
            path = self.output_dir / f"stylized_{parts[0]}_{parts[1]}{tag}.png"
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        for _ in range(1000):  # another process may grab the same name between check and write
            target = unique_path(target)
            try:
                save_image(self.result.image, target, overwrite=False)
                break
            except FileExistsError:
                continue
            except (OSError, ValueError) as err:
                self._say(
                    f"Could not save to {html.escape(str(target))}: {html.escape(str(err))}",
                    "error",
                )
                return None
        self.saved.append(target)
        self._say(f"Saved <code>{html.escape(str(target))}</code>.", "ok")
        _offer_download(target)
        return target

    # ---- status ------------------------------------------------------------------------------
    def _say(self, message: str, level: str = "info") -> None:
        """Show ``message`` (HTML: escape what users or errors wrote) in the status line."""
        colour = _LEVEL_COLOURS.get(level, _LEVEL_COLOURS["info"])
        weight = "600" if level in ("warning", "error") else "400"
        self.status.value = (
            f'<div class="nst-status nst-{level}" style="color:{colour};font-weight:{weight};'
            f'line-height:1.35;max-width:420px">{message}</div>'
        )

    def close(self) -> None:
        """Stop a running run, then close the widget."""
        self.stop()
        super().close()

    def __repr__(self) -> str:
        state = "running" if self.running else ("done" if self.result else "idle")
        return f"StyleStudio({state}, device={self.device.value!r}, weights={self.weights!r})"


def _label(text: str) -> W.HTML:
    """A right-aligned label as wide as the sliders' descriptions, for a widget without one."""
    return W.HTML(
        f'<div style="text-align:right;padding-right:8px">{html.escape(text)}</div>',
        layout=W.Layout(width=_LABEL_STYLE["description_width"], flex="0 0 auto"),
    )


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``[(name, content)]`` from a ``FileUpload`` value, in either ipywidgets' format.

    ipywidgets 8 gives a tuple of dicts with ``name`` and ``content`` (a memoryview);
    ipywidgets 7 (what Colab ships) a dict ``{name: {"metadata": {...}, "content": bytes}}``.
    """
    if not value:
        return []
    if isinstance(value, dict):
        return [
            (str(entry.get("metadata", {}).get("name") or name or "upload"),
             bytes(entry["content"]))
            for name, entry in value.items()
        ]  # fmt: skip
    return [(str(entry.get("name") or "upload"), bytes(entry["content"])) for entry in value]


def clear_upload(upload: W.FileUpload) -> None:
    """Empty ``upload`` (so the same file can be picked again), in ipywidgets 7 or 8."""
    if isinstance(upload.value, dict):  # ipywidgets 7: value is read-only, made from these
        upload.metadata, upload.data = [], []
        upload.set_trait("value", {})
    else:
        upload.value = ()


def _tooltip(text: str) -> dict[str, str]:
    """The keyword a description tooltip has: ``tooltip`` (ipywidgets 8) or 7's older name."""
    return {"tooltip" if int(W.__version__.split(".")[0]) >= 8 else "description_tooltip": text}


def _short(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    text = text if text.endswith((".", "!", "?")) else text + "."
    return html.escape(text)


def _resolve_quietly(device: str) -> torch.device:
    try:
        return devices.resolve_device(device)
    except ValueError:
        return torch.device("cpu")


def _offer_download(path: Path) -> None:
    """On Colab, send the file to the learner's browser; elsewhere the path is enough."""
    try:
        from google.colab import files  # type: ignore[import-not-found]
    except ImportError:
        return
    # a failed download offer must not hide that the file was saved
    with contextlib.suppress(Exception):
        files.download(str(path))


__all__ = [
    "StyleStudio",
    "loss_plot_png",
    "random_weights_banner_widget",
    "unique_path",
]
