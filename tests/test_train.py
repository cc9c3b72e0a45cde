"""Tutorial steps 2 and 3: a tiny run writes the whole run folder and resumes."""

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import keras
import numpy as np
import pytest

from conftest import read_events, scalars
from gan_tutorials import runs
from gan_tutorials.config import Config, upgrade
from gan_tutorials.steps import build_models
from gan_tutorials.train import RunError, parse_config, train

TINY = dict(epochs=2, batch_size=32, steps_per_epoch=3)
REFERENCE = Path(__file__).parent.parent / "outputs" / "reference"
DISCRIMINATOR_PARAMS = {"gan": 1_460_225, "cgan": 1_494_273}


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_smoke_run_writes_every_file(kind, tiny_arrays, tmp_path):
    out = tmp_path / kind
    history = train(Config(kind=kind, out=str(out), quiet=True, **TINY), arrays=tiny_arrays)
    assert [r["epoch"] for r in history] == [1, 2]
    assert runs.read_history(out / "history.csv") == history
    assert all(r["steps"] == 3 for r in history)
    # each row's losses are the means of its epoch's step losses, D's and G's apart
    events = read_events(out)
    for name in ("d_loss", "g_loss"):
        steps = [v for _, v in scalars(events, f"step/{name}")]
        assert len(steps) == 6
        assert [r[name] for r in history] == pytest.approx(
            [np.mean(steps[:3]), np.mean(steps[3:])], abs=1e-5)
    assert runs.read_json(out / "config.json")["config"]["kind"] == kind
    frames = [iio.imread(runs.sample_path(out, e)) for e in range(3)]
    assert not np.array_equal(frames[0], frames[2])  # training changed the preview
    assert iio.imread(out / "progress.gif").shape[0] >= 3  # frames, last one held
    generator = keras.models.load_model(out / "generator.keras")
    discriminator = keras.models.load_model(out / "discriminator.keras")
    noise = np.zeros((2, 100), "float32")
    inputs = noise if kind == "gan" else [noise, np.eye(10, dtype="float32")[:2]]
    images = generator(inputs)
    images = images[0] if kind == "cgan" else images
    assert images.shape == (2, 28, 28, 1)
    assert discriminator.count_params() == DISCRIMINATOR_PARAMS[kind]
    assert (out / "losses.png").stat().st_size > 0


def test_resume_continues_instead_of_restarting(tiny_arrays, tmp_path):
    out = str(tmp_path / "run")
    tiny = dict(TINY, engine="tutorial")  # any engine; this one compiles fastest
    first = train(Config(kind="cgan", out=out, quiet=True, **tiny), arrays=tiny_arrays)
    epoch, saved = runs.load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert epoch == 2 and int(saved["d_optimizer"][0]) == 6  # Adam's step counter: 2 x 3
    more = dict(tiny, epochs=4)
    history = train(Config(kind="cgan", out=out, quiet=True, resume=True, **more),
                    arrays=tiny_arrays)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[:2] == first  # the first epochs' rows are kept, not redone
    epoch, saved = runs.load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert epoch == 4 and int(saved["d_optimizer"][0]) == 12  # the counter carried on
    assert int(saved["g_optimizer"][0]) == 12
    assert runs.sample_path(out, 4).exists()
    # config.json states what the folder now holds, and keeps the first command
    saved = runs.read_json(tmp_path / "run" / "config.json")
    assert saved["config"]["epochs"] == 4 and saved["config"]["resume"] is False
    assert saved["argv"] == [] and saved["resumed"] == [[]]
    assert runs.read_config(tmp_path / "run")["epochs"] == len(runs.read_history(
        tmp_path / "run" / "history.csv"))


def test_existing_run_needs_resume_or_overwrite(tiny_arrays, tmp_path):
    out = str(tmp_path / "run")
    tiny = dict(TINY, engine="tutorial")  # any engine; this one compiles fastest
    train(Config(out=out, quiet=True, **dict(tiny, epochs=1)), arrays=tiny_arrays)
    with pytest.raises(RunError, match="--resume .* --overwrite"):
        train(Config(out=out, quiet=True, **tiny), arrays=tiny_arrays)
    history = train(Config(out=out, quiet=True, overwrite=True, **tiny), arrays=tiny_arrays)
    assert len(history) == 2
    with pytest.raises(RunError, match="'gan' run.*--kind gan"):
        train(Config(kind="cgan", out=out, resume=True, quiet=True, **TINY), arrays=tiny_arrays)


def test_overwrite_leaves_no_stale_results(tiny_arrays, tmp_path):
    """--overwrite removes what evaluate and explore wrote for the old generator too."""
    out = tmp_path / "run"
    tiny = dict(TINY, engine="tutorial")  # any engine; this one compiles fastest
    train(Config(out=str(out), quiet=True, **dict(tiny, epochs=3)), arrays=tiny_arrays)
    stale = ["metrics.json", "quality.png", "eval/samples.png", "explore/explore.json",
             "samples/epoch_003.png"]
    for name in stale[:4]:
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_text("the old generator's")
    train(Config(out=str(out), quiet=True, overwrite=True, **dict(tiny, epochs=1)),
          arrays=tiny_arrays)
    assert not [name for name in stale if (out / name).exists()]
    assert runs.read_history(out / "history.csv")[-1]["epoch"] == 1
    # The TensorBoard log starts over too: only the new epoch's 3 steps.
    assert [s for s, _ in scalars(read_events(out), "step/d_loss")] == [1, 2, 3]


