"""NIR graphs to neurodeploy networks: exactly for our own graphs, explicitly for others.

A graph neurodeploy wrote (it carries the ``neurodeploy`` contract, see
``neurodeploy.exchange.contract``) comes back exactly: a fixed-point graph as the same
:class:`FixedPointNetwork` integers, a float graph as the same :class:`FloatNetwork`
(and the torch model's configuration when it has one).

Any other graph (snnTorch, Norse, Rockpool, hand-written) becomes a :class:`FloatNetwork`
by forward Euler at a time step ``dt`` that the caller gives, or that is assumed with a
warning (NIR graphs do not say it). Supported nodes: Input (any shape, flattened in C, H,
W order), Output, Affine, Linear, Scale, Delay, Flatten, Conv1d, Conv2d, SumPool2d,
AvgPool2d, CubaLIF, LIF, IF, CubaLI and LI (non-spiking readouts), I, and subgraphs (e.g.
snnTorch's RLeaky/RSynaptic recurrent blocks). The weight nodes between two neurons
compose into projections, exactly: convolutions and pooling become their equivalent
weights (:meth:`neurodeploy.Conv2d.expand`), so that pooling folds into the next
convolution or Affine where no neuron stands between them; a chain of convolutions and
poolings that is the whole path between two neurons stays one convolution
(``FloatProjection.conv``, :meth:`neurodeploy.Conv2d.followed_by`: a 2x2 sum pooling
before a 3x3 convolution becomes one 6x6 convolution of stride 2), where one exists and
each output channel has one input scale; delays become integer steps (a delay that is not
a whole number of steps is an error); each
neuron node becomes a population with (u then v, one step of latency per projection,
reset to zero unless ``reset="subtract"``)::

    CubaLIF: du = dt / tau_syn,  dv = dt / tau_mem,  input x (dv r du w_in),
             bias = dv (v_leak - v_reset),  vth = v_threshold - v_reset
    LIF:     du = 1,  dv = dt / tau,  input x (dv r),  bias = dv (v_leak - v_reset)
    IF:      du = 1,  dv = 0,  input x (dt r)
    CubaLI, LI, I: as CubaLIF, LIF, IF without spikes

v is measured from v_reset (our v = NIR v - v_reset). The extra step per projection is
neurodeploy's (and Loihi 2's) hop latency: a network of L projections answers L steps
later than tools that ignore it. An Affine's bias (summed over the weight nodes of a
projection) is a constant current into u that starts with the first input: from step L
for a population L projections from the input, the step that is the exporting tool's
step 0 after the shift (snnTorch adds a Linear's bias and its input in the same step).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import h5py
import nir
import numpy as np

from neurodeploy.errors import InputError, NetworkValidationError
from neurodeploy.exchange.contract import KEY, plain, read_contract
from neurodeploy.float_network import RESETS, FloatNetwork, FloatPopulation, FloatProjection
from neurodeploy.network import (
    _NAME_RE,
    INPUT,
    Conv2d,
    FixedPointNetwork,
    LIFPopulation,
    Projection,
)
from neurodeploy.network_io import check_input_file

ASSUMED_DT = 1e-4  # snnTorch's convention (its exporter writes taus for dt = 1e-4 s)
NEURONS = ("CubaLIF", "LIF", "IF", "CubaLI", "LI", "I")
CONVOLUTIONS = ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d")
WEIGHTS = ("Affine", "Linear", "Scale", "Delay", "Flatten", *CONVOLUTIONS)
SUPPORTED = (*NEURONS, *WEIGHTS, "Input", "Output", "NIRGraph")
_PLAIN = "plain"  # a path through no weight node yet (see _GenericImport._walk)


@dataclass
class ImportedGraph:
    """What a NIR graph became, and what had to be assumed on the way."""

    network: FloatNetwork | FixedPointNetwork
    kind: str  # "float" or "fixed_point"
    dt: float
    dt_source: str  # "graph" (contract), "argument" or "assumed"
    warnings: list[str] = field(default_factory=list)
    network_config: dict | None = None
    node_names: dict[str, str] = field(default_factory=dict)  # population -> NIR node


# ---------------------------------------------------------------------------- reading
def read_nir_file(path: str | os.PathLike[str]) -> nir.NIRGraph:
    """``nir.read`` (without NIR's own type check: we check shapes ourselves, by node name)
    with one-line errors for missing, truncated and non-NIR files."""
    path = check_input_file(path, "a NIR graph (.nir, HDF5)")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise InputError(f"{path}: an HDF5 file but not a NIR graph (no 'node' group; "
                                 "NIR files are written by nir.write)")
    except OSError as exc:
        reason = str(exc).split("(")[0].strip() or type(exc).__name__
        raise InputError(f"{path}: not a readable NIR file ({reason})") from None
    try:
        return nir.read(path, type_check=False)
    except Exception as exc:  # nir raises ValueError/KeyError/TypeError on odd content
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a valid NIR graph ({msg})") from None


def import_nir(source: str | os.PathLike[str] | nir.NIRGraph, dt: float | None = None,
               reset: str | None = None) -> ImportedGraph:
    """A NIR graph (file or object) as a neurodeploy network; see the module docstring.
    An invalid graph read from a file is an error whose message starts with the file."""
    if isinstance(source, nir.NIRGraph):
        return _import_graph(source, dt, reset)
    try:  # the file's own errors are InputErrors that name it already
        return _import_graph(read_nir_file(source), dt, reset)
    except NetworkValidationError as exc:
        raise NetworkValidationError(f"{source}: {exc}") from None


def _import_graph(graph: nir.NIRGraph, dt: float | None, reset: str | None) -> ImportedGraph:
    if dt is not None and (not np.isfinite(dt) or dt <= 0):
        raise InputError(f"dt = {dt} must be > 0 seconds")
    if reset is not None and reset not in RESETS:
        raise InputError(f"reset = {reset!r} is unknown; allowed: {', '.join(RESETS)}")
    contract = read_contract(getattr(graph, "metadata", None))
    if contract is not None:
        graph_dt = float(contract["dt"])
        if dt is not None and not np.isclose(dt, graph_dt, rtol=1e-9, atol=0):
            raise InputError(f"the graph declares dt = {graph_dt:g} s (neurodeploy contract); "
                             f"dt = {dt:g} contradicts it")
        if reset is not None and reset != contract["reset"]:
            raise InputError(f"the graph declares reset = {contract['reset']!r}; "
                             f"reset = {reset!r} contradicts it")
        if contract["kind"] == "fixed_point":
            return ImportedGraph(_fixed_from_metadata(graph, contract), "fixed_point",
                                 graph_dt, "graph")
        config = contract.get("network_config")
        return ImportedGraph(_float_from_metadata(graph, contract), "float", graph_dt, "graph",
                             network_config=json.loads(config) if config else None)
    warnings, dt_source = [], "argument"
    if dt is None:
        dt, dt_source = ASSUMED_DT, "assumed"
        warnings.append(f"the graph does not say its time step; assuming dt = {ASSUMED_DT:g} s "
                        "(snnTorch's convention; Norse uses 1e-3): pass --dt to be explicit")
    net, names, more = _GenericImport(graph, float(dt), reset or "zero").run()
    return ImportedGraph(net, "float", float(dt), dt_source, warnings + more, node_names=names)


# ------------------------------------------------------------- our own graphs (exact)
def _meta(node: Any) -> dict:
    meta = getattr(node, "metadata", None) or {}
    return meta.get(KEY, {}) if isinstance(meta, dict) else {}


def _whole(value: Any, where: str, integer: bool = True) -> np.ndarray:
    """``value`` as an int64 array, checked finite (and whole, with ``integer``) first: a
    NaN or a fraction would otherwise become an arbitrary integer."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise NetworkValidationError(f"{where}: dtype {arr.dtype}; expected numbers")
    bad = ~np.isfinite(arr) | ((arr != np.round(arr)) if integer else False)
    if np.any(bad):
        idx = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
        raise NetworkValidationError(f"{where}[{idx}] = {arr[bad].flat[0]}; expected "
                                     f"{'whole ' if integer else ''}finite numbers")
    return arr.astype(np.int64) if integer else arr


def _own_parts(graph: nir.NIRGraph) -> tuple[dict[str, tuple[str, Any, dict]],
                                              list[tuple[int, list[tuple[Any, dict]]]]]:
    """The population nodes by population, and the weight nodes of each projection (by
    projection index, in order)."""
    pops, projs = {}, {}
    for name, node in graph.nodes.items():
        meta = _meta(node)
        if "population" in meta:
            pops[str(meta["population"])] = (name, node, meta)
        elif "projection" in meta and type(node).__name__ in ("Linear", "Affine", "Conv2d"):
            projs.setdefault(int(meta["projection"]), []).append((node, meta))
    if not pops:
        raise NetworkValidationError("graph has the neurodeploy contract but no population "
                                     "nodes carry neurodeploy metadata")
    return pops, sorted(projs.items())


def _outputs(contract: dict) -> list[str] | None:
    return [s for s in str(contract.get("outputs") or "").split(",") if s] or None


def _projection_common(branches: list[tuple[Any, dict]]) -> dict:
    first = branches[0][1]
    delays = next((m["delays"] for _, m in branches if "delays" in m), None)
    return {"src": str(first["src"]), "dst": str(first["dst"]),
            "delays": None if delays is None else plain(delays),
            "name": str(first["name"]) if "name" in first else None}


def _geometry(index: int, meta: dict, kernel: np.ndarray) -> Conv2d:
    """A convolution's geometry from its weight node's metadata, checked, with ``kernel``."""
    where = f"projection {index}"
    try:
        geo = Conv2d(np.zeros(np.shape(kernel), np.int64),
                     *(_whole(meta[k], f"{where} {k}").tolist()
                       for k in ("in_shape", "stride", "padding", "dilation", "groups")))
    except KeyError as exc:
        raise NetworkValidationError(f"{where}: convolution metadata lacks {exc}") from None
    geo.check(where)
    return dataclasses.replace(geo, kernel=kernel)


def _dense_weights(node: Any, meta: dict) -> np.ndarray:
    """A weight node's (n_dst, n_src) float weights; a dense projection written as a
    Conv2d on a (n, 1, 1) source (``full_conv``) is unfolded."""
    w = np.asarray(node.weight, np.float64)
    return (w[:, :, ::-1, ::-1].transpose(0, 2, 3, 1).reshape(-1, w.shape[1])
            if meta.get("full_conv") else w)


def _fixed_from_metadata(graph: nir.NIRGraph, contract: dict) -> FixedPointNetwork:
    pops, projs = _own_parts(graph)
    populations = {name: LIFPopulation(int(np.asarray(node.v_threshold).size),
                                       **{k: plain(meta[k]) for k in meta
                                          if k in LIFPopulation.PARAMETERS})
                   for name, (_, node, meta) in pops.items()}
    projections = []
    for index, branches in projs:
        first = branches[0][1]
        for node, _ in branches:
            _whole(node.weight, f"projection {index} NIR weight", integer=False)
        fields = dict(weight_exp=int(first["weight_exp"]),
                      num_weight_bits=int(first["num_weight_bits"]),
                      sign_mode=str(first["sign_mode"]), **_projection_common(branches))
        if "kernel" in first:
            geo = _geometry(index, first, _whole(first["kernel"], f"projection {index} kernel"))
            del fields["delays"]
            projections.append(Projection.conv2d(
                kernel=geo.kernel, in_shape=geo.in_shape, stride=geo.stride,
                padding=geo.padding, dilation=geo.dilation, groups=geo.groups, **fields))
            continue
        weights = sum(_whole(m["weights"], f"projection {index} weights") for _, m in branches)
        projections.append(Projection(weights=weights, **fields))
    return FixedPointNetwork(int(contract["n_inputs"]), populations, projections,
                             outputs=_outputs(contract))


def _float_from_metadata(graph: nir.NIRGraph, contract: dict) -> FloatNetwork:
    pops, projs = _own_parts(graph)
    populations = {
        name: FloatPopulation(int(np.asarray(meta["du"]).size), meta["du"], meta["dv"],
                              meta["vth"], meta["bias"], spiking=bool(meta["spiking"]),
                              reset=str(contract["reset"]))
        for name, (_, node, meta) in pops.items()}
    projections = []
    for index, branches in projs:
        node, first = branches[0]
        if "in_shape" in first:  # a convolution: one Conv2d node, the float kernel
            geo = _geometry(index, first, np.asarray(node.weight, np.float64))
            bias = (np.repeat(np.asarray(node.bias, np.float64), geo.out_shape[1]
                              * geo.out_shape[2]) if first.get("has_bias") else None)
            projections.append(FloatProjection(weights=geo.expand(geo.kernel), bias=bias, conv=geo,
                                               **_projection_common(branches)))
            continue
        weights = sum(_dense_weights(node, meta) for node, meta in branches)
        biases = [np.asarray(node.bias, np.float64) for node, _ in branches
                  if type(node).__name__ == "Affine"]
        projections.append(FloatProjection(weights=weights, bias=biases[0] if biases else None,
                                           **_projection_common(branches)))
    return FloatNetwork(int(contract["n_inputs"]), populations, projections,
                        outputs=_outputs(contract), dt=float(contract["dt"]))


# ------------------------------------------------------------ anyone's graphs (Euler)
def _type(node: Any) -> str:
    return type(node).__name__


def _label(name: str, node: Any) -> str:
    return f"node '{name}' ({_type(node)})"


def _invalid(name: str, node: Any, text: str) -> NetworkValidationError:
    """The one-line error about node ``name``: "node 'name' (Type): ``text``"."""
    return NetworkValidationError(f"{_label(name, node)}: {text}")


def _param(name: str, node: Any, attr: str, size: int | None = None,
           positive: bool = False) -> np.ndarray:
    arr = np.asarray(getattr(node, attr), dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else False)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        what = "is not finite" if not np.isfinite(arr[i]) else "must be > 0"
        raise _invalid(name, node, f"{attr}[{i}] = {arr[i]:g} {what}")
    if size is not None and arr.size not in (1, size):
        raise _invalid(name, node, f"{attr} has {arr.size} values; expected {size}")
    return np.broadcast_to(arr, (size or arr.size,)).copy()


def _neuron_size(name: str, node: Any) -> int:
    return int(np.prod(_neuron_shape(name, node)))


def _neuron_shape(name: str, node: Any) -> tuple[int, ...]:
    """The layout of a neuron node's values: its parameters' shape ((C, H, W) for the
    neurons of a convolutional layer)."""
    attrs = {"CubaLIF": "tau_mem", "LIF": "tau", "IF": "r", "CubaLI": "tau_mem", "LI": "tau",
             "I": "r"}[_type(node)]
    return tuple(int(x) for x in np.shape(getattr(node, attrs))) or (1,)


def _pair(name: str, node: Any, attr: str, value: Any) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or not np.all(arr == np.round(arr)):
        raise _invalid(name, node, f"{attr} = {np.asarray(value).tolist()}; expected an integer "
                                   "or a pair of integers")
    return int(arr[0]), int(arr[1])


def _convolution(name: str, node: Any, shape: tuple[int, ...], prev: str
                 ) -> tuple[Conv2d, np.ndarray, tuple[int, int, int]]:
    """The geometry (with the float kernel; a Conv1d as a Conv2d of height 1), the bias and
    the output shape (C, H, W) of a Conv1d, Conv2d, SumPool2d or AvgPool2d node whose input
    arrives in layout ``shape``."""
    kind, label = _type(node), _label(name, node)
    one_d = kind == "Conv1d"
    lifted = (shape[0], 1, shape[1]) if one_d and len(shape) == 2 else shape
    if kind in ("Conv1d", "Conv2d"):
        kernel = np.asarray(node.weight, np.float64)
        if kernel.ndim != (3 if one_d else 4) or not np.isfinite(kernel).all():
            raise NetworkValidationError(
                f"{label}: weight has shape {kernel.shape}; expected (out, in / groups, "
                f"{'k' if one_d else 'kh, kw'}) finite values")
        kernel = kernel[:, :, None, :] if one_d else kernel
        groups = int(node.groups)
        if node.input_shape is not None:
            lifted = (kernel.shape[1] * groups, *((1,) if one_d else ()),
                      *np.asarray(node.input_shape).reshape(-1).tolist())
    if len(lifted) != 3 or int(np.prod(lifted)) != int(np.prod(shape)):
        raise NetworkValidationError(
            f"{label}: receives {int(np.prod(shape))} values shaped {list(shape)} from "
            f"'{prev}'; expected (C, {'L' if one_d else 'H, W'}) input")
    lifted = tuple(int(x) for x in lifted)

    def pair(attr: str, default: int) -> tuple[int, int]:
        value = getattr(node, attr, default)
        value = default if value is None else value
        y, x = _pair(name, node, attr, value)
        return (1 if attr != "padding" else 0, x) if one_d and np.ndim(value) == 0 else (y, x)

    if kind in ("SumPool2d", "AvgPool2d"):
        size = _pair(name, node, "kernel_size", node.kernel_size)
        kernel = np.ones((lifted[0], 1, *size))
        if kind == "AvgPool2d":
            kernel /= size[0] * size[1]
        groups, stride, dilation = lifted[0], (pair("stride", 0) if node.stride is not None
                                                else size), (1, 1)
    else:
        stride, dilation = pair("stride", 1), pair("dilation", 1)
    padding_value = getattr(node, "padding", 0)
    if not isinstance(padding_value, str):
        padding = pair("padding", 0)
    elif padding_value == "valid":
        padding = (0, 0)
    else:  # "same": symmetric padding keeps the size at stride 1
        span = [(k - 1) * d for k, d in zip(kernel.shape[2:], dilation, strict=True)]
        if any(p % 2 for p in span):
            raise NetworkValidationError(f"{label}: padding 'same' with an even kernel span "
                                         f"{span} needs asymmetric padding, which Loihi 2's "
                                         "convolution has not")
        padding = (span[0] // 2, span[1] // 2)
    geometry = Conv2d(np.zeros(kernel.shape, dtype=np.int64), lifted, stride, padding,
                      dilation, groups)
    geometry.check(label)
    out_shape = geometry.out_shape
    bias = np.zeros(int(np.prod(out_shape)))
    if kind in ("Conv1d", "Conv2d") and getattr(node, "bias", None) is not None:
        bias = np.repeat(_param(name, node, "bias", out_shape[0]), out_shape[1] * out_shape[2])
    return dataclasses.replace(geometry, kernel=kernel), bias, out_shape


def _flatten(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, Any], list, set]:
    """Inline subgraphs: nodes named ``sub.inner``; a subgraph's Input/Output become
    pass-through nodes (returned in the third element)."""
    nodes: dict[str, Any] = {}
    passthrough: set[str] = set()
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges, inner_pass = _flatten(node, f"{full}.")
            nodes.update(inner)
            edges += inner_edges
            passthrough |= inner_pass
            for kind, ends in (("Input", entry), ("Output", exit_)):
                names = [n for n, x in node.nodes.items() if _type(x) == kind]
                if len(names) == 1:
                    ends[full] = f"{full}.{names[0]}"
                passthrough.update(f"{full}.{n}" for n in names)
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = f"{prefix}{a}", f"{prefix}{b}"
        a, b = exit_.get(a, a), entry.get(b, b)
        for end in (a, b):
            if end not in nodes:
                raise NetworkValidationError(f"edge {a!r} -> {b!r}: node {end!r} does not exist")
        edges.append((a, b))
    return nodes, edges, passthrough


class _GenericImport:
    def __init__(self, graph: nir.NIRGraph, dt: float, reset: str) -> None:
        self.dt, self.reset = dt, reset
        self.nodes, self.edges, self.passthrough = _flatten(graph)
        self.succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in self.edges:
            self.succ[a].append(b)
        self.warnings: list[str] = []

    def run(self) -> tuple[FloatNetwork, dict[str, str], list[str]]:
        bad = [f"'{n}' ({_type(x)})" for n, x in self.nodes.items() if _type(x) not in SUPPORTED]
        if bad:
            raise NetworkValidationError(f"unsupported NIR nodes: {', '.join(bad)}; neurodeploy "
                                         f"imports {', '.join(SUPPORTED[:-1])} and subgraphs")
        top_inputs = [n for n, x in self.nodes.items()
                      if _type(x) == "Input" and n not in self.passthrough]
        if len(top_inputs) != 1:
            raise NetworkValidationError(f"graph has {len(top_inputs)} Input nodes; neurodeploy "
                                         "networks take one input vector")
        self.input = top_inputs[0]
        in_shape = tuple(int(x) for x in
                         np.asarray(self.nodes[self.input].input_type["input"]).reshape(-1))
        if not in_shape or min(in_shape) < 1:
            raise NetworkValidationError(
                f"node '{self.input}' (Input): shape {list(in_shape)}; expected positive sizes")
        n_inputs = int(np.prod(in_shape))
        neurons = [n for n, x in self.nodes.items() if _type(x) in NEURONS]
        if not neurons:
            raise NetworkValidationError("graph has no neuron nodes (CubaLIF, LIF, IF, LI, ...)")
        pops, scale = {}, {}
        for name in neurons:
            pops[name], scale[name] = self._population(name, self.nodes[name])
        # connections: (src, dst) -> {delay: matrix}, bias
        self.conn: dict[tuple[str, str], dict[int, np.ndarray]] = {}
        self.bias: dict[tuple[str, str], np.ndarray] = {}
        self.convs: dict[tuple[str, str], list[Any]] = {}
        self.outputs: list[str] = []
        for src in [self.input, *neurons]:
            shape = in_shape if src == self.input else _neuron_shape(src, self.nodes[src])
            n = int(np.prod(shape))
            for nxt in self.succ[src]:
                self._walk(src, nxt, {0: np.eye(n)}, np.zeros(n), [src], shape)
        names = self._population_names(neurons)
        projections = []
        for (src, dst), mats in self.conn.items():
            bias = self.bias.get((src, dst))
            mats = {k: m * scale[dst][:, None] for k, m in mats.items()}
            kept = self._kept_conv(src, dst, mats, scale[dst])
            conv, mats = (None, mats) if kept is None else (kept[0], {0: kept[1]})
            projections += _projections(names.get(src, INPUT), names[dst], mats,
                                        None if bias is None else bias * scale[dst], conv)
        if not self.outputs:
            raise NetworkValidationError("no neuron node reaches an Output node")
        fed = {dst for _, dst in self.conn}
        self.warnings += [f"node '{n}' receives no input: it only ever sees its bias"
                          for n in neurons if n not in fed]
        populations = {names[n]: pops[n] for n in self._order(neurons)}
        net = FloatNetwork(n_inputs, populations, projections,
                           outputs=[names[n] for n in dict.fromkeys(self.outputs)], dt=self.dt)
        return net, {names[n]: n for n in neurons}, self.warnings

    # ------------------------------------------------------------------ pieces
    def _population(self, name: str, node: Any) -> tuple[FloatPopulation, np.ndarray]:
        kind, dt = _type(node), self.dt
        n = _neuron_size(name, node)

        def p(attr: str, positive: bool = False) -> np.ndarray:
            return _param(name, node, attr, n, positive)

        def rate(attr: str) -> np.ndarray:
            tau = p(attr, positive=True)
            d = dt / tau
            if (d > 1.0 + 1e-12).any():
                i = int(np.argmax(d))
                raise _invalid(name, node, f"{attr}[{i}] = {tau[i]:g} s is shorter than dt = "
                                           f"{dt:g} s (forward Euler would be unstable); use a "
                                           "smaller dt")
            return np.minimum(d, 1.0)

        spiking = kind in ("CubaLIF", "LIF", "IF")
        v_reset = p("v_reset") if spiking and hasattr(node, "v_reset") else np.zeros(n)
        if kind in ("CubaLIF", "CubaLI"):
            du, dv = rate("tau_syn"), rate("tau_mem")
            c = dv * p("r") * du * p("w_in")
        elif kind in ("LIF", "LI"):
            du, dv = np.ones(n), rate("tau")
            c = dv * p("r")
        else:  # IF, I: dv/dt = r I
            du, dv = np.ones(n), np.zeros(n)
            c = dt * p("r")
        v_leak = p("v_leak") if hasattr(node, "v_leak") else np.zeros(n)
        vth = p("v_threshold") - v_reset if spiking else np.zeros(n)
        if spiking and (vth < 0).any():
            i = int(np.argmax(vth < 0))
            raise _invalid(name, node, f"v_threshold[{i}] is below v_reset[{i}]; the neuron "
                                       "would fire at every step")
        pop = FloatPopulation(n, du, dv, vth, dv * (v_leak - v_reset), spiking=spiking,
                              reset=self.reset)
        return pop, c

    def _walk(self, src: str, name: str, mats: dict[int, np.ndarray], bias: np.ndarray,
              path: list[str], shape: tuple[int, ...], conv: Any = _PLAIN) -> None:
        """Follow the weight nodes from ``src`` to the next neurons; ``mats`` (per delay)
        and ``bias`` map src's values to the current node's, whose layout is ``shape``.
        ``conv``: ``_PLAIN`` while the path is the identity, the geometry while it is one
        convolution (a chain of Conv2d, Conv1d and pooling nodes that composes into one,
        reshapes aside), else None."""
        node = self.nodes[name]
        kind = _type(node)
        n_cur = next(iter(mats.values())).shape[0]
        if kind in NEURONS:
            size = _neuron_size(name, node)
            if size != n_cur:
                raise _invalid(name, node, f"has {size} neurons but receives {n_cur} values from "
                                           f"'{path[-1]}'")
            acc = self.conn.setdefault((src, name), {})
            self.convs.setdefault((src, name), []).append(conv)
            for k, m in mats.items():
                acc[k] = acc[k] + m if k in acc else m.copy()
            if np.any(bias != 0):
                self.bias[(src, name)] = self.bias.get((src, name), 0) + bias
            return
        if kind == "Output" and name not in self.passthrough:
            plain = (list(mats) == [0] and mats[0].shape[0] == mats[0].shape[1]
                     and np.array_equal(mats[0], np.eye(n_cur)) and not np.any(bias))
            if src == self.input or not plain:
                raise _invalid(name, node, f"reached from '{path[-1]}' through weights, not from "
                                           "a neuron; outputs must be neuron nodes (add a LI "
                                           "readout)")
            self.outputs.append(src)
            return
        if name in path:
            cycle = " -> ".join(f"'{n}'" for n in [*path[path.index(name):], name])
            raise NetworkValidationError(f"cycle {cycle} passes through no neuron node")
        mats, bias, shape, geometry = self._apply(name, node, mats, bias, path[-1], shape)
        if kind in CONVOLUTIONS and conv is _PLAIN:
            conv = geometry
        elif kind in CONVOLUTIONS and conv is not None:
            conv = conv.followed_by(geometry)
        elif kind != "Flatten" and name not in self.passthrough:
            conv = None
        for nxt in self.succ[name]:
            self._walk(src, nxt, mats, bias, [*path, name], shape, conv)

    def _apply(self, name: str, node: Any, mats: dict[int, np.ndarray], bias: np.ndarray,
               prev: str, shape: tuple[int, ...]
               ) -> tuple[dict[int, np.ndarray], np.ndarray, tuple[int, ...], Conv2d | None]:
        """The node applied to ``mats`` and ``bias``; a convolution also gives its geometry."""
        kind = _type(node)
        n_cur = bias.shape[0]
        if kind in CONVOLUTIONS:
            geometry, conv_bias, shape = _convolution(name, node, shape, prev)
            matrix = geometry.matrix()
            return ({k: matrix @ m for k, m in mats.items()}, matrix @ bias + conv_bias,
                    shape, geometry)
        if kind in ("Affine", "Linear"):
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2 or w.shape[1] != n_cur:
                raise _invalid(name, node, f"weight has shape {w.shape}, but receives {n_cur} "
                                           f"values from '{prev}'")
            _param(name, node, "weight")
            mats = {k: w @ m for k, m in mats.items()}
            bias = w @ bias
            if kind == "Affine":
                bias = bias + _param(name, node, "bias", w.shape[0])
            return mats, bias, (w.shape[0],), None
        if kind == "Scale":
            s = _param(name, node, "scale", n_cur)
            return {k: s[:, None] * m for k, m in mats.items()}, s * bias, shape, None
        if kind == "Delay":
            d = _param(name, node, "delay", n_cur)
            steps = d / self.dt
            whole = np.round(steps)
            off = (np.abs(steps - whole) > 1e-6 * np.maximum(1.0, whole)) | (d < 0)
            if off.any():
                i = int(np.argwhere(off)[0][0])
                raise _invalid(name, node, f"delay[{i}] = {d[i]:g} s is {steps[i]:g} steps at "
                                           f"dt = {self.dt:g} s; delays must be whole steps >= 0")
            out: dict[int, np.ndarray] = {}
            for k, m in mats.items():
                for e in np.unique(whole).astype(int):
                    part = (whole == e)[:, None] * m
                    out[k + e] = out[k + e] + part if k + e in out else part
            return out, bias, shape, None
        if kind == "Flatten":  # values are stored flat in C, H, W order: a reshape
            return mats, bias, (n_cur,), None
        return mats, bias, shape, None  # the Input/Output nodes of an inlined subgraph

    def _kept_conv(self, src: str, dst: str, mats: dict[int, np.ndarray],
                   scale: np.ndarray) -> tuple[Conv2d, np.ndarray] | None:
        """The convolution that is the whole (src, dst) connection (convolutions and
        poolings that compose into one, no delay or other weights on the way and one input
        scale per output channel), with its kernel times that scale, and its expansion (the
        projection's weights); None when the connection is dense."""
        paths = self.convs.get((src, dst), [])
        if len(paths) != 1 or not isinstance(paths[0], Conv2d) or list(mats) != [0]:
            return None
        per_channel = scale.reshape(paths[0].kernel.shape[0], -1)
        if np.any(per_channel != per_channel[:, :1]):
            return None
        conv = dataclasses.replace(paths[0],
                                   kernel=paths[0].kernel * per_channel[:, 0, None, None, None])
        # its expansion against the composed weights: they differ only by float rounding
        # (summed in another order where pooling windows overlap)
        weights = conv.expand(conv.kernel)
        return (conv, weights) if np.allclose(weights, mats[0], rtol=1e-12, atol=0) else None

    def _population_names(self, neurons: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for n in neurons:
            base = n if _NAME_RE.match(n) and n != INPUT else "n_" + re.sub(r"[^A-Za-z0-9_.\-]",
                                                                            "_", n)
            cand, i = base, 1
            while cand in names.values():
                cand, i = f"{base}_{i}", i + 1
            names[n] = cand
        return names

    def _order(self, neurons: list[str]) -> list[str]:
        """Populations by hop distance from the input (graph order breaks ties)."""
        dist = {self.input: 0}
        queue = [self.input]
        for a in queue:  # breadth first: the queue grows while it is read
            for s, d in self.conn:
                if s == a and d not in dist:
                    dist[d] = dist[a] + 1
                    queue.append(d)
        return sorted(neurons, key=lambda n: (dist.get(n, 1 << 30), neurons.index(n)))


def _projections(src: str, dst: str, mats: dict[int, np.ndarray], bias: np.ndarray | None,
                 conv: Conv2d | None = None) -> list[FloatProjection]:
    """One projection per (src, dst) when the delays of each synapse are unique (per synapse,
    axonal or one value), else one per delay value; ``conv``: the convolution that is the
    whole connection (delay 0; ``mats[0]`` its expansion)."""
    if conv is not None:
        return [FloatProjection(src, dst, mats[0], bias=bias, conv=conv)]
    keys = [k for k in sorted(mats) if np.any(mats[k] != 0)] or [min(mats)]
    if len(keys) == 1:
        k = keys[0]
        return [FloatProjection(src, dst, mats[k], delays=k or None, bias=bias)]
    masks = {k: mats[k] != 0 for k in keys}
    if np.max(sum(m.astype(int) for m in masks.values())) <= 1:
        weights = sum(mats[k] for k in keys)
        delays = sum(k * masks[k] for k in keys).astype(np.int64)
        nz = weights != 0
        axonal = all(len(np.unique(delays[nz[:, j], j])) <= 1 for j in range(weights.shape[1]))
        if axonal:
            delays = np.array([int(delays[nz[:, j], j][0]) if nz[:, j].any() else 0
                               for j in range(weights.shape[1])], dtype=np.int64)
        return [FloatProjection(src, dst, weights, delays=delays, bias=bias)]
    return [FloatProjection(src, dst, mats[k], delays=k or None,
                            bias=bias if i == 0 else None) for i, k in enumerate(keys)]
