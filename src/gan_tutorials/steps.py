"""Tutorial step 2, one batch at a time: the alternating D / G update, three ways.

Every engine makes the tutorial's four moves per batch:
  1. draw noise, fake labels (cgan) and soft targets (`randoms`, the one place
     that decides them: real ~ U(0.9, 1), fake ~ U(0, 0.1), G's ~ U(0.9, 1));
  2. make fakes with G;
  3. D step: D learns real vs fake on [real; fake] with the soft targets;
  4. G step: G learns, through a frozen D, to make D say "real". The dense
     GAN draws fresh noise for it; the conditional GAN reuses move 1's noise
     and labels, as the tutorial's conditional loop does.
With `--ema M` (beyond the tutorial) a fifth move follows: an averaged twin of
G takes a step m * twin + (1 - m) * G after each G step (`update_average`).

Engines (`make_step(config, models)` returns a `Step`: `step(batches) -> losses`,
where `batches` is a list of k batches trained in order and `losses` a (k, 2)
array of d_loss, g_loss; `step.block` is the k the engine prefers). Their names
are `config.ENGINES`, the one list:
  * tutorial:       the loop as written; `generator.predict` makes the fakes.
  * train_on_batch: the same loop, moves 1-2 in one compiled graph.
  * fused:          all four moves of `block` batches in one XLA program (`fused`).

All random numbers come from `Models.rng`, whose state is checkpointed: on
TensorFlow a seeded `tf.random.Generator` (every number measured so far), on
other Keras backends a seeded `keras.random.SeedGenerator`. Each engine's
factory calls the one `randoms` outside its compiled update, in the same
order: inside XLA the random kernels give other numbers, so this is what
lets all three see the same numbers from one seed.

On JAX (`KERAS_BACKEND=jax`) the tutorial and train_on_batch engines run as
they are, and `fused` is `fused.jax_fused_step`: k batches' four moves in one
`jax.jit` over Keras's stateless calls, with donated buffers.
"""

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gan_tutorials import parallel
from gan_tutorials.config import MNIST
from gan_tutorials.models import create_gan, create_models, image_of


@dataclasses.dataclass(frozen=True)
class Models:
    """What the steps update, built together: G, D, the combined GAN and the step RNG.

    D's Adam is `discriminator.optimizer`, G's is `gan.optimizer` (the GAN
    is compiled with G's optimizer and trains G's variables only).
    """

    generator: keras.Model
    discriminator: keras.Model
    gan: keras.Model
    rng: tf.random.Generator | keras.random.SeedGenerator  # every random number of every step
    num_classes: int  # of the dataset: the cgan's fake labels are drawn among them
    average: keras.Model | None = None  # --ema: G's twin holding its averaged weights

    def checkpoint_groups(self):
        """Every variable a resume needs, grouped: weights, Adam slots, the RNG state."""
        groups = {"generator": self.generator.weights,
                  "discriminator": self.discriminator.weights,
                  "d_optimizer": self.discriminator.optimizer.variables,
                  "g_optimizer": self.gan.optimizer.variables, "rng": [self.rng.state]}
        if self.average is not None:
            groups["average"] = self.average.weights
        return groups

    def generators(self):
        """{file stem: model} of the generators a run saves: G, and its average with --ema."""
        return {"generator": self.generator,
                **({"generator-ema": self.average} if self.average is not None else {})}


def build_models(config, spec=MNIST):
    """Fresh G, D and GAN for images of `spec`, with Adam (config's rates, beta_1 0.5), seeded.

    Keras leaves XLA off on CPU-only machines; switching it on makes each
    train_on_batch ~12% faster here (measured by `bench`). The tutorial's
    engine runs as written, without it.
    """
    keras.utils.set_random_seed(config.seed)  # the tutorial's seed: initial weights
    generator, discriminator = create_models(config.kind, config.noise_dim, spec, config.arch,
                                             d_width=config.d_width, pack=config.pack,
                                             minibatch_std=config.minibatch_std,
                                             minibatch_by_class=config.minibatch_by_class,
                                             projection=config.projection)
    jit = config.engine != "tutorial"
    adam = lambda rate: keras.optimizers.Adam(learning_rate=rate, beta_1=config.beta_1)
    discriminator.compile(optimizer=adam(config.d_rate), loss="binary_crossentropy",
                          jit_compile=jit)
    gan = create_gan(discriminator, generator, mode_seeking=config.mode_seeking)
    gan.compile(optimizer=adam(config.learning_rate), loss="binary_crossentropy", jit_compile=jit)
    # Build both optimizers now, with D's and G's variables respectively, so a
    # checkpoint can restore their slots before the first step of a resume.
    discriminator.optimizer.build(discriminator.trainable_variables)
    gan.optimizer.build(generator.trainable_variables)
    return Models(generator, discriminator, gan, new_rng(config.seed), spec.num_classes,
                  average_of(generator, config))


