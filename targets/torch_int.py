"""Torch integer emulation: the fixed-point network run by PyTorch, bit for bit.

The target ``"torch-int"`` computes exactly the integers of the reference simulator
(``neurodeploy.targets.reference``, itself tested against Lava 0.10's ``fixed_pt``
models); see ``neurodeploy.network`` for the update equations. It exists so that
quantization-aware training can use the very arithmetic that the chip runs: the
per-step neuron update (:func:`int_lif_step`) and the projection input
(:func:`int_projection_input`) are plain module-level functions over float64 tensors
that hold integers, built from small element-wise operations (:func:`trunc_shift12`,
:func:`wrap_current`, :func:`wrap_int32`, :func:`shift_by_weight_exp`) that a QAT
module can wrap with straight-through estimators.

Exactness: every value is an integer below 2**53 in magnitude, so float64 holds it
exactly; products and sums of integers are exact whatever the summation order (also in
cuBLAS float64 GEMM); ``trunc(p / 4096)`` is Lava's ``sign(p) * (|p| >> 12)`` because a
division by a power of two is exact; a floor right shift by ``-weight_exp`` is
``floor(x * 2**weight_exp)``. Populations whose input can overflow Lava's int32
arithmetic (``net.max_abs_input(pop) > 2**18``) wrap to int32 exactly where the
reference does (each slot's shifted sum, each projection's total, the summed input,
``a << 6`` and ``trunc0(...) + (a << 6)``).

Time convention: steps are 0-based; a spike emitted at step t by a projection's source
(or the network input) reaches the destination neuron at step t + 1 + delay, one step
per hop. Because every hop takes at least one step, all populations read only earlier
steps, so the loop below simply steps time forward and updates every population.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neurodeploy import fixed_point as fp
from neurodeploy.errors import TargetUnavailableError
from neurodeploy.network import INPUT, FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.targets.reference import SAFE_INPUT
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

DTYPE = torch.float64
_INT32_SPAN = float(1 << 32)
_INT32_HALF = float(1 << 31)


# ------------------------------------------------------------------ integer primitives
def trunc_shift12(p: torch.Tensor) -> torch.Tensor:
    """``sign(p) * (|p| >> 12)``: divide by 4096 rounding toward zero (Lava's decay)."""
    return torch.trunc(p / fp.DECAY_UNITY)


def wrap_current(u: torch.Tensor) -> torch.Tensor:
    """Lava's single 24-bit wrap of u: ``u > 2**23 -> u - 2**24``; ``u <= -2**23 -> u + 2**24``."""
    span = 2.0 * fp.STATE_HALF
    u = torch.where(u > fp.STATE_HALF, u - span, u)
    return torch.where(u <= -fp.STATE_HALF, u + span, u)


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement wrap of integer values (float64, |x| < 2**53) to the int32 range."""
    return x - _INT32_SPAN * torch.floor((x + _INT32_HALF) / _INT32_SPAN)


def shift_by_weight_exp(acc: torch.Tensor, weight_exp: int) -> torch.Tensor:
    """Apply weight_exp to a summed input: ``<< weight_exp``, or floor ``>> -weight_exp``."""
    if weight_exp >= 0:
        return acc * float(1 << weight_exp) if weight_exp else acc
    return torch.floor(acc * 2.0**weight_exp)


# ---------------------------------------------------------------------- neuron update
@dataclass(frozen=True)
class IntLIFParams:
    """Integer constants of one population as float64 tensors of shape (size,).

    ``du``, ``dv`` and ``vth`` are the chip's values; ``bias`` is the effective bias
    ``bias_mant << bias_exp`` (floor shift for a negative exponent), added to v unshifted.
    ``emulate_int32`` turns on the int32 wraps of Lava's input path (see module docstring).
    """

    du: torch.Tensor
    dv: torch.Tensor
    vth: torch.Tensor
    bias: torch.Tensor
    emulate_int32: bool = False

    @classmethod
    def from_population(
        cls, pop: LIFPopulation, emulate_int32: bool = False, device: str | torch.device = "cpu"
    ) -> IntLIFParams:
        """The parameters of a validated :class:`~neurodeploy.LIFPopulation`."""

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)

        bias = fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp"))
        return cls(tensor(pop.param("du")), tensor(pop.param("dv")), tensor(pop.param("vth")),
                   tensor(bias), emulate_int32)


def int_lif_step(
    a_in: torch.Tensor | float, u: torch.Tensor, v: torch.Tensor, params: IntLIFParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Lava's ``PyLifModelBitAcc`` on (batch, size) float64 integer tensors.

    ``a_in`` is the summed, shifted projection input of this step (see
    :func:`int_projection_input`); ``u``, ``v`` are the state after the previous step
    (zeros before step 0). Returns ``(spikes, u, v)`` as new tensors: spikes are 0.0/1.0
    in u's dtype, v is taken after the reset (0 where a spike fired)::

        u = wrap24(trunc0(u * (4096 - (du + 1))) + (a_in << 6))
        v = clip(trunc0(v * (4096 - dv)) + u + bias, -(2**23 - 1), 2**23 - 1)
        spikes = v > (vth << 6);  v = 0 where spikes
    """
    decayed = trunc_shift12(u * (fp.DECAY_UNITY - (params.du + 1)))
    scale = float(1 << fp.ACT_SHIFT)
    if params.emulate_int32:  # Lava's int32 buffers: a_in, a_in << 6 and the sum all wrap
        a_in = wrap_int32(torch.as_tensor(a_in, dtype=u.dtype, device=u.device))
        u = wrap_current(wrap_int32(decayed + wrap_int32(a_in * scale)))
    else:
        u = wrap_current(decayed + a_in * scale)
    v = trunc_shift12(v * (fp.DECAY_UNITY - params.dv)) + u + params.bias
    v = torch.clamp(v, float(fp.V_MIN), float(fp.V_MAX))
    fired = v > params.vth * float(1 << fp.VTH_SHIFT)
    v = torch.where(fired, torch.zeros_like(v), v)
    return fired.to(u.dtype), u, v


# ---------------------------------------------------------------------------- synapses
@dataclass(frozen=True)
class IntSlot:
    """One delay value of a projection: source columns ``cols`` and their weights.

    ``weights_t`` is (n_cols, n_dst) float64 (transposed, so that ``spikes @ weights_t``
    maps (batch, n_cols) to (batch, n_dst)); ``cols`` is None when it takes every source.
    """

    delay: int
    cols: torch.Tensor | None
    weights_t: torch.Tensor


def projection_slots(p: Projection, device: str | torch.device = "cpu") -> tuple[IntSlot, ...]:
    """Split a projection into its delay slots (one per distinct delay value).

    No delays or a uniform delay give one slot; axonal delays one slot per distinct
    delay holding those sources' columns; per-synapse delays one slot per distinct delay
    holding the weights with that delay (zeros elsewhere). All-zero slots are dropped
    (they add 0 even after a floor shift).
    """
    def slot(delay: int, cols: np.ndarray | None, matrix: np.ndarray) -> IntSlot:
        idx = None if cols is None else torch.as_tensor(cols, dtype=torch.long, device=device)
        wt = torch.as_tensor(matrix.T.astype(np.float64), device=device)
        return IntSlot(int(delay), idx, wt)

    return tuple(slot(d, cols, m) for d, cols, m in p.delay_slots())


def int_projection_input(
    delayed_spikes: Sequence[torch.Tensor],
    slots: Sequence[IntSlot],
    weight_exp: int,
    emulate_int32: bool = False,
) -> torch.Tensor | float:
    """Input one projection delivers at step t: ``sum_k shift(W_k @ s(t - 1 - d_k), weight_exp)``.

    ``delayed_spikes[k]`` is the source's (batch, n_src) 0/1 float64 spikes at step
    ``t - 1 - slots[k].delay`` (zeros before step 0). ``weight_exp`` shifts each slot's
    sum separately (a floor for negative exponents, as Lava's DelaySparse does). With
    ``emulate_int32`` each slot's shifted sum and the total wrap to int32. Returns a
    (batch, n_dst) tensor, or 0.0 when the projection has no nonzero slot.
    """
    total: torch.Tensor | float = 0.0
    for s, slot in zip(delayed_spikes, slots, strict=True):
        x = s if slot.cols is None else s.index_select(1, slot.cols)
        part = shift_by_weight_exp(x @ slot.weights_t, weight_exp)
        total = total + (wrap_int32(part) if emulate_int32 else part)
    if emulate_int32 and isinstance(total, torch.Tensor):
        total = wrap_int32(total)
    return total


# -------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class _TorchProjection:
    src: str
    weight_exp: int
    slots: tuple[IntSlot, ...]


def _resolve_device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TargetUnavailableError(
            f"torch-int: device {str(device)!r} requested, but CUDA is not available here; "
            "use device='cpu'"
        )
    return dev


class TorchIntPlan:
    """A network prepared for the torch integer emulation (reuse it across batches)."""

    def __init__(self, net: FixedPointNetwork, device: str | torch.device = "cpu") -> None:
        self.net = net
        self.device = _resolve_device(device)
        self.history = net.max_delay + 1  # ring buffer of the last max_delay + 1 steps
        self.params = {
            name: IntLIFParams.from_population(
                pop, net.max_abs_input(name) > SAFE_INPUT, self.device)
            for name, pop in net.populations.items()
        }
        self.incoming = {
            name: [_TorchProjection(p.src, p.weight_exp, projection_slots(p, self.device))
                   for p in net.incoming(name)]
            for name in net.populations
        }

    def run(
        self,
        spikes: np.ndarray,
        record: Iterable[str] = ("spikes",),
        populations: Iterable[str] | None = None,
    ) -> Traces:
        """Simulate a batch of input spikes (batch, steps, n_inputs); see ``simulate``."""
        net, dev, hlen = self.net, self.device, self.history
        x = check_spikes(net, spikes)
        record = check_record(record)
        wanted = check_populations(net, populations)
        batch, steps, _ = x.shape
        inputs = torch.as_tensor(x, dtype=DTYPE, device=dev)
        # hist[name][t % hlen] holds the spikes of step t (zeros for steps not yet run)
        hist = {n: torch.zeros((hlen, batch, net.size_of(n)), dtype=DTYPE, device=dev)
                for n in (INPUT, *net.populations)}
        state = {n: (torch.zeros((batch, p.size), dtype=DTYPE, device=dev),
                     torch.zeros((batch, p.size), dtype=DTYPE, device=dev))
                 for n, p in net.populations.items()}
        rec: dict[str, dict[str, list[torch.Tensor]]] = {
            kind: {n: [] for n in wanted} for kind in record}
        for t in range(steps):
            a_in = {}
            for name, params in self.params.items():  # reads steps <= t - 1 only
                a: torch.Tensor | float = 0.0
                for tp in self.incoming[name]:
                    delayed = [hist[tp.src][(t - 1 - slot.delay) % hlen] for slot in tp.slots]
                    a = a + int_projection_input(delayed, tp.slots, tp.weight_exp,
                                                 params.emulate_int32)
                a_in[name] = a
            hist[INPUT][t % hlen] = inputs[:, t]
            for name, params in self.params.items():
                s, u, v = int_lif_step(a_in[name], *state[name], params)
                state[name] = (u, v)
                hist[name][t % hlen] = s
                if name in rec["spikes"]:
                    for kind, value in (("spikes", s), ("u", u), ("v", v)):
                        if kind in rec:
                            rec[kind][name].append(value)

        def stacked(kind: str, dtype: type) -> dict[str, np.ndarray]:
            return {n: torch.stack(vals, dim=1).cpu().numpy().astype(dtype)
                    for n, vals in rec.get(kind, {}).items()}

        return Traces(target="torch-int", spikes=stacked("spikes", bool),
                      v=stacked("v", np.int64), u=stacked("u", np.int64))


def simulate_torch_int(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    device: str | torch.device = "cpu",
) -> Traces:
    """Run ``net`` in torch integer emulation on ``device`` ("cpu", or "cuda" if available).

    Same inputs, outputs and integers as the reference simulator: ``spikes`` is (batch,
    steps, n_inputs), step t 0-based, one step per hop; returns spikes (bool) and the
    recorded u, v (int64), each (batch, steps, size). See :func:`neurodeploy.simulate`.
    """
    return TorchIntPlan(net, device=device).run(spikes, record, populations)
