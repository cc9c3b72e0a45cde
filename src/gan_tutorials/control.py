"""Beyond step 4: absolute control of a digit's style, the article's closing promise.

    python -m gan_tutorials.control RUN_DIR --digit 7 --slant 15 --thickness 3 --out DIR
        [--height PX] [--width PX] [--length PX] [--area PX2] [--hold ATTR ...] [--n 16] [--seed S]
    python -m gan_tutorials.control RUN_DIR --digit 7 --sweep slant --from -20 --to 30 --out DIR
    python -m gan_tutorials.control RUN_DIR --report

The tutorial sorts noise into four style categories by eye and scales their
averages; it ends by hoping a fuller classification could give "absolute
control over the output". Here a request names a digit and target values of
Morpho-MNIST's measures (slant in degrees, thickness, width, height and
length in px, area in px^2), and `steer` returns noise whose digit has them:

  1. the fit (once per generator, kept in RUN_DIR/control/): draw a pool of
     noise for every class, measure each digit, fit linear attribute
     directions (reported: how far a global linear model explains the noise),
     and train a small CNN that predicts the measures from an image, so the
     measures get a gradient;
  2. the start: the pooled noise of that class nearest the request;
  3. closed-loop corrections: a minimum-norm Gauss-Newton step on the
     constrained attributes (targets and held ones), with the Jacobian of
     the CNN through the generator, then the real measures of the new digit;
     repeated until every constraint is within STOP SD or ROUNDS run out.
     The noise stays in the typical shell of its prior: |z| within the
     0.1%-99.9% quantiles of a chi distribution with noise_dim degrees.
"""

if __name__ == "__main__":  # a CLI run: quiet TensorFlow's start-up lines before it loads
    from gan_tutorials.config import quiet_tensorflow
    quiet_tensorflow()

import argparse
import hashlib
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy.stats import chi

from gan_tutorials import explore, figures, morphometry, runs
from gan_tutorials.config import bounded
from gan_tutorials.data import MNIST
from gan_tutorials.judge import get_judge, judge_outputs
from gan_tutorials.models import GeneratorError, image_of, load_generator

ATTRIBUTES = morphometry.ATTRIBUTES
POOL_PER_CLASS = 2000  # pooled samples per class: the start points and the attribute statistics
SURROGATE_EPOCHS = 8
ROUNDS = 6  # measured corrections at most
STOP = 0.05  # SD: a request stops correcting once every constraint is this close
TOLERANCE = 0.25  # SD: a request succeeds when every constraint is this close
REACH = (1, 99)  # percentiles of the generator's own values: what a request may ask
BAND = (5, 95)  # the report's main band; REACH beyond it is extrapolation
SHELL = (0.001, 0.999)  # quantiles of |z| allowed under the N(0, I) noise prior


class ControlError(ValueError):
    """A request that cannot be served; the message says why and what is reachable."""


@dataclass(frozen=True)
class Controller:
    """A generator with everything fitted to steer it; see `fit_controller`."""
    generator: keras.Model
    surrogate: keras.Model  # image -> standardised measures, for gradients only
    pool_noise: np.ndarray  # (n, noise_dim) float32, regenerated from seed
    pool_class: np.ndarray  # (n,) int
    pool_attrs: np.ndarray  # (n, 6) measured, ATTRIBUTES order
    fit: dict  # seed, per_class, sha256, attribute mean/sd, directions and R^2

    @property
    def classes(self):
        return self.generator.inputs[1].shape[-1]

    def sd(self, digits):
        """(n, 6) within-class SD of each attribute for each request's digit."""
        return np.asarray(self.fit["class_sd"])[np.asarray(digits)]

    def percentile(self, digit, q):
        """The generator's own q-th percentile of each attribute for digit: (6,)."""
        return np.percentile(self.pool_attrs[self.pool_class == digit], q, axis=0)

    @cached_property
    def jacobian(self):
        """(noise, one-hot) -> d measures / d noise, (n, 6, dim) numpy, in native units."""
        scale = np.asarray(self.fit["sd"], np.float32)[None, :, None]

        def measures(noise, labels):  # (n, 6) standardised, as the surrogate predicts them
            return self.surrogate(image_of(self.generator([noise, labels], training=False)),
                                  training=False)

        if keras.backend.backend() == "jax":
            import jax  # one row's Jacobian, vectorised over the batch
            one = lambda z, y: measures(z[None], y[None])[0]
            per_row = jax.jit(jax.vmap(jax.jacrev(one)))
            return lambda noise, labels: np.asarray(per_row(noise, labels)) * scale

        @tf.function(reduce_retracing=True)
        def batch_jacobian(noise, labels):
            with tf.GradientTape() as tape:
                tape.watch(noise)
                predicted = measures(noise, labels)
            return tape.batch_jacobian(predicted, noise)
        return lambda noise, labels: batch_jacobian(tf.constant(noise),
                                                    tf.constant(labels)).numpy() * scale


