"""Control, part 3: how well steering holds, measured beside the article's method.

`control_report` asks for every digit at its own percentiles of each
reported measure (the others held), and for all CORE measures at once, in
the band of the generator's own 5th-95th percentiles and beyond it; each
request is served twice, by `steer` and by the tutorial's tools at their
best (`article_method`: the nearest scaled category vector), and both are
scored by the same rule (`score`): within TOLERANCE SD on every constraint
and still read as the digit asked for by the judge.
"""

import time

import numpy as np

from gan_tutorials import latent
from gan_tutorials.config import MNIST
from gan_tutorials.control.fit import ATTRIBUTES, measure_array
from gan_tutorials.control.steering import (
    CORE,
    REACH,
    ROUNDS,
    STOP,
    TOLERANCE,
    Steered,
    frame_request,
    misses_sd,
    steer,
    worst,
)
from gan_tutorials.judge import judge_outputs
from gan_tutorials.models import draw

BAND = (5, 95)  # the report's main band; REACH beyond it is extrapolation
REPORTED = ("slant", "thickness", "height", "width")
LEVELS = np.linspace(BAND[0], BAND[1], 7)  # percentiles requested inside the band
OUTSIDE = (REACH[0], 2.5, 97.5, REACH[1])  # percentiles requested beyond it


def single_requests(ctl, levels, starts, seed):
    """Per reported attribute: (digits, targets, hold, start noise) at each digit's percentiles."""
    groups = {}
    for k, name in enumerate(REPORTED):
        j = ATTRIBUTES.index(name)
        digits = np.repeat(np.arange(ctl.classes), len(levels) * starts)
        values = np.concatenate([np.repeat(ctl.percentile(d, levels)[:, j], starts)
                                 for d in range(ctl.classes)])
        noise = np.random.default_rng([seed, k]).standard_normal((len(digits), ctl.pool_noise.shape[1]))
        groups[name] = (digits, {name: values}, [a for a in CORE if a != name], noise)
    return groups


def joint_requests(ctl, per_digit, seed):
    """CORE targets measured on fresh draws, kept where all lie in the band: (digits, targets)."""
    digits = np.repeat(np.arange(ctl.classes), 4 * per_digit)
    noise = np.random.default_rng([seed, 99]).standard_normal((len(digits), ctl.pool_noise.shape[1]))
    attrs = measure_array(draw(ctl.generator, noise, digits))
    low = np.stack([ctl.percentile(d, BAND[0]) for d in digits])
    high = np.stack([ctl.percentile(d, BAND[1]) for d in digits])
    cols = [ATTRIBUTES.index(a) for a in CORE]
    inside = np.all((attrs >= low) & (attrs <= high), 1)
    keep = np.concatenate([np.flatnonzero(inside & (digits == d))[:per_digit] for d in range(ctl.classes)])
    return digits[keep], {a: attrs[keep, c] for a, c in zip(CORE, cols)}


def pool_categories(ctl):
    """The tutorial's four category vectors, sorted from the fit's measured pool: {name: (dim,)}.

    Categories are thick/thin x straight/slanted by terciles, as the tutorial
    sorts them by eye (see `latent.categorize`); thickness is taken within
    each digit, in its SD, since a 1 is thin next to an 8 of the same stroke.
    """
    slant, thick = ATTRIBUTES.index("slant"), ATTRIBUTES.index("thickness")
    by_class = np.stack([ctl.pool_attrs[ctl.pool_class == c].mean(0) for c in range(ctl.classes)])
    thickness = ((ctl.pool_attrs[:, thick] - by_class[ctl.pool_class, thick])
                 / ctl.sd(ctl.pool_class)[:, thick])
    masks = latent.categorize({"slant": ctl.pool_attrs[:, slant], "thickness": thickness})
    return latent.category_vectors(ctl.pool_noise, masks)


def article_candidates(ctl, digits=None):
    """The tutorial's tools at their best: every scaled category vector, drawn as each digit.

    Scales each of `pool_categories`' mean noise vectors by the tutorial's 50
    scalars from 2 to -2, and draws and measures all 200 candidates as each
    of digits (default: every digit). Returns {digit: (images (200, 28, 28, 1),
    measures (200, 6))}.
    """
    vectors = pool_categories(ctl)
    noise = np.concatenate([latent.scaled(v) for v in vectors.values()])  # (200, dim)
    digits = range(ctl.classes) if digits is None else digits
    drawn = {d: draw(ctl.generator, noise, [d] * len(noise)) for d in digits}
    return {d: (images, measure_array(images)) for d, images in drawn.items()}


