"""Control, part 4: the files a request, a sweep and the report write."""

from pathlib import Path

import numpy as np

from gan_tutorials import figures, runs
from gan_tutorials.config import MNIST
from gan_tutorials.control.fit import ATTRIBUTES
from gan_tutorials.control.report import BAND, LEVELS, REPORTED, level_grid
from gan_tutorials.control.steering import CORE, sweep


def save_steered(folder, steered):
    """control.npz: uint8 images (0 = background) and requested_/achieved_ of each constraint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"images": figures.to_uint8(steered.images)[..., 0], "digits": steered.digits,
              "noise": steered.noise}
    for j, name in enumerate(ATTRIBUTES):
        if not np.all(np.isnan(steered.requested[:, j])):
            arrays[f"requested_{name}"] = steered.requested[:, j]
            arrays[f"achieved_{name}"] = steered.achieved[:, j]
    with runs.replacing(folder / "control.npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def save_grid(path, images, cols=8):
    """Tile any number of images in rows of cols, blank cells at the end."""
    rows = -(-len(images) // cols)
    cols = min(cols, len(images))
    blank = -np.ones((rows * cols - len(images), *images.shape[1:]), images.dtype)
    figures.save_png(path, figures.tile(np.concatenate([images, blank]), rows, cols, scale=3))


def save_sweep(folder, steered, attribute, name="sweep"):
    """A sweep's GIF and its requested-against-achieved plot."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures.save_gif(folder / f"{name}.gif", [figures.tile(i[None], 1, 1, scale=6) for i in steered.images],
                     seconds_per_frame=0.15)
    constrained = [a for j, a in enumerate(ATTRIBUTES) if not np.all(np.isnan(steered.requested[:, j]))]
    x = steered.requested[:, ATTRIBUTES.index(attribute)]
    panels = {a: {"requested": steered.requested[:, ATTRIBUTES.index(a)],
                  "achieved": steered.achieved[:, ATTRIBUTES.index(a)]} for a in constrained}
    held = ", ".join(constrained[1:]) or "nothing"
    figures.plot_curves(folder / f"{name}.png", x, panels, xlabel=f"requested {attribute}",
                        title=f"digit {steered.digits[0]}: {attribute} swept, {held} held")


def save_report(ctl, numbers, arrays, folder):
    """control.json, the requested-vs-achieved figure, the level grid and one sweep per CORE attribute."""
    folder = Path(folder)
    runs.write_json(folder / "control.json", numbers)
    panels = {}
    for name in REPORTED:
        j = ATTRIBUTES.index(name)
        panels[name] = {}
        for method in ("steer", "article"):
            stack = arrays["band", method]
            target = ~np.isnan(stack["requested"][:, j]) & ~stack["held"][:, j]
            panels[name][method] = (stack["requested"][target, j], stack["achieved"][target, j])
    figures.plot_requested_achieved(
        folder / "report.png", panels,
        title="requests at each digit's 5th-95th percentiles: steer vs the article's method")
    grid = level_grid(ctl, "slant")
    table = grid.images.reshape(ctl.classes, len(LEVELS), *MNIST.image_shape)  # (10, 7, 28, 28, 1)
    figures.plot_image_table(folder / "slant_levels.png", table,
                             [str(d) for d in range(ctl.classes)], [f"p{q:g}" for q in LEVELS],
                             title="each digit at its own slant percentiles, thickness and height held")
    for name in CORE:
        low, high = ctl.percentile(7, BAND[0]), ctl.percentile(7, BAND[1])
        j = ATTRIBUTES.index(name)
        save_sweep(folder, sweep(ctl, 7, name, np.linspace(low[j], high[j], 16)), name,
                   f"sweep_{name}")
