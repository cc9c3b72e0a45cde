"""Tutorial step 2, one batch at a time: the alternating D / G update, three ways.

Every engine does the tutorial's math per batch:
  1. D learns real vs fake with soft labels: real ~ U(0.9, 1), fake ~ U(0, 0.1).
     Soft labels keep D from growing over-confident, which would starve G of
     gradient early on.
  2. G learns through a frozen D to make D say "real" (targets ~ U(0.9, 1)).
     The dense GAN draws fresh noise for step 2; the conditional GAN reuses
     step 1's noise and labels, as the tutorial's conditional loop does.

Engines (each a factory returning `step(batch) -> (d_loss, g_loss)`):
  * tutorial_step:      the tutorial's loop as written (`generator.predict`).
  * train_on_batch_step: the same loop without `predict`; its sampling is one
                        compiled function, the updates are `train_on_batch`.
  * fused_step:         both updates inside one XLA-compiled function.
"""

import keras
import tensorflow as tf

from gan_tutorials.models import NUM_CLASSES, create_gan


def compile_models(generator, discriminator, learning_rate=1e-4, beta_1=0.5):
    """Compile D and the combined GAN, each with its own Adam; return the GAN."""
    adam = lambda: keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    discriminator.compile(optimizer=adam(), loss="binary_crossentropy")
    gan = create_gan(discriminator, generator)
    gan.compile(optimizer=adam(), loss="binary_crossentropy")
    # Build both optimizers now, with D's and G's variables respectively, so a
    # checkpoint can restore their slots before the first step of a resume.
    discriminator.optimizer.build(discriminator.trainable_variables)
    gan.optimizer.build(generator.trainable_variables)
    return gan


def soft_labels(n, low, high):
    """(n, 1) targets drawn from U(low, high): the tutorial's label smoothing."""
    return tf.random.uniform([n, 1], low, high)


def sample_labels(n, label_sampling="uniform"):
    """(n, 10) one-hot random classes; "notebook" keeps the tutorial's maxval=9."""
    maxval = NUM_CLASSES if label_sampling == "uniform" else NUM_CLASSES - 1
    return tf.one_hot(tf.random.uniform([n], 0, maxval, dtype=tf.int32), NUM_CLASSES)


def split_batch(batch):
    """(images, labels-or-None) from a dense batch or a conditional (x, y) pair."""
    return batch if isinstance(batch, (tuple, list)) else (batch, None)


def generator_inputs(n, noise_dim, conditional, label_sampling):
    """Inputs for G: noise, or [noise, one-hot labels]; noise ~ N(0, 1)."""
    noise = tf.random.normal([n, noise_dim])  # (n, 100)
    if not conditional:
        return noise
    return [noise, sample_labels(n, label_sampling)]


def discriminator_batch(real, real_labels, fake, fake_labels):
    """D's inputs and soft targets: real images first, then the fakes."""
    n = tf.shape(real)[0]
    images = tf.concat([real, fake], axis=0)  # (2n, 28, 28, 1)
    targets = tf.concat([soft_labels(n, 0.9, 1.0), soft_labels(n, 0.0, 0.1)], axis=0)
    if real_labels is None:
        return images, targets
    return [images, tf.concat([real_labels, fake_labels], axis=0)], targets


def plan_batch(generator, batch, noise_dim, label_sampling="uniform", make_fake=None):
    """Draw everything one step needs: (d_x, d_y, g_x, g_y).

    `make_fake(g_in)` lets the tutorial's loop use `generator.predict`; by
    default G is called directly (training=False: no update, no dropout).
    """
    real, real_labels = split_batch(batch)
    n, conditional = tf.shape(real)[0], real_labels is not None
    g_in = generator_inputs(n, noise_dim, conditional, label_sampling)
    make_fake = make_fake or (lambda g: _first(generator(g, training=False)))
    fake = make_fake(g_in)  # (n, 28, 28, 1)
    d_x, d_y = discriminator_batch(real, real_labels, fake, g_in[1] if conditional else None)
    if not conditional:  # the dense GAN draws fresh noise for the G step
        g_in = generator_inputs(n, noise_dim, False, label_sampling)
    return d_x, d_y, g_in, soft_labels(n, 0.9, 1.0)


def _first(outputs):
    """The image from a generator's output: a tensor, or [image, label]."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


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


def tutorial_step(generator, discriminator, gan, noise_dim=100, label_sampling="uniform"):
    """The tutorial's loop body as written: `generator.predict` every batch."""
    predict = lambda g_in: _first(generator.predict(g_in, verbose=0))

    def step(batch):
        return train_pair(discriminator, gan, *plan_batch(
            generator, batch, noise_dim, label_sampling, make_fake=predict))
    return step


def train_on_batch_step(generator, discriminator, gan, noise_dim=100, label_sampling="uniform"):
    """The package's default engine: compiled sampling, then train_on_batch x2."""
    # One traced graph draws noise, labels and fakes: no predict() machinery,
    # no eager op-by-op dispatch. Batches have a fixed shape, so it traces once.
    plan = tf.function(lambda batch: plan_batch(generator, batch, noise_dim, label_sampling))

    def step(batch):
        return train_pair(discriminator, gan, *plan(batch))
    step.plan = plan  # exposed so tests can count traces
    return step


def fused_step(generator, discriminator, gan, noise_dim=100, label_sampling="uniform",
               jit_compile=True):
    """Both updates in one compiled function, using the compiled models' optimizers."""
    bce = keras.losses.BinaryCrossentropy()  # what compile(loss="binary_crossentropy") uses
    discriminator.trainable = True  # read the variable lists once, in build order
    d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables
    d_opt, g_opt = discriminator.optimizer, gan.optimizer

    def update(d_x, d_y, g_x, g_y):
        with tf.GradientTape() as tape:
            d_loss = bce(d_y, discriminator(d_x, training=True))
        d_opt.apply(tape.gradient(d_loss, d_vars), d_vars)
        # G's step runs after D's update and differentiates G's variables
        # only, so D is frozen here without touching `trainable`.
        with tf.GradientTape() as tape:
            g_loss = bce(g_y, gan(g_x, training=True))
        g_opt.apply(tape.gradient(g_loss, g_vars), g_vars)
        return d_loss, g_loss

    @tf.function(jit_compile=jit_compile)
    def fused(batch):
        return update(*plan_batch(generator, batch, noise_dim, label_sampling))

    def step(batch):
        d_loss, g_loss = fused(batch)
        return float(d_loss), float(g_loss)
    step.plan, step.update = fused, update  # exposed for tests
    return step


ENGINES = {"tutorial": tutorial_step, "train_on_batch": train_on_batch_step,
           "fused": fused_step}


def make_step(engine, generator, discriminator, gan, noise_dim=100, label_sampling="uniform"):
    """The step function of the named engine."""
    return ENGINES[engine](generator, discriminator, gan, noise_dim, label_sampling)
