"""QATNetwork: a PTQ network run on the chip's own integers, with trainable weights.

:class:`QATNetwork` wraps a :class:`~neurodeploy.FixedPointNetwork` (as
:func:`neurodeploy.quantize.ptq.post_training_quantize` builds it: populations
``"layer0"`` .. ``"output"`` in series, each optionally with a self-recurrent projection)
and runs it with **exactly** the integers of the reference simulator: both run the integer
kernel (``neurodeploy.kernel``), here with the straight-through realisation
(:class:`~neurodeploy.quantize.qat.ops.STEIntOps`) or, for populations without a recurrent
projection, the fused scan :class:`~neurodeploy.quantize.qat.ops.IntLIFScan`.

What is trained: one float "shadow" copy of each projection's integer weights
(initialised to the integers, in integer LSBs). The forward pass rounds it onto the Lava
grid of the projection's sign mode and ``num_weight_bits`` (mixed, 8 bits: the even
integers in [-256, 254]; excitatory 0..255; inhibitory -255..0; coarser grids for fewer
bits) with a straight-through gradient, so that the network run is always a deployable
one. After each optimizer step :meth:`QATNetwork.clamp_weights_` keeps the shadow weights
inside the grid's range. The sign mode, ``weight_exp``, delays, du, dv, vth and the bias
stay PTQ's integers: they set ranges (accumulator headroom, thresholds within 17 bits)
that PTQ chose with calibration data and that lint checks, and the chip cannot change
some of them at run time anyway. Whether a population emulates Lava's int32 buffers
follows the current weights (:meth:`~neurodeploy.FixedPointNetwork.emulates_int32`).

Logits follow ``neurodeploy.readout``: ``count`` (output spike counts), ``mean_v`` (mean
of the output population's v over all steps) and ``max_v`` (maximum of v from step
``hops``, the number of projections in series); v-readouts are divided by the output
population's scale S, i.e. reported in the float model's units (the decision is the same,
the cross-entropy has the float model's temperature).

Units: integer LSBs throughout (u, v, weights, bias), except float-unit logits and
surrogate arguments. Time: 0-based steps; a spike at step t reaches a population behind
one projection at step t + 1 + delay. Everything runs in float64, which holds every
integer involved exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from neurodeploy import fixed_point as fp
from neurodeploy.errors import InputError
from neurodeploy.kernel import accumulate, lif_step
from neurodeploy.kernel.torch_ops import DTYPE, TorchIntOps, TorchLIF
from neurodeploy.models.surrogates import SpikeFn
from neurodeploy.network import INPUT, FixedPointNetwork, Projection, Slot
from neurodeploy.quantize.qat.ops import IntLIFScan, STEIntOps, straight_through
from neurodeploy.readout import READOUTS
from neurodeploy.traces import Traces

TraceDict = dict[str, dict[str, torch.Tensor]]


@dataclass(frozen=True)
class _Grid:
    """The Lava weight grid of one projection: multiples of ``step`` in [lo, hi]."""

    step: float
    lo: float
    hi: float

    @classmethod
    def of(cls, p: Projection) -> _Grid:
        step = 1 << fp.dropped_weight_bits(p.sign_mode, p.num_weight_bits, p.chip)
        lo, hi = fp.weight_limits(p.sign_mode, p.chip)
        # the largest multiples of step inside the clip range (mixed: -256 is one)
        hi_g = (hi // step) * step
        lo_g = -((-lo) // step) * step
        return cls(float(step), float(lo_g), float(hi_g))

    def snap(self, w: torch.Tensor) -> torch.Tensor:
        """Nearest grid value (ties to the even multiple), clipped to the grid's range."""
        return torch.clamp(torch.round(w / self.step) * self.step, self.lo, self.hi)


