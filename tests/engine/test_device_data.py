"""The device-resident data path: same data, same augmentation distribution, same training."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import RandomHorizontalFlip

from patchswap.config import DataConfig, LabelNoiseConfig
from patchswap.data import build_datasets
from patchswap.data.transforms import Augmentation, small_image_transforms
from patchswap.engine.device_data import DeviceAugment, DeviceLoader
from patchswap.engine.distributed import DistEnv
from patchswap.engine.loaders import ShuffledBatchSampler, build_loaders
from patchswap.errors import ConfigError
from patchswap.runs import load_config, train

PADDING = 4
CROP_AND_FLIP = Augmentation(PADDING, flip=True)


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
    train_tf, _ = small_image_transforms(32, tuple(mean), tuple(std), CROP_AND_FLIP)
    torch.manual_seed(0)
    pil = Image.fromarray(image)
    reference = torch.stack([train_tf(pil) for _ in range(n)])
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].repeat(n, 1, 1, 1)
    device = DeviceAugment(mean, std, CROP_AND_FLIP)(batch)
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


def normalized(pixels, data):
    """uint8 pixels as the test-time transform gives them."""
    mean, std = (torch.tensor(v).view(-1, 1, 1) for v in (data.mean, data.std))
    return (pixels.float() / 255 - mean) / std


def test_the_in_memory_pixels_are_the_images_and_labels_of_the_splits(
    fashion_mnist_root, cifar100_root, patchswap_cache
):
    """Held-out split, training subset, label noise and test subset: row i of the pixels is
    item i of train / test, so both data paths train and evaluate on the same samples."""
    cfg = DataConfig(
        name="fashion_mnist",
        root=str(fashion_mnist_root),
        holdout_per_class=1,
        samples_per_class=3,
        label_noise=LabelNoiseConfig(rate=0.3, seed=1),
        test_subset=7,
    )
    data = build_datasets(cfg)
    memory = data.in_memory
    assert memory.train.shape == (30, 1, 28, 28) and memory.train.dtype == torch.uint8
    assert memory.augmentation == Augmentation(4, flip=True)
    for i in range(len(data.train)):
        image, label = data.train_eval[i]
        assert torch.allclose(normalized(memory.train[i], data), image, atol=1e-6)
        assert label == data.train_labels[i] == data.train[i][1]
    assert len(memory.test) == len(data.test_labels) == 7
    for i in range(7):
        image, label = data.test[i]
        assert torch.allclose(normalized(memory.test[i], data), image, atol=1e-6)
        assert label == data.test_labels[i]
    plain = build_datasets(
        DataConfig(name="fashion_mnist", root=str(fashion_mnist_root), augment=False)
    )
    assert plain.in_memory.augmentation == Augmentation()  # data.augment=false: none either path
    cifar = build_datasets(DataConfig(name="cifar100", root=str(cifar100_root)))
    assert torch.allclose(normalized(cifar.in_memory.test[3], cifar), cifar.test[3][0], atol=1e-6)


def test_the_device_path_takes_the_sources_crop_and_flip_policy(tiny_run, fashion_mnist_root):
    """A source that declares no flip (and no crop) is never flipped on the device path."""
    data = build_datasets(DataConfig(name="fashion_mnist", root=str(fashion_mnist_root)))
    data.in_memory = replace(data.in_memory, augmentation=Augmentation(0, flip=False))
    cfg = load_config(None, tiny_run("data.loader=device", "method=hard_label"))
    train_loader, _, kind = build_loaders(cfg, data, False, 1, DistEnv(), torch.device("cpu"))
    assert kind == "device"
    for _ in range(3):
        for images, labels, index in train_loader:
            assert torch.allclose(images, normalized(data.in_memory.train[index], data), atol=1e-6)
            assert torch.equal(labels, data.train_labels[index])
    train_tf, _ = small_image_transforms(28, data.mean, data.std, Augmentation(0, flip=False))
    assert not any(isinstance(t, RandomHorizontalFlip) for t in train_tf.transforms)


def test_views_are_augmented_independently():
    images = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    loader = DeviceLoader(
        images,
        torch.arange(6),
        ShuffledBatchSampler(6, 3, seed=0),
        DeviceAugment([0.5] * 3, [0.5] * 3, Augmentation(2, flip=True)),
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
