"""Several processes: one run over two JAX processes on localhost, as two devices of one train it.

JAX's distributed runtime must start before anything touches a device, once
per process, so a pytest process cannot host it: every multi-process run here
is a child (`python -m gan_tutorials.launch`, or two `train`s started by
hand), compared with a child training on two virtual devices of one process.
Only the refusals that come before any device run in this process.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import REPO
from gan_tutorials import launch, runs
from gan_tutorials.config import Config
from gan_tutorials.parallel import ENV
from gan_tutorials.train import RunError, train
from test_parallel import LOSS_TOL, TWO, WEIGHT_TOL

TINY = ["--kind", "cgan", "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "32",
        "--steps-per-call", "3", "--quiet"]
LOST_WITHIN = 30  # seconds: a process whose peer died exits within this (measured: about 1)


def jax_env(tmp, **extra):
    """A child's environment on JAX: no inherited XLA_FLAGS or Keras process variables."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS" and k not in ENV}
    env.update(KERAS_BACKEND="jax", TMPDIR=str(tmp), **extra)
    return env


def action(args, env, timeout=600):
    """Run `python -m gan_tutorials.ARGS[0] ARGS[1:]` to its end."""
    return subprocess.run([sys.executable, "-m", f"gan_tutorials.{args[0]}", *args[1:]], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def said(result):
    return f"code {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def errors(text):
    """The package's own error lines in a child's stderr (TF and XLA log their own too)."""
    return [line for line in text.splitlines() if "gan_tutorials.train: error" in line]


def checkpoint(out):
    return runs.load_checkpoint(Path(out) / "checkpoint.npz")[1]


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--engine", "train_on_batch"], ["--engine", "fused"],
                                   ["--engine", "fused", "--arch", "conv"]],
                         ids=["cgan-train_on_batch", "cgan-fused", "conv-cgan-fused"])
def test_two_processes_train_as_two_devices_do(flags, tmp_path):
    pytest.importorskip("jax")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    procs = action(["launch", "--processes", "2", "--", "train", *TINY, *flags, "--devices", "all",
                    "--out", str(tmp_path / "processes")], jax_env(scratch))
    devices = action(["train", *TINY, *flags, "--devices", "2", "--out", str(tmp_path / "devices")],
                     jax_env(scratch, XLA_FLAGS=TWO))
    assert procs.returncode == 0, said(procs)
    assert devices.returncode == 0, said(devices)
    # Both processes trained every epoch, on the same losses; process 0 wrote the folder,
    # process 1 a scratch one that is gone.
    for index in (0, 1):
        assert f"[{index}] epoch 2/2" in procs.stdout, said(procs)
    assert list(scratch.glob("gan-process-*")) == []
    one = runs.read_history(tmp_path / "processes" / "history.csv")
    two = runs.read_history(tmp_path / "devices" / "history.csv")
    assert [r["epoch"] for r in one] == [1, 2]
    for a, b in zip(one, two):
        assert (a["d_loss"], a["g_loss"]) == pytest.approx((b["d_loss"], b["g_loss"]),
                                                            abs=LOSS_TOL)
    a, b = checkpoint(tmp_path / "processes"), checkpoint(tmp_path / "devices")
    for group in ("generator", "discriminator", "g_optimizer", "d_optimizer", "rng"):
        for x, y in zip(a[group], b[group], strict=True):
            np.testing.assert_allclose(x, y, atol=WEIGHT_TOL)


