"""What a backend returns: spikes (and u, v where it has them) per population and step."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from neurodeploy.chip import LOIHI2
from neurodeploy.errors import InputError
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import read_npz

RECORDABLE = ("spikes", "v", "u")


@dataclass
class Traces:
    """Recorded activity of one run of a network.

    ``spikes[name]`` is a bool array (batch, steps, size); ``v[name]`` and ``u[name]``
    (present only when recorded) are int64 arrays of the same shape for fixed-point
    targets, float64 for float targets (in the same LSB units). Step t is 0-based: an
    input spike at step t reaches a population behind one projection at step t+1+delay.
    ``v`` is recorded after the reset, so it is 0 at a spike step.
    """

    target: str
    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return next(iter(self.spikes.values())).shape[0]

    @property
    def steps(self) -> int:
        return next(iter(self.spikes.values())).shape[1]



def check_record(record: Iterable[str] | str) -> tuple[str, ...]:
    """Validate the ``record`` option: a subset of ('spikes', 'v', 'u')."""
    items = (record,) if isinstance(record, str) else tuple(record)
    for item in items:
        if item not in RECORDABLE:
            raise InputError(f"record: {item!r} cannot be recorded; allowed: "
                             f"{', '.join(RECORDABLE)}")
    return tuple(dict.fromkeys(("spikes", *items)))


def check_populations(net: FixedPointNetwork, populations: Iterable[str] | None) -> tuple[str, ...]:
    """Validate the populations to record (default: all, in network order)."""
    if populations is None:
        return tuple(net.populations)
    names = (populations,) if isinstance(populations, str) else tuple(populations)
    for name in names:
        if name not in net.populations:
            raise InputError(f"populations: {name!r} is not a population of this network; "
                             f"known: {', '.join(net.populations)}")
    return names


def check_spikes(net: FixedPointNetwork, spikes: object) -> np.ndarray:
    """Validate input spikes: (batch, steps, n_inputs), bool or 0/1 integers -> bool array;
    for a network with graded input (``input_max`` > 1) integer counts 0..input_max ->
    int64 array."""
    arr = np.asarray(spikes)
    if arr.ndim != 3:
        hint = " (add a batch axis: spikes[None])" if arr.ndim == 2 else ""
        raise InputError(f"spikes has shape {arr.shape}; expected (batch, steps, "
                         f"n_inputs={net.n_inputs}){hint}")
    if arr.shape[2] != net.n_inputs:
        raise InputError(f"spikes has {arr.shape[2]} input channels (shape {arr.shape}); "
                         f"the network has n_inputs = {net.n_inputs}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"spikes has shape {arr.shape}; batch and steps must be >= 1")
    graded = getattr(net, "input_max", None)  # None: a float network, any chip count
    top = graded or LOIHI2.graded_spike_max
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise InputError(f"spikes has dtype {arr.dtype}; expected bool or 0/1 integers")
        bad = (arr < 0) | (arr > top) | (arr != np.round(arr))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            allowed = "0/1 or bool" if top == 1 else f"integer counts 0..{top} (input_max)"
            raise InputError(f"spikes[{', '.join(map(str, idx))}] = {arr[idx]}; spikes must be "
                             f"{allowed}")
    if graded == 1 or (graded is None and (arr.dtype == bool or arr.max() <= 1)):
        return arr.astype(bool)
    return arr.astype(np.int64)


def traces_to_arrays(traces: Traces) -> dict[str, np.ndarray]:
    """Flatten traces for an ``.npz``: ``spikes/<pop>``, ``v/<pop>``, ``u/<pop>``, ``target``."""
    return {"target": np.array(traces.target),
            **{f"{kind}/{name}": arr for kind in RECORDABLE
               for name, arr in getattr(traces, kind).items()}}


def load_spikes(path: str) -> np.ndarray:
    """Input spikes from an ``.npz`` (array ``spikes``, (batch, steps, n_inputs)) or ``.npy``."""
    arrays = read_npz(path, "input spikes (.npz with array 'spikes', or .npy)", npy=True)
    if "" in arrays:  # .npy
        return arrays[""]
    if "spikes" not in arrays:
        raise InputError(f"{path}: no array named 'spikes' (found: {', '.join(arrays) or 'none'})")
    return arrays["spikes"]
