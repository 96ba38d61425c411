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

Recurrence is a cycle through the neuron node. A convolutional projection is one
``Conv2d`` node; populations that feed convolutions are shaped (C, H, W), read by dense
projections through ``Flatten`` (see ``docs/nir.md`` for the shapes NIR cannot say).
The NIR fields are the continuous-time parameters that forward Euler at ``dt`` maps
back onto the discrete update of ``neurodeploy.float_network`` (u then v, one step per hop, see
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
from neurodeploy.exchange.contract import DV_FLOOR, KEY, graph_contract, plain
from neurodeploy.float_network import FloatNetwork, dequantize
from neurodeploy.network import INPUT, Conv2d, FixedPointNetwork
from neurodeploy.network_io import atomic_output


def _neuron_node(du: np.ndarray, dv: np.ndarray, vth: np.ndarray, bias: np.ndarray,
                 spiking: bool, dt: float, meta: dict[str, Any],
                 shape: tuple[int, ...]) -> nir.NIRNode:
    """The neuron node, its parameters shaped ``shape`` (flat values in C, H, W order)."""
    du, dv, vth, bias = (np.asarray(x, np.float64).reshape(shape) for x in (du, dv, vth, bias))
    dve = np.maximum(dv, DV_FLOOR)
    common = dict(tau_syn=dt / du, tau_mem=dt / dve, r=1.0 / dve, w_in=1.0 / du,
                  v_leak=bias / dve, metadata={KEY: meta})
    return (nir.CubaLIF(**common, v_threshold=vth, v_reset=np.zeros_like(du)) if spiking
            else nir.CubaLI(**common))


def _layouts(net: FloatNetwork | FixedPointNetwork) -> dict[str, tuple[int, ...]]:
    """The NIR shape of the input and of every population: the (C, H, W) ``in_shape`` of
    the first convolution it feeds; else the ``out_shape`` when every projection into it is
    a convolution of that shape; else (n, 1, 1) for a source that nothing feeds (the input,
    PTQ's bias unit) with a dense projection into a (C, H, W) population (written as a
    convolution, :func:`_full_conv`); else (n,)."""
    projections = net.projections
    shapes: dict[str, tuple[int, ...]] = {INPUT: (net.n_inputs,),
                                          **{n: (p.size,) for n, p in net.populations.items()}}
    for p in projections:
        if p.conv is not None and len(shapes[p.src]) == 1:
            shapes[p.src] = p.conv.in_shape
    for name in net.populations:
        outs = {None if p.conv is None else p.conv.out_shape
                for p in projections if p.dst == name}
        if len(shapes[name]) == 1 and len(outs) == 1 and None not in outs:
            shapes[name] = outs.pop()
    fed = {p.dst for p in projections}
    for p in projections:
        if (p.conv is None and len(shapes[p.dst]) == 3 and len(shapes[p.src]) == 1
                and p.src not in fed):
            shapes[p.src] = (shapes[p.src][0], 1, 1)
    return shapes


def _geometry(conv: Conv2d) -> dict[str, Any]:
    """A convolution's geometry as node metadata."""
    return {"in_shape": np.array(conv.in_shape), "stride": np.array(conv.stride),
            "padding": np.array(conv.padding), "dilation": np.array(conv.dilation),
            "groups": int(conv.groups)}


def _conv_node(kernel: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
               meta: dict[str, Any], bias: np.ndarray | None = None, stride: Any = 1,
               padding: Any = 0, dilation: Any = 1, groups: int = 1) -> nir.Conv2d:
    node = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=np.asarray(kernel, np.float64),
                      stride=tuple(np.broadcast_to(stride, 2).tolist()),
                      padding=tuple(np.broadcast_to(padding, 2).tolist()),
                      dilation=tuple(np.broadcast_to(dilation, 2).tolist()), groups=groups,
                      bias=np.zeros(kernel.shape[0]) if bias is None else bias,
                      metadata={KEY: meta})
    # NIR 1.0 types a Conv2d's input as (in_channels / groups, H, W) and sizes its output
    # with kh for both kernel dimensions: state the true shapes
    node.input_type = {"input": np.array(in_shape)}
    node.output_type = {"output": np.array(out_shape)}
    return node


