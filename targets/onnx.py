"""ONNX backend: the fixed-point network exported as an integer ONNX model, run by ONNX Runtime.

The target ``"onnx"`` computes exactly the integers of the reference simulator
(``neurodeploy.targets.reference``, itself tested against Lava 0.10's ``fixed_pt``
models), spikes, u and v at every step, bit for bit: the step graph is built by the
integer kernel (``neurodeploy.kernel``: :func:`lif_step`, :func:`accumulate`) with
:class:`_Graph` as its realisation, whose operations emit ONNX nodes. The exported
models are plain ONNX (default domain only, opset :data:`OPSET` = 17, IR version 8,
integer and bool tensors at the interface); neurodeploy runs them with ONNX Runtime's CPU
provider, and the tests also run them with ``onnx.reference.ReferenceEvaluator``.

Time convention: steps are 0-based; a spike emitted at step t by a projection's source (or
the network input) reaches the destination neuron at step t + 1 + delay, one step per hop.
Step t therefore reads only spikes of steps <= t - 1, which the models keep in a spike
history per source: ``history[:, k]`` holds the source's spikes of step ``t - 1 - k``, for
k = 0..depth - 1, where depth = 1 + the largest delay of the projections leaving the
source (sources that feed no projection keep no history). Before step 0 every state
(u, v, history) is zero.

Two models (:func:`build_onnx_model`, :func:`export_onnx`), ``batch`` and ``steps`` are
dynamic dimensions (``steps`` may be fixed at export):

``kind="sequence"`` (one ``Scan`` whose body is the step graph, not unrolled; the input
is transposed to (steps, batch, n_inputs) so that the Scan runs over axis 0, and the
per-step outputs are transposed back)
    input  ``spikes``: bool (batch, steps, n_inputs), the network input of every step
    (int64 counts for a network with graded input, ``input_max`` > 1; so is its history);
    outputs, for every population p: ``spikes/<p>`` bool, ``u/<p>`` and ``v/<p>`` int64,
    each (batch, steps, size of p). v is recorded after the reset (0 at a spike step).

``kind="step"`` (one step t, state passed in and out explicitly)
    inputs ``spikes``: bool (batch, n_inputs), the network input of step t;
    ``u_prev/<p>``, ``v_prev/<p>``: int64 (batch, size), the state after step t - 1;
    ``history_prev/<src>``: bool (batch, depth, size of src) for every source ``src``
    (``"input"`` or a population) that feeds a projection.
    outputs ``spikes/<p>`` bool (batch, size), ``u/<p>``, ``v/<p>`` int64 (batch, size),
    ``history/<src>`` bool (batch, depth, size of src): the state after step t. Feed
    each output back into the input named by :func:`step_state_names`, starting from
    :func:`initial_step_state`.

How the graph computes the integers (every value is exact):

- Projection input: the delayed spikes of each delay slot are gathered from the flattened
  history and multiplied with the slot's weights in float32 (float64 when a destination
  row's sum of |weights| reaches 2**24; every partial sum is then an exact integer,
  whatever the summation order) and cast to int64; ``weight_exp`` then shifts each slot's
  sum (a floor right shift for a negative exponent: ``(x - Mod(x, 2**k)) / 2**k``, with
  ONNX's floor ``Mod``, so the Div is exact). Where the kernel lets slots merge
  (weight_exp >= 0 without int32 emulation) all slots share one Gather and one MatMul.
- Neuron state is int64. ``trunc0(p)`` (divide by 4096 rounding toward zero) is computed
  as ``Div(p - Mod(p, 4096, fmod=1), 4096)``: the remainder takes the dividend's sign
  (specified by ONNX) and the division is exact, so the result does not depend on how a
  runtime rounds integer division of negative numbers (ONNX Runtime 1.23 truncates; the
  ONNX specification does not say). Lava's single 24-bit wrap of u and v's saturation
  are ``Greater``/``Less``/``LessOrEqual`` + ``Where``: the graphs avoid int64 ``Clip``,
  ``Min``, ``Max`` and ``Sign``, which ONNX Runtime 1.23's CPU kernels get wrong for some
  values beyond int32 (microsoft/onnxruntime PR #25280). Bias and ``vth << 6`` are int64
  constants.
- Populations whose input can overflow Lava's int32 arithmetic (the kernel's
  ``emulate_int32``) wrap to int32 where the kernel says (``Mod(x + 2**31, 2**32) - 2**31``,
  ONNX integer ``Mod`` with fmod = 0 takes the divisor's sign). For the other populations
  every value stays inside int32 and no wrap is emitted.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurodeploy.chip import ChipFormat
from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.kernel import LIFConstants, accumulate, lif_step, slots_merge
from neurodeploy.network import INPUT, FixedPointNetwork, Projection
from neurodeploy.network_io import atomic_output
from neurodeploy.targets.reference import FLOAT32_EXACT
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

if TYPE_CHECKING:
    import onnx

OPSET = 17  # ONNX default-domain opset of the exported models
IR_VERSION = 8  # the lowest IR version that carries opset 17
KINDS = ("sequence", "step")
INPUT_NAME = "spikes"


# ----------------------------------------------------------------------------- imports
def _import(package: str) -> Any:
    """``onnx`` or ``onnxruntime``, else a one-line TargetUnavailableError."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise TargetUnavailableError(f"onnx: the '{package}' package is not importable "
                                     f"({exc}); pip install {package}") from None


