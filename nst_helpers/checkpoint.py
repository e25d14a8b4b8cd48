"""Checkpoints: everything a cut-off run needs to continue exactly where it stopped.

A checkpoint is one ``torch.save`` file holding the image parameters, the optimiser state,
the step, the history and the settings that must not change on resume. It is written to a
temporary file in the same folder and renamed over the old one, so a crash mid-write leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write

REQUIRED_KEYS = ("version", "settings", "step", "scale_index", "param", "optimizer", "history",
                 "snapshots", "best_loss", "best_step", "best_x")  # fmt: skip


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); returns the path."""
    return atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``stylize(checkpoint=...)``.

    Raises ``FileNotFoundError`` if it is missing and ``ValueError`` naming the file if it is
    corrupt, truncated or not a checkpoint of this library.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    try:
        # Tensors, numbers, strings and containers only: a checkpoint from elsewhere cannot
        # run code when it is loaded (stylize stores its snapshots as uint8 tensors).
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle and zip errors come in many types
        raise ValueError(f"checkpoint {str(path)!r} is corrupt or truncated: {err}") from err
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise ValueError(f"{str(path)!r} is not an nst_helpers checkpoint")
    return state


def check_compatible(
    saved: dict[str, Any], current: dict[str, Any], path: str | os.PathLike
) -> None:
    """Raise ``ValueError`` naming ``path`` and each setting that differs from the saved run."""
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
