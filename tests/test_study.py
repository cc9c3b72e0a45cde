"""The claims across seeds: a tiny study, interrupted and resumed, and each claim's rule."""

import signal
import subprocess
import sys

import numpy as np
import pytest

from gan_tutorials import runs, study
from gan_tutorials.config import Config
from gan_tutorials.train import train

TINY = ["--epochs", "3", "--steps-per-epoch", "2", "--batch-size", "16", "--eval-every", "0",
        "--per-class", "5", "--samples", "30"]


def test_a_tiny_study_interrupted_and_resumed(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "study"
    argv = ["--kind", "cgan", "--seeds", "5", "6", *TINY, "--data-dir", str(tiny_data_dir),
            "--out", str(out)]
    # A real interruption: SIGINT while the second seed trains, in its first epochs.
    proc = subprocess.Popen([sys.executable, "-m", "gan_tutorials.study", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("seed 5:"):
            break
    for line in proc.stdout:  # seed 6's first epoch is checkpointed: stop it there
        seen.append(line)
        if line.startswith("epoch 1/3"):
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + err[-2000:]
    assert "run the same command to resume" in err.strip().splitlines()[-1]
    assert runs.read_history(out / "seed-0005" / "history.csv")[-1]["epoch"] == 3
    assert 1 <= study.trained_epochs(out / "seed-0006") < 3
    assert not (out / "study.json").exists()

    study.main(argv)  # the same command again
    said = capsys.readouterr().out
    assert "seed 5: kept" in said and "seed 6: resumed" in said
    summary = runs.read_json(out / "study.json")
    assert summary["seeds"] == [5, 6] and [r["seed"] for r in summary["per_seed"]] == [5, 6]
    assert (out / "study.png").is_file()
    for name, claim in summary["claims"].items():  # each count is the seeds it holds in
        assert claim["holds"] == sum(r["claims"][name] for r in summary["per_seed"])
        assert claim["seeds"] == 2
    assert set(summary["claims"]) == set(study.CLAIMS["cgan"])  # explored: every claim checked
    # The resumed seed is the run an uninterrupted train makes from the same settings.
    resumed = runs.read_history(out / "seed-0006" / "history.csv")
    assert [r["epoch"] for r in resumed] == [1, 2, 3]
    alone = train(Config(kind="cgan", seed=6, epochs=3, steps_per_epoch=2, batch_size=16,
                         data_dir=str(tiny_data_dir), out=str(tmp_path / "alone"), quiet=True))
    for mine, theirs in zip(resumed, alone):
        assert (mine["d_loss"], mine["g_loss"]) == pytest.approx(
            (theirs["d_loss"], theirs["g_loss"]), abs=1e-6)
    # A third time: nothing to train or judge again.
    before = (out / "seed-0006" / "metrics.json").stat().st_mtime
    study.main(argv)
    said = capsys.readouterr().out
    assert "seed 5: kept" in said and "seed 6: kept" in said
    assert (out / "seed-0006" / "metrics.json").stat().st_mtime == before


def test_a_folder_of_other_settings_is_refused(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "study"
    seed_dir = study.seed_dir(out, 1)
    train(Config(kind="gan", seed=1, epochs=1, steps_per_epoch=2, batch_size=16,
                 learning_rate=3e-4, data_dir=str(tiny_data_dir), out=str(seed_dir), quiet=True))
    with pytest.raises(SystemExit) as exit_:
        study.main(["--kind", "gan", "--seeds", "1", *TINY, "--data-dir", str(tiny_data_dir),
                    "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1
    assert "seed-0001 was trained with other settings (--learning-rate 0.0003)" in err[0]


@pytest.mark.parametrize("argv, complaint", [
    (["--seeds", "1", "1"], "a seed is given twice"),
    (["--seeds"], "expected at least one argument"),
    (["--seeds", "-1"], "must be >= 0"),
    (["--seed", "3"], "unrecognized arguments: --seed"),
    (["--kind", "dcgan"], "invalid choice"),
])
def test_bad_flags_are_one_line(argv, complaint, capsys):
    with pytest.raises(SystemExit) as exit_:
        study.main(argv)
    assert exit_.value.code == 2
    assert complaint in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_dense_gan_claims_follow_its_class_shares():
    shares = [0.01, 0.78, 0.0, 0.0, 0.0, 0.0, 0.02, 0.13, 0.0, 0.06]
    checks, numbers = study.gan_claims({"class_shares": shares, "classes_covered": 4,
                                        "entropy": 0.34, "frechet_distance": 218.8})
    assert checks == {"collapses": True, "mostly_ones": True, "all_classes": False}
    assert (numbers["top_class"], numbers["top_share"]) == (1, 0.78)
    sevens = np.roll(shares, 6).tolist()  # the same collapse, to 7s
    checks, _ = study.gan_claims({"class_shares": sevens, "classes_covered": 4, "entropy": 0.34,
                                  "frechet_distance": 1.0})
    assert checks == {"collapses": True, "mostly_ones": False, "all_classes": False}
    even = [0.1] * 10
    checks, _ = study.gan_claims({"class_shares": even, "classes_covered": 10, "entropy": 1.0,
                                  "frechet_distance": 1.0})
    assert checks == {"collapses": False, "mostly_ones": False, "all_classes": True}


def explored(add_slant=22.0, add_thickness=2.46, scaling_rho=1.0):
    """explore.json's numbers as the reference cgan has them, with some of them varied."""
    cats = {"thick_straight": (4.8, 2.99), "thick_slanted": (26.2, 2.88),
            "thin_straight": (0.0, 1.98), "thin_slanted": (24.3, 1.98)}
    return {"grid_noise_share": {"slant": 0.86, "thickness": 0.59},
            "population": {"slant": {"q33": 4.0, "median": 9.6, "q67": 15.5},
                           "thickness": {"q33": 2.41, "median": 2.62, "q67": 2.84}},
            "categories": {n: {"size": 200, "slant": s, "thickness": t} for n, (s, t) in cats.items()},
            "scaling": {n: {"spearman_slant": scaling_rho, "spearman_thickness": -0.99}
                        for n in cats},
            "arithmetic": {
                "add": {"expect": "thick_slanted",
                        "result": {"slant": add_slant, "thickness": add_thickness}},
                "subtract": {"expect": "thin_slanted",
                             "result": {"slant": 29.6, "thickness": 2.43}}}}


def test_the_conditional_gan_claims_follow_its_numbers():
    metrics = {"accuracy": 0.996, "per_class_accuracy": [0.99] * 9 + [0.995],
               "frechet_distance": 4.7}
    checks, numbers = study.cgan_claims(metrics, explored())
    assert checks == {"every_digit": True, "grid_shares_style": True,
                      "categories_carry_style": True, "scaling_monotone": True,
                      "arithmetic_slant": True, "arithmetic_thickness": False}
    assert numbers["worst_class"] == 0 and numbers["min_scaling_rho"] == 0.99
    # the add lands straight (below the slant tercile): slant no longer as claimed
    assert not study.cgan_claims(metrics, explored(add_slant=3.0))[0]["arithmetic_slant"]
    # thick enough for its thick-slanted target, and the subtraction thin enough
    both = explored(add_thickness=2.9)
    both["arithmetic"]["subtract"]["result"]["thickness"] = 2.3
    assert study.cgan_claims(metrics, both)[0]["arithmetic_thickness"]
    assert not study.cgan_claims(metrics, explored(scaling_rho=0.5))[0]["scaling_monotone"]
    failing_nine = dict(metrics, per_class_accuracy=[0.99] * 9 + [0.12])
    checks, numbers = study.cgan_claims(failing_nine)
    assert checks == {"every_digit": False} and numbers["worst_class"] == 9
