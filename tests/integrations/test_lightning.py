"""The Lightning integration: the loss in `training_step` is `PatchSwapObjective`'s, and
`PatchSwapCallback` steps the `p_r` schedule once per epoch through Lightning's hooks."""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import assert_ranks_share_the_adaptive_p, read_rank_records, tiny_net
from torch.utils.data import DataLoader, TensorDataset

from patchswap import AdaptivePr, PatchSwapObjective, ProgressivePr
from patchswap.errors import PatchswapError
from patchswap.integrations import MissingExtraError, ScheduledObjective
from patchswap.pairs import in_batch_partners

pl = pytest.importorskip("lightning.pytorch")
from patchswap.integrations.lightning import PatchSwapCallback  # noqa: E402

pytestmark = [  # Lightning's hints about num_workers and its own deprecations, not ours
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
]

CLASSES, SAMPLES, BATCH = 4, 32, 16


def tiny_loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    y = torch.arange(SAMPLES) % CLASSES
    x = torch.rand(SAMPLES, 3, 16, 16, generator=generator) + 0.3 * y.view(-1, 1, 1, 1)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=generator)


class Classifier(pl.LightningModule):
    """The user's module: one line of patch swap in `training_step` (plus test recording)."""

    def __init__(self, objective: PatchSwapObjective, generator: torch.Generator) -> None:
        super().__init__()
        self.net = tiny_net(CLASSES)
        self.patchswap = objective
        self.generator = generator
        self.steps: list[tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        before = copy.deepcopy(self.net.state_dict())
        loss = self.patchswap(self, x, y, generator=self.generator)  # the one line
        self.steps.append((before, x, y, loss.detach(), self.patchswap.p))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(module: pl.LightningModule, tmp_path: Path, epochs: int = 2) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        callbacks=[PatchSwapCallback()],
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, tiny_loader())
    return trainer


