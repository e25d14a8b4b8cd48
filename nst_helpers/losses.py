"""The losses of Gatys, Ecker & Bethge (arXiv 1508.06576), batched and differentiable.

Notation of the paper: a layer ``l`` has ``N_l`` feature maps, each of ``M_l = H_l * W_l``
positions. ``F`` holds the generated image's activations, ``P`` the content image's, and
``A = G(style)`` the style image's Gram matrix.

* content (eq. 1):  L_content = 1/2 * sum_ij (F_ij - P_ij)^2
* Gram (eq. 3):     G_ij = sum_k F_ik F_jk
* style (eq. 4-5):  E_l = 1 / (4 N_l^2 M_l^2) * sum_ij (G_ij - A_ij)^2,  L_style = sum_l w_l E_l
* total (eq. 7):    L_total = alpha * L_content + beta * L_style

``objective`` puts them together, in one of two normalisations:

* ``"paper"``: eq. 1-5 exactly, as above.
* ``"relative"`` (the default of ``stylize``): each term divided by its target's energy,
  content ``||F - P||^2 / ||P||^2`` and style layer ``||G - A||^2 / ||A||^2``. This is the same
  loss with alpha and the layer weights ``w_l`` derived from the targets (``2 / ||P||^2`` and
  ``4 N_l^2 M_l^2 / ||A_l||^2``), and what it buys is that the weights mean the same at every
  image size and for every network: every term is a size-free ratio, unchanged when a layer's
  activations are multiplied by any positive factor.

Every loss is summed over the batch by default (each image's gradient is then exactly that of
its own loss); ``reduction="none"`` returns the per-image values ``[B]`` instead.

Grams are always computed in float32: a bf16/fp16 Gram of a deep layer sums ``M_l`` products and
overflows fp16 (max 65504) or loses most of its digits in bf16.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from .devices import no_autocast


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Unnormalised Gram matrix ``G = F F^T`` of ``[B, C, H, W]`` features -> ``[B, C, C]`` fp32."""
    if features.dim() != 4:
        raise ValueError(f"expected features [B, C, H, W], got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    with no_autocast(features.device.type):
        return torch.bmm(flat, flat.transpose(1, 2))


def target_gram(style_features: torch.Tensor, output_hw: Sequence[int]) -> torch.Tensor:
    """The style target ``A`` for an output layer of ``output_hw = (H_out, W_out)`` positions:
    the Gram of ``[B, C, H, W]`` style features times ``M_out / M_style`` -> ``[B, C, C]`` fp32.

    A Gram sums over positions and the loss assumes the output's count, so a style image of
    another size must be rescaled to mean the same texture (a no-op at equal sizes, as in the
    paper).
    """
    m_out = output_hw[-2] * output_hw[-1]
    return gram_matrix(style_features) * (
        m_out / (style_features.shape[-2] * style_features.shape[-1])
    )


def _reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return per_image.sum()
    if reduction == "none":
        return per_image
    raise ValueError(f"reduction={reduction!r} must be 'sum' or 'none'")


def _squared_error(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum (F - P)^2`` per image ``[B]`` in fp32 (``target`` may have batch 1)."""
    if features.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"content features {tuple(features.shape)} and target {tuple(target.shape)} differ"
        )
    return (features.float() - target.float()).pow(2).flatten(1).sum(dim=1)


def content_loss(
    features: torch.Tensor, target: torch.Tensor, reduction: str = "sum"
) -> torch.Tensor:
    """Eq. 1: ``1/2 * sum (F - P)^2`` -> scalar (``target`` may have batch 1)."""
    return _reduce(0.5 * _squared_error(features, target), reduction)


def style_layer_loss(
    features: torch.Tensor, target_gram: torch.Tensor, reduction: str = "sum"
) -> torch.Tensor:
    """Eq. 4: ``E_l = sum (G - A)^2 / (4 N^2 M^2)`` for one layer -> scalar.

    ``target_gram`` is ``A``, the style image's ``[1 or B, C, C]`` Gram matrix.
    """
    _, n, h, w = features.shape
    if target_gram.shape[-2:] != (n, n):
        raise ValueError(f"Gram target {tuple(target_gram.shape)} does not fit {n} channels")
    m = h * w
    diff = gram_matrix(features) - target_gram.float()
    return _reduce(diff.pow(2).flatten(1).sum(dim=1) / (4.0 * n**2 * m**2), reduction)


def style_loss(
    features: Mapping[str, torch.Tensor] | torch.Tensor,
    targets: Mapping[str, torch.Tensor] | torch.Tensor,
    layer_weights: Mapping[str, float] | None = None,
    reduction: str = "sum",
) -> torch.Tensor:
    """Eq. 5: ``sum_l w_l E_l`` -> scalar.

    ``features``: the generated image's activations, one tensor or ``{layer: [B, C, H, W]}``.
    ``targets``: the style image's activations (``[1, C, H, W]``, the paper's *A* is their Gram)
    or precomputed Grams (``[1, C, C]``), in the same shape of container. Style activations of
    another spatial size have their Gram rescaled by ``M_out / M_style`` (precomputed Grams are
    used as given). ``layer_weights`` default to ``1 / number_of_layers`` as in the paper.
    """
    if isinstance(features, torch.Tensor):
        features, targets = {"layer": features}, {"layer": targets}
        if layer_weights is not None:
            raise ValueError("layer_weights need named layers: pass dicts of features")
    if set(features) != set(targets):
        raise ValueError(f"feature layers {sorted(features)} differ from targets {sorted(targets)}")
    if not features:
        raise ValueError("style_loss needs at least one layer")
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(features) for name in features}
    elif set(layer_weights) - set(features):  # a misspelt name would silently weigh 0
        raise ValueError(
            f"layer_weights name layers {sorted(set(layer_weights) - set(features))} that are "
            f"not among the features {sorted(features)}"
        )
    total = None
    for name, feats in features.items():
        target = targets[name]
        gram = target if target.dim() == 3 else target_gram(target, feats.shape[-2:])
        term = layer_weights.get(name, 0.0) * style_layer_loss(feats, gram, reduction)
        total = term if total is None else total + term
    return total


def tv_loss(x: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Total variation ``sum |x[i+1,j] - x[i,j]|^2 + |x[i,j+1] - x[i,j]|^2`` -> scalar.

    Not in the paper; a common smoothness prior (Mahendran & Vedaldi 2015) against
    high-frequency noise. Squared (beta = 2) differences, summed, on ``[B, C, H, W]``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected an image batch [B, C, H, W], got shape {tuple(x.shape)}")
    x = x.float()
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).flatten(1).sum(dim=1)
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).flatten(1).sum(dim=1)
    return _reduce(dh + dw, reduction)


NORMALIZATIONS = ("relative", "paper")
"""``objective``'s normalisations: target-relative (size- and scale-free) or the paper's eq. 1-5."""


def _energy(target: torch.Tensor) -> torch.Tensor:
    """``||T||^2`` per image ``[1 or B]`` (fp32), never zero (a zero target is caught upstream)."""
    return target.float().pow(2).flatten(1).sum(dim=1).clamp_min(torch.finfo(torch.float32).tiny)


def relative_content_loss(
    features: torch.Tensor, target: torch.Tensor, reduction: str = "sum"
) -> torch.Tensor:
    """``||F - P||^2 / ||P||^2`` per image: eq. 1 relative to the content target's energy."""
    return _reduce(_squared_error(features, target) / _energy(target), reduction)


def relative_style_layer_loss(
    features: torch.Tensor, target_gram: torch.Tensor, reduction: str = "sum"
) -> torch.Tensor:
    """``||G - A||^2 / ||A||^2`` for one layer: eq. 4 relative to the style Gram's energy."""
    n = features.shape[1]
    if target_gram.shape[-2:] != (n, n):
        raise ValueError(f"Gram target {tuple(target_gram.shape)} does not fit {n} channels")
    diff = gram_matrix(features) - target_gram.float()
    return _reduce(diff.pow(2).flatten(1).sum(dim=1) / _energy(target_gram), reduction)


def layer_weights(
    layers: Sequence[str], weights: Sequence[float] | Mapping[str, float] | None = None
) -> dict[str, float]:
    """``{layer: w_l}``: ``1 / L`` each by default, else from a sequence (in ``layers``' order)
    or a mapping (unnamed layers weigh 0). Raises ``ValueError`` for a bad weight or name."""
    layers = list(layers)
    if weights is None:
        return {name: 1.0 / len(layers) for name in layers}
    if isinstance(weights, Mapping):
        extra = set(weights) - set(layers)
        if extra:
            raise ValueError(
                f"style_layer_weights name layers not in style_layers: {sorted(extra)}"
            )
        values = [weights.get(name, 0.0) for name in layers]
    else:
        values = list(weights)
        if len(values) != len(layers):
            raise ValueError(
                f"style_layer_weights has {len(values)} values for {len(layers)} style layers"
            )
    for name, value in zip(layers, values, strict=True):
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not (math.isfinite(value) and value >= 0)
        ):
            raise ValueError(
                f"style_layer_weights[{name!r}] must be finite and >= 0, got {value!r}"
            )
    return {name: float(value) for name, value in zip(layers, values, strict=True)}


