"""Seeded example networks and inputs (demo, benchmarks, tests).

``layered_network`` builds an integer feed-forward network (optionally with recurrent
hidden layers and axonal or per-synapse delays) whose thresholds are calibrated on the
reference simulator so that every layer fires at a realistic rate. Same seed, same
network, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurodeploy import fixed_point as fp
from neurodeploy.network import FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.targets.reference import simulate_reference


def poisson_spikes(n_inputs: int, batch: int, steps: int, rate: float, seed: int) -> np.ndarray:
    """Bernoulli input spikes (batch, steps, n_inputs) with probability ``rate`` per step."""
    return np.random.default_rng(seed).random((batch, steps, n_inputs)) < rate


def layered_network(
    sizes: Sequence[int],
    seed: int = 0,
    delays: str = "axonal",
    max_delay: int = 10,
    recurrent: bool = False,
    target_rate: float = 0.05,
    input_rate: float = 0.1,
    du: int = 1024,
    dv: int = 256,
) -> FixedPointNetwork:
    """A network ``sizes[0]`` inputs -> hidden layers -> ``sizes[-1]`` outputs.

    Weights are mixed-sign 8-bit (even values in [-256, 254]), ``delays`` is ``"none"``,
    ``"axonal"`` (one per source neuron) or ``"synaptic"``, each up to ``max_delay``
    steps. Each layer's threshold is set, in order, by bisection over 0..131071 to the
    value that brings its mean firing rate closest to ``target_rate`` (spikes per neuron
    per step) on ``input_rate`` Poisson input, measured with the reference simulator.
    """
    if delays not in ("none", "axonal", "synaptic"):
        raise ValueError(f"delays = {delays!r}; allowed: none, axonal, synaptic")
    rng = np.random.default_rng(seed)
    n_in, layers = int(sizes[0]), [int(s) for s in sizes[1:]]
    calib = poisson_spikes(n_in, 16, 100, input_rate, seed + 1)
    pops: dict[str, LIFPopulation] = {}
    projs: list[Projection] = []
    src, n_src = "input", n_in
    for k, size in enumerate(layers):
        name = f"layer{k}" if k < len(layers) - 1 else "output"
        scale = 2 * int(np.clip(round(48 / np.sqrt(max(1.0, n_src * 0.1)) * 3), 4, 120))
        w = rng.normal(0.3, 1.0, size=(size, n_src)) * scale
        w = fp.lava_weight_transform(np.round(w / 2) * 2, "mixed")
        shape = {"axonal": (n_src,), "synaptic": (size, n_src)}.get(delays)
        d = rng.integers(0, max_delay + 1, size=shape) if shape and max_delay else None
        layer_projs = [Projection(src, name, w, weight_exp=0, delays=d, sign_mode="mixed")]
        if recurrent and k < len(layers) - 1:
            wr = fp.lava_weight_transform(
                np.round(rng.normal(-0.2, 1.0, size=(size, size)) * scale / 4 / 2) * 2, "mixed")
            layer_projs.append(Projection(name, name, wr, sign_mode="mixed"))
        def rate_at(vth: int, name: str = name, size: int = size,
                    layer_projs: list = layer_projs) -> float:
            trial = FixedPointNetwork(
                n_in, {**pops, name: LIFPopulation(size, du=du, dv=dv, vth=vth)},
                [*projs, *layer_projs], outputs=[name])
            return float(simulate_reference(trial, calib, populations=[name]).spikes[name].mean())

        lo, hi = 0, fp.VTH_MAX  # the rate falls as vth grows: bisect on a log scale
        while hi - lo > max(1, lo // 64):
            mid = round(float(np.sqrt(max(lo, 1) * hi))) if lo else max(1, hi // 1024)
            mid = min(max(mid, lo + 1), hi - 1) if hi - lo > 1 else hi
            if rate_at(mid) > target_rate:
                lo = mid
            else:
                hi = mid
        vth = min((lo, hi), key=lambda t: abs(np.log((rate_at(t) + 1e-4) / target_rate)))
        pops[name] = LIFPopulation(size, du=du, dv=dv, vth=vth)
        projs.extend(layer_projs)
        src, n_src = name, size
    return FixedPointNetwork(n_in, pops, projs, outputs=["output"])
