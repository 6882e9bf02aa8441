"""The device-resident data path: same data, same augmentation distribution, same training."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from patchswap.config import DataConfig, load_config
from patchswap.data import build_datasets
from patchswap.data.transforms import small_image_transforms
from patchswap.engine import train
from patchswap.engine.device_data import DeviceAugment, DeviceLoader, resident_arrays
from patchswap.engine.loaders import ShuffledBatchSampler
from patchswap.errors import ConfigError

PADDING = 4


def coordinate_image(size=32):
    """uint8 HWC image whose channels 0 and 1 hold each pixel's row + 1 and column + 1."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([rows + 1, cols + 1, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def decode(images, mean, std):
    """Per image: (top offset, left offset, flipped) from its centre pixels."""
    raw = torch.round((images * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)) * 255)
    row = raw[:, 0, 16, 16] - 1  # original row seen at output row 16
    col, right = raw[:, 1, 16, 16] - 1, raw[:, 1, 16, 17] - 1
    flipped = right < col
    top = row - 16 + PADDING
    left = torch.where(flipped, 15 - col, col - 16) + PADDING
    return top.long(), left.long(), flipped


def test_device_and_dataloader_paths_draw_the_same_augmentations():
    n = 4000
    mean, std = torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.25, 0.25])
    image = coordinate_image()
    train_tf, _ = small_image_transforms(32, tuple(mean), tuple(std), PADDING)
    torch.manual_seed(0)
    pil = Image.fromarray(image)
    reference = torch.stack([train_tf(pil) for _ in range(n)])
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].repeat(n, 1, 1, 1)
    device = DeviceAugment(mean, std, PADDING, flip=True)(batch)
    # Offsets uniform over 0..2p and flip rate 1/2 on both paths: frequencies within 0.025 of
    # the expected value (about 4.5 standard errors at n = 4000) and of each other.
    frequencies = []
    for outputs in (reference, device):
        top, left, flipped = decode(outputs, mean, std)
        for offsets in (top, left):
            counts = torch.bincount(offsets, minlength=2 * PADDING + 1)
            assert len(counts) == 2 * PADDING + 1  # offsets within 0..2p
            assert (counts / n - 1 / 9).abs().max() < 0.025
        assert abs(flipped.float().mean().item() - 0.5) < 0.025
        frequencies.append(torch.cat([torch.bincount(top) / n, torch.bincount(left) / n]))
    assert (frequencies[0] - frequencies[1]).abs().max() < 0.025
    # Both paths agree pixel for pixel for the same (offset, flip): compare one decoded case.
    same = decode(device, mean, std)
    ref = decode(reference, mean, std)
    i = int(torch.nonzero((same[0] == 2) & (same[1] == 5) & ~same[2])[0])
    j = int(torch.nonzero((ref[0] == 2) & (ref[1] == 5) & ~ref[2])[0])
    assert torch.allclose(device[i], reference[j], atol=1e-6)


def test_resident_arrays_follow_subsets(fashion_mnist_root, cifar100_root, patchswap_cache):
    fm = build_datasets(
        DataConfig(name="fashion_mnist", root=str(fashion_mnist_root), samples_per_class=3)
    )
    images, labels = resident_arrays(fm.train)
    assert images.shape == (30, 1, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(labels, fm.train_labels)
    plain = build_datasets(
        DataConfig(name="fashion_mnist", root=str(fashion_mnist_root), augment=False)
    )
    first = resident_arrays(plain.train)[0][0].float() / 255
    assert torch.allclose((first - 0.2860) / 0.3530, plain.train[0][0], atol=1e-6)
    cifar = build_datasets(DataConfig(name="cifar100", root=str(cifar100_root)))
    assert resident_arrays(cifar.test)[0].shape[1:] == (3, 32, 32)


def test_views_are_augmented_independently():
    images = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    loader = DeviceLoader(
        images,
        torch.arange(6),
        ShuffledBatchSampler(6, 3, seed=0),
        DeviceAugment([0.5] * 3, [0.5] * 3, padding=2, flip=True),
        views=2,
    )
    batch, labels, index = next(iter(loader))
    assert batch.shape == (3, 2, 3, 8, 8) and len(labels) == len(index) == 3
    assert not torch.equal(batch[:, 0], batch[:, 1])


def test_training_on_the_device_path_resumes_bit_for_bit(tiny_run, tmp_path):
    common = ("data.loader=device", "schedule.name=constant")
    train(load_config(None, tiny_run(*common, "epochs=2", "name=full")), quiet=True)
    train(load_config(None, tiny_run(*common, "epochs=1", "name=part")), quiet=True)
    train(None, resume=tmp_path / "runs" / "part", overrides=["epochs=2"], quiet=True)
    logs = [
        (tmp_path / "runs" / n / "metrics.jsonl").read_text().splitlines() for n in ("full", "part")
    ]
    keep = ("train_loss", "test_top1", "test_loss")
    assert [{k: json.loads(r)[k] for k in keep} for r in logs[0]] == [
        {k: json.loads(r)[k] for k in keep} for r in logs[1]
    ]


def test_device_path_needs_an_in_memory_dataset(image_folder_root, tmp_path):
    cfg = load_config(
        None,
        [
            "data.name=imagefolder",
            f"data.root={image_folder_root}",
            "data.loader=device",
            "data.image_size=32",
            "epochs=1",
            f"output_dir={tmp_path}",
            "method=hard_label",
        ],
    )
    with pytest.raises(ConfigError, match="data.loader=device needs an in-memory dataset"):
        train(cfg, quiet=True)