# ------------------------------------------------------------------------------- names
def history_depths(net: FixedPointNetwork) -> dict[str, int]:
    """Spike-history depth (steps) per source that feeds a projection: 1 + its max delay.

    Keys are ``"input"`` and population names, in network order.
    """
    sources = {p.src for p in net.projections}
    return {n: 1 + max(p.max_delay for p in net.projections if p.src == n)
            for n in (INPUT, *net.populations) if n in sources}


def step_state_names(net: FixedPointNetwork) -> dict[str, str]:
    """State inputs of the step model, each mapped to the output that feeds it next step.

    ``{"u_prev/<p>": "u/<p>", "v_prev/<p>": "v/<p>", "history_prev/<src>":
    "history/<src>", ...}``.
    """
    return {**{f"{k}_prev/{p}": f"{k}/{p}" for p in net.populations for k in ("u", "v")},
            **{f"history_prev/{src}": f"history/{src}" for src in history_depths(net)}}


def initial_step_state(net: FixedPointNetwork, batch: int) -> dict[str, np.ndarray]:
    """The step model's state inputs before step 0 (all zeros): int64 (batch, size) u and
    v per population, bool (batch, depth, size) spike history per source."""
    state = {f"{k}_prev/{name}": np.zeros((batch, pop.size), dtype=np.int64)
             for name, pop in net.populations.items() for k in ("u", "v")}
    for src, depth in history_depths(net).items():
        dtype = np.int64 if src == INPUT and net.input_max > 1 else bool
        state[f"history_prev/{src}"] = np.zeros((batch, depth, net.size_of(src)), dtype=dtype)
    return state


# --------------------------------------------------------------------- graph building
@dataclass(frozen=True)
class _Group:
    """Delay slots that share one Gather + MatMul: ``sum_k W_k @ s(t - 1 - d_k)[cols_k]``.

    ``index`` are positions in the flattened history (batch, depth * n_src): ``d * n_src +
    col`` per gathered column; ``matrix`` is (len(index), n_dst) int64.
    """

    index: np.ndarray
    matrix: np.ndarray


def _groups(p: Projection, wrap: bool) -> list[_Group]:
    """One group for all slots where the kernel lets slot sums merge, else one group per
    slot; all-zero slots are dropped (they add 0, also after a floor shift)."""
    groups = [_Group(sl.delay * p.n_src + (np.arange(p.n_src) if sl.cols is None else sl.cols),
                     sl.weights.T) for sl in p.delay_slots()]
    if slots_merge(p.weight_exp, wrap) and len(groups) > 1:
        groups = [_Group(np.concatenate([g.index for g in groups]),
                         np.concatenate([g.matrix for g in groups]))]
    return groups


