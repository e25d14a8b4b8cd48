"""Exercise checkers: right answers pass, typical mistakes fail with the right hint, none raise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from checker_corpus import flat, gram, nm  # tests/ is on sys.path (pytest's rootdir-less modules)
from checker_corpus.ch02_features import hooks as with_hooks
from checker_corpus.ch02_features import walk as walk_layers
from checker_corpus.ch05_loop import loop

from nst_helpers import VGG19_LAYERS, images, losses
from nst_helpers.course import checks
from nst_helpers.course.checks import ch01_images, ch03_gram, ch04_losses

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def verdict(check, fn, capsys) -> tuple[bool, str]:
    ok = check(fn)
    return ok, capsys.readouterr().out


def not_implemented(*args):
    raise NotImplementedError("your code here")


# ---- the checkers' references agree with the library and the paper -----------------------


def test_reference_constants_match_the_library():
    assert ch01_images.MEAN == images.IMAGENET_MEAN
    assert ch01_images.STD == images.IMAGENET_STD


def test_reference_gram_by_hand():
    # one image, 2 channels, 2 positions: F = [[1, 2], [3, 4]] -> F F^T = [[5, 11], [11, 25]]
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    assert ch03_gram.ref_gram(f).tolist() == [[[5.0, 11.0], [11.0, 25.0]]]


def test_reference_style_by_hand():
    # N = 1, M = 2: G = 1^2 + 1^2 = 2, A = 0 -> E = (2 - 0)^2 / (4 * 1 * 4) = 0.25
    f = torch.ones(1, 1, 1, 2)
    assert ch04_losses.ref_style(f, torch.zeros(1, 1, 1, 2)).item() == pytest.approx(0.25)


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


# ---- the exercises added with the jupytext chapters -------------------------------------------


def style_gradient(f, a):
    n, m = f.shape
    return (f @ f.T - a) @ f / (n**2 * m**2) * (f > 0)


def walk_without_clone(vgg, x, names):
    wanted = {VGG19_LAYERS[n]: n for n in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted) + 1]):
        h = module(h)
        if i in wanted:
            out[wanted[i]] = h
    return out


def walk_one_off(vgg, x, names):
    wanted = {VGG19_LAYERS[n] + 1: n for n in names}
    out, h = {}, x
    for i, module in enumerate(vgg[: max(wanted) + 1]):
        h = module(h)
        if i in wanted:
            out[wanted[i]] = h.clone()
    return out


def hooks_left_behind(vgg, x, names):
    out = {}
    for n in names:
        vgg[VGG19_LAYERS[n]].register_forward_hook(
            lambda m, i, o, n=n: out.__setitem__(n, o.clone())
        )
    vgg(x)
    return out


@pytest.mark.parametrize(
    "check, fn",
    [
        (checks.check_style_gradient, style_gradient),
        (checks.check_tv_loss, losses.tv_loss),
        (checks.check_feature_extractor, walk_layers),
        (checks.check_feature_extractor, with_hooks),
        (checks.check_loop, loop()),
        # A frozen network gives targets without a graph, no_grad or not: nothing to fault.
        (checks.check_loop, loop(no_grad_targets=False)),
    ],
)
def test_correct_exercise_solutions_pass(check, fn, capsys):
    ok, out = verdict(check, fn, capsys)
    assert ok is True, out
    assert out.startswith("✅")


def test_hooks_that_run_the_whole_network_pass_with_a_tip(capsys):
    ok, out = verdict(checks.check_feature_extractor, with_hooks, capsys)
    assert ok and "Tip: it ran 37 modules" in out
    ok, out = verdict(checks.check_feature_extractor, walk_layers, capsys)
    assert ok and "Tip" not in out


def _tv_roll(x):
    return ((x.roll(-1, 2) - x) ** 2).sum() + ((x.roll(-1, 3) - x) ** 2).sum()


EXERCISE_MISTAKES = [
    (checks.check_style_gradient, lambda f, a: -style_gradient(f, a), "wrong sign"),
    (checks.check_style_gradient, lambda f, a: (f @ f.T - a) @ f / (f.shape[0] * f.shape[1]) ** 2,
     "not zero where F_ij = 0"),
    (checks.check_style_gradient, lambda f, a: style_gradient(f, a) / 4,
     "(G - A) F / (4 N^2 M^2) where F > 0, instead of (G - A) F / (N^2 M^2) (the 4 of the loss"),
    (checks.check_style_gradient, lambda f, a: style_gradient(f, a) * 2, "/ (N^2 M^2 / 2)"),
    (checks.check_style_gradient, lambda f, a: style_gradient(f, a) * f.shape[1], "/ (N^2 M)"),
    (checks.check_style_gradient, lambda f, a: style_gradient(f, a).T, "transpose it"),
    (checks.check_style_gradient, lambda f, a: f @ f.T - a, "multiply by F"),
    (checks.check_tv_loss, lambda x: ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum(), "only sums the vertical"),
    (checks.check_tv_loss, lambda x: (x[..., 1:] - x[..., :-1]).abs().sum()
     + (x[:, :, 1:] - x[:, :, :-1]).abs().sum(), "L1"),
    (checks.check_tv_loss, lambda x: losses.tv_loss(x) / x.numel(), "divides by the number"),
    (checks.check_tv_loss, _tv_roll, "torch.roll"),
    (checks.check_tv_loss, lambda x: losses.tv_loss(x).item(), "Python number"),
    (checks.check_feature_extractor, walk_without_clone, "in-place ReLU"),
    (checks.check_feature_extractor, walk_one_off, "one module off"),
    (checks.check_feature_extractor, hooks_left_behind, "left forward hooks"),
    (checks.check_feature_extractor, lambda vgg, x, names: [vgg(x)], "not a dict"),
    (checks.check_feature_extractor, lambda vgg, x, names: {"conv1_1": vgg[0](x)}, "missing"),
    (checks.check_loop, loop(targets_inside=True), "recomputed inside the loop"),
    (checks.check_loop, loop(zero_grad=False), "zero_grad() is missing"),
    (checks.check_loop, loop(log="after"), "after each update"),
    (checks.check_loop, loop(lbfgs_clamp="closure"), "inside the L-BFGS closure"),
    (checks.check_loop, loop(optimise="network"), "network's parameters"),
    (checks.check_loop, loop(history_as="tensors"), "holds tensors"),
]  # fmt: skip


@pytest.mark.parametrize("check, fn, words", EXERCISE_MISTAKES)
def test_typical_exercise_mistakes_fail_with_a_hint(check, fn, words, capsys):
    ok, out = verdict(check, fn, capsys)
    assert ok is False
    assert out.startswith("❌") and "✅" not in out
    assert words in out, out


def test_the_loop_checker_leaves_no_optimiser_hook_behind(capsys):
    from torch.optim.optimizer import _global_optimizer_pre_hooks

    before = len(_global_optimizer_pre_hooks)
    assert checks.check_loop(loop()) and checks.check_loop(lambda *a: 1 / 0) is False
    assert len(_global_optimizer_pre_hooks) == before


def test_a_network_that_is_trained_instead_of_the_image_is_named(capsys):
    def train_the_network(extractor, loss_fn, content, style, steps, optimizer):
        extractor.requires_grad_(True)
        with torch.no_grad():
            pc, ps = extractor(content), extractor(style)
        x = content.clone()
        opt = torch.optim.Adam(extractor.parameters(), lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(extractor(x), pc, ps)
            loss.backward()
            opt.step()
        return x, [0.0] * steps

    ok, out = verdict(checks.check_loop, train_the_network, capsys)
    assert not ok and "network's weights changed" in out


STYLE_NORMALISATIONS = [
    # (the learner's divisor of sum (G - A)^2 as a function of N, M; the formula the checker names)
    (lambda n, m: 1, "computes sum (G - A)^2 instead of"),
    (lambda n, m: n**4 * m**2, "sum (G - A)^2 / (N^4 M^2)"),
    (lambda n, m: (4 * n * m) ** 2, "sum (G - A)^2 / (16 N^2 M^2)"),
    (lambda n, m: 4 * n * m**2, "sum (G - A)^2 / (4 N M^2)"),
    (lambda n, m: n**2, "sum (G - A)^2 / (N^2)"),
    (lambda n, m: 2 * n**2 * m**2, "sum (G - A)^2 / (2 N^2 M^2)"),
]


@pytest.mark.parametrize("divisor, formula", STYLE_NORMALISATIONS)
def test_wrong_style_normalisations_are_named_as_formulas(divisor, formula, capsys):
    def learner(f, a):
        n, m = nm(f)
        return ((gram(f) - gram(a)) ** 2).sum() / divisor(n, m)

    ok, out = verdict(checks.check_style_loss, learner, capsys)
    assert not ok and formula in out, out
    assert "x the expected" not in out  # no size-dependent ratios


def test_the_pytorch_tutorials_style_loss_is_recognised(capsys):
    def tutorial(f, a):  # the PyTorch NST tutorial: Gram / (a*b*c*d), then F.mse_loss
        b, c, h, w = f.shape
        g = gram(f) / (b * c * h * w)
        t = gram(a) / (b * c * h * w)
        return F.mse_loss(g, t)

    ok, out = verdict(checks.check_style_loss, tutorial, capsys)
    assert not ok and "(N^4 M^2)" in out and "PyTorch tutorial" in out


@pytest.mark.parametrize(
    "check",
    [
        checks.check_style_gradient,
        checks.check_tv_loss,
        checks.check_feature_extractor,
        checks.check_loop,
    ],
)
@pytest.mark.parametrize(
    "fn",
    [lambda *a: 1 / 0, lambda *a: "text", lambda *a: torch.zeros(1, 3, 3), lambda *a: None, 42],
)
def test_exercise_checkers_never_raise(check, fn, capsys):
    ok, out = verdict(check, fn, capsys)
    assert ok is False and out.startswith("❌")


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
