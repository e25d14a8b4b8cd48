"""Sample data: bundled files, the fetch-and-cache path (offline, via file:// URLs), styles."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_helpers.runtime import data

REPO = Path(__file__).resolve().parent.parent


def _load_script(name: str):
    """Import scripts/<name>.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty download cache, so tests never touch the user's real one."""
    path = tmp_path / "cache"
    monkeypatch.setenv("NST_DATA_DIR", str(path))
    return path


@pytest.fixture
def painting(tmp_path, monkeypatch) -> tuple[Path, str]:
    """A local stand-in for starry_night, registered with its sha256: returns (file, sha256)."""
    src = tmp_path / "mirror" / "starry_night.jpg"
    src.parent.mkdir()
    Image.new("RGB", (8, 6), (20, 40, 120)).save(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    sample = dataclasses.replace(data.SAMPLES["starry_night"], sha256=digest)
    monkeypatch.setitem(data.SAMPLES, "starry_night", sample)
    return src, digest


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# ----------------------------------------------------------------------------- bundled


@pytest.mark.parametrize("name", data.list_samples(bundled_only=True))
def test_bundled_sample_is_small_rgb_image(name):
    path = data.sample_path(name)
    assert path.is_file() and path.parent.parent == data.DATA_DIR
    with Image.open(path) as img:
        assert img.mode == "RGB"
        assert max(img.size) <= 512


def test_data_folder_stays_small():
    total = sum(p.stat().st_size for p in _files(data.DATA_DIR))
    assert total < 1.5e6


def test_list_samples_filters():
    content = data.list_samples("content")
    style = data.list_samples("style")
    assert {"chelsea", "coffee", "astronaut", "rocket"} <= set(content)
    assert {"brush_strokes", "mosaic", "ink_wash", "starry_night", "the_scream"} <= set(style)
    assert set(content).isdisjoint(style)
    assert set(content) | set(style) == set(data.list_samples()) == set(data.SAMPLES)
    # every sample is bundled now, the paintings at 512 px; three have a full-size original
    assert data.list_samples(bundled_only=True) == data.list_samples()
    assert [n for n in data.SAMPLES if data.SAMPLES[n].fetchable] == [
        "starry_night",
        "the_scream",
        "shipwreck",
    ]
    with pytest.raises(ValueError, match="kind"):
        data.list_samples("painting")


def test_every_fetchable_sample_is_pinned():
    for s in data.SAMPLES.values():
        assert s.kind in data.KINDS and s.licence and s.source and s.title
        if s.fetchable:
            assert s.url.startswith("https://") and len(s.sha256) == 64


def test_is_sample():
    assert data.is_sample("chelsea") and data.is_sample("starry_night")
    assert not data.is_sample("chelsea.jpg")
    assert not data.is_sample(None) and not data.is_sample(["chelsea"])


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="Unknown sample") as info:
        data.sample_path("mona_lisa")
    assert "chelsea" in str(info.value) and "starry_night" in str(info.value)


def test_missing_data_folder_explains_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "no-data")
    with pytest.raises(FileNotFoundError, match="clone the repository"):
        data.sample_path("chelsea")


def test_import_is_cheap():
    # loaded on its own, data.py must pull in neither torch nor pooch
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("d", {str(REPO / "nst_helpers" / "runtime" / "data.py")!r})
module = sys.modules["d"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert "torch" not in sys.modules and "pooch" not in sys.modules, "heavy import"
"""
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- fetching


def test_cache_dir_honours_env(cache):
    assert data.cache_dir() == cache


def test_fetch_downloads_verifies_and_caches(cache, painting):
    src, digest = painting
    url = src.as_uri()
    path = data.fetch_painting("starry_night", progress=False, url=url)
    assert path.parent == cache and path.name == "starry_night.jpg"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    # a second call is served from the cache, even with the source gone
    src.unlink()
    assert data.fetch_painting("starry_night", progress=False, url=url) == path
    assert _files(cache) == [path]


def test_sample_path_fetches_full_size_paintings_only_when_asked(cache, painting, monkeypatch):
    sample = dataclasses.replace(data.SAMPLES["starry_night"], url=painting[0].as_uri())
    monkeypatch.setitem(data.SAMPLES, "starry_night", sample)
    assert data.sample_path("starry_night", progress=False).parent.parent == data.DATA_DIR
    assert _files(cache) == []
    assert data.sample_path("starry_night", progress=False, full_size=True).parent == cache
    with pytest.raises(ValueError, match="no full-size original"):
        data.sample_path("chelsea", full_size=True)


@pytest.mark.parametrize("name", ["starry_night", "the_scream", "shipwreck"])
def test_paintings_load_offline_with_an_empty_data_dir(name, cache, monkeypatch):
    """The contract: ``load_image(painting)`` needs no network and no cache."""
    from nst_helpers import load_image

    def offline(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(data, "fetch_painting", offline)
    img = load_image(name)
    assert img.mode == "RGB" and max(img.size) == 512
    arr = np.asarray(img, np.float32)
    assert arr.std() > 30  # a painting, not a placeholder
    assert _files(cache) == []


def test_wrong_hash_is_refused_and_not_cached(cache, painting, monkeypatch):
    sample = dataclasses.replace(data.SAMPLES["starry_night"], sha256="0" * 64)
    monkeypatch.setitem(data.SAMPLES, "starry_night", sample)
    with pytest.raises(data.SampleUnavailableError, match="corrupted or changed"):
        data.fetch_painting("starry_night", progress=False, url=painting[0].as_uri())
    assert _files(cache) == []


def test_unreachable_url_suggests_bundled_samples(cache):
    with pytest.raises(data.SampleUnavailableError) as info:
        data.fetch_painting("the_scream", progress=False, url="file:///nonexistent/x.jpg")
    message = str(info.value)
    assert "the_scream" in message
    for name in data.list_samples(bundled_only=True):
        assert name in message
    assert _files(cache) == []


def test_fetch_refuses_bundled_samples():
    with pytest.raises(ValueError, match="bundled"):
        data.fetch_painting("chelsea")


# ----------------------------------------------------------------------------- scripts


def test_make_styles_is_deterministic(tmp_path):
    make_styles = _load_script("make_styles")
    first = make_styles.main(tmp_path / "a", size=96)
    second = make_styles.main(tmp_path / "b", size=96)
    assert len(first) >= 3
    for a, b in zip(first, second, strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()
        with Image.open(a) as img:
            assert img.size == (96, 96) and img.mode == "RGB"
            # a texture, not a flat fill: every channel should vary a lot
            assert np.asarray(img, np.float32).reshape(-1, 3).std(axis=0).min() > 15


def test_copy_paintings_writes_the_registered_files(tmp_path, painting, monkeypatch):
    copy_paintings = _load_script("copy_paintings")
    src, _ = painting  # an 8x6 stand-in for the full-size file, with its SHA256 registered
    monkeypatch.setattr(copy_paintings, "PAINTINGS", ("starry_night",))
    (path,) = copy_paintings.main(tmp_path, folder=src.parent)
    assert (
        path
        == tmp_path / data.SAMPLES["starry_night"].filename
        == tmp_path / "style" / ("starry_night.jpg")
    )
    with Image.open(path) as img:
        assert img.size == (8, 6)  # never enlarged
    src.write_bytes(src.read_bytes() + b"x")
    with pytest.raises(SystemExit, match="SHA256"):
        copy_paintings.main(tmp_path, folder=src.parent)


def test_make_styles_outputs_are_registered():
    make_styles = _load_script("make_styles")
    for name in make_styles.STYLES:
        assert data.SAMPLES[name].filename == f"style/{name}.jpg"