class _Graph:
    """Collects nodes (with fresh internal names under ``prefix``) and shared constants."""

    def __init__(self, onnx: Any, prefix: str, constants: dict[str, Any], chip: ChipFormat) -> None:
        self.onnx = onnx
        self.chip = chip
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.constants = constants  # name -> TensorProto, shared by every graph of a model
        self._count = 0

    def const(self, label: str, value: np.ndarray | int | float, dtype: Any) -> str:
        """An initializer holding ``value`` (numpy dtype ``dtype``); equal values share one."""
        arr = np.asarray(value, dtype=dtype)
        key = f"const/{label}"
        name, k = key, 0
        while name in self.constants:
            existing = self.onnx.numpy_helper.to_array(self.constants[name])
            if existing.dtype == arr.dtype and np.array_equal(existing, arr):
                return name
            k += 1
            name = f"{key}#{k}"
        self.constants[name] = self.onnx.numpy_helper.from_array(arr, name)
        return name

    def op(self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs: Any) -> str:
        if out is None:
            self._count += 1
            out = f"{self.prefix}{op_type.lower()}{self._count}"
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    # the kernel's IntOps over int64 graph values (names)
    def i64(self, label: str, value: np.ndarray | int) -> str:
        return self.const(label, value, np.int64)

    def decay(self, x: str, keep: str) -> str:
        """``trunc0(x * keep)`` as ``(p - fmod(p, 4096)) / 4096``: the Div is exact, so the
        result does not depend on how a runtime rounds integer division."""
        p = self.op("Mul", [x, keep])
        d = self.i64(str(self.chip.decay_unity), self.chip.decay_unity)
        return self.op("Div", [self.op("Sub", [p, self.op("Mod", [p, d], fmod=1)]), d])

    def add(self, x: str, y: str) -> str:
        return self.op("Add", [x, y])

    def scale(self, x: str, exp: int) -> str:
        """``x << exp``; for exp < 0 the floor ``(x - Mod(x, 2**k)) / 2**k`` (floor Mod)."""
        if exp >= 0:
            return self.op("Mul", [x, self.i64(f"2^{exp}", 1 << exp)])
        d = self.i64(f"2^{-exp}", 1 << -exp)
        return self.op("Div", [self.op("Sub", [x, self.op("Mod", [x, d], fmod=0)]), d])

    def wrap_int32(self, x: str) -> str:
        """Two's-complement wrap to int32: ``Mod(x + 2**31, 2**32) - 2**31`` (floor mod)."""
        half = self.i64("2^31", 1 << 31)
        shifted = self.op("Add", [x, half])
        return self.op("Sub", [self.op("Mod", [shifted, self.i64("2^32", 1 << 32)], fmod=0), half])

    def wrap24(self, u: str) -> str:
        """Lava's single wrap: ``u > 2**23 -> u - 2**24``, then ``u <= -2**23 -> u + 2**24``."""
        half = self.chip.state_half
        m, span = self.i64(f"2^{self.chip.state_bits - 1}", half), self.i64(
            f"2^{self.chip.state_bits}", 2 * half)
        u = self.op("Where", [self.op("Greater", [u, m]), self.op("Sub", [u, span]), u])
        neg_m = self.i64(f"-2^{self.chip.state_bits - 1}", -half)
        return self.op("Where", [self.op("LessOrEqual", [u, neg_m]), self.op("Add", [u, span]), u])

    def saturate(self, v: str) -> str:
        """Clip v to +-(2**23 - 1) with Where (ONNX Runtime's int64 Clip, Min, Max and Sign
        give wrong results for some values outside int32; its comparisons are right)."""
        hi = self.chip.state_max
        lo_c, hi_c = self.i64(str(-hi), -hi), self.i64(str(hi), hi)
        v = self.op("Where", [self.op("Greater", [v, hi_c]), hi_c, v])
        return self.op("Where", [self.op("Less", [v, lo_c]), lo_c, v])

    def fire(self, v: str, vth_scaled: str) -> str:
        return self.op("Greater", [v, vth_scaled])

    def reset(self, spikes: str, v: str) -> str:
        return self.op("Where", [spikes, self.i64("0", 0), v])


