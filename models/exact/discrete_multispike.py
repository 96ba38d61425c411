"""A continuous-time multi-spike network as a discrete CUBA LIF :class:`FloatNetwork`.

**Discretization.** At time step ``dt`` (the model's unit, seconds), with ``a = exp(-dt /
tau_syn)`` and ``b = exp(-dt / tau_mem)``, every spiking layer becomes a population of
neurodeploy's float model (``neurodeploy.float_network``) and the readout a non-spiking one::

    du = 1 - a      dv = 1 - b      vth = theta      reset to 0
    W_f = w kappa c (b - a)           c = tau_syn tau_mem / (tau_mem - tau_syn)

Why: an input spike emitted at step s reaches u at step s + 1 (one step per hop) and then
``v[s + n] = W_f (b^n - a^n) / (b - a) = w kappa K(n dt)``: the discrete membrane is the
continuous one *sampled at the step boundaries*, for any dt, and the hop latency is the
integration of the first interval, not an extra delay (for tau_mem -> infinity this is
the TTFS mapping, W_f = w du). What remains is (1) input times rounded to the grid, (2) a
crossing inside ((n - 1) dt, n dt] being seen at step n (up to one step late, half a step
on average, in every spiking layer), so a neuron resets up to one step late and a later
layer sees its spike up to one step late.

**Readout.** The readout population is non-spiking with the same du, dv and weights; the
class is the largest mean of v over the N = T / dt steps (``neurodeploy.readout``
``mean_v``), the Riemann sum of the continuous readout's time average. The continuous
logit bias b_j becomes a per-step bias ``b_j / M`` with ``M = mean over n = 0..N-1 of
(1 - (1 - dv)^(n + 1)) / dv``, exactly the mean v a constant per-step bias of 1 adds.

**Time convention.** 0-based steps; one step of latency per projection. An input spike at
time t (model unit) is at step ``floor(t / dt + 0.5)``; two spikes of one channel that
land in the same step become one (:func:`resample_spikes` counts them). A spike of spiking
layer k (k = 1 for the first) at step n decodes to the time ``(n - k / 2) dt``: each layer
is half a step late on average.
"""

from __future__ import annotations

import math

import numpy as np

from neurodeploy.errors import InputError
from neurodeploy.float_network import FloatNetwork, FloatPopulation, FloatProjection
from neurodeploy.models.exact.discrete_ttfs import MIN_DT_TAU, positive_time_step
from neurodeploy.models.exact.multispike import MultiSpikeNetwork
from neurodeploy.models.network import population_names
from neurodeploy.network import INPUT


def check_dt(model: MultiSpikeNetwork, dt: float) -> float:
    """Validate a time step (model unit): > 0, no larger than the shortest time constant,
    and large enough that both decays are representable on Loihi 2's 12-bit grid. Each
    violation is a one-line :class:`InputError`; returns dt as a float."""
    cfg = model.config
    value = positive_time_step(dt, "s")
    shortest = min(cfg.tau_syn, cfg.tau_mem)
    name = "tau_syn" if cfg.tau_syn <= cfg.tau_mem else "tau_mem"
    if value > shortest:
        raise InputError(f"dt = {value:g} s is larger than {name} = {shortest:g} s, the "
                         f"model's shortest time constant; allowed 0 < dt <= {shortest:g} s")
    longest = max(cfg.tau_syn, cfg.tau_mem)
    if value / longest < MIN_DT_TAU:
        raise InputError(
            f"dt = {value:g} s gives a decay of {-math.expm1(-value / longest):.3g} per step "
            f"for the time constant {longest:g} s, which rounds to 0 on Loihi 2's 12-bit "
            f"decay grid (1/4096); allowed dt >= {MIN_DT_TAU * longest:.3g} s")
    return value


def check_causal_path(model: MultiSpikeNetwork) -> None:
    """Raise :class:`InputError` if some readout neuron hears no neuron that can spike.

    Input channels can spike any number of times, so a spiking neuron can fire iff it has
    a positive weight from a neuron that can fire (enough input spikes in a short time then
    carry it over threshold). A readout neuron with no nonzero weight from such a neuron
    is a constant (its bias): no causal path from the input.
    """
    can = np.ones(model.config.n_inputs, dtype=bool)
    for k, w in enumerate(model.weights):
        w = w.detach().numpy()
        can = ((w > 0) & can[None, :]).any(axis=1)
        if not can.any():
            raise InputError(f"spiking layer {k} ({population_names(len(model.weights) + 1)[k]}) "
                             "can never spike: no neuron has a positive weight from a neuron "
                             "that can spike; no causal path from the input to the output")
    heard = ((model.readout.detach().numpy() != 0) & can[None, :]).any(axis=1)
    if not heard.all():
        j = int(np.argmin(heard))
        raise InputError(f"output neuron {j} has no nonzero readout weight from a neuron that "
                         "can spike; no causal path from the input to it")


def _decays(model: MultiSpikeNetwork, dt: float) -> tuple[float, float, float]:
    """(du, dv, W_f / w) at time step dt."""
    cfg = model.config
    kern = cfg.kernel
    a, b = math.exp(-dt / cfg.tau_syn), math.exp(-dt / cfg.tau_mem)
    return 1.0 - a, 1.0 - b, kern.kappa * kern.c * (b - a)