# --- the fit -------------------------------------------------------------------------

def pool_noise(seed, per_class, classes, noise_dim):
    """The pool's noise and classes, a pure function of the seed: ((n, dim), (n,))."""
    noise = np.random.default_rng([seed, 7]).standard_normal((per_class * classes, noise_dim))
    return noise.astype(np.float32), np.tile(np.arange(classes), per_class)


def draw_digits(generator, noise, digits, batch_size=1000):
    """Generated images for noise (n, dim) as digits (n,): (n, 28, 28, 1) in [-1, 1]."""
    classes = generator.inputs[1].shape[-1]
    labels = np.eye(classes, dtype=np.float32)[np.asarray(digits)]
    return image_of(generator.predict([np.asarray(noise, np.float32), labels],
                                      batch_size=batch_size, verbose=0))


def measure_array(images):
    """Morpho-MNIST measures as one (n, 6) array in ATTRIBUTES order."""
    measured = morphometry.measure(images)
    return np.stack([measured[a] for a in ATTRIBUTES], 1)


def fit_directions(noise, classes, attrs, num_classes, holdout=0.2, ridge=10.0):
    """Linear attribute directions (units per unit of noise), shared or per class.

    Fits each attribute on the noise with a per-class offset, once with one
    direction shared by all classes and once with a direction per class, and
    keeps per attribute whichever explains more of the held-out within-class
    variance (R^2 below). Returns the chosen directions (classes, 6, dim).
    """
    n = len(noise)
    train = np.random.default_rng(0).random(n) >= holdout
    onehot = np.eye(num_classes)[classes]
    centred = attrs - np.stack([attrs[train & (classes == c)].mean(0) for c in range(num_classes)])[classes]
    shared = ridge_fit(np.hstack([noise, onehot])[train], attrs[train], ridge)[:noise.shape[1]].T
    per_class = np.stack([ridge_fit(noise[train & (classes == c)], attrs[train & (classes == c)],
                                    ridge)[:noise.shape[1]].T for c in range(num_classes)])
    r2 = {}
    for name, slopes in (("shared", np.broadcast_to(shared, per_class.shape)), ("per_class", per_class)):
        predicted = np.einsum("nad,nd->na", slopes[classes[~train]], noise[~train])
        residual = centred[~train] - (predicted - predicted.mean(0))
        r2[name] = 1 - (residual ** 2).sum(0) / (centred[~train] ** 2).sum(0)
    choice = np.where(r2["per_class"] > r2["shared"], "per_class", "shared")
    directions = np.where((choice == "per_class")[None, :, None], per_class, shared[None])
    return directions, {k: dict(zip(ATTRIBUTES, np.round(v, 4).tolist())) for k, v in r2.items()}, \
        dict(zip(ATTRIBUTES, choice.tolist()))


def ridge_fit(x, y, ridge):
    """Ridge regression with an unpenalised intercept: coefficients (dim + 1, outputs)."""
    x = np.hstack([x, np.ones((len(x), 1))])
    penalty = ridge * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def create_surrogate(images=MNIST, outputs=len(ATTRIBUTES)):
    """A small CNN from an image to standardised measures: the measures' gradient."""
    image = keras.Input(images.image_shape, name="image")  # (n, 28, 28, 1)
    x = keras.layers.Conv2D(32, 3, activation="relu")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    measures = keras.layers.Dense(outputs, name="measures")(x)
    return keras.Model(image, measures, name="morphometry_surrogate")


def train_surrogate(images, standardised, epochs=SURROGATE_EPOCHS, seed=0):
    """Fit the surrogate on (images, standardised measures); return (model, held-out R^2 (6,))."""
    keras.utils.set_random_seed(seed)
    split = int(0.9 * len(images))
    model = create_surrogate()
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    model.fit(images[:split], standardised[:split], batch_size=128, epochs=epochs, verbose=0)
    predicted = model.predict(images[split:], batch_size=1000, verbose=0)
    truth = standardised[split:]
    return model, 1 - ((truth - predicted) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)


