"""The Hugging Face integration: `PatchSwapTrainer.compute_loss` is `PatchSwapObjective`'s loss
for a plain torch module and for a transformers image classifier (`.logits`), and its callback
steps the `p_r` schedule once per epoch."""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from tiny_models import assert_ranks_share_the_adaptive_p, read_rank_records, tiny_net
from torch import nn
from torch.utils.data import Dataset

from patchswap import PatchSwapObjective, ProgressivePr
from patchswap.errors import PatchswapError
from patchswap.integrations import MissingExtraError, ScheduledObjective

transformers = pytest.importorskip("transformers")
from patchswap.integrations.huggingface import PatchSwapTrainer  # noqa: E402

CLASSES, SAMPLES, BATCH = 4, 32, 16


class Images(Dataset):
    """Items as an image processor gives them: `{"pixel_values": (C, H, W), "labels": int}`."""

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.y = torch.arange(SAMPLES) % CLASSES
        self.x = torch.rand(SAMPLES, 3, 16, 16, generator=generator) + 0.3 * self.y.view(
            -1, 1, 1, 1
        )

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"pixel_values": self.x[i], "labels": int(self.y[i])}


def tiny_hf_resnet() -> nn.Module:
    """A randomly initialized transformers classifier (no download): returns `.logits`."""
    config = transformers.ResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        num_labels=CLASSES,
    )
    return transformers.ResNetForImageClassification(config)


class Logits(nn.Module):
    """The reference's own unwrapping of a transformers output (not the integration's)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).logits


MODELS = {
    "torch": (lambda: tiny_net(CLASSES), lambda m: m),
    "transformers": (tiny_hf_resnet, Logits),
}


class Recording(PatchSwapTrainer):
    """Keeps each training batch, the weights it met and the loss `compute_loss` returned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps: list[tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, float]] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        before = copy.deepcopy(model.state_dict())
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            x, y = inputs["pixel_values"], inputs["labels"]
            self.steps.append((before, x, y, result.detach(), self.objective.p))
        return result


def arguments(tmp_path: Path, **overrides: Any) -> transformers.TrainingArguments:
    options = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=SAMPLES,
        num_train_epochs=2,
        learning_rate=0.05,
        report_to="none",
        save_strategy="no",
        logging_strategy="epoch",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    return transformers.TrainingArguments(**{**options, **overrides})


@pytest.mark.parametrize("kind", MODELS)
def test_compute_loss_equals_the_objective_and_progressive_pr_steps_per_epoch(kind, tmp_path):
    build, unwrap = MODELS[kind]
    torch.manual_seed(0)
    model = build()
    initial = copy.deepcopy(model.state_dict())
    trainer = Recording(
        model=model,
        args=arguments(tmp_path),
        train_dataset=Images(),
        objective=ScheduledObjective(ProgressivePr(2), grid=4),
        generator=torch.Generator().manual_seed(5),
    )
    trainer.train()

    assert len(trainer.steps) == 2 * SAMPLES // BATCH
    # ProgressivePr(2): the paper's milestones scaled to 2 epochs -> 0.2 in epoch 1, 0.5 in 2
    assert [step[4] for step in trainer.steps] == [0.2, 0.2, 0.5, 0.5]
    generator, reference_model = torch.Generator().manual_seed(5), build()
    for before, x, y, loss, p in trainer.steps:
        reference_model.load_state_dict(before)
        reference_model.train()
        expected = PatchSwapObjective(grid=4, p=p)(
            unwrap(reference_model), x, y, generator=generator
        )
        torch.testing.assert_close(loss, expected)
    assert any(not torch.equal(initial[k], v) for k, v in model.state_dict().items())
    assert [entry["p_r"] for entry in trainer.state.log_history if "p_r" in entry] == [0.2, 0.5]


