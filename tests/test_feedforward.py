"""Real-time style transfer: the network, its training, files, ONNX export and the CLI.

Everything runs on tiny images (<= 64 px) with the seeded random VGG19, a few steps each.
"""

from __future__ import annotations

import pickle
import signal
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from nst_helpers import TransformerNet, train_transformer
from nst_helpers.apps.cli import main
from nst_helpers.feedforward import (
    EXPORT_HINT,
    ExportUnavailableError,
    ModelFileError,
    ResidualBlock,
    run_onnx,
)
from nst_helpers.feedforward.photos import (
    PhotoUnavailableError,
    RandomCrops,
    download_photos,
    photo_sources,
)

TINY = dict(image_size=32, batch_size=2, device="cpu", weights="random", seed=0)
LAYERS = dict(content_layers=("relu2_2",), style_layers=("relu1_1", "relu2_1", "relu3_1"))


def _photo(path, size=(40, 36), seed=0) -> str:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    arr = np.stack([xx * 6, yy * 7, (xx + yy) * 3], -1) + rng.normal(0, 20, (size[1], size[0], 3))
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").save(path)
    return str(path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(3):
        _photo(folder / f"p{i}.png", seed=i)
    return folder


@pytest.fixture(scope="module")
def trained(photos) -> TransformerNet:
    return train_transformer("brush_strokes", photos, steps=3, **TINY)


# ---- the network -------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(5, 5), (9, 13), (33, 47), (64, 48)])
def test_output_has_the_input_shape_and_range_at_odd_sizes(hw):
    net = TransformerNet(channels=8, residual_blocks=2).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 3, *hw))
    assert y.shape == (2, 3, *hw)
    assert y.min() >= 0 and y.max() <= 1


def test_layer_shapes_follow_johnson_et_al():
    net = TransformerNet()
    x = torch.rand(1, 3, 64, 80)
    h1 = net.down1(x)
    h2 = net.down2(h1)
    h3 = net.down3(h2)
    assert (h1.shape, h2.shape, h3.shape) == (
        (1, 32, 64, 80),
        (1, 64, 32, 40),
        (1, 128, 16, 20),
    )
    assert len(net.residuals) == 5
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    pads = [m for m in net.modules() if isinstance(m, torch.nn.ReflectionPad2d)]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(norms) == 3 + 2 * 5 + 2 and len(pads) == len(convs) == 3 + 2 * 5 + 2 + 1
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())


def test_residual_block_adds_its_input():
    block = ResidualBlock(4)
    with torch.no_grad():
        block.body[-1].weight.zero_()  # last instance norm: scale 0, bias b -> body(x) = b
        block.body[-1].bias.copy_(torch.tensor([1.0, -2.0, 0.5, 0.0]))
    x = torch.randn(2, 4, 6, 7)
    expected = x + torch.tensor([1.0, -2.0, 0.5, 0.0]).view(1, 4, 1, 1)
    torch.testing.assert_close(block(x), expected)


def test_stylize_keeps_any_size_and_returns_rgb():
    net = TransformerNet(channels=8, residual_blocks=1)
    grey = Image.new("L", (37, 23), 128)
    out = net.stylize(grey)
    assert out.mode == "RGB" and out.size == (37, 23)
    assert net.training  # the caller's mode is restored
    assert net.stylize("chelsea", max_size=40).size[0] == 40
    with pytest.raises(ValueError, match="5 px"):
        net.stylize(Image.new("RGB", (20, 4)))


def test_seeded_networks_start_equal_and_leave_the_global_rng_alone(photos):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = train_transformer("mosaic", photos, steps=0, **TINY)
    after = torch.rand(3)
    b = train_transformer("mosaic", photos, steps=0, **TINY)
    assert torch.equal(after, expected)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_instance_norm_checker_accepts_torch_and_names_common_mistakes(capsys):
    from nst_helpers.checks import check_instance_norm

    def norm(x, dims=(2, 3), unbiased=False, eps=1e-5):
        mean = x.mean(dims, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(dims, unbiased=unbiased, keepdim=True) + eps)

    assert check_instance_norm(torch.nn.functional.instance_norm)
    assert check_instance_norm(norm)
    capsys.readouterr()
    for wrong, says in [
        (lambda x: norm(x, dims=(0, 2, 3)), "batch statistics"),
        (lambda x: norm(x, dims=(1, 2, 3)), "layer statistics"),
        (lambda x: norm(x, unbiased=True), "unbiased"),
        (lambda x: norm(x, eps=0.0), "eps"),
        (lambda x: x - x.mean((2, 3), keepdim=True), "only subtracts"),
        (lambda x: norm(x).detach(), "autograd"),
    ]:
        assert not check_instance_norm(wrong)
        assert says in capsys.readouterr().out