def fit_controller(generator, per_class=POOL_PER_CLASS, seed=0, epochs=SURROGATE_EPOCHS):
    """Draw and measure the pool, fit directions and the surrogate: a Controller."""
    start = time.perf_counter()
    classes, noise_dim = generator.inputs[1].shape[-1], generator.inputs[0].shape[-1]
    noise, labels = pool_noise(seed, per_class, classes, noise_dim)
    images = draw_digits(generator, noise, labels)  # (n, 28, 28, 1)
    attrs = measure_array(images)  # (n, 6)
    mean, sd = attrs.mean(0), attrs.std(0)
    directions, r2, choice = fit_directions(noise.astype(np.float64), labels, attrs, classes)
    surrogate, surrogate_r2 = train_surrogate(images, (attrs - mean) / sd, epochs, seed)
    fit = {"seed": seed, "per_class": per_class, "mean": mean.tolist(), "sd": sd.tolist(),
           "class_sd": [attrs[labels == c].std(0).tolist() for c in range(classes)],
           "directions": directions, "direction_r2": r2, "direction_choice": choice,
           "surrogate_r2": dict(zip(ATTRIBUTES, np.round(surrogate_r2, 4).tolist())),
           "seconds": round(time.perf_counter() - start, 1)}
    return Controller(generator, surrogate, noise, labels, attrs, fit)


# --- keeping the fit in the run folder ----------------------------------------------------

def control_dir(run_dir):
    """Where control keeps its fit and report: RUN_DIR/control/."""
    return Path(run_dir) / "control"


def generator_sha256(run_dir):
    """sha256 of the run's generator.keras: a fit belongs to one generator."""
    return hashlib.sha256((Path(run_dir) / "generator.keras").read_bytes()).hexdigest()


def save_controller(run_dir, ctl):
    """Write fit.json, pool.npz (measures and directions) and surrogate.keras under RUN_DIR/control/."""
    folder = control_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fit = {k: v for k, v in ctl.fit.items() if k != "directions"}
    np.savez_compressed(folder / "pool.npz", attrs=ctl.pool_attrs.astype(np.float32),
                        directions=ctl.fit["directions"].astype(np.float32))
    ctl.surrogate.save(folder / "surrogate.keras")
    runs.write_json(folder / "fit.json", {**fit, "sha256": generator_sha256(run_dir)})


def load_controller(run_dir, generator):
    """The saved fit for this run's generator, or None when absent or for another generator."""
    folder = control_dir(run_dir)
    if not all((folder / n).is_file() for n in ("fit.json", "pool.npz", "surrogate.keras")):
        return None
    fit = runs.read_json(folder / "fit.json")
    if fit.get("sha256") != generator_sha256(run_dir):
        return None  # the generator was retrained: refit
    arrays = np.load(folder / "pool.npz")
    noise, labels = pool_noise(fit["seed"], fit["per_class"], generator.inputs[1].shape[-1],
                               generator.inputs[0].shape[-1])
    surrogate = keras.models.load_model(folder / "surrogate.keras")
    return Controller(generator, surrogate, noise, labels, arrays["attrs"].astype(np.float64),
                      {**fit, "directions": arrays["directions"].astype(np.float64)})


def controller_for(run_dir, verbose=True):
    """Load the run's cgan generator and its fit, fitting and saving it the first time."""
    dataset = runs.dataset_of(run_dir)
    if dataset != MNIST.name:  # the measures are of handwriting
        raise ControlError(f"{run_dir} is a {dataset} run; control steers Morpho-MNIST's "
                           "handwriting measures, so it needs an mnist cgan run")
    generator = load_generator(run_dir, need_conditional=True)
    ctl = load_controller(run_dir, generator)
    if ctl is None:
        if verbose:
            print(f"fitting control to {run_dir} (once; about two minutes on 2 cores) ...")
        ctl = fit_controller(generator)
        save_controller(run_dir, ctl)
    return ctl