def article_method(ctl, digits, requested, candidates):
    """Per request, the article's candidate (see `article_candidates`) nearest it.

    Returns (images, achieved (n, 6)).
    """
    images = np.zeros((len(digits), *MNIST.image_shape))
    achieved = np.zeros((len(digits), len(ATTRIBUTES)))
    for digit in np.unique(digits):
        drawn, measured = candidates[digit]
        rows = np.flatnonzero(digits == digit)
        best = worst(misses_sd(ctl, [digit], measured[None], requested[rows][:, None])).argmin(1)
        images[rows], achieved[rows] = drawn[best], measured[best]
    return images, achieved


def score(ctl, stack, judge):
    """Control quality of stacked requests: errors, leakage, class kept, success."""
    digits, requested, held = stack["digits"], stack["requested"], stack["held"]
    sd = ctl.sd(digits)
    error = misses_sd(ctl, digits, stack["achieved"], requested)  # (n, 6), NaN where free
    right = judge_outputs(judge, stack["images"])[0].argmax(1) == digits
    within = worst(error) <= TOLERANCE
    result = {"requests": int(len(digits)), "judge_accuracy": round(float(right.mean()), 4),
              "success": round(float((within & right).mean()), 4), "attributes": {}}
    for j, name in enumerate(ATTRIBUTES):
        target = ~np.isnan(requested[:, j]) & ~held[:, j]
        entry = {}
        if target.any():
            native = error[target, j] * sd[target, j]
            entry.update(median_sd=np.median(error[target, j]), p90_sd=np.percentile(error[target, j], 90),
                         median_native=np.median(native), p90_native=np.percentile(native, 90),
                         requests=target.sum())
        if held[:, j].any():
            entry.update(leak_sd=np.mean(error[held[:, j], j]), held=held[:, j].sum())
        if entry:
            result["attributes"][name] = {k: int(v) if k in ("requests", "held") else round(float(v), 4)
                                          for k, v in entry.items()}
    return result


def run_batches(ctl, batches, method, candidates=None):
    """Steer each batch, or serve it with the article's `candidates`: (stacked arrays, seconds)."""
    parts, began = [], time.perf_counter()
    for digits, targets, hold, noise in batches:
        if method == "steer":
            parts.append(steer(ctl, digits, targets, hold, noise=noise))
            continue
        digits, start, start_attrs, requested, held = frame_request(ctl, digits, targets, hold,
                                                                    noise=noise)
        images, achieved = article_method(ctl, digits, requested, candidates)
        parts.append(Steered(digits, start, images, requested, held, achieved, start_attrs))
    seconds = time.perf_counter() - began
    stack = {f: np.concatenate([getattr(p, f) for p in parts]) for f in
             ("digits", "requested", "held", "achieved", "images")}
    return stack, seconds


def control_report(ctl, judge, *, seed=0, starts=2, joint_per_digit=44, levels=LEVELS,
                   outside=OUTSIDE):
    """Measure control on a grid of requests in the band and beyond: (numbers, arrays for figures).

    In the band: each digit at each of `levels` (its own percentiles) of each
    REPORTED measure from `starts` starting noises, the other CORE measures
    held, plus `joint_per_digit` requests per digit for all CORE measures at
    once; beyond it, each digit at the `outside` percentiles from one start.
    """
    single = single_requests(ctl, levels, starts, seed)
    joint_digits, joint_targets = joint_requests(ctl, joint_per_digit, seed)
    band = [*single.values(), (joint_digits, joint_targets, (), None)]
    beyond = list(single_requests(ctl, np.array(outside), 1, seed + 1).values())
    numbers, arrays, candidates = {"fit": dict(ctl.fit)}, {}, article_candidates(ctl)
    for name, batches in (("band", band), ("extrapolation", beyond)):
        for method in ("steer", "article"):
            stack, seconds = run_batches(ctl, batches, method, candidates)
            result = score(ctl, stack, judge)
            if method == "steer":
                result.update(seconds=round(seconds, 2),
                              requests_per_second=round(len(stack["digits"]) / seconds, 1))
            numbers.setdefault(name, {})[method] = result
            arrays[name, method] = stack
    numbers.update(tolerance_sd=TOLERANCE, band_percentiles=list(BAND),
                   reach_percentiles=list(REACH), levels=np.round(levels, 2).tolist(),
                   outside_levels=list(outside), rounds=ROUNDS, stop_sd=STOP)
    return numbers, arrays


def level_grid(ctl, attribute, levels=LEVELS, seed=0):
    """Every digit steered to its own percentiles of one attribute, the others held: Steered."""
    digits = np.repeat(np.arange(ctl.classes), len(levels))
    values = np.concatenate([ctl.percentile(d, levels)[:, ATTRIBUTES.index(attribute)]
                             for d in range(ctl.classes)])
    start = np.random.default_rng(seed).standard_normal((ctl.classes, ctl.pool_noise.shape[1]))
    return steer(ctl, digits, {attribute: values}, [a for a in CORE if a != attribute],
                 noise=np.repeat(start, len(levels), 0))
