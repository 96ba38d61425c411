"""Synthetic spike-timing tasks of Yu, Sun, Akarca & Goodman (2025, arXiv 2507.16043).

Three generators, each a pure function of its keyword arguments and ``seed``
(``np.random.default_rng(seed)`` draws everything; same seed, identical arrays):

- :func:`isi_task`: the class is carried by the rate of spike pairs and their
  inter-spike interval (ISI) within each neuron;
- :func:`ccisi_task`: the class is carried by the lag between partner neurons
  (cross-neuron ISI, polychrony); each neuron alone is just a few random spikes;
- :func:`coincidence_task`: the class is carried by which two of three groups are
  co-active in each window; a group's own rate carries no class information;
- :func:`saccade_digits_task` (not from that paper): event-camera frames of scikit-learn's
  8x8 digits moved along three saccades, as N-MNIST was recorded; a vision task for
  convolutional networks that needs no download.

Time convention: 0-based steps of ``dt_ms`` milliseconds; the returned
:class:`SpikeDataset` stores ``dt`` in seconds. Every time given in ms is quantised to
steps by rounding half up, ``steps = floor(ms / dt_ms + 0.5)``; an ISI is at least one
step. The defaults put every time on a whole step, so they are quantised exactly.

Step size. The paper uses 1 ms steps (``preset="paper"`` in :func:`make_task`). The defaults
use ``dt_ms = 5`` so that one sample is 200 steps and a CPU training run takes minutes:

==============  =====================================  ======================
task            default sample                          ``preset="paper"``
==============  =====================================  ======================
isi, ccisi      1000 ms = 200 steps of 5 ms             10 s = 10000 steps of 1 ms
coincidence     5 windows x 200 ms = 200 steps of 5 ms  5 windows x 200 steps of 1 ms
==============  =====================================  ======================

The paper's 0.1 Hz rate grid gives exactly one more pair per 0.1 Hz only for 10 s samples,
so the paper preset uses 10 s (inferred: methods.md does not state the duration). The
default keeps "one rate step = one pair" at 1 s with rates 1..5 Hz in steps of 1 Hz, and
ISIs 5..100 ms in steps of 5 ms (1..20 steps). For CCISI, ask for long lags with
``make_task("ccisi", max_isi_ms=300)`` (60 steps of 5 ms; a 64-step delay cap covers 320 ms
at 5 ms per step).

Labels are balanced exactly: ``n_samples // n_classes`` per class, the remainder going to
the lowest classes, then shuffled. ISI/CCISI fill each class by rejection sampling of the
plane (points are drawn uniformly until each side of the line has its quota); the
coincidence task draws the class first and builds the sample from it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from neurodeploy.errors import DatasetError
from neurodeploy.network_io import check_memory

from .format import SpikeDataset, check_int, is_number

__all__ = ["PRESETS", "TASKS", "ccisi_task", "coincidence_task", "isi_task", "make_task",
           "saccade_digits_task"]

_PLANE = 10.0  # points are drawn uniformly in [-_PLANE, _PLANE]^2
_EPS = 1e-9


def _round_half_up(x: np.ndarray | float) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + _EPS).astype(np.int64)


def _number(name: str, value: object, *, positive: bool = False, minimum: float | None = None,
            maximum: float | None = None) -> float:
    if not is_number(value):
        raise DatasetError(f"{name} = {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise DatasetError(f"{name} = {value} is out of range; allowed a finite number > 0")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f"{minimum:g}"
        hi = "" if maximum is None else f"{maximum:g}"
        raise DatasetError(f"{name} = {value:g} is out of range; allowed {lo}..{hi}")
    return value


def _seed(seed: object) -> int | None:
    return None if seed is None else check_int("seed", seed, 0)


def _steps(ms: float, dt_ms: float) -> int:
    """Milliseconds to whole steps, rounding half up."""
    return int(_round_half_up(ms / dt_ms))


def _grid(params: dict[str, Any], *names: str) -> np.ndarray:
    """``lo, lo + step, ...`` up to ``hi`` (inclusive within rounding): the values of
    ``params`` named ``names`` (lo, hi, step)."""
    lo, hi, step = (_number(name, params[name], positive=True) for name in names)
    if hi < lo:
        raise DatasetError(f"{names[1]} = {hi:g} is out of range; allowed >= {lo:g}")
    return lo + step * np.arange(math.floor((hi - lo) / step + _EPS) + 1)


def _balanced_counts(n_samples: int, n_classes: int) -> np.ndarray:
    counts = np.full(n_classes, n_samples // n_classes, dtype=np.int64)
    counts[: n_samples % n_classes] += 1
    return counts


def _check_size(task: str, n_samples: int, steps: int, channels: int,
                per_sample: int) -> None:
    """Refuse, before anything is drawn or allocated, a data set that would not fit in the
    available memory: its spikes (one byte per sample, step and channel) and ``per_sample``
    bytes of the generator's working arrays per sample."""
    check_memory(n_samples * (steps * channels + per_sample),
                 f"{task}: {n_samples} samples x {steps} steps x {channels} channels",
                 DatasetError)


