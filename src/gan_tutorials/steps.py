"""Tutorial step 2, one batch at a time: the alternating D / G update, three ways.

Every engine makes the tutorial's four moves per batch:
  1. draw noise, fake labels (cgan) and soft targets (`draw`, the one place
     that decides them: real ~ U(0.9, 1), fake ~ U(0, 0.1), G's ~ U(0.9, 1));
  2. make fakes with G;
  3. D step: D learns real vs fake on [real; fake] with the soft targets;
  4. G step: G learns, through a frozen D, to make D say "real". The dense
     GAN draws fresh noise for it; the conditional GAN reuses move 1's noise
     and labels, as the tutorial's conditional loop does.

Engines (`make_step(config, models)` returns `step(batches) -> losses`, where
`batches` is a list of k batches trained in order and `losses` a (k, 2) array
of d_loss, g_loss; `step.block` is the k the engine prefers):
  * tutorial:       the loop as written; `generator.predict` makes the fakes.
  * train_on_batch: the same loop, moves 1-2 in one compiled graph.
  * fused:          all four moves of `block` batches in one XLA program.

All random numbers come from `Models.rng`, a seeded `tf.random.Generator`
whose state is checkpointed. Every engine draws in a plain TF graph or eagerly,
in the same order, so from one seed all three see the same numbers.
"""

import dataclasses
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gan_tutorials.data import image_set
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
    rng: tf.random.Generator  # every draw of every step

    def checkpoint_groups(self):
        """Every variable a resume needs, grouped: weights, Adam slots, the RNG state."""
        return {"generator": self.generator.weights, "discriminator": self.discriminator.weights,
                "d_optimizer": self.discriminator.optimizer.variables,
                "g_optimizer": self.gan.optimizer.variables, "rng": [self.rng.state]}


def build_models(config):
    """Fresh G, D and GAN with the tutorial's Adam (lr 1e-4, beta_1 0.5), seeded by config.

    Keras leaves XLA off on CPU-only machines; switching it on makes each
    train_on_batch ~12% faster here (measured by `bench`). The tutorial's
    engine runs as written, without it.
    """
    keras.utils.set_random_seed(config.seed)  # the tutorial's seed: initial weights
    generator, discriminator = create_models(config.kind, config.noise_dim,
                                             image_set(config.dataset))
    jit = config.engine != "tutorial"
    adam = lambda: keras.optimizers.Adam(learning_rate=config.learning_rate, beta_1=config.beta_1)
    discriminator.compile(optimizer=adam(), loss="binary_crossentropy", jit_compile=jit)
    gan = create_gan(discriminator, generator)
    gan.compile(optimizer=adam(), loss="binary_crossentropy", jit_compile=jit)
    # Build both optimizers now, with D's and G's variables respectively, so a
    # checkpoint can restore their slots before the first step of a resume.
    discriminator.optimizer.build(discriminator.trainable_variables)
    gan.optimizer.build(generator.trainable_variables)
    return Models(generator, discriminator, gan, tf.random.Generator.from_seed(config.seed))


class Draws(NamedTuple):
    """Every random number of one step (n = batch size)."""

    noise: tf.Tensor  # (n, noise_dim): G's input for the fakes of D's step
    labels: tf.Tensor | None  # (n, 10) one-hot fake labels; None for the dense GAN
    d_targets: tf.Tensor  # (2n, 1): soft "real" for the real half, soft "fake" after
    g_noise: tf.Tensor  # (n, noise_dim): G's input for its own step
    g_targets: tf.Tensor  # (n, 1): soft "real", what G wants D to say


def draw(config, n, rng):
    """Move 1: noise, fake labels and soft targets for a batch of n, from rng."""
    noise = rng.normal([n, config.noise_dim])  # (n, 100)
    # Soft labels keep D from growing over-confident, which would starve G of gradient.
    d_targets = tf.concat([rng.uniform([n, 1], 0.9, 1.0), rng.uniform([n, 1], 0.0, 0.1)], 0)
    g_targets = rng.uniform([n, 1], 0.9, 1.0)
    if not config.conditional:
        return Draws(noise, None, d_targets, rng.normal([n, config.noise_dim]), g_targets)
    # "notebook" keeps the tutorial's maxval=9 (exclusive): class 9 is never drawn.
    num_classes = image_set(config.dataset).num_classes
    maxval = num_classes - (config.label_sampling == "notebook")
    labels = tf.one_hot(rng.uniform([n], 0, maxval, dtype=tf.int32), num_classes)
    return Draws(noise, labels, d_targets, noise, g_targets)  # G's step reuses D's noise


def split_batch(batch):
    """(images, labels-or-None) from a dense batch or a conditional (x, y) pair."""
    return batch if isinstance(batch, (tuple, list)) else (batch, None)


def with_labels(x, labels):
    """A model input: x alone, or [x, labels] for the conditional models."""
    return x if labels is None else [x, labels]


