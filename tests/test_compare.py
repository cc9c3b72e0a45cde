"""Run folders side by side: the numbers are read from what each folder holds."""

import json
import shutil
from pathlib import Path

import keras
import numpy as np
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
    dense_history = runs.read_history(REFERENCE / "cgan" / "history.csv")
    assert dense["epochs"] == len(dense_history)
    # 100 epochs of 468 full batches (60,000 // 128)
    assert dense["steps"] == sum(int(r["steps"]) for r in dense_history) == 100 * 468
    control = json.loads((REFERENCE / "conv-cgan" / "control" / "control.json").read_text())
    assert conv["control_success"] == control["band"]["steer"]["success"]
    assert [p["epoch"] for p in conv["curve"]] == list(range(5, conv["epochs"] + 1, 5))
    assert conv["generator_params"] == load_generator(REFERENCE / "conv-cgan").count_params()
    # Quality against cost: each score at the training seconds history.csv sums up to its epoch.
    history = runs.read_history(REFERENCE / "conv-cgan" / "history.csv")
    x, values = compare.quality_panels([conv], against="seconds")["Frechet distance"]["conv-cgan"]
    assert x == [pytest.approx(sum(r["seconds"] for r in history[:e]), abs=0.05)
                 for e in range(5, conv["epochs"] + 1, 5)]
    assert values == [float(r["frechet_distance"]) for r in history[4::5]]
    # ... or at the fused engine's rate for the pair in a bench file: every run timed alike.
    rates = compare.fused_rates(REFERENCE.parent / "bench" / "tensorflow.json")
    x, _ = compare.quality_panels([conv], against="bench", rates=rates)["Frechet distance"]["conv-cgan"]
    assert x == [pytest.approx(rates["conv", "cgan"] * sum(r["steps"] for r in history[:e]))
                 for e in range(5, conv["epochs"] + 1, 5)]
    with pytest.raises(runs.RunError, match="no fused conv cgan"):
        compare.quality_panels([conv], against="bench", rates={("dense", "cgan"): 0.03})
    gan = compare.read_run(REFERENCE / "gan")
    assert gan["top_class"] == "1" and "accuracy" not in gan
    text = compare.table([dense, conv, gan])
    assert text.splitlines()[0] == "| | cgan | conv-cgan | gan |"
    dense_metrics = json.loads((REFERENCE / "cgan" / "metrics.json").read_text())
    assert (f"| judged accuracy | {100 * dense_metrics['accuracy']:.2f}% | "
            f"{100 * metrics['accuracy']:.2f}% | — |") in text
    assert "| classes covered (>= 2%) | — | — | 4 |" in text
    assert (f"| variety within classes (real = 1) | {dense_metrics['mean_class_spread']:.2f} | "
            f"{metrics['mean_class_spread']:.2f} | — |") in text  # a gan asks for no class
    assert f"| of it, the centres' term | {dense_metrics['frechet_means']:.2f} | " in text
    figure = tmp_path / "q.png"
    compare.main([str(REFERENCE / "cgan"), str(REFERENCE / "conv-cgan"), "--figure", str(figure)])
    assert figure.stat().st_size > 0
    compare.main([str(REFERENCE / "cgan"), "--figure", str(figure), "--against", "seconds"])
    assert figure.stat().st_size > 0
    figure.unlink()
    compare.main([str(REFERENCE / "cgan"), str(REFERENCE / "conv-cgan"), "--figure", str(figure),
                  "--against", "bench", "--bench",
                  str(REFERENCE.parent / "bench" / "tensorflow.json")])
    assert figure.stat().st_size > 0


