"""Beyond tutorial steps 1-3: the field's levers against the collapse the article shows.

Each lever is a setting of `Config`, off by default, and lives in the models
(so every engine and backend runs it the same way):
  * minibatch standard deviation (Karras et al. 2018, ProGAN): D's last hidden
    layer gains one feature, the mean over its units of their standard
    deviation within each group of `--minibatch-std` consecutive inputs. A G
    that draws one thing gives groups with no spread, and D can tell. In a
    cgan, `--minibatch-by-class` takes each input's spread among the inputs
    of its group that share its class, so the feature reads variety within a
    digit, not across digits (the issue's "draw each group from one class");
  * packing (Lin et al. 2018, PacGAN): D judges `--pack` consecutive inputs
    stacked as one, and its verdict is repeated for each of them, so a batch
    of n still gets n verdicts and the steps need not know;
  * mode seeking (Mao et al. 2019, MSGAN): G's loss gains `--mode-seeking` x
    mean|z_a - z_b| / mean|G(z_a) - G(z_b)| over pairs of its inputs, large when
    two noises give nearly one image (for the cgan, two noises of one class);
  * a projection discriminator (Miyato & Koyama 2018) for the cgan, spectrally
    normalized (`--projection`, at the end of this module).

D's batch is [real; fake], each half n, so groups and packs never mix real
with fake when n is a multiple of the group or pack (`Config` checks it).
"""

import keras
from keras import ops

EPSILON = 1e-5  # keeps the mode-seeking term finite when two images are one
# Under the root of a class's variance: a class drawn once in a group has none, and the
# root's gradient at 0 is infinite (ProGAN's 1e-8).
CLASS_EPSILON = 1e-8


