"""Tutorial step 2, fused: all four moves of k batches in one compiled program per call.

The fused engine of `steps` (`--engine fused`): the same moves, on the same
random numbers, as train_on_batch, so it lands on the same weights; on
TensorFlow one XLA program (`fused_step`), on JAX one `jax.jit` over Keras's
stateless calls (`jax_fused_step`). `steps.make_step` picks between them.
"""

import keras
import numpy as np
import tensorflow as tf

from gan_tutorials import parallel
from gan_tutorials.levers import half_roll, mode_seeking_loss, partner_image
from gan_tutorials.models import image_of
from gan_tutorials.steps import (
    Step,
    discriminator_batch,
    moving_average,
    randoms,
    split_batch,
    to_backend,
    update_average,
    with_labels,
)


def fused_update(models, momentum=0.0, mode_seeking=0.0):
    """`update(batch, rnd) -> (d_loss, g_loss)`: moves 2-4 for one batch, traceable."""
    g, d = models.generator, models.discriminator
    bce = keras.losses.BinaryCrossentropy()  # what compile(loss="binary_crossentropy") uses
    d.trainable = True  # read the variable lists once, in build order
    d_vars, g_vars = d.trainable_variables, g.trainable_variables
    d_opt, g_opt = d.optimizer, models.gan.optimizer

    def update(batch, rnd):
        """One batch: the same moves as train_on_batch, with tapes."""
        real, real_labels = split_batch(batch)
        with tf.GradientTape() as g_tape:
            # 2. Make fakes, under G's tape: the cgan's G step reuses them, as
            #    G has not changed in between (the dense GAN draws new noise).
            fake = image_of(g(with_labels(rnd.noise, rnd.labels), training=True))
            # 3. D step: no part of G's gradient.
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    verdict = d(discriminator_batch(real, real_labels, fake, rnd.labels),
                                training=True)
                    d_loss = bce(rnd.d_targets, verdict)
                d_opt.apply(d_tape.gradient(d_loss, d_vars), d_vars)
            # 4. G step: only G's variables get gradients, so D stays frozen.
            if rnd.labels is None:
                fake = g(rnd.g_noise, training=True)
            # (Not training mode: nothing in a frozen D may move, --projection's u included.)
            g_loss = bce(rnd.g_targets, d(with_labels(fake, rnd.labels), training=False))
            if mode_seeking:  # --mode-seeking: as the combined GAN adds it for train_on_batch
                partner = partner_image(g, rnd.g_noise, rnd.labels, fake)
                g_loss += mode_seeking_loss(rnd.g_noise, half_roll(rnd.g_noise), fake, partner,
                                            mode_seeking)
        g_opt.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        # 5. --ema: G's averaged twin follows it.
        update_average(models, momentum)
        return d_loss, g_loss
    return update


def fused_step(models, config):
    """All four moves of each of k batches, in one XLA program per call of k."""
    update = fused_update(models, config.ema, config.mode_seeking)

    @tf.function  # 1. Draw in a plain graph: XLA's random kernels give other numbers.
    def draw_all(batches):
        return [randoms(config, split_batch(b)[0].shape[0], models.rng, models.num_classes)
                for b in batches]

    @tf.function(jit_compile=True)
    def fused(batches, rnd):
        # Unrolled: XLA overlaps one step's tail (G's Adam) with the next's start.
        return tf.stack([tf.stack(update(b, d)) for b, d in zip(batches, rnd)])  # (k, 2)

    def step(batches):
        batches = tuple(batches)  # k batches: one trace per k, reused every epoch
        return fused(batches, draw_all(batches)).numpy().astype(np.float64)
    return Step(step, config.steps_per_call, (draw_all, fused))


