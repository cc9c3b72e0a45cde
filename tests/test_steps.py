"""Tutorial step 2: each update moves exactly the model it should (Keras 3 semantics)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tutorials.models import create_models
from gan_tutorials.steps import (compile_models, draw, draw_for, fused_update, make_step,
                                 plan_batch, train_discriminator, train_generator)

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


def setup(kind, seed=0):
    keras.utils.set_random_seed(seed)
    g, d = create_models(kind)
    return g, d, compile_models(g, d)


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_each_half_step_moves_only_its_model(kind):
    g, d, gan = setup(kind)
    for i in range(3):  # several steps: the toggle must keep working, not just once
        batch = tiny_batch(kind, i)
        d_x, d_y, g_x, g_y = plan_batch(g, batch, draw_for(batch, 100))
        g0, d0 = snapshot(g), snapshot(d)
        train_discriminator(d, d_x, d_y)
        assert all(moved(d0, d)), f"step {i}: the D update left some D weights unchanged"
        assert not any(moved(g0, g)), f"step {i}: the D update changed G"
        g0, d0 = snapshot(g), snapshot(d)
        train_generator(d, gan, g_x, g_y)
        assert all(moved(g0, g)), f"step {i}: the G update left some G weights unchanged"
        assert not any(moved(d0, d)), f"step {i}: the G update changed D"


def test_tutorial_compile_trick_freezes_d_under_keras3():
    """Documents the trap: freeze-then-compile without toggling never trains D."""
    keras.utils.set_random_seed(0)
    g, d = create_models("gan")
    d.compile(optimizer="adam", loss="binary_crossentropy")
    d.trainable = False  # the tutorial's trick
    gan = keras.Model(g.inputs, d(g(g.inputs)))
    gan.compile(optimizer="adam", loss="binary_crossentropy")
    batch = tiny_batch("gan")
    d_x, d_y, _, _ = plan_batch(g, batch, draw_for(batch, 100))
    d0 = snapshot(d)
    with pytest.warns(UserWarning, match="trainable weights"):
        d.train_on_batch(d_x, d_y)
    assert not any(moved(d0, d))


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_fused_update_equals_train_on_batch(kind):
    """Same draws, same start: one fused update lands where train_on_batch does."""
    batch = tiny_batch(kind)
    draws = draw_for(batch, 100, rng=tf.random.Generator.from_seed(7))
    results = []
    for engine in ["train_on_batch", "fused"]:
        g, d, gan = setup(kind, seed=3)
        if engine == "fused":
            losses = tf.function(fused_update(g, d, gan), jit_compile=True)(batch, draws)
        else:
            d_x, d_y, g_x, g_y = plan_batch(g, batch, draws)
            losses = (train_discriminator(d, d_x, d_y), train_generator(d, gan, g_x, g_y))
        results.append((np.array(losses, dtype=float), snapshot(g), snapshot(d)))
    (l1, g1, d1), (l2, g2, d2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    for a, b in zip(g1 + d1, g2 + d2):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("engine", ["train_on_batch", "fused"])
def test_no_retracing_per_step(engine):
    g, d, gan = setup("cgan")
    traces = {"d": 0, "gan": 0}
    for name, model in (("d", d), ("gan", gan)):  # count Python calls = traces
        original = model.train_step
        def counting(data, name=name, original=original):
            traces[name] += 1
            return original(data)
        model.train_step = counting
    step = make_step(engine, g, d, gan, steps_per_call=2)
    block = lambda i: [tiny_batch("cgan", i + j) for j in range(step.block)]
    for _ in range(2):
        step(block(0))
    after_two = (dict(traces), step.plan.experimental_get_tracing_count())
    for i in range(6):
        step(block(i))
    assert (traces, step.plan.experimental_get_tracing_count()) == after_two
    assert after_two[1] == 1


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_engines_agree_from_the_same_seed(kind):
    """Whole engines, draws included: 3 steps in one fused call = 3 train_on_batch steps."""
    batches = [tiny_batch(kind, i) for i in range(3)]
    results = {}
    for engine in ["train_on_batch", "fused"]:
        g, d, gan = setup(kind, seed=3)
        step = make_step(engine, g, d, gan, rng=tf.random.Generator.from_seed(7),
                         steps_per_call=3)
        losses = np.concatenate([step(batches[i:i + step.block])
                                 for i in range(0, 3, step.block)])
        results[engine] = (losses, snapshot(g) + snapshot(d))
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
    uniform = draw(5000, 100, True, "uniform", rng)
    notebook = draw(5000, 100, True, "notebook", rng)
    assert set(np.argmax(uniform["labels"], 1)) == set(range(10))
    assert set(np.argmax(notebook["labels"], 1)) == set(range(9))  # maxval=9: never a 9
    d_targets = uniform["d_targets"].numpy()
    assert d_targets.shape == (10000, 1)
    assert d_targets[:5000].min() >= 0.9 and d_targets[5000:].max() <= 0.1  # soft labels
    assert uniform["g_targets"].numpy().min() >= 0.9
    assert uniform["g_noise"] is uniform["noise"]  # the cgan reuses D's noise for G
    dense = draw(64, 100, False, rng=rng)
    assert "labels" not in dense
    assert not np.allclose(dense["g_noise"], dense["noise"])  # the dense GAN draws afresh
