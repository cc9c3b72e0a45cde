"""Shape measures of a handwritten digit, as Morpho-MNIST defines them.

Castro et al. (2019), "Morpho-MNIST: Quantitative Assessment and Diagnostics
for Representation Learning", JMLR 20(178), defines six measures that papers
on MNIST shape use. Their toolkit (dccastro/Morpho-MNIST) is not on the
package index; this module follows its definitions step by step, on
scikit-image and scipy, and batches what can be batched:

  * upscale 4x as skimage's `pyramid_expand` does: a cubic resize, clipped to
    the image's own range, then a Gaussian of sigma 4/3 (one matrix per axis
    and step, for a whole batch); uint8 pixels are truncated back to uint8
    levels afterwards, as the toolkit's `astype(img.dtype)` does;
  * binarise halfway between the image's darkest and brightest value;
  * area: ink pixels of the binary digit, in px at 28x28;
  * length: the length of its medial axis, in px;
  * thickness: twice the mean distance from the medial axis to the edge: the
    mean stroke width, in px;
  * slant: the horizontal shear of the grey image's second moments, as an
    angle in degrees, positive when the top leans right;
  * width and height: of the bounding parallelogram at that slant, keeping
    98% of the ink mass (1% cut off each side), read as the toolkit reads
    them: the mass to the left of (above) each whole upscaled pixel, then
    interpolated.

The medial axis is scikit-image's algorithm (thin the binary digit pixel by
pixel in order of distance to the background, then of cornerness, keeping
pixels whose removal would change the local connectivity), run here through
its compiled inner loop with the lookup tables built once, rather than
`skimage.morphology.medial_axis`, which rebuilds them from 1,024 labellings
on every call. Its ties are broken by the permutation the toolkit's own
call, `medial_axis(..., rng=42)`, draws, so the skeletons are the toolkit's.

Every function takes a batch in the generator's range [-1, 1], ink in [0, 1]
with `ink=True`, or uint8 pixels, and returns arrays, one value per image.
The tutorial sorts digits by these qualities by eye (step 4); `explore` and
`control` measure them with this module.

    python -m gan_tutorials.morphometry --against REFERENCE.npz

compares the measures with the toolkit's own on the same digits (MNIST test
digits and generated ones; the file's layout is in `against_toolkit`) and times them;
docs/control.md shows the result.
"""

import argparse
import sys
import time
import warnings
from functools import cache

import numpy as np
from scipy.ndimage import correlate, distance_transform_edt, gaussian_filter1d, label
from skimage.transform import resize

try:  # scikit-image's compiled medial-axis loop (see the module docstring)
    from skimage.morphology._skeletonize_various_cy import _skeletonize_loop
except ImportError:  # a scikit-image that moved it: its public medial_axis, slower
    _skeletonize_loop = None

ATTRIBUTES = ("slant", "thickness", "width", "height", "length", "area")
TIEBREAK_SEED = 42  # the medial axis's tie-break permutation, seeded as the toolkit seeds it
UNITS = {"slant": "deg", "thickness": "px", "width": "px", "height": "px", "length": "px",
         "area": "px^2"}
SCALE = 4  # upscaling factor: Morpho-MNIST's default
THRESHOLD = 0.5  # binarise halfway between an image's min and max
BOUND_FRAC = 0.02  # ink mass left outside the bounding parallelogram, both sides together
SIGMA = 2 * SCALE / 6  # pyramid_expand's Gaussian after the resize
# Which definitions these are: 3 = the toolkit's, its medial axis's tie-breaks too; 2 broke
# them by another permutation; 1 was a thinning-based approximation. Results keep it.
VERSION = 3
# A 3x3 neighbourhood as a 9-bit number, bit k for the pixel k in reading order.
BITS = 2 ** np.arange(9).reshape(3, 3)
CENTRE = 2 ** 4


def as_batch(images):
    """float64 (n, rows, cols): a channel axis dropped."""
    images = np.asarray(images, np.float64)
    return images.reshape(len(images), *images.shape[1:3])


