"""Training photos for the feed-forward network: a folder, a list, or a public set fetched once.

``train_transformer`` learns from many photos, not one. In quick mode and in tests the bundled
content photos are enough (random crops and flips make them many); for a usable model, Flowers102
(8189 photos, Nilsback & Zisserman 2008) is downloaded once by torchvision, which checks its MD5,
and cached. Johnson et al. used COCO (80k photos); any folder of your own photos works as well.

    >>> sources = photo_sources("samples")  # the four bundled photos
    >>> crops = RandomCrops(sources, size=64, generator=torch.Generator().manual_seed(0))
    >>> crops.batch(2).shape
    torch.Size([2, 3, 64, 64])
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..images import ImageSource, load_image

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DATASETS = ("flowers102",)
# The archive torchvision's Flowers102 dataset downloads, with the MD5 it checks.
FLOWERS102_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz"
FLOWERS102_MD5 = "52808999861908f626f3c1f4e79d11fa"
FLOWERS102_COUNT = 8189
# Small sets stay decoded in memory; large ones are decoded per crop (8k photos would be GBs).
CACHE_LIMIT = 256
# Crops are taken from the photo shrunk so its short side is up to this factor x the crop size,
# then resized to the crop size: mild scale augmentation without wasting most of a large photo.
MAX_ZOOM = 1.25


class PhotoUnavailableError(RuntimeError):
    """A photo set could not be downloaded or found; the message says what to use instead."""


def photo_sources(images: str | os.PathLike | Sequence[ImageSource]) -> list[ImageSource]:
    """Resolve ``images`` to a list of things ``load_image`` takes.

    ``images``: a folder (every photo in it and its subfolders, sorted), ``"samples"`` (the
    bundled content photos), ``"flowers102"`` (downloaded once, see ``download_photos``) or a
    list of paths, sample names or PIL images. Raises ``FileNotFoundError`` for a missing folder
    and ``ValueError`` when nothing usable is found.
    """
    if isinstance(images, str) and images.lower() == "samples":
        from ..runtime.data import list_samples, sample_path

        return [sample_path(name) for name in list_samples("content", bundled_only=True)]
    if isinstance(images, str) and images.lower() in DATASETS:
        return list(download_photos(images.lower()))
    if isinstance(images, str | os.PathLike):
        folder = Path(images)
        if not folder.exists():
            raise FileNotFoundError(
                f"photo folder not found: {str(folder)!r} (give a folder of photos, 'samples' or "
                f"one of {', '.join(DATASETS)})"
            )
        if not folder.is_dir():
            return [folder]
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
        )
        if not files:
            raise ValueError(
                f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {str(folder)!r}; give a folder of "
                "photos, 'samples' or a list of image files"
            )
        return list(files)
    sources = list(images)
    if not sources:
        raise ValueError("content_images is empty: give at least one photo")
    return sources


def sources_key(sources: Sequence[ImageSource]) -> str:
    """A short digest naming the photo set (file paths, or pixels for in-memory images)."""
    h = hashlib.sha256()
    for s in sources:
        if isinstance(s, Image.Image):
            h.update(s.tobytes() + repr(s.size).encode())
        elif isinstance(s, bytes | bytearray | memoryview):
            h.update(bytes(s))
        else:
            h.update(str(Path(s).expanduser().resolve() if Path(s).exists() else s).encode())
        h.update(b"\0")
    return f"{len(sources)} photos, sha256 {h.hexdigest()[:16]}"


def download_photos(
    name: str = "flowers102", root: str | os.PathLike | None = None, progress: bool = True
) -> list[Path]:
    """Download a public photo set once (MD5-checked by torchvision), return its image files.

    ``name``: ``"flowers102"`` (8189 photos, 330 MB; the archive of torchvision's ``Flowers102``). ``root``
    defaults to the course cache (``NST_DATA_DIR`` or the OS cache folder). A second call finds
    the files and downloads nothing. Raises ``PhotoUnavailableError`` when offline.
    """
    if name != "flowers102":
        raise ValueError(f"unknown photo set {name!r}; available: {', '.join(DATASETS)}")
    from ..runtime.data import cache_dir

    root = Path(root) if root is not None else cache_dir() / "photos"
    folder = root / "flowers-102" / "jpg"
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if len(files) < FLOWERS102_COUNT:
        try:
            from torchvision.datasets.utils import download_and_extract_archive

            # torchvision checks the archive's MD5 before extracting it and shows a tqdm bar.
            download_and_extract_archive(
                FLOWERS102_URL, download_root=str(root / "flowers-102"), md5=FLOWERS102_MD5
            )
        except Exception as err:  # noqa: BLE001 - URLError, HTTPError, checksum, disk full
            raise PhotoUnavailableError(
                f"could not download Flowers102 (330 MB) from {FLOWERS102_URL} to "
                f"{str(root)!r} ({type(err).__name__}: {err}). Without internet, train on your "
                "own photos (content_images='path/to/folder', CLI --images DIR) or on the "
                "bundled ones ('samples')."
            ) from err
        files = sorted(folder.glob("*.jpg"))
    if not files:
        raise PhotoUnavailableError(
            f"Flowers102 in {str(root)!r} has no photos; delete it and retry"
        )
    return files


class RandomCrops:
    """Square random crops with random horizontal flips from a list of photos.

    Every draw comes from ``generator``, so the same generator state gives the same batches (a
    resumed training run sees exactly the crops it would have seen). ``batch(n)`` returns
    ``[n, 3, size, size]`` float32 in [0, 1] on the CPU.
    """

    def __init__(
        self, sources: Sequence[ImageSource], size: int, generator: torch.Generator
    ) -> None:
        if not sources:
            raise ValueError("RandomCrops needs at least one photo")
        self.sources, self.size, self.generator = list(sources), size, generator
        self._cache: dict[int, torch.Tensor] | None = {} if len(sources) <= CACHE_LIMIT else None

    def __len__(self) -> int:
        return len(self.sources)

    def _photo(self, index: int) -> torch.Tensor:
        """Photo ``index`` as uint8 ``[3, H, W]``, shrunk so its short side is <= MAX_ZOOM x size."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        source = self.sources[index]
        target = math.ceil(self.size * MAX_ZOOM)
        img = load_image(source, max_size=None if isinstance(source, Image.Image) else 4 * target)
        scale = target / min(img.size)
        if scale < 1:
            img = img.resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                Image.Resampling.BILINEAR,
                reducing_gap=2.0,
            )
        t = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)
        if self._cache is not None:
            self._cache[index] = t
        return t

    def _randint(self, high: int) -> int:
        """Uniform in [0, high)."""
        return int(torch.randint(high, (1,), generator=self.generator))

    def crop(self) -> torch.Tensor:
        """One random ``[3, size, size]`` crop in [0, 1]."""
        photo = self._photo(self._randint(len(self.sources)))
        _, h, w = photo.shape
        short = min(h, w)
        # Side of the square cut from the photo: from `size` (no zoom) up to the short side;
        # a photo smaller than `size` is cut at its short side and enlarged.
        low = min(self.size, short)
        side = low + self._randint(short - low + 1)
        top, left = self._randint(h - side + 1), self._randint(w - side + 1)
        patch = photo[:, top : top + side, left : left + side].float().div_(255.0)
        if self._randint(2):
            patch = patch.flip(-1)
        if side != self.size:
            patch = F.interpolate(
                patch[None],
                size=(self.size, self.size),
                mode="bilinear",
                antialias=side > self.size,
                align_corners=False,
            )[0].clamp_(0, 1)
        return patch

    def batch(self, n: int) -> torch.Tensor:
        """``n`` random crops stacked: ``[n, 3, size, size]`` in [0, 1]."""
        return torch.stack([self.crop() for _ in range(n)])
