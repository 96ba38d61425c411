"""Quantization-aware training (QAT): fine-tune a PTQ network on the chip's own integers.

:class:`QATNetwork` wraps a :class:`~neurodeploy.FixedPointNetwork` (as
:func:`neurodeploy.quantize.ptq.post_training_quantize` builds it: populations
``"layer0"`` .. ``"output"`` in series, each optionally with a self-recurrent projection)
and runs it in torch with **exactly** the integers of the reference simulator
(``neurodeploy.targets.reference``): Lava's single 24-bit wrap of u, saturation of v,
truncation toward zero of both decays, the hidden ``+ 1`` on du, the unshifted bias,
``weight_exp`` applied to each delay slot's sum (floor for negative exponents), the
strict threshold ``v > vth << 6``, reset of v to 0, one step of latency per projection
plus its delays, and Lava's int32 wraps for populations whose input can overflow them.
The forward values come from the very functions of ``neurodeploy.targets.torch_int``
(:func:`trunc_shift12`, :func:`wrap_current`, :func:`wrap_int32`,
:func:`shift_by_weight_exp`); QAT only adds gradients:

- every integer operation (truncation, floor shift, wraps, the clip of v, the rounding of
  weights onto the grid) is a straight-through estimator: its forward value is the exact
  integer result, its backward pass is the derivative of the same operation without the
  rounding (``1/4096`` for the decays' ``trunc(p / 4096)``, ``2**weight_exp`` for a shift,
  1 for wraps, clip and weight rounding);
- the spike ``H(v' - (vth << 6))`` gets the surrogate gradient of a
  :class:`~neurodeploy.models.surrogates.SpikeFn`, evaluated in float units: with the
  population's PTQ scale S (integer LSBs of v per float unit), the surrogate sees
  ``x = (v' - (vth << 6)) / S``; in integer units its width is ``beta_int = beta / S``
  per LSB, and by the chain rule the gradient is exactly the float model's (a surrogate
  trained with beta = 10 at vth = 1 behaves the same here). The reset does not pass
  gradients (as ``neurodeploy.models.neurons.lif_step``'s default ``detach_reset``).

What is trained: one float "shadow" copy of each projection's integer weights
(initialised to the integers, in integer LSBs). The forward pass rounds it onto the Lava
grid of the projection's sign mode and ``num_weight_bits`` (mixed, 8 bits: the even
integers in [-256, 254]; excitatory 0..255; inhibitory -255..0; coarser grids for fewer
bits), so that the network run is always a deployable one. After each optimizer step
:meth:`QATNetwork.clamp_weights_` keeps the shadow weights inside the grid's range. The
sign mode, ``weight_exp``, delays, du, dv, vth and the bias stay PTQ's integers: they set
ranges (accumulator headroom, thresholds within 17 bits) that PTQ chose with calibration
data and that lint checks, and the chip cannot change some of them at run time anyway.

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
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurodeploy import fixed_point as fp
from neurodeploy.errors import InputError
from neurodeploy.models.surrogates import SpikeFn, surrogate_derivative_
from neurodeploy.network import INPUT, FixedPointNetwork, Projection
from neurodeploy.readout import READOUTS
from neurodeploy.targets.reference import SAFE_INPUT
from neurodeploy.targets.torch_int import (
    DTYPE,
    shift_by_weight_exp,
    trunc_shift12,
    wrap_current,
    wrap_int32,
)
from neurodeploy.traces import Traces

TraceDict = dict[str, dict[str, torch.Tensor]]


# ------------------------------------------------------------- straight-through estimators
class _StraightThrough(torch.autograd.Function):
    """Forward ``op(x)`` (an exact integer operation), backward ``grad * gain``."""

    @staticmethod
    def forward(ctx, x, op, gain):
        ctx.gain = gain
        return op(x)

    @staticmethod
    def backward(ctx, grad):
        return (grad * ctx.gain if ctx.gain != 1.0 else grad), None, None


def straight_through(
    x: torch.Tensor, op: Callable[[torch.Tensor], torch.Tensor], gain: float = 1.0
) -> torch.Tensor:
    """``op(x)`` exactly in the forward pass; gradient ``gain`` (op without rounding) back."""
    return _StraightThrough.apply(x, op, float(gain))


def ste_trunc_shift12(p: torch.Tensor) -> torch.Tensor:
    """Lava's ``trunc0(p) = sign(p) * (|p| >> 12)``, with the gradient of ``p / 4096``."""
    return straight_through(p, trunc_shift12, 1.0 / fp.DECAY_UNITY)


