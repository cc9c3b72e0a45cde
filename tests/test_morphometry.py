"""Morpho-MNIST's measures on drawn shapes whose answers are known."""

import numpy as np
import pytest
from skimage.draw import line
from skimage.morphology import dilation, disk

from gan_tutorials.morphometry import ATTRIBUTES, measure


def bar(width=3, length=16, lean_deg=0.0, size=28):
    """A vertical stroke of width x length px, its top leaning right by lean_deg: ink (28, 28)."""
    image = np.zeros((size, size))
    top = (size - length) // 2
    shift = np.tan(np.radians(lean_deg))
    for r in range(top, top + length):
        left = size / 2 - width / 2 + shift * (size / 2 - r)  # rows above the middle move right
        cols = np.arange(size)
        image[r] = np.clip(np.minimum(cols + 1, left + width) - np.maximum(cols, left), 0, 1)
    return image


def one(image):
    """The six measures of one ink image as floats."""
    return {k: float(v[0]) for k, v in measure(image[None], ink=True).items()}


def seven(radius):
    """A '7' drawn with 1 px lines, then dilated by a disk of radius: ink (28, 28)."""
    image = np.zeros((28, 28))
    for (r0, c0), (r1, c1) in (((6, 8), (6, 20)), ((6, 20), (22, 12))):
        rr, cc = line(r0, c0, r1, c1)
        image[rr, cc] = 1.0
    return dilation(image, disk(radius)) if radius else image


@pytest.mark.parametrize("width", [2, 3, 4, 5])
def test_thickness_area_and_height_of_a_bar(width):
    m = one(bar(width, 16))
    assert m["thickness"] == pytest.approx(width, abs=0.15)
    assert m["area"] == pytest.approx(width * 16, rel=0.1)
    assert m["height"] == pytest.approx(16, abs=0.5)  # 98% of the mass
    assert abs(m["slant"]) < 0.1


def test_length_grows_with_the_stroke():
    short, long_ = one(bar(3, 10)), one(bar(3, 18))
    assert long_["length"] - short["length"] == pytest.approx(8, abs=0.5)
    assert long_["thickness"] == pytest.approx(short["thickness"], abs=0.1)


@pytest.mark.parametrize("lean", [-25, -10, 10, 20, 30])
def test_slant_is_the_lean_in_degrees_positive_to_the_right(lean):
    upright, leaning = one(bar(3, 18)), one(bar(3, 18, lean))
    assert leaning["slant"] == pytest.approx(lean, abs=1.0)
    # width is measured across the slanted parallelogram, so a lean barely widens it
    assert leaning["width"] == pytest.approx(upright["width"], abs=0.6)
    assert leaning["height"] == pytest.approx(upright["height"], abs=0.5)


def test_dilation_thickens_by_two_px_per_radius():
    thickness = [one(seven(r))["thickness"] for r in (1, 2, 3)]
    steps = np.diff(thickness)
    assert np.all(steps == pytest.approx(2.0, abs=0.5)), thickness
    lengths = [one(seven(r))["length"] for r in (1, 2)]
    assert lengths[1] == pytest.approx(lengths[0], rel=0.25)  # the skeleton stays the stroke


def test_batches_generator_range_and_a_blank_image():
    batch = np.stack([bar(3, 16), np.zeros((28, 28))])
    from_ink = measure(batch, ink=True)
    from_tanh = measure(batch[..., None] * 2 - 1)  # (n, 28, 28, 1) in [-1, 1]
    assert set(from_ink) == set(ATTRIBUTES)
    for name in ATTRIBUTES:
        assert from_ink[name] == pytest.approx(from_tanh[name])
    assert from_ink["thickness"][1] == 0 and from_ink["length"][1] == 0
