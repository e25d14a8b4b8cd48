"""course.setup (environment, seeds, banner, outputs) and the plotting helpers."""

from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from nst_helpers import course
from nst_helpers.course import (
    plotting,  # noqa: E402
    session,
)
from nst_helpers.images import image_to_tensor  # noqa: E402


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for var in ("NST_QUICK", "NST_WEIGHTS", "NST_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    yield
    plt.close("all")


def _photo(w: int = 24, h: int = 16, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB")


# ---- course ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("0", False), ("off", False), ("", False)],
)
def test_setup_honours_nst_quick(monkeypatch, value, expected):
    monkeypatch.setenv("NST_QUICK", value)
    assert course.setup().quick is expected


def test_setup_quick_off_when_unset_and_argument_wins():
    assert course.setup().quick is False
    assert course.setup(quick=True).quick is True


def test_bad_nst_quick_names_value_and_choices(monkeypatch):
    monkeypatch.setenv("NST_QUICK", "fast")
    with pytest.raises(ValueError, match=r"'fast'.*1/true"):
        course.setup()


def test_pick_returns_quick_value_only_in_quick_mode(monkeypatch):
    monkeypatch.setenv("NST_QUICK", "1")
    quick = course.setup()
    assert quick.pick(64, 512) == 64
    assert quick.pick("a", "b") == "a"
    monkeypatch.setenv("NST_QUICK", "0")
    assert course.setup().pick(64, 512) == 512


def test_random_banner_printed_when_weights_random(monkeypatch, capsys):
    monkeypatch.setenv("NST_WEIGHTS", "random")
    cfg = course.setup()
    out = capsys.readouterr().out
    assert cfg.random_weights is True and cfg.weights == "random"
    assert "VGG19 weights: random" in out  # the one-line summary
    assert "RANDOM WEIGHTS" in out and "NOT artistic" in out  # the banner
    assert out.count("\n") >= 6  # summary + a boxed banner, not a one-liner


def test_no_banner_with_imagenet_weights(monkeypatch, capsys):
    monkeypatch.setenv("NST_WEIGHTS", "imagenet")
    cfg = course.setup()  # must not try to load (or download) anything
    out = capsys.readouterr().out
    assert cfg.random_weights is False and cfg.weights == "imagenet"
    assert "RANDOM" not in out
    assert len(out.strip().splitlines()) == 2  # the summary and why this mode
    assert course.random_weights_banner("imagenet") is False


def test_hed_weights_are_said_in_words_without_a_banner(monkeypatch, capsys):
    monkeypatch.setenv("NST_WEIGHTS", "hed")
    cfg = course.setup()  # says so; loads nothing
    out = capsys.readouterr().out
    assert cfg.random_weights is False and cfg.weights == "hed"
    assert "VGG19 weights: hed" in out and "RANDOM" not in out
    assert "trained VGG16 features from HED edge detection" in out
    assert "not ImageNet VGG19" in out
    monkeypatch.delenv("NST_WEIGHTS")
    monkeypatch.setattr(session, "default_weights", lambda: "hed")  # no ImageNet file here
    assert course.setup().weights == "hed"


@pytest.mark.parametrize(
    "weights, caveat",
    [
        ("random", " (random VGG19 weights: NOT a real result)"),
        ("imagenet", ""),  # the paper's network needs no note
        ("hed", " (HED's trained VGG16 features, not ImageNet VGG19)"),
        ("/data/vgg19.pth", " (VGG19 weights from /data/vgg19.pth)"),
    ],
)
def test_caveat_says_which_weights_made_a_figure(monkeypatch, weights, caveat):
    monkeypatch.setenv("NST_WEIGHTS", weights)
    assert course.setup(banner=False).caveat == caveat


def test_banner_without_setup_and_as_html_in_notebook(monkeypatch, capsys):
    assert course.random_weights_banner("random") is True
    assert "RANDOM WEIGHTS" in capsys.readouterr().out

    shown = []
    monkeypatch.setattr(course.session, "_in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    assert course.random_weights_banner("random") is True
    assert len(shown) == 1
    assert "RANDOM WEIGHTS" in shown[0]["text/html"] and "<div" in shown[0]["text/html"]
    assert "NOT artistic" in shown[0]["text/plain"]
    assert capsys.readouterr().out == ""


def test_setup_warns_in_a_notebook_when_agg_hides_the_figures(monkeypatch):
    import warnings

    monkeypatch.setattr(course.session, "_in_notebook", lambda: True)
    monkeypatch.delenv("NST_TESTING", raising=False)
    with pytest.warns(UserWarning, match="MPLBACKEND=Agg"):
        course.setup()  # conftest selected Agg, as MPLBACKEND=Agg does
    monkeypatch.setenv("NST_TESTING", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        course.setup()
    monkeypatch.setattr(course.session, "_in_notebook", lambda: False)  # scripts and tests: silent
    monkeypatch.delenv("NST_TESTING")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        course.setup()


def test_outputs_folder_created_under_repo_even_from_elsewhere(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # notebooks run from notebooks/, Colab from /content/...
    cfg = course.setup()
    assert (cfg.repo / "nst_helpers" / "course" / "session.py").is_file()
    assert (cfg.repo / "pyproject.toml").is_file()
    assert cfg.outputs == cfg.repo / "outputs"
    assert cfg.outputs.is_dir()
    assert not (tmp_path / "outputs").exists()


def test_setup_seeds_python_numpy_and_torch():
    course.setup(seed=7)
    got = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    assert got[0] == random.random()
    assert got[1] == np.random.rand()
    assert torch.equal(got[2], torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        course.setup(seed=-1)


def test_device_from_argument_and_env(monkeypatch):
    assert course.setup(device="cpu").device == torch.device("cpu")
    monkeypatch.setenv("NST_DEVICE", "cpu")
    assert course.setup().device == torch.device("cpu")
    with pytest.raises(ValueError, match="tpu"):
        course.setup(device="tpu")


# ---- plotting ----------------------------------------------------------------------------


def test_show_images_one_axes_and_image_per_input():
    imgs = [_photo(seed=i) for i in range(3)]
    fig = plotting.show_images(imgs, titles=["a", "b", "c"], suptitle="caption")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [len(ax.images) for ax in fig.axes] == [1, 1, 1]
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    assert fig._suptitle.get_text() == "caption"
    np.testing.assert_array_equal(
        np.asarray(fig.axes[1].images[0].get_array()), np.asarray(imgs[1])
    )


def test_show_images_wraps_rows_without_empty_axes():
    fig = plotting.show_images([_photo(seed=i) for i in range(6)], ncols=4)
    assert len(fig.axes) == 6
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(rows) == 2


def test_show_images_accepts_normalised_tensors_and_batches():
    img = _photo()
    t = image_to_tensor(img)  # [1, 3, H, W], ImageNet-normalised
    fig = plotting.show_images([t, t[0], img])
    assert len(fig.axes) == 3
    for ax in fig.axes:
        shown = np.asarray(ax.images[0].get_array()).astype(int)
        assert np.abs(shown - np.asarray(img).astype(int)).max() <= 1  # de-normalised back
    batch = torch.cat([t, image_to_tensor(_photo(seed=1))])
    assert len(plotting.show_images(batch).axes) == 2


def test_show_images_dict_single_image_and_arrays():
    fig = plotting.show_images({"left": _photo(), "right": np.zeros((8, 8, 3), dtype=np.float32)})
    assert [ax.get_title() for ax in fig.axes] == ["left", "right"]
    assert len(plotting.show_images(_photo()).axes) == 1


def test_show_images_rejects_mismatched_titles_and_junk():
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plotting.show_images([_photo()] * 3, titles=["a", "b"])
    with pytest.raises(TypeError, match="int"):
        plotting.show_images([3])
    with pytest.raises(ValueError, match="empty"):
        plotting.show_images([])


def _history(n: int = 5) -> list[dict]:
    return [
        {"step": i + 1, "total": 100.0 / (i + 1), "content": 10.0 / (i + 1), "style": 1.0 + i,
         "tv": 0.0, "seconds": 0.5 * (i + 1)}
        for i in range(n)
    ]  # fmt: skip


def test_plot_history_log_scale_one_line_per_key():
    ax = plotting.plot_history(_history())
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["total", "content", "style"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), [1, 2, 3, 4, 5])
    assert ax.get_xlabel() == "step"


def test_plot_history_against_seconds_linear_and_labelled():
    ax = plotting.plot_history(_history(), keys=("total",), x="seconds", log=False, label="adam")
    assert ax.get_yscale() == "linear"
    assert ax.get_xlabel() == "seconds"
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0.5, 1.0, 1.5, 2.0, 2.5])
    assert line.get_label() == "adam"


def test_plot_history_shares_axes_skips_zero_keys_on_log_and_takes_results():
    class Result:
        history = _history(3)

    _, ax = plt.subplots()
    out = plotting.plot_history(Result(), keys=("content", "tv"), ax=ax, label="run 1")
    assert out is ax
    assert [line.get_label() for line in ax.get_lines()] == ["run 1: content"]  # tv is all 0
    plotting.plot_history(_history(3), keys=("content",), ax=ax, label="run 2")
    assert len(ax.get_lines()) == 2


def test_plot_history_errors_name_the_problem():
    with pytest.raises(ValueError, match="x='time'"):
        plotting.plot_history(_history(), x="time")
    with pytest.raises(ValueError, match="loss"):
        plotting.plot_history(_history(), keys=("loss",))
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_history([])


def test_show_feature_maps_picks_most_varied_channels():
    feats = torch.zeros(1, 12, 6, 10)
    feats[0, 9] = torch.arange(60.0).view(6, 10)  # varied
    feats[0, 4] = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    fig = plotting.show_feature_maps(feats, n=2, title="conv1_1")
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["ch 4", "ch 9"]
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()), feats[0, 9].numpy())
    assert fig._suptitle.get_text() == "conv1_1"