@pytest.mark.slow
def test_a_lost_process_ends_the_run_and_one_process_resumes_it(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "run"
    address = f"127.0.0.1:{launch.free_port()}"
    long_run = [*TINY[:2], "--epochs", "500", *TINY[4:], "--devices", "all", "--out", str(out)]
    logs = [tmp_path / f"process-{index}.err" for index in (0, 1)]
    children = [subprocess.Popen(
        [sys.executable, "-m", "gan_tutorials.train", *long_run], cwd=REPO,
        env=jax_env(tmp_path, **dict(zip(ENV, (address, "2", str(index))))),
        stdout=subprocess.DEVNULL, stderr=log.open("w")) for index, log in enumerate(logs)]
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.npz").exists():
            assert time.monotonic() < deadline and children[0].poll() is None, "no checkpoint"
            time.sleep(0.2)
        children[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        children[0].wait(timeout=LOST_WITHIN)
        took = time.monotonic() - killed
    finally:
        for child in children:
            child.kill()
    stderr = logs[0].read_text()
    assert children[0].returncode == 1, stderr[-3000:]
    assert took < LOST_WITHIN
    assert any("process 0 of 2 lost process 1" in line for line in errors(stderr)), stderr[-3000:]
    epoch, groups = runs.load_checkpoint(out / "checkpoint.npz")  # the last checkpoint loads
    assert epoch >= 1 and groups["generator"]
    resumed = action(["train", *long_run, "--epochs", str(epoch + 1), "--resume"],
                     jax_env(tmp_path))
    assert resumed.returncode == 0, said(resumed)
    assert runs.read_history(out / "history.csv")[-1]["epoch"] == epoch + 1


@pytest.mark.slow
def test_an_unreachable_coordinator_is_one_line_within_the_timeout(tmp_path):
    pytest.importorskip("jax")
    start = time.monotonic()
    result = action(["train", *TINY, "--out", str(tmp_path / "run"), "--coordinator",
                     f"127.0.0.1:{launch.free_port()}", "--processes", "2", "--process-id", "1",
                     "--join-timeout", "3"], jax_env(tmp_path), timeout=120)
    assert result.returncode == 2, said(result)
    assert time.monotonic() - start < 60  # the import, then 3 s: no hang
    [line] = errors(result.stderr)
    assert "process 1 of 2: not every process joined through 127.0.0.1:" in line
    assert "within 3 s" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_process_id_out_of_range_is_refused_before_any_device(tiny_arrays, tmp_path):
    config = Config(epochs=1, processes=2, process_id=2, coordinator="127.0.0.1:1",
                    out=str(tmp_path / "run"))
    with pytest.raises(RunError, match=r"--process-id 2 is out of range for --processes 2 "
                                       r"\(0 to 1\)"):
        train(config, arrays=tiny_arrays)
    assert not (tmp_path / "run").exists()


def test_tensorflow_refuses_several_processes(tiny_arrays, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow backend's refusal")
    config = Config(epochs=1, processes=2, process_id=0, coordinator="127.0.0.1:1",
                    out=str(tmp_path / "run"))
    with pytest.raises(RunError, match="--processes 2: a run over several processes needs "
                                       "KERAS_BACKEND=jax"):
        train(config, arrays=tiny_arrays)


def test_processes_need_a_coordinator(tiny_arrays, tmp_path, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV[1], "2")  # the count from Keras's variable, no address anywhere
    with pytest.raises(RunError, match="--processes 2 needs --coordinator HOST:PORT"):
        train(Config(epochs=1, out=str(tmp_path / "run")), arrays=tiny_arrays)


def test_the_launcher_stops_the_others_at_the_first_failure(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    failing = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    start = time.monotonic()
    assert launch.wait_all([sleeper, failing]) == 3
    assert sleeper.poll() == -signal.SIGTERM  # stopped, not left running
    assert time.monotonic() - start < launch.GRACE


def test_the_launcher_sets_kerass_variables_and_drops_xla_flags():
    env = launch.child_env(1, 2, "127.0.0.1:1234", base={"XLA_FLAGS": TWO, "PATH": "/bin"})
    assert [env[name] for name in ENV] == ["127.0.0.1:1234", "2", "1"]
    assert env["KERAS_BACKEND"] == "jax" and "XLA_FLAGS" not in env and env["PATH"] == "/bin"
    kept = launch.child_env(0, 2, "h:1", keep_xla_flags=True,
                            base={"XLA_FLAGS": TWO, "KERAS_BACKEND": "tensorflow"})
    assert kept["XLA_FLAGS"] == TWO and kept["KERAS_BACKEND"] == "tensorflow"


def test_the_launcher_runs_train_only(capsys):
    with pytest.raises(SystemExit) as exit_:
        launch.main(["--processes", "2", "--", "study", "--kind", "gan"])
    assert exit_.value.code == 2
    assert "the action that runs over several processes is train" in capsys.readouterr().err
