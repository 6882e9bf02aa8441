"""Patch swap in a LightningModule: one line in `training_step`, the `p_r` schedule in a callback.

Run: `python examples/lightning_example.py` (needs `pip install patchswap[lightning]`): a few CPU
epochs of a small CNN on random stand-in images; swap in your data and model (any module that
returns logits: `torchvision.models.resnet18(num_classes=10)`, a timm model, ...).
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from patchswap import ProgressivePr
from patchswap.integrations.lightning import PatchSwapCallback, ScheduledObjective


def random_images(samples: int, classes: int, seed: int) -> TensorDataset:
    """Stand-in for a labelled image set: 32x32 RGB noise with a class-dependent brightness."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (samples,), generator=generator)
    images = torch.rand(samples, 3, 32, 32, generator=generator) + 0.1 * labels.view(-1, 1, 1, 1)
    return TensorDataset(images, labels)


class Classifier(L.LightningModule):
    def __init__(self, epochs: int, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(  # any model that returns logits (N, C)
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes),
        )  # fmt: skip
        # p_r follows Table 15's curriculum scaled to this run; PatchSwapCallback steps it
        self.patchswap = ScheduledObjective(ProgressivePr(epochs), grid=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.patchswap(self, x, y)  # the method: in-batch pairs, swap, CE + KL
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch  # evaluation is an ordinary forward pass
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


class Report(L.Callback):
    """Prints each epoch's `p_r`, training loss and validation accuracy."""

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        m = trainer.callback_metrics  # this epoch's validation has run by now
        print(
            f"epoch {trainer.current_epoch + 1} | p_r {m['patchswap/p_r']:.2f} | "
            f"train loss {m['train_loss']:.3f} | val acc {m['val_acc']:.3f}"
        )


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    L.seed_everything(0, verbose=False)  # the swaps draw from torch's global RNG

    train = DataLoader(random_images(args.samples, 10, 0), args.batch_size, shuffle=True)
    val = DataLoader(random_images(args.samples // 4, 10, 1), args.batch_size)
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",  # "auto" and devices=N, strategy="ddp" work the same way
        callbacks=[PatchSwapCallback(), Report()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Classifier(args.epochs), train, val)
    return float(trainer.callback_metrics["train_loss"])


if __name__ == "__main__":
    main()
