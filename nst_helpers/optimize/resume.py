"""Checkpoints: everything a cut-off run needs to continue exactly where it stopped.

A checkpoint is one ``torch.save`` file holding the image parameters, the optimiser state,
the step, the history and the settings that must not change on resume. It is written to a
temporary file in the same folder and renamed over the old one, so a crash mid-write leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from ..config import added_later
from ..runtime.files import atomic_write, local_path

CHECKPOINT_VERSION = 1
"""The format ``stylize`` writes; files of a newer format are refused with a clear message."""
REQUIRED_KEYS = ("version", "settings", "step", "scale_index", "param", "optimizer", "history",
                 "snapshots", "best_loss", "best_step", "best_x")  # fmt: skip


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); returns the path.

    An ``OSError`` (disk full, folder removed) names ``path`` and leaves the previous file."""
    try:
        return atomic_write(path, lambda fh: torch.save(state, fh))
    except OSError as err:
        err.filename = err.filename or str(path)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``stylize(checkpoint=...)``.

    Raises ``FileNotFoundError`` if it is missing and ``ValueError`` naming the file if it is
    corrupt, truncated or not a checkpoint of this library.
    """
    path = local_path(path, "checkpoint")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file")
    try:
        # Tensors, numbers, strings and containers only: a checkpoint from elsewhere cannot
        # run code when it is loaded (stylize stores its snapshots as uint8 tensors).
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle and zip errors come in many types
        raise ValueError(f"checkpoint {str(path)!r} is corrupt or truncated: {err}") from err
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
        (_is_int(state["scale_index"]) and 0 <= state["scale_index"] < n_scales,
         "scale_index is out of range"),
        (isinstance(state["param"], dict) and len(state["param"]) > 0
         and all(isinstance(v, torch.Tensor) for v in state["param"].values()),
         "the image parameters are missing"),
        (isinstance(state["optimizer"], dict), "the optimiser state is foreign"),
        (isinstance(state["history"], list)
         and all(isinstance(r, dict) for r in state["history"]), "history is not a list of steps"),
        (isinstance(state["snapshots"], dict)
         and all(isinstance(v, torch.Tensor) for v in state["snapshots"].values()),
         "snapshots are not images"),
        (isinstance(state["best_loss"], int | float), "best_loss is not a number"),
        (_is_int(state["best_step"]), "best_step is not a step"),
        (state["best_x"] is None or isinstance(state["best_x"], torch.Tensor),
         "best_x is not an image"),
        ("rng" not in state or (isinstance(state["rng"], torch.Tensor)
                                and state["rng"].shape == torch.get_rng_state().shape),
         "the random generator state is foreign"),
    ]  # fmt: skip
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
