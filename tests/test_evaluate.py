"""The MNIST judge: every metric checked on inputs whose answer is known."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from gan_tutorials import data, evaluate, explore, judge, runs

# --- pure metrics ------------------------------------------------------------

def test_frechet_distance_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40000, 4))
    assert evaluate.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shifted = a + np.array([3.0, 0, 0, 0])
    assert evaluate.frechet_distance(a, shifted) == pytest.approx(9.0, abs=1e-6)
    wide = 2 * rng.standard_normal((40000, 4))  # N(0, 4I): d * (1 + 4 - 2*2) = d
    assert evaluate.frechet_distance(a, wide) == pytest.approx(4.0, rel=0.05)
    # The two terms: a shift is all centres, a wider spread all covariances.
    assert evaluate.frechet_parts(a, shifted) == pytest.approx((9.0, 0.0), abs=1e-6)
    means, spreads = evaluate.frechet_parts(a, wide)
    assert means < 0.01 and spreads == pytest.approx(4.0, rel=0.05)


def test_class_spread_known_features():
    rng = np.random.default_rng(0)
    real = {"features": rng.standard_normal((4000, 3)), "labels": np.repeat([0, 1], 2000)}
    labels = np.repeat([0, 1], 1000)
    features = np.concatenate([0.5 * rng.standard_normal((1000, 3)),  # a quarter of the variance
                               np.zeros((1000, 3))])  # one drawing, a thousand times
    measured = evaluate.class_spread(features, labels, real)
    assert measured["class_spread"] == [pytest.approx(0.25, abs=0.02), 0.0]
    assert measured["mean_class_spread"] == pytest.approx(0.125, abs=0.01)
    # d * (1 + 1/4 - 2 * 1/2) = 0.75 for the narrow class; d * 1 for the constant one.
    assert measured["class_frechet_distance"] == [pytest.approx(0.75, abs=0.05),
                                                  pytest.approx(3.0, abs=0.1)]


def test_class_metrics_known_predictions():
    uniform = evaluate.class_metrics(np.arange(1000) % 10)
    assert uniform["entropy"] == pytest.approx(1.0)
    assert uniform["classes_covered"] == 10
    collapsed = evaluate.class_metrics(np.ones(500, int))
    assert collapsed["entropy"] == pytest.approx(0.0)
    assert collapsed["classes_covered"] == 1 and collapsed["class_shares"][1] == 1.0
    # 2% is covered, 1% is not: 970 ones, 20 twos, 10 threes.
    mixed = evaluate.class_metrics(np.array([1] * 970 + [2] * 20 + [3] * 10))
    assert mixed["classes_covered"] == 2
    labels = np.array([0, 0, 0, 0, 9, 9, 9, 9])
    predicted = np.array([0, 0, 0, 1, 9, 9, 4, 4])
    scored = evaluate.class_metrics(predicted, labels)
    assert scored["accuracy"] == pytest.approx(5 / 8)
    assert scored["per_class_accuracy"][0] == 0.75 and scored["per_class_accuracy"][9] == 0.5
    assert scored["confusion"][9][4] == 2 and scored["confusion"][0][1] == 1


# --- a tiny judge on real digits ---------------------------------------------

@pytest.fixture(scope="module")
def tiny_judge(real_mnist, tmp_path_factory):
    """A judge trained for 2 epochs on 6,000 real digits (~10 s), cached in tmp."""
    (x, y), (x_test, y_test) = real_mnist["train"], real_mnist["test"]
    folder = tmp_path_factory.mktemp("judge")
    arrays = ((x[:6000], y[:6000]), (x_test[:1000], y_test[:1000]))
    recipe = judge.Recipe(epochs=2, members=1)
    model, accuracy, per_class = judge.train_judge(*arrays, recipe, verbose=0)
    judge.save_judge(folder, model, accuracy, recipe, per_class=per_class)
    return model, accuracy, folder


@pytest.fixture(scope="module")
def reference(tiny_judge, real_mnist):
    x_test, y_test = real_mnist["test"]
    return evaluate.reference_stats(tiny_judge[0], test_xy=(x_test[:2000], y_test[:2000]))


def test_tiny_judge_reads_held_out_digits(tiny_judge):
    assert tiny_judge[1] >= 0.93  # held-out real digits, after only 6,000 examples


def real_digit_bank(real_mnist, digit=None, n=500):
    """(n, 28, 28, 1) float real test digits in [-1, 1], optionally of one class."""
    x, y = real_mnist["test"]
    pick = np.flatnonzero(y == digit)[:n] if digit is not None else np.arange(n)
    return np.asarray(data.scale_images(x[pick]))


def noise_indexed_generator(bank, conditional):
    """A 'generator' returning bank[argmax(noise[:, :len(bank)])]: real digits, label ignored."""
    noise = keras.Input((100,), name="noise")
    inputs = [noise, keras.Input((10,), name="label")] if conditional else noise
    pick = keras.layers.Lambda(
        lambda z: keras.ops.take(bank, keras.ops.argmax(z[:, :len(bank)], axis=1), axis=0),
        output_shape=(28, 28, 1))(noise)
    return keras.Model(inputs, pick, name="fake_generator")


def test_label_ignoring_generator_scores_chance(tiny_judge, reference, real_mnist):
    generator = noise_indexed_generator(real_digit_bank(real_mnist, n=100), conditional=True)
    metrics = evaluate.evaluate_generator(generator, tiny_judge[0], per_class=300, seed=1,
                                          reference=reference)
    assert metrics["kind"] == "cgan" and metrics["samples"] == 3000
    assert metrics["accuracy"] == pytest.approx(0.10, abs=0.03)
    assert metrics["classes_covered"] >= 8  # it draws real, varied digits...
    assert metrics["confidence"] > 0.8  # ...that the judge reads confidently


def test_class_spread_reads_variety_within_classes(tiny_judge, reference, real_mnist):
    x, y = real_mnist["test"]
    held_out = evaluate.score_images(tiny_judge[0], np.asarray(data.scale_images(x[2000:5000])),
                                     y[2000:5000], reference)
    assert held_out["mean_class_spread"] == pytest.approx(1.0, abs=0.1)  # real digits' variety
    assert held_out["frechet_means"] < held_out["frechet_distance"]
    # One real 1 for every class asked for: no variety within any class.
    generator = noise_indexed_generator(real_digit_bank(real_mnist, digit=1, n=1), True)
    metrics = evaluate.evaluate_generator(generator, tiny_judge[0], per_class=50,
                                          reference=reference)
    assert metrics["class_spread"] == [0.0] * 10
    assert metrics["mean_class_spread"] == pytest.approx(0.0, abs=1e-9)
    assert min(metrics["class_frechet_distance"]) > max(held_out["class_frechet_distance"])


def test_constant_generator_is_mode_collapse(tiny_judge, reference, real_mnist):
    generator = noise_indexed_generator(real_digit_bank(real_mnist, digit=1, n=1), False)
    metrics = evaluate.evaluate_generator(generator, tiny_judge[0], per_class=100,
                                          reference=reference)
    assert metrics["kind"] == "gan"
    assert metrics["classes_covered"] == 1 and metrics["class_shares"][1] == 1.0
    assert metrics["entropy"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["frechet_distance"] > 10 * reference["floor"]  # far from MNIST
    # Stray ink, beside real test digits' (MNIST: about 0.01 specks per image).
    assert metrics["real_specks_per_image"] < 0.05 and metrics["real_stray_ink"] < 0.02
    assert metrics["specks_per_image"] in (0.0, 1.0)  # one digit, a thousand times


def test_cached_judge_is_verified_and_rebuilt(tiny_judge, tmp_path, real_mnist):
    _, _, folder = tiny_judge
    assert judge.load_cached_judge(folder) is not None
    assert json.loads((folder / "judge.json").read_text())["epochs"] == 2  # as trained
    broken = tmp_path / "cache"
    broken.mkdir()
    (broken / "judge.keras").write_bytes((folder / "judge.keras").read_bytes()[:-100])
    (broken / "judge.json").write_bytes((folder / "judge.json").read_bytes())
    assert judge.load_cached_judge(broken) is None  # truncated: fingerprint differs
    (x, y), test = real_mnist["train"], real_mnist["test"]
    arrays = ((x[:1000], y[:1000]), (test[0][:200], test[1][:200]))
    rebuilt = judge.get_judge(folder=broken, verbose=0, arrays=arrays)
    assert rebuilt.name == "mnist_judge"
    meta = json.loads((broken / "judge.json").read_text())
    assert meta["sha256"] == data.sha256_of(broken / "judge.keras")
    assert (meta["epochs"], meta["members"]) == (4, 1)  # MNIST's recipe, not the tiny one


def test_judge_of_members_averages_them(real_mnist, tmp_path):
    (x, y), test = real_mnist["train"], real_mnist["test"]
    arrays = ((x[:2000], y[:2000]), (test[0][:500], test[1][:500]))
    recipe = judge.Recipe(epochs=1, members=2)
    model, accuracy, _ = judge.train_judge(*arrays, recipe, seed=5, verbose=0)
    judge.save_judge(tmp_path, model, accuracy, recipe)
    loaded = judge.load_cached_judge(tmp_path, recipe)  # survives a save and load
    images = np.asarray(data.scale_images(test[0][:200]))  # (200, 28, 28, 1)
    probs, features = judge.judge_outputs(loaded, images)
    members = [loaded.get_layer(f"member_{k}") for k in range(2)]
    alone = [member.predict(images, verbose=0) for member in members]  # [(probs, features)] * 2
    np.testing.assert_allclose(probs, (alone[0][0] + alone[1][0]) / 2, atol=1e-6)
    np.testing.assert_allclose(features, np.concatenate([alone[0][1], alone[1][1]], 1), atol=1e-6)
    assert not np.allclose(alone[0][0], alone[1][0], atol=1e-3)  # seeds 5 and 6: two CNNs
    assert judge.load_cached_judge(tmp_path, judge.Recipe(1, 1)) is None
    # Each member's reading per class, as metrics.json records it for an averaged judge.
    labels = test[1][:200]
    readings = judge.member_readings(loaded, images, labels)
    assert readings == [[round(float((p.argmax(1)[labels == c] == c).mean()), 4) for c in range(10)]
                        for p, _ in alone]
    assert judge.member_readings(members[0], images, labels) == []  # a single CNN has none


def test_judge_of_an_older_recipe_is_retrained(tiny_judge, tmp_path, real_mnist):
    _, _, folder = tiny_judge  # trained for 2 epochs, intact
    assert judge.load_cached_judge(folder, judge.Recipe(2, 1)) is not None
    assert judge.load_cached_judge(folder, judge.Recipe(4, 1)) is None  # MNIST's says 4
    assert judge.load_cached_judge(folder, judge.Recipe(2, 3)) is None  # or three members
    stale = tmp_path / "cache"
    stale.mkdir()
    for name in ("judge.keras", "judge.json"):
        (stale / name).write_bytes((folder / name).read_bytes())
    (x, y), test = real_mnist["train"], real_mnist["test"]
    arrays = ((x[:1000], y[:1000]), (test[0][:200], test[1][:200]))
    judge.get_judge(folder=stale, verbose=0, arrays=arrays)  # retrains: not the cached one
    assert json.loads((stale / "judge.json").read_text())["epochs"] == 4
    assert data.sha256_of(stale / "judge.keras") != data.sha256_of(folder / "judge.keras")


# --- the pinned judges ----------------------------------------------------------

@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_the_pinned_judges_load_without_training(dataset, real_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_TUTORIALS_CACHE", str(tmp_path))
    model = judge.get_judge(dataset)
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing cached
    assert data.sha256_of(judge.pinned_file(dataset)) == judge.PINNED[dataset]
    card = judge.judge_card(dataset)
    assert card["recipe"] == {**dataclasses.asdict(judge.recipe_for(dataset)), "seed": 0}
    assert min(card["per_class_accuracy"]) <= card["test_accuracy"] <= 1
    if dataset == "mnist":  # it reads real digits as its card says
        x, y = real_mnist["test"]
        predicted = judge.judge_outputs(model, np.asarray(data.scale_images(x[:2000])))[0]
        assert (predicted.argmax(1) == y[:2000]).mean() >= 0.985


def test_a_changed_pinned_judge_is_refused(tmp_path):
    copy = tmp_path / "mnist.keras"
    copy.write_bytes(judge.pinned_file("mnist").read_bytes() + b"\0")
    with pytest.raises(judge.JudgeError, match="is not the pinned mnist judge's"):
        judge.load_pinned("mnist", copy)


@pytest.mark.slow
def test_retraining_the_mnist_judge_agrees_with_the_pinned_one(real_mnist):
    """The recipe rebuilds the judge: the same accuracy, the same reading of nearly every digit."""
    pinned = judge.get_judge("mnist")
    retrained, accuracy, _ = judge.train_judge(real_mnist["train"], real_mnist["test"], verbose=0)
    same = judge.agreement(pinned, retrained, real_mnist["test"])
    assert same["accuracy"][0] == pytest.approx(judge.judge_card("mnist")["test_accuracy"], abs=1e-4)
    assert abs(accuracy - same["accuracy"][0]) <= 0.003
    assert same["same_prediction"] >= 0.99


@pytest.fixture(scope="module")
def real_judge():
    return judge.get_judge(verbose=0)


@pytest.mark.slow
def test_real_digits_score_as_real(real_judge, real_mnist):
    x_test, y_test = real_mnist["test"]
    reference = evaluate.reference_stats(real_judge, test_xy=(x_test, y_test))
    metrics = evaluate.score_images(real_judge, np.asarray(data.scale_images(x_test)), y_test)
    assert metrics["accuracy"] >= 0.99
    assert metrics["min_class_accuracy"] >= 0.97
    assert metrics["entropy"] > 0.99  # MNIST's classes are nearly balanced
    # Real digits through the whole path sit at the floor: 5,000 test digits
    # (any order), and 5,000 training digits the reference has never held.
    x_train, y_train = real_mnist["train"]
    pick = np.random.default_rng(1).permutation(10000)[:5000]
    for x, y in ((x_test[pick], y_test[pick]), (x_train[-5000:], y_train[-5000:])):
        metrics = evaluate.score_images(real_judge, np.asarray(data.scale_images(x)), y,
                                        reference)
        assert metrics["accuracy"] >= 0.99
        assert metrics["frechet_distance"] <= 3 * reference["floor"]
        assert metrics["mean_class_spread"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_cli_writes_metrics_and_figures(real_judge, tiny_arrays, tmp_path, capsys):
    from gan_tutorials.config import Config
    from gan_tutorials.train import train
    out = tmp_path / "run"
    tiny = dict(kind="cgan", engine="tutorial", epochs=1, batch_size=32, steps_per_epoch=2,
                out=str(out), quiet=True)
    train(Config(**tiny), arrays=tiny_arrays)
    evaluate.main([str(out), "--per-class", "50"])  # the CLI, in this process
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"] == 500 and len(metrics["per_class_accuracy"]) == 10
    confusion = np.array(metrics["confusion"])
    assert (confusion.sum(1) == 50).all()  # 50 digits asked of every class
    # Accuracy is what the confusion matrix says, overall and per class.
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / 500)
    assert metrics["accuracy"] == pytest.approx(np.mean(metrics["per_class_accuracy"]), abs=1e-4)
    assert metrics["min_class_accuracy"] == pytest.approx(min(metrics["per_class_accuracy"]), abs=1e-4)
    assert metrics["frechet_distance"] > metrics["frechet_floor"]
    assert {p.name for p in (out / "eval").iterdir()} >= {"samples.png", "confusion.png",
                                                          "class_shares.png"}
    capsys.readouterr()
    with pytest.raises(SystemExit) as bad:
        evaluate.main(["--generator", str(out / "discriminator.keras")])
    assert bad.value.code == 2 and "discriminator" in capsys.readouterr().err.splitlines()[-1]
    # Every action has now written into the folder: all of it is in the
    # layout --overwrite clears, so a retrained run shows no stale score.
    explore.main([str(out), "--samples", "30", "--digits", "1"])
    assert runs.unowned(out) == []
    fresh = sorted(p.name for p in out.iterdir())
    train(Config(**tiny, overwrite=True), arrays=tiny_arrays)
    assert not {"metrics.json", "eval", "explore"} & {p.name for p in out.iterdir()}
    assert {"metrics.json", "eval", "explore"} <= set(fresh)


def test_stray_ink_counts_ink_apart_from_the_largest_blob():
    images = -np.ones((3, 28, 28, 1), np.float32)  # blank, in [-1, 1]
    images[0, 5:15, 10, 0] = 1  # a stroke of 10 pixels
    images[0, 20, 20, 0] = 1  # a one-pixel speck
    images[0, 2, 2:4, 0] = 0.2  # a two-pixel speck (0.6 on [0, 1]: ink)
    images[0, 25, 25, 0] = -0.1  # 0.45 on [0, 1]: not ink
    images[1, 5:15, 10, 0] = 1
    images[1, 15, 11, 0] = 1  # diagonal neighbour: the same 8-connected blob
    images[1, 0, 0:3, 0] = 1  # three pixels: stray, but not a speck
    # image 2 is blank: no ink, nothing stray
    ink = evaluate.stray_ink(images)
    assert ink["specks_per_image"] == pytest.approx(2 / 3)
    assert ink["stray_ink"] == pytest.approx((3 / 13 + 3 / 14 + 0) / 3)
    # Blobs never join across images: the same stroke in two images is two blobs.
    pair = -np.ones((2, 28, 28, 1), np.float32)
    pair[:, 10, 10:20, 0] = 1
    assert evaluate.stray_ink(pair) == {"stray_ink": 0.0, "specks_per_image": 0.0}


def test_the_same_results_leave_a_folder_as_it_is(tiny_arrays, tmp_path, capsys):
    """evaluate twice writes once; results that say otherwise are replaced only with --overwrite."""
    from gan_tutorials.config import Config
    from gan_tutorials.train import train
    out = tmp_path / "run"
    train(Config(kind="cgan", engine="tutorial", epochs=1, batch_size=32, steps_per_epoch=2,
                 out=str(out), quiet=True), arrays=tiny_arrays, callbacks=[])
    evaluate.evaluate_run(out, per_class=20)
    written = {p: p.stat().st_mtime_ns for p in [out / "metrics.json", *(out / "eval").iterdir()]}
    again = evaluate.evaluate_run(out, per_class=20)  # the same digits: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in written} == written
    assert again["accuracy"] == json.loads((out / "metrics.json").read_text())["accuracy"]
    with pytest.raises(SystemExit) as refused:  # other digits, other numbers
        evaluate.main([str(out), "--per-class", "20", "--seed", "5"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "holds other results; pass --overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in written} == written
    evaluate.main([str(out), "--per-class", "20", "--seed", "5", "--overwrite"])
    assert json.loads((out / "metrics.json").read_text())["seed"] == 5


def test_results_agree_within_rounding_and_without_incidental_fields():
    old = {"accuracy": 0.9961, "frechet_distance": 4.666715530352633, "seconds": 2.4,
           "per_class": [0.99, 1.0], "kind": "cgan"}
    new = dict(old, frechet_distance=4.666715802992314, seconds=9.1, generator_sha256="ab")
    assert runs.agree(old, new)  # another CPU's rounding, another time, a new field
    assert not runs.agree(old, dict(new, accuracy=0.9960))
    assert not runs.agree(old, dict(new, per_class=[0.99, 1.0, 1.0]))
    assert not runs.agree(old, dict(new, kind="gan"))
