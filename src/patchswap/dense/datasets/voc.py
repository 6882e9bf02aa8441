"""Pascal VOC segmentation and detection sets (real VOC or Fashion-MNIST scenes) as tv_tensors.

torchvision's `VOCSegmentation` and `VOCDetection` find and read the files; this module checks
the layout first (a missing set is one line saying where the files go), turns their PIL images,
masks and XML dicts into `tv_tensors`, and builds the joint augmentation with transforms v2 so
image, mask and boxes stay aligned. torchvision's own `wrap_dataset_for_transforms_v2` is not
used: it knows only VOC's 20 class names, drops `difficult` and keeps VOC's 1-based corners.
Building a set reads every mask or XML of the split once (`annotations`, cached): an id out of
range or a box that is not one is refused in one line there, not mid-epoch.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.datasets import VOCDetection, VOCSegmentation
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ...data.files import data_errors
from ...errors import DataError, PatchswapError
from .annotations import Item, checked_facts, distinct_values, read_mask, refuse_ids

IGNORE_INDEX = 255  # VOC's 'void': object borders and unlabelled pixels, never scored
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
# Fashion-MNIST's classes in its label order (class id = label + 1), spelled as VOC names are
SCENE_CLASSES = (
    "background", "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankleboot",
)  # fmt: skip
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SBD_PATH = "Segmentation/train_aug.txt"  # SBD-augmented training list, under ImageSets/
SCENES_HINT = "patchswap scenes"
MASK_MODES = ("P", "L")
MASK_HINT = "VOC masks are palette or grey PNGs whose values are class ids"
BLUR_KERNEL = 7  # side of the Gaussian kernel of `random_gaussian_blur`: +-3 sigma at sigma 1

Sample = tuple[tv_tensors.Image, Any]


def voc_palette() -> np.ndarray:
    """VOC's colour map (the devkit's `VOClabelcolormap`): 256 x 3 uint8, class id -> RGB.

    Class masks are palette PNGs whose pixel values are class ids; this is the palette that
    makes them look like VOC's (1 dark red, 15 person pink, 255 void cream).
    """
    ids = np.arange(256)
    palette = np.zeros((256, 3), np.uint8)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= (((ids >> (3 * bit + channel)) & 1) << (7 - bit)).astype(
                np.uint8
            )
    return palette


def _voc_root(root: str | Path, year: str) -> Path:
    """The folder of one VOC year under `root`, as torchvision lays it out."""
    return Path(root).expanduser() / "VOCdevkit" / f"VOC{year}"


def _check_files(
    root: str | Path, year: str, image_set: str, target_dir: str, ext: str, list_file: str
) -> list[str]:
    """The ids of `list_file`, after checking that every image and target it names exists.

    torchvision would fail with 'Dataset not found or corrupted. You can use download=True'
    (no download exists for scenes) or, for a missing file, mid-epoch; one line here says
    which files are expected where instead.
    """
    voc = _voc_root(root, year)
    split_file = voc / "ImageSets" / list_file
    expected = [voc / "JPEGImages", voc / target_dir, split_file]
    missing = [str(path) for path in expected if not path.exists()]
    if missing:
        sbd = " and SBD's SegmentationClassAug/ and train_aug.txt" if list_file == SBD_PATH else ""
        raise DataError(
            f"Pascal VOC {year} {image_set} not found in {Path(root).expanduser()}: expected "
            f"{', '.join(missing)} (the release's VOCdevkit/ folder{sbd} go in that root); or "
            f"generate Fashion-MNIST scenes there with `{SCENES_HINT} {root}`"
        )
    ids = split_file.read_text().split()
    absent = [
        path
        for scene_id in ids
        for path in (voc / "JPEGImages" / f"{scene_id}.jpg", voc / target_dir / f"{scene_id}{ext}")
        if not path.is_file()
    ]
    if absent:
        raise DataError(
            f"{len(absent)} files listed in {split_file} are missing, first {absent[0]}; "
            "restore them from the release or regenerate the set"
        )
    return ids


def _image(image: Image.Image) -> tv_tensors.Image:
    return tv_tensors.Image(F.pil_to_tensor(image))


class _SegmentationSample:
    """(PIL image, PIL mask) -> (Image uint8 CxHxW, Mask uint8 HxW), then `transforms`."""

    def __init__(self, transforms: Callable | None) -> None:
        self.transforms = transforms

    def __call__(self, image: Image.Image, mask: Image.Image) -> Sample:
        if mask.mode not in MASK_MODES:
            raise DataError(f"mask {mask.filename!r} is a {mask.mode} image; {MASK_HINT}")
        sample = (_image(image), tv_tensors.Mask(torch.from_numpy(np.array(mask))))
        return self.transforms(*sample) if self.transforms is not None else sample


def voc_objects(
    annotation: Any, where: str, canvas: tuple[int, int]
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Object names, boxes and `difficult` flags of one VOC XML (torchvision's dict of it).

    Boxes are float32 (N, 4), 0-based continuous XYXY, clipped to the image (`canvas` is
    (height, width)) as torchvision's `ClampBoundingBoxes` would; flags are bool (N,). An XML
    without objects (a background-only image) gives N = 0. A missing name or coordinate, a
    coordinate that is not a number, xmax < xmin or ymax < ymin, a box wholly outside the image
    or a `difficult` other than 0 or 1 is a DataError naming `where`, the object and the value.
    """
    body = annotation if isinstance(annotation, dict) else {}
    objects = body.get("object", [])
    objects = objects if isinstance(objects, list) else [objects]
    height, width = canvas
    names: list[str] = []
    boxes: list[list[float]] = []
    difficult: list[bool] = []
    for number, obj in enumerate(objects, start=1):
        at = f"{where}: object {number} of {len(objects)}"
        name = obj.get("name") if isinstance(obj, dict) else None
        if not isinstance(name, str) or not name:
            raise DataError(f"{at} has no <name>")
        at = f"{at} ({name})"
        bndbox = obj.get("bndbox")
        corner: dict[str, float] = {}
        for key in ("xmin", "ymin", "xmax", "ymax"):
            text = bndbox.get(key) if isinstance(bndbox, dict) else None
            if text is None:
                raise DataError(f"{at} has no <bndbox><{key}>")
            try:
                corner[key] = float(text)
            except (TypeError, ValueError):
                corner[key] = math.nan
            if not math.isfinite(corner[key]):
                raise DataError(f"{at}: {key} is {text!r}, not a number")
        for low, high in (("xmin", "xmax"), ("ymin", "ymax")):
            if corner[high] < corner[low]:
                raise DataError(f"{at}: {high} {corner[high]:g} < {low} {corner[low]:g}")
        # 1-based inclusive corners -> the pixels' continuous extent, within the image
        box = [
            max(corner["xmin"] - 1, 0.0),
            max(corner["ymin"] - 1, 0.0),
            min(corner["xmax"], float(width)),
            min(corner["ymax"], float(height)),
        ]
        if box[2] <= box[0] or box[3] <= box[1]:
            given = ", ".join(f"{corner[k]:g}" for k in ("xmin", "ymin", "xmax", "ymax"))
            raise DataError(f"{at}: box ({given}) lies outside the {width}x{height} image")
        flag = obj.get("difficult", "0")
        if flag not in ("0", "1"):
            raise DataError(f"{at}: difficult is {flag!r}, not 0 or 1")
        names.append(name)
        boxes.append(box)
        difficult.append(flag == "1")
    return (
        names,
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        torch.tensor(difficult, dtype=torch.bool),
    )


