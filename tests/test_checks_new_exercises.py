"""The two checkers of issue 20: right answers pass, each typical mistake is named.

``check_relative_loss`` (chapter 04, exercise 7) and ``check_training_step`` (chapter 08,
exercise 11) live in ``nst_helpers/course/checks/ch04_losses.py`` and ``ch08_real_time.py`` and
are imported, as the chapters import them, from ``nst_helpers.checks``.
"""

from __future__ import annotations

import pytest
import torch
from checker_corpus.ch08_real_time import step as _make_step  # tests/ is on sys.path

from nst_helpers import checks, losses
from nst_helpers.checks import check_relative_loss, check_training_step


def _grams(F, A):
    return losses.gram_matrix(F), losses.gram_matrix(A)


def relative(F, A):
    G, T = _grams(F, A)
    return ((G - T) ** 2).sum() / (T**2).sum()


def library(F, A):  # the library's own relative loss passes the independent checker
    return losses.relative_style_layer_loss(F, losses.gram_matrix(A))


def paper_normaliser(F, A):
    _, n, h, w = F.shape
    G, T = _grams(F, A)
    return ((G - T) ** 2).sum() / (4 * n**2 * (h * w) ** 2)


def generated_energy(F, A):
    G, T = _grams(F, A)
    return ((G - T) ** 2).sum() / (G**2).sum()


def not_squared(F, A):
    G, T = _grams(F, A)
    return (G - T).norm() / T.norm()


def features_not_grams(F, A):
    return ((F - A) ** 2).sum() / (A**2).sum()


def detached(F, A):
    return relative(F.detach(), A)


@pytest.mark.parametrize("fn", [relative, library])
def test_relative_loss_passes_right_answers(fn, capsys):
    assert check_relative_loss(fn) is True
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("fn", "named"),
    [
        (paper_normaliser, "4 N^2 M^2"),
        (generated_energy, "generated image's Gram energy"),
        (not_squared, "not squared norms"),
        (features_not_grams, "compares the features"),
        (detached, "gradient"),
    ],
)
def test_relative_loss_names_the_mistake(fn, named, capsys):
    assert check_relative_loss(fn) is False
    out = capsys.readouterr().out
    assert "❌" in out and named in out and "Hint:" in out


@pytest.mark.parametrize("no_grad", [True, False])
def test_training_step_passes_the_right_step(no_grad, capsys):
    # Without no_grad the targets of a frozen extractor still have no graph: nothing to fault.
    assert check_training_step(_make_step(no_grad=no_grad)) is True
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"zero": "never"}, "zero_grad() is missing"),
        ({"targets": "output"}, "the network's own output"),
        ({"log": "after"}, "measured after the update"),
        ({"returns": "tensor"}, "returned a tensor"),
    ],
)
def test_training_step_names_the_mistake(options, named, capsys):
    assert check_training_step(_make_step(**options)) is False
    out = capsys.readouterr().out
    assert named in out and "Hint:" in out


def test_a_step_that_never_updates_or_trains_the_loss_network_is_refused(capsys):
    def no_update(net, optimizer, extractor, loss_fn, photos):
        with torch.no_grad():
            return loss_fn(extractor(net(photos)), extractor(photos)).item()

    assert check_training_step(no_update) is False
    assert "did not change" in capsys.readouterr().out


def test_an_unwritten_exercise_asks_for_code_and_never_raises(capsys):
    def stub(*args):
        raise NotImplementedError

    assert check_relative_loss(stub) is False and check_training_step(stub) is False
    assert capsys.readouterr().out.count("raise NotImplementedError") == 2


def test_the_new_checkers_are_part_of_nst_helpers_checks():
    from nst_helpers.course.checks import ch04_losses, ch08_real_time

    assert checks.check_relative_loss is ch04_losses.check_relative_loss
    assert checks.check_training_step is ch08_real_time.check_training_step
    with pytest.raises(AttributeError):
        checks.check_nothing  # noqa: B018
