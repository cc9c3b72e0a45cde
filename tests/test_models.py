"""Tutorial steps 1 and 3: the factories build the tutorial's exact models."""

import numpy as np
import pytest

from gan_tutorials import models
from gan_tutorials.steps import compile_models

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
    g, d = models.create_models(kind)
    gan = compile_models(g, d)
    assert gan.name == ("gan" if kind == "gan" else "conditional_gan")
    assert gan.count_params() == g.count_params() + d.count_params()  # shared, not copied
    assert models.is_conditional(gan) == (kind == "cgan")


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown model kind"):
        models.create_models("dcgan")
