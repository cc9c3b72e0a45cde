"""The studio, part 2: what each tab computes, as plain functions of the shelf's runs.

  Draw     `draw_grid`: samples of one class (or every class), from a seed
  Control  `reach`, `steer_request` (exact, on release), `preview` (while dragging)
  Explore  tutorial step 4 live: `feature_grid`, `categories`, `scaled_vector`,
           `added_vectors`, `morph`
  Runs     `runs_table`, `quality_figure`: read from the folders, never recomputed

Each returns images as uint8 arrays and numbers as dicts or rows; `page`
lays them out. A bad request raises StudioError, whose message the page
shows as it is.
"""

import hashlib
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from gan_tutorials import compare, figures, latent, morphometry, runs
from gan_tutorials.control import (
    ATTRIBUTES,
    ControlError,
    article_method,
    pool_categories,
    steer,
)
from gan_tutorials.control.steering import REACH, TOLERANCE, check_request, misses_sd, nearest_in_pool, worst
from gan_tutorials.models import draw
from gan_tutorials.studio.shelf import StudioError

SCALE = 3  # pixels per image pixel in the page's grids
STEERED = 8  # digits per Control request
ROWS = 4  # rows of samples in Draw's grid
MORPH_STEPS = 10
# SD: a studio request stops correcting here, where a report's stops at STOP (0.05): still
# well within TOLERANCE (0.25), in about two thirds of the time (docs/studio.md).
STUDIO_STOP = 0.1
EXPLORE_SAMPLES = 300  # noise vectors sorted into categories where a run has no control fit (~6 s)


def grid(images, cols, scale=SCALE):
    """(n, h, w, 1) images in [-1, 1] as one uint8 grid image of `cols` columns."""
    return figures.tile(images, math.ceil(len(images) / cols), cols, scale=scale)


def seeded_noise(seed, n, dim):
    """n noise vectors from a seed, as a request names them: (n, dim) float32."""
    return np.random.default_rng(int(seed)).standard_normal((n, dim)).astype(np.float32)


def class_index(run, label):
    """A class name or index of the run's dataset as an int; StudioError otherwise."""
    names = list(run.spec.class_names)
    if isinstance(label, str) and label in names:
        return names.index(label)
    try:
        index = int(label)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(names):
        raise StudioError(f"unknown class {label!r} for {run.name}; choose from {', '.join(names)}")
    return index


# --- Draw ---------------------------------------------------------------------------

def grid_digits(run, label, seed):
    """Draw's samples: ROWS x classes (label "all", or an unconditional run) or ROWS x 8 of one class.

    Returns (images (n, 28, 28, 1), columns).
    """
    classes = run.spec.num_classes
    if label == "all" or not run.conditional:
        cols = classes if run.conditional else 8
        labels = np.tile(np.arange(classes), ROWS) if run.conditional else None
    else:
        cols, labels = 8, np.full(ROWS * 8, class_index(run, label))
    noise = seeded_noise(seed, ROWS * cols, run.noise_dim)
    return draw(run.generator, noise, labels), cols


def draw_grid(run, label, seed):
    """Draw's grid image (see `grid_digits`)."""
    return grid(*grid_digits(run, label, seed))


# --- Control --------------------------------------------------------------------------

def steering(run):
    """The run's controller, or StudioError saying why Control is off for it."""
    if run.control is None:
        raise StudioError(run.control_note)
    return run.control


def reach(run, digit):
    """{measure: (low, high, median)}: the generator's 1st-99th percentiles for a digit, rounded in."""
    ctl = steering(run)
    low, high, median = (ctl.percentile(digit, q) for q in (*REACH, 50))
    return {name: (math.ceil(low[j] * 100) / 100, math.floor(high[j] * 100) / 100, round(float(median[j]), 2))
            for j, name in enumerate(ATTRIBUTES)}


def checked(run, digit, targets, hold=()):
    """(controller, digit) after checking the request; StudioError naming the reach otherwise."""
    ctl = steering(run)
    digit = class_index(run, digit)
    try:
        numbers = {k: float(v) for k, v in targets.items()}
    except (TypeError, ValueError):
        raise StudioError(f"targets must be numbers; got {targets}") from None
    try:
        check_request(ctl, [digit], numbers, hold)
    except ControlError as err:
        raise StudioError(str(err)) from err
    return ctl, digit


