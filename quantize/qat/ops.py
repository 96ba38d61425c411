"""QAT's realisation of the integer kernel: the chip's integers forward, gradients back.

:class:`STEIntOps` implements :class:`~neurodeploy.kernel.IntOps` over float64 tensors
with autograd. Every integer operation (truncating decay, floor shift, wraps, the clip of
v) is a straight-through estimator: its forward value is exactly the torch realisation's
(``neurodeploy.kernel.torch_ops``, the reference simulator's integers), its backward pass
the derivative of the same operation without the rounding (``keep / 4096`` for a decay,
``2**exp`` for a shift, 1 for wraps and the clip). The spike ``H(v' - (vth << 6))`` gets the
surrogate gradient of a :class:`~neurodeploy.models.surrogates.SpikeFn` evaluated in float
units ``(v' - (vth << 6)) / S`` (S: the population's PTQ scale, integer LSBs of v per float
unit), so a surrogate trained with beta = 10 at vth = 1 behaves the same here. The reset
passes no gradient.

:class:`IntLIFScan` runs one population over all steps with the kernel's forward step and
a hand-written straight-through backward pass (no per-step autograd graph).
Time: 0-based steps. Units: integer LSBs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.kernel import integrate
from neurodeploy.kernel.torch_ops import TorchIntOps, TorchLIF, trunc0
from neurodeploy.models.surrogates import SpikeFn, surrogate_derivative_


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


class STEIntOps:
    """:class:`~neurodeploy.kernel.IntOps` with straight-through gradients (one population).

    ``spike_fn`` is the surrogate (deterministic), ``scale`` the population's PTQ scale S.
    """

    def __init__(self, spike_fn: SpikeFn, scale: float, chip: ChipFormat = LOIHI2) -> None:
        self.chip = chip
        self.spike_fn = spike_fn
        self.v_scale = float(scale)
        self.exact = TorchIntOps(chip)

    def decay(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return straight_through(x * keep, lambda p: trunc0(p, self.chip),
                                1.0 / self.chip.decay_unity)

    def add(self, x: torch.Tensor, y: Any) -> torch.Tensor:
        return x + y

    def scale(self, x: torch.Tensor, exp: int) -> torch.Tensor:
        if exp >= 0:  # a left shift of integers is exact: autograd's own product rule
            return self.exact.scale(x, exp)
        return straight_through(x, lambda a: self.exact.scale(a, exp), 2.0**exp)

    def wrap_int32(self, x: torch.Tensor) -> torch.Tensor:
        return straight_through(x, self.exact.wrap_int32)

    def wrap24(self, u: torch.Tensor) -> torch.Tensor:
        return straight_through(u, self.exact.wrap24)

    def saturate(self, v: torch.Tensor) -> torch.Tensor:
        return straight_through(v, self.exact.saturate)

    def fire(self, v: torch.Tensor, vth_scaled: torch.Tensor) -> torch.Tensor:
        # (v - vth64) / S > 0 exactly when v > vth64: integers, S > 0
        return self.spike_fn((v - vth_scaled) / self.v_scale, False)

    def reset(self, spikes: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.where(spikes.detach() > 0, torch.zeros_like(v), v)


class IntLIFScan(torch.autograd.Function):
    """One population's integer LIF over all steps with its straight-through backward pass.

    Forward: the kernel's step (:func:`neurodeploy.kernel.integrate`, then the strict
    threshold and reset) with the torch realisation, from ``a`` = the summed projection
    input (batch, steps, n), unshifted. Backward, for t = T-1..0, the adjoints of the STE
    graph of those steps (alpha = keep_u / 4096, beta = keep_v / 4096, the gradients of the
    truncating decays; wraps and the clip of v pass gradients unchanged; the reset is
    detached; the input enters u as ``a << 6``)::

        lv_t = Gv_t + beta lp_(t+1)
        lp_t = Gs_t g((p_t - vth64) / S) / S + lv_t (1 - s_t)
        lu_t = lp_t + Gu_t + alpha lu_(t+1);     G(a_t) = 64 lu_t

    The same arithmetic as autograd through the per-step :class:`STEIntOps` graph (~10
    Python-level nodes per step and population), without building it; tests/test_qat.py
    checks both agree in values and gradients.
    """

    @staticmethod
    def forward(ctx, a, c: TorchLIF, scale, spike_fn, ops: TorchIntOps):
        batch, steps, n = a.shape
        us, ps = torch.empty_like(a), torch.empty_like(a)
        volts = torch.empty_like(a)
        fires = torch.zeros_like(a)
        u = v = a.new_zeros((batch, n))
        for t in range(steps):
            u, p = integrate(ops, c, a[:, t], u, v)
            s = ops.fire(p, c.vth_scaled)
            v = ops.reset(s, p)
            us[:, t], ps[:, t], volts[:, t], fires[:, t] = u, p, v, s
        ctx.save_for_backward(ps, fires, c.keep_u, c.keep_v, c.vth_scaled)
        ctx.cfg = (float(scale), spike_fn, ops.chip)
        return fires, us, volts

    @staticmethod
    def backward(ctx, g_spikes, g_us, g_volts):
        ps, fires, keep_u, keep_v, vth64 = ctx.saved_tensors
        scale, spike_fn, chip = ctx.cfg
        batch, steps, n = ps.shape
        alpha = (keep_u / chip.decay_unity).expand(batch, n)
        beta = (keep_v / chip.decay_unity).expand(batch, n)
        sg = surrogate_derivative_(spike_fn.kind, (ps - vth64) / scale, spike_fn.beta,
                                   spike_fn.p0).div_(scale)
        g_a = torch.empty_like(ps)
        lp = lu = ps.new_zeros((batch, n))
        for t in range(steps - 1, -1, -1):
            lv = beta * lp if g_volts is None else torch.addcmul(g_volts[:, t], beta, lp)
            lp = lv * (1.0 - fires[:, t])
            if g_spikes is not None:
                lp = torch.addcmul(lp, g_spikes[:, t], sg[:, t])
            lu = torch.addcmul(lp, alpha, lu)
            if g_us is not None:
                lu = lu + g_us[:, t]
            g_a[:, t] = lu
        return g_a * float(1 << chip.act_shift), None, None, None, None
