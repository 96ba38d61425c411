"""Read the Spiking Heidelberg Digits (SHD) or Spiking Speech Commands (SSC) HDF5 files.

The files (Cramer et al. 2020) hold ``spikes/times`` (one float array per sample, seconds),
``spikes/units`` (one integer array per sample, the channel of each spike) and ``labels``.
They are binned to a fixed number of steps; nothing is downloaded.

Binning (0-based steps): ``dt = max_time_s / steps``; a spike at ``t`` seconds goes to step
``floor(t * steps / max_time_s + 1e-9)`` (the 1e-9 keeps times on a bin edge on it despite
rounding), and a spike at exactly ``max_time_s`` to the last step, so step ``k`` covers
``[k dt, (k + 1) dt)`` and the last step also its right edge. Spikes after ``max_time_s``
are dropped; several spikes of one channel in one step count as one. Both numbers are
recorded in ``params`` (``late_spikes``, ``merged_spikes``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import numpy as np

from neurodeploy.errors import DatasetError
from neurodeploy.network_io import check_memory

from .format import SpikeDataset, dataset_of, require_int

__all__ = ["load_shd"]

_REQUIRED = ("spikes/times", "spikes/units", "labels")


def load_shd(
    path: str | os.PathLike[str],
    steps: int,
    max_time_s: float | None = None,
    channels: int | None = None,
    n_classes: int | None = None,
    task: str = "shd",
) -> SpikeDataset:
    """Load an SHD/SSC-format HDF5 file binned into ``steps`` steps.

    Args:
        path: the ``.h5`` file.
        steps: number of time steps per sample (>= 1).
        max_time_s: end of the binned span in seconds; None uses the latest spike in the
            file. ``dt = max_time_s / steps`` seconds.
        channels: number of input channels (SHD and SSC: 700); None uses the largest unit
            + 1. A unit >= ``channels`` is an error.
        n_classes: None uses the largest label + 1 (SHD: 20 when all digits are present).
        task: the data set's task name (``"shd"``, ``"ssc"``).

    Raises:
        DatasetError: missing or unreadable file, missing datasets, ragged lengths that do
            not match, units or labels out of range.
    """
    steps = require_int("steps", steps, 1)
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as h5:
            missing = [name for name in _REQUIRED if name not in h5]
            if missing:
                raise DatasetError(
                    f"{path}: missing dataset {', '.join(repr(m) for m in missing)}; an SHD/SSC "
                    f"file has {', '.join(_REQUIRED)}"
                )
            times = list(h5["spikes/times"][()])
            units = list(h5["spikes/units"][()])
            labels = np.asarray(h5["labels"][()])
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read as HDF5 ({exc})") from None

    n = len(labels)
    if labels.ndim != 1 or len(times) != n or len(units) != n:
        raise DatasetError(
            f"{path}: spikes/times has {len(times)} samples, spikes/units {len(units)}, labels "
            f"shape {labels.shape}; expected the same number of samples in each"
        )
    if not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
        raise DatasetError(f"{path}: labels must be integers >= 0")
    times = [np.asarray(t, dtype=np.float64).reshape(-1) for t in times]
    units = [np.asarray(u).reshape(-1) for u in units]
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        if t.shape != u.shape:
            raise DatasetError(f"{path}: sample {i} has {t.size} times but {u.size} units; "
                               "expected one unit per spike time")
        if u.size and (not np.issubdtype(u.dtype, np.integer) or u.min() < 0):
            raise DatasetError(f"{path}: spikes/units[{i}] must be integers >= 0")
        if t.size and (not np.all(np.isfinite(t)) or t.min() < 0):
            raise DatasetError(f"{path}: spikes/times[{i}] must be finite and >= 0 seconds")

    if max_time_s is None:
        max_time_s = max((float(t.max()) for t in times if t.size), default=0.0)
        if max_time_s <= 0:
            raise DatasetError(f"{path}: no spike after 0 s; pass max_time_s > 0")
    elif isinstance(max_time_s, bool) or not isinstance(max_time_s, (int, float)) \
            or not math.isfinite(max_time_s) or max_time_s <= 0:
        raise DatasetError(f"max_time_s = {max_time_s!r} is not allowed; allowed seconds > 0")
    top_unit = max((int(u.max()) for u in units if u.size), default=-1)
    channels = max(top_unit + 1, 1) if channels is None else require_int("channels", channels, 1)
    if top_unit >= channels:
        raise DatasetError(
            f"{path}: unit {top_unit} is out of range for channels = {channels}; "
            f"allowed 0..{channels - 1}"
        )
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if n else 1

    check_memory(n * steps * channels, f"{path}: {n} samples x {steps} steps x {channels} "
                 "channels", DatasetError)
    spikes = np.zeros((n, steps, channels), dtype=np.uint8)
    late = merged = 0
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        inside = t <= max_time_s
        late += int(t.size - inside.sum())
        step = np.minimum(np.floor(t[inside] * steps / max_time_s + 1e-9).astype(np.int64),
                          steps - 1)
        spikes[i, step, u[inside].astype(np.int64)] = 1
        merged += int(inside.sum()) - int(spikes[i].sum(dtype=np.int64))
    params = {"source": path.name, "steps": steps, "max_time_s": float(max_time_s),
              "channels": channels, "late_spikes": late, "merged_spikes": merged}
    return dataset_of(path, spikes=spikes, labels=labels.astype(np.int64), n_classes=n_classes,
                      dt=float(max_time_s) / steps, task=task, params=params, seed=None)
