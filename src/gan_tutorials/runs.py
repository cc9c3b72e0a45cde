"""The self-describing run folder that tutorial step 2 writes and later steps read.

    RUN_DIR/config.json          every setting, plus the command line
    RUN_DIR/history.csv          one row per completed epoch
    RUN_DIR/samples/epoch_NNN.png  preview grid; epoch_000 is before training
    RUN_DIR/progress.gif         the previews as an animation
    RUN_DIR/losses.png, quality.png  curves per epoch (quality: --eval-every)
    RUN_DIR/checkpoint.npz       weights + optimizer slots of the last epoch
    RUN_DIR/generator.keras, discriminator.keras (generator-ema.keras: --ema's average)
    RUN_DIR/metrics.json, eval/  written by `evaluate`
    RUN_DIR/explore/             written by `explore`
    RUN_DIR/ema/                 the same results for the average (`--average`)
    RUN_DIR/logs/                TensorBoard events, written as training goes

This module owns that layout and the folder's policy: open a folder for a new
run or a resume, clear it for --overwrite, restore a checkpoint. Every file
any action writes is written to a temporary name and renamed into place
(`replacing`), so a kill at any moment leaves either the old file or the new
one, never half of one.
"""

import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from gan_tutorials.config import RESUME_MAY_CHANGE, RUN_PLACE, flag, upgrade

HISTORY_FIELDS = ["epoch", "d_loss", "g_loss", "seconds", "steps"]
RESULT_FILES = ("config.json", "history.csv", "checkpoint.npz", "generator.keras")
# Everything any action writes into a run folder; --overwrite removes all of
# it. A test runs every action and fails on a name missing here.
OWNED = (*RESULT_FILES, "generator-ema.keras", "discriminator.keras", "progress.gif",
         "losses.png", "quality.png", "metrics.json", "samples", "eval", "explore", "control",
         "logs", "ema", "generator-best.keras", "generator-ema-best.keras", "best.json", "best",
         "ema-best")
MIN_FREE_BYTES = 200 * 2**20  # a full run writes ~60 MB; refuse to start below this


class RunError(RuntimeError):
    """A run cannot start or go on; the message says why and what to do."""


