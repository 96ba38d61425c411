"""Class decisions from recorded traces: the same readout for every backend.

``count``: logits = output spike counts over the sample. ``mean_v``: logits = mean of the
output population's v over all steps. ``max_v``: maximum of v from step ``hops`` (the
first step any input can reach the output: one step per projection). These match
:class:`neurodeploy.models.network.SpikingNetwork`'s readouts, so a float model and its
fixed-point deployment are scored the same way (v in each backend's own units: the
decision is scale-free).
"""

from __future__ import annotations

import numpy as np

from neurodeploy.errors import InputError

READOUTS = ("count", "mean_v", "max_v")


def readout_logits(
    spikes: np.ndarray | None, v: np.ndarray | None, readout: str, hops: int = 0
) -> np.ndarray:
    """Logits (batch, n_out) from output spikes or v, each (batch, steps, n_out)."""
    if readout == "count":
        if spikes is None:
            raise InputError("readout 'count' needs the output spikes")
        return spikes.sum(axis=1, dtype=np.int64)
    if v is None:
        raise InputError(f"readout {readout!r} needs the output population's v (record v)")
    if readout == "mean_v":
        return v.mean(axis=1)
    if readout == "max_v":
        return v[:, min(hops, v.shape[1] - 1):].max(axis=1)
    raise InputError(f"readout = {readout!r} is unknown; allowed: {', '.join(READOUTS)}")


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose largest logit is the label (ties: the first index)."""
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())
