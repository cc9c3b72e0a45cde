"""Tutorial steps 1 and 3: the dense GAN and its one-hot conditional twin (and a conv pair).

Every factory is pure: it builds a fresh, named, uncompiled Keras functional
model. The conditional factories mirror the unconditional ones line for line;
the only differences are the label input, the Concatenate, and (in the dense
conditional discriminator) the extra 128-unit layer after the label joins, or
(in the conv one) the label's 14x14 maps.
Image shape and class count come from the dataset (`data.MNIST`), the noise
length from the config. `--arch conv` takes the convolutional pair below the
dense one, built and mirrored the same way. `load_generator` reads a trained generator back and
checks that it is one.
"""

from pathlib import Path

import keras
import numpy as np
from keras import layers

from gan_tutorials import levers
from gan_tutorials.config import MNIST, Config

NOISE_DIM = Config.noise_dim  # the tutorial's 100: one default, the config's
CONV_WIDTH = 40  # channels of the conv pair's 14x14 layer (twice that at 7x7): see docs/conv.md


def create_generator(noise_dim=NOISE_DIM, spec=MNIST):
    """Dense generator: noise -> 256/512/1024 ReLU -> 784 tanh image."""
    noise = keras.Input((noise_dim,), name="noise")  # (n, 100)
    x = noise
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(spec.pixels, activation="tanh")(x)  # (n, 784); tanh: data in [-1, 1]
    image = layers.Reshape(spec.image_shape, name="image")(x)  # (n, 28, 28, 1)
    return keras.Model(noise, image, name="generator")


def create_conditional_generator(noise_dim=NOISE_DIM, spec=MNIST):
    """Conditional generator: [noise, one-hot] -> same stack -> [image, label]."""
    noise = keras.Input((noise_dim,), name="noise")  # (n, 100)
    label = keras.Input((spec.num_classes,), name="label")  # (n, 10)
    x = layers.Concatenate()([noise, label])  # (n, 110)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(spec.pixels, activation="tanh")(x)
    image = layers.Reshape(spec.image_shape, name="image")(x)  # (n, 28, 28, 1)
    # The label passes through so the GAN can feed D the pair [image, label].
    return keras.Model([noise, label], [image, label], name="conditional_generator")


def create_discriminator(spec=MNIST, *, minibatch_std=0, pack=1):
    """Dense discriminator: image -> 1024/512/256 ReLU -> P(real)."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    x = layers.Flatten()(packed(image, pack))  # (n, 784); packed: (n / m, 784 m)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(256, activation="relu")(x)
    x = with_spread(x, minibatch_std)  # (n, 256), or + its group's spread: (n, 257)
    x = layers.Dense(1, activation="sigmoid")(x)  # (n, 1)
    return keras.Model(image, unpacked(x, pack), name="discriminator")


def create_conditional_discriminator(spec=MNIST, *, minibatch_std=0, pack=1, by_class=False):
    """Conditional discriminator: [image, one-hot] -> ... -> 128 ReLU -> P(real)."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    label = keras.Input((spec.num_classes,), name="label")  # (n, 10)
    x = layers.Flatten()(packed(image, pack))  # (n, 784)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Concatenate()([x, packed(label, pack)])  # (n, 266): the label joins late
    x = layers.Dense(128, activation="relu")(x)
    x = with_spread(x, minibatch_std, label if by_class else None)  # (n, 128), or (n, 129)
    x = layers.Dense(1, activation="sigmoid")(x)  # (n, 1)
    return keras.Model([image, label], unpacked(x, pack), name="conditional_discriminator")


