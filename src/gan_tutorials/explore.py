"""Tutorial step 4: explore the conditional generator's noise input, and measure it.

    python -m gan_tutorials.explore RUN_DIR [--samples N] [--digits 1 4 8] [--seed N]

The tutorial sorts noise vectors by eye into thick/thin x straight/slanted,
averages each group, scales an average from 2 to -2 and adds and subtracts
them; `latent` computes each step with Morpho-MNIST's measures, and this
action draws them. Everything lands in RUN_DIR/explore/, with the numbers in
explore.json.
"""

import argparse
from pathlib import Path

from gan_tutorials import figures, runs
from gan_tutorials.config import MNIST, bounded
from gan_tutorials.data import image_set, sha256_of
from gan_tutorials.latent import (
    CATEGORIES,
    CLASSES,
    IMAGE,
    STYLE,
    TUTORIAL_DIGITS,
    class_grid,
    explore,
)
from gan_tutorials.models import GeneratorError, load_generator


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
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an explore.json that says otherwise")
    parser.add_argument("--average", action="store_true",
                        help="explore the run's --ema average (generator-ema.keras) instead of G")
    args = parser.parse_args(argv)
    try:
        numbers, out = explore_run(args.run_dir, args.out, samples=args.samples,
                                   digits=args.digits, seed=args.seed, overwrite=args.overwrite,
                                   average=args.average)
    except (GeneratorError, runs.RunError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    if numbers is None:
        print(f"{runs.dataset_of(args.run_dir)}: wrote the feature grid to {out / 'grid.png'}. "
              "The style measures (slant, stroke thickness) and the categories, scaling and sums "
              "built on them are defined for handwritten digits only, so they are not drawn here")
        return
    read = "the average (generator-ema.keras)" if args.average else "G"
    print(f"{read}: " + headline(numbers) + f"\nwrote {out}")


def explore_run(source, out=None, *, samples=2000, digits=TUTORIAL_DIGITS, seed=0,
                overwrite=False, average=False):
    """Explore a cgan run folder's (or .keras file's) generator and write the figures.

    With `average`, the run's --ema average (generator-ema.keras) instead of G.
    Writes to `out` (default RUN_DIR/explore, RUN_DIR/ema/explore for the
    average). Returns (the numbers of explore.json, the folder); the numbers
    are None for a dataset other than MNIST, where only the feature grid is
    drawn. An explore.json that already says the same is left as it is, one
    that says otherwise replaced only with `overwrite`.
    """
    source = Path(source)
    if average and not source.is_dir():
        raise runs.RunError(f"--average reads a run folder's generator-ema.keras; {source} is a file")
    path = runs.generator_file(source, average) if source.is_dir() else source
    dataset = runs.dataset_of(source)
    generator = load_generator(path, need_conditional=True, spec=image_set(dataset))
    out = Path(out or (runs.results_dir(source, average) if source.is_dir() else source.parent)
               / "explore")
    if dataset != MNIST.name:  # slant and stroke thickness are measures of handwriting
        save_class_grid(out, class_grid(generator, seed), image_set(dataset).class_names)
        return None, out
    numbers, images = explore(generator, samples, list(digits), seed)
    numbers["generator_sha256"] = sha256_of(path)
    if runs.should_write(out / "explore.json", numbers, overwrite):
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