# --- steering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Steered:
    """What `steer` returns: per request, (n, ...) arrays; NaN in requested = left free."""
    digits: np.ndarray  # (n,)
    noise: np.ndarray  # (n, noise_dim) the steered noise
    images: np.ndarray  # (n, 28, 28, 1) in [-1, 1]
    requested: np.ndarray  # (n, 6) targets and held values, NaN where free
    held: np.ndarray  # (n, 6) bool, True where requested is the start's own value
    achieved: np.ndarray  # (n, 6) measured on images
    start: np.ndarray  # (n, 6) measured on the starting noise

    def error_sd(self, ctl):
        """(n, 6) |achieved - requested| in the digit's SD units, NaN where free."""
        return np.abs(self.achieved - self.requested) / ctl.sd(self.digits)


def check_request(ctl, digits, targets, hold):
    """Raise ControlError for an unknown attribute or digit, a target held too, or out of reach."""
    for name in [*targets, *hold]:
        if name not in ATTRIBUTES:
            raise ControlError(f"unknown attribute {name!r}; choose from {', '.join(ATTRIBUTES)}")
    if set(targets) & set(hold):
        raise ControlError(f"{', '.join(sorted(set(targets) & set(hold)))}: both a target and held")
    digits = np.asarray(digits)
    if digits.size and (digits.min() < 0 or digits.max() >= ctl.classes):
        raise ControlError(f"digits go from 0 to {ctl.classes - 1}")
    for digit in np.unique(digits):
        low, high = ctl.percentile(digit, REACH[0]), ctl.percentile(digit, REACH[1])
        for name, value in targets.items():
            j = ATTRIBUTES.index(name)
            asked = np.broadcast_to(value, digits.shape)[digits == digit]
            bad = ~np.isfinite(asked) | (asked < low[j]) | (asked > high[j])
            if bad.any():
                raise ControlError(
                    f"{name} {asked[bad][0]:g} is out of reach for digit {digit}: "
                    f"this generator draws {low[j]:.2f} to "
                    f"{high[j]:.2f} {morphometry.UNITS[name]} (its {REACH[0]}st-{REACH[1]}th "
                    "percentiles)")


def in_shell(noise):
    """Noise rescaled, where needed, so |z| lies in the typical shell of N(0, I)."""
    low, high = chi.ppf(SHELL, noise.shape[1])
    norm = np.linalg.norm(noise, axis=1, keepdims=True)
    return noise * np.clip(norm, low, high) / norm


def nearest_in_pool(ctl, digits, requested, start):
    """Per request, a pooled noise of its digit that nearly meets it: ((n, dim), (n,) its error).

    Among the digit's pooled samples within TOLERANCE of every constraint (or
    the single nearest one if none is), the one closest to the starting
    noise in angle and not yet taken by another request, so that different
    starts give different digits.
    """
    noise, error = np.zeros_like(start), np.zeros(len(digits))
    for digit in np.unique(digits):
        rows, pool = np.flatnonzero(digits == digit), np.flatnonzero(ctl.pool_class == digit)
        gap = np.abs(ctl.pool_attrs[pool][None] - requested[rows][:, None]) / ctl.sd([digit])  # (r, p, 6)
        gap = np.where(np.isnan(gap), 0.0, gap).max(2)  # (r, p) the worst constraint
        # Closest in angle: in 100-d, Euclidean nearness favours the shortest pooled vectors.
        pooled = ctl.pool_noise[pool] / np.linalg.norm(ctl.pool_noise[pool], axis=1, keepdims=True)
        alike = start[rows] @ pooled.T  # (r, p)
        score = np.where(gap <= np.maximum(TOLERANCE, gap.min(1, keepdims=True)), alike, -np.inf)
        best = gap.argmin(1)  # the nearest, where every near-enough sample is taken
        for r in range(len(rows)):  # each sample serves one request: distinct digits
            if np.isfinite(score[r]).any():
                best[r] = score[r].argmax()
                score[:, best[r]] = -np.inf
        noise[rows], error[rows] = ctl.pool_noise[pool[best]], gap[np.arange(len(rows)), best]
    return noise, error


def worst_error(ctl, digits, achieved, requested):
    """(n,) the largest |achieved - requested| over a request's constraints, in SD units."""
    gap = np.abs(achieved - requested) / ctl.sd(digits)
    return np.where(np.isnan(gap), 0.0, gap).max(1)


