"""The docs' tables of measured time and memory (speed, backends, testing, studio, the README)."""

from pathlib import Path

from gan_tutorials import runs
from gan_tutorials.tables.common import BENCH, REFERENCE, STEPS_PER_EPOCH, measured_by


def engine_costs(name, archs=("dense", "conv")):
    """Per pair of a bench file: each engine's ms/step and s/epoch, the step's GFLOP, the share
    of the matmul rate; the conv/dense ratio of a fused epoch (or, for conv Ds of several
    `--d-width`s, each one's fused step against the first's); the file's machine."""
    def write(root):
        path = BENCH / f"{name}.json"
        data = runs.read_json(root / path)
        results = [r for r in data["results"] if r["arch"] in archs and r["devices"] == 1]
        engines = list(results[0]["ms_per_step"])
        lines = ["| pair | engine | ms/step | s/epoch | GFLOP/step | share of the matmul rate |",
                 "| --- | --- | ---: | ---: | ---: | ---: |"]
        for r in results:
            ms = [r["ms_per_step"][e] for e in engines]
            width = "" if r.get("d_width") is None else f", D width {r['d_width']}"
            lines.append(f"| {r['arch']} {r['model']}{width} | {' / '.join(engines)} | "
                         f"{' / '.join(f'{m:.1f}' for m in ms)} | "
                         f"{' / '.join(f'{m * STEPS_PER_EPOCH / 1000:.1f}' for m in ms)} | "
                         f"{r['gflop_per_step']:.2f} | "
                         + " / ".join(f"{r['share_of_matmul_rate'][e]:.0%}" for e in engines) + " |")
        fused = {(r["arch"], r["model"]): r["ms_per_step"]["fused"] for r in results}
        ratios = [f"{fused['conv', kind] / fused['dense', kind]:.1f}x ({kind})"
                  for kind in ("gan", "cgan") if ("conv", kind) in fused and ("dense", kind) in fused]
        tail = [f"A fused conv epoch costs {' and '.join(ratios)} a fused dense one."] if ratios else []
        widths = [r for r in results if r.get("d_width") is not None]
        tail += [f"A fused step with D width {r['d_width']} costs "
                 f"{r['ms_per_step']['fused'] / widths[0]['ms_per_step']['fused']:.2f}x one with D "
                 f"width {widths[0]['d_width']}." for r in widths[1:]]
        return "\n".join(lines + [""] + tail + [measured_by(data, path)])
    return write


def allocators(names):
    """Per pair and engine of two bench files that differ in the allocator preloaded: each
    one's ms/step and how much faster the second is; both files' machines."""
    def write(root):
        paths = [BENCH / f"{name}.json" for name in names]
        files = [runs.read_json(root / path) for path in paths]
        label = lambda data: Path(data["machine"].get("preload") or "glibc malloc").name
        lines = [f"| pair | engine | {label(files[0])}, ms/step | {label(files[1])}, ms/step "
                 "| time, second against first |", "| --- | --- | ---: | ---: | ---: |"]
        for a, b in zip(*(f["results"] for f in files), strict=True):
            for engine in a["ms_per_step"]:
                before, after = a["ms_per_step"][engine], b["ms_per_step"][engine]
                lines.append(f"| {a['arch']} {a['model']} | {engine} | {before:.1f} | "
                             f"{after:.1f} | {after / before - 1:+.0%} |")
        return "\n".join(lines + [""] + [measured_by(data, path)
                                         for data, path in zip(files, paths, strict=True)])
    return write


def run_times(root):
    """Each reference run's training time as its history.csv records it."""
    lines = ["| run | epochs | wall time | mean seconds per epoch |", "| --- | ---: | ---: | ---: |"]
    for folder in sorted((root / REFERENCE).iterdir()):
        history = runs.read_history(folder / "history.csv")
        if history:
            total = sum(float(r["seconds"]) for r in history)
            lines.append(f"| `{folder.name}` | {len(history)} | {total / 60:.0f} min | "
                         f"{total / len(history):.1f} |")
    return "\n".join(lines)


