"""A continuous-time TTFS network as a discrete CUBA LIF :class:`FloatNetwork`, and back.

**Discretization.** With Delta = dt / tau_syn (dt in the model's unit: seconds, or tau_syn
units for ``tau_syn="units"``), every TTFS layer becomes a population of neurodeploy's
float model (``neurodeploy.float_network``) with::

    du = 1 - exp(-Delta)      dv = 0 (no membrane leak)      vth = theta      bias = 0
    W_f = w * du              (projection from the previous layer, no delays)

Why the exact exponential decay and W_f = w * du: an input spike emitted at step s
reaches u at step s + 1 (one step per hop), so u[s + 1 + k] = w du exp(-k Delta) =
w (exp(-k Delta) - exp(-(k + 1) Delta)), exactly the charge the continuous synaptic
current w exp(-(t - t_s)) delivers during the k-th interval of length Delta after
t_s = s Delta. With dv = 0, v sums those charges, so v[n] = V(n Delta): the discrete
membrane is the continuous one *sampled at the step boundaries*, for any dt (Euler's du =
Delta would instead shorten tau_syn by a factor -Delta / ln(1 - Delta), 11% at Delta =
0.2). The hop latency is therefore not an extra delay: it is the integration of the first
interval. What remains is (1) input times rounded to the grid and (2) each neuron's
threshold crossing being seen at the next step boundary: a spike at step n means the
crossing lay in ((n - 1) Delta, n Delta], up to one step late, half a step on average, at
every one of the L layers (L projections in series).

**One spike per neuron.** The continuous neuron spikes once; the discrete LIF resets to
0 and would integrate its remaining input into a second spike, which a later layer would
see. Every hidden population therefore inhibits itself: a diagonal recurrent projection
of weight r_j = -``self_inhibition`` * du * max(W+_j - theta, 0), with W+_j the sum of
neuron j's positive input weights. Why that is enough: at the spike step v exceeded
theta, so more than theta of positive charge was delivered and at most R+ <= W+_j - theta
remains; k steps later the excitation has added at most R+ (1 - exp(-k Delta)) and the
self-inhibition (arriving one step after the spike) r_j / du * (1 - exp(-k Delta)), so
v <= 0 from the spike on when ``self_inhibition`` >= 1 (the default 1.25 leaves a margin
for quantization). The first spike is untouched: the inhibition only exists after it. The
output population needs none (only its first spike is read and nothing listens to it),
which keeps its v within [-W-, theta] and its fixed-point scale large.

**Time convention.** 0-based steps; one step of latency per projection. Input channel i
spikes at step ``floor(t_i / Delta + 0.5)`` (round half up); the reference spike is the
last input channel. A population's first spike at step n decodes to the time
``(n - L / 2) * Delta`` (tau_syn units) for L projections in series: the round-half-up
input has no mean offset and each of the L layers is half a step late on average.
Classification: the output neuron with the earliest first-spike step; ties go to the
lowest index (deterministic, as numpy's argmin); no output spike at all is class -1
(always wrong).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neurodeploy.errors import InputError
from neurodeploy.float_network import FloatNetwork, FloatPopulation, FloatProjection
from neurodeploy.models.exact.ttfs import UNITS, TTFSNetwork
from neurodeploy.models.network import population_names
from neurodeploy.network import INPUT

#: Self-inhibition gain (x du x max(W+ - theta, 0)); > 1 leaves a margin for quantization.
SELF_INHIBITION = 1.25
#: Smallest Delta = dt / tau_syn whose decay Loihi 2's 12-bit du can represent
#: (round(4096 du) >= 1).
MIN_DT_TAU = -math.log1p(-0.5 / 4096)


def time_unit(model: TTFSNetwork) -> str:
    """``"s"`` when tau_syn is in seconds, else ``"tau_syn"``."""
    return "tau_syn" if model.config.tau_syn == UNITS else "s"


def positive_time_step(dt: object, unit: str) -> float:
    """``dt`` as a float, or a one-line :class:`InputError` unless it is a finite number > 0
    (``unit`` names the time unit in the message)."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise InputError(f"dt = {dt!r} is not a number; allowed: a time step > 0 {unit}") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"dt = {dt!r} is not allowed; the time step must be > 0 {unit}")
    return value


def check_dt(model: TTFSNetwork, dt: float) -> float:
    """Validate a time step (model unit) and return Delta = dt / tau_syn.

    ``dt`` must be > 0, no larger than the shortest time constant (tau_syn: the membrane
    does not leak) and not so small that du = 1 - exp(-Delta) is below Loihi 2's 12-bit
    decay resolution. Each violation is a one-line :class:`InputError`.
    """
    unit = time_unit(model)
    value = positive_time_step(dt, unit)
    tau = 1.0 if model.config.tau_syn == UNITS else float(model.config.tau_syn)
    delta = value / tau
    if delta > 1.0:
        tau_text = "tau_syn" if unit == "tau_syn" else f"tau_syn = {tau:g} s"
        raise InputError(
            f"dt = {value:g} {unit} is larger than {tau_text}, the model's shortest time "
            f"constant (the membrane does not leak); allowed 0 < dt <= {tau:g} {unit}")
    if delta < MIN_DT_TAU:
        raise InputError(
            f"dt = {value:g} {unit} gives du = {-math.expm1(-delta):.3g}, which rounds to 0 "
            f"on Loihi 2's 12-bit decay grid (1/4096); allowed dt >= {MIN_DT_TAU * tau:.3g} "
            f"{unit}")
    return delta


