"""Every Keras 3 backend: the backend-neutral tests again, on JAX, in a subprocess.

Keras fixes its backend at import, so these run in a child with
KERAS_BACKEND=jax: the freezing semantics (which weights each half-step
moves), the fused JAX engine landing where JAX's train_on_batch does from the
same draws, a smoke run writing every file, exact resume, steering a digit
(the surrogate's Jacobian by jax.jacrev), and bench timing JAX's engines.
"""

import os
from pathlib import Path

import pytest

from conftest import child_log, child_pytest
from gan_tutorials import runs
from gan_tutorials.config import Config
from gan_tutorials.train import RunError, train

TESTS = Path(__file__).parent
# The tutorial engine differs from train_on_batch only in predict(), and the
# cross-engine resume is covered by the two below it: left out to save a minute.
ON_JAX = [
    "test_steps.py::test_each_half_step_moves_only_its_model[gan-train_on_batch-dense]",
    "test_steps.py::test_each_half_step_moves_only_its_model[cgan-train_on_batch-dense]",
    "test_steps.py::test_each_half_step_moves_only_its_model[cgan-train_on_batch-conv]",
    "test_steps.py::test_engines_agree_from_the_same_seed",
    "test_train.py::test_smoke_run_writes_every_file",
    "test_train.py::test_resume_is_exact[train_on_batch-dense]",
    "test_train.py::test_resume_is_exact[fused-dense]",
    "test_train.py::test_resume_is_exact[fused-conv]",
    "test_train.py::test_ema_follows_g_after_each_g_step[train_on_batch]",
    "test_train.py::test_ema_follows_g_after_each_g_step[fused]",
    "test_train.py::test_two_time_scales_step_d_and_g_at_their_own_rates[fused]",
    "test_levers.py::test_engines_agree_with_each_lever[cgan-all]",
    "test_levers.py::test_engines_agree_with_each_lever[cgan-by-class]",
    "test_levers.py::test_resume_is_exact_with_the_levers[fused-all]",
    "test_levers.py::test_spectral_normalization_known_answers",
    "test_levers.py::test_engines_agree_with_the_projection_d[conv]",
    "test_control.py::test_steer_hits_targets_holds_the_rest_and_stays_in_the_shell",
    "test_bench.py::test_bench_runs_on_a_few_steps",  # times the JAX engines
]


def jax_installed():
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not jax_installed(), reason="jax is not installed (make test-all installs it)")
def test_backend_neutral_tests_pass_on_jax():
    env = dict(os.environ, KERAS_BACKEND="jax")
    outcomes, result = child_pytest([str(TESTS / t) for t in ON_JAX], env, timeout=900)
    assert "keras backend: jax" in result.stdout, child_log(result)
    assert outcomes and set(outcomes.values()) == {"passed"}, (outcomes, child_log(result))
    for test in ON_JAX:  # each one ran, every parametrization of a bare name included
        assert any(k == f"tests/{test}" or k.startswith(f"tests/{test}[") for k in outcomes), test


def test_resume_on_another_backend_is_refused(tiny_arrays, tmp_path):
    """A checkpoint records its backend; its random stream cannot cross to another."""
    out = tmp_path / "run"
    settings = dict(kind="cgan", epochs=1, batch_size=32, steps_per_epoch=2, quiet=True, out=str(out))
    train(Config(**settings), arrays=tiny_arrays)
    assert runs.checkpoint_backend(out / "checkpoint.npz") == "tensorflow"
    with pytest.raises(RunError, match="trained on the tensorflow backend and this is jax"):
        runs.restore(out, {}, backend="jax")
