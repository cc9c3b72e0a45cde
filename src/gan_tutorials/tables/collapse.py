"""The docs' tables for the collapse page (docs/collapse.md): the article's failure, measured as
the field does, and the levers against it."""

import numpy as np

from gan_tutorials import runs
from gan_tutorials.tables.common import BENCH, REFERENCE, STUDY, TRIED, measured_by

TRAINING = STUDY.parent / "training"  # a study whose other seeds are still training

# The dense GAN's studies (study --out outputs/study/NAME), each one setting over seeds:
# the tutorial's own, then one lever each. A study not yet committed is left out. (The
# tutorial's seeds were scored before `manifold`: their precision, recall and coverage
# are the reference run's, seed 1234 of the same settings.)
LEVER_STUDIES = (("none (the tutorial's)", "gan"), ("`--minibatch-std 4`", "gan-minibatch-std-4"),
                 ("`--pack 2`", "gan-pack-2"), ("`--mode-seeking 0.1`", "gan-mode-seeking-0.1"),
                 ("`--pack 2 --minibatch-std 4`", "gan-pack-2-minibatch-std-4"))
COVERED, ENTROPY = 10, 0.95  # the goal: every class drawn (>= 2% each), entropy >= 0.95
MANIFOLD = ("precision", "recall", "density", "coverage")


def finished_seeds(root, name):
    """A study's finished seed folders (those `evaluate` scored), in seed order: under
    outputs/study/, or while its other seeds train, outputs/training/."""
    folder = root / STUDY / name
    folder = folder if folder.is_dir() else root / TRAINING / name
    return [seed for seed in sorted(folder.glob("seed-*")) if (seed / "metrics.json").exists()]


def seed_metrics(root, name):
    """Each finished seed's metrics.json of a study, in seed order."""
    return [runs.read_json(seed / "metrics.json") for seed in finished_seeds(root, name)]


def spread(values, digits=2, percent=False):
    """'mean (min-max)' of per-seed values, or the one value."""
    values = np.asarray(values, float) * (100 if percent else 1)
    form = f"{{:.{digits}f}}" + ("%" if percent else "")
    if len(values) == 1:
        return form.format(values[0])
    return f"{form.format(values.mean())} ({form.format(values.min())}-{form.format(values.max())})"


def class_cells(seeds):
    """The cells of a lever's row from its seeds' metrics: seeds, goal met, classes covered,
    top class, class entropy and Frechet distance (each over the seeds)."""
    met = sum(m["classes_covered"] >= COVERED and m["entropy"] >= ENTROPY for m in seeds)
    return (f"{len(seeds)} | {met} of {len(seeds)} | "
            f"{spread([m['classes_covered'] for m in seeds], 1)} | "
            f"{spread([max(m['class_shares']) for m in seeds], 1, percent=True)} | "
            f"{spread([m['entropy'] for m in seeds])} | "
            f"{spread([m['frechet_distance'] for m in seeds], 1)}")


