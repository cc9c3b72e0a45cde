"""The next lesson: run folders side by side, e.g. the dense pair against the conv pair.

    python -m gan_tutorials.compare RUN_DIR RUN_DIR [...] [--figure FILE.png] [--plane FILE.png]

Reads what each folder already holds (config.json, history.csv, the
metrics.json `evaluate` writes, the control/control.json `control --report`
writes) and prints one markdown table, a column per run: architecture,
parameters, epochs, median seconds per epoch as trained, the judge's
accuracy and worst class (or, unconditional, the top class's share and the
classes covered), the Frechet distance beside its floor and its centres'
term, a cgan's variety within classes against real images', stray ink beside
real images', and control's success rate. `--figure` draws each run's
judge scores and Frechet distance (`--eval-every`) against epoch, or with
`--against seconds` against its training seconds as history.csv records them
(seconds as trained, so runs that shared a machine count the time they took
there), or with `--against bench` against the seconds its steps cost at the
fused engine's rate for its pair in a `bench --json` file: quality against
cost, every run timed alike on one machine. With `--average`, a run trained
with `--ema` gets a second column for its averaged generator, and a line
saying which of the two to keep (`better_generator`). `--plane` draws each
run's precision against its recall, a study's seeds as one group, with the
real test halves' point: the collapse page's picture of "looks real" against
"covers what is real".
Nothing is recomputed: a folder not yet evaluated says so.
"""

import argparse
import statistics
from pathlib import Path

import numpy as np

from gan_tutorials import figures, runs
from gan_tutorials.data import image_set
from gan_tutorials.models import GeneratorError, create_models

BENCH_FILE = Path("outputs") / "bench" / "tensorflow.json"  # the committed TensorFlow timings


def read_run(run_dir, average=False, best=False):
    """One run folder's numbers, as a JSON-ready dict: G's, or with `average` its --ema average's
    (RUN_DIR/ema/), named "RUN (average)"; with `best`, those of the generator --keep-best
    kept (RUN_DIR/best/, ema-best/), named "RUN (best)", its epochs and steps up to its epoch."""
    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    arch, kind, dataset = config.get("arch", "dense"), config["kind"], config["dataset"]
    results, prefix = runs.results_dir(run_dir, average, best), "ema_" if average else ""
    metrics_path = results / "metrics.json"
    if not metrics_path.exists():
        raise runs.RunError(f"{results} has no metrics.json: run python -m gan_tutorials.evaluate "
                            f"{run_dir}{' --average' if average else ''}{' --best' if best else ''}"
                            " first")
    metrics = runs.read_json(metrics_path)
    generator, discriminator = create_models(kind, config["noise_dim"], image_set(dataset), arch,
                                             d_width=config.get("d_width"),
                                             minibatch_std=config.get("minibatch_std", 0),
                                             minibatch_by_class=config.get("minibatch_by_class",
                                                                           False),
                                             pack=config.get("pack", 1),
                                             projection=config.get("projection", False))
    history = runs.read_history(run_dir / "history.csv")
    if best:  # what it cost to reach the kept epoch
        history = [r for r in history if r["epoch"] <= metrics["best_epoch"]]
    seconds = np.cumsum([float(r["seconds"]) for r in history])  # training seconds to each epoch
    steps = np.cumsum([int(r["steps"]) for r in history])  # steps trained up to each epoch
    names = metrics["class_names"]
    summary = {
        "run": run_dir.name + {(False, False): "", (True, False): " (average)", (False, True):
                               " (best)", (True, True): " (average, best)"}[average, best],
        "arch": arch, "kind": kind,
        "dataset": dataset,
        "generator_params": generator.count_params(),  # the factory's twin of the saved one
        "discriminator_params": discriminator.count_params(),
        "epochs": len(history),
        "steps": int(steps[-1]) if len(steps) else 0,  # steps trained in all
        "seconds_per_epoch": statistics.median(float(r["seconds"]) for r in history),
        **{key: metrics[key] for key in ("frechet_distance", "frechet_floor", "stray_ink",
                                         "real_stray_ink", "specks_per_image",
                                         "real_specks_per_image")},
        # The distance's centres' term, a cgan's variety within classes, precision, recall,
        # density and coverage beside the real halves' (older files lack them).
        **{key: metrics.get(key) for key in ("frechet_means", "mean_class_spread", "manifold",
                                             "real_manifold")},
        # --eval-every's scores by epoch; the average's are history.csv's ema_ columns.
        "curve": [{"epoch": r["epoch"], "seconds": round(float(t), 1), "steps": int(n),
                   **{k: r[prefix + k] for k in ("accuracy", "entropy", "frechet_distance")
                      if prefix + k in r}}
                  for r, t, n in zip(history, seconds, steps, strict=True)
                  if r.get(prefix + "frechet_distance") not in (None, "")]}
    if kind == "cgan":
        per_class = metrics["per_class_accuracy"]
        worst = min(range(len(per_class)), key=per_class.__getitem__)
        summary.update(accuracy=metrics["accuracy"], worst_class=names[worst],
                       worst_class_accuracy=per_class[worst])
    else:
        shares = metrics["class_shares"]
        top = max(range(len(shares)), key=shares.__getitem__)
        summary.update(top_class=names[top], top_share=shares[top],
                       classes_covered=metrics["classes_covered"])
    report = results / "control" / "control.json"
    if report.exists() and "band" in (numbers := runs.read_json(report)):
        summary["control_success"] = numbers["band"]["steer"]["success"]
    return summary


