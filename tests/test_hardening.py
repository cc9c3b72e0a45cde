"""Bad input ends in a clear message; an interrupted run loses nothing."""

import importlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gan_tutorials import bench, data, evaluate, explore, runs
from gan_tutorials import train as train_module
from gan_tutorials.config import Config
from gan_tutorials.train import Callback, Diverged, RunError, train

TINY = dict(batch_size=32, steps_per_epoch=3, quiet=True)


# --- bad CLI values: argparse-style one line, exit 2, no folder ---------------

@pytest.mark.parametrize("flags,complaint", [
    (["--epochs", "0"], "must be >= 1"),
    (["--epochs", "-3"], "must be >= 1"),
    (["--batch-size", "0"], "must be >= 1"),
    (["--seed", "abc"], "expected an integer"),
    (["--model", "dcgan"], "invalid choice"),
    (["--engine", "turbo"], "invalid choice"),
    (["--steps-per-epoch", "0"], "must be >= 1"),
    (["--label-sampling", "maxval"], "invalid choice"),
    (["--learning-rate", "fast"], "expected a number"),
    (["--dataset", "nope"], "unknown tfds dataset 'nope'"),
])
def test_bad_flag_values(flags, complaint, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train_module.main(flags + ["--out", str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("python -m gan_tutorials.train: error:") and complaint in error
    assert not out.exists()


@pytest.mark.parametrize("cli,flags,complaint", [
    (bench, ["--warmup", "-1"], "must be >= 0"),
    (bench, ["--steps", "0"], "must be >= 1"),
    (bench, ["--repeats", "x"], "expected an integer"),
    (evaluate, ["run", "--per-class", "0"], "must be >= 1"),
    (evaluate, ["run", "--seed", "-1"], "must be >= 0"),
    (explore, ["run", "--samples", "29"], "must be >= 30"),
])
def test_every_cli_checks_its_numbers_alike(cli, flags, complaint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(flags)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"python -m gan_tutorials.{cli.__name__.split('.')[-1]}: error:")
    assert complaint in error


def test_batch_larger_than_dataset(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train_module.main(["--batch-size", "100000", "--out", str(out),
                           "--data-dir", str(tiny_data_dir)])
    assert exit_info.value.code == 2
    assert "larger than the 400 training images" in capsys.readouterr().err
    assert not out.exists()


# --- existing folders ----------------------------------------------------------

def test_resume_needs_a_run_of_the_same_kind(tiny_arrays, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunError, match="holds no run"):
        train(Config(out=str(empty), resume=True, **TINY), arrays=tiny_arrays)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    with pytest.raises(RunError, match="holds no run"):
        train(Config(out=str(foreign), resume=True, **TINY), arrays=tiny_arrays)
    out = tmp_path / "run"
    train(Config(kind="gan", out=str(out), epochs=1, engine="tutorial", **TINY),
          arrays=tiny_arrays)
    with pytest.raises(RunError, match="settings differ.*--batch-size 32"):
        train(Config(out=str(out), resume=True, epochs=2, batch_size=16, steps_per_epoch=3,
                     quiet=True), arrays=tiny_arrays)
    with pytest.raises(RunError, match="contradict"):
        train(Config(out=str(out), resume=True, overwrite=True, **TINY), arrays=tiny_arrays)


def test_unwritable_output_is_refused_before_training(tiny_arrays, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a file where a folder should go: mkdir fails even as root
    with pytest.raises(RunError, match="cannot write"):
        train(Config(out=str(blocker / "run"), epochs=1, **TINY), arrays=tiny_arrays)


# --- numerical failure ---------------------------------------------------------

def test_divergence_stops_with_epoch_and_step(tiny_arrays, tmp_path):
    out = tmp_path / "run"
    config = Config(out=str(out), epochs=3, learning_rate=1e6, **TINY)  # Adam at 1e6 blows up
    with pytest.raises(Diverged, match=r"diverged in epoch 1 \((step \d|non-finite)"):
        train(config, arrays=tiny_arrays)
    assert not (out / "checkpoint.npz").exists()  # nothing bad was saved
    assert runs.read_history(out / "history.csv") == []


def test_diverged_epoch_leaves_no_preview_and_no_score(tiny_arrays, tmp_path):
    """Weights checked before anything looks at them: no preview, no judge on NaN."""
    out = tmp_path / "run"
    hooked = []

    class Record(Callback):
        def on_epoch_end(self, epoch):
            hooked.append(epoch.number)

    # One step at lr 1e4 overflows G's Adam slots while both losses stay finite.
    config = Config(out=str(out), epochs=2, learning_rate=1e4, batch_size=32,
                    steps_per_epoch=1, quiet=True)
    with pytest.raises(Diverged, match=r"epoch 1 \(non-finite values in g_optimizer\)"):
        train(config, arrays=tiny_arrays, callbacks=[Record()])
    assert hooked == []  # the callbacks (the judge's among them) never saw the broken generator
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_000.png"]


def test_divergence_keeps_the_last_good_checkpoint(tiny_arrays, tmp_path):
    out = tmp_path / "run"

    class Poison(Callback):  # a fault injected after epoch 3's steps
        def on_epoch_end(self, epoch):
            if epoch.number == 3:
                weight = epoch.models.generator.weights[0]
                weight.assign(np.full(weight.shape, np.nan))

    with pytest.raises(Diverged, match="epoch 3 .*generator.*checkpoint of epoch 2 is kept"):
        train(Config(out=str(out), epochs=5, **TINY), arrays=tiny_arrays, callbacks=[Poison()])
    saved_epoch, saved = runs.load_checkpoint(out / "checkpoint.npz")
    assert saved_epoch == 2
    assert all(np.isfinite(a).all() for arrays in saved.values() for a in arrays)
    assert [r["epoch"] for r in runs.read_history(out / "history.csv")] == [1, 2]


# --- data integrity --------------------------------------------------------------

def test_truncated_offline_file_is_a_clear_error(tiny_pickle, tmp_path):
    source, _ = tiny_pickle
    cut = tmp_path / "mnist.pkl.gz"
    cut.write_bytes(source.read_bytes()[:1000])
    with pytest.raises(data.DataError) as err:
        data.read_offline_arrays(cut)  # checked against the real file's hash
    assert str(cut) in str(err.value) and "reinstall" in str(err.value)
    # Right hash but broken content (a truncated gzip): still a clear error.
    with pytest.raises(data.DataError, match="cannot be read"):
        data.read_offline_arrays(cut, sha256=data.sha256_of(cut))


def test_corrupt_prepared_folder_is_prepared_again(tiny_pickle, tmp_path):
    from conftest import TINY_SIZES
    source, sha = tiny_pickle
    assert data.ensure_mnist(tmp_path, source, sha, TINY_SIZES) == "offline"
    record = next((tmp_path / "mnist" / "3.0.1").glob("mnist-train.tfrecord-*"))
    record.write_bytes(record.read_bytes()[:5000])  # a half-copied folder
    assert "truncated" in data.check_prepared(tmp_path, TINY_SIZES)
    assert data.ensure_mnist(tmp_path, source, sha, TINY_SIZES) == "offline"
    assert data.check_prepared(tmp_path, TINY_SIZES) is None


# --- interruption: a real process, a real signal -----------------------------------

def start_training(out, data_dir, extra=()):
    # The line "epoch 2/4" is printed after epoch 2's checkpoint, right before
    # epoch 3 starts; 60 steps (~1 s) give the signal ample time to land in it.
    cmd = [sys.executable, "-u", "-m", "gan_tutorials.train", "--epochs", "4",
           "--batch-size", "16", "--steps-per-epoch", "60", "--out", str(out),
           "--data-dir", str(data_dir), "--quiet", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_kill_mid_epoch_then_resume(sig, tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    proc = start_training(out, tiny_data_dir)
    for line in proc.stdout:  # epoch 2 is done: epoch 3 is under way
        if line.startswith("epoch 2/4"):
            break
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-1500:]
    assert "interrupted" in stderr and "--resume" in stderr
    history = runs.read_history(out / "history.csv")
    assert [r["epoch"] for r in history] == [1, 2]
    assert runs.load_checkpoint(out / "checkpoint.npz")[0] == 2
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "epoch_000.png", "epoch_001.png", "epoch_002.png"]
    resumed = start_training(out, tiny_data_dir, ["--resume"])
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr[-1500:]
    assert [r["epoch"] for r in runs.read_history(out / "history.csv")] == [1, 2, 3, 4]
    assert runs.read_history(out / "history.csv")[:2] == history  # kept, not redone
    assert "epoch 3/4" in stdout and "epoch 1/4" not in stdout


def test_kill_during_checkpoint_write_leaves_a_loadable_one(tmp_path):
    """SIGKILL a process that rewrites a 40 MB checkpoint in a loop, then load it."""
    path = tmp_path / "checkpoint.npz"
    script = textwrap.dedent(f"""
        import numpy as np
        from gan_tutorials import runs
        epoch = 0
        while True:
            epoch += 1
            runs.save_checkpoint({str(path)!r}, epoch,
                                 {{"w": [np.full((1000, 10000), epoch, np.float32)]}})
            print(epoch, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if int(line) >= 2:
            break
    full = path.stat().st_size  # a complete checkpoint's size
    caught, deadline = None, time.monotonic() + 60
    while caught is None and time.monotonic() < deadline:  # kill only while a write is under way
        try:
            sizes = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
        except FileNotFoundError:  # a file renamed between listing and stat
            continue
        writing = [n for n, size in sizes.items() if n != path.name or size < full]
        if writing:
            os.kill(proc.pid, signal.SIGKILL)
            caught = writing
    proc.kill()
    proc.wait()
    assert caught, "never saw a write under way to kill it in"
    epoch, saved = runs.load_checkpoint(path)
    assert epoch >= 2
    assert saved["w"][0].shape == (1000, 10000) and np.all(saved["w"][0] == epoch)


# Every action is quieted by one mechanism, in the package's __init__, which Python runs
# before any `-m gan_tutorials.<action>`; each kind of action is started here: plain modules
# (data, judge; the fast tier), the training loop, a subpackage's __main__ (control) and the
# one that loads TensorBoard (board). Each start costs a TensorFlow import, so the other
# plain modules are not started one by one.
STARTED = {"data": (), "judge": (), "train": pytest.mark.slow, "control": pytest.mark.slow,
           "board": pytest.mark.slow}


@pytest.mark.parametrize("cli", [pytest.param(c, marks=m) for c, m in STARTED.items()])
def test_each_kind_of_cli_opens_without_tensorflow_log_lines(cli):
    """A user's first screen is the package's own: no C++ start-up lines from TensorFlow.

    --help still imports the module, so TensorFlow loads as for a real run.
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a shell has it
    result = subprocess.run([sys.executable, "-m", f"gan_tutorials.{cli}", "--help"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.startswith("usage: python -m gan_tutorials.")
    for marker in ("I0000", "E0000", "W0000", "absl::InitializeLog", "cuda"):
        assert marker not in result.stderr, result.stderr[:1500]


def test_a_stop_signal_lost_in_a_finalizer_still_stops_the_loop(tiny_arrays, tmp_path):
    """An exception raised inside __del__ is ignored by Python; the loop stops all the same."""
    class Collected:
        def __del__(self):
            train_module._raise_interrupt(signal.SIGTERM, None)  # as if the signal landed here

    try:
        Collected()  # collected at once: its KeyboardInterrupt is printed and swallowed
        with pytest.raises(KeyboardInterrupt):
            train(Config(epochs=1, steps_per_epoch=2, batch_size=16, quiet=True,
                         out=str(tmp_path / "run")), arrays=tiny_arrays)
    finally:
        train_module.STOP_ASKED.clear()
    assert not (tmp_path / "run" / "checkpoint.npz").exists()  # stopped before its first step


# --- each action's commonest mistake: one line naming it ------------------------------

README = str(Path(__file__).parent.parent / "README.md")


@pytest.mark.parametrize("action, argv, said", [
    ("compare", ["/nonexistent"], "not a run folder: /nonexistent does not exist"),
    ("board", [README], "not a run folder: .*README.md is a file"),
    ("morphometry", ["--against", README], "README.md: not the toolkit's measures"),
    ("evaluate", ["/nonexistent"], "/nonexistent does not exist; expected a run folder"),
    ("explore", [README], "README.md is not a Keras model file"),
    ("control.cli", ["/nonexistent", "--report"], "/nonexistent does not exist"),
    ("train", ["--config", README], "--config .*README.md: not a usable run config.json"),
    ("judge", ["--dataset", "no_such_set"], "no_such_set"),
])
def test_a_bad_input_is_one_line_naming_it(action, argv, said, capsys):
    module = importlib.import_module(f"gan_tutorials.{action}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(said, err), err
