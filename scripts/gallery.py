"""``make gallery``: photos x styles, rendered offline on trained features, into docs/images/.

Three compact pictures (two with ``--methods fast``) and one record of how they were made:

* ``docs/images/gallery_fast.jpg``: every photo x every style with ``preset="fast"`` (rows:
  photos, columns: styles; the first row and column show the inputs);
* ``docs/images/gallery_default.jpg``: the same grid with the default method (the CLI's 500
  Adam steps: 420-670 s of CPU a picture at 256 px on a 2-core AVX2 CPU, about 3 hours of one
  core for the grid; ``--methods fast`` leaves it out);
* ``docs/images/gallery_fast_vs_default.jpg``: for a few photo/painting pairs, the default
  method (the CLI's 500 Adam steps) beside ``preset="fast"``, same size, seed and weights;
* ``docs/images/gallery.json``: network, weights, size, steps, precision, machine and the wall
  and CPU seconds of every picture (what the README's captions say); a run that draws only some
  pictures (``--methods fast``) keeps the records of the others.

Each picture is kept in ``outputs/gallery/`` (with its numbers), so an interrupted run picks up
where it stopped and ``--only-sheets`` redraws the sheets without stylising anything.

    python scripts/gallery.py [--size 256] [--threads 1] [--force] [--methods fast]

Two processes with different ``--photos`` can share one cache (one core each, twice as fast;
give each its own ``--out``, then redraw the whole sheets with ``--only-sheets``).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import PAIRS, Clock, add_arguments, machine, resolve  # noqa: E402

from nst_helpers import load_image, stylize  # noqa: E402
from nst_helpers.apps.cli import CLI_DEFAULTS  # noqa: E402
from nst_helpers.devices import PRECISIONS  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
STYLES = ("starry_night", "the_scream", "shipwreck", "brush_strokes", "mosaic")
METHODS = {"default": {"steps": CLI_DEFAULTS["steps"]}, "fast": {"preset": "fast"}}
METHOD_WORDS = {
    "default": "default settings (the CLI's: {steps} Adam steps, {precision})",
    "fast": "preset='fast' ({steps} steps, {precision})",
}
LABEL_H = 16


def render(photo: str, style: str, method: str, args, cache: Path) -> tuple[Image.Image, dict]:
    """One picture (from ``cache`` when it is there and ``--force`` is not given, or this run
    drew it already: the pairs sheet reuses the grids'; with ``--only-sheets`` it must be there)."""
    stem = cache / f"{photo}-{style}-{method}-{args.size}"
    png, info = stem.with_suffix(".png"), stem.with_suffix(".json")
    cached = png.is_file() and info.is_file()
    if cached and (args.only_sheets or not args.force or stem in args.fresh):
        return Image.open(png).convert("RGB"), json.loads(info.read_text())
    if args.only_sheets:
        raise FileNotFoundError(f"{stem}.png or .json is not in the cache: render it first "
                                "(run without --only-sheets)")  # fmt: skip
    clock = Clock()
    result = stylize(photo, style, image_size=args.size, seed=0, device="cpu",
                     precision=args.precision, **args.measured.options, **METHODS[method])  # fmt: skip
    record = {
        "photo": photo, "style": style, "method": method, "size": args.size,
        "network": args.measured.network, "weights": args.measured.weights,
        "steps": len(result.history), "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1),
        "precision": "+".join(dict.fromkeys(result.settings.get("precisions", [result.precision]))),
        "machine": machine(),
    }  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    result.image.save(png)
    info.write_text(json.dumps(record))
    args.fresh.add(stem)
    print(f"{photo} + {style}, {method}: {record['steps']} steps, {record['wall_s']} s wall, "
          f"{record['cpu_s']} s CPU ({record['precision']})", flush=True)  # fmt: skip
    return result.image, record


def merged_records(path: Path, records: list[dict], here: str) -> list[dict]:
    """This run's records (each with ``machine``: ``here`` unless it came from the cache with its
    own) after those already in ``path`` for pictures this run did not draw: a run of one method
    must not drop the other grid's numbers. Old records without a machine get their file's."""

    def key(r: dict) -> tuple[str, str, str]:
        return r["photo"], r["style"], r["method"]

    merged: dict[tuple[str, str, str], dict] = {}
    if path.is_file():
        old = json.loads(path.read_text())
        for r in old.get("pictures", []):
            merged[key(r)] = {**r, "machine": r.get("machine", old.get("machine", "unknown"))}
    for r in records:
        merged[key(r)] = {**r, "machine": r.get("machine", here)}
    return list(merged.values())


def cell(img: Image.Image, side: int, label: str = "") -> Image.Image:
    """``img`` fitted into a ``side`` x ``side`` tile on white, with a label strip above."""
    tile = Image.new("RGB", (side, side + LABEL_H), "white")
    fitted = img.copy()
    fitted.thumbnail((side, side), Image.Resampling.LANCZOS)
    tile.paste(fitted, ((side - fitted.width) // 2, LABEL_H + (side - fitted.height) // 2))
    if label:
        ImageDraw.Draw(tile).text((3, 2), label, fill="black")
    return tile


def sheet(rows: list[list[Image.Image]], caption: str) -> Image.Image:
    """Tiles in rows, the caption below them (wrapped to the sheet's width)."""
    w, h = rows[0][0].size
    width = w * max(len(r) for r in rows)
    lines = textwrap.wrap(caption, width=width // 6)  # PIL's default font: ~6 px a character
    out = Image.new("RGB", (width, h * len(rows) + LABEL_H * len(lines) + 4), "white")
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            out.paste(tile, (j * w, i * h))
    for k, text in enumerate(lines):
        ImageDraw.Draw(out).text((3, h * len(rows) + 2 + LABEL_H * k), text, fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="longest side of each picture")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--cache", default=str(ROOT / "outputs" / "gallery"))
    parser.add_argument("--force", action="store_true", help="render again even if cached")
    parser.add_argument("--only-sheets", action="store_true", help="only redraw from the cache")
    parser.add_argument("--photos", nargs="*", default=PHOTOS)
    parser.add_argument("--styles", nargs="*", default=STYLES)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS),
                        help="which grids to render (the side-by-side pairs always get both)")  # fmt: skip
    parser.add_argument("--pairs", nargs="*", default=[f"{p}:{s}" for p, s in PAIRS],
                        help="photo:style pairs for the side-by-side sheet")  # fmt: skip
    # fp32, not the library's "auto": auto is bf16 on CPUs with AVX512-BF16 or AMX and fp32 on
    # the others, and a gallery re-rendered on another CI machine must not change its numerics
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="of every picture (default fp32: the same on every CPU)")  # fmt: skip
    add_arguments(parser)
    args = parser.parse_args()
    args.measured = resolve(args)
    args.fresh = set()  # the stems this run rendered
    warnings.simplefilter("ignore")
    out, cache, side = Path(args.out), Path(args.cache), args.size
    print(f"# gallery: {args.measured.words}; {machine()}", flush=True)
    records: list[dict] = []

    def picture(photo: str, style: str, method: str) -> Image.Image:
        img, record = render(photo, style, method, args, cache)
        records.append(record)
        return img

    pairs_wanted = [tuple(p.split(":", 1)) for p in args.pairs]
    names = {*args.photos, *args.styles, *(n for pair in pairs_wanted for n in pair)}
    inputs = {name: load_image(name, max_size=side) for name in names}
    words = f"{args.measured.words}; {side} px, seed 0"
    out.mkdir(parents=True, exist_ok=True)
    for method in args.methods:
        grid = [[cell(Image.new("RGB", (1, 1), "white"), side)]
                + [cell(inputs[s], side, s) for s in args.styles]]  # fmt: skip
        for photo in args.photos:
            row = [cell(inputs[photo], side, photo)]
            for style in args.styles:
                img = picture(photo, style, method)
                r = records[-1]
                row.append(cell(img, side, f"{r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU"))
            grid.append(row)
        first = next(r for r in records if r["method"] == method)
        what = METHOD_WORDS[method].format(steps=first["steps"], precision=first["precision"])
        sheet(grid, f"{what}; {words}; labels: seconds on a shared 2-core CPU, one thread").save(
            out / f"gallery_{method}.jpg", quality=82, optimize=True
        )  # fmt: skip
    pairs = []
    for photo, style in pairs_wanted:
        default = picture(photo, style, "default")
        d = records[-1]
        img = picture(photo, style, "fast")
        f = records[-1]
        pairs.append([cell(inputs[photo], side, photo), cell(inputs[style], side, style),
                      cell(default, side, f"default: {d['steps']} Adam, {d['wall_s']:.0f} s"),
                      cell(img, side, f"fast: {f['steps']} steps, {f['wall_s']:.0f} s")])  # fmt: skip
    sheet(pairs, f"default method (the CLI's {CLI_DEFAULTS['steps']} Adam steps, "
                 f"{d['precision']}) vs preset='fast'; {words}").save(
        out / "gallery_fast_vs_default.jpg", quality=82, optimize=True
    )  # fmt: skip
    here = machine()
    meta = {
        "machine": here,
        "measured": args.measured.words,
        "pictures": merged_records(out / "gallery.json", records, here),
    }
    (out / "gallery.json").write_text(json.dumps(meta, indent=1) + "\n")
    sheets = [f"gallery_{m}.jpg" for m in args.methods] + ["gallery_fast_vs_default.jpg"]
    print(f"wrote {', '.join(sheets)} and gallery.json in {out}")


if __name__ == "__main__":
    main()