def create_projection_discriminator(spec=MNIST, *, minibatch_std=0, pack=1, by_class=False):
    """Projection discriminator (--projection): [image, one-hot] -> spectrally normalized
    1024/512/256 ReLU -> psi(phi) + <embed(label), phi> -> P(real)."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    label = keras.Input((spec.num_classes,), name="label")  # (n, 10)
    x = layers.Flatten()(packed(image, pack))  # (n, 784)
    x = levers.SpectralDense(1024, activation="relu")(x)
    x = levers.SpectralDense(512, activation="relu")(x)
    x = levers.SpectralDense(256, activation="relu")(x)
    x = with_spread(x, minibatch_std, label if by_class else None)  # phi(x): (n, 256), or 257
    verdict = levers.projection_verdict(x, packed(label, pack))  # (n, 1): the label projected
    return keras.Model([image, label], unpacked(verdict, pack), name="projection_discriminator")


# --- the next lesson: a convolutional pair (--arch conv) ----------------------------
#
# DCGAN-style: G projects the noise to 7x7 feature maps and doubles their size
# twice with strided transposed convolutions; D halves the image twice with
# strided convolutions. No BatchNormalization: in Keras 3 a frozen BN runs in
# inference mode, so a BN in D would act differently in D's step and in G's
# step through the frozen D. In G the label joins the noise, as in the dense
# cgan; in D it joins as ten constant maps beside the first convolution's
# 14x14 output, so the second convolution sees strokes and class together
# (joined after the convolutions, the classes did not take hold). Both Ds end
# in a 128-unit layer, so the unconditional D is not a tenth of G. CONV_WIDTH
# keeps a fused conv epoch within 5x a fused dense one on TensorFlow. The
# measurements behind each choice: docs/conv.md, "The networks".

def create_conv_generator(noise_dim=NOISE_DIM, spec=MNIST, width=CONV_WIDTH):
    """Conv generator: noise -> 7x7x(2 width) -> 14x14x width -> 28x28x1 tanh image."""
    noise = keras.Input((noise_dim,), name="noise")  # (n, 100)
    x = noise
    rows, cols, channels = spec.image_shape
    x = layers.Dense(rows // 4 * cols // 4 * 2 * width, activation="relu")(x)
    x = layers.Reshape((rows // 4, cols // 4, 2 * width))(x)  # (n, 7, 7, 80)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation="relu")(x)
    image = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                   name="image")(x)  # (n, 28, 28, 1)
    return keras.Model(noise, image, name="conv_generator")


def create_conditional_conv_generator(noise_dim=NOISE_DIM, spec=MNIST, width=CONV_WIDTH):
    """Conditional conv generator: [noise, one-hot] -> same stack -> [image, label]."""
    noise = keras.Input((noise_dim,), name="noise")  # (n, 100)
    label = keras.Input((spec.num_classes,), name="label")  # (n, 10)
    x = layers.Concatenate()([noise, label])  # (n, 110)
    rows, cols, channels = spec.image_shape
    x = layers.Dense(rows // 4 * cols // 4 * 2 * width, activation="relu")(x)
    x = layers.Reshape((rows // 4, cols // 4, 2 * width))(x)  # (n, 7, 7, 80)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation="relu")(x)
    image = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                   name="image")(x)  # (n, 28, 28, 1)
    return keras.Model([noise, label], [image, label], name="conditional_conv_generator")


def create_conv_discriminator(spec=MNIST, width=CONV_WIDTH, *, minibatch_std=0, pack=1):
    """Conv discriminator: image -> 14x14x width -> 7x7x(2 width) -> 128 ReLU -> P(real)."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    x = layers.Conv2D(width, 4, strides=2, padding="same")(packed(image, pack))
    x = layers.LeakyReLU(0.2)(x)  # (n, 14, 14, 40)
    x = layers.Conv2D(2 * width, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)  # (n, 7, 7, 80)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = with_spread(x, minibatch_std)  # (n, 128), or (n, 129)
    x = layers.Dense(1, activation="sigmoid")(x)  # (n, 1)
    return keras.Model(image, unpacked(x, pack), name="conv_discriminator")


def create_conditional_conv_discriminator(spec=MNIST, width=CONV_WIDTH, *, minibatch_std=0,
                                          pack=1, by_class=False):
    """Conditional conv discriminator: [image, one-hot] -> ... + 14x14 label maps -> P(real)."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    label = keras.Input((spec.num_classes,), name="label")  # (n, 10)
    x = layers.Conv2D(width, 4, strides=2, padding="same")(packed(image, pack))
    x = layers.LeakyReLU(0.2)(x)  # (n, 14, 14, 40)
    x = layers.Concatenate()([x, label_maps(packed(label, pack), x.shape[1:3])])  # (n, 14, 14, 50)
    x = layers.Conv2D(2 * width, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)  # (n, 7, 7, 80)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = with_spread(x, minibatch_std, label if by_class else None)  # (n, 128), or (n, 129)
    x = layers.Dense(1, activation="sigmoid")(x)  # (n, 1)
    return keras.Model([image, label], unpacked(x, pack), name="conditional_conv_discriminator")


def packed(x, size):
    """--pack m: m consecutive inputs as one (`levers.Pack`); x itself when m is 1."""
    return x if size == 1 else levers.Pack(size)(x)


def unpacked(verdict, size):
    """--pack m: a pack's verdict once per input it holds, so n inputs get n verdicts."""
    return verdict if size == 1 else levers.Unpack(size)(verdict)


