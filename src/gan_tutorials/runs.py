"""The self-describing run folder that tutorial step 2 writes and later steps read.

    RUN_DIR/config.json          every setting, plus the command line
    RUN_DIR/history.csv          one row per completed epoch
    RUN_DIR/samples/epoch_NNN.png  preview grid; epoch_000 is before training
    RUN_DIR/progress.gif         the previews as an animation
    RUN_DIR/checkpoint.npz       weights + optimizer slots of the last epoch
    RUN_DIR/generator.keras, discriminator.keras

Every file is written to a temporary name and renamed into place, so a kill
at any moment leaves either the old file or the new one, never half of one.
"""

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

HISTORY_FIELDS = ["epoch", "d_loss", "g_loss", "seconds", "steps"]
RESULT_FILES = ("config.json", "history.csv", "checkpoint.npz", "generator.keras")


def atomic_write_bytes(path, data):
    """Write bytes to path via a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    """Write obj as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path):
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def has_results(run_dir):
    """True when run_dir already holds the output of a run."""
    return any((Path(run_dir) / name).exists() for name in RESULT_FILES)


def write_history(path, rows):
    """Write the history rows (dicts) as CSV, atomically; columns in first-seen order."""
    fields = list(HISTORY_FIELDS)
    for row in rows:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def read_history(path):
    """Read history.csv into a list of dicts with numbers parsed."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text):
    """Parse an int or float cell; keep empty cells as None."""
    if text in ("", None):
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def sample_path(run_dir, epoch):
    """Path of one epoch's preview grid."""
    return Path(run_dir) / "samples" / f"epoch_{epoch:03d}.png"


def save_checkpoint(path, epoch, groups):
    """Save {"group": [arrays]} plus the epoch as one .npz, atomically."""
    arrays = {"epoch": np.array(epoch)}
    for group, values in groups.items():
        arrays.update({f"{group}/{i:04d}": np.asarray(v) for i, v in enumerate(values)})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path):
    """Return (epoch, {"group": [arrays]}) from a checkpoint .npz."""
    with np.load(path) as npz:
        groups = {}
        for key in sorted(k for k in npz.files if k != "epoch"):
            group, _ = key.split("/")
            groups.setdefault(group, []).append(npz[key])
        return int(npz["epoch"]), groups