def frame_request(ctl, digits, targets, hold=(), noise=None, seed=0):
    """Check a request; return (digits, start noise, its measures, requested (n, 6), held (n, 6))."""
    digits = np.asarray(digits, np.int64).reshape(-1)
    check_request(ctl, digits, targets, hold)
    start = noise if noise is not None else np.random.default_rng(seed).standard_normal(
        (len(digits), ctl.pool_noise.shape[1]))
    start = np.asarray(start, np.float32)
    start_attrs = measure_array(draw_digits(ctl.generator, start, digits))  # (n, 6)
    requested = np.full((len(digits), len(ATTRIBUTES)), np.nan)
    for name, value in targets.items():
        requested[:, ATTRIBUTES.index(name)] = value
    for name in hold:
        requested[:, ATTRIBUTES.index(name)] = start_attrs[:, ATTRIBUTES.index(name)]
    held = np.zeros(requested.shape, bool)
    held[:, [ATTRIBUTES.index(name) for name in hold]] = True
    return digits, start, start_attrs, requested, held


def steer(ctl, digits, targets, hold=(), noise=None, seed=0, rounds=ROUNDS):
    """Noise for each digit whose drawing has the target measures, holding `hold` at the start's.

    digits: (n,) ints; targets: {attribute: value or (n,) values}; hold: attribute
    names kept at the starting noise's values; noise: (n, dim) starting noise
    (default: N(0, I) from seed). Returns a Steered bundle.
    """
    digits, start, start_attrs, requested, held = frame_request(ctl, digits, targets, hold, noise, seed)
    # Start from the starting noise or a pooled sample, whichever is closer to the request.
    pooled, pooled_error = nearest_in_pool(ctl, digits, requested, start)
    closer = pooled_error < worst_error(ctl, digits, start_attrs, requested)
    z = np.where(closer[:, None], pooled, start)
    best_z, images, best_attrs = correct(ctl, digits, z, requested, rounds)
    return Steered(digits, best_z, images, requested, held, best_attrs, start_attrs)


def correct(ctl, digits, z, requested, rounds):
    """Measured Gauss-Newton corrections of z toward requested: the best (noise, images, measures)."""
    images = draw_digits(ctl.generator, z, digits)  # (n, 28, 28, 1)
    attrs = measure_array(images)
    best_z, best_images, best_attrs = z.copy(), images.copy(), attrs.copy()
    best_error = worst_error(ctl, digits, attrs, requested)
    sd, constrained = ctl.sd(digits), ~np.isnan(requested)
    labels = np.eye(ctl.classes, dtype=np.float32)[digits]
    for _ in range(rounds):
        active = np.flatnonzero(best_error > STOP)
        if not active.size:
            break
        jac = ctl.jacobian(z[active], labels[active])  # (a, 6, dim)
        jac = jac / sd[active][:, :, None] * constrained[active][:, :, None]  # SD units, constraints only
        residual = np.where(constrained[active], (requested[active] - attrs[active]) / sd[active], 0.0)
        gram = jac @ jac.transpose(0, 2, 1) + 1e-2 * np.eye(len(ATTRIBUTES))  # (a, 6, 6), damped
        step = (jac.transpose(0, 2, 1) @ np.linalg.solve(gram, residual[:, :, None]))[:, :, 0]
        z[active] = in_shell(z[active] + step).astype(np.float32)  # minimum-norm step, then the shell
        images[active] = draw_digits(ctl.generator, z[active], digits[active])
        attrs[active] = measure_array(images[active])
        error = worst_error(ctl, digits[active], attrs[active], requested[active])
        better = active[error < best_error[active]]
        best_z[better], best_images[better], best_attrs[better] = z[better], images[better], attrs[better]
        best_error[better] = error[error < best_error[active]]
    return best_z, best_images, best_attrs


def sweep(ctl, digit, attribute, low, high, frames=16, hold=None, seed=0):
    """One starting noise steered through `frames` values of attribute, the others held: Steered."""
    hold = [a for a in CORE if a != attribute] if hold is None else list(hold)
    start = np.random.default_rng(seed).standard_normal((1, ctl.pool_noise.shape[1]))
    values = np.linspace(low, high, frames)
    return steer(ctl, [digit] * frames, {attribute: values}, hold, np.repeat(start, frames, 0))


# --- the report: how well control holds, beside the article's method ----------------------

