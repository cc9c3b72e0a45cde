"""Tutorial step 4 as computations: style measures of the noise input, its categories, scaling, sums.

The tutorial sorts noise vectors by eye into thick/thin x straight/slanted,
averages each group, scales an average from 2 to -2 and adds and subtracts
them. Here every "by eye" is a number, Morpho-MNIST's (see `morphometry`):
  * slant: the shear of the ink's second moments as an angle, in degrees;
    > 0 leans right;
  * thickness: the mean stroke width in pixels, twice the mean distance from
    the skeleton to the edge.
Functions return arrays and dicts; `explore` writes them to a run folder, and
`control` builds the article's method from the same categories.
"""

import time

import numpy as np
from scipy import stats

from gan_tutorials import morphometry
from gan_tutorials.config import MNIST
from gan_tutorials.models import draw

IMAGE = MNIST.image_shape  # (28, 28, 1)
CLASSES = MNIST.num_classes

CATEGORIES = ("thick_straight", "thick_slanted", "thin_straight", "thin_slanted")
TUTORIAL_DIGITS = (1, 4, 8)  # the digits the tutorial's figures show
SCALARS = np.linspace(2.0, -2.0, 50)  # the tutorial scales from 2 to -2


# --- style measures --------------------------------------------------------------

STYLE = ("slant", "thickness")  # the tutorial's two qualities, of morphometry's six


def style(images):
    """{"slant": (n,) degrees, "thickness": (n,) px} for a batch of images in [-1, 1]."""
    measured = morphometry.measure(images)
    return {name: measured[name] for name in STYLE}


# --- the generator, batched ------------------------------------------------------

def render(generator, noise, digits, batch_size=2000):
    """Images of every noise vector drawn as every digit: (len(noise), len(digits), 28, 28, 1)."""
    n, k = len(noise), len(digits)
    z = np.repeat(np.asarray(noise), k, axis=0)  # row i*k + j: noise i as digit j
    images = draw(generator, z, np.tile(np.asarray(digits), n), batch_size=batch_size)
    return images.reshape(n, k, *IMAGE)


def noise_style(generator, noise, digits):
    """Each noise vector's style, averaged over the digits it is drawn as."""
    images = render(generator, noise, digits)  # (n, k, 28, 28, 1)
    measured = style(images.reshape(-1, *IMAGE))
    return {name: values.reshape(len(noise), len(digits)).mean(1) for name, values in measured.items()}


def class_grid(generator, seed=0, columns=10):
    """The tutorial's grid without measures: (classes, columns, 28, 28, 1), column c one noise."""
    noise_dim, classes = generator.inputs[0].shape[-1], generator.inputs[1].shape[-1]
    noise = np.random.default_rng(seed).standard_normal((columns, noise_dim))
    return render(generator, noise, range(classes)).transpose(1, 0, 2, 3, 4)


def feature_grid(generator, seed=0, columns=10):
    """The tutorial's grid: column c shares noise vector c, row r is digit r.

    Returns (images (10, columns, 28, 28, 1), {measure: noise share}). The
    noise share is the part of each measure's variance, after removing each
    digit's own mean, that the columns explain: near 1 when a column's digits
    share their style, about 1/10 when the noise has nothing to do with it.
    """
    images = class_grid(generator, seed, columns)
    measured = style(images.reshape(-1, *IMAGE))
    return images, {name: noise_share(values.reshape(CLASSES, columns))
                    for name, values in measured.items()}


def noise_share(grid):
    """Share of the class-adjusted variance of a (digits, columns) grid due to columns."""
    residual = grid - grid.mean(1, keepdims=True)  # remove each digit's mean
    return float(residual.mean(0).var() / (residual.var() + 1e-12))


# --- categories, scaling, arithmetic -----------------------------------------------

def categorize(measured, share=1 / 3):
    """Boolean masks of the four style categories from per-vector measures.

    Rules (quantiles over the sampled vectors): thick = thickness in the top
    third, thin = the bottom third; slanted = slant in the top third (leaning
    furthest right), straight = the third with the smallest |slant|.
    """
    thick_v, slant_v = np.asarray(measured["thickness"]), np.asarray(measured["slant"])
    thick = thick_v >= np.quantile(thick_v, 1 - share)
    thin = thick_v <= np.quantile(thick_v, share)
    slanted = slant_v >= np.quantile(slant_v, 1 - share)
    straight = np.abs(slant_v) <= np.quantile(np.abs(slant_v), share)
    return {"thick_straight": thick & straight, "thick_slanted": thick & slanted,
            "thin_straight": thin & straight, "thin_slanted": thin & slanted}


