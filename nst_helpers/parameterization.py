"""How the generated image is represented while it is optimised.

The paper optimises pixels directly. Any other representation only has to produce an
ImageNet-normalised ``[1, 3, H, W]`` image from some tensors the optimiser can move.
"""

from __future__ import annotations

import torch

from .images import clamp_pixels, pixel_bounds

PARAMETERIZATIONS = ("pixel", "fourier")


class PixelParameterization:
    """The image *is* the parameter (Gatys et al.); pixels are clamped to [0, 1] after each step."""

    def __init__(self, init: torch.Tensor) -> None:
        self.x = init.detach().clone().float().contiguous().requires_grad_(True)
        self._low, self._high = pixel_bounds(init.device)

    def parameters(self) -> list[torch.Tensor]:
        """The tensors the optimiser updates."""
        return [self.x]

    def image(self) -> torch.Tensor:
        """The current image, ImageNet-normalised ``[1, 3, H, W]``, differentiable."""
        return self.x

    @torch.no_grad()
    def project_(self) -> None:
        """Keep every pixel inside [0, 1] (done between steps, never inside an L-BFGS closure)."""
        self.x.copy_(clamp_pixels(self.x, (self._low, self._high)))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that restore this parameterisation exactly (for checkpoints)."""
        return {"x": self.x.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of ``state_dict``."""
        with torch.no_grad():
            self.x.copy_(state["x"].to(self.x.device))


def make_parameterization(kind: str, init: torch.Tensor, **options):
    """``"pixel"`` or ``"fourier"`` parameterisation starting from the normalised image ``init``."""
    if kind == "pixel":
        return PixelParameterization(init)
    if kind == "fourier":
        from .fourier import FourierParameterization

        return FourierParameterization(init, **options)
    raise ValueError(f"parameterization={kind!r} must be one of {', '.join(PARAMETERIZATIONS)}")
