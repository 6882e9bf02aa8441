"""VOC datasets over the scenes and VOC miniatures: tv_tensors out, aligned augmentation."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from torch.nn.functional import max_pool2d
from torchvision import tv_tensors
from torchvision.datasets import FashionMNIST
from torchvision.transforms import v2

from patchswap.dense.datasets.voc import (
    SCENE_CLASSES,
    VOC_CLASSES,
    detection_transforms,
    random_gaussian_blur,
    segmentation_transforms,
    voc_detection,
    voc_palette,
    voc_segmentation,
)
from patchswap.errors import DataError, PatchswapError

VOC12 = Path("VOCdevkit") / "VOC2012"


def _png(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def _xml_boxes(path: Path) -> list[list[int]]:
    return [
        [int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        for obj in ET.parse(path).getroot().iter("object")
    ]


def test_class_names() -> None:
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[15] == "person"
    fashion = [re.sub("[^a-z]", "", name.lower()) for name in FashionMNIST.classes]
    assert SCENE_CLASSES[0] == "background" and len(SCENE_CLASSES) == 11
    assert all(f.startswith(s) for f, s in zip(fashion, SCENE_CLASSES[1:], strict=True))
    palette = voc_palette()
    assert palette[1].tolist() == [128, 0, 0] and palette[15].tolist() == [192, 128, 128]
    assert palette[255].tolist() == [224, 224, 192]


def test_segmentation_gives_image_and_mask_of_the_files(scenes_root: Path) -> None:
    dataset = voc_segmentation(scenes_root, "val")
    ids = (scenes_root / VOC12 / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    assert len(dataset) == len(ids)
    image, mask = dataset[1]
    assert isinstance(image, tv_tensors.Image) and isinstance(mask, tv_tensors.Mask)
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8
    jpeg = np.array(Image.open(scenes_root / VOC12 / "JPEGImages" / f"{ids[1]}.jpg"))
    assert np.array_equal(image.permute(1, 2, 0).numpy(), jpeg)
    png = _png(scenes_root / VOC12 / "SegmentationClass" / f"{ids[1]}.png")
    assert mask.shape == (64, 64) and np.array_equal(mask.numpy(), png)


def test_detection_gives_0_based_boxes_labels_and_difficult(scenes_root: Path) -> None:
    dataset = voc_detection(scenes_root, "test", year="2007", classes=SCENE_CLASSES)
    voc = scenes_root / "VOCdevkit" / "VOC2007"
    for i, scene_id in enumerate((voc / "ImageSets" / "Main" / "test.txt").read_text().split()):
        image, target = dataset[i]
        root = ET.parse(voc / "Annotations" / f"{scene_id}.xml").getroot()
        boxes = torch.tensor(_xml_boxes(voc / "Annotations" / f"{scene_id}.xml"), dtype=torch.float)
        assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
        assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
        assert target["boxes"].canvas_size == (64, 64)
        assert torch.equal(target["boxes"], boxes - torch.tensor([1.0, 1.0, 0.0, 0.0]))
        names = [SCENE_CLASSES.index(o.findtext("name")) for o in root.iter("object")]
        assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == names
        difficult = [o.findtext("difficult") == "1" for o in root.iter("object")]
        assert target["difficult"].dtype == torch.bool
        assert target["difficult"].tolist() == difficult


def test_missing_set_is_one_line_saying_where(tmp_path: Path, scenes_root: Path) -> None:
    with pytest.raises(DataError) as err:
        voc_segmentation(tmp_path, "train")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / VOC12 / "JPEGImages") in message
    assert f"patchswap scenes {tmp_path}" in message
    with pytest.raises(DataError, match=r"VOC2007.*ImageSets/Main/trainval\.txt"):
        voc_detection(scenes_root, "trainval", year="2007", classes=SCENE_CLASSES)
    copy = tmp_path / "copy"
    shutil.copytree(scenes_root, copy)
    (copy / VOC12 / "Annotations" / "train_000002.xml").unlink()
    with pytest.raises(DataError, match=r"1 files listed in .*train\.txt are missing"):
        voc_detection(copy, "train", classes=SCENE_CLASSES)


def test_unknown_object_name_is_one_line_before_any_item(scenes_root: Path) -> None:
    with pytest.raises(DataError, match=r"Annotations/train_000000\.xml: object names .* are not"):
        voc_detection(scenes_root, "train")  # VOC's 20 names, not the scenes'


def test_real_voc_names_and_missing_difficult_tag(tmp_path: Path) -> None:
    voc = tmp_path / "VOCdevkit" / "VOC2007"
    for folder in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / folder).mkdir(parents=True)
    Image.new("RGB", (50, 40)).save(voc / "JPEGImages" / "000001.jpg")
    (voc / "Annotations" / "000001.xml").write_text(
        "<annotation><filename>000001.jpg</filename><size><width>50</width><height>40</height>"
        "<depth>3</depth></size>"
        "<object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>10</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>person</name><bndbox><xmin>5.0</xmin><ymin>5</ymin><xmax>50</xmax>"
        "<ymax>40</ymax></bndbox></object></annotation>"
    )
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000001\n")
    image, target = voc_detection(tmp_path, "test", year="2007")[0]
    assert image.shape == (3, 40, 50)
    assert target["labels"].tolist() == [12, 15]
    assert target["difficult"].tolist() == [True, False]
    assert target["boxes"].tolist() == [[0, 1, 10, 20], [4, 4, 50, 40]]


def test_sbd_augmented_masks(tmp_path: Path, scenes_root: Path) -> None:
    root = tmp_path / "voc"
    shutil.copytree(scenes_root, root)
    voc = root / VOC12
    with pytest.raises(DataError, match="SegmentationClassAug"):
        voc_segmentation(root, "train", sbd_aug=True)
    ids = (voc / "ImageSets" / "Segmentation" / "trainval.txt").read_text().split()
    (voc / "SegmentationClassAug").mkdir()
    for scene_id in ids:  # SBD's masks: grey PNGs of class ids, no void border
        mask = _png(voc / "SegmentationClass" / f"{scene_id}.png")
        Image.fromarray(np.where(mask == 255, 0, mask).astype(np.uint8)).save(
            voc / "SegmentationClassAug" / f"{scene_id}.png"
        )
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").write_text("\n".join(ids[::-1]))
    dataset = voc_segmentation(root, "train", sbd_aug=True)
    assert len(dataset) == len(ids)
    _, mask = dataset[0]
    aug = _png(voc / "SegmentationClassAug" / f"{ids[-1]}.png")
    assert np.array_equal(mask.numpy(), aug) and 255 not in aug
    with pytest.raises(PatchswapError, match="sbd_aug applies to the train split"):
        voc_segmentation(root, "val", sbd_aug=True)


def test_flip_keeps_image_mask_and_boxes_aligned(scenes_root: Path) -> None:
    flip = v2.RandomHorizontalFlip(p=1.0)
    image, mask = voc_segmentation(scenes_root, "train")[3]
    flipped_image, flipped_mask = voc_segmentation(scenes_root, "train", transforms=flip)[3]
    assert torch.equal(flipped_image, image.flip(-1)) and torch.equal(flipped_mask, mask.flip(-1))
    _, target = voc_detection(scenes_root, "train", classes=SCENE_CLASSES, transforms=flip)[3]
    instances = _png(scenes_root / VOC12 / "SegmentationObject" / "train_000003.png")[:, ::-1]
    for k, box in enumerate(target["boxes"].tolist(), start=1):  # tight box of the flipped mask
        rows, cols = np.nonzero(instances == k)
        assert box == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_segmentation_training_transforms_keep_mask_aligned(scenes_root: Path) -> None:
    _, mask = voc_segmentation(scenes_root, "train")[0]
    # an image that encodes its mask (class c as 20 (c + 1), void as 240; padding is 0): after
    # any joint transform it must still decode to the mask, void and padding to 255
    image = tv_tensors.Image(((mask.clamp(max=11) + 1) * 20).to(torch.uint8).expand(3, -1, -1))
    train = segmentation_transforms(True, 48, mean=(0, 0, 0), std=(1, 1, 1))
    for seed in range(8):
        torch.manual_seed(seed)
        out_image, out_mask = train(image, mask)
        assert out_image.shape == (3, 48, 48) and out_mask.shape == (48, 48)
        decoded = (out_image[0] * 255 / 20).round().long() - 1
        decoded[(decoded < 0) | (decoded > 10)] = 255
        # away from label edges (where resizing blends values) they agree exactly
        m = out_mask[None].float()
        inside = (max_pool2d(m, 5, 1, 2) == -max_pool2d(-m, 5, 1, 2))[0]
        assert inside.float().mean() > 0.5
        assert torch.equal(decoded[inside], out_mask[inside].long())
    test = segmentation_transforms(False, 48, mean=(0.5,) * 3, std=(0.5,) * 3)
    out_image, out_mask = test(image, mask)
    assert torch.equal(out_mask, mask)
    assert torch.allclose(out_image, image / 127.5 - 1)


def test_gaussian_blur_as_jfzhang95_blurs_half_the_images_never_the_mask() -> None:
    image = tv_tensors.Image(torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.randint(0, 21, (40, 40), dtype=torch.uint8))
    plain = segmentation_transforms(True, 32, mean=(0, 0, 0), std=(1, 1, 1))
    blurred = segmentation_transforms(True, 32, mean=(0, 0, 0), std=(1, 1, 1), blur=0.5)
    changed = []
    for seed in range(40):
        torch.manual_seed(seed)
        plain_image, plain_mask = plain(image, mask)
        torch.manual_seed(seed)  # the blur comes last: the same seed, the same crop and flip
        out_image, out_mask = blurred(image, mask)
        assert torch.equal(out_mask, plain_mask)
        changed.append(not torch.equal(out_image, plain_image))
    assert 12 <= sum(changed) <= 28  # p = 0.5 (sigma near 0 can leave an image as it was)
    assert isinstance(segmentation_transforms(True, 32, blur=1.0).transforms[3], v2.RandomApply)
    assert len(plain.transforms) == 5  # blur 0: no blur step at all
    with pytest.raises(PatchswapError, match="blur is a probability"):
        segmentation_transforms(True, 32, blur=1.5)


@pytest.mark.parametrize("sigma", [0.5, 0.8, 1.0])
def test_gaussian_blur_is_close_to_pils_of_that_radius(sigma: float) -> None:
    # the reference blurs with PIL (radius = sigma, a box-blur approximation), here torchvision
    yy, xx = np.mgrid[:64, :64]
    smooth = np.stack([127 + 100 * np.sin(xx / 3 + yy / 5)] * 3, -1).astype(np.uint8)
    pil = np.array(Image.fromarray(smooth).filter(ImageFilter.GaussianBlur(radius=sigma)))
    blur = random_gaussian_blur(1.0).transforms[0]
    ours = v2.functional.gaussian_blur(
        torch.from_numpy(smooth).permute(2, 0, 1), blur.kernel_size, [sigma, sigma]
    )
    diff = np.abs(ours.permute(1, 2, 0).numpy().astype(float) - pil)[4:-4, 4:-4]
    assert diff.mean() < 1.0 and diff.max() <= 4


def test_detection_training_transforms_keep_boxes_aligned() -> None:
    # two bright rectangles on black: after zoom-out, crop and flip each kept box must be the
    # tight box of its rectangle's visible pixels, with its own label and difficult flag
    canvas = torch.zeros(3, 64, 64, dtype=torch.uint8)
    canvas[:, 10:30, 5:25] = 100
    canvas[:, 40:60, 30:62] = 200
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            [[5, 10, 25, 30], [30, 40, 62, 60]], format="XYXY", canvas_size=(64, 64)
        ),
        "labels": torch.tensor([3, 7]),
        "difficult": torch.tensor([False, True]),
    }
    train = detection_transforms(True)
    for seed in range(20):
        torch.manual_seed(seed)
        image, out = train(tv_tensors.Image(canvas), target)
        assert image.dtype == torch.float32
        assert len(out["boxes"]) == len(out["labels"]) == len(out["difficult"]) >= 1
        for box, label, difficult in zip(out["boxes"], out["labels"], out["difficult"]):
            value, flag = {3: (100, False), 7: (200, True)}[int(label)]
            assert bool(difficult) == flag
            rows, cols = torch.nonzero((image[0] * 255).round() == value, as_tuple=True)
            assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    image, out = detection_transforms(False)(tv_tensors.Image(canvas), target)
    assert torch.equal(out["boxes"], target["boxes"]) and torch.allclose(image, canvas / 255)
