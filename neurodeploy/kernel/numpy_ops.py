"""The integer kernel's numpy realisation: float64 arrays that hold integers exactly.

Every value the step produces is an integer below 2**53 in magnitude, so float64 holds it
exactly; ``trunc(x * (keep / 4096))`` is Lava's ``sign(p) * (|p| >> 12)`` because scaling
by a power of two is exact, and a floor right shift is ``floor(x * 2**weight_exp)``.
Operations work in place on their first argument where :class:`~neurodeploy.kernel.IntOps`
allows it (the reference simulator's state arrays are updated without copies).
Constants are (size, 1) columns that broadcast over the (neurons, batch) layout, or plain
floats where every neuron of the population shares the value (a scalar operand is about
twice as fast as a column). Bounds are checked with two reductions before anything is
written (a wrap or a saturation is rare), and the reset is a masked store: the step
reads and writes each (neurons, batch) array as few times as the arithmetic allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodeploy.kernel.lif import LIFConstants, StateBounds

_INT32_HALF = float(1 << 31)
_INT32_SPAN = float(1 << 32)


@dataclass(frozen=True)
class NumpyLIF:
    """:class:`LIFConstants` as float64 (size, 1) columns, or floats where the population
    shares one value; ``keep_*`` as fractions."""

    keep_u: np.ndarray | float  # (2**decay_bits - (du + 1)) / 2**decay_bits
    keep_v: np.ndarray | float  # (2**decay_bits - dv) / 2**decay_bits
    bias: np.ndarray | float
    vth_scaled: np.ndarray | float
    emulate_int32: bool


def wrap_int32(x: Any) -> np.ndarray:
    """Two's-complement wrap of integer values to the int32 range (float64 or int64 in,
    same dtype out; float64 exact below 2**53)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return ((x.astype(np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return x - _INT32_SPAN * np.floor((x + _INT32_HALF) / _INT32_SPAN)


class NumpyIntOps(StateBounds):
    """:class:`~neurodeploy.kernel.IntOps` over float64 numpy arrays (in place where allowed)."""

    def constants(self, c: LIFConstants) -> NumpyLIF:
        unity = float(self.chip.decay_unity)

        def column(values: np.ndarray) -> np.ndarray | float:
            col = np.asarray(values, dtype=np.float64).reshape(-1, 1)
            return float(col[0, 0]) if col.size and (col == col[0, 0]).all() else col

        return NumpyLIF(column(c.keep_u) / unity, column(c.keep_v) / unity, column(c.bias),
                        column(c.vth_scaled), c.emulate_int32)

    def decay(self, x: np.ndarray, keep: np.ndarray | float) -> np.ndarray:
        if isinstance(keep, float) and keep == 1.0:  # no decay (dv = 0): x is an integer
            return x
        np.multiply(x, keep, out=x)
        return np.trunc(x, out=x)

    def add(self, x: np.ndarray, y: Any) -> np.ndarray:
        if isinstance(y, float) and y == 0.0:  # a shared bias of 0
            return x
        x += y
        return x

    def scale(self, x: Any, exp: int) -> np.ndarray:
        out = np.multiply(x, 2.0**exp, dtype=np.float64)
        return np.floor(out, out=out) if exp < 0 else out

    def wrap_int32(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        lo, hi = -_INT32_HALF, _INT32_HALF - 1
        if x.size and (x.min() < lo or x.max() > hi):
            x = wrap_int32(x)
        return x

    def wrap24(self, u: np.ndarray) -> np.ndarray:
        if u.size and u.max() > self._half:
            u[u > self._half] -= self._span
        if u.size and u.min() <= -self._half:
            u[u <= -self._half] += self._span
        return u

    def saturate(self, v: np.ndarray) -> np.ndarray:
        if v.size and v.max() > self._vmax:
            np.minimum(v, self._vmax, out=v)
        if v.size and v.min() < -self._vmax:
            np.maximum(v, -self._vmax, out=v)
        return v

    def fire(self, v: np.ndarray, vth_scaled: np.ndarray) -> np.ndarray:
        return v > vth_scaled

    def reset(self, spikes: np.ndarray, v: np.ndarray) -> np.ndarray:
        np.putmask(v, spikes, 0.0)
        return v
