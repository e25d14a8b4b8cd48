"""Activation checkpointing: the same numbers as without it, and a memory guard that knows it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nst_helpers import InsufficientMemoryError, estimate_memory, stylize
from nst_helpers.config import check_checkpointing
from nst_helpers.devices import autocast, memory_format, resolve_precision
from nst_helpers.features import FeatureExtractor
from nst_helpers.losses import content_loss, gram_matrix, objective, style_layer_loss
from nst_helpers.optimize import memory as mem
from nst_helpers.optimize.recompute import block_ranges, checkpointed_objective, checkpointed_terms

# fp32: the default precision is "auto" (bf16 on CPUs that have it), whose estimate differs.
FAST = dict(image_size=32, device="cpu", weights="random", seed=0, precision="fp32")
LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"]


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
@pytest.mark.parametrize("parameterization", ["pixel", "fourier"])
def test_checkpointing_gives_the_same_pixels(tiny_images, optimizer, parameterization):
    options = dict(steps=4, optimizer=optimizer, parameterization=parameterization, **FAST)
    _same_run_with_and_without(*tiny_images, options)


@pytest.mark.parametrize(
    "options",
    [
        dict(normalization="paper", style_weight=1e5, tv_weight=1e-3),
        dict(
            content_layers=["relu3_2", "relu4_2"],
            tv_weight=2.0,
            style_layer_weights=[1, 0, 2, 1, 3],
        ),
        dict(content_layers=["conv2_2"], style_layers=["conv1_1", "pool2", "relu3_1"]),
        dict(scales=[24, 32], pooling="avg"),
        # VGG16's indices differ from VGG19's past block 2: the blocks must know which is which
        dict(network="vgg16", content_layers=["relu4_2"], style_layers=["relu3_3", "relu5_3"]),
    ],
)
def test_checkpointing_keeps_every_loss_term(tiny_images, options):
    _same_run_with_and_without(*tiny_images, dict(steps=3, **options, **FAST))


def _same_run_with_and_without(content, style, options):
    plain = stylize(content, style, checkpointing=False, **options)
    recomputed = stylize(content, style, checkpointing=True, **options)
    assert plain.checkpointing is False and recomputed.checkpointing is True
    a, b = (np.asarray(r.image, dtype=np.int16) for r in (plain, recomputed))
    assert np.abs(a - b).max() <= 1  # one 8-bit level of rounding, at most
    assert [list(r) for r in recomputed.history] == [list(r) for r in plain.history]
    for key in set(plain.history[0]) - {"seconds"}:
        got = [r[key] for r in recomputed.history]
        want = [r[key] for r in plain.history]
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), key
    assert recomputed.history[-1]["total"] < recomputed.history[0]["total"]


def _head(targets, grams):
    def head(name, f):
        terms = {}
        if name in targets:
            terms["content"] = content_loss(f, targets[name])
        if name in grams:
            terms[f"style/{name}"] = style_layer_loss(f, grams[name])
        return terms

    return head


@pytest.mark.parametrize(("precision", "pooling"), [("fp32", "max"), ("bf16", "avg")])
def test_checkpointed_terms_and_gradients_equal_the_plain_pass(precision, pooling):
    dev = torch.device("cpu")
    dtype = resolve_precision(precision, dev)
    net = FeatureExtractor(LAYERS, weights="random", pooling=pooling)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 3, 40, 36, generator=gen).contiguous(memory_format=memory_format(dev))
    with torch.no_grad(), autocast(dev, dtype):
        ref = net(torch.randn(1, 3, 40, 36, generator=gen))
    targets = {"conv4_2": ref["conv4_2"].float()}
    grams = {n: gram_matrix(ref[n]) for n in LAYERS if n != "conv4_2"}
    head = _head(targets, grams)

    x_plain = x0.clone().requires_grad_(True)
    with autocast(dev, dtype):
        feats = net(x_plain)
    plain = {}
    for name, f in feats.items():
        for key, value in head(name, f).items():
            plain[key] = plain.get(key, 0) + value
    sum(plain.values()).backward()

    x_ck = x0.clone().requires_grad_(True)
    with autocast(dev, dtype):
        ck = checkpointed_terms(net, x_ck, head)
    sum(ck.values()).backward()

    assert set(ck) == set(plain) == {"content", *(f"style/{n}" for n in grams)}
    for key in plain:
        assert ck[key].item() == pytest.approx(plain[key].item(), rel=1e-5)
    torch.testing.assert_close(
        x_ck.grad, x_plain.grad, rtol=1e-4, atol=1e-6 * x_plain.grad.abs().max().item()
    )


@pytest.mark.parametrize("normalization", ["relative", "paper"])
def test_checkpointed_objective_is_objective(normalization):
    """The same terms and totals, by the same rules (content averaged, TV per pixel, ...)."""
    net = FeatureExtractor(LAYERS, weights="random")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        ref = net(torch.randn(1, 3, 40, 36, generator=gen))
    targets = {n: ref[n].float() for n in ("conv4_2", "conv3_1")}  # conv3_1: content and style
    grams = {
        n: gram_matrix(ref[n]) for n in ("conv5_1", "conv1_1", "conv3_1")
    }  # not in depth order
    weights = {"conv5_1": 0.5, "conv1_1": 2.0, "conv3_1": 1.0}
    options = dict(
        content_weight=1.5,
        style_weight=3.0,
        tv_weight=0.25,
        normalization=normalization,
        style_layer_weights=weights,
    )
    x0 = torch.randn(1, 3, 40, 36, generator=gen)
    x_plain, x_ck = x0.clone().requires_grad_(True), x0.clone().requires_grad_(True)
    plain = objective(net(x_plain), targets, grams, image=x_plain, **options)
    ck = checkpointed_objective(net, x_ck, targets, grams, image=x_ck, **options)
    assert list(ck) == list(plain)  # the same terms, in the same order
    for key, value in plain.items():
        assert ck[key].item() == pytest.approx(value.item(), rel=1e-5), key
    plain["total"].backward()
    ck["total"].backward()
    torch.testing.assert_close(x_ck.grad, x_plain.grad, rtol=1e-4, atol=1e-7)


def test_blocks_end_after_each_pool_and_the_last_with_the_network():
    net = FeatureExtractor(["conv3_2"], weights="random").net
    pools = [i for i, m in enumerate(net) if isinstance(m, nn.MaxPool2d)]
    assert pools == [4, 9]
    assert block_ranges(net) == [(0, 5), (5, 10), (10, len(net))]
    assert len(net) == 13  # truncated after conv3_2 (index 12)


def test_without_gradients_nothing_is_checkpointed():
    net = FeatureExtractor(["conv2_1"], weights="random")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        out = checkpointed_terms(net, x, lambda name, f: {"mean": f.mean()})
    assert out["mean"].item() == pytest.approx(net(x)["conv2_1"].mean().item(), rel=1e-6)


@pytest.mark.parametrize("bad", ["yes", 1.5, "on", [True]])
def test_bad_checkpointing_values_are_refused(bad, tiny_images):
    with pytest.raises(ValueError, match="checkpointing"):
        check_checkpointing(bad)
    with pytest.raises(ValueError, match="checkpointing"):
        stylize(*tiny_images, steps=1, checkpointing=bad, **FAST)


# ---- the memory estimate ------------------------------------------------------------------------


def test_checkpointed_estimate_by_hand():
    """conv1_1 style, conv2_1 content, 20x30 fp32: the peak is block 1's backward pass."""
    hw, pooled = 20 * 30, 10 * 15
    block1 = (
        4 * 3 * hw  # block 1's input: the channels_last copy of the image
        + 4 * 64 * hw  # relu1_1 output
        + 4 * 64 * hw  # conv1_1 (a style layer): the Gram's input,
        + 4 * 64 * 64
        + 4  # (G - A) and ||A||^2 (normalization="relative")
        + 4 * 64 * hw  # relu1_2 output
        + 8 * 64 * pooled  # pool1's int64 argmax indices
    )
    block2 = 4 * 3 * hw + 4 * 64 * pooled + 4 * 128 * pooled + 4  # inputs, conv2_1's F - P
    assert block1 + 3 * 4 * 64 * hw > block2 + 3 * 4 * 128 * pooled
    got = mem.memory_breakdown(
        (20, 30), content_layers=["conv2_1"], style_layers=["conv1_1"], checkpointing=True
    )
    plain = mem.memory_breakdown((20, 30), content_layers=["conv2_1"], style_layers=["conv1_1"])
    assert got["activations"] == block1
    assert got["backward"] == 3 * 4 * 64 * hw == plain["backward"]
    assert {k: got[k] for k in ("weights", "targets", "image")} == {
        k: plain[k] for k in ("weights", "targets", "image")
    }
    assert got["activations"] < plain["activations"]


