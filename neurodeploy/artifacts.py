"""Artifacts on disk, each read once into a :class:`Deployment`.

An artifact is one of

- a training run directory (``neurodeploy train --out``: ``config.json`` + ``model.pt``):
  a float model only;
- a quantize output directory (``neurodeploy quantize --out``: ``network.npz``,
  ``quantization.json`` and the float model it came from: ``run.json`` + ``model.pt``, or
  ``source.nir``);
- a network file (``.npz``, :func:`neurodeploy.save_network`): integers only;
- a NIR graph (``.nir``): float or fixed point, with neurodeploy's contract or from another
  tool;
- a lava-dl netx file (``.net``): integers only, read with netx's semantics
  (``neurodeploy.exchange.netx``).

:func:`load_deployment` tells which one a path is and returns a :class:`Deployment`: the
integer network, the float model, how the output population is read, the quantization
scales and the time step, checked once. ``verify``, ``export``, ``run``, the studies and
the CLI read artifacts through it, and :meth:`Deployment.simulate` is the one place that
says what a backend name runs:

- ``torch-float`` runs the deployment's float model (``float_network``) on
  ``neurodeploy.targets.torch_float`` (float64): the trained or imported float model when
  the artifact has one, else the integer network's dequantized float equivalent. Its v is
  reported in LSB units (``v_lsb = v_float * S``, ``S`` the population's PTQ scale) when
  the artifact is a quantize output, so that it compares with the integer backends;
- every other target (``reference``, ``torch-int``, ``onnx``, ``lava``, ``lava-float``,
  ``loihi2``) runs the integer network; a float-only artifact must be quantized first.

Time convention: 0-based steps, one step per hop; ``dt`` is seconds per step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurodeploy.errors import (
    InputError,
    NetworkValidationError,
    NeurodeployError,
    TargetUnavailableError,
)
from neurodeploy.exchange.contract import checked_dt
from neurodeploy.exchange.netx import import_netx
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.float_network import FloatNetwork, dequantize
from neurodeploy.models.network import NetworkConfig
from neurodeploy.models.training import load_run, resolved_run
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import load_network, read_json
from neurodeploy.simulate import simulate
from neurodeploy.targets import TARGETS
from neurodeploy.traces import Traces

TRAINING_RUN = "training_run"
QUANTIZE_DIR = "quantize_dir"
NETWORK_FILE = "network_file"
NIR_GRAPH = "nir_graph"
NETX_FILE = "netx_file"
#: Every kind of artifact :func:`load_deployment` reads.
ARTIFACT_KINDS = (TRAINING_RUN, QUANTIZE_DIR, NETWORK_FILE, NIR_GRAPH, NETX_FILE)
ALLOWED = ("a training run directory (config.json + model.pt), a quantize output directory "
           "(network.npz), a network file (.npz), a NIR graph (.nir) or a netx file (.net)")

#: The backend that runs the float model; every other target runs the integers.
FLOAT_BACKEND = "torch-float"


@dataclass(frozen=True, eq=False)
class Deployment:
    """What one artifact deploys, and how its outputs are read.

    ``fixed``: the integer network (None for a float-only artifact). ``float_network``: the
    float model (``torch-float`` runs it): trained, imported, or ``fixed`` dequantized.
    ``scales``: per population, the PTQ scale ``S`` with ``v_lsb = v_float * S`` (empty
    when the float model is already in LSB units or when there is nothing to compare
    with). ``float_units``: "lsb" when the float model's v, times ``scales``, is in the
    integer network's LSB units, else "float". ``readout`` ("count", "mean_v", "max_v")
    and ``hops`` (projections from the input to the output population) decide the class
    from ``output``. ``dt``: seconds per step, or None when the artifact does not say.
    ``run``: the training run's description (its data set and split), when known.
    ``network_config``: the torch model's configuration (exported into NIR so the module
    can be rebuilt), when known. ``warnings``: what the reader had to assume.
    """

    path: str
    kind: str
    float_network: FloatNetwork
    fixed: FixedPointNetwork | None = None
    float_units: str = "float"
    scales: Mapping[str, float] = field(default_factory=dict)
    readout: str = "count"
    hops: int = 0
    output: str | None = None
    dt: float | None = None
    run: Mapping[str, Any] | None = None
    network_config: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def populations(self) -> dict[str, int]:
        """Population name -> size (the integer network's, else the float model's)."""
        net = self.fixed if self.fixed is not None else self.float_network
        return {name: pop.size for name, pop in net.populations.items()}

    @property
    def n_inputs(self) -> int:
        """Input channels."""
        return self.float_network.n_inputs if self.fixed is None else self.fixed.n_inputs

    def network_for(self, backend: str) -> FixedPointNetwork | FloatNetwork:
        """The network ``backend`` runs: the float model for ``torch-float``, the integers
        for every other target. Raises TargetUnavailableError for an unknown name and
        InputError for an integer backend on a float-only artifact."""
        if backend == FLOAT_BACKEND:
            return self.float_network
        if backend not in TARGETS:
            raise TargetUnavailableError(
                f"target {backend!r} is unknown; available: {', '.join(TARGETS)}")
        if self.fixed is None:
            raise InputError(f"backend {backend!r} runs fixed-point networks; {self.path} is "
                             f"a float model (quantize it first; a float model runs on "
                             f"{FLOAT_BACKEND})")
        return self.fixed

    def simulate(self, backend: str, spikes: np.ndarray,
                 record: Iterable[str] = ("spikes",), populations: Iterable[str] | None = None,
                 **options: object) -> Traces:
        """Run ``backend`` on input spikes (batch, steps, n_inputs); the float model's v in
        LSB units where ``scales`` say how (see the module docstring)."""
        traces = simulate(self.network_for(backend), spikes, target=backend, record=record,
                          populations=populations, **options)
        if backend != FLOAT_BACKEND or not self.scales:
            return traces
        v = {n: a * float(self.scales.get(n, 1.0)) for n, a in traces.v.items()}
        return Traces(traces.target, traces.spikes, v=v, u=traces.u)


# ------------------------------------------------------------------------------- dt
def run_dt(run: Mapping[str, Any] | None, where: str = "run") -> float | None:
    """Seconds per step of a training run's data (``config.json``/``run.json``:
    ``dataset.dt_s``), None when the run does not say; checked (> 0)."""
    dataset = run.get("dataset") if isinstance(run, Mapping) else None
    value = dataset.get("dt_s") if isinstance(dataset, Mapping) else None
    return checked_dt(value, f"{where} dataset.dt_s")


# --------------------------------------------------------------------------- loaders
def _read_json(path: Path) -> dict:
    return read_json(path, "the JSON object neurodeploy wrote")


def _network_file(path: Path) -> FixedPointNetwork:
    """load_network with an unreadable file as an InputError (validation errors of a
    readable file keep their own type: they name the field)."""
    try:
        return load_network(path)
    except NetworkValidationError:
        raise
    except NeurodeployError as exc:
        raise InputError(f"{exc}; allowed: a network file written by save_network") from None


def _given_or(dt: float | None, found: float | None) -> float | None:
    return found if dt is None else dt


def load_training_run(src: Path, dt: float | None = None) -> Deployment:
    """A training run directory: its float model (``to_float_network``), no integers."""
    model, run = load_run(src)
    step = _given_or(dt, run_dt(run, str(src / "config.json")))
    float_network = model.to_float_network(dt=step)
    return Deployment(str(src), TRAINING_RUN, float_network, readout=model.config.readout,
                      hops=len(model.layers), output=float_network.outputs[0], dt=step,
                      run=run, network_config=model.config.to_json())


def load_quantize_dir(src: Path, dt: float | None = None) -> Deployment:
    """A quantize output directory: the integers and the float model they came from
    (``model.pt`` + ``run.json`` beside them, else the source run, else ``source.nir``,
    else the integers dequantized)."""
    fixed = _network_file(src / "network.npz")
    q = _read_json(src / "quantization.json") if (src / "quantization.json").exists() else {}
    run = (resolved_run(_read_json(src / "run.json"), src) if (src / "run.json").exists()
           else None)
    found = (run_dt(run, str(src / "run.json")) if run is not None
             else checked_dt(q.get("dt"), str(src / "quantization.json")))
    step = _given_or(dt, found)
    scales, config, model = dict(q.get("scales", {})), None, None
    source = q.get("source_run")  # relative to the quantize output (or absolute: older)
    if run is not None and (src / "model.pt").exists():
        model, _ = load_run(src, config_name="run.json")
    elif source and Path(src, source, "config.json").exists():
        model, _ = load_run(Path(src, source))
    if model is not None:
        float_network, config = model.to_float_network(dt=step), model.config.to_json()
    elif (src / "source.nir").exists():  # quantized from a float NIR graph
        imported = import_nir(src / "source.nir")
        float_network, config = imported.network, imported.network_config
    else:
        float_network, scales = dequantize(fixed), {}
    return Deployment(str(src), QUANTIZE_DIR, float_network, fixed=fixed, float_units="lsb",
                      scales=scales, readout=q.get("readout", "count"),
                      hops=int(q.get("hops", 0)), output=q.get("output") or fixed.outputs[0],
                      dt=step, run=run, network_config=config)


def load_network_file(src: Path, dt: float | None = None) -> Deployment:
    """A network file: integers only (``torch-float`` runs them dequantized); ``dt`` only
    when given."""
    fixed = _network_file(src)
    return Deployment(str(src), NETWORK_FILE, dequantize(fixed), fixed=fixed,
                      float_units="lsb", output=fixed.outputs[0], dt=dt)


def load_nir_graph(src: Path, dt: float | None = None) -> Deployment:
    """A NIR graph, fixed point or float (see ``neurodeploy.exchange.nir_import``; a
    ``dt`` that contradicts the graph's declared one is an error)."""
    imported = import_nir(src, dt=dt)
    net, warnings = imported.network, tuple(imported.warnings)
    if isinstance(net, FixedPointNetwork):
        return Deployment(str(src), NIR_GRAPH, dequantize(net), fixed=net, float_units="lsb",
                          output=net.outputs[0], dt=imported.dt, warnings=warnings)
    readout, hops = "count", 0
    if imported.network_config:
        readout = NetworkConfig.from_json(imported.network_config).readout
        hops = len(net.populations)
    return Deployment(str(src), NIR_GRAPH, net, output=net.outputs[0], readout=readout,
                      hops=hops, dt=imported.dt, network_config=imported.network_config,
                      warnings=warnings)


def load_netx_file(src: Path, dt: float | None = None) -> Deployment:
    """A lava-dl netx file: integers only, read with netx's semantics (its time alignment
    in ``neurodeploy.exchange.netx``); ``dt`` only when given."""
    imported = import_netx(src)
    fixed, warnings = imported.network, imported.warnings
    if imported.lag:
        warnings += (f"{src}: the input layer has a neuron; neurodeploy's spikes trail "
                     f"netx's by {imported.lag} step",)
    return Deployment(str(src), NETX_FILE, dequantize(fixed), fixed=fixed,
                      float_units="lsb", output=fixed.outputs[0], dt=dt, warnings=warnings)


#: Kind -> loader ``(path, dt or None) -> Deployment``.
LOADERS: dict[str, Callable[[Path, float | None], Deployment]] = dict(zip(
    ARTIFACT_KINDS, (load_training_run, load_quantize_dir, load_network_file, load_nir_graph,
                     load_netx_file), strict=True))
#: File suffix -> kind of the artifacts that are files.
SUFFIXES = {".npz": NETWORK_FILE, ".nir": NIR_GRAPH, ".net": NETX_FILE}


def artifact_kind(path: str | os.PathLike[str]) -> str:
    """Which kind of artifact ``path`` is (one of :data:`ARTIFACT_KINDS`), from what the
    directory holds or the file's suffix; a one-line InputError otherwise."""
    src = Path(path)
    if src.is_dir():
        if (src / "network.npz").exists():
            return QUANTIZE_DIR
        if (src / "config.json").exists():
            return TRAINING_RUN
        raise InputError(f"{src}: neither a quantize output nor a training run directory; "
                         f"allowed: {ALLOWED}")
    if not src.exists():
        raise InputError(f"{src}: no such file or directory; allowed: {ALLOWED}")
    kind = SUFFIXES.get(src.suffix.lower())
    if kind is None:
        raise InputError(f"{src}: {src.suffix or 'no suffix'} is not a known artifact; "
                         f"allowed: {ALLOWED}")
    return kind


def load_deployment(path: str | os.PathLike[str], dt: float | None = None) -> Deployment:
    """The :class:`Deployment` of an artifact (see the module docstring).

    ``dt`` (seconds per step) stands in for the artifact's own where given (a NIR graph
    that declares another is an error); it is checked here, once, like the artifact's.
    """
    step = checked_dt(dt, "--dt")
    return LOADERS[artifact_kind(path)](Path(path), step)
