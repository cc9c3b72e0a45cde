"""Beyond the tutorial: the docs' result tables, written from the committed files.

    python -m gan_tutorials.tables            # rewrite every marked table from the files
    python -m gan_tutorials.tables --check    # name the tables that differ (exit 1), write nothing

A page marks a table that a command writes:

    <!-- table: conv-mnist -->
    | ... the table ... |
    <!-- /table -->

and `TABLES` says what writes it, from committed files only: the reference
run folders (config.json, history.csv, metrics.json, explore/ and control/),
the small files of the runs under outputs/tried/, the studies' study.json,
the `bench --json` and `morphometry --json` files, and the pinned judges'
cards. A table of measurements ends with the line that
names its file, command and machine. A test fails when a page's table
differs from what this command writes now, so a retrained reference updates
its pages by running it, and a hand edit cannot drift from the files.
"""

import argparse
import re
import sys
from pathlib import Path

from gan_tutorials import compare, judge, runs, study

REFERENCE = Path("outputs") / "reference"  # the committed runs, under the repository root
TRIED = Path("outputs") / "tried"  # runs that tried a change on the conv pair (docs/conv.md)
MARKED = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.S)


def runs_side_by_side(*names, under=REFERENCE):
    """`compare`'s table of run folders (reference runs, or those `under` another folder), one
    column per run and one per --ema average that `evaluate --average` scored."""
    return lambda root: compare.table(compare.read_runs([root / under / n for n in names],
                                                        average=True))


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


def kept(root, run, name="metrics.json"):
    """A reference run's file for the generator it keeps: G's, or its average's under ema/
    when `compare.better_generator` keeps the average."""
    run_dir = root / REFERENCE / run
    return runs.read_json(runs.results_dir(run_dir, compare.better_generator(run_dir)["keep"]
                                           == "average") / name)


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


STUDY = Path("outputs") / "study"  # the committed studies: OUT/study.json per kind
CLAIM_LABELS = {  # each claim of study.CLAIMS as the seeds page names it
    "collapses": "the dense GAN collapses (one class >= 50%)",
    "mostly_ones": "... to 1s",
    "all_classes": "... or covers all ten classes",
    "every_digit": "the cgan draws every digit (each class >= 90%)",
    "grid_shares_style": "a grid column shares its style (>= 50% of both)",
    "categories_carry_style": "category vectors carry their style",
    "scaling_monotone": "scaling is monotone (\\|rho\\| >= 0.9)",
    "arithmetic_slant": "the sums move slant as claimed",
    "arithmetic_thickness": "the sums move thickness as claimed",
}


def study_of(root, kind):
    """A committed study's summary."""
    return runs.read_json(root / STUDY / kind / "study.json")


