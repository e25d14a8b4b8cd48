"""Polish the chapter notebooks after their build scripts ran: slides and self-check questions.

    python notebooks/build/polish.py                  # polish notebooks/[0-9][0-9]_*.ipynb
    python notebooks/build/polish.py --notebooks DIR  # polish copies elsewhere
    python notebooks/build/polish.py --check          # exit 1 if a notebook is not polished

For every chapter notebook it

1. sets ``metadata.slideshow.slide_type`` on every cell that has none, so that
   ``jupyter nbconvert --to slides`` (and RISE) gives one idea per slide: a heading starts a
   slide, each figure gets its own sub-slide (large), each self-check question too;
2. inserts a "Self-check" section (a markdown cell and one code cell per question from
   ``self_checks.py``) before the last cell (the key takeaways), unless the chapter already
   has its own ``check_answer`` questions. The inserted cells carry the cell metadata
   ``{"nst": "self-check"}``, so running this again replaces them instead of adding more;
3. leaves every code cell without outputs and with ``execution_count`` null, except the
   ``# NBVAL_CHECK_OUTPUT`` cells: their recorded outputs stay, and they get an execution count
   if they have none (nbval rejects a reference cell that has outputs but no count).

Running it twice gives byte-identical files. ``polish_notebook`` can also be called on a
notebook in memory, e.g. by a build script's ``--check`` mode.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

sys.path.insert(0, str(Path(__file__).resolve().parent))
from self_checks import SELF_CHECKS, Question  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"
TAG = {"nst": "self-check"}
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
WIDTH = 96  # generated code stays under ruff's line length of 100

SELF_CHECK_INTRO = """\
## Self-check

A few quick questions on this chapter. Replace each `...` with your answer and run the cell:
it tells you at once whether you are right, with a hint if not. For multiple choice, answer
with the letter, e.g. `"b"`."""

# Code that draws something: it gets a sub-slide of its own, so the figure can be large.
FIGURE = re.compile(
    r"\b(show_images|show_feature_maps|show_gram|show_pipeline|snapshot_grid|plot_history"
    r"|StyleStudio)\(|\bplt\.(subplots|figure|imshow|hist|plot)\(|\.(imshow|hist|loglog)\("
)
HEADING = re.compile(r"^(#{1,6})\s")
QUESTION = re.compile(r"\b(check_answer|quiz)\(")


# ---- self-check cells ------------------------------------------------------------------------


def _literal(value: Any) -> str:
    """Python source for an expected answer, with double-quoted strings (the house style)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _wrap(text: str, width: int) -> list[str]:
    """Split ``text`` at spaces into pieces of at most ``width`` characters that join back."""
    pieces, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) > width and current:
            pieces.append(current + " ")
            current = word
        else:
            current = candidate
    return [*pieces, current]


def _keyword(name: str, text: str) -> list[str]:
    """``    name="text",`` on one line, or as a parenthesised implicit concatenation."""
    one_line = f"    {name}={_literal(text)},"
    if len(one_line) <= WIDTH:
        return [one_line]
    parts = [f"        {_literal(piece)}" for piece in _wrap(text, WIDTH - 10)]
    return [f"    {name}=(", *parts, "    ),"]


def _comment(prefix: str, text: str) -> list[str]:
    """``text`` as comment lines, the first starting with ``prefix``, the rest indented."""
    indent = "#" + " " * (len(prefix) - 1)
    pieces = [p.rstrip() for p in _wrap(text, WIDTH - len(prefix))]
    return [prefix + pieces[0], *(indent + p for p in pieces[1:])]


def question_source(question: Question, number: int, *, with_import: bool) -> str:
    """The code cell for one question: the question as comments, ``answer = ...``, the check."""
    lines = _comment(f"# Q{number}. ", question.text)
    for letter, option in question.options.items():
        lines += _comment(f"#     ({letter}) ", option)
    if with_import:
        lines += ["from nst_helpers.checks import check_answer", ""]
    if question.options:
        letters = [f'"{k}"' for k in question.options]
        example = ", ".join(letters[:-1]) + f" or {letters[-1]}"
    else:
        example = question.example or "your answer"
    lines.append(f"answer = ...  # {example}")
    lines.append("check_answer(")
    lines.append(f"    answer, {_literal(question.expected)},")
    if question.tol is not None:
        lines.append(f"    tol={_literal(question.tol)},")
    if question.accept:
        lines.append(f"    accept={_literal(tuple(question.accept))},")
    for name in ("hint", "explanation"):
        text = getattr(question, name)
        if text:
            lines += _keyword(name, text)
    lines.append(");  # fmt: skip")
    return "\n".join(lines)