def _unknown_names(where: str, names: Sequence[str], classes: Sequence[str]) -> DataError | None:
    unknown = sorted(set(names) - set(classes))
    if not unknown:
        return None
    return DataError(
        f"{where}: object names {', '.join(unknown)} are not among the classes given "
        f"({', '.join(classes)}); pass the set's class names"
    )


class _DetectionSample:
    """(PIL image, VOC XML dict) -> (Image, {boxes, labels, difficult}), then `transforms`.

    VOC corners are 1-based and inclusive (a box of pixel columns 0..9 reads xmin=1, xmax=10);
    the continuous 0-based box of those pixels is (xmin - 1, ymin - 1, xmax, ymax), whose
    width is the devkit's `xmax - xmin + 1`. Labels index `classes` (0 is background).
    """

    def __init__(self, classes: Sequence[str], transforms: Callable | None) -> None:
        self.classes = {name: i for i, name in enumerate(classes)}
        self.transforms = transforms

    def __call__(self, image: Image.Image, annotation: dict) -> Sample:
        body = annotation.get("annotation")
        where = body.get("filename", "an annotation") if isinstance(body, dict) else "an annotation"
        names, boxes, difficult = voc_objects(body, str(where), (image.height, image.width))
        refusal = _unknown_names(str(where), names, list(self.classes))
        if refusal is not None:
            raise refusal
        target = {
            "boxes": tv_tensors.BoundingBoxes(
                boxes, format="XYXY", canvas_size=(image.height, image.width)
            ),
            "labels": torch.tensor([self.classes[n] for n in names], dtype=torch.int64),
            "difficult": difficult,
        }
        sample = (_image(image), target)
        return self.transforms(*sample) if self.transforms is not None else sample


