"""notebooks/build/polish.py and self_checks.py: slides, self-check questions, clean notebooks.

Polishing runs on copies of the chapter notebooks in a temporary folder; only the last test
reads the committed notebooks, to catch a forgotten ``make notebooks``.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nst_helpers import (
    VGG19_LAYERS,
    FeatureExtractor,
    content_loss,
    gram_matrix,
    image_to_tensor,
    load_image,
    normalize,
    stylize,
)
from nst_helpers.checks import check_answer
from nst_helpers.features import build_vgg19_features

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
sys.path.insert(0, str(NOTEBOOKS / "build"))
import polish  # noqa: E402
import self_checks  # noqa: E402

CHAPTERS = sorted(NOTEBOOKS.glob(polish.CHAPTER_GLOB))
NAMES = [p.stem for p in CHAPTERS]
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
ALL_QUESTIONS = [q for qs in self_checks.SELF_CHECKS.values() for q in qs]
RUFF = REPO / ".venv" / "bin" / "ruff"


@pytest.fixture(scope="module")
def polished(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """Every chapter polished once in a temporary folder: {stem: notebook}."""
    if not CHAPTERS:
        pytest.skip("no chapter notebooks")
    folder = tmp_path_factory.mktemp("polished")
    for path in CHAPTERS:
        shutil.copy(path, folder)
    assert polish.main(["--notebooks", str(folder)]) == 0
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}


def _run_cell(source: str) -> str:
    """Execute a (plain Python) question cell; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<cell>", "exec"), {})
    return out.getvalue()


def _questions(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells that ask a self-check question."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and polish.QUESTION.search(c.source)
    ]


# ---- polishing ---------------------------------------------------------------------------------


def test_polish_twice_gives_identical_files(tmp_path, capsys):
    for path in CHAPTERS:
        shutil.copy(path, tmp_path)
    assert polish.main(["--notebooks", str(tmp_path), "--check"]) in (0, 1)
    assert polish.main(["--notebooks", str(tmp_path)]) == 0
    first = {p.name: p.read_bytes() for p in tmp_path.glob("*.ipynb")}
    capsys.readouterr()
    assert polish.main(["--notebooks", str(tmp_path)]) == 0
    assert "polished" not in capsys.readouterr().out  # every file: "unchanged"
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.ipynb")} == first
    assert polish.main(["--notebooks", str(tmp_path), "--check"]) == 0


def test_check_mode_reports_and_changes_nothing(tmp_path):
    nb = new_notebook(
        cells=[new_markdown_cell("# 99 · T"), new_code_cell("x = 1"), new_markdown_cell("end")]
    )
    path = tmp_path / "03_demo.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    assert polish.main(["--notebooks", str(tmp_path), "--check"]) == 1
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", NAMES)
def test_chapter_structure(polished, name):
    cells = polished[name].cells
    title, setup, last = cells[0], cells[1], cells[-1]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    badge = (
        "[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/nst-course/nst-course/blob/main/notebooks/{name}.ipynb)"
    )
    assert badge in title.source
    assert "Learning objectives" in title.source
    assert setup.cell_type == "code" and setup.source.startswith("# Setup:")
    assert "from nst_helpers.course import setup" in setup.source and "cfg = setup(" in setup.source
    assert last.cell_type == "markdown" and "takeaways" in last.source.lower()


@pytest.mark.parametrize("name", NAMES)
def test_every_cell_has_slide_metadata(polished, name):
    nb = polished[name]
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert set(types) <= SLIDE_TYPES
    assert types[0] == types[1] == types[-1] == "slide"
    assert types.count("slide") >= 3 and "subslide" in types
    for cell, kind in zip(nb.cells, types, strict=True):
        if cell.cell_type == "markdown" and re.match(r"#{1,2} ", cell.source):
            assert kind == "slide", cell.source[:60]
        if cell.cell_type == "code" and polish.QUESTION.search(cell.source):
            assert kind == "subslide"  # one question per slide
    assert nb.metadata["rise"]["scroll"] is True


@pytest.mark.parametrize("name", NAMES)
def test_two_or_three_self_check_questions_just_before_the_takeaways(polished, name):
    nb = polished[name]
    asked = _questions(nb)
    assert 2 <= len(asked) <= 3
    tagged = [i for i, c in enumerate(nb.cells) if polish.is_tagged(c)]
    n = len(nb.cells)
    if tagged:  # inserted by polish: heading + one cell per question, right before the end
        questions = self_checks.SELF_CHECKS[name[:2]]
        assert tagged == list(range(n - 2 - len(questions), n - 1))
        assert nb.cells[tagged[0]].source.startswith("## Self-check")
        assert asked == tagged[1:]
    else:  # the chapter's own questions: together, at the end, under a heading of their own
        assert asked == list(range(asked[0], n - 1))
        assert polish._heading_level(nb.cells[asked[0] - 1].source) is not None