def average_of(generator, config):
    """--ema: a twin of G starting from G's weights, or None when averaging is off.

    Built after G and D, so their initial weights are those of a run without it.
    (Keras optimizers' `use_ema` would swap the average into G's own weights;
    a separate model keeps G training from its raw weights, on every engine.)
    """
    if not config.ema:
        return None
    average = keras.models.clone_model(generator)
    average.name = f"{generator.name}_ema"
    average.set_weights(generator.get_weights())
    return average


def moving_average(averaged, current, momentum):
    """Each averaged value moved towards the current one: m * a + (1 - m) * w."""
    return [momentum * a + (1.0 - momentum) * w for a, w in zip(averaged, current)]


def update_average(models, momentum):
    """5. After G's step, its averaged twin follows it (--ema); nothing without one."""
    if models.average is None:
        return
    averaged, current = models.average.trainable_variables, models.generator.trainable_variables
    for variable, value in zip(averaged, moving_average(averaged, current, momentum)):
        variable.assign(value)


def on_tensorflow():
    """True when Keras runs on TensorFlow (the package's measured default)."""
    return keras.backend.backend() == "tensorflow"


def new_rng(seed):
    """The steps' random stream: TF's Generator on TensorFlow, a SeedGenerator elsewhere."""
    return tf.random.Generator.from_seed(seed) if on_tensorflow() else keras.random.SeedGenerator(seed)


def normal(rng, shape):
    """N(0, 1) numbers of shape from the steps' stream."""
    return rng.normal(shape) if isinstance(rng, tf.random.Generator) else keras.random.normal(shape, seed=rng)


def uniform(rng, shape, low, high):
    """U(low, high) floats of shape from the steps' stream."""
    if isinstance(rng, tf.random.Generator):
        return rng.uniform(shape, low, high)
    return keras.random.uniform(shape, low, high, seed=rng)


def integers(rng, shape, high):
    """Integers in [0, high) of shape from the steps' stream."""
    if isinstance(rng, tf.random.Generator):
        return rng.uniform(shape, 0, high, dtype=tf.int32)
    return keras.random.randint(shape, 0, high, seed=rng)


def to_backend(batch):
    """A tf.data batch as the active backend takes it: as is on TensorFlow, numpy elsewhere."""
    if on_tensorflow():
        return batch
    return tuple(np.asarray(b) for b in batch) if isinstance(batch, (tuple, list)) else np.asarray(batch)


class Randoms(NamedTuple):
    """Every random number of one step (n = batch size)."""

    noise: tf.Tensor  # (n, noise_dim): G's input for the fakes of D's step
    labels: tf.Tensor | None  # (n, 10) one-hot fake labels; None for the dense GAN
    d_targets: tf.Tensor  # (2n, 1): soft "real" for the real half, soft "fake" after
    g_noise: tf.Tensor  # (n, noise_dim): G's input for its own step
    g_targets: tf.Tensor  # (n, 1): soft "real", what G wants D to say


def randoms(config, n, rng, num_classes=MNIST.num_classes):
    """Move 1: noise, fake labels (among num_classes) and soft targets for a batch of n."""
    noise = normal(rng, [n, config.noise_dim])  # (n, 100)
    # Soft labels keep D from growing over-confident, which would starve G of gradient.
    d_targets = keras.ops.concatenate([uniform(rng, [n, 1], 0.9, 1.0), uniform(rng, [n, 1], 0.0, 0.1)], 0)
    g_targets = uniform(rng, [n, 1], 0.9, 1.0)
    if not config.conditional:
        return Randoms(noise, None, d_targets, normal(rng, [n, config.noise_dim]), g_targets)
    # "notebook" keeps the tutorial's maxval=9 (exclusive): class 9 is never drawn.
    maxval = num_classes - (config.label_sampling == "notebook")
    labels = keras.ops.one_hot(integers(rng, [n], maxval), num_classes)
    return Randoms(noise, labels, d_targets, noise, g_targets)  # G's step reuses D's noise


def split_batch(batch):
    """(images, labels-or-None) from a dense batch or a conditional (x, y) pair."""
    return batch if isinstance(batch, (tuple, list)) else (batch, None)


def with_labels(x, labels):
    """A model input: x alone, or [x, labels] for the conditional models."""
    return x if labels is None else [x, labels]


