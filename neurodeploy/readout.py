"""Class decisions from recorded traces: the same readout for every backend.

``count``: logits = output spike counts over the sample. ``mean_v``: logits = mean of the
output population's v over all steps. ``max_v``: maximum of v from step ``hops`` (the
first step any input can reach the output: one step per projection). These match
:class:`neurodeploy.models.network.SpikingNetwork`'s readouts, so a float model and its
fixed-point deployment are scored the same way (v in each backend's own units: the
decision is scale-free). ``first_spike`` (time-to-first-spike networks,
``neurodeploy.models.exact``): logits = minus each output neuron's first spike step,
``-inf`` for a neuron that never spikes, so the earliest neuron wins and ties go to the
lowest index; a sample with no output spike at all is always wrong (:func:`accuracy`).
"""

from __future__ import annotations

import numpy as np

from neurodeploy.errors import InputError

READOUTS = ("count", "mean_v", "max_v")
#: Readouts that decide from the output population's v, not its spikes.
V_READOUTS = ("mean_v", "max_v")
#: Every readout :func:`readout_logits` knows (``first_spike`` is for exact-timing models;
#: surrogate-gradient training offers :data:`READOUTS`).
DECISION_READOUTS = (*READOUTS, "first_spike")


def readout_logits(
    spikes: np.ndarray | None, v: np.ndarray | None, readout: str, hops: int = 0
) -> np.ndarray:
    """Logits (batch, n_out) from output spikes or v, each (batch, steps, n_out)."""
    if readout in ("count", "first_spike"):
        if spikes is None:
            raise InputError(f"readout {readout!r} needs the output spikes")
        if readout == "count":
            return spikes.sum(axis=1, dtype=np.int64)
        spikes = np.asarray(spikes, dtype=bool)
        first = np.argmax(spikes, axis=1).astype(np.float64)
        return np.where(spikes.any(axis=1), -first, -np.inf)
    if v is None:
        raise InputError(f"readout {readout!r} needs the output population's v (record v)")
    if readout == "mean_v":
        return v.mean(axis=1)
    if readout == "max_v":
        return v[:, min(hops, v.shape[1] - 1):].max(axis=1)
    raise InputError(f"readout = {readout!r} is unknown; allowed: "
                     f"{', '.join(DECISION_READOUTS)}")


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose largest logit is the label (ties: the first index); a sample
    whose logits are all ``-inf`` (no output spike under ``first_spike``) is wrong."""
    logits = np.asarray(logits)
    right = (logits.argmax(axis=1) == np.asarray(labels)) & (logits.max(axis=1) > -np.inf)
    return float(right.mean())
