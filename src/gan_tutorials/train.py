"""Tutorial steps 2 and 3: train the dense GAN or the conditional GAN.

    python -m gan_tutorials.train [--kind gan|cgan] [--epochs N] [--out DIR] ...
    python -m gan_tutorials.train --config outputs/reference/cgan/config.json [flags]

A thin CLI over `train(config)`, which notebooks can call directly. Each epoch
runs the alternating D / G loop (see `steps`) over that epoch's batches,
checks the weights, saves a preview grid, appends to history.csv and writes a
checkpoint; the end of the run writes the final models, progress.gif and
losses.png. The folder's layout and policy live in `runs`.
"""

if __name__ == "__main__":  # a CLI run: quiet TensorFlow's start-up lines before it loads
    from gan_tutorials.config import quiet_tensorflow
    quiet_tensorflow()

import argparse
import dataclasses
import signal
import sys
import time

import keras
import numpy as np
from tqdm import tqdm

from gan_tutorials import board, data, figures, parallel, runs
from gan_tutorials.config import RUN_PLACE, Config, add_config_flags, config_from_args, upgrade
from gan_tutorials.data import image_set
from gan_tutorials.models import draw
from gan_tutorials.runs import RunError
from gan_tutorials.steps import build_models, make_step

PREVIEW_ROWS, PREVIEW_COLS = 2, 5  # the tutorial's 2x5 preview grid
# The judge's scores that --eval-every adds to history.csv, per kind.
TRACK_COLUMNS = {"cgan": ("accuracy", "min_class_accuracy", "confidence", "frechet_distance"),
                 "gan": ("entropy", "classes_covered", "confidence", "frechet_distance")}
TRACK_PER_CLASS = 200  # 2,000 digits per check: a few seconds, noise ~1%


class Diverged(RunError):
    """A loss or a weight became NaN or infinite."""


def load_training_data(config):
    """(images, labels) of the dataset's training split, prepared offline if possible."""
    try:
        data.ensure(config.dataset, config.data_dir)
    except data.DataError as err:
        raise RunError(str(err)) from err
    (images, labels), _ = data.load(config.dataset, config.data_dir)
    return images.numpy(), labels.numpy()  # (60000, 28, 28, 1) uint8, (60000,)


def preview_inputs(config):
    """Fixed (noise (10, 100), classes (10,)) for the 2x5 preview: the same every epoch."""
    n = PREVIEW_ROWS * PREVIEW_COLS
    noise = np.random.default_rng(config.seed).normal(size=(n, config.noise_dim))
    return noise.astype(np.float32), np.arange(n) % image_set(config.dataset).num_classes


def save_preview(run_dir, epoch, generator, inputs):
    """Draw the preview grid for one epoch to samples/epoch_NNN.png; return it (H, W)."""
    images = draw(generator, *inputs)  # (10, 28, 28, 1); the classes only for a cgan
    grid = figures.tile(images, PREVIEW_ROWS, PREVIEW_COLS)
    figures.save_png(runs.sample_path(run_dir, epoch), grid)
    return grid


def diverged(epoch, what):
    """The Diverged error for an epoch, saying which checkpoint survives."""
    kept = f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 else "no epoch completed"
    return Diverged(f"training diverged in epoch {epoch} ({what}); {kept}. "
                    "Try a lower --learning-rate")


def check_finite(epoch, groups):
    """Raise Diverged if any checkpoint group holds NaN or inf."""
    for group, variables in groups.items():
        if not all(np.isfinite(np.asarray(v)).all() for v in variables):
            raise diverged(epoch, f"non-finite values in {group}")


def run_epoch(step, batches, epoch, config, *, steps):
    """Train one epoch on its batches; return (history row, losses (steps, 2)).

    Raises Diverged on a NaN/inf loss.
    """
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{config.epochs}", leave=False,
               disable=config.quiet or not sys.stderr.isatty(), mininterval=0.5)
    batches, losses, done = iter(batches), np.zeros((steps, 2)), 0
    start = time.perf_counter()
    while done < steps:
        k = min(step.block, steps - done)  # the fused engine takes batches k at a time
        stop_if_asked()
        block = step([next(batches) for _ in range(k)])  # (k, 2): d_loss, g_loss
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise diverged(epoch, f"step {done + i + 1}: d_loss={block[i, 0]:.4g}, "
                                  f"g_loss={block[i, 1]:.4g}")
        losses[done:done + k], done = block, done + k
        bar.update(k)
        bar.set_postfix(d_loss=f"{block[-1, 0]:.3f}", g_loss=f"{block[-1, 1]:.3f}", refresh=False)
    bar.close()
    d_loss, g_loss = losses.mean(axis=0).tolist()
    row = {"epoch": epoch, "d_loss": round(d_loss, 6), "g_loss": round(g_loss, 6),
           "seconds": round(time.perf_counter() - start, 3), "steps": steps}
    return row, losses


