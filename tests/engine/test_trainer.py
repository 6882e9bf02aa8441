"""End-to-end training on generated data: outputs, resume equivalence, safety."""

import json

import pytest
import torch

from patchswap.checkpoint import load_checkpoint
from patchswap.engine import Trainer
from patchswap.errors import CheckpointError, PatchswapError
from patchswap.runs import load_config, train


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


# --- nothing a user trained is lost or overwritten ----------------------------------------


def _files(folder):
    """Every file of a run folder with its bytes (TensorBoard events by name only)."""
    return {
        str(p.relative_to(folder)): b"" if "tfevents" in p.name else p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_resume_continues_in_the_folder_it_was_given(tiny_run, tmp_path):
    """A run moved elsewhere resumes there, not into the `output_dir/name` of its config,
    which here holds another run that must stay as it was."""
    train(load_config(None, tiny_run("epochs=1")), quiet=True)
    moved = tmp_path / "archive" / "ref"
    moved.parent.mkdir()
    (tmp_path / "runs" / "tiny").rename(moved)
    train(load_config(None, tiny_run("epochs=1", "seed=5")), quiet=True)
    other = tmp_path / "runs" / "tiny"
    before = _files(other)
    summary = train(None, resume=moved, overrides=["epochs=2"], quiet=True)
    assert summary["epochs_done"] == 2 and summary["seed"] == 0
    assert json.loads((moved / "summary.json").read_text())["epochs_done"] == 2
    assert len((moved / "metrics.jsonl").read_text().splitlines()) == 2
    assert _files(other) == before


def test_resume_refuses_another_runs_checkpoint_in_a_folder(tiny_run, tmp_path):
    train(load_config(None, tiny_run("epochs=1")), quiet=True)
    train(load_config(None, tiny_run("epochs=1", "seed=5", "name=other")), quiet=True)
    other = tmp_path / "runs" / "other"
    stray = other / "copied.pt"
    stray.write_bytes((tmp_path / "runs" / "tiny" / "last.pt").read_bytes())
    before = _files(other)
    with pytest.raises(PatchswapError, match="holds another run"):
        train(None, resume=stray, overrides=["epochs=2"], quiet=True)
    assert _files(other) == before
    # A copy of the folder's own last.pt is the same run: it resumes there.
    own = tmp_path / "runs" / "tiny"
    (own / "backup.pt").write_bytes((own / "last.pt").read_bytes())
    assert train(None, resume=own / "backup.pt", overrides=["epochs=2"], quiet=True)


def test_a_resume_that_fails_before_its_first_epoch_changes_nothing(
    tiny_run, tmp_path, monkeypatch
):
    train(load_config(None, tiny_run("epochs=1", "data.label_noise={rate: 0.5}")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    before = _files(folder)

    def fail(self, epoch):
        raise PatchswapError("stopped in the first new epoch")

    monkeypatch.setattr(Trainer, "train_epoch", fail)
    with pytest.raises(PatchswapError, match="stopped in the first new epoch"):
        train(None, resume=folder, overrides=["epochs=3"], quiet=True)
    assert _files(folder) == before  # config.yaml still says epochs 1, metrics untouched


def test_a_failed_checkpoint_write_keeps_the_last_one_and_resumes(tiny_run, tmp_path, monkeypatch):
    """A full disk in epoch 2: one line naming the fix, epoch 1's last.pt intact, no temp file
    left, and the resumed run ends exactly where an uninterrupted one does."""
    overrides = tiny_run("epochs=3", "schedule.name=constant")
    folder = tmp_path / "runs" / "tiny"
    real_save = torch.save

    def full_disk(state, handle, *args, **kwargs):
        if isinstance(state, dict) and state.get("epoch") == 2 and "optimizer" in state:
            handle.write(b"partial")
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
        return real_save(state, handle, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", full_disk)
        with pytest.raises(PatchswapError) as error:
            train(load_config(None, overrides), quiet=True)
    message = str(error.value)
    assert "epoch 2 could not be saved" in message and "file write failed" in message
    assert f"patchswap train --resume {folder}" in message and "\n" not in message
    assert load_checkpoint(folder)["epoch"] == 1
    assert not list(folder.glob(".*.tmp"))
    resumed = train(None, resume=folder, quiet=True)
    full = train(load_config(None, [*overrides, "name=full"]), quiet=True)
    assert resumed["last_top1"] == full["last_top1"]
    assert torch.equal(
        load_checkpoint(folder)["model"]["fc.weight"],
        load_checkpoint(tmp_path / "runs" / "full")["model"]["fc.weight"],
    )


def test_temp_files_of_a_killed_write_are_removed_on_the_next_start(tiny_run, tmp_path):
    train(load_config(None, tiny_run("epochs=1")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    stale = [folder / ".last.pt.k1ll3d.tmp", folder / ".summary.json.x.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    train(None, resume=folder, overrides=["epochs=2"], quiet=True)
    assert not any(path.exists() for path in stale)


def test_an_output_dir_that_cannot_be_written_fails_before_data(tiny_run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    overrides = tiny_run("epochs=1", f"output_dir={blocker}", "data.root=/no/such/folder")
    with pytest.raises(PatchswapError, match="cannot write into output_dir="):
        train(load_config(None, overrides), quiet=True)


def test_method_state_of_another_version_is_one_clear_error(tiny_run, tmp_path):
    """A checkpoint whose method state does not fit (e.g. BYOT branches of an older release)
    stops the resume with a CheckpointError naming the part, not a bare RuntimeError."""
    train(load_config(None, tiny_run("epochs=1", "method=byot")), quiet=True)
    last = tmp_path / "runs" / "tiny" / "last.pt"
    state = load_checkpoint(last)
    state["method"] = {f"old.{k}": v for k, v in state["method"].items()}
    torch.save(state, last)
    before = _files(last.parent)
    with pytest.raises(CheckpointError, match="its method state does not fit this run's 'byot'"):
        train(None, resume=last.parent, overrides=["epochs=2"], quiet=True)
    assert _files(last.parent) == before
