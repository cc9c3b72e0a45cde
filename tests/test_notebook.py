"""The companion notebook runs end to end with tiny settings, and shows its figures."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "notebooks", "tutorial.ipynb")


@pytest.mark.slow
def test_notebook_executes_and_shows_its_plots(monkeypatch):
    monkeypatch.setenv("GT_NB_STEPS", "3")
    monkeypatch.setenv("GT_NB_PER_CLASS", "20")
    monkeypatch.setenv("GT_NB_SAMPLES", "60")
    # The kernel's own default backend (inline), as a user has it: once the
    # package switched it to Agg, plt.show() after train() showed nothing.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = "".join(o.get("text", "") for cell in code for o in cell.get("outputs", []))
    assert "generator" in outputs and "1,486,352 parameters" in outputs
    assert "accuracy" in outputs and "thick_straight" in outputs and "slant miss" in outputs
    plotting = [cell for cell in code if "plt.show()" in cell.source]
    assert len(plotting) == 3  # after train(), in the latent-space section, and the control sweep
    for cell in plotting:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert images, f"no figure shown by the cell starting {cell.source[:60]!r}"