def self_check_cells(chapter: str) -> list[nbformat.NotebookNode]:
    """The tagged markdown cell and question cells for ``chapter`` (e.g. ``"03"``)."""
    questions = SELF_CHECKS.get(chapter)
    if not questions or not 2 <= len(questions) <= 3:
        raise ValueError(
            f"chapter {chapter} needs 2-3 questions in notebooks/build/self_checks.py, "
            f"found {len(questions or [])}"
        )
    cells = [new_markdown_cell(SELF_CHECK_INTRO, id=f"nst-self-check-{chapter}")]
    for i, question in enumerate(questions, start=1):
        source = question_source(question, i, with_import=i == 1)
        cells.append(new_code_cell(source, id=f"nst-self-check-{chapter}-q{i}"))
    for cell in cells:
        cell.metadata = dict(TAG)
    return cells


def is_tagged(cell: dict) -> bool:
    """True for the cells this script inserted (and replaces on every run)."""
    return cell.get("metadata", {}).get("nst") == TAG["nst"]


def has_own_questions(cells: list) -> bool:
    """True when the chapter itself (not this script) asks ``check_answer`` questions."""
    return any(
        c.cell_type == "code" and QUESTION.search(c.source) and not is_tagged(c) for c in cells
    )


# ---- slides ------------------------------------------------------------------------------------


def _heading_level(markdown: str) -> int | None:
    """Smallest heading level in ``markdown`` outside code fences, or None without headings."""
    levels, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            levels.append(len(m.group(1)))
    return min(levels) if levels else None


def slide_type(cell: dict, index: int, n_cells: int) -> str:
    """The reveal.js role of a cell: "slide", "subslide" or "-" (continue the current one)."""
    if index in (0, 1, n_cells - 1):  # title, setup (shows the weights banner), takeaways
        return "slide"
    if cell.cell_type == "markdown":
        if is_tagged(cell):
            return "slide"
        level = _heading_level(cell.source)
        if level is not None:
            return "slide" if level <= 2 else "subslide"
        return "subslide" if cell.source.lstrip().startswith("<details") else "-"
    if cell.cell_type == "code" and (QUESTION.search(cell.source) or FIGURE.search(cell.source)):
        return "subslide"
    return "-"


def _set_slides(nb: nbformat.NotebookNode) -> None:
    n = len(nb.cells)
    for i, cell in enumerate(nb.cells):
        slideshow = cell.metadata.setdefault("slideshow", {})
        slideshow.setdefault("slide_type", slide_type(cell, i, n))
    nb.metadata.setdefault("rise", {"scroll": True})  # RISE: live slides in JupyterLab
    # What an executing kernel leaves behind (its version, widget state) only makes diffs noisy.
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}


# ---- outputs -----------------------------------------------------------------------------------


def _clean_outputs(nb: nbformat.NotebookNode) -> None:
    """No outputs or counts, except checked cells, which need a count to be compared by nbval."""
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.metadata.pop("execution", None)
        if CHECK_MARK in cell.source:
            if cell.outputs and cell.execution_count is None:
                cell.execution_count = number
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = cell.execution_count
        else:
            cell.outputs = []
            cell.execution_count = None


# ---- the whole notebook ------------------------------------------------------------------------


def chapter_of(path: Path) -> str:
    """``"03"`` for ``03_gram_matrices_and_style.ipynb``."""
    return path.name[:2]


def polish_notebook(nb: nbformat.NotebookNode, chapter: str) -> nbformat.NotebookNode:
    """Polish ``nb`` in place (slides, self-check, clean outputs) and return it."""
    cells = [c for c in nb.cells if not is_tagged(c)]
    if len(cells) < 3:
        raise ValueError(f"chapter {chapter} has {len(cells)} cells; expected title, setup, ...")
    if not has_own_questions(cells):
        cells[-1:-1] = self_check_cells(chapter)
    nb.cells = cells
    _set_slides(nb)
    _clean_outputs(nb)
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The file text ``nbformat.write`` would produce."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def polish_file(path: Path, *, write: bool = True) -> bool:
    """Polish the notebook at ``path``; True when it changed (or would change)."""
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    after = render(polish_notebook(nb, chapter_of(path)))
    if after != before and write:
        path.write_text(after, encoding="utf-8")
    return after != before


def main(argv: list[str] | None = None) -> int:
    """Polish every chapter notebook in ``--notebooks`` (default: this checkout's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of chapters")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = parser.parse_args(argv)
    paths = sorted(args.notebooks.glob(CHAPTER_GLOB))
    if not paths:
        print(f"no {CHAPTER_GLOB} in {args.notebooks}", file=sys.stderr)
        return 2
    stale = []
    for path in paths:
        try:
            changed = polish_file(path, write=not args.check)
        except ValueError as err:
            print(f"{path.name}: {err}", file=sys.stderr)
            return 2
        if changed:
            stale.append(path.name)
        verb = ("NOT POLISHED" if args.check else "polished") if changed else "unchanged"
        print(f"{path.name}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
