"""Beyond the tutorial: judge a generator with a classifier instead of by eye.

    python -m gan_tutorials.evaluate RUN_DIR [--per-class N] [--seed N]
    python -m gan_tutorials.evaluate --generator FILE.keras [--out DIR]

The tutorial says its dense GAN "seems to have mostly settled on drawing 1s"
and that the conditional GAN draws every digit "with the exception of the 9".
Here the judge (see `judge`) reads the generated digits:
  * conditional: accuracy overall and per class, and the confusion matrix;
  * unconditional: each class's share, classes covered, normalized entropy;
  * both: mean confidence and the Frechet distance between the judge's
    penultimate features of generated and of real test images (with the
    distance between two halves of the test set as the floor, and its
    centres' term apart; a conditional generator's variety within each
    class against real images' too), and stray
    ink: the share of ink outside each image's largest blob and the specks
    per image, beside the same counts on real test images.
The dataset (MNIST unless the run used another, e.g. Fashion-MNIST) comes from
the run folder, and so does its judge; the judge's own per-class accuracy on
real test images is reported beside the generator's as its ceiling.
Writes RUN_DIR/metrics.json and RUN_DIR/eval/*.png.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from gan_tutorials import data, figures, runs
from gan_tutorials.config import MNIST, bounded
from gan_tutorials.data import image_set
from gan_tutorials.judge import feature_reader, get_judge, judge_card, judge_outputs, member_readings
from gan_tutorials.manifold import halves, manifold_scores, real_manifold
from gan_tutorials.models import GeneratorError, check_generator, draw, is_conditional, load_generator
from gan_tutorials.train import Callback

# The judge's scores that --eval-every adds to history.csv, per kind (ema_...: the average's).
TRACK_COLUMNS = {"cgan": ("accuracy", "min_class_accuracy", "confidence", "frechet_distance"),
                 "gan": ("entropy", "classes_covered", "confidence", "frechet_distance")}
TRACK_PER_CLASS = 200  # 2,000 digits per check: a few seconds, noise ~1%
COVERED_SHARE = 0.02  # a class counts as drawn when it has >= 2% of the samples
INK = 0.5  # a pixel is ink when it is at least half-way from background to full intensity
SPECK = 2  # a blob of at most this many ink pixels is a speck
GRID_ROWS = 10  # eval/samples.png: this many rows, one column per class


# --- metrics ---------------------------------------------------------------

def frechet_parts(a, b):
    """The two terms of the Frechet distance between Gaussians fitted to (n, d) feature sets.

    (|mu_a - mu_b|^2, Tr(S_a + S_b - 2 (S_a S_b)^1/2)): how far the sets'
    centres lie apart, and how their spreads differ, which a generator that
    draws too few kinds of each class pays. The trace of the matrix root is
    computed from the symmetric S_a^1/2 S_b S_a^1/2 (numpy only).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum()), float(np.trace(s_a) + np.trace(s_b) - 2 * cross)


def frechet_distance(a, b):
    """Frechet distance between Gaussians fitted to two (n, d) feature sets (see frechet_parts)."""
    return sum(frechet_parts(a, b))


def class_spread(features, labels, reference):
    """Within each class, generated digits' variety against real ones', in the judge's features.

    Per class c: `class_spread`, the total variance (trace of the covariance)
    of the features of images asked to be c over that of real test images of
    c (1 is real's variety, below 1 too few kinds), and `class_frechet_distance`,
    the distance between the two.
    """
    features, real = np.asarray(features, np.float64), np.asarray(reference["features"], np.float64)
    real_labels = reference["labels"]
    classes = np.unique(real_labels)
    spread = [features[labels == c].var(0).sum() / real[real_labels == c].var(0).sum()
              for c in classes]
    distance = [frechet_distance(features[labels == c], real[real_labels == c]) for c in classes]
    return {"class_spread": np.round(spread, 4).tolist(),
            "mean_class_spread": float(np.mean(spread)),
            "class_frechet_distance": np.round(distance, 3).tolist()}


