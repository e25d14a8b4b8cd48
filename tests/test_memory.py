"""The memory guard: the estimate's arithmetic, checked by hand and against what autograd keeps.

No GPU is needed: device memory queries are replaced by fixed numbers where a test needs them.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from nst_helpers import InsufficientMemoryError, estimate_memory, stylize
from nst_helpers.devices import autocast, memory_format, resolve_precision
from nst_helpers.features import FeatureExtractor, build_vgg19_features
from nst_helpers.losses import gram_matrix, objective
from nst_helpers.optimize import memory as mem

pytestmark = pytest.mark.filterwarnings("ignore::nst_helpers.RandomWeightsWarning")

# VGG19's 16 convolutions, (in, out) channels, written out from the paper's configuration E
# (kept as a table: one pair per line would hide it).
VGG19_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 256), (256, 512), (512, 512), (512, 512), (512, 512), (512, 512),
               (512, 512), (512, 512), (512, 512)]  # fmt: skip
ALL_WEIGHTS = sum(4 * (cin * cout * 9 + cout) for cin, cout in VGG19_CONVS)


def test_weights_term_is_the_whole_vgg19_feature_stack():
    assert ALL_WEIGHTS == 20_024_384 * 4
    assert 4 * sum(p.numel() for p in build_vgg19_features().parameters()) == ALL_WEIGHTS


def test_conv1_1_at_32px_fp32_by_hand():
    """Content and style both from conv1_1, a 32x32 image, fp32, Adam."""
    pixels = 3 * 32 * 32  # 3,072 values = 12,288 bytes in fp32
    conv = 64 * 32 * 32  # conv1_1 output values
    expected = {
        "weights": ALL_WEIGHTS,
        # input copy + Gram's fp32 input + (G - A) [64, 64] + (F - P); conv1_1 is the last
        # layer, so no ReLU runs after it
        "activations": 4 * pixels + 4 * conv + 4 * 64 * 64 + 4 * conv,
        "backward": 3 * 4 * conv,  # three gradient maps of the largest activation
        "targets": 4 * 64 * 64 + 4 * conv + 4 * pixels,  # Gram, content features, content image
        "image": 6 * 4 * pixels,  # x, grad, best, pre-step copy, Adam's two moments
    }
    options = dict(content_layers=["conv1_1"], style_layers=["conv1_1"], normalization="paper")
    assert expected["activations"] == 552_960
    assert mem.memory_breakdown(32, **options) == expected
    total = 80_097_536 + 552_960 + 786_432 + 290_816 + 73_728
    assert sum(expected.values()) == total
    assert estimate_memory(32, **options) == math.ceil(total * 1.25)
    assert estimate_memory((32, 32), **options) == estimate_memory(32, **options)
    # "relative" keeps one fp32 divisor per loss term (one content, one style layer here)
    relative = mem.memory_breakdown(32, **{**options, "normalization": "relative"})
    assert relative == {**expected, "activations": expected["activations"] + 2 * 4}


def test_conv2_1_at_20x30_bf16_lbfgs_by_hand():
    """Pooling (indices, floor of odd sizes), autocast weight copies and L-BFGS history."""
    hw, pooled = 20 * 30, 10 * 15
    act = 2  # bf16
    activations = (
        3 * hw * act  # the input cast to bf16
        + 3 * 64 * 9 * act  # conv1_1 weight cast (biases are not kept)
        + 64 * hw * act  # relu1_1 output
        + 4 * 64 * hw  # conv1_1 (a style layer): fp32 copy for the Gram
        + 4 * 64 * 64  # its (G - A)
        + 64 * 64 * 9 * act  # conv1_2 weight cast
        + 64 * hw * act  # relu1_2 output
        + 64 * pooled * act  # pool1 output
        + 8 * 64 * pooled  # pool1 int64 argmax indices
        + 64 * 128 * 9 * act  # conv2_1 weight cast
        + 4 * 128 * pooled  # conv2_1 (the content layer, last): (F - P) in fp32
    )
    expected = {
        "weights": ALL_WEIGHTS,
        "activations": activations,
        "backward": 3 * act * 64 * hw,
        "targets": 4 * 64 * 64 + 4 * 128 * pooled + 4 * 3 * hw,
        "image": (4 + 2 * 50 + 4) * 4 * 3 * hw,
    }
    got = mem.memory_breakdown(
        (20, 30),
        content_layers=["conv2_1"],
        style_layers=["conv1_1"],
        precision="bf16",
        optimizer="lbfgs",
        normalization="paper",
    )
    assert got == expected


def test_avg_pooling_keeps_no_indices_and_fp16_matches_bf16():
    options = dict(content_layers=["conv2_1"], style_layers=["conv1_1"])
    by_max = mem.memory_breakdown(40, pooling="max", **options)
    by_avg = mem.memory_breakdown(40, pooling="avg", **options)
    assert by_max["activations"] - by_avg["activations"] == 8 * 64 * 20 * 20
    assert mem.memory_breakdown(40, precision="fp16") == mem.memory_breakdown(40, precision="bf16")


def test_estimate_grows_with_pixels_and_shrinks_with_precision():
    sizes = [64, 128, 256, 512]
    estimates = [estimate_memory(s) for s in sizes]
    assert estimates == sorted(estimates)
    # Past the fixed parts (weights, Grams), memory grows in proportion to the pixel count.
    per_pixel = [
        (b - a) / (sb**2 - sa**2)
        for a, b, sa, sb in zip(estimates, estimates[1:], sizes, sizes[1:], strict=False)
    ]
    assert per_pixel[-1] == pytest.approx(per_pixel[-2], rel=0.02)
    assert estimate_memory(512, precision="bf16") < estimate_memory(512)
    assert estimate_memory(512, optimizer="lbfgs") > estimate_memory(512)
    assert estimate_memory(512, parameterization="fourier") > estimate_memory(512)
    assert estimate_memory(512, n_styles=3) > estimate_memory(512)


def saved_bytes(
    size, content_layers, style_layers, precision="fp32", pooling="max", normalization="relative"
) -> int:
    """Bytes autograd really keeps for one loss evaluation, counted tensor by tensor."""
    dev = torch.device("cpu")
    dtype = resolve_precision(precision, dev)
    layers = list(dict.fromkeys(content_layers + style_layers))
    net = FeatureExtractor(layers, weights="random", pooling=pooling)
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), autocast(dev, dtype):
        target = net(x.flip(-1).contiguous(memory_format=memory_format(dev)))
    x.requires_grad_(True)
    skip = {x.untyped_storage().data_ptr()} | {
        p.untyped_storage().data_ptr() for p in net.parameters()
    }
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with autocast(dev, dtype):
            feats = net(x.contiguous(memory_format=memory_format(dev)))
        loss = objective(
            feats,
            {n: target[n] for n in content_layers},
            {n: gram_matrix(target[n]) for n in style_layers},
            content_weight=1.0,
            style_weight=1e3,
            normalization=normalization,
        )["total"]
    assert loss.requires_grad
    return sum(storages.values())


@pytest.mark.parametrize(
    ("size", "content", "style", "precision", "pooling"),
    [
        (32, ["conv4_2"], ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"], "fp32", "max"),
        ((45, 71), ["conv3_2"], ["conv1_1", "conv2_1", "conv3_1"], "fp32", "avg"),
        ((37, 24), ["conv2_2"], ["conv2_2", "conv1_2"], "bf16", "max"),
        (24, ["conv1_1"], ["conv3_1"], "fp16", "max"),
        # post-ReLU and pooled layers (the defaults are relu*): the in-place ReLU's output is
        # the Gram's input, saved once in fp32 and copied under autocast
        (32, ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1"], "fp32", "max"),
        (32, ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], "fp32", "max"),
        ((37, 24), ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1"], "bf16", "max"),
        ((45, 71), ["relu2_2"], ["pool1", "relu3_1", "pool3"], "fp32", "avg"),
        (24, ["pool2"], ["relu1_2", "conv1_2", "pool2"], "fp16", "max"),
        (32, ["relu3_1", "conv3_1"], ["relu3_1", "conv3_1"], "bf16", "avg"),
    ],
)
@pytest.mark.parametrize("normalization", ["relative", "paper"])
def test_activation_term_equals_what_autograd_saves(
    size, content, style, precision, pooling, normalization
):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measured = saved_bytes(size, content, style, precision, pooling, normalization)
    estimated = mem.memory_breakdown(
        size,
        content_layers=content,
        style_layers=style,
        precision=precision,
        pooling=pooling,
        normalization=normalization,
    )["activations"]
    assert estimated == measured


@pytest.mark.parametrize("options", [{}, {"optimizer": "lbfgs"}, {"precision": "bf16"}])
@pytest.mark.parametrize("aspect", [1.0, (768, 1024), (900, 300), 0.25])
def test_largest_fitting_size_is_the_largest_that_fits(options, aspect):
    available = 2 * 2**30
    side = mem.largest_fitting_size(available, aspect, **options)
    assert side > 16
    assert estimate_memory(mem._shape_for(side, aspect), **options) <= available
    assert estimate_memory(mem._shape_for(side + 1, aspect), **options) > available
    h, w = mem._shape_for(side, aspect)
    assert max(h, w) == side
    if isinstance(aspect, tuple):
        assert h / w == pytest.approx(aspect[0] / aspect[1], rel=1 / min(h, w))


def test_largest_fitting_size_edges():
    assert mem.largest_fitting_size(mem.estimate_memory(300)) == 300
    assert mem.largest_fitting_size(ALL_WEIGHTS) == 0  # not even the network fits
    assert mem._shape_for(100, (50, 200)) == (25, 100)
    assert mem._shape_for(100, 2.0) == (100, 50)
    with pytest.raises(ValueError, match="aspect"):
        mem.largest_fitting_size(2**30, (0, 5))
    with pytest.raises(ValueError, match="aspect"):
        mem.largest_fitting_size(2**30, -1.0)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"image_size": 0}, "image_size"),
        ({"image_size": (32,)}, "image_size"),
        ({"image_size": True}, "image_size"),
        ({"precision": "fp8"}, "precision"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"pooling": "min"}, "pooling"),
        ({"parameterization": "wavelet"}, "parameterization"),
        ({"style_layers": ["conv9_9"]}, "conv9_9"),
        ({"n_styles": 0}, "n_styles"),
        ({"normalization": "none"}, "normalization"),
    ],
)
def test_bad_options_are_value_errors(bad, match):
    args = {"image_size": 32, **bad}
    with pytest.raises(ValueError, match=match):
        estimate_memory(args.pop("image_size"), **args)


# ---- what the device has ------------------------------------------------------------------


def test_cuda_availability_counts_cached_blocks(monkeypatch):
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 2 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: gib // 2)
    cuda = torch.device("cuda")
    assert mem.available_memory(cuda) == 3 * gib + 2 * gib - gib // 2
    assert mem.available_memory(cuda, after_oom=True) == 5 * gib


def test_mps_availability(monkeypatch):
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 12 * 2**30, raising=False)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 2 * 2**30, raising=False)
    assert mem.available_memory("mps") == 10 * 2**30


def test_cpu_availability_is_positive_or_unknown():
    free = mem.available_memory("cpu")
    assert free is None or free > 0


def test_unknown_availability_skips_the_check(monkeypatch):
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: None)
    assert mem.check_memory(10_000, torch.device("cpu")) is None


def test_check_memory_passes_when_it_fits(monkeypatch):
    need = estimate_memory(256)
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: need)
    assert mem.check_memory(256, torch.device("cpu")) is None


def test_check_memory_says_what_fits(monkeypatch):
    available = 2 * 2**30
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: available)
    with pytest.raises(InsufficientMemoryError) as info:
        mem.check_memory((768, 1024), torch.device("cuda"))
    message = str(info.value)
    best = mem.largest_fitting_size(available, (768, 1024))
    bf16 = mem.largest_fitting_size(available, (768, 1024), precision="bf16")
    assert best < 1024 < bf16
    assert f"image_size={best}" in message
    assert f"scales=[{best // 2}, {best}]" in message
    assert f"fits up to {bf16}" in message and "bf16" in message
    assert f"{estimate_memory((768, 1024)) / 2**30:.2f} GiB" in message
    assert "2.00 GiB is free" in message
    assert isinstance(info.value, MemoryError)


def test_check_memory_suggests_adam_for_lbfgs(monkeypatch):
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: 2**30)
    with pytest.raises(InsufficientMemoryError, match="optimizer='adam'"):
        mem.check_memory(1024, torch.device("cpu"), optimizer="lbfgs")


def test_nothing_fits_says_so(monkeypatch):
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: 10 * 2**20)
    with pytest.raises(InsufficientMemoryError, match="Not even the smallest"):
        mem.check_memory(64, torch.device("cpu"))


# ---- inside stylize -------------------------------------------------------------------------


def run(**options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stylize(
            "chelsea",
            "brush_strokes",
            weights="random",
            device="cpu",
            seed=0,
            precision="fp32",
            **options,
        )


def test_stylize_refuses_before_any_work_when_it_will_not_fit(monkeypatch):
    layers = dict(content_layers=["conv2_2"], style_layers=["conv1_1"])
    available = estimate_memory(48, **layers)
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: available)
    steps_run = []
    # without checkpointing (its "auto" default is tested in test_recompute.py)
    options = dict(steps=2, callback=steps_run.append, checkpointing=False, **layers)
    with pytest.raises(InsufficientMemoryError) as info:
        run(image_size=96, **options)  # chelsea is 3:2, so 96 x 64
    assert steps_run == []
    best = mem.largest_fitting_size(available, (64, 96), **layers)
    assert 48 < best < 96  # fewer pixels than a 48 px square, with a longer side
    assert f"image_size={best};" in str(info.value)
    assert "96x64" in str(info.value)
    result = run(image_size=96, memory_check=False, **options)  # the user may insist
    assert len(result.history) == 2


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB)"),
    ],
)
def test_real_out_of_memory_is_reraised_with_advice(monkeypatch, error):
    from nst_helpers import losses

    def explode(*args, **kwargs):  # the device gives up in the first step's loss
        raise error

    monkeypatch.setattr(losses, "objective", explode)
    with pytest.raises(InsufficientMemoryError, match="out of memory") as info:
        run(steps=2, image_size=32, content_layers=["conv2_2"], style_layers=["conv1_1"])
    # the device's words as text, not as a chained exception: its frames hold the failed run
    assert str(error) in str(info.value) and info.value.__cause__ is None
    assert "scales=[" in str(info.value) or "image_size" in str(info.value)


def test_other_runtime_errors_pass_through(monkeypatch):
    from nst_helpers import losses

    def explode(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(losses, "objective", explode)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run(steps=2, image_size=32, content_layers=["conv2_2"], style_layers=["conv1_1"])


def test_oom_message_names_size_device_and_a_way_out(monkeypatch):
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: 2**30)
    text = mem.oom_message((600, 800), torch.device("cuda"), precision="fp32")
    assert "out of memory" in text and "cuda" in text and "800x600" in text
    best = mem.largest_fitting_size(2**30, (600, 800))
    assert f"image_size={best}" in text and "precision='bf16'" in text
