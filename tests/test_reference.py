"""The committed reference runs: evaluate reproduces their metrics within sampling noise."""

import json
from pathlib import Path

import numpy as np
import pytest

from gan_tutorials import data, evaluate, judge, runs
from gan_tutorials.models import load_generator

REFERENCE = Path(__file__).parent.parent / "outputs" / "reference"
FOLDERS = sorted(p for p in REFERENCE.glob("*") if (p / "metrics.json").exists())


@pytest.mark.slow
@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_reference_metrics_reproduce(folder):
    committed = json.loads((folder / "metrics.json").read_text())
    dataset = runs.dataset_of(folder)
    if dataset == "fashion_mnist" and data.fashion_folder() is None and \
            data.check_prepared(name=dataset) is not None:
        pytest.skip("no Fashion-MNIST here: apt-get install dataset-fashion-mnist")
    generator = load_generator(folder)
    reader = judge.get_judge(dataset, verbose=0)
    # Other noise (seed 1) and fewer digits: agreement within sampling noise.
    fresh = evaluate.evaluate_generator(generator, reader, per_class=300, seed=1,
                                        dataset=dataset)
    assert fresh["kind"] == committed["kind"]
    if committed["kind"] == "cgan":
        assert fresh["accuracy"] == pytest.approx(committed["accuracy"], abs=0.02)
        np.testing.assert_allclose(fresh["per_class_accuracy"], committed["per_class_accuracy"],
                                   atol=0.06)
    np.testing.assert_allclose(fresh["class_shares"], committed["class_shares"], atol=0.03)
    assert fresh["frechet_distance"] == pytest.approx(committed["frechet_distance"], rel=0.35)
    assert fresh["specks_per_image"] == pytest.approx(committed["specks_per_image"], rel=0.2,
                                                      abs=0.02)


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_reference_folders_are_complete(folder):
    config = runs.read_config(folder)  # older folders say "model" for "kind"
    assert config["kind"] in ("gan", "cgan")
    assert (config["batch_size"], config["seed"]) == (128, 1234)
    # The dense runs are the tutorial's 100 epochs; the conv runs state theirs (docs/conv.md).
    conv = config.get("arch", "dense") == "conv"  # older folders predate --arch
    assert config["epochs"] == 100 or conv
    # The dense MNIST runs used the default engine; Fashion-MNIST and conv the fused one.
    fused = config["dataset"] == "fashion_mnist" or conv
    assert config["engine"] == ("fused" if fused else "train_on_batch")
    history = runs.read_history(folder / "history.csv")
    assert [r["epoch"] for r in history] == list(range(1, config["epochs"] + 1))
    for name in ("losses.png", "quality.png", "progress.gif", "generator.keras"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "progress.gif").stat().st_size < 3 * 2**20
    # TensorBoard logs rebuilt from the folder (python -m gan_tutorials.board).
    assert len(list((folder / "logs").glob("events.out.tfevents.*"))) == 1


def test_reference_tree_is_small():
    size = sum(p.stat().st_size for p in REFERENCE.rglob("*") if p.is_file()
               and p.name not in ("checkpoint.npz", "discriminator.keras"))  # gitignored
    assert size < 60 * 2**20
