"""`make notebooks`: keep every chapter and its jupytext text file in step, clean, re-recorded.

The notebooks are the source. Each ``notebooks/NN_name.ipynb`` (and
``notebooks/solutions/solutions.ipynb``) is paired with ``NN_name.py`` in jupytext's
``py:percent`` format (``jupytext.toml`` at the repository root); edit either one, in JupyterLab
or in a text editor, then run::

    python scripts/notebooks.py                  # sync, tidy, re-record check outputs, sync
    python scripts/notebooks.py --no-execute     # sync and tidy only (seconds, no kernel)
    python scripts/notebooks.py --only 03,05     # just those chapters ("solutions" works too)
    python scripts/notebooks.py --check          # change nothing; exit 1 if anything would change

What each step does:

1. **sync** runs ``jupytext --sync`` on each pair: the side modified last is the source, so a
   newer edit is never overwritten. If *both* sides were edited since the last commit and they
   disagree, it stops and names the pair instead of guessing (merge them by hand first).
2. **tidy** gives a cell without slide metadata a slide type (a heading starts a slide, a
   figure or a self-check question gets a sub-slide), strips outputs and execution counts with
   nbstripout, except in ``# NBVAL_CHECK_OUTPUT`` cells, which keep their outputs and get an
   execution count (nbval compares those outputs), and drops what an executing kernel leaves
   in the notebook metadata (widget state, the Python version).
3. **record** executes the notebook offline (``NST_WEIGHTS=hed NST_QUICK=1``, as CI runs it)
   and stores the fresh outputs of the check cells.
4. **sync** again, so the text files carry the slide metadata step 2 added.

Running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import jupytext
import nbformat
from nbstripout import strip_output

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CHAPTER_GLOB = "[0-9][0-9]_*"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
TEXT_FORMAT = "py:percent"
OFFLINE_ENV = {
    "NST_WEIGHTS": "hed",  # trained features offline, as `make test` runs the chapters
    "NST_QUICK": "1",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}
# What nbstripout's command line strips by default, plus the kernel's version details.
EXTRA_KEYS = [
    "metadata.signature",
    "metadata.widgets",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
]

# Code that draws something: it gets a sub-slide of its own, so the figure can be large.
FIGURE = re.compile(
    r"\b(show_images|show_feature_maps|show_gram|show_pipeline|snapshot_grid|plot_history"
    r"|StyleStudio)\(|\bplt\.(subplots|figure|imshow|hist|plot)\(|\.(imshow|hist|loglog)\("
)
QUESTION = re.compile(r"\b(check_answer|quiz)\(")
HEADING = re.compile(r"^(#{1,6})\s")


class SyncConflict(RuntimeError):
    """Both files of a pair were edited (since the last commit, or during the run)."""


# ---- finding the pairs --------------------------------------------------------------------


def notebooks_in(folder: Path = NOTEBOOKS) -> list[Path]:
    """Every paired notebook of ``folder``: the chapters, then ``solutions/solutions.ipynb``.

    A chapter that exists only as a text file (a new one written in an editor) is listed by
    the ``.ipynb`` path that ``sync`` will create for it.
    """
    stems = {p.stem for p in folder.glob(CHAPTER_GLOB + ".ipynb")}
    stems |= {p.stem for p in folder.glob(CHAPTER_GLOB + ".py")}
    found = [folder / f"{stem}.ipynb" for stem in sorted(stems)]
    solutions = folder / "solutions" / "solutions.ipynb"
    if solutions.exists() or solutions.with_suffix(".py").exists():
        found.append(solutions)
    return found


def text_file(notebook: Path) -> Path:
    """The jupytext text file paired with ``notebook``."""
    return notebook.with_suffix(".py")


def select(paths: list[Path], only: str | None) -> list[Path]:
    """``--only 03,solutions``: the notebooks whose stem is or starts with one of the names."""
    if not only:
        return paths
    names = [n.strip() for n in only.split(",") if n.strip()]
    chosen = [p for p in paths if any(p.stem == n or p.stem.startswith(n + "_") for n in names)]
    if not chosen:
        raise SystemExit(f"notebooks: --only {only} matches none of {[p.stem for p in paths]}")
    return chosen


# ---- 1. sync ------------------------------------------------------------------------------


def _config(folder: Path):
    from jupytext.config import load_jupytext_config

    return load_jupytext_config(str(folder.resolve()))


def text_of(nb: nbformat.NotebookNode, folder: Path) -> str:
    """The text file ``jupytext --sync`` writes for ``nb`` in ``folder`` (its jupytext.toml)."""
    return jupytext.writes(nb, fmt=TEXT_FORMAT, config=_config(folder))


def pair_metadata(nb: nbformat.NotebookNode, folder: Path) -> None:
    """Give ``nb`` the ``jupytext`` metadata its text file's header carries.

    The text file records the metadata filter of ``jupytext.toml``; jupytext copies it into the
    notebook whenever the text side is newer. Setting it here makes ``--sync`` a no-op in both
    directions, whichever file a checkout happens to make newer.
    """
    config = _config(folder)
    wanted = getattr(config, "notebook_metadata_filter", None) if config else None
    if wanted:
        nb.metadata["jupytext"] = {"notebook_metadata_filter": wanted}
    else:
        nb.metadata.pop("jupytext", None)


def in_sync(notebook: Path) -> bool:
    """True when the text file is exactly what jupytext would write for ``notebook``."""
    text = text_file(notebook)
    if not (notebook.exists() and text.exists()):
        return False
    nb = jupytext.read(notebook)
    return text_of(nb, notebook.parent) == text.read_text(encoding="utf-8")


def _committed(path: Path) -> str | None:
    """``path`` as of the last commit, or None (no git, untracked, new file)."""
    try:
        rel = path.resolve().relative_to(REPO)
    except ValueError:
        return None
    proc = subprocess.run(
        ["git", "show", f"HEAD:{rel.as_posix()}"], cwd=REPO, capture_output=True, text=True
    )
    return proc.stdout if proc.returncode == 0 else None


def _root(notebook: Path) -> Path:
    """The folder holding ``jupytext.toml`` above ``notebook`` (the checkout's root)."""
    for folder in notebook.resolve().parents:
        if (folder / "jupytext.toml").exists():
            return folder
    return notebook.resolve().parent


def _state(notebook: Path) -> tuple[Path, str]:
    """Where the last synced text of each pair is remembered, and this pair's key there."""
    root = _root(notebook)
    return root / "_build" / "notebook-sync.json", notebook.resolve().relative_to(root).as_posix()


def last_synced(notebook: Path) -> str | None:
    """The text both files agreed on after the last ``make notebooks`` here, else the
    committed text file (a fresh checkout), else None."""
    path, key = _state(notebook)
    try:
        return json.loads(path.read_text(encoding="utf-8"))[key]
    except (OSError, ValueError, KeyError):
        return _committed(text_file(notebook))


def remember_synced(notebook: Path) -> None:
    path, key = _state(notebook)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    state[key] = text_file(notebook).read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=0, sort_keys=True), encoding="utf-8")