def jax_fused_step(models, config):
    """The fused engine on JAX: k batches' four moves in one jax.jit of stateless calls.

    The weights and both Adams' slots travel through the jitted function as
    arrays (their buffers donated, so they are updated in place) and are
    written back to the Keras variables after each call, for previews and
    checkpoints. The random numbers come from the same stream, in the same order, as
    train_on_batch's, so both land on the same weights.
    """
    import jax  # only on the JAX backend

    g, d = models.generator, models.discriminator
    bce = keras.losses.BinaryCrossentropy()
    d.trainable = True  # D's full variable list; G's step simply takes no gradient for it
    d_opt, g_opt = d.optimizer, models.gan.optimizer
    averaged = models.average.trainable_variables if models.average is not None else []
    variables = (g.trainable_variables, g.non_trainable_variables, d.trainable_variables,
                 d.non_trainable_variables, d_opt.variables, g_opt.variables, averaged)

    def update(state, batch, rnd):
        """One batch: moves 2-5, as pure functions of the state."""
        g_tv, g_nv, d_tv, d_nv, d_ov, g_ov, a_tv = state
        real, real_labels = split_batch(batch)
        # 2. Make fakes with G as it is before this batch.
        fake = image_of(g.stateless_call(g_tv, g_nv, with_labels(rnd.noise, rnd.labels),
                                         training=True)[0])

        def d_loss_of(d_tv):  # 3. D step: real vs fake, soft targets
            batch_in = discriminator_batch(real, real_labels, fake, rnd.labels)
            verdict, d_nv_after = d.stateless_call(d_tv, d_nv, batch_in, training=True)
            return bce(rnd.d_targets, verdict), d_nv_after  # (--projection's u moves here)
        (d_loss, d_nv), d_grads = jax.value_and_grad(d_loss_of, has_aux=True)(d_tv)
        d_tv, d_ov = d_opt.stateless_apply(d_ov, d_grads, d_tv)

        def g_loss_of(g_tv):  # 4. G step through the updated D, whose weights are constants here
            fake = image_of(g.stateless_call(g_tv, g_nv, with_labels(rnd.g_noise, rnd.labels),
                                             training=True)[0])
            verdict = d.stateless_call(d_tv, d_nv, with_labels(fake, rnd.labels),
                                       training=False)[0]  # frozen: nothing of D moves
            loss = bce(rnd.g_targets, verdict)
            if config.mode_seeking:  # as the combined GAN adds it for train_on_batch
                partner = (half_roll(fake) if rnd.labels is None else image_of(g.stateless_call(
                    g_tv, g_nv, [half_roll(rnd.g_noise), rnd.labels], training=True)[0]))
                loss += mode_seeking_loss(rnd.g_noise, half_roll(rnd.g_noise), fake, partner,
                                          config.mode_seeking)
            return loss
        g_loss, g_grads = jax.value_and_grad(g_loss_of)(g_tv)
        g_tv, g_ov = g_opt.stateless_apply(g_ov, g_grads, g_tv)
        a_tv = moving_average(a_tv, g_tv, config.ema) if a_tv else a_tv  # 5. --ema
        return (g_tv, g_nv, d_tv, d_nv, d_ov, g_ov, a_tv), (d_loss, g_loss)

    def fused(state, batches, rnd):
        losses = []
        for batch, batch_rnd in zip(batches, rnd):  # unrolled, as on TensorFlow
            state, batch_losses = update(state, batch, batch_rnd)
            losses.append(keras.ops.stack(batch_losses))
        return state, keras.ops.stack(losses)  # (k, 2)
    fused = jax.jit(fused, donate_argnums=0)

    def inputs(batches):
        """What one compiled call takes for these batches: (state, batches, rnd)."""
        # Under a DataParallel distribution (--devices N, --processes N) every input
        # is split along its batch axis; the weights are replicated, so XLA
        # partitions the program. Each process holds its rows of the real batches ...
        distribution = keras.distribution.distribution()
        batches = jax.tree_util.tree_map(lambda rows: parallel.global_batch(rows, distribution),
                                         tuple(to_backend(b) for b in batches))
        # 1. ... and draws the whole batch's numbers, the same on every process.
        rnd = [randoms(config, split_batch(b)[0].shape[0], models.rng, models.num_classes)
               for b in batches]
        rnd = jax.tree_util.tree_map(shard_batch, rnd)
        return tuple([v.value for v in group] for group in variables), batches, rnd

    def step(batches):
        state, losses = fused(*inputs(batches))
        for group, values in zip(variables, state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return np.asarray(losses, np.float64)
    return Step(step, config.steps_per_call, (fused,), inputs)


def shard_batch(array):
    """An array split along its batch axis under a DataParallel distribution (--devices N)."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return array
    return keras.distribution.distribute_tensor(array, distribution.get_data_layout(array.shape))