@dataclass(frozen=True)
class _GraphLIF:
    """A population's :class:`LIFConstants` as int64 initializer names."""

    keep_u: str
    keep_v: str
    bias: str
    vth_scaled: str
    emulate_int32: bool

    @classmethod
    def of(cls, g: _Graph, label: str, c: LIFConstants) -> _GraphLIF:
        return cls(g.i64(f"{label}/keep_u", c.keep_u), g.i64(f"{label}/keep_v", c.keep_v),
                   g.i64(f"{label}/bias", c.bias), g.i64(f"{label}/vth_scaled", c.vth_scaled),
                   c.emulate_int32)


def _projection_input(g: _Graph, p: Projection, index: int, flat_history: str,
                      wrap: bool) -> str | None:
    """int64 (batch, n_dst) input that projection ``p`` delivers this step, or None."""
    sums = []
    for k, group in enumerate(_groups(p, wrap)):
        exact32 = int(np.abs(group.matrix).sum(axis=0).max()) < FLOAT32_EXACT
        dtype = np.float32 if exact32 else np.float64
        to = g.onnx.TensorProto.FLOAT if exact32 else g.onnx.TensorProto.DOUBLE
        label = f"proj{index}/group{k}"
        x = g.op("Gather", [flat_history, g.i64(f"{label}/index", group.index)], axis=1)
        acc = g.op("MatMul", [g.op("Cast", [x], to=to),
                              g.const(f"{label}/weights", group.matrix, dtype)])
        sums.append(g.op("Cast", [acc], to=g.onnx.TensorProto.INT64))
    return accumulate(g, sums, p.weight_exp, wrap)


@dataclass(frozen=True)
class _StepIO:
    """Names of one step's graph inputs and outputs (the step model or the Scan body)."""

    spikes_in: str
    u_in: dict[str, str]
    v_in: dict[str, str]
    history_in: dict[str, str]
    spikes_out: dict[str, str]
    u_out: dict[str, str]
    v_out: dict[str, str]
    history_out: dict[str, str]


def _step_nodes(g: _Graph, net: FixedPointNetwork, io: _StepIO) -> None:
    """Append the nodes of one step t: every population reads spikes of steps <= t - 1."""
    depths = history_depths(net)
    flat = {src: g.op("Reshape", [io.history_in[src], g.i64("shape/flat", [0, -1])])
            for src in depths}
    spikes: dict[str, str] = {INPUT: io.spikes_in}
    for name, consts in net.lif_constants().items():
        c = _GraphLIF.of(g, f"pop/{name}", consts)
        parts = [_projection_input(g, p, i, flat[p.src], c.emulate_int32)
                 for i, p in enumerate(net.projections) if p.dst == name]
        parts = [a for a in parts if a is not None]
        a = functools.reduce(g.add, parts) if parts else None
        s, u, v = lif_step(g, c, a, io.u_in[name], io.v_in[name])
        for value, names in ((s, io.spikes_out), (v, io.v_out), (u, io.u_out)):
            g.op("Identity", [value], out=names[name])
        spikes[name] = s
    axis1 = g.i64("axes/1", [1])
    for src, depth in depths.items():
        newest = g.op("Unsqueeze", [spikes[src], axis1],
                      out=io.history_out[src] if depth == 1 else None)
        if depth > 1:
            older = g.op("Slice", [io.history_in[src], g.i64("0/1d", [0]),
                                   g.i64(f"{depth - 1}/1d", [depth - 1]), axis1])
            g.op("Concat", [newest, older], out=io.history_out[src], axis=1)


def _check_kind(kind: str, steps: int | None) -> None:
    if kind not in KINDS:
        raise InputError(f"onnx: kind = {kind!r} is not one of {', '.join(KINDS)}")
    if steps is not None:
        if kind != "sequence":
            raise InputError("onnx: steps applies to kind='sequence' only")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise InputError(f"onnx: steps = {steps!r} must be an integer >= 1 or None")


