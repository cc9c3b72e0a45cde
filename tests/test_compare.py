"""Run folders side by side: the numbers are read from what each folder holds."""

import json
import shutil
from pathlib import Path

import pytest

from gan_tutorials import compare, runs
from gan_tutorials.models import load_generator

REFERENCE = Path(__file__).resolve().parents[1] / "outputs" / "reference"


def test_summaries_read_each_folder_and_the_table_has_a_column_per_run(tmp_path):
    dense, conv = compare.read_run(REFERENCE / "cgan"), compare.read_run(REFERENCE / "conv-cgan")
    metrics = json.loads((REFERENCE / "conv-cgan" / "metrics.json").read_text())
    assert conv["accuracy"] == metrics["accuracy"]
    assert conv["worst_class_accuracy"] == min(metrics["per_class_accuracy"])
    assert conv["specks_per_image"] == metrics["specks_per_image"]
    assert (dense["arch"], conv["arch"]) == ("dense", "conv")  # older folders: dense
    assert dense["generator_params"] == load_generator(REFERENCE / "cgan").count_params()
    assert dense["epochs"] == len(runs.read_history(REFERENCE / "cgan" / "history.csv"))
    control = json.loads((REFERENCE / "conv-cgan" / "control" / "control.json").read_text())
    assert conv["control_success"] == control["band"]["steer"]["success"]
    assert [p["epoch"] for p in conv["curve"]] == list(range(5, conv["epochs"] + 1, 5))
    gan = compare.read_run(REFERENCE / "gan")
    assert gan["top_class"] == "1" and "accuracy" not in gan
    text = compare.table([dense, conv, gan])
    assert text.splitlines()[0] == "| | cgan | conv-cgan | gan |"
    dense_metrics = json.loads((REFERENCE / "cgan" / "metrics.json").read_text())
    assert (f"| judged accuracy | {100 * dense_metrics['accuracy']:.2f}% | "
            f"{100 * metrics['accuracy']:.2f}% | — |") in text
    assert "| classes covered (>= 2%) | — | — | 4 |" in text
    figure = tmp_path / "q.png"
    compare.main([str(REFERENCE / "cgan"), str(REFERENCE / "conv-cgan"), "--figure", str(figure)])
    assert figure.stat().st_size > 0


def test_a_folder_not_yet_evaluated_is_refused_with_the_command(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(REFERENCE / "conv-gan", run, ignore=shutil.ignore_patterns("metrics.json"))
    with pytest.raises(SystemExit) as exit_:
        compare.main([str(run)])
    assert exit_.value.code == 2
    assert f"python -m gan_tutorials.evaluate {run}" in capsys.readouterr().err