def _xml_names(item: Item) -> list[str]:
    """The object names of one (XML, image) pair, after `voc_objects` accepted its objects."""
    xml, image = item
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as err:
        raise DataError(f"{xml} is not well-formed XML ({err})") from err
    if root.tag != "annotation":
        raise DataError(f"{xml} is not a VOC annotation: its root is <{root.tag}>")
    with Image.open(image) as photo:
        width, height = photo.size
    body = VOCDetection.parse_voc_xml(root).get("annotation")
    return voc_objects(body, xml, (height, width))[0]


def _mask_values(item: Item) -> list[int]:
    mask, image = item
    return distinct_values(read_mask(mask, image, MASK_MODES, MASK_HINT))


def voc_segmentation(
    root: str | Path,
    image_set: str = "train",
    *,
    year: str = "2012",
    sbd_aug: bool = False,
    classes: Sequence[str] = VOC_CLASSES,
    transforms: Callable | None = None,
) -> VOCSegmentation:
    """VOC segmentation under `root/VOCdevkit/VOC<year>`: items (Image, Mask), then `transforms`.

    Masks hold class ids (0 background, 255 void). `sbd_aug` trains on the SBD-augmented set
    most DeepLabV3+ users train on: masks from `SegmentationClassAug/` (grey PNGs), ids from
    `ImageSets/Segmentation/train_aug.txt`; val is always scored on `SegmentationClass`.
    Every mask is read here once (then cached): one whose mode or size is wrong, or that
    holds an id outside 0..len(classes)-1 and 255, is refused in one line naming it.
    """
    if sbd_aug and image_set != "train":
        raise PatchswapError(
            f"sbd_aug applies to the train split, not {image_set!r}: VOC is scored on the "
            "official SegmentationClass masks"
        )
    target_dir, list_file = (
        ("SegmentationClassAug", SBD_PATH)
        if sbd_aug
        else ("SegmentationClass", f"Segmentation/{image_set}.txt")
    )
    ids = _check_files(root, year, image_set, target_dir, ".png", list_file)
    with data_errors(f"cannot read Pascal VOC {year} {image_set}", f"see {SCENES_HINT} --help"):
        dataset = VOCSegmentation(
            str(Path(root).expanduser()),
            year=year,
            image_set="train" if sbd_aug else image_set,
            transforms=_SegmentationSample(transforms),
        )
    if sbd_aug:  # torchvision knows neither SBD's list nor its folder: same reader, SBD's files
        voc = _voc_root(root, year)
        dataset.images = [str(voc / "JPEGImages" / f"{i}.jpg") for i in ids]
        dataset.targets = [str(voc / target_dir / f"{i}.png") for i in ids]
    items = list(zip(dataset.targets, dataset.images))
    values = checked_facts("voc-mask", _voc_root(root, year), items, _mask_values)
    describe = f"valid ids are 0-{len(classes) - 1} and {IGNORE_INDEX} (void)"
    refuse_ids(dataset.targets, values, {*range(len(classes)), IGNORE_INDEX}, describe)
    return dataset