def steer_request(run, judge, request):
    """Steer request["n"] digits (default 8) to the request; the Control tab's exact answer.

    request: {"digit", "targets": {measure: value}, "hold": [measures], "n", "seed"}.
    Returns {"digit", "images", "noise", "requested", "achieved", "misses" (n, 6 SD), "judged" (n,),
    "confidence" (n,), "article": {"images", "achieved", "misses"}}.
    """
    ctl, digit = checked(run, request["digit"], request["targets"], request.get("hold", ()))
    n, seed = int(request.get("n", STEERED)), int(request.get("seed", 0))
    digits = np.full(n, digit)
    done = steer(ctl, digits, {k: float(v) for k, v in request["targets"].items()},
                 list(request.get("hold", ())), noise=seeded_noise(seed, n, run.noise_dim),
                 stop=STUDIO_STOP)
    # Called directly: judge_outputs' predict() traces anew for each small batch.
    probs = np.asarray(judge(done.images.astype(np.float32), training=False))
    images, achieved = article_method(ctl, digits, done.requested, run.article(digit))
    return {"digit": digit, "images": done.images, "noise": done.noise, "requested": done.requested,
            "achieved": done.achieved, "misses": done.error_sd(ctl), "judged": probs.argmax(1),
            "confidence": probs.max(1),
            "article": {"images": images, "achieved": achieved,
                        "misses": misses_sd(ctl, digits, achieved, done.requested)}}


def preview(run, request):
    """A cheap answer while a slider moves: the pool's nearest digits, one generator call.

    Each request takes the pooled noise of its digit nearest the targets (as
    `steer` starts); held measures are treated as free. Returns (images,
    requested (n, 6), NaN where free).
    """
    ctl, digit = checked(run, request["digit"], request["targets"])
    n, seed = int(request.get("n", STEERED)), int(request.get("seed", 0))
    digits = np.full(n, digit)
    requested = np.full((n, len(ATTRIBUTES)), np.nan)
    for name, value in request["targets"].items():
        requested[:, ATTRIBUTES.index(name)] = float(value)
    noise, _ = nearest_in_pool(ctl, digits, requested, seeded_noise(seed, n, run.noise_dim))
    return draw(ctl.generator, noise, digits), requested


def result_rows(result, class_names):
    """The Control table: a row per digit, the judge's reading, then each measure's
    requested, achieved and miss (SD) in ATTRIBUTES order; blank where a measure is free."""
    header = ["#", "judge reads", "confidence"] + [f"{a} {part}" for a in ATTRIBUTES
                                                    for part in ("requested", "achieved", "miss SD")]
    rows = []
    for i in range(len(result["achieved"])):
        row = [i + 1, class_names[result["judged"][i]], round(float(result["confidence"][i]), 3)]
        for j in range(len(ATTRIBUTES)):
            asked, miss = result["requested"][i, j], result["misses"][i, j]
            row += ["" if np.isnan(asked) else round(float(asked), 2),
                    round(float(result["achieved"][i, j]), 2),
                    "" if np.isnan(miss) else round(float(miss), 2)]
        rows.append(row)
    return header, rows


def result_summary(result, digit, class_names, targets):
    """One paragraph: requests met, the judge's reading, the achieved medians, the article's miss."""
    met = int((worst(result["misses"]) <= TOLERANCE).sum())
    read = int((result["judged"] == digit).sum())
    n = len(result["achieved"])
    medians = ", ".join(f"{a} {np.median(result['achieved'][:, ATTRIBUTES.index(a)]):.2f} "
                        f"{morphometry.UNITS[a]} (asked {float(v):.2f})" for a, v in targets.items())
    article = int((worst(result["article"]["misses"]) <= TOLERANCE).sum())
    return (f"**{met} of {n}** within {TOLERANCE} SD of every request; the judge reads {read} of {n} "
            f"as {class_names[digit]}. Achieved, median: {medians}. The article's method (the nearest "
            f"scaled category vector) meets {article} of {n}, worst miss "
            f"{np.max(worst(result['article']['misses'])):.2f} SD.")


def request_file(run, request, result):
    """Write the steered digits as .npz (images, noise, requested, achieved) for download.

    The file goes to the system's temporary folder, which Gradio serves from
    (never a run folder); its name is the request's hash, so a repeated
    request rewrites the same file.
    """
    key = json.dumps({"run": run.name, **request}, sort_keys=True, default=str)
    name = f"steered-{run.name.replace('/', '-')}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    path = Path(tempfile.gettempdir()) / "gan_tutorials-studio" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with runs.replacing(path) as tmp:
        np.savez_compressed(tmp, images=result["images"][..., 0].astype(np.float32),
                            noise=result["noise"], requested=result["requested"],
                            achieved=result["achieved"], digit=result["digit"],
                            attributes=np.asarray(ATTRIBUTES))
    return path


