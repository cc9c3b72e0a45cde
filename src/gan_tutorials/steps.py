"""Tutorial step 2, one batch at a time: the alternating D / G update, three ways.

Every engine does the tutorial's math per batch:
  1. D learns real vs fake with soft labels: real ~ U(0.9, 1), fake ~ U(0, 0.1).
     Soft labels keep D from growing over-confident, which would starve G of
     gradient early on.
  2. G learns through a frozen D to make D say "real" (targets ~ U(0.9, 1)).
     The dense GAN draws fresh noise for step 2; the conditional GAN reuses
     step 1's noise and labels, as the tutorial's conditional loop does.

Engines (each a factory returning `step(batches) -> losses`, where `batches`
is a list of k batches, trained in order, and `losses` a (k, 2) array of
d_loss, g_loss per batch; `step.block` is the k the engine prefers):
  * tutorial_step:      the tutorial's loop as written (`generator.predict`).
  * train_on_batch_step: the same loop without `predict`; its sampling is one
                        compiled function, the updates are `train_on_batch`.
  * fused_step:         both updates of `block` batches in one XLA program.

All random numbers of a step come from `draw`, from a seeded, checkpointable
`tf.random.Generator` (or, for the tutorial's loop, tf's global ops). The
package's two engines draw in a plain TF graph in the same order, so from the
same seed they see the same numbers and do the same math.
"""

import keras
import numpy as np
import tensorflow as tf

from gan_tutorials.config import Config
from gan_tutorials.models import NUM_CLASSES, create_gan, image_of


def compile_models(generator, discriminator, learning_rate=1e-4, beta_1=0.5, jit_compile=True):
    """Compile D and the combined GAN, each with its own Adam; return the GAN.

    Keras leaves XLA off on CPU-only machines; switching it on makes each
    train_on_batch ~12% faster here (measured by `bench`). The tutorial's own
    loop, as the benchmark runs it, passes jit_compile=False.
    """
    adam = lambda: keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    discriminator.compile(optimizer=adam(), loss="binary_crossentropy", jit_compile=jit_compile)
    gan = create_gan(discriminator, generator)
    gan.compile(optimizer=adam(), loss="binary_crossentropy", jit_compile=jit_compile)
    # Build both optimizers now, with D's and G's variables respectively, so a
    # checkpoint can restore their slots before the first step of a resume.
    discriminator.optimizer.build(discriminator.trainable_variables)
    gan.optimizer.build(generator.trainable_variables)
    return gan


def draw(n, noise_dim, conditional, label_sampling="uniform", rng=None):
    """Every random number one step uses: noise, fake labels, soft targets.

    Soft targets: real ~ U(0.9, 1), fake ~ U(0, 0.1), G's ~ U(0.9, 1). The
    dense GAN draws fresh noise for G's step; the conditional GAN reuses the
    D step's noise and labels, as the tutorial's conditional loop does.
    """
    normal = rng.normal if rng is not None else tf.random.normal
    uniform = rng.uniform if rng is not None else tf.random.uniform
    noise = normal([n, noise_dim])  # (n, 100)
    draws = {"noise": noise,
             "d_targets": tf.concat([uniform([n, 1], 0.9, 1.0), uniform([n, 1], 0.0, 0.1)], 0),
             "g_targets": uniform([n, 1], 0.9, 1.0)}
    if conditional:
        # "notebook" keeps the tutorial's maxval=9 (exclusive): 9 is never drawn.
        maxval = NUM_CLASSES if label_sampling == "uniform" else NUM_CLASSES - 1
        draws["labels"] = tf.one_hot(uniform([n], 0, maxval, dtype=tf.int32), NUM_CLASSES)
        draws["g_noise"] = noise
    else:
        draws["g_noise"] = normal([n, noise_dim])
    return draws


def draw_for(batch, noise_dim, label_sampling="uniform", rng=None):
    """The draws for one batch (its size and kind decide their shapes)."""
    real, real_labels = split_batch(batch)
    return draw(tf.shape(real)[0], noise_dim, real_labels is not None, label_sampling, rng)


def split_batch(batch):
    """(images, labels-or-None) from a dense batch or a conditional (x, y) pair."""
    return batch if isinstance(batch, (tuple, list)) else (batch, None)


def with_labels(x, labels):
    """A model input: x alone, or [x, labels] for the conditional models."""
    return x if labels is None else [x, labels]


def discriminator_inputs(real, real_labels, fake, fake_labels):
    """D's batch: real images first, then the fakes (with their labels)."""
    images = tf.concat([real, fake], axis=0)  # (2n, 28, 28, 1)
    if real_labels is None:
        return images
    return [images, tf.concat([real_labels, fake_labels], axis=0)]  # + (2n, 10)


def plan_batch(generator, batch, draws, make_fake=None):
    """(d_x, d_y, g_x, g_y) for the two train_on_batch calls of one step.

    `make_fake(g_in)` lets the tutorial's loop use `generator.predict`; by
    default G is called directly (training=False: no update, no dropout).
    """
    real, real_labels = split_batch(batch)
    labels = draws.get("labels")
    make_fake = make_fake or (lambda g_in: image_of(generator(g_in, training=False)))
    fake = make_fake(with_labels(draws["noise"], labels))  # (n, 28, 28, 1)
    d_x = discriminator_inputs(real, real_labels, fake, labels)
    return d_x, draws["d_targets"], with_labels(draws["g_noise"], labels), draws["g_targets"]