def stray_ink(images, ink=INK, speck=SPECK):
    """How much ink lies apart from the drawing: the salt noise a dense G sprinkles.

    Ink is every pixel at or above `ink` (images in [-1, 1] are read on [0, 1]).
    Per image, its ink splits into 8-connected blobs; `stray_ink` is the mean
    share of ink pixels outside each image's largest blob, `specks_per_image`
    the mean count of blobs of at most `speck` pixels.
    """
    binary = (np.asarray(images)[..., 0] + 1) / 2 >= ink  # (n, 28, 28)
    eight = np.zeros((3, 3, 3), bool)
    eight[1] = True  # 8-connected within an image, never across images
    blobs, count = ndimage.label(binary, structure=eight)
    sizes = np.bincount(blobs.ravel(), minlength=count + 1)[1:]  # pixels of blob 1..count
    flat = blobs.reshape(len(binary), -1)
    rows, cols = np.nonzero(flat)
    owner = np.zeros(count, np.int64)  # the image each blob lies in
    owner[flat[rows, cols] - 1] = rows
    n = len(binary)
    total = np.bincount(owner, sizes, minlength=n)
    largest = np.zeros(n)
    np.maximum.at(largest, owner, sizes)
    share = np.divide(total - largest, total, out=np.zeros(n), where=total > 0)
    specks = np.bincount(owner, sizes <= speck, minlength=n)
    return {"stray_ink": float(share.mean()), "specks_per_image": float(specks.mean())}


def class_metrics(predicted, labels=None, num_classes=MNIST.num_classes):
    """Class shares, coverage and normalized entropy; with labels, accuracies too."""
    predicted = np.asarray(predicted)
    shares = np.bincount(predicted, minlength=num_classes) / len(predicted)
    nonzero = shares[shares > 0]
    metrics = {"class_shares": shares.round(4).tolist(),
               "classes_covered": int((shares >= COVERED_SHARE).sum()),
               # + 0.0: a single class gives 0.0, not -0.0
               "entropy": float(-(nonzero * np.log(nonzero)).sum() / np.log(len(shares))) + 0.0}
    if labels is not None:
        labels = np.asarray(labels)
        confusion = np.zeros((len(shares), len(shares)), np.int64)
        np.add.at(confusion, (labels, predicted), 1)  # rows: asked-for class
        per_class = np.diag(confusion) / np.maximum(confusion.sum(1), 1)
        metrics.update(accuracy=float((predicted == labels).mean()),
                       per_class_accuracy=per_class.round(4).tolist(),
                       min_class_accuracy=float(per_class.min()),
                       confusion=confusion.tolist())
    return metrics


def score_images(judge, images, labels=None, reference=None):
    """Every metric of a set of images (and the classes they were asked to be).

    With `reference` (reference_stats's), the Frechet distance and its centres'
    term, and for asked-for labels each class's variety against real images'.
    """
    probs, features = judge_outputs(judge, images)
    metrics = class_metrics(probs.argmax(1), labels, probs.shape[1])
    metrics["confidence"] = float(probs.max(1).mean())
    metrics.update(stray_ink(images))
    if reference is not None:
        means, spreads = frechet_parts(features, reference["features"])
        metrics.update(frechet_distance=means + spreads, frechet_means=means)
        if labels is not None:
            metrics.update(class_spread(features, np.asarray(labels), reference))
        if "manifold" in reference:  # precision, recall, density, coverage (`manifold`)
            metrics.update(manifold_scores(features, labels, reference["manifold"]))
    return metrics


def reference_stats(judge, dataset="mnist", data_dir=None, test_xy=None, *, manifold=True):
    """Judge features and labels of the dataset's test set, and the two-halves distance floor.

    With `manifold`, the halves' precision, recall, density and coverage too
    (`manifold.real_manifold`: about 2 s on MNIST).
    """
    if test_xy is None:
        data.ensure(dataset, data_dir)
        _, test_xy = data.load(dataset, data_dir)
    images = np.asarray(data.scale_images(test_xy[0]))  # (10000, 28, 28, 1)
    _, features = judge_outputs(judge, images)
    # Random halves: MNIST's stored order is not random (its two halves come
    # from different writers), and tfds reorders it, so split by a fixed draw.
    first, second = halves(len(features))
    floor = frechet_distance(features[first], features[second])
    labels = np.asarray(test_xy[1])
    return {"features": features, "labels": labels, "floor": floor, "real": stray_ink(images),
            **({"manifold": real_manifold(features, labels)} if manifold else {})}


# --- a generator's metrics ------------------------------------------------------

def generate(generator, per_class, seed=0, *, batch_size=1000, classes=MNIST.num_classes):
    """(images (10*per_class, 28, 28, 1), asked-for labels or None) from a generator."""
    n, noise_dim = classes * per_class, generator.inputs[0].shape[-1]
    noise = np.random.default_rng(seed).standard_normal((n, noise_dim)).astype(np.float32)
    labels = np.repeat(np.arange(classes), per_class) if is_conditional(generator) else None
    return draw(generator, noise, labels, batch_size=batch_size), labels


