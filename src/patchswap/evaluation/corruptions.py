"""The paper's ten image corruptions (Table 11), for any dataset and image size.

Re-implemented from Hendrycks & Dietterich's CIFAR-10-C script, hendrycks/robustness
`ImageNet-C/create_c/make_cifar_c.py`, with its per-severity parameters (`PARAMETERS`, copied
from that file) and its arithmetic, including uint8 truncation of the result. Differences:

- sizes: the script hard-codes 32x32; here loop bounds, the fog map and the elastic parameters
  (given there as multiples of the 32-pixel image size) follow the image, other parameters are
  CIFAR's pixel values, so images far larger than 32x32 get milder corruptions than ImageNet-C.
- libraries: SciPy's `gaussian_filter` for scikit-image's `gaussian` (which calls it with the
  same mode and truncate), Matplotlib's HSV conversion for scikit-image's, OpenCV as in the
  script; NumPy 2 and current scikit-image APIs.
- motion blur and snow: the script calls ImageMagick's MotionBlurImage through Wand. Here
  `_magick_motion_blur` computes the same in NumPy: ImageMagick's one-sided Gaussian kernel
  of width 2 * ceil(radius) + 1, weights exp(-i^2 / 2 sigma^2) normalized, tap i at offset
  (ceil(i cos a - 0.5), ceil(i sin a - 0.5)), edge pixels repeated outside the image, and the
  8-bit rounding of the PNG round trip (`tests/evaluation/test_corruptions.py` keeps an
  ImageMagick output as a fixture).
- frost: the script's six photographs ship with the package (`frost.py`); images larger than
  32x32 get the photograph shrunk less than the script's 0.2, so the frost keeps its scale.
- glass blur: the script's tuple "swap" of two NumPy views copies the neighbour's pixel instead
  of swapping them; this reproduces what the script computes.
- grayscale images are corrupted as three equal channels and averaged back.
- randomness: one generator per image, from (seed, corruption, severity, image index), so a
  set is reproducible and an image's corruption does not depend on the batch it is in (the
  script seeds nothing).

Fed the script's random stream (NumPy's legacy generator, seeded as it was seeded), all ten
corruptions give the script's uint8 images on 32x32 RGB inputs at every severity:
`tests/evaluation/test_corruptions.py` checks every pixel against outputs of the original
script (`tests/evaluation/golden/`, made with Wand on ImageMagick 6 Q16, scikit-image and
OpenCV), up to one intensity level on a handful of float-rounding pixels that differ between
x86 CPUs.

Generated sets are nevertheless not the released CIFAR-10-C / CIFAR-100-C (the released ones
come from other random draws), so their numbers are close to but not the paper's; evaluate on
the released files (`corruption_sets`) for that.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from scipy.ndimage import gaussian_filter, map_coordinates, zoom

from ..errors import PatchswapError, unknown_name
from .frost import CHOICES, frost_photo, photo_scale

# In the order of the paper's Table 11, with its abbreviations (glass blur is "GB" twice there).
CORRUPTIONS = (
    "defocus_blur",
    "gaussian_blur",
    "motion_blur",
    "glass_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
)
ABBREVIATIONS = dict(
    zip(CORRUPTIONS, ("DB", "GB", "MB", "GLB", "SN", "FR", "FO", "BR", "CO", "ET"))
)
SEVERITIES = (1, 2, 3, 4, 5)
# The released CIFAR-10-C / CIFAR-100-C hold nine more corruptions than Table 11; they are
# evaluated from those files (`--corruption-root`), not generated here.
RELEASED_ONLY = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "zoom_blur",
    "pixelate",
    "jpeg_compression",
    "spatter",
    "saturate",
)
RELEASED = CORRUPTIONS + RELEASED_ONLY

# Severity 1..5 parameters of make_cifar_c.py (hendrycks/robustness, ImageNet-C/create_c/).
PARAMETERS: dict[str, tuple] = {
    # sigma
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    # (disk radius, alias_blur)
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # (sigma, max_delta, iterations)
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # (radius, sigma); angle ~ U(-45, 45)
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # (loc, scale, zoom, threshold, blur radius, blur sigma, blend); angle ~ U(-135, -45)
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    # (image weight, frost weight)
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    # (fog strength, wibble decay of the plasma fractal)
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    # added to the HSV value
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    # contrast factor around the per-channel mean
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # (alpha, sigma, affine) as multiples of the image size (IMSIZE * 0.05 ... in the script)
    "elastic_transform": (
        (0, 0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ),
}

Generators = Sequence[np.random.Generator]


def _blur(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0):
    """scikit-image's `gaussian(x, sigma, channel_axis=-1)` on a batch (N, H, W, C)."""
    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode=mode, truncate=truncate)


