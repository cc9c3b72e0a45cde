"""Tutorial steps 1 and 3: the factories build the tutorial's exact models."""

import keras
import numpy as np
import pytest

from gan_tutorials import models
from gan_tutorials.config import Config
from gan_tutorials.steps import build_models

PARAMS = {  # the tutorial's models, counted from their layer shapes
    "create_generator": 1_486_352,
    "create_discriminator": 1_460_225,
    "create_conditional_generator": 1_488_912,
    "create_conditional_discriminator": 1_494_273,
}


@pytest.mark.parametrize("factory,count", PARAMS.items())
def test_parameter_counts(factory, count):
    assert getattr(models, factory)().count_params() == count


def test_names_and_shapes():
    g, d = models.create_models("gan")
    cg, cd = models.create_models("cgan")
    assert [m.name for m in (g, d, cg, cd)] == [
        "generator", "discriminator", "conditional_generator", "conditional_discriminator"]
    noise = np.random.normal(size=(3, 100)).astype("float32")
    labels = np.eye(10, dtype="float32")[[1, 4, 8]]
    image = g(noise)
    assert image.shape == (3, 28, 28, 1)
    assert np.all(np.abs(np.asarray(image)) <= 1.0)  # tanh range
    assert d(image).shape == (3, 1)
    c_image, c_label = cg([noise, labels])
    assert c_image.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(c_label, labels)  # the label passes through
    assert cd([c_image, c_label]).shape == (3, 1)


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_create_gan_joins_the_same_models(kind):
    built = build_models(Config(kind=kind))
    g, d, gan = built.generator, built.discriminator, built.gan
    assert gan.name == ("gan" if kind == "gan" else "conditional_gan")
    assert gan.count_params() == g.count_params() + d.count_params()
    # shared, not copied: the GAN's variables are G's and D's own objects (a clone
    # would have as many parameters, in variables of its own)
    ours = {id(v) for v in gan.weights}
    assert ours == {id(v) for v in g.weights} | {id(v) for v in d.weights}
    assert models.is_conditional(gan) == (kind == "cgan")


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown model kind"):
        models.create_models("dcgan")


def test_wrong_models_are_refused():
    with pytest.raises(models.GeneratorError, match="discriminator"):
        models.check_generator(models.create_conditional_discriminator())
    with pytest.raises(models.GeneratorError, match="is an unconditional generator; expected a conditional"):
        models.check_generator(models.create_generator(), need_conditional=True)
    with pytest.raises(models.GeneratorError, match="is a conditional generator; expected an unconditional"):
        models.check_generator(models.create_conditional_generator(), need_conditional=False)


def test_load_generator_reads_a_run_folder_or_file(tmp_path):
    generator = models.create_conditional_generator(noise_dim=7)
    generator.save(tmp_path / "generator.keras")
    loaded = models.load_generator(tmp_path, need_conditional=True)
    assert loaded.inputs[0].shape[-1] == 7 and loaded.count_params() == generator.count_params()
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(models.GeneratorError, match="not a Keras model file"):
        models.load_generator(tmp_path / "junk.keras")
    with pytest.raises(models.GeneratorError, match="does not exist"):
        models.load_generator(tmp_path / "missing")


def test_the_conv_pair_mirrors_the_dense_one():
    """--arch conv: the same inputs and outputs, and the conditional twins differ from the
    unconditional ones only by the label: in G's first layer, and in D's late layers."""
    g, d = models.create_models("gan", arch="conv")
    cg, cd = models.create_models("cgan", arch="conv")
    assert [m.name for m in (g, d, cg, cd)] == [
        "conv_generator", "conv_discriminator", "conditional_conv_generator",
        "conditional_conv_discriminator"]
    noise = np.random.normal(size=(3, 100)).astype("float32")
    labels = np.eye(10, dtype="float32")[[1, 4, 8]]
    image = g(noise)
    assert image.shape == (3, 28, 28, 1) and np.all(np.abs(np.asarray(image)) <= 1.0)
    assert d(image).shape == (3, 1)
    c_image, c_label = cg([noise, labels])
    assert c_image.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(c_label, labels)
    assert cd([c_image, c_label]).shape == (3, 1)
    # the label's own weights: 10 inputs more to G's projection (7 x 7 x 2 width units) ...
    width = models.CONV_WIDTH
    assert cg.count_params() - g.count_params() == 10 * 7 * 7 * 2 * width
    # ... and 10 input channels more to D's second convolution (4 x 4 kernels, 2 width out),
    # where the label joins as constant 14x14 maps
    assert cd.count_params() - d.count_params() == 4 * 4 * 10 * 2 * width
    label_path = ("InputLayer", "Reshape", "UpSampling2D", "Concatenate")
    assert [type(layer).__name__ for layer in d.layers[1:]] == [
        type(layer).__name__ for layer in cd.layers[1:]
        if type(layer).__name__ not in label_path]  # the same stack, the label beside it
    maps = models.label_maps(keras.Input((10,)), (14, 14))
    assert tuple(maps.shape) == (None, 14, 14, 10)
    one_hot = np.eye(10, dtype="float32")[[3]]
    upsample = next(layer for layer in cd.layers if type(layer).__name__ == "UpSampling2D")
    tiled = keras.Model(cd.inputs[1], upsample.output)(one_hot)  # the maps D sees
    assert np.asarray(tiled).shape == (1, 14, 14, 10)
    np.testing.assert_array_equal(np.asarray(tiled)[0, 13, 0], one_hot[0])  # every position
    assert [type(layer).__name__ for layer in g.layers[1:]] == [
        type(layer).__name__ for layer in cg.layers[3:]]  # after the label joins, one stack
    with pytest.raises(ValueError, match="unknown model kind 'gan' or arch 'resnet'"):
        models.create_models("gan", arch="resnet")


@pytest.mark.parametrize("kind", ["gan", "cgan"])
def test_a_wider_conv_d_leaves_g_as_it_is(kind):
    """--d-width: D's convolutions widen (14x14 and 7x7 channels), G keeps CONV_WIDTH."""
    g, d = models.create_models(kind, arch="conv")
    wide_g, wide_d = models.create_models(kind, arch="conv", d_width=64)
    assert wide_g.count_params() == g.count_params()
    convs = [layer.filters for layer in wide_d.layers if type(layer).__name__ == "Conv2D"]
    assert convs == [64, 128]
    assert [layer.filters for layer in d.layers
            if type(layer).__name__ == "Conv2D"] == [models.CONV_WIDTH, 2 * models.CONV_WIDTH]
    with pytest.raises(ValueError, match="conv pair"):
        models.create_models(kind, d_width=64)  # the dense pair has no width
