"""The checkpoint schema module: format check, atomic writes, rebuilding the model."""

from __future__ import annotations

import pytest
import torch

from patchswap.checkpoint import (
    CHECKPOINT_FORMAT,
    best_checkpoint,
    load_checkpoint,
    rebuild_model,
    save_checkpoint,
)
from patchswap.errors import CheckpointError
from patchswap.infra.atomic_files import WriteError
from patchswap.models import build_model

CONFIG = {"model": {"name": "resnet8", "kwargs": {"width": 4}}}


def checkpoint() -> dict:
    torch.manual_seed(0)
    model = build_model("resnet8", 10, 1, width=4)
    return {"format": CHECKPOINT_FORMAT, "epoch": 3, "config": CONFIG, "model": model.state_dict()}


def test_a_checkpoint_of_a_future_format_is_refused_in_one_line(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({**checkpoint(), "format": CHECKPOINT_FORMAT + 1}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path)
    message = str(error.value)
    assert str(path) in message and f"has format {CHECKPOINT_FORMAT + 1}" in message
    assert "upgrade patchswap" in message and "\n" not in message
    save_checkpoint({**checkpoint(), "format": "1"}, path)
    with pytest.raises(CheckpointError, match="has format '1'; it is not a checkpoint"):
        load_checkpoint(path)


def test_rebuild_model_holds_the_saved_weights_and_checks_first(tmp_path):
    state = checkpoint()
    save_checkpoint(best_checkpoint({**state, "run_id": "r"}, {"epoch": 3}), tmp_path / "best.pt")
    loaded = load_checkpoint(tmp_path / "best.pt")
    assert loaded["metrics"] == {"epoch": 3} and "optimizer" not in loaded
    model = rebuild_model(loaded, "best.pt", 10, 1)
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())
    seen = []
    rebuild_model(loaded, "best.pt", 10, 1, lambda m, weights: seen.append(len(weights)))
    assert seen == [len(state["model"])]
    with pytest.raises(
        CheckpointError, match="'best.pt' holds a 'resnet8' model that does not fit"
    ):
        rebuild_model(loaded, "best.pt", 5, 1)
    with pytest.raises(CheckpointError, match="'x.pt' holds no model and model config"):
        rebuild_model({"config": {}}, "x.pt", 10, 1)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(checkpoint(), path)
    with pytest.raises(AttributeError):  # a bug, not a full disk: raised as it came
        save_checkpoint({"unpicklable": lambda: None}, path)

    def full_disk(state, handle):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(WriteError, match=r"last\.pt \(\[Errno 28\] No space left on device\); the"):
        save_checkpoint(checkpoint(), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left