def test_checkpointing_needs_far_less_per_pixel():
    def slope(**options):
        return (estimate_memory(1536, **options) - estimate_memory(768, **options)) / (
            1536**2 - 768**2
        )

    assert slope(checkpointing=True) < 0.7 * slope()
    assert slope(checkpointing=True, precision="bf16") < 0.8 * slope(checkpointing=True)
    with pytest.raises(ValueError, match="checkpointing"):
        estimate_memory(64, checkpointing="auto")


def _free(monkeypatch, available):
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: available)


def test_auto_turns_checkpointing_on_only_when_needed(monkeypatch):
    cpu = torch.device("cpu")
    need_plain, need_ck = estimate_memory(1024), estimate_memory(1024, checkpointing=True)
    _free(monkeypatch, (need_plain + need_ck) // 2)
    assert mem.choose_checkpointing(1024, cpu, "auto") is True
    assert mem.choose_checkpointing(1024, cpu, False) is False
    _free(monkeypatch, need_plain)
    assert mem.choose_checkpointing(1024, cpu, "auto") is False
    assert mem.choose_checkpointing(1024, cpu, True) is True
    _free(monkeypatch, None)
    assert mem.choose_checkpointing(1024, cpu, "auto") is False


def test_advice_gives_the_largest_size_with_and_without(monkeypatch):
    available = 2 * 2**30
    _free(monkeypatch, available)
    plain = mem.largest_fitting_size(available, (768, 1024))
    ck = mem.largest_fitting_size(available, (768, 1024), checkpointing=True)
    assert plain < ck
    with pytest.raises(InsufficientMemoryError) as info:
        mem.check_memory((2304, 3072), torch.device("cpu"))
    assert f"image_size={plain};" in str(info.value)
    assert "checkpointing=True" in str(info.value) and f"fits up to {ck}." in str(info.value)
    with pytest.raises(InsufficientMemoryError) as info:
        mem.check_memory((2304, 3072), torch.device("cpu"), checkpointing=True)
    assert f"image_size={ck};" in str(info.value)
    assert f"without it, up to {plain} would fit" in str(info.value)


def test_stylize_auto_checkpoints_a_run_that_would_not_fit(monkeypatch, tiny_images):
    content, style = tiny_images
    layers = dict(content_layers=["conv2_2"], style_layers=["conv1_1"])
    plain = estimate_memory((21, 32), **layers)
    ck = estimate_memory((21, 32), checkpointing=True, **layers)
    _free(monkeypatch, (plain + ck) // 2)
    result = stylize(content, style, steps=2, **layers, **FAST)  # checkpointing="auto"
    assert result.checkpointing is True
    with pytest.raises(InsufficientMemoryError, match="checkpointing=True"):
        stylize(content, style, steps=2, checkpointing=False, **layers, **FAST)
    _free(monkeypatch, plain)
    assert stylize(content, style, steps=1, **layers, **FAST).checkpointing is False
    _free(monkeypatch, ck - 1)
    with pytest.raises(InsufficientMemoryError, match="without it, up to"):
        stylize(content, style, steps=1, **layers, **FAST)


# ---- previews only when shown --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "seconds", "shown"),
    [
        (2, None, [2, 4, 5]),  # every N steps and the last: unchanged
        (1, 1e9, [1, 5]),  # asked every step, shown at most once an aeon: first and last
        (1, 0.0, [1, 2, 3, 4, 5]),
        (2, 0.0, [1, 2, 4, 5]),
    ],
)
def test_previews_are_throttled_by_steps_and_time(tiny_images, every, seconds, shown):
    seen = []
    stylize(
        *tiny_images,
        steps=5,
        preview=lambda step, img: seen.append((step, img.size)),
        preview_every=every,
        preview_seconds=seconds,
        **FAST,
    )
    assert [s for s, _ in seen] == shown
    assert all(size == (32, 21) for _, size in seen)


def test_bad_preview_seconds_is_refused(tiny_images):
    with pytest.raises(ValueError, match="preview_seconds"):
        stylize(*tiny_images, steps=1, preview_seconds=-1.0, **FAST)
