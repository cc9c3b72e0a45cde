"""Beyond the tutorial: the collapse it shows, split into "looks real" and "covers what is real".

The article's dense GAN draws mostly 1s: each digit may look real while most
kinds of digit are never drawn. The field reads the two apart from the
k-nearest-neighbour balls of feature sets (here, the pinned judge's features):
  * `kynkaanniemi_precision_recall` (Kynkaanniemi et al., NeurIPS 2019, k = 3):
    precision, the share of generated points inside some real point's ball;
    recall, the share of real points inside some generated point's ball;
  * `naeem_density_coverage` (Naeem et al., ICML 2020, k = 5): density, how
    many real balls hold each generated point, over k (1 for real against
    real, above 1 for points packed where real ones are dense); coverage, the
    share of real points whose own ball holds a generated point.
A point's ball has the radius of its k-th nearest neighbour in its own set.
Every comparison is strict (<), as in the second paper's code (`prdc`).

The scores depend on how many points each side has, so `manifold_scores`
always compares sets of one size: the test set split into two fixed halves,
one the reference manifold and the other as many real points as the
generated points it scores (`real_level`: the level to read them against).
"""

import numpy as np
from scipy.spatial.distance import cdist

PR_K = 3  # Kynkaanniemi et al.'s k
DC_K = 5  # Naeem et al.'s k
CHUNK = 2048  # rows of the distance matrix held at once: 2048 x 5000 float64 is 80 MB
SCORES = ("precision", "recall", "density", "coverage")


def by_rows(points, centres, reduce):
    """reduce(rows of the points-to-centres distance matrix), a chunk at a time, joined."""
    points, centres = np.asarray(points, np.float64), np.asarray(centres, np.float64)
    return np.concatenate([reduce(cdist(points[i:i + CHUNK], centres))
                           for i in range(0, len(points), CHUNK)])


def knn_radii(points, k):
    """Each point's distance to its k-th nearest other point of the same set."""
    return by_rows(points, points, lambda d: np.partition(d, k, axis=1)[:, k])  # [0]: itself


def balls_holding(points, centres, radii):
    """For each point, how many of the balls (centres, radii) hold it (distance < radius)."""
    return by_rows(points, centres, lambda d: (d < radii).sum(1))


def kynkaanniemi_precision_recall(real, fake, k=PR_K):
    """Improved precision and recall (Kynkaanniemi et al. 2019) of fake against real features."""
    precision = (balls_holding(fake, real, knn_radii(real, k)) > 0).mean()
    recall = (balls_holding(real, fake, knn_radii(fake, k)) > 0).mean()
    return {"precision": float(precision), "recall": float(recall)}


def naeem_density_coverage(real, fake, k=DC_K):
    """Density and coverage (Naeem et al. 2020) of fake against real features."""
    radii = knn_radii(real, k)
    density = balls_holding(fake, real, radii).sum() / (k * len(fake))
    nearest_fake = by_rows(real, fake, lambda d: d.min(1))
    return {"density": float(density), "coverage": float((nearest_fake < radii).mean())}


def prdc(real, fake):
    """All four scores of fake against real features, each at its paper's k; None for each
    where a set has no k-th neighbour to set its radii (a tiny test set's class, say)."""
    if min(len(real), len(fake)) <= max(PR_K, DC_K):
        return dict.fromkeys(SCORES)
    return {**kynkaanniemi_precision_recall(real, fake), **naeem_density_coverage(real, fake)}


def mean_of(values):
    """The mean of the scores that exist (None where none does)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def halves(count, seed=0):
    """The test set's two fixed halves (index arrays): the reference, and the real sample."""
    order = np.random.default_rng(seed).permutation(count)
    return order[:count // 2], order[count // 2:]


def matched(labels, wanted):
    """Indices taking, for each class, as many points as `wanted` (a class count) asks.

    labels: the classes of the points to pick from.
    """
    return np.concatenate([np.flatnonzero(labels == c)[:n] for c, n in enumerate(wanted)])


def manifold_scores(features, labels, reference):
    """The four scores of generated features, overall and (labels given) within each class.

    reference: `real_manifold`'s dict. The generated set is cut to the real
    sample's size (and, for a cgan, to its class counts), so the scores read
    against `reference["level"]`, real against real at the same sizes. Within
    a class, the generated points asked to be c against the reference's c.
    """
    features = np.asarray(features, np.float64)
    real, real_labels = reference["reference"], reference["reference_labels"]
    counts = reference["sample_counts"]
    if labels is None:
        chosen = np.arange(min(len(features), sum(counts)))
        return {"manifold": prdc(real, features[chosen])}
    labels = np.asarray(labels)
    chosen = matched(labels, counts)
    per_class = [prdc(real[real_labels == c], features[chosen][labels[chosen] == c])
                 for c in range(len(counts))]
    return {"manifold": prdc(real, features[chosen]),
            "class_manifold": {s: [None if p[s] is None else round(p[s], 4) for p in per_class]
                               for s in SCORES},
            "mean_class_manifold": {s: mean_of(p[s] for p in per_class) for s in SCORES}}


def real_manifold(features, labels):
    """The reference half, the real sample's class counts, and real-against-real scores."""
    features, labels = np.asarray(features, np.float64), np.asarray(labels)
    ref, sample = halves(len(features))
    counts = np.bincount(labels[sample], minlength=labels.max() + 1)
    reference = {"reference": features[ref], "reference_labels": labels[ref],
                 "sample_counts": counts.tolist()}
    level = manifold_scores(features[sample], labels[sample], reference)
    return {**reference, "level": level}