@keras.saving.register_keras_serializable(package="gan_tutorials")
class MinibatchStddev(keras.layers.Layer):
    """(n, f) -> (n, f + 1): each input gains its group's mean standard deviation over f."""

    def __init__(self, group_size, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, x):
        features = x.shape[-1]
        groups = ops.reshape(x, (-1, self.group_size, features))  # (n / g, g, f)
        spread = ops.mean(ops.std(groups, axis=1), axis=-1, keepdims=True)  # (n / g, 1)
        return ops.concatenate([x, ops.repeat(spread, self.group_size, axis=0)], axis=-1)

    def compute_output_shape(self, shape):
        return (*shape[:-1], shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


@keras.saving.register_keras_serializable(package="gan_tutorials")
class MinibatchClassStddev(keras.layers.Layer):
    """[(n, f), (n, k) one-hot] -> (n, f + 1): each input gains the mean over f of the
    standard deviation among the inputs of its group that share its class.

    A class with one input in a group has no spread (0, up to CLASS_EPSILON's root).
    """

    def __init__(self, group_size, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, inputs):
        x, labels = inputs
        g = self.group_size
        groups = ops.reshape(x, (-1, g, x.shape[-1]))  # (n / g, g, f)
        members = ops.reshape(labels, (-1, g, labels.shape[-1]))  # (n / g, g, k)
        counts = ops.maximum(ops.sum(members, axis=1), 1.0)[..., None]  # (n / g, k, 1)
        means = ops.einsum("bgk,bgf->bkf", members, groups) / counts  # each class's mean
        deviations = groups - ops.einsum("bgk,bkf->bgf", members, means)  # from its own class's
        variances = ops.einsum("bgk,bgf->bkf", members, ops.square(deviations)) / counts
        spreads = ops.mean(ops.sqrt(variances + CLASS_EPSILON), axis=-1)  # (n / g, k)
        spread = ops.einsum("bgk,bk->bg", members, spreads)  # each input its class's
        return ops.concatenate([x, ops.reshape(spread, (-1, 1))], axis=-1)

    def compute_output_shape(self, shapes):
        return (*shapes[0][:-1], shapes[0][-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


@keras.saving.register_keras_serializable(package="gan_tutorials")
class Pack(keras.layers.Layer):
    """(n, ..., c) -> (n / m, ..., m c): m consecutive inputs stacked on the last axis."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, x):
        inner = tuple(x.shape[1:])  # e.g. (28, 28, 1), or (10,) for a one-hot label
        x = ops.reshape(x, (-1, self.size, *inner))  # (n / m, m, ..., c)
        axes = (0, *range(2, len(inner) + 1), 1, len(inner) + 1)  # m beside c
        x = ops.transpose(x, axes)  # (n / m, ..., m, c)
        return ops.reshape(x, (-1, *inner[:-1], self.size * inner[-1]))

    def compute_output_shape(self, shape):
        batch = None if shape[0] is None else shape[0] // self.size
        return (batch, *shape[1:-1], shape[-1] * self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="gan_tutorials")
class Unpack(keras.layers.Layer):
    """(n / m, 1) -> (n, 1): a pack's verdict, once for each of its m inputs."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, x):
        return ops.repeat(x, self.size, axis=0)

    def compute_output_shape(self, shape):
        return (None if shape[0] is None else shape[0] * self.size, *shape[1:])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def mode_seeking_loss(noise_a, noise_b, image_a, image_b, weight):
    """MSGAN's term: weight / (mean|G(z_a) - G(z_b)| / mean|z_a - z_b| + EPSILON)."""
    images = ops.mean(ops.abs(image_a - image_b))
    noises = ops.mean(ops.abs(noise_a - noise_b))
    return weight / (images / noises + EPSILON)


def half_roll(x):
    """x with its two halves swapped: row i is paired with row i + n/2 (and back)."""
    return ops.roll(x, ops.shape(x)[0] // 2, axis=0)


def partner_image(generator, noise, labels, image):
    """G's drawing of the paired noise with the same labels (the dense GAN's: its batch rolled)."""
    if labels is None:
        return half_roll(image)  # unconditional: any two noises pair, so no second pass
    from gan_tutorials.models import image_of  # (models imports this module)
    return image_of(generator([half_roll(noise), labels], training=True))


@keras.saving.register_keras_serializable(package="gan_tutorials")
class HalfRoll(keras.layers.Layer):
    """`half_roll` as a layer, for the combined GAN's graph."""

    def call(self, x):
        return half_roll(x)


@keras.saving.register_keras_serializable(package="gan_tutorials")
class ModeSeeking(keras.layers.Layer):
    """Adds the MSGAN term to the loss of the model it sits in; passes the image through.

    Takes [noise, image, partner image], the partner drawn from `half_roll(noise)`.
    """

    def __init__(self, weight, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs):
        noise, image, partner = inputs
        self.add_loss(mode_seeking_loss(noise, half_roll(noise), image, partner, self.weight))
        return image

    def compute_output_shape(self, shapes):
        return shapes[1]

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def with_mode_seeking(generator, inputs, outputs, weight):
    """The combined GAN's G outputs with the MSGAN term attached (train_on_batch's route)."""
    conditional = isinstance(inputs, (list, tuple))
    noise, labels = inputs if conditional else (inputs, None)
    image = outputs[0] if conditional else outputs
    partner = (HalfRoll()(image) if labels is None else
               generator([HalfRoll()(noise), labels])[0])
    image = ModeSeeking(weight, name="mode_seeking")([noise, image, partner])
    return [image, labels] if conditional else image


# --- a projection discriminator with spectral normalization (cgan: --projection) -----------
#
# Miyato & Koyama 2018: D's verdict on (x, y) is psi(phi(x)) + <embed(y), phi(x)>, the
# label read by an inner product with D's features instead of joined to them. Its layers
# are spectrally normalized (Miyato et al. 2018) here, not by keras.layers.SpectralNormalization,
# which assigns into a frozen D and takes another gradient on TensorFlow than on JAX
# (../shared/notes/levers.md): the kernel is divided by sigma, its largest singular value
# from one power iteration, inside the layer's call, so the gradient is the same function
# on every backend; the iteration's vector u is stored only in D's own step (called in
# training mode while D is trainable), never in G's step through the frozen D.

def l2_normalized(x):
    return x / (ops.sqrt(ops.sum(x * x)) + 1e-12)


def spectral_normalized(kernel, u, update):
    """kernel / sigma(kernel), sigma from one power iteration from u (1, units); u moves
    to the iteration's new estimate when `update`."""
    w = ops.reshape(kernel, (-1, kernel.shape[-1]))  # (fan in, units)
    v = ops.stop_gradient(l2_normalized(ops.matmul(u, ops.transpose(w))))  # (1, fan in)
    u_new = ops.stop_gradient(l2_normalized(ops.matmul(v, w)))  # (1, units)
    sigma = ops.sum(ops.matmul(v, w) * u_new)
    if update:
        u.assign(u_new)
    return kernel / sigma


class SpectralNormalized:
    """Mixin for a Keras layer with a `kernel`: its call sees the normalized kernel."""

    def build(self, input_shape):
        super().build(input_shape)
        self.u = self.add_weight(shape=(1, self.kernel.shape[-1]), name="spectral_u",
                                 initializer="random_normal", trainable=False)

    # Dense and Conv2D save their kernel and bias by position; u goes after them.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[str(len(store.keys()))] = self.u

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self.u.assign(store[str(len(store.keys()) - 1)])

    def normalized_kernel(self, training):
        return spectral_normalized(self.kernel, self.u, bool(training) and self.trainable)


@keras.saving.register_keras_serializable(package="gan_tutorials")
class SpectralDense(SpectralNormalized, keras.layers.Dense):
    """Dense with a spectrally normalized kernel."""

    def call(self, inputs, training=None):
        x = ops.matmul(inputs, self.normalized_kernel(training))
        x = x + self.bias if self.use_bias else x
        return self.activation(x) if self.activation is not None else x


@keras.saving.register_keras_serializable(package="gan_tutorials")
class SpectralConv2D(SpectralNormalized, keras.layers.Conv2D):
    """Conv2D with a spectrally normalized kernel."""

    def call(self, inputs, training=None):
        x = self.convolution_op(inputs, self.normalized_kernel(training))
        x = x + self.bias if self.use_bias else x  # channels last: the bias broadcasts
        return self.activation(x) if self.activation is not None else x


def projection_verdict(features, label):
    """P(real) of (x, y) from D's features phi(x): sigmoid(psi(phi) + <embed(y), phi>)."""
    psi = SpectralDense(1, name="psi")(features)  # (n, 1): the unconditional term
    embedded = SpectralDense(features.shape[-1], use_bias=False, name="embed")(label)  # (n, f)
    inner = keras.layers.Dot(axes=1)([features, embedded])  # (n, 1): <embed(y), phi(x)>
    return keras.layers.Activation("sigmoid")(keras.layers.Add()([psi, inner]))
