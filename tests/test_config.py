"""config.StyleConfig: one set of defaults, read by stylize, the CLI, the studio, the memory
estimate and the checkpoint key (each checked here against the fields, not against copies)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from nst_helpers import StyleConfig, optimize, stylize
from nst_helpers.apps.cli import CLI_DEFAULTS, build_parser
from nst_helpers.config import DEFAULTS, FIELD_NAMES, fields
from nst_helpers.optimize import memory

# Every keyword stylize had before StyleConfig existed: a contract (issue 10).
STYLIZE_KEYWORDS = [
    "steps",
    "image_size",
    "optimizer",
    "lr",
    "content_weight",
    "style_weight",
    "tv_weight",
    "content_layers",
    "style_layers",
    "style_layer_weights",
    "init",
    "weights",
    "device",
    "precision",
    "seed",
    "snapshot_every",
    "callback",
    "preview",
    "preview_every",
    "progress",
    "preserve_color",
    "style_blend",
    "style_scale",
    "pooling",
    "scales",
    "parameterization",
    "checkpoint",
    "checkpoint_every",
    "resume",
    "memory_check",
    "normalization",
]


def test_stylize_keeps_every_keyword_and_shows_the_config_defaults():
    params = inspect.signature(stylize).parameters
    assert set(STYLIZE_KEYWORDS) <= set(params)
    for f in fields():
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[f.name].default == f.default, f.name
    assert list(params)[:3] == ["content", "style", "config"]


def test_defaults_are_the_papers_layers_and_relative_weights():
    assert DEFAULTS.content_layers == ("relu4_2",)
    assert DEFAULTS.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert DEFAULTS.normalization == "relative"
    assert DEFAULTS.style_weight == optimize.DEFAULT_STYLE_WEIGHT
    assert DEFAULTS.precision == "auto"


def test_config_is_frozen_hashable_and_normalises_sequences():
    cfg = StyleConfig(content_layers=["relu3_2"], style_layers=["relu1_1", "relu2_1"],
                      style_layer_weights={"relu2_1": 2}, scales=[32, 64], style_blend=[1, 3])  # fmt: skip
    assert cfg.content_layers == ("relu3_2",) and cfg.scales == (32, 64)
    assert cfg.style_layer_weights == (0.0, 2.0)  # the mapping, in style_layers' order
    assert cfg.layer_weights == {"relu2_1": 2.0} and cfg.active_style_layers == ("relu2_1",)
    assert cfg.style_blend == (1.0, 3.0) and cfg.sizes == (32, 64)
    assert hash(cfg) == hash(StyleConfig(**dataclasses.asdict(cfg)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3  # type: ignore[misc]
    assert DEFAULTS.learning_rate == 0.02
    assert DEFAULTS.replace(optimizer="lbfgs").learning_rate == 1.0


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"steps": -1}, "steps"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"lr": 0}, "lr"),
        ({"normalization": "gatys"}, "normalization"),
        ({"precision": "fp64"}, "fp64"),
        ({"content_layers": ["conv9_9"]}, "conv9_9"),
        ({"style_layer_weights": [0, 0, 0, 0, 0]}, "all zero"),
        ({"image_size": 8}, "too small"),
        ({"scales": [64, 32]}, "increase"),
        ({"style_scale": 0}, "style_scale"),
        ({"seed": 1.5}, "seed"),
        ({"network": "vgg11"}, "network"),
        ({"network": "vgg16", "style_layers": ["relu5_4"]}, "VGG16 layer"),
    ],
)
def test_invalid_values_fail_when_the_config_is_made(change, match):
    with pytest.raises(ValueError, match=match):
        StyleConfig(**change)
    with pytest.raises(ValueError, match=match):
        DEFAULTS.replace(**change)


def test_unknown_option_names_the_nearest_field():
    with pytest.raises(TypeError, match="did you mean 'style_weight'"):
        stylize("chelsea", "mosaic", style_wieght=3.0)
    with pytest.raises(TypeError, match="'nonsense'"):
        DEFAULTS.replace(nonsense=1)
    with pytest.raises(TypeError, match="StyleConfig"):
        stylize("chelsea", "mosaic", {"steps": 1})


def test_config_and_keywords_combine(tiny_images):
    content, style = tiny_images
    cfg = StyleConfig(steps=2, image_size=32, weights="random", device="cpu", precision="fp32",
                      style_weight=3.0, seed=1)  # fmt: skip
    a = stylize(content, style, cfg)
    b = stylize(content, style, cfg, style_weight=5.0)  # keywords win over the config
    assert a.settings["style_weight"] == 3.0 and b.settings["style_weight"] == 5.0
    c = stylize(content, style, **{f.name: getattr(cfg, f.name) for f in fields()})
    assert [r["total"] for r in a.history] == [r["total"] for r in c.history]


def test_settings_are_the_checkpoint_key_fields(tiny_images):
    content, style = tiny_images
    result = stylize(content, style, steps=1, image_size=32, weights="random", device="cpu")
    key_fields = {f.name for f in fields() if f.metadata.get("key", True)}
    assert set(result.settings) == key_fields | {"content", "style", "steps_per_scale"}
    assert {"steps", "image_size", "device"}.isdisjoint(result.settings)  # may change on resume
    for name in ("content_weight", "style_weight", "normalization"):  # contract
        assert result.settings[name] == getattr(DEFAULTS, name)


def test_network_is_a_checked_key_field(tiny_images):
    assert DEFAULTS.network == "vgg19"
    assert StyleConfig(style_layers=["relu5_4"]).style_layers == ("relu5_4",)  # VGG19 has it
    assert StyleConfig(network="vgg16").key()["network"] == "vgg16"
    content, style = tiny_images
    result = stylize(content, style, steps=1, image_size=32, weights="random", device="cpu",
                     network="vgg16")  # fmt: skip
    assert result.settings["network"] == "vgg16"


def test_every_field_is_a_cli_flag_with_the_config_default():
    parser = build_parser()
    args = parser.parse_args(["stylize", "a.png", "b.png", "-o", "out.png"])
    given = {k for k in vars(args) if k in FIELD_NAMES}
    assert given == set(), "unset flags must leave the choice to StyleConfig"
    stylize_parser = parser._subparsers._group_actions[0].choices["stylize"]
    dests = {a.dest for a in stylize_parser._actions}
    assert set(FIELD_NAMES) <= dests
    assert CLI_DEFAULTS == {"steps": 500}  # the one deliberate difference (see its docstring)
    args = parser.parse_args(
        ["stylize", "a", "b", "-o", "o.png", "--size", "64", "--style-layer-weights", "1,0,2",
         "--style-layers", "relu1_1,relu2_1,relu3_1", "--normalization", "paper", "--lr", "0.1"]
    )  # fmt: skip
    cfg = StyleConfig(**{k: v for k, v in vars(args).items() if k in FIELD_NAMES})
    assert cfg.image_size == 64 and cfg.normalization == "paper" and cfg.lr == 0.1
    assert cfg.layer_weights == {"relu1_1": 1.0, "relu3_1": 2.0}


def test_studio_controls_start_at_the_config_defaults():
    from nst_helpers.apps.studio import StyleStudio

    studio = StyleStudio(weights="random", device="cpu", quick=True)
    got = studio.settings()
    # deliberate: size and steps by device, seed 0 (see widgets.default_run_size)
    differ = {"image_size", "steps", "seed", "weights", "device"}  # the last two: passed in
    for name, value in got.items():
        if name not in differ:
            assert value == getattr(DEFAULTS, name if name != "lr" else "learning_rate"), name
    assert got["weights"] == "random" and got["device"] == "cpu"
    assert set(got) <= set(FIELD_NAMES)
    studio.close()


def test_memory_options_are_the_memory_fields():
    params = inspect.signature(memory.estimate_memory).parameters
    memory_fields = {f.name for f in fields() if f.metadata.get("memory")}
    # checkpointing is a field too, but stylize resolves its "auto" (choose_checkpointing)
    # before it asks for the estimate, so it is passed on its own, not with the memory fields.
    assert "checkpointing" in FIELD_NAMES
    # ``options``: the same, as one MemoryOptions
    assert set(params) - {"image_size", "options"} == memory_fields | {"n_styles", "checkpointing"}
    assert set(inspect.signature(memory.memory_breakdown).parameters) == set(params)
    for name in memory_fields - {"precision"}:  # memory takes the resolved precision
        assert params[name].default == getattr(DEFAULTS, name), name
    options = DEFAULTS.replace(style_layer_weights=[1, 0, 0, 0, 1]).memory_options("bf16")
    assert options["style_layers"] == ("relu1_1", "relu5_1") and options["precision"] == "bf16"
    memory.estimate_memory(64, **options)  # every key is accepted


def test_readme_documents_every_field():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("### Every knob of `stylize`")[1].split("\n### ")[0]
    missing = [name for name in FIELD_NAMES if f"`{name}`" not in table]
    assert not missing, f"README's knob table lacks {missing}"
