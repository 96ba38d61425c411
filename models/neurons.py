"""The CUBA LIF neuron in torch, with Loihi 2's discrete dynamics (float model).

Per step t (0-based), in this order, exactly the float model of
``docs/loihi2-fixed-point.md`` (written once in ``neurodeploy.kernel.float_step``)::

    u[t] = u[t-1] * (1 - du) + a[t]
    v'   = v[t-1] * (1 - dv) + u[t] + bias
    s[t] = H(v' - vth)              (strict: v' > vth)
    v[t] = v' * (1 - s[t])          (reset to zero; u is not reset)

``a[t]`` is the synaptic input that arrived at step t: with one step of latency per
projection, a spike emitted at step t contributes to ``a[t + 1 + delay]``. Units: v, u,
vth, bias and weights share one arbitrary unit (the quantizer maps it onto Loihi's
integers with a per-population scale S); du and dv are fractions per step: the integer
decays are ``du_int = round(4096 du) - 1`` and ``dv_int = round(4096 dv)``, so du lies in
[1/4096, 1] and dv in [0, 4095/4096].
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from neurodeploy.chip import LOIHI2
from neurodeploy.kernel.float_step import float_lif_step
from neurodeploy.models.surrogates import SpikeFn

# the float decays that Loihi 2's integer decays can represent (the hidden +1 on du)
DU_MIN, DU_MAX = LOIHI2.du_float_min, 1.0
DV_MIN, DV_MAX = 0.0, LOIHI2.dv_float_max


class LIFState(NamedTuple):
    """Neuron state, each (batch, neurons)."""

    u: torch.Tensor
    v: torch.Tensor


class LIFParameters(NamedTuple):
    """Per-neuron (neurons,) or shared () tensors; see the module docstring for units."""

    du: torch.Tensor
    dv: torch.Tensor
    vth: torch.Tensor
    bias: torch.Tensor


def lif_step(
    a: torch.Tensor,
    state: LIFState,
    params: LIFParameters,
    spike_fn: SpikeFn,
    training: bool = False,
    detach_reset: bool = True,
) -> tuple[torch.Tensor, LIFState]:
    """One step: input ``a`` (batch, neurons) and the previous state -> (spikes, state).

    ``detach_reset`` stops gradients through the reset (the usual choice in surrogate
    gradient training); the forward values are the same either way.
    """
    alpha = 1.0 - params.du.clamp(DU_MIN, DU_MAX)
    beta = 1.0 - params.dv.clamp(DV_MIN, DV_MAX)
    s, u, v = float_lif_step(a, state.u, state.v, alpha, beta, params.bias, params.vth,
                             spike=lambda x: spike_fn(x, training), detach_reset=detach_reset)
    return s, LIFState(u, v)