def _magick_motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick 6 (Q16) MotionBlurImage of an (H, W, C) image in [0, 255], with its 8-bit
    rounding floor(v + 1/514); equal to Debian's libmagickwand-6.q16 on every pixel we tried."""
    width = 2 * math.ceil(radius) + 1
    taps = np.arange(width)
    kernel = np.exp(-(taps**2) / (2.0 * sigma**2))
    kernel /= kernel.sum()
    theta = math.radians(angle)
    height, width_px = image.shape[:2]
    rows, cols = np.arange(height)[:, None], np.arange(width_px)[None, :]
    out = np.zeros(image.shape, dtype=np.float64)
    for i, weight in enumerate(kernel):
        dx = math.ceil(i * math.cos(theta) - 0.5)
        dy = math.ceil(i * math.sin(theta) - 0.5)
        out += (
            weight * image[np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width_px - 1)]
        )
    return np.floor(out + 0.5 / 257)


def _clipped_zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre of an (H, W, C) image by `factor` and crop back to (H, W)."""
    h, w = image.shape[:2]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    zoomed = zoom(image[top : top + ch, left : left + cw], (factor, factor, 1), order=1)
    trim_top, trim_left = (zoomed.shape[0] - h) // 2, (zoomed.shape[1] - w) // 2
    return zoomed[trim_top : trim_top + h, trim_left : trim_left + w]


def _plasma_fractal(rng: np.random.Generator, mapsize: int, wibbledecay: float) -> np.ndarray:
    """Diamond-square height map in [0, 1] of side `mapsize` (a power of two), as the script's
    `plasma_fractal` (itself from FLHerne/mapgen), including its wibble * U(-wibble, wibble)."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squares = corners + np.roll(corners, shift=-1, axis=0)
        squares += np.roll(squares, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(squares)
        centres = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(left)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(top)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


# Each corruption maps a batch x (N, H, W, 3) in [0, 1] to values in [0, 255], as the script's
# function of the same name does for one image; `c` is its row of PARAMETERS.


def _gaussian_blur(x: np.ndarray, c: float, rngs: Generators) -> np.ndarray:
    return np.clip(_blur(x, c), 0, 1) * 255


def _defocus_blur(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    radius, alias_blur = c
    support = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(support, support)
    disk = np.array(xx**2 + yy**2 <= radius**2, dtype=np.float32)
    disk /= disk.sum()
    kernel = cv2.GaussianBlur(disk, ksize=(3, 3) if radius <= 8 else (5, 5), sigmaX=alias_blur)
    out = np.stack([cv2.filter2D(image, -1, kernel) for image in x])
    return np.clip(out, 0, 1) * 255


def _glass_blur(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    sigma, delta, iterations = c
    n, h, w = x.shape[:3]
    pixels = np.uint8(_blur(x, sigma) * 255)
    rows, cols = range(h - delta, delta, -1), range(w - delta, delta, -1)
    shape = (iterations, len(rows), len(cols), 2)  # (dx, dy) per position, in the script's order
    shifts = np.stack([rng.integers(-delta, delta, size=shape) for rng in rngs])
    batch = np.arange(n)
    for it in range(iterations):
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                dx, dy = shifts[:, it, i, j, 0], shifts[:, it, i, j, 1]
                pixels[batch, row, col] = pixels[batch, row + dy, col + dx]
    return np.clip(_blur(pixels / 255.0, sigma), 0, 1) * 255


def _motion_blur(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    radius, sigma = c
    return np.stack(
        [
            _magick_motion_blur(image * 255, radius, sigma, rng.uniform(-45, 45))
            for image, rng in zip(x, rngs)
        ]
    )


def _snow(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    loc, scale, factor, threshold, radius, sigma, blend = c
    h, w = x.shape[1:3]
    layers = []
    for rng in rngs:
        layer = rng.normal(size=(h, w), loc=loc, scale=scale)
        layer = _clipped_zoom(layer[..., None], factor)
        layer[layer < threshold] = 0
        layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8).astype(np.float64)
        layers.append(_magick_motion_blur(layer, radius, sigma, rng.uniform(-135, -45)) / 255.0)
    layers = np.stack(layers)
    x = x.astype(np.float32)
    gray = (x @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]  # cv2 RGB2GRAY
    x = blend * x + (1 - blend) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layers + np.rot90(layers, k=2, axes=(1, 2)), 0, 1) * 255


def _frost(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    image_weight, frost_weight = c
    h, w = x.shape[1:3]
    crops = []
    for rng in rngs:
        photo = frost_photo(int(rng.integers(CHOICES)), photo_scale(h, w))
        top, left = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
        crops.append(photo[top : top + h, left : left + w])
    pixels = np.rint(x * 255)  # the script blends the uint8 image itself, not x * 255
    return np.clip(image_weight * pixels + frost_weight * np.stack(crops), 0, 255)


def _fog(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    strength, decay = c
    h, w = x.shape[1:3]
    mapsize = 1 << (max(h, w) - 1).bit_length()
    maps = np.stack([_plasma_fractal(rng, mapsize, decay)[:h, :w] for rng in rngs])
    top = x.max(axis=(1, 2, 3), keepdims=True)
    x = x + strength * maps[..., None]
    return np.clip(x * top / (top + strength), 0, 1) * 255


def _brightness(x: np.ndarray, c: float, rngs: Generators) -> np.ndarray:
    hsv = rgb_to_hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return np.clip(hsv_to_rgb(hsv), 0, 1) * 255


def _contrast(x: np.ndarray, c: float, rngs: Generators) -> np.ndarray:
    means = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def _elastic(image: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    shape = image.shape
    alpha, sigma, affine = (value * min(shape[:2]) for value in c)
    centre = np.float32(shape[:2]) // 2
    square = min(shape[:2]) // 3
    pts1 = np.float32([centre + square, [centre[0] + square, centre[1] - square], centre - square])
    pts2 = pts1 + rng.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, matrix, shape[1::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx, dy = (
        gaussian_filter(rng.uniform(-1, 1, size=shape[:2]), sigma, mode="reflect", truncate=3)
        for _ in range(2)
    )
    dx, dy = ((alpha * d).astype(np.float32)[..., None] for d in (dx, dy))
    xs, ys, zs = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    coords = (ys + dy).reshape(-1), (xs + dx).reshape(-1), zs.reshape(-1)
    warped = map_coordinates(image, coords, order=1, mode="reflect").reshape(shape)
    return np.clip(warped, 0, 1) * 255


def _elastic_transform(x: np.ndarray, c: tuple, rngs: Generators) -> np.ndarray:
    return np.stack([_elastic(image.astype(np.float32), c, rng) for image, rng in zip(x, rngs)])


FUNCTIONS: dict[str, Callable[[np.ndarray, object, Generators], np.ndarray]] = {
    "defocus_blur": _defocus_blur,
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "glass_blur": _glass_blur,
    "snow": _snow,
    "frost": _frost,
    "fog": _fog,
    "brightness": _brightness,
    "contrast": _contrast,
    "elastic_transform": _elastic_transform,
}


def check_corruption_args(
    corruptions: Sequence[str], severities: Sequence[int], released: bool = False
) -> None:
    """Names must be among `CORRUPTIONS` (or `RELEASED` when read from the released files) and
    severities among 1-5."""
    for name in corruptions:
        if name in RELEASED_ONLY and not released:
            raise PatchswapError(
                f"corruption {name!r} is only in the released CIFAR-C files, it is not generated: "
                "pass --corruption-root with those files, or choose among the ten of Table 11"
            )
        if name not in RELEASED:
            raise unknown_name("corruption", name, list(RELEASED if released else CORRUPTIONS))
    for severity in severities:
        if severity not in SEVERITIES:
            raise PatchswapError(f"severity {severity} is not one of 1-5, e.g. --severities 1 3 5")


def corrupt(
    images: np.ndarray, corruption: str, severity: int, seed: int = 0, first_index: int = 0
) -> np.ndarray:
    """`images` (uint8, (N, H, W) or (N, H, W, C) with C 1 or 3) corrupted, same shape and type.

    Image i uses a generator seeded by (seed, corruption, severity, first_index + i): pass
    `first_index` when corrupting a set in chunks to get the same result as in one call.
    """
    check_corruption_args([corruption], [severity])
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise PatchswapError(
            f"corrupt() takes uint8 images (N, H, W[, C]), got {images.dtype} {images.shape}"
        )
    x = images[..., None] if images.ndim == 3 else images
    if x.shape[-1] not in (1, 3) or min(x.shape[1:3]) < 4:
        raise PatchswapError(f"corrupt() needs 1 or 3 channels and sides >= 4, got {x.shape}")
    rgb = np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x
    name_id = zlib.crc32(corruption.encode())
    rngs = [
        np.random.default_rng([seed, name_id, severity, first_index + i]) for i in range(len(x))
    ]
    out = FUNCTIONS[corruption](rgb / 255.0, PARAMETERS[corruption][severity - 1], rngs)
    if x.shape[-1] == 1:
        out = out.mean(axis=-1, keepdims=True)
    return np.clip(out, 0, 255).astype(np.uint8).reshape(images.shape)
