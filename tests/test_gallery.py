"""``scripts/gallery.py`` (``make gallery``): its sheets are built from the cached pictures.

Nothing is stylised here: ``--only-sheets`` redraws from a cache that the test writes itself,
one solid colour per method, so each tile's place on the sheet can be checked by its colour.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIDE, LABEL_H = 64, 16
COLOURS = {"default": (200, 30, 30), "fast": (30, 30, 200)}


@pytest.fixture(scope="module")
def gallery():
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "scripts" / "gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cache(folder: Path, photo: str, style: str) -> None:
    folder.mkdir(parents=True)
    for method, colour in COLOURS.items():
        stem = folder / f"{photo}-{style}-{method}-{SIDE}"
        Image.new("RGB", (SIDE, 48), colour).save(stem.with_suffix(".png"))
        record = {"photo": photo, "style": style, "method": method, "size": SIDE,
                  "network": "vgg16", "weights": "hed", "steps": 500 if method == "default" else 110,
                  "wall_s": 12.0, "cpu_s": 11.0, "precision": "fp32"}  # fmt: skip
        stem.with_suffix(".json").write_text(json.dumps(record))


def _run(gallery, monkeypatch, cache: Path, out: Path, *extra: str) -> None:
    """``gallery.py --only-sheets`` for chelsea x mosaic at ``SIDE`` px."""
    argv = ["gallery.py", "--only-sheets", "--size", str(SIDE), "--photos", "chelsea",
            "--styles", "mosaic", "--pairs", "chelsea:mosaic", "--cache", str(cache),
            "--out", str(out), "--weights", "random", *extra]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    gallery.main()


def _tile_centre(sheet: Image.Image, row: int, col: int) -> tuple[int, int, int]:
    """The colour at the centre of tile ``(row, col)``'s picture (below its label strip)."""
    return sheet.getpixel((col * SIDE + SIDE // 2, row * (SIDE + LABEL_H) + LABEL_H + SIDE // 2))


def test_only_sheets_lays_out_both_grids_and_the_pairs(gallery, tmp_path, monkeypatch):
    _cache(tmp_path / "cache", "chelsea", "mosaic")
    out = tmp_path / "out"
    _run(gallery, monkeypatch, tmp_path / "cache", out)

    for method, colour in COLOURS.items():
        grid = Image.open(out / f"gallery_{method}.jpg").convert("RGB")
        # a header row (the styles) and one photo row; an input column and one style column
        assert grid.width == 2 * SIDE
        assert grid.height > 2 * (SIDE + LABEL_H)
        got = _tile_centre(grid, 1, 1)
        assert all(abs(g - c) < 25 for g, c in zip(got, colour, strict=True)), (method, got)
        assert _tile_centre(grid, 0, 0) == (255, 255, 255)  # the empty corner
    pairs = Image.open(out / "gallery_fast_vs_default.jpg").convert("RGB")
    assert pairs.width == 4 * SIDE  # photo, painting, default, fast
    for col, method in ((2, "default"), (3, "fast")):
        got = _tile_centre(pairs, 0, col)
        assert all(abs(g - c) < 25 for g, c in zip(got, COLOURS[method], strict=True)), got
    meta = json.loads((out / "gallery.json").read_text())
    assert sorted(p["method"] for p in meta["pictures"]) == ["default", "fast"]
    assert {p["steps"] for p in meta["pictures"]} == {500, 110}


def test_only_sheets_names_a_missing_picture(gallery, tmp_path, monkeypatch):
    (tmp_path / "cache").mkdir()
    with pytest.raises(
        FileNotFoundError,
        match="chelsea-mosaic-fast-64.png or .json is not in the cache.*without --only-sheets",
    ):
        _run(gallery, monkeypatch, tmp_path / "cache", tmp_path / "out", "--methods", "fast")


def test_a_partial_run_keeps_the_records_of_pictures_it_did_not_render(
    gallery, tmp_path, monkeypatch
):
    # `make gallery METHODS=fast` must not drop the default grid's numbers from gallery.json
    _cache(tmp_path / "cache", "chelsea", "mosaic")
    out = tmp_path / "out"
    out.mkdir()
    kept = {"photo": "astronaut", "style": "mosaic", "method": "default", "size": SIDE,
            "steps": 500, "wall_s": 600.0, "cpu_s": 450.0, "precision": "fp32"}  # fmt: skip
    stale = {**kept, "photo": "chelsea", "method": "fast", "steps": 999}
    old = {"machine": "an older machine", "measured": "hed", "pictures": [kept, stale]}
    (out / "gallery.json").write_text(json.dumps(old))
    _run(gallery, monkeypatch, tmp_path / "cache", out, "--methods", "fast")

    pictures = json.loads((out / "gallery.json").read_text())["pictures"]
    by_key = {(p["photo"], p["style"], p["method"]): p for p in pictures}
    assert set(by_key) == {
        ("astronaut", "mosaic", "default"),  # not in this run: kept
        ("chelsea", "mosaic", "default"),  # the pair's default, drawn from the cache
        ("chelsea", "mosaic", "fast"),  # this run's record replaces the stale one
    }
    assert by_key["chelsea", "mosaic", "fast"]["steps"] == 110
    assert by_key["astronaut", "mosaic", "default"]["machine"] == "an older machine"
    assert by_key["chelsea", "mosaic", "fast"]["machine"] != "an older machine"


def test_pictures_are_rendered_in_fp32_whatever_the_cpu(gallery, tmp_path, monkeypatch):
    # The library's default precision is "auto": bf16 on CPUs with AVX512-BF16 or AMX, fp32 on
    # the others. A gallery re-rendered on another machine must keep its numerics, so every
    # picture, of both methods, asks for fp32 unless --precision says otherwise.
    asked: list[dict] = []

    class Result:
        image = Image.new("RGB", (SIDE, 48), (90, 90, 90))
        history, settings, precision = [{}] * 3, {}, "fp32"

    def fake_stylize(photo, style, **kwargs):
        asked.append({"method": "fast" if "preset" in kwargs else "default", **kwargs})
        return Result()

    monkeypatch.setattr(gallery, "stylize", fake_stylize)
    argv = ["gallery.py", "--size", str(SIDE), "--photos", "chelsea", "--styles", "mosaic",
            "--pairs", "chelsea:mosaic", "--cache", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--weights", "random"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    gallery.main()
    assert sorted(a["method"] for a in asked) == ["default", "fast"]
    assert [a["precision"] for a in asked] == ["fp32", "fp32"]

    asked.clear()
    monkeypatch.setattr(sys, "argv", [*argv, "--precision", "auto", "--force"])
    gallery.main()
    assert [a["precision"] for a in asked] == ["auto", "auto"]
