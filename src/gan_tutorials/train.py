"""Tutorial steps 2 and 3: train the dense GAN or the conditional GAN.

    python -m gan_tutorials.train [--model gan|cgan] [--epochs N] [--out DIR] ...

A thin CLI over `train(config)`, which notebooks can call directly. Each epoch
runs the alternating D / G loop (see `steps`), saves a preview grid, appends
to history.csv and writes a checkpoint; the end of the run writes the final
models, progress.gif and losses.png. See `runs` for the folder's layout.
"""

import argparse
import dataclasses
import shutil
import signal
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from gan_tutorials import data, figures, runs
from gan_tutorials.config import RUN_CONTROL, Config, add_config_flags, config_from_args
from gan_tutorials.models import NUM_CLASSES, create_models, image_of
from gan_tutorials.steps import compile_models, make_step

PREVIEW_ROWS, PREVIEW_COLS = 2, 5  # the tutorial's 2x5 preview grid
MIN_FREE_BYTES = 200 * 2**20  # a full run writes ~60 MB; refuse to start below this


class RunError(RuntimeError):
    """A run cannot start or go on; the message says why and what to do."""


class Diverged(RunError):
    """A loss became NaN or infinite."""


def open_run_dir(config):
    """Check the run folder against --resume / --overwrite before any work."""
    run_dir = Path(config.run_dir)
    if config.resume and config.overwrite:
        raise RunError("--resume and --overwrite contradict each other: pick one")
    if config.resume:
        check_resumable(run_dir, config)
    elif runs.has_results(run_dir) and not config.overwrite:
        raise RunError(f"{run_dir} already holds a run: pass --resume to continue it, "
                       "--overwrite to replace it, or --out for a new folder")
    return run_dir


def check_resumable(run_dir, config):
    """Raise unless run_dir holds a run of this same config with a checkpoint."""
    if not (run_dir / "config.json").exists() or not (run_dir / "checkpoint.npz").exists():
        raise RunError(f"--resume: {run_dir} holds no run of gan_tutorials "
                       "(config.json and checkpoint.npz are missing)")
    saved = runs.read_json(run_dir / "config.json").get("config", {})
    if saved.get("model") != config.model:
        raise RunError(f"--resume: {run_dir} is a {saved.get('model')!r} run, "
                       f"not {config.model!r}; pass --model {saved.get('model')}")
    differ = {k: v for k, v in saved.items()
              if k not in RUN_CONTROL and getattr(config, k, v) != v}
    if differ:
        flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in differ.items())
        raise RunError(f"--resume: settings differ from the saved run; pass {flags}")


def prepare_run_dir(run_dir, config, argv):
    """Create (or clear, with --overwrite) the folder and check it is writable."""
    if config.overwrite:
        for name in (*runs.RESULT_FILES, "discriminator.keras", "progress.gif", "losses.png"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "samples", ignore_errors=True)
    try:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        runs.atomic_write_bytes(run_dir / ".write_test", b"ok")
        (run_dir / ".write_test").unlink()
    except OSError as err:
        raise RunError(f"cannot write to {run_dir}: {err.strerror or err}") from err
    free = shutil.disk_usage(run_dir).free
    if free < MIN_FREE_BYTES:
        raise RunError(f"{run_dir}: only {free // 2**20} MB free; a run needs "
                       f"{MIN_FREE_BYTES // 2**20} MB")
    if not config.resume:
        runs.write_json(run_dir / "config.json", {"config": dataclasses.asdict(config), "argv": argv})


def load_training_data(config):
    """(images, labels) of MNIST's training split, prepared offline if needed."""
    try:
        data.ensure_mnist(config.data_dir)
    except data.MnistDataError as err:
        raise RunError(str(err)) from err
    (images, labels), _ = data.load_mnist(config.data_dir)
    return images.numpy(), labels.numpy()  # (60000, 28, 28, 1) uint8, (60000,)


def preview_inputs(config):
    """Fixed inputs for the 2x5 preview: the same noise every epoch."""
    n = PREVIEW_ROWS * PREVIEW_COLS
    noise = np.random.default_rng(config.seed).normal(size=(n, config.noise_dim))
    noise = noise.astype(np.float32)  # (10, 100)
    if config.model == "gan":
        return noise
    return [noise, np.eye(NUM_CLASSES, dtype=np.float32)[np.arange(n) % NUM_CLASSES]]


