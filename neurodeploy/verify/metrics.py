"""Spike-timing agreement between two backends' traces (numpy only, no plotting).

Time convention: steps are 0-based integers, one step per hop. Every spike raster is a
bool (or 0/1) array shaped (samples, steps, neurons), the ``Traces.spikes`` layout; every
time below (tolerance, lag, latency, tau) is in steps. ``a`` is the reference side of a
comparison and ``b`` the backend under test; "missed" spikes are spikes of ``a`` that ``b``
does not reproduce, "extra" spikes are spikes of ``b`` that ``a`` does not have.

Matching is one-to-one per (sample, neuron): a spike of ``a`` at step ``t_a`` and a spike
of ``b`` at ``t_b`` of the same sample and neuron may form a pair when
``|t_a - t_b| <= tolerance``; each spike is in at most one pair, and the number of pairs
is the maximum possible. F1 at a tolerance is ``2 * pairs / (n_a + n_b)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import reduce
from typing import Any, NamedTuple

import numpy as np

from neurodeploy import readout
from neurodeploy.errors import InputError

#: Tolerances (steps) at which :class:`PairMetrics` reports F1.
F1_TOLERANCES = (0, 1, 2)


# --------------------------------------------------------------------------- validation


def _where(name: str | None) -> str:
    return f"population {name!r}: " if name is not None else ""


def as_spikes(spikes: object, name: str | None = None, what: str = "spikes") -> np.ndarray:
    """Validate one raster: (samples, steps, neurons), bool or 0/1 numbers -> bool array."""
    arr = np.asarray(spikes)
    if arr.ndim != 3:
        hint = " (add a sample axis: x[None])" if arr.ndim == 2 else ""
        raise InputError(f"{_where(name)}{what} has shape {arr.shape}; "
                         f"expected (samples, steps, neurons){hint}")
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{_where(name)}{what} has dtype {arr.dtype}; expected bool or 0/1 "
                         "integers")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{_where(name)}{what}[{', '.join(map(str, idx))}] = {arr[idx]}; "
                         "spikes must be 0/1 or bool")
    return arr.astype(bool)


def _spike_pair(a: object, b: object, name: str | None) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = as_spikes(a, name, "a spikes"), as_spikes(b, name, "b spikes")
    if a_arr.shape != b_arr.shape:
        raise InputError(f"{_where(name)}spike shapes differ: a {a_arr.shape}, b {b_arr.shape}; "
                         "expected the same (samples, steps, neurons)")
    return a_arr, b_arr


def check_steps(value: object, what: str, minimum: int = 0) -> int:
    """``value`` as an int, or a one-line InputError naming ``what`` unless it is an
    integer number of steps >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{what} = {value!r}; allowed: an integer number of steps >= {minimum}")
    return int(value)


# ----------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class SpikeMatch:
    """A maximum one-to-one matching of ``a``'s spikes with ``b``'s at a tolerance (steps).

    All masks have the rasters' shape (samples, steps, neurons):
    ``matched_a``: spikes of ``a`` that have a partner in ``b``;
    ``matched_b``: spikes of ``b`` that have a partner in ``a``;
    ``missed``: spikes of ``a`` with no partner (``a & ~matched_a``);
    ``extra``: spikes of ``b`` with no partner (``b & ~matched_b``).
    Among maximum matchings this is the greedy one (see :func:`spike_matching`).
    """

    tolerance: int
    matched_a: np.ndarray
    matched_b: np.ndarray
    missed: np.ndarray
    extra: np.ndarray

    @property
    def n_matched(self) -> int:
        """Number of pairs."""
        return int(np.count_nonzero(self.matched_a))

    @property
    def n_missed(self) -> int:
        return int(np.count_nonzero(self.missed))

    @property
    def n_extra(self) -> int:
        return int(np.count_nonzero(self.extra))

    @property
    def f1(self) -> float:
        """``2 * pairs / (spikes of a + spikes of b)``; 1.0 when both rasters are silent."""
        total = 2 * self.n_matched + self.n_missed + self.n_extra
        return 1.0 if total == 0 else 2 * self.n_matched / total

    def pairs_per_neuron(self) -> np.ndarray:
        """Number of pairs per (sample, neuron), int64 (samples, neurons)."""
        return self.matched_a.sum(axis=1, dtype=np.int64)