def to_ink(images):
    """Ink in [0, 1] from images in [-1, 1]: (n, rows, cols)."""
    return np.clip((as_batch(images) + 1.0) / 2.0, 0.0, 1.0)


@cache
def resizer(size):
    """(SCALE * size, size) matrix of skimage's cubic resize (reflect mode) along one axis."""
    return resize(np.eye(size), (SCALE * size, size), order=3, mode="reflect",
                  anti_aliasing=False, clip=False)


@cache
def smoother(size):
    """(size, size) matrix of a Gaussian of sigma SIGMA (reflect mode) along one axis."""
    return gaussian_filter1d(np.eye(size), SIGMA, axis=0, mode="reflect")


def both_axes(rows, images, cols):
    """rows @ image @ cols.T for every image of a batch, as two large matrix products.

    (numpy's stacked matmul runs image by image, several times slower here.)
    """
    n, r, c = images.shape
    left = (rows @ images.transpose(1, 0, 2).reshape(r, n * c))  # (R, n * c)
    left = left.reshape(len(rows), n, c).transpose(1, 0, 2).reshape(-1, c)  # (n * R, c)
    return (left @ cols.T).reshape(n, len(rows), len(cols))


def upscale(ink, pixels=False):
    """Each image upscaled SCALE times as pyramid_expand does: (n, 4 rows, 4 cols).

    The resize is clipped to each image's own range before the Gaussian, as
    skimage's resize does by default. With `pixels` (uint8 input, as ink/255)
    the result is truncated to the 256 uint8 levels, scaled by 255.
    """
    resized = both_axes(resizer(ink.shape[1]), ink, resizer(ink.shape[2]))
    resized = np.clip(resized, ink.min((1, 2), keepdims=True), ink.max((1, 2), keepdims=True))
    hires = both_axes(smoother(resized.shape[1]), resized, smoother(resized.shape[2]))
    return np.floor(255.0 * hires) if pixels else hires


def binarise(hires):
    """Ink mask at THRESHOLD between each image's min and max: (n, R, C) bool."""
    low = hires.min((1, 2), keepdims=True)
    high = hires.max((1, 2), keepdims=True)
    return (hires >= low + THRESHOLD * (high - low)) & (high > low)  # a flat image has no ink


@cache
def medial_tables():
    """(keep, cornerness): 512-entry tables over the 3x3 neighbourhoods of a pixel.

    keep: a foreground centre stays when taking it away changes the number of
    8-connected parts of its neighbourhood, or when it has fewer than two
    neighbours. cornerness: the number of background pixels in the 3x3.
    """
    patterns = (np.arange(512)[:, None, None] & BITS) > 0  # (512, 3, 3)
    eight = np.ones((3, 3), bool)
    parts = lambda p: label(p, eight)[1]
    changes = np.array([parts(p) != parts(p & (BITS != CENTRE)) for p in patterns])
    few = patterns.sum((1, 2)) < 3
    keep = ((np.arange(512) & CENTRE) > 0) & (changes | few)
    return keep.astype(np.uint8), 9 - patterns.sum((1, 2))


def medial_axis(mask, distance):
    """The medial axis of a binary image, given its distance to the background: (R, C) bool."""
    keep, cornerness = medial_tables()
    neighbourhood = correlate(mask.astype(np.int64), BITS, mode="constant")
    i, j = np.nonzero(mask)
    tiebreak = np.random.default_rng(TIEBREAK_SEED).permutation(len(i))  # see the module docstring
    order = np.lexsort((tiebreak, cornerness[neighbourhood[i, j]], distance[i, j]))
    if _skeletonize_loop is None:
        return public_medial_axis(mask)
    result = np.ascontiguousarray(mask, np.uint8)
    _skeletonize_loop(result, i.astype(np.intp), j.astype(np.intp),
                      order.astype(np.int32), keep)
    return result.astype(bool)


