"""Control, part 1: the fit that makes a generator steerable, kept in RUN_DIR/control/.

Once per generator: draw a pool of noise for every class and measure each
digit with Morpho-MNIST's measures; report how far a linear model in the
noise explains each measure (the directions' held-out R^2, shared by all
classes or per class); and train a small CNN from an image to the measures,
the surrogate, whose only job is to give the measures a gradient. The fit is
refitted when the sha256 of generator.keras changes.
"""

import time
from dataclasses import dataclass
from functools import cached_property

import keras
import numpy as np
import tensorflow as tf

from gan_tutorials import morphometry, runs
from gan_tutorials.config import MNIST
from gan_tutorials.data import sha256_of
from gan_tutorials.models import draw, image_of, load_generator

ATTRIBUTES = morphometry.ATTRIBUTES
POOL_PER_CLASS = 2000  # pooled samples per class: the start points and the attribute statistics
SURROGATE_EPOCHS = 8


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
    fit: dict  # seed, per_class, sha256, attribute mean/sd, the directions' R^2

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

        # One trace for every batch size: a round's active requests shrink as they finish.
        @tf.function(input_signature=[tf.TensorSpec([None, self.generator.inputs[0].shape[-1]]),
                                      tf.TensorSpec([None, self.classes])])
        def batch_jacobian(noise, labels):
            with tf.GradientTape() as tape:
                tape.watch(noise)
                predicted = measures(noise, labels)
            return tape.batch_jacobian(predicted, noise)
        return lambda noise, labels: batch_jacobian(tf.constant(noise),
                                                    tf.constant(labels)).numpy() * scale


def pool_noise(seed, per_class, classes, noise_dim):
    """The pool's noise and classes, a pure function of the seed: ((n, dim), (n,))."""
    noise = np.random.default_rng([seed, 7]).standard_normal((per_class * classes, noise_dim))
    return noise.astype(np.float32), np.tile(np.arange(classes), per_class)


def measure_array(images):
    """Morpho-MNIST measures as one (n, 6) array in ATTRIBUTES order."""
    measured = morphometry.measure(images)
    return np.stack([measured[a] for a in ATTRIBUTES], 1)


def fit_directions(noise, classes, attrs, num_classes, *, holdout=0.2, ridge=10.0):
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


def create_surrogate(spec=MNIST, outputs=None):
    """A small CNN from an image to standardised measures: the measures' gradient."""
    outputs = outputs or len(ATTRIBUTES)  # every measure
    image = keras.Input(spec.image_shape, name="image")  # (n, 28, 28, 1)
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
    images = draw(generator, noise, labels)  # (n, 28, 28, 1)
    attrs = measure_array(images)  # (n, 6)
    mean, sd = attrs.mean(0), attrs.std(0)
    # Steering follows the surrogate's Jacobian; the linear directions are fitted
    # only to report how far one global linear model explains each measure.
    _, r2, choice = fit_directions(noise.astype(np.float64), labels, attrs, classes)
    surrogate, surrogate_r2 = train_surrogate(images, (attrs - mean) / sd, epochs, seed)
    fit = {"seed": seed, "per_class": per_class, "measures_version": morphometry.VERSION,
           "mean": mean.tolist(), "sd": sd.tolist(),
           "class_sd": [attrs[labels == c].std(0).tolist() for c in range(classes)],
           "direction_r2": r2, "direction_choice": choice,
           "surrogate_r2": dict(zip(ATTRIBUTES, np.round(surrogate_r2, 4).tolist())),
           "seconds": round(time.perf_counter() - start, 1)}
    return Controller(generator, surrogate, noise, labels, attrs, fit)


def control_dir(run_dir, average=False):
    """Where control keeps its fit and report: RUN_DIR/control/ (RUN_DIR/ema/control/ for the
    --ema average)."""
    return runs.results_dir(run_dir, average) / "control"


def save_controller(run_dir, ctl, average=False):
    """Write fit.json, pool.npz (the pool's measures) and surrogate.keras under control_dir."""
    folder = control_dir(run_dir, average)
    folder.mkdir(parents=True, exist_ok=True)
    with runs.replacing(folder / "pool.npz") as tmp:
        np.savez_compressed(tmp, attrs=ctl.pool_attrs.astype(np.float32))
    with runs.replacing(folder / "surrogate.keras") as tmp:
        ctl.surrogate.save(tmp)
    sha = sha256_of(runs.generator_file(run_dir, average))  # the generator this fit belongs to
    runs.write_json(folder / "fit.json", {**ctl.fit, "sha256": sha})


def load_controller(run_dir, generator, average=False):
    """The saved fit for this run's generator (or its average), or None when absent or for
    another generator."""
    folder = control_dir(run_dir, average)
    if not all((folder / n).is_file() for n in ("fit.json", "pool.npz", "surrogate.keras")):
        return None
    fit = runs.read_json(folder / "fit.json")
    if fit.get("sha256") != sha256_of(runs.generator_file(run_dir, average)):
        return None  # the generator was retrained: refit
    if fit.get("measures_version", 1) != morphometry.VERSION:
        return None  # measured by other definitions: refit
    arrays = np.load(folder / "pool.npz")
    noise, labels = pool_noise(fit["seed"], fit["per_class"], generator.inputs[1].shape[-1],
                               generator.inputs[0].shape[-1])
    surrogate = keras.models.load_model(folder / "surrogate.keras")
    return Controller(generator, surrogate, noise, labels, arrays["attrs"].astype(np.float64),
                      fit)


def controller_for(run_dir, verbose=True, average=False):
    """Load the run's cgan generator (or with `average` its --ema average) and its fit, fitting
    and saving it the first time."""
    dataset = runs.dataset_of(run_dir)
    if dataset != MNIST.name:  # the measures are of handwriting
        raise ControlError(f"{run_dir} is a {dataset} run; control steers Morpho-MNIST's "
                           "handwriting measures, so it needs an mnist cgan run")
    source = runs.generator_file(run_dir, average=True) if average else run_dir
    generator = load_generator(source, need_conditional=True)
    ctl = load_controller(run_dir, generator, average)
    if ctl is None:
        if verbose:
            print(f"fitting control to {runs.generator_file(run_dir, average)} "
                  "(once; about two minutes on 2 cores) ...")
        ctl = fit_controller(generator)
        save_controller(run_dir, ctl, average)
    return ctl