def user_env():
    """This process's environment as a user's shell has it: jax, which tfds imports here
    when installed, sets TF_CPP_MIN_LOG_LEVEL=1 on import; a shell does not."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def test_cli_trains_from_a_prepared_tfds_dir(tiny_data_dir, tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run(  # --model: the older name of --kind, kept for users
        [sys.executable, "-m", "gan_tutorials.train", "--model", "cgan", "--epochs", "1",
         "--steps-per-epoch", "2", "--batch-size", "16", "--out", str(out),
         "--data-dir", str(tiny_data_dir), "--quiet"],
        capture_output=True, text=True, timeout=300, env=user_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 1/1" in result.stdout
    # TensorFlow's C++ start-up lines (oneDNN, CUDA stubs, XLA) are quieted.
    assert "I0000" not in result.stderr and "E0000" not in result.stderr, result.stderr[:1500]
    saved = runs.read_json(out / "config.json")
    assert saved["config"]["data_dir"] == str(tiny_data_dir)
    assert saved["config"]["kind"] == "cgan" and "--model" in saved["argv"]


def test_config_flag_starts_from_a_saved_run(tmp_path, capsys):
    """--config takes a saved run's settings (older "model" naming too); flags override."""
    saved = REFERENCE / "cgan-notebook-labels" / "config.json"
    _, config = parse_config(["--config", str(saved), "--epochs", "3", "--seed", "7"])
    assert (config.kind, config.label_sampling, config.eval_every) == ("cgan", "notebook", 5)
    assert (config.epochs, config.seed, config.batch_size) == (3, 7, 128)
    assert config.out is None and not config.quiet  # where that run went is not taken
    bad = tmp_path / "config.json"
    bad.write_text('{"config": {"kind": "dcgan"}}')
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--config", str(bad)])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("engine, arch", [("train_on_batch", "dense"), ("fused", "dense"),
                                          ("fused", "conv")])
