"""The benchmark runs and counts FLOPs from the layer shapes (speed is not asserted)."""

import ctypes.util
import json
import os
import statistics
import subprocess
import sys

import keras
import numpy as np
import pytest

from gan_tutorials import bench, runs
from gan_tutorials.config import ENGINES


def test_flops_are_counted_from_layer_shapes():
    # Dense GAN, batch 128: sums of fan_in * fan_out over the Dense layers.
    s_g = 100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784
    s_d = 784 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1
    fakes = 2 * 128 * s_g
    d_step = 2 * 256 * s_d * 2 + 2 * 256 * (s_d - 784 * 1024)  # fwd + dW, dX but 1st layer
    g_step = 2 * 128 * (s_g + s_d + s_d + s_g + (s_g - 100 * 256))
    assert bench.flops_of(bench.step_matmuls("gan")) == fakes + d_step + g_step
    assert 3.5e9 < bench.flops_of(bench.step_matmuls("cgan")) < 5e9  # "about 5 GFLOP"


def test_conv_layers_count_as_matmuls_at_every_position():
    """A conv is one matmul of batch x positions rows; a transposed conv scatters its inputs."""
    from gan_tutorials.models import CONV_WIDTH, create_models
    generator, discriminator = create_models("cgan", arch="conv")
    w = CONV_WIDTH  # channels at 14x14, twice that at 7x7
    assert bench.layer_shapes(generator) == [
        (1, 110, 7 * 7 * 2 * w),  # dense projection of noise + label
        (7 * 7, 2 * w, 4 * 4 * w),  # 7x7 inputs, each into a 4x4 patch of w channels
        (14 * 14, w, 4 * 4 * 1)]  # 14x14 inputs into 4x4 patches of the image
    assert bench.layer_shapes(discriminator) == [
        (14 * 14, 4 * 4 * 1, w),  # one output per 14x14 position, a 4x4x1 patch in
        (7 * 7, 4 * 4 * (w + 10), 2 * w),  # the label joins as 10 maps at 14x14
        (1, 7 * 7 * 2 * w, 128),
        (1, 128, 1)]
    # Forward FLOPs, the textbook count: a stride-2 transposed conv gives each of its
    # outputs a quarter of the kernel's taps, 2 x outputs x (area / 4) x c_in x c_out.
    forward = bench.flops_of(bench.step_matmuls("cgan", arch="conv")[:3])  # the fakes, B = 128
    assert forward == 2 * 128 * (110 * 7 * 7 * 2 * w + 14 * 14 * 4 * 2 * w * w + 28 * 28 * 4 * w * 1)


def test_a_wider_d_counts_only_d_wider(tmp_path, capsys):
    """--d-width widens D's layers and leaves G's; its results are kept apart from the arch's
    own rate, which compare's cost figure reads."""
    from gan_tutorials import compare
    default, wide = (bench.step_matmuls("cgan", arch="conv", d_width=w) for w in (None, 64))
    assert default[:3] == wide[:3]  # the fakes: G's forward, as wide as before
    assert bench.flops_of(wide) > bench.flops_of(default)
    out = tmp_path / "bench.json"
    bench.main(["--kind", "gan", "--arch", "conv", "--d-width", "8", "--steps", "1", "--repeats",
                "1", "--warmup", "0", "--steps-per-call", "1", "--json", str(out)])
    assert "| 1 | conv, D width 8 | gan | fused |" in capsys.readouterr().out
    result = json.loads(out.read_text())["results"][0]
    assert result["d_width"] == 8
    assert result["gflop_per_step"] * 1e9 == pytest.approx(bench.flops_of(
        bench.step_matmuls("gan", arch="conv", d_width=8)))
    assert compare.fused_rates(out) == {}
    with pytest.raises(SystemExit, match="2"):
        bench.main(["--arch", "dense", "--d-width", "64"])


