"""The studio's computations, tab by tab, on small real run folders (fast tier).

The page itself is driven through a real server and a real browser in
test_studio_server.py (slow tier).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tree_digest
from gan_tutorials import control, figures, latent
from gan_tutorials.config import Config
from gan_tutorials.control.steering import REACH
from gan_tutorials.judge import load_pinned
from gan_tutorials.models import draw, load_generator
from gan_tutorials.studio import shelf as studio_shelf
from gan_tutorials.studio import tabs
from gan_tutorials.studio.shelf import Shelf, StudioError
from gan_tutorials.train import train

REFERENCE = Path(__file__).resolve().parents[1] / "outputs" / "reference"
REQUEST = {"digit": 7, "targets": {}, "n": 4, "seed": 3}


def copy_run(source, target, names=("config.json", "generator.keras", "metrics.json", "history.csv")):
    target.mkdir()
    for name in names:
        shutil.copy(source / name, target / name)
    return target


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_arrays):
    """cgan: the reference generator with a small control fit; gan: a tiny trained generator;
    bare: a cgan without a fit; fashion: a Fashion-MNIST cgan."""
    root = tmp_path_factory.mktemp("studio")
    cgan = copy_run(REFERENCE / "cgan", root / "cgan")
    ctl = control.fit_controller(load_generator(cgan, need_conditional=True), per_class=30, epochs=1)
    control.save_controller(cgan, ctl)
    train(Config(kind="gan", engine="tutorial", epochs=1, batch_size=32, steps_per_epoch=2,
                 out=str(root / "gan"), quiet=True), arrays=tiny_arrays, callbacks=[])
    copy_run(REFERENCE / "cgan", root / "bare", ("config.json", "generator.keras"))
    copy_run(REFERENCE / "fashion-cgan", root / "fashion")
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="module")
def shelf(folders):
    return Shelf([folders[n] for n in ("cgan", "gan", "bare", "fashion")])


def test_shelf_says_why_control_is_off_and_how_to_turn_it_on(shelf, folders):
    assert shelf.names(studio_shelf.steerable) == ["cgan"]
    assert "needs a cgan run" in shelf["gan"].control_note
    assert "handwriting" in shelf["fashion"].control_note
    assert f"python -m gan_tutorials.control {folders['bare']} --report" in shelf["bare"].control_note
    with pytest.raises(StudioError, match="Control is off for fashion"):
        tabs.steer_request(shelf["fashion"], None, {**REQUEST, "targets": {"slant": 0.0}})


def test_a_run_that_keeps_its_average_is_served_by_its_average(tmp_path):
    """outputs/reference/fashion-conv-cgan keeps its --ema average (docs/conv.md): the studio
    draws with generator-ema.keras and shows the average's numbers, not G's."""
    source = REFERENCE / "fashion-conv-cgan"
    run = copy_run(source, tmp_path / "run", ("config.json", "generator.keras", "generator-ema.keras",
                                               "metrics.json", "history.csv"))
    shutil.copytree(source / "ema", run / "ema", ignore=shutil.ignore_patterns("eval"))
    served = studio_shelf.open_run(run)
    average = load_generator(run / "generator-ema.keras", spec=served.spec)
    assert served.average
    for mine, theirs in zip(served.generator.weights, average.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert served.summary["accuracy"] == json.loads((run / "ema" / "metrics.json").read_text())["accuracy"]
    shutil.rmtree(run / "ema")  # no average scored: G is kept, and served
    served = studio_shelf.open_run(run)
    assert not served.average
    assert served.summary["accuracy"] == json.loads((run / "metrics.json").read_text())["accuracy"]


def test_requests_name_runs_never_paths(shelf, folders):
    for name in ("../cgan", str(folders["cgan"]), "outputs/reference/cgan"):
        with pytest.raises(StudioError, match="unknown run .*; this studio serves cgan, gan, bare, fashion"):
            shelf[name]
    with pytest.raises(StudioError, match="no run folders"):
        Shelf([])


def test_draw_is_a_function_of_run_class_and_seed(shelf):
    cgan, gan = shelf["cgan"], shelf["gan"]
    one = tabs.draw_grid(cgan, "3", 5)
    assert one.dtype == np.uint8 and np.array_equal(one, tabs.draw_grid(cgan, 3, 5))
    assert not np.array_equal(one, tabs.draw_grid(cgan, "3", 6))
    # "all": a column per class, each the class asked for.
    images, cols = tabs.grid_digits(cgan, "all", 5)
    assert cols == 10 and np.array_equal(one, tabs.grid(*tabs.grid_digits(cgan, "3", 5)))
    judged = load_pinned("mnist")(images, training=False)
    assert np.mean(np.argmax(judged, 1) == np.tile(np.arange(10), tabs.ROWS)) > 0.9
    assert np.array_equal(tabs.draw_grid(gan, "3", 1), tabs.draw_grid(gan, "all", 1))  # no classes
    assert tabs.draw_grid(shelf["fashion"], "Bag", 0).shape == one.shape
    with pytest.raises(StudioError, match="unknown class 'Bag' for cgan; choose from 0, 1"):
        tabs.draw_grid(cgan, "Bag", 0)


def test_reach_is_the_fits_percentiles_rounded_inward(shelf):
    ctl = shelf["cgan"].control
    reach = tabs.reach(shelf["cgan"], 4)
    low, high = ctl.percentile(4, REACH[0]), ctl.percentile(4, REACH[1])
    for j, name in enumerate(control.ATTRIBUTES):
        lo, hi, median = reach[name]
        assert low[j] <= lo < low[j] + 0.01 and high[j] - 0.01 < hi <= high[j]
        assert lo == round(lo, 2) and hi == round(hi, 2) and lo <= median <= hi
        assert all(type(v) is float for v in (lo, hi, median))  # numpy scalars reach the page as text


def test_a_steered_request_reports_what_its_digits_measure(shelf):
    """The table, the summary and the .npz all describe the digits returned, re-measured here."""
    run = shelf["cgan"]
    reach = tabs.reach(run, 7)
    targets = {"slant": reach["slant"][2] + 5, "thickness": reach["thickness"][2]}
    request = {**REQUEST, "targets": targets, "hold": ["height"]}
    result = tabs.steer_request(run, shelf.judge("mnist"), request)
    measured = control.measure_array(result["images"])
    np.testing.assert_allclose(result["achieved"], measured, rtol=1e-6)
    sd = run.control.sd([7] * 4)
    for j, name in enumerate(control.ATTRIBUTES):
        asked = result["requested"][:, j]
        if name in targets:
            assert np.all(asked == targets[name])
        elif name == "height":  # held at the starting noise's own value
            start = control.measure_array(draw(run.generator, tabs.seeded_noise(3, 4, 100), [7] * 4))
            np.testing.assert_allclose(asked, start[:, j], rtol=1e-6)
        else:
            assert np.all(np.isnan(asked))
    np.testing.assert_allclose(result["misses"], np.abs(measured - result["requested"]) / sd)
    header, rows = tabs.result_rows(result, run.spec.class_names)
    assert header[3:6] == ["slant requested", "slant achieved", "slant miss SD"]
    assert [h.split()[0] for h in header[3::3]] == list(control.ATTRIBUTES)
    assert len(rows) == 4 and all(len(r) == len(header) for r in rows)
    assert rows[0][header.index("width requested")] == ""  # free: nothing asked
    assert rows[0][header.index("slant achieved")] == round(float(measured[0, 0]), 2)
    judged = np.argmax(shelf.judge("mnist")(result["images"], training=False), 1)
    assert [r[1] for r in rows] == [str(d) for d in judged]
    summary = tabs.result_summary(result, 7, run.spec.class_names, targets)
    met = int((tabs.worst(result["misses"]) <= 0.25).sum())
    assert summary.startswith(f"**{met} of 4** within 0.25 SD") and "the judge reads" in summary
    saved = np.load(tabs.request_file(run, request, result))
    assert saved["images"].shape == (4, 28, 28) and saved["images"].min() >= -1 and saved["images"].max() <= 1
    np.testing.assert_allclose(control.measure_array(saved["images"][..., None]), saved["achieved"],
                               rtol=1e-6)
    assert list(saved["attributes"]) == list(control.ATTRIBUTES) and int(saved["digit"]) == 7
    # The article's answer to the same request is one of its scaled category vectors.
    candidates = run.article(7)[7][1]
    assert all(any(np.allclose(a, c) for c in candidates) for a in result["article"]["achieved"])


def test_bad_requests_get_messages_naming_the_reach(shelf):
    run = shelf["cgan"]
    with pytest.raises(StudioError, match=r"slant 90 is out of reach for digit 1: this generator draws "
                                          r"-?\d+\.\d\d to \d+\.\d\d deg \(its 1st-99th percentiles\)"):
        tabs.steer_request(run, None, {**REQUEST, "digit": 1, "targets": {"slant": 90}})
    with pytest.raises(StudioError, match="unknown class 12"):
        tabs.preview(run, {**REQUEST, "digit": 12, "targets": {"slant": 0}})
    with pytest.raises(StudioError, match="targets must be numbers; got {'slant': None}"):
        tabs.steer_request(run, None, {**REQUEST, "targets": {"slant": None}})  # an empty field
    with pytest.raises(StudioError, match="unknown attribute 'tilt'"):
        tabs.steer_request(run, None, {**REQUEST, "targets": {"tilt": 1.0}})


def test_the_preview_is_the_pools_nearest_digits(shelf):
    """While dragging: pooled digits nearer the target than the pool's typical digit, drawn once."""
    run = shelf["cgan"]
    ctl, j = run.control, control.ATTRIBUTES.index("slant")
    target = tabs.reach(run, 2)["slant"][1] - 1  # near the top of the reach
    images, requested = tabs.preview(run, {**REQUEST, "digit": 2, "targets": {"slant": target}})
    assert images.shape == (4, 28, 28, 1) and np.all(requested[:, j] == target)
    pool = ctl.pool_attrs[ctl.pool_class == 2, j]
    assert np.median(np.abs(control.measure_array(images)[:, j] - target)) < np.median(np.abs(pool - target))