def evaluate_generator(generator, judge=None, per_class=1000, seed=0, *, reference=None,
                       data_dir=None, dataset="mnist"):
    """All metrics of a generator of `dataset`, as a JSON-ready dict (the notebook API)."""
    spec = image_set(dataset)
    check_generator(generator, spec=spec)
    judge = judge if judge is not None else get_judge(dataset, data_dir)
    reference = reference if reference is not None else reference_stats(judge, dataset, data_dir)
    start = time.perf_counter()
    images, labels = generate(generator, per_class, seed, classes=spec.num_classes)
    metrics = score_images(judge, images, labels, reference)
    if labels is not None and (readings := member_readings(judge, images, labels)):
        metrics["member_per_class_accuracy"] = readings  # each of an averaged judge's CNNs
    if "manifold" in reference:
        metrics.update({f"real_{key}": value for key, value in reference["manifold"]["level"].items()})
    metrics.update(kind="cgan" if labels is not None else "gan", dataset=dataset,
                   class_names=list(spec.class_names), samples=len(images), seed=seed,
                   frechet_floor=reference["floor"],
                   **{f"real_{key}": value for key, value in reference["real"].items()},
                   seconds=round(time.perf_counter() - start, 2))
    return metrics


class JudgeEvery(Callback):
    """--eval-every K as a training callback: every K epochs, the judge's scores in the row.

    Scores G and, with --ema, its average (columns prefixed ema_); with
    --keep-best keeps each at its lowest distance (runs.keep_if_best); at the
    end of the run draws RUN_DIR/quality.png from the history.
    """

    def __init__(self, config, per_class=TRACK_PER_CLASS):
        self.config, self.per_class = config, per_class
        self.reader = self.reference = self.run_dir = None
        self.best = {}

    def on_train_begin(self, run_dir, start_epoch, steps_per_epoch):
        self.run_dir = run_dir
        self.best = runs.kept_best(run_dir, start_epoch)  # --keep-best's record
        if self.config.eval_every and self.reader is None:  # the judge once, only when asked
            self.reader = feature_reader(get_judge(self.config.dataset, self.config.data_dir))
            self.reference = reference_stats(self.reader, self.config.dataset, self.config.data_dir,
                                             manifold=False)  # (sizes: `manifold`)

    def on_epoch_end(self, epoch):
        if not self.config.eval_every or epoch.number % self.config.eval_every:
            return
        for name, generator in epoch.models.generators().items():
            metrics = evaluate_generator(generator, self.reader, self.per_class, self.config.seed,
                                         reference=self.reference, dataset=self.config.dataset)
            prefix = "ema_" if name.endswith("-ema") else ""
            epoch.row.update({prefix + k: metrics[k] if isinstance(metrics[k], int)
                              else round(float(metrics[k]), 4)
                              for k in TRACK_COLUMNS[self.config.kind]})
            if self.config.keep_best:  # the lowest distance so far: keep this generator
                runs.keep_if_best(self.run_dir, self.best, name, generator, epoch.number,
                                  epoch.row[prefix + "frechet_distance"])

    def on_train_end(self, history):
        if any(row.get("frechet_distance") not in (None, "") for row in history):
            scores = [c for c in TRACK_COLUMNS[self.config.kind]
                      if c not in ("frechet_distance", "classes_covered")]
            figures.plot_quality(self.run_dir / "quality.png", history, scores,
                                 title=f"{self.run_dir.name}: the judge's verdict per epoch")


def grid_order(kind, count, rows=GRID_ROWS, classes=MNIST.num_classes):
    """Indices for a rows x 10 sample grid; for a cgan, column c shows class c."""
    if kind != "cgan":
        return np.arange(min(count, rows * classes))
    per_class = count // classes
    return np.array([c * per_class + r for r in range(min(rows, per_class))
                     for c in range(classes)])


# --- CLI -------------------------------------------------------------------------

