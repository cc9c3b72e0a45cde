"""The package's shape: the tutorial's core never imports the lab, and actions call functions."""

import ast
import re
from pathlib import Path

from gan_tutorials.config import Config
from gan_tutorials.train import default_callbacks

PACKAGE = Path(__file__).parent.parent / "src" / "gan_tutorials"
CORE = ("config", "data", "models", "steps", "train", "runs", "figures", "parallel")
LAB = ("judge", "evaluate", "explore", "latent", "tables", "morphometry", "control", "study",
       "compare", "board", "bench", "studio")


def imported_modules(path):
    """The gan_tutorials modules a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gan_tutorials"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else None)
            if len(parts) == 1:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("gan_tutorials."))
    return found - {None}


def test_the_core_never_imports_the_lab():
    for name in CORE:
        assert not imported_modules(PACKAGE / f"{name}.py") & set(LAB), name
    # and the rule can fail: the lab does import the core
    assert {"train", "config"} <= imported_modules(PACKAGE / "evaluate.py")


def test_no_action_calls_another_through_its_argv():
    calls = [f"{p.name}: {line.strip()}" for p in PACKAGE.rglob("*.py")
             for line in p.read_text().splitlines() if re.search(r"\bmain\(\[", line)]
    assert calls == []


def test_the_judge_and_the_log_reach_a_run_as_callbacks():
    """The entry points in pyproject.toml: the judge scores a row before TensorBoard logs it."""
    names = [type(c).__name__ for c in default_callbacks(Config())]
    assert names == ["JudgeEvery", "TrainingLog"]