def public_medial_axis(mask):
    """scikit-image's public medial_axis, the same skeleton slower: where its loop has moved."""
    from skimage.morphology import medial_axis as skimage_medial_axis
    if not FALLBACK_WARNED:
        FALLBACK_WARNED.append(True)
        warnings.warn("scikit-image's compiled medial-axis loop was not found; measuring with "
                      "its public medial_axis (the same skeletons, several times slower)",
                      RuntimeWarning, stacklevel=3)
    return skimage_medial_axis(mask, rng=TIEBREAK_SEED)


FALLBACK_WARNED = []  # the fallback warns once per process


def skeleton_length(skeleton):
    """Length of a skeleton: 1 per side-by-side pair of its pixels, sqrt(2) per diagonal pair."""
    s = skeleton
    straight = (s[:, 1:] & s[:, :-1]).sum() + (s[1:, :] & s[:-1, :]).sum()
    diagonal = (s[1:, 1:] & s[:-1, :-1]).sum() + (s[1:, :-1] & s[:-1, 1:]).sum()
    return float(straight + np.sqrt(2.0) * diagonal)


def strokes(binary):
    """(thickness, length) per binary image, in px at 28x28, from its medial axis."""
    thickness, length = np.zeros(len(binary)), np.zeros(len(binary))
    for i, mask in enumerate(binary):
        if not mask.any():  # a blank image has no stroke
            continue
        distance = distance_transform_edt(mask)  # to the nearest background pixel
        skeleton = medial_axis(mask, distance)
        thickness[i] = 2.0 * distance[skeleton].mean() / SCALE
        length[i] = skeleton_length(skeleton) / SCALE
    return thickness, length


def shear_and_box(hires):
    """(slant in degrees, width, height) per grey image, from its moments and ink mass."""
    n, rows, cols = hires.shape
    mass = hires / (hires.sum((1, 2), keepdims=True) + 1e-12)  # (n, R, C), sums to 1
    y, x = np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64)
    row_mass, col_mass = mass.sum(2), mass.sum(1)  # (n, R), (n, C)
    my, mx = row_mass @ y, col_mass @ x  # centroid (n,)
    dy = y[None, :] - my[:, None]  # (n, R)
    u11 = np.einsum("nr,nrc,nc->n", dy, mass, x[None, :] - mx[:, None])
    u02 = (row_mass * dy * dy).sum(1) + 1e-12
    shear = u11 / u02  # x moves this much per row down; < 0 leans right
    # A pixel's place across the digit with the slant undone, its centre at x + 1/2.
    across = x[None, None, :] + 0.5 - (shear[:, None] * dy)[:, :, None]  # (n, R, C)
    width = mass_range(across.reshape(n, -1), mass.reshape(n, -1), cols) / SCALE
    height = mass_range(np.broadcast_to(y, (n, rows)), row_mass, rows) / SCALE
    return np.degrees(np.arctan(-shear)), width, height


def mass_range(coords, mass, size):
    """Distance between the BOUND_FRAC/2 and 1 - BOUND_FRAC/2 points of the mass, per row.

    The toolkit's reading: the share of the mass strictly below each whole
    coordinate t = 0 ... size - 1, interpolated linearly between them.
    """
    n = len(coords)
    first_above = np.clip(np.floor(coords).astype(np.int64) + 1, 0, size)  # first t > coord
    index = first_above + np.arange(n)[:, None] * (size + 1)  # one histogram per image
    counts = np.bincount(index.ravel(), mass.ravel(), n * (size + 1)).reshape(n, size + 1)
    below = np.cumsum(counts, 1)[:, :size]  # (n, size): mass below t
    places = np.arange(size, dtype=np.float64)
    low = [np.interp(BOUND_FRAC / 2, c, places) for c in below]
    high = [np.interp(1 - BOUND_FRAC / 2, c, places) for c in below]
    return np.asarray(high) - np.asarray(low)


