"""A Cityscapes miniature in the release layout: `cityscapes_root` (conftest.py) writes it for
the reader's tests and the recipe test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# cityscapesScripts labels.py: label id -> train id of the 19 evaluated classes; all else 255
OFFICIAL = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",), "test": ("berlin",)}
H, W = 48, 96  # Cityscapes' 1:2 aspect (1024 x 2048 in the release)


def _label_ids(seed: int) -> np.ndarray:
    """A labelIds mask of 16 x 16 blocks: road, car, sky, building, vegetation, unlabeled,
    parking and 255 (where a uint8 mask would hold license plate's -1)."""
    ids = np.array([7, 26, 23, 11, 21, 0, 9, 255], np.uint8)
    blocks = np.random.default_rng(seed).choice(ids, size=(H // 16, W // 16))
    return np.kron(blocks, np.ones((16, 16), np.uint8))


def _write_city_frame(root: Path, split: str, city: str, seq: int, frame: int) -> np.ndarray:
    """One frame as the release stores it: leftImg8bit PNG and the 4 gtFine files."""
    stem = f"{city}_{seq:06d}_{frame:06d}"
    images = root / "leftImg8bit" / split / city
    gt = root / "gtFine" / split / city
    images.mkdir(parents=True, exist_ok=True)
    gt.mkdir(parents=True, exist_ok=True)
    label_ids = _label_ids(seq * 100 + frame)
    train_ids = np.array([OFFICIAL.get(int(i), 255) for i in label_ids.flat], np.uint8)
    # the photo encodes the expected train id, so a test can decode what a transform did
    photo = np.where(train_ids == 255, 250, train_ids.astype(np.int32) * 12 + 10)
    Image.fromarray(np.repeat(photo.reshape(H, W, 1), 3, 2).astype(np.uint8)).save(
        images / f"{stem}_leftImg8bit.png"
    )
    Image.fromarray(label_ids).save(gt / f"{stem}_gtFine_labelIds.png")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(gt / f"{stem}_gtFine_color.png")
    Image.fromarray(label_ids.astype(np.uint16) * 1000).save(gt / f"{stem}_gtFine_instanceIds.png")
    (gt / f"{stem}_gtFine_polygons.json").write_text(
        json.dumps({"imgHeight": H, "imgWidth": W, "objects": []})
    )
    return train_ids.reshape(H, W)
