"""Cityscapes over a miniature in the release layout: train ids, order, aligned augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from miniature_cityscapes import (
    OFFICIAL,
    H,
    W,
    _write_city_frame,
)
from PIL import Image
from torchvision import tv_tensors

from patchswap.dense.datasets.cityscapes import (
    CITYSCAPES_CLASSES,
    LABEL_TO_TRAIN_ID,
    cityscapes_segmentation,
)
from patchswap.dense.datasets.voc import segmentation_transforms
from patchswap.errors import DataError, PatchswapError


def test_train_id_table_is_the_official_one() -> None:
    assert len(CITYSCAPES_CLASSES) == 19
    assert CITYSCAPES_CLASSES[0] == "road" and CITYSCAPES_CLASSES[13] == "car"
    expected = [OFFICIAL.get(i, 255) for i in range(256)]
    assert LABEL_TO_TRAIN_ID.dtype == np.uint8 and LABEL_TO_TRAIN_ID.tolist() == expected
    assert LABEL_TO_TRAIN_ID[255] == 255  # license plate's -1, as a uint8 mask would hold it
    with pytest.raises(ValueError):
        LABEL_TO_TRAIN_ID[7] = 1


def test_items_are_image_and_train_id_mask_sorted(cityscapes_root: Path) -> None:
    dataset = cityscapes_segmentation(cityscapes_root, "train")
    assert len(dataset) == 4
    names = [Path(p).name for p in dataset.images]
    assert names == sorted(names) and names[0] == "aachen_000000_000003_leftImg8bit.png"
    assert dataset.targets[0][0].endswith("aachen_000000_000003_gtFine_labelIds.png")
    image, mask = dataset[0]
    assert isinstance(image, tv_tensors.Image) and isinstance(mask, tv_tensors.Mask)
    assert image.shape == (3, H, W) and image.dtype == torch.uint8
    assert mask.shape == (H, W) and mask.dtype == torch.uint8
    label_ids = np.array(Image.open(dataset.targets[0][0]))
    png = np.array(Image.open(dataset.images[0]))
    assert np.array_equal(image.permute(1, 2, 0).numpy(), png)
    expected = {7: 0, 26: 13, 23: 10, 11: 2, 21: 8, 0: 255, 9: 255, 255: 255}
    for label_id, train_id in expected.items():  # each id of the mask, pixel by pixel
        assert (mask.numpy()[label_ids == label_id] == train_id).all()
    assert set(np.unique(label_ids).tolist()) >= {7, 26, 0}


def test_hand_set_pixels(tmp_path: Path) -> None:
    _write_city_frame(tmp_path, "val", "lindau", 0, 0)
    target = tmp_path / "gtFine" / "val" / "lindau" / "lindau_000000_000000_gtFine_labelIds.png"
    ids = np.zeros((H, W), np.uint8)  # 0 unlabeled
    ids[0, :5] = [7, 26, 0, 255, 33]  # road, car, unlabeled, license plate (-1), bicycle
    ids[1, :4] = [9, 14, 18, 29]  # parking, guard rail, polegroup, caravan: not scored
    Image.fromarray(ids).save(target)
    _, mask = cityscapes_segmentation(tmp_path, "val")[0]
    assert mask[0, :5].tolist() == [0, 13, 255, 255, 18]
    assert mask[1, :4].tolist() == [255] * 4 and (mask[2:] == 255).all()


def test_training_transforms_keep_mask_aligned(cityscapes_root: Path, check_aligned) -> None:
    train = segmentation_transforms(True, 32, mean=(0, 0, 0), std=(1, 1, 1))
    dataset = cityscapes_segmentation(cityscapes_root, "train", transforms=train)
    codes = torch.tensor([0.0, *(k * 12 + 10 for k in range(19)), 250.0])
    classes = torch.tensor([255, *range(19), 255])  # padding (0) and ignore (250) -> 255
    check_aligned(dataset, codes, classes, 0.15)


def test_missing_set_is_one_line_naming_the_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        cityscapes_segmentation(tmp_path, "val")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "leftImg8bit" / "val") in message
    assert str(tmp_path / "gtFine" / "val") in message
    assert "cityscapes-dataset.com" in message and "login" in message
    _write_city_frame(tmp_path, "train", "ulm", 0, 1)
    with pytest.raises(DataError, match=r"gtFine/val"):  # train there, val not
        cityscapes_segmentation(tmp_path, "val")
    with pytest.raises(PatchswapError, match="unknown Cityscapes split 'train_extra'"):
        cityscapes_segmentation(tmp_path, "train_extra")


def test_missing_mask_is_one_line(tmp_path: Path) -> None:
    for frame in (1, 2):
        _write_city_frame(tmp_path, "train", "ulm", 0, frame)
    (tmp_path / "gtFine/train/ulm/ulm_000000_000002_gtFine_labelIds.png").unlink()
    with pytest.raises(DataError, match=r"1 of 2 Cityscapes train masks .* first .*000002_gtF"):
        cityscapes_segmentation(tmp_path, "train")


def test_instance_ids_instead_of_label_ids_is_refused(tmp_path: Path) -> None:
    _write_city_frame(tmp_path, "train", "ulm", 0, 1)
    gt = tmp_path / "gtFine" / "train" / "ulm"
    (gt / "ulm_000000_000001_gtFine_instanceIds.png").replace(
        gt / "ulm_000000_000001_gtFine_labelIds.png"
    )
    with pytest.raises(DataError, match="8-bit grey PNGs of label ids"):
        cityscapes_segmentation(tmp_path, "train")[0]


def test_value_that_is_no_label_id_is_refused_when_the_split_is_built(tmp_path: Path) -> None:
    for frame in (1, 2):
        _write_city_frame(tmp_path, "val", "lindau", 0, frame)
    target = tmp_path / "gtFine" / "val" / "lindau" / "lindau_000000_000002_gtFine_labelIds.png"
    ids = np.array(Image.open(target))
    ids[5, 5] = 40  # cityscapesScripts' labels.py stops at 33 (and -1, 255 in a uint8 mask)
    Image.fromarray(ids).save(target)
    with pytest.raises(DataError) as err:
        cityscapes_segmentation(tmp_path, "val")
    assert str(err.value) == (
        f"{target}: label id 40 is out of range; Cityscapes label ids are 0-33 and 255 "
        "(license plate's -1)"
    )
    ids[5, 5] = 33  # bicycle: read, and the second start takes it from the cache
    Image.fromarray(ids).save(target)
    assert len(cityscapes_segmentation(tmp_path, "val")) == 2
    assert len(cityscapes_segmentation(tmp_path, "val")) == 2
