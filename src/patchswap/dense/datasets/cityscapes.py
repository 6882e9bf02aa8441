"""Cityscapes fine semantic segmentation as tv_tensors, with the 19 training classes.

torchvision's `Cityscapes` finds and reads the files; this module checks the layout first (the
set cannot be downloaded by code: it needs a login, so a missing split is one line saying where
the files go), lists the frames in a fixed order, and maps the label ids of the
`*_gtFine_labelIds.png` masks to the 19 train ids every Cityscapes mIoU is reported on
(cityscapesScripts' `labels.py`; every other id, -1 license plate included, is ignored: 255).
Building a split reads every mask once (`annotations`, cached): a value that is no Cityscapes
label id (0-33, or 255 for -1) is refused there in one line, not mapped to void unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.datasets import Cityscapes
from torchvision.transforms.v2 import functional as F

from ...data.files import data_errors
from ...errors import DataError, unknown_name
from .annotations import Item, checked_facts, distinct_values, read_mask, refuse_ids
from .voc import IGNORE_INDEX, Sample

# the 19 evaluated classes, in train-id order (cityscapesScripts' labels.py, trainId 0..18)
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_SPLITS = ("train", "val", "test")
CITYSCAPES_URL = "https://www.cityscapes-dataset.com/downloads/"
IMAGE_SUFFIX = "_leftImg8bit.png"
TARGET_SUFFIX = "_gtFine_labelIds.png"
MASK_HINT = f"Cityscapes *{TARGET_SUFFIX} masks are 8-bit grey PNGs of label ids"
# the label ids a labelIds mask may hold: labels.py's 0..33, and -1 (license plate) as uint8
LABEL_IDS = frozenset(label.id % 256 for label in Cityscapes.classes)


def _label_to_train_id() -> np.ndarray:
    """Label id -> train id, 256 entries (a uint8 mask indexes it directly).

    Built from torchvision's copy of cityscapesScripts' `labels.py`; ids whose train id is
    255 or -1 (void, parking, rail track, guard rail, bridge, tunnel, polegroup, caravan,
    trailer, license plate) and ids the table does not name stay 255.
    """
    table = np.full(256, IGNORE_INDEX, np.uint8)
    for label in Cityscapes.classes:
        if 0 <= label.id < 256 and 0 <= label.train_id < len(CITYSCAPES_CLASSES):
            table[label.id] = label.train_id
    table.flags.writeable = False
    return table


LABEL_TO_TRAIN_ID = _label_to_train_id()


class _CityscapesSample:
    """(PIL image, PIL labelIds mask) -> (Image uint8 3xHxW, Mask uint8 HxW of train ids)."""

    def __init__(self, transforms: Callable | None) -> None:
        self.transforms = transforms

    def __call__(self, image: Image.Image, mask: Image.Image) -> Sample:
        if mask.mode not in ("L", "P"):
            mask.close()  # torchvision opened it; it is not read
            raise DataError(f"mask {mask.filename!r} is a {mask.mode} image; {MASK_HINT}")
        train_ids = LABEL_TO_TRAIN_ID[np.asarray(mask)]
        sample = (
            tv_tensors.Image(F.pil_to_tensor(image)),
            tv_tensors.Mask(torch.from_numpy(train_ids)),
        )
        return self.transforms(*sample) if self.transforms is not None else sample


def _mask_values(item: Item) -> list[int]:
    mask, image = item
    return distinct_values(read_mask(mask, image, ("L", "P"), MASK_HINT))


def _check_layout(root: Path, split: str) -> None:
    """One line naming the missing folders and where the files come from.

    torchvision would say 'Dataset not found or incomplete' without a path, or, given the two
    zips in `root`, unpack 11 GB inside the constructor (once per DDP rank, concurrently).
    """
    expected = [root / "leftImg8bit" / split, root / "gtFine" / split]
    missing = [str(path) for path in expected if not path.is_dir()]
    if missing:
        raise DataError(
            f"Cityscapes {split} not found in {root}: expected {', '.join(missing)}; download "
            f"leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from {CITYSCAPES_URL} "
            "(free, needs a login: no code can fetch them) and unzip both into that root"
        )


def cityscapes_segmentation(
    root: str | Path, split: str = "train", transforms: Callable | None = None
) -> Cityscapes:
    """Cityscapes fine under `root` (leftImg8bit/, gtFine/): items (Image, Mask), then `transforms`.

    Masks hold train ids 0..18 (`CITYSCAPES_CLASSES`) and 255 for every pixel Cityscapes does
    not score. Frames are sorted by path (torchvision lists folders in directory order, which
    differs between file systems). The public test split's masks are placeholders: score on val.
    Every mask is read here once (then cached): one whose mode or size is wrong, or that holds
    a value that is no Cityscapes label id, is refused in one line naming it and the value.
    """
    if split not in CITYSCAPES_SPLITS:
        raise unknown_name("Cityscapes split", split, list(CITYSCAPES_SPLITS))
    root = Path(root).expanduser()
    _check_layout(root, split)
    with data_errors(f"cannot read Cityscapes {split}", f"see {CITYSCAPES_URL}"):
        dataset = Cityscapes(
            str(root),
            split=split,
            mode="fine",
            target_type="semantic",
            transforms=_CityscapesSample(transforms),
        )
    pairs = sorted(
        (image, targets)
        for image, targets in zip(dataset.images, dataset.targets)
        if image.endswith(IMAGE_SUFFIX)
    )
    absent = [targets[0] for _, targets in pairs if not Path(targets[0]).is_file()]
    if absent:
        raise DataError(
            f"{len(absent)} of {len(pairs)} Cityscapes {split} masks (*{TARGET_SUFFIX}) are "
            f"missing, first {absent[0]}; unzip gtFine_trainvaltest.zip into {root} again"
        )
    if not pairs:
        raise DataError(
            f"no *{IMAGE_SUFFIX} frames under {root / 'leftImg8bit' / split}/<city>/; unzip "
            f"leftImg8bit_trainvaltest.zip from {CITYSCAPES_URL} into {root}"
        )
    dataset.images = [image for image, _ in pairs]
    dataset.targets = [targets for _, targets in pairs]
    masks = [targets[0] for targets in dataset.targets]
    values = checked_facts("cityscapes-mask", root, list(zip(masks, dataset.images)), _mask_values)
    known = sorted(LABEL_IDS - {IGNORE_INDEX})
    describe = f"Cityscapes label ids are {known[0]}-{known[-1]} and 255 (license plate's -1)"
    refuse_ids(masks, values, set(LABEL_IDS), describe, noun="label id")
    return dataset