def test_show_feature_maps_count_channels_and_shape_errors():
    feats = torch.randn(1, 32, 5, 5)
    assert len(plotting.show_feature_maps(feats, n=16).axes) == 16
    assert len(plotting.show_feature_maps(feats[0, :3], n=16).axes) == 3  # fewer channels than n
    fig = plotting.show_feature_maps(feats, channels=[0, 31])
    assert [ax.get_title() for ax in fig.axes] == ["ch 0", "ch 31"]
    with pytest.raises(ValueError, match="32 channels"):
        plotting.show_feature_maps(feats, channels=[32])
    with pytest.raises(ValueError, match=r"\[1, C, H, W\]"):
        plotting.show_feature_maps(torch.randn(2, 3, 4, 4))


def test_show_gram_draws_the_matrix():
    f = torch.randn(1, 4, 3, 3)
    gram = f.flatten(2) @ f.flatten(2).transpose(1, 2)  # [1, 4, 4]
    ax = plotting.show_gram(gram, title="G")
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), gram[0].numpy(), rtol=1e-6)
    assert ax.get_title() == "G"
    assert len(ax.figure.axes) == 2  # the matrix and its colour bar
    with pytest.raises(ValueError, match=r"\[C, C\]"):
        plotting.show_gram(torch.zeros(3, 4))


