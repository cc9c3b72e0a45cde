"""The docs' tables for the next lesson's page (docs/conv.md): the conv pair against the dense."""

from gan_tutorials import compare, judge, runs
from gan_tutorials.tables.common import BENCH, REFERENCE, kept


def conv_generators(*names):
    """Per conv reference: G against its --ema average on the three measures that choose
    between them, and the one kept."""
    def write(root):
        lines = ["| run | judged accuracy (a gan: class entropy), G / average | Fréchet distance, "
                 "G / average | stray ink share, G / average | kept |",
                 "| --- | ---: | ---: | ---: | --- |"]
        for name in names:
            run_dir = root / REFERENCE / name
            better = compare.better_generator(run_dir)
            if not better["wins"]:
                lines.append(f"| {name} | — | — | — | G (no average was scored) |")
                continue
            shown = {"accuracy": "{:.2%}", "entropy": "{:.3f}", "frechet_distance": "{:.2f}",
                     "stray_ink": "{:.2%}"}
            cells = [" / ".join(shown[k].format(v) for v in pair)
                     for k, pair in better["scores"].items()]
            won = [k.replace("_", " ") for k, w in better["wins"].items() if w == "average"]
            lines.append(f"| {name} | {' | '.join(cells)} | {better['keep']} (the average "
                         f"better on {', '.join(won) or 'none'}) |")
        return "\n".join(lines + ["", "From each folder's `metrics.json` and `ema/metrics.json` "
                                       "(`evaluate` and `evaluate --average`); the average is kept "
                                       "when it is better on two of the three "
                                       "(`compare.better_generator`)."])
    return write


def fashion_classes(dense, conv):
    """Per class: the dense and the conv cgan's judged accuracy (of the generator each keeps)
    beside the judge's on real images."""
    def write(root):
        a, b = (kept(root, n) for n in (dense, conv))
        real = judge.judge_card("fashion_mnist")["per_class_accuracy"]
        keep = compare.better_generator(root / REFERENCE / conv)["keep"]
        lines = [f"| class | dense cgan | conv cgan{' (average)' if keep == 'average' else ''} "
                 "| the judge on real test images |",
                 "| --- | ---: | ---: | ---: |"]
        for name, x, y, z in zip(a["class_names"], a["per_class_accuracy"],
                                 b["per_class_accuracy"], real, strict=True):
            lines.append(f"| {name} | {x:.1%} | {y:.1%} | {z:.1%} |")
        return "\n".join(lines)
    return write


def conv_goals(root):
    """conv.md's goals for the conv pair, each against the committed files, met or by how much
    missed (the verdicts are computed here, so a retrained reference restates them)."""
    generators = {run: compare.better_generator(root / REFERENCE / run)["keep"]
                  for run in ("conv-cgan", "fashion-conv-cgan")}  # named under the table
    dense, conv, fashion = (kept(root, run) for run in ("cgan", "conv-cgan", "fashion-conv-cgan"))
    control = kept(root, "conv-cgan", "control/control.json")["band"]["steer"]["success"]
    fused = {}
    for backend in ("tensorflow", "jax"):
        rate = compare.fused_rates(root / BENCH / f"{backend}.json")
        fused[backend] = {kind: rate["conv", kind] / rate["dense", kind] for kind in ("cgan", "gan")}
    cost = "; ".join(f"{b}: " + ", ".join(f"{r:.1f}x ({k})" for k, r in fused[b].items())
                     for b in fused)
    real_fashion = judge.judge_card("fashion_mnist")["test_accuracy"]
    fashion_goal = max(0.93, real_fashion)
    worst = lambda m: min(range(len(m["per_class_accuracy"])), key=m["per_class_accuracy"].__getitem__)
    weak = [(n, a) for n, a in zip(fashion["class_names"], fashion["per_class_accuracy"],
                                   strict=True) if a < 0.80]
    share, specks = (conv[k] / conv[f"real_{k}"] for k in ("stray_ink", "specks_per_image"))
    half = dense["frechet_distance"] / 2
    verdict = lambda met, missed: "met" if met else f"missed {missed}"
    rows = [
        ("a fused conv epoch <= 5x a fused dense one on TensorFlow", cost,
         verdict(max(fused["tensorflow"].values()) <= 5,
                 f"by {max(fused['tensorflow'].values()) - 5:.1f}x")),
        ("MNIST conv cgan judged >= 99.7%",
         f"{conv['accuracy']:.2%} (worst class {conv['class_names'][worst(conv)]} at "
         f"{min(conv['per_class_accuracy']):.1%})",
         verdict(conv["accuracy"] >= 0.997, f"by {100 * (0.997 - conv['accuracy']):.2f} points")),
        (f"its Fréchet distance <= half the dense cgan's (<= {half:.2f})",
         f"{conv['frechet_distance']:.2f} (dense {dense['frechet_distance']:.2f}); variety within "
         f"classes {conv['mean_class_spread']:.2f} of real digits' (dense "
         f"{dense['mean_class_spread']:.2f})",
         verdict(conv["frechet_distance"] <= half, f"by {conv['frechet_distance'] - half:.2f} "
                 f"({conv['frechet_distance'] / half:.1f}x the goal)")),
        ("its stray ink within 2x real MNIST's (share and specks)",
         f"share {conv['stray_ink']:.2%} against {conv['real_stray_ink']:.2%} ({share:.1f}x); "
         f"{conv['specks_per_image']:.3f} specks against {conv['real_specks_per_image']:.3f} "
         f"({specks:.1f}x)",
         verdict(share <= 2 and specks <= 2,
                 "at " + ", ".join(f"{name} {r:.1f}x" for name, r in
                                   (("share", share), ("specks", specks)) if r > 2))),
        (f"Fashion conv cgan judged >= 93% and >= the judge's {real_fashion:.1%} on real images",
         f"{fashion['accuracy']:.2%}",
         verdict(fashion["accuracy"] >= fashion_goal,
                 f"by {100 * (fashion_goal - fashion['accuracy']):.1f} points")),
        ("every Fashion class >= 80%",
         "all" if not weak else "all but " + ", ".join(f"{n} ({a:.1%})" for n, a in weak),
         verdict(not weak, f"by {len(weak)} class{'es' if len(weak) > 1 else ''}")),
        ("control on the conv cgan >= 95% of in-band requests", f"{control:.1%}",
         verdict(control >= 0.95, f"by {100 * (0.95 - control):.1f} points")),
    ]
    return "\n".join(["| goal | measured | |", "| --- | --- | --- |",
                      *(f"| {a} | {b} | {c} |" for a, b, c in rows), "",
                      "From `outputs/reference/{cgan,conv-cgan,fashion-conv-cgan}/metrics.json`, "
                      "`conv-cgan/control/control.json`, `outputs/bench/{tensorflow,jax}.json` and "
                      "the Fashion-MNIST judge's card; each conv run's files are its kept "
                      "generator's (" + ", ".join(f"{run}: {g}" for run, g in generators.items())
                      + "; the average's are under `ema/`)."])


