"""Beyond the tutorial: judge a generator with an MNIST classifier instead of by eye.

    python -m gan_tutorials.evaluate RUN_DIR [--per-class N] [--seed N]
    python -m gan_tutorials.evaluate --generator FILE.keras [--out DIR]

The tutorial says its dense GAN "seems to have mostly settled on drawing 1s"
and that the conditional GAN draws every digit "with the exception of the 9".
Here a small CNN, trained once on MNIST and cached, reads the generated digits:
  * conditional: accuracy overall and per class, and the confusion matrix;
  * unconditional: each class's share, classes covered, normalized entropy;
  * both: mean confidence and the Frechet distance between the judge's
    penultimate features of generated and of MNIST test digits (with the
    distance between two halves of the test set as the floor).
Writes RUN_DIR/metrics.json and RUN_DIR/eval/*.png.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from gan_tutorials import data, figures, runs
from gan_tutorials.models import NUM_CLASSES, image_of, is_conditional

JUDGE_EPOCHS = 4  # enough for >= 99.0% test accuracy with this CNN
COVERED_SHARE = 0.02  # a class counts as drawn when it has >= 2% of the samples
FEATURE_LAYER = "features"  # the judge's penultimate layer, used for the distance


class EvaluationError(RuntimeError):
    """The input cannot be evaluated; the message says what was expected."""


# --- the judge -------------------------------------------------------------

def create_judge():
    """A small CNN for 28x28 digits in [-1, 1]; softmax over 10 classes."""
    image = keras.Input((28, 28, 1), name="image")  # (n, 28, 28, 1) in [-1, 1]
    x = keras.layers.Conv2D(32, 3, activation="relu")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)  # (n, 1600)
    x = keras.layers.Dropout(0.25)(x)  # dropout: ~99.2% instead of ~98.9% on test
    features = keras.layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    x = keras.layers.Dropout(0.25)(features)
    probs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(image, probs, name="mnist_judge")


def train_judge(train_xy, test_xy, epochs=JUDGE_EPOCHS, seed=0, verbose=1):
    """Fit the judge on uint8 MNIST; return (model, test accuracy)."""
    keras.utils.set_random_seed(seed)
    judge = create_judge()
    judge.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = train_xy
    judge.fit(np.asarray(data.scale_images(x)), np.asarray(y), batch_size=128,
              epochs=epochs, verbose=verbose if sys.stderr.isatty() else min(verbose, 2))
    x_test, y_test = test_xy
    _, accuracy = judge.evaluate(np.asarray(data.scale_images(x_test)), np.asarray(y_test),
                                 batch_size=1000, verbose=0)
    return judge, float(accuracy)


def cache_dir():
    """Where the judge is cached: $GAN_TUTORIALS_CACHE or the user cache dir."""
    import platformdirs
    return Path(os.environ.get("GAN_TUTORIALS_CACHE") or platformdirs.user_cache_dir("gan_tutorials"))


def load_cached_judge(folder):
    """The cached judge if its file matches its fingerprint sidecar, else None."""
    path, sidecar = folder / "judge.keras", folder / "judge.json"
    try:
        meta = runs.read_json(sidecar)
        if data.sha256_of(path) != meta["sha256"]:
            return None
        return keras.models.load_model(path)
    except (OSError, ValueError, KeyError):
        return None


def get_judge(data_dir=None, folder=None, verbose=1, arrays=None):
    """The cached judge, verified; trained (a few minutes) and cached if absent or corrupt.

    `arrays` = (train_xy, test_xy) trains on those instead of MNIST (tests).
    """
    folder = Path(folder or cache_dir())
    judge = load_cached_judge(folder)
    if judge is not None:
        return judge
    print(f"training the MNIST judge (cached in {folder}) ...", file=sys.stderr, flush=True)
    if arrays is None:
        data.ensure_mnist(data_dir)
        arrays = data.load_mnist(data_dir)
    judge, accuracy = train_judge(*arrays, verbose=verbose)
    save_judge(folder, judge, accuracy)
    return judge


def save_judge(folder, judge, accuracy):
    """Cache the judge with a sha256 sidecar, both written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".judge.tmp.keras"
    judge.save(tmp)
    sha = data.sha256_of(tmp)
    tmp.replace(folder / "judge.keras")
    runs.write_json(folder / "judge.json", {"sha256": sha, "test_accuracy": accuracy,
                                            "epochs": JUDGE_EPOCHS})


# --- metrics ---------------------------------------------------------------

def feature_reader(judge):
    """The judge with a second output, its penultimate features (built once, reused)."""
    if len(judge.outputs) == 2:
        return judge
    return keras.Model(judge.input, [judge.output, judge.get_layer(FEATURE_LAYER).output])


def judge_outputs(judge, images, batch_size=1000):
    """(probabilities (n, 10), penultimate features (n, 128)) for images in [-1, 1]."""
    probs, features = feature_reader(judge).predict(np.asarray(images, np.float32),
                                                    batch_size=batch_size, verbose=0)
    return probs, features