# ---- training ------------------------------------------------------------------------------


def test_training_lowers_the_loss(tmp_path):
    # One photo exactly the crop size: every step sees the same image (up to a flip).
    photo = _photo(tmp_path / "one.png", size=(32, 32))
    net = train_transformer(
        "brush_strokes", [photo], steps=15, image_size=32, batch_size=1, device="cpu",
        weights="random", seed=0, channels=8, residual_blocks=1, **LAYERS,
    )  # fmt: skip
    totals = [r["total"] for r in net.history]
    assert np.mean(totals[-3:]) < 0.5 * totals[0]


def test_history_records_every_step_with_its_parts(trained):
    history = trained.history
    assert [r["step"] for r in history] == [1, 2, 3]
    s = trained.settings
    layers = s["style_layers"]
    for r in history:
        assert {"total", "content", "style", "tv", "seconds", "lr"} <= set(r)
        assert {f"style/{n}" for n in layers} <= set(r)
        assert all(isinstance(v, float) for k, v in r.items() if k != "step")
        assert r["style"] == pytest.approx(sum(r[f"style/{n}"] for n in layers), rel=1e-5)
        total = s["content_weight"] * r["content"] + s["style_weight"] * r["style"]
        assert r["total"] == pytest.approx(total + s["tv_weight"] * r["tv"], rel=1e-5)
    assert trained.random_weights and not trained.interrupted and not trained.training


def test_callback_false_and_ctrl_c_keep_the_network_so_far(photos):
    stopped = train_transformer(
        "mosaic", photos, steps=10, callback=lambda r: r["step"] < 2, **TINY, **LAYERS
    )
    assert len(stopped.history) == 2 and stopped.interrupted

    def ctrl_c(record):
        if record["step"] == 2:
            raise KeyboardInterrupt

    interrupted = train_transformer("mosaic", photos, steps=10, callback=ctrl_c, **TINY, **LAYERS)
    assert len(interrupted.history) == 2 and interrupted.interrupted
    assert interrupted.stylize("chelsea", max_size=24).size == (24, 16)


