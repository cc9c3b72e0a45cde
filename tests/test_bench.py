"""The benchmark runs and counts FLOPs from the layer shapes (speed is not asserted)."""

import json

from gan_tutorials import bench


def test_flops_are_counted_from_layer_shapes():
    # Dense GAN, batch 128: sums of fan_in * fan_out over the Dense layers.
    s_g = 100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784
    s_d = 784 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1
    fakes = 2 * 128 * s_g
    d_step = 2 * 256 * s_d * 2 + 2 * 256 * (s_d - 784 * 1024)  # fwd + dW, dX but 1st layer
    g_step = 2 * 128 * (s_g + s_d + s_d + s_g + (s_g - 100 * 256))
    assert bench.flops_of(bench.step_matmuls("gan")) == fakes + d_step + g_step
    assert 3.5e9 < bench.flops_of(bench.step_matmuls("cgan")) < 5e9  # "about 5 GFLOP"


def test_bench_runs_on_a_few_steps(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--model", "cgan", "--steps", "2", "--repeats", "1", "--warmup", "1",
                "--steps-per-call", "2", "--json", str(out)])
    table = capsys.readouterr().out
    for engine in bench.ENGINE_ORDER:
        assert f"| cgan | {engine} |" in table
    result = json.loads(out.read_text())["results"][0]
    assert set(result["ms_per_step"]) == set(bench.ENGINE_ORDER)
    assert all(v > 0 for v in result["ms_per_step"].values())
    assert result["matmul_gflops"] > 0 and result["speedup"]["tutorial"] == 1.0
    assert result["steps_per_call"] == 2
