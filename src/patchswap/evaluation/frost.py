"""The frost photographs of CIFAR-10-C, read as `make_cifar_c.py` reads them.

The script picks one of its photographs with `randint(5)` (so `frost6.jpg` is never used),
reads it with OpenCV (BGR), shrinks it by 0.2 and crops a random 32x32 window. The photographs
ship in `frost_photos/` with their Apache-2.0 licence. For images larger than 32x32 the
shrink factor grows with the image (0.2 x side / 32), so the frost keeps its size relative to
the image; up to 32x32 it is the script's 0.2.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import cv2
import numpy as np

PHOTOS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
CHOICES = 5  # make_cifar_c.py draws `np.random.randint(5)`: only the first five photographs


def photo_scale(height: int, width: int) -> float:
    """The script's 0.2 for CIFAR-sized images, scaled up with larger ones."""
    return 0.2 * max(1.0, max(height, width) / 32)


@lru_cache(maxsize=16)
def frost_photo(index: int, scale: float) -> np.ndarray:
    """Photograph `index` (0-5) resized by `scale` with OpenCV's defaults, uint8 RGB, read-only."""
    data = (files(__package__) / "frost_photos" / PHOTOS[index]).read_bytes()
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    rgb = np.ascontiguousarray(cv2.resize(bgr, (0, 0), fx=scale, fy=scale)[..., ::-1])
    rgb.setflags(write=False)
    return rgb
