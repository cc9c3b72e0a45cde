"""Beyond the tutorial: step 2 on several devices, with Keras 3's distribution API.

    KERAS_BACKEND=jax python -m gan_tutorials.train --devices 2 ...   (or --devices all)

Data parallel, on the JAX backend: `keras.distribution.DataParallel` over a
one-axis `DeviceMesh` of the first N devices. Weights and Adam slots
are created replicated on every device (the models are built inside the
distribution's scope); each batch is split along its batch axis, so
`--batch-size` stays the global batch. `train_on_batch` splits its inputs
itself under the distribution; the fused JAX engine places its inputs itself
(`global_batch`), and XLA partitions its one `jax.jit` program across the
devices (gradients summed by an all-reduce).

The TensorFlow backend trains on one device here: `--devices` above 1 is
refused with a line naming KERAS_BACKEND=jax. (TensorFlow's own route,
`tf.distribute.MirroredStrategy`, does not reach the `train_on_batch` loop
the tutorial is written in.)

Several processes (JAX), one machine or several:

    KERAS_BACKEND=jax python -m gan_tutorials.train --coordinator HOSTA:1234 \
        --processes 2 --process-id K --devices all ...   (K = 0 on host A, 1 on B)
    python -m gan_tutorials.launch --processes 2 -- train --devices all ...  (localhost)

`start` calls `keras.distribution.initialize` (JAX's distributed runtime, gloo
collectives on CPU) before anything touches a device; a flag left unset
falls back to Keras's own KERAS_DISTRIBUTION_* variable, so a cluster
scheduler that sets those needs no flags. The mesh then spans every
process's devices (`--devices all`). Each process reads only its rows of each
global batch (`local_rows`) and hands them to JAX with
`jax.make_array_from_process_local_data` (`global_batch`), so the global batch,
and every random number drawn for it from the one seeded stream, are a
one-process run's: every engine lands on the same weights whatever the
process count.

Checkpoints hold plain arrays, whatever the device or process count, so a run
trained on two devices or processes resumes on one and the other way round.
"""

import contextlib
import os
import sys
import threading
from typing import NamedTuple

import keras

BATCH_AXIS = "batch"  # the mesh's one axis: the batch is split along it


ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
       "KERAS_DISTRIBUTION_PROCESS_ID")  # what keras.distribution.initialize reads


class DeviceError(ValueError):
    """--devices or --processes asks for what this machine or backend cannot give."""


class Processes(NamedTuple):
    """The processes of a run: process 0's address, how many, and which one this is."""

    coordinator: str | None
    count: int
    index: int


def processes_of(config, environ=None):
    """The run's processes: its flags, else Keras's variables, else one process.

    Checked before anything starts, each problem in one line.
    """
    environ = os.environ if environ is None else environ
    try:
        count = config.processes or int(environ.get(ENV[1], 1))
        index = config.process_id if config.process_id is not None else int(environ.get(ENV[2], 0))
    except ValueError as err:
        raise DeviceError(f"{ENV[1]} and {ENV[2]} must be integers ({err})") from None
    coordinator = config.coordinator or environ.get(ENV[0])
    if not 0 <= index < count:
        raise DeviceError(f"--process-id {index} is out of range for --processes {count} "
                          f"(0 to {count - 1})")
    if count > 1 and not coordinator:
        raise DeviceError(f"--processes {count} needs --coordinator HOST:PORT, process 0's "
                          f"address (or {ENV[0]})")
    if count > 1 and keras.backend.backend() != "jax":
        raise DeviceError(f"--processes {count}: a run over several processes needs "
                          "KERAS_BACKEND=jax (Keras 3 has no multi-process route on TensorFlow)")
    if count > 1 and config.engine == "tutorial":
        raise DeviceError("--engine tutorial makes its fakes with predict(), one process's "
                          "call: over several processes use train_on_batch or fused")
    if count > 1 and config.mode_seeking and config.engine != "fused":
        raise DeviceError("--mode-seeking pairs rows across the whole batch, which train_on_batch "
                          "sees a process's share of: over several processes use --engine fused")
    return Processes(coordinator, count, index)


