"""The corruption generator: the original script's pixels, types, shapes, determinism, and
strength against severity."""

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from patchswap.errors import PatchswapError
from patchswap.evaluation.corruptions import (
    CORRUPTIONS,
    FUNCTIONS,
    PARAMETERS,
    _magick_motion_blur,
    corrupt,
)

# Outputs of the original make_cifar_c.py (golden/README.md says how they were made).
GOLDEN = Path(__file__).parent / "golden" / "cifar_c.npz"
# Float rounding in the vectorized steps differs between x86 CPUs (snow: 2 of 122,880 values by
# one level between two EPYC machines); allow that much and nothing more.
MAX_LEVELS = 1
MAX_SHARE_OFF = 1e-4

RANDOM = ("glass_blur", "motion_blur", "snow", "frost", "fog", "elastic_transform")


def objects(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    """Bright textured blobs on a dark background, like Fashion-MNIST: uint8 (n, H, W[, C])."""
    rng = np.random.default_rng(seed)
    blob = gaussian_filter(rng.normal(size=(n, size, size)), (0, size / 8, size / 8))
    mask = blob > np.quantile(blob, 0.6, axis=(1, 2), keepdims=True)
    texture = gaussian_filter(rng.uniform(size=(n, size, size, channels)), (0, 1, 1, 0))
    texture = (texture - texture.min()) / np.ptp(texture)
    images = (20 + mask[..., None] * (120 + 100 * texture)).astype(np.uint8)
    return images[..., 0] if channels == 1 else images


GRAY = objects(8, 28, 1)
RGB = objects(4, 32, 3, seed=1)


def distance(images: np.ndarray, corruption: str, severity: int) -> float:
    return float(np.abs(corrupt(images, corruption, severity).astype(float) - images).mean())


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_uint8_of_the_input_shape_and_deterministic(name):
    for images in (GRAY, RGB):
        out = corrupt(images, name, 3, seed=7)
        assert out.dtype == np.uint8 and out.shape == images.shape
        assert np.array_equal(out, corrupt(images, name, 3, seed=7))
        # Chunks give the same images as one call when they say where they start.
        assert np.array_equal(out[2:], corrupt(images[2:], name, 3, seed=7, first_index=2))
    if name in RANDOM:
        assert not np.array_equal(corrupt(GRAY, name, 3, seed=7), corrupt(GRAY, name, 3, seed=8))


MONOTONE = ("defocus_blur", "gaussian_blur", "snow", "fog", "brightness", "contrast")


@pytest.mark.parametrize("name", MONOTONE)
def test_images_move_further_from_the_clean_ones_at_each_severity(name):
    distances = [distance(GRAY, name, severity) for severity in range(1, 6)]
    assert all(d > 0 for d in distances)
    assert distances == sorted(distances) and len(set(distances)) == 5, distances


@pytest.mark.parametrize("name", ("motion_blur", "glass_blur", "frost"))
def test_stronger_overall_where_the_table_trades_parameters(name):
    """CIFAR-C's table is not monotone in every parameter: glass blur's sigma falls from
    severity 3 to 4 while its iterations double, frost lowers the image weight while raising
    the frost weight, and motion blur draws a new angle per severity. The distance still grows
    from the low severities to the high ones."""
    d = [distance(GRAY, name, severity) for severity in range(1, 6)]
    assert all(value > 0 for value in d)
    assert d[4] > d[0] and d[3] + d[4] > d[0] + d[1], d


def test_elastic_follows_the_cifar_c_table_whose_affine_part_shrinks():
    """make_cifar_c.py's elastic_transform shrinks the random affine (0.08 -> 0.03 of the
    image size) while the elastic field grows from nothing: pixel distance falls with severity,
    and severity 1 is a pure affine warp. The test pins that behaviour of the published table."""
    assert [c[2] for c in PARAMETERS["elastic_transform"]] == [0.08, 0.07, 0.06, 0.05, 0.03]
    d = [distance(GRAY, "elastic_transform", severity) for severity in range(1, 6)]
    assert all(value > 0 for value in d)
    assert d[0] > d[4], d


def test_bad_arguments_are_clear_errors():
    with pytest.raises(PatchswapError, match="unknown corruption 'rain'; valid corruptions"):
        corrupt(GRAY, "rain", 1)
    with pytest.raises(PatchswapError, match="'zoom_blur' is only in the released CIFAR-C files"):
        corrupt(GRAY, "zoom_blur", 1)
    with pytest.raises(PatchswapError, match="severity 6 is not one of 1-5"):
        corrupt(GRAY, "fog", 6)
    with pytest.raises(PatchswapError, match="takes uint8 images"):
        corrupt(GRAY.astype(np.float32), "fog", 1)


# ImageMagick 6.9 Q16 (Debian libmagickwand-6.q16-6, through Wand's MagickMotionBlurImage, as
# make_cifar_c.py calls it) on the 8x8 image below, written once and kept here.
MAGICK_INPUT = (np.arange(64).reshape(8, 8) * 37 % 256).astype(np.uint8)
MAGICK_OUTPUT = {
    (6, 2, 30.0): [
        [62, 95, 121, 130, 114, 145, 93, 20], [98, 124, 133, 118, 154, 110, 48, 60],
        [127, 136, 121, 158, 119, 65, 88, 100], [139, 124, 161, 123, 74, 105, 128, 140],
        [127, 164, 125, 77, 113, 144, 167, 179], [167, 129, 80, 113, 137, 168, 191, 204],
        [129, 81, 117, 150, 147, 126, 149, 162], [69, 106, 142, 175, 172, 151, 99, 27],
    ],
    (9, 2.5, -120.0): [
        [0, 19, 51, 87, 124, 161, 198, 100], [11, 30, 62, 98, 135, 172, 139, 111],
        [32, 51, 83, 119, 156, 123, 95, 132], [61, 80, 112, 149, 115, 87, 124, 110],
        [98, 118, 150, 116, 88, 125, 110, 113], [138, 157, 119, 90, 127, 112, 115, 133],
        [177, 126, 93, 129, 115, 118, 135, 163], [147, 101, 133, 118, 121, 138, 166, 132],
    ],
}  # fmt: skip


@pytest.mark.parametrize("radius, sigma, angle", list(MAGICK_OUTPUT))
def test_motion_blur_equals_imagemagick(radius, sigma, angle):
    image = MAGICK_INPUT[..., None].astype(np.float64)
    blurred = _magick_motion_blur(image, radius, sigma, angle)[..., 0]
    assert blurred.tolist() == MAGICK_OUTPUT[(radius, sigma, angle)]


class LegacyStream:
    """NumPy's legacy global stream, which make_cifar_c.py draws from, behind the Generator
    methods the corruptions call."""

    def __init__(self, seed: int):
        self.state = np.random.RandomState(seed)

    def integers(self, low, high=None, size=None):
        return self.state.randint(low, high, size)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self.state.uniform(low, high, size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self.state.normal(loc, scale, size)


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


def script_outputs(name, clean, severity_shift=0, seed_shift=0):
    """The re-implementation fed the script's stream: numpy.random.seed(1000 * severity + i)
    before image i; the shifts make the deliberately wrong variants the tolerance must reject."""
    out = np.empty((5, *clean.shape), np.uint8)
    for severity in range(1, 6):
        params = PARAMETERS[name][min(severity - 1 + severity_shift, 4)]
        for i, image in enumerate(clean):
            stream = LegacyStream(1000 * severity + i + seed_shift)
            corrupted = FUNCTIONS[name](image[None] / 255.0, params, [stream])
            out[severity - 1, i] = np.uint8(corrupted[0])
    return out


def off_by(ours: np.ndarray, expected: np.ndarray) -> str | None:
    """None when `ours` matches within the CPU tolerance, else what is off."""
    diff = np.abs(ours.astype(np.int16) - expected.astype(np.int16))
    allowed = int(MAX_SHARE_OFF * diff.size)
    if diff.max() > MAX_LEVELS or np.count_nonzero(diff) > allowed:
        where = tuple(int(i) for i in np.argwhere(diff)[0][:2] + [1, 0])
        return (f"{np.count_nonzero(diff)} of {diff.size} values differ (at most {allowed} "
                f"by {MAX_LEVELS} allowed), by up to {diff.max()}; first at (severity, image) "
                f"{where}")
    return None


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_pixel_equals_the_original_script_at_every_severity(name, golden):
    """Within one level on at most 0.01% of values: the only freedom two x86 CPUs need."""
    assert off_by(script_outputs(name, golden["clean"]), golden[name]) is None, name


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_the_tolerance_still_rejects_a_wrong_severity(name, golden):
    clean = golden["clean"][:, :, :, :]
    shifted = script_outputs(name, clean, severity_shift=1)
    # severity 5 has no stronger neighbour, so compare the first four severities only
    assert off_by(shifted[:4], golden[name][:4]) is not None, name


@pytest.mark.parametrize("name", RANDOM)
def test_the_tolerance_still_rejects_a_wrong_random_stream(name, golden):
    assert off_by(script_outputs(name, golden["clean"], seed_shift=1), golden[name]) is not None
