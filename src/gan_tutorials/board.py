"""Beyond the tutorial: watch runs in TensorBoard and compare them side by side.

    python -m gan_tutorials.board RUN_DIR [RUN_DIR ...]   # rebuild logs/ from the folder
    tensorboard --logdir outputs                          # or: make tensorboard

Training writes RUN_DIR/logs/ as it goes (see `EventLog`): d_loss and g_loss
of every step, each epoch's mean losses, seconds and judge scores, its preview
grid, and the config as text and as hparams. The step axis is the training
step: epoch e's values sit at its last step, e * steps_per_epoch. A resume
first drops whatever an interrupted epoch had logged past the checkpoint, so
no point is duplicated or rewound. `board` rebuilds logs/ for a folder from
history.csv and samples/ alone, e.g. for runs made before the logs existed.
"""

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.scalar import metadata as scalar_metadata

from gan_tutorials import runs
from gan_tutorials.config import RUN_PLACE
from gan_tutorials.train import Callback


def log_folder(run_dir):
    """Where a run's TensorBoard events go."""
    return Path(run_dir) / "logs"


def drop_events_after(folder, last_step):
    """Rewrite folder's event files without the events logged after last_step."""
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        kept = []
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            if event.step <= last_step:
                kept.append(record.numpy())
        tmp = path.with_name(f".{path.name}.tmp")
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in kept:
                writer.write(record)
        tmp.replace(path)


class EventLog:
    """A run's TensorBoard events: the config once, then every epoch's steps and summary."""

    def __init__(self, run_dir, settings, steps_per_epoch, start_epoch=0):
        folder = log_folder(run_dir)
        resumed_log = start_epoch and folder.exists()
        if resumed_log:  # forget what an interrupted epoch logged past the checkpoint
            drop_events_after(folder, start_epoch * steps_per_epoch)
        self.steps_per_epoch = steps_per_epoch
        self.writer = tf.summary.create_file_writer(str(folder))
        if not resumed_log:  # the settings once per log
            self.write_settings(settings)

        scalar = scalar_metadata.create_summary_metadata(display_name=None, description=None)

        @tf.function  # one call per epoch: eager summaries cost ~0.6 ms each, ~1 s per epoch
        def write_steps(first, losses):  # losses (steps, 2)
            with self.writer.as_default():
                for i in tf.range(tf.shape(losses)[0]):
                    # tf.summary.write, not .scalar: inside the loop, .scalar's
                    # tags would gain a "while/" name scope.
                    step = first + tf.cast(i, tf.int64)
                    tf.summary.write("step/d_loss", losses[i, 0], step, metadata=scalar)
                    tf.summary.write("step/g_loss", losses[i, 1], step, metadata=scalar)
        self.write_steps = write_steps

    def write_settings(self, settings):
        """The config dict as a text table and as hparams (the HParams view compares runs)."""
        fields = {k: v for k, v in settings.items() if k not in RUN_PLACE}
        table = "\n".join(f"| {k} | {v} |" for k, v in fields.items())
        with self.writer.as_default():
            tf.summary.text("config", "| setting | value |\n| --- | --- |\n" + table, step=0)
            hp.hparams({k: v for k, v in fields.items() if isinstance(v, (bool, int, float, str))})
        self.writer.flush()

    def epoch(self, row, step_losses=None, preview=None):
        """One epoch: its per-step losses (steps, 2), its history row, its preview grid (H, W)."""
        last = row["epoch"] * self.steps_per_epoch
        if step_losses is not None:
            first = tf.constant(last - len(step_losses) + 1, tf.int64)  # a tensor: no retrace
            self.write_steps(first, tf.constant(step_losses, tf.float32))
        with self.writer.as_default():
            for name, value in row.items():
                if name not in ("epoch", "steps") and value not in (None, ""):
                    tf.summary.scalar(f"epoch/{name}", float(value), step=last)
            if preview is not None:
                tf.summary.image("preview", np.asarray(preview)[None, :, :, None], step=last)
        self.writer.flush()  # visible in TensorBoard at once

    def close(self):
        """Flush and close the event file."""
        self.writer.close()


class TrainingLog(Callback):
    """RUN_DIR/logs as a run goes, as a training callback: every step, each epoch's row and grid."""

    def __init__(self, config):
        self.settings, self.log = dataclasses.asdict(config), None

    def on_train_begin(self, run_dir, start_epoch, steps_per_epoch):
        self.log = EventLog(run_dir, self.settings, steps_per_epoch, start_epoch)

    def on_epoch_end(self, epoch):
        self.log.epoch(epoch.row, epoch.losses, epoch.preview)

    def on_train_end(self, history):
        self.log.close()


def rebuild(run_dir):
    """Write run_dir/logs afresh from config.json, history.csv and samples/; return the count."""
    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    history = runs.read_history(run_dir / "history.csv")
    if not history:
        raise runs.RunError(f"{run_dir} has no history.csv rows to log")
    shutil.rmtree(log_folder(run_dir), ignore_errors=True)
    log = EventLog(run_dir, config, history[0]["steps"])
    for row in history:
        frame = runs.sample_path(run_dir, row["epoch"])
        log.epoch(row, preview=iio.imread(frame) if frame.exists() else None)
    log.close()
    return len(history)


def main(argv=None):
    """CLI: rebuild the TensorBoard logs of one or more run folders."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.board",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        start = time.perf_counter()
        try:
            count = rebuild(run_dir)
        except (runs.RunError, OSError) as err:
            parser.exit(2, f"{parser.prog}: error: {err}\n")
        print(f"{run_dir}: {count} epochs logged in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
