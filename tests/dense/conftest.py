"""Dense tests: their own cache folder, and one small scene set written once per module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.nn.functional import max_pool2d

from patchswap.dense.scenes import write_scenes


@pytest.fixture(autouse=True)
def _isolated_cache(patchswap_cache: Path) -> Path:
    return patchswap_cache


@pytest.fixture(scope="module")
def scenes_root(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_root: Path) -> Path:
    """A root with VOCdevkit/: 6 train, 4 val, 3 test scenes (seed 0, miniature Fashion-MNIST)."""
    root = tmp_path_factory.mktemp("scenes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATCHSWAP_CACHE", str(tmp_path_factory.mktemp("cache")))
        write_scenes(root, fashion_mnist_root, train=6, val=4, test=3, seed=0)
    return root


@pytest.fixture
def scene_overrides(scenes_root: Path) -> list[str]:
    """Overrides for a seconds-long dense run (resnet8 at width 4, one epoch) on the scenes."""
    return [
        f"data.root={scenes_root}",
        "model.backbone_kwargs={width: 4}",
        "epochs=1",
        "batch_size=2",
        "eval_batch_size=2",
        "progress=false",
    ]


@pytest.fixture
def check_aligned() -> Callable:
    """`check(dataset, codes, classes, min_inside)`: for 8 seeded draws of a training item whose
    photo's grey level encodes its class (`codes[i]` <-> `classes[i]`), the mask agrees with the
    decoded photo everywhere away from block and crop edges (where resizing blends values)."""

    def check(dataset, codes: torch.Tensor, classes: torch.Tensor, min_inside: float) -> None:
        for seed in range(8):
            torch.manual_seed(seed)
            image, mask = dataset[seed % len(dataset)]
            assert image.shape == (3, 32, 32) and image.dtype == torch.float32
            assert mask.shape == (32, 32) and mask.dtype == torch.uint8
            decoded = classes[(image[0, ..., None] * 255 - codes).abs().argmin(-1)]
            m = mask[None].float()
            inside = (max_pool2d(m, 5, 1, 2) == -max_pool2d(-m, 5, 1, 2))[0]
            inside[:2] = inside[-2:] = inside[:, :2] = inside[:, -2:] = False
            assert inside.float().mean() > min_inside
            assert torch.equal(decoded[inside], mask[inside].long())

    return check