def _greedy_unmatched(ua: np.ndarray, ub: np.ndarray, tolerance: int) -> None:
    """Greedy matching over time-major columns (steps, columns); clears matched spikes.

    Spikes are taken in time order. A spike arriving at step t takes the earliest still
    unmatched spike of the other train in [t - tolerance, t - 1]; if there is none and the
    other train spikes at t too, the two pair up; otherwise it waits. At most one train
    has waiting spikes at any time (two waiting spikes within the window would have
    paired), so the order of the two look-backs does not matter. This is the classic
    two-pointer greedy for points on a line with a window, which is a maximum matching
    (checked against brute force in tests/test_verify_metrics.py).
    """
    for t in range(ua.shape[0]):
        new_a, new_b = ua[t].copy(), ub[t].copy()
        for new, waiting in ((new_b, ua), (new_a, ub)):  # new spikes of one, waiting of the other
            for d in range(min(tolerance, t), 0, -1):  # earliest waiting spike first
                hit = new & waiting[t - d]
                waiting[t - d] ^= hit
                new ^= hit  # in place: new_b / new_a
        both = new_a & new_b
        ua[t] = new_a ^ both
        ub[t] = new_b ^ both


def spike_matching(a: object, b: object, tolerance: int, name: str | None = None) -> SpikeMatch:
    """Maximum one-to-one matching of spikes per (sample, neuron) within ``tolerance`` steps.

    A spike of ``a`` at step ``t_a`` may pair with a spike of ``b`` at ``t_b`` of the same
    sample and neuron when ``|t_a - t_b| <= tolerance``; each spike is in at most one
    pair. The matching is the greedy one in time order (each spike pairs with the earliest
    unpaired spike of the other train still within reach), which has the maximum number of
    pairs. (sample, neuron) columns where the rasters are equal pair every spike with the
    spike at the same step. ``name`` (a population) only labels error messages.
    """
    a_arr, b_arr = _spike_pair(a, b, name)
    tol = check_steps(tolerance, "tolerance")
    samples, steps, neurons = a_arr.shape
    # Only (sample, neuron) columns where the rasters differ need the scan; gathering them
    # costs about as much as scanning, so it pays only when few differ.
    columns = np.flatnonzero((a_arr != b_arr).any(axis=1))
    if 2 * columns.size > samples * neurons:
        missed, extra = _time_major(a_arr), _time_major(b_arr)  # copies: the scan clears pairs
        _greedy_unmatched(missed, extra, tol)
    else:
        missed = np.zeros((steps, samples * neurons), dtype=bool)
        extra = np.zeros_like(missed)
        if columns.size:
            ua = np.take(_time_major(a_arr), columns, axis=1)
            ub = np.take(_time_major(b_arr), columns, axis=1)
            _greedy_unmatched(ua, ub, tol)
            missed[:, columns] = ua
            extra[:, columns] = ub
    missed, extra = _sample_major(missed, a_arr.shape), _sample_major(extra, a_arr.shape)
    return SpikeMatch(tol, a_arr & ~missed, b_arr & ~extra, missed, extra)


def _time_major(x: np.ndarray) -> np.ndarray:
    """(samples, steps, neurons) -> a new contiguous (steps, samples * neurons) array."""
    return np.array(x.transpose(1, 0, 2), order="C").reshape(x.shape[1], -1)


