"""The dataset parameter: Fashion-MNIST offline from Debian's idx files, other tfds datasets."""

import gzip

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_tutorials import data, explore, runs
from gan_tutorials.config import Config
from gan_tutorials.train import train

FASHION = data.fashion_folder()
needs_fashion = pytest.mark.skipif(
    FASHION is None, reason=f"no Fashion-MNIST idx files in {data.FASHION_DIR} or "
                            f"${data.FASHION_DIR_VARIABLE}: apt-get install dataset-fashion-mnist")


def test_class_names_and_shapes_come_from_tfds():
    fashion = data.image_set("fashion_mnist")
    assert fashion.image_shape == (28, 28, 1) and fashion.num_classes == 10
    assert fashion.class_names[7:9] == ("Sneaker", "Bag")
    # The MNIST constant (no tfds call) agrees with tfds's own metadata.
    info = tfds.builder("mnist").info.features
    assert (tuple(info["image"].shape), info["label"].num_classes, tuple(info["label"].names)) \
        == (data.MNIST.image_shape, data.MNIST.num_classes, data.MNIST.class_names)
    assert data.image_set("mnist") is data.MNIST
    assert data.image_set("kmnist").class_names[0] == "o"
    with pytest.raises(data.DataError, match="unknown tfds dataset 'nope'"):
        data.image_set("nope")
    with pytest.raises(data.DataError, match="not a labelled grey-image dataset"):
        data.image_set("cifar10")  # colour images


@needs_fashion
def test_fashion_mnist_prepares_offline_then_plain_tfds_load(tmp_path):
    assert data.ensure("fashion_mnist", tmp_path) == "offline"
    assert data.ensure("fashion_mnist", tmp_path) == "prepared"
    train, test = tfds.load("fashion_mnist", split=["train", "test"], batch_size=-1,
                            as_supervised=True, data_dir=str(tmp_path))
    assert train[0].shape == (60000, 28, 28, 1) and test[0].shape == (10000, 28, 28, 1)
    assert np.bincount(train[1].numpy()).tolist() == [6000] * 10  # balanced, as published
    assert np.bincount(test[1].numpy()).tolist() == [1000] * 10


def test_idx_files_are_checked_by_content(tmp_path, monkeypatch):
    """Another folder via the variable; a file whose contents differ is refused."""
    for name in data.FASHION_SHA256:
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(b"\0" * 32))
    monkeypatch.setenv(data.FASHION_DIR_VARIABLE, str(tmp_path))
    assert data.fashion_folder() == tmp_path
    with pytest.raises(data.DataError, match="contents are not the Fashion-MNIST file"):
        data.read_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")  # read first
    with pytest.raises(data.DataError, match="cannot be read.*dataset-fashion-mnist"):
        data.read_idx_folder(tmp_path)
    assert data.fashion_folder(tmp_path / "missing") is None


@needs_fashion
def test_debian_files_match_the_pinned_contents():
    splits = data.read_idx_folder(FASHION)
    assert splits["train"][0].shape == (60000, 28, 28, 1) and splits["train"][0].dtype == np.uint8
    assert splits["test"][1].max() == 9


def test_another_tfds_dataset_trains_and_explores(tmp_path):
    """kmnist through tfds's mock data: the dataset travels into the run and its readers."""
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        pairs = list(tfds.load("kmnist", split="train", as_supervised=True).as_numpy_iterator())
    arrays = np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])
    out = tmp_path / "kmnist"
    history = train(Config(dataset="kmnist", kind="cgan", engine="tutorial", epochs=1,
                           batch_size=16, steps_per_epoch=2, out=str(out), quiet=True),
                    arrays=arrays)
    assert len(history) == 1 and runs.dataset_of(out) == "kmnist"
    explore.main([str(out)])  # the feature grid only: the style measures are for digits
    assert sorted(p.name for p in (out / "explore").iterdir()) == ["grid.png"]
    assert runs.dataset_of(tmp_path) == "mnist"  # no config.json: a bare generator file
