"""Hostile inputs: each gets one clear line (CLI: exit 2 or 3, no traceback) or a correct result,
checked before any optimisation, and no file the user had is changed.

Runs are tiny (random weights, 32 px, one or two steps). "Before any optimisation" is checked by
making the network's loading and the loss fail if either is ever reached.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, features

from nst_helpers import features as vgg
from nst_helpers import losses, stylize
from nst_helpers.apps.cli import main
from nst_helpers.images import ImageError, load_image

pytestmark = pytest.mark.filterwarnings("ignore::nst_helpers.RandomWeightsWarning")

FAST = ["--steps", "1", "--size", "32", "--weights", "random", "--seed", "0", "--quiet",
        "--device", "cpu", "--content-layers", "conv2_2", "--style-layers", "conv1_1,conv2_1"]  # fmt: skip


def cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, capsys.readouterr().err.strip()


def one_line(err: str) -> bool:
    """One line of error (the random-weights notice of a run that did start aside)."""
    lines = [line for line in err.splitlines() if line and "weights are RANDOM" not in line]
    return len(lines) == 1 and "Traceback" not in err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what 'nothing the user had changed' means."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture
def no_optimisation(monkeypatch):
    """Fail the test if any optimisation starts (every check below must come first)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the optimisation started before the input was checked")

    # every optimisation builds the network first, then evaluates the loss
    monkeypatch.setattr(vgg, "load_vgg19", forbidden)
    monkeypatch.setattr(losses, "objective", forbidden)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    load_image("chelsea", max_size=48).save(path)
    return path


# ---- outputs that cannot be written --------------------------------------------------------


def _directory(tmp: Path) -> str:
    (tmp / "folder.png").mkdir()
    return str(tmp / "folder.png")


def _through_a_file(tmp: Path) -> str:
    (tmp / "notes.txt").write_text("mine")
    return str(tmp / "notes.txt" / "out.png")


def _unknown_extension(tmp: Path) -> str:
    return str(tmp / "out.xyz")


def _no_extension(tmp: Path) -> str:
    return str(tmp / "out")


def _read_only_format(tmp: Path) -> str:
    return str(tmp / "out.psd")  # Pillow reads Photoshop files but cannot write them


def _url(tmp: Path) -> str:
    return "https://example.com/out.png"


@pytest.mark.parametrize(
    "make, fragment",
    [(_directory, "directory"), (_through_a_file, "not a folder"),
     (_unknown_extension, "extension"), (_no_extension, "extension"),
     (_read_only_format, "cannot write"), (_url, "URL")],
)  # fmt: skip
def test_unwritable_output_is_refused_before_optimisation(
    tmp_path, photo, capsys, no_optimisation, make, fragment
):
    out = make(tmp_path)
    before = snapshot(tmp_path)
    code, err = cli(["stylize", photo, "mosaic", "-o", out, *FAST], capsys)
    assert code == 2 and one_line(err), err
    assert fragment in err
    assert snapshot(tmp_path) == before
    assert not Path("https:").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sysfs is Linux's")
def test_read_only_location_is_refused_before_optimisation(photo, capsys, no_optimisation):
    # sysfs refuses new files even to root, so this holds for every user
    code, err = cli(["stylize", photo, "mosaic", "-o", "/sys/nst_out.png", *FAST], capsys)
    assert code == 2 and one_line(err), err
    assert "/sys" in err and "cannot be written" in err
    assert not Path("/sys/nst_out.png").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sysfs is Linux's")
def test_unwritable_checkpoint_is_refused_before_optimisation(
    tmp_path, photo, capsys, no_optimisation
):
    out = tmp_path / "o.png"
    code, err = cli(["stylize", photo, "mosaic", "-o", out, "--checkpoint", "/sys/nst.ckpt",
                     *FAST], capsys)  # fmt: skip
    assert code == 2 and one_line(err), err
    assert "nst.ckpt" in err
    assert not out.exists()


def test_output_and_checkpoint_on_one_file_is_refused(tmp_path, photo, capsys, no_optimisation):
    out = tmp_path / "o.png"
    code, err = cli(["stylize", photo, "mosaic", "-o", out, "--checkpoint", out, *FAST], capsys)
    assert code == 2 and one_line(err) and "checkpoint" in err