def _sample_major(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_time_major`."""
    samples, steps, neurons = shape
    return np.ascontiguousarray(x.reshape(steps, samples, neurons).transpose(1, 0, 2))


def match_spikes(a: object, b: object, tolerance: int) -> int:
    """Number of pairs of the maximum one-to-one matching (see :func:`spike_matching`)."""
    return spike_matching(a, b, tolerance).n_matched


def f1_at(a: object, b: object, tolerance: int) -> float:
    """``2 * pairs / (n_a + n_b)`` at ``tolerance`` steps; 1.0 when both are silent."""
    return spike_matching(a, b, tolerance).f1


# ------------------------------------------------------------------------ counts, timing


class CountError(NamedTuple):
    """Spike-count disagreement over (sample, neuron) counts.

    ``mean_abs``: mean over (sample, neuron) of ``|count_a - count_b|`` (spikes);
    ``relative``: ``mean_abs`` divided by the mean count of ``a``; 0.0 when both are
    silent, None when only ``a`` is silent (undefined).
    """

    mean_abs: float
    relative: float | None


def count_error(a: object, b: object, name: str | None = None) -> CountError:
    """Mean absolute difference of per-(sample, neuron) spike counts, and relative to ``a``."""
    a_arr, b_arr = _spike_pair(a, b, name)
    ca, cb = a_arr.sum(axis=1, dtype=np.int64), b_arr.sum(axis=1, dtype=np.int64)
    mean_abs = float(np.abs(ca - cb).mean()) if ca.size else 0.0
    mean_a = float(ca.mean()) if ca.size else 0.0
    relative = mean_abs / mean_a if mean_a > 0 else (0.0 if mean_abs == 0 else None)
    return CountError(mean_abs, relative)


class FirstSpikeError(NamedTuple):
    """First-spike latency disagreement, in steps.

    Over the (sample, neuron) where both rasters spike: ``mean`` and ``max`` of
    ``|first_a - first_b|`` (None when there is no such pair), and ``n_both`` of them;
    ``n_only_one``: the (sample, neuron) where exactly one raster spikes at all.
    """

    mean: float | None
    max: int | None
    n_both: int
    n_only_one: int


def first_spike_error(a: object, b: object, name: str | None = None) -> FirstSpikeError:
    """Latency error of the first spike per (sample, neuron); see :class:`FirstSpikeError`."""
    a_arr, b_arr = _spike_pair(a, b, name)
    has_a, has_b = a_arr.any(axis=1), b_arr.any(axis=1)
    both = has_a & has_b
    n_only_one = int(np.count_nonzero(has_a ^ has_b))
    n_both = int(np.count_nonzero(both))
    if n_both == 0:
        return FirstSpikeError(None, None, 0, n_only_one)
    delta = np.abs(a_arr.argmax(axis=1) - b_arr.argmax(axis=1))[both]  # argmax: first True
    return FirstSpikeError(float(delta.mean()), int(delta.max()), n_both, n_only_one)


def van_rossum_distance(a: object, b: object, tau: float, name: str | None = None) -> float:
    """Mean van Rossum distance over (sample, neuron), time constant ``tau`` in steps.

    Each train x is filtered causally with the discrete kernel ``exp(-k / tau)``, k >= 0:
    ``f[t] = sum_{k=0..t} x[t - k] exp(-k / tau)`` (so a spike at step t adds 1 at step t).
    The distance of one (sample, neuron) is ``sqrt(sum_t (f_a[t] - f_b[t])**2 / tau)``
    with t over the recorded steps only (tails past the last step are not counted); the
    result is the mean of that over all (sample, neuron). A lone spike at step s against
    silence over T steps gives ``sqrt(sum_{k=0..T-1-s} exp(-2k / tau) / tau)``.
    """
    a_arr, b_arr = _spike_pair(a, b, name)
    try:
        tau_f = float(tau)
    except (TypeError, ValueError):
        tau_f = float("nan")
    if not np.isfinite(tau_f) or tau_f <= 0:
        raise InputError(f"tau = {tau!r}; allowed: a time constant > 0 (steps)")
    if a_arr.shape[0] * a_arr.shape[2] == 0:
        return 0.0
    diff = a_arr.view(np.int8) - b_arr.view(np.int8)  # -1, 0, 1; small
    decay = np.exp(-1.0 / tau_f)
    filtered = np.zeros(diff.shape[::2], dtype=np.float64)  # (samples, neurons)
    sq_sum = np.zeros_like(filtered)
    for t in range(diff.shape[1]):
        filtered *= decay
        filtered += diff[:, t]
        sq_sum += filtered * filtered
    return float(np.sqrt(sq_sum / tau_f).mean())


def v_rmse(a_v: object, b_v: object, name: str | None = None) -> float:
    """Root mean square of ``a_v - b_v`` over every (sample, step, neuron), in v units."""
    av, bv = np.asarray(a_v), np.asarray(b_v)
    for arr, side in ((av, "a"), (bv, "b")):
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise InputError(f"{_where(name)}{side} v has dtype {arr.dtype}; expected numbers")
    if av.shape != bv.shape:
        raise InputError(f"{_where(name)}v shapes differ: a {av.shape}, b {bv.shape}; expected "
                         "the same")
    diff = av.astype(np.float64) - bv.astype(np.float64)
    return float(np.sqrt(np.mean(diff * diff))) if diff.size else 0.0


# ---------------------------------------------------------------------------------- lag


def f1_at_lag(a: object, b: object, lag: int, name: str | None = None) -> float:
    """F1 at tolerance 0 of ``a[:, t]`` against ``b[:, t + lag]`` over the overlapping steps.

    Lag sign: ``lag = 1`` compares ``a`` at step t with ``b`` at step t + 1, so a ``b``
    that spikes one step after ``a`` scores 1.0 there. Only steps t with both t and
    t + lag inside [0, steps) count: spikes of ``a`` in the last ``lag`` steps (or of
    ``b`` in the first ``lag``) are left out, as are their mirror images for a negative
    lag. 1.0 when both are silent over the overlap; |lag| >= steps is an error.
    """
    a_arr, b_arr = _spike_pair(a, b, name)
    steps = a_arr.shape[1]
    if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or abs(lag) >= steps:
        raise InputError(f"lag = {lag!r}; allowed: an integer with |lag| < steps = {steps}")
    return _f1_shifted(a_arr, b_arr, int(lag))


def _f1_shifted(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    steps = a.shape[1]
    a_part = a[:, max(0, -lag):steps - max(0, lag)]
    b_part = b[:, max(0, lag):steps - max(0, -lag)]
    total = np.count_nonzero(a_part) + np.count_nonzero(b_part)
    return 2 * np.count_nonzero(a_part & b_part) / total if total else 1.0


def best_lag(a: object, b: object, max_lag: int = 5, name: str | None = None) -> tuple[int, float]:
    """The lag L in [-max_lag, max_lag] that maximises :func:`f1_at_lag`; returns (L, F1).

    ``L = 1`` means ``b`` spikes one step after ``a`` (``b[t + 1]`` is compared with
    ``a[t]``); only overlapping steps count (see :func:`f1_at_lag`). Ties go to the
    smallest |L|, then to the negative one. Lags with |L| >= steps have no overlap and are
    not tried.
    """
    a_arr, b_arr = _spike_pair(a, b, name)
    limit = min(check_steps(max_lag, "max_lag"), a_arr.shape[1] - 1)
    # 0, -1, 1, -2, 2, ...: the tie-break order (smallest |L| first, then negative); max
    # keeps the first of equal scores
    order = sorted(range(-limit, limit + 1), key=lambda lag: (abs(lag), lag))
    return max(((lag, _f1_shifted(a_arr, b_arr, lag)) for lag in order),
               key=lambda scored: scored[1], default=(0, -1.0))


# ---------------------------------------------------------------- several populations


@dataclass(frozen=True)
class Divergence:
    """Where two sets of rasters first differ: 0-based sample, step and neuron.

    ``a_spiked`` / ``b_spiked``: whether each side spiked there (exactly one did).
    """

    step: int
    sample: int
    population: str
    neuron: int
    a_spiked: bool
    b_spiked: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_populations(a: dict[str, Any], b: dict[str, Any]) -> None:
    if set(a) != set(b):
        only_a, only_b = ([repr(k) for k in x if k not in y] for x, y in ((a, b), (b, a)))
        raise InputError(f"populations differ: only in a: {', '.join(only_a) or 'none'}; "
                         f"only in b: {', '.join(only_b) or 'none'}")


def first_divergence(a: dict[str, object], b: dict[str, object]) -> Divergence | None:
    """The earliest step at which any population's spikes differ, or None when identical.

    At that step ties go to the smallest sample, then to the population that comes first
    in ``a``'s order, then to the smallest neuron.
    """
    _check_populations(a, b)
    arrays = {name: _spike_pair(a[name], b[name], name) for name in a}
    candidates = []  # (step, sample, population index, neuron, name)
    for index, (name, (a_arr, b_arr)) in enumerate(arrays.items()):
        differs = (a_arr != b_arr).transpose(1, 0, 2)  # (steps, samples, neurons)
        if differs.any():  # argmax: the first difference in (step, sample, neuron) order
            step, sample, neuron = map(int, np.unravel_index(differs.argmax(), differs.shape))
            candidates.append((step, sample, index, neuron, name))
    if not candidates:
        return None
    step, sample, _, neuron, name = min(candidates)
    a_arr, b_arr = arrays[name]
    return Divergence(step, sample, name, neuron, bool(a_arr[sample, step, neuron]),
                      bool(b_arr[sample, step, neuron]))


def identical_samples(a: object, b: object, name: str | None = None) -> float:
    """Share of samples whose whole raster (all steps, all neurons) is identical."""
    a_arr, b_arr = _spike_pair(a, b, name)
    return float((a_arr == b_arr).all(axis=(1, 2)).mean()) if a_arr.shape[0] else 1.0


class ExactAgreement(NamedTuple):
    """Bit-for-bit agreement of spikes.

    ``per_population``: share of samples identical in that population;
    ``samples``: share of samples identical in every population;
    ``identical``: every sample of every population is identical.
    """

    per_population: dict[str, float]
    samples: float
    identical: bool


def exact_agreement(a: dict[str, object], b: dict[str, object]) -> ExactAgreement:
    """Share of samples with identical rasters, per population and over all of them."""
    _check_populations(a, b)
    same = {name: np.equal(*_spike_pair(a[name], b[name], name)).all(axis=(1, 2)) for name in a}
    every = np.asarray(reduce(np.logical_and, same.values(), True))  # every population's
    samples = float(every.mean()) if every.size else 1.0
    return ExactAgreement({name: float(s.mean()) if s.size else 1.0 for name, s in same.items()},
                          samples, samples == 1.0)


# -------------------------------------------------------------------------- decisions


def _scores(scores: object, what: str) -> np.ndarray:
    arr = np.asarray(scores)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise InputError(f"{what} has shape {arr.shape}; expected (samples, classes)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{what} has dtype {arr.dtype}; expected numbers")
    return arr


def decision_agreement(scores_a: object, scores_b: object) -> float:
    """Share of samples where both backends' logits or spike counts have the same argmax.

    ``scores_*`` are (samples, classes); ties go to the first class (``np.argmax``), the
    rule of :func:`neurodeploy.readout.accuracy`. 1.0 for zero samples.
    """
    sa, sb = _scores(scores_a, "a scores"), _scores(scores_b, "b scores")
    if sa.shape != sb.shape:
        raise InputError(f"score shapes differ: a {sa.shape}, b {sb.shape}; expected the same")
    return float((sa.argmax(axis=1) == sb.argmax(axis=1)).mean()) if sa.shape[0] else 1.0


def accuracy(logits: object, labels: object) -> float:
    """Share of samples whose largest logit (ties: the first class) equals the label."""
    scores = _scores(logits, "logits")
    lab = np.asarray(labels)
    if lab.shape != (scores.shape[0],):
        raise InputError(f"labels has shape {lab.shape}; expected ({scores.shape[0]},), one per "
                         "sample")
    return readout.accuracy(scores, lab) if scores.shape[0] else 0.0


# ------------------------------------------------------------------------ bundles


@dataclass(frozen=True)
class PairMetrics:
    """Agreement of one population between two backends ``a`` and ``b`` (times in steps).

    ``identical``: every spike equal; ``identical_samples``: share of samples with equal
    rasters; ``f1_at_0/1/2``: F1 of the one-to-one matching at tolerance 0, 1, 2 steps;
    ``count_error_abs/rel``: :class:`CountError`; ``first_spike_*``:
    :class:`FirstSpikeError`; ``van_rossum``: :func:`van_rossum_distance` at ``tau``;
    ``v_rmse``: :func:`v_rmse` (None without v on both sides); ``best_lag``,
    ``f1_at_best_lag``: :func:`best_lag` over [-max_lag, max_lag] (L = 1: b one step late).
    """

    identical: bool
    identical_samples: float
    n_spikes_a: int
    n_spikes_b: int
    f1_at_0: float
    f1_at_1: float
    f1_at_2: float
    count_error_abs: float
    count_error_rel: float | None
    first_spike_mean: float | None
    first_spike_max: int | None
    first_spike_n_only_one: int
    van_rossum: float
    tau: float
    v_rmse: float | None
    best_lag: int
    f1_at_best_lag: float
    max_lag: int

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: bool, int, float, None."""
        return asdict(self)


def compare_populations(a_spikes: object, b_spikes: object, a_v: object | None = None,
                        b_v: object | None = None, tau: float = 5.0, max_lag: int = 5,
                        name: str | None = None) -> PairMetrics:
    """All agreement metrics of one population; ``name`` only labels error messages."""
    a_arr, b_arr = _spike_pair(a_spikes, b_spikes, name)
    f1 = {tol: spike_matching(a_arr, b_arr, tol, name).f1 for tol in F1_TOLERANCES}
    counts = count_error(a_arr, b_arr, name)
    first = first_spike_error(a_arr, b_arr, name)
    lag, lag_f1 = best_lag(a_arr, b_arr, max_lag, name)
    rmse = None
    if a_v is not None and b_v is not None:
        if np.shape(a_v) != a_arr.shape:
            raise InputError(f"{_where(name)}v has shape {np.shape(a_v)}; spikes have "
                             f"{a_arr.shape}")
        rmse = v_rmse(a_v, b_v, name)
    return PairMetrics(
        identical=bool(np.array_equal(a_arr, b_arr)),
        identical_samples=identical_samples(a_arr, b_arr, name),
        n_spikes_a=int(np.count_nonzero(a_arr)), n_spikes_b=int(np.count_nonzero(b_arr)),
        f1_at_0=f1[0], f1_at_1=f1[1], f1_at_2=f1[2],
        count_error_abs=counts.mean_abs, count_error_rel=counts.relative, v_rmse=rmse,
        first_spike_mean=first.mean, first_spike_max=first.max, best_lag=lag,
        first_spike_n_only_one=first.n_only_one, tau=float(tau), max_lag=int(max_lag),
        van_rossum=van_rossum_distance(a_arr, b_arr, tau, name), f1_at_best_lag=lag_f1)


@dataclass(frozen=True)
class TraceComparison:
    """Agreement of two backends over several populations (in ``a``'s order)."""

    populations: dict[str, PairMetrics]
    first_divergence: Divergence | None
    identical: bool
    identical_samples: float  # share of samples identical in every population

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: dicts, bool, int, float, None."""
        return asdict(self)


def compare_traces(a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                   a_v: dict[str, np.ndarray] | None = None,
                   b_v: dict[str, np.ndarray] | None = None, tau: float = 5.0,
                   max_lag: int = 5) -> TraceComparison:
    """:class:`PairMetrics` per population plus the first divergence over all of them.

    ``a`` and ``b`` map population -> spikes (samples, steps, neurons) and must name the
    same populations; v is compared for populations present in both ``a_v`` and ``b_v``.
    """
    _check_populations(a, b)
    a_v, b_v = a_v or {}, b_v or {}
    populations = {name: compare_populations(a[name], b[name], a_v.get(name), b_v.get(name),
                                             tau=tau, max_lag=max_lag, name=name)
                   for name in a}
    agreement = exact_agreement(a, b)
    return TraceComparison(populations, first_divergence(a, b), agreement.identical,
                           agreement.samples)
