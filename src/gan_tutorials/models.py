"""Tutorial steps 1 and 3: the dense GAN and its one-hot conditional twin.

Every factory is pure: it builds a fresh, named, uncompiled Keras functional
model. The conditional factories mirror the unconditional ones line for line;
the only differences are the label input, the Concatenate, and (in the
conditional discriminator) the extra 128-unit layer after the label joins.
"""

import keras
from keras import layers

NOISE_DIM = 100  # length of the generator's noise vector, as in the tutorial
NUM_CLASSES = 10  # MNIST digits 0-9, one-hot encoded for the conditional GAN
IMAGE_SHAPE = (28, 28, 1)  # MNIST, channels last


def create_generator(noise_dim=NOISE_DIM):
    """Dense generator: noise -> 256/512/1024 ReLU -> 784 tanh image."""
    noise = keras.Input((noise_dim,), name="noise")  # (n, 100)
    x = noise
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(784, activation="tanh")(x)  # tanh matches data in [-1, 1]
    image = layers.Reshape(IMAGE_SHAPE, name="image")(x)  # (n, 28, 28, 1)
    return keras.Model(noise, image, name="generator")


def create_conditional_generator(noise_dim=NOISE_DIM):
    """Conditional generator: [noise, one-hot] -> same stack -> [image, label]."""
    noise = keras.Input((noise_dim,), name="noise")  # (n, 100)
    label = keras.Input((NUM_CLASSES,), name="label")  # (n, 10)
    x = layers.Concatenate()([noise, label])  # (n, 110)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(784, activation="tanh")(x)
    image = layers.Reshape(IMAGE_SHAPE, name="image")(x)  # (n, 28, 28, 1)
    # The label passes through so the GAN can feed D the pair [image, label].
    return keras.Model([noise, label], [image, label], name="conditional_generator")


def create_discriminator():
    """Dense discriminator: image -> 1024/512/256 ReLU -> P(real)."""
    image = keras.Input(IMAGE_SHAPE, name="image")  # (n, 28, 28, 1)
    x = layers.Flatten()(image)  # (n, 784)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(1, activation="sigmoid")(x)  # (n, 1)
    return keras.Model(image, x, name="discriminator")


def create_conditional_discriminator():
    """Conditional discriminator: [image, one-hot] -> ... -> 128 ReLU -> P(real)."""
    image = keras.Input(IMAGE_SHAPE, name="image")  # (n, 28, 28, 1)
    label = keras.Input((NUM_CLASSES,), name="label")  # (n, 10)
    x = layers.Flatten()(image)  # (n, 784)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Concatenate()([x, label])  # (n, 266): the label joins late
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dense(1, activation="sigmoid")(x)  # (n, 1)
    return keras.Model([image, label], x, name="conditional_discriminator")


def create_gan(discriminator, generator):
    """Join G and D through the functional API: noise (and label) -> P(real)."""
    inputs = generator.input  # noise, or [noise, label]
    verdict = discriminator(generator(inputs))  # D sees G's image (and label)
    name = "conditional_gan" if is_conditional(generator) else "gan"
    return keras.Model(inputs, verdict, name=name)


def image_of(outputs):
    """The image from a generator's output: the tensor itself, or the first of [image, label]."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def is_conditional(model):
    """True when a generator or discriminator takes a one-hot label input."""
    return len(model.inputs) == 2


def create_models(kind, noise_dim=NOISE_DIM):
    """Return (generator, discriminator) for kind "gan" or "cgan"."""
    if kind == "gan":
        return create_generator(noise_dim), create_discriminator()
    if kind == "cgan":
        return create_conditional_generator(noise_dim), create_conditional_discriminator()
    raise ValueError(f"unknown model kind {kind!r}: expected 'gan' or 'cgan'")