@contextlib.contextmanager
def replacing(path):
    """A temporary path beside `path`, with its suffix, renamed onto it when the block ends well.

    Every file the package writes goes through here, so a kill at any moment
    leaves the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path, data):
    """Write bytes to path via a temporary file and an atomic rename."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_json(path, obj):
    """Write obj as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path):
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


# Fields of a results file that differ between two runs of the same computation.
INCIDENTAL = ("seconds", "requests_per_second", "generator")  # timings; the path named


def agree(old, new, rel=1e-6):
    """True when two results (JSON values) say the same: numbers within rel, incidental
    fields and fields the old one lacks aside."""
    if isinstance(old, dict) and isinstance(new, dict):
        return all(agree(old[k], new[k], rel) for k in old.keys() & new.keys()
                   if k not in INCIDENTAL)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(agree(a, b, rel) for a, b in zip(old, new))
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return abs(old - new) <= rel * max(abs(old), abs(new)) or old == new
    return old == new


def should_write(path, results, overwrite=False):
    """Whether an action writes `results` to `path` (and its figures beside it).

    False when the file already says the same (so a committed run folder stays
    as it is), True when it is absent or `overwrite`; RunError when it holds
    other results, which only --overwrite replaces.
    """
    path = Path(path)
    if overwrite or not path.exists():
        return True
    if agree(read_json(path), json.loads(json.dumps(results))):
        return False
    raise RunError(f"{path} holds other results; pass --overwrite to replace them, "
                   "or --out for another folder")


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


def save_checkpoint(path, epoch, groups, backend="tensorflow"):
    """Save {"group": [arrays]} plus the epoch and the Keras backend as one .npz, atomically."""
    arrays = {"epoch": np.array(epoch), "backend": np.array(backend)}
    for group, values in groups.items():
        arrays.update({f"{group}/{i:04d}": np.asarray(v) for i, v in enumerate(values)})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path):
    """Return (epoch, {"group": [arrays]}) from a checkpoint .npz."""
    with np.load(path) as npz:
        groups = {}
        for key in sorted(k for k in npz.files if "/" in k):
            group, _ = key.split("/")
            groups.setdefault(group, []).append(npz[key])
        return int(npz["epoch"]), groups


def checkpoint_backend(path):
    """The Keras backend a checkpoint was written on (tensorflow for older runs)."""
    with np.load(path) as npz:
        return str(npz["backend"]) if "backend" in npz.files else "tensorflow"


def generator_file(run_dir, average=False, best=False):
    """A run folder's generator: G (generator.keras), or with `average` its --ema average;
    with `best`, the one kept at its lowest-distance epoch (--keep-best)."""
    name = "generator" + ("-ema" if average else "") + ("-best" if best else "") + ".keras"
    path = Path(run_dir) / name
    if not path.exists() and (average or best):
        trained = " and ".join(f for f, on in (("--ema", average), ("--keep-best", best)) if on)
        raise RunError(f"{run_dir} has no {name}: it was trained without {trained}")
    return path


def results_dir(run_dir, average=False, best=False):
    """Where the results of a run's generator go: the run folder, or RUN_DIR/ema/ for the
    average, RUN_DIR/best/ and RUN_DIR/ema-best/ for the kept best of either."""
    folder = "-".join(part for part, on in (("ema", average), ("best", best)) if on)
    return Path(run_dir) / folder if folder else Path(run_dir)


def kept_best(run_dir, start_epoch):
    """--keep-best's record so far, {generator stem: {"epoch", "frechet_distance"}}, as of
    start_epoch (a resume forgets what it will train again)."""
    path = Path(run_dir) / "best.json"
    record = read_json(path) if path.exists() else {}
    return {name: kept for name, kept in record.items() if kept["epoch"] <= start_epoch}


def keep_if_best(run_dir, record, name, generator, epoch, distance):
    """Save generator as NAME-best.keras when its distance is the lowest so far; update best.json."""
    if name in record and record[name]["frechet_distance"] <= distance:
        return False
    with replacing(Path(run_dir) / f"{name}-best.keras") as tmp:
        generator.save(tmp)
    record[name] = {"epoch": epoch, "frechet_distance": distance}
    write_json(Path(run_dir) / "best.json", record)
    return True


def read_config(run_dir):
    """The settings a run folder was trained with, fields renamed since upgraded.

    Raises RunError naming the problem when run_dir is not a run folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"not a run folder: {run_dir} "
                       f"{'is a file' if run_dir.exists() else 'does not exist'}")
    if not (run_dir / "config.json").exists():
        raise RunError(f"not a run folder: {run_dir} holds no config.json")
    return upgrade(read_json(run_dir / "config.json").get("config", {}))


def dataset_of(path):
    """The dataset a run folder was trained on: mnist for a bare .keras file or an older run."""
    config = Path(path) / "config.json"
    return read_config(path)["dataset"] if config.exists() else "mnist"


def unowned(run_dir):
    """Names in run_dir that no action of the package writes (temporary files aside)."""
    return sorted(p.name for p in Path(run_dir).iterdir()
                  if p.name not in OWNED and not p.name.startswith("."))


def open_run_dir(config):
    """Check the run folder against --resume / --overwrite before any work."""
    run_dir = Path(config.run_dir)
    if config.resume and config.overwrite:
        raise RunError("--resume and --overwrite contradict each other: pick one")
    if config.resume:
        check_resumable(run_dir, config)
    elif has_results(run_dir) and not config.overwrite:
        raise RunError(f"{run_dir} already holds a run: pass --resume to continue it, "
                       "--overwrite to replace it, or --out for a new folder")
    return run_dir


def check_resumable(run_dir, config):
    """Raise unless run_dir holds a run of this same config with a checkpoint."""
    if not (run_dir / "config.json").exists() or not (run_dir / "checkpoint.npz").exists():
        raise RunError(f"--resume: {run_dir} holds no run of gan_tutorials "
                       "(config.json and checkpoint.npz are missing)")
    saved = read_config(run_dir)
    if saved.get("kind") != config.kind:
        raise RunError(f"--resume: {run_dir} is a {saved.get('kind')!r} run, "
                       f"not {config.kind!r}; pass --kind {saved.get('kind')}")
    differ = settings_differ(saved, config)
    if differ:
        raise RunError("--resume: settings differ from the saved run; pass "
                       + ", ".join(as_flags_given(differ)))


