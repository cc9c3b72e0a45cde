"""The levers against collapse: each layer's known answer, every engine, exact resume."""

import keras
import numpy as np
import pytest

from gan_tutorials import levers, runs
from gan_tutorials.config import Config
from gan_tutorials.models import create_models
from gan_tutorials.steps import build_models, make_step
from gan_tutorials.train import RunError, train
from test_steps import snapshot, tiny_batch, watched_steps

LEVERS = {"minibatch-std": dict(minibatch_std=4), "pack": dict(pack=2),
          "mode-seeking": dict(mode_seeking=0.1),
          "all": dict(minibatch_std=2, pack=2, mode_seeking=0.1),
          "by-class": dict(minibatch_std=8, minibatch_by_class=True, mode_seeking=0.1)}
TINY = dict(epochs=3, batch_size=32, steps_per_epoch=3, steps_per_call=3, quiet=True)


def test_minibatch_stddev_known_answer():
    x = np.array([[0, 0], [2, 4], [1, 1], [1, 1]], np.float32)  # two groups of 2
    # First group: the units' spreads are 1 and 2, their mean 1.5; the second has none.
    out = np.asarray(levers.MinibatchStddev(2)(x))
    np.testing.assert_allclose(out, [[0, 0, 1.5], [2, 4, 1.5], [1, 1, 0], [1, 1, 0]])


def test_minibatch_class_stddev_known_answer():
    """Within each group, an input's spread is its class's: two digits drawn once each have
    none, though the group varies, and a class met once in a group has none."""
    x = np.array([[0, 0], [2, 4], [5, 5], [5, 5],  # group 1: classes 0, 0, 1, 1
                  [0, 0], [9, 9], [0, 0], [9, 9]], np.float32)  # group 2: 0, 1, 0, 1
    classes = [0, 0, 1, 1, 0, 1, 0, 1]
    labels = np.eye(3, dtype=np.float32)[classes]
    out = np.asarray(levers.MinibatchClassStddev(4)([x, labels]))
    np.testing.assert_allclose(out[:, :2], x)
    # Class 0 of group 1: the units' spreads are 1 and 2, their mean 1.5; class 1 has none.
    np.testing.assert_allclose(out[:, 2], [1.5, 1.5, 0, 0, 0, 0, 0, 0], atol=2e-4)
    assert np.asarray(levers.MinibatchStddev(4)(x))[4, 2] == pytest.approx(4.5)  # the plain one
    # A class met once (the second input), and one absent (class 2): no spread either.
    once = np.asarray(levers.MinibatchClassStddev(4)([x[:4], np.eye(3, dtype=np.float32)[
        [0, 1, 0, 0]]]))
    assert once[1, 2] == pytest.approx(0, abs=2e-4)
    np.testing.assert_allclose(once[[0, 2, 3], 2], np.mean(np.std(x[[0, 2, 3]], axis=0)), rtol=1e-5)


def test_pack_stacks_consecutive_inputs_and_unpack_repeats_the_verdict():
    images = np.arange(4 * 2 * 2, dtype=np.float32).reshape(4, 2, 2, 1)
    packed = np.asarray(levers.Pack(2)(images))  # (2, 2, 2, 2): inputs 0 and 1, 2 and 3
    assert packed.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(packed[1, ..., 0], images[2, ..., 0])
    np.testing.assert_array_equal(packed[1, ..., 1], images[3, ..., 0])
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    np.testing.assert_array_equal(np.asarray(levers.Pack(2)(labels)),
                                  [[1, 0, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0]])
    np.testing.assert_array_equal(np.asarray(levers.Unpack(2)(np.array([[0.25], [0.75]]))),
                                  [[0.25], [0.25], [0.75], [0.75]])


def test_mode_seeking_known_answer():
    noise = np.array([[0.0], [2.0]], np.float32)  # the halves differ by 2
    image = np.array([[[0.5]], [[0.0]]], np.float32)  # ... and their images by 0.5
    np.testing.assert_array_equal(np.asarray(levers.half_roll(noise)), [[2.0], [0.0]])
    loss = levers.mode_seeking_loss(noise, levers.half_roll(noise), image,
                                    levers.half_roll(image), 0.1)
    assert float(loss) == pytest.approx(0.1 / (0.25 + levers.EPSILON))


@pytest.mark.parametrize("kind", ["gan", "cgan"])
@pytest.mark.parametrize("arch", ["dense", "conv"])
def test_off_by_default_and_d_grows_only_by_the_lever(kind, arch):
    """The tutorial's D is unchanged without a lever; each lever adds what it says."""
    g, d = create_models(kind, arch=arch)
    assert not any(isinstance(layer, (levers.MinibatchStddev, levers.Pack))
                   for layer in d.layers)
    _, spread = create_models(kind, arch=arch, minibatch_std=4)
    assert spread.count_params() == d.count_params() + 1  # one weight for the one feature
    if kind == "cgan":  # the class-wise spread: the same one feature
        _, by_class = create_models(kind, arch=arch, minibatch_std=4, minibatch_by_class=True)
        assert by_class.count_params() == spread.count_params()
        assert any(isinstance(layer, levers.MinibatchClassStddev) for layer in by_class.layers)
    _, packed = create_models(kind, arch=arch, pack=2)
    assert packed.count_params() > d.count_params()  # its first layer reads two images
    images = np.zeros((8, 28, 28, 1), np.float32)
    x = images if kind == "gan" else [images, np.eye(10, dtype=np.float32)[np.arange(8)]]
    assert tuple(packed(x).shape) == tuple(d(x).shape) == (8, 1)  # a verdict per input


