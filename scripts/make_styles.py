"""Generate the procedural style textures in data/style/.

Real paintings make the best style images, but the classic ones cannot always be
downloaded (offline classrooms, CI). These textures are drawn from scratch with numpy
and pillow, so they are ours to ship (CC0) and every one of them has strong, distinctive
colour and stroke statistics for the Gram matrices to latch on to.

Everything is seeded: the same pillow/numpy versions give byte-identical JPEGs.

    python scripts/make_styles.py              # writes data/style/*.jpg at 512x512
    python scripts/make_styles.py --size 256 --out /tmp/styles
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "style"
SUPERSAMPLE = 2  # pillow draws without anti-aliasing, so draw big and downsample
JPEG_QUALITY = 90

Palette = list[tuple[int, int, int]]

# ----------------------------------------------------------------------------- helpers


def value_noise(
    rng: np.random.Generator, size: int, cells: int, octaves: int = 4, gain: float = 0.5
) -> np.ndarray:
    """Smooth fractal noise of shape (size, size), rescaled to [0, 1]."""
    out = np.zeros((size, size), np.float32)
    amp = 1.0
    for octave in range(octaves):
        n = cells * 2**octave + 1
        grid = rng.random((n, n), dtype=np.float32)
        out += amp * np.asarray(Image.fromarray(grid).resize((size, size), Image.BICUBIC))
        amp *= gain
    out -= out.min()
    return out / max(float(out.max()), 1e-8)


def gradient_map(t: np.ndarray, stops: Palette) -> np.ndarray:
    """Map values in [0, 1] through a piecewise-linear colour ramp; returns float RGB."""
    xs = np.linspace(0.0, 1.0, len(stops))
    cols = np.asarray(stops, np.float32)
    return np.stack([np.interp(t, xs, cols[:, c]) for c in range(3)], axis=-1)


def trace_flow(
    rng: np.random.Generator, angle: np.ndarray, n: int, steps: int, step_len: float
) -> np.ndarray:
    """Follow an angle field from n random seeds; returns (n, steps + 1, 2) xy points."""
    h, w = angle.shape
    pts = np.empty((n, steps + 1, 2), np.float32)
    p = rng.random((n, 2), dtype=np.float32) * np.array([w, h], np.float32)
    pts[:, 0] = p
    for k in range(steps):
        ix = np.clip(p[:, 0].astype(np.int64), 0, w - 1)
        iy = np.clip(p[:, 1].astype(np.int64), 0, h - 1)
        a = angle[iy, ix]
        p = p + step_len * np.stack([np.cos(a), np.sin(a)], axis=1)
        pts[:, k + 1] = p
    return pts


def normals(path: np.ndarray) -> np.ndarray:
    """Unit normals along a polyline of shape (m, 2)."""
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-8
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def rgb(c: np.ndarray) -> tuple[int, int, int]:
    """Clip a float colour to a pillow fill tuple."""
    r, g, b = np.clip(np.rint(c), 0, 255).astype(int)
    return int(r), int(g), int(b)


def finish(img: Image.Image, size: int) -> Image.Image:
    """Downsample the supersampled canvas to the target size."""
    return img.resize((size, size), Image.LANCZOS)


# ----------------------------------------------------------------------------- styles

NIGHT: Palette = [  # a Van Gogh night sky, dark to light
    (14, 28, 70),
    (28, 58, 135),
    (52, 100, 180),
    (105, 160, 205),
    (150, 195, 190),
    (240, 220, 120),
    (245, 190, 45),
    (205, 120, 35),
]
NIGHT_ACCENTS: Palette = [(235, 238, 225), (10, 16, 40), (230, 130, 40)]


def brush_strokes(size: int, seed: int) -> Image.Image:
    """Thick oil-paint strokes following a swirling flow field, night-sky palette."""
    rng = np.random.default_rng(seed)
    s = size * SUPERSAMPLE
    u = s / 1024  # lengths below are tuned for a 1024 px canvas

    angle = value_noise(rng, s, cells=3, octaves=3) * 2.0 * np.pi * 1.6
    tone = value_noise(rng, s, cells=2, octaves=3)
    colours = gradient_map(tone, NIGHT)

    # a dark, blurred underpainting shows through the gaps between strokes
    under = Image.fromarray(np.uint8(colours * 0.6)).filter(ImageFilter.GaussianBlur(8 * u))
    draw = ImageDraw.Draw(under)

    steps, step_len = 12, 6.0 * u
    widths = rng.uniform(6, 18, 100_000) * u
    n = int(2.2 * s * s / (steps * step_len * widths.mean()))
    paths = trace_flow(rng, angle, n, steps, step_len)
    steps_used = rng.integers(5, steps + 1, n)
    order = np.argsort(-widths[:n], kind="stable")  # broad strokes first, detail on top

    for i in order:
        path = paths[i, : steps_used[i] + 1]
        x0, y0 = np.clip(path[0].astype(int), 0, s - 1)
        if rng.random() < 0.025:
            base = np.array(NIGHT_ACCENTS[rng.integers(len(NIGHT_ACCENTS))], np.float32)
        else:
            base = colours[y0, x0]
        base = base * rng.uniform(0.85, 1.15) + rng.normal(0, 10, 3)
        w = float(widths[i])
        draw.line([tuple(p) for p in path], fill=rgb(base), width=max(1, round(w)), joint="curve")
        # a few thin bristle tracks in lighter/darker paint give each stroke its ridges
        nrm = normals(path)
        for off in rng.uniform(-0.4, 0.4, 3):
            track = path + nrm * off * w
            shade = base * rng.choice([0.7, 1.25]) + rng.normal(0, 6, 3)
            draw.line([tuple(p) for p in track], fill=rgb(shade), width=max(1, round(1.5 * u)))
    return finish(under, size)


MOSAIC_BANDS: Palette = [
    (24, 52, 118),  # lapis
    (40, 140, 150),  # turquoise
    (232, 220, 190),  # travertine
    (215, 165, 45),  # gold
    (180, 75, 40),  # terracotta
    (120, 25, 30),  # oxblood
    (232, 220, 190),
    (205, 140, 70),  # ochre
    (45, 95, 60),  # serpentine
]
GROUT = np.array([78, 70, 62], np.float32)


def mosaic(size: int, seed: int) -> Image.Image:
    """Voronoi tesserae in banded Roman colours, bevelled, with grout lines."""
    rng = np.random.default_rng(seed)
    u = size / 512
    cell = 20.0 * u

    # one jittered seed per grid cell (plus a border ring), so the nearest seed of any
    # pixel lies in its own or a neighbouring cell: 9 passes instead of all-pairs
    g = int(np.ceil(size / cell)) + 2
    jj, ii = np.meshgrid(np.arange(g), np.arange(g))
    sx = ((jj - 1) + rng.uniform(0.15, 0.85, (g, g))) * cell
    sy = ((ii - 1) + rng.uniform(0.15, 0.85, (g, g))) * cell

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    ci = (yy // cell).astype(np.int64) + 1
    cj = (xx // cell).astype(np.int64) + 1
    d1 = np.full((size, size), np.inf, np.float32)
    d2 = np.full((size, size), np.inf, np.float32)
    id1 = np.zeros((size, size), np.int64)
    id2 = np.zeros((size, size), np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            a, b = ci + di, cj + dj
            d = (xx - sx[a, b]) ** 2 + (yy - sy[a, b]) ** 2
            idx = a * g + b
            closer = d < d1
            second = ~closer & (d < d2)
            d2 = np.where(closer, d1, np.where(second, d, d2))
            id2 = np.where(closer, id1, np.where(second, idx, id2))
            d1 = np.where(closer, d, d1)
            id1 = np.where(closer, idx, id1)

    # exact distance to the Voronoi edge, so the grout has an even width
    fx, fy = sx.ravel(), sy.ravel()
    sep = np.hypot(fx[id1] - fx[id2], fy[id1] - fy[id2])
    edge = (d2 - d1) / (2.0 * sep + 1e-6)

    # tile colours: concentric bands warped by noise, like a floor medallion
    warp = value_noise(rng, g, cells=2, octaves=2) - 0.5
    r = np.hypot(fx - size / 2, fy - size / 2) / (size * 0.075) + 3.0 * warp.ravel()
    band = np.floor(r).astype(np.int64)
    band += (rng.random(g * g) < 0.1) * rng.choice([-1, 1], g * g)  # a few stray tiles
    tile = np.asarray(MOSAIC_BANDS, np.float32)[band % len(MOSAIC_BANDS)]
    tile *= rng.uniform(0.82, 1.12, (g * g, 1))

    img = tile[id1]
    bevel = 1.0 - 0.22 * np.clip(np.sqrt(d1) / (0.7 * cell), 0, 1) ** 2
    img *= bevel[..., None]
    img += rng.normal(0, 5, img.shape).astype(np.float32)  # stone grain

    grout = GROUT + rng.normal(0, 8, img.shape).astype(np.float32)
    half = 1.3 * u
    alpha = np.clip((edge - half) / (0.8 * u), 0, 1)[..., None]  # soft-edged tiles
    img = img * alpha + grout * (1 - alpha)
    return Image.fromarray(np.uint8(np.clip(img, 0, 255)))


PAPER = np.array([241, 233, 212], np.float32)
INKS = [  # wash, mid and crisp layers: watered ink is lighter and bluer
    np.array([88, 98, 118], np.float32),
    np.array([44, 46, 56], np.float32),
    np.array([14, 14, 18], np.float32),
]
SEAL_RED = (176, 36, 32)


def _tapered_stroke(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int, wmax: float, length: float
) -> None:
    """A calligraphic stroke: press down, sweep along a curve, lift off to a point."""
    x, y = rng.uniform(-0.05, 1.05, 2) * s
    heading = rng.uniform(0, 2 * np.pi)
    bend = rng.normal(0, 1.2) / length  # radians per pixel
    m = max(8, int(3 * length / max(wmax, 1.0)))
    t = np.linspace(0, 1, m)
    ang = heading + bend * length * t
    xs = x + np.cumsum(np.cos(ang)) * length / m
    ys = y + np.cumsum(np.sin(ang)) * length / m
    radius = 0.5 * wmax * np.minimum(1.0, t * 6 + 0.15) * (1 - t) ** 0.6
    for cx, cy, r in zip(xs, ys, radius, strict=True):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)


def _dry_stroke(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int, wmax: float, length: float
) -> None:
    """A dry-brush stroke: parallel bristle tracks that fade out as the brush runs dry."""
    x, y = rng.uniform(0, 1, 2) * s
    heading = rng.uniform(0, 2 * np.pi)
    bend = rng.normal(0, 0.8) / length
    m = 32
    t = np.linspace(0, 1, m)
    ang = heading + bend * length * t
    path = np.stack(
        [x + np.cumsum(np.cos(ang)) * length / m, y + np.cumsum(np.sin(ang)) * length / m], 1
    )
    nrm = normals(path)
    n_bristles = 14
    for off in np.linspace(-0.5, 0.5, n_bristles) + rng.normal(0, 0.02, n_bristles):
        track = path + nrm * off * wmax
        # each bristle keeps ink for a different distance; the outer ones dry first
        end = int(m * rng.uniform(0.35, 1.0) * (1.0 - 0.5 * abs(off)))
        start = int(rng.integers(0, 3))
        if end - start < 2:
            continue
        width = max(1, round(wmax / n_bristles * rng.uniform(1.0, 2.2)))
        draw.line([tuple(p) for p in track[start:end]], fill=255, width=width, joint="curve")


def ink_wash(size: int, seed: int) -> Image.Image:
    """Sumi-e: soft grey washes, mid-tone strokes and crisp black calligraphy on paper."""
    rng = np.random.default_rng(seed)
    s = size * SUPERSAMPLE
    u = s / 1024

    fibre = value_noise(rng, s, cells=64, octaves=2) - 0.5
    img = PAPER + 14.0 * fibre[..., None] + rng.normal(0, 3, (s, s, 1)).astype(np.float32)

    # (count, width range, length range, blur, opacity range) per layer, far to near
    layers = [
        (14, (70, 140), (300, 700), 18.0, (0.18, 0.32)),
        (48, (16, 40), (150, 420), 3.0, (0.45, 0.7)),
        (90, (5, 18), (60, 260), 0.8, (0.85, 1.0)),
    ]
    for (count, wr, lr, blur, opr), ink in zip(layers, INKS, strict=True):
        acc = np.zeros((s, s), np.float32)
        for _ in range(count):
            mask = Image.new("L", (s, s), 0)
            draw = ImageDraw.Draw(mask)
            wmax, length = rng.uniform(*wr) * u, rng.uniform(*lr) * u
            if blur < 2 and rng.random() < 0.35:
                _dry_stroke(draw, rng, s, wmax * 1.6, length)
            else:
                _tapered_stroke(draw, rng, s, wmax, length)
            a = np.asarray(mask, np.float32) / 255.0 * rng.uniform(*opr)
            acc = 1.0 - (1.0 - acc) * (1.0 - a)  # overlapping ink builds up, never past black
        # pillow blurs only 8-bit images; 1/255 steps of opacity are invisible anyway
        acc8 = Image.fromarray(np.uint8(np.rint(acc * 255)))
        acc = np.asarray(acc8.filter(ImageFilter.GaussianBlur(blur * u)), np.float32) / 255.0
        img = img * (1.0 - acc[..., None]) + ink * acc[..., None]

    out = Image.fromarray(np.uint8(np.clip(img, 0, 255)))
    # vermilion seals: the one spot of colour a sumi-e sheet has
    draw = ImageDraw.Draw(out)
    for _ in range(2):
        side = rng.uniform(56, 84) * u
        x, y = rng.uniform(0.08, 0.92 - side / s, 2) * s
        draw.rectangle([x, y, x + side, y + side], fill=SEAL_RED)
        for _ in range(6):  # carved-out glyph marks
            gx, gy = np.array([x, y]) + rng.uniform(0.15, 0.7, 2) * side
            gw, gh = rng.uniform(0.06, 0.3, 2) * side
            draw.rectangle([gx, gy, gx + gw, gy + gh], fill=(235, 215, 200))
    return finish(out, size)


SEURAT: Palette = [  # a summer park, shade to sun
    (30, 50, 110),
    (70, 60, 140),
    (40, 110, 80),
    (110, 165, 70),
    (215, 210, 90),
    (245, 170, 60),
    (235, 120, 110),
    (175, 205, 230),
]


def pointillism(size: int, seed: int) -> Image.Image:
    """Seurat-style divisionism: dots of pure colour that mix in the eye."""
    rng = np.random.default_rng(seed)
    s = size * SUPERSAMPLE
    u = s / 1024

    tone = value_noise(rng, s, cells=3, octaves=3)
    colours = gradient_map(tone, SEURAT)
    canvas = Image.new("RGB", (s, s), (236, 228, 206))
    draw = ImageDraw.Draw(canvas)

    r_mean = 6.5 * u
    n = int(2.2 * s * s / (np.pi * r_mean**2))
    xy = rng.random((n, 2)) * s
    radii = rng.uniform(0.7, 1.3, n) * r_mean
    neighbour = rng.random(n) < 0.35  # dabs of a neighbouring hue, the divisionist trick
    shift = rng.choice([-2, -1, 1, 2], n) / (len(SEURAT) - 1)
    xi = np.clip(xy[:, 0].astype(int), 0, s - 1)
    yi = np.clip(xy[:, 1].astype(int), 0, s - 1)
    t = np.clip(tone[yi, xi] + neighbour * shift, 0, 1)
    dot_colours = gradient_map(t, SEURAT) + rng.normal(0, 12, (n, 3))
    dot_colours[~neighbour] = 0.5 * dot_colours[~neighbour] + 0.5 * colours[yi, xi][~neighbour]
    for (x, y), r, c in zip(xy, radii, dot_colours, strict=True):
        # slightly oval dabs, as from a round brush tip
        draw.ellipse([x - r, y - 0.8 * r, x + r, y + 0.8 * r], fill=rgb(c))
    return finish(canvas, size)


# ----------------------------------------------------------------------------- main

STYLES: dict[str, tuple[Callable[[int, int], Image.Image], int]] = {
    # name -> (generator, seed)
    "brush_strokes": (brush_strokes, 1),
    "mosaic": (mosaic, 2),
    "ink_wash": (ink_wash, 3),
    "pointillism": (pointillism, 4),
}


def main(out_dir: Path = OUT_DIR, size: int = 512) -> list[Path]:
    """Render every style in STYLES to out_dir/<name>.jpg and return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (fn, seed) in STYLES.items():
        path = out_dir / f"{name}.jpg"
        fn(size, seed).convert("RGB").save(path, quality=JPEG_QUALITY, optimize=True)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    parser.add_argument("--size", type=int, default=512, help="side of the square textures")
    args = parser.parse_args()
    t0 = time.perf_counter()
    for p in main(args.out, args.size):
        print(f"wrote {p} ({p.stat().st_size / 1024:.0f} KiB)")
    print(f"done in {time.perf_counter() - t0:.1f} s")
