"""The docs' tables for the seeds page (docs/seeds.md): the article's claims over seeds."""

from gan_tutorials.tables.common import study_of

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
