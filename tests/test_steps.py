"""Tutorial step 2: each update moves exactly the model it should (Keras 3 semantics)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tutorials import config as config_module
from gan_tutorials.config import Config
from gan_tutorials.fused import fused_update
from gan_tutorials.models import create_models
from gan_tutorials.steps import Step, build_models, discriminator_batch, make_step, randoms

N = 16  # a tiny batch: the semantics do not depend on its size


def snapshot(model):
    return [w.numpy().copy() for w in model.weights]


def moved(before, model):
    """Per-variable: did it change since the snapshot?"""
    return [not np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights)]


def tiny_batch(kind, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (N, 28, 28, 1)).astype("float32")
    if kind == "gan":
        return tf.constant(images)
    return tf.constant(images), tf.one_hot(rng.integers(0, 10, N), 10)


def setup(kind, seed=0, **settings):
    config = Config(kind=kind, seed=seed, **settings)
    return config, build_models(config)


@pytest.mark.parametrize("engine", config_module.ENGINES)
def test_every_engine_of_the_one_list_makes_a_step(engine):
    config, models = setup("gan", engine=engine, steps_per_call=3)
    step = make_step(config, models)
    assert isinstance(step, Step) and step.block == (3 if engine == "fused" else 1)
    assert step([tiny_batch("gan", i) for i in range(step.block)]).shape == (step.block, 2)


def test_an_engine_off_the_list_is_refused():
    with pytest.raises(ValueError, match="--engine: invalid choice: 'fast'"):
        Config(engine="fast")


def watched_steps(config, models, kind, steps):
    """Run `steps` steps of the engine, watching its own train_on_batch calls: for each call,
    (d or gan, which G weights it moved, which D weights it moved)."""
    g, d = models.generator, models.discriminator
    seen = []

    def watch(name, call):
        def watched(*args, **kwargs):
            g0, d0 = snapshot(g), snapshot(d)
            loss = call(*args, **kwargs)  # the real Keras call
            seen.append((name, moved(g0, g), moved(d0, d)))
            return loss
        return watched

    d.train_on_batch = watch("d", d.train_on_batch)
    models.gan.train_on_batch = watch("gan", models.gan.train_on_batch)
    step = make_step(config, models)
    for i in range(steps):
        step([tiny_batch(kind, i)])
    return seen


@pytest.mark.parametrize("kind, engine, arch", [
    ("gan", "tutorial", "dense"), ("cgan", "tutorial", "dense"),
    ("gan", "train_on_batch", "dense"), ("cgan", "train_on_batch", "dense"),
    ("gan", "train_on_batch", "conv"), ("cgan", "train_on_batch", "conv")])
def test_each_half_step_moves_only_its_model(kind, engine, arch):
    """Watch the engine's own train_on_batch calls: D's moves only D, the GAN's only G."""
    config, models = setup(kind, engine=engine, arch=arch)
    seen = watched_steps(config, models, kind, 3)  # the toggle must keep working, not just once
    assert [name for name, _, _ in seen] == ["d", "gan"] * 3
    for i, (name, g_moved, d_moved) in enumerate(seen):
        if name == "d":
            assert all(d_moved), f"call {i}: the D update left some D weights unchanged"
            assert not any(g_moved), f"call {i}: the D update changed G"
        else:
            assert all(g_moved), f"call {i}: the G update left some G weights unchanged"
            assert not any(d_moved), f"call {i}: the G update changed D"


