"""Images in and out: loading anything a learner may hand us, and the tensor layout VGG expects.

VGG19 was trained on ImageNet photos normalised channel-wise with ImageNet's mean and
standard deviation, so every tensor that enters the network here is ``[B, 3, H, W]`` float32,
normalised the same way. ``tensor_to_image`` undoes it for display.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .runtime import data
from .runtime.files import atomic_write, local_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Pillow's own bomb guard triggers at ~179 MP; we refuse a little earlier with our own message.
MAX_PIXELS = 120_000_000

ImageSource = str | os.PathLike | bytes | Image.Image


class ImageError(ValueError):
    """An input that is not a usable image; the message names the file and the reason."""


def image_digest(img: Image.Image) -> str:
    """A short fingerprint of a PIL image's pixels and size (16 hex digits): the same picture
    gives the same digest, so a checkpoint can tell whether it is resumed on the same images."""
    return hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()[:16]


def load_image(source: ImageSource, max_size: int | None = None) -> Image.Image:
    """Load ``source`` as an RGB ``PIL.Image`` with EXIF orientation applied.

    ``source`` may be a path, raw bytes, a PIL image or a bundled sample name (see
    ``nst_helpers.data.list_samples()``). ``max_size`` shrinks the longest side (keeping the
    aspect ratio) while decoding where the format allows, before a large buffer is allocated.

    Animated or multi-page files (GIF, WebP, APNG, TIFF) give their first frame; a ``file://``
    URL is a path, other URLs are refused (``ImageError``: download the file first).

    Raises ``FileNotFoundError`` for a missing file and ``ImageError`` for anything unreadable.
    """
    if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
        raise ValueError(f"max_size must be a positive int or None, got {max_size!r}")
    if isinstance(source, Image.Image):
        return _finish(source.copy(), "the given PIL image", max_size)
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ImageError("the given bytes are empty, not an image")
        return _open(io.BytesIO(bytes(source)), "the given bytes", max_size)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"cannot load an image from {type(source).__name__}; pass a path, bytes, a PIL image "
            "or a sample name"
        )
    try:
        path = local_path(source, "image")  # file:// URLs are files; https:// ones are not
    except ValueError as err:
        raise ImageError(str(err)) from None
    if isinstance(source, str) and not path.exists() and data.is_sample(source):
        path = data.sample_path(source)
    if not path.exists():
        hint = ""
        if isinstance(source, str) and os.sep not in source and "." not in source:
            hint = f"; bundled samples are: {', '.join(data.list_samples(bundled_only=True))}"
        raise FileNotFoundError(f"image file not found: {str(path)!r}{hint}")
    if path.is_dir():
        raise ImageError(f"{str(path)!r} is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{str(path)!r} is empty (0 bytes), not an image")
    with open(path, "rb") as fh:
        return _open(fh, repr(str(path)), max_size)


def _open(fh, name: str, max_size: int | None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns from ~89 MP (and refuses from ~179 MP); our own limit below decides,
            # after draft(), so a 108 MP phone photo loaded with max_size is fine.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fh)
            if max_size is not None and img.format == "JPEG":
                # draft() lets libjpeg decode at 1/2, 1/4 or 1/8 scale: big photos never
                # reach full resolution in memory.
                img.draft("RGB", (max_size, max_size))
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(
                    f"{name} is {img.width}x{img.height} pixels, larger than the "
                    f"{MAX_PIXELS // 1_000_000} MP this library accepts (decompression bomb guard)"
                )
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name} is too large to decode safely: {err}") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{name} is not an image Pillow can read (unknown format)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{name} could not be decoded (truncated or corrupt?): {err}") from err
    return _finish(img, name, max_size)


def _finish(img: Image.Image, name: str, max_size: int | None) -> Image.Image:
    """Orientation, colour mode and size, in the order that keeps memory low."""
    # A broken EXIF block should not make an otherwise good photo unusable.
    with contextlib.suppress(Exception):
        img = ImageOps.exif_transpose(img)
    if max_size is not None and max(img.size) > max_size:
        img = _shrink(img, max_size)
    return to_rgb(img)


def _shrink(img: Image.Image, max_size: int) -> Image.Image:
    scale = max_size / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = to_rgb(img)
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode (CMYK, palette, grey, 16-bit, with alpha) as 8-bit RGB; alpha over white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        # I;16 is 16-bit by definition (a dark one must stay dark); 32-bit "I" is ambiguous:
        # older Pillow opens 16-bit PNGs as "I", others hold 8-bit values in it.
        sixteen_bit = img.mode != "I" or arr.max(initial=0) > 255
        peak = 65535.0 if sixteen_bit else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        peak = 1.0 if arr.max(initial=0) <= 1.0 else float(arr.max())
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _stats(device: torch.device | None, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, device=device, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device, dtype=dtype).view(1, 3, 1, 1)
    return mean, std


def normalize(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` in [0, 1] -> ImageNet-normalised ``(x - mean) / std``."""
    mean, std = _stats(x.device, x.dtype)
    return (x - mean) / std


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``normalize``: ImageNet-normalised ``[B, 3, H, W]`` -> [0, 1] (not clamped)."""
    mean, std = _stats(x.device, x.dtype)
    return x * std + mean


def pixel_bounds(device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lowest and highest normalised values per channel (pixels 0 and 1), each ``[1, 3, 1, 1]``."""
    mean, std = _stats(device, torch.float32)
    return -mean / std, (1 - mean) / std


