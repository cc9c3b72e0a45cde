"""Beyond the tutorial: the judge, a small CNN that reads generated digits (or clothes).

    python -m gan_tutorials.judge [--dataset NAME]              # the judge's card
    python -m gan_tutorials.judge --dataset NAME --retrain      # rebuild it by its recipe

The tutorial judges its digits by eye; `evaluate` asks this classifier
instead. As the FID tools pin their feature network, the MNIST and
Fashion-MNIST judges ship with the package (`judges/`), each checked
against the sha256 below before use, with a card of its recipe and its
accuracy per class on the real test images (the ceiling for a generator's):
a score means the same on every machine, and nothing is trained to get it.
`--retrain` rebuilds a judge by its recipe and reports how far it agrees
with the pinned one. Another dataset's judge is trained once by the recipe
and cached, with a sha256 sidecar, in $GAN_TUTORIALS_CACHE/<dataset> or the
user cache dir. The penultimate layer's features feed the Frechet distance.
"""

import argparse
import dataclasses
import importlib.resources
import os
import sys
from pathlib import Path

import keras
import numpy as np

from gan_tutorials import data, runs
from gan_tutorials.config import MNIST


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a dataset's judge is trained."""
    epochs: int  # per member: where accuracy on 5,000 held-out training images levels off
    members: int  # independently seeded CNNs whose probabilities are averaged


# MNIST: one CNN is enough. Fashion-MNIST: one CNN's reading of generated
# pullovers, coats and shirts swings with its seed, so three are averaged
# (docs/datasets.md, "Fashion-MNIST results").
JUDGE_RECIPES = {"mnist": Recipe(epochs=4, members=1),
                 "fashion_mnist": Recipe(epochs=15, members=3)}
OTHER_RECIPE = JUDGE_RECIPES["fashion_mnist"]  # another dataset: as hard as Fashion-MNIST
FEATURE_LAYER = "features"  # the judge's penultimate layer, used for the distance
# sha256 of the judges shipped in judges/<dataset>.keras: a changed file is refused.
PINNED = {"mnist": "98244bd161916f99509a6edf41fd067d377226bc3f205f381360ecb724bfac7a",
          "fashion_mnist": "eb98177a9416b6f49fb88f3b1a0340cb6e541f437b735b0b1426595ae8756303"}


class JudgeError(RuntimeError):
    """A pinned judge's file is not the one the package pins."""


def create_judge(spec=MNIST):
    """A small CNN for 28x28 images in [-1, 1]; softmax over the dataset's classes."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1) in [-1, 1]
    x = keras.layers.Conv2D(32, 3, activation="relu")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)  # (n, 1600)
    x = keras.layers.Dropout(0.25)(x)  # dropout: ~99.2% instead of ~98.9% on test
    features = keras.layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    x = keras.layers.Dropout(0.25)(features)
    probs = keras.layers.Dense(spec.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(image, probs, name=f"{spec.name}_judge")


def recipe_for(dataset="mnist"):
    """How the dataset's judge is trained."""
    return JUDGE_RECIPES.get(dataset, OTHER_RECIPE)