def seeds_gan(root):
    """The dense GAN per seed: its top class, how many classes, the distance."""
    lines = ["| seed | top class | its share | classes covered (>= 2%) | entropy | Fréchet distance |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in study_of(root, "gan")["per_seed"]:
        lines.append(f"| {s['seed']} | {s['top_class']} | {s['top_share']:.1%} | "
                     f"{s['classes_covered']} | {s['entropy']:.2f} | {s['frechet_distance']:.0f} |")
    return "\n".join(lines)


def seeds_cgan(root):
    """The conditional GAN per seed: judged accuracy, the latent-space measures."""
    lines = ["| seed | judged correct | worst class | its accuracy | Fréchet distance | grid noise "
             "share, slant / thickness | min \\|rho\\| scaling | add: slant, thickness | "
             "subtract: slant, thickness |",
             "| ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |"]
    for s in study_of(root, "cgan")["per_seed"]:
        share = s["grid_noise_share"]
        style = lambda op, sums=s["arithmetic"]: (f"{sums[op]['slant']:+.1f}°, "
                                                  f"{sums[op]['thickness']:.2f} px")
        lines.append(f"| {s['seed']} | {s['accuracy']:.2%} | {s['worst_class']} | "
                     f"{s['min_class_accuracy']:.1%} | {s['frechet_distance']:.1f} | "
                     f"{share['slant']:.0%} / {share['thickness']:.0%} | "
                     f"{s['min_scaling_rho']:.3f} | {style('add')} | {style('subtract')} |")
    return "\n".join(lines)


def seeds_claims(root):
    """Each claim of the article: in how many seeds it holds."""
    lines = ["| claim | holds in |", "| --- | --- |"]
    for kind in ("gan", "cgan"):
        for name, claim in study_of(root, kind)["claims"].items():
            lines.append(f"| {CLAIM_LABELS[name]} | {claim['holds']} of {claim['seeds']} |")
    return "\n".join(lines)


def control_report(run):
    """A reference run's control report: steering against the article's method, in the band."""
    def write(root):
        report = runs.read_json(root / REFERENCE / run / "control" / "control.json")
        band, beyond = report["band"], report["extrapolation"]
        rows = [f"| in the {report['band_percentiles'][0]}-{report['band_percentiles'][1]}% band "
                f"({band['steer']['requests']:,} requests) | steer | the article's method |",
                "| --- | --- | --- |"]
        for name, unit in (("slant", "°"), ("thickness", "px"), ("height", "px"), ("width", "px")):
            s, a = band["steer"]["attributes"][name], band["article"]["attributes"][name]
            rows.append(f"| {name}: median / p90 miss, SD ({unit}) | **{s['median_sd']:.3f} / "
                        f"{s['p90_sd']:.3f}** ({s['median_native']:.2f} / {s['p90_native']:.2f}) | "
                        f"{a['median_sd']:.2f} / {a['p90_sd']:.2f} ({a['median_native']:.2f} / "
                        f"{a['p90_native']:.2f}) |")
        for name in ("slant", "thickness", "height"):
            s, a = band["steer"]["attributes"][name], band["article"]["attributes"][name]
            rows.append(f"| {name} held: mean leak, SD | **{s['leak_sd']:.3f}** | {a['leak_sd']:.2f} |")
        s, a = band["steer"], band["article"]
        rows += [f"| judge reads the asked digit | **{s['judge_accuracy']:.1%}** | "
                 f"{a['judge_accuracy']:.1%} |",
                 f"| every constraint within {report['tolerance_sd']} SD and the right digit | "
                 f"**{s['success']:.1%}** | {a['success']:.1%} |",
                 f"| time, as control.json records it | {s['seconds']} s "
                 f"({s['requests_per_second']:.0f} requests/s) | |",
                 f"| beyond the band ({beyond['steer']['requests']} requests): success, judge | "
                 f"{beyond['steer']['success']:.1%}, {beyond['steer']['judge_accuracy']:.1%} | "
                 f"{beyond['article']['success']:.1%}, {beyond['article']['judge_accuracy']:.1%} |"]
        return "\n".join(rows)
    return write


def fashion_pair(root):
    """Fashion-MNIST per class: the cgan's judged accuracy, the judge's on real images, the gan's shares."""
    cgan, gan = (runs.read_json(root / REFERENCE / n / "metrics.json")
                 for n in ("fashion-cgan", "fashion-gan"))
    real = judge.judge_card("fashion_mnist")["per_class_accuracy"]
    lines = ["| class | fashion-cgan: judged accuracy | judge on real test images | "
             "fashion-gan: share of images |", "| --- | ---: | ---: | ---: |"]
    for name, x, y, z in zip(cgan["class_names"], cgan["per_class_accuracy"], real,
                             gan["class_shares"], strict=True):
        lines.append(f"| {name} | {x:.1%} | {y:.1%} | {z:.1%} |")
    return "\n".join(lines)


def judge_members(run):
    """Per class: how the averaged judge and each of its CNNs read a run's digits."""
    def write(root):
        m = runs.read_json(root / REFERENCE / run / "metrics.json")
        members = m["member_per_class_accuracy"]
        lines = ["| class | the judge (their average) | " + " | ".join(
                     f"CNN {k} alone" for k in range(len(members))) + " | spread of the CNNs |",
                 "| --- | ---: |" + " ---: |" * len(members) + " ---: |"]
        for c, name in enumerate(m["class_names"]):
            alone = [r[c] for r in members]
            lines.append(f"| {name} | {m['per_class_accuracy'][c]:.1%} | "
                         + " | ".join(f"{a:.1%}" for a in alone)
                         + f" | {100 * (max(alone) - min(alone)):.1f} points |")
        return "\n".join(lines)
    return write


LATENT_CLAIMS = {"grid_shares_style": "the grid's shared style",
                 "categories_carry_style": "the categories' style", "scaling_monotone": "scaling",
                 "arithmetic_slant": "the sums' slant", "arithmetic_thickness": "the sums' thickness"}


def headline(root):
    """The README's table: each of the article's claims against what was measured, and where."""
    ref = lambda run, name="metrics.json": runs.read_json(root / REFERENCE / run / name)
    gan, cgan, notebook = ref("gan"), ref("cgan"), ref("cgan-notebook-labels")
    explored, control = ref("cgan", "explore/explore.json"), ref("cgan", "control/control.json")
    fashion = ref("fashion-cgan")
    conv, fashion_conv, conv_gan = (kept(root, run) for run in ("conv-cgan", "fashion-conv-cgan",
                                                                "conv-gan"))
    conv_epochs = runs.read_config(root / REFERENCE / "conv-cgan")["epochs"]
    top = max(range(len(gan["class_shares"])), key=gan["class_shares"].__getitem__)
    worst = min(range(10), key=fashion["per_class_accuracy"].__getitem__)
    studies = {kind: study_of(root, kind)["claims"] for kind in ("gan", "cgan")}
    seeds = studies["cgan"]["every_digit"]["seeds"]
    short = [f"{LATENT_CLAIMS[n]} ({c['holds']} of {c['seeds']})"
             for n, c in studies["cgan"].items() if n in LATENT_CLAIMS and c["holds"] < c["seeds"]]
    latent = (f"every latent-space claim holds in {seeds} of {seeds}"
              + (f" but {', '.join(short)}" if short else ""))
    steer, article = control["band"]["steer"], control["band"]["article"]
    share = explored["grid_noise_share"]
    rows = [
        ("the dense GAN \"mostly settled on drawing 1s\"",
         f"{gan['class_shares'][top]:.1%} of its digits are judged {gan['class_names'][top]}s; "
         f"{gan['classes_covered']} classes covered",
         "[reproduction](docs/reproduction.md#overview-and-the-dense-gan)"),
        ("the conditional GAN draws every digit \"with the exception of the 9\"",
         f"the 9s fail because the tutorial never samples label 9 (`maxval=9` is exclusive): "
         f"{notebook['per_class_accuracy'][9]:.1%} correct; sampling all ten gives "
         f"{cgan['accuracy']:.1%} overall, 9s {cgan['per_class_accuracy'][9]:.1%}",
         "[reproduction](docs/reproduction.md#conditioning)"),
        ("noise carries style; category vectors scale and add",
         f"the shared noise explains {share['slant']:.0%} of slant and {share['thickness']:.0%} "
         "of thickness in the grid; scaling is monotone; sums move slant as claimed, thickness "
         "halfway", "[explore](docs/explore.md)"),
        ("hoped-for \"absolute control over the output\"",
         f"{steer['success']:.1%} of in-band requests (slant, thickness, height) met within "
         f"{control['tolerance_sd']} SD, against {article['success']:.1%} with the article's "
         "scaled category vectors", "[control](docs/control.md)"),
        ("the claims across seeds",
         f"over {seeds} seeds: the dense GAN collapses onto 1s in "
         f"{studies['gan']['mostly_ones']['holds']} of {seeds}, the cgan draws every digit in "
         f"{studies['cgan']['every_digit']['holds']} of {seeds}; {latent}",
         "[seeds](docs/seeds.md)"),
        ("\"a more complex dataset\"",
         f"Fashion-MNIST cgan: {fashion['accuracy']:.1%} judged (the judge reads real test "
         f"images at {judge.judge_card('fashion_mnist')['test_accuracy']:.1%}), worst class "
         f"{fashion['class_names'][worst].lower()} {fashion['per_class_accuracy'][worst]:.1%}",
         "[datasets](docs/datasets.md#fashion-mnist-results)"),
        ("— (the next lesson)",
         f"a conv GAN: its cgan reads {conv['accuracy']:.1%} in {conv_epochs} epochs (dense: "
         f"{cgan['accuracy']:.1%} in 100) with {conv['specks_per_image']:.2f} specks per digit "
         f"(dense {cgan['specks_per_image']:.2f}, real {cgan['real_specks_per_image']:.3f}); on "
         f"Fashion-MNIST {fashion_conv['accuracy']:.1%} against the dense "
         f"{fashion['accuracy']:.1%}; its unconditional GAN covers "
         f"{conv_gan['classes_covered']} classes, {max(conv_gan['class_shares']):.0%} of its "
         f"digits one class (dense: {gan['classes_covered']}, {max(gan['class_shares']):.0%})",
         "[conv](docs/conv.md)"),
    ]
    return "\n".join(["| the article | measured here | page |", "| --- | --- | --- |",
                      *(f"| {a} | {b} | {c} |" for a, b, c in rows)])


def toolkit_agreement(root):
    """The six measures against the Morpho-MNIST toolkit's own, from `morphometry --json`."""
    table = runs.read_json(root / "outputs" / "morphometry" / "agreement.json")["agreement"]
    lines = ["| measure | set | r | mean diff (SD) | MAD (SD) |", "| --- | --- | ---: | ---: | ---: |"]
    for measure in table["mnist"]:
        for name, rows in table.items():
            a = rows[measure]
            lines.append(f"| {measure} | {name} | {a['r']:.4f} | {a['mean_diff_sd']:+.4f} | "
                         f"{a['mad_sd']:.4f} |")
    return "\n".join(lines)


CATEGORY_NAMES = {"thick_straight": "thick, straight", "thick_slanted": "thick, slanted right",
                  "thin_straight": "thin, straight", "thin_slanted": "thin, slanted right"}


def explored(root, run="cgan"):
    """A reference run's explore.json."""
    return runs.read_json(root / REFERENCE / run / "explore" / "explore.json")


def explore_categories(root):
    """The tutorial's four style categories: their size and their mean vector's style."""
    lines = ["| category (vectors) | slant of its mean vector | thickness (px) |",
             "| --- | ---: | ---: |"]
    for name, c in explored(root)["categories"].items():
        lines.append(f"| {CATEGORY_NAMES[name]} ({c['size']}) | {c['slant']:+.1f}° | "
                     f"{c['thickness']:.2f} |")
    return "\n".join(lines)


def explore_arithmetic(root):
    """The tutorial's two sums of category vectors: what each draws, and what was expected."""
    style = lambda m: f"{m['slant']:+.1f}°, {m['thickness']:.2f} px"
    label = lambda name: name.replace("_", "-")
    lines = ["| sum | result | expected category |", "| --- | --- | --- |"]
    for op, a in explored(root)["arithmetic"].items():
        left, right = (f"{label(n)} ({style(m)})" for n, m in a["operands"].items())
        lines.append(f"| {left} {'+' if op == 'add' else '-'} {right} | slant "
                     f"{a['result']['slant']:+.1f}°, thickness {a['result']['thickness']:.2f} px | "
                     f"{label(a['expect'])} ({style(a['expected'])}) |")
    return "\n".join(lines)


def notebook_labels(root):
    """Per class asked for: the notebook-labels cgan against the cgan that samples all ten; what
    the untrained 9s are read as."""
    notebook, cgan = (runs.read_json(root / REFERENCE / n / "metrics.json")
                      for n in ("cgan-notebook-labels", "cgan"))
    bold = lambda name, text: f"**{text}**" if name == "9" else text
    cells = lambda m: " | ".join(bold(c, f"{a:.1%}") for c, a in
                                 zip(m["class_names"], m["per_class_accuracy"], strict=True))
    read_as = sorted(((n, c) for c, n in enumerate(notebook["confusion"][9]) if c != 9), reverse=True)
    asked = sum(notebook["confusion"][9])
    lines = ["| class asked for | " + " | ".join(bold(c, c) for c in notebook["class_names"]) + " |",
             "| --- |" + " ---: |" * len(notebook["class_names"]),
             f"| judged correct, notebook labels | {cells(notebook)} |",
             f"| judged correct, all ten classes | {cells(cgan)} |", "",
             "The untrained 9s are read as " + ", ".join(f"{c} ({n / asked:.0%})" for n, c in read_as[:3])
             + " and other digits (the confusion matrix in `cgan-notebook-labels/metrics.json`)."]
    return "\n".join(lines)


def claims(root):
    """The reproduction's table: each claim of the article, measured on the reference runs by the
    study's own checks, with the command that measures it and its count across the seeds."""
    ref = lambda run, name="metrics.json": runs.read_json(root / REFERENCE / run / name)
    gan, cgan, notebook = ref("gan"), ref("cgan"), ref("cgan-notebook-labels")
    explored = ref("cgan", "explore/explore.json")
    checks, _ = study.cgan_claims(cgan, explored)
    seeds = {kind: study_of(root, kind) for kind in ("gan", "cgan")}
    held = lambda kind, name: (f"{seeds[kind]['claims'][name]['holds']} of "
                               f"{seeds[kind]['claims'][name]['seeds']}")
    pct = lambda values: f"{min(values):.0%}-{max(values):.0%}"
    evaluate = "`python -m gan_tutorials.evaluate outputs/reference/{0} --out outputs/check/{0}`"
    explore = "`python -m gan_tutorials.explore outputs/reference/cgan --out outputs/check/cgan/explore`"

    shares = sorted(((s, c) for c, s in zip(gan["class_names"], gan["class_shares"], strict=True)
                     if s >= 0.02), reverse=True)
    top = [r["top_share"] for r in seeds["gan"]["per_seed"]]
    others = notebook["per_class_accuracy"][:9]
    overall = [r["accuracy"] for r in seeds["cgan"]["per_seed"]]
    cats = explored["categories"]
    style = lambda *names, m: " / ".join(f"{cats[n][m]:+.1f}°" if m == "slant" else f"{cats[n][m]:.2f}"
                                         for n in names)
    rho = {m: min(abs(s[f"spearman_{m}"]) for s in explored["scaling"].values())
           for m in ("slant", "thickness")}
    thin = explored["scaling"]["thin_slanted"]
    ends = [f"slant {thin['slant'][i]:+.1f}°, {thin['thickness'][i]:.2f} px at "
            f"{explored['scalars'][i]:g}" for i in (0, -1)]
    verdict = lambda m: f"{m} {'yes' if checks[f'arithmetic_{m}'] else 'no'}"

    def sums(op):
        a = explored["arithmetic"][op]
        operands = " and ".join(f"{m['thickness']:.2f}" for m in a["operands"].values())
        return (f"slant {a['result']['slant']:+.1f}° (target {a['expected']['slant']:+.1f}°), "
                f"thickness {a['result']['thickness']:.2f} px (target "
                f"{a['expected']['thickness']:.2f}, operands {operands}): "
                f"{verdict('slant')}, {verdict('thickness')}")

    rows = [
        ("the dense GAN \"mostly settled on drawing 1s\"",
         ", ".join(f"{s:.1%} {c}s" for s, c in shares) + f"; {gan['classes_covered']} classes "
         f"covered, entropy {gan['entropy']:.2f}", evaluate.format("gan"),
         f"collapses in {held('gan', 'collapses')}, onto 1s in {held('gan', 'mostly_ones')} "
         f"({pct(top)} 1s)"),
        ("the conditional GAN draws every digit \"with the exception of the 9\"",
         f"with the notebook's `maxval=9`: 9s {notebook['per_class_accuracy'][9]:.1%} correct, "
         f"the other classes {min(others):.1%}-{max(others):.1%}; with all ten classes sampled: "
         f"{cgan['accuracy']:.1%} overall, 9s {cgan['per_class_accuracy'][9]:.1%}, worst class "
         f"{cgan['min_class_accuracy']:.1%}",
         f"{evaluate.format('cgan-notebook-labels')} and `.../cgan`",
         f"all ten sampled: every class >= {study.EVERY_DIGIT:.0%} in {held('cgan', 'every_digit')} "
         f"({min(overall):.1%}-{max(overall):.1%} overall); the notebook's 9s fail under any "
         "seed, as label 9 is never sampled"),
        ("in the grid, a column (one noise vector) shares thickness and slant",
         f"the noise explains {explored['grid_noise_share']['slant']:.0%} of the class-adjusted "
         f"slant variation and {explored['grid_noise_share']['thickness']:.0%} of the thickness "
         "variation (10% = no effect)", explore,
         f"{held('cgan', 'grid_shares_style')} (>= {study.MOST:.0%} of both)"),
        ("averaged category vectors carry their style",
         f"slanted means lean {style('thick_slanted', 'thin_slanted', m='slant')} vs straight "
         f"{style('thick_straight', 'thin_straight', m='slant')}; thick means are "
         f"{style('thick_straight', 'thick_slanted', m='thickness')} px thick vs thin "
         f"{style('thin_straight', 'thin_slanted', m='thickness')} px", "same",
         held("cgan", "categories_carry_style")),
        ("scaling a vector exaggerates its style, and negative scalars reverse it",
         f"all four categories monotone in the scalar (\\|Spearman rho\\| >= {rho['slant']:.3f} "
         f"for slant, >= {rho['thickness']:.3f} for thickness); thin-slanted goes from "
         f"{ends[0]} to {ends[1]}", "same",
         f"{held('cgan', 'scaling_monotone')} (\\|rho\\| >= {study.MONOTONE})"),
        ("thick-straight + thin-slanted = thick-slanted", sums("add"), "same",
         f"slant {held('cgan', 'arithmetic_slant')}, thickness {held('cgan', 'arithmetic_thickness')}"),
        ("thick-slanted - thick-straight = thin-slanted", sums("subtract"), "same",
         f"slant {held('cgan', 'arithmetic_slant')}, thickness {held('cgan', 'arithmetic_thickness')}"),
    ]
    count = len(seeds["cgan"]["seeds"])
    return "\n".join(["| the article says | measured here | reproduce with | across "
                      f"{count} seeds ([seeds](seeds.md)) |", "| --- | --- | --- | --- |",
                      *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)])