def check_no_conflict(notebook: Path) -> None:
    """Raise ``SyncConflict`` when both sides changed since they last agreed, differently.

    The base is the text of the last sync in this checkout (or, in a fresh one, the committed
    text file): an edit on one side only is simply newer and wins; edits on both sides would
    make ``jupytext --sync`` drop one of them.
    """
    text = text_file(notebook)
    if not (notebook.exists() and text.exists()) or in_sync(notebook):
        return
    base = last_synced(notebook)
    if base is None:
        return
    nb_text = text_of(jupytext.read(notebook), notebook.parent)
    if nb_text != base and text.read_text(encoding="utf-8") != base:
        raise SyncConflict(
            f"{notebook.name} and {text.name} were both edited since they were last synced and "
            f"disagree; keep one (`git checkout -- <the other>`) or copy your edits into one "
            f"of them, then run `make notebooks` again"
        )


def sync(notebook: Path) -> None:
    """``jupytext --sync`` on one pair (the newer side wins; creates a missing side)."""
    from jupytext.cli import jupytext as jupytext_cli

    source = notebook if notebook.exists() else text_file(notebook)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = jupytext_cli(["--sync", "--quiet", str(source)])
    if status:
        raise RuntimeError(f"jupytext --sync {source} failed with status {status}")


# ---- 2. tidy ------------------------------------------------------------------------------


def heading_level(markdown: str) -> int | None:
    """Smallest heading level in ``markdown`` outside code fences, or None without headings."""
    levels, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            levels.append(len(m.group(1)))
    return min(levels) if levels else None


def slide_type(cell: dict, index: int, n_cells: int) -> str:
    """The reveal.js role of a cell without one: "slide", "subslide" or "-" (continue)."""
    if index in (0, 1, n_cells - 1):  # title, setup (shows the weights banner), takeaways
        return "slide"
    if cell["cell_type"] == "markdown":
        level = heading_level(cell["source"])
        if level is not None:
            return "slide" if level <= 2 else "subslide"
        return "subslide" if cell["source"].lstrip().startswith("<details") else "-"
    if cell["cell_type"] == "code" and (
        QUESTION.search(cell["source"]) or FIGURE.search(cell["source"])
    ):
        return "subslide"
    return "-"


def is_checked(cell: dict) -> bool:
    """A ``# NBVAL_CHECK_OUTPUT`` cell: its outputs are committed and compared by nbval."""
    return cell["cell_type"] == "code" and CHECK_MARK in cell["source"]