def category_vectors(noise, masks):
    """The mean noise vector of each category: {name: (100,)}."""
    return {name: np.asarray(noise)[mask].mean(0) for name, mask in masks.items()}


def scaled(vector, scalars=SCALARS):
    """The vector times each scalar: (len(scalars), dim)."""
    return np.asarray(scalars)[:, None] * np.asarray(vector)[None, :]


def arithmetic(vectors):
    """The tutorial's two sums: thick-straight + thin-slanted, thick-slanted - thick-straight."""
    return {"add": {"operands": ["thick_straight", "thin_slanted"], "expect": "thick_slanted",
                    "result": vectors["thick_straight"] + vectors["thin_slanted"]},
            "subtract": {"operands": ["thick_slanted", "thick_straight"], "expect": "thin_slanted",
                         "result": vectors["thick_slanted"] - vectors["thick_straight"]}}


# --- the whole exploration: numbers and images, then saving ---------------------------

def vector_styles(generator, vectors, digits):
    """{name: {"slant": s, "thickness": t}} of each vector, averaged over digits."""
    names = list(vectors)
    measured = noise_style(generator, np.stack([vectors[n] for n in names]), digits)
    return {n: {k: round(float(v[i]), 4) for k, v in measured.items()} for i, n in enumerate(names)}


def sample_categories(generator, samples, digits, seed):
    """Sample, measure and sort noise vectors; return (numbers, mean vectors)."""
    noise_dim = generator.inputs[0].shape[-1]
    noise = np.random.default_rng(seed + 1).standard_normal((samples, noise_dim))
    measured = noise_style(generator, noise, digits)
    masks = categorize(measured)
    vectors = category_vectors(noise, masks)
    styles = vector_styles(generator, vectors, digits)
    quantiles = {k: {"q33": float(np.quantile(v, 1 / 3)), "median": float(np.median(v)),
                     "q67": float(np.quantile(v, 2 / 3))} for k, v in measured.items()}
    categories = {n: {"size": int(masks[n].sum()), **styles[n]} for n in CATEGORIES}
    return {"population": quantiles, "categories": categories}, vectors


def scale_categories(generator, vectors, digits):
    """Each category vector scaled 2 -> -2: (numbers, frames per category)."""
    numbers, frames = {}, {}
    for name in CATEGORIES:
        frames[name] = render(generator, scaled(vectors[name]), digits)  # (50, k, 28, 28, 1)
        measured = style(frames[name].reshape(-1, *IMAGE))
        per_scalar = {k: v.reshape(len(SCALARS), len(digits)).mean(1) for k, v in measured.items()}
        numbers[name] = {f"spearman_{k}": float(stats.spearmanr(SCALARS, v).statistic)
                         for k, v in per_scalar.items()}
        numbers[name].update({k: np.round(v, 4).tolist() for k, v in per_scalar.items()})
    return numbers, frames


def combine_categories(generator, vectors, digits, categories):
    """The tutorial's sum and difference: (numbers, [operand, operand, result] images)."""
    numbers, images = {}, {}
    for op, spec in arithmetic(vectors).items():
        result = vector_styles(generator, {"result": spec["result"]}, digits)["result"]
        numbers[op] = {"operands": {n: {k: categories[n][k] for k in STYLE}
                                    for n in spec["operands"]},
                       "expect": spec["expect"], "result": result,
                       "expected": {k: categories[spec["expect"]][k] for k in STYLE}}
        stack = np.stack([vectors[n] for n in spec["operands"]] + [spec["result"]])
        images[op] = render(generator, stack, digits)  # (3, k, 28, 28, 1)
    return numbers, images


def explore(generator, samples=2000, digits=TUTORIAL_DIGITS, seed=0):
    """Run every exploration; return (numbers for explore.json, images for figures)."""
    start = time.perf_counter()
    digits = list(digits)
    grid, shares = feature_grid(generator, seed)
    numbers, vectors = sample_categories(generator, samples, digits, seed)
    scaling, frames = scale_categories(generator, vectors, digits)
    sums, sum_images = combine_categories(generator, vectors, digits, numbers["categories"])
    category_images = render(generator, np.stack([vectors[n] for n in CATEGORIES]), digits)
    numbers = {"samples": samples, "digits": digits, "seed": seed,
               "measures_version": morphometry.VERSION, "grid_noise_share": shares,
               **numbers, "scalars": SCALARS.round(4).tolist(), "scaling": scaling,
               "arithmetic": sums, "seconds": round(time.perf_counter() - start, 2)}
    images = {"grid": grid, "categories": category_images, "scaling": frames,
              "arithmetic": sum_images}
    return numbers, images