def check_causal_path(model: TTFSNetwork) -> None:
    """Raise :class:`InputError` if some output neuron can never spike.

    Every input channel (and the reference) can spike; a neuron can spike only if the
    positive weights from neurons that can spike sum above theta (its membrane never
    exceeds that sum). An output neuron that cannot spike has no causal path from the input.
    """
    theta = model.config.threshold
    can = np.ones(model.config.layer_sizes[0], dtype=bool)
    for k, layer in enumerate(model.layers):
        w = layer.weight.detach().double().numpy()
        reach = (np.clip(w, 0.0, None) * can[None, :]).sum(axis=1)
        can = reach > theta
        if k == len(model.layers) - 1 and not can.all():
            j = int(np.argmin(can))
            raise InputError(
                f"output neuron {j} can never spike: its positive weights from neurons that "
                f"can spike sum to {reach[j]:.3g} <= threshold {theta:g}; no causal path from "
                "the input to it")


def hops(model: TTFSNetwork) -> int:
    """L: projections in series from the input to the output population."""
    return len(model.layers)


def to_float_network(model: TTFSNetwork, dt: float,
                     self_inhibition: float = SELF_INHIBITION) -> FloatNetwork:
    """The discrete CUBA LIF float model of ``model`` at time step ``dt`` (model unit).

    Populations ``layer0, ..., output`` (as ``neurodeploy.models.network``), each fed by
    the previous one (``input`` first: the data channels, then the reference spike); the
    hidden ones also by their own self-inhibition; see the module docstring. Raises
    :class:`InputError` for a bad ``dt`` or an output neuron with no causal path.
    """
    delta = check_dt(model, dt)
    check_causal_path(model)
    if not (math.isfinite(self_inhibition) and self_inhibition >= 1.0):
        raise InputError(f"self_inhibition = {self_inhibition} must be >= 1 (one spike per neuron)")
    du = -math.expm1(-delta)
    names = population_names(len(model.layers))
    pops, projs = {}, []
    for k, (name, layer) in enumerate(zip(names, model.layers, strict=True)):
        w = layer.weight.detach().double().numpy()
        pops[name] = FloatPopulation(w.shape[0], du=du, dv=0.0, vth=model.config.threshold,
                                     reset="zero")
        projs.append(FloatProjection(INPUT if k == 0 else names[k - 1], name, w * du))
        if k < len(model.layers) - 1:
            rest = np.clip(np.clip(w, 0.0, None).sum(axis=1) - model.config.threshold, 0, None)
            projs.append(FloatProjection(name, name, np.diag(-self_inhibition * du * rest)))
    seconds = None if model.config.tau_syn == UNITS else float(dt)
    return FloatNetwork(model.config.layer_sizes[0], pops, projs, outputs=[names[-1]], dt=seconds)


def input_times(model: TTFSNetwork, times: np.ndarray) -> np.ndarray:
    """(batch, n_inputs) data times -> (batch, n_inputs [+ 1]) with the reference spike."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 2 or times.shape[1] != model.config.n_inputs:
        raise InputError(f"input times have shape {times.shape}; expected (samples, "
                         f"{model.config.n_inputs})")
    if np.isnan(times).any() or (times < 0).any():
        raise InputError("input times must be >= 0 (tau_syn units) or +inf (no spike)")
    with torch.no_grad():
        full = model.with_reference(torch.as_tensor(times))
    return full.numpy()


def time_to_step(times: np.ndarray, delta: float) -> np.ndarray:
    """Spike times (tau_syn units) -> 0-based steps ``floor(t / Delta + 0.5)``; -1 for +inf."""
    times = np.asarray(times, dtype=np.float64)
    finite = np.isfinite(times)
    steps = np.floor(np.where(finite, times, 0.0) / delta + 0.5).astype(np.int64)
    return np.where(finite, steps, -1)


def encode_steps(model: TTFSNetwork, times: np.ndarray, delta: float, steps: int) -> np.ndarray:
    """Input spike array (batch, steps, n_inputs [+ 1]) for the discrete network: one
    spike per channel at :func:`time_to_step` (dropped if at or beyond ``steps``)."""
    step = time_to_step(input_times(model, times), delta)
    batch, n = step.shape
    spikes = np.zeros((batch, steps, n), dtype=bool)
    b, i = np.nonzero((step >= 0) & (step < steps))
    spikes[b, step[b, i], i] = True
    return spikes


def simulation_steps(model: TTFSNetwork, delta: float, t_end: float) -> int:
    """Steps that cover continuous times up to ``t_end`` (tau_syn units) plus the worst-case
    lag of the discretization (one step per layer) and one spare step per hop."""
    return math.ceil(t_end / delta) + 2 * hops(model) + 1


def first_spike_steps(spikes: np.ndarray) -> np.ndarray:
    """(batch, steps, n) spikes -> (batch, n) first spike step, -1 where none."""
    spikes = np.asarray(spikes, dtype=bool)
    first = np.argmax(spikes, axis=1)
    return np.where(spikes.any(axis=1), first, -1).astype(np.int64)


def steps_to_times(steps: np.ndarray, delta: float, n_hops: int) -> np.ndarray:
    """First-spike steps -> times (tau_syn units): ``(n - n_hops / 2) * Delta``; -1 -> +inf."""
    steps = np.asarray(steps)
    return np.where(steps >= 0, (steps - 0.5 * n_hops) * delta, np.inf)


def classify_first_spike(steps: np.ndarray) -> np.ndarray:
    """Earliest first-spike step wins; ties -> lowest index; no output spike -> -1."""
    steps = np.asarray(steps)
    key = np.where(steps >= 0, steps, np.iinfo(np.int64).max)
    return np.where((steps >= 0).any(axis=1), np.argmin(key, axis=1), -1)