def test_tutorial_compile_trick_freezes_d_under_keras3():
    """Documents the trap: freeze-then-compile without toggling never trains D."""
    keras.utils.set_random_seed(0)
    g, d = create_models("gan")
    d.compile(optimizer="adam", loss="binary_crossentropy")
    d.trainable = False  # the tutorial's trick
    gan = keras.Model(g.inputs, d(g(g.inputs)))
    gan.compile(optimizer="adam", loss="binary_crossentropy")
    batch = tiny_batch("gan")
    draws = randoms(Config(), N, tf.random.Generator.from_seed(0))
    d_x, d_y = discriminator_batch(batch, None, g(draws.noise), None), draws.d_targets
    d0 = snapshot(d)
    with pytest.warns(UserWarning, match="trainable weights"):
        d.train_on_batch(d_x, d_y)
    assert not any(moved(d0, d))


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_fused_update_equals_train_on_batch(kind):
    """Same draws, same start: one fused update lands where train_on_batch does."""
    batch = tiny_batch(kind)
    results = []
    for engine in ["train_on_batch", "fused"]:
        config, models = setup(kind, seed=3, engine=engine)
        if engine == "fused":  # the draws the train_on_batch engine makes from the same state
            draws = randoms(config, N, tf.random.Generator.from_seed(config.seed))
            losses = tf.function(fused_update(models), jit_compile=True)(batch, draws)
        else:
            losses = make_step(config, models)([batch])[0]
        results.append((np.array(losses, dtype=float), snapshot(models.generator),
                        snapshot(models.discriminator)))
    (l1, g1, d1), (l2, g2, d2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    for a, b in zip(g1 + d1, g2 + d2):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("engine", ["tutorial", "train_on_batch", "fused"])
def test_no_retracing_per_step(engine):
    """Each engine traces its functions once, then reuses them every step."""
    config, models = setup("cgan", engine=engine, steps_per_call=2)
    traces = {"d": 0, "gan": 0}
    for name, model in (("d", models.discriminator), ("gan", models.gan)):
        # A loss's Python body runs once per trace of the train function it is
        # compiled into (eagerly, once per call): the same loss, counted.
        def counting(y_true, y_pred, name=name):
            traces[name] += 1
            return keras.losses.binary_crossentropy(y_true, y_pred)
        model.compile(optimizer=model.optimizer, loss=counting, jit_compile=model.jit_compile)
    step = make_step(config, models)
    ours = lambda: [f.experimental_get_tracing_count() for f in step.traced]
    block = lambda i: [tiny_batch("cgan", i + j) for j in range(step.block)]
    for _ in range(2):
        step(block(0))
    after_two = (dict(traces), ours())
    for i in range(6):
        step(block(i))
    assert (traces, ours()) == after_two
    # What each engine traces: the fused one never uses Keras's train functions.
    expected = {"tutorial": ({"d": 1, "gan": 1}, []),
                "train_on_batch": ({"d": 1, "gan": 1}, [1]),
                "fused": ({"d": 0, "gan": 0}, [1, 1])}[engine]
    assert after_two == expected


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_engines_agree_from_the_same_seed(kind):
    """Whole engines, draws included: 3 steps in one fused call = 3 train_on_batch steps."""
    batches = [tiny_batch(kind, i) for i in range(3)]
    results = {}
    for engine in ["train_on_batch", "fused"]:
        config, models = setup(kind, seed=3, engine=engine, steps_per_call=3)
        step = make_step(config, models)
        losses = np.concatenate([step(batches[i:i + step.block])
                                 for i in range(0, 3, step.block)])
        results[engine] = (losses, snapshot(models.generator) + snapshot(models.discriminator))
    (l1, w1), (l2, w2) = results.values()
    assert l1.shape == l2.shape == (3, 2)
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(w1, w2)])
    # Adam divides by sqrt(v): a weight whose gradient is ~0 can move by up to
    # the learning rate (1e-4) on rounding alone, so allow a handful of those.
    # Other draws would move nearly every weight differently by ~1e-4.
    assert diff.max() < 1e-4 and (diff > 1e-5).mean() < 1e-4


def test_draws_follow_the_tutorial():
    rng = tf.random.Generator.from_seed(0)
    uniform = randoms(Config(kind="cgan"), 5000, rng)
    notebook = randoms(Config(kind="cgan", label_sampling="notebook"), 5000, rng)
    assert set(np.argmax(uniform.labels, 1)) == set(range(10))
    assert set(np.argmax(notebook.labels, 1)) == set(range(9))  # maxval=9: never a 9
    d_targets = uniform.d_targets.numpy()
    assert d_targets.shape == (10000, 1)
    assert d_targets[:5000].min() >= 0.9 and d_targets[5000:].max() <= 0.1  # soft labels
    assert uniform.g_targets.numpy().min() >= 0.9
    assert uniform.g_noise is uniform.noise  # the cgan reuses D's noise for G
    dense = randoms(Config(kind="gan", noise_dim=7), 64, rng)
    assert dense.labels is None and dense.noise.shape == (64, 7)  # noise_dim from the config
    assert not np.allclose(dense.g_noise, dense.noise)  # the dense GAN draws afresh