def frechet_distance(a, b):
    """Frechet distance between Gaussians fitted to two (n, d) feature sets.

    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), where the trace of the
    matrix root is computed from the symmetric S_a^1/2 S_b S_a^1/2 (numpy only).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * cross)


def class_metrics(predicted, labels=None):
    """Class shares, coverage and normalized entropy; with labels, accuracies too."""
    predicted = np.asarray(predicted)
    shares = np.bincount(predicted, minlength=NUM_CLASSES) / len(predicted)
    nonzero = shares[shares > 0]
    metrics = {"class_shares": shares.round(4).tolist(),
               "classes_covered": int((shares >= COVERED_SHARE).sum()),
               "entropy": float(-(nonzero * np.log(nonzero)).sum() / np.log(NUM_CLASSES)) + 0.0}  # + 0.0: no -0
    if labels is not None:
        labels = np.asarray(labels)
        confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        np.add.at(confusion, (labels, predicted), 1)  # rows: asked-for class
        per_class = np.diag(confusion) / np.maximum(confusion.sum(1), 1)
        metrics.update(accuracy=float((predicted == labels).mean()),
                       per_class_accuracy=per_class.round(4).tolist(),
                       min_class_accuracy=float(per_class.min()),
                       confusion=confusion.tolist())
    return metrics


def score_images(judge, images, labels=None, reference_features=None):
    """Every metric of a set of images (and the classes they were asked to be)."""
    probs, features = judge_outputs(judge, images)
    metrics = class_metrics(probs.argmax(1), labels)
    metrics["confidence"] = float(probs.max(1).mean())
    if reference_features is not None:
        metrics["frechet_distance"] = frechet_distance(features, reference_features)
    return metrics


def reference_stats(judge, data_dir=None, test_xy=None):
    """Judge features of the MNIST test set, and the two-halves distance floor."""
    if test_xy is None:
        data.ensure_mnist(data_dir)
        _, test_xy = data.load_mnist(data_dir)
    images = np.asarray(data.scale_images(test_xy[0]))  # (10000, 28, 28, 1)
    _, features = judge_outputs(judge, images)
    # Random halves: MNIST's stored order is not random (its two halves come
    # from different writers), and tfds reorders it, so split by a fixed draw.
    order = np.random.default_rng(0).permutation(len(features))
    half = len(features) // 2
    floor = frechet_distance(features[order[:half]], features[order[half:]])
    return {"features": features, "floor": floor}


# --- generators --------------------------------------------------------------

def check_generator(model, need_conditional=None):
    """Raise EvaluationError unless model looks like a tutorial generator.

    A generator takes noise (n, k) [and a one-hot (n, 10)] and returns an
    image (n, 28, 28, 1) [and the label]; a discriminator takes an image.
    """
    if not isinstance(model, keras.Model):
        raise EvaluationError(f"expected a Keras generator model, got {type(model).__name__}")
    shapes = [tuple(t.shape) for t in model.inputs]
    out = model.outputs[0].shape
    if shapes and shapes[0][1:] == (28, 28, 1):
        raise EvaluationError(f"{model.name!r} takes images, so it is a discriminator; "
                              "expected a generator (noise -> image)")
    if len(shapes[0]) != 2 or tuple(out[1:]) != (28, 28, 1) or len(shapes) > 2 or (
            len(shapes) == 2 and shapes[1][1:] != (NUM_CLASSES,)):
        raise EvaluationError(f"{model.name!r} is not a tutorial generator: expected inputs "
                              f"noise (n, k) [+ one-hot (n, 10)] and an image output "
                              f"(n, 28, 28, 1); got inputs {shapes} and output {tuple(out)}")
    if need_conditional is not None and is_conditional(model) != need_conditional:
        kinds = {True: ("a conditional", "cgan"), False: ("an unconditional", "gan")}
        raise EvaluationError(f"{model.name!r} is {kinds[not need_conditional][0]} generator; "
                              f"expected {kinds[need_conditional][0]} one (a --model "
                              f"{kinds[need_conditional][1]} run)")


def load_generator(path, need_conditional=None):
    """Load and check a generator from a .keras file or a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if not path.exists():
        raise EvaluationError(f"{path} does not exist; expected a run folder or a .keras file")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # keras raises many types for a bad file
        raise EvaluationError(f"{path} is not a Keras model file ({type(err).__name__})") from err
    check_generator(model, need_conditional)
    return model


def generate(generator, per_class, seed=0, batch_size=1000):
    """(images (10*per_class, 28, 28, 1), asked-for labels or None) from a generator."""
    n, noise_dim = NUM_CLASSES * per_class, generator.inputs[0].shape[-1]
    noise = np.random.default_rng(seed).standard_normal((n, noise_dim)).astype(np.float32)
    labels = np.repeat(np.arange(NUM_CLASSES), per_class) if is_conditional(generator) else None
    inputs = noise if labels is None else [noise, np.eye(NUM_CLASSES, dtype=np.float32)[labels]]
    images = image_of(generator.predict(inputs, batch_size=batch_size, verbose=0))
    return images, labels