def clamp_pixels(
    x: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """Normalised ``x`` ``[B, 3, H, W]`` with every pixel brought back into [0, 1]; ``bounds``:
    ``pixel_bounds(x.device)``, passed in by callers that clamp every step."""
    low, high = bounds if bounds is not None else pixel_bounds(x.device)
    return torch.maximum(torch.minimum(x, high), low)


def resize_to(img: Image.Image, size: int | tuple[int, int] | None) -> Image.Image:
    """Resize so the longest side is ``size`` (aspect kept), or to exact ``(H, W)``."""
    if size is None:
        return img
    if isinstance(size, int):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        scale = size / max(img.size)
        target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    else:
        height, width = size
        target = (int(width), int(height))
    if target == img.size:
        return img
    return img.resize(target, Image.Resampling.LANCZOS)


def image_to_tensor(
    img: ImageSource,
    size: int | tuple[int, int] | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A ``[1, 3, H, W]`` float32 tensor, ImageNet-normalised, from anything ``load_image`` takes.

    ``size``: an int sets the longest side (aspect kept); ``(H, W)`` sets both.
    """
    if not isinstance(img, Image.Image) or img.mode != "RGB":
        img = load_image(img)
    img = resize_to(img, size)
    arr = np.asarray(img, dtype=np.uint8)
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    return normalize(x).to(device)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """ImageNet-normalised ``[1, 3, H, W]`` or ``[3, H, W]`` -> RGB ``PIL.Image`` (clamped)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a single image [1, 3, H, W], got shape {tuple(t.shape)}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected [3, H, W] or [1, 3, H, W], got shape {tuple(t.shape)}")
    x = denormalize(t.detach().float().cpu().unsqueeze(0))[0]
    arr = x.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(arr, "RGB")


def save_image(img: Image.Image, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``img`` atomically (temporary file, then rename) and return the path.

    Creates missing parent folders. With ``overwrite=False`` an existing file raises
    ``FileExistsError`` rather than being replaced.
    """
    path = local_path(path, "output")  # never a folder named "https:" in the working directory
    if path.exists() and not overwrite:  # fail early; the write itself refuses atomically too
        raise FileExistsError(f"{str(path)!r} exists; choose another name or allow overwriting")
    fmt = output_format(path)
    return atomic_write(path, lambda fh: img.save(fh, format=fmt), overwrite=overwrite)


def output_format(path: str | os.PathLike) -> str:
    """The Pillow format ``save_image`` writes for ``path``'s extension (``.jpg`` -> ``JPEG``).

    Raises ``ValueError`` for an extension that is no image format, or one Pillow can read but
    not write (``.psd``): tried on a tiny RGB image, so it is known before any long run.
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the image format from {str(path)!r}: give it an image extension such "
            "as .png or .jpg"
        )
    try:
        Image.new("RGB", (8, 8)).save(io.BytesIO(), format=fmt)
    except (KeyError, OSError, ValueError) as err:
        raise ValueError(
            f"Pillow cannot write {path.suffix} ({fmt}) images from RGB: {err or 'no encoder'}; "
            "use .png or .jpg"
        ) from None
    return fmt