def train_discriminator(discriminator, d_x, d_y):
    """D's half of the step: train_on_batch with D made trainable first.

    Keras 3 reads `trainable` when a model's train function is first traced,
    not at compile time, so the tutorial's "compile D, freeze it, compile the
    GAN" trick leaves D frozen for its own step too: it silently never learns.
    Setting the flag before each call keeps each model's cached train
    function tracing with the right variables; it never retraces afterwards.
    """
    discriminator.trainable = True
    return float(discriminator.train_on_batch(d_x, d_y))


def train_generator(discriminator, gan, g_x, g_y):
    """G's half of the step: train the GAN with D frozen, so only G moves."""
    discriminator.trainable = False
    return float(gan.train_on_batch(g_x, g_y))


def train_pair(discriminator, gan, d_x, d_y, g_x, g_y):
    """The alternating update: D first, then G through the just-updated D."""
    d_loss = train_discriminator(discriminator, d_x, d_y)
    return d_loss, train_generator(discriminator, gan, g_x, g_y)


def one_at_a_time(step_one):
    """An engine's `step(batches) -> (k, 2) losses` from a one-batch step."""
    def step(batches):
        return np.array([step_one(batch) for batch in batches], dtype=np.float64)
    step.block = 1  # nothing to gain from more: each batch is its own calls
    return step


def tutorial_step(generator, discriminator, gan, noise_dim=100, label_sampling="uniform",
                  rng=None):
    """The tutorial's loop as written: `generator.predict` every batch."""
    predict = lambda g_in: image_of(generator.predict(g_in, verbose=0))
    return one_at_a_time(lambda batch: train_pair(discriminator, gan, *plan_batch(
        generator, batch, draw_for(batch, noise_dim, label_sampling, rng), predict)))


def train_on_batch_step(generator, discriminator, gan, noise_dim=100, label_sampling="uniform",
                        rng=None):
    """The package's default engine: compiled sampling, then train_on_batch x2."""
    # One traced graph draws noise, labels and fakes: no predict() machinery,
    # no eager op-by-op dispatch. Batches have a fixed shape, so it traces once.
    plan = tf.function(lambda batch: plan_batch(
        generator, batch, draw_for(batch, noise_dim, label_sampling, rng)))
    step = one_at_a_time(lambda batch: train_pair(discriminator, gan, *plan(batch)))
    step.plan = plan  # exposed so tests can count traces
    return step


def fused_update(generator, discriminator, gan):
    """`update(batch, draws) -> (d_loss, g_loss)`: both halves, in one function.

    For the conditional GAN, G's step reuses the D step's noise and labels and
    G has not changed in between, so the fakes are computed once, under the
    G tape, and fed to D's step too; the dense GAN's G step needs fresh noise.
    """
    bce = keras.losses.BinaryCrossentropy()  # what compile(loss="binary_crossentropy") uses
    discriminator.trainable = True  # read the variable lists once, in build order
    d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables
    d_opt, g_opt = discriminator.optimizer, gan.optimizer

    def update(batch, draws):
        real, real_labels = split_batch(batch)
        labels = draws.get("labels")
        with tf.GradientTape() as g_tape:
            fake = image_of(generator(with_labels(draws["noise"], labels), training=True))
            with g_tape.stop_recording():  # D's step is no part of G's gradient
                d_x = discriminator_inputs(real, real_labels, fake, labels)
                with tf.GradientTape() as d_tape:
                    d_loss = bce(draws["d_targets"], discriminator(d_x, training=True))
                d_opt.apply(d_tape.gradient(d_loss, d_vars), d_vars)
            if labels is None:
                fake = generator(draws["g_noise"], training=True)
            # Only G's variables get gradients: D is frozen without `trainable`.
            verdict = discriminator(with_labels(fake, labels), training=True)
            g_loss = bce(draws["g_targets"], verdict)
        g_opt.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        return d_loss, g_loss
    return update


def fused_step(generator, discriminator, gan, noise_dim=100, label_sampling="uniform",
               rng=None, block=Config.steps_per_call, jit_compile=True):
    """Both updates of each of k batches, in one XLA program per call of k."""
    update = fused_update(generator, discriminator, gan)
    # Drawn in a plain graph, like the train_on_batch engine's draws: XLA's
    # own random kernels give other numbers from the same generator state.
    draw_all = tf.function(lambda batches: [
        draw_for(batch, noise_dim, label_sampling, rng) for batch in batches])

    @tf.function(jit_compile=jit_compile)
    def fused(batches, draws):
        # Unrolled: XLA overlaps one step's tail (G's Adam) with the next's start.
        return tf.stack([tf.stack(update(b, d)) for b, d in zip(batches, draws)])  # (k, 2)

    def step(batches):
        batches = tuple(batches)  # k batches: one trace per k, reused every epoch
        return fused(batches, draw_all(batches)).numpy().astype(np.float64)
    step.block, step.plan = block, fused  # plan: exposed so tests can count traces
    return step


ENGINES = {"tutorial": tutorial_step, "train_on_batch": train_on_batch_step,
           "fused": fused_step}


def make_step(engine, generator, discriminator, gan, noise_dim=100, label_sampling="uniform",
              rng=None, steps_per_call=Config.steps_per_call):
    """The step function of the named engine; only `fused` runs several steps per call."""
    args = (generator, discriminator, gan, noise_dim, label_sampling, rng)
    if engine == "fused":
        return fused_step(*args, block=steps_per_call)
    return ENGINES[engine](*args)