CORE = ("slant", "thickness", "height")  # held while another is steered, and steered jointly
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
    attrs = measure_array(draw_digits(ctl.generator, noise, digits))
    low = np.stack([ctl.percentile(d, BAND[0]) for d in digits])
    high = np.stack([ctl.percentile(d, BAND[1]) for d in digits])
    cols = [ATTRIBUTES.index(a) for a in CORE]
    inside = np.all((attrs >= low) & (attrs <= high), 1)
    keep = np.concatenate([np.flatnonzero(inside & (digits == d))[:per_digit] for d in range(ctl.classes)])
    return digits[keep], {a: attrs[keep, c] for a, c in zip(CORE, cols)}


def article_method(ctl, digits, requested):
    """The tutorial's tools at their best: the category vector and scalar nearest each request.

    Sorts the pool into the tutorial's four categories (thick/thin x
    straight/slanted, by terciles within each digit), scales each category's
    mean noise by the tutorial's 50 scalars from 2 to -2, draws every
    candidate as the digit, and picks the one whose measures are nearest the
    request. Returns (images, achieved (n, 6)).
    """
    by_class = np.stack([ctl.pool_attrs[ctl.pool_class == c].mean(0) for c in range(ctl.classes)])
    thickness = (ctl.pool_attrs[:, 1] - by_class[ctl.pool_class, 1]) / ctl.sd(ctl.pool_class)[:, 1]
    masks = explore.categorize({"slant": ctl.pool_attrs[:, 0], "thickness": thickness})
    vectors = explore.category_vectors(ctl.pool_noise, masks)
    candidates = np.concatenate([explore.scaled(v) for v in vectors.values()])  # (200, dim)
    images, achieved = np.zeros((len(digits), *MNIST.image_shape)), np.zeros((len(digits), 6))
    for digit in np.unique(digits):
        drawn = draw_digits(ctl.generator, candidates, [digit] * len(candidates))
        measured = measure_array(drawn)  # (200, 6)
        rows = np.flatnonzero(digits == digit)
        gap = np.abs(measured[None] - requested[rows][:, None]) / ctl.sd([digit])  # (r, 200, 6)
        best = np.where(np.isnan(gap), 0.0, gap).max(2).argmin(1)
        images[rows], achieved[rows] = drawn[best], measured[best]
    return images, achieved


def score(ctl, stack, judge):
    """Control quality of stacked requests: errors, leakage, class kept, success."""
    digits, requested, held = stack["digits"], stack["requested"], stack["held"]
    sd = ctl.sd(digits)
    error = np.abs(stack["achieved"] - requested) / sd  # (n, 6), NaN where free
    right = judge_outputs(judge, stack["images"])[0].argmax(1) == digits
    within = np.where(np.isnan(error), 0.0, error).max(1) <= TOLERANCE
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


def run_batches(ctl, batches, method):
    """Steer (or apply the article's method to) each batch; stacked arrays and the seconds taken."""
    parts, start = [], time.perf_counter()
    for digits, targets, hold, noise in batches:
        if method == "steer":
            parts.append(steer(ctl, digits, targets, hold, noise))
            continue
        digits, start, start_attrs, requested, held = frame_request(ctl, digits, targets, hold, noise)
        images, achieved = article_method(ctl, digits, requested)
        parts.append(Steered(digits, start, images, requested, held, achieved, start_attrs))
    seconds = time.perf_counter() - start
    stack = {f: np.concatenate([getattr(p, f) for p in parts]) for f in
             ("digits", "requested", "held", "achieved", "images")}
    return stack, seconds


def control_report(ctl, judge, seed=0, starts=2, joint_per_digit=44):
    """Measure control on a grid of requests in the band and beyond: (numbers, arrays for figures)."""
    single = single_requests(ctl, LEVELS, starts, seed)
    joint_digits, joint_targets = joint_requests(ctl, joint_per_digit, seed)
    band = [*single.values(), (joint_digits, joint_targets, (), None)]
    outside = list(single_requests(ctl, np.array(OUTSIDE), 1, seed + 1).values())
    numbers, arrays = {"fit": {k: v for k, v in ctl.fit.items() if k != "directions"}}, {}
    for name, batches in (("band", band), ("extrapolation", outside)):
        for method in ("steer", "article"):
            stack, seconds = run_batches(ctl, batches, method)
            result = score(ctl, stack, judge)
            if method == "steer":
                result.update(seconds=round(seconds, 2),
                              requests_per_second=round(len(stack["digits"]) / seconds, 1))
            numbers.setdefault(name, {})[method] = result
            arrays[name, method] = stack
    numbers.update(tolerance_sd=TOLERANCE, band_percentiles=list(BAND), reach_percentiles=list(REACH),
                   levels=LEVELS.round(2).tolist(), outside_levels=list(OUTSIDE), rounds=ROUNDS, stop_sd=STOP)
    return numbers, arrays


