"""Drawing and saving, kept apart from the computations that feed them.

The tutorial shows a grid of generated digits after every epoch and strings
the grids into a GIF; these helpers do that and the other figures. Plots are
drawn on `matplotlib.figure.Figure` objects, never through pyplot, so the
package neither needs a display nor touches a notebook user's backend.
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from matplotlib.figure import Figure

from gan_tutorials.runs import replacing


def to_uint8(images):
    """Map images in [-1, 1] (the generator's tanh range) to uint8 pixels."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def tile(images, rows, cols, *, pad=2, scale=2):
    """Tile (rows*cols, 28, 28, 1) images in [-1, 1] into one uint8 (H, W) grid."""
    pixels = to_uint8(images)[..., 0]  # (n, 28, 28)
    n, h, w = pixels.shape
    if n != rows * cols:
        raise ValueError(f"tile: {n} images do not fill a {rows}x{cols} grid")
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), np.uint8)
    for i, image in enumerate(pixels):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = image
    return np.kron(grid, np.ones((scale, scale), np.uint8))  # nearest upscale


def save_png(path, image):
    """Write a uint8 array as PNG, creating the folder."""
    with replacing(path) as tmp:
        iio.imwrite(tmp, image)


def save_gif(path, frames, seconds_per_frame=0.2, hold_last=5):
    """Write uint8 frames as a looping GIF; the last frame is held a little."""
    frames = list(frames) + [frames[-1]] * hold_last
    with replacing(path) as tmp:
        iio.imwrite(tmp, np.stack(frames), duration=int(seconds_per_frame * 1000), loop=0)


def gif_from_pngs(path, pngs, max_frames=60):
    """Assemble PNG frames into a GIF, thinned evenly to at most max_frames."""
    pngs = list(pngs)
    keep = np.unique(np.linspace(0, len(pngs) - 1, min(max_frames, len(pngs))).round().astype(int))
    save_gif(path, [iio.imread(pngs[i]) for i in keep])


def plot_history(path, history, columns, *, title, ylabel):
    """Line plot of history columns against epoch, saved as PNG."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    epochs = [row["epoch"] for row in history]
    for column in columns:
        values = [row.get(column) for row in history]
        points = [(e, v) for e, v in zip(epochs, values) if v is not None]
        if points:
            ax.plot(*zip(*points), marker="." if len(points) < 30 else None, label=column)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path):
    """Lay the figure out and write it as a 100-dpi PNG (a bare Figure needs no closing)."""
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100)


def plot_confusion(path, confusion, *, title, class_names=None):
    """Confusion matrix (rows: asked-for class, columns: judged class) as PNG."""
    confusion = np.asarray(confusion, dtype=float)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (r, c), v in np.ndenumerate(rates):
        if v >= 0.005:
            ax.text(c, r, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.5 else "black")
    ticks = range(len(rates))
    ax.set(xticks=ticks, yticks=ticks, xlabel="judged as", ylabel="asked for", title=title)
    if class_names:  # "Sneaker" reads better than 7
        ax.set_xticklabels(class_names, rotation=60, ha="right", fontsize=7)
        ax.set_yticklabels(class_names, fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046)
    _save(fig, path)


def plot_seed_table(path, values, row_labels, class_names, *, title):
    """A table of per-class values in [0, 1], one row per seed, as a PNG heat map."""
    values = np.asarray(values, dtype=float)
    fig = Figure(figsize=(7, 1.2 + 0.4 * len(values)))
    ax = fig.subplots()
    ax.imshow(values, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, f"{100 * v:.0f}" if v >= 0.005 else "", ha="center", va="center",
                fontsize=7, color="white" if v > 0.5 else "black")
    ax.set(xticks=range(values.shape[1]), yticks=range(len(values)), title=f"{title} (%)")
    ax.set_xticklabels(class_names, rotation=45 if len(class_names[0]) > 2 else 0,
                       ha="right" if len(class_names[0]) > 2 else "center", fontsize=7)
    ax.set_yticklabels(row_labels, fontsize=8)
    _save(fig, path)


def plot_shares(path, shares, *, title, threshold, class_names=None):
    """Bar chart of each class's share of the generated digits, as PNG."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.bar(range(len(shares)), shares, color="tab:blue")
    ax.axhline(1 / len(shares), color="gray", ls="--", lw=1,
               label=f"uniform ({1 / len(shares):.0%})")
    ax.axhline(threshold, color="tab:red", ls=":", lw=1, label=f"covered ({threshold:.0%})")
    ax.set(xticks=range(len(shares)), xlabel="class judged", ylabel="share", title=title)
    if class_names:
        ax.set_xticklabels(class_names, rotation=45, ha="right", fontsize=7)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_quality(path, history, score_columns, *, title):
    """Quality against epoch: scores in [0, 1] left, Frechet distance right (dashed: --ema's average)."""
    rows = [r for r in history if r.get("frechet_distance") not in (None, "")]
    fig = Figure(figsize=(9, 3.5))
    left, right = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    averaged = rows[0].get("ema_frechet_distance") not in (None, "")  # --ema: the average too
    for column in score_columns:
        line, = left.plot(epochs, [r[column] for r in rows], marker=".", label=column)
        if averaged:
            left.plot(epochs, [r[f"ema_{column}"] for r in rows], ls="--", color=line.get_color(),
                      label=f"{column} (average)")
    right.plot(epochs, [r["frechet_distance"] for r in rows], marker=".", color="tab:red",
               label="G")
    if averaged:
        right.plot(epochs, [r["ema_frechet_distance"] for r in rows], ls="--", color="tab:red",
                   label="averaged G")
        right.legend(fontsize=8)
    left.set(xlabel="epoch", ylim=(0, 1.02), title="judge's scores")
    right.set(xlabel="epoch", ylabel="Frechet distance (lower is better)", title="distance to MNIST")
    left.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    _save(fig, path)


