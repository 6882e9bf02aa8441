"""A procedural frost texture, standing in for the frost photographs of CIFAR-10-C.

`make_cifar_c.py` blends random crops of six frost photographs (`frost1.png` ... `frost6.jpg`,
shipped with hendrycks/robustness, not available here). This texture is generated instead: a
soft multi-scale haze plus thin, bright, branching ice-crystal strokes, tinted pale blue. It
looks like frost on glass but is not the photographs, so frost results of generated sets differ
from the released CIFAR-C ones in kind, not only by chance.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

TINT = np.array([0.82, 0.92, 1.0])  # RGB: frost photographs are bluish white
TEXTURES = 5  # make_cifar_c.py draws `np.random.randint(5)`: only the first 5 photographs


def _haze(rng: np.random.Generator, side: int) -> np.ndarray:
    """Smooth clouds in [0, 1]: white noise blurred at several scales, summed, normalized."""
    haze = sum(
        weight * gaussian_filter(rng.standard_normal((side, side)), sigma, mode="wrap")
        for weight, sigma in ((4.0, side / 8), (2.0, side / 16), (1.0, side / 32))
    )
    haze -= haze.min()
    return haze / haze.max()


def _crystals(rng: np.random.Generator, side: int) -> np.ndarray:
    """Branching strokes in [0, 1]: random walks of short segments with side branches."""
    canvas = np.zeros((side, side), np.float32)
    scale = side / 64

    def grow(x: float, y: float, angle: float, length: float, brightness: float, depth: int):
        for _ in range(int(rng.integers(3, 8))):
            step = length * rng.uniform(0.5, 1.0)
            nx, ny = x + step * np.cos(angle), y + step * np.sin(angle)
            cv2.line(
                canvas,
                (round(x * 16), round(y * 16)),
                (round(nx * 16), round(ny * 16)),
                float(brightness),
                thickness=1,
                lineType=cv2.LINE_AA,
                shift=4,
            )
            if depth > 0 and rng.random() < 0.5:
                side_angle = angle + rng.choice([-1.0, 1.0]) * np.pi / 3
                grow(nx, ny, side_angle, length * 0.6, brightness * 0.8, depth - 1)
            x, y, angle = nx, ny, angle + rng.normal(0.0, 0.25)

    for _ in range(int(28 * scale * scale)):
        x, y = rng.uniform(0, side, size=2)
        grow(x, y, rng.uniform(0, 2 * np.pi), 6 * scale, rng.uniform(0.4, 1.0), depth=2)
    return np.clip(gaussian_filter(canvas, 0.6), 0.0, 1.0)


@lru_cache(maxsize=16)
def frost_texture(side: int, index: int) -> np.ndarray:
    """Frost texture `index` (0-4) as uint8 (side, side, 3) RGB, the same for every call.

    Read-only; fixed seeds, so the texture bank is part of the generator like the photographs
    are part of the original script (the user's seed only chooses textures and crops).
    """
    rng = np.random.default_rng([0xF205, index, side])
    value = 0.5 * _haze(rng, side) ** 1.5 + _crystals(rng, side)
    texture = np.clip(value[..., None] * TINT * 255.0, 0, 255).astype(np.uint8)
    texture.setflags(write=False)
    return texture
