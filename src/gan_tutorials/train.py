"""Tutorial steps 2 and 3: train the dense GAN or the conditional GAN.

    python -m gan_tutorials.train [--kind gan|cgan] [--epochs N] [--out DIR] ...
    python -m gan_tutorials.train --config outputs/reference/cgan/config.json [flags]

A thin CLI over `train(config)`, which notebooks can call directly. Each epoch
runs the alternating D / G loop (see `steps`) over that epoch's batches,
checks the weights, saves a preview grid, hands the epoch to the callbacks
(the judge's scores with --eval-every, the TensorBoard log), appends to
history.csv and writes a checkpoint; the end of the run writes the final
models, progress.gif and losses.png. The folder's layout and policy live in
`runs`; the callbacks live in the lab (`evaluate`, `board`) and reach a run
through an entry-point group, so this loop knows neither.
"""

import argparse
import dataclasses
import importlib.metadata
import signal
import sys
import time

import keras
import numpy as np
from tqdm import tqdm

from gan_tutorials import data, figures, parallel, runs
from gan_tutorials.config import RUN_PLACE, Config, add_config_flags, config_from_args, upgrade
from gan_tutorials.data import image_set
from gan_tutorials.models import draw
from gan_tutorials.runs import RunError
from gan_tutorials.steps import Models, build_models, make_step

PREVIEW_ROWS, PREVIEW_COLS = 2, 5  # the tutorial's 2x5 preview grid
CALLBACKS = "gan_tutorials.callbacks"  # the entry-point group of a run's default callbacks


@dataclasses.dataclass
class Epoch:
    """What a finished epoch hands the callbacks."""

    number: int  # 1-based
    row: dict  # its history row; a callback may add columns (the judge's scores)
    models: Models  # G (and its average), D, the GAN
    losses: np.ndarray  # (steps, 2): d_loss, g_loss of every step
    preview: np.ndarray  # the 2x5 preview grid (H, W) uint8


class Callback:
    """A hook into a run, as Keras's callbacks into `fit`: each method is optional.

    Callbacks run in list order, so one that adds columns to the row comes
    before one that logs it.
    """

    def on_train_begin(self, run_dir, start_epoch, steps_per_epoch):
        """Before the first epoch of a run or a resume (start_epoch is the checkpoint's)."""

    def on_epoch_end(self, epoch):
        """After an epoch's steps, before its row and checkpoint are saved."""

    def on_train_end(self, history):
        """After the last epoch, with every history row."""


def default_callbacks(config):
    """The callbacks installed for this package's entry-point group, in name order.

    This is how `--eval-every` (the judge) and RUN_DIR/logs (TensorBoard)
    reach a run without the training loop knowing either: each entry point is
    a factory `factory(config) -> Callback or None` (see pyproject.toml).
    """
    found = sorted(importlib.metadata.entry_points(group=CALLBACKS), key=lambda e: e.name)
    return [c for c in (entry.load()(config) for entry in found) if c is not None]


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


def preview_inputs(config, num_classes):
    """Fixed (noise (10, 100), classes (10,)) for the 2x5 preview: the same every epoch."""
    n = PREVIEW_ROWS * PREVIEW_COLS
    noise = np.random.default_rng(config.seed).normal(size=(n, config.noise_dim))
    return noise.astype(np.float32), np.arange(n) % num_classes


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


def epoch_line(row, epochs):
    """The one-line summary of an epoch, with any judge scores appended."""
    extra = "".join(f"  {k} {v:g}" for k, v in row.items() if k not in runs.HISTORY_FIELDS)
    return (f"epoch {row['epoch']}/{epochs}  d_loss {row['d_loss']:.4f}  "
            f"g_loss {row['g_loss']:.4f}  {row['seconds']:.1f}s{extra}")


def finish(run_dir, models, history):
    """Write the final models, the progress GIF and the loss curves."""
    models.discriminator.trainable = True  # the loop leaves D frozen; save it usable
    for name, model in {**models.generators(), "discriminator": models.discriminator}.items():
        with runs.replacing(run_dir / f"{name}.keras") as tmp:
            model.save(tmp)
    figures.gif_from_pngs(run_dir / "progress.gif", sorted((run_dir / "samples").glob("epoch_*.png")))
    figures.plot_history(run_dir / "losses.png", history, ["d_loss", "g_loss"],
                         title=f"{run_dir.name}: mean loss per epoch", ylabel="binary cross-entropy")


def start_run(config, arrays, argv):
    """Check folder, devices and data before creating the folder (the data last: it is slow).

    Returns (run_dir, the dataset's spec, (images, labels), the number of devices to train on).
    """
    try:
        spec = image_set(config.dataset)  # a known, labelled grey-image dataset
    except data.DataError as err:
        raise RunError(f"--dataset: {err}") from err
    run_dir = runs.open_run_dir(config)
    try:
        devices = parallel.device_count(config.devices, config.batch_size,
                                        config.pack * max(config.minibatch_std, 1))
    except parallel.DeviceError as err:
        raise RunError(str(err)) from err
    images, labels = arrays if arrays is not None else load_training_data(config)
    if images.shape[1:] != spec.image_shape:
        raise RunError(f"images of shape {images.shape[1:]} are not {config.dataset}'s "
                       f"{spec.image_shape}")
    if config.batch_size > len(images):
        raise RunError(f"--batch-size {config.batch_size} is larger than the "
                       f"{len(images)} training images")
    runs.prepare_run_dir(run_dir, config, argv or [])
    return run_dir, spec, (images, labels), devices