def quality_cost(names, goal):
    """Per reference run: what its training cost at the bench's fused rate for its pair, and
    where its judged accuracy first reached `goal` (the curves of conv.md's cost figure)."""
    def write(root):
        path = BENCH / "tensorflow.json"
        rates = compare.fused_rates(root / path)
        lines = [f"| run | seconds per epoch, fused | epochs | seconds in all | first judged >= "
                 f"{goal:.0%} | judged, Fréchet distance at the end |",
                 "| --- | ---: | ---: | ---: | --- | --- |"]
        for s in compare.read_runs([root / REFERENCE / n for n in names], average=True):
            rate, steps = rates[s["arch"], s["kind"]], s["steps"]
            hit = next((p for p in s["curve"] if float(p["accuracy"]) >= goal), None)
            first = f"epoch {hit['epoch']}, {hit['steps'] * rate:.0f} s" if hit else "never"
            lines.append(f"| {s['run']} | {rate * steps / s['epochs']:.1f} | {s['epochs']} | "
                         f"{rate * steps:.0f} | {first} | {s['accuracy']:.2%}, "
                         f"{s['frechet_distance']:.2f} |")
        return "\n".join(lines + ["", "Seconds are each run's steps at the fused rate of "
                                       f"`{path}` for its pair; the curves are `--eval-every`'s "
                                       "(200 digits per class), the end is `evaluate`'s."])
    return write


def curves_at(epochs, *folders):
    """Runs' `--eval-every` curves side by side at some epochs: judged accuracy and Fréchet
    distance of G, and of its average where the run tracked one (the levers against the
    reference's own curve)."""
    def write(root):
        lines = ["| run | " + " | ".join(f"epoch {e}: judged, distance" for e in epochs) + " |",
                 "| --- |" + " ---: |" * len(epochs)]
        for folder in folders:
            by_epoch = {r["epoch"]: r for r in runs.read_history(root / folder / "history.csv")}
            points = [by_epoch[e] for e in epochs]
            for prefix, label in (("", folder.name), ("ema_", f"{folder.name} (average)")):
                if any(p.get(f"{prefix}accuracy") is None for p in points):
                    continue
                cells = [f"{p[prefix + 'accuracy']:.2%}, {p[prefix + 'frechet_distance']:.2f}"
                         for p in points]
                lines.append(f"| {label} | {' | '.join(cells)} |")
        return "\n".join(lines + ["", "From each run's `history.csv` (`--eval-every 5`, 200 "
                                       "digits per class)."])
    return write
