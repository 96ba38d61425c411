"""Trainable axonal and per-synapse delays (in steps) with a differentiable shift.

A delay d >= 0 (continuous while training) moves a spike train later in time by d steps:
``y(t) = (1 - f) x(t - k) + f x(t - k - 1)`` with ``k = floor(d)``, ``f = d - k``: linear
interpolation between the two neighbouring integer shifts, which is differentiable in d
(``dy/dd = x(t - k - 1) - x(t - k)``). Axonal delays use two gathers; per-synapse delays a
causal convolution over time with the triangular kernel ``h_d[j] = max(0, 1 - |j - d|)``
for j = 0..max_delay+1 (the same interpolation, one-hot when d is an integer). Delays are
clamped to [0, max_delay] (Loihi 2: at most 62) and rounded to integers for deployment;
``integer=True`` uses the rounded delays in the forward pass (no gradient to the delays),
for the final training phase that makes rounding free.

Tensors are time-major: (steps, batch, channels); steps are 0-based.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from neurodeploy.errors import InputError
from neurodeploy.fixed_point import DELAY_MAX


def triangle_kernel(delays: torch.Tensor, max_delay: int) -> torch.Tensor:
    """(..., max_delay + 2) interpolation kernels, tap j weighting x(t - j)."""
    taps = torch.arange(max_delay + 2, dtype=delays.dtype, device=delays.device)
    return torch.relu(1.0 - (taps - delays.unsqueeze(-1)).abs())


def effective_delays(raw: torch.Tensor, max_delay: int, integer: bool) -> torch.Tensor:
    """Delays used in the forward pass: clamped to [0, max_delay], rounded if ``integer``."""
    d = raw.clamp(0.0, float(max_delay))
    return d.detach().round() if integer else d


def shift_axonal(x: torch.Tensor, delays: torch.Tensor, max_delay: int) -> torch.Tensor:
    """Delay each channel of x (steps, batch, channels) by its own delay (channels,).

    Two gathers (the neighbouring integer shifts) mixed by the fractional part: the same
    result as the triangular kernel, at the cost of two taps instead of max_delay + 2.
    """
    steps, batch, channels = x.shape
    k = delays.detach().floor().clamp(0, max_delay)
    frac = delays - k  # carries the gradient to the delays
    pad = max_delay + 1
    xp = torch.cat([x.new_zeros((pad, batch, channels)), x])
    base = torch.arange(steps, device=x.device).unsqueeze(1) + pad - k.long().unsqueeze(0)
    near = xp.gather(0, base.unsqueeze(1).expand(steps, batch, channels))
    far = xp.gather(0, (base - 1).unsqueeze(1).expand(steps, batch, channels))
    return near + frac * (far - near)


def synaptic_current(
    x: torch.Tensor, weights: torch.Tensor, delays: torch.Tensor, max_delay: int
) -> torch.Tensor:
    """``sum_j w_ij x_j(t - d_ij)`` for x (steps, batch, n_in), weights/delays (n_out, n_in).

    A causal convolution whose kernel ``w_ij h_{d_ij}`` carries each synapse's delay. Taps
    beyond the largest current delay are zero in value and gradient (the triangle ``h_d``
    is 0 for j >= floor(d) + 2), so the kernel stops at ``floor(max d) + 1``: it costs
    n_out x n_in x (floor(max d) + 2) per step and sample, at most max_delay + 2.
    """
    longest = int(delays.detach().max().floor().clamp(0, max_delay)) if delays.numel() else 0
    kernel = (weights.unsqueeze(-1) * triangle_kernel(delays, longest)).flip(-1)
    xt = x.permute(1, 2, 0)
    y = F.conv1d(F.pad(xt, (kernel.shape[-1] - 1, 0)), kernel)
    return y.permute(2, 0, 1)


def check_max_delay(max_delay: int) -> int:
    """Validate a maximum delay against the Loihi 2 limit."""
    if not isinstance(max_delay, int) or not 0 <= max_delay <= DELAY_MAX:
        raise InputError(f"max_delay = {max_delay} is out of range; allowed 0..{DELAY_MAX} steps")
    return max_delay
