"""Checks every loader shares: torchvision's errors as DataErrors, one label per image."""

from __future__ import annotations

import pytest
from torch.utils.data import Dataset
from torchvision.datasets.mnist import read_image_file

from patchswap.data.bundle import torchvision_source
from patchswap.data.files import data_errors
from patchswap.errors import DataError


def test_torchvision_assertions_become_data_errors(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(bytes(16))  # magic number 0: torchvision asserts without a message
    with (
        pytest.raises(DataError) as info,
        data_errors(f"cannot load X from {tmp_path}", "replace the files"),
    ):
        read_image_file(str(path))
    assert str(info.value) == f"cannot load X from {tmp_path}: malformed file; replace the files"


class _Images(Dataset):
    classes = ["a", "b"]

    def __init__(self, n: int, targets: list[int]) -> None:
        self.n, self.targets = n, targets

    def __len__(self) -> int:
        return self.n


def _source(train: Dataset, test: Dataset) -> None:
    torchvision_source(
        train,
        test,
        where="X in /d",
        in_channels=1,
        image_size=(2, 2),
        mean=(0.0,),
        std=(1.0,),
        transforms=(lambda x: x, lambda x: x),
    )


def test_every_source_needs_one_label_per_image():
    with pytest.raises(DataError) as info:
        _source(_Images(3, [0, 1, 0]), _Images(4, [0, 1]))
    assert str(info.value) == (
        "X in /d: the test split has 4 images but 2 labels; replace its files with a matching set"
    )


def test_every_label_must_name_a_class():
    with pytest.raises(DataError, match=r"training split has labels outside 0\.\.1 \(min -1"):
        _source(_Images(2, [0, -1]), _Images(1, [1]))