def discriminator_batch(real, real_labels, fake, fake_labels):
    """D's input for move 3: real images first, then the fakes (with their labels)."""
    images = tf.concat([real, fake], axis=0)  # (2n, 28, 28, 1)
    return with_labels(images, None if real_labels is None
                       else tf.concat([real_labels, fake_labels], axis=0))  # + (2n, 10)


def train_on_batch_step(models, config):
    """The tutorial's loop with train_on_batch; `tutorial` makes fakes with predict()."""
    g, d, gan = models.generator, models.discriminator, models.gan

    def draw_and_fake(real):
        draws = draw(config, tf.shape(real)[0], models.rng)
        g_in = with_labels(draws.noise, draws.labels)
        fake = (image_of(g.predict(g_in, verbose=0)) if config.engine == "tutorial"
                else image_of(g(g_in, training=False)))  # (n, 28, 28, 1)
        return draws, fake

    if config.engine != "tutorial":
        # One traced graph: no predict() machinery, no op-by-op dispatch; fixed
        # batch shapes, so it traces once.
        draw_and_fake = tf.function(draw_and_fake)

    def update(batch):
        """One batch: the four moves, top to bottom."""
        real, real_labels = split_batch(batch)
        # 1-2. Draw, and make fakes with G (not trained here).
        draws, fake = draw_and_fake(real)
        # 3. D step. Keras 3 reads `trainable` when a model's train function is
        #    first traced, not at compile time, so the tutorial's "compile D,
        #    freeze it, compile the GAN" would leave D frozen for its own step
        #    too. Setting it before each call keeps both cached functions right.
        d.trainable = True
        d_loss = d.train_on_batch(discriminator_batch(real, real_labels, fake, draws.labels),
                                  draws.d_targets)
        # 4. G step, through a frozen D: only G moves.
        d.trainable = False
        g_loss = gan.train_on_batch(with_labels(draws.g_noise, draws.labels), draws.g_targets)
        return float(d_loss), float(g_loss)

    def step(batches):
        return np.array([update(batch) for batch in batches], dtype=np.float64)  # (k, 2)
    step.block = 1  # nothing to gain from more: each batch is its own calls
    step.traced = [draw_and_fake] if config.engine != "tutorial" else []
    return step


def fused_update(models):
    """`update(batch, draws) -> (d_loss, g_loss)`: moves 2-4 for one batch, traceable."""
    g, d = models.generator, models.discriminator
    bce = keras.losses.BinaryCrossentropy()  # what compile(loss="binary_crossentropy") uses
    d.trainable = True  # read the variable lists once, in build order
    d_vars, g_vars = d.trainable_variables, g.trainable_variables
    d_opt, g_opt = d.optimizer, models.gan.optimizer

    def update(batch, draws):
        """One batch: the same moves as train_on_batch, with tapes."""
        real, real_labels = split_batch(batch)
        with tf.GradientTape() as g_tape:
            # 2. Make fakes, under G's tape: the cgan's G step reuses them, as
            #    G has not changed in between (the dense GAN draws new noise).
            fake = image_of(g(with_labels(draws.noise, draws.labels), training=True))
            # 3. D step: no part of G's gradient.
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    verdict = d(discriminator_batch(real, real_labels, fake, draws.labels),
                                training=True)
                    d_loss = bce(draws.d_targets, verdict)
                d_opt.apply(d_tape.gradient(d_loss, d_vars), d_vars)
            # 4. G step: only G's variables get gradients, so D stays frozen.
            if draws.labels is None:
                fake = g(draws.g_noise, training=True)
            g_loss = bce(draws.g_targets, d(with_labels(fake, draws.labels), training=True))
        g_opt.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        return d_loss, g_loss
    return update


def fused_step(models, config):
    """All four moves of each of k batches, in one XLA program per call of k."""
    update = fused_update(models)

    @tf.function  # 1. Draw in a plain graph: XLA's random kernels give other numbers.
    def draw_all(batches):
        return [draw(config, tf.shape(split_batch(b)[0])[0], models.rng) for b in batches]

    @tf.function(jit_compile=True)
    def fused(batches, draws):
        # Unrolled: XLA overlaps one step's tail (G's Adam) with the next's start.
        return tf.stack([tf.stack(update(b, d)) for b, d in zip(batches, draws)])  # (k, 2)

    def step(batches):
        batches = tuple(batches)  # k batches: one trace per k, reused every epoch
        return fused(batches, draw_all(batches)).numpy().astype(np.float64)
    step.block = config.steps_per_call
    step.traced = [draw_all, fused]
    return step


ENGINES = {"tutorial": train_on_batch_step, "train_on_batch": train_on_batch_step,
           "fused": fused_step}


def make_step(config, models):
    """The step function of `config.engine` over `models` (see the module docstring)."""
    return ENGINES[config.engine](models, config)