def measure(images, ink=False):
    """Morpho-MNIST's six measures of each image: {attribute: (n,)}.

    images: (n, rows, cols[, 1]) in [-1, 1]; ink in [0, 1] when ink=True; or
    uint8 pixels (0 = background), measured as the toolkit measures MNIST.
    """
    pixels = np.asarray(images).dtype == np.uint8
    if pixels:
        ink_images = as_batch(images) / 255.0
    else:
        ink_images = np.clip(as_batch(images), 0.0, 1.0) if ink else to_ink(images)
    hires = upscale(ink_images, pixels)  # (n, 112, 112) for MNIST
    binary = binarise(hires)
    thickness, length = strokes(binary)
    slant, width, height = shear_and_box(hires)
    area = binary.sum((1, 2)) / SCALE ** 2
    return {"slant": slant, "thickness": thickness, "width": width, "height": height,
            "length": length, "area": area.astype(np.float64)}


# --- agreement with the toolkit's own numbers ------------------------------------------

def agreement(ours, theirs, sd):
    """How one measure agrees with the reference's: r, mean difference and MAD, in units of sd."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return {"r": float(np.corrcoef(ours, theirs)[0, 1]),
            "mean_diff_sd": float((ours - theirs).mean() / sd),
            "mad_sd": float(np.abs(ours - theirs).mean() / sd)}


def against_toolkit(reference, mnist_test_images):
    """This module against the toolkit's measures of the same digits.

    reference: {"mnist_test_index": (n,), "mnist_<measure>": (n,), "generated_images":
    (m, 28, 28) in [-1, 1], "generated_<measure>": (m,)}; mnist_test_images: the MNIST
    test split's uint8 digits. SD is the reference's over its MNIST digits. Returns
    ({set: {measure: agreement}}, {set: ms per image}).
    """
    sets = {"mnist": mnist_test_images[np.asarray(reference["mnist_test_index"])],
            "generated": np.asarray(reference["generated_images"])}
    table, ms = {}, {}
    for name, images in sets.items():
        start = time.perf_counter()
        ours = measure(images)
        ms[name] = (time.perf_counter() - start) / len(images) * 1000
        table[name] = {m: agreement(ours[m], reference[f"{name}_{m}"],
                                    np.std(reference[f"mnist_{m}"])) for m in ATTRIBUTES}
    return table, ms


def main(argv=None):
    """CLI: compare with the toolkit's measures in an .npz, and time the measuring."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.morphometry",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--against", required=True, metavar="REFERENCE_NPZ",
                        help="the toolkit's measures of MNIST test digits and generated digits")
    parser.add_argument("--json", help="also write the table, the timings and the machine here "
                        "(outputs/morphometry/agreement.json is the committed one)")
    args = parser.parse_args(argv)
    from gan_tutorials import data  # MNIST's test digits, offline
    try:
        reference = dict(np.load(args.against, allow_pickle=False))
        missing = [k for k in ("mnist_test_index", "generated_images",
                               *(f"{s}_{m}" for s in ("mnist", "generated") for m in ATTRIBUTES))
                   if k not in reference]
    except (OSError, ValueError) as err:
        missing = [f"a readable .npz ({type(err).__name__})"]
    if missing:
        parser.exit(2, f"{parser.prog}: error: --against {args.against}: not the toolkit's "
                       f"measures; missing {', '.join(missing[:3])}"
                       f"{' ...' if len(missing) > 3 else ''}\n")
    measure(np.zeros((1, 28, 28), np.uint8))  # build the tables before timing
    table, ms = against_toolkit(reference, data.read_offline_arrays(data.offline_file())["test"][0])
    print("| measure | set | r | mean diff (SD) | MAD (SD) |\n| --- | --- | ---: | ---: | ---: |")
    for m in ATTRIBUTES:
        for name, rows in table.items():
            a = rows[m]
            print(f"| {m} | {name} | {a['r']:.4f} | {a['mean_diff_sd']:+.4f} | {a['mad_sd']:.4f} |")
    print("ms per image: " + ", ".join(f"{name} {v:.2f}" for name, v in ms.items()))
    if args.json:
        from gan_tutorials import bench, runs  # the machine's description; the atomic write
        command = " ".join([parser.prog, *(sys.argv[1:] if argv is None else argv)])
        runs.write_json(args.json, {"agreement": table, "ms_per_image": ms,
                                    "machine": bench.machine(command)})


if __name__ == "__main__":
    main()
