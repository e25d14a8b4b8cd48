"""What the chapter build scripts share: the setup cell, badges, notebook assembly and execution.

The build scripts run as ``python notebooks/build/NAME.py``, so this folder is on ``sys.path``.
"""

import contextlib
import os
from collections.abc import Iterator

SETUP_CELL = """\
# Setup: on Colab, fetch the course and install its helpers; locally, use this checkout.
import importlib.util
import os

on_colab = importlib.util.find_spec("google") and importlib.util.find_spec("google.colab")
if on_colab and not os.path.isdir("/content/nst-course"):
    !git clone -q --depth 1 https://github.com/nst-course/nst-course /content/nst-course
    %pip install -q -e /content/nst-course
    os.chdir("/content/nst-course/notebooks")

from nst_helpers.course import setup

cfg = setup()  # device, quick mode, weights; shows a banner when weights are random"""


COLAB_NOTEBOOKS = (
    "https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks"
)
COLAB_BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_badge(path: str) -> str:
    """Markdown "Open in Colab" badge for ``path`` (relative to ``notebooks/``, with .ipynb)."""
    return f"[![Open in Colab]({COLAB_BADGE_SVG})]({COLAB_NOTEBOOKS}/{path})"


CHECK = "# NBVAL_CHECK_OUTPUT"
OFFLINE_ENV = {"NST_WEIGHTS": "random", "NST_QUICK": "1", "MPLBACKEND": "Agg"}


def notebook(cells: list[tuple[str, str]], id_prefix: str, gpu: bool = True):
    """An nbformat notebook from ``(kind, source)`` pairs ("md" or "code"), without outputs.

    Cell ids are stable (``{id_prefix}-NN``), so rebuilding gives an identical file. ``gpu``
    asks Colab for a GPU runtime.
    """
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    built = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells]
    for i, cell in enumerate(built):
        cell.id = f"{id_prefix}-{i:02d}"
    nb = new_notebook(cells=built)
    nb.metadata.update(
        {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "colab": {"provenance": []},
        }
    )
    if gpu:
        nb.metadata["accelerator"] = "GPU"
    return nb


@contextlib.contextmanager
def offline_environment() -> Iterator[None]:
    """Quick mode and random weights for the kernels started inside (they inherit this
    process's environment); the caller's environment is restored afterwards."""
    saved = {k: os.environ.get(k) for k in OFFLINE_ENV}
    os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def keep_checked_outputs(nb, cwd) -> None:
    """Run ``nb`` offline (quick mode, random weights) in ``cwd``; keep only the outputs and
    execution counts of ``# NBVAL_CHECK_OUTPUT`` cells, the ones nbval compares."""
    from nbclient import NotebookClient

    with offline_environment():
        NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(cwd)}}).execute()
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}  # not the kernel's version: clean diffs
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata = {}
        if CHECK not in cell.source:
            cell.execution_count = None
            cell.outputs = []


def write_chapter(build, path, description: str) -> None:
    """Command line of a one-chapter build script: write ``build()`` to ``path``, executing it
    for its checked outputs unless ``--no-run``."""
    import argparse

    import nbformat

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--no-run", action="store_true", help="do not execute the notebook")
    args = parser.parse_args()
    nb = build()
    if not args.no_run:
        keep_checked_outputs(nb, path.parent)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"wrote {path}")