def collapse_levers(root):
    """The dense GAN at epoch 100, per lever: over its seeds, the mean and the range."""
    rows = ["| lever | seeds | all 10 classes and entropy >= 0.95 | classes covered | top class "
            "| class entropy | Frechet distance | precision | recall | coverage |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, name in LEVER_STUDIES:
        seeds = seed_metrics(root, name)
        if not seeds:
            continue
        scored = [m["manifold"] for m in seeds if "manifold" in m]
        if not scored and name == "gan":  # its seeds were scored before `manifold`: the
            scored = [runs.read_json(root / REFERENCE / "gan" / "metrics.json")["manifold"]]
        manifold = [spread([s[k] for s in scored]) + ("" if len(scored) == len(seeds) else
                                                       f" ({len(scored)} seed)")
                    if scored else "-" for k in ("precision", "recall", "coverage")]
        rows.append(f"| {label} | {class_cells(seeds)} | " + " | ".join(manifold) + " |")
    reference = runs.read_json(root / REFERENCE / "gan" / "metrics.json")
    level = reference["real_manifold"]
    rows.append(f"| real test digits, one half against the other | | | | | | "
                f"{reference['frechet_floor']:.1f} | "
                + " | ".join(f"{level[k]:.2f}" for k in ("precision", "recall", "coverage")) + " |")
    return "\n".join(rows)


# The conv pair's studies: the conv gan at 100 epochs with the dense GAN's winner, and the
# conv cgan's screen at 30 epochs (--ema 0.999), each against its no-lever runs.
CONV_GAN_STUDIES = (("`--pack 2 --minibatch-std 4`", "conv-gan-pack-2-minibatch-std-4"),)
CONV_CGAN_STUDIES = (("`--minibatch-std 4`", "conv-cgan-30-minibatch-std-4"),
                     ("`--pack 2`", "conv-cgan-30-pack-2"),
                     ("`--minibatch-std 128 --minibatch-by-class`",
                      "conv-cgan-30-minibatch-std-128-by-class"),
                     ("`--pack 2 --mode-seeking 0.1`", "conv-cgan-30-pack-2-mode-seeking-0.1"))
SCREEN_EPOCH = 30


def collapse_conv_gan(root):
    """The conv gan at epoch 100: the reference (no lever) and each lever's seeds."""
    rows = ["| lever | seeds | all 10 classes and entropy >= 0.95 | classes covered | top class "
            "| class entropy | Frechet distance | recall | coverage |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    studies = [("none (the reference)", [runs.read_json(root / REFERENCE / "conv-gan" /
                                                        "metrics.json")])]
    studies += [(label, seed_metrics(root, name)) for label, name in CONV_GAN_STUDIES]
    for label, seeds in studies:
        if not seeds:
            continue
        rows.append(f"| {label} | {class_cells(seeds)} | "
                    f"{spread([m['manifold']['recall'] for m in seeds])} | "
                    f"{spread([m['manifold']['coverage'] for m in seeds])} |")
    return "\n".join(rows)


