"""One Loihi 2 integer step, written once over a small set of array operations.

Every integer backend (the numpy reference simulator, torch integer emulation, QAT's
straight-through graph and fused scan, the ONNX graph builder) runs :func:`lif_step` and
:func:`accumulate` with its own realisation of :class:`IntOps`. The arithmetic is that of
Lava 0.10's ``PyLifModelBitAcc`` with ``Sparse``/``DelaySparse`` projections
(``docs/loihi2-fixed-point.md``); widths come from the network's
:class:`~neurodeploy.chip.ChipFormat`. Per step t (0-based), for one population::

    a    = sum over projections p, over delay slots k of p:
               shift(W_p[k] @ s_src(t - 1 - k), weight_exp_p)     # one step per hop
    u[t] = wrap24(trunc0(u[t-1] * keep_u) + (a << 6))             # keep_u = 4096 - (du + 1)
    v'   = saturate(trunc0(v[t-1] * keep_v) + u[t] + bias)        # keep_v = 4096 - dv
    s[t] = v' > (vth << 6);   v[t] = 0 where s[t] else v'

``trunc0(p)`` is ``sign(p) * (|p| >> 12)`` (division by 4096 toward zero), ``wrap24`` is
Lava's single wrap of u into (-2**23, 2**23], ``saturate`` clips v to +-(2**23 - 1),
``shift`` is ``<< weight_exp`` or a floor ``>> -weight_exp`` applied to each slot's sum.
A population whose input can overflow Lava's int32 buffers (:func:`input_bound` above
:attr:`ChipFormat.safe_input`) wraps to int32 where Lava does: each slot's shifted sum,
each projection's total, the summed input, ``a << 6`` and ``trunc0(...) + (a << 6)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.fixed_point import effective_bias

T = TypeVar("T")


class IntOps(Protocol[T]):
    """The array operations one integer step is made of, for one backend's values ``T``.

    Values hold integers exactly (float64 arrays or tensors, int64 graph values). A
    realisation may reuse the storage of the first argument of ``decay``, ``add``,
    ``wrap24``, ``wrap_int32``, ``saturate`` and ``reset``: the kernel passes there only
    values it does not read again (the previous u and v included). ``chip`` gives the
    widths (state bits, decay bits, shifts).
    """

    chip: ChipFormat

    def decay(self, x: T, keep: Any) -> T:
        """``trunc0(x * keep)``: multiply by ``keep / 2**decay_bits``, round toward zero."""

    def add(self, x: T, y: Any) -> T:
        """``x + y`` (y a value or a constant)."""

    def scale(self, x: T, exp: int) -> T:
        """``x * 2**exp`` for exp >= 0 (a left shift), floor of it for exp < 0."""

    def wrap_int32(self, x: T) -> T:
        """Two's-complement wrap to the int32 range."""

    def wrap24(self, u: T) -> T:
        """Lava's single wrap of u: ``u > 2**23 -> u - 2**24``; ``u <= -2**23 -> u + 2**24``."""

    def saturate(self, v: T) -> T:
        """Clip v to ``[-(2**23 - 1), 2**23 - 1]``."""

    def fire(self, v: T, vth_scaled: Any) -> T:
        """Spikes ``v > vth << 6`` (strict), in the backend's spike representation."""

    def reset(self, spikes: T, v: T) -> T:
        """v with 0 where ``spikes`` fired."""


class StateBounds:
    """The chip's state bounds as floats, for the array realisations of :class:`IntOps`:
    u wraps into (-half, half] by ``span``; v saturates at +-``vmax``."""

    def __init__(self, chip: ChipFormat = LOIHI2) -> None:
        self.chip = chip
        self._half = float(chip.state_half)
        self._span = float(2 * chip.state_half)
        self._vmax = float(chip.state_max)


