"""Absolute control: the fit, steering to targets, and every bad request."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi

from gan_tutorials import control, judge, morphometry
from gan_tutorials.control import ATTRIBUTES, TOLERANCE, ControlError, cli
from gan_tutorials.models import draw, load_generator

REFERENCE = Path(__file__).resolve().parents[1] / "outputs" / "reference"


@pytest.fixture(scope="module")
def ctl():
    """The reference cgan with its committed fit: loading it must not refit."""
    generator = load_generator(REFERENCE / "cgan", need_conditional=True)
    loaded = control.load_controller(REFERENCE / "cgan", generator)
    assert loaded is not None, "outputs/reference/cgan/control holds no fit for this generator"
    return loaded


def test_fit_directions_recovers_a_known_linear_world():
    rng = np.random.default_rng(0)
    noise, classes = rng.standard_normal((3000, 20)), rng.integers(0, 3, 3000)
    slopes = rng.standard_normal((6, 20))
    attrs = noise @ slopes.T + 5.0 * classes[:, None] + 0.1 * rng.standard_normal((3000, 6))
    directions, r2, choice = control.fit_directions(noise, classes, attrs, 3)
    assert directions.shape == (3, 6, 20)
    assert np.abs(directions - slopes[None]).max() < 0.05
    assert min(r2["shared"].values()) > 0.99
    assert list(choice) == list(ATTRIBUTES)
    assert set(choice.values()) == {"shared"}  # one slope for all: the shared fit generalises
    # Slopes that differ by class: every attribute's per-class fit explains more.
    own = rng.standard_normal((3, 6, 20))
    attrs = np.einsum("nad,nd->na", own[classes], noise) + 0.1 * rng.standard_normal((3000, 6))
    directions, r2, choice = control.fit_directions(noise, classes, attrs, 3)
    assert set(choice.values()) == {"per_class"}
    assert np.abs(directions - own).max() < 0.1


def test_fit_saves_and_reloads_for_its_generator_only(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(REFERENCE / "cgan" / "generator.keras", run)
    generator = load_generator(run, need_conditional=True)
    fitted = control.fit_controller(generator, per_class=12, epochs=1)
    control.save_controller(run, fitted)
    loaded = control.load_controller(run, generator)
    assert np.array_equal(loaded.pool_noise, fitted.pool_noise)  # regenerated from the seed
    assert loaded.pool_attrs == pytest.approx(fitted.pool_attrs, abs=1e-4)
    assert loaded.fit["direction_r2"] == fitted.fit["direction_r2"]
    fit_json = control.control_dir(run) / "fit.json"
    saved = fit_json.read_text()
    older = saved.replace(f'"measures_version": {morphometry.VERSION}',
                          f'"measures_version": {morphometry.VERSION - 1}')
    assert older != saved
    fit_json.write_text(older)
    assert control.load_controller(run, generator) is None  # other measures: refit
    fit_json.write_text(saved)
    assert control.load_controller(run, generator) is not None
    (run / "generator.keras").write_bytes((run / "generator.keras").read_bytes() + b"\0")
    assert control.load_controller(run, generator) is None  # another generator: refit


def test_the_average_has_its_own_fit_and_is_steered_by_the_cli(tmp_path, capsys):
    """--average: generator-ema.keras's fit lives in RUN_DIR/ema/control/, apart from G's."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(REFERENCE / "cgan" / "config.json", run)
    shutil.copy(REFERENCE / "cgan" / "generator.keras", run)
    shutil.copy(REFERENCE / "conv-cgan" / "generator.keras", run / "generator-ema.keras")  # another G
    average = load_generator(run / "generator-ema.keras", need_conditional=True)
    fitted = control.fit_controller(average, per_class=12, epochs=1)
    control.save_controller(run, fitted, average=True)
    assert (run / "ema" / "control" / "fit.json").exists() and not (run / "control").exists()
    assert control.load_controller(run, average, average=True) is not None
    assert control.load_controller(run, average) is None  # G has no fit yet
    median = float(np.median(fitted.pool_attrs[fitted.pool_class == 7, 0]))
    cli.main([str(run), "--average", "--digit", "7", "--slant", f"{median:.2f}", "--n", "2",
                  "--out", str(tmp_path / "seven")])
    out = capsys.readouterr().out
    assert out.startswith(f"steering the average: {run / 'generator-ema.keras'}")
    assert not (run / "control").exists()  # the saved fit served: nothing refitted for G
    steered = np.load(tmp_path / "seven" / "control.npz")  # drawn by the average, not by G
    np.testing.assert_allclose(control.measure_array(draw(average, steered["noise"], [7, 7]))[:, 0],
                               steered["achieved_slant"], rtol=1e-5)


