"""The spike data set every task, transform and loader produces, and its ``.npz`` file.

Time convention: ``spikes[s, t, c]`` is 1 when input channel ``c`` of sample ``s`` spikes in
step ``t``; steps are 0-based and step ``t`` covers ``[t * dt, (t + 1) * dt)`` seconds.

File layout (format ``neurodeploy.spike_dataset``, version 1), written atomically with
:func:`neurodeploy.network_io.atomic_savez` and read with ``allow_pickle=False``:

- ``spikes``: uint8 ``(samples, steps, channels)``, values 0/1;
- ``labels``: int64 ``(samples,)``, values ``0..n_classes-1``;
- ``latent/<name>``: optional per-sample arrays (first axis = samples), e.g. the ISI each
  sample was built from;
- ``__meta__``: a JSON document ``{"format", "version", "n_classes", "dt", "task",
  "params", "seed", "latents"}`` (keys sorted).

Entries are written in this fixed order and numpy's zip writer stamps every entry with the
fixed date 1980-01-01, so the same data set always gives the same bytes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neurodeploy.errors import DatasetError
from neurodeploy.network_io import atomic_savez, npz_shapes, read_meta, read_npz

FORMAT = "neurodeploy.spike_dataset"
VERSION = 1

__all__ = ["FORMAT", "VERSION", "SpikeDataset", "describe", "load_dataset", "save_dataset",
           "split", "subset", "with_transform"]


@dataclass
class SpikeDataset:
    """Binary spike trains with one class label per sample.

    Attributes:
        spikes: uint8 ``(samples, steps, channels)``, 0/1; step ``t`` (0-based) covers
            ``[t * dt, (t + 1) * dt)`` seconds. Bool or integer 0/1 arrays are converted.
        labels: int64 ``(samples,)`` in ``0..n_classes-1``.
        n_classes: number of classes (>= 1).
        dt: seconds per step (> 0).
        task: name of the generator or source (``"isi"``, ``"shd"``...).
        params: JSON-able description of how the data were made; transforms append to
            ``params["transforms"]``.
        seed: the seed the data were generated with, or None.
        latents: optional per-sample arrays (first axis = samples) the generator drew, e.g.
            ``isi_steps``; they travel through ``subset``/``split`` and the file.
    """

    spikes: np.ndarray
    labels: np.ndarray
    n_classes: int
    dt: float
    task: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    latents: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spikes = _check_spikes(self.spikes)
        n_samples = self.spikes.shape[0]
        self.n_classes = check_int("n_classes", self.n_classes, minimum=1)
        self.labels = _check_labels(self.labels, n_samples, self.n_classes)
        self.dt = _check_dt(self.dt)
        if not isinstance(self.task, str) or not self.task:
            raise DatasetError(f"task = {self.task!r} is not allowed; expected a non-empty string")
        if not isinstance(self.params, dict):
            raise DatasetError(f"params has type {type(self.params).__name__}; expected a dict")
        try:  # canonical JSON form, so a saved and loaded data set compares equal
            self.params = json.loads(json.dumps(self.params, sort_keys=True, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"params is not JSON-able ({exc}); allowed: JSON values") from None
        if self.seed is not None:
            self.seed = check_int("seed", self.seed)
        self.latents = _check_latents(self.latents, n_samples)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.spikes.shape[0])

    @property
    def n_steps(self) -> int:
        """Steps per sample."""
        return int(self.spikes.shape[1])

    @property
    def n_channels(self) -> int:
        """Input channels (neurons)."""
        return int(self.spikes.shape[2])

    @property
    def duration_s(self) -> float:
        """Duration of one sample in seconds (``steps * dt``)."""
        return self.n_steps * self.dt


def is_integer(value: object) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int, float or numpy number, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as an int, else a :class:`DatasetError` ("is not an integer" or "is out of
    range; allowed >= ``minimum``")."""
    if not is_integer(value):
        raise DatasetError(f"{name} = {value!r} is not an integer")
    if minimum is not None and value < minimum:
        raise DatasetError(f"{name} = {value} is out of range; allowed >= {minimum}")
    return int(value)


def require_int(name: str, value: object, minimum: int, error: type[Exception] = DatasetError,
                also: str = "") -> int:
    """``value`` as an int, else ``error``: "<name> = <value> is not allowed; allowed an
    integer >= <minimum><also>"."""
    if not is_integer(value) or value < minimum:
        raise error(f"{name} = {value!r} is not allowed; allowed an integer >= {minimum}{also}")
    return int(value)


def _check_dt(dt: object) -> float:
    if not is_number(dt):
        raise DatasetError(f"dt = {dt!r} is not a number; allowed a float > 0 (seconds)")
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0:
        raise DatasetError(f"dt = {dt} is out of range; allowed a finite float > 0 (seconds)")
    return dt