def save_preview(run_dir, epoch, generator, inputs):
    """Draw the preview grid for one epoch to samples/epoch_NNN.png."""
    images = image_of(generator(inputs, training=False))  # (10, 28, 28, 1)
    figures.save_png(runs.sample_path(run_dir, epoch),
                     figures.tile(np.asarray(images), PREVIEW_ROWS, PREVIEW_COLS))


def checkpoint_groups(generator, discriminator, gan, rng):
    """Every variable a resume needs, grouped: weights, Adam slots, the step RNG."""
    return {"generator": generator.weights, "discriminator": discriminator.weights,
            "d_optimizer": discriminator.optimizer.variables,
            "g_optimizer": gan.optimizer.variables, "rng": [rng.state]}


def restore(run_dir, groups):
    """Load the checkpoint into the checkpoint groups' variables; return its epoch."""
    epoch, saved = runs.load_checkpoint(run_dir / "checkpoint.npz")
    for group, variables in groups.items():
        arrays = saved.get(group, [])
        shapes = [tuple(v.shape) for v in variables]
        if [a.shape for a in arrays] != shapes:
            raise RunError(f"--resume: {run_dir}/checkpoint.npz does not fit this model "
                           f"({group}: {len(arrays)} arrays for {len(shapes)} variables)")
        for variable, array in zip(variables, arrays):
            variable.assign(array)
    return epoch


def diverged(epoch, what):
    """The Diverged error for an epoch, saying which checkpoint survives."""
    kept = f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 else "no epoch completed"
    return Diverged(f"training diverged in epoch {epoch} ({what}); {kept}. "
                    "Try a lower --learning-rate")


def first_nonfinite(groups):
    """Name of the first checkpoint group holding NaN or inf, or None."""
    for group, variables in groups.items():
        if not all(np.isfinite(np.asarray(v)).all() for v in variables):
            return group
    return None


def run_epoch(step, batches, epoch, config, steps):
    """Train one epoch; return its history row. Raises Diverged on NaN/inf."""
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{config.epochs}", leave=False,
               disable=config.quiet or not sys.stderr.isatty(), mininterval=0.5)
    sums, done = np.zeros(2), 0
    start = time.perf_counter()
    while done < steps:
        k = min(step.block, steps - done)  # the fused engine takes batches k at a time
        losses = step([next(batches) for _ in range(k)])  # (k, 2): d_loss, g_loss
        bad = ~np.isfinite(losses).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise diverged(epoch, f"step {done + i + 1}: d_loss={losses[i, 0]:.4g}, "
                                  f"g_loss={losses[i, 1]:.4g}")
        sums, done = sums + losses.sum(axis=0), done + k
        bar.update(k)
        last_d, last_g = losses[-1]
        bar.set_postfix(d_loss=f"{last_d:.3f}", g_loss=f"{last_g:.3f}", refresh=False)
    bar.close()
    d_loss, g_loss = (sums / steps).tolist()
    return {"epoch": epoch, "d_loss": round(d_loss, 6), "g_loss": round(g_loss, 6),
            "seconds": round(time.perf_counter() - start, 3), "steps": steps}


def epoch_line(row, epochs):
    """The one-line summary of an epoch, with any judge scores appended."""
    extra = "".join(f"  {k} {v:g}" for k, v in row.items() if k not in runs.HISTORY_FIELDS)
    return (f"epoch {row['epoch']}/{epochs}  d_loss {row['d_loss']:.4f}  "
            f"g_loss {row['g_loss']:.4f}  {row['seconds']:.1f}s{extra}")


def finish(run_dir, generator, discriminator, history, kind):
    """Write the final models, the progress GIF, the loss and quality curves."""
    discriminator.trainable = True  # the loop leaves D frozen; save it usable
    for model, name in ((generator, "generator"), (discriminator, "discriminator")):
        tmp = run_dir / f".{name}.tmp.keras"
        model.save(tmp)
        tmp.replace(run_dir / f"{name}.keras")
    figures.gif_from_pngs(run_dir / "progress.gif", sorted((run_dir / "samples").glob("epoch_*.png")))
    figures.plot_history(run_dir / "losses.png", history, ["d_loss", "g_loss"],
                         f"{run_dir.name}: mean loss per epoch", "binary cross-entropy")
    if any(row.get("frechet_distance") not in (None, "") for row in history):
        from gan_tutorials.evaluate import TRACK_COLUMNS
        scores = [c for c in TRACK_COLUMNS[kind] if c not in ("frechet_distance", "classes_covered")]
        figures.plot_quality(run_dir / "quality.png", history, scores,
                             f"{run_dir.name}: the MNIST judge's verdict per epoch")