def _plane_coordinate(index: np.ndarray, n_levels: int) -> np.ndarray:
    """Grid index -> coordinate in [-_PLANE, _PLANE] (the grid value's point on its axis)."""
    if n_levels == 1:
        return np.zeros(index.shape)
    return -_PLANE + 2 * _PLANE * index / (n_levels - 1)


def _grid_index(coord: np.ndarray, n_levels: int) -> np.ndarray:
    """Coordinate in [-_PLANE, _PLANE] -> nearest grid index (linear map, half up)."""
    k = _round_half_up((coord + _PLANE) / (2 * _PLANE) * (n_levels - 1))
    return np.clip(k, 0, n_levels - 1)


def _line_side(x: np.ndarray, y: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, label): kept if at least ``margin`` from y = -x/2; label 1 above the line."""
    return np.abs(x + 2 * y) / math.sqrt(5.0) >= margin, (y > -x / 2).astype(np.int64)


def _sample_plane(rng: np.random.Generator, n_samples: int, n_rates: int, n_isis: int,
                  margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (rate index, ISI index, label) with exactly balanced labels.

    Points (x, y) are uniform in [-10, 10]^2; x picks the nearest rate level, y the nearest
    ISI level. The margin and the side of the line y = -x/2 are judged at the chosen grid
    point, so the label is a function of (rate, ISI). Points are drawn until both classes
    have their quota, then the samples are shuffled.
    """
    gx, gy = np.meshgrid(_plane_coordinate(np.arange(n_rates), n_rates),
                         _plane_coordinate(np.arange(n_isis), n_isis), indexing="ij")
    kept, label = _line_side(gx, gy, margin)
    for c in (0, 1):
        if not np.any(kept & (label == c)):
            raise DatasetError(
                f"margin = {margin:g} leaves no grid point on side {c} of y = -x/2; "
                f"allowed a smaller margin or finer rate/ISI grids"
            )
    need = _balanced_counts(n_samples, 2)
    chosen: list[list[np.ndarray]] = [[], []]
    got = np.zeros(2, dtype=np.int64)
    while np.any(got < need):
        batch = max(256, 4 * int((need - got).sum()))
        xy = rng.uniform(-_PLANE, _PLANE, size=(batch, 2))
        ri = _grid_index(xy[:, 0], n_rates)
        ii = _grid_index(xy[:, 1], n_isis)
        ok, lab = _line_side(_plane_coordinate(ri, n_rates), _plane_coordinate(ii, n_isis),
                             margin)
        for c in (0, 1):
            hits = np.flatnonzero(ok & (lab == c))[: need[c] - got[c]]
            chosen[c].append(np.stack([ri[hits], ii[hits]], axis=1))
            got[c] += hits.size
    pairs = np.concatenate([np.concatenate(chosen[0]), np.concatenate(chosen[1])])
    labels = np.repeat(np.arange(2, dtype=np.int64), need)
    order = rng.permutation(n_samples)
    return pairs[order, 0], pairs[order, 1], labels[order]