def test_a_folder_not_yet_evaluated_is_refused_with_the_command(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(REFERENCE / "conv-gan", run, ignore=shutil.ignore_patterns("metrics.json"))
    with pytest.raises(SystemExit) as exit_:
        compare.main([str(run)])
    assert exit_.value.code == 2
    assert f"python -m gan_tutorials.evaluate {run}" in capsys.readouterr().err


def test_the_average_is_scored_explored_and_compared_beside_g(tiny_arrays, tmp_path, capsys):
    """--average reads generator-ema.keras, writes under RUN_DIR/ema/ and says so; compare shows
    both, each with its own curve (the average's from history.csv's ema_ columns)."""
    from gan_tutorials import evaluate, explore
    from gan_tutorials.config import Config
    from gan_tutorials.train import train
    out = tmp_path / "run"
    config = Config(kind="cgan", engine="tutorial", epochs=2, batch_size=32, steps_per_epoch=2,
                    ema=0.5, eval_every=1, out=str(out), quiet=True)
    train(config, arrays=tiny_arrays, callbacks=[evaluate.JudgeEvery(config, per_class=20)])
    g = evaluate.evaluate_run(out, per_class=20)
    capsys.readouterr()  # training's epoch lines
    evaluate.main([str(out), "--per-class", "20", "--average"])
    assert capsys.readouterr().out.startswith("the average (generator-ema.keras): cgan: accuracy")
    average = json.loads((out / "ema" / "metrics.json").read_text())
    assert average["generator"] == str(out / "generator-ema.keras")
    assert average["generator_sha256"] != g["generator_sha256"]
    assert (out / "ema" / "eval" / "samples.png").exists() and runs.unowned(out) == []
    numbers, folder = explore.explore_run(out, samples=30, average=True)
    assert folder == out / "ema" / "explore" and (folder / "explore.json").exists()
    assert numbers["generator_sha256"] == average["generator_sha256"]
    compare.main([str(out), "--average"])
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "| | run | run (average) |"
    assert f"{100 * average['accuracy']:.2f}%" in table.splitlines()[6]
    # Which to keep: the better on most of judged accuracy, the distance and stray ink.
    g = json.loads((out / "metrics.json").read_text())
    better = {"accuracy": average["accuracy"] > g["accuracy"],
              "frechet_distance": average["frechet_distance"] < g["frechet_distance"],
              "stray_ink": average["stray_ink"] < g["stray_ink"]}
    keep = "average" if sum(better.values()) >= 2 else "G"
    assert compare.better_generator(out) == {
        "keep": keep, "wins": {k: "average" if b else "G" for k, b in better.items()},
        "scores": {k: (g[k], average[k]) for k in better}}
    assert f"run: keep {keep} (the average better on " in table
    for edits, kept in [({"accuracy": 1.0, "frechet_distance": 0.0}, "average"),
                        ({"accuracy": 1.0, "frechet_distance": 1e9, "stray_ink": 1.0}, "G"),
                        ({**{k: g[k] for k in better}, "stray_ink": 0.0}, "G")]:  # two ties
        runs.write_json(out / "ema" / "metrics.json", {**average, **edits})
        assert compare.better_generator(out)["keep"] == kept, edits
    runs.write_json(out / "ema" / "metrics.json", average)
    history = runs.read_history(out / "history.csv")
    both = [compare.read_run(out), compare.read_run(out, average=True)]
    assert [[p["accuracy"] for p in s["curve"]] for s in both] == [
        [r["accuracy"] for r in history], [r["ema_accuracy"] for r in history]]
    # Costed alike: G and its average share their steps, so the same x at the bench's rate.
    rates = compare.fused_rates(REFERENCE.parent / "bench" / "tensorflow.json")
    panel = compare.quality_panels(both, against="bench", rates=rates)["Frechet distance"]
    assert panel["run"][0] == panel["run (average)"][0] == [
        pytest.approx(rates["dense", "cgan"] * 2 * e) for e in (1, 2)]  # 2 steps per epoch
    plain = tmp_path / "plain"  # trained without --ema: a one-line refusal
    train(Config(kind="cgan", engine="tutorial", epochs=1, batch_size=32, steps_per_epoch=2,
                 out=str(plain), quiet=True), arrays=tiny_arrays, callbacks=[])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        evaluate.main([str(plain), "--average"])
    assert exit_.value.code == 2
    assert "has no generator-ema.keras: it was trained without --ema" in capsys.readouterr().err
    assert compare.better_generator(plain) == {"keep": "G", "wins": {}, "scores": {}}


def test_keep_best_keeps_each_generator_of_its_lowest_distance_epoch(tiny_arrays, tmp_path,
                                                                     capsys):
    """--keep-best: G and its average each saved at their own lowest-distance epoch, the same
    through a resume; evaluate --best and compare --best read them as the others."""
    from gan_tutorials import evaluate
    from gan_tutorials.config import Config
    from gan_tutorials.train import train
    settings = dict(kind="cgan", engine="tutorial", epochs=4, batch_size=32, steps_per_epoch=3,
                    ema=0.5, eval_every=1, keep_best=True, quiet=True)
    with pytest.raises(ValueError, match="--keep-best needs --eval-every"):
        Config(**dict(settings, eval_every=0))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    judge = lambda config: [evaluate.JudgeEvery(config, per_class=20)]
    config = Config(out=str(whole), **settings)
    history = train(config, arrays=tiny_arrays, callbacks=judge(config))
    for name, prefix in (("generator", ""), ("generator-ema", "ema_")):
        distances = [r[prefix + "frechet_distance"] for r in history]
        kept = runs.read_json(whole / "best.json")[name]
        assert kept == {"epoch": 1 + distances.index(min(distances)),
                        "frechet_distance": min(distances)}
    config = Config(out=str(parts), **dict(settings, epochs=2))
    train(config, arrays=tiny_arrays, callbacks=judge(config))
    config = Config(out=str(parts), resume=True, **settings)
    train(config, arrays=tiny_arrays, callbacks=judge(config))
    assert runs.read_json(parts / "best.json") == runs.read_json(whole / "best.json")
    for name in ("generator-best.keras", "generator-ema-best.keras"):
        a, b = (keras.models.load_model(f / name).get_weights() for f in (whole, parts))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-6)
    capsys.readouterr()
    evaluate.main([str(whole), "--per-class", "20", "--best"])
    epoch = runs.read_json(whole / "best.json")["generator"]["epoch"]
    assert capsys.readouterr().out.startswith(f"G, kept at epoch {epoch}: cgan: accuracy")
    best = runs.read_json(whole / "best" / "metrics.json")
    assert best["best_epoch"] == epoch and runs.unowned(whole) == []
    evaluate.evaluate_run(whole, per_class=20)  # G's, which compare shows first
    compare.main([str(whole), "--best"])
    assert capsys.readouterr().out.splitlines()[0] == "| | whole | whole (best) |"
    assert compare.read_run(whole, best=True)["epochs"] == epoch


def test_the_plane_groups_a_studys_seeds_and_keeps_the_real_level():
    scored = lambda p, r: {"manifold": {"precision": p, "recall": r},
                           "real_manifold": {"precision": 0.9, "recall": 0.88}}
    summaries = [scored(0.94, 0.39), {"manifold": None}, scored(0.8, 0.1), scored(0.85, 0.2)]
    folders = ["outputs/reference/gan", "outputs/tried/old", "study/lever/seed-0001",
               "study/lever/seed-1234"]
    groups, real = compare.plane_points(summaries, folders)
    assert groups == {"gan": [(0.39, 0.94)], "lever": [(0.1, 0.8), (0.2, 0.85)]}
    assert real == (0.88, 0.9)
    with pytest.raises(runs.RunError, match="no run has precision and recall"):
        compare.plane_points([{"manifold": None}], ["old"])