def collapse_conv_cgan(root, epoch=SCREEN_EPOCH):
    """The conv cgan's screen at epoch 30: the distance of G and of its average from each
    run's curve, and the scores `evaluate` gave G at that epoch (a cgan's means over classes)."""
    rows = ["| lever | seeds | Frechet distance | average's distance | judged | distance by "
            "evaluate | variety within classes | recall | coverage |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    # No lever: the reference's own curve at epoch 30 and the 30-epoch run before it
    # (both seed 1234; scored before `manifold`, so no recall or coverage).
    baseline = [root / REFERENCE / "conv-cgan", root / TRIED / "conv-cgan-30"]
    studies = [("none (2 runs of seed 1234)", baseline)]
    studies += [(label, finished_seeds(root, name)) for label, name in CONV_CGAN_STUDIES]
    for label, folders in studies:
        if not folders:
            continue
        histories = [runs.read_history(f / "history.csv") for f in folders]
        at = [{r["epoch"]: r for r in history}[epoch] for history in histories]
        scored = [runs.read_json(f / "metrics.json") for f, history in zip(folders, histories)
                  if history[-1]["epoch"] == epoch]  # evaluate's scores are of the last epoch
        average = [float(r["ema_frechet_distance"]) for r in at if r.get("ema_frechet_distance")]
        cells = [spread([float(r["frechet_distance"]) for r in at]),
                 spread(average) if average else "-",
                 spread([float(r["accuracy"]) for r in at], 1, percent=True),
                 spread([m["frechet_distance"] for m in scored]) if scored else "-",
                 spread([m["mean_class_spread"] for m in scored]) if scored else "-",
                 *(spread([m["mean_class_manifold"][k] for m in scored if "mean_class_manifold" in m])
                   if any("mean_class_manifold" in m for m in scored) else "-"
                   for k in ("recall", "coverage"))]
        rows.append(f"| {label} | {len(folders)} | " + " | ".join(cells) + " |")
    level = runs.read_json(root / REFERENCE / "conv-cgan" / "metrics.json")
    rows.append(f"| real test digits | | {level['frechet_floor']:.2f} | | | "
                f"{level['frechet_floor']:.2f} | 1.00 | "
                f"{level['real_mean_class_manifold']['recall']:.2f} | "
                f"{level['real_mean_class_manifold']['coverage']:.2f} |")
    return "\n".join(rows)


def collapse_curves(root, epochs=(10, 20, 40, 60, 80, 100)):
    """Class entropy through training (--eval-every 5), the mean over each lever's seeds."""
    rows = ["| lever | " + " | ".join(f"epoch {e}" for e in epochs) + " |",
            "| --- |" + " ---: |" * len(epochs)]
    for label, name in LEVER_STUDIES:
        histories = [{r["epoch"]: r for r in runs.read_history(f / "history.csv")}
                     for f in finished_seeds(root, name)]
        if not histories:
            continue
        cells = [f"{np.mean([h[e]['entropy'] for h in histories]):.2f}" for e in epochs]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def collapse_measures(root, names=("gan", "conv-gan", "cgan", "conv-cgan", "fashion-cgan",
                                   "fashion-conv-cgan")):
    """The reference runs' precision, recall, density and coverage, each beside its real level.

    A cgan's are the means over classes, each class against real digits of that class."""
    rows = ["| run | precision | recall | density | coverage | the real halves' (P / R / D / C) |",
            "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name in names:
        metrics = runs.read_json(root / REFERENCE / name / "metrics.json")
        key = "mean_class_manifold" if metrics["kind"] == "cgan" else "manifold"
        got, level = metrics[key], metrics["real_" + key]
        rows.append(f"| {name} | " + " | ".join(f"{got[k]:.2f}" for k in MANIFOLD) + " | "
                    + " / ".join(f"{level[k]:.2f}" for k in MANIFOLD) + " |")
    return "\n".join(rows)


def collapse_cost(root, names=("levers", "levers-cgan", "levers-cgan-by-class")):
    """A fused step with each lever against one without, timed under the same load (bench)."""
    rows = ["| pair | lever | fused ms/step | against no lever | train_on_batch ms/step |",
            "| --- | --- | ---: | ---: | ---: |"]
    lines = []
    for name in names:
        data = runs.read_json(root / BENCH / f"{name}.json")
        plain = {r["model"]: r["ms_per_step"]["fused"] for r in data["results"] if not r["lever"]}
        for r in data["results"]:
            lever = ", ".join("`--" + k.replace("_", "-") + ("" if v is True else f" {v:g}") + "`"
                              for k, v in r["lever"].items()) or "none"
            ms = r["ms_per_step"]
            rows.append(f"| {r['arch']} {r['model']} | {lever} | {ms['fused']:.1f} | "
                        f"{ms['fused'] / plain[r['model']]:.2f}x | {ms['train_on_batch']:.1f} |")
        lines.append(measured_by(data, BENCH / f"{name}.json"))
    return "\n".join(rows) + "\n\n" + "\n".join(lines)


def kept_generators(name):
    """A longer study with --keep-best (outputs/study/NAME, or outputs/training/NAME while it
    trains): per seed, `evaluate`'s scores of G at its last epoch and of the generators
    --keep-best kept (G and its average, each at its lowest-distance epoch), beside the real
    test set's level (a cgan's means over classes)."""
    def table(root):
        rows = ["| seed | generator | epoch | distance by evaluate | variety within classes "
                "| recall | coverage | judged | worst class | specks per digit |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        level = None
        for folder in finished_seeds(root, name):
            config = runs.read_config(folder)
            for label, sub in (("G", "."), ("G kept", "best"), ("average kept", "ema-best")):
                path = folder / sub / "metrics.json"
                if not path.exists():
                    continue
                m = runs.read_json(path)
                level = level or m
                rows.append(f"| {config['seed']} | {label} | {m.get('best_epoch', config['epochs'])} "
                            f"| {m['frechet_distance']:.2f} | {m['mean_class_spread']:.2f} "
                            f"| {m['mean_class_manifold']['recall']:.2f} "
                            f"| {m['mean_class_manifold']['coverage']:.2f} "
                            f"| {100 * m['accuracy']:.1f}% | {100 * m['min_class_accuracy']:.1f}% "
                            f"| {m['specks_per_image']:.3f} |")
        if level:
            real = level["real_mean_class_manifold"]
            rows.append(f"| real test set | | | {level['frechet_floor']:.2f} | 1.00 "
                        f"| {real['recall']:.2f} | {real['coverage']:.2f} "
                        f"| {100 * np.mean(level['judge_per_class_accuracy']):.1f}% "
                        f"| {100 * min(level['judge_per_class_accuracy']):.1f}% "
                        f"| {level['real_specks_per_image']:.3f} |")
        return "\n".join(rows)
    return table
