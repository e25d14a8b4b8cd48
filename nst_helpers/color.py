"""Keeping the photo's colours: two ways from Gatys, Bethge, Hertzmann & Shechtman (2016),
"Preserving Color in Neural Artistic Style Transfer" (arXiv 1606.05897).

* ``transfer_luminance``: after stylising, keep the result's luminance (the brush strokes) and
  put the content photo's chrominance back. The paper stylises the luminance channel alone;
  swapping the colour channels afterwards is the cheap, widely used approximation of it.
* ``match_histogram``: before stylising, recolour the *style* image so that its colours have
  the content photo's mean and covariance; the painting's texture is then learnt in the
  photo's palette.

Colour spaces: YIQ (NTSC 1953) separates luminance ``Y`` from two chrominance axes ``I``
(orange-blue) and ``Q`` (purple-green) by a fixed linear map of RGB in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .images import resize_to

# FCC NTSC coefficients. The inverse is computed from them (not the rounded textbook inverse)
# so that rgb -> yiq -> rgb round-trips to float precision.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.5959, -0.2746, -0.3213],
        [0.2115, -0.5227, 0.3112],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)

Array = np.ndarray | torch.Tensor


def _apply_matrix(x: Array, matrix: np.ndarray, channel_axis: int | None) -> Array:
    """Multiply the length-3 colour vector at every position of ``x`` by ``matrix``."""
    if channel_axis is None:
        channel_axis = -3 if isinstance(x, torch.Tensor) else -1
    if x.shape[channel_axis] != 3:
        raise ValueError(
            f"expected 3 colour channels on axis {channel_axis}, got shape {tuple(x.shape)}; "
            "tensors are [..., 3, H, W] and arrays [..., H, W, 3] (or pass channel_axis=)"
        )
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"expected a float tensor in [0, 1], got dtype {x.dtype}")
        m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
        moved = x.movedim(channel_axis, -1)
        return (moved @ m.T).movedim(-1, channel_axis)
    arr = np.asarray(x, dtype=np.float64)
    return np.moveaxis(np.moveaxis(arr, channel_axis, -1) @ matrix.T, -1, channel_axis)


def rgb_to_yiq(x: Array, channel_axis: int | None = None) -> Array:
    """RGB in [0, 1] -> YIQ, same shape and type (``Y`` in [0, 1], ``I``/``Q`` about +-0.6).

    Tensors are channels-first ``[..., 3, H, W]``; NumPy arrays channels-last ``[..., H, W, 3]``
    (as ``np.asarray(pil_image) / 255`` gives). ``channel_axis`` overrides either.
    """
    return _apply_matrix(x, RGB_TO_YIQ, channel_axis)


def yiq_to_rgb(x: Array, channel_axis: int | None = None) -> Array:
    """Inverse of ``rgb_to_yiq`` (not clipped: out-of-gamut YIQ gives RGB outside [0, 1])."""
    return _apply_matrix(x, YIQ_TO_RGB, channel_axis)


def _to_array(img: Image.Image) -> np.ndarray:
    """PIL image -> float64 ``[H, W, 3]`` in [0, 1]."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(img).__name__}")
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def _to_image(arr: np.ndarray) -> Image.Image:
    """float ``[H, W, 3]`` -> RGB PIL image, clipped to [0, 1] and rounded (not truncated)."""
    return Image.fromarray((np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")


def transfer_luminance(stylized: Image.Image, content: Image.Image) -> Image.Image:
    """The stylised image's luminance with the content photo's colours (YIQ ``I`` and ``Q``).

    ``content`` is resized to ``stylized``'s size if they differ. Where the new luminance and the
    old chrominance together leave the RGB gamut, the result is clipped to [0, 1], so very
    dark or very bright strokes on saturated colours lose a little saturation.
    """
    out = _to_array(stylized)
    if content.size != stylized.size:
        content = resize_to(content, (stylized.height, stylized.width))
    yiq = rgb_to_yiq(_to_array(content))
    yiq[..., 0] = rgb_to_yiq(out)[..., 0]
    return _to_image(yiq_to_rgb(yiq))


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Symmetric (inverse) square root of a 3x3 covariance matrix via its eigendecomposition."""
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 1e-12)
    power = -0.5 if inverse else 0.5
    return (vectors * values**power) @ vectors.T


def match_histogram(
    style: Image.Image, content: Image.Image, mode: str = "pca", eps: float = 1e-5
) -> Image.Image:
    """Recolour ``style`` so its colours have ``content``'s mean and covariance.

    Each style pixel ``p`` (an RGB vector) becomes ``A (p - mu_s) + mu_c`` with
    ``A Sigma_s A^T = Sigma_c``. ``mode="pca"`` uses ``A = Sigma_c^1/2 Sigma_s^-1/2``
    (symmetric square roots, the "image analogies" choice the paper prefers: it rotates colours
    least); ``mode="cholesky"`` uses ``A = L_c L_s^-1`` from Cholesky factors. ``eps`` is added
    to both covariances' diagonals so a grey or flat image does not blow up; the result is
    clipped to [0, 1]. Only the first two moments are matched, not the full histogram.
    """
    if mode not in ("pca", "cholesky"):
        raise ValueError(f"mode={mode!r} must be 'pca' or 'cholesky'")
    s = _to_array(style).reshape(-1, 3)
    c = _to_array(content).reshape(-1, 3)
    mu_s, mu_c = s.mean(axis=0), c.mean(axis=0)
    cov_s = np.cov(s, rowvar=False, bias=True) + eps * np.eye(3)
    cov_c = np.cov(c, rowvar=False, bias=True) + eps * np.eye(3)
    if mode == "pca":
        a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    else:
        a = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    out = (s - mu_s) @ a.T + mu_c
    return _to_image(out.reshape(style.height, style.width, 3))