def replay(steps: list, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each recorded step's loss recomputed by a fresh `PatchSwapObjective` and generator, with
    the swapped-pair logits (for the adaptive schedule's accuracy)."""
    generator = torch.Generator().manual_seed(seed)
    net, out = tiny_net(CLASSES), []
    for before, x, y, _, p in steps:
        net.load_state_dict(before)
        reference = PatchSwapObjective(grid=4, p=p)
        state = generator.get_state()
        loss = reference(net, x, y, generator=generator)
        generator.set_state(state)  # the same draws again, for the logits
        partners, alone = in_batch_partners(y, generator)
        _, logits = reference.pair_terms(net, x, x[partners], y, ~alone, generator)
        out.append((loss.detach(), logits.detach()))
    return out


def test_training_step_loss_equals_the_objective_and_progressive_pr_steps_per_epoch(tmp_path):
    pl.seed_everything(0)
    module = Classifier(
        ScheduledObjective(ProgressivePr(2), grid=4), torch.Generator().manual_seed(7)
    )
    initial = copy.deepcopy(module.net.state_dict())
    trainer = fit(module, tmp_path)

    assert len(module.steps) == 2 * SAMPLES // BATCH
    # ProgressivePr(2): the paper's milestones scaled to 2 epochs -> 0.2 in epoch 1, 0.5 in 2
    assert [step[4] for step in module.steps] == [0.2, 0.2, 0.5, 0.5]
    assert trainer.callback_metrics["patchswap/p_r"].item() == pytest.approx(0.5)
    for (_, _, _, loss, _), (expected, _) in zip(module.steps, replay(module.steps, seed=7)):
        torch.testing.assert_close(loss, expected)
    changed = [not torch.equal(initial[k], v) for k, v in module.net.state_dict().items()]
    assert any(changed)


def test_matched_pairing_in_training_step_equals_the_objective(tmp_path):
    pl.seed_everything(0)
    objective = ScheduledObjective(ProgressivePr(2), grid=4, pairing="matched")
    module = Classifier(objective, torch.Generator().manual_seed(11))
    fit(module, tmp_path)
    generator, net = torch.Generator().manual_seed(11), tiny_net(CLASSES)
    for before, x, y, loss, p in module.steps:
        net.load_state_dict(before)
        expected = PatchSwapObjective(grid=4, p=p, pairing="matched")(
            net, x, y, generator=generator
        )
        torch.testing.assert_close(loss, expected.detach())


def test_adaptive_pr_reads_the_previous_epochs_swapped_pair_accuracy(tmp_path):
    pl.seed_everything(0)
    schedule = AdaptivePr(p_max=0.5, p_min=0.1)
    module = Classifier(ScheduledObjective(schedule, grid=4), torch.Generator().manual_seed(3))
    trainer = fit(module, tmp_path)

    replayed = replay(module.steps, seed=3)
    first_epoch = SAMPLES // BATCH
    hits = sum(
        (logits.argmax(1) == y.repeat(2)).sum().item()
        for (_, _, y, _, _), (_, logits) in zip(module.steps[:first_epoch], replayed)
    )
    accuracy = hits / (2 * SAMPLES)
    assert module.patchswap.last_accuracy == pytest.approx(accuracy)
    assert trainer.callback_metrics["patchswap/p_r_accuracy"].item() == pytest.approx(accuracy)
    assert [step[4] for step in module.steps] == pytest.approx(
        [0.1, 0.1] + [schedule(2, accuracy)] * 2
    )
    # the second epoch's counts, saved with the module's state (checkpoints) for a resume
    assert module.patchswap.epoch_hits[1].item() == 2 * SAMPLES
    resumed = ScheduledObjective(schedule, grid=4)
    resumed.load_state_dict(module.patchswap.state_dict())
    torch.testing.assert_close(resumed.epoch_hits, module.patchswap.epoch_hits)
    assert "patchswap._extra_state" in module.state_dict()


def test_the_callback_refuses_a_module_without_a_scheduled_objective(tmp_path):
    module = Classifier(PatchSwapObjective(), torch.Generator())
    with pytest.raises(PatchswapError, match="found no ScheduledObjective"):
        fit(module, tmp_path)


def test_a_missing_lightning_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "patchswap.integrations.lightning")
    with pytest.raises(MissingExtraError, match=r"pip install patchswap\[lightning\]") as err:
        importlib.import_module("patchswap.integrations.lightning")
    assert isinstance(err.value, ImportError) and "\n" not in str(err.value)


def test_patchswap_imports_without_the_frameworks():
    code = (
        "import sys\n"
        "for name in ('lightning', 'lightning.pytorch', 'transformers'):\n"
        "    sys.modules[name] = None\n"
        "import patchswap, patchswap.integrations\n"
        "print(sorted(m for m in sys.modules if m.startswith('patchswap.integrations.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


DDP_SCRIPT = r"""
import json, sys
import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from patchswap import AdaptivePr
from patchswap.integrations.lightning import PatchSwapCallback, ScheduledObjective


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        self.patchswap = ScheduledObjective(AdaptivePr(), grid=4)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        before = self.patchswap.epoch_hits.tolist()  # as DDP's forward left it
        loss = self.patchswap(self, *batch)
        self.counts.append([before, self.patchswap.epoch_hits.tolist()])
        return loss

    def on_train_epoch_start(self):
        self.counts = []  # after the callback's start_epoch, which zeroes the counts

    def on_train_epoch_end(self):
        row = dict(rank=self.global_rank, epoch=self.current_epoch + 1, p=self.patchswap.p,
                   accuracy=self.patchswap.last_accuracy, hits=self.patchswap.epoch_hits.tolist(),
                   counts=self.counts)
        with open(f"{sys.argv[1]}/rank{self.global_rank}.jsonl", "a") as out:  # no interleaving
            out.write(json.dumps(row) + "\n")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


if __name__ == "__main__":
    pl.seed_everything(0)
    y = torch.arange(32) % 4
    x = torch.rand(32, 3, 16, 16) + 0.3 * y.view(-1, 1, 1, 1)
    trainer = pl.Trainer(max_epochs=3, accelerator="cpu", devices=2, strategy="ddp",
                         callbacks=[PatchSwapCallback()], enable_progress_bar=False, logger=False,
                         enable_checkpointing=False, enable_model_summary=False,
                         default_root_dir=sys.argv[1])
    trainer.fit(Classifier(), DataLoader(TensorDataset(x, y), batch_size=8))
    # Lightning leaves the gloo group open; torn down by interpreter exit instead, a rank can
    # abort ("terminate called without an active exception") after training has finished.
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
"""


def test_ddp_ranks_pair_their_own_batches_and_share_the_adaptive_p_r(tmp_path):
    """Two CPU processes (gloo) through Lightning's DDP: each rank pairs inside its own batch
    and `AdaptivePr` reads the accuracy summed over both ranks, so both use the same `p_r`."""
    script = tmp_path / "ddp_lightning.py"
    script.write_text(DDP_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_PORT", "MASTER_ADDR")}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "PYTHONWARNINGS": "ignore"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rank_records(tmp_path)
    for row in rows.values():  # each rank keeps its own counts: DDP does not broadcast them
        steps = row["counts"]
        assert steps[0][0] == [0.0, 0.0] and steps[-1][1] == row["hits"]
        assert all(now[0] == previous[1] for previous, now in zip(steps, steps[1:]))
    assert_ranks_share_the_adaptive_p(rows)
