"""Transforms that remove or perturb one kind of information in a spike data set.

After Yu et al. (2025): timing perturbation (keeps counts, moves spikes), time reversal
(keeps ISIs and coincidences, reverses order), rate removal ("Norm": every kept neuron
fires the same number of spikes in every sample) and noise (background spikes, jitter).

Every transform is a pure function: it returns a new :class:`SpikeDataset` (the input is
not modified) whose ``params["transforms"]`` ends with an entry naming the transform, its
arguments and what it changed. Random choices use ``np.random.default_rng(seed)``; same
input and seed, same output. Time convention: 0-based steps of ``ds.dt`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from neurodeploy.errors import DatasetError

from .format import SpikeDataset, is_number, require_int, with_transform

__all__ = ["add_noise", "perturb_timing", "remove_rate", "reverse_time"]

_CHUNK_ELEMENTS = 1 << 22  # samples are processed in chunks of about this many bins


def _chunks(spikes: np.ndarray) -> Iterator[slice]:
    """Slices of about ``_CHUNK_ELEMENTS`` bins over the samples of ``spikes``."""
    size = max(1, _CHUNK_ELEMENTS // max(1, spikes.shape[1] * spikes.shape[2]))
    for start in range(0, len(spikes), size):
        yield slice(start, min(start + size, len(spikes)))


def _pick(mask: np.ndarray, quota: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row of ``mask`` (rows, steps), a uniformly random subset of ``quota[row]`` of
    its True bins (``quota[row]`` must not exceed the row's True count). Rows with a zero
    quota draw no random numbers."""
    picked = np.zeros(mask.shape, dtype=bool)
    rows = np.flatnonzero(quota > 0)
    sub = mask[rows]
    keys = rng.random(sub.shape, dtype=np.float32)  # none drawn when no row has a quota
    keys[~sub] = 2.0  # False bins sort after every True bin
    order = np.argsort(keys, axis=1, kind="stable")
    rank = np.empty(sub.shape, dtype=np.int64)
    np.put_along_axis(rank, order, np.arange(sub.shape[1])[None, :], axis=1)
    picked[rows] = sub & (rank < quota[rows, None])
    return picked


def _rows(spikes: np.ndarray) -> np.ndarray:
    """(samples, steps, channels) -> bool (samples * channels, steps), one row per train."""
    return spikes.transpose(0, 2, 1).reshape(-1, spikes.shape[1]).astype(bool)


