"""Copy the content photos in data/content/ out of scikit-image's bundled sample data.

Only images that ship inside the scikit-image wheel are used (nothing is downloaded), and
only those whose docstring in skimage/data/_fetchers.py releases them into the public
domain or under CC0. Each is shrunk so its longest side is at most 512 px: big enough
to look good, small enough for a CPU to style in minutes.

    pip install scikit-image && python scripts/copy_content.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "content"
MAX_SIDE = 512
JPEG_QUALITY = 90

# output name -> (file inside skimage/data/, licence as stated by scikit-image)
CONTENT = {
    "chelsea": ("chelsea.png", "CC0 (photographer Stefan van der Walt)"),
    "coffee": ("coffee.png", "CC0 (photographer Rachel Michetti)"),
    "astronaut": ("astronaut.png", "public domain (NASA)"),
    "rocket": ("rocket.jpg", "public domain (SpaceX)"),
}


def skimage_data_dir() -> Path:
    """Folder of the installed scikit-image's bundled sample images."""
    import skimage.data  # a maintainer-only dependency, so import it lazily

    return Path(skimage.data.__file__).resolve().parent


def shrink(img: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """RGB copy of img whose longest side is at most max_side, aspect ratio kept."""
    img = img.convert("RGB")
    scale = max_side / max(img.size)
    if scale < 1:
        size = (round(img.width * scale), round(img.height * scale))
        img = img.resize(size, Image.LANCZOS)
    return img


def main(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every CONTENT image to out_dir/<name>.jpg and return the paths."""
    src_dir = skimage_data_dir()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (filename, _licence) in CONTENT.items():
        with Image.open(src_dir / filename) as img:
            small = shrink(img)
        path = out_dir / f"{name}.jpg"
        # a fresh image carries no EXIF/ICC metadata, so the bytes depend only on pixels
        small.save(path, quality=JPEG_QUALITY, optimize=True)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    for p in main(args.out):
        with Image.open(p) as im:
            print(f"wrote {p} {im.size[0]}x{im.size[1]} ({p.stat().st_size / 1024:.0f} KiB)")
