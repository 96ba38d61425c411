"""A layer of CUBA LIF neurons behind one projection (optionally delayed and recurrent).

Input and output spikes are time-major (steps, batch, channels), steps 0-based. The
projection adds one step of latency (``hop_latency=True``, the default and what Loihi 2
does): a spike at step t reaches the neurons at step t + 1 + delay. A recurrent
projection likewise delivers a spike of step t at step t + 1. ``hop_latency=False`` drops
the feed-forward hop's step, only for comparison experiments with models that ignore it
(such a network does not transfer spike timing exactly to the chip).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurodeploy.errors import InputError
from neurodeploy.models.delays import (
    check_max_delay,
    effective_delays,
    shift_axonal,
    synaptic_current,
)
from neurodeploy.models.scan import lif_scan
from neurodeploy.models.surrogates import SpikeFn

DELAY_KINDS = ("none", "axonal", "synaptic")


def impulse_peak(du: float, dv: float, steps: int = 4096) -> float:
    """Largest v reached after a single unit input (no threshold): the layer's gain."""
    u = v = peak = 0.0
    for t in range(steps):
        u = u * (1.0 - du) + (1.0 if t == 0 else 0.0)
        v = v * (1.0 - dv) + u
        if v < peak * 0.5:
            break
        peak = max(peak, v)
    return peak


class LIFLayer(nn.Module):
    """``n_in`` -> ``n_out`` CUBA LIF neurons (see ``neurodeploy.models.neurons``).

    ``delays``: ``"none"``, ``"axonal"`` (one trainable delay per input channel, as Yu et
    al.) or ``"synaptic"`` (one per synapse), in steps, clamped to [0, max_delay].
    ``spiking=False`` makes a non-spiking readout layer (v integrates, never resets).
    ``per_neuron``: decays and thresholds are per-neuron vectors (else shared scalars);
    ``train_decays`` / ``train_thresholds`` make them trainable. Delays start uniform in
    [0, delay_init] steps.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        recurrent: bool = False,
        delays: str = "none",
        max_delay: int = 62,
        du: float = 0.2,
        dv: float = 0.05,
        vth: float = 1.0,
        per_neuron: bool = True,
        train_decays: bool = False,
        train_thresholds: bool = False,
        spike_fn: SpikeFn | None = None,
        spiking: bool = True,
        hop_latency: bool = True,
        weight_gain: float = 1.0,
        delay_init: float = 5.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_in < 1 or n_out < 1:
            raise InputError(f"layer sizes must be >= 1, got n_in = {n_in}, n_out = {n_out}")
        if delays not in DELAY_KINDS:
            raise InputError(f"delays = {delays!r} is unknown; allowed: {', '.join(DELAY_KINDS)}")
        self.n_in, self.n_out = n_in, n_out
        self.delay_kind = delays
        self.max_delay = check_max_delay(max_delay)
        self.recurrent = recurrent
        self.spiking = spiking
        self.hop_latency = hop_latency
        self.spike_fn = spike_fn or SpikeFn()
        self.integer_delays = False
        # Scale so that one input spike of the largest initial weight raises v by at most
        # about weight_gain / sqrt(n_in) (in units of the threshold vth).
        peak = impulse_peak(du, dv)
        bound = weight_gain * vth / (math.sqrt(n_in) * peak)
        self.weight = nn.Parameter(
            (torch.rand(n_out, n_in, generator=generator) * 2 - 1) * bound
        )
        self.rec_weight = (
            nn.Parameter((torch.rand(n_out, n_out, generator=generator) * 2 - 1)
                         * weight_gain * vth / (math.sqrt(n_out) * peak) * 0.5)
            if recurrent else None
        )
        if delays == "axonal":
            self.delay = nn.Parameter(torch.rand(n_in, generator=generator) * delay_init)
        elif delays == "synaptic":
            self.delay = nn.Parameter(torch.rand(n_out, n_in, generator=generator) * delay_init)
        else:
            self.register_parameter("delay", None)
        shape = (n_out,) if per_neuron else ()
        self.du = nn.Parameter(torch.full(shape, float(du)), requires_grad=train_decays)
        self.dv = nn.Parameter(torch.full(shape, float(dv)), requires_grad=train_decays)
        self.vth = nn.Parameter(torch.full(shape, float(vth)), requires_grad=train_thresholds)
        self.bias = nn.Parameter(torch.zeros(shape), requires_grad=False)

    # ------------------------------------------------------------------ queries
    def deployed_delays(self) -> torch.Tensor | None:
        """Integer delays for deployment: clamped to [0, max_delay] and rounded."""
        if self.delay is None:
            return None
        return effective_delays(self.delay.detach(), self.max_delay, integer=True).long()

    # ------------------------------------------------------------------ forward
    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        """Feed-forward current (steps, batch, n_out) as it arrives, hop latency included."""
        if self.delay_kind == "none":
            current = x @ self.weight.t()
        else:
            d = effective_delays(self.delay, self.max_delay, self.integer_delays)
            if self.delay_kind == "axonal":
                current = shift_axonal(x, d, self.max_delay) @ self.weight.t()
            else:
                current = synaptic_current(x, self.weight, d, self.max_delay)
        if self.hop_latency:
            current = torch.cat([current.new_zeros((1, *current.shape[1:])), current[:-1]])
        return current

    def forward(
        self, x: torch.Tensor, record_v: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Spikes (steps, batch, n_out) for input spikes x (steps, batch, n_in), and v if asked.

        For a non-spiking layer the "spikes" are zeros and v is always returned.
        """
        current = self.input_current(x)
        spikes, volts = lif_scan(
            current, self.rec_weight, self.du, self.dv, self.vth, self.bias, self.spike_fn,
            self.training, spiking=self.spiking,
        )
        return spikes, (volts if record_v or not self.spiking else None)