def read_runs(run_dirs, average=False, best=False):
    """read_run of each folder; with `average`, each followed by its average's where
    `evaluate --average` scored it; with `best`, by its kept best's where `evaluate --best`
    (and --average --best) scored them."""
    wanted = [(a, b) for a in (False, True) for b in (False, True)
              if (a <= average) and (b <= best)]
    return [read_run(run_dir, a, b) for run_dir in run_dirs for a, b in wanted
            if (a, b) == (False, False)
            or (runs.results_dir(run_dir, a, b) / "metrics.json").exists()]


ROWS = [  # (row label, how to read it from a summary, or None where it does not apply)
    ("arch, kind, dataset", lambda s: f"{s['arch']} {s['kind']}, {s['dataset']}"),
    ("parameters, G / D", lambda s: f"{s['generator_params']:,} / {s['discriminator_params']:,}"),
    ("epochs", lambda s: f"{s['epochs']}"),
    ("seconds per epoch, median as trained", lambda s: f"{s['seconds_per_epoch']:.1f}"),
    ("judged accuracy", lambda s: f"{100 * s['accuracy']:.2f}%" if "accuracy" in s else None),
    ("worst class", lambda s: (f"{s['worst_class']} {100 * s['worst_class_accuracy']:.1f}%"
                               if "accuracy" in s else None)),
    ("top class, its share", lambda s: (f"{s['top_class']} {100 * s['top_share']:.1f}%"
                                        if "top_share" in s else None)),
    ("classes covered (>= 2%)", lambda s: (f"{s['classes_covered']}"
                                           if "classes_covered" in s else None)),
    ("Frechet distance (floor)", lambda s: f"{s['frechet_distance']:.2f} "
                                           f"({s['frechet_floor']:.2f})"),
    ("of it, the centres' term", lambda s: (f"{s['frechet_means']:.2f}"
                                            if s["frechet_means"] is not None else None)),
    ("variety within classes (real = 1)", lambda s: (f"{s['mean_class_spread']:.2f}"
                                                     if s["mean_class_spread"] is not None
                                                     else None)),
    ("stray ink share (real)", lambda s: f"{100 * s['stray_ink']:.2f}% "
                                         f"({100 * s['real_stray_ink']:.2f}%)"),
    ("specks per image (real)", lambda s: f"{s['specks_per_image']:.3f} "
                                          f"({s['real_specks_per_image']:.3f})"),
    ("control: in-band requests met", lambda s: (f"{100 * s['control_success']:.1f}%"
                                                 if "control_success" in s else None)),
]


def table(summaries):
    """A markdown table, one column per run; rows that apply to no run are left out."""
    lines = ["| | " + " | ".join(s["run"] for s in summaries) + " |",
             "| --- |" + " ---: |" * len(summaries)]
    for label, read in ROWS:
        cells = [read(s) for s in summaries]
        if any(cell is not None for cell in cells):
            lines.append(f"| {label} | " + " | ".join(c or "—" for c in cells) + " |")
    return "\n".join(lines)


# What a run's G and its --ema average are weighed on (`better_generator`): a metrics.json
# key, and whether higher is better. An unconditional run has no judged accuracy; the
# entropy of its class shares (how evenly it draws the classes) stands in.
WEIGHED = {"cgan": (("accuracy", True), ("frechet_distance", False), ("stray_ink", False)),
           "gan": (("entropy", True), ("frechet_distance", False), ("stray_ink", False))}


def better_generator(run_dir):
    """Which of a run's two generators to keep: {"keep": "G" or "average", "wins": {measure:
    "G" or "average"}, "scores": {measure: (G's, the average's)}}, from what `evaluate` and
    `evaluate --average` wrote.

    The average is kept when it scores better than G on at least two of WEIGHED's three
    measures; a tie in a measure goes to G. A run trained without --ema, or whose average
    is not yet evaluated, keeps G with no wins to show.
    """
    run_dir = Path(run_dir)
    paths = [runs.results_dir(run_dir, average) / "metrics.json" for average in (False, True)]
    if not paths[1].exists():
        return {"keep": "G", "wins": {}, "scores": {}}
    g, average = (runs.read_json(path) for path in paths)
    wins = {key: "average" if (average[key] > g[key] if higher else average[key] < g[key])
            else "G" for key, higher in WEIGHED[g["kind"]]}
    return {"keep": "average" if list(wins.values()).count("average") >= 2 else "G",
            "wins": wins, "scores": {key: (g[key], average[key]) for key in wins}}


