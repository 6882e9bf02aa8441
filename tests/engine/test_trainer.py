"""End-to-end training on generated data: outputs, resume equivalence, safety."""

import json

import pytest
import torch

from patchswap.config import load_config
from patchswap.engine import Trainer, train
from patchswap.engine.checkpoint import load_checkpoint
from patchswap.errors import PatchswapError


def test_two_epoch_patchswap_run_writes_the_run_folder(tiny_run, tmp_path):
    summary = train(load_config(None, tiny_run()), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    for name in ("config.yaml", "metrics.jsonl", "last.pt", "best.pt", "summary.json"):
        assert (folder / name).is_file(), name
    assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in (
        "train_loss",
        "train_ce_a",
        "train_ce_b",
        "train_kl_ab",
        "train_kl_ba",
        "test_top1",
        "test_top5",
        "lr",
        "p_r",
        "seconds",
    ):
        assert key in records[0], key
    parts = sum(records[0][k] for k in ("train_ce_a", "train_ce_b", "train_kl_ab", "train_kl_ba"))
    assert parts == pytest.approx(records[0]["train_loss"], rel=1e-5)
    assert summary == json.loads((folder / "summary.json").read_text())
    assert summary["best_top1"] == max(r["test_top1"] for r in records)
    assert summary["last_top5"] == records[-1]["test_top5"]


def test_hard_label_run_logs_ce(tiny_run):
    summary = train(load_config(None, tiny_run("method=hard_label", "epochs=1")), quiet=True)
    assert summary["method"] == "hard_label" and summary["epochs_done"] == 1


@pytest.mark.parametrize("method", ["patchswap", "hard_label"])
def test_resume_is_bit_for_bit(tiny_run, tmp_path, method):
    full = tiny_run(
        f"method={method}",
        "epochs=3",
        "name=full",
        "schedule.name=multistep",
        "schedule.milestones=[2]",
        "data.augment=true",
    )
    train(load_config(None, full), quiet=True)
    # The same run, interrupted during epoch 2, then resumed from its last checkpoint.
    part = [o for o in full if not o.startswith("name=")] + ["name=part"]
    trainer = Trainer(load_config(None, part), quiet=True)
    original = trainer.train_epoch

    def stop_after_first(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(epoch)

    trainer.train_epoch = stop_after_first
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    folder = tmp_path / "runs" / "part"
    assert load_checkpoint(folder)["epoch"] == 1
    train(None, resume=folder, quiet=True)

    a = load_checkpoint(tmp_path / "runs" / "full")
    b = load_checkpoint(folder)
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    metrics = [
        (tmp_path / "runs" / n / "metrics.jsonl").read_text().splitlines() for n in ("full", "part")
    ]
    strip = [
        [{k: v for k, v in json.loads(line).items() if "second" not in k} for line in m]
        for m in metrics
    ]
    assert strip[0] == strip[1]


def test_refuses_to_overwrite_and_resume_past_the_end(tiny_run, tmp_path):
    cfg = load_config(None, tiny_run("epochs=1"))
    train(cfg, quiet=True)
    with pytest.raises(PatchswapError, match="already holds a run; continue it with --resume"):
        train(load_config(None, tiny_run("epochs=1")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    with pytest.raises(PatchswapError, match="already finished its 1 epochs"):
        train(None, resume=folder, quiet=True)
    summary = train(None, resume=folder, overrides=["epochs=2"], quiet=True)
    assert summary["epochs_done"] == 2


def test_checkpoint_from_another_model_is_a_clear_error(tiny_run, tmp_path):
    train(load_config(None, tiny_run("epochs=1")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    with pytest.raises(PatchswapError, match="does not fit this model"):
        train(None, resume=folder, overrides=["epochs=2", "model.kwargs={width: 8}"], quiet=True)


def test_bad_method_options_fail_before_training(tiny_run):
    with pytest.raises(PatchswapError, match="unknown key method.gird in method 'patchswap'"):
        train(load_config(None, tiny_run("method.gird=2")), quiet=True)
    with pytest.raises(PatchswapError, match="grid=40 is larger than the image"):
        train(load_config(None, tiny_run("method.grid=40")), quiet=True)
    with pytest.raises(PatchswapError, match="unknown method 'nope'; valid methods: at, byot, crd"):
        train(load_config(None, tiny_run("method=nope")), quiet=True)


def test_log_analysis_and_label_noise_record(tiny_run, tmp_path):
    overrides = tiny_run("epochs=1", "log_analysis=true", "data.label_noise={rate: 0.5, seed: 1}")
    train(load_config(None, overrides), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    record = json.loads((folder / "metrics.jsonl").read_text())
    assert record["kd_gradient_l1"] > 0 and 0 <= record["target_confidence_gap"] <= 1
    assert len(record["conv_gradients"]) >= 7  # resnet8: stem + 2 convs x 3 blocks
    assert all(value > 0 for value in record["conv_gradients"].values())
    noise = json.loads((folder / "label_noise.json").read_text())
    assert noise["rate"] == 0.5


def test_eval_every_evaluates_the_last_epoch_and_picks_best_among_evaluated(tiny_run, tmp_path):
    summary = train(load_config(None, tiny_run("epochs=3", "eval_every=2")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert ["test_top1" in r for r in records] == [False, True, True]
    assert summary["best_epoch"] in (2, 3)
    assert summary["best_top1"] == max(r["test_top1"] for r in records[1:])
    assert summary["last_top1"] == records[-1]["test_top1"]
    assert load_checkpoint(folder / "best.pt")["epoch"] == summary["best_epoch"]


def test_a_nonfinite_loss_stops_with_the_step_it_appeared(tiny_run):
    trainer = Trainer(load_config(None, tiny_run("method=hard_label")), quiet=True)
    forward, calls = trainer.method.forward, []

    def nan_at_step_3(model, batch):
        out = forward(model, batch)
        calls.append(1)
        if len(calls) == 4:
            out.losses["ce"] = out.losses["ce"] * float("nan")
        return out

    trainer.method.forward = nan_at_step_3
    with pytest.raises(
        PatchswapError, match="became nan or inf at epoch 1, step 3; lower optim.lr"
    ):
        trainer.fit()
    assert len(calls) == len(trainer.train_loader)  # checked at the epoch's end, no step sync


def test_in_memory_data_takes_the_device_path_on_cpu(tiny_run):
    trainer = Trainer(load_config(None, tiny_run("device=cpu")), quiet=True)
    assert trainer.loader_kind == "device"


def test_progress_off_a_terminal_is_one_line_per_epoch(tiny_run, capsys):
    train(load_config(None, tiny_run("progress=true")))
    out, err = capsys.readouterr()
    assert "\r" not in out + err
    assert [
        line.split("|")[0].strip() for line in out.splitlines() if line.startswith("epoch")
    ] == [
        "epoch   1/2",
        "epoch   2/2",
    ]