def backends(root):
    """The dense pair's ms/step per engine on TensorFlow and on JAX, from their bench files."""
    files = {b: BENCH / f"{b}.json" for b in ("tensorflow", "jax")}
    data = {b: runs.read_json(root / path) for b, path in files.items()}
    ms = {b: {(r["model"], e): v for r in d["results"] if r["arch"] == "dense" and r["devices"] == 1
              for e, v in r["ms_per_step"].items()} for b, d in data.items()}
    lines = ["| model | engine | TensorFlow ms/step | JAX ms/step |", "| --- | --- | ---: | ---: |"]
    for key in ms["tensorflow"]:
        lines.append(f"| {key[0]} | {key[1]} | {ms['tensorflow'][key]:.1f} | {ms['jax'][key]:.1f} |")
    return "\n".join(lines + ["", *(measured_by(data[b], path) for b, path in files.items())])


def make_times(root):
    """The README's commands with their times: training from the bench file, tests as timed."""
    speed_path, make_path = BENCH / "tensorflow.json", BENCH / "make-targets.json"
    speed, made = runs.read_json(root / speed_path), runs.read_json(root / make_path)
    epoch = {(r["model"], e): ms * STEPS_PER_EPOCH / 1000 for r in speed["results"]
             if r["arch"] == "dense" and r["devices"] == 1 for e, ms in r["ms_per_step"].items()}
    minutes = lambda s: f"{s / 60:.0f} min"
    seconds = made["seconds"]
    rows = [("`make train`", "a `.venv` with the package, MNIST prepared for tfds, and a run "
             "folder `outputs/gan/` (previews, losses, checkpoints, the models)",
             f"setup, then {minutes(100 * epoch['gan', 'train_on_batch'])} for 100 epochs "
             f"({minutes(100 * epoch['gan', 'fused'])} with `ARGS=\"--engine fused\"`)"),
            ("`make train ARGS=\"--kind cgan --epochs 5\"`",
             "the conditional GAN; any flag of `python -m gan_tutorials.train`",
             f"{5 * epoch['cgan', 'train_on_batch']:.0f} s of training after setup"),
            ("`make test`", "the fast tier: every module, no end-to-end run",
             f"{minutes(seconds['make test'])} on a fresh clone, install included"),
            ("`make test-all`", "every test: the reference reproduction, the notebook, the JAX "
             "backend, a TensorBoard server, kill-and-resume, the judge retrained, the studio in a browser "
             "(what CI runs)",
             f"{minutes(seconds['make test-all'])} more, on the same clone")]
    lines = ["| command | what you get | time on 2 CPU cores |", "| --- | --- | --- |",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
    return "\n".join(lines + ["", "Training times are 100 (or 5) epochs at the speed table's "
                               "seconds per epoch, the judge's checks aside.",
                               measured_by(speed, speed_path), measured_by(made, make_path)])


def make_targets(root):
    """testing.md's line: how long the two test targets took on a fresh clone, and whether
    they passed."""
    path = BENCH / "make-targets.json"
    made = runs.read_json(root / path)
    seconds, goal = made["seconds"], 15 * 60
    verdict = "within" if seconds["make test-all"] <= goal else "over"
    return "\n".join([
        f"`make test` took {seconds['make test'] / 60:.1f} minutes, installation (Gradio's "
        f"included) and all, and `make test-all` {seconds['make test-all'] / 60:.1f} minutes "
        f"after it on the same clone ({verdict} the 15 minutes aimed for); both "
        f"{'passed' if made['passed'] else 'did not pass'}, on commit {made['commit']}.", "",
        measured_by(made, path)])


def studio_times(root):
    """The studio's latency, cold start and memory, from `studio.timing --json`."""
    from gan_tutorials.studio.timing import table  # the table its command prints
    path = BENCH / "studio.json"
    data = runs.read_json(root / path)
    return "\n".join([table(data), "", measured_by(data, path)])