def with_spread(x, group_size, label=None):
    """--minibatch-std g: D's last hidden layer gains its group's spread (`levers`); 0: x.
    With a cgan's label (--minibatch-by-class), the spread of its class within the group."""
    if not group_size:
        return x
    if label is None:
        return levers.MinibatchStddev(group_size)(x)
    return levers.MinibatchClassStddev(group_size)([x, label])


def create_projection_conv_discriminator(spec=MNIST, width=CONV_WIDTH, *, minibatch_std=0,
                                         pack=1, by_class=False):
    """Projection conv discriminator (--projection): [image, one-hot] -> spectrally normalized
    14x14x width -> 7x7x(2 width) -> 128 ReLU -> psi(phi) + <embed(label), phi> -> P(real)."""
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
    label = keras.Input((spec.num_classes,), name="label")  # (n, 10)
    x = levers.SpectralConv2D(width, 4, strides=2, padding="same")(packed(image, pack))
    x = layers.LeakyReLU(0.2)(x)  # (n, 14, 14, 40)
    x = levers.SpectralConv2D(2 * width, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)  # (n, 7, 7, 80)
    x = layers.Flatten()(x)
    x = levers.SpectralDense(128, activation="relu")(x)
    x = with_spread(x, minibatch_std, label if by_class else None)  # phi(x): (n, 128), or 129
    verdict = levers.projection_verdict(x, packed(label, pack))  # (n, 1)
    return keras.Model([image, label], unpacked(verdict, pack),
                       name="projection_conv_discriminator")


def label_maps(label, size):
    """The one-hot label as constant feature maps: (n, 10) -> (n, rows, cols, 10)."""
    x = layers.Reshape((1, 1, label.shape[-1]))(label)
    return layers.UpSampling2D(size)(x)


def create_gan(discriminator, generator, *, mode_seeking=0.0):
    """Join G and D through the functional API: noise (and label) -> P(real).

    mode_seeking: the MSGAN term's weight (`levers`), added to the GAN's loss.
    """
    inputs = generator.input  # noise, or [noise, label]
    outputs = generator(inputs)
    if mode_seeking:
        outputs = levers.with_mode_seeking(generator, inputs, outputs, mode_seeking)
    verdict = discriminator(outputs)  # D sees G's image (and label)
    name = "conditional_gan" if is_conditional(generator) else "gan"
    return keras.Model(inputs, verdict, name=name)


