"""``neurodeploy export`` and ``neurodeploy import``: artifacts in, artifacts out.

Sources for export: any artifact :func:`neurodeploy.artifacts.load_deployment` reads: a
quantize output directory (``network.npz`` + ``run.json``: a fixed-point graph), a training
run directory (``config.json`` + ``model.pt``: a float graph that also carries the torch
model's configuration), a bare ``network.npz`` (``dt`` must then be given) or a NIR graph.
ONNX and netx need integers: a quantized directory, a network file, a fixed-point NIR
graph or a netx file. ``import`` reads NIR graphs and netx files (``.net``).
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import nir

from neurodeploy.artifacts import load_deployment
from neurodeploy.errors import InputError
from neurodeploy.exchange.netx import import_netx, write_netx
from neurodeploy.exchange.nir_export import network_to_nir, write_nir
from neurodeploy.exchange.nir_import import ImportedGraph, import_nir
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import atomic_output, save_network
from neurodeploy.targets.onnx import export_onnx


@dataclass
class ExportResult:
    kind: str  # "fixed_point" or "float"
    dt: float
    written: list[str] = field(default_factory=list)
    node_counts: dict[str, int] = field(default_factory=dict)


def export_artifacts(source: str | os.PathLike[str], nir_out: str | None = None,
                     onnx_out: str | None = None, dt: float | None = None,
                     netx_out: str | None = None) -> ExportResult:
    """Write the NIR graph, the ONNX model and/or the lava-dl netx file of ``source`` (each
    file atomically)."""
    if not nir_out and not onnx_out and not netx_out:
        raise InputError("nothing to do: give --nir FILE, --onnx FILE and/or --netx FILE")
    deployment = load_deployment(source, dt)
    fixed, step = deployment.fixed, deployment.dt
    for flag, out in (("ONNX", onnx_out), ("netx", netx_out)):
        if out and fixed is None:
            raise InputError(f"{source}: {flag} export runs the integer dynamics and needs a "
                             "fixed-point network (quantize the run first)")
    result = ExportResult("float" if fixed is None else "fixed_point", step or 0.0)
    if nir_out and step is None:
        raise InputError(f"{source}: the time step is unknown; pass --dt SECONDS")
    # every file goes to a temporary path first and all are renamed together at the end:
    # a refusal of one (e.g. a layer netx cannot hold) leaves none of them written
    with ExitStack() as outputs:
        if nir_out:
            graph = network_to_nir(fixed if fixed is not None else deployment.float_network,
                                   step, deployment.network_config)
            tmp = outputs.enter_context(atomic_output(nir_out))
            write_nir(graph, tmp)
            nir.read(tmp)  # what any NIR user will do: must type-check
            result.node_counts = dict(Counter(type(n).__name__ for n in graph.nodes.values()))
        if onnx_out:
            export_onnx(fixed, outputs.enter_context(atomic_output(onnx_out)))
        if netx_out:
            write_netx(fixed, outputs.enter_context(atomic_output(netx_out)))
    result.written = [str(out) for out in (nir_out, onnx_out, netx_out) if out]
    return result


def import_graph(path: str | os.PathLike[str], dt: float | None = None,
                 reset: str | None = None, out: str | None = None,
                 reset_interval: int = 0) -> ImportedGraph:
    """Import a NIR graph or a netx file (``.net``, fixed point; its dt is ``dt`` or 1 s
    per step when not given; ``reset_interval`` as netx's, see :func:`import_netx`); with
    ``out`` write it back with the neurodeploy contract (a ``.nir`` that now says its dt
    and reset) or, for a fixed-point graph, a ``.npz``."""
    if reset_interval and not str(path).lower().endswith(".net"):
        raise InputError(f"{path}: reset_interval = {reset_interval} applies to netx files "
                         "(.net) only")
    if str(path).lower().endswith(".net"):
        netx = import_netx(path, reset_interval=reset_interval)
        imported = ImportedGraph(netx.network, "fixed_point", dt or 1.0,
                                 "argument" if dt else "assumed", list(netx.warnings))
    else:
        imported = import_nir(path, dt=dt, reset=reset)
    if out:
        net = imported.network
        if out.endswith(".npz"):
            if not isinstance(net, FixedPointNetwork):
                raise InputError(f"{out}: a .npz holds fixed-point networks; this graph is "
                                 "float (write a .nir, or quantize it)")
            save_network(net, out)
        elif out.endswith(".nir"):
            write_nir(network_to_nir(net, imported.dt, imported.network_config), out)
        else:
            raise InputError(f"--out {out}: allowed suffixes are .nir and .npz")
    return imported
