"""The float model of a :class:`~neurodeploy.float_network.FloatNetwork`, in torch.

Runs the update of ``neurodeploy.float_network`` (the kernel's float step,
``neurodeploy.kernel.float_step``) step by step (any graph: delays,
recurrence, cycles between populations), in float64 by default. Every population at step
t depends only on spikes of steps <= t - 1 (one step of latency per hop), so populations
are independent within a step. Time convention: 0-based steps; an input spike at step t
reaches a population behind one projection at step t + 1 + delay.

This is the "torch-float" backend for float graphs (e.g. imported from NIR); a trained
:class:`~neurodeploy.models.SpikingNetwork` converts with ``to_float_network()``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from neurodeploy.float_network import FloatNetwork, FloatProjection, dequantize
from neurodeploy.kernel.float_step import float_lif_step, threshold
from neurodeploy.network import INPUT, FixedPointNetwork
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes


def _delay_terms(p: FloatProjection, dtype: torch.dtype) -> list:
    """How a projection reads its source history: ("gather", d, W) or [("slot", k, W_k)]."""
    w = torch.tensor(p.weights, dtype=dtype)
    if p.delays is None or isinstance(p.delays, int):
        return [("slot", int(p.delays or 0), w)]
    d = np.asarray(p.delays)
    if d.ndim == 1:
        return [("gather", torch.tensor(d, dtype=torch.long), w)]
    return [("slot", int(k), w * torch.as_tensor(d == k, dtype=dtype)) for k in np.unique(d)]


def simulate_torch_float(
    net: FloatNetwork | FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    dtype: torch.dtype = torch.float64,
    **_: object,
) -> Traces:
    """Run ``net`` on input spikes (batch, steps, n_inputs); returns float traces.

    ``record`` is a subset of ("spikes", "v", "u"); v is recorded after the reset. A
    :class:`FixedPointNetwork` runs as its float equivalent (``dequantize``: LSB units,
    no truncation, wrapping or saturation).
    """
    if isinstance(net, FixedPointNetwork):
        net = dequantize(net)
    x = check_spikes(net, spikes)
    record = check_record(record)
    names = check_populations(net, populations)
    batch, steps, _ = x.shape
    hist = {INPUT: torch.as_tensor(x, dtype=dtype).transpose(0, 1).contiguous(),
            **{name: torch.zeros((steps, batch, pop.size), dtype=dtype)
               for name, pop in net.populations.items()}}
    terms = {name: [(p.src, _delay_terms(p, dtype)) for p in net.incoming(name)]
             for name in net.populations}
    onset = net.bias_onsets()
    const = {name: sum((torch.tensor(p.bias, dtype=dtype) for p in net.incoming(name)
                        if p.bias is not None), torch.zeros(pop.size, dtype=dtype))
             for name, pop in net.populations.items()}
    params = {name: (1.0 - torch.tensor(pop.du, dtype=dtype),  # alpha, beta, bias, vth
                     1.0 - torch.tensor(pop.dv, dtype=dtype), torch.tensor(pop.bias, dtype=dtype),
                     torch.tensor(pop.vth, dtype=dtype))
              for name, pop in net.populations.items()}
    state = {name: [torch.zeros((batch, pop.size), dtype=dtype) for _ in range(2)]
             for name, pop in net.populations.items()}
    out = {kind: {n: torch.zeros((steps, batch, net.populations[n].size), dtype=dtype)
                  for n in names} for kind in ("u", "v") if kind in record}
    with torch.no_grad():
        for t in range(steps):
            for name, pop in net.populations.items():
                a = torch.zeros((batch, pop.size), dtype=dtype)
                if t >= onset[name]:  # the projection biases start with the first input
                    a += const[name]
                for src, src_terms in terms[name]:
                    h = hist[src]
                    for kind, d, w in src_terms:
                        if kind == "slot":
                            if t - 1 - d >= 0:
                                a += h[t - 1 - d] @ w.t()
                            continue
                        idx = t - 1 - d  # per source channel
                        valid = (idx >= 0).to(dtype)
                        delayed = h[idx.clamp(min=0), :, torch.arange(len(d))]  # (n_src, b)
                        a += (delayed.t() * valid) @ w.t()
                s, u, v = float_lif_step(a, *state[name], *params[name],
                                         spike=threshold if pop.spiking else None,
                                         reset=pop.reset)
                if s is not None:
                    hist[name][t] = s
                state[name] = [u, v]
                for kind, value in (("u", u), ("v", v)):
                    if name in out.get(kind, {}):
                        out[kind][name][t] = value

    def to_np(kind: str) -> dict[str, np.ndarray]:
        return {n: a.transpose(0, 1).numpy() for n, a in out.get(kind, {}).items()}

    return Traces(target="torch-float",
                  spikes={n: hist[n].transpose(0, 1).numpy() > 0 for n in names},
                  v=to_np("v"), u=to_np("u"))