def image_of(outputs):
    """The image from a generator's output: the tensor itself, or the first of [image, label]."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def draw(generator, noise, labels=None, *, batch_size=1000):
    """The one way to draw a generator's images: (n, 28, 28, 1) numpy in [-1, 1].

    noise: (n, noise_dim); labels: (n,) class indices for a conditional
    generator (one-hot encoded here), ignored by an unconditional one.
    """
    noise = np.asarray(noise, np.float32)
    if is_conditional(generator):
        one_hot = np.eye(generator.inputs[1].shape[-1], dtype=np.float32)[np.asarray(labels)]
    # Called directly in chunks: predict() builds a dataset per call, ~60 ms of
    # overhead that dominates the small batches steering draws.
    chunks = [noise[i:i + batch_size] if not is_conditional(generator) else
              [noise[i:i + batch_size], one_hot[i:i + batch_size]]
              for i in range(0, len(noise), batch_size)]
    images = [np.asarray(image_of(generator(chunk, training=False))) for chunk in chunks]
    return np.concatenate(images) if images else np.zeros((0, *generator.outputs[0].shape[1:]))


def is_conditional(model):
    """True when a generator or discriminator takes a one-hot label input."""
    return len(model.inputs) == 2


# --projection: the cgans' D with the label projected (Miyato & Koyama 2018), G unchanged.
PROJECTION = {"dense": create_projection_discriminator,
              "conv": create_projection_conv_discriminator}
FACTORIES = {  # (arch, kind) -> (generator factory, discriminator factory)
    ("dense", "gan"): (create_generator, create_discriminator),
    ("dense", "cgan"): (create_conditional_generator, create_conditional_discriminator),
    ("conv", "gan"): (create_conv_generator, create_conv_discriminator),
    ("conv", "cgan"): (create_conditional_conv_generator, create_conditional_conv_discriminator),
}


def create_models(kind, noise_dim=NOISE_DIM, spec=MNIST, arch="dense", *, d_width=None,
                  minibatch_std=0, pack=1, projection=False, minibatch_by_class=False):
    """Return (generator, discriminator) for kind "gan" or "cgan" of arch "dense" or "conv".

    d_width: a conv D's own width (a wider D only); None keeps G's.
    minibatch_std, pack: D's levers against collapse (`levers`); 0 and 1 are off.
    minibatch_by_class: a cgan's minibatch spread taken within each class of a group.
    projection: a cgan's projection D with spectral normalization in place of the joined label.
    """
    if (arch, kind) not in FACTORIES:
        raise ValueError(f"unknown model kind {kind!r} or arch {arch!r}: expected 'gan' or "
                         "'cgan', and 'dense' or 'conv'")
    if d_width is not None and arch != "conv":
        raise ValueError(f"d_width applies to the conv pair, not to arch {arch!r}")
    if projection and kind != "cgan":
        raise ValueError("projection reads the label, so it needs a cgan")
    if minibatch_by_class and (kind != "cgan" or not minibatch_std or pack > 1):
        raise ValueError("minibatch_by_class splits a cgan's minibatch groups (minibatch_std) "
                         "by class, and packs (pack) mix classes")
    make_generator, make_discriminator = FACTORIES[arch, kind]
    make_discriminator = PROJECTION[arch] if projection else make_discriminator
    options = {} if d_width is None else {"width": d_width}
    if minibatch_by_class:  # the conditional Ds alone take it: it reads the label
        options["by_class"] = True
    return make_generator(noise_dim, spec), make_discriminator(
        spec, **options, minibatch_std=minibatch_std, pack=pack)


# --- reading a trained generator back -------------------------------------------

class GeneratorError(RuntimeError):
    """A file or model is not a usable tutorial generator; the message says what was expected."""


def check_generator(model, need_conditional=None, spec=MNIST):
    """Raise GeneratorError unless model looks like a tutorial generator.

    A generator takes noise (n, k) [and a one-hot (n, 10)] and returns an
    image (n, 28, 28, 1) [and the label]; a discriminator takes an image.
    """
    if not isinstance(model, keras.Model):
        raise GeneratorError(f"expected a Keras generator model, got {type(model).__name__}")
    shapes = [tuple(t.shape) for t in model.inputs]
    out = tuple(model.outputs[0].shape)
    if shapes and shapes[0][1:] == spec.image_shape:
        raise GeneratorError(f"{model.name!r} takes images, so it is a discriminator; "
                             "expected a generator (noise -> image)")
    if len(shapes[0]) != 2 or out[1:] != spec.image_shape or len(shapes) > 2 or (
            len(shapes) == 2 and shapes[1][1:] != (spec.num_classes,)):
        raise GeneratorError(f"{model.name!r} is not a tutorial generator: expected inputs "
                             f"noise (n, k) [+ one-hot (n, {spec.num_classes})] and an image "
                             f"output (n, {', '.join(map(str, spec.image_shape))}); got inputs "
                             f"{shapes} and output {out}")
    if need_conditional is not None and is_conditional(model) != need_conditional:
        kinds = {True: ("a conditional", "cgan"), False: ("an unconditional", "gan")}
        raise GeneratorError(f"{model.name!r} is {kinds[not need_conditional][0]} generator; "
                             f"expected {kinds[need_conditional][0]} one (a --kind "
                             f"{kinds[need_conditional][1]} run)")


def load_generator(path, need_conditional=None, spec=MNIST):
    """Load and check a generator (of the dataset `images`) from a .keras file or a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if not path.exists():
        raise GeneratorError(f"{path} does not exist; expected a run folder or a .keras file")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # keras raises many types for a bad file
        raise GeneratorError(f"{path} is not a Keras model file ({type(err).__name__})") from err
    check_generator(model, need_conditional, spec)
    return model