@pytest.mark.parametrize("name", NAMES)
def test_no_outputs_except_checked_cells(polished, name):
    for cell in polished[name].cells:
        if cell.cell_type != "code":
            continue
        if polish.CHECK_MARK in cell.source:
            # nbval fails a reference cell that has outputs but no execution count
            assert not cell.outputs or isinstance(cell.execution_count, int)
        else:
            assert cell.outputs == [] and cell.execution_count is None


def test_inserted_question_cells_run_and_give_feedback(polished):
    asked = 0
    for name, nb in polished.items():
        cells = [c for c in nb.cells if polish.is_tagged(c) and c.cell_type == "code"]
        if not cells:
            continue  # the chapter asks its own questions
        for cell, question in zip(cells, self_checks.SELF_CHECKS[name[:2]], strict=True):
            # in Jupyter later cells use the first one's import; here each runs on its own
            source = "from nst_helpers.checks import check_answer\n" + cell.source
            assert "❓ No answer yet" in _run_cell(source)  # untouched: runs, never raises
            right = re.sub(
                r"^answer = \.\.\..*$",
                f"answer = {polish._literal(question.expected)}",
                source,
                flags=re.M,
            )
            assert "✅ Correct!" in _run_cell(right), cell.id
            wrong = re.sub(r"^answer = \.\.\..*$", 'answer = "zzz"', source, flags=re.M)
            assert "❌ Not quite" in _run_cell(wrong), cell.id
            asked += 1
    if not asked:
        pytest.skip("every chapter has its own questions")


@pytest.mark.skipif(not RUFF.exists(), reason="ruff not installed in .venv")
def test_polished_notebooks_are_ruff_clean(polished, tmp_path):
    for name, nb in polished.items():
        text = polish.render(nb)
        virtual = f"notebooks/{name}.ipynb"  # so the project's per-file rules apply
        for cmd in (["check"], ["format", "--check"]):
            proc = subprocess.run(
                [str(RUFF), *cmd, "--stdin-filename", virtual, "-"],
                input=text,
                text=True,
                capture_output=True,
                cwd=REPO,
            )
            assert proc.returncode == 0, f"ruff {cmd[0]} {name}:\n{proc.stdout}{proc.stderr}"


def test_chapters_with_their_own_questions_keep_them():
    own = new_code_cell('answer = ...\ncheck_answer(answer, "a");')
    cells = [new_markdown_cell("# T"), new_code_cell("setup"), own, new_markdown_cell("end")]
    nb = polish.polish_notebook(new_notebook(cells=cells), "03")
    assert [c.source for c in nb.cells] == [c.source for c in cells]
    # and a chapter that gains its own questions loses the inserted ones on the next run
    bare = [new_markdown_cell("# T"), new_code_cell("setup"), new_markdown_cell("end")]
    nb = polish.polish_notebook(new_notebook(cells=bare), "03")
    assert sum(polish.is_tagged(c) for c in nb.cells) == 1 + len(self_checks.SELF_CHECKS["03"])
    nb.cells.insert(2, own)
    nb = polish.polish_notebook(nb, "03")
    assert not any(polish.is_tagged(c) for c in nb.cells)


def test_existing_slide_types_are_kept():
    cell = new_markdown_cell("## A section")
    cell.metadata["slideshow"] = {"slide_type": "fragment"}
    cells = [new_markdown_cell("# T"), new_code_cell("setup"), cell, new_markdown_cell("end")]
    nb = polish.polish_notebook(new_notebook(cells=cells), "00")
    assert nb.cells[2].metadata["slideshow"]["slide_type"] == "fragment"


def test_chapter_without_questions_is_an_error():
    cells = [new_markdown_cell("# T"), new_code_cell("setup"), new_markdown_cell("end")]
    with pytest.raises(ValueError, match="chapter 42 needs 2-3 questions"):
        polish.polish_notebook(new_notebook(cells=cells), "42")


# ---- the questions and their answers -----------------------------------------------------------


def test_every_chapter_has_two_or_three_questions():
    assert sorted(self_checks.SELF_CHECKS) == [f"{i:02d}" for i in range(8)]
    for chapter, questions in self_checks.SELF_CHECKS.items():
        assert 2 <= len(questions) <= 3, chapter
        assert all(q.id.startswith(chapter + "-") for q in questions)
    assert len({q.id for q in ALL_QUESTIONS}) == len(ALL_QUESTIONS)


@pytest.mark.parametrize("question", ALL_QUESTIONS, ids=lambda q: q.id)
def test_expected_answer_passes_and_others_fail(question, capsys):
    q = question
    kwargs = dict(tol=q.tol, accept=q.accept)
    assert check_answer(q.expected, q.expected, **kwargs)
    if q.options:
        assert q.expected in q.options and len(q.options) >= 2
        for letter in q.options:
            assert check_answer(letter.upper(), q.expected, **kwargs) is (letter == q.expected)
    elif isinstance(q.expected, bool):
        assert not check_answer(not q.expected, q.expected, **kwargs)
    elif isinstance(q.expected, tuple):
        assert not check_answer(q.expected[::-1], q.expected, **kwargs)
    else:
        assert not check_answer(q.expected * 1.5 + 1, q.expected, **kwargs)
    assert "✅" in capsys.readouterr().out