def test_bench_runs_on_a_few_steps(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # --warmup 0 once divided by zero; the first timed repeat now includes compiling.
    bench.main(["--kind", "cgan", "--steps", "2", "--repeats", "2", "--warmup", "0",
                "--steps-per-call", "2", "--json", str(out)])
    table = capsys.readouterr().out
    backend = keras.backend.backend()  # test_jax runs this test again on jax
    for engine in ENGINES:
        assert f"| {backend} (cpu) | 1 | dense | cgan | {engine} |" in table  # backend, device,
        # count, arch
    result = json.loads(out.read_text())["results"][0]
    samples, ms = result["samples_ms"], result["ms_per_step"]
    assert set(ms) == set(ENGINES) and all(len(v) == 2 for v in samples.values())
    for engine in ENGINES:  # the table's numbers are the medians of what was timed
        assert ms[engine] == pytest.approx(statistics.median(samples[engine]))
        assert result["speedup"][engine] == pytest.approx(ms["tutorial"] / ms[engine])
    assert result["matmul_gflops"] > 0 and result["steps_per_call"] == 2
    assert (result["backend"], result["device"]) == (backend, "cpu")
    # The file names its machine and the command that made it.
    machine = json.loads(out.read_text())["machine"]
    assert machine["command"] == ("python -m gan_tutorials.bench --kind cgan --steps 2 --repeats 2 "
                                  f"--warmup 0 --steps-per-call 2 --json {out}")
    assert machine["cpu"]["cores"] >= 1 and set(machine["cpu"]["isa"]) <= bench.ISA_FLAGS
    assert machine["versions"]["keras"] == keras.__version__ and machine["backend"] == backend
    assert machine["preload"] == (os.environ.get("LD_PRELOAD") or None)


def test_a_preloaded_library_is_recorded_and_shown_in_the_command(monkeypatch):
    from gan_tutorials import tables
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libtcmalloc_minimal.so.4")
    machine = bench.machine("python -m gan_tutorials.bench")
    monkeypatch.delenv("LD_PRELOAD")
    assert machine["preload"] == "/usr/lib/libtcmalloc_minimal.so.4"
    line = tables.measured_by({"machine": machine}, "x.json")
    assert line.startswith("Measured by `LD_PRELOAD=/usr/lib/libtcmalloc_minimal.so.4 "
                           "python -m gan_tutorials.bench` on ")


def test_peak_is_derived_from_cpuinfo(tmp_path):
    """cores x 2 FMA units x float32 lanes x 2 FLOP x clock, lanes from the vector flags."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel name\t: AMD EPYC\n"
                       "cpu MHz\t\t: 2500.000\nflags\t\t: fpu sse2 avx fma avx2\n\n")
    peak = bench.cpu_peak(cpuinfo)
    assert peak["fp32_lanes"] == 8 and peak["ghz"] == 2.5
    assert peak["isa"] == ["avx", "avx2", "fma"] and peak["model"] == "AMD EPYC"
    assert peak["peak_gflops"] == pytest.approx(peak["cores"] * 2 * 8 * 2 * 2.5)
    cpuinfo.write_text(cpuinfo.read_text().replace("avx2", "avx2 avx512f"))
    assert bench.cpu_peak(cpuinfo)["fp32_lanes"] == 16
    cpuinfo.write_text(cpuinfo.read_text().replace("family\t: 23", "family\t: 25"))
    assert bench.cpu_peak(cpuinfo)["fp32_lanes"] == 8  # Zen 4: AVX-512 in two halves
    assert bench.cpu_peak(tmp_path / "missing") is None


def test_kind_names_the_gan_as_train_does_and_model_stays_an_alias():
    parser_args = lambda argv: bench.build_parser().parse_args(argv)
    assert parser_args(["--kind", "gan"]).kind == "gan"
    assert parser_args(["--model", "cgan"]).kind == "cgan"
    assert parser_args([]).kind == "both"


def test_arch_takes_several_architectures_for_one_run():
    parser_args = lambda argv: bench.build_parser().parse_args(argv)
    assert parser_args([]).arch == ["dense"]
    assert parser_args(["--arch", "dense", "conv"]).arch == ["dense", "conv"]
    with pytest.raises(SystemExit):
        parser_args(["--arch", "resnet"])


TCMALLOC = ctypes.util.find_library("tcmalloc_minimal")  # Debian: libtcmalloc-minimal4


@pytest.mark.slow
@pytest.mark.skipif(TCMALLOC is None, reason="no tcmalloc: apt-get install libtcmalloc-minimal4")
def test_preloading_tcmalloc_leaves_every_weight_as_it_was(tiny_data_dir, tmp_path):
    """docs/speed.md: the allocator moves buffers, not arithmetic. A conv cgan run of the fused
    engine ends with the same checkpoint, bit for bit, with tcmalloc preloaded and without."""
    ends = []
    for preload in (None, TCMALLOC):
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        out = tmp_path / (preload or "glibc")
        subprocess.run([sys.executable, "-m", "gan_tutorials.train", "--arch", "conv", "--kind",
                        "cgan", "--engine", "fused", "--epochs", "2", "--batch-size", "16",
                        "--steps-per-epoch", "6", "--steps-per-call", "3", "--ema", "0.9",
                        "--data-dir", str(tiny_data_dir), "--quiet", "--out", str(out)],
                       env={**env, **({"LD_PRELOAD": preload} if preload else {})}, check=True,
                       capture_output=True)
        ends.append(runs.load_checkpoint(out / "checkpoint.npz"))
    (epoch, a), (_, b) = ends
    assert epoch == 2 and a.keys() == b.keys()
    for group in a:
        for x, y in zip(a[group], b[group], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=group)


def test_levers_are_timed_by_name_and_a_bad_one_is_refused(capsys):
    assert bench.lever_flag("none") == {}
    assert bench.lever_flag("pack=2,mode_seeking=0.1") == {"pack": 2, "mode_seeking": 0.1}
    assert bench.arch_name({"arch": "dense", "lever": {"minibatch_std": 4}}) == "dense, minibatch std 4"
    assert bench.arch_name({"arch": "conv", "d_width": 64}) == "conv, D width 64"  # older files
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--lever", "dropout=0.5"])
    assert ("FIELD one of minibatch_std, minibatch_by_class, pack, mode_seeking, projection"
            in capsys.readouterr().err)
    assert bench.lever_flag("projection=1") == {"projection": True}
    assert bench.lever_flag("minibatch_std=128,minibatch_by_class=1") == {
        "minibatch_std": 128, "minibatch_by_class": True}