def test_disk_full_when_saving_is_exit_3_and_keeps_the_old_file(tmp_path, photo, capsys,
                                                                monkeypatch):  # fmt: skip
    out = tmp_path / "o.png"
    out.write_bytes(b"previous result")

    def full(fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    from nst_helpers import images

    real = images.atomic_write
    monkeypatch.setattr(images, "atomic_write", lambda path, write, **kw: real(path, full, **kw))
    code, err = cli(["stylize", photo, "mosaic", "-o", out, "--overwrite", *FAST], capsys)
    assert code == 3 and one_line(err), err
    assert "No space left" in err and "o.png" in err
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png", "photo.png"]


# ---- images in unusual containers ------------------------------------------------------------


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (40, 32), c) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]


def _animated(path: Path, fmt: str) -> Path:
    first, *rest = _frames()
    first.save(path, format=fmt, save_all=True, append_images=rest, duration=100, loop=0,
               **({"lossless": True} if fmt == "WEBP" else {}))  # fmt: skip
    return path


ANIMATED = [
    pytest.param("GIF", ".gif", id="gif"),
    pytest.param("PNG", ".png", id="apng"),
    pytest.param("TIFF", ".tif", id="multipage-tiff"),
    pytest.param(
        "WEBP",
        ".webp",
        id="webp",
        marks=pytest.mark.skipif(not features.check("webp"), reason="no WebP"),
    ),
]


@pytest.mark.parametrize("fmt, suffix", ANIMATED)
def test_animated_images_use_their_first_frame(tmp_path, fmt, suffix):
    path = _animated(tmp_path / f"anim{suffix}", fmt)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (40, 32)
    assert np.abs(np.asarray(img, dtype=int) - [200, 30, 30]).max() <= 2


@pytest.mark.parametrize("fmt, suffix", ANIMATED[:1])
def test_animated_image_through_the_cli(tmp_path, capsys, fmt, suffix):
    path = _animated(tmp_path / f"anim{suffix}", fmt)
    out = tmp_path / "out.png"
    code, err = cli(["stylize", path, "mosaic", "-o", out, *FAST], capsys)
    assert code == 0, err
    assert Image.open(out).size == (32, 26)


def test_very_elongated_image_is_one_line(tmp_path, capsys, no_optimisation):
    strip = tmp_path / "strip.png"
    Image.new("RGB", (2000, 20), (90, 90, 90)).save(strip)
    code, err = cli(["stylize", strip, "mosaic", "-o", tmp_path / "o.png", *FAST], capsys)
    assert code == 2 and one_line(err), err
    assert "short side" in err


def test_elongated_image_that_fits_keeps_its_aspect(tmp_path, capsys):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (400, 100), (90, 90, 90)).save(wide)
    out = tmp_path / "o.png"
    code, err = cli(["stylize", wide, "mosaic", "-o", out, *FAST, "--size", "64"], capsys)
    assert code == 0, err
    assert Image.open(out).size == (64, 16)


def test_paths_with_spaces_and_non_ascii(tmp_path, capsys):
    folder = tmp_path / "mes phötos ✓"
    folder.mkdir()
    content, style = folder / "chat été.png", folder / "стиль 1.png"
    load_image("chelsea", max_size=48).save(content)
    load_image("mosaic", max_size=48).save(style)
    out = folder / "résultat final.png"
    code, err = cli(["stylize", content, style, "-o", out, *FAST], capsys)
    assert code == 0, err
    assert Image.open(out).size == (32, 21)


# ---- network locations where a file is expected ----------------------------------------------


@pytest.mark.parametrize("url", ["https://example.com/cat.jpg", "http://host/x.png",
                                 "ftp://host/x.png", "s3://bucket/x.png"])  # fmt: skip
def test_urls_are_not_files(url):
    with pytest.raises(ImageError, match="URL"):
        load_image(url)


