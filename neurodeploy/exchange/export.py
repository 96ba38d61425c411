"""``neurodeploy export`` and ``neurodeploy import``: artifacts in, artifacts out.

Sources for export: a quantize output directory (``network.npz`` + ``run.json``: a
fixed-point graph), a training run directory (``config.json`` + ``model.pt``: a float
graph that also carries the torch model's configuration), or a bare ``network.npz``
(``dt`` must then be given). ONNX needs integers: a quantized directory or a network file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import nir

from neurodeploy.errors import InputError
from neurodeploy.exchange.nir_export import (
    fixed_point_network_to_nir,
    float_network_to_nir,
    write_nir,
)
from neurodeploy.exchange.nir_import import ImportedGraph, import_nir
from neurodeploy.float_network import FloatNetwork
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import load_network


@dataclass
class ExportResult:
    kind: str  # "fixed_point" or "float"
    dt: float
    written: list[str] = field(default_factory=list)
    node_counts: dict[str, int] = field(default_factory=dict)


def run_dt(run: dict | None) -> float | None:
    """Seconds per step of a training run's data (``config.json``/``run.json``), if known."""
    try:
        return float(run["dataset"]["dt_s"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


def _run_dt(run_json: Path) -> float | None:
    try:
        return run_dt(json.loads(run_json.read_text()))
    except (OSError, json.JSONDecodeError):
        return None


def load_source(source: str | os.PathLike[str], dt: float | None = None,
                ) -> tuple[FixedPointNetwork | FloatNetwork, float | None, dict | None]:
    """(network, dt in seconds or None, torch network config or None) of an artifact."""
    src = Path(source)
    if src.is_dir() and (src / "network.npz").exists():
        return load_network(src / "network.npz"), dt or _run_dt(src / "run.json"), None
    if src.is_dir() and (src / "config.json").exists():
        from neurodeploy.models.training import load_run

        model, _ = load_run(src)
        step = dt or _run_dt(src / "config.json")
        return model.to_float_network(dt=step), step, model.config.to_json()
    if src.is_dir():
        raise InputError(f"{src}: neither a quantize output (network.npz) nor a training run "
                         "(config.json + model.pt)")
    if src.suffix == ".nir":
        imported = import_nir(src, dt=dt)
        return imported.network, imported.dt, imported.network_config
    return load_network(src), dt, None


def export_artifacts(source: str | os.PathLike[str], nir_out: str | None = None,
                     onnx_out: str | None = None, dt: float | None = None) -> ExportResult:
    """Write the NIR graph and/or the ONNX model of ``source`` (each file atomically)."""
    if not nir_out and not onnx_out:
        raise InputError("nothing to do: give --nir FILE and/or --onnx FILE")
    net, step, config = load_source(source, dt)
    fixed = isinstance(net, FixedPointNetwork)
    if onnx_out and not fixed:
        raise InputError(f"{source}: ONNX export runs the integer dynamics and needs a "
                         "fixed-point network (quantize the run first)")
    result = ExportResult("fixed_point" if fixed else "float", step or 0.0)
    if nir_out:
        if step is None:
            raise InputError(f"{source}: the time step is unknown; pass --dt SECONDS")
        graph = (fixed_point_network_to_nir(net, step) if fixed
                 else float_network_to_nir(net, step, network_config=config))
        write_nir(graph, nir_out)
        nir.read(nir_out)  # what any NIR user will do: must type-check
        for node in graph.nodes.values():
            kind = type(node).__name__
            result.node_counts[kind] = result.node_counts.get(kind, 0) + 1
        result.written.append(str(nir_out))
    if onnx_out:
        from neurodeploy.targets.onnx import export_onnx

        export_onnx(net, onnx_out)
        result.written.append(str(onnx_out))
    return result


def import_graph(path: str | os.PathLike[str], dt: float | None = None,
                 reset: str | None = None, out: str | None = None) -> ImportedGraph:
    """Import a NIR graph; with ``out`` write it back with the neurodeploy contract (a
    ``.nir`` that now says its dt and reset) or, for a fixed-point graph, a ``.npz``."""
    imported = import_nir(path, dt=dt, reset=reset)
    if out:
        net = imported.network
        if out.endswith(".npz"):
            if not isinstance(net, FixedPointNetwork):
                raise InputError(f"{out}: a .npz holds fixed-point networks; this graph is "
                                 "float (write a .nir, or quantize it)")
            from neurodeploy.network_io import save_network

            save_network(net, out)
        elif out.endswith(".nir"):
            graph = (fixed_point_network_to_nir(net, imported.dt)
                     if isinstance(net, FixedPointNetwork)
                     else float_network_to_nir(net, imported.dt,
                                               network_config=imported.network_config))
            write_nir(graph, out)
        else:
            raise InputError(f"--out {out}: allowed suffixes are .nir and .npz")
    return imported