# --- Explore ----------------------------------------------------------------------------

def explore_classes(run):
    """The classes Explore draws: the tutorial's 1, 4 and 8 for a cgan, one column for a gan."""
    return list(latent.TUTORIAL_DIGITS) if run.conditional else [0]


def feature_grid(run, seed):
    """The tutorial's grid (rows classes, a column one shared noise) and the style's noise share."""
    if not run.conditional:
        return grid(draw(run.generator, seeded_noise(seed, 80, run.noise_dim)), 10), {}
    images, shares = latent.feature_grid(run.generator, int(seed))
    return grid(images.reshape(-1, *images.shape[2:]), images.shape[1]), shares


def category_vectors(run):
    """The four style categories' mean noise: from the control fit's pool, else sorted once here."""
    if "categories" not in run.cache:
        if run.control is not None:
            run.cache["categories"] = pool_categories(run.control)
        else:
            run.cache["categories"] = latent.sample_categories(
                run.generator, EXPLORE_SAMPLES, explore_classes(run), seed=0)[1]
    return run.cache["categories"]


def categories(run):
    """The categories' mean vectors drawn as Explore's classes: a row per category."""
    vectors = category_vectors(run)
    images = latent.render(run.generator, np.stack([vectors[n] for n in latent.CATEGORIES]),
                           explore_classes(run))
    return grid(images.reshape(-1, *images.shape[2:]), images.shape[1])


def styled(run, noise):
    """Images of each noise drawn as Explore's classes (rows: noise) and their mean style."""
    classes = explore_classes(run)
    images = latent.render(run.generator, noise, classes)  # (n, k, 28, 28, 1)
    flat = images.reshape(-1, *images.shape[2:])
    measured = latent.style(flat) if run.spec.name == "mnist" else {}
    return grid(flat, len(classes)), {k: round(float(v.mean()), 2) for k, v in measured.items()}


def scaled_vector(run, category, scalar):
    """A category's mean vector times scalar, drawn as Explore's classes, with its style."""
    vectors = category_vectors(run)
    if category not in vectors:
        raise StudioError(f"unknown category {category!r}; choose from {', '.join(latent.CATEGORIES)}")
    return styled(run, latent.scaled(vectors[category], [float(scalar)]))


def added_vectors(run, first, second, sign=1):
    """Rows: first, second, first + sign * second (the tutorial's sums), with the result's style."""
    vectors = category_vectors(run)
    for name in (first, second):
        if name not in vectors:
            raise StudioError(f"unknown category {name!r}; choose from {', '.join(latent.CATEGORIES)}")
    stack = np.stack([vectors[first], vectors[second], vectors[first] + sign * vectors[second]])
    image, _ = styled(run, stack)
    return image, styled(run, stack[2:])[1]


def morph_noise(run, seed_a, seed_b):
    """MORPH_STEPS noise vectors from noise a to noise b along the great circle (slerp).

    Spherical rather than straight: the straight line's midpoints are shorter
    than typical noise (|z| ~ 10 in 100-d), and draw paler digits.
    """
    a, b = seeded_noise(seed_a, 1, run.noise_dim)[0], seeded_noise(seed_b, 1, run.noise_dim)[0]
    angle = np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))
    t = np.linspace(0, 1, MORPH_STEPS)[:, None]
    return (np.sin((1 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)


def morph(run, seed_a, seed_b, label):
    """A class drawn along `morph_noise`: one row of MORPH_STEPS digits."""
    labels = np.full(MORPH_STEPS, class_index(run, label)) if run.conditional else None
    return grid(draw(run.generator, morph_noise(run, seed_a, seed_b), labels), MORPH_STEPS)


# --- Runs -------------------------------------------------------------------------------

def runs_table(shelf):
    """compare's markdown table of the evaluated runs, and a line per run not yet evaluated."""
    summaries = [r.summary for r in shelf.runs.values() if r.summary is not None]
    missing = [f"- {name}: not evaluated yet (`python -m gan_tutorials.evaluate {r.folder}`)"
               for name, r in shelf.runs.items() if r.summary is None]
    return "\n".join([compare.table(summaries) if summaries else "", *missing]).strip()


def quality_figure(shelf):
    """The evaluated runs' quality curves (judge's score and Frechet distance by epoch): a Figure."""
    summaries = [r.summary for r in shelf.runs.values() if r.summary is not None and r.summary["curve"]]
    return figures.series_figure(compare.quality_panels(summaries), xlabel="epoch",
                                 title="quality against epoch, from each run's history.csv")