def test_file_url_is_a_local_file(tmp_path):
    path = tmp_path / "a b.png"
    Image.new("RGB", (5, 4), (1, 2, 3)).save(path)
    assert np.asarray(load_image(path.as_uri()))[0, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize("flag", ["content", "style", "--resume", "--checkpoint", "--weights"])
def test_urls_in_the_cli_are_one_line(tmp_path, photo, capsys, no_optimisation, flag):
    url = "https://example.com/thing.pth"
    content, style, extra = str(photo), "mosaic", []
    if flag == "content":
        content = url
    elif flag == "style":
        style = url
    else:
        extra = [flag, url]
    code, err = cli(["stylize", content, style, "-o", tmp_path / "o.png", *FAST, *extra], capsys)
    assert code == 2 and one_line(err), err
    assert "URL" in err and "example.com" in err
    assert not (tmp_path / "o.png").exists()


# ---- damaged or foreign checkpoints given to --resume ----------------------------------------


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ck")
    photo = folder / "photo.png"
    load_image("chelsea", max_size=48).save(photo)
    ck = folder / "good.ckpt"
    assert main(["stylize", str(photo), "mosaic", "-o", str(folder / "o.png"), *FAST,
                 "--checkpoint", str(ck), "--checkpoint-every", "1"]) == 0  # fmt: skip
    return photo, ck


def _tampered(key, value):
    def make(good: Path, bad: Path) -> None:
        state = torch.load(good, weights_only=True)
        state[key] = value(state[key]) if callable(value) else value
        torch.save(state, bad)

    return make


DAMAGED = {
    "truncated": lambda good, bad: bad.write_bytes(good.read_bytes()[:300]),
    "empty": lambda good, bad: bad.write_bytes(b""),
    "text": lambda good, bad: bad.write_text("step=3"),
    "vgg weights": lambda good, bad: torch.save({"0.weight": torch.zeros(64, 3, 3, 3)}, bad),
    "directory": lambda good, bad: bad.mkdir(),
    "newer version": _tampered("version", 99),
    "wrong image shape": _tampered("param", lambda p: {"x": torch.zeros(1, 3, 5, 5)}),
    "no image": _tampered("param", {}),
    "step is text": _tampered("step", "three"),
    "scale out of range": _tampered("scale_index", 7),
    "history not a list": _tampered("history", 3),
    "optimizer state foreign": _tampered("optimizer", {"hello": 1}),
}


@pytest.mark.parametrize("damage", list(DAMAGED), ids=list(DAMAGED))
def test_damaged_or_foreign_checkpoint_is_one_line(good_checkpoint, tmp_path, capsys, damage):
    photo, good = good_checkpoint
    bad = tmp_path / "bad.ckpt"
    DAMAGED[damage](good, bad)
    out = tmp_path / "o.png"
    out.write_bytes(b"the user's earlier result")
    before = snapshot(tmp_path)
    code, err = cli(["stylize", photo, "mosaic", "-o", out, *FAST, "--resume", bad,
                     "--checkpoint", bad], capsys)  # fmt: skip
    assert code == 2 and one_line(err), err
    assert "bad.ckpt" in err
    assert snapshot(tmp_path) == before


# ---- non-finite numbers for every numeric option ----------------------------------------------

NON_FINITE = ["nan", "inf", "-inf"]
CLI_NUMBERS = ["--steps", "--size", "--lr", "--content-weight", "--style-weight", "--tv-weight",
               "--seed", "--save-every", "--style-blend", "--style-scale", "--scales",
               "--checkpoint-every"]  # fmt: skip


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("flag", CLI_NUMBERS)
def test_non_finite_cli_numbers_are_one_line(tmp_path, photo, capsys, no_optimisation, flag,
                                             value):  # fmt: skip
    extra = ["--checkpoint", tmp_path / "c.ckpt"] if flag == "--checkpoint-every" else []
    argv = ["stylize", photo, "mosaic", "-o", tmp_path / "o.png", *FAST, *extra, f"{flag}={value}"]
    code, err = cli(argv, capsys)
    assert code == 2 and one_line(err), err
    assert flag.lstrip("-").replace("-", "_") in err.replace("-", "_")
    assert not (tmp_path / "o.png").exists()


API_NUMBERS = {
    "steps": lambda v: {"steps": v},
    "image_size": lambda v: {"image_size": v},
    "lr": lambda v: {"lr": v},
    "content_weight": lambda v: {"content_weight": v},
    "style_weight": lambda v: {"style_weight": v},
    "tv_weight": lambda v: {"tv_weight": v},
    "style_layer_weights": lambda v: {"style_layer_weights": [1.0, v]},
    "style_blend": lambda v: {"style_blend": [v]},
    "style_scale": lambda v: {"style_scale": v},
    "scales": lambda v: {"scales": [16, v]},
    "seed": lambda v: {"seed": v},
    "snapshot_every": lambda v: {"snapshot_every": v},
    "preview_every": lambda v: {"preview_every": v},
    "checkpoint_every": lambda v: {"checkpoint_every": v, "checkpoint": "unused.ckpt"},
}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", list(API_NUMBERS))
def test_non_finite_api_numbers_are_value_errors(tiny_images, no_optimisation, name, value):
    content, style = tiny_images
    options = dict(steps=1, image_size=32, weights="random", device="cpu",
                   content_layers=["conv2_2"], style_layers=["conv1_1", "conv2_1"])  # fmt: skip
    options.update(API_NUMBERS[name](value))
    with pytest.raises(ValueError, match=name):
        stylize(content, style, **options)
    assert not Path("unused.ckpt").exists()


# ---- devices the machine does not have --------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_missing_cuda_is_exit_3_one_line(tmp_path, photo, capsys, no_optimisation, device):
    code, err = cli(["stylize", photo, "mosaic", "-o", tmp_path / "o.png", *FAST,
                     "--device", device], capsys)  # fmt: skip
    assert code == 3 and one_line(err), err
    assert "CUDA" in err


def test_missing_mps_is_exit_3_one_line(tmp_path, photo, capsys, no_optimisation, monkeypatch):
    from nst_helpers import devices

    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    code, err = cli(["stylize", photo, "mosaic", "-o", tmp_path / "o.png", *FAST,
                     "--device", "mps"], capsys)  # fmt: skip
    assert code == 3 and one_line(err) and "MPS" in err


@pytest.mark.parametrize("device", ["gpu", "tpu", "cuda:x", ""])
def test_device_that_is_not_a_device_is_exit_2(tmp_path, photo, capsys, no_optimisation, device):
    code, err = cli(["stylize", photo, "mosaic", "-o", tmp_path / "o.png", *FAST,
                     "--device", device], capsys)  # fmt: skip
    assert code == 2 and one_line(err), err
    assert "device" in err


def test_cli_keeps_its_working_directory_clean(tmp_path, photo, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli(["stylize", photo, "mosaic", "-o", "https://example.com/o.png", *FAST], capsys)
    assert sorted(os.listdir(tmp_path)) == ["photo.png"]


def test_disk_full_while_checkpointing_is_exit_3_one_line(tmp_path, photo, capsys, monkeypatch):
    from nst_helpers.optimize import resume as checkpoint

    def full(path, write, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "atomic_write", full)
    argv = ["stylize", photo, "mosaic", "-o", tmp_path / "o.png", *FAST,
            "--checkpoint", tmp_path / "c.ckpt", "--checkpoint-every", "1"]  # fmt: skip
    code, err = cli(argv, capsys)
    assert code == 3 and one_line(err), err
    assert "No space left" in err and "c.ckpt" in err


def test_save_image_refuses_a_url(tmp_path, monkeypatch):
    from nst_helpers import save_image

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="URL"):
        save_image(Image.new("RGB", (4, 4)), "https://example.com/o.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("seed", [2**70, -(2**64)])
def test_seed_beyond_64_bits_is_a_value_error(tiny_images, no_optimisation, seed):
    with pytest.raises(ValueError, match="seed"):
        stylize(*tiny_images, steps=1, image_size=32, weights="random", device="cpu", seed=seed)


def test_api_weights_url_is_one_clear_error():
    from nst_helpers import WeightsError, load_vgg19

    with pytest.raises(WeightsError, match="URL") as info:
        load_vgg19("https://example.com/vgg19.pth")
    assert "NST_VGG19_WEIGHTS" in str(info.value)  # says how to get the file instead
