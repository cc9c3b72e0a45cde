"""The docs' tables, part 1: where the committed files are, and reading them (every page's)."""

from pathlib import Path

from gan_tutorials import compare, runs

REFERENCE = Path("outputs") / "reference"  # the committed runs, under the repository root
TRIED = Path("outputs") / "tried"  # runs that tried a change on the conv pair (docs/conv.md)
STUDY = Path("outputs") / "study"  # the committed studies: OUT/study.json per kind
BENCH = Path("outputs") / "bench"  # bench --json files: results with their machine
STEPS_PER_EPOCH = 468  # 60,000 images in batches of 128


def runs_side_by_side(*names, under=REFERENCE):
    """`compare`'s table of run folders (reference runs, or those `under` another folder), one
    column per run and one per --ema average that `evaluate --average` scored."""
    return lambda root: compare.table(compare.read_runs([root / under / n for n in names],
                                                        average=True))


def kept(root, run, name="metrics.json"):
    """A reference run's file for the generator it keeps: G's, or its average's under ema/
    when `compare.better_generator` keeps the average."""
    run_dir = root / REFERENCE / run
    return runs.read_json(runs.results_dir(run_dir, compare.better_generator(run_dir)["keep"]
                                           == "average") / name)


def study_of(root, kind):
    """A committed study's summary."""
    return runs.read_json(root / STUDY / kind / "study.json")


def explored(root, run="cgan"):
    """A reference run's explore.json."""
    return runs.read_json(root / REFERENCE / run / "explore" / "explore.json")


def measured_by(data, path):
    """The line under a table of measurements: its file, command and machine."""
    cpu, machine = data["machine"]["cpu"] or {}, data["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if k != "python")
    preload = f"LD_PRELOAD={machine['preload']} " if machine.get("preload") else ""
    return (f"Measured by `{preload}{machine['command']}` on {cpu.get('model', 'an unknown CPU')} "
            f"({cpu.get('cores')} cores, {', '.join(cpu.get('isa', [])) or 'no ISA flags read'}; "
            f"{versions}) on {machine['date']}: `{path}`.")
