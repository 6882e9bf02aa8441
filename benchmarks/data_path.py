"""Benchmark: one training epoch on the device-resident data path vs the DataLoader path.

Same model, method, batch and CIFAR-shaped random uint8 data (CIFAR-100 itself is not
available offline); both paths crop with padding 4, flip and normalize. Prints seconds per
epoch of each path and their ratio, for hard label and patch swap.

    python benchmarks/data_path.py [--model resnet18] [--samples 50000] [--batch 64]
        [--precision bf16] [--channels-last] [--workers 8] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import device_label, synchronizer

from patchswap.data import DataBundle
from patchswap.data.bundle import InMemory
from patchswap.data.transforms import Augmentation, TransformedDataset, small_image_transforms
from patchswap.engine.distributed import DistEnv
from patchswap.engine.loaders import build_loaders
from patchswap.engine.precision import autocast
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.models import build_model
from patchswap.runs import build_config

MEAN, STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


class RandomCifar(torch.utils.data.Dataset):
    """CIFAR's in-memory layout (`data` NHWC uint8, `targets`) filled with random pixels."""

    def __init__(self, samples: int, classes: int = 100) -> None:
        rng = np.random.default_rng(0)
        self.data = rng.integers(0, 256, (samples, 32, 32, 3), dtype=np.uint8)
        self.targets = (np.arange(samples) % classes).tolist()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        from PIL import Image

        return Image.fromarray(self.data[index]), self.targets[index]


def pixels(dataset: RandomCifar) -> torch.Tensor:
    return torch.from_numpy(dataset.data).permute(0, 3, 1, 2)


def bundle(samples: int) -> DataBundle:
    augmentation = Augmentation(4, flip=True)
    train_tf, test_tf = small_image_transforms(32, MEAN, STD, augmentation)
    raw, test = RandomCifar(samples), RandomCifar(256)
    return DataBundle(
        train=TransformedDataset(raw, train_tf),
        train_eval=TransformedDataset(raw, test_tf),
        test=TransformedDataset(test, test_tf),
        train_labels=torch.as_tensor(raw.targets),
        test_labels=torch.as_tensor(test.targets),
        num_classes=100,
        in_channels=3,
        image_size=(32, 32),
        class_names=[],
        mean=MEAN,
        std=STD,
        in_memory=InMemory(pixels(raw), pixels(test), augmentation),
    )


def epoch_seconds(args, data: DataBundle, method_name: str, loader: str) -> float:
    device = torch.device(args.device)
    cfg = build_config(
        {
            "batch_size": args.batch,
            "precision": args.precision,
            "data": {"loader": loader, "num_workers": args.workers},
        }
    )
    model = build_model(args.model, 100).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    context = MethodContext(100, 1, (32, 32), 3, len(data.train))
    method = build_method({"name": method_name}, model, context).to(device)
    train, _, kind = build_loaders(cfg, data, method.paired, 1, DistEnv(), device)
    assert kind == loader, (kind, loader)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sync = synchronizer(device)
    train.batch_sampler.set_epoch(0)
    sync()
    start = time.perf_counter()
    for images, targets, indices in train:
        images, targets = images.to(device, non_blocking=True), targets.to(device)
        if args.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(args.precision, device):
            loss = sum(method(model, Batch(images, targets, indices)).losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: resnet18 on CUDA, resnet8 on CPU")
    parser.add_argument("--samples", type=int, default=None, help="default: 50000 CUDA, 4096 CPU")
    parser.add_argument("--batch", type=int, default=64, help="anchors per step")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    args.model = args.model or ("resnet18" if cuda else "resnet8")
    args.samples = args.samples or (50000 if cuda else 4096)
    data = bundle(args.samples)
    print(
        f"device: {device_label(torch.device(args.device))} | {args.model}, {args.samples} "
        f"anchors, batch {args.batch}, {args.precision}, workers {args.workers}"
    )
    for method in ("hard_label", "patchswap"):
        epoch_seconds(args, data, method, "device")  # warm-up (allocator, kernels)
        loader_s = epoch_seconds(args, data, method, "dataloader")
        device_s = epoch_seconds(args, data, method, "device")
        print(
            f"{method:<10}: dataloader {loader_s:7.2f} s/epoch | device {device_s:7.2f} s/epoch"
            f" | speed-up {loader_s / device_s:5.2f}x"
        )


if __name__ == "__main__":
    main()