def test_ctrl_c_while_a_checkpoint_is_written_waits_for_the_write(
    photos, tmp_path, ctrl_c_in_first_save
):
    # the twin of stylize's (tests/test_interrupts.py): torch.save cut short raised its own
    # RuntimeError, so a Ctrl-C during a checkpoint write crashed the training
    ck = tmp_path / "net.ckpt"
    net = train_transformer("mosaic", photos, steps=6, checkpoint=ck, checkpoint_every=1,
                            **TINY, **LAYERS)  # fmt: skip
    assert net.interrupted and len(net.history) == 1  # stopped once the write was done
    assert torch.load(ck, weights_only=True)["step"] == 1  # written whole


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_keeps_fp32_losses_and_weights(photos, precision):
    net = train_transformer(
        "mosaic", photos, steps=1, tv_weight=1.0, precision=precision, **TINY, **LAYERS
    )
    assert net.settings["precision"] == precision
    assert all(np.isfinite(r["total"]) and r["tv"] > 0 for r in net.history)
    assert all(p.dtype == torch.float32 for p in net.parameters())


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(steps=-1), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(image_size=8), "image_size"),
        (dict(style_weight=float("nan")), "style_weight"),
        (dict(lr=0.0), "lr"),
        (dict(style_layers=("conv9_9",)), "conv9_9"),
        (dict(checkpoint_every=2), "checkpoint"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(photos, change, fragment):
    with pytest.raises(ValueError, match=fragment):
        train_transformer("mosaic", photos, **{**TINY, "steps": 1, **change})


def test_checkpoint_resume_gives_the_uninterrupted_weights(photos, tmp_path):
    ck = tmp_path / "train.ckpt"
    straight = train_transformer("ink_wash", photos, steps=4, **TINY, **LAYERS)
    first = train_transformer("ink_wash", photos, steps=2, checkpoint=ck, **TINY, **LAYERS)
    assert len(first.history) == 2 and ck.exists()
    resumed = train_transformer(
        "ink_wash", photos, steps=4, checkpoint=ck, resume=ck, **TINY, **LAYERS
    )
    assert [r["total"] for r in resumed.history] == [r["total"] for r in straight.history]
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    with pytest.raises(ValueError, match="lr"):
        train_transformer("ink_wash", photos, steps=5, lr=0.5, resume=ck, **TINY, **LAYERS)
    # a checkpoint is also a model file
    assert len(TransformerNet.load(ck).history) == 4


def test_checkpoint_never_replaces_a_foreign_file(photos, tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        train_transformer("mosaic", photos, steps=1, checkpoint=precious, **TINY)
    assert precious.read_text() == "mine"


def test_checkpoint_that_cannot_be_written_is_refused_before_any_step(photos, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    steps = []
    with pytest.raises(ValueError, match="not a folder"):
        train_transformer(
            "mosaic",
            photos,
            steps=2,
            checkpoint=tmp_path / "notes.txt" / "train.ckpt",
            callback=steps.append,
            **TINY,
        )
    assert steps == [] and (tmp_path / "notes.txt").read_text() == "mine"


# ---- files ---------------------------------------------------------------------------------


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    loaded = TransformerNet.load(path)
    x = torch.rand(1, 3, 21, 30)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), trained(x), rtol=0, atol=0)
    assert loaded.history == trained.history and loaded.settings == trained.settings
    assert loaded.random_weights and not loaded.training
    with pytest.raises(FileExistsError):
        trained.save(path)
    trained.save(path, overwrite=True)


class _Boom:
    def __reduce__(self):
        return (open, (str(_Boom.marker), "w"))


def _foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    state = tmp_path / "vgg.pth"
    torch.save({"0.weight": torch.zeros(2)}, state)
    stylize_ck = tmp_path / "stylize.ckpt"
    torch.save({"version": 1, "param": {}, "best_x": None}, stylize_ck)
    evil = tmp_path / "evil.pt"
    _Boom.marker = tmp_path / "pwned"
    evil.write_bytes(pickle.dumps(_Boom()))
    return [(text, "not a TransformerNet"), (state, "not a TransformerNet"),
            (stylize_ck, "stylize checkpoint"), (evil, "not a TransformerNet")]  # fmt: skip


PICKLE_NOTE = "ignore:Detected pickle protocol:UserWarning"  # torch notes the foreign pickle


@pytest.mark.filterwarnings(PICKLE_NOTE)
def test_load_refuses_foreign_files_without_running_them(tmp_path):
    for path, fragment in _foreign_files(tmp_path):
        with pytest.raises(ModelFileError, match=fragment) as info:
            TransformerNet.load(path)
        assert path.name in str(info.value)
    assert not (tmp_path / "pwned").exists()  # weights_only: the pickle's code never ran
    with pytest.raises(FileNotFoundError):
        TransformerNet.load(tmp_path / "missing.pt")


# ---- ONNX ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_net() -> TransformerNet:
    """Every layer type, fewer of them: export time grows with the number of operations."""
    torch.manual_seed(0)
    net = TransformerNet(channels=8, residual_blocks=1).eval()
    with torch.no_grad():  # random instance-norm affines, so the test does not rely on 1 and 0
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net


@pytest.fixture(scope="module")
def onnx_file(small_net, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return small_net.export_onnx(path)  # exporter="auto": torch.export where available


@pytest.mark.parametrize("hw", [(37, 53), (64, 48)])
def test_onnx_export_matches_pytorch_at_other_sizes(small_net, onnx_file, hw):
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "image" and inp.shape[:2] == [1, 3]
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(hw[0]))
    (y,) = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        expected = small_net(x).numpy()
    assert y.shape == (1, 3, *hw)
    assert np.abs(y - expected).max() <= 2 / 255


def test_run_onnx_matches_stylize_and_export_never_overwrites(small_net, onnx_file):
    a = np.asarray(run_onnx(onnx_file, "coffee", max_size=40), dtype=int)
    b = np.asarray(small_net.stylize("coffee", max_size=40), dtype=int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 2
    with pytest.raises(FileExistsError):
        small_net.export_onnx(onnx_file)


@pytest.mark.parametrize("module", ["onnx", "onnxscript"])
def test_missing_export_extra_names_it(trained, tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ExportUnavailableError, match=r"pip install nst-helpers\[export\]"):
        trained.export_onnx(tmp_path / "m.onnx", exporter="dynamo")
    assert not (tmp_path / "m.onnx").exists()
    assert "[export]" in EXPORT_HINT


def test_dev_installs_the_export_extra():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extras = extras["project"]["optional-dependencies"]
    assert set(extras["export"]) <= set(extras["dev"])
    assert {r.split(">")[0] for r in extras["export"]} == {"onnx", "onnxruntime", "onnxscript"}


# ---- training photos -----------------------------------------------------------------------


def test_photo_sources_and_random_crops(photos, tmp_path):
    files = photo_sources(photos)
    assert [p.name for p in files] == ["p0.png", "p1.png", "p2.png"]
    assert len(photo_sources("samples")) == 4
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photos"):
        photo_sources(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        photo_sources(tmp_path / "nowhere")
    a = RandomCrops(files, 24, torch.Generator().manual_seed(5)).batch(6)
    b = RandomCrops(files, 24, torch.Generator().manual_seed(5)).batch(6)
    assert a.shape == (6, 3, 24, 24) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    # a photo smaller than the crop is enlarged, not refused
    small = RandomCrops([Image.new("RGB", (10, 12), (255, 0, 0))], 24, torch.Generator())
    assert small.batch(1).shape == (1, 3, 24, 24)


def test_download_offline_is_a_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(PhotoUnavailableError, match="your own photos"):
        download_photos("flowers102", root=tmp_path)


# ---- command line --------------------------------------------------------------------------

TRAIN = ["--steps", "2", "--size", "32", "--batch-size", "1", "--weights", "random",
         "--device", "cpu", "--seed", "0", "--quiet"]  # fmt: skip


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_cli_train_then_apply(photos, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert main(["train", "mosaic", "--images", str(photos), "-o", str(model), *TRAIN]) == 0
    assert "RANDOM" in capsys.readouterr().err
    assert len(TransformerNet.load(model).history) == 2
    out = tmp_path / "out"
    extra = _photo(tmp_path / "extra.jpg")
    assert main(["apply", str(model), str(photos), extra, "-o", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["extra.png", "p0.png", "p1.png", "p2.png"]
    assert Image.open(out / "p1.png").size == (40, 36)
    single = tmp_path / "single.jpg"
    assert main(["apply", str(model), extra, "-o", str(single), "--size", "20"]) == 0
    assert Image.open(single).size == (20, 18)


def test_cli_never_overwrites_without_asking(photos, tmp_path, trained, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"precious")
    assert main(["train", "mosaic", "--images", str(photos), "-o", str(model), *TRAIN]) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert model.read_bytes() == b"precious"
    model.unlink()
    trained.save(model)
    out = tmp_path / "out"
    out.mkdir()
    (out / "p2.png").write_bytes(b"mine")
    assert main(["apply", str(model), str(photos), "-o", str(out)]) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["p2.png"]  # nothing written at all
    assert (out / "p2.png").read_bytes() == b"mine"
    assert main(["apply", str(model), str(photos), "-o", str(out), "--overwrite", "--quiet"]) == 0
    assert Image.open(out / "p2.png").size == (40, 36)
    # an input is never an output, whatever --overwrite says
    photo = photos / "p0.png"
    before = photo.read_bytes()
    assert main(["apply", str(model), str(photo), "-o", str(photo), "--overwrite"]) == 2
    assert photo.read_bytes() == before


@pytest.mark.filterwarnings(PICKLE_NOTE)
def test_cli_refuses_a_model_that_is_not_one(tmp_path, photos, capsys):
    for path, _ in _foreign_files(tmp_path):
        assert main(["apply", str(path), str(photos), "-o", str(tmp_path / "o")]) == 2
        assert path.name in _one_line_error(capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "mosaic", "--images", "/no/such/folder"], "/no/such/folder"),
        (["train", "nope.jpg", "--images", "samples"], "nope.jpg"),
        (["train", "mosaic", "--images", "samples", "--size", "4"], "image_size"),
    ],
)
def test_cli_train_bad_input_exits_2(tmp_path, capsys, argv, fragment):
    out = tmp_path / "m.pt"
    assert main([*argv, "-o", str(out), *TRAIN[:2], "--weights", "random", "--quiet"]) == 2
    assert fragment in _one_line_error(capsys)
    assert not out.exists()


def _ctrl_c_in_forward(monkeypatch, at_call: int, times: int = 1) -> None:
    """Send SIGINT ``times`` times from inside the network's forward pass number ``at_call``
    (one per training step): a Ctrl-C in the middle of a step."""
    import signal

    real = TransformerNet.forward
    calls = {"n": 0}

    def forward(self, x):
        calls["n"] += 1
        if calls["n"] == at_call:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        return real(self, x)

    monkeypatch.setattr(TransformerNet, "forward", forward)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_ctrl_c_inside_a_training_step_stops_after_that_step(photos, tmp_path, monkeypatch):
    ck, handler = tmp_path / "train.ckpt", signal.getsignal(signal.SIGINT)
    straight = train_transformer("mosaic", photos, steps=4, **TINY, **LAYERS)
    _ctrl_c_in_forward(monkeypatch, at_call=2)
    stopped = train_transformer("mosaic", photos, steps=4, checkpoint=ck, **TINY, **LAYERS)
    monkeypatch.undo()
    assert stopped.interrupted and [r["step"] for r in stopped.history] == [1, 2]
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's handler is back
    resumed = train_transformer("mosaic", photos, steps=4, resume=ck, **TINY, **LAYERS)
    assert [r["total"] for r in resumed.history] == [r["total"] for r in straight.history]


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_second_ctrl_c_stops_training_at_once_and_keeps_the_last_whole_checkpoint(
    photos, tmp_path, monkeypatch
):
    ck = tmp_path / "train.ckpt"
    _ctrl_c_in_forward(monkeypatch, at_call=3, times=2)
    stopped = train_transformer(
        "mosaic", photos, steps=5, checkpoint=ck, checkpoint_every=1, **TINY, **LAYERS
    )
    monkeypatch.undo()
    assert stopped.interrupted and len(stopped.history) == 2
    assert stopped.stylize("chelsea", max_size=24).size == (24, 16)  # still a usable network
    assert torch.load(ck, weights_only=True)["step"] == 2  # the torn step 3 was not saved


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_cli_train_stopped_by_ctrl_c_saves_the_network_so_far(photos, tmp_path, monkeypatch):
    _ctrl_c_in_forward(monkeypatch, at_call=2)  # the first Ctrl-C lets step 2 finish
    model = tmp_path / "m.pt"
    argv = ["train", "mosaic", "--images", str(photos), "-o", str(model), *TRAIN, "--steps", "5"]
    assert main(argv) == 130
    monkeypatch.undo()
    saved = TransformerNet.load(model)
    assert len(saved.history) == 2


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_cli_apply_stopped_by_ctrl_c_writes_the_image_in_hand(
    photos, tmp_path, monkeypatch, trained
):
    model = tmp_path / "m.pt"
    trained.save(model)
    _ctrl_c_in_forward(monkeypatch, at_call=2)  # while the second of three photos is painted
    out = tmp_path / "out"
    assert main(["apply", str(model), str(photos), "-o", str(out), "--quiet"]) == 130
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]


def test_cli_train_missing_device_is_the_machine_exit_3(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["train", "mosaic", "--images", str(photos), "-o", str(tmp_path / "m.pt"), *TRAIN]
    argv[argv.index("cpu")] = "cuda"
    assert main(argv) == 3
    assert "CUDA" in _one_line_error(capsys)
    assert not (tmp_path / "m.pt").exists()


def test_cli_train_shows_warnings_other_than_random_weights(photos, tmp_path, monkeypatch):
    import warnings

    import nst_helpers.feedforward as ff

    real = ff.train_transformer

    def noisy(*args, **kwargs):
        warnings.warn("something the user should see", UserWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ff, "train_transformer", noisy)
    model = tmp_path / "model.pt"
    with pytest.warns(UserWarning, match="something the user should see"):
        assert main(["train", "mosaic", "--images", str(photos), "-o", str(model), *TRAIN]) == 0
