"""Optimising the image's spectrum instead of its pixels.

From Mordvintsev, Pezzotti, Schubert & Olah (2018), "Differentiable Image Parameterizations",
Distill, https://distill.pub/2018/differentiable-parameterizations/ and their Lucid library.

Gradient steps on pixels favour high frequencies: every pixel moves on its own, so the first
thing an optimiser produces is fine noise. Here the parameters are the Fourier coefficients of
the image, each scaled by ``1 / frequency``: one unit of change in a coarse coefficient moves
the picture far more than one in a fine coefficient, so with Adam (whose steps are about
``lr`` per parameter) the image changes like natural images do, mostly at low frequencies.
That is a change of *optimisation* only: the set of reachable images is the same.

The spectrum lives in a decorrelated colour space: ``rgb - imagenet_mean = C z``, where ``C``
is Lucid's square root of ImageNet's colour covariance (its ``color_correlation_svd_sqrt``,
columns scaled so the largest has norm 1). Its first axis is luminance, the other two small
chroma axes, so steps change brightness more readily than hue.

Everything here is linear and invertible, which is how the image can start exactly at
``init`` (content, noise or style): the spectrum is computed from ``init`` by the inverse map.
"""

from __future__ import annotations

import torch

from .devices import no_autocast
from .images import IMAGENET_STD, clamp_pixels, pixel_bounds

# Lucid, lucid/optvis/param/color.py (Apache 2.0): square root of ImageNet's RGB covariance,
# found by SVD; rows are R, G, B, columns the decorrelated axes (luminance first).
COLOR_CORRELATION_SVD_SQRT = (
    (0.26, 0.09, 0.02),
    (0.27, 0.00, -0.05),
    (0.27, -0.09, 0.03),
)


def color_matrix(decorrelate: bool = True) -> torch.Tensor:
    """``[3, 3]`` float64 ``M`` with ``normalised_rgb = M z``, for decorrelated colours ``z``."""
    c = torch.tensor(COLOR_CORRELATION_SVD_SQRT, dtype=torch.float64)
    c = c / c.norm(dim=0).max() if decorrelate else torch.eye(3, dtype=torch.float64)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64)
    # normalised = (rgb - mean) / std = diag(1/std) C z: the mean is absorbed by z's DC term.
    return c / std[:, None]