def test_steer_hits_targets_holds_the_rest_and_stays_in_the_shell(ctl):
    digits = np.repeat(np.arange(10), 3)
    slant = np.array([ctl.percentile(d, q)[0] for d in range(10) for q in (10, 50, 90)])
    steered = control.steer(ctl, digits, {"slant": slant}, hold=("thickness", "height"), seed=3)
    error = steered.error_sd(ctl)  # (30, 6)
    assert np.median(error[:, 0]) < 0.1
    assert np.mean(error[:, [1, 3]]) < 0.1  # leakage into the held attributes
    assert np.mean(np.nanmax(error, 1) <= TOLERANCE) >= 0.9
    assert np.all(np.isnan(error[:, [2, 4, 5]]))  # width, length, area were left free
    assert steered.held[:, 1].all() and not steered.held[:, 0].any()
    low, high = chi.ppf(control.SHELL, steered.noise.shape[1])
    norms = np.linalg.norm(steered.noise, axis=1)
    assert np.all((norms >= low - 1e-3) & (norms <= high + 1e-3))
    # the achieved numbers are the measures of the returned images, not a model's guess
    assert control.measure_array(steered.images) == pytest.approx(steered.achieved, abs=1e-6)


def test_different_starts_give_different_digits(ctl):
    steered = control.steer(ctl, [7] * 6, {"slant": 10.0, "thickness": 2.5}, seed=1)
    assert len({image.tobytes() for image in steered.images}) == 6


@pytest.mark.parametrize("targets, hold, digits, message", [
    ({"curl": 1.0}, (), [7], "unknown attribute 'curl'"),
    ({"slant": 5.0}, ("slant",), [7], "both a target and held"),
    ({"slant": 5.0}, (), [10], "digits go from 0 to 9"),
    ({"thickness": 9.0}, (), [7], "out of reach for digit 7: this generator draws"),
    ({"height": 1.0}, ("slant",), [3], "out of reach for digit 3"),
])
def test_bad_requests_are_refused(ctl, targets, hold, digits, message):
    with pytest.raises(ControlError, match=message):
        control.steer(ctl, digits, targets, hold)


@pytest.mark.parametrize("argv, message", [
    (["--digit", "7", "--out", "x"], "name at least one target"),
    (["--digit", "7", "--slant", "abc", "--out", "x"], "invalid finite value"),
    (["--digit", "7", "--slant", "nan", "--out", "x"], "is not a finite number"),
    (["--digit", "7", "--curl", "3", "--out", "x"], "unrecognized arguments"),
    (["--digit", "7", "--hold", "curl", "--slant", "3", "--out", "x"], "invalid choice"),
    (["--digit", "7", "--n", "0", "--slant", "3", "--out", "x"], "must be >= 1"),
    (["--digit", "7", "--sweep", "slant", "--out", "x"], "--sweep needs --from and --to"),
    (["--slant", "3"], "a request needs --digit and --out"),
    (["--digit", "7", "--thickness", "9", "--out", "x"], "out of reach for digit 7"),
    (["--digit", "7", "--slant", "3", "--hold", "slant", "--out", "x"], "both a target and held"),
])
def test_cli_refuses_with_exit_2_and_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(REFERENCE / "cgan"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert message in err[-1] and err[-1].startswith("python -m gan_tutorials.control")


def test_cli_refuses_an_unconditional_generator(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(REFERENCE / "gan"), "--digit", "7", "--slant", "3", "--out", "x"])
    assert exit_.value.code == 2
    assert "unconditional" in capsys.readouterr().err


def test_cli_refuses_a_fashion_run(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(REFERENCE / "fashion-cgan"), "--digit", "7", "--slant", "3", "--out", "x"])
    assert exit_.value.code == 2
    assert "is a fashion_mnist run" in capsys.readouterr().err


def test_cli_request_and_sweep_write_what_they_promise(tmp_path, capsys):
    run = str(REFERENCE / "cgan")
    cli.main([run, "--digit", "7", "--slant", "15", "--thickness", "3.0", "--hold", "height",
                  "--n", "5", "--out", str(tmp_path / "req")])
    saved = np.load(tmp_path / "req" / "control.npz")
    assert saved["images"].shape == (5, 28, 28) and saved["images"].dtype == np.uint8
    assert saved["images"][:, 0, 0].max() < 30 and saved["images"].max() > 200  # ink is bright
    assert set(saved) >= {f"{kind}_{a}" for kind in ("requested", "achieved")
                          for a in ("slant", "thickness", "height")}
    assert np.median(np.abs(saved["achieved_slant"] - 15)) < 1.0
    assert (tmp_path / "req" / "grid.png").is_file()
    cli.main([run, "--digit", "4", "--sweep", "thickness", "--from", "2", "--to", "3.5",
                  "--n", "6", "--out", str(tmp_path / "sweep")])
    swept = np.load(tmp_path / "sweep" / "control.npz")
    assert swept["requested_thickness"] == pytest.approx(np.linspace(2, 3.5, 6))
    assert np.all(np.diff(swept["achieved_thickness"]) > 0)  # the sweep goes the asked way
    assert {"sweep.gif", "sweep.png"} <= {p.name for p in (tmp_path / "sweep").iterdir()}