def _unrows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_rows`, as uint8."""
    return rows.reshape(shape[0], shape[2], shape[1]).transpose(0, 2, 1).astype(np.uint8)


def _seed(seed: object) -> int | None:
    return None if seed is None else require_int("seed", seed, 0, also=" or None")


def _fraction(name: str, value: object) -> float:
    if not is_number(value) or not 0.0 <= float(value) <= 1.0:
        raise DatasetError(f"{name} = {value!r} is out of range; allowed 0..1")
    return float(value)


def perturb_timing(ds: SpikeDataset, f: float, seed: int | None = 0) -> SpikeDataset:
    """Move a fraction ``f`` of each neuron's spikes to random empty bins of that neuron.

    Per sample and channel with ``n`` spikes, ``m = floor(f * n + 0.5)`` spikes chosen
    uniformly are moved to ``m`` bins chosen uniformly among the ``steps - n`` bins that
    were empty (``m`` is capped at ``steps - n``). Spike counts per (sample, channel) are
    preserved exactly.
    """
    f = _fraction("f", f)
    seed = _seed(seed)
    rng = np.random.default_rng(seed)
    out = np.empty_like(ds.spikes)
    moved = 0
    for part in _chunks(ds.spikes):
        trains = _rows(ds.spikes[part])
        count = trains.sum(axis=1)
        m = np.minimum(np.floor(f * count + 0.5).astype(np.int64), ds.n_steps - count)
        leave = _pick(trains, m, rng)
        arrive = _pick(~trains, m, rng)
        out[part] = _unrows((trains & ~leave) | arrive, ds.spikes[part].shape)
        moved += int(m.sum())
    entry = {"name": "perturb_timing", "f": f, "seed": seed, "moved_spikes": moved}
    return with_transform(ds, entry, spikes=out)


def reverse_time(ds: SpikeDataset) -> SpikeDataset:
    """Reverse every channel's train within each sample's active window.

    The window of a sample is ``[first, last]``: the first and last steps holding a spike
    on any channel. Step ``t`` in the window goes to ``first + last - t``; steps outside it
    and samples without spikes are unchanged. The reversed sample has the same window, so
    applying the transform twice gives back the input exactly.
    """
    active = ds.spikes.any(axis=2)  # (samples, steps)
    has_spikes = active.any(axis=1)
    steps = np.arange(ds.n_steps)
    first = np.where(has_spikes, active.argmax(axis=1), 0)
    last = np.where(has_spikes, ds.n_steps - 1 - active[:, ::-1].argmax(axis=1), -1)
    inside = (steps[None, :] >= first[:, None]) & (steps[None, :] <= last[:, None])
    source = np.where(inside, first[:, None] + last[:, None] - steps[None, :], steps[None, :])
    out = np.take_along_axis(ds.spikes, source[:, :, None], axis=1)
    return with_transform(ds, {"name": "reverse_time"}, spikes=out)


def remove_rate(
    ds: SpikeDataset,
    seed: int | None = 0,
    min_count: int | None = None,
    max_dropped_fraction: float = 0.05,
) -> SpikeDataset:
    """Remove rate information ("Norm" of Yu et al.): equal counts per neuron, balanced classes.

    1. Optional (``min_count``): for each channel, the samples in which it has fewer than
       ``min_count`` spikes are dropped when they are rare, i.e. at most
       ``max_dropped_fraction`` of the samples (channels for which such samples are common
       are left to step 3). This stops a few samples from forcing a channel's count down.
    2. For each channel ``c``, ``N_c = min over remaining samples of its spike count``; in
       every sample, a uniformly random subset of exactly ``N_c`` of its spikes is kept.
    3. Channels with ``N_c = 0`` (silent in some sample) are dropped.
    4. Classes are balanced by keeping, for each class present, a random subset of the
       size of the smallest class (original sample order is kept).

    Afterwards every kept channel has the same count in every sample. The transform entry
    records ``kept_channels`` (original indices), ``spikes_per_channel`` (``N_c``),
    ``dropped_samples`` and ``samples_per_class``.

    Raises:
        DatasetError: no sample or no channel would remain.
    """
    seed = _seed(seed)
    if min_count is not None:
        require_int("min_count", min_count, 0)
    max_dropped_fraction = _fraction("max_dropped_fraction", max_dropped_fraction)
    rng = np.random.default_rng(seed)
    counts = ds.spikes.sum(axis=1, dtype=np.int64)  # (samples, channels)
    keep_sample = np.ones(ds.n_samples, dtype=bool)
    if min_count is not None:
        low = counts < min_count
        n_low = low.sum(axis=0)
        rare = (n_low > 0) & (n_low <= math.floor(max_dropped_fraction * ds.n_samples))
        keep_sample &= ~low[:, rare].any(axis=1)
    samples = np.flatnonzero(keep_sample)
    if samples.size == 0:
        raise DatasetError(f"min_count = {min_count} drops every sample; allowed a lower value")
    n_f = counts[samples].min(axis=0)
    channels = np.flatnonzero(n_f > 0)
    if channels.size == 0:
        raise DatasetError(
            "remove_rate: every channel is silent in some sample; nothing would remain "
            "(try min_count to drop rare low-count samples)"
        )
    present = [c for c in range(ds.n_classes) if np.any(ds.labels[samples] == c)]
    per_class = min(int(np.sum(ds.labels[samples] == c)) for c in present)
    chosen = [np.sort(rng.choice(samples[ds.labels[samples] == c], per_class, replace=False))
              for c in present]
    samples = np.sort(np.concatenate(chosen))

    picked = ds.spikes[samples][:, :, channels]
    out = np.empty(picked.shape, dtype=np.uint8)
    for part in _chunks(picked):
        quota = np.tile(n_f[channels], len(picked[part]))  # row order of _rows: sample, channel
        out[part] = _unrows(_pick(_rows(picked[part]), quota, rng), picked[part].shape)
    entry = {
        "name": "remove_rate", "seed": seed, "min_count": None if min_count is None
        else int(min_count), "max_dropped_fraction": max_dropped_fraction,
        "dropped_samples": int(ds.n_samples - keep_sample.sum()),
        "samples_per_class": per_class, "kept_channels": [int(c) for c in channels],
        "spikes_per_channel": [int(n) for n in n_f[channels]],
    }
    return with_transform(
        ds, entry, spikes=out, labels=ds.labels[samples],
        latents={k: v[samples] for k, v in ds.latents.items()},
    )


def add_noise(
    ds: SpikeDataset,
    poisson_rate: float = 0.0,
    jitter_steps: int = 0,
    seed: int | None = 0,
) -> SpikeDataset:
    """Jitter every spike, then add background spikes.

    Jitter: each spike moves by an integer drawn uniformly from ``[-jitter_steps,
    jitter_steps]``, clipped to the sample's steps ``0..steps-1``; spikes landing in the same
    bin merge (spikes are 0/1). Background: every bin of every channel gets a spike with
    probability ``poisson_rate`` per step (a Bernoulli approximation of a Poisson process of
    ``poisson_rate / dt`` Hz). The entry records ``merged_spikes`` and ``added_spikes``.
    """
    poisson_rate = _fraction("poisson_rate", poisson_rate)
    require_int("jitter_steps", jitter_steps, 0)
    seed = _seed(seed)
    rng = np.random.default_rng(seed)
    out = ds.spikes.copy()
    before = int(ds.spikes.sum(dtype=np.int64))
    if jitter_steps > 0:
        s, t, c = np.nonzero(ds.spikes)
        t = np.clip(t + rng.integers(-jitter_steps, jitter_steps + 1, size=t.size),
                    0, ds.n_steps - 1)
        out = np.zeros_like(ds.spikes)
        out[s, t, c] = 1
    after_jitter = int(out.sum(dtype=np.int64))
    if poisson_rate > 0:
        for part in _chunks(ds.spikes):
            out[part] |= (rng.random(out[part].shape) < poisson_rate).astype(np.uint8)
    entry = {
        "name": "add_noise", "poisson_rate": poisson_rate, "jitter_steps": int(jitter_steps),
        "seed": seed, "merged_spikes": before - after_jitter,
        "added_spikes": int(out.sum(dtype=np.int64)) - after_jitter,
    }
    return with_transform(ds, entry, spikes=out)