def _check_spikes(spikes: object) -> np.ndarray:
    if not isinstance(spikes, np.ndarray):
        raise DatasetError(f"spikes has type {type(spikes).__name__}; expected a numpy array")
    if spikes.ndim != 3:
        raise DatasetError(
            f"spikes has shape {spikes.shape}; expected 3 axes (samples, steps, channels)"
        )
    if spikes.shape[1] < 1 or spikes.shape[2] < 1:
        raise DatasetError(
            f"spikes has shape {spikes.shape}; steps and channels must be >= 1"
        )
    if spikes.dtype != np.bool_ and not np.issubdtype(spikes.dtype, np.integer):
        raise DatasetError(
            f"spikes has dtype {spikes.dtype}; allowed uint8 0/1 (bool or integer 0/1 converted)"
        )
    if spikes.dtype != np.bool_ and spikes.size and (spikes.min() < 0 or spikes.max() > 1):
        index = tuple(np.argwhere((spikes != 0) & (spikes != 1))[0])  # the first bad value
        where = ", ".join(str(int(i)) for i in index)
        raise DatasetError(f"spikes[{where}] = {spikes[index]} is not allowed; allowed 0 or 1")
    return np.ascontiguousarray(spikes, dtype=np.uint8)


def _check_labels(labels: object, n_samples: int, n_classes: int) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise DatasetError(f"labels has type {type(labels).__name__}; expected a numpy array")
    if labels.shape != (n_samples,):
        raise DatasetError(
            f"labels has shape {labels.shape}; expected ({n_samples},), one per sample"
        )
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"labels has dtype {labels.dtype}; allowed integers")
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise DatasetError(
            f"labels[{i}] = {labels[i]} is out of range; allowed 0..{n_classes - 1}"
        )
    return np.ascontiguousarray(labels, dtype=np.int64)


def _check_latents(latents: object, n_samples: int) -> dict[str, np.ndarray]:
    if not isinstance(latents, dict):
        raise DatasetError(f"latents has type {type(latents).__name__}; expected a dict")
    for name, value in latents.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise DatasetError(f"latents key {name!r} is not allowed; use a name without '/'")
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise DatasetError(f"latents[{name!r}] must be a numeric numpy array")
        if value.ndim < 1 or value.shape[0] != n_samples:
            raise DatasetError(
                f"latents[{name!r}] has shape {value.shape}; expected first axis {n_samples}"
            )
    return dict(latents)


def with_transform(ds: SpikeDataset, entry: dict[str, Any], **changes: Any) -> SpikeDataset:
    """A new data set like ``ds`` with ``changes`` applied and ``entry`` appended to
    ``params["transforms"]`` (the record of what was done to the data)."""
    params = {**ds.params, "transforms": [*ds.params.get("transforms", []), entry]}
    return replace(ds, **{"params": params, **changes})


def subset(ds: SpikeDataset, indices: np.ndarray, entry: dict[str, Any] | None = None
           ) -> SpikeDataset:
    """The samples ``indices`` (in that order) of ``ds``, latents included.

    ``entry``, when given, is appended to ``params["transforms"]``.
    """
    indices = np.asarray(indices, dtype=np.int64)
    changes = dict(spikes=ds.spikes[indices], labels=ds.labels[indices],
                   latents={k: v[indices] for k, v in ds.latents.items()})
    if entry is None:  # its own params record, as with_transform gives
        return replace(ds, params=dict(ds.params), **changes)
    return with_transform(ds, entry, **changes)


def split(
    ds: SpikeDataset,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int | None = 0,
) -> tuple[SpikeDataset, SpikeDataset, SpikeDataset]:
    """Stratified split into (train, val, test).

    Each class is shuffled with ``np.random.default_rng(seed)`` and cut by ``fractions``
    (largest-remainder rounding per class, so each class is split as evenly as integers
    allow). Within each part samples keep their original order. Every part records
    ``{"name": "split", "part", "fractions", "seed"}`` in ``params["transforms"]``.
    """
    fr = _check_fractions(fractions)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in range(ds.n_classes):
        members = np.flatnonzero(ds.labels == label)
        members = members[rng.permutation(members.size)]
        cuts = np.cumsum(_largest_remainder(members.size, fr))[:-1]
        for part, chunk in zip(parts, np.split(members, cuts), strict=True):
            part.append(chunk)
    train, val, test = (subset(ds, np.sort(np.concatenate(chunks)),
                               {"name": "split", "part": name, "fractions": list(fr), "seed": seed})
                        for name, chunks in zip(("train", "val", "test"), parts, strict=True))
    return train, val, test


def _check_fractions(fractions: object) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in fractions)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DatasetError(
            f"fractions = {fractions!r} is not allowed; expected 3 numbers summing to 1"
        ) from None
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr) \
            or abs(sum(fr) - 1.0) > 1e-6:
        raise DatasetError(
            f"fractions = {fractions!r} is not allowed; expected 3 numbers >= 0 summing to 1"
        )
    return fr[0], fr[1], fr[2]


