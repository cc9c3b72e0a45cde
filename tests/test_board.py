"""TensorBoard: a run's events read back, across a resume, and served by the real server."""

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from conftest import read_events, scalars
from gan_tutorials import board, runs
from gan_tutorials.config import Config
from gan_tutorials.launch import free_port
from gan_tutorials.train import train

# The tutorial engine: logging does not depend on the engine, and it compiles fastest.
TINY = dict(kind="cgan", engine="tutorial", batch_size=32, steps_per_epoch=3, quiet=True)
REFERENCE = Path(__file__).parent.parent / "outputs" / "reference"


@pytest.fixture(scope="module")
def resumed_run(tiny_arrays, tmp_path_factory):
    """A tiny run trained for 2 epochs, then resumed to 3: (folder, first rows, all rows)."""
    out = tmp_path_factory.mktemp("board") / "run"
    first = train(Config(out=str(out), epochs=2, **TINY), arrays=tiny_arrays)
    history = train(Config(out=str(out), epochs=3, resume=True, **TINY), arrays=tiny_arrays)
    return out, first, history


def test_training_logs_every_step_and_epoch_across_a_resume(resumed_run):
    out, first, history = resumed_run
    events = read_events(out)
    # Per step, numbered on across the resume: no gap, no duplicate.
    assert [s for s, _ in scalars(events, "step/d_loss")] == list(range(1, 10))
    assert [s for s, _ in scalars(events, "step/g_loss")] == list(range(1, 10))
    for tag in ("d_loss", "g_loss", "seconds"):  # epoch rows at each epoch's last step
        logged = scalars(events, f"epoch/{tag}")
        assert [s for s, _ in logged] == [3, 6, 9]
        np.testing.assert_allclose([v for _, v in logged], [r[tag] for r in history], rtol=1e-6)
    # The epoch mean is the mean of that epoch's logged steps.
    steps = [v for _, v in scalars(events, "step/d_loss")]
    assert np.mean(steps[3:6]) == pytest.approx(history[1]["d_loss"], abs=1e-6)
    assert history[:2] == first
    # The image is the preview grid, pixel for pixel.
    images = events["preview"]
    assert [s for s, _ in images] == [3, 6, 9]
    png = images[-1][1].tensor.string_val[2]  # width, height, then the encoded image
    np.testing.assert_array_equal(tf.io.decode_png(png)[..., 0],
                                  iio.imread(runs.sample_path(out, 3)))
    assert [s for s, _ in events["config"]] == [0]  # written once, not again on resume
    assert "_hparams_/session_start_info" in events


def test_resume_drops_what_an_interrupted_epoch_logged(resumed_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(board.log_folder(resumed_run[0]), board.log_folder(out))
    board.drop_events_after(board.log_folder(out), 6)  # as a resume from epoch 2 does
    events = read_events(out)
    assert [s for s, _ in scalars(events, "step/d_loss")] == list(range(1, 7))
    assert [s for s, _ in events["preview"]] == [3, 6]


def test_rebuild_from_history_and_frames(tmp_path):
    """The reference runs' logs come from history.csv and key frames, without training."""
    folder = tmp_path / "cgan"
    for name in ("config.json", "history.csv", "samples"):
        source = REFERENCE / "cgan" / name
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            (folder / name).mkdir()
            for frame in source.iterdir():
                (folder / name / frame.name).write_bytes(frame.read_bytes())
        else:
            (folder / name).write_bytes(source.read_bytes())
    assert board.rebuild(folder) == 100
    events = read_events(folder)
    history = runs.read_history(folder / "history.csv")
    logged = scalars(events, "epoch/g_loss")
    assert [s for s, _ in logged] == [r["epoch"] * 468 for r in history]
    np.testing.assert_allclose([v for _, v in logged], [r["g_loss"] for r in history], rtol=1e-6)
    judged = [r["epoch"] for r in history if r.get("accuracy") is not None]
    assert [s // 468 for s, _ in scalars(events, "epoch/accuracy")] == judged
    frames = sorted(int(p.stem[6:]) for p in (folder / "samples").glob("epoch_*.png"))
    assert [s // 468 for s, _ in events["preview"]] == [e for e in frames if e > 0]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@pytest.mark.slow
def test_real_tensorboard_serves_a_run(resumed_run):
    out = resumed_run[0]
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(out.parent),
         "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, run = f"http://127.0.0.1:{port}/data/plugin", "run/logs"  # runs are named by folder
    try:
        deadline, tags = time.monotonic() + 90, {}
        while time.monotonic() < deadline and "step/d_loss" not in tags.get(run, {}):
            time.sleep(1)
            try:
                tags = json.loads(get(f"{base}/scalars/tags"))
            except OSError:  # not listening yet
                continue
        assert {"step/d_loss", "step/g_loss", "epoch/d_loss"} <= set(tags[run]), tags
        query = lambda tag: urllib.parse.urlencode({"run": run, "tag": tag})
        series = json.loads(get(f"{base}/scalars/scalars?{query('step/d_loss')}"))
        assert [step for _, step, _ in series] == list(range(1, 10))
        shown = json.loads(get(f"{base}/images/images?{query('preview')}&sample=0"))
        assert [item["step"] for item in shown] == [3, 6, 9]
        png = get(f"{base}/images/individualImage?{shown[-1]['query']}")
        np.testing.assert_array_equal(iio.imread(png), iio.imread(runs.sample_path(out, 3)))
    finally:
        server.terminate()
        server.wait(timeout=30)
