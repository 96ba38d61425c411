"""The float model's step, written once (torch): what the integer step is without rounding.

Per step t (0-based), in the integer step's order (``neurodeploy.kernel.lif``)::

    u[t] = alpha u[t-1] + a[t]                    alpha = 1 - du  (du in [1/4096, 1])
    v'   = beta v[t-1] + u[t] + bias              beta = 1 - dv   (dv in [0, 4095/4096])
    s[t] = spike(v' - vth)                        (strict threshold: v' > vth)
    v[t] = v' (1 - s[t])   (reset "zero")   or   v' - s[t] vth   (reset "subtract")

``a[t]`` is the input that arrived at step t (one step per hop: a spike emitted at step t
contributes to ``a[t + 1 + delay]``). Units: v, u, vth, bias and a share one arbitrary unit
(PTQ maps it onto the chip's integers with a per-population scale S). The float
simulator (``torch-float``), the training neuron (``neurodeploy.models.neurons``) and PTQ
calibration call this; the fused training scan (``neurodeploy.models.scan``) computes the
same recurrences with a hand-written backward pass and is tested equal to it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

RESETS = ("zero", "subtract")


def current_step(a: torch.Tensor, u: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``u[t] = alpha u[t-1] + a[t]``: the synaptic current after step t."""
    return u * alpha + a


def threshold(x: torch.Tensor) -> torch.Tensor:
    """Deterministic spikes from ``x = v' - vth``: ``x > 0`` (i.e. ``v' > vth``, exactly, for
    finite floats) as 0.0/1.0 in x's dtype, no gradient."""
    return (x > 0).to(x.dtype)


def float_lif_step(
    a: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    bias: torch.Tensor | float,
    vth: torch.Tensor,
    spike: Callable[[torch.Tensor], torch.Tensor] | None = None,
    reset: str = "zero",
    detach_reset: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """One float step of a population: ``(spikes, u, v)`` from the input ``a`` of step t.

    ``spike`` maps ``v' - vth`` to spikes (0/1; a surrogate-gradient function in
    training); None makes a non-spiking population (spikes None, v integrates, no reset).
    ``detach_reset`` stops gradients through the reset; the values are the same either way.
    Shapes: (batch, neurons) state and input, (neurons,) or () parameters.
    """
    u = current_step(a, u, alpha)
    v = v * beta + u + bias
    if spike is None:
        return None, u, v
    s = spike(v - vth)
    r = s.detach() if detach_reset else s
    v = v * (1.0 - r) if reset == "zero" else v - r * vth
    return s, u, v
