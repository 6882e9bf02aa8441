"""RUGD over a miniature in the release layout: coarse classes, splits, aligned augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from miniature_rugd import (
    COARSE,
    COLORMAP,
    COLORS,
    FRAMES,
    _frame,
    _write_frame,
)
from PIL import Image
from torchvision import tv_tensors

from patchswap.dense.datasets.rugd import (
    RUGD_CLASSES,
    RUGD_COARSE_CLASSES,
    RUGD_SPLITS,
    rugd_segmentation,
)
from patchswap.dense.datasets.voc import segmentation_transforms
from patchswap.errors import DataError, PatchswapError


def test_coarse_classes_are_table_7() -> None:
    assert RUGD_COARSE_CLASSES == (
        "background", "smooth region", "rough region", "bumpy region", "forbidden region",
        "obstacle",
    )  # fmt: skip
    assert len(RUGD_CLASSES) == 25 and RUGD_CLASSES[0] == "void"
    assert sorted(COARSE) == sorted(RUGD_CLASSES)
    assert sum(map(len, RUGD_SPLITS.values())) == 18
    assert RUGD_SPLITS["val"] == ("park-8", "trail-5")


def test_items_map_every_colour_to_its_coarse_class(tmp_path: Path) -> None:
    names = list(COLORS)
    annotation = np.zeros((2, 26, 3), np.uint8)
    annotation[0, :25] = [COLORS[n] for n in names]
    annotation[0, 25] = (1, 2, 3)  # no RUGD colour
    annotation[1] = (0, 128, 255)  # water
    for folder in ("RUGD_frames-with-annotations", "RUGD_annotations"):
        (tmp_path / folder / "park-8").mkdir(parents=True)
    Image.new("RGB", (26, 2), (9, 9, 9)).save(
        tmp_path / "RUGD_frames-with-annotations" / "park-8" / "park-8_00001.png"
    )
    Image.fromarray(annotation).save(tmp_path / "RUGD_annotations" / "park-8" / "park-8_00001.png")
    (tmp_path / "RUGD_frames-with-annotations" / "trail-5").mkdir()
    (tmp_path / "RUGD_annotations" / "trail-5").mkdir()
    (tmp_path / "RUGD_annotations" / "RUGD_annotation-colormap.txt").write_text(COLORMAP)
    image, mask = rugd_segmentation(tmp_path, "val")[0]
    assert isinstance(image, tv_tensors.Image) and isinstance(mask, tv_tensors.Mask)
    assert image.shape == (3, 2, 26) and image.dtype == torch.uint8 and (image == 9).all()
    assert mask.shape == (2, 26) and mask.dtype == torch.uint8
    assert mask[0].tolist() == [COARSE[n] for n in names] + [255]
    assert (mask[1] == 4).all()
    assert mask[0, names.index("concrete")] == 1 and mask[0, names.index("rock-bed")] == 3
    assert mask[0, names.index("void")] == 0 and mask[0, names.index("bridge")] == 5
    # a palette PNG of the same colours reads the same; without the colormap file too
    colors, indices = np.unique(annotation.reshape(-1, 3), axis=0, return_inverse=True)
    palette = Image.fromarray(indices.reshape(2, 26).astype(np.uint8), mode="P")
    palette.putpalette(colors.flatten().tolist())
    assert np.array_equal(np.asarray(palette.convert("RGB")), annotation)
    palette.save(tmp_path / "RUGD_annotations" / "park-8" / "park-8_00001.png")
    (tmp_path / "RUGD_annotations" / "RUGD_annotation-colormap.txt").unlink()
    assert torch.equal(rugd_segmentation(tmp_path, "val")[0][1], mask)


def test_splits_are_the_authors_sequences(rugd_root: Path) -> None:
    for split, sequences in (("train", ("trail-3", "village")), ("test", ("creek",))):
        dataset = rugd_segmentation(rugd_root, split)
        present = [s for s in RUGD_SPLITS[split] if s in sequences]  # in the split's order
        expected = [f"{s}_{n:05d}.png" for s in present for n in FRAMES[s]]
        assert [Path(p).name for p in dataset.images] == expected
        assert [Path(p).name for p in dataset.targets] == expected
        for k in range(len(dataset)):
            sequence, number = expected[k][:-4].rsplit("_", 1)
            _, mask = dataset[k]
            assert np.array_equal(mask.numpy(), _frame(sequence, int(number))[2])


def test_split_file_overrides(rugd_root: Path, tmp_path: Path) -> None:
    split_file = tmp_path / "train_ours.txt"  # GANav's style, and a whole sequence
    split_file.write_text("creek/creek_00011\nvillage/village_00006.png\n\npark-8\n")
    dataset = rugd_segmentation(rugd_root, "ours", split_file=split_file)
    assert [Path(p).name for p in dataset.images] == [
        "creek_00011.png", "village_00006.png", "park-8_00001.png", "park-8_00006.png"
    ]  # fmt: skip
    split_file.write_text("creek/creek_00002\n")
    with pytest.raises(DataError, match=r"2 RUGD ours files are missing, first .*creek_00002"):
        rugd_segmentation(rugd_root, "ours", split_file=split_file)
    with pytest.raises(DataError, match="split file .*nope.txt not found"):
        rugd_segmentation(rugd_root, "train", split_file=tmp_path / "nope.txt")
    with pytest.raises(PatchswapError, match="unknown RUGD split 'trainval'"):
        rugd_segmentation(rugd_root, "trainval")


def test_training_transforms_keep_mask_aligned(rugd_root: Path, check_aligned) -> None:
    train = segmentation_transforms(True, 32, mean=(0, 0, 0), std=(1, 1, 1))
    dataset = rugd_segmentation(rugd_root, "test", transforms=train)
    codes = torch.tensor([0.0, *(k * 40 + 20 for k in range(6))])
    classes = torch.tensor([255, *range(6)])  # padding (0) -> 255
    check_aligned(dataset, codes, classes, 0.1)


def test_missing_dataset_is_one_line_saying_where(tmp_path: Path, rugd_root: Path) -> None:
    with pytest.raises(DataError) as err:
        rugd_segmentation(tmp_path, "train")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "RUGD_frames-with-annotations") in message
    assert str(tmp_path / "RUGD_annotations") in message
    assert "rugd.vision" in message
    with pytest.raises(DataError) as err:  # the miniature lacks val's trail-5
        rugd_segmentation(rugd_root, "val")
    message = str(err.value)
    assert "\n" not in message
    assert str(rugd_root / "RUGD_frames-with-annotations" / "trail-5") in message


def test_bad_colormap_and_grey_annotation(tmp_path: Path) -> None:
    _write_frame(tmp_path, "park-8", 1)
    for folder in ("RUGD_frames-with-annotations", "RUGD_annotations"):
        (tmp_path / folder / "trail-5").mkdir()
    colormap = tmp_path / "RUGD_annotations" / "RUGD_annotation-colormap.txt"
    colormap.write_text(COLORMAP + "25 puddle 1 2 3\n")
    with pytest.raises(DataError, match="names puddle have no coarse class"):
        rugd_segmentation(tmp_path, "val")
    colormap.write_text(COLORMAP + "25 water\n")
    with pytest.raises(DataError, match=r"colormap.txt:26: '25 water' is not 'id name R G B'"):
        rugd_segmentation(tmp_path, "val")
    colormap.write_text(COLORMAP.replace("0 128 255", "1 2 3"))  # the file decides the colours
    target = tmp_path / "RUGD_annotations" / "park-8" / "park-8_00001.png"
    annotation = np.array(Image.open(target))
    annotation[0, 0] = (1, 2, 3)
    annotation[0, 1] = (0, 128, 255)
    Image.fromarray(annotation).save(target)
    _, mask = rugd_segmentation(tmp_path, "val")[0]
    assert mask[0, :2].tolist() == [4, 255]
    Image.fromarray(annotation[..., 0]).save(target)
    with pytest.raises(DataError, match="is a L image; RUGD annotations are colour-coded"):
        rugd_segmentation(tmp_path, "val")  # when the split is built, before any item
    Image.fromarray(annotation[:-11]).save(target)
    with pytest.raises(DataError, match=r"park-8_00001.png is 55x33 pixels but its image .* 55x44"):
        rugd_segmentation(tmp_path, "val")
    target.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read .*RUGD_annotations/park-8/park-8_00001.png"):
        rugd_segmentation(tmp_path, "val")