def test_explore_computes_the_tutorials_step_four(shelf):
    run = shelf["cgan"]
    image, shares = tabs.feature_grid(run, 0)
    assert image.shape == figures.tile(np.zeros((100, 28, 28, 1)), 10, 10, scale=tabs.SCALE).shape
    assert set(shares) == {"slant", "thickness"} and all(0 <= v <= 1 for v in shares.values())
    vectors = tabs.category_vectors(run)
    assert vectors.keys() == set(latent.CATEGORIES)
    assert tabs.categories(run).shape == figures.tile(np.zeros((12, 28, 28, 1)), 4, 3, scale=tabs.SCALE).shape
    zero, _ = tabs.scaled_vector(run, "thick_slanted", 0.0)  # scaled by 0: the zero noise
    expected = latent.render(run.generator, np.zeros((1, 100)), latent.TUTORIAL_DIGITS)
    assert np.array_equal(zero, tabs.grid(expected[0], 3))
    # The thick-slanted vector, scaled up, draws digits that lean further than scaled down.
    _, up = tabs.scaled_vector(run, "thick_slanted", 2.0)
    _, down = tabs.scaled_vector(run, "thick_slanted", -2.0)
    assert up["slant"] > down["slant"]
    summed, style = tabs.added_vectors(run, "thick_straight", "thin_slanted")
    total = vectors["thick_straight"] + vectors["thin_slanted"]
    third = latent.render(run.generator, total[None], latent.TUTORIAL_DIGITS)[0]
    rows = tabs.grid(latent.render(run.generator, np.stack(
        [vectors["thick_straight"], vectors["thin_slanted"], total]), latent.TUTORIAL_DIGITS).reshape(
        -1, 28, 28, 1), 3)
    assert np.array_equal(summed, rows) and style == pytest.approx(
        {k: round(float(v.mean()), 2) for k, v in latent.style(third).items()})
    noise = tabs.morph_noise(run, 1, 2)  # from noise a to noise b, at the prior's typical length
    np.testing.assert_allclose(noise[[0, -1]], np.concatenate(
        [tabs.seeded_noise(1, 1, 100), tabs.seeded_noise(2, 1, 100)]), atol=1e-5)
    norms = np.linalg.norm(noise, axis=1)
    assert norms.min() > 0.95 * min(norms[0], norms[-1])
    assert np.array_equal(tabs.morph(run, 1, 2, "5"), tabs.grid(draw(run.generator, noise, [5] * len(noise)),
                                                                  tabs.MORPH_STEPS))
    with pytest.raises(StudioError, match="unknown category"):
        tabs.scaled_vector(run, "bold", 1.0)