def _timing_setup(task: str, n_channels: int, seed: object,
                  params: dict[str, Any]) -> dict[str, Any]:
    """Shared checks and plane sampling of the ISI and CCISI tasks (``params``: their
    keyword arguments; the plane's draws and latents take about 256 bytes per sample
    besides the spikes)."""
    n_samples = check_int("n_samples", params["n_samples"], 1)
    dt_ms = _number("dt_ms", params["dt_ms"], positive=True)
    duration_ms = _number("duration_ms", params["duration_ms"], positive=True)
    margin = _number("margin", params["margin"], minimum=0.0)
    seed = _seed(seed)
    steps = _steps(duration_ms, dt_ms)
    if steps < 1:
        raise DatasetError(f"duration_ms = {duration_ms:g} is shorter than one step "
                           f"of dt_ms = {dt_ms:g}; allowed >= dt_ms")
    _check_size(task, n_samples, steps, n_channels, per_sample=256)
    rates = _grid(params, "rate_min_hz", "rate_max_hz", "rate_step_hz")
    isis = _grid(params, "isi_min_ms", "max_isi_ms", "isi_step_ms")
    isi_steps = np.maximum(1, _round_half_up(isis / dt_ms))
    counts = _round_half_up(rates * duration_ms / 1000.0)
    rng = np.random.default_rng(seed)
    ri, ii, labels = _sample_plane(rng, n_samples, rates.size, isis.size, margin)
    return dict(rng=rng, steps=steps, labels=labels, rate_hz=rates[ri], isi_ms=isis[ii],
                isi_steps=isi_steps[ii], counts=counts[ri], max_count=int(counts.max()),
                max_isi_steps=int(isi_steps.max()), seed=seed, dt_ms=dt_ms,
                spikes=np.zeros((n_samples, steps, n_channels), dtype=np.uint8))


def _timing_dataset(task: str, s: dict[str, Any], params: dict[str, Any],
                    counts: str) -> SpikeDataset:
    """The ISI or CCISI data set of :func:`_timing_setup`'s ``s`` (its spikes filled in);
    ``counts``: the latent name of the spike counts."""
    return SpikeDataset(
        spikes=s["spikes"], labels=s["labels"], n_classes=2, dt=s["dt_ms"] / 1000.0, task=task,
        params={**params, "steps": s["steps"]}, seed=s["seed"],
        latents={"rate_hz": s["rate_hz"], "isi_ms": s["isi_ms"], "isi_steps": s["isi_steps"],
                 counts: s["counts"]},
    )


def isi_task(
    *,
    n_samples: int = 4000,
    n_neurons: int = 10,
    duration_ms: float = 1000.0,
    dt_ms: float = 5.0,
    rate_min_hz: float = 1.0,
    rate_max_hz: float = 5.0,
    rate_step_hz: float = 1.0,
    isi_min_ms: float = 5.0,
    max_isi_ms: float = 100.0,
    isi_step_ms: float = 5.0,
    margin: float = 2.5,
    seed: int | None = 0,
) -> SpikeDataset:
    """ISI task: 2 classes by the side of y = -x/2 of a point in [-10, 10]^2.

    Default size: 4,000 samples (the other tasks: 1,000). A 128-128 network learns the
    rate-dependent ISI boundary to about 94.5% (on fresh samples) from the 800 training
    samples of a 1,000-sample set and to about 97.7% from 3,200 (measured with seed 0, no
    delays, 40 epochs); the task itself (grid, margin, rates, ISIs) is the paper's.

    x maps linearly to a pair rate ``f`` on the grid ``rate_min_hz..rate_max_hz`` (step
    ``rate_step_hz``), y to an ISI on ``isi_min_ms..max_isi_ms`` (step ``isi_step_ms``);
    points within ``margin`` of the line are redrawn; label 1 is above the line. Every one
    of the ``n_neurons`` neurons gets ``n = floor(f * duration_ms / 1000 + 0.5)`` spike pairs
    ``(t, t + isi_steps)`` whose closed intervals do not overlap, placed uniformly at random
    in ``0..steps-1`` (independently per neuron). ISIs are quantised to
    ``isi_steps = max(1, floor(isi_ms / dt_ms + 0.5))`` steps.

    Latents per sample: ``rate_hz``, ``isi_ms``, ``isi_steps``, ``n_pairs``.

    Raises:
        DatasetError: a parameter is out of range, or the pairs cannot fit in the sample.
    """
    params = {k: v for k, v in locals().items() if k != "seed"}
    n_neurons = check_int("n_neurons", n_neurons, 1)
    s = _timing_setup("isi", n_neurons, seed, params)
    steps, rng, spikes = s["steps"], s["rng"], s["spikes"]
    if s["max_count"] * (s["max_isi_steps"] + 1) > steps:
        raise DatasetError(
            f"duration_ms = {duration_ms:g} ({steps} steps) cannot hold {s['max_count']} "
            f"non-overlapping pairs of ISI {s['max_isi_steps']} steps; allowed >= "
            f"{s['max_count'] * (s['max_isi_steps'] + 1) * float(dt_ms):g} ms"
        )
    for i, (n, isi) in enumerate(zip(s["counts"].tolist(), s["isi_steps"].tolist(), strict=True)):
        if n == 0:
            continue
        offsets = np.arange(n) * isi
        for c in range(n_neurons):
            # n sorted draws from the first steps - n * isi, the k-th moved on by k * isi: n
            # pairs (t, t + isi) whose closed intervals do not overlap
            starts = np.sort(rng.choice(steps - n * isi, size=n, replace=False)) + offsets
            spikes[i, np.concatenate([starts, starts + isi]), c] = 1
    return _timing_dataset("isi", s, params, "n_pairs")