@dataclass(frozen=True, eq=False)
class LIFConstants:
    """The integer constants of one population, built once, used by every backend.

    Each is an int64 vector (size,): ``keep_u = 2**decay_bits - (du + 1)`` (the hidden +1
    of Lava's u decay), ``keep_v = 2**decay_bits - dv``, ``bias = bias_mant << bias_exp``
    (floor shift for a negative exponent; added to v unshifted) and ``vth_scaled = vth <<
    vth_shift``. ``emulate_int32``: the population's input can overflow Lava's int32
    buffers (see the module docstring).
    """

    keep_u: np.ndarray
    keep_v: np.ndarray
    bias: np.ndarray
    vth_scaled: np.ndarray
    emulate_int32: bool

    @classmethod
    def of(cls, pop: Any, emulate_int32: bool, chip: ChipFormat = LOIHI2) -> LIFConstants:
        """The constants of a validated :class:`~neurodeploy.LIFPopulation`."""
        unity = chip.decay_unity
        return cls(
            keep_u=unity - (pop.param("du") + 1),
            keep_v=unity - pop.param("dv"),
            bias=effective_bias(pop.param("bias_mant"), pop.param("bias_exp")),
            vth_scaled=pop.param("vth") << chip.vth_shift,
            emulate_int32=bool(emulate_int32),
        )


def lif_step(ops: IntOps[T], c: Any, a_in: T | None, u: T, v: T) -> tuple[T, T, T]:
    """One step of one population: ``(spikes, u, v)`` after step t from the state after t - 1.

    ``c`` holds the population's :class:`LIFConstants` fields in the backend's form
    (``keep_u``, ``keep_v``, ``bias``, ``vth_scaled``, ``emulate_int32``); ``a_in`` is the
    summed, shifted projection input of this step (None: no projection delivers any).
    v is returned after the reset (0 where a spike fired); u is never reset.
    """
    u, v = integrate(ops, c, a_in, u, v)
    spikes = ops.fire(v, c.vth_scaled)
    return spikes, u, ops.reset(spikes, v)


def integrate(ops: IntOps[T], c: Any, a_in: T | None, u: T, v: T) -> tuple[T, T]:
    """The step before its threshold: ``(u[t], v')`` with v' the voltage before the reset
    (see :func:`lif_step`; fused scans that need v' for their backward pass call this)."""
    u = ops.decay(u, c.keep_u)
    if c.emulate_int32:  # Lava's int32 buffers: a, a << 6 and the sum all wrap
        if a_in is not None:
            u = ops.add(u, ops.wrap_int32(ops.scale(ops.wrap_int32(a_in), ops.chip.act_shift)))
        u = ops.wrap_int32(u)
    elif a_in is not None:
        u = ops.add(u, ops.scale(a_in, ops.chip.act_shift))
    u = ops.wrap24(u)
    return u, ops.saturate(ops.add(ops.add(ops.decay(v, c.keep_v), u), c.bias))


def accumulate(ops: IntOps[T], slot_sums: Iterable[T], weight_exp: int, wrap: bool) -> T | None:
    """One projection's input this step from its delay slots' raw sums ``W_k @ s(t - 1 - k)``.

    ``weight_exp`` shifts each slot's sum separately (a floor for a negative exponent, as
    Lava's DelaySparse does); with ``wrap`` each shifted sum and the total wrap to int32.
    Returns None for a projection without slots. A backend may sum the slots first and
    shift once when :func:`slots_merge` allows it (the result is the same integer).
    """
    total = None
    for part in slot_sums:
        part = ops.scale(part, weight_exp) if weight_exp else part
        if wrap:
            part = ops.wrap_int32(part)
        total = part if total is None else ops.add(total, part)
    if wrap and total is not None:
        total = ops.wrap_int32(total)
    return total


def slots_merge(weight_exp: int, wrap: bool) -> bool:
    """Whether a projection's slot sums may be added before ``weight_exp`` applies: a left
    shift distributes over a sum, a floor right shift and an int32 wrap do not."""
    return weight_exp >= 0 and not wrap


def input_bound(row_abs_sums: Iterable[tuple[np.ndarray, int, int]]) -> int:
    """Upper bound of |a_in| of a population from its projections' weights.

    Each item is ``(sum over sources of |W|, per destination neuron; weight_exp; number of
    delay slots)``: a left shift scales the bound, a floor right shift of a negative sum
    can add one per slot.
    """
    bound: np.ndarray | int = 0
    for rows, weight_exp, n_slots in row_abs_sums:
        rows = np.asarray(rows, dtype=np.int64)
        part = rows << weight_exp if weight_exp >= 0 else (rows >> -weight_exp) + n_slots
        bound = bound + part
    return int(np.max(bound)) if np.size(bound) else 0
