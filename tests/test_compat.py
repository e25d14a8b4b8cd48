"""Today's code against v0.1: the same pixels for a seeded run, and v0.1 checkpoints still resume.

The fixtures in ``tests/fixtures/v0_1`` were written by main at f389574 (see its README), so a
refactor of the optimisation loop that changes the arithmetic fails here.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_helpers import load_image, stylize

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1"
RECORD = json.loads((FIXTURES / "runs.json").read_text())
SETTINGS = {"best_step", "best_loss"}


@pytest.fixture(scope="module")
def images() -> tuple[Image.Image, Image.Image]:
    return load_image("chelsea", max_size=48), load_image("brush_strokes", max_size=48)


def _run(images, name: str, **extra):
    options = {k: v for k, v in RECORD["runs"][name].items() if k not in SETTINGS}
    if "scales" in options:
        options["scales"] = tuple(options["scales"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stylize(*images, **RECORD["common"], **options, **extra)


def _levels_apart(a: Image.Image, b: Image.Image) -> int:
    x, y = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
    assert x.shape == y.shape
    return int(np.abs(x - y).max())


@pytest.mark.parametrize("name", sorted(RECORD["runs"]))
def test_seeded_run_gives_the_pixels_of_v0_1(images, name):
    result = _run(images, name)
    assert _levels_apart(result.image, Image.open(FIXTURES / f"{name}.png")) <= 1
    assert result.best_step == RECORD["runs"][name]["best_step"]
    assert result.best_loss == pytest.approx(RECORD["runs"][name]["best_loss"], rel=1e-4)


def test_a_v0_1_checkpoint_resumes_to_the_same_picture(images, tmp_path):
    checkpoint = tmp_path / "adam_step4.ckpt"
    shutil.copy(FIXTURES / "adam_step4.ckpt", checkpoint)  # resuming may rewrite it
    resumed = _run(images, "adam", resume=checkpoint)
    assert [r["step"] for r in resumed.history][:1] == [1]  # the history came back with it
    assert resumed.history[-1]["step"] == RECORD["runs"]["adam"]["steps"]
    assert _levels_apart(resumed.image, Image.open(FIXTURES / "adam.png")) <= 1


def test_a_setting_added_later_counts_as_its_old_value_when_resuming():
    from nst_helpers.config import added_later
    from nst_helpers.optimize.resume import check_compatible

    assert added_later()["network"] == "vgg19"
    check_compatible({"steps": 8}, {"steps": 8, "network": "vgg19"}, "old.ckpt")  # v0.1: fine
    with pytest.raises(ValueError, match="network: checkpoint has 'vgg19', this call has 'vgg16'"):
        check_compatible({"steps": 8}, {"steps": 8, "network": "vgg16"}, "old.ckpt")
