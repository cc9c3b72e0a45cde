"""Beyond the tutorial: the article's claims across seeds, not one run.

    python -m gan_tutorials.study --kind gan --seeds 1234 1 2 3 4 --epochs 100 --engine fused
    python -m gan_tutorials.study --kind cgan --seeds 1234 1 2 3 4 --epochs 100 --engine fused

A reference run reproduces one run; a claim needs several. For each seed the
study trains a run folder OUT/seed-NNNN with `train` (every flag of train's
works here too, but --seed), judges it with `evaluate` and, for an MNIST cgan,
explores it with `explore`. Then it checks each of the article's claims on
each seed (`CLAIMS`) and writes OUT/study.json and OUT/study.png: the class
shares (gan) or per-class accuracy (cgan), one row per seed. Every seed
writes its TensorBoard log, so `tensorboard --logdir OUT` compares the curves.

The same command again resumes: a finished seed is kept, an interrupted one
continues from its checkpoint (train's --resume), and a missing evaluation or
exploration is redone. OUT defaults to outputs/study/<kind>.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import keras
import numpy as np

from gan_tutorials import evaluate, explore, figures, morphometry, runs, train
from gan_tutorials.config import MNIST, add_config_flags, as_flags, bounded, config_from_args
from gan_tutorials.data import image_set, sha256_of
from gan_tutorials.runs import RunError

STUDY_SEEDS = (1234, 1, 2, 3, 4)  # the tutorial's seed, then four more
STUDY_EVAL_EVERY = 5  # the judge's curve every 5 epochs, as the reference runs have
# Flags of train's that the study sets itself: one run folder per seed, always resumed.
OWN_FIELDS = ("seed", "out", "resume", "overwrite")

# What each claim of the article means here, per seed (the numbers are in study.json).
CLAIMS = {
    "gan": {
        "collapses": "one class takes at least half of the generated digits",
        "mostly_ones": "that class is 1 (the article: 'mostly settled on drawing 1s')",
        "all_classes": "all ten classes take >= 2% each (no collapse at all)",
    },
    "cgan": {
        "every_digit": "every class asked for is judged correct >= 90% of the time",
        "grid_shares_style": "in the 10x10 grid the shared noise explains >= 50% of the "
                             "class-adjusted variation of both slant and thickness",
        "categories_carry_style": "both slanted mean vectors lean more than both straight ones, "
                                  "and both thick ones draw thicker than both thin ones",
        "scaling_monotone": "scaling each category vector from 2 to -2 changes its slant and "
                            "thickness monotonically (|Spearman rho| >= 0.9 for all four)",
        "arithmetic_slant": "both sums land in their expected category's slant tercile",
        "arithmetic_thickness": "both sums land in their expected category's thickness tercile",
    },
}
MOST = 0.5  # "collapses": one class takes at least this share; the grid's "explains most"
EVERY_DIGIT = 0.9  # "draws every digit": each class judged correct at least this often
MONOTONE = 0.9  # |Spearman rho| that counts as monotone scaling


def seed_dir(out, seed):
    """The run folder of one seed: OUT/seed-0001, OUT/seed-1234."""
    return Path(out) / f"seed-{seed:04d}"


def explores(config):
    """Whether the study explores the latent space: MNIST cgans (style is handwriting's)."""
    return config.conditional and config.dataset == MNIST.name


def trained_epochs(run_dir):
    """The last epoch history.csv records (0 for none)."""
    history = runs.read_history(Path(run_dir) / "history.csv")
    return history[-1]["epoch"] if history else 0


def train_seed(config, arrays=None):
    """Train one seed's run folder to config.epochs: afresh, resumed, or kept if trained.

    A folder whose settings differ from `config` is refused, never mixed in.
    """
    run_dir = Path(config.run_dir)
    if (run_dir / "config.json").exists():
        differ = runs.settings_differ(runs.read_config(run_dir), config)
        if differ:
            saved = ", ".join(runs.as_flags_given(differ))
            raise RunError(f"{run_dir} was trained with other settings ({saved}); "
                           "give the study another --out")
    done = trained_epochs(run_dir)
    if done > config.epochs:
        raise RunError(f"{run_dir} already has {done} epochs, more than --epochs {config.epochs}")
    resume = (run_dir / "checkpoint.npz").exists()
    # Trained: its models were written, or only its results are kept (a committed copy).
    if done == config.epochs and ((run_dir / "generator.keras").exists() or not resume):
        return "kept"
    keras.backend.clear_session()  # one graph per seed, not all of them in one process
    run = dataclasses.replace(config, resume=resume, overwrite=not resume)
    train.train(run, arrays, argv=[*setting_flags(config), "--seed", str(config.seed),
                                   "--out", str(run_dir)])
    return "resumed" if resume else "trained"


def judge_seed(config, per_class=1000, samples=2000):
    """Evaluate (and for an MNIST cgan explore) a seed's run folder unless already done.

    A result is stale when it records another generator's sha256 (or none), and
    an exploration made by other definitions of the measures is made again.
    """
    run_dir = Path(config.run_dir)
    generator = run_dir / "generator.keras"  # absent where only results are kept (committed)
    made_from = sha256_of(generator) if generator.exists() else None
    stale = lambda path: (not path.exists() or made_from is not None
                          and runs.read_json(path).get("generator_sha256") != made_from)
    if stale(run_dir / "metrics.json"):
        metrics = evaluate.evaluate_run(run_dir, per_class=per_class, data_dir=config.data_dir,
                                        overwrite=True)  # stale: made from another generator
        print(evaluate.headline(metrics))
    explored = run_dir / "explore" / "explore.json"
    remeasure = ((run_dir / "generator.keras").exists() and explored.exists()
                 and runs.read_json(explored).get("measures_version", 1) != morphometry.VERSION)
    if explores(config) and (stale(explored) or remeasure):
        numbers, out = explore.explore_run(run_dir, samples=samples, overwrite=True)
        print(explore.headline(numbers) + f"\nwrote {out}")


def gan_claims(metrics):
    """The dense GAN's claims on one seed's metrics.json: (checks, numbers)."""
    shares = np.asarray(metrics["class_shares"])
    top = int(shares.argmax())
    numbers = {"top_class": top, "top_share": round(float(shares[top]), 4),
               "classes_covered": metrics["classes_covered"],
               "entropy": round(metrics["entropy"], 4),
               "frechet_distance": round(metrics["frechet_distance"], 2)}
    checks = {"collapses": bool(shares[top] >= MOST),
              "mostly_ones": bool(shares[top] >= MOST and top == 1),
              "all_classes": metrics["classes_covered"] == len(shares)}
    return checks, numbers


def sums_land(explored, measure):
    """Whether each sum's result lies in its expected category's tercile of `measure`.

    thick_slanted expects the upper tercile of both; thin_straight the lower.
    """
    high_word = {"slant": "slanted", "thickness": "thick"}[measure]
    population = explored["population"][measure]
    return all(a["result"][measure] > population["q67"] if high_word in a["expect"].split("_")
               else a["result"][measure] < population["q33"]
               for a in explored["arithmetic"].values())


def cgan_claims(metrics, explored=None):
    """The conditional GAN's claims on one seed's metrics.json and explore.json."""
    per_class = np.asarray(metrics["per_class_accuracy"])
    numbers = {"accuracy": round(metrics["accuracy"], 4),
               "worst_class": int(per_class.argmin()),
               "min_class_accuracy": round(float(per_class.min()), 4),
               "frechet_distance": round(metrics["frechet_distance"], 2)}
    checks = {"every_digit": bool(per_class.min() >= EVERY_DIGIT)}
    if explored is None:
        return checks, numbers
    share, cats = explored["grid_noise_share"], explored["categories"]
    rho = [abs(explored["scaling"][n][f"spearman_{m}"]) for n in cats for m in ("slant", "thickness")]
    lands = {m: sums_land(explored, m) for m in ("slant", "thickness")}
    checks.update(
        grid_shares_style=min(share.values()) >= MOST,
        categories_carry_style=(
            min(cats["thick_slanted"]["slant"], cats["thin_slanted"]["slant"])
            > max(cats["thick_straight"]["slant"], cats["thin_straight"]["slant"])
            and min(cats["thick_straight"]["thickness"], cats["thick_slanted"]["thickness"])
            > max(cats["thin_straight"]["thickness"], cats["thin_slanted"]["thickness"])),
        scaling_monotone=min(rho) >= MONOTONE,
        arithmetic_slant=lands["slant"], arithmetic_thickness=lands["thickness"])
    numbers.update(grid_noise_share={k: round(v, 3) for k, v in share.items()},
                   min_scaling_rho=round(min(rho), 3),
                   arithmetic={op: {m: round(a["result"][m], 2) for m in ("slant", "thickness")}
                               for op, a in explored["arithmetic"].items()})
    return checks, numbers


def seed_record(config):
    """One seed's claims and numbers, read from its run folder."""
    run_dir = Path(config.run_dir)
    metrics = runs.read_json(run_dir / "metrics.json")
    history = runs.read_history(run_dir / "history.csv")
    if config.conditional:
        explored = (runs.read_json(run_dir / "explore" / "explore.json")
                    if explores(config) else None)
        checks, numbers = cgan_claims(metrics, explored)
        numbers["per_class_accuracy"] = metrics["per_class_accuracy"]
    else:
        checks, numbers = gan_claims(metrics)
        numbers["class_shares"] = metrics["class_shares"]
    return {"seed": config.seed, "folder": run_dir.name, "epochs": history[-1]["epoch"],
            "train_seconds": round(sum(r["seconds"] for r in history), 1),
            "final_d_loss": history[-1]["d_loss"], "final_g_loss": history[-1]["g_loss"],
            "claims": checks, **numbers}


def spread(values):
    """min, median and max of a list of numbers."""
    return {"min": float(np.min(values)), "median": float(np.median(values)),
            "max": float(np.max(values))}


def study_record(config, seeds, records, command):
    """study.json: the setting, each seed's record, and each claim's count across seeds."""
    held = {name: sum(r["claims"][name] for r in records)
            for name in CLAIMS[config.kind] if all(name in r["claims"] for r in records)}
    keys = (("top_share", "classes_covered", "entropy", "frechet_distance") if not config.conditional
            else ("accuracy", "min_class_accuracy", "frechet_distance", "min_scaling_rho"))
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in OWN_FIELDS}
    return {"kind": config.kind, "seeds": list(seeds), "settings": settings,
            "command": command,
            "claims": {name: {"means": CLAIMS[config.kind][name],
                              "holds": count, "seeds": len(records)}
                       for name, count in held.items()},
            "spread": {k: spread([r[k] for r in records]) for k in keys
                       if all(k in r for r in records)},
            "per_seed": records}


