"""The committed outputs: reference runs and studies hold what their files and the pinned judges say,
and runs still in training resume from where their files say they stopped.

Every test of a committed number lives here, so a retrained reference changes one file.
"""

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from gan_tutorials import data, evaluate, judge, runs
from gan_tutorials.config import RUN_PLACE, Config
from gan_tutorials.models import load_generator
from gan_tutorials.steps import build_models

REFERENCE = Path(__file__).parent.parent / "outputs" / "reference"
FOLDERS = sorted(p for p in REFERENCE.glob("*") if (p / "metrics.json").exists())


@functools.cache
def judged_test_set(dataset):
    """The pinned judge of a dataset and its reading of the real test images, once per dataset."""
    reader = judge.get_judge(dataset, verbose=0)  # pinned: the judge that scored them
    return reader, evaluate.reference_stats(reader, dataset)


@pytest.mark.slow
@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_reference_metrics_reproduce(folder):
    committed = json.loads((folder / "metrics.json").read_text())
    dataset = runs.dataset_of(folder)
    if dataset == "fashion_mnist" and data.fashion_folder() is None and \
            data.check_prepared(name=dataset) is not None:
        pytest.skip("no Fashion-MNIST here: apt-get install dataset-fashion-mnist")
    generator = load_generator(folder)
    reader, reference = judged_test_set(dataset)
    # The same digits (noise seed and count) as the committed scores: only float
    # rounding across CPUs may move them.
    classes = len(committed["class_shares"])
    fresh = evaluate.evaluate_generator(generator, reader, per_class=committed["samples"] // classes,
                                        seed=committed["seed"], reference=reference,
                                        dataset=dataset)
    assert fresh["kind"] == committed["kind"]
    if committed["kind"] == "cgan":
        assert fresh["accuracy"] == pytest.approx(committed["accuracy"], abs=0.002)
        np.testing.assert_allclose(fresh["per_class_accuracy"], committed["per_class_accuracy"],
                                   atol=0.005)
    np.testing.assert_allclose(fresh["class_shares"], committed["class_shares"], atol=0.002)
    assert fresh["frechet_distance"] == pytest.approx(committed["frechet_distance"], rel=0.02)
    assert fresh["frechet_floor"] == pytest.approx(committed["frechet_floor"], rel=0.02)
    assert fresh["specks_per_image"] == pytest.approx(committed["specks_per_image"], abs=0.005)


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_reference_folders_are_complete(folder):
    config = runs.read_config(folder)  # older folders say "model" for "kind"
    assert config["kind"] in ("gan", "cgan")
    assert (config["batch_size"], config["seed"]) == (128, 1234)
    # The dense runs are the tutorial's 100 epochs; the conv runs state theirs (docs/conv.md).
    conv = config.get("arch", "dense") == "conv"  # older folders predate --arch
    assert config["epochs"] == 100 or conv
    # The dense MNIST runs of the article used the default engine; Fashion-MNIST, conv and
    # the levers' winners (docs/collapse.md, trained through `study`) the fused one.
    lever = config.get("minibatch_std", 0) or config.get("pack", 1) > 1  # older folders predate them
    fused = config["dataset"] == "fashion_mnist" or conv or bool(lever)
    assert config["engine"] == ("fused" if fused else "train_on_batch")
    history = runs.read_history(folder / "history.csv")
    assert [r["epoch"] for r in history] == list(range(1, config["epochs"] + 1))
    for name in ("losses.png", "quality.png", "progress.gif", "generator.keras"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "progress.gif").stat().st_size < 3 * 2**20
    # TensorBoard logs rebuilt from the folder (python -m gan_tutorials.board).
    assert len(list((folder / "logs").glob("events.out.tfevents.*"))) == 1


def test_reference_tree_is_small():
    # The article's eight runs took 56 MB; #40's winners (a dense GAN of 7 MB, conv pairs of
    # 4-8 MB) are the references it adds beside them.
    size = sum(p.stat().st_size for p in REFERENCE.rglob("*") if p.is_file()
               and p.name not in ("checkpoint.npz", "discriminator.keras"))  # gitignored
    assert size < 75 * 2**20


@pytest.mark.parametrize("article, winner", [("gan", "gan-pack-2-minibatch-std-4"),
                                             ("conv-gan", "conv-gan-pack-2-minibatch-std-4")])
