"""Environment switches (``NST_QUICK``, ``NST_CUDA_GRAPHS``, ...), read one way everywhere."""

from __future__ import annotations

import os

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def env_flag(name: str, default: bool) -> bool:
    """The switch ``name``: ``1/true/yes/on`` -> True, ``0/false/no/off`` -> False, unset or
    empty -> ``default``; anything else is a ``ValueError`` that names the variable."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(
        f"{name}={raw!r} is not understood; use 1/true/yes/on or 0/false/no/off (or unset it)"
    )