def _full_conv(w: np.ndarray, n_src: int, shape: tuple[int, int, int],
               meta: dict[str, Any]) -> nir.Conv2d:
    """Dense (C H W, n) weights into a (C, H, W) population as a Conv2d on the source
    shaped (n, 1, 1): kernel[c, i, H-1-y, W-1-x] = w[(c, y, x), i], padding (H-1, W-1)
    (NIR has no reshape from a vector to (C, H, W))."""
    c, h, wd = shape
    kernel = w.reshape(c, h, wd, n_src).transpose(0, 3, 1, 2)[:, :, ::-1, ::-1]
    return _conv_node(np.ascontiguousarray(kernel), (n_src, 1, 1), shape,
                      {**meta, "full_conv": 1}, padding=(h - 1, wd - 1))


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
    def __init__(self, net: FloatNetwork | FixedPointNetwork, dt: float) -> None:
        self.net, self.dt, self.shapes = net, dt, _layouts(net)
        self.nodes: dict[str, nir.NIRNode] = {
            INPUT: nir.Input(input_type=np.array(self.shapes[INPUT]))}
        self.edges: list[tuple[str, str]] = []
        self.typed = True  # whether NIR's type check can hold (see ``graph``)

    def _flatten(self, tag: str, head: str, shape: tuple[int, ...]) -> str:
        self.nodes[f"{tag}.flat"] = nir.Flatten(input_type={"input": np.array(shape)},
                                                start_dim=0, end_dim=-1)
        self.edges.append((head, f"{tag}.flat"))
        return f"{tag}.flat"

    def projection(self, index: int, src: str, dst: str, weights_f: np.ndarray, delays: Any,
                   meta: dict[str, Any], branch_meta: Any = None,
                   bias: np.ndarray | None = None, conv: Conv2d | None = None) -> None:
        """Add the weight (and delay) nodes of one projection, one branch per delay value;
        a convolution (``conv``, float kernel) as one Conv2d node."""
        src_shape, dst_shape = self.shapes[src], self.shapes[dst]
        if conv is not None:
            self._conv(index, src, dst, conv, meta, bias)
            return
        full = len(dst_shape) == 3 and src_shape[1:] == (1, 1) and bias is None
        self.typed &= len(dst_shape) == 1 or full
        branches = _branches(weights_f, delays)
        for b, (dsteps, mask) in enumerate(branches):
            tag = f"p{index}" if len(branches) == 1 else f"p{index}.k{b}"
            m = {"projection": index, "src": src, "dst": dst, **meta}
            if b == 0 and delays is not None:
                m["delays"] = plain(np.asarray(delays, dtype=np.int64))
            if branch_meta is not None:
                m.update(branch_meta(mask))
            w = np.where(mask, weights_f, 0.0)
            if full:
                node = _full_conv(w, src_shape[0], dst_shape, m)
            elif b == 0 and bias is not None:
                node = nir.Affine(weight=w, bias=np.asarray(bias, np.float64), metadata={KEY: m})
            else:
                node = nir.Linear(weight=w, metadata={KEY: m})
            self.nodes[f"{tag}.w"] = node
            head = src if full or len(src_shape) == 1 else self._flatten(tag, src, src_shape)
            if dsteps is not None:
                delay = (dsteps.astype(np.float64) * self.dt).reshape(src_shape if full else -1)
                self.nodes[f"{tag}.delay"] = nir.Delay(
                    delay=delay, metadata={KEY: {"projection": index, "steps": dsteps}})
                self.edges.append((head, f"{tag}.delay"))
                head = f"{tag}.delay"
            self.edges += [(head, f"{tag}.w"), (f"{tag}.w", dst)]

    def _conv(self, index: int, src: str, dst: str, conv: Conv2d, meta: dict[str, Any],
              bias: np.ndarray | None) -> None:
        tag = f"p{index}"
        m = {"projection": index, "src": src, "dst": dst, **meta, **_geometry(conv),
             "has_bias": int(bias is not None)}
        per_channel = None
        if bias is not None:
            rows = np.asarray(bias, np.float64).reshape(conv.out_shape[0], -1)
            if np.any(rows != rows[:, :1]):
                raise InputError(f"projection {index} ('{src}' -> '{dst}'): a convolution's "
                                 "bias must be one value per output channel (NIR Conv2d)")
            per_channel = rows[:, 0].copy()
        self.nodes[f"{tag}.w"] = _conv_node(conv.kernel, conv.in_shape, conv.out_shape, m,
                                            per_channel, conv.stride, conv.padding,
                                            conv.dilation, conv.groups)
        self.typed &= self.shapes[src] == conv.in_shape
        self.edges.append((src, f"{tag}.w"))
        head = f"{tag}.w"
        if self.shapes[dst] != conv.out_shape:
            self.typed &= len(self.shapes[dst]) == 1
            head = self._flatten(tag, head, conv.out_shape)
        self.edges.append((head, dst))

    def graph(self, kind: str, reset: str, **extra: Any) -> nir.NIRGraph:
        """The graph with its contract (:func:`graph_contract`), type-checked by NIR unless a
        population that feeds a convolution also receives a dense projection from a
        population with input (a dense recurrence, say): NIR cannot reshape a vector to
        (C, H, W), so no shape of it types both edges."""
        outputs = list(self.net.outputs)
        contract = graph_contract(kind, self.dt, reset, self.net.n_inputs, outputs, **extra)
        for name in outputs:
            node = ("output" if len(outputs) == 1 and "output" not in self.shapes
                    else f"output.{name}")
            self.nodes[node] = nir.Output(output_type=np.array(self.shapes[name]))
            self.edges.append((name, node))
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata={KEY: contract},
                            type_check=self.typed)


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
    builder = _GraphBuilder(net, dt)
    resets = {p.reset for p in net.populations.values() if p.spiking} or {"zero"}
    if len(resets) > 1:
        raise InputError("populations mix reset rules; the NIR contract has one per graph")
    for name, pop in net.populations.items():
        meta = {"population": name, "du": pop.du, "dv": pop.dv, "vth": pop.vth,
                "bias": pop.bias, "spiking": int(pop.spiking)}
        builder.nodes[name] = _neuron_node(pop.du, pop.dv, pop.vth, pop.bias, pop.spiking, dt,
                                           meta, builder.shapes[name])
    for i, p in enumerate(net.projections):
        builder.projection(i, p.src, p.dst, p.weights, p.delays,
                           {"name": p.name} if p.name else {}, bias=p.bias, conv=p.conv)
    extra = {"network_config": json.dumps(network_config, sort_keys=True)} if network_config else {}
    return builder.graph("float", resets.pop(), **extra)