def build_onnx_model(
    net: FixedPointNetwork, kind: str = "sequence", steps: int | None = None
) -> onnx.ModelProto:
    """The ONNX model of ``net`` (see the module docstring for inputs and outputs).

    ``kind`` is ``"sequence"`` (input spikes (batch, steps, n_inputs) -> spikes, u, v of
    every population and step, one ``Scan``) or ``"step"`` (one step with explicit state).
    ``steps`` fixes the number of steps of a sequence model (default: dynamic). The model
    passes ``onnx.checker.check_model`` and uses opset :data:`OPSET`.
    """
    _check_kind(kind, steps)
    onnx = _import("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    pops = net.populations
    depths = history_depths(net)
    constants: dict[str, Any] = {}
    in_elem = tp.INT64 if net.input_max > 1 else tp.BOOL  # graded input carries counts

    def info(name: str, elem: int, shape: Sequence[int | str]) -> Any:
        return helper.make_tensor_value_info(name, elem, list(shape))

    def io_for(prefix: str) -> _StepIO:  # the fields after spikes_in, in order
        kinds = (("u_prev", pops), ("v_prev", pops), ("history_prev", depths),
                 ("spikes", pops), ("u", pops), ("v", pops), ("history", depths))
        return _StepIO(f"{prefix}{INPUT_NAME}", *({k: f"{prefix}{kind}/{k}" for k in keys}
                                                  for kind, keys in kinds))

    def state_infos(names: dict[str, str], elem: int) -> list[Any]:
        return [info(n, elem, ["batch", net.size_of(k)]) for k, n in names.items()]

    def history_infos(names: dict[str, str]) -> list[Any]:
        return [info(n, in_elem if k == INPUT else tp.BOOL, ["batch", depths[k], net.size_of(k)])
                for k, n in names.items()]

    def states(u: dict[str, str], v: dict[str, str], history: dict[str, str]) -> list[Any]:
        return [*state_infos(u, tp.INT64), *state_infos(v, tp.INT64), *history_infos(history)]

    if kind == "step":
        io = io_for("")
        g = _Graph(onnx, "step/", constants, net.chip)
        _step_nodes(g, net, io)
        inputs = [info(io.spikes_in, in_elem, ["batch", net.n_inputs]),
                  *states(io.u_in, io.v_in, io.history_in)]
        outputs = [*state_infos(io.spikes_out, tp.BOOL),
                   *states(io.u_out, io.v_out, io.history_out)]
        graph = helper.make_graph(g.nodes, "neurodeploy_step", inputs, outputs,
                                  initializer=list(constants.values()))
    else:
        io = io_for("scan/")
        body = _Graph(onnx, "scan/", constants, net.chip)
        _step_nodes(body, net, io)
        rec_u = {p: f"scan/u_rec/{p}" for p in pops}
        rec_v = {p: f"scan/v_rec/{p}" for p in pops}
        for p in pops:  # a graph output name appears once: scan outputs copy the state
            body.op("Identity", [io.u_out[p]], out=rec_u[p])
            body.op("Identity", [io.v_out[p]], out=rec_v[p])
        body_graph = helper.make_graph(
            body.nodes, "neurodeploy_step_body",
            [*states(io.u_in, io.v_in, io.history_in),
             info(io.spikes_in, in_elem, ["batch", net.n_inputs])],
            [*states(io.u_out, io.v_out, io.history_out), *state_infos(io.spikes_out, tp.BOOL),
             *state_infos(rec_u, tp.INT64), *state_infos(rec_v, tp.INT64)])
        g = _Graph(onnx, "init/", constants, net.chip)
        batch = g.op("Shape", [INPUT_NAME], start=0, end=1)
        zeros: dict[tuple[int, ...], str] = {}

        def zeros_of(dims: tuple[int, ...], elem: int) -> str:
            key = (elem, *dims)
            if key not in zeros:
                shape = g.op("Concat", [batch, g.i64(f"dims/{'x'.join(map(str, dims))}",
                                                     list(dims))], axis=0)
                zeros[key] = g.op("ConstantOfShape", [shape],
                                  value=helper.make_tensor("zero", elem, [1], [0]))
            return zeros[key]

        initial = ([zeros_of((pops[p].size,), tp.INT64) for p in pops] * 2
                   + [zeros_of((d, net.size_of(s)), in_elem if s == INPUT else tp.BOOL)
                      for s, d in depths.items()])
        finals = ([f"final/{k}/{p}" for k in ("u", "v") for p in pops]
                  + [f"final/history/{s}" for s in depths])
        recorded = [f"{k}/{p}" for k in ("spikes", "u", "v") for p in pops]
        # Scan runs over axis 0 (steps first), the axis every runtime supports
        time_major = g.op("Transpose", [INPUT_NAME], perm=[1, 0, 2])
        per_step = [f"init/time_major/{name}" for name in recorded]
        g.nodes.append(helper.make_node(
            "Scan", [*initial, time_major], [*finals, *per_step], body=body_graph,
            num_scan_inputs=1))
        for src, dst in zip(per_step, recorded, strict=True):
            g.op("Transpose", [src], out=dst, perm=[1, 0, 2])
        n_steps: int | str = "steps" if steps is None else int(steps)
        outputs = [info(f"{k}/{p}", tp.BOOL if k == "spikes" else tp.INT64,
                        ["batch", n_steps, pops[p].size]) for k in ("spikes", "u", "v")
                   for p in pops]
        graph = helper.make_graph(
            g.nodes, "neurodeploy_sequence",
            [info(INPUT_NAME, in_elem, ["batch", n_steps, net.n_inputs])], outputs,
            initializer=list(constants.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="neurodeploy", ir_version=IR_VERSION)
    model.doc_string = (
        f"neurodeploy fixed-point network, kind={kind}: Loihi 2 / Lava fixed_pt CUBA LIF "
        "integer dynamics, bit-exact with neurodeploy's reference simulator. Steps are "
        "0-based; a spike at step t reaches the next population at step t + 1 + delay.")
    onnx.checker.check_model(model)
    return model


def export_onnx(
    net: FixedPointNetwork,
    path: str | os.PathLike[str],
    kind: str = "sequence",
    steps: int | None = None,
) -> None:
    """Write the ONNX model of ``net`` (:func:`build_onnx_model`) to ``path`` atomically
    (a temporary file beside it, then a rename)."""
    model = build_onnx_model(net, kind, steps)
    with atomic_output(path) as tmp:
        tmp.write_bytes(model.SerializeToString())


# --------------------------------------------------------------------------------- run
def onnx_session(
    model: Any, intra_op_num_threads: int | None = None
) -> Any:
    """An ONNX Runtime CPU ``InferenceSession`` of a ModelProto, serialized bytes or path."""
    ort = _import("onnxruntime")
    options = ort.SessionOptions()
    if intra_op_num_threads is not None:
        options.intra_op_num_threads = int(intra_op_num_threads)
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif isinstance(model, os.PathLike):
        model = os.fspath(model)
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def simulate_onnx(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    intra_op_num_threads: int | None = None,
) -> Traces:
    """Run ``net`` as an exported ONNX sequence model on ONNX Runtime (CPU, one session).

    Same inputs, outputs and integers as the reference simulator: ``spikes`` is (batch,
    steps, n_inputs), bool or 0/1; step t is 0-based and an input spike at step t reaches
    a population behind one projection at step t + 1 + delay. Returns spikes (bool) and
    the recorded u, v (int64, LSB units), each (batch, steps, size). Raises
    TargetUnavailableError when onnx or onnxruntime is not importable.
    """
    x = check_spikes(net, spikes)
    record = check_record(record)
    wanted = check_populations(net, populations)
    _import("onnxruntime")
    session = onnx_session(build_onnx_model(net, "sequence"), intra_op_num_threads)
    names = [f"{kind}/{p}" for kind in record for p in wanted]
    values = dict(zip(names, session.run(names, {INPUT_NAME: np.ascontiguousarray(x)}),
                      strict=True))

    def recorded(kind: str, dtype: type) -> dict[str, np.ndarray]:
        return {p: np.asarray(values[f"{kind}/{p}"], dtype=dtype) for p in wanted if kind in record}

    return Traces(target="onnx", spikes=recorded("spikes", bool),
                  v=recorded("v", np.int64), u=recorded("u", np.int64))