def test_more_digits_than_the_near_pool_holds_are_all_distinct(ctl):
    """Asking for more digits than the pool holds near the target still gives distinct ones."""
    digits, targets = [3] * 300, {"slant": 10.0, "thickness": 2.8}
    requested = np.full((1, len(ATTRIBUTES)), np.nan)
    requested[0, :2] = [targets["slant"], targets["thickness"]]
    gap = np.abs(ctl.pool_attrs[ctl.pool_class == 3] - requested) / ctl.sd([3])
    near = int((np.nanmax(gap, 1) <= TOLERANCE).sum())
    assert near < len(digits)  # the request outgrows the near pool
    steered = control.steer(ctl, digits, targets, seed=0)
    assert len(np.unique(steered.noise, axis=0)) == len(digits)
    assert len({image.tobytes() for image in steered.images}) == len(digits)
    # the farther starts are corrected: most requests still land within tolerance
    assert np.mean(np.nanmax(steered.error_sd(ctl), 1) <= TOLERANCE) >= 0.8


@pytest.fixture(scope="module")
def tiny_ctl(tmp_path_factory):
    """A fit of the reference generator on 30 digits per class and one surrogate epoch."""
    generator = load_generator(REFERENCE / "cgan", need_conditional=True)
    return control.fit_controller(generator, per_class=30, epochs=1)


def test_report_numbers_follow_from_its_requests(tiny_ctl):
    """Every count and rate the report writes is recomputed here from the requests it made."""
    mnist_judge = judge.get_judge("mnist")
    numbers, arrays = control.control_report(tiny_ctl, mnist_judge, starts=1, joint_per_digit=1,
                                             levels=np.array([25.0, 75.0]), outside=(2.5,))
    band = arrays["band", "steer"]
    # 4 reported measures x 10 digits x 2 levels x 1 start, plus up to 1 joint request per digit
    singles = 4 * 10 * 2
    assert singles < len(band["digits"]) <= singles + 10
    assert len(arrays["extrapolation", "steer"]["digits"]) == 4 * 10 * 1  # 1 outside level
    for where in ("band", "extrapolation"):
        for method in ("steer", "article"):
            stack, result = arrays[where, method], numbers[where][method]
            assert result["requests"] == len(stack["digits"])
            # the same requests are served by both methods
            assert np.array_equal(stack["digits"], arrays[where, "steer"]["digits"])
            assert np.array_equal(stack["requested"], arrays[where, "steer"]["requested"],
                                  equal_nan=True)
            error = np.abs(stack["achieved"] - stack["requested"]) / tiny_ctl.sd(stack["digits"])
            within = np.nanmax(error, 1) <= TOLERANCE
            probs = mnist_judge.predict(stack["images"], verbose=0)
            probs = probs[0] if isinstance(probs, list) else probs
            right = probs.argmax(1) == stack["digits"]
            assert result["judge_accuracy"] == pytest.approx(right.mean(), abs=1e-4)
            assert result["success"] == pytest.approx((within & right).mean(), abs=1e-4)
            slant = ~np.isnan(stack["requested"][:, 0]) & ~stack["held"][:, 0]
            assert result["attributes"]["slant"]["requests"] == slant.sum()
            assert result["attributes"]["slant"]["median_sd"] == pytest.approx(
                np.median(error[slant, 0]), abs=1e-4)
    # the achieved numbers are measures of the returned images
    assert control.measure_array(band["images"]) == pytest.approx(band["achieved"], abs=1e-6)
    assert numbers["levels"] == [25.0, 75.0] and numbers["outside_levels"] == [2.5]


def test_a_conv_run_is_steered_as_a_dense_one():
    """outputs/reference/conv-cgan: its committed fit loads, and steering meets targets."""
    generator = load_generator(REFERENCE / "conv-cgan", need_conditional=True)
    assert generator.name == "conditional_conv_generator"
    loaded = control.load_controller(REFERENCE / "conv-cgan", generator)
    assert loaded is not None, "outputs/reference/conv-cgan/control holds no fit for it"
    digits = np.repeat(np.arange(10), 2)
    slant = np.array([loaded.percentile(d, q)[0] for d in range(10) for q in (25, 75)])
    steered = control.steer(loaded, digits, {"slant": slant}, hold=("thickness",), seed=5)
    error = steered.error_sd(loaded)
    assert np.median(error[:, 0]) < 0.1 and np.mean(error[:, 1]) < 0.15
    assert np.mean(np.nanmax(error, 1) <= TOLERANCE) >= 0.8
