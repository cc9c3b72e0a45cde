"""Tutorial step 4: the style measures and the latent-space maths, on known inputs."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy import stats

from gan_tutorials import data, latent
from gan_tutorials.models import create_models


def stroke(width, shear):
    """A straight stroke of known width whose top leans right by `shear` px per px."""
    r, c = np.mgrid[0:28, 0:28].astype(float)
    p0, p1 = np.array([5.0, 14 + 8 * shear]), np.array([22.0, 14 - 8 * shear])
    d = p1 - p0
    t = np.clip(((r - p0[0]) * d[0] + (c - p0[1]) * d[1]) / (d @ d), 0, 1)
    dist = np.hypot(r - (p0[0] + t * d[0]), c - (p0[1] + t * d[1]))
    return (np.clip(width / 2 + 0.5 - dist, 0, 1) * 2 - 1)[..., None]  # (28, 28, 1) in [-1, 1]


def shear_digits(images, k):
    """Lean digits right by k px per px of height (rows shifted; top moves right)."""
    out = np.empty_like(images)
    for row in range(28):
        out[:, row] = np.roll(images[:, row], int(round(k * (14 - row))), axis=1)
    return out


def dilate(images):
    """Thicken strokes: the max over each pixel's 3x3 neighbourhood."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-1)
    return np.max([padded[:, dr:dr + 28, dc:dc + 28] for dr in range(3) for dc in range(3)], 0)


def test_slant_of_drawn_strokes_is_their_lean():
    shears = np.array([-0.5, -0.2, 0.0, 0.2, 0.5])
    lean = np.degrees(np.arctan(shears * 16 / 17))  # the top moves 16 * shear px over 17 rows
    for width in (1, 4):
        slants = latent.style(np.stack([stroke(width, s) for s in shears]))["slant"]
        np.testing.assert_allclose(slants, lean, atol=1.2)  # degrees, at any stroke width


def test_thickness_follows_the_drawn_width_at_every_slant():
    """Thickness grows with the drawn width at any slant. The medial axis may sprout a spur
    toward the stroke's edge, which can only lower the mean distance, never raise it."""
    for shear in (-0.4, 0.0, 0.4):
        widths = latent.style(np.stack([stroke(w, shear) for w in (1, 2, 3, 4, 5)]))["thickness"]
        assert np.all(np.diff(widths) > 0), widths
        assert np.all(widths[1:] <= np.array([2, 3, 4, 5]) + 0.1), widths
        assert np.all(widths[1:] >= 0.85 * np.array([2, 3, 4, 5])), widths  # px; 1 px reads ~1.4


def test_measures_order_sheared_and_dilated_real_digits(real_mnist):
    x, _ = real_mnist["test"]
    digits = np.asarray(data.scale_images(x[:200]))
    slants = [latent.style(shear_digits(digits, k))["slant"].mean() for k in (-0.3, 0.0, 0.3)]
    assert slants[0] < slants[1] < slants[2]
    widths = [latent.style(d)["thickness"].mean()
              for d in (digits, dilate(digits), dilate(dilate(digits)))]
    assert widths[0] < widths[1] < widths[2]
    # Shearing barely moves thickness: the two measures are not confounded.
    sheared = latent.style(shear_digits(digits, 0.3))["thickness"].mean()
    assert sheared == pytest.approx(widths[0], rel=0.1)


def test_categorize_bins_known_styles():
    # 9 vectors: thickness low/mid/high x slant straight/mid/right, each once.
    thick = np.repeat([1.0, 2.0, 3.0], 3)
    slant = np.tile([0.0, 0.15, 0.4], 3)
    masks = latent.categorize({"thickness": thick, "slant": slant})
    assert np.flatnonzero(masks["thin_straight"]).tolist() == [0]
    assert np.flatnonzero(masks["thin_slanted"]).tolist() == [2]
    assert np.flatnonzero(masks["thick_straight"]).tolist() == [6]
    assert np.flatnonzero(masks["thick_slanted"]).tolist() == [8]
    # Straight means small |slant|: a left lean is not straight.
    masks = latent.categorize({"thickness": np.ones(3), "slant": np.array([-0.5, 0.01, 0.5])})
    assert np.flatnonzero(masks["thick_straight"]).tolist() == [1]


def test_vector_maths_is_exact():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((6, 100))
    masks = {"thick_straight": np.array([1, 1, 0, 0, 0, 0], bool),
             "thick_slanted": np.array([0, 0, 1, 0, 0, 0], bool),
             "thin_straight": np.array([0, 0, 0, 1, 1, 1], bool),
             "thin_slanted": np.array([0, 0, 0, 0, 0, 1], bool)}
    vectors = latent.category_vectors(noise, masks)
    np.testing.assert_array_equal(vectors["thick_straight"], (noise[0] + noise[1]) / 2)
    np.testing.assert_array_equal(vectors["thin_straight"], noise[3:].mean(0))
    frames = latent.scaled(vectors["thick_slanted"])
    assert frames.shape == (50, 100)
    np.testing.assert_allclose(frames[0], 2 * noise[2])
    np.testing.assert_allclose(frames[-1], -2 * noise[2])
    np.testing.assert_allclose(frames[len(frames) // 2 - 1] + frames[len(frames) // 2], 0, atol=1e-12)
    sums = latent.arithmetic(vectors)
    np.testing.assert_array_equal(sums["add"]["result"], vectors["thick_straight"] + noise[5])
    np.testing.assert_array_equal(sums["subtract"]["result"], noise[2] - vectors["thick_straight"])


@pytest.mark.parametrize("arch", ["dense", "conv"])
def test_smoke_run_writes_every_file(tmp_path, arch):
    keras.utils.set_random_seed(0)
    generator, _ = create_models("cgan", arch=arch)
    path = tmp_path / "generator.keras"
    generator.save(path)
    result = subprocess.run([sys.executable, "-m", "gan_tutorials.explore", str(path),
                             "--samples", "90", "--digits", "1", "7"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "explore"
    names = {p.name for p in out.iterdir()}
    assert names == {"grid.png", "categories.png", "scaling.png", "explore.json",
                     "arithmetic_add.png", "arithmetic_subtract.png",
                     *(f"scaling_{c}.gif" for c in latent.CATEGORIES)}
    numbers = json.loads((out / "explore.json").read_text())
    assert numbers["digits"] == [1, 7] and numbers["samples"] == 90
    assert sum(c["size"] for c in numbers["categories"].values()) > 0
    assert len(numbers["scaling"]["thin_slanted"]["slant"]) == 50
    for name, scaling in numbers["scaling"].items():  # rho is the stored curves' rank correlation
        for measure in ("slant", "thickness"):
            assert scaling[f"spearman_{measure}"] == pytest.approx(
                stats.spearmanr(latent.SCALARS, scaling[measure]).statistic, abs=0.02), (name, measure)


def test_refuses_an_unconditional_generator(tmp_path):
    from gan_tutorials.models import create_generator
    path = tmp_path / "g.keras"
    create_generator().save(path)
    result = subprocess.run([sys.executable, "-m", "gan_tutorials.explore", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "unconditional generator; expected a conditional" in result.stderr