def bias_per_step(logit_bias: np.ndarray, dv: float, steps: int) -> np.ndarray:
    """The per-step v bias whose contribution to mean v over ``steps`` steps is
    ``logit_bias`` (see the module docstring)."""
    n = np.arange(steps)
    mean_gain = float(np.mean(-np.expm1((n + 1) * math.log1p(-dv)) / dv))
    return np.asarray(logit_bias, dtype=np.float64) / mean_gain


def sample_steps(model: MultiSpikeNetwork, dt: float) -> int:
    """Steps N covering the sample window: ``floor(T / dt + 0.5)``."""
    return max(1, math.floor(model.config.duration / dt + 0.5))


def to_float_network(model: MultiSpikeNetwork, dt: float) -> FloatNetwork:
    """The discrete CUBA LIF float model of ``model`` at time step ``dt`` (seconds).

    Populations ``layer0, ...`` (spiking) and ``output`` (non-spiking readout, mean v),
    each fed by the previous one (``input`` first). Raises :class:`InputError` for a bad
    ``dt`` or a readout neuron with no causal path.
    """
    dt = check_dt(model, dt)
    check_causal_path(model)
    du, dv, gain = _decays(model, dt)
    names = population_names(len(model.weights) + 1)
    pops, projs = {}, []
    for k, w in enumerate(model.weights):
        w = w.detach().double().numpy()
        pops[names[k]] = FloatPopulation(w.shape[0], du=du, dv=dv, vth=model.config.threshold,
                                         reset="zero")
        projs.append(FloatProjection(INPUT if k == 0 else names[k - 1], names[k], w * gain))
    readout = model.readout.detach().double().numpy()
    bias = bias_per_step(model.bias.detach().double().numpy(), dv, sample_steps(model, dt))
    pops[names[-1]] = FloatPopulation(readout.shape[0], du=du, dv=dv, vth=0.0, bias=bias,
                                      spiking=False)
    projs.append(FloatProjection(names[-2], names[-1], readout * gain))
    return FloatNetwork(model.config.n_inputs, pops, projs, outputs=[names[-1]], dt=float(dt))


def resample_spikes(spikes: np.ndarray, data_dt: float, dt: float,
                    steps: int) -> tuple[np.ndarray, int]:
    """(samples, steps_data, channels) spikes of 0-based steps of ``data_dt`` -> the same
    spike times on steps of ``dt`` (``floor(step * data_dt / dt + 0.5)``), ``steps`` long;
    also the number of input spikes lost (merged into one step or beyond the end)."""
    spikes = np.asarray(spikes)
    b, n, c = np.nonzero(spikes)
    new = np.floor(n * (data_dt / dt) + 0.5).astype(np.int64)
    keep = new < steps
    out = np.zeros((spikes.shape[0], steps, spikes.shape[2]), dtype=bool)
    out[b[keep], new[keep], c[keep]] = True
    return out, int(b.size - out.sum())


def spike_step_lists(spikes: np.ndarray) -> list[list[np.ndarray]]:
    """(samples, steps, n) spikes -> per sample, per neuron, the ascending spike steps."""
    spikes = np.asarray(spikes, dtype=bool)
    return [[np.flatnonzero(spikes[s, :, j]) for j in range(spikes.shape[2])]
            for s in range(spikes.shape[0])]


def _nearest(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the nearest element of sorted non-empty ``y`` for every element of ``x``."""
    right = np.clip(np.searchsorted(y, x), 0, y.size - 1)
    left = np.clip(right - 1, 0, y.size - 1)
    return np.where(np.abs(y[left] - x) <= np.abs(y[right] - x), left, right)


def timing_error(cont: np.ndarray, steps: list[list[np.ndarray]], dt: float, layer: int,
                 unit: float, window: float | None = None) -> dict:
    """Spike-time error of one spiking layer (1-based ``layer``) against the continuous model.

    ``cont``: (samples, n, S) continuous times (``+inf`` padded); ``steps``: the discrete
    spike steps (:func:`spike_step_lists`), decoded to ``(n - layer / 2) dt``. Within each
    (sample, neuron), a continuous and a discrete spike are a pair when each is the other's
    nearest and they are at most ``window`` apart (default ``unit``): a spike that one model
    fires and the other does not (a near-threshold crossing) does not shift the pairing of
    the later ones. Returns the mean |error| and mean signed error (discrete - continuous)
    over pairs in units of ``unit``, the share (%) of all spikes of both models left
    unpaired, and the share (%) of (sample, neuron) whose spike counts differ.
    """
    window = unit if window is None else window
    errors, unpaired, total, mismatched, pairs = [], 0, 0, 0, 0
    for s, per_neuron in enumerate(steps):
        for j, st in enumerate(per_neuron):
            c = cont[s, j][np.isfinite(cont[s, j])]
            d = (st - 0.5 * layer) * dt
            total += c.size + d.size
            mismatched += int(c.size != d.size)
            pairs += 1
            if c.size == 0 or d.size == 0:
                unpaired += c.size + d.size
                continue
            to_d = _nearest(c, d)
            mutual = (_nearest(d, c)[to_d] == np.arange(c.size)) & (np.abs(d[to_d] - c) <= window)
            errors.append(d[to_d[mutual]] - c[mutual])
            unpaired += c.size + d.size - 2 * int(mutual.sum())
    err = np.concatenate(errors) / unit if errors else np.zeros(0)
    return {"time_error": float(np.abs(err).mean()) if err.size else None,
            "time_bias": float(err.mean()) if err.size else None,
            "unpaired_pct": 100.0 * unpaired / max(total, 1),
            "count_mismatch_pct": 100.0 * mismatched / max(pairs, 1)}