def judge_every(config, per_class=TRACK_PER_CLASS):
    """The --eval-every hook: every K epochs, the judge's scores as history columns."""
    from gan_tutorials import evaluate, judge  # loads (or trains) the judge only when asked
    reader = judge.feature_reader(judge.get_judge(config.dataset, config.data_dir))  # once
    reference = evaluate.reference_stats(reader, config.dataset, config.data_dir)

    def on_epoch(epoch, models, row):
        if epoch % config.eval_every:
            return {}
        scores = {}
        for name, generator in models.generators().items():  # G, and its average with --ema
            metrics = evaluate.evaluate_generator(generator, reader, per_class, config.seed,
                                                  reference=reference, dataset=config.dataset)
            prefix = "ema_" if name.endswith("-ema") else ""
            scores.update({prefix + k: metrics[k] if isinstance(metrics[k], int)
                           else round(float(metrics[k]), 4) for k in TRACK_COLUMNS[config.kind]})
        return scores
    return on_epoch


def epoch_line(row, epochs):
    """The one-line summary of an epoch, with any judge scores appended."""
    extra = "".join(f"  {k} {v:g}" for k, v in row.items() if k not in runs.HISTORY_FIELDS)
    return (f"epoch {row['epoch']}/{epochs}  d_loss {row['d_loss']:.4f}  "
            f"g_loss {row['g_loss']:.4f}  {row['seconds']:.1f}s{extra}")


def finish(run_dir, models, history, kind):
    """Write the final models, the progress GIF, the loss and quality curves."""
    models.discriminator.trainable = True  # the loop leaves D frozen; save it usable
    for name, model in {**models.generators(), "discriminator": models.discriminator}.items():
        tmp = run_dir / f".{name}.tmp.keras"
        model.save(tmp)
        tmp.replace(run_dir / f"{name}.keras")
    figures.gif_from_pngs(run_dir / "progress.gif", sorted((run_dir / "samples").glob("epoch_*.png")))
    figures.plot_history(run_dir / "losses.png", history, ["d_loss", "g_loss"],
                         title=f"{run_dir.name}: mean loss per epoch", ylabel="binary cross-entropy")
    if any(row.get("frechet_distance") not in (None, "") for row in history):
        scores = [c for c in TRACK_COLUMNS[kind] if c not in ("frechet_distance", "classes_covered")]
        figures.plot_quality(run_dir / "quality.png", history, scores,
                             title=f"{run_dir.name}: the judge's verdict per epoch")


def start_run(config, arrays, argv):
    """Check folder, data and devices before creating the folder.

    Returns (run_dir, images, labels, the number of devices to train on).
    """
    try:
        images_of = image_set(config.dataset)  # a known, labelled grey-image dataset
    except data.DataError as err:
        raise RunError(f"--dataset: {err}") from err
    run_dir = runs.open_run_dir(config)
    images, labels = arrays if arrays is not None else load_training_data(config)
    if images.shape[1:] != images_of.image_shape:
        raise RunError(f"images of shape {images.shape[1:]} are not {config.dataset}'s "
                       f"{images_of.image_shape}")
    if config.batch_size > len(images):
        raise RunError(f"--batch-size {config.batch_size} is larger than the "
                       f"{len(images)} training images")
    try:
        devices = parallel.device_count(config.devices, config.batch_size)
    except parallel.DeviceError as err:
        raise RunError(str(err)) from err
    runs.prepare_run_dir(run_dir, config, argv or [])
    return run_dir, images, labels, devices


def train(config=Config(), arrays=None, argv=None, on_epoch=None):
    """Train per `config` and return the history rows; see the module docstring.

    `arrays` = (images uint8 (n, 28, 28, 1), labels (n,)) replaces MNIST,
    e.g. a tiny subset in tests. `on_epoch(epoch, generator, row)` may add
    columns to each history row (--eval-every uses it for the judge's scores).
    """
    run_dir, images, labels, devices = start_run(config, arrays, argv)
    with parallel.scope(parallel.data_parallel(devices)):  # --devices N: see `parallel`
        return train_epochs(config, run_dir, (images, labels), on_epoch)


