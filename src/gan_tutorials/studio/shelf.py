"""The studio, part 1: the run folders it serves, opened once and only read.

A `Shelf` maps a short name (the folder's name) to what the page needs from
that folder: the generator it keeps (G, or its --ema average where
`compare.better_generator` keeps that), its dataset, that generator's
numbers (read by `compare`), and, for an MNIST cgan run whose control fit
matches that generator, the fit.
Nothing here writes: a missing or stale fit is reported with the command
that makes one (`control.controller_for` would refit and write instead).
"""

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import keras

from gan_tutorials import compare, runs
from gan_tutorials.config import MNIST
from gan_tutorials.control import article_candidates, load_controller
from gan_tutorials.data import image_set
from gan_tutorials.judge import load_pinned
from gan_tutorials.models import GeneratorError, is_conditional, load_generator

REFERENCE = Path("outputs/reference")  # the committed runs, served when no folder is named


class StudioError(ValueError):
    """A request the studio cannot serve; the message names what it can."""


@dataclass
class Run:
    """One run folder as the studio reads it."""
    name: str
    folder: Path
    config: dict
    generator: keras.Model
    average: bool = False  # the generator served is the run's --ema average (generator-ema.keras)
    control: object = None  # a control.Controller, or None (see `control_note`)
    control_note: str = ""  # why Control is off for this run (and the command that turns it on)
    cache: dict = field(default_factory=dict)  # per-run computations shared by requests

    @property
    def spec(self):
        return image_set(self.config["dataset"])

    @property
    def conditional(self):
        return is_conditional(self.generator)

    @property
    def noise_dim(self):
        return self.generator.inputs[0].shape[-1]

    @cached_property
    def summary(self):
        """compare's numbers for this folder, or None when it holds no metrics.json."""
        try:
            return {**compare.read_run(self.folder, self.average), "run": self.name}
        except runs.RunError:
            return None

    def article(self, digit):
        """The article's candidates for a digit, drawn once per run and digit (see control.report)."""
        key = ("article", digit)
        if key not in self.cache:
            self.cache[key] = article_candidates(self.control, [digit])[digit]
        return {digit: self.cache[key]}


def open_run(folder, name=None):
    """Read one run folder: a Run of the generator it keeps, that generator's control fit
    loaded when present and current."""
    folder = Path(folder)
    config = runs.read_config(folder)
    spec = image_set(config["dataset"])
    average = compare.better_generator(folder)["keep"] == "average"
    generator = load_generator(runs.generator_file(folder, average), spec=spec)
    run = Run(name or folder.name, folder, config, generator, average)
    if spec.name != MNIST.name:
        run.control_note = (f"Control is off for {run.name}: Morpho-MNIST's measures are of handwriting, "
                            f"and this run draws {spec.name}")
    elif not run.conditional:
        run.control_note = f"Control is off for {run.name}: steering asks for a digit, so it needs a cgan run"
    else:
        run.control = load_controller(folder, generator, average)
        if run.control is None:
            command = f"python -m gan_tutorials.control {folder} --report{' --average' if average else ''}"
            run.control_note = (f"Control is off for {run.name}: it has no control fit for its "
                                f"generator; make one with `{command}`")
    return run


def reference_folders(root=REFERENCE):
    """The committed reference runs under root that hold a generator, in name order."""
    root = Path(root)
    if not root.is_dir():  # run from outside the repository: look beside the package
        root = Path(__file__).resolve().parents[3] / REFERENCE
    return sorted(p for p in root.glob("*") if (p / "generator.keras").is_file()) if root.is_dir() else []


class Shelf:
    """The studio's runs by name, fixed at launch; requests name runs, never paths."""

    def __init__(self, folders):
        folders = [Path(f) for f in folders]
        if not folders:
            raise StudioError("no run folders to serve: name one (a folder holding generator.keras)")
        names = [f.name for f in folders]
        self.runs = {}
        for folder in folders:
            name = folder.name if names.count(folder.name) == 1 else f"{folder.parent.name}/{folder.name}"
            try:
                self.runs[name] = open_run(folder, name)
            except (runs.RunError, GeneratorError) as err:
                raise StudioError(str(err)) from err
        self._judges = {}

    def __getitem__(self, name):
        if name not in self.runs:
            raise StudioError(f"unknown run {name!r}; this studio serves {', '.join(self.runs)}")
        return self.runs[name]

    def names(self, need=None):
        """Run names, all or those for which need(run) holds, the best first (`best_first`)."""
        return [r.name for r in best_first(self.runs.values()) if need is None or need(r)]

    def warm(self):
        """Draw, in a background thread, what each steerable run's first requests would wait for:
        the article's candidates for every digit (about 6 s of work per run)."""
        def work():
            for run in self.runs.values():
                for digit in range(run.control.classes if run.control is not None else 0):
                    run.article(digit)
        thread = threading.Thread(target=work, name="studio-warm", daemon=True)
        thread.start()
        return thread

    def judge(self, dataset):
        """The dataset's pinned judge, loaded on first use."""
        if dataset not in self._judges:
            self._judges[dataset] = load_pinned(dataset)
        return self._judges[dataset]


def steerable(run):
    """True when Control can serve the run."""
    return run.control is not None


def control_success(run):
    """The share of in-band requests its control report met (control.json), or None."""
    report = runs.results_dir(run.folder, run.average) / "control" / "control.json"
    if run.control is None or not report.is_file():
        return None
    return runs.read_json(report).get("band", {}).get("steer", {}).get("success")


def best_first(shelf_runs):
    """Runs in the order every tab lists them: the studio opens on the first.

    Steerable runs come first, the highest control success first, ties going
    to judged accuracy; then the rest, the most accurate first (a gan has none).
    """
    def key(item):
        position, run = item
        success = control_success(run)
        accuracy = (run.summary or {}).get("accuracy") or 0.0
        return (success is None, -(success or 0.0), -accuracy, position)
    return [run for _, run in sorted(enumerate(shelf_runs), key=key)]