def _largest_remainder(total: int, fractions: tuple[float, ...]) -> list[int]:
    exact = [total * f for f in fractions]
    counts = [math.floor(e) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def describe(ds: SpikeDataset) -> dict[str, Any]:
    """Summary for ``neurodeploy data info``: plain JSON-able numbers.

    Keys: samples, steps, channels, classes, label_counts (per class), mean_spikes_per_sample,
    rate_hz (mean spikes per channel per second), duration_s (per sample), dt_s, task,
    params, seed, latents (names).
    """
    total = int(ds.spikes.sum(dtype=np.int64))
    n = ds.n_samples
    denom = n * ds.n_channels * ds.duration_s
    return {
        "samples": n,
        "steps": ds.n_steps,
        "channels": ds.n_channels,
        "classes": ds.n_classes,
        "label_counts": [int(c) for c in np.bincount(ds.labels, minlength=ds.n_classes)],
        "mean_spikes_per_sample": total / n if n else 0.0,
        "rate_hz": total / denom if denom else 0.0,
        "duration_s": ds.duration_s,
        "dt_s": ds.dt,
        "task": ds.task,
        "params": ds.params,
        "seed": ds.seed,
        "latents": sorted(ds.latents),
    }


def save_dataset(ds: SpikeDataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` to ``path`` (``.npz``) atomically; same data set, same bytes."""
    meta = {
        "format": FORMAT, "version": VERSION, "n_classes": ds.n_classes, "dt": ds.dt,
        "task": ds.task, "params": ds.params, "seed": ds.seed, "latents": sorted(ds.latents),
    }
    return atomic_savez(path, {"spikes": ds.spikes, "labels": ds.labels,
                               **{f"latent/{n}": ds.latents[n] for n in sorted(ds.latents)},
                               "__meta__": np.array(json.dumps(meta, sort_keys=True))})


def _check_declared(path: str | os.PathLike[str], meta: dict[str, Any],
                    spikes: tuple[int, ...], labels: tuple[int, ...]) -> None:
    """Refuse, from the array headers and before reading the arrays, a file whose arrays
    contradict each other or its ``__meta__`` (``params["steps"]``, which every generator
    and loader records)."""
    if len(spikes) == 3 and labels != spikes[:1]:
        raise DatasetError(f"{path}: spikes has {spikes[0]} samples but labels has shape "
                           f"{labels}; expected ({spikes[0]},), one label per sample")
    params = meta.get("params")
    steps = params.get("steps") if isinstance(params, dict) else None
    if len(spikes) == 3 and isinstance(steps, int) and spikes[1] != steps:
        raise DatasetError(f"{path}: spikes has {spikes[1]} steps but __meta__ says "
                           f"params.steps = {steps}; the file is inconsistent (not read)")


def load_dataset(path: str | os.PathLike[str]) -> SpikeDataset:
    """Read a file written by :func:`save_dataset`, validating everything (no pickles).

    Raises:
        DatasetError: one line naming the file and the problem (missing file, not a data
            set file, wrong shapes, labels out of range, non-0/1 spikes...).
    """
    what = "a spike data set (.npz written by neurodeploy data make)"
    shapes = npz_shapes(path, what, DatasetError)  # the headers only: nothing read yet
    meta = read_meta(read_npz(path, what, DatasetError, keys=("__meta__",)), FORMAT, VERSION,
                     str(path), "spike data set", DatasetError)
    for key in ("spikes", "labels"):
        if key not in shapes:
            raise DatasetError(f"{path}: missing array {key!r}; a data set has spikes, labels")
    _check_declared(path, meta, shapes["spikes"][0], shapes["labels"][0])
    arrays = read_npz(path, what, DatasetError)
    missing_meta = [k for k in ("n_classes", "dt", "task", "params", "seed") if k not in meta]
    if missing_meta:
        raise DatasetError(f"{path}: __meta__ lacks {', '.join(missing_meta)}")
    latents = {}
    for name in meta.get("latents", []):
        if f"latent/{name}" not in arrays:
            raise DatasetError(f"{path}: missing array 'latent/{name}' listed in __meta__")
        latents[name] = arrays[f"latent/{name}"]
    return dataset_of(path, spikes=arrays["spikes"], labels=arrays["labels"],
                      n_classes=meta["n_classes"], dt=meta["dt"], task=meta["task"],
                      params=meta["params"], seed=meta["seed"], latents=latents)


def dataset_of(source: str | os.PathLike[str], **fields: Any) -> SpikeDataset:
    """``SpikeDataset(**fields)``, its :class:`DatasetError` prefixed with ``source``."""
    try:
        return SpikeDataset(**fields)
    except DatasetError as exc:
        raise DatasetError(f"{source}: {exc}") from None
