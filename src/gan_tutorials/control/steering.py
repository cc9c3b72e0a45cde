"""Control, part 2: steering a digit to target measures.

A request names a digit and target values of Morpho-MNIST's measures (slant
in degrees, thickness, width, height and length in px, area in px^2), and
may hold others at its starting noise's values. `steer`:

  1. starts from the starting noise, or from a pooled sample of the digit
     that nearly meets the request, whichever is nearer; each pooled sample
     serves one request, so n requests give n distinct digits;
  2. corrects: a damped minimum-norm Gauss-Newton step on every constraint
     (see `correct`), with the surrogate's Jacobian through the generator,
     then the real measures of the new digit; it keeps each request's best
     and stops once every constraint is within STOP SD or ROUNDS run out.

The noise stays in the typical shell of its prior: |z| within the SHELL
quantiles of a chi distribution with noise_dim degrees of freedom.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi

from gan_tutorials import morphometry
from gan_tutorials.control.fit import ATTRIBUTES, ControlError, measure_array
from gan_tutorials.models import draw

ROUNDS = 6  # measured corrections at most
STOP = 0.05  # SD: a request stops correcting once every constraint is this close
TOLERANCE = 0.25  # SD: a request succeeds when every constraint is this close
REACH = (1, 99)  # percentiles of the generator's own values: what a request may ask
SHELL = (0.001, 0.999)  # quantiles of |z| allowed under the N(0, I) noise prior
# lambda of the damped step (SD^2): small beside a typical |J J^T| (tens), it only
# keeps the step finite where the constraints' gradients are nearly parallel.
DAMPING = 1e-2
CORE = ("slant", "thickness", "height")  # held while another is swept, steered jointly


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
        return misses_sd(ctl, self.digits, self.achieved, self.requested)


def misses_sd(ctl, digits, achieved, requested):
    """|achieved - requested| in each digit's SD units, NaN where a measure is free (broadcasts)."""
    return np.abs(achieved - requested) / ctl.sd(digits)


def worst(misses):
    """The largest miss over the last axis, the measures, a free one (NaN) counting as none."""
    return np.where(np.isnan(misses), 0.0, misses).max(-1)


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
    """Per request, a pooled noise of its digit to start from: ((n, dim), (n,) its error in SD).

    Requests take pooled samples in turn, each sample serving one request, so
    that n requests start from n different noises. A request takes, of the
    samples still free, the one closest in angle to its starting noise among
    those within TOLERANCE of every constraint; once those are taken, among
    the free samples nearest the request (within the smallest error left),
    so later requests start farther away and the corrections do more work.
    """
    noise, error = np.zeros_like(start), np.zeros(len(digits))
    for digit in np.unique(digits):
        rows, pool = np.flatnonzero(digits == digit), np.flatnonzero(ctl.pool_class == digit)
        # (r, p): each pooled sample's worst constraint for each request
        gap = worst(misses_sd(ctl, [digit], ctl.pool_attrs[pool][None], requested[rows][:, None]))
        # Closest in angle: in 100-d, Euclidean nearness favours the shortest pooled vectors.
        pooled = ctl.pool_noise[pool] / np.linalg.norm(ctl.pool_noise[pool], axis=1, keepdims=True)
        alike = start[rows] @ pooled.T  # (r, p)
        free = np.ones(len(pool), bool)
        for r in range(len(rows)):
            if not free.any():  # more requests than pooled samples: the rest keep their start
                error[rows[r:]] = np.inf
                break
            left = np.where(free, gap[r], np.inf)
            near = left <= max(TOLERANCE, left.min())
            best = int(np.argmax(np.where(near, alike[r], -np.inf)))
            noise[rows[r]], error[rows[r]], free[best] = ctl.pool_noise[pool[best]], gap[r, best], False
    return noise, error


def worst_error(ctl, digits, achieved, requested):
    """(n,) the largest |achieved - requested| over a request's constraints, in SD units."""
    return worst(misses_sd(ctl, digits, achieved, requested))


def frame_request(ctl, digits, targets, hold=(), *, noise=None, seed=0):
    """Check a request; return (digits, start noise, its measures, requested (n, 6), held (n, 6))."""
    digits = np.asarray(digits, np.int64).reshape(-1)
    check_request(ctl, digits, targets, hold)
    start = noise if noise is not None else np.random.default_rng(seed).standard_normal(
        (len(digits), ctl.pool_noise.shape[1]))
    start = np.asarray(start, np.float32)
    start_attrs = measure_array(draw(ctl.generator, start, digits))  # (n, 6)
    requested = np.full((len(digits), len(ATTRIBUTES)), np.nan)
    for name, value in targets.items():
        requested[:, ATTRIBUTES.index(name)] = value
    for name in hold:
        requested[:, ATTRIBUTES.index(name)] = start_attrs[:, ATTRIBUTES.index(name)]
    held = np.zeros(requested.shape, bool)
    held[:, [ATTRIBUTES.index(name) for name in hold]] = True
    return digits, start, start_attrs, requested, held