def _stylize_tiny(tiny_images, **kwargs):
    content, style = tiny_images
    return stylize(content, style, image_size=32, weights="random", device="cpu", seed=0,
                   precision="fp32", **kwargs)  # fmt: skip


def _same_result_when_both_weights_scale(tiny_images) -> bool:
    a = _stylize_tiny(tiny_images, steps=4, content_weight=1.0, style_weight=1e6)
    b = _stylize_tiny(tiny_images, steps=4, content_weight=10.0, style_weight=1e7)
    diff = (image_to_tensor(a.image) - image_to_tensor(b.image)).abs().max().item()
    return diff < 0.05  # Adam's steps do not depend on the loss's scale (up to its epsilon)


def _zeros(size: int) -> torch.Tensor:
    return torch.zeros(1, 3, size, size)


def _features(layer: str, size: int) -> torch.Tensor:
    with torch.no_grad():
        return FeatureExtractor([layer], weights="random", device="cpu")(_zeros(size))[layer]


def _content_gradient_is_f_minus_p() -> str:
    F = torch.randn(1, 4, 3, 3, requires_grad=True)
    P = torch.randn(1, 4, 3, 3)
    content_loss(F, P).backward()
    assert torch.allclose(F.grad, F.detach() - P)
    return "a"  # the option "F - P"


def _style_normaliser(layer: str, size: int) -> int:
    _, n, h, w = _features(layer, size).shape
    return 4 * n**2 * (h * w) ** 2


def _return_value_that_stops(tiny_images) -> bool:
    for value in (True, False):
        result = _stylize_tiny(tiny_images, steps=3, callback=lambda record, v=value: v)
        if result.interrupted and len(result.history) == 1:
            return value
    raise AssertionError("no callback return value stopped stylize")


def _random_gram_scaling() -> float:
    f = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    return (gram_matrix(2 * f) / gram_matrix(f)).mean().item()


# Each non-multiple-choice answer recomputed from the network, the images or the library.
VERIFY = {
    "00-vgg-modules": lambda imgs: len(build_vgg19_features()),
    "01-chelsea-shape": lambda imgs: tuple(image_to_tensor(load_image("chelsea")).shape),
    "01-white-red-normalised": lambda imgs: normalize(torch.ones(1, 3, 1, 1))[0, 0, 0, 0].item(),
    "02-conv3_1-channels": lambda imgs: (
        build_vgg19_features()[VGG19_LAYERS["conv3_1"]].out_channels
    ),
    "02-conv4_2-shape": lambda imgs: tuple(_features("conv4_2", 256).shape),
    "03-gram-shape-conv2_1": lambda imgs: tuple(gram_matrix(_features("conv2_1", 256)).shape),
    "03-gram-scaling": lambda imgs: _random_gram_scaling(),
    "03-gram-symmetric": lambda imgs: bool(
        torch.equal(g := gram_matrix(torch.randn(2, 5, 3, 4)), g.transpose(1, 2))
    ),
    "04-content-gradient": lambda imgs: _content_gradient_is_f_minus_p(),
    "04-normaliser-conv1_1": lambda imgs: _style_normaliser("conv1_1", 64),
    "04-scale-both-weights": lambda imgs: not _same_result_when_both_weights_scale(imgs),
    "05-initial-content-loss": lambda imgs: _stylize_tiny(imgs, steps=1).history[0]["content"],
    "06-callback-stop": lambda imgs: _return_value_that_stops(imgs),
    "07-gram-entry-fp16": lambda imgs: gram_matrix(
        torch.full((1, 8, 64, 64), 300.0, dtype=torch.float16)
    )[0, 0, 0].item(),
}


@pytest.mark.parametrize("qid", sorted(VERIFY))
def test_answers_match_the_network_and_library(qid, tiny_images, capsys):
    question = next(q for q in ALL_QUESTIONS if q.id == qid)
    value = VERIFY[qid](tiny_images)
    assert check_answer(value, question.expected, tol=question.tol), (qid, value)


def test_every_numeric_answer_is_recomputed():
    numeric = {q.id for q in ALL_QUESTIONS if not q.options}
    assert numeric <= set(VERIFY)


def test_question_texts_state_facts_the_library_agrees_with():
    assert load_image("chelsea").size == (451, 300)  # quoted in 01-chelsea-shape


# ---- the committed notebooks -------------------------------------------------------------------


@pytest.mark.parametrize("path", CHAPTERS, ids=NAMES)
def test_committed_notebooks_are_polished(path):
    assert not polish.polish_file(path, write=False), (
        f"{path.name} is not polished: run `make notebooks` (or `python notebooks/build/polish.py`)"
    )
