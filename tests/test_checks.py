"""Exercise checkers: right answers pass, typical mistakes fail with the right hint, none raise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nst_helpers import checks, images, losses

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def verdict(check, fn, capsys) -> tuple[bool, str]:
    ok = check(fn)
    return ok, capsys.readouterr().out


def flat(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    return f.reshape(b, c, h * w)


def gram(f: torch.Tensor) -> torch.Tensor:
    x = flat(f)
    return x @ x.transpose(1, 2)


def nm(f: torch.Tensor) -> tuple[int, int]:
    return f.shape[1], f.shape[2] * f.shape[3]


def not_implemented(*args):
    raise NotImplementedError("your code here")


# ---- the checkers' references agree with the library and the paper -----------------------


def test_reference_constants_match_the_library():
    assert checks._MEAN == images.IMAGENET_MEAN
    assert checks._STD == images.IMAGENET_STD


def test_reference_gram_by_hand():
    # one image, 2 channels, 2 positions: F = [[1, 2], [3, 4]] -> F F^T = [[5, 11], [11, 25]]
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    assert checks._ref_gram(f).tolist() == [[[5.0, 11.0], [11.0, 25.0]]]


def test_reference_style_by_hand():
    # N = 1, M = 2: G = 1^2 + 1^2 = 2, A = 0 -> E = (2 - 0)^2 / (4 * 1 * 4) = 0.25
    f = torch.ones(1, 1, 1, 2)
    assert checks._ref_style(f, torch.zeros(1, 1, 1, 2)).item() == pytest.approx(0.25)


# ---- correct implementations pass --------------------------------------------------------


@pytest.mark.parametrize(
    "check, fn",
    [
        (checks.check_normalize, images.normalize),
        (checks.check_normalize, lambda x: (x - MEAN) / STD),
        (checks.check_gram_matrix, losses.gram_matrix),
        (checks.check_gram_matrix, gram),
        (checks.check_gram_matrix, lambda f: torch.einsum("bchw,bdhw->bcd", f, f)),
        (checks.check_content_loss, losses.content_loss),
        (checks.check_content_loss, lambda f, p: 0.5 * F.mse_loss(f, p, reduction="sum")),
        (checks.check_style_loss, lambda f, a: losses.style_loss(f, a)),
        (
            checks.check_style_loss,
            lambda f, a: ((gram(f) - gram(a)) ** 2).sum() / (4 * nm(f)[0] ** 2 * nm(f)[1] ** 2),
        ),
    ],
)
def test_correct_implementations_pass(check, fn, capsys):
    ok, out = verdict(check, fn, capsys)
    assert ok is True
    assert out.startswith("✅") and "❌" not in out


# ---- typical mistakes fail with a specific hint -------------------------------------------


def normalize_in_place(x):
    return x.sub_(MEAN).div_(STD)


def gram_ftf(f):
    x = flat(f)
    return x.transpose(1, 2) @ x


def gram_batch_first_only(f):
    return gram(f[:1]).expand(f.shape[0], -1, -1)


def style_normalised_by_nm(f, a):
    n, m = nm(f)
    return ((gram(f) - gram(a)) ** 2).sum() / (4 * n * m)


MISTAKES = [
    # (checker, learner fn, words the printed verdict must contain)
    (checks.check_normalize, lambda x: x - MEAN, "does not divide by the std"),
    (checks.check_normalize, lambda x: x / STD, "does not subtract the mean"),
    (checks.check_normalize, lambda x: x * STD + MEAN, "inverse"),
    (checks.check_normalize, lambda x: (x - STD) / MEAN, "swaps mean and std"),
    (checks.check_normalize, lambda x: (x - MEAN.flip(1)) / STD.flip(1), "BGR"),
    (checks.check_normalize, lambda x: (x / 255 - MEAN) / STD, "255"),
    (checks.check_normalize, normalize_in_place, "in place"),
    (checks.check_normalize, lambda x: (x - MEAN.flatten()) / STD.flatten(), "[1, 3, 1, 1]"),
    (checks.check_normalize, lambda x: ((x - MEAN) / STD)[0], "batch"),
    (checks.check_gram_matrix, gram_ftf, "F^T F"),
    (checks.check_gram_matrix, lambda f: gram(f) / (nm(f)[0] * nm(f)[1]), "divides by N*M"),
    (checks.check_gram_matrix, lambda f: gram(f) / nm(f)[1], "divides by M"),
    (checks.check_gram_matrix, lambda f: gram(f)[0], "keep the batch dimension"),
    (checks.check_gram_matrix, lambda f: flat(f), "did not multiply"),
    (checks.check_gram_matrix, gram_batch_first_only, "first image of a batch"),
    (checks.check_gram_matrix, lambda f: gram(f).detach(), "gradients lost"),
    (checks.check_gram_matrix, lambda f: gram(f).numpy(), "NumPy"),
    (checks.check_gram_matrix, lambda f: flat(f) * flat(f), "did not multiply"),
    (checks.check_gram_matrix, lambda f: flat(f) @ flat(f), "matrix product"),
    (checks.check_content_loss, lambda f, p: ((f - p) ** 2).sum(), "1/2 is missing"),
    (checks.check_content_loss, F.mse_loss, "mean"),
    (checks.check_content_loss, lambda f, p: (f - p).norm(), "norm"),
    (checks.check_content_loss, lambda f, p: 0.5 * (f - p) ** 2, "single number"),
    (checks.check_content_loss, lambda f, p: (0.5 * ((f - p) ** 2).sum()).item(), "Python"),
    (checks.check_style_loss, lambda f, a: ((gram(f) - gram(a)) ** 2).sum(), "4 N^2 M^2"),
    (checks.check_style_loss, style_normalised_by_nm, "4 N M"),
    (
        checks.check_style_loss,
        lambda f, a: ((gram(f) - gram(a)) ** 2).sum() / (nm(f)[0] ** 2 * nm(f)[1] ** 2),
        "the 4",
    ),
    (checks.check_style_loss, lambda f, a: F.mse_loss(gram(f), gram(a)), "mean"),
    (checks.check_style_loss, lambda f, a: 0.5 * ((f - a) ** 2).sum(), "compares the features"),
    (
        checks.check_style_loss,
        lambda f, a: losses.style_loss(f, a).detach().requires_grad_(),
        "gradient is not",
    ),
    (checks.check_style_loss, lambda f, a: losses.style_layer_loss(f, a), "ValueError"),
    (checks.check_gram_matrix, not_implemented, "NotImplementedError"),
    (checks.check_content_loss, lambda f, p: None, "return"),
    (checks.check_style_loss, lambda f: f, "TypeError"),
    (checks.check_gram_matrix, 42, "pass the function itself"),
]


@pytest.mark.parametrize("check, fn, words", MISTAKES)
def test_typical_mistakes_fail_with_a_hint(check, fn, words, capsys):
    ok, out = verdict(check, fn, capsys)
    assert ok is False
    assert out.startswith("❌") and "✅" not in out
    assert words in out


def test_device_mismatch_gets_a_device_hint(capsys):
    def on_other_device(x):
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices"
        )

    ok, out = verdict(checks.check_normalize, on_other_device, capsys)
    assert not ok and "device=x.device" in out


def test_transpose_hint_for_ftf_in_style_loss(capsys):
    def ftf_style(f, a):
        n, m = nm(f)
        return ((gram_ftf(f) - gram_ftf(a)) ** 2).sum() / (4 * n**2 * m**2)

    ok, out = verdict(checks.check_style_loss, ftf_style, capsys)
    assert not ok and "F^T F" in out


@pytest.mark.parametrize("check", sorted({m[0] for m in MISTAKES}, key=lambda c: c.__name__))
@pytest.mark.parametrize(
    "fn",
    [
        lambda *a: 1 / 0,
        lambda *a: "text",
        lambda *a: torch.full((7,), float("nan")),
        lambda *a: np.zeros(3),
        lambda *a: torch.tensor(float("nan")),
        lambda *a: torch.zeros(1, 3, 3),
    ],
)
def test_checkers_never_raise(check, fn, capsys):
    ok, out = verdict(check, fn, capsys)
    assert ok is False and out.startswith("❌")


def test_checkers_leave_the_global_rng_alone(capsys):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_gram_matrix(losses.gram_matrix)
    assert torch.equal(torch.rand(3), expected)


# ---- self-test questions -------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected, kwargs, right",
    [
        (3, 3.0, {}, True),
        ("3", 3, {}, True),
        (0.11, 0.1, {"tol": 0.05}, True),
        (0.2, 0.1, {"tol": 0.05}, False),
        (0.10001, 0.1, {}, False),
        (torch.tensor(2.0), 2, {}, True),
        ("b", "(B)", {}, True),
        (" B. ", "b", {}, True),
        ("c", "b", {}, False),
        ("yes", True, {}, True),
        (False, True, {}, False),
        (["a", "c"], {"c", "a"}, {}, True),
        ("a, c", {"c", "a"}, {}, True),
        (["a"], {"c", "a"}, {}, False),
        ("gram matrix", "gram", {"accept": ("gram matrix", "G")}, True),
        ("g", "gram", {"accept": ("gram matrix", "G")}, True),
        ("style", "gram", {"accept": ("gram matrix",)}, False),
        ((1, 256, 256), (1, 256, 256), {}, True),
        (torch.Size([1, 256, 256]), (1, 256, 256), {}, True),
        ([1, 256], (1, 256, 256), {}, False),
        (256, (1, 256, 256), {}, False),
        ("1, 256, 256", (1, 256, 256), {}, False),
        ("x", 1.0, {}, False),
    ],
)
def test_check_answer(answer, expected, kwargs, right, capsys):
    assert checks.check_answer(answer, expected, **kwargs) is right
    assert capsys.readouterr().out.startswith("✅" if right else "❌")


def test_check_answer_placeholder_and_hints(capsys):
    assert checks.check_answer(..., 1) is False
    assert "No answer yet" in capsys.readouterr().out
    assert checks.check_answer("x", "y", hint="look at eq. 4") is False
    assert "look at eq. 4" in capsys.readouterr().out
    assert checks.check_answer("y", "y", explanation="because") is True
    assert "because" in capsys.readouterr().out


def test_quiz_prints_the_question(capsys):
    assert checks.quiz("How many style layers?", 5, 5) is True
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "How many style layers?" and "✅" in out