def voc_detection(
    root: str | Path,
    image_set: str = "train",
    *,
    year: str = "2012",
    classes: Sequence[str] = VOC_CLASSES,
    transforms: Callable | None = None,
) -> VOCDetection:
    """VOC detection under `root/VOCdevkit/VOC<year>`: items (Image, target), then `transforms`.

    target: `boxes` (BoundingBoxes XYXY, 0-based continuous), `labels` (int64 index into
    `classes`; `SCENE_CLASSES` for Fashion-MNIST scenes) and `difficult` (bool), which VOC07
    evaluation neither rewards nor penalises. VOC07 test is `year="2007", image_set="test"`.
    Every XML is read here once (then cached, with its image's size): one `voc_objects`
    refuses, or with an object name not in `classes`, is refused in one line naming it.
    """
    _check_files(root, year, image_set, "Annotations", ".xml", f"Main/{image_set}.txt")
    with data_errors(f"cannot read Pascal VOC {year} {image_set}", f"see {SCENES_HINT} --help"):
        dataset = VOCDetection(
            str(Path(root).expanduser()),
            year=year,
            image_set=image_set,
            transforms=_DetectionSample(classes, transforms),
        )
    items = list(zip(dataset.annotations, dataset.images))
    names = checked_facts("voc-xml", _voc_root(root, year), items, _xml_names)
    for xml, found in zip(dataset.annotations, names):
        refusal = _unknown_names(xml, found, classes)
        if refusal is not None:
            raise refusal
    return dataset


def random_gaussian_blur(p: float) -> v2.RandomApply:
    """jfzhang95's `RandomGaussianBlur` (pytorch-deeplab-xception, custom_transforms.py):
    with probability `p` (the reference's 0.5) the image, never the mask, is blurred with a
    Gaussian of sigma uniform in (0, 1) (`ImageFilter.GaussianBlur(radius=random.random())`;
    PIL's radius is the standard deviation). torchvision's exact 7x7 kernel (+-3 sigma at
    sigma 1) stands in for PIL's box-blur approximation; sigma starts at 1e-3, not 0, which
    torchvision refuses (a 1e-3 blur is the identity on uint8 images)."""
    return v2.RandomApply([v2.GaussianBlur(BLUR_KERNEL, sigma=(1e-3, 1.0))], p=p)


def segmentation_transforms(
    train: bool,
    size: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    blur: float = 0.0,
) -> v2.Compose:
    """DeepLab-style joint transforms, as torchvision's segmentation reference.

    Training: shorter side resized to a random 0.5-2x `size`, a random `size` crop (padded
    with void where the image is smaller), horizontal flip, and with probability `blur` a
    Gaussian blur of the image (`random_gaussian_blur`; DeepLabV3+ recipes: 0.5 as
    jfzhang95). Test: full image, no geometry (mIoU is scored at the original resolution).
    Both end in float + normalisation.
    """
    if not 0 <= blur <= 1:
        raise PatchswapError(f"blur is a probability in [0, 1], got {blur!r}")
    to_float = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if not train:
        return v2.Compose(to_float)
    return v2.Compose(
        [
            v2.RandomResize(size // 2, 2 * size),
            v2.RandomCrop(
                size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}
            ),
            v2.RandomHorizontalFlip(),
            *([random_gaussian_blur(blur)] if blur > 0 else []),
            *to_float,
        ]
    )


def _labels_and_difficult(sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
    """What `SanitizeBoundingBoxes` drops along with a box (a module function: picklable)."""
    return sample[1]["labels"], sample[1]["difficult"]


def detection_transforms(train: bool) -> v2.Compose:
    """SSD's joint transforms, as torchvision's detection reference (grey scenes: no colour jitter).

    Training: zoom out (up to 2x canvas), a random IoU crop, horizontal flip, then boxes that
    became empty are dropped with their labels and `difficult` flags. Test: none. Images stay
    in [0, 1]: torchvision's detection models resize and normalise inside.
    """
    to_float = v2.ToDtype(torch.float32, scale=True)
    if not train:
        return v2.Compose([to_float])
    return v2.Compose(
        [
            v2.RandomZoomOut(fill={tv_tensors.Image: 0, "others": 0}, side_range=(1.0, 2.0)),
            v2.RandomIoUCrop(),
            v2.RandomHorizontalFlip(),
            to_float,
            v2.SanitizeBoundingBoxes(labels_getter=_labels_and_difficult),
        ]
    )
