"""Recorded traces on disk: written by ``neurodeploy run``, read back as a backend.

Three layouts are read (all arrays (samples, steps, neurons), steps 0-based):

- NIR data (``.nir``, ``nir.write_data``): a ``NIRGraphData`` with one node per
  population, observables ``spikes`` (0/1) and optionally ``v`` and ``u``, each a
  ``TimeGriddedData`` (samples, steps, neurons) with its ``dt``. This is what
  ``neurodeploy run --out traces.nir`` writes.
- NPZ (``.npz``): arrays ``spikes/<population>`` and optionally ``v/<population>``,
  ``u/<population>`` (what ``neurodeploy run --out traces.npz`` writes).
- CSV (``.csv``): one sample of a one-neuron output population, one row per step, three
  columns: input spike, membrane voltage v, output spike (the NIR paper's layout, used
  by the Loihi 2 recordings in ``neurodeploy/data/nir_paper_single_lif``).

Voltage units: integer-valued v is taken to be in LSB units (comparable with the
fixed-point backends); any other v gets units of its own (``float:<name>``) and is only
compared with backends of the same units.
"""

from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np

from neurodeploy.errors import InputError
from neurodeploy.network_io import READ_ERRORS, atomic_output, check_input_file, read_npz
from neurodeploy.traces import RECORDABLE, Traces
from neurodeploy.verify.metrics import as_spikes


class RecordedTraces(Traces):
    """A trace file as a backend: spikes (bool) and v/u (float64) per population;
    ``target`` is the trace's name."""

    @property
    def units(self) -> str:
        if self.v and all(np.all(a == np.round(a)) for a in self.v.values()):
            return "lsb"
        return f"float:{self.target}" if self.v else "none"


def write_traces_nir(traces: Traces, path: str | os.PathLike[str], dt: float = 1.0) -> None:
    """Write traces as NIR data (one node per population; observables spikes, v, u)."""
    nodes = {}
    for pop, spikes in traces.spikes.items():
        obs = {"spikes": nir.TimeGriddedData(data=spikes.astype(np.uint8), dt=float(dt))}
        for kind in ("v", "u"):
            arr = getattr(traces, kind).get(pop)
            if arr is not None:
                obs[kind] = nir.TimeGriddedData(data=np.asarray(arr), dt=float(dt))
        nodes[pop] = nir.NIRNodeData(observables=obs)
    with atomic_output(path) as tmp:
        nir.write_data(tmp, nir.NIRGraphData(nodes=nodes))


def _read_nir_data(path: Path, name: str) -> RecordedTraces:
    try:
        data = nir.read_data(str(path))
    except READ_ERRORS as exc:
        raise InputError(f"{path}: not a NIR data file ({str(exc).splitlines()[0]})") from None
    rec = RecordedTraces(name, {})
    for pop, node in data.nodes.items():
        obs = getattr(node, "observables", {})
        if "spikes" not in obs:
            raise InputError(f"{path}: node '{pop}' has no 'spikes' observable "
                             f"(found: {', '.join(obs) or 'none'})")
        for kind in (k for k in RECORDABLE if k in obs):
            if not isinstance(obs[kind], nir.TimeGriddedData):
                raise InputError(f"{path}: node '{pop}' {kind} is {type(obs[kind]).__name__}; "
                                 "only TimeGriddedData (samples, steps, neurons) is read")
            getattr(rec, kind)[pop] = np.asarray(obs[kind].data)
    return rec


def _read_npz(path: Path, name: str) -> RecordedTraces:
    arrays = read_npz(path, "a trace file (.npz with spikes/<population>)")
    rec = RecordedTraces(name, {})
    for key, arr in arrays.items():
        kind, _, pop = key.partition("/")
        if kind in RECORDABLE and pop:
            getattr(rec, kind)[pop] = arr
    if not rec.spikes:
        raise InputError(f"{path}: no arrays named spikes/<population> (found: "
                         f"{', '.join(arrays) or 'none'})")
    return rec


def _read_csv(path: Path, name: str, population: str) -> RecordedTraces:
    try:
        table = np.loadtxt(path, delimiter=",", ndmin=2)
    except READ_ERRORS as exc:
        raise InputError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    if table.shape[1] != 3:
        raise InputError(f"{path}: {table.shape[1]} columns; the CSV layout has 3 (input "
                         "spike, v, output spike), one row per step")
    return RecordedTraces(name, {population: table[:, 2][None, :, None]},
                          v={population: table[:, 1][None, :, None]})


def read_trace_file(path: str | os.PathLike[str], name: str,
                    csv_population: str | None = None) -> RecordedTraces:
    """Read a recorded trace file (NIR data, NPZ or CSV; see the module docstring)."""
    path = check_input_file(path, f"trace {name!r}: a recorded trace file (.nir, .npz or .csv)")
    if path.suffix == ".csv":
        if csv_population is None:
            raise InputError(f"trace {name!r}: a CSV trace needs a model with one output "
                             "population")
        rec = _read_csv(path, name, csv_population)
    elif path.suffix == ".npz":
        rec = _read_npz(path, name)
    else:
        rec = _read_nir_data(path, name)
    for kind in RECORDABLE:
        for pop, arr in getattr(rec, kind).items():
            arr = np.asarray(arr)
            if arr.ndim != 3:
                raise InputError(f"trace {name!r}: {kind} of '{pop}' has shape {arr.shape}; "
                                 "expected (samples, steps, neurons)")
            if kind == "spikes":
                getattr(rec, kind)[pop] = as_spikes(arr, None, f"{path}: spikes of '{pop}'")
                continue
            if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
                raise InputError(f"{path}: {kind} of '{pop}' has dtype {arr.dtype}; expected "
                                 "real numbers")
            bad = ~np.isfinite(arr)
            if bad.any():
                idx = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
                raise InputError(f"{path}: {kind} of '{pop}'[{idx}] = {arr[bad][0]}; "
                                 "expected finite numbers")
            getattr(rec, kind)[pop] = arr.astype(np.float64)
    return rec
