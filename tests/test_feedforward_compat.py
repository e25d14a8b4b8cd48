"""Real-time networks against v0.1: its saved networks and training checkpoints still work, and
``train_transformer`` and ``nst train`` still take everything they took.

The fixtures in ``tests/fixtures/v0_1`` were written by main at f389574 with
``make_transformer.py`` (see the README there).
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
import torch

from nst_helpers import TransformerNet, load_image, train_transformer
from nst_helpers.apps.cli import build_parser

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1"
# The run make_transformer.py made (its photos are in memory, so the key is their pixels).
V0_1_RUN = dict(
    image_size=16,
    batch_size=1,
    device="cpu",
    weights="random",
    seed=0,
    precision="fp32",
    channels=1,
    residual_blocks=1,
    content_layers=("relu2_2",),
    style_layers=("relu1_1", "relu2_1"),
)


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return torch.load(FIXTURES / "transformer_tiny_io.pt", weights_only=True)


def _photos() -> list:
    return [load_image("chelsea", max_size=40), load_image("coffee", max_size=40)]


def test_a_network_saved_by_v0_1_loads_and_gives_its_outputs(reference):
    net = TransformerNet.load(FIXTURES / "transformer_tiny.pt")
    assert (net.channels, net.residual_blocks) == (1, 1) and not net.training
    with torch.no_grad():
        # float rounding only: the kernels differ between CPUs (AVX2 vs AVX-512) by ~1e-7; a
        # wrongly loaded weight or layer moves the outputs by orders of magnitude more
        torch.testing.assert_close(net(reference["input"]), reference["output"], rtol=0, atol=1e-6)
    assert [r["step"] for r in net.history] == [1, 2, 3, 4]
    assert net.settings["channels"] == 1 and net.settings["style_layers"] == ["relu1_1", "relu2_1"]
    assert net.random_weights


def test_a_v0_1_training_checkpoint_resumes_to_the_same_network(reference, tmp_path):
    checkpoint = tmp_path / "train.ckpt"
    shutil.copy(FIXTURES / "train_tiny_step2.ckpt", checkpoint)  # resuming rewrites it
    net = train_transformer(
        "mosaic", _photos(), steps=4, checkpoint=checkpoint, resume=checkpoint, **V0_1_RUN
    )
    assert [r["step"] for r in net.history] == [1, 2, 3, 4] and not net.interrupted
    with torch.no_grad():
        torch.testing.assert_close(net(reference["input"]), reference["output"], rtol=0, atol=1e-4)


V0_1_SIGNATURE = [
    ("style", inspect.Parameter.empty),
    ("content_images", inspect.Parameter.empty),
    ("steps", 4000),
    ("image_size", 256),
    ("batch_size", 4),
    ("lr", 1e-3),
    ("content_weight", 1.0),
    ("style_weight", 10.0),
    ("tv_weight", 0.0),
    ("weights", None),
    ("device", "auto"),
    ("seed", None),
    ("progress", False),
    ("checkpoint", None),
    ("resume", None),
]
V0_1_KEYWORDS = {
    "checkpoint_every": None,
    "callback": None,
    "preview": None,
    "preview_every": 50,
    "content_layers": ("relu4_2",),
    "style_layers": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "style_layer_weights": None,
    "normalization": "relative",
    "precision": "fp32",
    "channels": 32,
    "residual_blocks": 5,
}


def test_train_transformer_keeps_the_v0_1_signature():
    params = inspect.signature(train_transformer).parameters
    positional = [(p.name, p.default) for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == V0_1_SIGNATURE
    for name, default in V0_1_KEYWORDS.items():
        assert params[name].default == default, name


def test_train_transformer_still_takes_its_v0_1_arguments_by_position(tmp_path):
    by_position = train_transformer(
        "mosaic",
        _photos(),
        1,
        16,
        1,
        1e-3,
        1.0,
        10.0,
        0.0,
        "random",
        "cpu",
        0,
        False,
        tmp_path / "a.ckpt",
        None,
        content_layers=("relu2_2",),
        style_layers=("relu1_1", "relu2_1"),
        channels=1,
        residual_blocks=1,
    )
    by_name = train_transformer("mosaic", _photos(), steps=1, **V0_1_RUN)
    assert by_position.settings == by_name.settings
    assert (tmp_path / "a.ckpt").exists()
    for k, v in by_name.state_dict().items():
        assert torch.equal(v, by_position.state_dict()[k]), k


V0_1_TRAIN_FLAGS = {
    "--images",
    "-o",
    "--output",
    "--steps",
    "--size",
    "--batch-size",
    "--lr",
    "--content-weight",
    "--style-weight",
    "--tv-weight",
    "--normalization",
    "--weights",
    "--device",
    "--precision",
    "--seed",
    "--checkpoint",
    "--checkpoint-every",
    "--resume",
    "--overwrite",
    "--quiet",
}


def _subcommand(name: str):
    (commands,) = (a for a in build_parser()._actions if a.dest == "command")
    return commands.choices[name]


def test_nst_train_keeps_every_v0_1_flag():
    flags = {s for a in _subcommand("train")._actions for s in a.option_strings}
    assert flags >= V0_1_TRAIN_FLAGS
    parsed = build_parser().parse_args(
        [
            "train",
            "mosaic",
            "--images",
            "samples",
            "-o",
            "m.pt",
            "--size",
            "64",
            "--lr",
            "0.01",
            "--precision",
            "bf16",
            "--normalization",
            "paper",
            "--seed",
            "3",
        ]
    )
    assert (parsed.lr, parsed.precision, parsed.normalization, parsed.seed) == (
        0.01,
        "bf16",
        "paper",
        3,
    )
    assert 64 in vars(parsed).values()  # --size, under whatever name the parser keeps it
