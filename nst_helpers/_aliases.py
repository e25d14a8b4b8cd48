"""Old module paths, kept working for one release after the move into layers.

Until v0.2 the package was flat (``nst_helpers.memory``, ``nst_helpers.widgets``, ...). Each
old name below resolves to the module that now holds the code, as the *same module object*, so
``from nst_helpers.memory import estimate_memory`` and ``import nst_helpers.cli`` keep working
in notebooks and scripts written against v0.1.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

MOVED: dict[str, str] = {
    "balance": "optimize.balance",
    "checkpoint": "optimize.resume",
    "checks": "course.checks",
    "cli": "apps.cli",
    "data": "runtime.data",
    "files": "runtime.files",
    "interrupts": "runtime.interrupts",
    "memory": "optimize.memory",
    "photos": "feedforward.photos",
    "plotting": "course.plotting",
    "presets": "optimize.presets",
    "quizzes": "course.quizzes",
    "recompute": "optimize.recompute",
    "widgets": "apps.studio",
}
"""Old module name (under ``nst_helpers``) -> its new dotted path."""

_PACKAGE = __name__.rpartition(".")[0]


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an import of an old path with the module at its new path."""

    def find_spec(self, fullname, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        parent, _, name = fullname.rpartition(".")
        if parent != _PACKAGE or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(f"{_PACKAGE}.{MOVED[spec.name.rpartition('.')[2]]}")

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported under its new name."""


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModules())