def ste_shift(acc: torch.Tensor, weight_exp: int) -> torch.Tensor:
    """``acc << weight_exp`` or floor ``acc >> -weight_exp``; gradient ``2**weight_exp``."""
    return straight_through(acc, lambda a: shift_by_weight_exp(a, weight_exp), 2.0**weight_exp)


def ste_wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement int32 wrap (identity gradient)."""
    return straight_through(x, wrap_int32)


def ste_wrap_current(u: torch.Tensor) -> torch.Tensor:
    """Lava's single 24-bit wrap of u (identity gradient)."""
    return straight_through(u, wrap_current)


def _clip_v(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(v, float(fp.V_MIN), float(fp.V_MAX))


def ste_clip_v(v: torch.Tensor) -> torch.Tensor:
    """Saturation of v to 24 bits (identity gradient)."""
    return straight_through(v, _clip_v)


class _IntLIFScan(torch.autograd.Function):
    """One population's integer LIF over all steps with its straight-through backward pass.

    Forward: exactly :meth:`QATNetwork._lif_step` repeated (the reference simulator's
    integers), from ``act`` = the input already shifted by 6 (and int32-wrapped when the
    population needs it), (batch, steps, n). Backward, for t = T-1..0, the adjoints of the
    STE graph of those steps (alpha = keep_u / 4096, beta = keep_v / 4096, the gradients of
    the truncating decays; wraps and the clip of v pass gradients unchanged; the reset is
    detached)::

        lv_t = Gv_t + beta lp_(t+1)
        lp_t = Gs_t g((p_t - vth64) / S) / S + lv_t (1 - s_t)
        lu_t = lp_t + Gu_t + alpha lu_(t+1);     G(act_t) = lu_t

    The same arithmetic as autograd through the per-step graph (~10 Python-level nodes per
    step and population), without building it; tests/test_qat.py checks both agree.
    """

    @staticmethod
    def forward(ctx, act, keep_u, keep_v, bias, vth64, scale, spike_fn, wrap):
        batch, steps, n = act.shape
        us, ps = torch.empty_like(act), torch.empty_like(act)
        volts = torch.empty_like(act)
        fires = torch.zeros_like(act)
        u = v = act.new_zeros((batch, n))
        for t in range(steps):
            decayed = trunc_shift12(u * keep_u)
            u = wrap_current(wrap_int32(decayed + act[:, t]) if wrap else decayed + act[:, t])
            p = _clip_v(trunc_shift12(v * keep_v) + u + bias)
            s = p > vth64
            v = torch.where(s, torch.zeros_like(p), p)
            us[:, t], ps[:, t], volts[:, t], fires[:, t] = u, p, v, s
        ctx.save_for_backward(ps, fires, keep_u, keep_v, vth64)
        ctx.cfg = (float(scale), spike_fn)
        return fires, us, volts

    @staticmethod
    def backward(ctx, g_spikes, g_us, g_volts):
        ps, fires, keep_u, keep_v, vth64 = ctx.saved_tensors
        scale, spike_fn = ctx.cfg
        batch, steps, n = ps.shape
        alpha = (keep_u / fp.DECAY_UNITY).expand(batch, n)
        beta = (keep_v / fp.DECAY_UNITY).expand(batch, n)
        sg = surrogate_derivative_(spike_fn.kind, (ps - vth64) / scale, spike_fn.beta,
                                   spike_fn.p0).div_(scale)
        g_act = torch.empty_like(ps)
        lp = lu = ps.new_zeros((batch, n))
        for t in range(steps - 1, -1, -1):
            lv = beta * lp if g_volts is None else torch.addcmul(g_volts[:, t], beta, lp)
            lp = lv * (1.0 - fires[:, t])
            if g_spikes is not None:
                lp = torch.addcmul(lp, g_spikes[:, t], sg[:, t])
            lu = torch.addcmul(lp, alpha, lu)
            if g_us is not None:
                lu = lu + g_us[:, t]
            g_act[:, t] = lu
        return g_act, None, None, None, None, None, None, None


# ------------------------------------------------------------------------ network pieces
@dataclass(frozen=True)
class _Slot:
    """One delay value of a projection: its source columns (None: all) and weight mask."""

    delay: int
    cols: torch.Tensor | None  # long indices into the source
    mask: torch.Tensor | None  # (n_dst, n_cols) 0/1 float64 for per-synapse delays


@dataclass(frozen=True)
class _Grid:
    """The Lava weight grid of one projection: multiples of ``step`` in [lo, hi]."""

    step: float
    lo: float
    hi: float

    @classmethod
    def of(cls, p: Projection) -> _Grid:
        step = 1 << fp.dropped_weight_bits(p.sign_mode, p.num_weight_bits)
        lo, hi = fp.weight_limits(p.sign_mode)
        # the largest multiples of step inside the clip range (mixed: -256 is one)
        hi_g = (hi // step) * step
        lo_g = -((-lo) // step) * step
        return cls(float(step), float(lo_g), float(hi_g))

    def snap(self, w: torch.Tensor) -> torch.Tensor:
        """Nearest grid value (ties to the even multiple), clipped to the grid's range."""
        return torch.clamp(torch.round(w / self.step) * self.step, self.lo, self.hi)


def _slots(p: Projection) -> list[_Slot]:
    """Every delay slot a projection can use (kept even when its weights are all 0 now)."""
    kind = p.delay_kind
    if kind in ("none", "uniform"):
        return [_Slot(p.max_delay, None, None)]
    if kind == "axonal":
        axonal = np.asarray(p.delays, dtype=np.int64)
        return [_Slot(int(d), torch.as_tensor(np.flatnonzero(axonal == d)), None)
                for d in np.unique(axonal)]
    dmat = np.asarray(p.delays, dtype=np.int64)
    slots = []
    for d in np.unique(dmat):
        hit = dmat == d
        cols = np.flatnonzero(hit.any(axis=0))
        slots.append(_Slot(int(d), torch.as_tensor(cols),
                           torch.as_tensor(hit[:, cols].astype(np.float64))))
    return slots


@dataclass(frozen=True)
class _PopConsts:
    """Integer constants of one population as float64 vectors (size,)."""

    keep_u: torch.Tensor  # 4096 - (du + 1)
    keep_v: torch.Tensor  # 4096 - dv
    vth_scaled: torch.Tensor  # vth << 6
    bias: torch.Tensor  # bias_mant << bias_exp (floor shift for negative exponents)
    scale: float  # S: integer LSBs of v per float unit


def _spike_trace(spikes: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(spikes, dim=1) if spikes else like


# -------------------------------------------------------------------------------- module
class QATNetwork(nn.Module):
    """A PTQ network whose integer weights are fine-tuned with straight-through gradients.

    ``net``: a layered :class:`~neurodeploy.FixedPointNetwork` (feed-forward chain of
    populations, self-recurrent projections allowed; no other cycles) with one output
    population. ``readout``: ``"count"``, ``"mean_v"`` or ``"max_v"``. ``spike_fn``:
    the surrogate (kind, beta in float units; deterministic only: stochastic spikes would
    not be the chip's). ``scales``: the PTQ scale S of every population
    (``QuantizationInfo.scales``; integer LSBs of v per float unit), which converts beta
    and the v-readout logits to float units (see the module docstring).

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
        self.slots = [_slots(p) for p in net.projections]
        self.consts: dict[str, _PopConsts] = {}
        for name, pop in net.populations.items():
            def vec(values: np.ndarray) -> torch.Tensor:
                return torch.as_tensor(np.asarray(values, dtype=np.float64))

            self.consts[name] = _PopConsts(
                keep_u=vec(fp.DECAY_UNITY - (pop.param("du") + 1)),
                keep_v=vec(fp.DECAY_UNITY - pop.param("dv")),
                vth_scaled=vec(pop.param("vth") << fp.VTH_SHIFT),
                bias=vec(fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp"))),
                scale=float(scales[name]),
            )

    # ------------------------------------------------------------------ structure
    def _hops(self) -> int:
        """Projections in series from the input to the output population (self-loops not)."""
        depth = {INPUT: 0}
        for name in self.order:
            srcs = [p.src for p in self.net.incoming(name) if p.src != name]
            depth[name] = 1 + max((depth[s] for s in srcs), default=0)
        return depth[self.output]

    def rounded_weights(self, k: int) -> torch.Tensor:
        """Projection k's weights on its Lava grid (straight-through gradient to the shadow)."""
        grid = self.grids[k]
        return straight_through(self.weights[k], grid.snap)

    @torch.no_grad()
    def clamp_weights_(self) -> None:
        """Keep every shadow weight inside its grid's range (call after an optimizer step)."""
        for w, grid in zip(self.weights, self.grids, strict=True):
            w.clamp_(grid.lo, grid.hi)

    def _emulate_int32(self, weights: list[torch.Tensor]) -> dict[str, bool]:
        """Per population: can its input overflow int32 (``FixedPointNetwork.max_abs_input``)?"""
        bound = dict.fromkeys(self.net.populations, 0.0)
        per_pop: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for k, p in enumerate(self.net.projections):
                row = weights[k].abs().sum(dim=1)
                if p.weight_exp >= 0:
                    part = row * float(1 << p.weight_exp)
                else:
                    part = torch.floor(row * 2.0**p.weight_exp) + len(np.unique(p.delay_matrix()))
                per_pop[p.dst] = per_pop[p.dst] + part if p.dst in per_pop else part
            for name, total in per_pop.items():
                bound[name] = float(total.max())
        return {name: b > SAFE_INPUT for name, b in bound.items()}

    # ------------------------------------------------------------------ arithmetic
    def _slot_weight(self, w: torch.Tensor, slot: _Slot) -> torch.Tensor:
        if slot.cols is None:
            return w
        ws = w.index_select(1, slot.cols.to(w.device))
        return ws * slot.mask.to(w.device) if slot.mask is not None else ws

    def _slot_sum(self, k: int, w: torch.Tensor, delayed, wrap: bool) -> torch.Tensor | None:
        """Sum over projection k's delay slots of ``shift(x @ W_slot^T, weight_exp)``.

        ``delayed(slot)`` gives the source spikes that arrive through that slot (or None
        when none can yet); Lava's int32 wraps apply per slot and to the total.
        """
        p = self.net.projections[k]
        total = None
        for slot in self.slots[k]:
            x = delayed(slot)
            if x is None:
                continue
            if slot.cols is not None:
                x = x.index_select(x.dim() - 1, slot.cols.to(x.device))
            part = ste_shift(x @ self._slot_weight(w, slot).t(), p.weight_exp)
            if wrap:
                part = ste_wrap_int32(part)
            total = part if total is None else total + part
        if wrap and total is not None:
            total = ste_wrap_int32(total)
        return total

    def _block_input(
        self, k: int, w: torch.Tensor, src: torch.Tensor, wrap: bool
    ) -> torch.Tensor | None:
        """Input of projection k at every step from a known source train (batch, steps, n)."""
        batch, steps, n = src.shape

        def delayed(slot: _Slot) -> torch.Tensor | None:
            lag = 1 + slot.delay
            if lag >= steps:
                return None
            return torch.cat([src.new_zeros((batch, lag, n)), src[:, : steps - lag]], dim=1)

        return self._slot_sum(k, w, delayed, wrap)

    def _step_input(
        self, k: int, w: torch.Tensor, hist: list[torch.Tensor], t: int, wrap: bool
    ) -> torch.Tensor | None:
        """Input of (recurrent) projection k at step t from the source's spikes so far."""

        def delayed(slot: _Slot) -> torch.Tensor | None:
            idx = t - 1 - slot.delay
            return hist[idx] if idx >= 0 else None

        return self._slot_sum(k, w, delayed, wrap)

    def _lif_step(
        self, a_in: torch.Tensor | None, u: torch.Tensor, v: torch.Tensor, c: _PopConsts,
        wrap: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``int_lif_step`` with straight-through gradients and a surrogate spike."""
        dev = u.device
        decayed = ste_trunc_shift12(u * c.keep_u.to(dev))
        if a_in is None:  # no input this step: the reference adds 0
            a_in = torch.zeros_like(u)
        if wrap:  # Lava's int32 buffers: a_in, a_in << 6 and the sum all wrap
            act = ste_wrap_int32(ste_wrap_int32(a_in) * float(1 << fp.ACT_SHIFT))
            u = ste_wrap_current(ste_wrap_int32(decayed + act))
        else:
            u = ste_wrap_current(decayed + a_in * float(1 << fp.ACT_SHIFT))
        v = ste_clip_v(ste_trunc_shift12(v * c.keep_v.to(dev)) + u + c.bias.to(dev))
        # (v - vth64) / S > 0 exactly when v > vth64: integers, S > 0
        s = self.spike_fn((v - c.vth_scaled.to(dev)) / c.scale, False)
        v = torch.where(s.detach() > 0, torch.zeros_like(v), v)
        return s, u, v

    # ------------------------------------------------------------------ running
    def _check_input(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        dev = self.weights[0].device if len(self.weights) else torch.device("cpu")
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if x.ndim != 3 or x.shape[2] != self.net.n_inputs:
            raise InputError(f"spikes has shape {tuple(x.shape)}; expected (batch, steps, "
                             f"n_inputs={self.net.n_inputs})")
        x = x.to(device=dev, dtype=DTYPE)
        if not bool(((x == 0) | (x == 1)).all()):
            raise InputError("spikes must be 0/1 (or bool)")
        return x

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
            c, size = self.consts[name], self.net.populations[name].size
            a_ext, recurrent = None, []
            for k, p in enumerate(self.net.projections):
                if p.dst != name:
                    continue
                if p.src == name:
                    recurrent.append(k)
                    continue
                part = self._block_input(k, weights[k], trains[p.src], wrap[name])
                if part is not None:
                    a_ext = part if a_ext is None else a_ext + part
            if not recurrent and self.fused:
                out[name] = self._fused_population(a_ext, c, wrap[name], (batch, steps, size), x)
                trains[name] = out[name]["spikes"]
                continue
            u = x.new_zeros((batch, size))
            v = x.new_zeros((batch, size))
            hist: list[torch.Tensor] = []
            us, vs = [], []
            for t in range(steps):
                a = None if a_ext is None else a_ext[:, t]
                for k in recurrent:
                    part = self._step_input(k, weights[k], hist, t, wrap[name])
                    if part is not None:
                        a = part if a is None else a + part
                s, u, v = self._lif_step(a, u, v, c, wrap[name])
                hist.append(s)
                us.append(u)
                vs.append(v)
            empty = x.new_zeros((batch, 0, size))
            trains[name] = _spike_trace(hist, empty)
            out[name] = {"spikes": trains[name], "u": _spike_trace(us, empty),
                         "v": _spike_trace(vs, empty)}
        return out

    def _fused_population(self, a_ext: torch.Tensor | None, c: _PopConsts, wrap: bool,
                          shape: tuple[int, int, int], like: torch.Tensor
                          ) -> dict[str, torch.Tensor]:
        """A population without recurrent projections in one :class:`_IntLIFScan`."""
        dev = like.device
        if a_ext is None:  # no input at all: the reference adds 0 every step
            act = like.new_zeros(shape)
        elif wrap:  # Lava's int32 buffers: a_in and a_in << 6 wrap (the sum in the scan)
            act = ste_wrap_int32(ste_wrap_int32(a_ext) * float(1 << fp.ACT_SHIFT))
        else:
            act = a_ext * float(1 << fp.ACT_SHIFT)
        spikes, u, v = _IntLIFScan.apply(
            act, c.keep_u.to(dev), c.keep_v.to(dev), c.bias.to(dev), c.vth_scaled.to(dev),
            c.scale, self.spike_fn, wrap)
        return {"spikes": spikes, "u": u, "v": v}

    def logits(self, traces: TraceDict) -> torch.Tensor:
        """Logits (batch, n_out) of the readout; v-readouts in float units (v / S)."""
        rec = traces[self.output]
        if self.readout == "count":
            return rec["spikes"].sum(dim=1)
        v, scale = rec["v"], self.consts[self.output].scale
        if self.readout == "mean_v":
            return v.mean(dim=1) / scale
        return v[:, min(self.hops, v.shape[1] - 1):].amax(dim=1) / scale

    def forward(
        self, x: torch.Tensor | np.ndarray, return_traces: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, TraceDict]:
        """Logits (batch, n_out) for input spikes x (batch, steps, n_inputs), and the traces."""
        traces = self.run(x)
        logits = self.logits(traces)
        return (logits, traces) if return_traces else logits

    @torch.no_grad()
    def simulate(self, x: torch.Tensor | np.ndarray) -> Traces:
        """The run as :class:`~neurodeploy.Traces` (spikes bool, u and v int64), no gradients."""
        traces = self.run(x)
        return Traces(
            target="qat",
            spikes={n: r["spikes"].cpu().numpy() > 0 for n, r in traces.items()},
            v={n: r["v"].cpu().numpy().astype(np.int64) for n, r in traces.items()},
            u={n: r["u"].cpu().numpy().astype(np.int64) for n, r in traces.items()},
        )

    # ------------------------------------------------------------------ export
    @torch.no_grad()
    def to_fixed_point(self) -> FixedPointNetwork:
        """The network with the current rounded integer weights; everything else unchanged."""
        projections = []
        for k, p in enumerate(self.net.projections):
            w = self.grids[k].snap(self.weights[k].detach()).cpu().numpy().astype(np.int64)
            projections.append(Projection(
                p.src, p.dst, w, weight_exp=p.weight_exp, delays=p.delays,
                num_weight_bits=p.num_weight_bits, sign_mode=p.sign_mode, name=p.name))
        return FixedPointNetwork(self.net.n_inputs, dict(self.net.populations), projections,
                                 outputs=list(self.net.outputs))


# -------------------------------------------------------------------------------- training
def evaluate_qat(
    qnet: QATNetwork, spikes: np.ndarray, labels: np.ndarray, batch_size: int = 256
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``qnet`` (its exact integer forward pass)."""
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            logits = qnet(spikes[i : i + batch_size])
            y = torch.as_tensor(np.asarray(labels[i : i + batch_size]), dtype=torch.long,
                                device=logits.device)
            total_loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
    n = max(1, len(labels))
    return total_loss / n, correct / n


def qat_finetune(
    qnet: QATNetwork,
    train_spikes: np.ndarray,
    train_labels: np.ndarray,
    val_spikes: np.ndarray,
    val_labels: np.ndarray,
    epochs: int = 5,
    lr: float = 0.5,
    batch_size: int = 32,
    seed: int = 0,
) -> dict:
    """Fine-tune ``qnet``'s shadow weights with Adam; keep the best state by validation.

    ``lr`` is in integer weight LSBs per step (Adam's step size): 0.5 moves a weight to
    the next grid point within a few steps. Spikes are (samples, steps, n_inputs) 0/1,
    labels class indices. The state before training (the PTQ network, epoch -1) competes
    too, so the kept state is never worse on the validation split; ties go to the lower
    validation loss, then to the earlier epoch. Deterministic given ``seed`` (float64 on
    CPU). Returns ``{"history": [per epoch: epoch, train_loss, train_acc, val_loss,
    val_acc], "best_epoch", "best_val_acc", "best_val_loss", "initial_val_acc"}``;
    ``qnet`` holds the best state afterwards (export it with ``to_fixed_point()``).
    """
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise InputError(f"epochs = {epochs}, batch_size = {batch_size}, lr = {lr}: need "
                         "epochs >= 0, batch_size >= 1, lr > 0")
    train_labels = np.asarray(train_labels)
    if len(train_spikes) != len(train_labels) or len(val_spikes) != len(val_labels):
        raise InputError("spikes and labels must have the same number of samples")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(qnet.parameters(), lr=lr)
    qnet.clamp_weights_()
    val_loss, val_acc = evaluate_qat(qnet, val_spikes, val_labels)
    best = (val_acc, val_loss, {k: v.detach().clone() for k, v in qnet.state_dict().items()}, -1)
    history: list[dict] = []
    initial_acc = val_acc
    for epoch in range(epochs):
        qnet.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(train_labels))
        total, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            logits = qnet(train_spikes[idx])
            y = torch.as_tensor(train_labels[idx], dtype=torch.long, device=logits.device)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            qnet.clamp_weights_()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(dim=1) == y).sum())
            seen += len(idx)
        qnet.eval()
        val_loss, val_acc = evaluate_qat(qnet, val_spikes, val_labels)
        history.append({"epoch": epoch, "train_loss": total / max(1, seen),
                        "train_acc": correct / max(1, seen), "val_loss": val_loss,
                        "val_acc": val_acc})
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best = (val_acc, val_loss,
                    {k: v.detach().clone() for k, v in qnet.state_dict().items()}, epoch)
    qnet.load_state_dict(best[2])
    qnet.eval()
    return {"history": history, "best_epoch": best[3], "best_val_acc": best[0],
            "best_val_loss": best[1], "initial_val_acc": initial_acc}