def test_explore_works_without_a_control_fit(shelf):
    """A run without a fit (here Fashion-MNIST) sorts its own sample into the categories."""
    run = shelf["fashion"]
    assert tabs.categories(run).shape[0] == tabs.categories(shelf["cgan"]).shape[0]
    assert set(tabs.category_vectors(run)) == set(latent.CATEGORIES)
    image, shares = tabs.feature_grid(shelf["gan"], 0)  # unconditional: samples, no shares
    assert image.dtype == np.uint8 and shares == {}


def test_runs_tab_reads_the_folders(shelf, folders):
    table = tabs.runs_table(shelf)
    assert table.splitlines()[0] == "| | cgan | fashion |"
    assert "99.61%" in table  # the reference cgan's metrics.json, as compare writes it
    for name in ("gan", "bare"):
        assert f"- {name}: not evaluated yet (`python -m gan_tutorials.evaluate {folders[name]}`)" in table
    fig = tabs.quality_figure(shelf)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2  # cgan and fashion have curves


def test_the_studio_never_writes_into_a_run_folder(folders):
    before = {name: tree_digest(path) for name, path in folders.items()}
    shelf = Shelf(list(folders.values()))
    shelf.warm().join(timeout=300)  # the article's candidates, every digit, drawn ahead
    assert {key for key in shelf["cgan"].cache} == {("article", d) for d in range(10)}
    for run in shelf.runs.values():
        tabs.draw_grid(run, "all", 0)
        tabs.categories(run)
        if run.control is not None:
            tabs.steer_request(run, shelf.judge("mnist"), {**REQUEST, "targets": {"slant": 0.0}})
    tabs.runs_table(shelf)
    assert {name: tree_digest(path) for name, path in folders.items()} == before