def ccisi_task(
    *,
    n_samples: int = 1000,
    n_neurons: int = 20,
    duration_ms: float = 1000.0,
    dt_ms: float = 5.0,
    rate_min_hz: float = 1.0,
    rate_max_hz: float = 5.0,
    rate_step_hz: float = 1.0,
    isi_min_ms: float = 5.0,
    max_isi_ms: float = 100.0,
    isi_step_ms: float = 5.0,
    margin: float = 2.5,
    circular: bool = True,
    seed: int | None = 0,
) -> SpikeDataset:
    """Cross-correlated ISI task (polychrony): the class is a lag between partner neurons.

    Same plane sampling and labels as :func:`isi_task`. ``n_neurons`` (even) form
    ``P = n_neurons // 2`` pairs: leader ``k`` (channels ``0..P-1``) spikes at
    ``n = floor(f * duration_ms / 1000 + 0.5)`` distinct steps; its partner, channel
    ``k + P``, spikes at exactly those steps plus ``isi_steps``. Raise ``max_isi_ms`` (e.g.
    200 to 500 ms) for long lags, where the paper found delays help most.

    ``circular=True`` (default): leader steps are drawn uniformly from all ``steps`` and the
    partner's wrap around the end of the sample, ``(t + isi_steps) mod steps``, so every
    neuron on its own spikes uniformly over the sample and only the cross-neuron lag
    carries the ISI. ``circular=False`` draws leader steps from ``0..steps-1-isi_steps``
    (no wrap): then a single neuron's spike times already reveal long ISIs (the leader
    never fires in the last ``isi_steps`` steps, the partner never in the first), which
    networks without delays can exploit.

    Latents per sample: ``rate_hz``, ``isi_ms``, ``isi_steps``, ``n_spikes`` (per neuron).

    Raises:
        DatasetError: a parameter is out of range, or the spikes cannot fit in the sample.
    """
    params = {k: v for k, v in locals().items() if k != "seed"} | {"circular": bool(circular)}
    n_neurons = check_int("n_neurons", n_neurons, 2)
    if n_neurons % 2:
        raise DatasetError(f"n_neurons = {n_neurons} is not allowed; allowed an even number")
    s = _timing_setup("ccisi", n_neurons, seed, params)
    steps, rng, spikes = s["steps"], s["rng"], s["spikes"]
    if s["max_count"] > steps - s["max_isi_steps"]:
        raise DatasetError(
            f"max_isi_ms = {max_isi_ms:g} ({s['max_isi_steps']} steps) leaves fewer than "
            f"{s['max_count']} leader steps in duration_ms = {duration_ms:g} ({steps} steps); "
            f"allowed a longer duration_ms or a shorter max_isi_ms"
        )
    pairs = n_neurons // 2
    for i, (n, isi) in enumerate(zip(s["counts"].tolist(), s["isi_steps"].tolist(), strict=True)):
        if n == 0:
            continue
        for k in range(pairs):
            # without wrap-around the partner's steps stay below ``steps``: the modulo is void
            times = rng.choice(steps if circular else steps - isi, size=n, replace=False)
            spikes[i, times, k] = 1
            spikes[i, (times + isi) % steps, k + pairs] = 1
    return _timing_dataset("ccisi", s, params, "n_spikes")