def setting_flags(config):
    """train's flags for every setting off its default (the seed and folders aside)."""
    return ["--kind", config.kind, *as_flags(config, skip=(*OWN_FIELDS, "kind", "data_dir",
                                                             "quiet"))]


def draw_study(out, study, class_names):
    """OUT/study.png: class shares (gan) or per-class accuracy (cgan), a row per seed."""
    key = "per_class_accuracy" if study["kind"] == "cgan" else "class_shares"
    values = np.array([r[key] for r in study["per_seed"]])
    title = {"per_class_accuracy": "judged correct, per class asked for",
             "class_shares": "share of the generated images, per class judged"}[key]
    figures.plot_seed_table(Path(out) / "study.png", values,
                            [f"seed {r['seed']}" for r in study["per_seed"]], class_names,
                            title=f"{study['kind']}, {study['settings']['epochs']} epochs: {title}")


def run_study(config, seeds, out, *, arrays=None, per_class=1000, samples=2000):
    """Train, judge and summarise every seed; write OUT/study.json and OUT/study.png.

    `arrays` = (images, labels) replaces the dataset, as in `train.train`.
    Returns the study dict.
    """
    records = []
    for seed in seeds:
        train.stop_if_asked()  # a stop signal whose exception a finalizer swallowed
        one = dataclasses.replace(config, seed=seed, out=str(seed_dir(out, seed)))
        status = train_seed(one, arrays)
        print(f"seed {seed}: {status}", flush=True)
        judge_seed(one, per_class, samples)
        records.append(seed_record(one))
    command = ["python -m gan_tutorials.study", "--seeds", *map(str, seeds), *setting_flags(config)]
    command += [f"--per-class {per_class}"] * (per_class != 1000)
    command += [f"--samples {samples}"] * (samples != 2000 and explores(config))
    study = study_record(config, seeds, records, " ".join(command))
    runs.write_json(Path(out) / "study.json", study)
    draw_study(out, study, image_set(config.dataset).class_names)
    return study