def level_grid(ctl, attribute, levels=LEVELS, seed=0):
    """Every digit steered to its own percentiles of one attribute, the others held: Steered."""
    digits = np.repeat(np.arange(ctl.classes), len(levels))
    values = np.concatenate([ctl.percentile(d, levels)[:, ATTRIBUTES.index(attribute)]
                             for d in range(ctl.classes)])
    start = np.random.default_rng(seed).standard_normal((ctl.classes, ctl.pool_noise.shape[1]))
    return steer(ctl, digits, {attribute: values}, [a for a in CORE if a != attribute],
                 np.repeat(start, len(levels), 0))


# --- saving --------------------------------------------------------------------------------

def save_steered(folder, steered):
    """control.npz: uint8 images (0 = background) and requested_/achieved_ of each constraint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"images": figures.to_uint8(steered.images)[..., 0], "digits": steered.digits,
              "noise": steered.noise}
    for j, name in enumerate(ATTRIBUTES):
        if not np.all(np.isnan(steered.requested[:, j])):
            arrays[f"requested_{name}"] = steered.requested[:, j]
            arrays[f"achieved_{name}"] = steered.achieved[:, j]
    np.savez_compressed(folder / "control.npz", **arrays)


def save_grid(path, images, cols=8):
    """Tile any number of images in rows of cols, blank cells at the end."""
    rows = -(-len(images) // cols)
    cols = min(cols, len(images))
    blank = -np.ones((rows * cols - len(images), *images.shape[1:]), images.dtype)
    figures.save_png(path, figures.tile(np.concatenate([images, blank]), rows, cols, scale=3))


def save_sweep(folder, steered, attribute, name="sweep"):
    """A sweep's GIF and its requested-against-achieved plot."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures.save_gif(folder / f"{name}.gif", [figures.tile(i[None], 1, 1, scale=6) for i in steered.images],
                     seconds_per_frame=0.15)
    constrained = [a for j, a in enumerate(ATTRIBUTES) if not np.all(np.isnan(steered.requested[:, j]))]
    x = steered.requested[:, ATTRIBUTES.index(attribute)]
    panels = {a: {"requested": steered.requested[:, ATTRIBUTES.index(a)],
                  "achieved": steered.achieved[:, ATTRIBUTES.index(a)]} for a in constrained}
    held = ", ".join(constrained[1:]) or "nothing"
    figures.plot_curves(folder / f"{name}.png", x, panels, f"requested {attribute}",
                        f"digit {steered.digits[0]}: {attribute} swept, {held} held")


def save_report(ctl, numbers, arrays, folder):
    """control.json, the requested-vs-achieved figure, the level grid and one sweep per CORE attribute."""
    folder = Path(folder)
    runs.write_json(folder / "control.json", numbers)
    panels = {}
    for name in REPORTED:
        j = ATTRIBUTES.index(name)
        panels[name] = {}
        for method in ("steer", "article"):
            stack = arrays["band", method]
            target = ~np.isnan(stack["requested"][:, j]) & ~stack["held"][:, j]
            panels[name][method] = (stack["requested"][target, j], stack["achieved"][target, j])
    figures.plot_requested_achieved(
        folder / "report.png", panels,
        "requests at each digit's 5th-95th percentiles: steer vs the article's method")
    grid = level_grid(ctl, "slant")
    table = grid.images.reshape(ctl.classes, len(LEVELS), *MNIST.image_shape)  # (10, 7, 28, 28, 1)
    figures.plot_image_table(folder / "slant_levels.png", table,
                             [str(d) for d in range(ctl.classes)], [f"p{q:g}" for q in LEVELS],
                             "each digit at its own slant percentiles, thickness and height held")
    for name in CORE:
        low, high = ctl.percentile(7, BAND[0]), ctl.percentile(7, BAND[1])
        j = ATTRIBUTES.index(name)
        save_sweep(folder, sweep(ctl, 7, name, low[j], high[j]), name, f"sweep_{name}")


