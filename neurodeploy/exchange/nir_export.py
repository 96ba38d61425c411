"""Float and fixed-point networks to NIR 1.0 graphs that say how to discretize them.

Every population becomes one neuron node (``CubaLIF``; ``CubaLI`` for a non-spiking
readout) named after the population; every projection becomes weight nodes (``Linear``,
``Affine`` when it has a constant bias) from its source to it, behind ``Delay`` nodes
(seconds = steps x dt) when it has delays:

- no delay: ``src -> Linear -> dst``;
- one delay per source (axonal) or one for all: ``src -> Delay(d_j dt) -> Linear -> dst``;
- per-synapse delays: one branch per distinct delay value k,
  ``src -> Delay(k dt) -> Linear(W where delay == k) -> dst``; NIR sums the branches at
  ``dst``. Every branch is a standard node, so any NIR reader can follow it.

Recurrence is a cycle through the neuron node. The NIR fields are the continuous-time
parameters that forward Euler at ``dt`` maps back onto the discrete update of
``neurodeploy.float_network`` (u then v, one step per hop, see
``neurodeploy.exchange.contract``)::

    tau_syn = dt / du,   w_in = 1 / du,   tau_mem = dt / dv,   r = 1 / dv,
    v_leak = bias / dv,  v_threshold = vth,  v_reset = 0

(dv = 0 is written as ``DV_FLOOR``: NIR cannot say "no leak" with input). For a
fixed-point network the float values are those of its integers in LSB units (du =
(du_int + 1) / 4096, dv = dv_int / 4096, vth = vth_int * 64, W = W_int * 2**weight_exp
* 64, bias = bias_mant * 2**bias_exp), and the integers themselves are written, exactly,
into each node's ``neurodeploy`` metadata.
"""

from __future__ import annotations

import json
import os
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import InputError
from neurodeploy.exchange.contract import DV_FLOOR, KEY, graph_contract
from neurodeploy.float_network import FloatNetwork, dequantize
from neurodeploy.network import INPUT, FixedPointNetwork
from neurodeploy.network_io import atomic_output


def _plain(value: Any) -> Any:
    """Metadata value HDF5 can store: 0-d arrays become Python scalars (nir.write
    compresses arrays, and scalar datasets cannot be compressed)."""
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr


def _neuron_node(du: np.ndarray, dv: np.ndarray, vth: np.ndarray, bias: np.ndarray,
                 spiking: bool, dt: float, meta: dict[str, Any]) -> nir.NIRNode:
    dve = np.maximum(dv, DV_FLOOR)
    common = dict(tau_syn=dt / du, tau_mem=dt / dve, r=1.0 / dve, w_in=1.0 / du,
                  v_leak=bias / dve, metadata={KEY: meta})
    if not spiking:
        return nir.CubaLI(**common)
    return nir.CubaLIF(**common, v_threshold=np.asarray(vth, np.float64),
                       v_reset=np.zeros_like(du))


def _branches(weights: np.ndarray, delays: Any) -> list[tuple[np.ndarray | None, np.ndarray]]:
    """(per-source delay in steps or None, mask of the weights it carries) per branch."""
    n_src = weights.shape[1]
    if delays is None or (np.ndim(delays) == 0 and int(delays) == 0):
        return [(None, np.ones(weights.shape, bool))]
    d = np.asarray(delays, dtype=np.int64)
    if d.ndim <= 1:
        return [(np.broadcast_to(d, (n_src,)).copy(), np.ones(weights.shape, bool))]
    used = np.unique(d[weights != 0]) if (weights != 0).any() else np.array([0])
    return [(None if k == 0 else np.full(n_src, int(k)), d == k) for k in used]


