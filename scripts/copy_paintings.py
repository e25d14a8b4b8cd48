"""Copy the three public-domain paintings into data/style/ at most 512 px on the long side.

The full-size files are the pinned example inputs of jcjohnson/neural-style (see
data/README.md); each is checked against its SHA256 before it is shrunk (LANCZOS, as
scripts/copy_content.py does) and saved as JPEG quality 90 without metadata, so the bytes
depend only on the source pixels and the Pillow version. The bundled copies make
``load_image("starry_night")`` work offline; ``sample_path(name, full_size=True)`` still
downloads the original.

    python scripts/copy_paintings.py                      # full-size files from the cache
    python scripts/copy_paintings.py --from DIR           # or from a folder holding them
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from PIL import Image

from nst_helpers.images import resize_to
from nst_helpers.runtime import data

MAX_SIDE = 512
JPEG_QUALITY = 90
PAINTINGS = ("starry_night", "the_scream", "shipwreck")


def source_file(name: str, folder: Path | None) -> Path:
    """The full-size painting: ``folder/<name>.jpg`` (SHA256 checked), else fetched."""
    if folder is None:
        return data.fetch_painting(name)
    path = Path(folder) / Path(data.SAMPLES[name].url).name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != data.SAMPLES[name].sha256:
        raise SystemExit(f"{path}: SHA256 {digest} is not the pinned {data.SAMPLES[name].sha256}")
    return path


def main(out_dir: Path = data.DATA_DIR, folder: Path | None = None) -> list[Path]:
    """Write each painting to ``out_dir/style/<name>.jpg``; return the paths."""
    paths = []
    for name in PAINTINGS:
        with Image.open(source_file(name, folder)) as img:
            img = img.convert("RGB")
            small = resize_to(img, MAX_SIDE) if max(img.size) > MAX_SIDE else img
        path = Path(out_dir) / data.SAMPLES[name].filename
        path.parent.mkdir(parents=True, exist_ok=True)
        small.save(path, quality=JPEG_QUALITY, optimize=True)  # a fresh image: no EXIF/ICC
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="folder", type=Path, help="folder of full-size files")
    parser.add_argument("--out", type=Path, default=data.DATA_DIR, help="the data/ folder")
    args = parser.parse_args()
    for p in main(args.out, args.folder):
        with Image.open(p) as im:
            print(f"wrote {p} {im.size[0]}x{im.size[1]} ({p.stat().st_size / 1024:.0f} KiB)")
