"""The docs' tables for the article's pages: the README's headline, reproduction, explore, control,
datasets and the Morpho-MNIST agreement."""

from gan_tutorials import judge, runs, study
from gan_tutorials.tables.common import REFERENCE, explored, kept, study_of


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
