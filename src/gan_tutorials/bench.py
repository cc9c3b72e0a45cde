"""Beyond the tutorial: how fast is one training step, against this machine's limit?

    python -m gan_tutorials.bench [--kind gan|cgan|both] [--arch dense|conv ...]
                                  [--d-width W ...] [--steps N] [--repeats R]
                                  [--steps-per-call K] [--json FILE]

Times, in one process, on in-memory random batches and the exact tutorial
models (or, with `--arch conv`, the conv pair; several archs in one run are
timed under the same load, and so are the conv Ds of several `--d-width`s),
three engines (see `steps`):
  1. tutorial        the tutorial's loop as written (`predict` per batch);
  2. train_on_batch  the package's default engine;
  3. fused           both updates of K batches in one XLA-compiled program.
Repeats are interleaved (1, 2, 3, 1, 2, 3, ...) so drift in the machine's
speed hits all engines alike; the median ms/step of each is reported. The
engines are those of the active Keras backend: `KERAS_BACKEND=jax` times
JAX's (fused = one jax.jit), and the table names the backend and device.

The ceiling is measured, not assumed: the very matmuls one step performs
(forward, weight-gradient and input-gradient products, counted from the layer
shapes; a convolution counts as the matmul it is at each position) are run
back to back in one compiled function, and their FLOPs over its median time
is this machine's float32 matmul rate at these sizes. Each engine's share is
(FLOPs per step / its time) / that rate. The physical limit is printed beside
it: cores x 2 FMA units x float32 lanes x 2 FLOP x clock, read from /proc/cpuinfo.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gan_tutorials import parallel, runs
from gan_tutorials.config import ARCHS, ENGINES, MNIST, Config, bounded, devices_flag
from gan_tutorials.data import DataError, image_set
from gan_tutorials.models import create_models
from gan_tutorials.steps import build_models, make_step


def layer_shapes(model):
    """(positions, fan_in, fan_out) of every weighted layer, input to output.

    A Dense layer is one product per example (positions 1). A convolution is
    the same product at every output position (im2col: fan_in = kernel area x
    input channels); a transposed convolution scatters every input position
    into a kernel's area of outputs (fan_out = kernel area x output channels).
    Either way it is one matmul of (batch x positions) rows.
    """
    shapes = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            shapes.append((1, *layer.kernel.shape))
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, cout, cin = layer.kernel.shape
            rows, cols = layer.input.shape[1:3]
            shapes.append((rows * cols, cin, kh * kw * cout))
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            rows, cols = layer.output.shape[1:3]
            shapes.append((rows * cols, kh * kw * cin, cout))
    return shapes


def step_matmuls(kind, batch_size=Config.batch_size, noise_dim=Config.noise_dim, spec=MNIST,
                 *, arch="dense", d_width=None):
    """Every matmul of one tutorial step as (m, k, n) triples: C(m,n) = A(m,k) B(k,n).

    Sampling: G forward on B. D step: D forward, weight and input gradients on
    2B (no input gradient for D's first layer: its input is data). G step:
    G then D forward on B, input gradients through every D layer, weight
    gradients of G only, input gradients through G but its first layer.
    """
    generator, discriminator = create_models(kind, noise_dim, spec, arch, d_width=d_width)
    g, d = layer_shapes(generator), layer_shapes(discriminator)
    fwd = lambda n, shapes: [(n * p, i, o) for p, i, o in shapes]
    d_w = lambda n, shapes: [(i, n * p, o) for p, i, o in shapes]
    d_x = lambda n, shapes: [(n * p, o, i) for p, i, o in shapes]
    b, b2 = batch_size, 2 * batch_size
    return (fwd(b, g)  # the fakes for D's step
            + fwd(b2, d) + d_w(b2, d) + d_x(b2, d[1:])  # D step
            + fwd(b, g) + fwd(b, d) + d_x(b, d) + d_w(b, g) + d_x(b, g[1:]))  # G step


def flops_of(matmuls):
    """Floating-point operations of a list of (m, k, n) matmuls: 2mkn each."""
    return sum(2 * m * k * n for m, k, n in matmuls)


def matmul_rate(matmuls, repeats=30):
    """Measured GFLOP/s of running these exact matmuls back to back."""
    rng = np.random.default_rng(0)
    operands = [(tf.constant(rng.standard_normal((m, k), np.float32)),
                 tf.constant(rng.standard_normal((k, n), np.float32))) for m, k, n in matmuls]

    @tf.function
    def run():
        return [tf.reduce_sum(tf.matmul(a, b)[:1, :1]) for a, b in operands]

    run()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        [t.numpy() for t in run()]
        times.append(time.perf_counter() - start)
    return flops_of(matmuls) / statistics.median(times) / 1e9


def random_batches(kind, *, batch_size=Config.batch_size, count=8, seed=0, spec=MNIST):
    """A few in-memory batches shaped like the tutorial's pipeline output."""
    rng = np.random.default_rng(seed)
    batches, classes = [], spec.num_classes
    for _ in range(count):
        images = rng.uniform(-1, 1, (batch_size, *spec.image_shape)).astype(np.float32)
        labels = tf.one_hot(rng.integers(0, classes, batch_size), classes)
        batches.append(tf.constant(images) if kind == "gan" else (tf.constant(images), labels))
    return batches


def make_engines(kind, engines=ENGINES, steps_per_call=Config.steps_per_call, dataset="mnist",
                 *, arch="dense", d_width=None, lever=None):
    """One freshly built, compiled model set and step function per engine (lever: Config's
    lever fields, such as {"pack": 2})."""
    steps = {}
    for engine in engines:
        config = Config(kind=kind, engine=engine, steps_per_call=steps_per_call, dataset=dataset,
                        arch=arch, d_width=d_width, **(lever or {}))
        steps[engine] = make_step(config, build_models(config, image_set(dataset)))
    return steps


def time_steps(step, batches, n):
    """Wall-clock ms per step over at least n >= 1 steps, in whole calls of `step.block`."""
    calls = max(1, -(-n // step.block))  # a partial call would compile another program
    start = time.perf_counter()
    for c in range(calls):
        step([batches[(c * step.block + i) % len(batches)] for i in range(step.block)])
    return (time.perf_counter() - start) / (calls * step.block) * 1000


def bench_model(kind, *, steps=60, repeats=5, warmup=5, steps_per_call=Config.steps_per_call,
                dataset="mnist", devices=1, arch="dense", d_width=None, lever=None):
    """Median ms/step per engine on `devices` devices, ratios, FLOPs, the measured matmul rate.
    d_width: a conv D's own width, as train's --d-width (None: G's); lever: Config's lever
    fields (`levers`; the FLOP count is the pair's without them)."""
    batches = random_batches(kind, spec=image_set(dataset))  # random: only shapes matter
    with parallel.scope(parallel.data_parallel(devices)):  # the models, replicated per device
        engines = make_engines(kind, steps_per_call=steps_per_call, dataset=dataset, arch=arch,
                               d_width=d_width, lever=lever)
        for step in engines.values():
            if warmup:
                time_steps(step, batches, warmup)  # tracing, XLA compilation, allocator warm-up
        samples = {name: [] for name in engines}
        for _ in range(repeats):
            for name, step in engines.items():  # interleaved
                samples[name].append(time_steps(step, batches, steps))
    matmuls = step_matmuls(kind, spec=image_set(dataset), arch=arch, d_width=d_width)
    rate = matmul_rate(matmuls)
    flops = flops_of(matmuls)
    ms = {name: statistics.median(v) for name, v in samples.items()}
    return {"model": kind, "arch": arch, "d_width": d_width, "lever": lever or {},
            "devices": devices, "steps": steps,
            "repeats": repeats, "steps_per_call": steps_per_call,
            "gflop_per_step": flops / 1e9, "matmul_gflops": rate, "ms_per_step": ms,
            "samples_ms": samples,
            "speedup": {name: ms["tutorial"] / ms[name] for name in ms},
            "share_of_matmul_rate": {name: flops / (ms[name] / 1000) / 1e9 / rate for name in ms},
            **dict(zip(("backend", "device"), backend_device())), "cpu": cpu_peak()}


def backend_device():
    """(Keras backend, the device its steps run on), e.g. ("jax", "cpu")."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        return backend, jax.devices()[0].platform
    return backend, tf.config.list_logical_devices()[-1].device_type.lower()


def cpu_peak(cpuinfo="/proc/cpuinfo"):
    """This machine's float32 arithmetic peak, from /proc/cpuinfo (None where unreadable).

    cores x 2 FMA units x float32 lanes x 2 FLOP (multiply + add) x clock.
    Lanes: 16 with AVX-512, 8 with AVX2. AMD's Zen 4 (family 25) runs AVX-512
    as two 256-bit halves, so it counts as 8. The clock is the nominal one
    cpuinfo reports; turbo or throttling moves the true peak.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    first = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines() if ":" in line)
    first = {k.strip(): v.strip() for k, v in first.items()}
    flags = set(first.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    if first.get("vendor_id") == "AuthenticAMD" and first.get("cpu family") == "25":
        lanes = min(lanes, 8)
    cores, ghz = len(os.sched_getaffinity(0)), float(first.get("cpu MHz", "nan")) / 1000
    return {"model": first.get("model name"), "vendor": first.get("vendor_id"),
            "family": first.get("cpu family"), "cores": cores, "ghz": ghz, "fp32_lanes": lanes,
            "fma": "fma" in flags, "isa": sorted(flags & ISA_FLAGS),
            "peak_gflops": cores * 2 * lanes * 2 * ghz}


ISA_FLAGS = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
             "amx_bf16"}  # the vector units a float32 matmul kernel may use


def machine(command):
    """What a file of measurements records beside them: the CPU, the libraries, the command."""
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "tensorflow": tf.__version__, "keras": keras.__version__}
    if keras.backend.backend() == "jax":
        import jax
        versions["jax"] = jax.__version__
    return {"cpu": cpu_peak(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                    * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "backend": keras.backend.backend(), "versions": versions,
            "command": command,
            # A library preloaded into the process, such as another malloc (docs/speed.md).
            "preload": os.environ.get("LD_PRELOAD") or None,
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def arch_name(result):
    """A result's arch as the table names it: "conv", "conv, D width 64" for a --d-width, or
    "dense, pack 2" for a lever."""
    width = result.get("d_width")  # absent from files written before --d-width
    name = result["arch"] if width is None else f"{result['arch']}, D width {width}"
    levers = result.get("lever") or {}  # absent from files written before the levers
    return ", ".join([name, *(f"{k.replace('_', ' ')} {v:g}" for k, v in levers.items())])


LEVER_FIELDS = ("minibatch_std", "minibatch_by_class", "pack", "mode_seeking",
                "projection")  # Config's (`levers`)


def flag_value(text):
    """A switch's value in --lever: 1 on, 0 off."""
    return bool(int(text))


def lever_flag(text):
    """argparse type of --lever: none, or FIELD=VALUE[,FIELD=VALUE] of Config's lever fields."""
    if text == "none":
        return {}
    lever = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name not in LEVER_FIELDS or not value:
            raise argparse.ArgumentTypeError(f"expected none or FIELD=VALUE with FIELD one of "
                                             f"{', '.join(LEVER_FIELDS)}; got {text!r}")
        try:
            lever[name] = {"mode_seeking": float, "projection": flag_value,
                          "minibatch_by_class": flag_value}.get(name, int)(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: expected a number, got {value!r}") from None
    return lever


def format_table(results):
    """A plain-text table of bench results, one row per model and engine."""
    lines = ["| backend | devices | arch | model | engine | ms/step | speed-up vs tutorial | GFLOP/s "
             "| share of matmul rate | share of peak |",
             "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        peak = (r["cpu"] or {}).get("peak_gflops", float("nan"))
        for name in ENGINES:
            gflops = r["gflop_per_step"] / (r["ms_per_step"][name] / 1000)
            lines.append(f"| {r['backend']} ({r['device']}) | {r['devices']} | {arch_name(r)} | "
                         f"{r['model']} | {name} | "
                         f"{r['ms_per_step'][name]:.1f} | "
                         f"{r['speedup'][name]:.2f}x | {gflops:.0f} | "
                         f"{100 * r['share_of_matmul_rate'][name]:.0f}% | {100 * gflops / peak:.0f}% |")
    notes = [f"{arch_name(r)} {r['model']}: {r['gflop_per_step']:.2f} GFLOP/step, matmul rate at "
             f"these shapes {r['matmul_gflops']:.0f} GFLOP/s, fused engine {r['steps_per_call']} "
             "steps per call"
             for r in results]
    cpu = results[0]["cpu"] if results else None
    if cpu:
        notes.append(f"peak: {cpu['model']}, {cpu['cores']} cores x 2 FMA x {cpu['fp32_lanes']} "
                     f"float32 lanes x 2 FLOP x {cpu['ghz']:.2f} GHz = {cpu['peak_gflops']:.0f} GFLOP/s")
    return "\n".join(lines + [""] + notes)


def build_parser():
    """The bench CLI's flags."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--kind", "--model", dest="kind", choices=("gan", "cgan", "both"),
                        default="both", help="which tutorial GAN to time, as train's --kind "
                        "(--model is an alias; default: both)")
    parser.add_argument("--arch", nargs="+", choices=ARCHS, default=["dense"],
                        help="architectures to time, as train's --arch; several share one "
                             "run, so their ratio is measured under the same load "
                             "(default: dense)")
    parser.add_argument("--d-width", nargs="+", type=bounded(int, 1), default=[None], metavar="W",
                        help="conv D widths to time, each as train's --d-width beside G's "
                             "default width (conv only; default: D as wide as G)")
    parser.add_argument("--lever", nargs="+", type=lever_flag, default=[{}], metavar="L",
                        help="levers to time, each none or FIELD=VALUE[,...] of train's lever "
                             "flags (minibatch_std=4, pack=2, mode_seeking=0.1, projection=1 "
                             "or minibatch_std=128,minibatch_by_class=1 for a cgan), under "
                             "the same load (default: none)")
    parser.add_argument("--steps", type=bounded(int, 1), default=60,
                        help="steps per timed repeat")
    parser.add_argument("--repeats", type=bounded(int, 1), default=5,
                        help="interleaved repeats per engine")
    parser.add_argument("--warmup", type=bounded(int, 0), default=5,
                        help="untimed steps per engine first (0: none)")
    parser.add_argument("--steps-per-call", type=bounded(int, 1), default=Config.steps_per_call,
                        help="fused engine: batches per compiled call (as in train)")
    parser.add_argument("--dataset", default="mnist",
                        help="tfds name whose image shape and classes the models take")
    parser.add_argument("--devices", nargs="+", type=devices_flag, default=["1"], metavar="N",
                        help="device counts to time, each data-parallel as train's --devices "
                             "(a count or all; above 1 needs KERAS_BACKEND=jax; default: 1)")
    parser.add_argument("--json", default=None,
                        help="also write the results, with the machine and the command, to this "
                             "file (outputs/bench/ holds the committed ones)")
    return parser


def main(argv=None):
    """CLI: benchmark the engines and print (and optionally save) the table."""
    parser = build_parser()
    args = parser.parse_args(argv)
    kinds = ("gan", "cgan") if args.kind == "both" else (args.kind,)
    try:
        image_set(args.dataset)
    except DataError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    if args.d_width != [None] and args.arch != ["conv"]:
        parser.exit(2, f"{parser.prog}: error: --d-width applies to the conv pair: give --arch conv\n")
    try:
        counts = [parallel.device_count(d, Config.batch_size) for d in args.devices]
    except parallel.DeviceError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    results = [bench_model(k, steps=args.steps, repeats=args.repeats, warmup=args.warmup,
                           steps_per_call=args.steps_per_call, dataset=args.dataset, devices=n,
                           arch=a, d_width=w, lever=lever)
               for n in counts for a in args.arch for w in args.d_width for lever in args.lever
               for k in kinds]
    print(format_table(results))
    if args.json:
        argv = sys.argv[1:] if argv is None else argv
        runs.write_json(args.json, {"machine": machine(" ".join([parser.prog, *argv])),
                                    "results": results})


if __name__ == "__main__":
    main()