#: Which two groups share their state in each class (the third is opposite).
COINCIDENCE_PAIRS = ((0, 1), (0, 2), (1, 2))


def coincidence_task(
    *,
    n_samples: int = 1000,
    n_neurons: int = 60,
    n_windows: int = 5,
    window_ms: float = 200.0,
    active_start_ms: float = 50.0,
    active_end_ms: float = 150.0,
    dt_ms: float = 5.0,
    difficulty: float = 0.0,
    on_mean: float = 12.0,
    off_mean: float = 2.0,
    overlap_mean: float = 5.0,
    seed: int | None = 0,
) -> SpikeDataset:
    """Coincidence task: 3 classes by which two of three neuron groups share their state.

    ``n_neurons`` (a multiple of 3) form groups 0, 1, 2 of ``G = n_neurons // 3`` neurons
    (channels ``g*G .. g*G+G-1``). A sample is ``n_windows`` windows of ``window_ms``;
    spikes fall only in steps ``[a, b)`` of each window, ``a = active_start_ms / dt_ms`` and
    ``b = active_end_ms / dt_ms`` (paper: [50, 150) of 200 steps; default: [10, 30) of 40).
    Class 0 (A): groups 0 & 1 share their state; class 1 (B): 0 & 2; class 2 (C): 1 & 2; the
    third group has the opposite state. In every window the shared state is ON with p = 0.5,
    so each group alone is ON half the time in every class. A group's number of active
    neurons is Poisson truncated to ``0..G`` with mean ``(1-l)*on_mean + l*overlap_mean``
    when ON and ``(1-l)*off_mean + l*overlap_mean`` when OFF, ``l = difficulty`` in [0, 1]
    (the overlap of the two count distributions; 1 makes ON and OFF identical). The active
    neurons are a uniform random subset of the group; each spikes once, at a uniform step of
    ``[a, b)``.

    Latents per sample: ``group_on`` (windows, 3) 0/1 and ``active`` (windows, 3) counts.

    Raises:
        DatasetError: a parameter is out of range.
    """
    params = {k: v for k, v in locals().items() if k != "seed"}
    n_samples = check_int("n_samples", n_samples, 1)
    n_neurons = check_int("n_neurons", n_neurons, 3)
    if n_neurons % 3:
        raise DatasetError(f"n_neurons = {n_neurons} is not allowed; allowed a multiple of 3")
    n_windows = check_int("n_windows", n_windows, 1)
    dt_ms = _number("dt_ms", dt_ms, positive=True)
    window = _steps(_number("window_ms", window_ms, positive=True), dt_ms)
    a = _steps(_number("active_start_ms", active_start_ms, minimum=0.0), dt_ms)
    b = _steps(_number("active_end_ms", active_end_ms, positive=True), dt_ms)
    if not 0 <= a < b <= window:
        raise DatasetError(
            f"active window [{active_start_ms:g}, {active_end_ms:g}) ms = steps [{a}, {b}) is "
            f"not allowed; allowed 0 <= start < end <= window_ms ({window} steps)"
        )
    level = _number("difficulty", difficulty, minimum=0.0, maximum=1.0)
    overlap = _number("overlap_mean", overlap_mean, minimum=0.0)
    means = [(1 - level) * _number(name, value, minimum=0.0) + level * overlap
             for name, value in (("off_mean", off_mean), ("on_mean", on_mean))]
    seed = _seed(seed)
    # the random ranks, their argsorts and the spike times: 8 bytes each per window, neuron
    _check_size("coincidence", n_samples, n_windows * window, n_neurons,
                per_sample=40 * n_windows * n_neurons)
    rng = np.random.default_rng(seed)
    group = n_neurons // 3

    labels = np.repeat(np.arange(3, dtype=np.int64), _balanced_counts(n_samples, 3))
    labels = labels[rng.permutation(n_samples)]
    shared = (rng.random((n_samples, n_windows)) < 0.5).astype(np.uint8)
    member = np.array([[g in pair for g in range(3)] for pair in COINCIDENCE_PAIRS])
    on = np.where(member[labels][:, None, :], shared[..., None], 1 - shared[..., None])
    u = rng.random((n_samples, n_windows, 3))
    # each group's active count: its state's truncated Poisson CDF (OFF, ON) inverted at u
    off_count, on_count = (np.searchsorted(_truncated_poisson_cdf(m, group), u, side="right")
                           for m in means)
    active = np.minimum(np.where(on == 1, on_count, off_count), group)
    # a uniform random subset of size `active` per group: the lowest-ranked random keys
    rank = np.argsort(np.argsort(rng.random((n_samples, n_windows, 3, group)), axis=-1),
                      axis=-1)
    times = rng.integers(a, b, size=(n_samples, n_windows, 3, group))
    s_idx, w_idx, g_idx, j_idx = np.nonzero(rank < active[..., None])  # the neurons that fire
    spikes = np.zeros((n_samples, n_windows * window, n_neurons), dtype=np.uint8)
    spikes[s_idx, w_idx * window + times[s_idx, w_idx, g_idx, j_idx], g_idx * group + j_idx] = 1
    return SpikeDataset(
        spikes=spikes, labels=labels, n_classes=3, dt=float(dt_ms) / 1000.0, task="coincidence",
        params={**params, "window_steps": window, "active_steps": [a, b],
                "steps": n_windows * window},
        seed=seed, latents={"group_on": on, "active": active},
    )


