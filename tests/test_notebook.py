"""The companion notebook runs end to end with tiny settings."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "notebooks", "tutorial.ipynb")


@pytest.mark.slow
def test_notebook_executes(monkeypatch):
    monkeypatch.setenv("GT_NB_STEPS", "3")
    monkeypatch.setenv("GT_NB_PER_CLASS", "20")
    monkeypatch.setenv("GT_NB_SAMPLES", "60")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for o in cell.get("outputs", []))
    assert "generator" in outputs and "1,486,352 parameters" in outputs
    assert "accuracy" in outputs and "thick_straight" in outputs
