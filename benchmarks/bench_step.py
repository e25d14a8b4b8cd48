"""How fast is ``stylize``? Timed in one process against the loop most tutorials write.

The naive loop builds ``torchvision.models.vgg19()`` (classifier included), keeps the weights
trainable, and recomputes the content and style features at every step. ``stylize`` freezes
and truncates the network, computes targets once, uses channels_last and, optionally, autocast.
Both use the same random weights, images, size and number of Adam steps; set-up is included.

    NST_WEIGHTS=random python benchmarks/bench_step.py [--size 256] [--steps 12]

Prints a Markdown table: seconds per step, speed-up over the naive loop, achieved GFLOP/s
against this machine's measured matmul peak, and the final loss. On a CUDA GPU it also times
``stylize`` with eager steps (``NST_CUDA_GRAPHS=0``), against its default of one CUDA graph a step.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from unittest import mock

import torch
import torchvision

from nst_helpers import features as feats
from nst_helpers import image_to_tensor, stylize
from nst_helpers.devices import cpu_has_fast_bf16, resolve_device
from nst_helpers.losses import content_loss, gram_matrix, style_layer_loss
from nst_helpers.optimize import graphs

STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT = "conv4_2"


def conv_flops(height: int, width: int, last_index: int = 28) -> float:
    """Multiply-add FLOPs (x2) of one VGG19 forward pass up to ``last_index`` at ``H x W``."""
    total, h, w = 0.0, height, width
    for module in feats.build_vgg19_features()[: last_index + 1]:
        if isinstance(module, torch.nn.Conv2d):
            total += 2.0 * h * w * module.in_channels * module.out_channels * 9
        elif isinstance(module, torch.nn.MaxPool2d):
            h, w = h // 2, w // 2
    return total


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, reps: int = 5) -> float:
    """Measured GFLOP/s of a square matmul: the practical ceiling for convolutions here."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2.0 * n**3 * reps / (time.perf_counter() - start) / 1e9


def _m(features: torch.Tensor) -> int:
    """Positions per channel, M = H * W (Grams of different-size images are rescaled by it)."""
    return features.shape[-2] * features.shape[-1]


def naive_loop(
    content: torch.Tensor, style: torch.Tensor, steps: int, lr: float
) -> tuple[float, float]:
    """The tutorial loop; returns (seconds including set-up, final loss)."""
    start = time.perf_counter()
    vgg = torchvision.models.vgg19(weights=None)  # builds and initialises the classifier too
    vgg.features.load_state_dict(feats.load_vgg19("random").state_dict())
    net = vgg.features[:29].to(content.device)  # trainable weights, default memory format
    names = {feats.VGG19_LAYERS[n]: n for n in (*STYLE, CONTENT)}

    def get_features(x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for i, layer in enumerate(net):
            x = layer(x)
            if i in names:
                out[names[i]] = x.clone()  # clone: the next ReLU works in place
        return out

    target = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([target], lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        c, s, t = get_features(content), get_features(style), get_features(target)
        style_term = sum(style_layer_loss(t[n], gram_matrix(s[n]) * _m(t[n]) / _m(s[n]))
                         for n in STYLE) / len(STYLE)  # fmt: skip
        loss = content_loss(t[CONTENT], c[CONTENT]) + 1e6 * style_term
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start, float(loss)


def run_stylize(
    content, style, size: int, steps: int, precision: str, cuda_graphs: bool = True
) -> tuple[float, float]:
    """``stylize`` from a cold network cache; returns (seconds including set-up, final loss).
    ``cuda_graphs=False``: eager steps on a GPU (``NST_CUDA_GRAPHS=0``), to time what a graph
    of the step saves."""
    feats.clear_cache()
    with mock.patch.dict(os.environ, {graphs.ENV: "1" if cuda_graphs else "0"}):
        start = time.perf_counter()
        result = stylize(content, style, steps=steps, image_size=size, precision=precision,
                         weights="random", seed=0, memory_check=False)  # fmt: skip
        seconds = time.perf_counter() - start
    return seconds, result.history[-1]["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    content_img, style_img = "chelsea", "brush_strokes"
    content = image_to_tensor(content_img, args.size, device)
    style = image_to_tensor(style_img, args.size, device)  # as stylize sizes it
    h, w = content.shape[-2:]
    fwd = conv_flops(h, w)

    precisions = ["fp32", "bf16"] if device.type != "cpu" or cpu_has_fast_bf16() else ["fp32"]
    if device.type == "cuda":
        precisions.append("fp16")
    peaks = {p: matmul_peak({"fp32": torch.float32, "bf16": torch.bfloat16,
                             "fp16": torch.float16}[p], device) for p in precisions}  # fmt: skip

    # Process start-up (thread pools, kernel libraries) is not NST set-up: pay it before timing
    # either variant, so neither is charged for it.
    warm = torch.nn.Conv2d(3, 8, 3, padding=1).to(device)
    x = torch.randn(1, 3, 32, 32, device=device, requires_grad=True)
    for p in precisions:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=p == "bf16"):
            warm(x).sum().backward()

    rows = []
    naive_s, naive_loss = naive_loop(content, style, args.steps, args.lr)
    # naive work per step: 3 forwards + backward through weights and input (~2 forwards)
    rows.append(("naive tutorial loop (fp32)", naive_s, naive_loss, 5 * fwd, peaks["fp32"]))
    for p in precisions:
        secs, loss = run_stylize(content_img, style_img, args.size, args.steps, p)
        # stylize per step: 1 forward + input-only backward (~1 forward)
        rows.append((f"stylize ({p}, channels_last)", secs, loss, 2 * fwd, peaks[p]))
    if device.type == "cuda":  # the same without CUDA graphs (fp16 never has them)
        for p in precisions[:2]:
            secs, loss = run_stylize(content_img, style_img, args.size, args.steps, p, False)
            rows.append((f"stylize ({p}, eager steps)", secs, loss, 2 * fwd, peaks[p]))

    print(f"# stylize vs naive loop: {w}x{h} px, {args.steps} Adam steps incl. set-up, "
          f"VGG19 to conv5_1, random weights")  # fmt: skip
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}\n")  # fmt: skip
    print("| variant | s/step | speed-up | GFLOP/s (of peak) | final loss |")
    print("|---|---:|---:|---:|---:|")
    for name, secs, loss, flops, peak in rows:
        per_step = secs / args.steps
        gflops = flops / per_step / 1e9
        print(f"| {name} | {per_step:.4g} | {naive_s / secs:.1f}x | "
              f"{gflops:.0f} ({100 * gflops / peak:.0f}% of {peak:.0f}) | {loss:.4g} |")  # fmt: skip
    base = rows[1][2]
    for name, _, loss, _, _ in rows[2:]:
        print(f"\n{name}: final loss {100 * (loss - base) / base:+.1f}% vs fp32")


if __name__ == "__main__":
    os.environ.setdefault("NST_WEIGHTS", "random")
    main()
