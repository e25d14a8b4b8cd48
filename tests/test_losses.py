"""losses.py against hand-computed numbers and the paper's gradient formulas (eq. 1-6)."""

from __future__ import annotations

import pytest
import torch

from nst_helpers.losses import (
    combine_terms,
    content_loss,
    gram_matrix,
    layer_terms,
    layer_weights,
    objective,
    style_layer_loss,
    style_loss,
    target_gram,
    tv_loss,
)

# Two channels, one row of three positions (N = 2, M = 3):
#   F1 = [1, 2, 3], F2 = [0, 1, -1]  ->  G = [[14, -1], [-1, 2]]
F_SMALL = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])  # [1, 2, 1, 3]
G_SMALL = torch.tensor([[[14.0, -1.0], [-1.0, 2.0]]])
# Style features with Gram A = [[10, 0], [0, 1]]: S1 = [3, 1, 0], S2 = [0, 0, 1]
S_SMALL = torch.tensor([[[[3.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]]])
A_SMALL = torch.tensor([[[10.0, 0.0], [0.0, 1.0]]])
# G - A = [[4, -1], [-1, 1]]: sum of squares 19, over 4 N^2 M^2 = 4 * 4 * 9 = 144
E_SMALL = 19.0 / 144.0


def _central_difference(fn, x: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Numerical gradient. Exact (no truncation error) for quadratic ``fn`` on integer inputs."""
    grad = torch.zeros_like(x)
    flat = grad.view(-1)
    for i in range(x.numel()):
        step = torch.zeros_like(x).view(-1)
        step[i] = eps
        step = step.view_as(x)
        flat[i] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return grad


def _integer_tensor(*shape: int, seed: int = 0, high: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-high, high + 1, shape, generator=gen).float()


# ---- gram_matrix ---------------------------------------------------------------------------


def test_gram_matrix_hand_computed() -> None:
    g = gram_matrix(F_SMALL)
    assert g.shape == (1, 2, 2) and g.dtype == torch.float32
    torch.testing.assert_close(g, G_SMALL, rtol=0, atol=0)
    torch.testing.assert_close(gram_matrix(S_SMALL), A_SMALL, rtol=0, atol=0)


def test_gram_matrix_2d_maps() -> None:
    # 2x2 maps are flattened row by row: F1 = [1, 2, 3, 4], F2 = [1, 0, 0, 1], F3 = [0, 0, 0, 0]
    f = torch.tensor(
        [[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]]
    )
    expected = torch.tensor([[[30.0, 5.0, 0.0], [5.0, 2.0, 0.0], [0.0, 0.0, 0.0]]])
    torch.testing.assert_close(gram_matrix(f), expected, rtol=0, atol=0)


def test_gram_matrix_batched_is_per_image() -> None:
    f = _integer_tensor(3, 4, 5, 6)
    g = gram_matrix(f)
    assert g.shape == (3, 4, 4)
    for b in range(3):
        flat = f[b].reshape(4, 30)
        torch.testing.assert_close(g[b], flat @ flat.T, rtol=0, atol=0)
        torch.testing.assert_close(g[b], g[b].T)  # symmetric


def test_gram_matrix_is_fp32_for_half_inputs() -> None:
    f = _integer_tensor(1, 8, 16, 16, high=3)
    expected = gram_matrix(f)
    for dtype in (torch.bfloat16, torch.float16):
        g = gram_matrix(f.to(dtype))  # small integers are exact in bf16/fp16
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, expected, rtol=0, atol=0)


def test_gram_matrix_does_not_overflow_from_fp16() -> None:
    # 64x64 maps of 8.0: each entry is 4096 * 64 = 262144, far above fp16's max of 65504
    f = torch.full((1, 2, 64, 64), 8.0, dtype=torch.float16)
    g = gram_matrix(f)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g, torch.full((1, 2, 2), 262144.0))


def test_gram_matrix_stays_fp32_under_autocast() -> None:
    f = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = gram_matrix(f)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f)
    assert g.dtype == torch.float32
    torch.testing.assert_close(g, expected)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (1, 2, 3, 4, 5)])
def test_gram_matrix_rejects_other_shapes(shape) -> None:
    with pytest.raises(ValueError, match="B, C, H, W"):
        gram_matrix(torch.zeros(shape))


def test_gram_matrix_gradient() -> None:
    # d/dF sum(W * G) = (W + W^T) F for G = F F^T
    f = _integer_tensor(1, 3, 2, 2).requires_grad_(True)
    w = _integer_tensor(1, 3, 3, seed=1)
    (gram_matrix(f) * w).sum().backward()
    flat = f.detach().reshape(1, 3, 4)
    expected = ((w + w.transpose(1, 2)) @ flat).reshape(1, 3, 2, 2)
    torch.testing.assert_close(f.grad, expected)


# ---- content loss (eq. 1, 2) ---------------------------------------------------------------


def test_content_loss_hand_computed() -> None:
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    p = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # 1/2 * (0 + 4 + 9 + 16) = 14.5
    loss = content_loss(f, p)
    assert loss.shape == () and loss.dtype == torch.float32
    assert loss.item() == 14.5
    assert content_loss(p, p).item() == 0.0


def test_content_loss_batched_and_broadcast_target() -> None:
    f = torch.stack([torch.full((2, 3, 3), 1.0), torch.full((2, 3, 3), 3.0)])  # [2, 2, 3, 3]
    p = torch.zeros(1, 2, 3, 3)  # batch 1: shared by both images
    per_image = content_loss(f, p, reduction="none")
    torch.testing.assert_close(per_image, torch.tensor([9.0, 81.0]))  # 1/2 * 18 * {1, 9}
    assert content_loss(f, p).item() == 90.0


def test_content_loss_gradient_is_f_minus_p() -> None:
    # Paper eq. 2: dL/dF = F - P
    f = _integer_tensor(2, 3, 4, 4).requires_grad_(True)
    p = _integer_tensor(2, 3, 4, 4, seed=1)
    content_loss(f, p).backward()
    torch.testing.assert_close(f.grad, f.detach() - p, rtol=0, atol=0)


def test_content_loss_half_inputs_give_fp32() -> None:
    f, p = _integer_tensor(1, 2, 3, 3), _integer_tensor(1, 2, 3, 3, seed=1)
    loss = content_loss(f.bfloat16(), p.bfloat16())
    assert loss.dtype == torch.float32
    assert loss.item() == content_loss(f, p).item()


def test_content_loss_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="differ"):
        content_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))


def test_bad_reduction() -> None:
    with pytest.raises(ValueError, match="reduction"):
        content_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), reduction="mean")
    with pytest.raises(ValueError, match="reduction"):
        tv_loss(torch.zeros(1, 1, 2, 2), reduction="avg")


# ---- style loss (eq. 3-6) ------------------------------------------------------------------


def test_style_layer_loss_hand_computed() -> None:
    loss = style_layer_loss(F_SMALL, A_SMALL)
    assert loss.shape == ()
    torch.testing.assert_close(loss, torch.tensor(E_SMALL))
    assert style_layer_loss(S_SMALL, A_SMALL).item() == 0.0


def test_style_loss_single_tensor_with_features_or_gram_target() -> None:
    torch.testing.assert_close(style_loss(F_SMALL, S_SMALL), torch.tensor(E_SMALL))  # features
    torch.testing.assert_close(style_loss(F_SMALL, A_SMALL), torch.tensor(E_SMALL))  # Gram


def test_style_loss_normalisation_uses_map_size() -> None:
    # Same Grams at a layer with 4 times the positions: E shrinks by M^2 = 16 ... unless the
    # features grow too. Tiling F twice along W doubles G; (2G - 2A)^2 / (4 N^2 (2M)^2) = E.
    f2 = torch.cat([F_SMALL, F_SMALL], dim=3)
    s2 = torch.cat([S_SMALL, S_SMALL], dim=3)
    torch.testing.assert_close(style_loss(f2, s2), torch.tensor(E_SMALL))


def test_style_loss_dict_default_weights_are_one_over_l() -> None:
    f_b = _integer_tensor(1, 3, 2, 2, seed=2)
    s_b = _integer_tensor(1, 3, 2, 2, seed=3)
    e_b = style_layer_loss(f_b, gram_matrix(s_b)).item()
    assert e_b > 0
    loss = style_loss({"a": F_SMALL, "b": f_b}, {"a": S_SMALL, "b": s_b})
    torch.testing.assert_close(loss, torch.tensor((E_SMALL + e_b) / 2))


def test_style_loss_layer_weights() -> None:
    f_b = _integer_tensor(1, 3, 2, 2, seed=2)
    s_b = _integer_tensor(1, 3, 2, 2, seed=3)
    e_b = style_layer_loss(f_b, gram_matrix(s_b)).item()
    targets = {"a": A_SMALL, "b": gram_matrix(s_b)}  # precomputed Grams
    loss = style_loss({"a": F_SMALL, "b": f_b}, targets, layer_weights={"a": 2.0, "b": 0.5})
    torch.testing.assert_close(loss, torch.tensor(2.0 * E_SMALL + 0.5 * e_b))


def test_style_loss_batched() -> None:
    f = torch.cat([F_SMALL, S_SMALL])  # image 0 has loss E_SMALL, image 1 has loss 0
    per_image = style_loss({"a": f}, {"a": S_SMALL}, reduction="none")
    torch.testing.assert_close(per_image, torch.tensor([E_SMALL, 0.0]))
    torch.testing.assert_close(style_loss({"a": f}, {"a": A_SMALL}), torch.tensor(E_SMALL))


def test_style_layer_loss_gradient_matches_paper_eq6() -> None:
    # Paper eq. 6 (without the ReLU mask): dE/dF = (G - A) F / (N^2 M^2)
    n, h, w = 3, 2, 3
    f = _integer_tensor(1, n, h, w, high=2).requires_grad_(True)
    a = gram_matrix(_integer_tensor(1, n, h, w, seed=1, high=2))
    style_layer_loss(f, a).backward()
    flat = f.detach().reshape(1, n, h * w)
    expected = ((gram_matrix(f.detach()) - a) @ flat / (n**2 * (h * w) ** 2)).reshape(f.shape)
    torch.testing.assert_close(f.grad, expected)


def test_style_loss_half_inputs_give_fp32() -> None:
    loss = style_loss(F_SMALL.bfloat16(), S_SMALL.bfloat16())
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, torch.tensor(E_SMALL))


def test_style_loss_input_errors() -> None:
    with pytest.raises(ValueError, match="differ"):
        style_loss({"a": F_SMALL}, {"b": S_SMALL})
    with pytest.raises(ValueError, match="layer_weights"):
        style_loss(F_SMALL, S_SMALL, layer_weights={"layer": 1.0})
    with pytest.raises(ValueError, match="channels"):
        style_layer_loss(F_SMALL, torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="layer_weights"):  # a typo must not drop a layer
        style_loss({"a": F_SMALL}, {"a": S_SMALL}, layer_weights={"A": 1.0})
    with pytest.raises(ValueError):
        style_loss({}, {})


# ---- total variation -----------------------------------------------------------------------


def test_tv_loss_hand_computed() -> None:
    x = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]]]])
    # vertical: (4-1)^2 + (8-2)^2 = 45, horizontal: (2-1)^2 + (8-4)^2 = 17
    assert tv_loss(x).item() == 62.0
    assert tv_loss(torch.full((1, 3, 5, 4), 0.7)).item() == 0.0


def test_tv_loss_sums_channels_and_batches() -> None:
    one = torch.tensor([[1.0, 2.0], [4.0, 8.0]])
    x = torch.stack([torch.stack([one, 2 * one]), torch.stack([one, 0 * one])])  # [2, 2, 2, 2]
    torch.testing.assert_close(tv_loss(x, reduction="none"), torch.tensor([62.0 * 5, 62.0]))
    assert tv_loss(x).item() == 62.0 * 6


def test_tv_loss_gradient_by_exact_central_differences() -> None:
    x = _integer_tensor(2, 3, 4, 5)
    g = x.clone().requires_grad_(True)
    tv_loss(g).backward()
    torch.testing.assert_close(g.grad, _central_difference(tv_loss, x), rtol=0, atol=0)


def test_content_loss_gradient_by_exact_central_differences() -> None:
    x, p = _integer_tensor(1, 2, 3, 3), _integer_tensor(1, 2, 3, 3, seed=4)
    g = x.clone().requires_grad_(True)
    content_loss(g, p).backward()
    expected = _central_difference(lambda t: content_loss(t, p), x)
    torch.testing.assert_close(g.grad, expected, rtol=0, atol=0)


def test_tv_loss_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match="B, C, H, W"):
        tv_loss(torch.zeros(3, 4, 4))


# ---- objective -----------------------------------------------------------------------------
# Content P = S_SMALL (||P||^2 = 9 + 1 + 1 = 11), generated F = F_SMALL: ||F - P||^2 =
# (1-3)^2 + (2-1)^2 + 3^2 + 0 + 1 + (-1-1)^2 = 4 + 1 + 9 + 0 + 1 + 4 = 19.
# Style: ||G - A||^2 = 19 (see E_SMALL), ||A||^2 = 100 + 1 = 101.


def _small_objective(**kwargs):
    feats = {"c": F_SMALL, "s": F_SMALL}
    return objective(feats, {"c": S_SMALL}, {"s": A_SMALL}, **kwargs)


def test_objective_relative_hand_computed() -> None:
    out = _small_objective(content_weight=2.0, style_weight=10.0)
    assert set(out) == {"total", "content", "style", "tv", "style/s"}
    assert out["content"].item() == pytest.approx(19 / 11)
    assert out["style"].item() == pytest.approx(19 / 101)
    assert out["style/s"].item() == pytest.approx(19 / 101)  # one layer: w = 1
    assert out["tv"].item() == 0.0
    assert out["total"].item() == pytest.approx(2 * 19 / 11 + 10 * 19 / 101)
    assert all(v.dtype == torch.float32 and v.dim() == 0 for v in out.values())


def test_objective_paper_is_eq_1_to_5() -> None:
    out = _small_objective(content_weight=2.0, style_weight=10.0, normalization="paper")
    assert out["content"].item() == pytest.approx(0.5 * 19)
    assert out["style"].item() == pytest.approx(E_SMALL)
    assert out["total"].item() == pytest.approx(2 * 9.5 + 10 * E_SMALL)
    assert out["content"].item() == pytest.approx(content_loss(F_SMALL, S_SMALL).item())


def test_objective_per_layer_terms_are_weighted_and_sum_to_style() -> None:
    x = _integer_tensor(1, 3, 4, 4, seed=1)
    feats = {"a": x, "b": x[:, :2], "c": x[:, :1, :2]}
    grams = {n: gram_matrix(_integer_tensor(*f.shape, seed=2)) for n, f in feats.items()}
    for norm in ("relative", "paper"):
        out = objective(
            feats,
            {},
            grams,
            content_weight=1.0,
            style_weight=3.0,
            style_layer_weights={"a": 0.5, "c": 2.0},
            normalization=norm,
        )
        per_layer = [out[f"style/{n}"].item() for n in "abc"]
        assert per_layer[1] == 0.0  # not named in the mapping: weight 0
        assert sum(per_layer) == pytest.approx(out["style"].item())
        assert out["total"].item() == pytest.approx(3.0 * out["style"].item())
    rel = objective(feats, {}, grams, content_weight=1.0, style_weight=1.0)
    g, a = gram_matrix(feats["a"]), grams["a"]
    expected = ((g - a) ** 2).sum() / (a**2).sum() / 3  # default weights: 1/3 each
    assert rel["style/a"].item() == pytest.approx(expected.item())


def test_objective_relative_terms_ignore_activation_scale_and_size() -> None:
    f, p = _integer_tensor(2, 3, 5, 7, seed=3), _integer_tensor(1, 3, 5, 7, seed=4)
    s = _integer_tensor(1, 3, 5, 7, seed=5)

    def terms(scale: float, tile: int = 1) -> torch.Tensor:
        big = [t.repeat(1, 1, tile, tile) * scale for t in (f, p, s)]
        out = objective(
            {"l": big[0]},
            {"l": big[1]},
            {"l": gram_matrix(big[2])},
            content_weight=1.0,
            style_weight=1.0,
            reduction="none",
        )
        return torch.stack([out["content"], out["style"]])

    base = terms(1.0)
    assert base.shape == (2, 2)  # [term, image]
    torch.testing.assert_close(terms(37.5), base)  # any positive scale
    torch.testing.assert_close(terms(1.0, tile=3), base)  # 9x the positions, same texture
    paper = objective(
        {"l": f * 2},
        {"l": p * 2},
        {"l": gram_matrix(s * 2)},
        content_weight=1.0,
        style_weight=1.0,
        normalization="paper",
    )
    base_paper = objective(
        {"l": f},
        {"l": p},
        {"l": gram_matrix(s)},
        content_weight=1.0,
        style_weight=1.0,
        normalization="paper",
    )
    assert paper["content"].item() == pytest.approx(4 * base_paper["content"].item())
    assert paper["style"].item() == pytest.approx(16 * base_paper["style"].item())


def test_objective_tv_needs_the_image_and_is_per_pixel_when_relative() -> None:
    img = _integer_tensor(1, 3, 4, 6, seed=6)
    with pytest.raises(ValueError, match="image"):
        _small_objective(content_weight=1.0, style_weight=1.0, tv_weight=0.1)
    rel = _small_objective(content_weight=1.0, style_weight=1.0, tv_weight=0.1, image=img)
    paper = _small_objective(
        content_weight=1.0, style_weight=1.0, tv_weight=0.1, image=img, normalization="paper"
    )
    assert paper["tv"].item() == pytest.approx(tv_loss(img).item())
    assert rel["tv"].item() == pytest.approx(tv_loss(img).item() / 24)


def test_objective_gradient_matches_autograd_of_the_formula() -> None:
    f = _integer_tensor(1, 2, 3, 3, seed=7).requires_grad_(True)
    p, s = _integer_tensor(1, 2, 3, 3, seed=8), _integer_tensor(1, 2, 3, 3, seed=9)
    a = gram_matrix(s)
    objective({"l": f}, {"l": p}, {"l": a}, content_weight=2.0, style_weight=5.0)[
        "total"
    ].backward()
    g = gram_matrix(f.detach()).squeeze(0)
    flat = f.detach().reshape(2, 9)
    # d/dF of ||F - P||^2 / ||P||^2 and of ||G - A||^2 / ||A||^2 (eq. 6 without its constants)
    content_grad = 2 * (f.detach() - p) / (p**2).sum()
    style_grad = (4 * (g - a.squeeze(0)) @ flat / (a**2).sum()).reshape(1, 2, 3, 3)
    torch.testing.assert_close(f.grad, 2.0 * content_grad + 5.0 * style_grad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"normalization": "none"}, "normalization"),
        ({"reduction": "mean"}, "reduction"),
        ({"style_layer_weights": {"x": 1.0}}, "x"),
        ({"style_layer_weights": [1.0, 2.0]}, "style_layer_weights"),
        ({"style_layer_weights": [float("nan")]}, "style_layer_weights"),
    ],
)
def test_objective_input_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        _small_objective(content_weight=1.0, style_weight=1.0, **kwargs)
    with pytest.raises(ValueError, match="lack"):
        objective(
            {"c": F_SMALL}, {"c": S_SMALL}, {"s": A_SMALL}, content_weight=1.0, style_weight=1.0
        )


def test_layer_weights_defaults_and_forms() -> None:
    assert layer_weights(["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert layer_weights(["a", "b"], [1, 3]) == {"a": 1.0, "b": 3.0}
    assert layer_weights(["a", "b"], {"b": 2}) == {"a": 0.0, "b": 2.0}
    with pytest.raises(ValueError, match="-1"):
        layer_weights(["a"], [-1.0])


def test_target_gram_rescales_to_the_output_positions() -> None:
    style = torch.randn(1, 4, 6, 10)
    gram = target_gram(style, (3, 5))  # the output layer has a quarter of the positions
    torch.testing.assert_close(gram, gram_matrix(style) * (15 / 60))
    torch.testing.assert_close(target_gram(style, torch.Size([6, 10])), gram_matrix(style))
    # style_loss with style activations of another size rescales the same way
    out = torch.randn(1, 4, 3, 5)
    torch.testing.assert_close(style_loss(out, style), style_loss(out, gram))


def test_objective_is_its_layer_terms_combined() -> None:
    gen = torch.Generator().manual_seed(0)
    feats = {n: torch.randn(2, 3, 4, 4, generator=gen) for n in ("a", "b")}
    content, grams = (
        {"a": torch.randn(1, 3, 4, 4, generator=gen)},
        {n: gram_matrix(torch.randn(1, 3, 4, 4, generator=gen)) for n in ("a", "b")},
    )
    image = torch.rand(2, 3, 8, 8, generator=gen)
    for normalization in ("relative", "paper"):
        got = objective(
            feats,
            content,
            grams,
            content_weight=2.0,
            style_weight=3.0,
            style_layer_weights={"a": 1.0, "b": 0.5},
            tv_weight=0.1,
            image=image,
            normalization=normalization,
            reduction="none",
        )
        terms = {
            n: layer_terms(feats[n], content.get(n), grams[n], normalization, "none") for n in feats
        }
        style = {"style/a": 1.0 * terms["a"]["style"], "style/b": 0.5 * terms["b"]["style"]}
        want = combine_terms(
            terms["a"]["content"],
            style,
            content_layers=1,
            content_weight=2.0,
            style_weight=3.0,
            tv_weight=0.1,
            image=image,
            normalization=normalization,
            reduction="none",
        )
        assert list(got) == list(want)
        for key in got:
            torch.testing.assert_close(got[key], want[key])
        tv = tv_loss(image, "none") / (64 if normalization == "relative" else 1)
        torch.testing.assert_close(got["tv"], tv)