def build_parser():
    """The argparse parser of the evaluate CLI."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.evaluate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", help="a run folder holding generator.keras")
    parser.add_argument("--generator", help="a bare .keras generator instead of a run folder")
    parser.add_argument("--out", help="where metrics.json and eval/ go (default: the run folder, "
                        "or the .keras file's folder)")
    parser.add_argument("--per-class", type=bounded(int, 1), default=1000,
                        help="generated digits per class (cgan), or x10 in all (gan)")
    parser.add_argument("--seed", type=bounded(int, 0), default=0,
                        help="noise seed of the generated digits")
    parser.add_argument("--dataset", help="tfds name of the generator's dataset (default: "
                        "the run folder's, else mnist)")
    parser.add_argument("--data-dir", help="TFDS data dir for the test set")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a metrics.json that says otherwise (one that says the same "
                             "is always left as it is)")
    parser.add_argument("--best", action="store_true",
                        help="score the generator --keep-best kept (generator-best.keras, or "
                             "with --average generator-ema-best.keras); results go to "
                             "RUN_DIR/best/ (ema-best/)")
    parser.add_argument("--average", action="store_true",
                        help="score the run's --ema average (generator-ema.keras) instead of G; "
                             "results go to RUN_DIR/ema/")
    return parser


def main(argv=None):
    """CLI: evaluate a run folder's generator and write metrics.json and eval/*.png."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.generator is None):
        parser.error("give a RUN_DIR or --generator FILE (one of them)")
    start = time.perf_counter()
    try:
        metrics = evaluate_run(args.generator or args.run_dir, args.out, per_class=args.per_class,
                               seed=args.seed, dataset=args.dataset, data_dir=args.data_dir,
                               overwrite=args.overwrite, average=args.average, best=args.best)
    except (GeneratorError, data.DataError, runs.RunError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    read = ("the average (generator-ema.keras)" if args.average else "G") + (
        f", kept at epoch {metrics['best_epoch']}" if args.best else "")
    print(f"{read}: " + headline(metrics) + f"  ({time.perf_counter() - start:.1f}s in all)")


def evaluate_run(source, out=None, *, per_class=1000, seed=0, dataset=None, data_dir=None,
                 overwrite=False, average=False, best=False):
    """Score a run folder's (or a .keras file's) generator; write metrics.json and eval/*.png.

    With `average`, the run's --ema average (generator-ema.keras) instead of G;
    with `best`, the one --keep-best kept (its epoch in the metrics).
    Writes to `out` (default: the run folder, RUN_DIR/ema/ for the average, or
    the .keras file's folder) and returns the metrics, whose "generator" names
    what was read. The dataset is the run folder's unless given. A folder whose
    metrics.json already says the same is left as it is; one that says
    otherwise is replaced only with `overwrite` (see runs.should_write).
    """
    source = Path(source)
    if (average or best) and not source.is_dir():
        raise runs.RunError(f"--average and --best read a run folder's generators; {source} "
                            "is a file")
    path = runs.generator_file(source, average, best) if source.is_dir() else source
    out = Path(out or (runs.results_dir(source, average, best) if source.is_dir() else source.parent))
    dataset = dataset or runs.dataset_of(source)
    spec = image_set(dataset)
    generator = load_generator(path, spec=spec)
    judge = feature_reader(get_judge(dataset, data_dir))
    metrics = evaluate_generator(generator, judge, per_class, seed, data_dir=data_dir,
                                 dataset=dataset)
    metrics["generator"] = str(path if average or best else source)
    if best:  # the epoch --keep-best kept it at
        metrics["best_epoch"] = runs.read_json(source / "best.json")[path.stem[:-len("-best")]]["epoch"]
    metrics["generator_sha256"] = data.sha256_of(path)
    metrics["judge_per_class_accuracy"] = judge_card(dataset).get("per_class_accuracy")
    if not runs.should_write(out / "metrics.json", metrics, overwrite):
        return metrics
    images, _ = generate(generator, min(per_class, GRID_ROWS), seed, classes=spec.num_classes)
    order = grid_order(metrics["kind"], len(images), classes=spec.num_classes)
    figures.save_evaluation(out / "eval", metrics, images[order], COVERED_SHARE)
    runs.write_json(out / "metrics.json", metrics)
    return metrics


def headline(metrics):
    """One line of the headline numbers."""
    head = (f"accuracy {metrics['accuracy']:.3f} (worst class {metrics['min_class_accuracy']:.3f}), "
            f"variety within classes {metrics['mean_class_spread']:.2f} of real's"
            if metrics["kind"] == "cgan" else
            f"entropy {metrics['entropy']:.3f}, {metrics['classes_covered']} classes covered")
    return (f"{metrics['kind']}: {head}, confidence {metrics['confidence']:.3f}, "
            f"Frechet distance {metrics['frechet_distance']:.2f} "
            f"(floor {metrics['frechet_floor']:.2f}), {metrics['specks_per_image']:.2f} specks "
            f"per image (real {metrics['real_specks_per_image']:.2f}); scored {metrics['samples']} images "
            f"in {metrics['seconds']:.1f}s")


if __name__ == "__main__":
    main()
