"""The reader's path: the tutorial's two notebooks, executed in place, each output tied to its code.

    python -m gan_tutorials.notebooks [NOTEBOOK ...]    # default: both, as `make notebooks` runs

`notebooks/1_gan.ipynb` and `notebooks/2_conditional_gan.ipynb` follow the
original "GAN Tutorial 1" and "GAN Tutorial 2" cell for cell on the
package's API. They are committed with their outputs, so they read on the
repository's web page without running anything. Executing one stamps every
code cell with the sha256 of the code that made its outputs
(`metadata["gan_tutorials"]["source_sha256"]`); `stale_cells` finds a cell
whose code changed since, or that never ran, and a test fails on it. Each of
our cells also names the original cell it follows (`"original"`), so a test
can check that they keep the originals' order.

The notebooks train only briefly (their GT_NB_* settings) and read the
committed reference runs for the article's 100-epoch results.
"""

import argparse
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = (ROOT / "notebooks" / "1_gan.ipynb", ROOT / "notebooks" / "2_conditional_gan.ipynb")
KEY = "gan_tutorials"  # our cell metadata: {"source_sha256": ..., "original": N}
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}  # fewer of TensorFlow's log lines as outputs
# What TensorFlow and XLA print at start-up whatever the level (see `without_logs`).
LOG_LINES = ("WARNING: All log messages before absl", "I0000 ", "W0000 ", "E0000 ",
             "To enable the following instructions", "WARNING: All log messages")


def source_sha256(cell):
    """The sha256 of a cell's code, as the stamp records it."""
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return hashlib.sha256(source.encode()).hexdigest()


def stamp(notebook):
    """Record in every code cell the hash of the code its outputs came from."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["metadata"].setdefault(KEY, {})["source_sha256"] = source_sha256(cell)
    return notebook


def stale_cells(notebook):
    """Indices of code cells whose outputs are not their current code's (or that never ran)."""
    return [i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
            and cell["metadata"].get(KEY, {}).get("source_sha256") != source_sha256(cell)]


def without_logs(notebook):
    """Drop the libraries' log lines (TensorFlow's start-up notices) from stderr outputs:
    they name processes and machines, not the tutorial."""
    for cell in notebook["cells"]:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                lines = [line for line in output["text"].splitlines(keepends=True)
                         if not line.startswith(LOG_LINES)]
                output["text"] = "".join(lines)
                if not output["text"].strip():
                    continue
            kept.append(output)
        if cell["cell_type"] == "code":
            cell["outputs"] = kept
    return notebook


def execute(path, *, timeout=1800, env=None):
    """Run a notebook top to bottom in a fresh kernel (its folder as the working directory);
    return it executed and stamped. env: variables for the kernel (its GT_NB_* settings)."""
    import nbformat  # the test extra's, not the package's
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update({**QUIET, **(env or {})})  # the kernel inherits this process's variables
    os.environ.pop("MPLBACKEND", None)  # the kernel's own inline backend, as a reader has it
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return stamp(without_logs(notebook))


def main(argv=None):
    """CLI: execute the notebooks in place, outputs and stamps written back."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.notebooks",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=list(NOTEBOOKS),
                        help="notebooks to execute (default: the two tutorial notebooks)")
    args = parser.parse_args(argv)
    try:
        import nbformat
    except ImportError:
        parser.exit(2, f"{parser.prog}: executing needs nbclient: pip install "
                       '"gan_tutorials[test]" (or make notebooks)\n')
    for path in args.paths:
        notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"{path.name}: executed, {len(notebook['cells'])} cells", file=sys.stderr)


if __name__ == "__main__":
    main()
