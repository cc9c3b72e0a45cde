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

from gan_tutorials import runs
from gan_tutorials.tables.article import (
    claims,
    control_report,
    explore_arithmetic,
    explore_categories,
    fashion_pair,
    headline,
    judge_members,
    notebook_labels,
    toolkit_agreement,
)
from gan_tutorials.tables.collapse import (
    collapse_conv_cgan,
    collapse_conv_gan,
    collapse_cost,
    collapse_curves,
    collapse_levers,
    collapse_measures,
    kept_generators,
)
from gan_tutorials.tables.common import REFERENCE, TRIED, runs_side_by_side
from gan_tutorials.tables.common import measured_by as measured_by  # (the tests read it here)
from gan_tutorials.tables.conv import conv_generators, conv_goals, curves_at, fashion_classes, quality_cost
from gan_tutorials.tables.seeds import seeds_cgan, seeds_claims, seeds_gan
from gan_tutorials.tables.speed import (
    allocators,
    backends,
    engine_costs,
    make_targets,
    make_times,
    run_times,
    studio_times,
)

MARKED = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.S)

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
    "collapse-measures": collapse_measures,
    "collapse-levers": collapse_levers,
    "collapse-curves": collapse_curves,
    "collapse-cost": collapse_cost,
    "collapse-conv-gan": collapse_conv_gan,
    "collapse-conv-cgan": collapse_conv_cgan,
    "collapse-kept-mnist": kept_generators("conv-cgan-60-pack-2-mode-seeking-0.1"),
    "collapse-kept-fashion": kept_generators("fashion-conv-cgan-60-pack-2-mode-seeking-0.1"),
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