def test_resume_is_exact(engine, arch, tiny_arrays, tmp_path):
    """Stopped after any epoch and resumed, a run has the history, the weights, the optimizer
    state and the generator's average (--ema, checkpointed too) of one never stopped."""
    # 3 steps per epoch in one fused call; stopped after epoch 1, resumed to 3.
    settings = dict(TINY, kind="cgan", quiet=True, engine=engine, steps_per_call=3, epochs=3,
                    arch=arch, ema=0.9)
    whole = train(Config(out=str(tmp_path / "whole"), **settings), arrays=tiny_arrays)
    out = str(tmp_path / "parts")
    train(Config(out=out, **dict(settings, epochs=1)), arrays=tiny_arrays)
    with pytest.raises(RunError, match="--ema 0.9"):  # the average cannot start mid-run
        train(Config(out=out, resume=True, **dict(settings, ema=0.0)), arrays=tiny_arrays)
    parts = train(Config(out=out, resume=True, **settings), arrays=tiny_arrays)
    for a, b in zip(whole, parts, strict=True):
        assert a["epoch"] == b["epoch"]
        assert a["d_loss"] == pytest.approx(b["d_loss"], abs=1e-6)
        assert a["g_loss"] == pytest.approx(b["g_loss"], abs=1e-6)
    for name in ("generator", "discriminator", "g_optimizer", "d_optimizer", "average"):
        saved = [runs.load_checkpoint(tmp_path / f / "checkpoint.npz")[1][name]
                 for f in ("whole", "parts")]
        for a, b in zip(*saved, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_fused_engine_matches_and_resumes_across_engines(tiny_arrays, tmp_path):
    """Same seed, same losses from either engine; a run may switch engine on resume."""
    base = train(Config(kind="cgan", out=str(tmp_path / "a"), quiet=True, **TINY),
                 arrays=tiny_arrays)
    out = str(tmp_path / "b")  # 3 steps in calls of 2: a full and a partial call
    fused = dict(TINY, epochs=1, engine="fused", steps_per_call=2)
    first = train(Config(kind="cgan", out=out, quiet=True, **fused), arrays=tiny_arrays)
    for key in ("d_loss", "g_loss"):
        assert first[0][key] == pytest.approx(base[0][key], rel=1e-4)
    history = train(Config(kind="cgan", out=out, quiet=True, resume=True, **TINY),
                    arrays=tiny_arrays)  # back on the default train_on_batch engine
    assert [r["epoch"] for r in history] == [1, 2] and history[0] == first[0]
    epoch, saved = runs.load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    assert epoch == 2 and int(saved["d_optimizer"][0]) == int(saved["g_optimizer"][0]) == 6


def test_learning_rate_defaults_to_the_archs_and_a_flag_overrides_it(tiny_arrays, tmp_path):
    assert Config().learning_rate == 1e-4  # the tutorial's, for its dense networks
    assert parse_config(["--arch", "conv"])[1].learning_rate == 2e-4
    assert parse_config(["--arch", "conv", "--learning-rate", "1e-4"])[1].learning_rate == 1e-4
    out = tmp_path / "run"
    train(Config(arch="conv", kind="cgan", out=str(out), quiet=True, **dict(TINY, epochs=1)),
          arrays=tiny_arrays)
    assert runs.read_config(out)["learning_rate"] == 2e-4  # the folder states the number
    # A conv run of the tutorial's rate resumes only with that rate asked for again.
    old = tmp_path / "old"
    train(Config(arch="conv", kind="cgan", out=str(old), quiet=True, learning_rate=1e-4,
                 **dict(TINY, epochs=1)), arrays=tiny_arrays)
    with pytest.raises(RunError, match="--learning-rate 0.0001"):
        train(Config(arch="conv", kind="cgan", out=str(old), quiet=True, resume=True, **TINY),
              arrays=tiny_arrays)
    with pytest.raises(RunError, match="no --d-learning-rate"):  # nor may D's rate change
        train(Config(arch="conv", kind="cgan", out=str(old), quiet=True, resume=True,
                     learning_rate=1e-4, d_learning_rate=4e-4, **TINY), arrays=tiny_arrays)


@pytest.mark.parametrize("engine", ["tutorial", "train_on_batch", "fused"])
def test_two_time_scales_step_d_and_g_at_their_own_rates(engine, tiny_arrays, tmp_path):
    """--d-learning-rate: Adam's first step moves each weight by about its model's rate
    (m / sqrt(v) is the gradient's sign), so D's largest move is D's rate, G's is G's."""
    settings = dict(kind="cgan", quiet=True, engine=engine, steps_per_call=1, epochs=1,
                    batch_size=32, steps_per_epoch=1, learning_rate=1e-4, d_learning_rate=4e-4)
    before = build_models(Config(**settings))
    train(Config(out=str(tmp_path / "run"), **settings), arrays=tiny_arrays)
    saved = runs.load_checkpoint(tmp_path / "run" / "checkpoint.npz")[1]
    for name, model, rate in (("discriminator", before.discriminator, 4e-4),
                              ("generator", before.generator, 1e-4)):
        moved = max(np.abs(a - b).max() for a, b in zip(saved[name], model.get_weights(),
                                                        strict=True))
        assert moved == pytest.approx(rate, rel=1e-3), name
    assert runs.read_config(tmp_path / "run")["d_learning_rate"] == 4e-4
    assert Config().d_rate == Config().learning_rate  # unset: one rate, the tutorial's
    # A run from before the flag (its config.json has no d_learning_rate) gave D G's rate.
    assert upgrade({"learning_rate": 2e-4})["d_learning_rate"] is None
    assert Config(**upgrade({"learning_rate": 2e-4})).d_rate == 2e-4


def test_d_width_is_the_conv_pairs_alone(capsys):
    assert parse_config(["--arch", "conv", "--d-width", "64"])[1].d_width == 64
    with pytest.raises(SystemExit) as stop:
        parse_config(["--d-width", "64"])  # the dense pair has no width
    assert stop.value.code == 2
    assert "--d-width: the dense pair has no channel width" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["tutorial", "train_on_batch", "fused"])
def test_ema_follows_g_after_each_g_step(engine, tiny_arrays, tmp_path):
    """--ema m: after one step the average is m * G before + (1 - m) * G after; G trains as without it."""
    settings = dict(kind="cgan", quiet=True, engine=engine, steps_per_call=1, epochs=1,
                    batch_size=32, steps_per_epoch=1)
    before = build_models(Config(**settings)).generator.get_weights()
    train(Config(out=str(tmp_path / "plain"), **settings), arrays=tiny_arrays)
    train(Config(out=str(tmp_path / "ema"), ema=0.75, **settings), arrays=tiny_arrays)
    plain = runs.load_checkpoint(tmp_path / "plain" / "checkpoint.npz")[1]
    saved = runs.load_checkpoint(tmp_path / "ema" / "checkpoint.npz")[1]
    assert "average" not in plain
    for a, b in zip(plain["generator"], saved["generator"], strict=True):
        np.testing.assert_array_equal(a, b)  # G's own training is untouched by averaging
    for average, g0, g1 in zip(saved["average"], before, saved["generator"], strict=True):
        assert not np.allclose(g0, g1)  # the step moved G, so the test can tell them apart
        np.testing.assert_allclose(average, 0.75 * g0 + 0.25 * g1, rtol=1e-5, atol=1e-7)
    average = keras.models.load_model(tmp_path / "ema" / "generator-ema.keras")
    for a, b in zip(average.get_weights(), saved["average"], strict=True):
        np.testing.assert_array_equal(a, b)  # the saved model is the checkpoint's average
    assert runs.unowned(tmp_path / "ema") == []  # part of the layout --overwrite clears
    train(Config(out=str(tmp_path / "ema"), overwrite=True, **settings), arrays=tiny_arrays)
    assert not (tmp_path / "ema" / "generator-ema.keras").exists()  # no stale average left