def tidy(nb: nbformat.NotebookNode, *, slides: bool = True) -> nbformat.NotebookNode:
    """Slide metadata on every cell, no outputs except checked cells; ``nb`` in place."""
    if slides:
        n = len(nb.cells)
        for i, cell in enumerate(nb.cells):
            cell.metadata.setdefault("slideshow", {}).setdefault(
                "slide_type", slide_type(cell, i, n)
            )
        nb.metadata.setdefault("rise", {"scroll": True})  # RISE: live slides in JupyterLab
    kept = {id(c): (c.outputs, c.execution_count) for c in nb.cells if is_checked(c)}
    strip_output(nb, keep_output=False, keep_count=False, keep_id=True, extra_keys=EXTRA_KEYS)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code, start=1):
        if id(cell) not in kept:
            continue
        outputs, count = kept[id(cell)]
        cell.outputs = outputs
        # nbval rejects a reference cell that has outputs but no execution count
        cell.execution_count = (count or number) if outputs else None
        for output in outputs:
            if "execution_count" in output:
                output.execution_count = cell.execution_count
    nb.metadata["language_info"] = {"name": "python"}  # not the kernel's version: clean diffs
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The file text ``nbformat.write`` produces (what jupytext writes too)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


# ---- 3. record ----------------------------------------------------------------------------


def record(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute a copy of ``nb`` offline in ``cwd``; copy the checked cells' outputs into ``nb``."""
    from nbclient import NotebookClient

    run = nbformat.from_dict(nb)  # a deep copy: nb keeps its own metadata and ids
    env = {**os.environ, **OFFLINE_ENV}
    client = NotebookClient(run, timeout=timeout, resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    for cell, done in zip(nb.cells, run.cells, strict=True):
        if is_checked(cell):
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
    return nb


# ---- the command --------------------------------------------------------------------------


def process(notebook: Path, *, execute: bool, write: bool = True) -> bool:
    """Sync, tidy (and record) one pair; True when a file changed (or would change)."""
    before = {p: p.read_bytes() if p.exists() else None for p in (notebook, text_file(notebook))}
    if not write:
        if not in_sync(notebook):
            return True
        nb = jupytext.read(notebook)
        pair_metadata(nb, notebook.parent)
        return render(tidy(nb, slides=_is_chapter(notebook))) != before[notebook].decode()
    check_no_conflict(notebook)
    sync(notebook)
    synced = {p: p.read_bytes() for p in (notebook, text_file(notebook))}
    nb = nbformat.read(notebook, as_version=4)
    pair_metadata(nb, notebook.parent)
    tidy(nb, slides=_is_chapter(notebook))
    if execute:
        record(nb, notebook.parent)
        tidy(nb, slides=_is_chapter(notebook))
    edited = [p.name for p, b in synced.items() if p.read_bytes() != b]
    if edited:  # saved while the chapter ran: that edit is newer than what we would write
        raise SyncConflict(
            f"{' and '.join(edited)} changed while {notebook.name} was being processed; "
            "nothing was overwritten: run `make notebooks` again"
        )
    text = render(nb)
    if text != notebook.read_text(encoding="utf-8"):
        notebook.write_text(text, encoding="utf-8")
    if not in_sync(notebook):  # tidy added slide metadata: the notebook is the newer side now
        mtime = notebook.stat().st_mtime
        os.utime(text_file(notebook), (mtime - 1, mtime - 1))  # even within one clock tick
        sync(notebook)
    remember_synced(notebook)
    return any((p.read_bytes() if p.exists() else None) != b for p, b in before.items())


def _is_chapter(notebook: Path) -> bool:
    return re.match(r"\d\d_", notebook.name) is not None


def main(argv: Iterable[str] | None = None) -> int:
    """Sync, tidy and re-record every notebook pair (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of chapters")
    parser.add_argument("--only", help="comma list of chapter numbers or stems, or 'solutions'")
    parser.add_argument("--no-execute", action="store_true", help="do not re-record outputs")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = parser.parse_args(None if argv is None else list(argv))
    paths = select(notebooks_in(args.notebooks), args.only)
    if not paths:
        print(f"notebooks: no {CHAPTER_GLOB}.ipynb in {args.notebooks}", file=sys.stderr)
        return 2
    stale, failed = [], []
    for path in paths:
        start = time.perf_counter()
        try:
            changed = process(path, execute=not args.no_execute, write=not args.check)
        except SyncConflict as err:
            print(f"notebooks: {err}", file=sys.stderr)
            return 1
        except Exception as err:  # a cell failed while recording: report it, do the others
            from nbclient.exceptions import CellExecutionError

            if not isinstance(err, CellExecutionError):
                raise
            print(
                f"{path.name}: FAILED while running; outputs not re-recorded\n{err}",
                file=sys.stderr,
            )
            failed.append(path.name)
            continue
        if changed:
            stale.append(path.name)
        verb = ("OUT OF DATE" if args.check else "updated") if changed else "unchanged"
        ran = not (args.no_execute or args.check)
        took = f" (ran in {time.perf_counter() - start:.0f} s)" if ran else ""
        print(f"{path.relative_to(args.notebooks).as_posix()}: {verb}{took}", flush=True)
    if failed:
        print(f"notebooks: {', '.join(failed)} failed while running (see above)", file=sys.stderr)
        return 1
    if args.check and stale:
        print("run `make notebooks` to sync, strip and re-record them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