def test_the_winner_does_not_collapse_where_the_article_does(article, winner):
    """#40's goal for the dense and conv GANs, read from the committed scores of the references."""
    article, winner = (json.loads((REFERENCE / name / "metrics.json").read_text())
                       for name in (article, winner))
    assert max(article["class_shares"]) > 0.5 and min(article["class_shares"]) < 0.02  # mostly 1s
    assert min(winner["class_shares"]) >= 0.02 and winner["entropy"] >= 0.95  # all 10 classes
    assert winner["frechet_distance"] < article["frechet_distance"] / 4


def test_the_conv_cgan_winner_keeps_the_variety_the_reference_loses():
    """#40's distance and variety goals for the MNIST conv cgan, from the committed scores: at
    most half the dense cgan's distance, and 0.90 of real digits' variety within classes."""
    dense, narrowing, winner = (json.loads((REFERENCE / name / "metrics.json").read_text())
                                for name in ("cgan", "conv-cgan", "conv-cgan-pack-2-mode-seeking-0.1"))
    assert narrowing["frechet_distance"] > dense["frechet_distance"]  # the article's narrowing
    assert narrowing["mean_class_spread"] < 0.75
    assert winner["frechet_distance"] <= dense["frechet_distance"] / 2
    assert winner["mean_class_spread"] >= 0.90
    assert all(share >= 0.09 for share in winner["class_shares"])  # a cgan draws what it is asked


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_the_committed_studies_count_their_five_seeds(kind):
    """outputs/study/<kind>: five seeds, each claim's count the sum of its seeds' verdicts."""
    out = Path(__file__).resolve().parents[1] / "outputs" / "study" / kind
    summary = json.loads((out / "study.json").read_text())
    assert summary["seeds"] == [1234, 1, 2, 3, 4]
    for name, claim in summary["claims"].items():
        assert claim["seeds"] == 5
        assert claim["holds"] == sum(seed["claims"][name] for seed in summary["per_seed"])
    for seed in summary["per_seed"]:
        folder = out / seed["folder"]
        config = runs.read_config(folder)
        assert (config["seed"], config["kind"], config["epochs"]) == (seed["seed"], kind, 100)
        assert [r["epoch"] for r in runs.read_history(folder / "history.csv")] == list(range(1, 101))
        metrics = json.loads((folder / "metrics.json").read_text())
        score = "accuracy" if kind == "cgan" else "entropy"
        assert seed[score] == pytest.approx(metrics[score], abs=1e-4)  # from the seed's own scores


TRAINING = REFERENCE.parent / "training"
# A run, or a study's seed (outputs/training/STUDY/seed-NNNN), with the checkpoint to go on.
IN_TRAINING = sorted(p for p in [*TRAINING.glob("*"), *TRAINING.glob("*/seed-*")]
                     if (p / "checkpoint.npz").exists())


@pytest.mark.parametrize("folder", IN_TRAINING, ids=[str(p.relative_to(TRAINING)) for p in IN_TRAINING])
def test_runs_in_training_resume_where_their_history_ends(folder):
    """outputs/training/<run>: a run not yet finished, committed so it resumes on another
    machine. Its checkpoint loads into the models its config.json builds, at its history's end."""
    saved = runs.read_config(folder)
    config = Config(**{k: v for k, v in saved.items() if k not in RUN_PLACE})
    if folder.parent == TRAINING:  # a reference in training, not a study's seed
        assert config.ema, "the conv references track their average (--ema)"
    groups = build_models(config, data.image_set(config.dataset)).checkpoint_groups()
    epoch = runs.restore(folder, groups, "tensorflow")  # refuses a checkpoint that does not fit
    assert 0 < epoch < config.epochs
    history = runs.read_history(folder / "history.csv")
    assert [r["epoch"] for r in history] == list(range(1, epoch + 1))
    assert runs.sample_path(folder, epoch).exists()  # progress.gif's frames so far


def test_no_committed_output_records_a_machine_path():
    """A run folder describes itself: the paths its files record are the repository's own."""
    from test_notebook import MACHINE_PATH
    committed = ("reference", "study", "tried", "training", "bench")  # not a user's own runs
    recorded = [path for name in committed for path in sorted((REFERENCE.parent / name).rglob("*.json"))
                if MACHINE_PATH.search(path.read_text())]
    assert recorded == []
