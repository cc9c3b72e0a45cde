"""Tutorial step 4: explore the conditional generator's noise input, and measure it.

    python -m gan_tutorials.explore RUN_DIR [--samples N] [--digits 1 4 8] [--seed N]

The tutorial sorts noise vectors by eye into thick/thin x straight/slanted,
averages each group, scales an average from 2 to -2 and adds and subtracts
them. Here every "by eye" is a number, Morpho-MNIST's (see `morphometry`,
the same measures `control` steers):
  * slant: the shear of the ink's second moments as an angle, in degrees;
    > 0 leans right;
  * thickness: the mean stroke width in pixels, twice the mean distance from
    the skeleton to the edge.
Everything lands in RUN_DIR/explore/, with the numbers in explore.json.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from gan_tutorials import figures, morphometry, runs
from gan_tutorials.config import MNIST, bounded
from gan_tutorials.data import image_set
from gan_tutorials.models import GeneratorError, draw, load_generator

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


def spearman(x, y):
    """Spearman rank correlation of two 1-D arrays (no ties expected)."""
    rank = lambda v: np.argsort(np.argsort(v)).astype(np.float64)
    return float(np.corrcoef(rank(np.asarray(x)), rank(np.asarray(y)))[0, 1])


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
        numbers[name] = {f"spearman_{k}": spearman(SCALARS, v) for k, v in per_scalar.items()}
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


def save_class_grid(folder, grid, class_names):
    """The feature grid with a named row per class: grid (classes, columns, 28, 28, 1)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    columns = [f"noise {c}" for c in range(grid.shape[1])]
    figures.plot_image_table(Path(folder) / "grid.png", grid, list(class_names), columns,
                             title="same noise in every column, one class per row")


def style_label(measured):
    """'slant +12.1°, thickness 2.40 px' for a {"slant", "thickness"} dict."""
    return f"slant {measured['slant']:+.1f}°, thickness {measured['thickness']:.2f} px"


def save_explore(folder, numbers, images):
    """Write every figure, the scaling GIFs and explore.json under folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = [str(d) for d in numbers["digits"]]
    figures.save_png(folder / "grid.png", figures.tile(images["grid"].reshape(-1, *IMAGE),
                                                       CLASSES, images["grid"].shape[1]))
    figures.plot_image_table(
        folder / "categories.png", images["categories"],
        [f"{n}\n{style_label(numbers['categories'][n])}" for n in CATEGORIES], digits,
        title="mean noise vector of each style category")
    for name, frames in images["scaling"].items():  # (50, k, 28, 28, 1) -> one row per frame
        tiles = [figures.tile(f, 1, len(digits), scale=3) for f in frames]
        figures.save_gif(folder / f"scaling_{name}.gif", tiles, seconds_per_frame=0.1)
    panels = {m: {n: numbers["scaling"][n][m] for n in CATEGORIES} for m in STYLE}
    figures.plot_curves(folder / "scaling.png", numbers["scalars"], panels, xlabel="scalar",
                        title="measured style of scalar x category vector")
    for op, table in images["arithmetic"].items():
        spec = numbers["arithmetic"][op]
        names = list(spec["operands"])
        cols = [f"{n}\n{style_label(spec['operands'][n])}" for n in names]
        cols.append(f"{'+' if op == 'add' else '-'} = result\n{style_label(spec['result'])}")
        figures.plot_image_table(folder / f"arithmetic_{op}.png", table.transpose(1, 0, 2, 3, 4),
                                 digits, cols, title=f"expected: {spec['expect']} "
                                 f"({style_label(spec['expected'])})")
    runs.write_json(folder / "explore.json", numbers)


def main(argv=None):
    """CLI: explore a cgan run folder's generator; write RUN_DIR/explore/."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.explore",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a cgan run folder holding generator.keras (or a .keras file)")
    # Each style category takes about 1/9 of the samples: 30 leave ~3 per category.
    parser.add_argument("--samples", type=bounded(int, 30), default=2000,
                        help="noise vectors to sort (>= 30)")
    parser.add_argument("--digits", type=int, nargs="+", default=list(TUTORIAL_DIGITS),
                        choices=range(CLASSES), metavar="D", help="digits to draw (default 1 4 8)")
    parser.add_argument("--seed", type=bounded(int, 0), default=0, help="seed of the sampled noise")
    parser.add_argument("--out", help="output folder (default RUN_DIR/explore)")
    args = parser.parse_args(argv)
    try:
        numbers, out = explore_run(args.run_dir, args.out, samples=args.samples,
                                   digits=args.digits, seed=args.seed)
    except GeneratorError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    if numbers is None:
        print(f"{runs.dataset_of(args.run_dir)}: wrote the feature grid to {out / 'grid.png'}. "
              "The style measures (slant, stroke thickness) and the categories, scaling and sums "
              "built on them are defined for handwritten digits only, so they are not drawn here")
        return
    print(headline(numbers) + f"\nwrote {out}")


def explore_run(source, out=None, *, samples=2000, digits=TUTORIAL_DIGITS, seed=0):
    """Explore a cgan run folder's (or .keras file's) generator and write the figures.

    Writes to `out` (default RUN_DIR/explore). Returns (the numbers of
    explore.json, the folder); the numbers are None for a dataset other than
    MNIST, where only the feature grid is drawn.
    """
    source = Path(source)
    dataset = runs.dataset_of(source)
    generator = load_generator(source, need_conditional=True, spec=image_set(dataset))
    out = Path(out or (source if source.is_dir() else source.parent) / "explore")
    if dataset != MNIST.name:  # slant and stroke thickness are measures of handwriting
        save_class_grid(out, class_grid(generator, seed), image_set(dataset).class_names)
        return None, out
    numbers, images = explore(generator, samples, list(digits), seed)
    save_explore(out, numbers, images)
    return numbers, out


def headline(numbers):
    """A few lines of the headline numbers."""
    lines = [f"noise share of style in the grid: slant {numbers['grid_noise_share']['slant']:.2f}, "
             f"thickness {numbers['grid_noise_share']['thickness']:.2f} (1/10 = no effect)"]
    for n in CATEGORIES:
        c, sc = numbers["categories"][n], numbers["scaling"][n]
        lines.append(f"{n:15s} n={c['size']:4d}  {style_label(c)}  scaling rho: slant "
                     f"{sc['spearman_slant']:+.2f}, thickness {sc['spearman_thickness']:+.2f}")
    for op, a in numbers["arithmetic"].items():
        lines.append(f"{op}: result {style_label(a['result'])}; expected {a['expect']} "
                     f"{style_label(a['expected'])}")
    return "\n".join(lines) + f"\n({numbers['seconds']:.1f}s)"


if __name__ == "__main__":
    main()