def start(processes, timeout):
    """Join the other processes (keras.distribution.initialize), at most `timeout` seconds.

    Must come before anything touches a device, once per process; nothing for
    one process. Keras reads the three settings from its variables, set here.
    A process that cannot join raises DeviceError; its connect goes on
    waiting in a daemon thread, which the process's exit does not wait for.
    """
    if processes.count == 1:
        return
    import jax
    if jax.distributed.is_initialized():
        return
    os.environ.update(zip(ENV, (processes.coordinator, str(processes.count),
                                str(processes.index))))
    failed, joined = [], threading.Event()

    def join():
        try:
            keras.distribution.initialize()
        except Exception as err:  # noqa: BLE001 (said in one line below)
            failed.append(err)
        joined.set()
    threading.Thread(target=join, daemon=True).start()
    if not joined.wait(timeout):
        raise DeviceError(f"process {processes.index} of {processes.count}: not every process "
                          f"joined through {processes.coordinator} within {timeout} s "
                          "(is each one started, and the address reachable?)")
    if failed:
        raise DeviceError(f"process {processes.index} of {processes.count}: could not join "
                          f"through {processes.coordinator}: {failed[0]}")


def exit_now(code):
    """End this process now: after a peer is lost, JAX's own exit would wait for it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def process_share():
    """(this process's index, the process count): (0, 1) unless `start` joined several."""
    if keras.backend.backend() != "jax":
        return 0, 1
    import jax
    return jax.process_index(), jax.process_count()


def local_rows(n):
    """The slice of a global batch of n rows that this process reads (all of it alone)."""
    index, count = process_share()
    return slice(index * n // count, (index + 1) * n // count)


def devices():
    """The devices data-parallel training can use: every process's on JAX, or TF's one."""
    if keras.backend.backend() == "jax":
        import jax
        return jax.devices()
    return [None]  # TensorFlow: the one device it trains on here


def device_count(devices_flag, batch_size, group=1):
    """The number of devices `--devices` names, checked against the machine and the batch.

    Over several processes the mesh spans them all (`--devices all`), and each
    process's share of a batch must hold whole groups of D's (`group`:
    --pack x --minibatch-std), as train_on_batch judges its share alone.
    """
    available, (_, processes) = devices(), process_share()
    count = len(available) if devices_flag == "all" else int(devices_flag)
    if count > 1 and keras.backend.backend() != "jax":
        raise DeviceError(f"--devices {devices_flag}: data-parallel training runs on the JAX "
                          "backend; set KERAS_BACKEND=jax (the TensorFlow backend trains on "
                          "one device)")
    if count > len(available):
        raise DeviceError(f"--devices {devices_flag}: this machine has {len(available)} "
                          f"{keras.backend.backend()} device(s)")
    if processes > 1 and count != len(available):
        raise DeviceError(f"--devices {devices_flag}: a run over {processes} processes trains on "
                          f"all their {len(available)} devices; use --devices all")
    if processes > 1 and (batch_size // processes) % group:
        raise DeviceError(f"--batch-size {batch_size}: each of {processes} processes' share must "
                          f"be a multiple of --pack x --minibatch-std ({group})")
    if batch_size % count:
        raise DeviceError(f"--batch-size {batch_size} does not split evenly over {count} devices; "
                          f"pick a multiple of {count}")
    return count


def data_parallel(count):
    """Keras's DataParallel over the first `count` local devices, or None for one device."""
    if count == 1:
        return None
    mesh = keras.distribution.DeviceMesh((count,), [BATCH_AXIS], devices()[:count])
    return keras.distribution.DataParallel(device_mesh=mesh)


def scope(distribution):
    """The distribution's scope, or nothing to enter for one device."""
    return distribution.scope() if distribution is not None else contextlib.nullcontext()


def global_batch(rows, distribution):
    """A batch laid out along the mesh's batch axis, from this process's `rows` of it.

    As Keras's trainer does for fit: each process hands in its own rows
    (`local_rows`), which jax.device_put of a host array would instead take
    as the whole batch, checked equal on every process.
    """
    if distribution is None:
        return rows
    import jax
    shape = (rows.shape[0] * process_share()[1], *rows.shape[1:])
    layout = distribution.get_data_layout(shape).backend_layout
    return jax.make_array_from_process_local_data(layout, rows, shape)


def several_processes():
    """Whether this process joined others (`parallel.start`)."""
    return "jax" in sys.modules and sys.modules["jax"].distributed.is_initialized()


def lost_peer(err):
    """One line for an error that ends a run over several processes: a lost peer, or else."""
    index, count = process_share()
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if "gloo" in first.lower() or "connection" in first.lower():
        others = "process 1" if count == 2 and index == 0 else (
            "process 0" if count == 2 else "another process")
        return (f"process {index} of {count} lost {others} ({first}); the run stops on every "
                "process, its folder keeps the last completed epoch")
    return f"process {index} of {count}: {type(err).__name__}: {first}"
