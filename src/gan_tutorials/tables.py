"""Beyond the tutorial: the docs' result tables, written from the committed files.

    python -m gan_tutorials.tables            # rewrite every marked table from the files
    python -m gan_tutorials.tables --check    # name the tables that differ (exit 1), write nothing

A page marks a table that a command writes:

    <!-- table: conv-mnist -->
    | ... the table ... |
    <!-- /table -->

and `TABLES` says what writes it, from the run folders under
outputs/reference (their config.json, history.csv, metrics.json and
control/control.json) and the pinned judges' cards. A test fails when a page's
table differs from what this command writes now, so a retrained reference
updates its pages by running it, and a hand edit cannot drift from the files.
"""

import argparse
import re
import sys
from pathlib import Path

from gan_tutorials import compare, judge, runs

REFERENCE = Path("outputs") / "reference"  # the committed runs, under the repository root
MARKED = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.S)


def runs_side_by_side(*names):
    """`compare`'s table of reference run folders, one column per run."""
    return lambda root: compare.table([compare.read_run(root / REFERENCE / n) for n in names])


def fashion_classes(dense, conv):
    """Per class: the dense and the conv cgan's judged accuracy beside the judge's on real images."""
    def write(root):
        a, b = (runs.read_json(root / REFERENCE / n / "metrics.json") for n in (dense, conv))
        real = judge.judge_card("fashion_mnist")["per_class_accuracy"]
        lines = ["| class | dense cgan | conv cgan | the judge on real test images |",
                 "| --- | ---: | ---: | ---: |"]
        for name, x, y, z in zip(a["class_names"], a["per_class_accuracy"],
                                 b["per_class_accuracy"], real, strict=True):
            lines.append(f"| {name} | {x:.1%} | {y:.1%} | {z:.1%} |")
        return "\n".join(lines)
    return write


TABLES = {  # name -> a function of the repository root that returns the markdown table
    "conv-mnist": runs_side_by_side("cgan", "conv-cgan", "gan", "conv-gan"),
    "conv-fashion": runs_side_by_side("fashion-cgan", "fashion-conv-cgan"),
    "conv-fashion-classes": fashion_classes("fashion-cgan", "fashion-conv-cgan"),
}


def pages(root):
    """The markdown files that may hold marked tables."""
    root = Path(root)
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def rewritten(text, root, written=None):
    """The page's text with every marked table as TABLES writes it now; names found go in `written`."""
    def fill(match):
        name = match.group(2)
        if name not in TABLES:
            raise KeyError(f"no table is named {name!r}; known: {', '.join(TABLES)}")
        table = TABLES[name](root)
        if written is not None:
            written.append(name)
        return f"{match.group(1)}{table}\n{match.group(4)}"
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