#: The three saccades (dy, dx in pixels, relative to the centred digit): a triangle walked
#: from its first corner back to it, as N-MNIST's sensor moved (down-right, left, up-right).
_SACCADE_CORNERS = np.array([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]])


def _render(images: np.ndarray, digit_size: int, size: int, oy: np.ndarray,
            ox: np.ndarray) -> np.ndarray:
    """Intensity frames (n, size, size) in [0, 1]: each 8x8 image (n, 8, 8), scaled to
    ``digit_size`` pixels by bilinear interpolation, with its top-left corner at (oy, ox)
    canvas pixels (sub-pixel offsets allowed; outside the digit the canvas is 0)."""
    n, src = images.shape[0], images.shape[1]
    grid = np.arange(size, dtype=np.float64)
    scale = src / digit_size

    def weights(offset: np.ndarray) -> np.ndarray:
        # (n, size, src) interpolation matrix along one axis (zero outside the image)
        pos = grid[None, :] - offset[:, None]  # canvas pixel relative to the digit: (n, size)
        coord = (pos + 0.5) * scale - 0.5  # its centre's source coordinate
        lo = np.floor(coord).astype(np.int64)
        frac, inside = coord - lo, (pos >= 0) & (pos < digit_size)
        m = np.zeros((n, size, src))
        rows = np.arange(n)[:, None], np.arange(size)[None, :]
        for k, w in ((lo, 1 - frac), (lo + 1, frac)):
            ok = (k >= 0) & (k < src) & inside
            np.add.at(m, (*rows, np.clip(k, 0, src - 1)), np.where(ok, w, 0.0))
        return m

    return np.einsum("nys,nst,nxt->nyx", weights(oy), images, weights(ox))