def evaluate_generator(generator, judge=None, per_class=1000, seed=0, reference=None,
                       data_dir=None):
    """All metrics of a generator, as a JSON-ready dict (the notebook API)."""
    check_generator(generator)
    judge = judge if judge is not None else get_judge(data_dir)
    reference = reference if reference is not None else reference_stats(judge, data_dir)
    start = time.perf_counter()
    images, labels = generate(generator, per_class, seed)
    metrics = score_images(judge, images, labels, reference["features"])
    metrics.update(kind="cgan" if labels is not None else "gan", samples=len(images),
                   seed=seed, frechet_floor=reference["floor"],
                   seconds=round(time.perf_counter() - start, 2))
    return metrics


# --- tracking during training, figures, CLI -----------------------------------

TRACK_COLUMNS = {"cgan": ("accuracy", "min_class_accuracy", "confidence", "frechet_distance"),
                 "gan": ("entropy", "classes_covered", "confidence", "frechet_distance")}
TRACK_PER_CLASS = 200  # 2,000 digits per check: a few seconds, noise ~1%


def make_tracker(kind, every, data_dir=None, seed=0, per_class=TRACK_PER_CLASS):
    """An on_epoch hook for train(): every `every` epochs, the judge's scores."""
    judge = feature_reader(get_judge(data_dir))  # one model for every check: no retracing
    reference = reference_stats(judge, data_dir)

    def on_epoch(epoch, generator, row):
        if epoch % every:
            return {}
        metrics = evaluate_generator(generator, judge, per_class, seed, reference)
        return {k: metrics[k] if isinstance(metrics[k], int) else round(float(metrics[k]), 4)
                for k in TRACK_COLUMNS[kind]}
    return on_epoch


def grid_order(kind, count, rows=10):
    """Indices for a rows x 10 sample grid; for a cgan, column c shows class c."""
    if kind != "cgan":
        return np.arange(min(count, rows * NUM_CLASSES))
    per_class = count // NUM_CLASSES
    return np.array([c * per_class + r for r in range(min(rows, per_class))
                     for c in range(NUM_CLASSES)])


def save_figures(folder, metrics, images):
    """Write the sample grid and the confusion matrix or class-share chart."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    order = grid_order(metrics["kind"], len(images))
    figures.save_png(folder / "samples.png",
                     figures.tile(np.asarray(images)[order], len(order) // NUM_CLASSES, NUM_CLASSES))
    if metrics["kind"] == "cgan":
        figures.plot_confusion(folder / "confusion.png", metrics["confusion"],
                               f"accuracy {metrics['accuracy']:.1%}")
    figures.plot_shares(folder / "class_shares.png", metrics["class_shares"],
                        f"entropy {metrics['entropy']:.2f}, "
                        f"{metrics['classes_covered']} classes covered")


def build_parser():
    """The argparse parser of the evaluate CLI."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.evaluate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", help="a run folder holding generator.keras")
    parser.add_argument("--generator", help="a bare .keras generator instead of a run folder")
    parser.add_argument("--out", help="where metrics.json and eval/ go (default: the run folder, "
                        "or the .keras file's folder)")
    parser.add_argument("--per-class", type=int, default=1000,
                        help="generated digits per class (cgan), or x10 in all (gan)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the generated digits")
    parser.add_argument("--data-dir", help="TFDS data dir for the MNIST test set")
    return parser


def main(argv=None):
    """CLI: evaluate a run folder's generator and write metrics.json and eval/*.png."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.generator is None):
        parser.error("give a RUN_DIR or --generator FILE (one of them)")
    if args.per_class < 1:
        parser.error("--per-class must be >= 1")
    source = Path(args.generator or args.run_dir)
    out = Path(args.out or (source.parent if args.generator else source))
    try:
        generator = load_generator(source)
    except EvaluationError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    start = time.perf_counter()
    judge = feature_reader(get_judge(args.data_dir))
    metrics = evaluate_generator(generator, judge, args.per_class, args.seed,
                                 data_dir=args.data_dir)
    metrics["generator"] = str(source)
    images, _ = generate(generator, min(args.per_class, 10), args.seed)
    save_figures(out / "eval", metrics, images)
    runs.write_json(out / "metrics.json", metrics)
    print(summary(metrics) + f"  ({time.perf_counter() - start:.1f}s in all)")


def summary(metrics):
    """One line of the headline numbers."""
    head = (f"accuracy {metrics['accuracy']:.3f} (worst class {metrics['min_class_accuracy']:.3f})"
            if metrics["kind"] == "cgan" else
            f"entropy {metrics['entropy']:.3f}, {metrics['classes_covered']} classes covered")
    return (f"{metrics['kind']}: {head}, confidence {metrics['confidence']:.3f}, "
            f"Frechet distance {metrics['frechet_distance']:.2f} "
            f"(floor {metrics['frechet_floor']:.2f}); scored {metrics['samples']} digits "
            f"in {metrics['seconds']:.1f}s")


if __name__ == "__main__":
    main()