@dataclass(frozen=True)
class _TorchSlot:
    """A :class:`~neurodeploy.network.Slot` for trainable weights: columns and mask."""

    delay: int
    cols: torch.Tensor | None  # long indices into the source
    mask: torch.Tensor | None  # (n_dst, n_cols) 0/1 float64 for per-synapse delays

    @classmethod
    def of(cls, slot: Slot) -> _TorchSlot:
        cols = None if slot.cols is None else torch.as_tensor(slot.cols)
        mask = None if slot.mask is None else torch.as_tensor(slot.mask.astype(np.float64))
        return cls(slot.delay, cols, mask)


def _trace(values: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(values, dim=1) if values else like


class QATNetwork(nn.Module):
    """A PTQ network whose integer weights are fine-tuned with straight-through gradients.

    ``net``: a layered :class:`~neurodeploy.FixedPointNetwork` (feed-forward chain of
    populations, self-recurrent projections allowed; no other cycles) with one output
    population. ``readout``: ``"count"``, ``"mean_v"`` or ``"max_v"``. ``spike_fn``:
    the surrogate (kind, beta in float units; deterministic only: stochastic spikes would
    not be the chip's). ``scales``: the PTQ scale S of every population
    (``QuantizationInfo.scales``; integer LSBs of v per float unit), which converts beta
    and the v-readout logits to float units (see the module docstring). A convolution's
    expanded weights train as a dense projection (each synapse its own weight: the
    kernel's sharing is not kept), so the fine-tuned network's convolutions are dense.

    Parameters: ``weights[k]``, the float64 shadow of ``net.projections[k].weights`` (in
    integer LSBs, before ``weight_exp``). Everything else is the network's integers.
    """

    def __init__(
        self,
        net: FixedPointNetwork,
        readout: str,
        scales: Mapping[str, float],
        spike_fn: SpikeFn | None = None,
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise InputError(f"readout = {readout!r} is unknown; allowed: {', '.join(READOUTS)}")
        spike_fn = spike_fn if spike_fn is not None else SpikeFn()
        if spike_fn.stochastic:
            raise InputError("QAT needs deterministic spikes (the chip's): use a SpikeFn with "
                             "stochastic=False")
        if len(net.outputs) != 1:
            raise InputError(f"QAT reads one output population; this network has "
                             f"{len(net.outputs)} ({', '.join(net.outputs)})")
        order = net.strongly_connected_order()
        for comp in order:
            if len(comp) > 1:
                raise InputError(f"QAT supports layered networks (self-recurrence only); "
                                 f"populations {', '.join(comp)} form a cycle")
        if any(p.conv is not None for p in net.projections):  # trained as dense weights:
            net = replace(net, projections=[replace(p, conv=None) for p in net.projections])
        for name in net.populations:
            s = scales.get(name) if isinstance(scales, Mapping) else None
            if s is None or not math.isfinite(float(s)) or float(s) <= 0:
                raise InputError(f"scales[{name!r}] = {s!r}: every population needs a "
                                 "positive finite PTQ scale S (QuantizationInfo.scales)")
        self.net = net
        self.readout = readout
        self.spike_fn = spike_fn
        #: run populations without recurrent projections as one fused scan each (same
        #: values and gradients as the per-step graph; False: the per-step graph)
        self.fused = True
        self.order = [comp[0] for comp in order]
        self.output = net.outputs[0]
        self.hops = self._hops()
        self.weights = nn.ParameterList(
            nn.Parameter(torch.as_tensor(p.weights.astype(np.float64))) for p in net.projections
        )
        self.grids = [_Grid.of(p) for p in net.projections]
        self.slots = [[_TorchSlot.of(sl) for sl in p.delay_slots(keep_zero=True)]
                      for p in net.projections]
        self.consts = {name: TorchLIF.of(c) for name, c in net.lif_constants().items()}
        self.scales = {name: float(scales[name]) for name in net.populations}
        self.exact = TorchIntOps(net.chip)
        self.ops = {name: STEIntOps(spike_fn, self.scales[name], net.chip)
                    for name in net.populations}

    # ------------------------------------------------------------------ structure
    def _hops(self) -> int:
        """Projections in series from the input to the output population (self-loops and
        populations the input does not reach, e.g. PTQ's bias unit, not)."""
        depth = {INPUT: 0}
        reached = self.net.hops()
        for name in self.order:
            srcs = [p.src for p in self.net.incoming(name)
                    if p.src != name and (p.src == INPUT or p.src in reached)]
            depth[name] = 1 + max((depth[s] for s in srcs), default=0)
        return depth[self.output]

    def rounded_weights(self, k: int) -> torch.Tensor:
        """Projection k's weights on its Lava grid (straight-through gradient to the shadow)."""
        return straight_through(self.weights[k], self.grids[k].snap)

    @torch.no_grad()
    def clamp_weights_(self) -> None:
        """Keep every shadow weight inside its grid's range (call after an optimizer step)."""
        for w, grid in zip(self.weights, self.grids, strict=True):
            w.clamp_(grid.lo, grid.hi)

    def _emulate_int32(self, weights: list[torch.Tensor]) -> dict[str, bool]:
        """Per population: can its input overflow int32 with the current weights?"""
        current = [w.detach().cpu().numpy() for w in weights]
        return {name: self.net.emulates_int32(name, current) for name in self.net.populations}

    # ------------------------------------------------------------------ arithmetic
    def _slot_sum(
        self, k: int, w: torch.Tensor, delayed: Callable[[_TorchSlot], torch.Tensor | None],
        ops: STEIntOps, wrap: bool,
    ) -> torch.Tensor | None:
        """Projection k's input (the kernel's :func:`accumulate` over its delay slots).

        ``delayed(slot)`` gives the source spikes that arrive through that slot (or None
        when none can yet).
        """
        def slot_sums():
            for slot in self.slots[k]:
                x = delayed(slot)
                if x is None:
                    continue
                ws = w
                if slot.cols is not None:
                    x = x.index_select(x.dim() - 1, slot.cols.to(x.device))
                    ws = w.index_select(1, slot.cols.to(w.device))
                    if slot.mask is not None:
                        ws = ws * slot.mask.to(w.device)
                yield x @ ws.t()

        return accumulate(ops, slot_sums(), self.net.projections[k].weight_exp, wrap)

    def _block_input(
        self, k: int, w: torch.Tensor, src: torch.Tensor, ops: STEIntOps, wrap: bool
    ) -> torch.Tensor | None:
        """Input of projection k at every step from a known source train (batch, steps, n)."""
        batch, steps, n = src.shape

        def delayed(slot: _TorchSlot) -> torch.Tensor | None:
            lag = 1 + slot.delay
            if lag >= steps:
                return None
            return torch.cat([src.new_zeros((batch, lag, n)), src[:, : steps - lag]], dim=1)

        return self._slot_sum(k, w, delayed, ops, wrap)

    def _step_input(
        self, k: int, w: torch.Tensor, hist: list[torch.Tensor], t: int, ops: STEIntOps,
        wrap: bool,
    ) -> torch.Tensor | None:
        """Input of (recurrent) projection k at step t from the source's spikes so far."""

        return self._slot_sum(k, w, lambda slot: hist[t - 1 - slot.delay]
                              if t - 1 - slot.delay >= 0 else None, ops, wrap)

    # ------------------------------------------------------------------ running
    def _check_input(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        dev = self.weights[0].device if len(self.weights) else torch.device("cpu")
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if x.ndim != 3 or x.shape[2] != self.net.n_inputs:
            raise InputError(f"spikes has shape {tuple(x.shape)}; expected (batch, steps, "
                             f"n_inputs={self.net.n_inputs})")
        x = x.to(device=dev, dtype=DTYPE)
        top = self.net.input_max
        if not bool(((x >= 0) & (x <= top) & (x == torch.round(x))).all()):
            raise InputError("spikes must be 0/1 (or bool)" if top == 1 else
                             f"spikes must be integer counts 0..{top} (input_max)")
        return x

    def _constants(self, name: str, wrap: bool, device: torch.device) -> TorchLIF:
        c = self.consts[name]
        return TorchLIF(c.keep_u.to(device), c.keep_v.to(device), c.bias.to(device),
                        c.vth_scaled.to(device), wrap)

    def run(self, x: torch.Tensor | np.ndarray) -> TraceDict:
        """Traces ``{population: {"spikes", "u", "v"}}``, each (batch, steps, size) float64.

        ``x`` is (batch, steps, n_inputs) 0/1. The values are the reference simulator's
        integers for :meth:`to_fixed_point`; gradients flow to the shadow weights.
        """
        x = self._check_input(x)
        batch, steps, _ = x.shape
        weights = [self.rounded_weights(k) for k in range(len(self.weights))]
        wrap = self._emulate_int32(weights)
        trains: dict[str, torch.Tensor] = {INPUT: x}
        out: TraceDict = {}
        for name in self.order:
            ops, size = self.ops[name], self.net.populations[name].size
            c = self._constants(name, wrap[name], x.device)
            a_ext, recurrent = None, []
            for k, p in enumerate(self.net.projections):
                if p.dst != name:
                    continue
                if p.src == name:
                    recurrent.append(k)
                    continue
                part = self._block_input(k, weights[k], trains[p.src], ops, wrap[name])
                if part is not None:
                    a_ext = part if a_ext is None else a_ext + part
            if not recurrent and self.fused:
                a = a_ext if a_ext is not None else x.new_zeros((batch, steps, size))
                spikes, u, v = IntLIFScan.apply(a, c, self.scales[name], self.spike_fn, self.exact)
                out[name] = {"spikes": spikes, "u": u, "v": v}
                trains[name] = spikes
                continue
            u = v = x.new_zeros((batch, size))
            hist: list[torch.Tensor] = []
            us, vs = [], []
            for t in range(steps):
                a = None if a_ext is None else a_ext[:, t]
                for k in recurrent:
                    part = self._step_input(k, weights[k], hist, t, ops, wrap[name])
                    if part is not None:
                        a = part if a is None else a + part
                s, u, v = lif_step(ops, c, a, u, v)
                hist.append(s)
                us.append(u)
                vs.append(v)
            empty = x.new_zeros((batch, 0, size))
            trains[name] = _trace(hist, empty)
            out[name] = {"spikes": trains[name], "u": _trace(us, empty), "v": _trace(vs, empty)}
        return out

    def logits(self, traces: TraceDict) -> torch.Tensor:
        """Logits (batch, n_out) of the readout; v-readouts in float units (v / S)."""
        rec = traces[self.output]
        if self.readout == "count":
            return rec["spikes"].sum(dim=1)
        v, scale = rec["v"], self.scales[self.output]
        if self.readout == "mean_v":
            return v.mean(dim=1) / scale
        return v[:, min(self.hops, v.shape[1] - 1):].amax(dim=1) / scale

    def forward(
        self, x: torch.Tensor | np.ndarray, return_traces: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, TraceDict]:
        """Logits (batch, n_out) for input spikes x (batch, steps, n_inputs), and the traces."""
        traces = self.run(x)
        return (self.logits(traces), traces) if return_traces else self.logits(traces)

    @torch.no_grad()
    def simulate(self, x: torch.Tensor | np.ndarray) -> Traces:
        """The run as :class:`~neurodeploy.Traces` (spikes bool, u and v int64), no gradients."""
        traces = self.run(x)
        return Traces(
            target="qat",
            spikes={n: r["spikes"].cpu().numpy() > 0 for n, r in traces.items()},
            v={n: r["v"].cpu().numpy().astype(np.int64) for n, r in traces.items()},
            u={n: r["u"].cpu().numpy().astype(np.int64) for n, r in traces.items()})

    # ------------------------------------------------------------------ export
    @torch.no_grad()
    def to_fixed_point(self) -> FixedPointNetwork:
        """The network with the current rounded integer weights; everything else unchanged."""
        return replace(self.net, projections=[
            replace(p, weights=grid.snap(w.detach()).cpu().numpy().astype(np.int64))
            for p, w, grid in zip(self.net.projections, self.weights, self.grids, strict=True)])