def test_the_page_names_its_endpoints(shelf):
    gr = pytest.importorskip("gradio")
    from gan_tutorials.studio.page import build
    page = build(None, shelf=shelf, warm=False)
    assert isinstance(page, gr.Blocks)
    endpoints = page.get_api_info()["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/steer"]["parameters"]] == [
        "run", "digit", "slant", "thickness", "height"]
    assert [p["parameter_name"] for p in endpoints["/draw"]["parameters"]] == ["run", "label", "seed"]
    assert "/preview" in endpoints


def test_without_gradio_the_command_says_how_to_install_it():
    code = ("import sys; sys.modules['gradio'] = None\n"
            "from gan_tutorials.studio.cli import main; main([])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        'python -m gan_tutorials.studio: the studio needs Gradio: pip install "gan_tutorials[studio]" '
        "(or make studio)")


def test_the_package_and_the_tabs_never_import_gradio():
    code = ("import sys, gan_tutorials, gan_tutorials.studio.tabs, gan_tutorials.studio.cli\n"
            "assert 'gradio' not in sys.modules, 'gradio imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_timing_scores_and_tabulates_what_it_measured(shelf):
    """studio.timing's pieces on known inputs: a steered answer's share met, /proc memory, the table."""
    from gan_tutorials.studio import timing
    run = shelf["cgan"]
    images = draw(run.generator, tabs.seeded_noise(0, 3, 100), [7] * 3)
    measured = control.measure_array(images)
    j = control.ATTRIBUTES.index("slant")
    sd = run.control.sd([7])[0, j]
    targets = {"slant": float(measured[0, j])}  # met by the first digit, by construction
    met = timing.within(run.control, {"images": images[..., 0]}, 7, targets)
    assert met[0] and met[1:] == [abs(measured[i, j] - targets["slant"]) <= 0.25 * sd for i in (1, 2)]
    rss, peak = timing.memory_mb(os.getpid())
    assert 50 < rss <= peak
    results = {"digits": 8, "steered": "conv-cgan", "served": ["a", "b"], "met": 0.99, "met_of": 160,
               "cold_start_s": 12.3, "rss_mb": 1024, "peak_rss_mb": 1536,
               **{k: {"median_s": 0.5, "p95_s": 0.9, "count": 20} for k in
                  ("steer_client", "steer_compute", "preview_client", "preview_compute")}}
    table = timing.table({"results": results})
    assert "| release -> steered digits, as a client waits | 0.50 s | 0.90 s | 20 |" in table
    assert "99.0% lie within 0.25 SD" in table and "1.00 GB resident (1.50 GB at its peak)" in table


def test_the_studio_opens_on_the_reference_run_that_steers_best():
    """Every tab lists the runs best first: conv-cgan meets 98.2% of requests, cgan 95.7%."""
    reference = Shelf(studio_shelf.reference_folders(REFERENCE))
    successes = {n: studio_shelf.control_success(reference[n]) for n in reference.names()}
    assert reference.names()[0] == reference.names(studio_shelf.steerable)[0] == "conv-cgan"
    steering = [s for s in successes.values() if s is not None]
    assert steering == sorted(steering, reverse=True) and len(steering) >= 2
    assert all(s is None for s in list(successes.values())[len(steering):])  # steerable first