def fused_rates(path):
    """{(arch, kind): seconds per training step} of the fused engine on one device, from a
    `bench --json` file; a result timed with its own --d-width is not the arch's rate."""
    return {(r["arch"], r["model"]): r["ms_per_step"]["fused"] / 1000
            for r in runs.read_json(path)["results"] if r["devices"] == 1 and r.get("d_width") is None}


def quality_panels(summaries, against="epoch", rates=None):
    """{panel: {run: (x, values)}} for the judge's score and the Frechet distance, x being each
    score's epoch, (against="seconds") the training seconds up to it, or (against="bench") the
    steps up to it at `rates` (fused_rates's) for the run's pair."""
    panels = {"judged accuracy (cgan) or entropy (gan)": {}, "Frechet distance": {}}
    for s in summaries:
        if against == "bench":
            if (s["arch"], s["kind"]) not in rates:
                raise runs.RunError(f"the bench file has no fused {s['arch']} {s['kind']} to "
                                    f"cost {s['run']} at")
            epochs = [p["steps"] * rates[s["arch"], s["kind"]] for p in s["curve"]]
        else:
            epochs = [p[against] for p in s["curve"]]
        score = "accuracy" if s["kind"] == "cgan" else "entropy"
        panels["judged accuracy (cgan) or entropy (gan)"][s["run"]] = (
            epochs, [float(p[score]) for p in s["curve"]])
        panels["Frechet distance"][s["run"]] = (
            epochs, [float(p["frechet_distance"]) for p in s["curve"]])
    return panels


def group_of(run_dir):
    """The name a run is plotted under: its study's for a study's seed folder (seed-NNNN)."""
    run_dir = Path(run_dir)
    return run_dir.parent.name if run_dir.name.startswith("seed-") else run_dir.name


def plane_points(summaries, run_dirs):
    """({group: [(recall, precision) of each run]}, the real halves' (recall, precision)).

    Runs scored before `manifold` are left out; the real level is the first run's.
    """
    groups, real = {}, None
    for summary, run_dir in zip(summaries, run_dirs, strict=True):
        if summary.get("manifold"):
            scores = summary["manifold"]
            groups.setdefault(group_of(run_dir), []).append((scores["recall"], scores["precision"]))
            real = real or (summary["real_manifold"]["recall"], summary["real_manifold"]["precision"])
    if not groups:
        raise runs.RunError("no run has precision and recall: run python -m gan_tutorials.evaluate "
                            "RUN_DIR --overwrite on them first")
    return groups, real


def build_parser():
    """The compare CLI's flags."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.compare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    parser.add_argument("--figure", help="also draw the runs' quality curves into this PNG")
    parser.add_argument("--plane", help="also draw the runs' precision against recall into this "
                                        "PNG, a study's seeds as one group, beside the real halves'")
    parser.add_argument("--against", choices=("epoch", "seconds", "bench"), default="epoch",
                        help="the figure's x axis: the epoch, the training seconds up to it as "
                             "trained, or its steps' cost at --bench's fused rate for the pair")
    parser.add_argument("--bench", default=str(BENCH_FILE),
                        help=f"--against bench: a bench --json file (default: {BENCH_FILE})")
    parser.add_argument("--average", action="store_true",
                        help="beside each run, its --ema average where `evaluate --average` scored it")
    parser.add_argument("--best", action="store_true",
                        help="beside each run, the generator --keep-best kept, where "
                             "`evaluate --best` scored it")
    return parser


def main(argv=None):
    """CLI: print the runs' table (and draw their curves)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summaries = read_runs(args.run_dirs, args.average, args.best)
    except (runs.RunError, GeneratorError, OSError, KeyError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(table(summaries))
    for run_dir in args.run_dirs if args.average else []:
        better = better_generator(run_dir)
        if better["wins"]:
            print(f"{Path(run_dir).name}: keep {better['keep']} (the average better on "
                  f"{', '.join(k for k, w in better['wins'].items() if w == 'average') or 'none'}"
                  f" of {', '.join(better['wins'])})")
    if args.figure:
        xlabel = {"epoch": "epoch", "seconds": "training seconds (history.csv)",
                  "bench": "training seconds at the bench's fused rate"}[args.against]
        try:
            rates = fused_rates(args.bench) if args.against == "bench" else None
            panels = quality_panels(summaries, args.against, rates)
        except (runs.RunError, OSError) as err:
            parser.exit(2, f"{parser.prog}: error: {err}\n")
        figures.plot_series(args.figure, panels, xlabel=xlabel, log_panels=("Frechet distance",),
                            title=(f"quality against cost ({args.bench}, fused engine)"
                                   if args.against == "bench" else
                                   f"quality against {args.against} (the judge, every "
                                   "--eval-every epochs)"))
        print(f"wrote {args.figure}")
    if args.plane:
        try:
            groups, real = plane_points(summaries, args.run_dirs)
        except runs.RunError as err:
            parser.exit(2, f"{parser.prog}: error: {err}\n")
        figures.plot_plane(args.plane, groups, real, title="precision against recall "
                           "(Kynkaenniemi et al. 2019, k = 3, the judge's features)")
        print(f"wrote {args.plane}")


if __name__ == "__main__":
    main()
