"""Activation checkpointing: trade compute for memory by recomputing VGG19 blocks backwards.

An optimisation step keeps, for the backward pass, every activation of every layer up to the
deepest one used: about 2.6 GiB per megapixel in fp32, most of it in block 1, which runs at full
resolution with 64 channels. With checkpointing the forward pass keeps only each block's
*input* (the image, then the pooled maps, 1/4, 1/16, ... of the pixels) and the loss terms,
which are scalars. When the backward pass reaches a block it runs that block's forward again,
this time keeping its activations, and back-propagates through it; then they are freed. Only
one block's activations are alive at a time, at the cost of a second forward pass per step
(about a third more arithmetic, a forward being roughly half the cost of its backward, and
each layer's Gram is recomputed too; measured on a busy 2-core CPU at 256 px: 1.7x the time
per step).

That only pays if nothing outside a block holds on to its activations. The style loss of a
layer needs the whole map (its Gram's gradient is ``(G - A) F``), so the loss term of every
captured layer is computed *inside* its block, by the ``head`` callback, and only its scalar
leaves. Blocks end right after their pooling layer, where the maps are smallest.

Built on ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``: it works with any
optimiser (L-BFGS re-evaluates closures; each evaluation is an ordinary forward + backward),
with parameterisations that produce the image from other tensors (Fourier), and under
autocast, whose state it records and restores for the recomputation; the network has no
randomness, so results equal those without checkpointing up to the order of floating-point
sums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..devices import no_autocast
from ..features import FeatureExtractor
from ..losses import combine_terms, layer_terms

Head = Callable[[str, torch.Tensor], dict[str, torch.Tensor]]
"""``head(layer_name, activation [B, C, H, W]) -> {term: scalar tensor}`` for one layer."""


def block_ranges(net: nn.Sequential) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` index ranges of ``net`` that end after each pooling layer.

    The last range ends with the network (truncated after the deepest layer used).
    """
    ranges, start = [], 0
    for i, module in enumerate(net):
        if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            ranges.append((start, i + 1))
            start = i + 1
    if start < len(net):
        ranges.append((start, len(net)))
    return ranges


def _add(into: dict[str, torch.Tensor], terms: dict[str, torch.Tensor]) -> None:
    for key, value in terms.items():
        into[key] = value if key not in into else into[key] + value


def checkpointed_terms(
    extractor: FeatureExtractor, x: torch.Tensor, head: Head
) -> dict[str, torch.Tensor]:
    """Run ``extractor`` on ``x`` ``[B, 3, H, W]`` block by block under activation checkpointing.

    ``head(name, activation)`` is called on each layer the extractor captures, inside its
    block, and returns scalar loss terms; the result sums them over layers per key. Equal (up
    to float rounding) to ``{k: sum(head(n, f)[k] for n, f in extractor(x).items())}``, but the
    backward pass recomputes each block instead of keeping its activations.
    """
    net = extractor.net
    names = {index: name for name, index in extractor.indices.items()}  # VGG19 or VGG16
    totals: dict[str, torch.Tensor] = {}

    def block(h: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, dict]:
        terms: dict[str, torch.Tensor] = {}
        for i in range(start, stop):
            h = net[i](h)
            if i in names:
                _add(terms, head(names[i], h))
        return h, terms

    h = x
    for start, stop in block_ranges(net):
        if not torch.is_grad_enabled() or not h.requires_grad:
            h, terms = block(h, start, stop)  # nothing to differentiate: nothing to save
        else:
            h, terms = checkpoint(block, h, start, stop, use_reentrant=False)
        _add(totals, terms)
    return totals


def checkpointed_objective(
    extractor: FeatureExtractor,
    x: torch.Tensor,
    content_targets: Mapping[str, torch.Tensor],
    style_grams: Mapping[str, torch.Tensor],
    *,
    content_weight: float,
    style_weight: float,
    style_layer_weights: Mapping[str, float],
    tv_weight: float = 0.0,
    image: torch.Tensor | None = None,
    normalization: str = "relative",
) -> dict[str, torch.Tensor]:
    """``losses.objective(extractor(x), ...)`` with the network's blocks recomputed in the
    backward pass: the same terms (``losses.layer_terms``) computed inside each block, put
    together by the same rules (``losses.combine_terms``), equal up to float rounding.

    Run it under the caller's autocast, as the network would be; the loss terms are fp32.
    ``image`` is what the TV term smooths (``x`` before any layout change).
    """

    def head(name: str, f: torch.Tensor) -> dict[str, torch.Tensor]:
        with no_autocast(f.device.type):
            terms = layer_terms(f, content_targets.get(name), style_grams.get(name), normalization)
        out = {}
        if "content" in terms:
            out["content"] = terms["content"]
        if "style" in terms:
            out[f"style/{name}"] = style_layer_weights[name] * terms["style"]
        return out

    terms = checkpointed_terms(extractor, x, head)
    with no_autocast(x.device.type):
        content = terms.get("content", x.new_zeros((), dtype=torch.float32))
        return combine_terms(
            content,
            {f"style/{n}": terms[f"style/{n}"] for n in style_grams},
            content_layers=len(content_targets),
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=tv_weight,
            image=image,
            normalization=normalization,
        )
