"""Shared test setup: offline defaults, a headless plotting backend and tiny images.

The environment defaults are set at import, before any test module imports ``nst_helpers``:
``NST_WEIGHTS=random`` (no 548 MB download) and ``NST_QUICK=1``. Both are ``setdefault``, so
``NST_WEIGHTS=imagenet pytest`` still runs the suite against the real network.
"""

from __future__ import annotations

import os
import signal

os.environ.setdefault("NST_WEIGHTS", "random")
os.environ.setdefault("NST_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

if "OMP_NUM_THREADS" not in os.environ:
    # The tests' tensors are tiny (16-64 px): thread hand-offs cost more than they save, and on a
    # busy shared runner two spinning threads per process made the suite several times slower.
    torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    # Every stylize/feature test would print it; tests that check it use pytest.warns.
    config.addinivalue_line("filterwarnings", "ignore::nst_helpers.features.RandomWeightsWarning")


def _tiny_content() -> Image.Image:
    """48x32 RGB: smooth colour gradients plus a little seeded noise (a stand-in photo)."""
    yy, xx = np.mgrid[0:32, 0:48].astype(np.float64)
    rng = np.random.default_rng(0)
    arr = np.stack([xx / 47 * 255, yy / 31 * 255, (xx + yy) / 78 * 255], axis=-1)
    arr = arr + rng.normal(0, 12, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _tiny_style() -> Image.Image:
    """40x40 RGB: diagonal colour stripes (a stand-in painting)."""
    yy, xx = np.mgrid[0:40, 0:40]
    stripes = ((xx + yy) // 5) % 3
    palette = np.array([[200, 40, 30], [30, 60, 180], [240, 220, 60]], dtype=np.uint8)
    return Image.fromarray(palette[stripes], "RGB")


@pytest.fixture
def tiny_images() -> tuple[Image.Image, Image.Image]:
    """``(content, style)``: deterministic 48x32 and 40x40 RGB PIL images, fresh per test."""
    return _tiny_content(), _tiny_style()


@pytest.fixture
def tiny_image_files(tmp_path, tiny_images) -> tuple:
    """``(content_path, style_path)``: the ``tiny_images`` saved as PNG files in ``tmp_path``."""
    content, style = tiny_images
    content_path, style_path = tmp_path / "content.png", tmp_path / "style.png"
    content.save(content_path)
    style.save(style_path)
    return content_path, style_path


@pytest.fixture
def fresh_vgg_cache():
    """Empty the per-process VGG19 cache before and after a test that changes weights."""
    from nst_helpers.features import clear_cache

    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright (browser and site tests): Debian's Chromium, headless, nothing phoning
    home. Used only where those tests run; without pytest-playwright nothing asks for it."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS

    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


class _InterruptingFile:
    """A file whose ``n``-th write first raises SIGINT in this process (as a Ctrl-C would)."""

    def __init__(self, fh, n: int) -> None:
        self.fh, self.n = fh, n

    def write(self, data):
        self.n -= 1
        if self.n == 0:
            signal.raise_signal(signal.SIGINT)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)


@pytest.fixture
def ctrl_c_in_first_save(monkeypatch):
    """``torch.save``'s first call gets a Ctrl-C (a real SIGINT) half-way through its writes."""
    real_save, calls = torch.save, []

    def save(obj, fh, *args, **kwargs):
        calls.append(fh)
        first = len(calls) == 1
        return real_save(obj, _InterruptingFile(fh, 2) if first else fh, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return calls