def test_a_batch_that_would_mix_real_and_fake_is_refused():
    with pytest.raises(ValueError, match="--batch-size 100 is not a multiple of --pack x "
                                         "--minibatch-std \\(8\\)"):
        Config(batch_size=100, pack=2, minibatch_std=4)
    Config(batch_size=128, pack=2, minibatch_std=4)  # 128 = 16 groups of 8


def test_minibatch_by_class_is_refused_where_it_cannot_apply():
    for settings, says in [(dict(kind="gan", minibatch_std=4), "needs --kind cgan"),
                           (dict(kind="cgan"), "--minibatch-std G"),
                           (dict(kind="cgan", minibatch_std=4, pack=2), "with --pack")]:
        with pytest.raises(ValueError, match=says):
            Config(minibatch_by_class=True, **settings)
    Config(kind="cgan", minibatch_std=128, minibatch_by_class=True)  # the half-batch: one group


@pytest.mark.parametrize("kind, lever", [("gan", "minibatch-std"), ("cgan", "pack"),
                                         ("gan", "all"), ("cgan", "all"), ("cgan", "by-class")])
def test_engines_agree_with_each_lever(kind, lever):
    """3 train_on_batch steps = 3 fused steps in one call, each lever on."""
    batches = [tiny_batch(kind, i) for i in range(3)]
    results = []
    for engine in ["train_on_batch", "fused"]:
        config = Config(kind=kind, seed=3, engine=engine, steps_per_call=3, batch_size=16,
                        **LEVERS[lever])
        models = build_models(config)
        step = make_step(config, models)
        losses = np.concatenate([step(batches[i:i + step.block]) for i in range(0, 3, step.block)])
        results.append((losses, snapshot(models.generator) + snapshot(models.discriminator)))
    (l1, w1), (l2, w2) = results
    assert np.isfinite(l1).all() and all(np.isfinite(w).all() for w in w1)  # a class met once
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    if "mode_seeking" in LEVERS[lever]:  # the term is in G's loss, so G's loss is larger
        plain = Config(kind=kind, seed=3, batch_size=16)
        base = make_step(plain, build_models(plain))([batches[0]])
        assert l1[0, 1] > base[0, 1] + 0.1
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(w1, w2)])
    assert diff.max() < 1e-4 and (diff > 1e-5).mean() < 1e-4  # as test_steps's engines


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_each_half_step_moves_only_its_model_with_the_levers(kind):
    """The mode-seeking term joins the GAN's loss: D stays frozen in G's step, G in D's."""
    config = Config(kind=kind, batch_size=16, **LEVERS["all"])
    models = build_models(config)
    seen = watched_steps(config, models, kind, 2)
    assert [(n, all(gm), any(gm), all(dm), any(dm)) for n, gm, dm in seen] == [
        ("d", False, False, True, True), ("gan", True, True, False, False)] * 2


# The class-wise spread holds no state of its own, and test_engines_agree_with_each_lever
# holds the engines to the same weights with it: its resume runs on the fused engine only.
@pytest.mark.parametrize("engine, lever", [("train_on_batch", "all"), ("fused", "all"),
                                           ("fused", "by-class")],
                         ids=["train_on_batch-all", "fused-all", "fused-by-class"])