def train(config=None, arrays=None, argv=None, callbacks=None):
    """Train per `config` (default: the tutorial's) and return the history rows.

    `arrays` = (images uint8 (n, 28, 28, 1), labels (n,)) replaces the dataset,
    e.g. a tiny subset in tests. `callbacks` (see `Callback`) replace the
    default ones, the judge's scores and the TensorBoard log.
    """
    config = config or Config()
    try:  # --processes N: join the others before anything touches a device
        processes = parallel.processes_of(config)
        parallel.start(processes, config.join_timeout)
    except parallel.DeviceError as err:
        raise RunError(str(err)) from err
    with runs.process_folder(config, processes.index) as config:  # only process 0 writes the run folder
        run_dir, spec, arrays, devices = start_run(config, arrays, argv)
        if callbacks is None:
            callbacks = default_callbacks(config)
        with parallel.scope(parallel.data_parallel(devices)):  # --devices N: see `parallel`
            return train_epochs(config, run_dir, arrays, callbacks, spec=spec)


def train_epochs(config, run_dir, arrays, callbacks, *, spec):
    """The models, then every epoch of the run in run_dir (started or resumed): the history."""
    images, labels = arrays
    models = build_models(config, spec)
    groups = models.checkpoint_groups()
    start = runs.restore(run_dir, groups, keras.backend.backend()) if config.resume else 0
    history = [r for r in runs.read_history(run_dir / "history.csv") if r["epoch"] <= start]
    step = make_step(config, models)
    steps = config.steps_per_epoch or len(images) // config.batch_size
    pool = data.training_arrays(images, labels, config.conditional,  # batches are cut from it
                                spec.num_classes)
    preview = preview_inputs(config, spec.num_classes)
    if start == 0:
        save_preview(run_dir, 0, models.generator, preview)
    for callback in callbacks:
        callback.on_train_begin(run_dir, start, steps)
    for number in range(start + 1, config.epochs + 1):
        batches = data.epoch_batches(pool, config.batch_size, steps, seed=config.seed, epoch=number,
                                     rows=parallel.local_rows(config.batch_size))
        row, losses = run_epoch(step, batches, number, config, steps=steps)
        check_finite(number, groups)  # losses can stay finite while Adam's slots overflow
        epoch = Epoch(number, row, models, losses, save_preview(run_dir, number, models.generator,
                                                                preview))
        for callback in callbacks:  # the judge's scores, then the log (before the checkpoint:
            callback.on_epoch_end(epoch)  # a resume drops what it logged past it)
        check_finite(number, groups)  # a callback is outside code: never checkpoint what it broke
        history.append(row)
        runs.write_history(run_dir / "history.csv", history)  # resume trims rows past the checkpoint
        runs.save_checkpoint(run_dir / "checkpoint.npz", number, groups, keras.backend.backend())
        print(epoch_line(row, config.epochs), flush=True)
    finish(run_dir, models, history)
    for callback in callbacks:
        callback.on_train_end(history)
    return history


def build_parser():
    """The argparse parser: --config, then one flag per Config field."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.train",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="CONFIG_JSON",
                        help="start from a saved run's settings (its config.json); flags given "
                             "override them. Where the run went (--out etc.) is not taken")
    return add_config_flags(parser)


def parse_config(argv):
    """(parser, Config) from the command line, starting from --config's settings if given.

    A saved config becomes `Config(**saved)`, checked by the config itself,
    and its values become the parser's defaults, so the flags typed win.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        try:
            saved = upgrade(runs.read_json(args.config)["config"])
            base = Config(**{k: v for k, v in saved.items() if k not in RUN_PLACE})
        except (OSError, ValueError, KeyError, TypeError) as err:
            parser.exit(2, f"{parser.prog}: error: --config {args.config}: not a usable run "
                           f"config.json ({err})\n")
        parser.set_defaults(**{k: v for k, v in dataclasses.asdict(base).items()
                               if k not in RUN_PLACE})
        args = parser.parse_args(argv)
    try:
        return parser, config_from_args(args)
    except ValueError as err:  # a combination the flags' own checks cannot see
        parser.error(str(err))


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
        code = run_main(parser, config, argv)
    except BaseException as err:  # over several processes, no exit may wait for a lost peer
        if not parallel.several_processes():
            raise
        print(f"{parser.prog}: error: {parallel.lost_peer(err)}", file=sys.stderr)
        parallel.exit_now(1)
    if parallel.several_processes():
        parallel.exit_now(code)
    if code:
        sys.exit(code)


def run_main(parser, config, argv):
    """Train from the command line; the exit status, with the reason on stderr."""
    try:
        train(config, argv=argv)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {config.run_dir} keeps its last completed epoch; "
              "continue with --resume", file=sys.stderr)
        return 130
    except RunError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2 if not isinstance(err, Diverged) else 1
    print(f"done: {config.run_dir}")
    return 0


if __name__ == "__main__":
    main()