def saccade_digits_task(
    n_samples: int = 1797,
    steps: int = 30,
    size: int = 34,
    digit_size: int = 28,
    amplitude_px: float = 2.0,
    jitter_px: float = 1.0,
    threshold: float = 0.15,
    dt_ms: float = 10.0,
    seed: int | None = 0,
) -> SpikeDataset:
    """Event-camera frames of scikit-learn's 8x8 digits moved along three saccades.

    Construction (a small offline stand-in for N-MNIST, whose sensor made three saccades
    in front of a still MNIST digit):

    1. ``n_samples`` digits are drawn from the 1797 of ``sklearn.datasets.load_digits``,
       ``n_samples // 10`` per class (the remainder to the lowest classes), each class's
       images in a seeded random order, reused in a new order when a class runs out;
       intensity = pixel / 16 in [0, 1].
    2. Each digit is scaled to ``digit_size`` x ``digit_size`` pixels (bilinear) and
       drawn on a ``size`` x ``size`` canvas, centred plus a seeded offset uniform in
       ``[-jitter_px, jitter_px]`` per axis (per sample).
    3. The digit moves along a triangle of saccades: corners at (dy, dx) = (-a, -a),
       (a, a), (a, -a) with ``a = amplitude_px`` from the start position, walked from the
       first corner through the others back to it at constant speed in ``steps`` steps
       (sub-pixel positions, bilinear). Frame ``t`` (0-based, t = 0..steps) is the
       intensity at position ``t / steps`` of the walk.
    4. A DVS pixel model turns the ``steps + 1`` frames into ``steps`` event frames: each
       pixel keeps a reference intensity (frame 0 at start); at step t (frame t + 1) it
       emits an ON event when the intensity exceeds its reference by more than
       ``threshold``, an OFF event when it is below it by more than ``threshold``, and
       its reference becomes the current intensity where it fired. At most one event per
       pixel and step (binary spikes).

    Channels are flattened in (C, H, W) order, C = 2 (0: ON, 1: OFF): channel
    ``(p * size + y) * size + x``; ``params["frame_shape"]`` is ``[2, size, size]``.
    Time convention: 0-based steps of ``dt_ms`` milliseconds (``dt`` in seconds).
    Latents: ``digit_index`` (row in load_digits) and ``offset_px`` (the jitter, y and x).
    """
    n_samples = check_int("n_samples", n_samples, 1)
    steps = check_int("steps", steps, 3)
    size = check_int("size", size, 8)
    digit_size = check_int("digit_size", digit_size, 8)
    if digit_size > size:
        raise DatasetError(f"digit_size = {digit_size} is out of range; allowed 8..{size} "
                           "(size)")
    amplitude_px = _number("amplitude_px", amplitude_px, minimum=0.0, maximum=size / 2)
    jitter_px = _number("jitter_px", jitter_px, minimum=0.0, maximum=size / 2)
    threshold = _number("threshold", threshold, minimum=0.0, maximum=1.0)
    dt_ms = _number("dt_ms", dt_ms, positive=True)
    seed = _seed(seed)
    channels = 2 * size * size
    _check_size("saccade_digits", n_samples, steps, channels, 24 * size * size)
    # Lazy: scikit-learn is no declared dependency (only these digits need it) and takes
    # ~1.5 s to import.
    from sklearn.datasets import load_digits

    pixels, targets = load_digits(return_X_y=True)
    images = pixels.reshape(-1, 8, 8) / 16.0
    rng = np.random.default_rng(seed)
    picks = []
    for cls, count in enumerate(_balanced_counts(n_samples, 10)):
        pool = np.flatnonzero(targets == cls)
        rounds = -(-int(count) // len(pool))
        picks.append(np.concatenate([rng.permutation(pool) for _ in range(rounds)])[:count])
    index = np.concatenate(picks)[rng.permutation(n_samples)]
    labels = targets[index].astype(np.int64)
    offset = rng.uniform(-jitter_px, jitter_px, size=(n_samples, 2))
    corners = np.vstack([_SACCADE_CORNERS, _SACCADE_CORNERS[:1]]) * amplitude_px
    walk = np.linspace(0.0, 3.0, steps + 1)  # position along the 3 saccades per frame
    seg = np.minimum(walk.astype(np.int64), 2)
    path = corners[seg] + (walk - seg)[:, None] * (corners[seg + 1] - corners[seg])
    start = (size - digit_size) / 2.0
    spikes = np.zeros((n_samples, steps, 2, size, size), dtype=np.uint8)
    for lo in range(0, n_samples, 256):  # in chunks of 256 samples
        sl = slice(lo, lo + 256)
        img = images[index[sl]]
        # frame t: the digit's top-left corner (y, x) at start + jitter + path[t]
        frames = (_render(img, digit_size, size, *(start + offset[sl].T + path[t, :, None]))
                  for t in range(steps + 1))
        ref = next(frames)
        for t, frame in enumerate(frames):
            on, off = frame - ref > threshold, ref - frame > threshold
            spikes[sl, t, 0], spikes[sl, t, 1] = on, off
            ref = np.where(on | off, frame, ref)
    params = dict(n_samples=n_samples, steps=steps, size=size, digit_size=digit_size,
                  amplitude_px=amplitude_px, jitter_px=jitter_px, threshold=threshold,
                  dt_ms=dt_ms, frame_shape=[2, size, size])
    return SpikeDataset(
        spikes=spikes.reshape(n_samples, steps, channels), labels=labels, n_classes=10,
        dt=dt_ms / 1000.0, task="saccade_digits", params=params, seed=seed,
        latents={"digit_index": index.astype(np.int64), "offset_px": offset},
    )


def _truncated_poisson_cdf(mean: float, top: int) -> np.ndarray:
    """CDF over 0..top of a Poisson(mean) conditioned on being <= top."""
    k = np.arange(top + 1)
    if mean == 0:
        pmf = (k == 0).astype(np.float64)
    else:
        log_pmf = k * math.log(mean) - mean - np.array([math.lgamma(i + 1) for i in k])
        pmf = np.exp(log_pmf - log_pmf.max())
    cdf = np.cumsum(pmf) / pmf.sum()
    cdf[-1] = 1.0
    return cdf


TASKS: dict[str, Callable[..., SpikeDataset]] = {
    "isi": isi_task,
    "ccisi": ccisi_task,
    "coincidence": coincidence_task,
    "saccade_digits": saccade_digits_task,
}

_PAPER_TIMING = dict(dt_ms=1.0, duration_ms=10000.0, rate_min_hz=0.1, rate_max_hz=3.0,
                     rate_step_hz=0.1, isi_min_ms=1.0, max_isi_ms=100.0, isi_step_ms=1.0)

#: Named parameter sets per task; ``"default"`` is the functions' own defaults.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "isi": {"default": {}, "paper": dict(_PAPER_TIMING)},
    "ccisi": {"default": {}, "paper": dict(_PAPER_TIMING)},
    "coincidence": {"default": {}, "paper": dict(dt_ms=1.0)},
    "saccade_digits": {"default": {}},
}