def headline(study):
    """A few lines: each claim's count across seeds."""
    lines = [f"{study['kind']} over seeds {' '.join(map(str, study['seeds']))}:"]
    lines += [f"  {name:24s} holds in {c['holds']} of {c['seeds']}"
              for name, c in study["claims"].items()]
    return "\n".join(lines)


def build_parser():
    """train's flags (but --seed), plus --seeds, --out and how much to judge."""
    # No abbreviations: --seed would otherwise be read as --seeds.
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.study",
                                     description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--seeds", type=bounded(int, 0), nargs="+", default=list(STUDY_SEEDS),
                        metavar="SEED", help="one run per seed (default: %(default)s)")
    parser.add_argument("--out", help="the study folder (default: outputs/study/<kind>)")
    parser.add_argument("--per-class", type=bounded(int, 1), default=1000,
                        help="evaluate's generated images per class (default: 1000)")
    parser.add_argument("--samples", type=bounded(int, 30), default=2000,
                        help="explore's noise vectors, for an MNIST cgan (default: 2000)")
    add_config_flags(parser, skip=OWN_FIELDS)
    parser.set_defaults(eval_every=STUDY_EVAL_EVERY, quiet=True)
    return parser


def main(argv=None):
    """CLI entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds: a seed is given twice ({' '.join(map(str, args.seeds))})")
    config = config_from_args(argparse.Namespace(
        **{**vars(args), "seed": args.seeds[0], "out": None, "resume": False, "overwrite": False}))
    out = args.out or f"outputs/study/{config.kind}"
    train.stop_on_signals()
    try:
        study = run_study(config, args.seeds, out, per_class=args.per_class, samples=args.samples)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {out} keeps every finished epoch; run the same command to resume",
              file=sys.stderr)
        sys.exit(130)
    except RunError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(headline(study) + f"\nwrote {Path(out) / 'study.json'}")


if __name__ == "__main__":
    main()