BENCH = Path("outputs") / "bench"  # bench --json files: results with their machine
STEPS_PER_EPOCH = 468  # 60,000 images in batches of 128


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


def measured_by(data, path):
    """The line under a table of measurements: its file, command and machine."""
    cpu, machine = data["machine"]["cpu"] or {}, data["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if k != "python")
    preload = f"LD_PRELOAD={machine['preload']} " if machine.get("preload") else ""
    return (f"Measured by `{preload}{machine['command']}` on {cpu.get('model', 'an unknown CPU')} "
            f"({cpu.get('cores')} cores, {', '.join(cpu.get('isa', [])) or 'no ISA flags read'}; "
            f"{versions}) on {machine['date']}: `{path}`.")


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


TABLES = {  # name -> a function of the repository root that returns the markdown table
    "conv-mnist": runs_side_by_side("cgan", "conv-cgan", "gan", "conv-gan"),
    "conv-fashion": runs_side_by_side("fashion-cgan", "fashion-conv-cgan"),
    "conv-fashion-classes": fashion_classes("fashion-cgan", "fashion-conv-cgan"),
    "conv-goals": conv_goals,
    "conv-generators": conv_generators("conv-cgan", "conv-gan", "fashion-conv-cgan"),
    "conv-tried": runs_side_by_side("conv-cgan-30", "conv-gan-30-rate-1e-4",
                                    "fashion-conv-cgan-50-rate-1e-4", under=TRIED),
    "conv-levers": runs_side_by_side("conv-cgan-30", "conv-cgan-30-d-rate-4e-4",
                                     "conv-cgan-30-d-width-64", under=TRIED),
    "conv-levers-curves": curves_at((20, 25, 30), REFERENCE / "conv-cgan", TRIED / "conv-cgan-30",
                                    TRIED / "conv-cgan-30-d-rate-4e-4",
                                    TRIED / "conv-cgan-30-d-width-64"),
    "conv-cost-mnist": quality_cost(("cgan", "conv-cgan"), 0.99),
    "conv-cost-fashion": quality_cost(("fashion-cgan", "fashion-conv-cgan"), 0.85),
    "seeds-gan": seeds_gan,
    "seeds-cgan": seeds_cgan,
    "seeds-claims": seeds_claims,
    "control-report": control_report("cgan"),
    "fashion-classes": fashion_pair,
    "fashion-judge-members": judge_members("fashion-cgan"),
    "headline": headline,
    "toolkit-agreement": toolkit_agreement,
    "explore-categories": explore_categories,
    "explore-arithmetic": explore_arithmetic,
    "notebook-labels": notebook_labels,
    "claims": claims,
    "speed": engine_costs("tensorflow", archs=("dense",)),
    "allocators": allocators(("allocator-glibc", "allocator-tcmalloc")),
    "conv-cost-tensorflow": engine_costs("tensorflow"),
    "conv-cost-jax": engine_costs("jax"),
    "conv-wider-d": engine_costs("wider-d", archs=("conv",)),
    "run-times": run_times,
    "backends": backends,
    "make-times": make_times,
    "studio": studio_times,
    "make-targets": make_targets,
}


def pages(root):
    """The markdown files that may hold marked tables."""
    root = Path(root)
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def rewritten(text, root):
    """The page's text with every marked table as TABLES writes it now."""
    def fill(match):
        name = match.group(2)
        if name not in TABLES:
            raise KeyError(f"no table is named {name!r}; known: {', '.join(TABLES)}")
        return f"{match.group(1)}{TABLES[name](root)}\n{match.group(4)}"
    return MARKED.sub(fill, text)


def update(root=".", check=False):
    """Rewrite (or with `check`, only compare) every marked table; return the pages that differ."""
    root, differ = Path(root), []
    for page in pages(root):
        text = page.read_text()
        new = rewritten(text, root)
        if new != text:
            differ.append(page)
            if not check:
                runs.atomic_write_bytes(page, new.encode())
    return differ


def main(argv=None):
    """CLI: rewrite the marked tables, or check them."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.tables",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming each page whose tables differ")
    parser.add_argument("--root", default=".", help="the repository root (default: here)")
    args = parser.parse_args(argv)
    try:
        differ = update(args.root, check=args.check)
    except (KeyError, runs.RunError, OSError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    for page in differ:
        print(f"{page}: {'differs from the files' if args.check else 'rewritten'}")
    if args.check and differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