def frequency_scale(
    height: int, width: int, decay_power: float = 1.0, longest_period: int | None = None
) -> torch.Tensor:
    """``[H, W // 2 + 1]`` float32 weights ``1 / max(f, 1 / L) ** decay_power``.

    ``f`` is the spatial frequency in cycles per pixel of each ``rfft2`` coefficient; ``L`` is
    ``longest_period`` in pixels (``None``: ``max(H, W)``, the image's own size), so every
    coarser wave, DC included, is weighted like the wave of period ``L``: it moves no faster.
    A short ``L`` keeps the picture's layout (its coarsest waves) nearer the start while the
    textures' scales still move fast. The weights are divided by their root mean square over
    the full spectrum, so a step of the same size on every coefficient moves the image as much
    in total as the same step on every pixel would; only its distribution over frequencies
    differs.
    """
    if longest_period is not None and longest_period < 1:
        raise ValueError(
            f"longest_period must be a whole number of pixels >= 1, got {longest_period!r}"
        )
    longest = max(height, width)
    period = longest if longest_period is None else min(longest_period, longest)
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    f = (fy**2 + fx**2).sqrt().clamp_min(1.0 / period)
    scale = f ** (-decay_power)
    # Columns 1 .. W/2-1 stand for two coefficients each (their mirror images are implied).
    counts = torch.full((width // 2 + 1,), 2.0, dtype=torch.float64)
    counts[0] = 1.0
    if width % 2 == 0:
        counts[-1] = 1.0
    rms = ((scale**2 * counts).sum() / (height * width)).sqrt()
    return (scale / rms).float()


class FourierParameterization:
    """The image as a ``1/f``-scaled spectrum in decorrelated colours (Distill, 2018).

    ``init``: ImageNet-normalised ``[1, 3, H, W]``; ``image()`` returns exactly it before the
    first step. The parameter is the real view ``[1, 3, H, W // 2 + 1, 2]`` of the complex
    spectrum (real tensors work with every optimiser, L-BFGS included, and in checkpoints).
    All the maths is fp32, outside autocast; ``torch.fft`` runs on CUDA, MPS and the CPU.
    ``decay_power`` and ``longest_period``: the spectrum's weights, see ``frequency_scale``.
    """

    def __init__(
        self,
        init: torch.Tensor,
        decorrelate: bool = True,
        decay_power: float = 1.0,
        longest_period: int | None = None,
    ) -> None:
        if init.dim() != 4 or init.shape[:2] != (1, 3):
            raise ValueError(f"init must be a [1, 3, H, W] image, got shape {tuple(init.shape)}")
        if decay_power < 0:
            raise ValueError(f"decay_power must be >= 0, got {decay_power!r}")
        self.decorrelate, self.decay_power = decorrelate, decay_power
        self.longest_period = longest_period
        self.size = tuple(init.shape[-2:])
        device = init.device
        m = color_matrix(decorrelate)
        self._color = m.float().to(device)
        self._color_inv = torch.linalg.inv(m).float().to(device)
        self._scale = frequency_scale(*self.size, decay_power, longest_period).to(device)
        self._low, self._high = pixel_bounds(device)
        self.spectrum = self._encode(init.detach().float()).requires_grad_(True)

    # -- the linear map and its inverse --------------------------------------------------------
    def _decode(self, spectrum: torch.Tensor) -> torch.Tensor:
        """Real spectrum ``[1, 3, H, W//2+1, 2]`` -> normalised image ``[1, 3, H, W]``."""
        coeffs = torch.view_as_complex(spectrum) * self._scale
        z = torch.fft.irfft2(coeffs, s=self.size, norm="ortho")
        return torch.einsum("ij,bjhw->bihw", self._color, z)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised image ``[1, 3, H, W]`` -> real spectrum; ``_decode(_encode(x)) == x``."""
        z = torch.einsum("ij,bjhw->bihw", self._color_inv, x)
        coeffs = torch.fft.rfft2(z, norm="ortho") / self._scale
        return torch.view_as_real(coeffs).contiguous()

    # -- the PixelParameterization interface ----------------------------------------------------
    def parameters(self) -> list[torch.Tensor]:
        """The tensors the optimiser updates (one real spectrum)."""
        return [self.spectrum]

    def image(self) -> torch.Tensor:
        """The current image, ImageNet-normalised ``[1, 3, H, W]``, differentiable."""
        with no_autocast(self.spectrum.device.type):
            return self._decode(self.spectrum)

    @torch.no_grad()
    def project_(self) -> None:
        """Pull pixels back into [0, 1], like the pixel version, by re-encoding the clamped image.

        A hard clamp between steps (never inside an L-BFGS closure) keeps the loss measured on
        valid images. It costs one FFT pair, and nothing when every pixel is already in range.
        A sigmoid (as in Lucid) would bound pixels smoothly but could not start exactly at a
        content photo with pure black or white pixels, and it stalls the gradient there.
        """
        x = self._decode(self.spectrum)
        clamped = clamp_pixels(x, (self._low, self._high))
        if not torch.equal(clamped, x):
            self.spectrum.copy_(self._encode(clamped))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that restore this parameterisation exactly (for checkpoints)."""
        return {"spectrum": self.spectrum.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of ``state_dict``; the image size must match."""
        spectrum = state["spectrum"]
        if spectrum.shape != self.spectrum.shape:
            raise ValueError(
                f"saved spectrum {tuple(spectrum.shape)} does not fit an image of size "
                f"{self.size}: expected {tuple(self.spectrum.shape)}"
            )
        with torch.no_grad():
            self.spectrum.copy_(spectrum.to(self.spectrum.device))