# --- the command line ----------------------------------------------------------------------

def finite(text):
    """argparse type: a finite float."""
    value = float(text)
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def build_parser():
    """Flags: the run, the digit, a target per attribute, holds, a sweep, or --report."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.control",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a cgan run folder holding generator.keras")
    parser.add_argument("--digit", type=int, choices=range(MNIST.num_classes), metavar="D")
    for name in ATTRIBUTES:
        parser.add_argument(f"--{name}", type=finite, metavar=morphometry.UNITS[name].upper(),
                            help=f"target {name} ({morphometry.UNITS[name]})")
    parser.add_argument("--hold", nargs="+", default=[], choices=ATTRIBUTES, metavar="ATTR",
                        help="attributes kept at the starting noise's values")
    parser.add_argument("--n", type=bounded(int, 1), default=16, help="digits (or sweep frames)")
    parser.add_argument("--seed", type=bounded(int, 0), default=0, help="seed of the starting noise")
    parser.add_argument("--sweep", choices=ATTRIBUTES, metavar="ATTR", help="attribute to sweep")
    parser.add_argument("--from", dest="low", type=finite, help="sweep start")
    parser.add_argument("--to", dest="high", type=finite, help="sweep end")
    parser.add_argument("--out", help="output folder for a request or a sweep")
    parser.add_argument("--report", action="store_true",
                        help="measure control quality; write RUN_DIR/control/control.json")
    return parser


def check_args(parser, args):
    """Exit 2 with one line for flags that do not make a request."""
    targets = {a: getattr(args, a) for a in ATTRIBUTES if getattr(args, a) is not None}
    if args.report:
        return targets
    if args.digit is None or args.out is None:
        parser.error("a request needs --digit and --out (or pass --report)")
    if args.sweep is not None and (args.low is None or args.high is None):
        parser.error("--sweep needs --from and --to")
    if args.sweep is None and not targets:
        parser.error(f"name at least one target: {', '.join('--' + a for a in ATTRIBUTES)}")
    return targets


def main(argv=None):
    """CLI: steer a request, sweep an attribute, or report control quality."""
    parser = build_parser()
    args = parser.parse_args(argv)
    targets = check_args(parser, args)
    try:
        ctl = controller_for(args.run_dir)
        if args.report:
            numbers, arrays = control_report(ctl, get_judge("mnist"))
            save_report(ctl, numbers, arrays, control_dir(args.run_dir))
            print(summary(numbers) + f"\nwrote {control_dir(args.run_dir)}")
            return
        if args.sweep is not None:
            hold = args.hold or None
            steered = sweep(ctl, args.digit, args.sweep, args.low, args.high, args.n, hold, args.seed)
            save_sweep(args.out, steered, args.sweep)
        else:
            steered = steer(ctl, [args.digit] * args.n, targets, args.hold, seed=args.seed)
            save_grid(Path(args.out) / "grid.png", steered.images)
        save_steered(args.out, steered)
    except (GeneratorError, ControlError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(describe(ctl, steered) + f"\nwrote {args.out}")


def describe(ctl, steered):
    """One line per constrained attribute: requested, achieved median and worst error."""
    lines = []
    error = steered.error_sd(ctl)
    for j, name in enumerate(ATTRIBUTES):
        if np.all(np.isnan(steered.requested[:, j])):
            continue
        gap = np.abs(steered.achieved[:, j] - steered.requested[:, j])
        lines.append(f"{name:9s} {'held' if steered.held[0, j] else 'target'}: median miss "
                     f"{np.median(gap):.3f} {morphometry.UNITS[name]} ({np.median(error[:, j]):.3f} SD), "
                     f"worst {gap.max():.3f}")
    return "\n".join(lines)


def summary(numbers):
    """The report's headline numbers."""
    lines = []
    for band in ("band", "extrapolation"):
        for method in ("steer", "article"):
            r = numbers[band][method]
            lines.append(f"{band:13s} {method:7s} success {r['success']:.1%}  "
                         f"judge {r['judge_accuracy']:.1%}  "
                         + "  ".join(f"{a} {v['median_sd']:.3f}/{v['p90_sd']:.3f} SD"
                                     for a, v in r["attributes"].items() if "median_sd" in v))
    steer_band = numbers["band"]["steer"]
    lines.append(f"{steer_band['requests']} requests in {steer_band['seconds']:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