def steer(ctl, digits, targets, hold=(), *, noise=None, seed=0, rounds=ROUNDS, stop=STOP):
    """Noise for each digit whose drawing has the target measures, holding `hold` at the start's.

    digits: (n,) ints; targets: {attribute: value or (n,) values}; hold: attribute
    names kept at the starting noise's values; noise: (n, dim) starting noise
    (default: N(0, I) from seed); rounds, stop: see `correct`. Returns a Steered bundle.
    """
    digits, start, start_attrs, requested, held = frame_request(ctl, digits, targets, hold,
                                                                noise=noise, seed=seed)
    # Start from the starting noise or a pooled sample, whichever is closer to the request.
    pooled, pooled_error = nearest_in_pool(ctl, digits, requested, start)
    closer = pooled_error < worst_error(ctl, digits, start_attrs, requested)
    z = np.where(closer[:, None], pooled, start)
    best_z, images, best_attrs = correct(ctl, digits, z, requested, rounds=rounds, stop=stop)
    return Steered(digits, best_z, images, requested, held, best_attrs, start_attrs)


def correct(ctl, digits, z, requested, *, rounds=ROUNDS, stop=STOP):
    """Measured corrections of z toward requested: the best (noise, images, measures) seen.

    Each round linearises the constrained measures r(z) of every request not
    yet within STOP, in SD units, through the surrogate's Jacobian J (c x dim,
    one row per constraint), and takes the damped minimum-norm step

        dz = J^T (J J^T + DAMPING * I)^-1 r,   r = requested - measured,

    the smallest change of noise that would meet every constraint if the
    measures were linear (DAMPING keeps it finite where the rows of J are
    nearly parallel). The step is pulled back into the prior's shell, the new
    digit is drawn and truly measured, and a request keeps whichever round
    came nearest. A request stops once every constraint is within `stop` SD,
    or after `rounds` corrections.
    """
    images = draw(ctl.generator, z, digits)  # (n, 28, 28, 1)
    attrs = measure_array(images)
    best_z, best_images, best_attrs = z.copy(), images.copy(), attrs.copy()
    best_error = worst_error(ctl, digits, attrs, requested)
    sd, constrained = ctl.sd(digits), ~np.isnan(requested)
    labels = np.eye(ctl.classes, dtype=np.float32)[digits]
    for _ in range(rounds):
        a = np.flatnonzero(best_error > stop)  # the requests still active
        if not a.size:
            break
        # J: (a, 6, dim) in SD units, zero rows for the free measures.
        jac = ctl.jacobian(z[a], labels[a]) / sd[a][:, :, None] * constrained[a][:, :, None]
        r = np.where(constrained[a], (requested[a] - attrs[a]) / sd[a], 0.0)  # (a, 6)
        jjt = jac @ jac.transpose(0, 2, 1)  # (a, 6, 6)
        dz = (jac.transpose(0, 2, 1)
              @ np.linalg.solve(jjt + DAMPING * np.eye(len(ATTRIBUTES)), r[:, :, None]))[:, :, 0]
        z[a] = in_shell(z[a] + dz).astype(np.float32)
        images[a] = draw(ctl.generator, z[a], digits[a])
        attrs[a] = measure_array(images[a])
        error = worst_error(ctl, digits[a], attrs[a], requested[a])
        better = error < best_error[a]
        kept = a[better]
        best_z[kept], best_images[kept], best_attrs[kept] = z[kept], images[kept], attrs[kept]
        best_error[kept] = error[better]
    return best_z, best_images, best_attrs


def sweep(ctl, digit, attribute, values, *, hold=None, seed=0):
    """One starting noise steered through `values` of attribute, the CORE others held: Steered."""
    hold = [a for a in CORE if a != attribute] if hold is None else list(hold)
    start = np.random.default_rng(seed).standard_normal((1, ctl.pool_noise.shape[1]))
    return steer(ctl, [digit] * len(values), {attribute: np.asarray(values)}, hold,
                 noise=np.repeat(start, len(values), 0))