def fit_member(x, y, epochs, seed, *, verbose=1, spec=MNIST):
    """One CNN fitted on images in [-1, 1] from `seed`."""
    keras.utils.set_random_seed(seed)
    member = create_judge(spec)
    member.compile(optimizer=keras.optimizers.Adam(1e-3),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    member.fit(x, y, batch_size=128, epochs=epochs,
               verbose=verbose if sys.stderr.isatty() else min(verbose, 2))
    return member


def assemble(members, spec=MNIST):
    """One judge from its members: probabilities averaged, features side by side.

    Both are outputs: `feature_reader` would find no path to a features layer
    that no output depends on.
    """
    if len(members) == 1:
        return members[0]
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    outputs = [keras.Model(m.input, [m.output, m.get_layer(FEATURE_LAYER).output],
                           name=f"member_{k}")(image) for k, m in enumerate(members)]
    probs = keras.layers.Average(name="probs")([p for p, _ in outputs])  # (n, classes)
    features = keras.layers.Concatenate(name=FEATURE_LAYER)([f for _, f in outputs])  # (n, 128k)
    return keras.Model(image, [probs, features], name=f"{spec.name}_judge")


def train_judge(train_xy, test_xy, recipe=JUDGE_RECIPES["mnist"], seed=0, *, verbose=1,
                spec=MNIST):
    """Fit the judge on uint8 images; return (model, test accuracy, accuracy per class)."""
    x, y = np.asarray(data.scale_images(train_xy[0])), np.asarray(train_xy[1])
    judge = assemble([fit_member(x, y, recipe.epochs, seed + k, verbose=verbose, spec=spec)
                      for k in range(recipe.members)], spec)
    x_test, y_test = np.asarray(data.scale_images(test_xy[0])), np.asarray(test_xy[1])
    predicted = judge_outputs(judge, x_test)[0].argmax(1)
    # Per class on real images: the ceiling to read a generator's accuracy against.
    per_class = [round(float((predicted[y_test == c] == c).mean()), 4)
                 for c in range(spec.num_classes)]
    return judge, float((predicted == y_test).mean()), per_class


def cache_dir(dataset="mnist"):
    """Where a dataset's judge is cached: $GAN_TUTORIALS_CACHE or the user cache dir, /dataset."""
    import platformdirs
    root = os.environ.get("GAN_TUTORIALS_CACHE") or platformdirs.user_cache_dir("gan_tutorials")
    return Path(root) / dataset


def load_cached_judge(folder, recipe=None):
    """The cached judge if its file matches its sidecar (and was trained by `recipe`), else None."""
    path, sidecar = folder / "judge.keras", folder / "judge.json"
    try:
        meta = runs.read_json(sidecar)
        if data.sha256_of(path) != meta["sha256"]:
            return None
        if recipe is not None and (meta["epochs"], meta.get("members", 1)) != (
                recipe.epochs, recipe.members):
            return None  # an older recipe's judge: retrain rather than mix readings
        return keras.models.load_model(path)
    except (OSError, ValueError, KeyError):
        return None


def pinned_file(dataset, name="keras"):
    """The shipped judge of a dataset (name "keras") or its card (name "json")."""
    return Path(importlib.resources.files("gan_tutorials")) / "judges" / f"{dataset}.{name}"


def load_pinned(dataset, path=None):
    """The pinned judge of a dataset, after checking its file's sha256."""
    path = Path(path or pinned_file(dataset))
    actual = data.sha256_of(path)
    if actual != PINNED[dataset]:
        raise JudgeError(f"{path}: sha256 {actual} is not the pinned {dataset} judge's "
                         f"{PINNED[dataset]}; reinstall gan_tutorials")
    return keras.models.load_model(path, compile=False)


def get_judge(dataset="mnist", data_dir=None, *, folder=None, verbose=1, arrays=None):
    """The dataset's judge: the pinned one if the package ships it, else cached or trained.

    A judge is trained (minutes) and cached when none is pinned for the
    dataset, or when `folder` (a cache folder) or `arrays` = (train_xy,
    test_xy) ask for that path (tests).
    """
    if dataset in PINNED and folder is None and arrays is None:
        return load_pinned(dataset)
    folder, recipe = Path(folder or cache_dir(dataset)), recipe_for(dataset)
    judge = load_cached_judge(folder, recipe)
    if judge is not None:
        return judge
    print(f"training the {dataset} judge (cached in {folder}) ...", file=sys.stderr, flush=True)
    judge, accuracy, per_class = train_by_recipe(dataset, data_dir, verbose=verbose,
                                                 arrays=arrays)
    save_judge(folder, judge, accuracy, recipe, per_class=per_class)
    return judge


def train_by_recipe(dataset, data_dir=None, *, verbose=1, arrays=None):
    """A judge trained afresh by its dataset's recipe: (model, test accuracy, per class)."""
    if arrays is None:
        data.ensure(dataset, data_dir)
        arrays = data.load(dataset, data_dir)
    return train_judge(*arrays, recipe_for(dataset), verbose=verbose,
                       spec=data.image_set(dataset))


def agreement(judge_a, judge_b, test_xy):
    """How two judges read the same real test images: each one's accuracy, and how often they agree."""
    images = np.asarray(data.scale_images(test_xy[0]))
    a, b = judge_outputs(judge_a, images)[0].argmax(1), judge_outputs(judge_b, images)[0].argmax(1)
    labels = np.asarray(test_xy[1])
    return {"accuracy": [float((a == labels).mean()), float((b == labels).mean())],
            "same_prediction": float((a == b).mean())}


def save_judge(folder, judge, accuracy, recipe, *, per_class=None):
    """Cache the judge (trained by `recipe`) with a sha256 sidecar, both written atomically."""
    with runs.replacing(Path(folder) / "judge.keras") as tmp:
        judge.save(tmp)
        sha = data.sha256_of(tmp)
    runs.write_json(Path(folder) / "judge.json", {"sha256": sha, "test_accuracy": accuracy,
                                                  "per_class_accuracy": per_class,
                                                  **dataclasses.asdict(recipe)})


def judge_card(dataset="mnist"):
    """The judge's card: test accuracy, per class too, and its recipe (pinned or cached)."""
    if dataset in PINNED:
        return runs.read_json(pinned_file(dataset, "json"))
    return runs.read_json(cache_dir(dataset) / "judge.json")


def feature_reader(judge):
    """The judge with a second output, its penultimate features (built once, reused)."""
    if len(judge.outputs) == 2:
        return judge
    return keras.Model(judge.input, [judge.output, judge.get_layer(FEATURE_LAYER).output])


def members_of(judge):
    """An averaged judge's members (each outputs [probabilities, features]); [] for a single CNN."""
    return [layer for layer in judge.layers if layer.name.startswith("member_")]


def member_readings(judge, images, labels, batch_size=1000):
    """Per member of an averaged judge: its accuracy per class on images asked to be `labels`.

    How far one CNN's reading of the same images moves with its seed: the spread
    the judge averages away. [] for a single CNN.
    """
    readings = []
    for member in members_of(judge):
        probs, _ = member.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
        predicted = probs.argmax(1)
        readings.append([round(float((predicted[labels == c] == c).mean()), 4)
                         for c in range(probs.shape[1])])
    return readings


def judge_outputs(judge, images, batch_size=1000):
    """(probabilities (n, 10), penultimate features (n, 128 per member)) for images in [-1, 1]."""
    probs, features = feature_reader(judge).predict(np.asarray(images, np.float32),
                                                    batch_size=batch_size, verbose=0)
    return probs, features


def main(argv=None):
    """CLI: the judge's card; --retrain rebuilds it by its recipe and compares."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.judge",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist", help="tfds name (default: mnist)")
    parser.add_argument("--data-dir", help="TFDS data dir")
    parser.add_argument("--retrain", action="store_true",
                        help="train a judge afresh by the recipe and report its agreement with "
                             "the pinned one (minutes)")
    parser.add_argument("--out", help="with --retrain: also save the retrained judge here (.keras)")
    args = parser.parse_args(argv)
    try:
        data.image_set(args.dataset)
        judge = get_judge(args.dataset, args.data_dir)
    except (data.DataError, JudgeError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    card = judge_card(args.dataset)
    where = "pinned" if args.dataset in PINNED else f"cached in {cache_dir(args.dataset)}"
    print(f"{args.dataset} judge ({where}): test accuracy {card['test_accuracy']:.4f}, "
          f"worst class {min(card['per_class_accuracy']):.4f}")
    if args.retrain:
        retrained, _, _ = train_by_recipe(args.dataset, args.data_dir)
        if args.out:
            retrained.save(args.out)
        same = agreement(judge, retrained, data.load(args.dataset, args.data_dir)[1])
        print(f"retrained by the recipe: test accuracy {same['accuracy'][1]:.4f} against "
              f"{same['accuracy'][0]:.4f}; the same reading on "
              f"{same['same_prediction']:.2%} of the test images")


if __name__ == "__main__":
    main()