class _GraphBuilder:
    def __init__(self, n_inputs: int, dt: float) -> None:
        self.dt = dt
        self.nodes: dict[str, nir.NIRNode] = {INPUT: nir.Input(input_type=np.array([n_inputs]))}
        self.edges: list[tuple[str, str]] = []

    def projection(self, index: int, src: str, dst: str, weights_f: np.ndarray, delays: Any,
                   meta: dict[str, Any], branch_meta: Any = None,
                   bias: np.ndarray | None = None) -> None:
        """Add the weight (and delay) nodes of one projection, one branch per delay value."""
        branches = _branches(weights_f, delays)
        for b, (dsteps, mask) in enumerate(branches):
            tag = f"p{index}" if len(branches) == 1 else f"p{index}.k{b}"
            m = {"projection": index, "src": src, "dst": dst, **meta}
            if b == 0 and delays is not None:
                m["delays"] = _plain(np.asarray(delays, dtype=np.int64))
            if branch_meta is not None:
                m.update(branch_meta(mask))
            w = np.where(mask, weights_f, 0.0)
            if b == 0 and bias is not None:
                node = nir.Affine(weight=w, bias=np.asarray(bias, np.float64), metadata={KEY: m})
            else:
                node = nir.Linear(weight=w, metadata={KEY: m})
            self.nodes[f"{tag}.w"] = node
            head = src
            if dsteps is not None:
                self.nodes[f"{tag}.delay"] = nir.Delay(
                    delay=dsteps.astype(np.float64) * self.dt,
                    metadata={KEY: {"projection": index, "steps": dsteps}})
                self.edges.append((src, f"{tag}.delay"))
                head = f"{tag}.delay"
            self.edges += [(head, f"{tag}.w"), (f"{tag}.w", dst)]

    def graph(self, outputs: list[str], sizes: dict[str, int],
              contract: dict[str, Any]) -> nir.NIRGraph:
        for name in outputs:
            node = "output" if len(outputs) == 1 and "output" not in sizes else f"output.{name}"
            self.nodes[node] = nir.Output(output_type=np.array([sizes[name]]))
            self.edges.append((name, node))
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata={KEY: contract},
                            type_check=True)


def _check_dt(dt: float | None) -> float:
    if dt is None:
        raise InputError("dt is unknown: pass the time step in seconds (e.g. --dt 1e-3)")
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise InputError(f"dt = {dt} must be > 0 seconds")
    return dt


def float_network_to_nir(net: FloatNetwork, dt: float | None = None,
                         network_config: dict | None = None) -> nir.NIRGraph:
    """A NIR graph of a float network (``dt`` defaults to ``net.dt``).

    ``network_config`` (a ``NetworkConfig.to_json()``) lets the importer rebuild the
    trained torch module itself, not only its float network.
    """
    dt = _check_dt(dt if dt is not None else net.dt)
    builder = _GraphBuilder(net.n_inputs, dt)
    resets = {p.reset for p in net.populations.values() if p.spiking} or {"zero"}
    if len(resets) > 1:
        raise InputError("populations mix reset rules; the NIR contract has one per graph")
    for name, pop in net.populations.items():
        meta = {"population": name, "du": pop.du, "dv": pop.dv, "vth": pop.vth,
                "bias": pop.bias, "spiking": int(pop.spiking)}
        builder.nodes[name] = _neuron_node(pop.du, pop.dv, pop.vth, pop.bias, pop.spiking, dt,
                                           meta)
    for i, p in enumerate(net.projections):
        builder.projection(i, p.src, p.dst, p.weights, p.delays,
                           {"name": p.name} if p.name else {}, bias=p.bias)
    extra = {"network_config": json.dumps(network_config, sort_keys=True)} if network_config else {}
    contract = graph_contract("float", dt, resets.pop(), net.n_inputs, list(net.outputs),
                              **extra)
    sizes = {n: p.size for n, p in net.populations.items()}
    return builder.graph(list(net.outputs), sizes, contract)


def fixed_point_network_to_nir(net: FixedPointNetwork, dt: float) -> nir.NIRGraph:
    """A NIR graph of a fixed-point network: float fields in LSB units, exact integers in
    each node's ``neurodeploy`` metadata."""
    dt = _check_dt(dt)
    builder = _GraphBuilder(net.n_inputs, dt)
    fnet = dequantize(net)
    for name, pop in net.populations.items():
        meta = {"population": name, **{k: _plain(np.asarray(getattr(pop, k), np.int64))
                                       for k in pop.PARAMETERS}}
        f = fnet.populations[name]
        builder.nodes[name] = _neuron_node(f.du, f.dv, f.vth, f.bias, True, dt, meta)
    for i, (p, fp_) in enumerate(zip(net.projections, fnet.projections, strict=True)):
        meta = {"weight_exp": p.weight_exp, "num_weight_bits": p.num_weight_bits,
                "sign_mode": p.sign_mode, **({"name": p.name} if p.name else {})}
        w_ints = np.asarray(p.weights, np.int64)
        builder.projection(i, p.src, p.dst, fp_.weights, p.delays, meta,
                           branch_meta=lambda mask, w=w_ints: {"weights": np.where(mask, w, 0)})
    contract = graph_contract("fixed_point", dt, "zero", net.n_inputs, list(net.outputs))
    sizes = {n: p.size for n, p in net.populations.items()}
    return builder.graph(list(net.outputs), sizes, contract)


def write_nir(graph: nir.NIRGraph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` with ``nir.write``, atomically (temp file + rename)."""
    with atomic_output(path) as tmp:
        nir.write(tmp, graph)
