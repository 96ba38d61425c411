"""The integer kernel's torch realisation: float64 tensors that hold integers exactly.

Every value is an integer below 2**53 in magnitude, so float64 holds it exactly; products
and sums of integers are exact whatever the summation order (also in cuBLAS float64
GEMM); ``trunc(p / 4096)`` is Lava's ``sign(p) * (|p| >> 12)`` because a division by a
power of two is exact; a floor right shift by ``-e`` is ``floor(x * 2**e)``. Operations
return new tensors (autograd-friendly). Layout: (batch, neurons); constants (size,).
QAT's straight-through realisation (``neurodeploy.quantize.qat.ops``) reuses these
functions as its forward values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.kernel.lif import LIFConstants, StateBounds

DTYPE = torch.float64
_INT32_SPAN = float(1 << 32)
_INT32_HALF = float(1 << 31)


@dataclass(frozen=True)
class TorchLIF:
    """:class:`LIFConstants` as float64 tensors (size,) on one device."""

    keep_u: torch.Tensor
    keep_v: torch.Tensor
    bias: torch.Tensor
    vth_scaled: torch.Tensor
    emulate_int32: bool

    @classmethod
    def of(cls, c: LIFConstants, device: str | torch.device = "cpu") -> TorchLIF:
        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)

        return cls(tensor(c.keep_u), tensor(c.keep_v), tensor(c.bias), tensor(c.vth_scaled),
                   c.emulate_int32)


def trunc0(p: torch.Tensor, chip: ChipFormat = LOIHI2) -> torch.Tensor:
    """``sign(p) * (|p| >> decay_bits)``: divide by 4096 rounding toward zero (Lava's decay)."""
    return torch.trunc(p / chip.decay_unity)


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement wrap of integer values (float64, |x| < 2**53) to the int32 range."""
    return x - _INT32_SPAN * torch.floor((x + _INT32_HALF) / _INT32_SPAN)


def shift(acc: torch.Tensor, exp: int) -> torch.Tensor:
    """``acc << exp``, or a floor ``acc >> -exp`` for a negative exponent."""
    if exp >= 0:
        return acc * float(1 << exp) if exp else acc
    return torch.floor(acc * 2.0**exp)


class TorchIntOps(StateBounds):
    """:class:`~neurodeploy.kernel.IntOps` over float64 tensors (spikes are bool tensors)."""

    def decay(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return trunc0(x * keep, self.chip)

    def add(self, x: torch.Tensor, y: Any) -> torch.Tensor:
        return x + y

    def scale(self, x: torch.Tensor, exp: int) -> torch.Tensor:
        return shift(x, exp)

    def wrap_int32(self, x: Any) -> torch.Tensor:
        return wrap_int32(torch.as_tensor(x, dtype=DTYPE))

    def wrap24(self, u: torch.Tensor) -> torch.Tensor:
        u = torch.where(u > self._half, u - self._span, u)
        return torch.where(u <= -self._half, u + self._span, u)

    def saturate(self, v: torch.Tensor) -> torch.Tensor:
        return torch.clamp(v, -self._vmax, self._vmax)

    def fire(self, v: torch.Tensor, vth_scaled: torch.Tensor) -> torch.Tensor:
        return v > vth_scaled

    def reset(self, spikes: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.where(spikes, 0.0, v)
