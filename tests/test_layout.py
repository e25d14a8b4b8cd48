"""The package's layers, as the folder tree shows them, and the old flat paths that still work.

Layers, bottom to top (an import may only point down or sideways within its layer):

    runtime/   files, interrupts, data            what every layer leans on
    engine     config, images, features, ...      the blocks the chapters teach (top-level modules)
    optimize/  stylize and its machinery          the optimisation loop
    feedforward/                                  real-time networks (trained with the engine's losses)
    course/    setup, plotting, quizzes, checks   what a chapter calls around the engine
    apps/      cli, studio                        programs built on all of the above
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import nst_helpers
from nst_helpers import _aliases

PACKAGE = Path(nst_helpers.__file__).parent
ORDER = ["runtime", "engine", "optimize", "feedforward", "course", "apps"]


def _layer(module: str) -> str:
    """``nst_helpers.optimize.memory`` -> ``optimize``; top-level modules are the engine."""
    parts = module.split(".")[1:]
    if len(parts) > 1 or (parts and (PACKAGE / parts[0]).is_dir()):
        return parts[0]
    return "engine"


def _imports(path: Path) -> set[str]:
    """Absolute names of the ``nst_helpers`` modules one file imports (also inside functions)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, *([node.module] if node.module else [])])
            if node.module is None:  # from . import devices
                found |= {f"{target}.{alias.name}" for alias in node.names}
            else:
                found.add(target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nst_helpers"):
            found.add(node.module)
    return found


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path: Path) -> None:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    here = _layer(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    if rel.parts[-1] in {"__init__", "_aliases"} and len(rel.parts) == 2:
        return  # the public API re-exports every layer
    upward = [
        name
        for name in _imports(path)
        if name != "nst_helpers" and ORDER.index(_layer(name)) > ORDER.index(here)
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} ({here}) imports a higher layer: {upward}"


def test_layer_of_known_modules() -> None:
    # the helper itself must classify correctly, or the test above passes vacuously
    assert _layer("nst_helpers.features") == "engine"
    assert _layer("nst_helpers.optimize") == "optimize"
    assert _layer("nst_helpers.optimize.memory") == "optimize"
    assert _layer("nst_helpers.apps.cli") == "apps"
    assert _imports(PACKAGE / "apps" / "cli.py") >= {"nst_helpers.optimize.memory"}


@pytest.mark.parametrize("old", sorted(_aliases.MOVED))
def test_old_module_paths_are_the_moved_modules(old: str) -> None:
    moved = importlib.import_module(f"nst_helpers.{_aliases.MOVED[old]}")
    assert importlib.import_module(f"nst_helpers.{old}") is moved
    assert not (PACKAGE / f"{old}.py").exists(), f"{old}.py is both moved and present"


def test_old_paths_keep_their_names() -> None:
    from nst_helpers.cli import main
    from nst_helpers.memory import estimate_memory
    from nst_helpers.widgets import StyleStudio

    assert main.__module__ == "nst_helpers.apps.cli"
    assert estimate_memory.__module__ == "nst_helpers.optimize.memory"
    assert StyleStudio.__module__ == "nst_helpers.apps.studio"


def test_unknown_old_path_still_fails() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("nst_helpers.no_such_module")