def start_run(config, arrays, argv):
    """Check folder and data before creating the folder; return (run_dir, images, labels)."""
    run_dir = open_run_dir(config)
    images, labels = arrays if arrays is not None else load_training_data(config)
    if config.batch_size > len(images):
        raise RunError(f"--batch-size {config.batch_size} is larger than the "
                       f"{len(images)} training images")
    prepare_run_dir(run_dir, config, argv or [])
    return run_dir, images, labels


def build_models(config, run_dir):
    """Models, optimizers and step RNG, restored on --resume: (g, d, gan, rng, groups, start)."""
    keras.utils.set_random_seed(config.seed)  # the tutorial's seed: initial weights
    generator, discriminator = create_models(config.model, config.noise_dim)
    gan = compile_models(generator, discriminator, config.learning_rate, config.beta_1)
    rng = tf.random.Generator.from_seed(config.seed)  # every draw of every step
    groups = checkpoint_groups(generator, discriminator, gan, rng)
    start = restore(run_dir, groups) if config.resume else 0
    return generator, discriminator, gan, rng, groups, start


def end_epoch(run_dir, row, history, groups):
    """Check the weights, then record the epoch: history first, checkpoint last."""
    bad = first_nonfinite(groups)  # losses can stay finite while Adam's slots overflow
    if bad is not None:
        raise diverged(row["epoch"], f"non-finite values in {bad}")
    history.append(row)
    runs.write_history(run_dir / "history.csv", history)  # resume trims rows past the checkpoint
    runs.save_checkpoint(run_dir / "checkpoint.npz", row["epoch"], groups)


def train(config=Config(), arrays=None, argv=None, on_epoch=None):
    """Train per `config` and return the history rows; see the module docstring.

    `arrays` = (images uint8 (n, 28, 28, 1), labels (n,)) replaces MNIST,
    e.g. a tiny subset in tests. `on_epoch(epoch, generator, row)` may add
    columns to each history row (--eval-every uses it for the judge's scores).
    """
    run_dir, images, labels = start_run(config, arrays, argv)
    generator, discriminator, gan, rng, groups, start = build_models(config, run_dir)
    history = [r for r in runs.read_history(run_dir / "history.csv") if r["epoch"] <= start]
    step = make_step(config.engine, generator, discriminator, gan, config.noise_dim,
                     config.label_sampling, rng, config.steps_per_call)
    steps = config.steps_per_epoch or len(images) // config.batch_size
    batches = iter(data.make_dataset(images, labels, config.batch_size, config.model == "cgan",
                                     seed=config.seed + start).repeat())
    if on_epoch is None and config.eval_every:
        from gan_tutorials.evaluate import make_tracker  # loads (or trains) the judge
        on_epoch = make_tracker(config.model, config.eval_every, config.data_dir, config.seed)
    preview = preview_inputs(config)
    if start == 0:
        save_preview(run_dir, 0, generator, preview)
    for epoch in range(start + 1, config.epochs + 1):
        row = run_epoch(step, batches, epoch, config, steps)
        save_preview(run_dir, epoch, generator, preview)
        if on_epoch is not None:
            row.update(on_epoch(epoch, generator, row) or {})
        end_epoch(run_dir, row, history, groups)
        print(epoch_line(row, config.epochs), flush=True)
    finish(run_dir, generator, discriminator, history, config.model)
    return history


def build_parser():
    """The argparse parser: one flag per Config field."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.train",
                                     description=__doc__.split("\n")[0])
    return add_config_flags(parser)


def _raise_interrupt(signum, frame):
    """Turn SIGINT and SIGTERM into KeyboardInterrupt."""
    raise KeyboardInterrupt


def main(argv=None):
    """CLI entry point."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    config = config_from_args(parser.parse_args(argv))
    # Both signals stop the same clean way. SIGINT is set explicitly because a
    # job started in the background (nohup ... &) inherits it as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)
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
