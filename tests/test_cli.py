"""The command line: exit codes, messages, and that it never overwrites what the user made."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nst_helpers.apps.cli import main

FAST = ["--steps", "2", "--size", "32", "--weights", "random", "--seed", "0", "--quiet"]


def _photo(path, color=(200, 30, 30)) -> str:
    Image.new("RGB", (48, 40), color).save(path)
    return str(path)


def test_stylize_writes_the_output_and_creates_its_folder(tmp_path, capsys):
    out = tmp_path / "new" / "folder" / "result.png"
    code = main(["stylize", "chelsea", "brush_strokes", "-o", str(out), *FAST])
    assert code == 0
    img = Image.open(out)
    assert max(img.size) == 32
    captured = capsys.readouterr()
    assert "RANDOM" in captured.err  # random weights are announced, never passed off as art
    assert "saved" in captured.out


def test_network_flag_and_the_weights_said_in_words(tmp_path, capsys):
    out = tmp_path / "hed.png"
    args = ["--steps", "1", "--size", "32", "--seed", "0", "--quiet"]
    code = main(["stylize", "chelsea", "starry_night", "-o", str(out), "--network", "vgg16",
                 "--weights", "hed", *args])  # fmt: skip
    assert code == 0 and out.is_file()
    err = capsys.readouterr().err
    assert "network: trained VGG16 features from HED edge detection, not ImageNet VGG19" in err
    assert "RANDOM" not in err
    with pytest.raises(SystemExit) as info:  # argparse: a usage error, one line
        main(["stylize", "chelsea", "mosaic", "-o", str(out), "--network", "vgg11", *args])
    assert info.value.code == 2 and "vgg16" in capsys.readouterr().err


def test_save_every_writes_snapshots(tmp_path):
    out = tmp_path / "r.png"
    assert main(["stylize", "chelsea", "mosaic", "-o", str(out), *FAST, "--save-every", "1"]) == 0
    assert sorted(p.name for p in tmp_path.glob("r_step*.png")) == [
        "r_step00001.png",
        "r_step00002.png",
    ]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["stylize", "missing.jpg", "mosaic"], "missing.jpg"),
        (["stylize", "chelsea", "mosaic", "--steps", "-3"], "steps"),
        (["stylize", "chelsea", "mosaic", "--optimizer", "sgd"], "optimizer"),
        (["stylize", "chelsea", "mosaic", "--style-weight", "nan"], "style_weight"),
        (["stylize", "chelsea", "mosaic", "--size", "8"], "too small"),
        (["stylize", "chelsea", "mosaic", "--style-layers", "conv9_9"], "conv9_9"),
        (["stylize", "chelsea", "mosaic", "--style-blend", "a,b"], "style-blend"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, fragment):
    out = tmp_path / "o.png"
    with_output = [*argv[:3], "-o", str(out), "--weights", "random", "--quiet", *argv[3:]]
    try:
        code = main(with_output)
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_never_overwrites_an_input_image(tmp_path, capsys):
    content = _photo(tmp_path / "me.png")
    before = (tmp_path / "me.png").read_bytes()
    assert main(["stylize", content, "mosaic", "-o", content, *FAST]) == 2
    assert "input" in capsys.readouterr().err
    assert (tmp_path / "me.png").read_bytes() == before
    # also through another spelling of the same path
    other = str(tmp_path / "." / "me.png")
    assert main(["stylize", content, "mosaic", "-o", other, "--overwrite", *FAST]) == 2
    assert (tmp_path / "me.png").read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "o.png"
    _photo(out, color=(1, 2, 3))
    assert main(["stylize", "chelsea", "mosaic", "-o", str(out), *FAST]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert np.asarray(Image.open(out))[0, 0].tolist() == [1, 2, 3]
    assert main(["stylize", "chelsea", "mosaic", "-o", str(out), "--overwrite", *FAST]) == 0
    assert np.asarray(Image.open(out))[0, 0].tolist() != [1, 2, 3]


def test_unreadable_image_is_a_bad_input(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    assert main(["stylize", str(bad), "mosaic", "-o", str(tmp_path / "o.png"), *FAST]) == 2
    assert "notes.jpg" in capsys.readouterr().err


def test_samples_lists_bundled_and_fetchable(capsys):
    assert main(["samples"]) == 0
    out = capsys.readouterr().out
    assert "chelsea" in out and "brush_strokes" in out and "starry_night" in out


def test_module_entry_point_runs_in_a_fresh_process(tmp_path):
    out = tmp_path / "x.png"
    proc = subprocess.run(
        [sys.executable, "-m", "nst_helpers", "stylize", "coffee", "ink_wash", "-o", str(out), *FAST],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    bad = subprocess.run(
        [sys.executable, "-m", "nst_helpers", "stylize", "coffee", "nope", "-o", str(out) + ".png"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "nope" in bad.stderr