def plot_image_table(path, images, row_labels, col_labels, *, title):
    """A labelled table of digits: images (rows, cols, 28, 28, 1) in [-1, 1]."""
    rows, cols = images.shape[:2]
    fig = Figure(figsize=(1.6 * cols + 1.2, 1.6 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(to_uint8(images[r, c])[..., 0], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_labels[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=8)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_curves(path, x, panels, *, xlabel, title):
    """Side-by-side line plots: panels = {panel title: {line label: ys}}, all against x."""
    plot_series(path, {name: {label: (x, ys) for label, ys in lines.items()}
                       for name, lines in panels.items()}, xlabel=xlabel, title=title)


def plot_series(path, panels, *, xlabel, title, log_panels=()):
    """Side-by-side line plots, saved: panels = {panel title: {line label: (xs, ys)}}."""
    _save(series_figure(panels, xlabel=xlabel, title=title, log_panels=log_panels), path)


def series_figure(panels, *, xlabel, title, log_panels=()):
    """Side-by-side line plots as a Figure: panels = {panel title: {line label: (xs, ys)}};
    the panels named in log_panels on a log y axis."""
    fig = Figure(figsize=(4.5 * len(panels), 3.5))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, lines) in zip(axes[0], panels.items()):
        for label, (xs, ys) in lines.items():
            ax.plot(xs, ys, label=label)
        ax.set(xlabel=xlabel, title=name, yscale="log" if name in log_panels else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_plane(path, groups, real, *, title):
    """Precision against recall, saved: groups = {label: [(recall, precision), ...]}, and the
    real halves' point `real` (recall, precision) as a star."""
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    for label, points in groups.items():
        recall, precision = zip(*points)
        ax.scatter(recall, precision, label=f"{label} ({len(points)})", s=28, alpha=0.8)
    ax.scatter(*real, marker="*", s=180, color="black", label="real test halves")
    ax.set(xlabel="recall (covers what is real)", ylabel="precision (looks real)",
           xlim=(0, 1), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def save_evaluation(folder, metrics, grid_images, covered_share):
    """evaluate's figures: the sample grid (rows of 10), confusion matrix (cgan), class shares."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = len(metrics["class_shares"])
    save_png(folder / "samples.png", tile(grid_images, len(grid_images) // classes, classes))
    if metrics["kind"] == "cgan":
        plot_confusion(folder / "confusion.png", metrics["confusion"],
                       title=f"accuracy {metrics['accuracy']:.1%}",
                       class_names=metrics.get("class_names"))
    plot_shares(folder / "class_shares.png", metrics["class_shares"],
                title=f"entropy {metrics['entropy']:.2f}, {metrics['classes_covered']} classes "
                      "covered", threshold=covered_share, class_names=metrics.get("class_names"))


def plot_requested_achieved(path, panels, *, title):
    """Achieved against requested, one panel per attribute: panels = {name: {label: (x, y)}}."""
    fig = Figure(figsize=(4 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, series) in zip(axes[0], panels.items()):
        low = min(np.min(x) for x, _ in series.values())
        high = max(np.max(x) for x, _ in series.values())
        ax.plot([low, high], [low, high], color="grey", lw=0.8, label="achieved = requested")
        for label, (x, y) in series.items():
            ax.plot(x, y, ".", ms=3, alpha=0.6, label=label)
        ax.set(xlabel=f"requested {name}", ylabel=f"achieved {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)