def objective(
    features: Mapping[str, torch.Tensor],
    content_targets: Mapping[str, torch.Tensor],
    style_grams: Mapping[str, torch.Tensor],
    *,
    content_weight: float,
    style_weight: float,
    style_layer_weights: Sequence[float] | Mapping[str, float] | None = None,
    tv_weight: float = 0.0,
    image: torch.Tensor | None = None,
    normalization: str = "relative",
    reduction: str = "sum",
) -> dict[str, torch.Tensor]:
    """The whole NST loss: ``total = alpha * content + beta * style + tv_weight * tv``.

    ``features``: the generated image's activations ``{layer: [B, C, H, W]}`` for every layer
    named in ``content_targets`` (``{layer: [1 or B, C, H, W]}``, the photo's) and in
    ``style_grams`` (``{layer: [1 or B, C, C]}``, the painting's Grams). ``style`` is
    ``sum_l w_l * term_l`` with ``style_layer_weights`` (default ``1 / L``); ``content`` is the
    sum over content layers (``"paper"``) or their mean (``"relative"``). ``tv`` needs
    ``image`` ``[B, 3, H, W]`` when ``tv_weight > 0`` (else it is 0); ``"relative"`` divides it
    by the number of pixel positions ``H * W`` so it too is size-free.

    ``normalization``: ``"relative"`` (each term over its target's energy; see the module
    docstring) or ``"paper"`` (eq. 1-5 exactly). Returns fp32 tensors ``"total"``,
    ``"content"``, ``"style"``, ``"tv"`` and one ``"style/<layer>"`` per style layer (its
    ``w_l``-weighted term, before beta): scalars, or ``[B]`` with ``reduction="none"``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization={normalization!r} must be one of {', '.join(NORMALIZATIONS)}"
        )
    if reduction not in ("sum", "none"):
        raise ValueError(f"reduction={reduction!r} must be 'sum' or 'none'")
    if not content_targets and not style_grams:
        raise ValueError("objective needs at least one content target or style Gram")
    missing = sorted((set(content_targets) | set(style_grams)) - set(features))
    if missing:
        raise ValueError(f"features lack the layers {missing} that the targets name")
    weights = layer_weights(list(style_grams), style_layer_weights) if style_grams else {}
    some = features[next(iter({**content_targets, **style_grams}))]
    content = some.new_zeros(some.shape[0] if reduction == "none" else (), dtype=torch.float32)
    for name, target in content_targets.items():
        terms = layer_terms(features[name], target, None, normalization, reduction)
        content = content + terms["content"]
    style_terms = {}
    for name, gram in style_grams.items():
        terms = layer_terms(features[name], None, gram, normalization, reduction)
        style_terms[f"style/{name}"] = weights[name] * terms["style"]
    return combine_terms(
        content,
        style_terms,
        content_layers=len(content_targets),
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        image=image,
        normalization=normalization,
        reduction=reduction,
    )


def layer_terms(
    features: torch.Tensor,
    content_target: torch.Tensor | None = None,
    style_gram: torch.Tensor | None = None,
    normalization: str = "relative",
    reduction: str = "sum",
) -> dict[str, torch.Tensor]:
    """One layer's unweighted terms: ``"content"`` against ``content_target`` and ``"style"``
    against ``style_gram``, each only when given, in ``normalization``'s form.

    ``objective`` sums these over the layers and hands them to ``combine_terms``; activation
    checkpointing (``optimize.recompute``) computes them inside each VGG block instead, with
    the same two functions, so both follow one set of rules.
    """
    relative = normalization == "relative"
    terms: dict[str, torch.Tensor] = {}
    if content_target is not None:
        loss = relative_content_loss if relative else content_loss
        terms["content"] = loss(features, content_target, reduction)
    if style_gram is not None:
        loss = relative_style_layer_loss if relative else style_layer_loss
        terms["style"] = loss(features, style_gram, reduction)
    return terms


def combine_terms(
    content: torch.Tensor,
    style_terms: Mapping[str, torch.Tensor],
    *,
    content_layers: int,
    content_weight: float,
    style_weight: float,
    tv_weight: float = 0.0,
    image: torch.Tensor | None = None,
    normalization: str = "relative",
    reduction: str = "sum",
) -> dict[str, torch.Tensor]:
    """``objective``'s result from its layers' terms: ``content`` summed over the
    ``content_layers`` content layers, ``style_terms`` ``{"style/<layer>": w_l * term}``.

    The normalisation's rules live here: ``"relative"`` averages the content layers and
    measures TV per pixel position, so every term is size-free; ``"paper"`` sums as eq. 1-5.
    """
    relative = normalization == "relative"
    if relative and content_layers:
        content = content / content_layers
    zero = content.new_zeros(content.shape)
    style = zero
    for term in style_terms.values():
        style = style + term
    if tv_weight > 0:
        if image is None:
            raise ValueError("tv_weight > 0 needs the image: pass image=[B, 3, H, W]")
        tv = tv_loss(image, reduction)
        if relative:
            tv = tv / (image.shape[-2] * image.shape[-1])
    else:
        tv = zero
    total = content_weight * content + style_weight * style + tv_weight * tv
    return {"total": total, "content": content, "style": style, "tv": tv, **style_terms}