def test_resume_is_exact_with_the_levers(engine, lever, tiny_arrays, tmp_path):
    """Stopped after epoch 1 and resumed (every lever on, the projection D's u vectors
    checkpointed with its weights): the weights of a run never stopped; a lever is among
    what a resume may not change."""
    settings = dict(TINY, kind="cgan", engine=engine, projection=True, **LEVERS[lever])
    whole = train(Config(out=str(tmp_path / "whole"), **settings), arrays=tiny_arrays)
    out = str(tmp_path / "parts")
    train(Config(out=out, **dict(settings, epochs=1)), arrays=tiny_arrays)
    changes = {"all": (dict(pack=1), dict(minibatch_std=4), dict(mode_seeking=0.0),
                       dict(projection=False)),
               "by-class": (dict(minibatch_by_class=False), dict(minibatch_std=16))}[lever]
    for changed in changes:
        with pytest.raises(RunError, match="--" + next(iter(changed)).replace("_", "-")):
            train(Config(out=out, resume=True, **dict(settings, **changed)), arrays=tiny_arrays)
    parts = train(Config(out=out, resume=True, **settings), arrays=tiny_arrays)
    assert [r["g_loss"] for r in parts] == pytest.approx([r["g_loss"] for r in whole], abs=1e-6)
    for name in ("generator", "discriminator", "g_optimizer", "d_optimizer"):
        saved = [runs.load_checkpoint(tmp_path / f / "checkpoint.npz")[1][name]
                 for f in ("whole", "parts")]
        for a, b in zip(*saved, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
    # The saved D holds the levers' layers and loads back as it was.
    d = keras.models.load_model(tmp_path / "whole" / "discriminator.keras", compile=False)
    assert {type(layer) for layer in d.layers} >= {
        "all": {levers.Pack, levers.Unpack, levers.MinibatchStddev, levers.SpectralDense},
        "by-class": {levers.MinibatchClassStddev, levers.SpectralDense}}[lever]


def kernel_gradient(layer, x):
    """d sum(layer(x)) / d kernel, on the active backend."""
    if keras.backend.backend() == "jax":
        import jax
        def total(kernel):
            values = [kernel if v is layer.kernel else v.value for v in layer.trainable_variables]
            out, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables],
                                          x)
            return out.sum()
        return np.asarray(jax.grad(total)(layer.kernel.value))
    import tensorflow as tf
    with tf.GradientTape() as tape:
        out = layer(x)
    return tape.gradient(out, layer.kernel).numpy()


def test_spectral_normalization_known_answers():
    """W = (3, 4)^T has one singular value, 5: one power iteration finds it exactly, the output
    is x W / 5, and the gradient counts sigma's own, (x / 5 - (x W) v / 25) with v = W / 5."""
    layer = levers.SpectralDense(1, use_bias=False)
    layer.build((None, 2))
    layer.kernel.assign(np.array([[3.0], [4.0]], np.float32))
    x = np.array([[1.0, 0.0]], np.float32)
    np.testing.assert_allclose(np.asarray(layer(x)), [[0.6]], rtol=1e-6)
    np.testing.assert_allclose(kernel_gradient(layer, x), [[0.2 - 3 * 0.6 / 25], [-3 * 0.8 / 25]],
                               rtol=1e-5)
    before = np.asarray(layer.u).copy()
    layer(x)  # not training: u stays
    np.testing.assert_array_equal(np.asarray(layer.u), before)
    layer(x, training=True)  # training: u moves to the iteration's estimate (a unit vector)
    np.testing.assert_allclose(np.abs(np.asarray(layer.u)), [[1.0]], rtol=1e-6)
    layer.trainable = False  # frozen, as D in G's step: u stays even in training mode
    layer.u.assign(before)
    layer(x, training=True)
    np.testing.assert_array_equal(np.asarray(layer.u), before)


@pytest.mark.parametrize("arch", ["dense", "conv"])
def test_the_projection_d_mirrors_the_cgans_and_is_the_cgans_alone(arch):
    g, d = create_models("cgan", arch=arch, projection=True)
    assert d.name.startswith("projection") and [t.shape[1:] for t in d.inputs] == [
        (28, 28, 1), (10,)]
    images = np.zeros((4, 28, 28, 1), np.float32)
    assert tuple(d([images, np.eye(10, dtype=np.float32)[:4]]).shape) == (4, 1)
    with pytest.raises(ValueError, match="--projection: a projection discriminator reads the "
                                         "label; it needs --kind cgan"):
        Config(kind="gan", projection=True)


@pytest.mark.parametrize("arch", ["dense", "conv"])
def test_engines_agree_with_the_projection_d(arch):
    batches = [tiny_batch("cgan", i) for i in range(3)]
    results = []
    for engine in ["train_on_batch", "fused"]:
        config = Config(kind="cgan", arch=arch, seed=3, engine=engine, steps_per_call=3,
                        batch_size=16, projection=True)
        models = build_models(config)
        step = make_step(config, models)
        losses = np.concatenate([step(batches[i:i + step.block]) for i in range(0, 3, step.block)])
        results.append((losses, snapshot(models.generator) + snapshot(models.discriminator)))
    (l1, w1), (l2, w2) = results
    assert np.isfinite(l1).all() and all(np.isfinite(w).all() for w in w1)  # a class met once
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(w1, w2)])
    assert diff.max() < 1e-4 and (diff > 1e-5).mean() < 1e-4


def test_the_projection_ds_power_iteration_moves_in_its_own_step_only():
    """Its u vectors are D's weights too: D's step moves them (but psi's, a 1-vector: always 1
    once normalized), G's step none of D's."""
    config = Config(kind="cgan", batch_size=16, projection=True)
    models = build_models(config)
    d = models.discriminator
    assert len(d.non_trainable_weights) == 5  # one u for each of its five normalized layers
    seen = []
    for name, g_moved, d_moved in watched_steps(config, models, "cgan", 2):
        d_moved = [m for m, w in zip(d_moved, d.weights) if w.shape != (1, 1)]
        seen.append((name, all(g_moved), any(g_moved), all(d_moved), any(d_moved)))
    assert seen == [("d", False, False, True, True), ("gan", True, True, False, False)] * 2
