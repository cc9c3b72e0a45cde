"""Beyond the tutorial: step 2 on several devices, with Keras 3's distribution API.

    KERAS_BACKEND=jax python -m gan_tutorials.train --devices 2 ...   (or --devices all)

Data parallel, on the JAX backend: `keras.distribution.DataParallel` over a
one-axis `DeviceMesh` of the first N local devices. Weights and Adam slots
are created replicated on every device (the models are built inside the
distribution's scope); each batch is split along its batch axis, so
`--batch-size` stays the global batch. `train_on_batch` splits its inputs
itself under the distribution; the fused JAX engine places its inputs with
`shard_batch`, and XLA partitions its one `jax.jit` program across the
devices (gradients summed by an all-reduce).

The TensorFlow backend trains on one device here: `--devices` above 1 is
refused with a line naming KERAS_BACKEND=jax. (TensorFlow's own route,
`tf.distribute.MirroredStrategy`, does not reach the `train_on_batch` loop
the tutorial is written in.)

Checkpoints hold plain arrays, whatever the device count, so a run trained
on two devices resumes on one and the other way round.
"""

import contextlib

import keras

BATCH_AXIS = "batch"  # the mesh's one axis: the batch is split along it


class DeviceError(ValueError):
    """--devices asks for what this machine or backend cannot give."""


def local_devices():
    """The devices data-parallel training can use on this backend: jax's, or TF's one."""
    if keras.backend.backend() == "jax":
        import jax
        return jax.local_devices()
    return [None]  # TensorFlow: the one device it trains on here


def device_count(devices, batch_size):
    """The number of devices `--devices` names, checked against the machine and the batch."""
    available = local_devices()
    count = len(available) if devices == "all" else int(devices)
    if count > 1 and keras.backend.backend() != "jax":
        raise DeviceError(f"--devices {devices}: data-parallel training runs on the JAX backend; "
                          "set KERAS_BACKEND=jax (the TensorFlow backend trains on one device)")
    if count > len(available):
        raise DeviceError(f"--devices {devices}: this machine has {len(available)} "
                          f"{keras.backend.backend()} device(s)")
    if batch_size % count:
        raise DeviceError(f"--batch-size {batch_size} does not split evenly over {count} devices; "
                          f"pick a multiple of {count}")
    return count


def data_parallel(count):
    """Keras's DataParallel over the first `count` local devices, or None for one device."""
    if count == 1:
        return None
    mesh = keras.distribution.DeviceMesh((count,), [BATCH_AXIS], local_devices()[:count])
    return keras.distribution.DataParallel(device_mesh=mesh)


def scope(distribution):
    """The distribution's scope, or nothing to enter for one device."""
    return distribution.scope() if distribution is not None else contextlib.nullcontext()


def shard_batch(array, distribution):
    """An array placed with the distribution's batch sharding (axis 0 split over the mesh)."""
    if distribution is None:
        return array
    import jax
    return jax.device_put(array, distribution.get_data_layout(array.shape).backend_layout)