def fixed_point_network_to_nir(net: FixedPointNetwork, dt: float) -> nir.NIRGraph:
    """A NIR graph of a fixed-point network: float fields in LSB units, exact integers in
    each node's ``neurodeploy`` metadata."""
    dt = _check_dt(dt)
    builder = _GraphBuilder(net, dt)
    fnet = dequantize(net)
    for name, pop in net.populations.items():
        meta = {"population": name, **{k: plain(np.asarray(getattr(pop, k), np.int64))
                                       for k in pop.PARAMETERS}}
        f = fnet.populations[name]
        builder.nodes[name] = _neuron_node(f.du, f.dv, f.vth, f.bias, True, dt, meta,
                                           builder.shapes[name])
    for i, (p, fp_) in enumerate(zip(net.projections, fnet.projections, strict=True)):
        meta = {"weight_exp": p.weight_exp, "num_weight_bits": p.num_weight_bits,
                "sign_mode": p.sign_mode, **({"name": p.name} if p.name else {})}
        if p.conv is not None:  # the exact kernel; its matrix is the weights
            builder.projection(i, p.src, p.dst, fp_.weights, None,
                               {**meta, "kernel": np.asarray(p.conv.kernel, np.int64)},
                               conv=fp_.conv)
            continue
        w_ints = np.asarray(p.weights, np.int64)
        builder.projection(i, p.src, p.dst, fp_.weights, p.delays, meta,
                           branch_meta=lambda mask, w=w_ints: {"weights": np.where(mask, w, 0)})
    return builder.graph("fixed_point", "zero")


def network_to_nir(net: FloatNetwork | FixedPointNetwork, dt: float | None,
                   network_config: dict | None = None) -> nir.NIRGraph:
    """:func:`fixed_point_network_to_nir` or :func:`float_network_to_nir`, by the network's
    kind (``network_config`` applies to a float network only)."""
    if isinstance(net, FixedPointNetwork):
        return fixed_point_network_to_nir(net, dt)
    return float_network_to_nir(net, dt, network_config=network_config)


def write_nir(graph: nir.NIRGraph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` with ``nir.write``, atomically (temp file + rename)."""
    with atomic_output(path) as tmp:
        nir.write(tmp, graph)
