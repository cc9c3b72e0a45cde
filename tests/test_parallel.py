"""More than one device: data-parallel training through Keras 3's distribution API.

The tests that need several devices run in a child with KERAS_BACKEND=jax and
XLA_FLAGS=--xla_force_host_platform_device_count=2 (two virtual CPU devices);
in any other process they skip.
"""

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import child_log, child_pytest
from gan_tutorials import bench, parallel, runs
from gan_tutorials.config import ENGINES, Config
from gan_tutorials.steps import build_models, make_step
from gan_tutorials.train import RunError, main, train

TWO = "--xla_force_host_platform_device_count=2"
on_two_devices = pytest.mark.skipif(
    keras.backend.backend() != "jax" or len(parallel.devices()) < 2,
    reason="needs KERAS_BACKEND=jax and two devices (test_two_devices_in_a_child runs these)")
# Measured on two virtual CPU devices against one, 2 epochs of 8 steps, both engines: the
# losses agree to the 6 decimals history.csv keeps, the weights within 1.1e-6 (a sum split
# in two is rounded in another order). The tolerances leave room for other machines.
LOSS_TOL, WEIGHT_TOL = 1e-5, 1e-4
TINY = dict(kind="cgan", epochs=2, steps_per_epoch=8, batch_size=32, quiet=True)


def checkpoint(out):
    return runs.load_checkpoint(Path(out) / "checkpoint.npz")[1]


@on_two_devices
@pytest.mark.parametrize("engine", ["train_on_batch", "fused"])
def test_two_devices_train_as_one_does(engine, tiny_arrays, tmp_path):
    one = train(Config(**TINY, engine=engine, devices="1", out=str(tmp_path / "one")),
                arrays=tiny_arrays)
    two = train(Config(**TINY, engine=engine, devices="2", out=str(tmp_path / "two")),
                arrays=tiny_arrays)
    for a, b in zip(one, two):
        assert (a["d_loss"], a["g_loss"]) == pytest.approx((b["d_loss"], b["g_loss"]), abs=LOSS_TOL)
    weights_one, weights_two = checkpoint(tmp_path / "one"), checkpoint(tmp_path / "two")
    for group in ("generator", "discriminator"):
        for a, b in zip(weights_one[group], weights_two[group]):
            np.testing.assert_allclose(a, b, atol=WEIGHT_TOL)


@on_two_devices
def test_the_fused_program_is_split_across_the_devices():
    config = Config(kind="cgan", batch_size=32, engine="fused", steps_per_call=1, devices="2")
    distribution = parallel.data_parallel(2)
    with parallel.scope(distribution):
        models = build_models(config)
        step = make_step(config, models)
        rng = np.random.default_rng(0)
        batch = (rng.uniform(-1, 1, (32, 28, 28, 1)).astype("float32"),
                 np.eye(10, dtype="float32")[rng.integers(0, 10, 32)])
        state, batches, draws = step.inputs([batch])
        images = batches[0][0]
        assert len(images.sharding.device_set) == 2
        assert {s.data.shape[0] for s in images.addressable_shards} == {16}  # half each
        assert len(draws[0].noise.sharding.device_set) == 2
        assert len(state[0][0].sharding.device_set) == 2  # weights: on both devices ...
        assert state[0][0].sharding.is_fully_replicated  # ... whole on each
        program = step.traced[0].lower(state, batches, draws).compile().as_text()
        assert "all-reduce" in program  # the two halves' gradients are summed: partitioned


@on_two_devices
@pytest.mark.parametrize("first, then", [("2", "1"), ("1", "2")])
def test_a_checkpoint_resumes_on_another_device_count(first, then, tiny_arrays, tmp_path):
    whole = train(Config(**TINY, engine="fused", devices=first, out=str(tmp_path / "whole")),
                  arrays=tiny_arrays)
    out = str(tmp_path / "split")
    train(Config(**dict(TINY, epochs=1), engine="fused", devices=first, out=out), arrays=tiny_arrays)
    resumed = train(Config(**TINY, engine="fused", devices=then, out=out, resume=True),
                    arrays=tiny_arrays)
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert (resumed[1]["d_loss"], resumed[1]["g_loss"]) == pytest.approx(
        (whole[1]["d_loss"], whole[1]["g_loss"]), abs=LOSS_TOL)


@on_two_devices
@pytest.mark.parametrize("flags, complaint", [
    (["--devices", "3"], "--devices 3: this machine has 2 jax device(s)"),
    (["--devices", "2", "--batch-size", "33"], "--batch-size 33 does not split evenly over 2"),
])
def test_device_errors_are_one_line_on_jax(flags, complaint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--epochs", "1", "--out", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and complaint in err[0]
    assert not (tmp_path / "run").exists()


@on_two_devices
def test_bench_times_two_devices(tmp_path, capsys):
    """One device's timings on JAX are test_jax's (bench on a few steps); here, two devices'."""
    out = tmp_path / "bench.json"
    bench.main(["--kind", "cgan", "--steps", "2", "--repeats", "1", "--warmup", "0",
                "--steps-per-call", "2", "--devices", "2", "--json", str(out)])
    table = capsys.readouterr().out
    results = json.loads(out.read_text())["results"]
    assert [r["devices"] for r in results] == [2]
    assert all(set(r["ms_per_step"]) == set(ENGINES) for r in results)
    assert "| jax (cpu) | 2 | dense | cgan | fused |" in table


def test_tensorflow_trains_on_one_device_and_says_so(tiny_arrays, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow backend's refusal")
    with pytest.raises(RunError, match="data-parallel training runs on the JAX backend; "
                                       "set KERAS_BACKEND=jax"):
        train(Config(**TINY, devices="2", out=str(tmp_path / "run")), arrays=tiny_arrays)
    assert parallel.device_count("all", 128) == 1
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--devices", "2"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_device_count_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--devices", value])
    assert exit_.value.code == 2
    assert "expected a device count >= 1 or 'all'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_devices_in_a_child():
    """The tests above that need two devices, on two virtual CPU devices of JAX."""
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS=TWO)
    outcomes, result = child_pytest(["-k", "not in_a_child", str(Path(__file__))], env,
                                    timeout=1200)
    assert "keras backend: jax" in result.stdout, child_log(result)
    # Every test of this file ran on two devices, and all but the TensorFlow one passed.
    tf_only = "tests/test_parallel.py::test_tensorflow_trains_on_one_device_and_says_so"
    assert outcomes.pop(tf_only, None) == "skipped", (outcomes, child_log(result))
    assert outcomes and set(outcomes.values()) == {"passed"}, (outcomes, child_log(result))