@pytest.mark.parametrize("kind", MODELS)
def test_evaluation_is_a_plain_forward_with_cross_entropy(kind, tmp_path):
    build, unwrap = MODELS[kind]
    torch.manual_seed(0)
    model, data = build(), Images(seed=1)
    trainer = PatchSwapTrainer(model=model, args=arguments(tmp_path), eval_dataset=data)
    metrics = trainer.evaluate()
    predictions = trainer.predict(data)

    model.eval()
    with torch.no_grad():
        logits = unwrap(model)(data.x)
    assert metrics["eval_loss"] == pytest.approx(F.cross_entropy(logits, data.y).item(), rel=1e-5)
    torch.testing.assert_close(torch.as_tensor(predictions.predictions), logits)
    assert predictions.label_ids.tolist() == data.y.tolist()


def test_the_trainer_names_missing_batch_keys_and_refuses_other_losses(tmp_path):
    trainer = PatchSwapTrainer(model=tiny_net(CLASSES), args=arguments(tmp_path))
    with pytest.raises(PatchswapError, match="'pixel_values' and 'labels'.*got keys \\['x'\\]"):
        trainer.compute_loss(trainer.model, {"x": torch.zeros(2, 3, 16, 16)})
    with pytest.raises(PatchswapError, match="label_smoothing_factor"):
        PatchSwapTrainer(
            model=tiny_net(CLASSES), args=arguments(tmp_path, label_smoothing_factor=0.1)
        )
    with pytest.raises(PatchswapError, match="compute_loss_func"):
        PatchSwapTrainer(
            tiny_net(CLASSES), arguments(tmp_path), compute_loss_func=lambda *a, **k: 0
        )


def test_a_missing_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "patchswap.integrations.huggingface")
    with pytest.raises(MissingExtraError, match=r"pip install patchswap\[hf\]") as err:
        importlib.import_module("patchswap.integrations.huggingface")
    assert isinstance(err.value, ImportError) and "\n" not in str(err.value)


DDP_SCRIPT = r"""
import json, sys
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import TrainerCallback, TrainingArguments
from patchswap import AdaptivePr
from patchswap.integrations.huggingface import PatchSwapTrainer, ScheduledObjective


class Images(Dataset):
    def __init__(self):
        self.y = torch.arange(32) % 4
        self.x = torch.rand(32, 3, 16, 16, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return 32

    def __getitem__(self, i):
        return {"pixel_values": self.x[i] + 0.3 * self.y[i], "labels": int(self.y[i])}


class Record(TrainerCallback):
    def __init__(self, objective):
        self.objective = objective

    def on_epoch_end(self, args, state, control, **kwargs):
        o = self.objective
        row = dict(rank=args.process_index, epoch=round(state.epoch), p=o.p,
                   accuracy=o.last_accuracy, hits=o.epoch_hits.tolist(), world=args.world_size)
        with open(f"{sys.argv[1]}/rank{args.process_index}.jsonl", "a") as out:
            out.write(json.dumps(row) + "\n")


objective = ScheduledObjective(AdaptivePr(), grid=4)
model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 4))
args = TrainingArguments(output_dir=sys.argv[1], per_device_train_batch_size=16,
                         num_train_epochs=3, learning_rate=0.05, report_to="none",
                         save_strategy="no", use_cpu=True, disable_tqdm=True, seed=0)
PatchSwapTrainer(model=model, args=args, train_dataset=Images(), objective=objective,
                 callbacks=[Record(objective)]).train()
# The Trainer leaves the gloo group open; torn down by interpreter exit instead, a rank can
# abort ("terminate called without an active exception") after training has finished.
if torch.distributed.is_initialized():
    torch.distributed.destroy_process_group()
"""


def test_ddp_ranks_pair_their_own_batches_and_share_the_adaptive_p_r(tmp_path):
    """Two CPU processes (`torchrun`, gloo) through the Trainer's DDP: each rank pairs inside its
    own batch and `AdaptivePr` reads the accuracy summed over both ranks."""
    script = tmp_path / "ddp_huggingface.py"
    script.write_text(DDP_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_PORT", "MASTER_ADDR")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run(
        [*command, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rank_records(tmp_path)
    assert {row["world"] for row in rows.values()} == {2}
    assert_ranks_share_the_adaptive_p(rows)
