"""Checkpoints: everything a cut-off run needs to continue exactly where it stopped.

A checkpoint is one ``torch.save`` file holding the image parameters, the optimiser state,
the step, the history and the settings that must not change on resume. It is written to a
temporary file in the same folder and renamed over the old one, so a crash mid-write leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import added_later
from ..runtime import files
from ..runtime.files import atomic_write, local_path, read_checkpoint
from .hooks import check_every
from .scaler import LossScaler
from .state import Best, RunState

CHECKPOINT_VERSION = 1
"""The format ``stylize`` writes; files of a newer format are refused with a clear message."""
REQUIRED_KEYS = (
    "version",
    "settings",
    "step",
    "scale_index",
    "param",
    "optimizer",
    "history",
    "snapshots",
    "best_loss",
    "best_step",
    "best_x",
)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); returns the path.

    An ``OSError`` (disk full, folder removed) names ``path`` and leaves the previous file."""
    try:
        return atomic_write(path, lambda fh: torch.save(state, fh))
    except OSError as err:
        err.filename = err.filename or str(path)
        raise


def check_checkpoint_path(
    path: str | os.PathLike,
    resume: str | os.PathLike | None = None,
    *,
    load: Callable[[Path], object] | None = None,
    kind: str = "checkpoint",
) -> Path:
    """``runtime.files.check_checkpoint_path`` (the one check, which training uses too) with
    ``stylize``'s ``load_checkpoint`` as the loader that vets an existing file."""
    return files.check_checkpoint_path(path, resume, load=load or load_checkpoint, kind=kind)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``stylize(checkpoint=...)``.

    Raises ``FileNotFoundError`` if it is missing and ``ValueError`` naming the file if it is
    corrupt, truncated or not a checkpoint of this library.
    """
    path = local_path(path, "checkpoint")
    # Read weights-only: stylize stores its snapshots as uint8 tensors for that reason.
    state = read_checkpoint(path)
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise ValueError(f"{str(path)!r} is not an nst_helpers checkpoint")
    version = state["version"]
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r} has format {version}, written by a newer nst_helpers "
            f"(this one reads format {CHECKPOINT_VERSION}): upgrade, or start afresh"
        )
    problem = _malformed(state)
    if problem:
        raise ValueError(f"checkpoint {str(path)!r} is damaged or foreign: {problem}")
    return state


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _malformed(state: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's structure, or ``None``: vetted before any use."""
    settings = state["settings"]
    scales = settings.get("scales") if isinstance(settings, dict) else None
    n_scales = len(scales) if isinstance(scales, list) else math.inf
    checks = [
        (_is_int(state["version"]) and state["version"] >= 1, "version is not a format number"),
        (isinstance(settings, dict), "the settings are missing"),
        (_is_int(state["step"]) and state["step"] >= 0, "step is not a step count"),
        (
            _is_int(state["scale_index"]) and 0 <= state["scale_index"] < n_scales,
            "scale_index is out of range",
        ),
        (
            isinstance(state["param"], dict)
            and len(state["param"]) > 0
            and all(isinstance(v, torch.Tensor) for v in state["param"].values()),
            "the image parameters are missing",
        ),
        (isinstance(state["optimizer"], dict), "the optimiser state is foreign"),
        (
            isinstance(state["history"], list)
            and all(isinstance(r, dict) for r in state["history"]),
            "history is not a list of steps",
        ),
        (
            isinstance(state["snapshots"], dict)
            and all(isinstance(v, torch.Tensor) for v in state["snapshots"].values()),
            "snapshots are not images",
        ),
        (isinstance(state["best_loss"], int | float), "best_loss is not a number"),
        (_is_int(state["best_step"]), "best_step is not a step"),
        (
            state["best_x"] is None or isinstance(state["best_x"], torch.Tensor),
            "best_x is not an image",
        ),
        (
            "rng" not in state
            or (
                isinstance(state["rng"], torch.Tensor)
                and state["rng"].shape == torch.get_rng_state().shape
            ),
            "the random generator state is foreign",
        ),
    ]
    return next((message for ok, message in checks if not ok), None)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The global random generators' states, for a checkpoint (CPU, and CUDA when used)."""
    state: dict[str, Any] = {"rng": torch.get_rng_state()}
    if device.type == "cuda" and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put the global random generators back where ``rng_state`` found them: a resumed run
    then draws the same numbers an uninterrupted one would have."""
    rng = state.get("rng")
    if isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8:
        torch.set_rng_state(rng)
    cuda = state.get("cuda_rng")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if isinstance(cuda, list) and gpus and len(cuda) == gpus:  # else another machine's GPUs
        torch.cuda.set_rng_state_all(cuda)


def check_compatible(
    saved: dict[str, Any], current: dict[str, Any], path: str | os.PathLike
) -> None:
    """Raise ``ValueError`` naming ``path`` and each setting that differs from the saved run.

    A setting added after the checkpoint was written counts as the value runs had before it
    existed (``config.added_later``), so v0.1 checkpoints still resume.
    """
    saved = {**{k: v for k, v in added_later().items() if k in current}, **saved}
    diffs = [
        f"{key}: checkpoint has {saved.get(key)!r}, this call has {current.get(key)!r}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if diffs:
        raise ValueError(
            f"checkpoint {str(path)!r} was made with other settings; resume with the same ones "
            "or start afresh:\n  " + "\n  ".join(diffs)
        )


def load_into(param, opt: torch.optim.Optimizer, state: dict[str, Any], source: str) -> None:
    """Put a checkpoint's image parameters and optimiser state into ``param`` and ``opt``.

    A state that does not fit (other shapes, another optimiser) is a ``ValueError`` naming
    ``source``: ``copy_`` would broadcast a wrong shape without a word.
    """
    shapes = {k: tuple(v.shape) for k, v in param.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in state["param"].items()}
    try:
        if shapes != saved:
            raise ValueError(f"image parameters {saved}, this run needs {shapes}")
        param.load_state_dict(state["param"])
        opt.load_state_dict(state["optimizer"])
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as err:
        raise ValueError(
            f"checkpoint {source!r} does not fit this run (damaged or foreign): "
            f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        ) from None


# ---- a stylize run's checkpoint: written, vetted and restored here ---------------------------


def local_files(*paths: str | os.PathLike | None) -> tuple[Path | None, ...]:
    """Checkpoint paths as local Paths (``file://`` URLs too); other URLs are a ValueError."""
    return tuple(None if p is None else local_path(p, "checkpoint") for p in paths)


class Checkpointer:
    """Where and how often a run saves itself: ``path`` every ``every`` steps (and when it is
    stopped). Both are checked when it is made, before any work."""

    def __init__(
        self,
        path: str | os.PathLike | None,
        every: int | None = None,
        resume: str | os.PathLike | None = None,
    ) -> None:
        check_every("checkpoint_every", every)
        if every is not None and path is None:
            raise ValueError("checkpoint_every needs checkpoint=PATH")
        self.path = None if path is None else check_checkpoint_path(path, resume)
        self.every = every

    def due(self, step: int) -> bool:
        return self.every is not None and step % self.every == 0

    def save(self, settings: dict[str, Any], state: RunState, stage, device: torch.device) -> None:
        """Write the checkpoint of ``state`` with the current ``stage``'s (a ``loop.StageRun``)
        image parameters, optimiser and moving average, under the run's ``settings`` (what a
        resume must agree on); a no-op without a path."""
        if self.path is None:
            return
        best, scaler, ema = state.best, state.scaler, stage.ema
        snapshots = state.snapshots.items()
        save_checkpoint(
            self.path,
            {
                "version": CHECKPOINT_VERSION,
                "settings": settings,
                "step": state.step,
                "scale_index": state.stage,
                "param": stage.param.state_dict(),
                "optimizer": stage.opt.state_dict(),
                "history": state.history,
                # uint8 [H, W, 3] tensors, not PIL images: the file loads with weights_only=True
                "snapshots": {k: torch.from_numpy(np.asarray(v).copy()) for k, v in snapshots},
                "best_loss": best.loss,
                "best_step": best.step,
                "best_x": None if best.x is None else best.x.cpu(),
                **rng_state(device),
                "loss_scale": scaler.scale,
                "good_steps": scaler.good_steps,
                "ema": None if ema is None else ema.state_dict(),
            },
        )


def resumed_state(path: str | os.PathLike, settings: dict[str, Any], device: torch.device):
    """The ``RunState`` saved at ``path``: read, vetted (``ValueError`` for a damaged or
    foreign file or one made with other ``settings``) and put on ``device``. Its image
    parameters and optimiser state wait in ``.resumed`` for the stage they belong to."""
    saved = load_checkpoint(path)
    check_compatible(saved.get("settings", {}), settings, path)
    scaler = LossScaler()
    scaler.load_state_dict(
        {"scale": saved.get("loss_scale", scaler.scale), "good_steps": saved.get("good_steps", 0)}
    )
    best_x = saved["best_x"]
    snapshots = saved["snapshots"].items()
    return RunState(
        step=saved["step"],
        stage=saved["scale_index"],
        history=list(saved["history"]),
        snapshots={int(k): Image.fromarray(v.numpy(), "RGB") for k, v in snapshots},
        best=Best(
            saved["best_loss"], saved["best_step"], None if best_x is None else best_x.to(device)
        ),
        scaler=scaler,
        ema=saved.get("ema"),
        resumed={**saved, "source": str(path)},
    )