def settings_differ(saved, config):
    """{field: saved value} of what a saved config learned with that `config` does not."""
    return {k: v for k, v in saved.items() if k not in RESUME_MAY_CHANGE and getattr(config, k, v) != v}


def as_flags_given(settings):
    """settings_differ's {field: saved value} as the flags that give them: "--learning-rate
    0.0001", or "no --d-learning-rate" for a field the saved run left unset."""
    return [f"{flag(k)} {v}" if v is not None else f"no {flag(k)}" for k, v in settings.items()]


def clear_run_dir(run_dir):
    """Remove everything the package wrote in run_dir, so no stale result survives."""
    for name in OWNED:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def prepare_run_dir(run_dir, config, argv):
    """Create (or clear, with --overwrite) the folder and check it is writable."""
    if config.overwrite and run_dir.is_dir():
        clear_run_dir(run_dir)
    try:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / ".write_test", b"ok")
        (run_dir / ".write_test").unlink()
    except OSError as err:
        raise RunError(f"cannot write to {run_dir}: {err.strerror or err}") from err
    free = shutil.disk_usage(run_dir).free
    if free < MIN_FREE_BYTES:
        raise RunError(f"{run_dir}: only {free // 2**20} MB free; a run needs "
                       f"{MIN_FREE_BYTES // 2**20} MB")
    if not config.resume:
        write_json(run_dir / "config.json", {"config": dataclasses.asdict(config), "argv": argv})
        return
    # A resume may change how the run goes on (more --epochs, another engine):
    # the folder keeps stating what it holds, and each resume's flags.
    saved = read_json(run_dir / "config.json")
    saved["config"].update({k: v for k, v in dataclasses.asdict(config).items()
                            if k in RESUME_MAY_CHANGE and k not in RUN_PLACE})
    saved["resumed"] = [*saved.get("resumed", []), argv]
    write_json(run_dir / "config.json", saved)


def restore(run_dir, groups, backend="tensorflow"):
    """Load run_dir's checkpoint into the groups' variables; return its epoch.

    Weights and Adam slots are the same arrays on every Keras backend, but the
    steps' random stream is not (TensorFlow's Philox Generator against Keras's
    SeedGenerator), so a resume on another backend could not continue the run
    exactly: it is refused.
    """
    saved_backend = checkpoint_backend(run_dir / "checkpoint.npz")
    if saved_backend != backend:
        raise RunError(f"--resume: {run_dir} was trained on the {saved_backend} backend and this "
                       f"is {backend}; its random stream cannot carry over, so the resume would "
                       f"not be exact. Resume with KERAS_BACKEND={saved_backend}")
    epoch, saved = load_checkpoint(run_dir / "checkpoint.npz")
    for group, variables in groups.items():
        arrays = saved.get(group, [])
        shapes = [tuple(v.shape) for v in variables]
        if [a.shape for a in arrays] != shapes:
            raise RunError(f"--resume: {run_dir}/checkpoint.npz does not fit this model "
                           f"({group}: {len(arrays)} arrays for {len(shapes)} variables)")
        for variable, array in zip(variables, arrays):
            variable.assign(array)
    return epoch


# What a resume reads from a run folder: a process other than 0 copies it to its own.
RESUME_FILES = ("config.json", "history.csv", "checkpoint.npz", "best.json")


@contextlib.contextmanager
def process_folder(config, process):
    """The config a process trains by: as given for process 0, else one writing to a scratch folder.

    Every process makes the same calls in the same order (previews, the
    judge's scores, checkpoints: each is a computation on weights spread over
    all of them), so the others do all that process 0 does, into a folder of
    their own that goes at the end. A resume copies what it reads from the
    run folder, which must be on a file system every process reads.
    """
    if process == 0:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix=f"gan-process-{process}-") as scratch:
        source, own = Path(config.run_dir), Path(scratch) / Path(config.run_dir).name
        own.mkdir()
        if config.resume:
            if not (source / "checkpoint.npz").is_file():
                raise RunError(f"process {process} cannot read {source / 'checkpoint.npz'}: "
                               "--resume over several hosts needs the run folder on a file "
                               "system every host reads")
            for name in RESUME_FILES:
                if (source / name).is_file():
                    shutil.copy2(source / name, own)
        yield dataclasses.replace(config, out=str(own), quiet=True)