def discriminator_batch(real, real_labels, fake, fake_labels):
    """D's input for move 3: real images first, then the fakes (with their labels)."""
    images = keras.ops.concatenate([real, fake], axis=0)  # (2n, 28, 28, 1)
    return with_labels(images, None if real_labels is None
                       else keras.ops.concatenate([real_labels, fake_labels], axis=0))  # + (2n, 10)


def own_rows(rnd, fake):
    """This process's rows of a batch's draws and fakes (train_on_batch over processes).

    Keras's train_on_batch takes each process's rows and joins them along the
    batch axis, so D's input on process k is [its reals; its fakes], with the
    soft targets taken to match.
    """
    n = fake.shape[0]
    rows = parallel.local_rows(n)
    take = lambda x: None if x is None else np.asarray(x)[rows]  # replicated: readable here
    d_targets = np.asarray(rnd.d_targets)
    return Randoms(take(rnd.noise), take(rnd.labels),
                   np.concatenate([d_targets[:n][rows], d_targets[n:][rows]]),
                   take(rnd.g_noise), take(rnd.g_targets)), take(fake)


class Step(NamedTuple):
    """An engine's step: `run(batches) -> (k, 2) losses`, best called with `block` batches."""

    run: Callable
    block: int  # batches per call: 1, or the fused engines' steps_per_call
    traced: tuple = ()  # the functions it compiles (a test counts their retracing)
    inputs: Callable | None = None  # JAX fused: batches -> its compiled call's arguments

    def __call__(self, batches):
        return self.run(batches)


def train_on_batch_step(models, config):
    """The tutorial's loop with train_on_batch; `tutorial` makes fakes with predict()."""
    g, d, gan = models.generator, models.discriminator, models.gan

    def draw_and_fake(real):
        rnd = randoms(config, real.shape[0], models.rng, models.num_classes)
        g_in = with_labels(rnd.noise, rnd.labels)
        fake = (image_of(g.predict(g_in, verbose=0)) if config.engine == "tutorial"
                else image_of(g(g_in, training=False)))  # (n, 28, 28, 1)
        return rnd, fake

    def follow():
        update_average(models, config.ema)

    traced = config.engine != "tutorial" and on_tensorflow()
    if traced:
        # One traced graph: no predict() machinery, no op-by-op dispatch; fixed
        # batch shapes, so it traces once. (JAX dispatches each op compiled.)
        draw_and_fake, follow = tf.function(draw_and_fake), tf.function(follow)
    averaging = models.average is not None

    share = parallel.process_share()[1] > 1  # --processes N: each holds its rows of a batch

    def update(batch):
        """One batch: the four moves, top to bottom."""
        real, real_labels = split_batch(to_backend(batch))
        # 1-2. Draw, and make fakes with G (not trained here): over several
        #      processes, all of the batch's on each, and each keeps its rows.
        if share:
            rnd, fake = own_rows(*draw_and_fake(parallel.global_batch(
                real, keras.distribution.distribution())))
        else:
            rnd, fake = draw_and_fake(real)
        # 3. D step. Keras 3 reads `trainable` when a model's train function is
        #    first traced, not at compile time, so the tutorial's "compile D,
        #    freeze it, compile the GAN" would leave D frozen for its own step
        #    too. Setting it before each call keeps both cached functions right.
        d.trainable = True
        d_loss = d.train_on_batch(discriminator_batch(real, real_labels, fake, rnd.labels),
                                  rnd.d_targets)
        # 4. G step, through a frozen D: only G moves.
        d.trainable = False
        g_loss = gan.train_on_batch(with_labels(rnd.g_noise, rnd.labels), rnd.g_targets)
        # 5. --ema: G's averaged twin follows it.
        if averaging:
            follow()
        return float(d_loss), float(g_loss)

    def step(batches):
        return np.array([update(batch) for batch in batches], dtype=np.float64)  # (k, 2)
    # block 1: nothing to gain from more, each batch is its own calls
    return Step(step, 1, ((draw_and_fake, follow) if averaging else (draw_and_fake,))
                if traced else ())


def make_step(config, models):
    """The Step of `config.engine` (one of config.ENGINES) over `models`."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise RuntimeError(f"gan_tutorials runs on the tensorflow and jax Keras backends, "
                           f"not {backend}")
    if config.engine == "fused":
        from gan_tutorials import fused  # (fused builds on this module's moves)
        return fused.jax_fused_step(models, config) if backend == "jax" else fused.fused_step(
            models, config)
    return train_on_batch_step(models, config)  # "tutorial" differs only in making the fakes
