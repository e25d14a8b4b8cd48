"""The two checkers of issue 20: right answers pass, each typical mistake is named.

``check_relative_loss`` (chapter 04, exercise 7) and ``check_training_step`` (chapter 08,
exercise 11) live in ``nst_helpers/course/checks/new_exercises.py`` and are imported, as the
chapters import them, from ``nst_helpers.checks``.
"""

from __future__ import annotations

import pytest
import torch

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


def _step(net, optimizer, extractor, loss_fn, photos, *, zero=True, no_grad=True,
          own_targets=True, log_after=False, as_tensor=False):  # fmt: skip
    if zero:
        optimizer.zero_grad()
    feats = extractor(net(photos))
    if not own_targets:
        content = {k: v.detach() for k, v in feats.items()}
    elif no_grad:
        with torch.no_grad():
            content = extractor(photos)
    else:
        content = extractor(photos)
    loss = loss_fn(feats, content)
    loss.backward()
    optimizer.step()
    if log_after:
        with torch.no_grad():
            return loss_fn(extractor(net(photos)), extractor(photos)).item()
    return loss if as_tensor else loss.item()


@pytest.mark.parametrize("no_grad", [True, False])  # False: pytorch/examples' fast_neural_style
def test_training_step_passes_the_right_step(no_grad, capsys):
    assert check_training_step(lambda *args: _step(*args, no_grad=no_grad)) is True
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"zero": False}, "zero_grad() is missing"),
        ({"own_targets": False}, "the network's own output"),
        ({"log_after": True}, "measured after the update"),
        ({"as_tensor": True}, "returned a tensor"),
    ],
)
def test_training_step_names_the_mistake(options, named, capsys):
    def step(*args):
        return _step(*args, **options)

    assert check_training_step(step) is False
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
    assert capsys.readouterr().out.count("is not written yet") == 2


def test_the_new_checkers_are_part_of_nst_helpers_checks():
    from nst_helpers.course.checks import new_exercises

    assert checks.check_relative_loss is new_exercises.check_relative_loss
    assert checks.check_training_step is new_exercises.check_training_step
    with pytest.raises(AttributeError):
        checks.check_nothing  # noqa: B018