def task_parameters(name: str) -> list[str]:
    """The keyword arguments task ``name`` accepts besides ``seed``, sorted."""
    return sorted(p for p in inspect.signature(_task(name)).parameters if p != "seed")


def _task(name: str) -> Callable[..., SpikeDataset]:
    if name not in TASKS:
        raise DatasetError(f"task = {name!r} is unknown; allowed: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def make_task(name: str, seed: int | None = 0, preset: str = "default",
              **overrides: Any) -> SpikeDataset:
    """Generate task ``name`` with preset ``preset`` and keyword ``overrides``.

    ``params["preset"]`` records the preset. Example:
    ``make_task("ccisi", seed=1, max_isi_ms=300)``.

    Raises:
        DatasetError: unknown task, preset or parameter (the message lists the allowed ones).
    """
    task = _task(name)
    if preset not in PRESETS[name]:
        raise DatasetError(
            f"preset = {preset!r} is unknown for task {name!r}; "
            f"allowed: {', '.join(sorted(PRESETS[name]))}"
        )
    allowed = task_parameters(name)
    for key in overrides:
        if key not in allowed:
            raise DatasetError(
                f"parameter {key!r} is unknown for task {name!r}; allowed: {', '.join(allowed)}"
            )
    ds = task(seed=seed, **{**PRESETS[name][preset], **overrides})
    ds.params = {**ds.params, "preset": preset}
    return ds
