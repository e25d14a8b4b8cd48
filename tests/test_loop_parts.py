"""The pieces the optimisation loop is built from, each on its own: the fp16 loss scaler, the
best-image tracker, the checkpoint path check and the memory options (see optimize/)."""

from __future__ import annotations

import math

import pytest
import torch

from nst_helpers import StyleConfig, estimate_memory, save_checkpoint
from nst_helpers.optimize import memory as mem
from nst_helpers.optimize.resume import check_checkpoint_path
from nst_helpers.optimize.scaler import LossScaler
from nst_helpers.optimize.state import Best


def _backward(scaler: LossScaler, factor: float) -> tuple[bool, torch.Tensor]:
    x = torch.zeros(4, requires_grad=True)
    ok = scaler.backward((x.half() * torch.tensor(factor, dtype=torch.float16)).float().sum(), [x])
    return ok, x.grad


def test_loss_scaler_grows_after_good_steps_up_to_its_cap():
    scaler = LossScaler(scale=2.0**13, growth_interval=3, max_scale=2.0**14)
    for _ in range(3):
        ok, grad = _backward(scaler, 0.001)  # the scale (8192) and 8.2 both fit fp16
        assert ok and torch.allclose(grad, torch.full((4,), 0.001), rtol=1e-3)
    assert scaler.scale == 2.0**14 and scaler.good_steps == 3
    for _ in range(3):
        _backward(scaler, 0.001)
    assert scaler.scale == 2.0**14  # capped


def test_loss_scaler_halves_on_overflow_and_leaves_the_gradients():
    scaler = LossScaler(scale=2.0**16)
    scaler.good_steps = 5
    ok, grad = _backward(scaler, 2.0)  # 2 * 65536 overflows fp16
    assert not ok and not torch.isfinite(grad).all()
    assert scaler.scale == 2.0**15 and scaler.good_steps == 0


def test_loss_scaler_skips_parameters_without_gradients():
    # a training network's unused or frozen layer has no .grad after backward
    used, unused = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    scaler = LossScaler(scale=1024.0)
    assert scaler.backward((used.half() * 3).float().sum(), [used, unused])
    assert torch.equal(used.grad, torch.full((3,), 3.0)) and unused.grad is None


def test_loss_scaler_state_round_trips_and_reads_a_grad_scaler():
    scaler = LossScaler(scale=512.0)
    scaler.good_steps = 17
    again = LossScaler()
    again.load_state_dict(scaler.state_dict())
    assert (again.scale, again.good_steps) == (512.0, 17)
    theirs = torch.amp.GradScaler("cpu", init_scale=1024.0).state_dict()
    again.load_state_dict(theirs)  # a train_transformer checkpoint's "scaler" entry
    assert (again.scale, again.good_steps) == (1024.0, 0)


def test_best_keeps_a_copy_of_lower_finite_losses_only():
    best, x = Best(), torch.ones(1, 3, 2, 2)
    best.offer(x, math.nan, 1)
    assert best.x is None and best.loss == math.inf
    best.offer(x, 2.0, 1)
    x.add_(1)  # the caller's tensor moves on; the kept image does not
    assert best.loss == 2.0 and best.step == 1 and (best.x == 1).all()
    best.offer(x, 2.0, 2)
    assert best.step == 1  # a tie is not better...
    best.offer(x, 2.0, 3, ties=True)
    assert best.step == 3 and (best.x == 2).all()  # ...unless asked (the last image wins ties)
    best.reset()
    assert best.x is None and best.loss == math.inf and best.step == 3


def test_check_checkpoint_path_vets_an_existing_file_with_the_callers_loader(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("precious")
    with pytest.raises(ValueError, match="not a checkpoint; refusing to overwrite"):
        check_checkpoint_path(other)
    assert check_checkpoint_path(other, resume=other) == other  # the file being resumed
    assert check_checkpoint_path(tmp_path / "new.ckpt") == tmp_path / "new.ckpt"
    with pytest.raises(ValueError, match="is a directory"):
        check_checkpoint_path(tmp_path)

    def training_only(path):
        raise ValueError("not ours")

    ours = tmp_path / "run.ckpt"
    save_checkpoint(ours, {"anything": 1})
    with pytest.raises(ValueError, match="is not a training checkpoint"):
        check_checkpoint_path(ours, load=training_only, kind="training checkpoint")
    assert other.read_text() == "precious"


def test_memory_options_of_a_config_are_its_memory_fields():
    cfg = StyleConfig(style_layer_weights=[1, 0, 0, 0, 1], pooling="avg", optimizer="lbfgs")
    options = mem.MemoryOptions.of(cfg, precision="bf16", n_styles=2)
    assert options == mem.memory_options(**cfg.memory_options("bf16"), n_styles=2)
    assert options.style_layers == ("relu1_1", "relu5_1")  # the layers that count
    assert mem.MemoryOptions.of(cfg, precision="fp32", optimizer="adam").optimizer == "adam"
    assert estimate_memory(64, options) == estimate_memory(
        64, **cfg.memory_options("bf16"), n_styles=2
    )


@pytest.mark.parametrize(
    ("keywords", "error", "match"),
    [
        ({"precision": "auto"}, ValueError, "resolve"),  # "auto" is a StyleConfig value, not a size
        ({"steps": 10}, TypeError, "steps"),  # a StyleConfig field that does not decide memory
        ({"pooling": "min"}, ValueError, "pooling"),  # StyleConfig's own check
    ],
)
def test_memory_options_are_checked_once_by_the_right_rules(keywords, error, match):
    with pytest.raises(error, match=match):
        mem.memory_options(**keywords)


def test_guard_resolves_auto_checkpointing(monkeypatch):
    options = mem.memory_options(content_layers=["conv2_2"], style_layers=["conv1_1"])
    plain = estimate_memory((21, 32), options)
    monkeypatch.setattr(mem, "available_memory", lambda device, after_oom=False: plain - 1)
    cpu = torch.device("cpu")
    assert mem.guard((21, 32), cpu, options, "auto").checkpointing is True
    assert mem.guard((21, 32), cpu, options, "auto", check=False).checkpointing is False
    with pytest.raises(mem.InsufficientMemoryError):
        mem.guard((21, 32), cpu, options, False)
