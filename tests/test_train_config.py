"""feedforward.TrainConfig: training's options, the loss ones being StyleConfig's own fields, read
by train_transformer (its keywords and signature) and by the ``nst train`` flags."""

from __future__ import annotations

import inspect

import pytest

from nst_helpers import StyleConfig, TrainConfig, TransformerNet, load_image, train_transformer
from nst_helpers.apps.cli import build_parser, main
from nst_helpers.config import fields as style_fields
from nst_helpers.feedforward.config import DEFAULTS, FIELD_NAMES, SHARED_NAMES, STYLIZE_ONLY
from nst_helpers.feedforward.config import fields as train_fields

TINY = dict(
    steps=1,
    image_size=32,
    batch_size=1,
    device="cpu",
    weights="random",
    seed=0,
    channels=4,
    residual_blocks=1,
    content_layers=("relu2_2",),
    style_layers=("relu1_1", "relu2_1"),
)


def _train_parser():
    (commands,) = (a for a in build_parser()._actions if a.dest == "command")
    return commands.choices["train"]


def test_every_style_field_is_shared_with_training_or_named_stylize_only():
    # A new StyleConfig field fails here until someone decides whether training uses it.
    names = [f.name for f in style_fields()]
    assert set(names) == set(SHARED_NAMES) | set(STYLIZE_ONLY)
    assert not set(SHARED_NAMES) & set(STYLIZE_ONLY)
    assert {"network", "pooling", "weights", "normalization", "precision"} <= set(SHARED_NAMES)


def test_shared_fields_are_style_configs_help_choices_and_defaults():
    style = {f.name: f for f in style_fields()}
    for f in train_fields():
        if f.name in SHARED_NAMES:
            assert f.metadata == style[f.name].metadata, f.name
            if f.name != "precision":  # fp32: train_transformer's default since v0.1
                assert f.default == style[f.name].default, f.name
    assert DEFAULTS.precision == "fp32" and StyleConfig().precision == "auto"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"steps": -1}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"channels": 0}, "channels"),
        ({"image_size": 8}, "image_size"),
        ({"style_weight": float("nan")}, "style_weight"),  # StyleConfig's own checks
        ({"style_layers": ("conv9_9",)}, "conv9_9"),
        ({"network": "vgg11"}, "network"),
        ({"pooling": "min"}, "pooling"),
        ({"style_layer_weights": (0, 0, 0, 0, 0)}, "all zero"),
    ],
)
def test_invalid_values_fail_when_the_config_is_made(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change)
    with pytest.raises(ValueError, match=match):
        DEFAULTS.replace(**change)


def test_config_normalises_like_style_config():
    cfg = TrainConfig(style_layers=["relu1_1", "relu2_1"], style_layer_weights={"relu2_1": 2.0})
    assert cfg.style_layers == ("relu1_1", "relu2_1") and cfg.style_layer_weights == (0.0, 2.0)
    assert cfg.active_style_layers == ("relu2_1",) and hash(cfg) == hash(cfg.replace())
    assert cfg.style_config.layer_weights == cfg.layer_weights == {"relu2_1": 2.0}


def test_unknown_option_names_the_nearest_field():
    with pytest.raises(TypeError, match="did you mean 'style_weight'"):
        train_transformer("mosaic", "samples", style_wieght=3.0)
    with pytest.raises(TypeError, match="TrainConfig"):
        train_transformer("mosaic", "samples", config={"steps": 1})


def test_signature_shows_the_config_defaults_for_every_field():
    params = inspect.signature(train_transformer).parameters
    for f in train_fields():
        assert params[f.name].default == f.default, f.name
    assert params["config"].kind is inspect.Parameter.KEYWORD_ONLY


def test_config_and_keywords_combine():
    photos = [load_image("chelsea", max_size=40)]
    cfg = TrainConfig(**TINY, style_weight=3.0)
    a = train_transformer("mosaic", photos, config=cfg)
    b = train_transformer("mosaic", photos, config=cfg, style_weight=5.0)  # keywords win
    assert a.settings["style_weight"] == 3.0 and b.settings["style_weight"] == 5.0
    c = train_transformer(
        "mosaic", photos, **{f.name: getattr(cfg, f.name) for f in train_fields()}
    )
    assert [r["total"] for r in a.history] == [r["total"] for r in c.history]
    vgg16 = train_transformer("mosaic", photos, config=cfg, network="vgg16", pooling="avg")
    assert (vgg16.settings["network"], vgg16.settings["pooling"]) == ("vgg16", "avg")
    assert vgg16.history[0]["total"] != a.history[0]["total"]


def test_every_field_is_a_train_flag_left_to_the_config_when_not_given():
    parser = build_parser()
    args = parser.parse_args(["train", "mosaic", "--images", "samples", "-o", "m.pt"])
    assert {k for k in vars(args) if k in FIELD_NAMES} == set()
    dests = {a.dest: a for a in _train_parser()._actions}
    assert set(FIELD_NAMES) <= set(dests)
    for f in train_fields():
        assert dests[f.name].help.startswith(f.metadata["help"]), f.name
    args = parser.parse_args(
        [
            "train",
            "mosaic",
            "--images",
            "samples",
            "-o",
            "m.pt",
            "--size",
            "64",
            "--network",
            "vgg16",
            "--style-layers",
            "relu1_1,relu2_1",
            "--style-layer-weights",
            "1,2",
            "--channels",
            "8",
            "--precision",
            "bf16",
        ]
    )
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in FIELD_NAMES})
    assert (cfg.image_size, cfg.network, cfg.channels, cfg.precision) == (64, "vgg16", 8, "bf16")
    assert cfg.layer_weights == {"relu1_1": 1.0, "relu2_1": 2.0}


def test_nst_train_passes_the_new_flags_through(tmp_path, capsys):
    model = tmp_path / "m.pt"
    argv = [
        "train",
        "mosaic",
        "--images",
        "samples",
        "-o",
        str(model),
        "--steps",
        "1",
        "--size",
        "32",
        "--batch-size",
        "1",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--quiet",
        "--channels",
        "4",
        "--residual-blocks",
        "1",
        "--network",
        "vgg16",
        "--content-layers",
        "relu2_2",
        "--style-layers",
        "relu1_1,relu2_1",
    ]
    assert main(argv) == 0
    net = TransformerNet.load(model)
    assert (net.channels, net.residual_blocks) == (4, 1)
    assert net.settings["network"] == "vgg16" and net.settings["style_layers"] == [
        "relu1_1",
        "relu2_1",
    ]
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage errors exit 2
        main([*argv[:5], str(tmp_path / "n.pt"), *argv[6:], "--pooling", "median"])
    assert exit_info.value.code == 2
    assert "median" in capsys.readouterr().err