def train_epochs(config, run_dir, arrays, on_epoch):
    """The models, then every epoch of the run in run_dir (started or resumed): the history."""
    images, labels = arrays
    models = build_models(config)
    groups = models.checkpoint_groups()
    start = runs.restore(run_dir, groups, keras.backend.backend()) if config.resume else 0
    history = [r for r in runs.read_history(run_dir / "history.csv") if r["epoch"] <= start]
    step = make_step(config, models)
    steps = config.steps_per_epoch or len(images) // config.batch_size
    log = board.EventLog(run_dir, dataclasses.asdict(config), steps, start)  # RUN_DIR/logs
    pool = data.training_arrays(images, labels, config.conditional,  # batches are cut from it
                                image_set(config.dataset).num_classes)
    if on_epoch is None and config.eval_every:
        on_epoch = judge_every(config)
    preview = preview_inputs(config)
    if start == 0:
        save_preview(run_dir, 0, models.generator, preview)
    for epoch in range(start + 1, config.epochs + 1):
        batches = data.epoch_batches(pool, config.batch_size, steps, seed=config.seed, epoch=epoch)
        row, losses = run_epoch(step, batches, epoch, config, steps=steps)
        check_finite(epoch, groups)  # losses can stay finite while Adam's slots overflow
        grid = save_preview(run_dir, epoch, models.generator, preview)
        if on_epoch is not None:
            row.update(on_epoch(epoch, models, row) or {})
            check_finite(epoch, groups)  # a hook is outside code: never checkpoint what it broke
        log.epoch(row, losses, grid)  # before the checkpoint: a resume drops what it passes
        history.append(row)
        runs.write_history(run_dir / "history.csv", history)  # resume trims rows past the checkpoint
        runs.save_checkpoint(run_dir / "checkpoint.npz", epoch, groups, keras.backend.backend())
        print(epoch_line(row, config.epochs), flush=True)
    log.close()
    finish(run_dir, models, history, config.kind)
    return history


def build_parser():
    """The argparse parser: --config, then one flag per Config field."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.train",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="CONFIG_JSON",
                        help="start from a saved run's settings (its config.json); flags given "
                             "override them. Where the run went (--out etc.) is not taken")
    return add_config_flags(parser)


def saved_flags(path, parser):
    """A saved config.json as flags, so argparse checks its values like typed ones."""
    try:
        saved = upgrade(runs.read_json(path)["config"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        parser.error(f"--config {path}: not a run's config.json ({type(err).__name__})")
    flags = []
    for name, value in saved.items():
        if name in RUN_PLACE:
            continue  # where and how that run was started, not what it learned
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not None and value is not False:
            flags += [flag, str(value)]
    return flags


def parse_config(argv):
    """(parser, Config) from the command line, starting from --config's settings if given."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:  # the saved values first: argparse keeps the last of a repeated flag
        args = parser.parse_args(saved_flags(args.config, parser) + list(argv))
    return parser, config_from_args(args)


STOP_ASKED = []  # a signal's number once SIGINT or SIGTERM arrived (see stop_on_signals)


def _raise_interrupt(signum, frame):
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, and remember that one came."""
    STOP_ASKED.append(signum)
    raise KeyboardInterrupt


def stop_if_asked():
    """Raise KeyboardInterrupt here if a stop signal came but its exception was lost.

    Python ignores an exception raised in a finalizer: a signal that lands
    while, say, a progress bar is collected raises there and is swallowed.
    The loops call this at each block of steps, so such a stop still happens.
    """
    if STOP_ASKED:
        raise KeyboardInterrupt


def stop_on_signals():
    """Make SIGINT and SIGTERM stop a CLI the same clean way (KeyboardInterrupt).

    SIGINT is set explicitly because a job started in the background
    (nohup ... &) inherits it as ignored. A stop asked before starts afresh.
    """
    STOP_ASKED.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)


def main(argv=None):
    """CLI entry point."""
    argv = sys.argv[1:] if argv is None else argv
    parser, config = parse_config(argv)
    stop_on_signals()
    try:
        train(config, argv=argv)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {config.run_dir} keeps its last completed epoch; "
              "continue with --resume", file=sys.stderr)
        sys.exit(130)
    except RunError as err:
        parser.exit(2 if not isinstance(err, Diverged) else 1, f"{parser.prog}: error: {err}\n")
    print(f"done: {config.run_dir}")


if __name__ == "__main__":
    main()
