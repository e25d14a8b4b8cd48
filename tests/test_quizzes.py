"""Self-checks: the notebooks ask, ``nst_helpers.quizzes`` holds the answers, ``quiz`` judges.

Every question a chapter asks is in the package (and the other way round), the notebook never
shows the answer, the feedback never gives it away, and every numeric answer is recomputed here
from the network or the library.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch

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
from nst_helpers.checks import check_answer, quiz
from nst_helpers.course.quizzes import QUESTIONS
from nst_helpers.features import build_vgg19_features

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CALL = re.compile(r'^quiz\("([^"]+)", answer\);?$', re.M)
OPTION = re.compile(r"^#\s+\(([a-z])\) ", re.M)


def _asked() -> dict[str, list[tuple[str, nbformat.NotebookNode]]]:
    """{chapter stem: [(question id, cell), ...]} for every ``quiz(...)`` cell."""
    found = {}
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        found[path.stem] = [
            (m.group(1), cell)
            for cell in nb.cells
            if cell.cell_type == "code"
            for m in CALL.finditer(cell.source)
        ]
    return found


ASKED = _asked()


def test_every_question_asked_is_answered_in_the_package_and_vice_versa():
    ids = [qid for cells in ASKED.values() for qid, _ in cells]
    assert len(ids) == len(set(ids)), "each question is asked once"
    assert set(ids) == set(QUESTIONS)
    for stem, cells in ASKED.items():
        assert all(qid.startswith(stem[:2] + "-") for qid, _ in cells), stem


@pytest.mark.parametrize("stem", sorted(ASKED))
def test_each_chapter_asks_its_questions_without_showing_the_answers(stem):
    nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    cells = ASKED[stem]
    assert len(cells) >= 2
    for qid, cell in cells:
        assert cell.metadata.get("nst") == "self-check"
        assert re.search(r"^answer = \.\.\.", cell.source, re.M), qid
        assert OPTION.findall(cell.source) == list(QUESTIONS[qid].choices), qid
    for cell in nb.cells:  # no answer printed next to a question, anywhere in the chapter
        assert "check_answer(" not in cell.source
        assert not re.search(r"quiz\([^)]*,[^)]*,", cell.source), "quiz(id, answer) only"
    last_question = max(nb.cells.index(cell) for _, cell in cells)
    assert last_question < len(nb.cells) - 1  # the takeaways come last


def _run_cell(source: str, answer: str, capsys) -> str:
    code = re.sub(r"^answer = \.\.\..*$", f"answer = {answer}", source, flags=re.M)
    exec(compile("from nst_helpers.checks import quiz\n" + code, "<cell>", "exec"), {})
    return capsys.readouterr().out


def _literal(value) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_the_notebook_cell_runs_and_judges(qid, capsys):
    cell = next(c for cells in ASKED.values() for i, c in cells if i == qid)
    q = QUESTIONS[qid]
    assert "❓ No answer yet" in _run_cell(cell.source, "...", capsys)
    assert "✅ Correct!" in _run_cell(cell.source, _literal(q.expected), capsys)
    assert "❌" in _run_cell(cell.source, '"zzz"', capsys)


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_right_answers_pass_wrong_ones_fail_and_feedback_never_gives_the_answer(qid, capsys):
    q = QUESTIONS[qid]
    assert quiz(qid, q.expected) is True
    assert q.explanation in capsys.readouterr().out
    if q.choices:
        assert q.expected in q.choices and len(q.choices) >= 2
        assert set(q.why) <= set(q.choices) - {q.expected}
        wrong = [c for c in q.choices if c != q.expected]
        assert quiz(qid, q.expected.upper()) is True
    elif isinstance(q.expected, bool):
        wrong = [not q.expected]
    elif isinstance(q.expected, tuple):
        wrong = [q.expected[::-1]]
    elif isinstance(q.expected, str):
        wrong = ["zzz"]
    else:
        wrong = [q.expected * 1.5 + 1]
    capsys.readouterr()
    for answer in wrong:
        assert quiz(qid, answer) is False
        out = capsys.readouterr().out
        assert q.hint in out
        if q.choices and answer in q.why:
            assert q.why[answer][1:] in out  # what this option gets wrong
        shown = out.replace(repr(answer), "")
        for leak in (f"({q.expected})", f'"{q.expected}"', f"'{q.expected}'", q.explanation):
            assert leak not in shown, (qid, leak)
        if not q.choices:
            assert str(q.expected) not in shown or str(q.expected) in q.hint, qid


def test_unknown_question_names_the_chapters_ids():
    with pytest.raises(KeyError, match="02-inplace-relu"):
        quiz("02-no-such-question", "a")


def test_a_lecturer_question_with_its_own_answer_still_works(capsys):
    assert quiz("How many style layers?", 5, 5) is True
    assert capsys.readouterr().out.startswith("How many style layers?\n✅")


def test_letters_outside_the_choices_are_refused(capsys):
    assert quiz("02-inplace-relu", "d") is False
    assert "'a' or 'b' or 'c'" in capsys.readouterr().out


# ---- the answers, recomputed ------------------------------------------------------------------


def _stylize_tiny(tiny_images, **kwargs):
    content, style = tiny_images
    return stylize(content, style, image_size=32, weights="random", device="cpu", seed=0,
                   precision="fp32", **kwargs)  # fmt: skip


def _features(layer: str, size: int) -> torch.Tensor:
    with torch.no_grad():
        zeros = torch.zeros(1, 3, size, size)
        return FeatureExtractor([layer], weights="random", device="cpu")(zeros)[layer]


def _content_gradient_is_f_minus_p() -> bool:
    F = torch.randn(1, 4, 3, 3, requires_grad=True)
    P = torch.randn(1, 4, 3, 3)
    content_loss(F, P).backward()
    return torch.allclose(F.grad, F.detach() - P)


def _return_value_that_stops(tiny_images) -> bool:
    for value in (True, False):
        result = _stylize_tiny(tiny_images, steps=3, callback=lambda record, v=value: v)
        if result.interrupted and len(result.history) == 1:
            return value
    raise AssertionError("no callback return value stopped stylize")


def _positions(size: int) -> int:
    _, _, h, w = _features("conv3_1", size).shape
    return h * w


def _snapshots_for_four_multiples(tiny_images) -> int:
    return len(_stylize_tiny(tiny_images, steps=8, snapshot_every=2).snapshots)


def _residual_side(size: int) -> int:
    from nst_helpers import TransformerNet

    net = TransformerNet()
    with torch.no_grad():
        return net.down3(net.down2(net.down1(torch.zeros(1, 3, size, size)))).shape[-1]


# Each numeric or shape answer recomputed from the network, the images or the library.
VERIFY = {
    "00-vgg-modules": lambda imgs: len(build_vgg19_features()),
    "01-chelsea-shape": lambda imgs: tuple(image_to_tensor(load_image("chelsea")).shape),
    "01-white-red-normalised": lambda imgs: normalize(torch.ones(1, 3, 1, 1))[0, 0, 0, 0].item(),
    "02-conv3_1-channels": lambda imgs: (
        build_vgg19_features()[VGG19_LAYERS["conv3_1"]].out_channels
    ),
    "02-conv4_2-shape": lambda imgs: tuple(_features("conv4_2", 256).shape),
    "03-gram-shape-conv3_1": lambda imgs: tuple(gram_matrix(_features("conv3_1", 512)).shape),
    "03-toy-g22": lambda imgs: gram_matrix(torch.tensor([[[[0.0, 2.0], [0.0, 1.0]]]]))[0, 0, 0],
    "04-positions-grow": lambda imgs: _positions(128) / _positions(64),
    "05-history-before": lambda imgs: (
        "before" if _stylize_tiny(imgs, steps=1, init="content").history[0]["content"] == 0 else "?"
    ),
    "05-snapshots": lambda imgs: _snapshots_for_four_multiples(imgs),
    "06-callback-stop": lambda imgs: _return_value_that_stops(imgs),
    "08-residual-side": lambda imgs: _residual_side(256),
    "07-gram-entry-fp16": lambda imgs: gram_matrix(
        torch.full((1, 8, 64, 64), 300.0, dtype=torch.float16)
    )[0, 0, 0].item(),
}


@pytest.mark.parametrize("qid", sorted(VERIFY))
def test_answers_match_the_network_and_library(qid, tiny_images, capsys):
    value = VERIFY[qid](tiny_images)
    q = QUESTIONS[qid]
    assert check_answer(value, q.expected, tol=q.tol, accept=q.accept), (qid, value)


def test_every_numeric_answer_is_recomputed():
    numeric = {
        k for k, q in QUESTIONS.items() if not q.choices and not isinstance(q.expected, bool)
    }
    assert numeric <= set(VERIFY)


def test_content_gradient_and_callback_facts_the_feedback_states(tiny_images):
    assert _content_gradient_is_f_minus_p()
    assert load_image("chelsea").size == (451, 300)  # quoted in 01-chelsea-shape
