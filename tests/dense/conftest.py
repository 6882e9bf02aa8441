"""Dense tests: their own cache folder, one small scene set written once per module, and the
Cityscapes and RUGD miniatures (`miniature_cityscapes`, `miniature_rugd`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from miniature_cityscapes import CITIES, _write_city_frame
from miniature_rugd import COLORMAP, FRAMES, H, W, _write_frame
from PIL import Image
from torch.nn.functional import max_pool2d

from patchswap.dense.datasets.rugd import RUGD_SPLITS
from patchswap.dense.datasets.scenes import write_scenes


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


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cityscapes")
    for split, cities in CITIES.items():
        for k, city in enumerate(cities):
            for frame in (19, 3):  # written out of order: the reader sorts
                _write_city_frame(root, split, city, k, frame)
    return root


@pytest.fixture(scope="module")
def rugd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames of FRAMES; the other train and test sequences empty (a subset), trail-5 absent."""
    root = tmp_path_factory.mktemp("rugd")
    for sequence, numbers in FRAMES.items():
        for number in numbers[::-1]:
            _write_frame(root, sequence, number)
    for sequence in RUGD_SPLITS["train"] + RUGD_SPLITS["test"]:
        for folder in ("RUGD_frames-with-annotations", "RUGD_annotations"):
            (root / folder / sequence).mkdir(exist_ok=True)
    (root / "RUGD_annotations" / "RUGD_annotation-colormap.txt").write_text(COLORMAP)
    # GANav's converter writes its relabelled masks beside the release's; neither they nor
    # other files are frames
    Image.new("L", (W, H)).save(root / "RUGD_annotations" / "creek" / "creek_00001_group6.png")
    Image.new("RGB", (W, H)).save(root / "RUGD_frames-with-annotations" / "creek" / "preview.png")
    (root / "RUGD_frames-with-annotations" / "creek" / "Thumbs.db").write_bytes(b"")
    return root


@pytest.fixture
def scene_overrides(scenes_root: Path, tiny_dense: list[str]) -> list[str]:
    """Overrides for a seconds-long dense run (resnet8 at width 4, one epoch) on the scenes."""
    return [f"data.root={scenes_root}", *tiny_dense]


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
