"""What a chapter does once a learner's exercise passes: run it on the real network.

CI runs the chapters with the exercise stubs (``raise NotImplementedError``), so the cells that
put a *passing* function to work (chapter 04's relative loss on VGG19's features, chapter 05's
loop on VGG19 with its picture, chapter 08's training step on VGG19 and a ``TransformerNet``)
never run there. Here each chapter runs up to that cell with the stub replaced by the reference
solution from ``notebooks/solutions/solutions.ipynb`` (quick mode, random weights), and the
cell must report what it did.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
# chapter, the exercise's function, the solutions it needs, cells to leave out (not needed by the
# exercise, only slow), the cell that puts a passing function to work, what it must print
CASES = [
    (
        "04_losses",
        "my_relative_style_loss",
        ("my_gram_matrix", "my_relative_style_loss"),
        ("style_weights = [", "betas = list(runs)"),
        "passed = check_relative_loss",
        r"relu1_1: yours [\d.e+-]+, the library's [\d.e+-]+",
    ),
    (
        "05_the_optimisation_loop",
        "my_style_transfer",
        ("my_style_transfer",),
        (),
        "Your loop has not passed",
        r"your loop: loss [\d.e+-]+ -> [\d.e+-]+ in \d+ steps; every pixel within the bounds: True",
    ),
    (
        "08_real_time_style_transfer",
        "my_training_step",
        ("my_training_step",),
        (),
        "passed = check_training_step",
        r"your steps on VGG19, loss: [\d.e+-]+ -> [\d.e+-]+ -> [\d.e+-]+",
    ),
]


def solution(name: str) -> str:
    """The reference ``def name(...)`` block from the solutions notebook."""
    cells = nbformat.read(NOTEBOOKS / "solutions" / "solutions.ipynb", as_version=4).cells
    source = next(c.source for c in cells if c.cell_type == "code" and f"def {name}(" in c.source)
    block = re.search(rf"^def {name}\(.*?(?=^[^\s)])", source + "\n#", re.S | re.M)
    assert block, name
    return block.group(0)


@pytest.mark.parametrize(
    ("chapter", "fn", "needs", "skip", "until", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_a_passing_exercise_runs_on_the_real_network(chapter, fn, needs, skip, until, expected):
    nb = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
    cells, skipped, replaced = [], set(), False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if any(marker in cell.source for marker in skip):
            skipped |= {marker for marker in skip if marker in cell.source}
            continue
        if f"def {fn}(" in cell.source and "raise NotImplementedError" in cell.source:
            head, _, tail = cell.source.partition(f"def {fn}(")
            tail = tail[tail.index("raise NotImplementedError") :].split("\n", 1)[1]
            cell.source = head + "\n\n".join(solution(n) for n in needs) + tail
            replaced = True
        cells.append(cell)
        if until in cell.source:
            break
    else:
        pytest.fail(f"{chapter}: no cell holds {until!r}")
    assert replaced, f"{chapter} has no stub of {fn}"
    assert skipped == set(skip), f"{chapter}: cells to leave out not found: {set(skip) - skipped}"
    nb.cells = cells
    env = {"NST_WEIGHTS": "random", "NST_QUICK": "1", "MPLBACKEND": "Agg", "NST_TESTING": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    printed = "".join(
        o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream"
    )
    assert re.search(expected, printed), printed
