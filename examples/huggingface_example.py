"""Patch swap in a transformers Trainer: `PatchSwapTrainer`, with an adaptive `p_r` per epoch.

Run: `python examples/huggingface_example.py` (needs `pip install patchswap[hf]`): a few CPU
epochs of a small transformers ResNet (random init, nothing downloaded) on random stand-in
images; `ResNetForImageClassification.from_pretrained(...)`, a torchvision or timm model work
the same way.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import (
    EvalPrediction,
    ResNetConfig,
    ResNetForImageClassification,
    TrainingArguments,
    set_seed,
)

from patchswap import AdaptivePr
from patchswap.integrations.huggingface import PatchSwapTrainer, ScheduledObjective


class RandomImages(Dataset):
    """Stand-in for an image dataset after its image processor: `pixel_values` and `labels`."""

    def __init__(self, samples: int, classes: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(classes, (samples,), generator=generator)
        brightness = 0.1 * self.labels.view(-1, 1, 1, 1)
        self.images = torch.rand(samples, 3, 32, 32, generator=generator) + brightness

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        return {"pixel_values": self.images[i], "labels": int(self.labels[i])}


def accuracy(prediction: EvalPrediction) -> dict[str, float]:
    return {"accuracy": float(np.mean(prediction.predictions.argmax(1) == prediction.label_ids))}


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output-dir", default=None, help="default: a temporary folder")
    args = parser.parse_args(argv)
    set_seed(0)  # the model's random init; the Trainer seeds training from `seed` below

    config = ResNetConfig(
        num_channels=3,
        embedding_size=16,
        hidden_sizes=[16, 32, 64],
        depths=[1, 1, 1],
        layer_type="basic",
        num_labels=10,
    )
    model = ResNetForImageClassification(config)  # returns an output with .logits
    with tempfile.TemporaryDirectory() as scratch:
        training = TrainingArguments(
            output_dir=args.output_dir or scratch,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.batch_size,
            learning_rate=2e-3,
            eval_strategy="epoch",
            logging_strategy="epoch",  # each training log carries the epoch's p_r
            save_strategy="no",
            report_to="none",
            use_cpu=True,  # leave out on a GPU; torchrun / accelerate launch for DDP
            disable_tqdm=True,  # print the logs instead of progress bars
            seed=0,  # the swaps draw from torch's global RNG, seeded here
        )
        trainer = PatchSwapTrainer(
            model=model,
            args=training,
            train_dataset=RandomImages(args.samples, 10, seed=0),
            eval_dataset=RandomImages(args.samples // 4, 10, seed=1),
            compute_metrics=accuracy,
            # p_r from 0.1 up to 0.5 with the previous epoch's accuracy on the swapped pairs
            objective=ScheduledObjective(AdaptivePr(p_max=0.5, p_min=0.1), grid=4),
        )
        result = trainer.train()
    return result.training_loss


if __name__ == "__main__":
    main()
