"""The problem a run solves at each scale: its targets, its starting image and its loss.

Everything here is the paper's, from the engine's blocks: the content photo's features and the
style images' Grams (computed once per scale, under ``no_grad``), the image to start from, and
``losses.objective`` on the network's features of the current image (or the same terms
computed block by block when activations are recomputed, see ``recompute``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from .. import devices, losses
from ..config import StyleConfig
from ..features import FeatureExtractor, replicate_first_conv
from ..images import image_to_tensor, normalize, resize_to, tensor_to_image
from .plan import Plan
from .steps import Losses, LossFn


@dataclass(frozen=True)
class Targets:
    """One scale's targets: the content image ``[1, 3, H, W]``, its features at the content
    layers ``{layer: [1, C, H_l, W_l]}`` and the blended style Grams ``{layer: [1, C, C]}``."""

    content: torch.Tensor
    features: dict[str, torch.Tensor]
    grams: dict[str, torch.Tensor]


class Problem:
    """``config``'s loss between ``content`` and ``styles`` (mixed by ``blend``) on ``device``.

    Builds the truncated, frozen network once; ``targets``, ``initial_image`` and ``loss_fn``
    are what each scale of the loop asks for.
    """

    def __init__(
        self,
        config: StyleConfig,
        plan: Plan,
        content: Image.Image,
        styles: list[Image.Image],
        blend: list[float],
        device: torch.device,
    ) -> None:
        self.config, self.content, self.styles, self.blend = config, content, styles, blend
        self.device = device
        self.layer_weights = config.layer_weights
        layers = dict.fromkeys([*config.content_layers, *self.layer_weights])
        self.extractor = FeatureExtractor(
            list(layers),
            weights=config.weights,
            pooling=config.pooling,
            device=device,
            network=config.network,
        )
        if plan.first_conv_padding == "replicate":
            replicate_first_conv(self.extractor)
        self.memory_format = devices.memory_format(device)

    def features(self, x: torch.Tensor, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
        """The network's activations of ``x`` ``[B, 3, H, W]`` under ``dtype`` autocast."""
        with devices.autocast(self.device, dtype):
            return self.extractor(x.contiguous(memory_format=self.memory_format))

    @torch.no_grad()
    def targets(self, size: int, dtype: torch.dtype | None) -> Targets:
        """The targets at ``size`` px (longest side); the style images at ``size`` times
        ``style_scale``. A relative loss refuses a target with no energy to divide by."""
        cfg = self.config
        content = image_to_tensor(self.content, size, self.device)
        feats = self.features(content, dtype)
        content_targets = {n: feats[n].float() for n in cfg.content_layers}
        grams: dict[str, torch.Tensor] = {}
        for img, w in zip(self.styles, self.blend, strict=True):
            if w == 0:
                continue
            style = image_to_tensor(img, round(size * cfg.style_scale), self.device)
            sf = self.features(style, dtype)
            for n in self.layer_weights:
                g = losses.target_gram(sf[n], feats[n].shape[-2:])
                grams[n] = w * g if n not in grams else grams[n] + w * g
        if cfg.normalization == "relative":
            _check_energies(content_targets, grams)
        return Targets(content, content_targets, grams)

    def initial_image(self, targets: Targets) -> torch.Tensor:
        """The image the first scale starts from (``init``): the photo, the main style image
        or white noise, normalised ``[1, 3, H, W]`` at the targets' size."""
        init, (h, w) = self.config.init, targets.content.shape[-2:]
        if init == "content":
            return targets.content.clone()
        if init == "style":
            main_style = max(range(len(self.blend)), key=self.blend.__getitem__)
            return image_to_tensor(self.styles[main_style], (h, w), self.device)
        # White noise in pixel space, drawn on the CPU so every device sees the same pixels.
        gen = torch.Generator()
        if self.config.seed is None:
            gen.seed()
        else:
            gen.manual_seed(self.config.seed)
        return normalize(torch.rand(1, 3, h, w, generator=gen)).to(self.device)

    def loss_fn(self, targets: Targets, dtype: torch.dtype | None, checkpointing: bool) -> LossFn:
        """``loss(x) -> {"total", "content", "style", "tv", "style/<layer>"}`` at one scale;
        ``checkpointing`` recomputes the network's blocks in the backward pass instead of
        keeping their activations (the same values up to float rounding)."""
        cfg = self.config
        weights = dict(
            content_weight=cfg.content_weight,
            style_weight=cfg.style_weight,
            tv_weight=cfg.tv_weight,
            normalization=cfg.normalization,
        )
        if checkpointing:
            from .recompute import checkpointed_objective

            def loss(x: torch.Tensor) -> Losses:
                with devices.autocast(self.device, dtype):
                    x_in = x.contiguous(memory_format=self.memory_format)
                    return checkpointed_objective(
                        self.extractor,
                        x_in,
                        targets.features,
                        targets.grams,
                        style_layer_weights=self.layer_weights,
                        image=x,
                        **weights,
                    )

            return loss

        def loss(x: torch.Tensor) -> Losses:
            return losses.objective(
                self.features(x, dtype),
                targets.features,
                targets.grams,
                style_layer_weights=self.layer_weights,
                image=x,
                **weights,
            )

        return loss

    def output_image(self, x: torch.Tensor) -> Image.Image:
        """``x`` as a PIL image, clamped; ``preserve_color="luminance"`` keeps the photo's
        colours (only the luminance of ``x`` is used)."""
        img = tensor_to_image(x)
        if self.config.preserve_color == "luminance":
            from ..color import transfer_luminance

            img = transfer_luminance(img, resize_to(self.content, img.size[::-1]))
        return img


def _check_energies(content_targets: dict, grams: dict) -> None:
    """A relative term divides by its target's energy: refuse a target that has none."""
    empty = [n for n, t in {**content_targets, **grams}.items() if not bool(t.abs().sum() > 0)]
    if empty:
        raise ValueError(
            f"the targets at {empty} are all zero (a blank image gives no activations there), "
            "so normalization='relative' has nothing to divide by: use other layers, another "
            "image, or normalization='paper'"
        )
