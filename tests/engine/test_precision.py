"""Recipe switches for precision, memory format and the lr scaling rule."""

import json

import pytest
import torch

from patchswap.engine.precision import memory_format
from patchswap.engine.trainer import effective_lr
from patchswap.errors import ConfigError, PatchswapError
from patchswap.models import build_model
from patchswap.runs import load_config, train


def test_bf16_autocast_and_channels_last_train_with_float32_losses(tiny_run, tmp_path):
    # width 8: with width 4 the strided 1x1 shortcut hits the oneDNN hang `memory_format` avoids
    overrides = tiny_run("precision=bf16", "channels_last=true", "epochs=1")
    train(load_config(None, [*overrides, "model.kwargs={width: 8}"]), quiet=True)
    record = json.loads((tmp_path / "runs" / "tiny" / "metrics.jsonl").read_text())
    assert all(isinstance(record[k], float) for k in ("train_ce_a", "train_kl_ab", "test_loss"))
    assert record["train_loss"] == record["train_loss"]  # not NaN


def test_fp16_needs_cuda(tiny_run):
    with pytest.raises(ConfigError, match="precision=fp16 needs CUDA"):
        train(load_config(None, tiny_run("precision=fp16", "device=cpu")), quiet=True)


def test_linear_lr_scaling_rule():
    cfg = load_config(None, ["optim.lr=0.1", "batch_size=256", "optim.base_batch_size=64"])
    assert effective_lr(cfg) == 0.1
    cfg = load_config(
        None,
        ["optim.lr=0.1", "batch_size=256", "optim.base_batch_size=64", "optim.lr_scaling=linear"],
    )
    assert effective_lr(cfg) == pytest.approx(0.4)


def test_channels_last_auto_is_cpu_only_and_avoids_small_strided_pointwise_convs():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    wide, thin = build_model("resnet8", 10, 1), build_model("resnet8", 10, 1, width=4)
    assert memory_format("auto", cpu, wide) == torch.channels_last
    assert memory_format("auto", cuda, wide) == torch.contiguous_format
    # resnet8 width 4 has a 4 -> 8 stride-2 1x1 shortcut: the oneDNN backward that hangs
    assert memory_format("auto", cpu, thin) == torch.contiguous_format
    assert memory_format(True, cuda, thin) == torch.channels_last
    assert memory_format(False, cpu, wide) == torch.contiguous_format


@pytest.mark.parametrize(
    "override", ["precision=fp8", "data.loader=gpu", "optim.lr_scaling=sqrt", "channels_last=x"]
)
def test_bad_switches_are_one_line(override):
    with pytest.raises(ConfigError, match="valid:"):
        load_config(None, [override])


def test_global_batch_must_divide_over_processes(tiny_run, monkeypatch):
    from patchswap.engine import trainer
    from patchswap.engine.distributed import DistEnv

    monkeypatch.setattr(trainer, "init_distributed", lambda cuda: DistEnv(0, 3, 0))
    with pytest.raises(PatchswapError, match="batch_size=8 .* divisible by the 3 processes"):
        trainer.Trainer(load_config(None, tiny_run()), quiet=True)