def test_show_gram_scale_is_symmetric_and_can_be_shared():
    gram = torch.tensor([[4.0, -1.0], [-1.0, 2.0]])
    ax = plotting.show_gram(gram)
    assert ax.images[0].get_clim() == (-4.0, 4.0)  # 0 sits in the middle: signs stay visible
    ax = plotting.show_gram(gram, vmax=10.0)  # one scale for panels that are compared
    assert ax.images[0].get_clim() == (-10.0, 10.0)
    assert ax.images[0].get_cmap().name == "RdBu_r"


def test_snapshot_grid_in_step_order():
    fig = plotting.snapshot_grid({20: _photo(seed=2), 5: _photo(seed=1), 10: _photo(seed=3)})
    assert [ax.get_title() for ax in fig.axes] == ["step 5", "step 10", "step 20"]
    with pytest.raises(ValueError, match="snapshot_every"):
        plotting.snapshot_grid({})


def test_show_pipeline_draws_three_thumbnails():
    fig = plotting.show_pipeline(_photo(), _photo(seed=1), title="NST")
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].images) == 3
    assert "NST" in [t.get_text() for t in fig.axes[0].texts]


def test_show_pipeline_starts_from_the_photo_like_stylize():
    photo = _photo()
    start = plotting.show_pipeline(photo, _photo(seed=1)).axes[0].images[1].get_array()
    content = plotting.show_pipeline(photo, _photo(seed=1)).axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(start), np.asarray(content))  # init="content"
    noise = plotting.show_pipeline(photo, _photo(seed=1), generated="noise")
    assert not np.array_equal(np.asarray(noise.axes[0].images[1].get_array()), np.asarray(start))


def test_banner_replaces_the_repeated_random_weights_warning(monkeypatch):
    import warnings

    from nst_helpers.features import RandomWeightsWarning, load_vgg19

    monkeypatch.setenv("NST_WEIGHTS", "imagenet")
    course.setup()
    with pytest.warns(RandomWeightsWarning):
        load_vgg19("random")  # no banner was shown, so the warning must still come
    monkeypatch.setenv("NST_WEIGHTS", "random")
    course.setup()
    with warnings.catch_warnings(record=True) as caught:
        load_vgg19("random")
        load_vgg19("random")
    assert not [w for w in caught if issubclass(w.category, RandomWeightsWarning)]


def test_mode_quick_cpu_fast_or_full_and_why(monkeypatch, capsys):
    monkeypatch.delenv("NST_MODE", raising=False)
    monkeypatch.setenv("NST_QUICK", "1")
    assert course.setup(device="cpu").mode == "quick"
    monkeypatch.setenv("NST_QUICK", "0")
    capsys.readouterr()
    cfg = course.setup(device="cpu")
    out = capsys.readouterr().out
    assert cfg.mode == "cpu-fast" and cfg.preset == "fast" and not cfg.quick
    assert "mode: cpu-fast" in out and "no GPU" in out and "preset='fast'" in out  # says why
    assert cfg.pick(64, 512, cpu=256) == 256 and cfg.pick(64, 512) == 512
    # A GPU (no GPU is needed to decide) runs the full sizes.
    mode, why = course.choose_mode(False, torch.device("cuda"))
    assert mode == "full" and "GPU" in why
    assert course.choose_mode(True, torch.device("cuda"))[0] == "quick"


def test_nst_mode_overrides_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv("NST_QUICK", "0")
    monkeypatch.setenv("NST_MODE", "full")
    cfg = course.setup(device="cpu")
    assert cfg.mode == "full" and cfg.preset is None and cfg.pick(64, 512, cpu=256) == 512
    assert course.setup(device="cpu", mode="quick").pick(64, 512, cpu=256) == 64
    monkeypatch.setenv("NST_MODE", "turbo")
    with pytest.raises(ValueError, match=r"'turbo'.*cpu-fast"):
        course.setup(device="cpu")
