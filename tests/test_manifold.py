"""Precision, recall, density and coverage: known answers, the papers' code, and real digits."""

import numpy as np
import pytest

from gan_tutorials import data, judge, manifold


def test_known_answer_on_a_line():
    """Four real points a unit apart (k = 1: every radius 1) and two fakes, by hand."""
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # 0.5 lies in the balls of 0 and 1; 10 in none. The fakes' radii are both 9.5,
    # so every real point lies in 0.5's ball. Only 0 and 1 have a fake within 1.
    assert manifold.kynkaanniemi_precision_recall(real, fake, k=1) == {"precision": 0.5,
                                                                       "recall": 1.0}
    assert manifold.naeem_density_coverage(real, fake, k=1) == {"density": 1.0, "coverage": 0.5}
    # A fake on a ball's edge is outside it (strict <, as the papers' code).
    assert manifold.kynkaanniemi_precision_recall(real, np.array([[4.0], [9.0]]), k=1)[
        "precision"] == 0.0


def test_far_and_identical_sets():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 8))
    far = manifold.prdc(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    same = manifold.prdc(real, real.copy())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    # Each ball holds its centre and the k - 1 nearer neighbours (the k-th is on
    # its edge): k points a ball, so k N holdings over k N.
    assert same["density"] == 1.0


def test_agrees_with_the_papers_own_code():
    """`prdc` 0.2 (Naeem et al.'s code) on the same features: all four scores, each k."""
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(1)
    real = rng.standard_normal((700, 16)).astype(np.float32)
    fake = (0.7 * rng.standard_normal((500, 16)) + 0.3).astype(np.float32)
    for k in (3, 5):
        theirs = prdc.compute_prdc(real, fake, nearest_k=k)
        ours = {**manifold.kynkaanniemi_precision_recall(real, fake, k),
                **manifold.naeem_density_coverage(real, fake, k)}
        for score in manifold.SCORES:
            assert ours[score] == pytest.approx(float(theirs[score]), abs=2e-3), (k, score)


@pytest.fixture(scope="module")
def real_features(real_mnist):
    """The pinned judge's features and labels of 4,000 real test digits."""
    x, y = real_mnist["test"]
    _, features = judge.judge_outputs(judge.get_judge(verbose=0),
                                      np.asarray(data.scale_images(x[:4000])))
    return np.asarray(features, np.float64), np.asarray(y[:4000])


def test_real_against_real_reads_the_same_both_ways(real_features):
    features, labels = real_features
    first, second = manifold.halves(len(features))
    there = manifold.prdc(features[first], features[second])
    back = manifold.prdc(features[second], features[first])
    for score in manifold.SCORES:
        assert there[score] == pytest.approx(back[score], abs=0.03), score
    assert there["density"] == pytest.approx(1.0, abs=0.1)
    # real_manifold's level is the same halves, scored overall and per class.
    level = manifold.real_manifold(features, labels)["level"]
    assert level["manifold"] == pytest.approx(there)
    assert all(0.8 <= level["mean_class_manifold"][s] <= 1.1 for s in manifold.SCORES)


def pulled_and_noisy(features, labels, sample):
    """The real sample pulled 70% of the way to its class means, and with noise of a quarter
    of its own spread."""
    x, y = features[sample], labels[sample]
    means = np.stack([x[y == c].mean(0) for c in range(10)])[y]
    noise = np.random.default_rng(0).standard_normal(x.shape) * x.std(0)
    return x + 0.7 * (means - x), x + 0.25 * noise


def test_a_pulled_copy_loses_coverage_and_a_noisy_one_precision(real_features):
    """Toward the class means: still real-looking, but less of real reached. Noise: the reverse."""
    features, labels = real_features
    reference = manifold.real_manifold(features, labels)
    level = reference["level"]["mean_class_manifold"]
    sample = manifold.halves(len(features))[1]
    pulled, noisy = pulled_and_noisy(features, labels, sample)
    pull = manifold.manifold_scores(pulled, labels[sample], reference)["mean_class_manifold"]
    assert pull["precision"] >= level["precision"] - 0.02
    assert pull["recall"] <= level["recall"] - 0.2
    assert pull["coverage"] <= level["coverage"] - 0.1
    assert pull["density"] >= 2 * level["density"]  # packed where real digits are densest
    noise = manifold.manifold_scores(noisy, labels[sample], reference)["mean_class_manifold"]
    assert noise["precision"] <= level["precision"] - 0.2
    assert level["recall"] - noise["recall"] < level["precision"] - noise["precision"]
    assert noise["density"] <= 0.5 * level["density"]


def test_the_generated_set_is_cut_to_the_real_samples_counts():
    labels = np.repeat(np.arange(3), 50)
    assert manifold.matched(labels, [2, 0, 1]).tolist() == [0, 1, 100]


def test_sets_too_small_for_their_radii_score_none():
    """A class of a tiny test set may have fewer than k + 1 digits: no radius, no score."""
    rng = np.random.default_rng(2)
    assert manifold.prdc(rng.standard_normal((5, 3)), rng.standard_normal((40, 3))) == dict.fromkeys(
        manifold.SCORES)
    labels = np.repeat([0, 1], [40, 4])  # class 1 has 4 digits
    features = rng.standard_normal((44, 3))
    reference = manifold.real_manifold(np.concatenate([features, features + 0.01]),
                                       np.concatenate([labels, labels]))
    scores = manifold.manifold_scores(features, labels, reference)
    assert scores["class_manifold"]["recall"][1] is None
    assert scores["mean_class_manifold"]["recall"] == scores["class_manifold"]["recall"][0]
