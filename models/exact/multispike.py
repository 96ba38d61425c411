"""Exact multi-spike timing: CUBA LIF layers whose neurons fire many times, with exact
spike times in the forward pass and exact spike-time gradients (Yamamoto, Sakemi & Aihara
2022; the gradient EventProp computes, Wunderlich & Pehle 2021).

Neuron model (continuous time; times in the model's unit, seconds for data sets with a
time step; ``tau_syn`` and ``tau_mem`` in the same unit; ``tau_syn != tau_mem``)::

    dI/dt = -I / tau_syn + kappa sum_i w_i sum_f delta(t - t_i^f)
    dV/dt = -V / tau_mem + I
    V reaches theta from below at t*  ->  spike at t*, V(t*+) = 0  (I is not reset)

``kappa = 1 / K_peak`` normalises the postsynaptic potential: one input spike of weight w
alone raises V by at most w (V, w and theta share one unit; with the default theta = 1,
weights are in threshold units; ``K`` below divided by its peak). With
``c = tau_syn tau_mem / (tau_mem - tau_syn)`` a spike at time 0 gives the kernel
``K(s) = c (exp(-s / tau_mem) - exp(-s / tau_syn))`` for s > 0 (0 before). Without reset
the membrane is ``Vf(t) = kappa sum_i w_i K(t - t_i)``; a reset at the neuron's last spike
t_r before t only subtracts the free membrane at t_r, decayed::

    V(t) = Vf(t) - exp(-(t - t_r) / tau_mem) Vf(t_r)                                (1)

**Forward: event-driven and exact.** Between two input events the state (I, V) evolves in
closed form, ``V(s) = (V0 + c I0) exp(-s/tau_mem) - c I0 exp(-s/tau_syn)``, which has at
most one extremum. A crossing in an interval exists iff V is rising at its start and V at
min(interval end, the extremum, in closed form) exceeds theta; it is then the unique root
on a monotone piece, found by safeguarded Newton (bisection fallback) to
``TIME_TOLERANCE`` x tau_syn (float64). After a spike V = 0 and the search continues in
the same interval, so a neuron may fire any number of times between two input events.
Spikes exactly at theta (a grazing touch) are not spikes (strict threshold, as Loihi 2).

**Gradient: implicit differentiation at each crossing.** Spike k of a neuron satisfies
``F = V(t_k; w, input times, t_(k-1)) - theta = 0`` with V from (1), so
``dt_k = -(dF/dp) dp / (dF/dt_k)`` for every parameter and input time p, and dF/dt_k is
V's slope at the crossing. :func:`exact_spike_times` evaluates F with torch at the
detached crossing time and returns ``t_k + (F - F.detach()) / (-slope)``: the value is the
exact crossing time, the autograd gradient is the implicit-function one, and because F
uses the *differentiable* previous spike t_(k-1), a spike's dependence on its neuron's
earlier resets (and on earlier layers) chains through. This is the exact gradient of the
spike times wherever it exists (it does not exist where a spike appears or disappears: a
count change, which exact methods, EventProp included, ignore). Slopes are clamped below at
``MIN_SLOPE`` theta / tau_syn (a grazing crossing has an infinite derivative).
``tests/test_timing_multispike.py`` checks the gradients against finite differences of
the exact forward pass and the forward pass against scipy's adaptive ODE solver with
event location and reset.

**Readout.** Non-spiking output neurons with the same dynamics; the logit of class j is
the mean of its membrane over the sample window [0, T] plus a bias::

    logit_j = (kappa / T) sum_n w_jn sum_(spikes t of n, t < T) G(T - t) + b_j,
    G(s) = integral_0^s K = c (tau_mem (1 - exp(-s/tau_mem)) - tau_syn (1 - exp(-s/tau_syn)))

(Loihi 2: a non-spiking population read out by its mean v, ``neurodeploy.readout``'s
``mean_v``; see :mod:`neurodeploy.models.exact.discrete_multispike`.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import torch
from torch import nn

from neurodeploy.errors import InputError, SimulationError
from neurodeploy.models.exact.ttfs import JsonConfig, check_time_constant

#: Crossing times are found to this fraction of tau_syn (float64).
TIME_TOLERANCE = 1e-10
#: Smallest |dV/dt| at a crossing used by the gradient, in theta per tau_syn.
MIN_SLOPE = 1e-3
#: Largest number of spikes one neuron may fire in one sample before the forward pass
#: stops with an error (a runaway neuron).
MAX_SPIKES = 10_000


@dataclass(frozen=True)
class Kernel:
    """The CUBA LIF constants of one layer: ``tau_syn``, ``tau_mem`` (model unit)."""

    tau_syn: float
    tau_mem: float

    def __post_init__(self) -> None:
        ts = check_time_constant("tau_syn", self.tau_syn)
        tm = check_time_constant("tau_mem", self.tau_mem)
        if abs(tm - ts) <= 1e-6 * max(ts, tm):
            raise InputError(f"tau_syn = {ts:g} and tau_mem = {tm:g} are equal; the closed-form "
                             "kernel needs tau_syn != tau_mem (change one by a little)")
        object.__setattr__(self, "tau_syn", ts)
        object.__setattr__(self, "tau_mem", tm)

    @property
    def c(self) -> float:
        return self.tau_syn * self.tau_mem / (self.tau_mem - self.tau_syn)

    @property
    def peak_time(self) -> float:
        """Time of the PSP's maximum after the input spike."""
        a, m = 1.0 / self.tau_syn, 1.0 / self.tau_mem
        return math.log(a / m) / (a - m)

    @property
    def kappa(self) -> float:
        """1 / K(peak_time): the current jump per unit weight."""
        s = self.peak_time
        return 1.0 / (self.c * (math.exp(-s / self.tau_mem) - math.exp(-s / self.tau_syn)))

    # ----- torch versions (differentiable; masked where s <= 0) -----
    def _positive(self, s: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]
                  ) -> torch.Tensor:
        """``kappa c f(s)`` where s > 0, else 0 (f sees 0 there, so no inf or nan in the
        gradient)."""
        pos = s > 0
        val = self.kappa * self.c * f(torch.where(pos, s, torch.zeros_like(s)))
        return torch.where(pos, val, torch.zeros_like(val))

    def k(self, s: torch.Tensor) -> torch.Tensor:
        """kappa K(s): the normalised PSP (peak 1) of a spike s time units ago; 0 for s <= 0."""
        return self._positive(s, lambda x: torch.exp(-x / self.tau_mem)
                              - torch.exp(-x / self.tau_syn))

    def dk(self, s: torch.Tensor) -> torch.Tensor:
        """d/ds of :meth:`k`."""
        return self._positive(s, lambda x: torch.exp(-x / self.tau_syn) / self.tau_syn
                              - torch.exp(-x / self.tau_mem) / self.tau_mem)

    def g(self, s: torch.Tensor) -> torch.Tensor:
        """kappa G(s) = integral of :meth:`k` over [0, s]; 0 for s <= 0."""
        return self._positive(s, lambda x: self.tau_mem * -torch.expm1(-x / self.tau_mem)
                              - self.tau_syn * -torch.expm1(-x / self.tau_syn))


# ---------------------------------------------------------------------------------------
# exact forward (numpy, float64, no gradient)
# ---------------------------------------------------------------------------------------

def _v_at(kern: Kernel, v0: np.ndarray, i0: np.ndarray, s: np.ndarray) -> np.ndarray:
    c = kern.c
    return (v0 + c * i0) * np.exp(-s / kern.tau_mem) - c * i0 * np.exp(-s / kern.tau_syn)


def _dv_at(kern: Kernel, v0: np.ndarray, i0: np.ndarray, s: np.ndarray) -> np.ndarray:
    c = kern.c
    return (c * i0 * np.exp(-s / kern.tau_syn) / kern.tau_syn
            - (v0 + c * i0) * np.exp(-s / kern.tau_mem) / kern.tau_mem)


def _first_crossing(kern: Kernel, v0: np.ndarray, i0: np.ndarray, rem: np.ndarray,
                    theta: float) -> tuple[np.ndarray, np.ndarray]:
    """First s in (0, rem] where V(s) reaches theta (flat arrays); (s, hit)."""
    a, m, c = 1.0 / kern.tau_syn, 1.0 / kern.tau_mem, kern.c
    s = np.zeros_like(rem)
    hit = np.zeros(rem.shape, dtype=bool)
    cand = np.flatnonzero((i0 - m * v0 > 0) & (rem > 0))  # V rising at the start
    if cand.size == 0:
        return s, hit
    v, i, r = v0[cand], i0[cand], rem[cand]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = a * c * i / (m * (v + c * i))
        s_max = np.where(ratio > 0, np.log(np.where(ratio > 0, ratio, 1.0)) / (a - m), np.inf)
    s_end = np.minimum(r, np.where(s_max > 0, s_max, np.inf))
    up = _v_at(kern, v, i, s_end) > theta
    if not up.any():
        return s, hit
    idx = cand[up]
    hit[idx] = True
    s_end = s_end[up]
    v, i = v0[idx], i0[idx]
    lo, hi = np.zeros(idx.size), s_end
    x = 0.5 * (lo + hi)
    tol = TIME_TOLERANCE * kern.tau_syn
    root = hi.copy()
    todo = np.ones(idx.size, dtype=bool)
    for _ in range(200):
        f = _v_at(kern, v, i, x) - theta
        above = f > 0
        hi = np.where(above, x, hi)
        lo = np.where(above, lo, x)
        fp = _dv_at(kern, v, i, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - f / fp
        ok = (fp > 0) & (newton > lo) & (newton < hi)
        # converged: the bracket is small, or a Newton step inside it is (quadratic
        # convergence: the next one would be far below the tolerance)
        small = hi - lo <= tol
        step = (fp > 0) & (np.abs(newton - x) <= tol)
        finished = todo & (small | step)
        root = np.where(finished, np.where(small, hi, newton), root)
        todo &= ~finished
        if not todo.any():
            break
        x = np.where(ok, newton, 0.5 * (lo + hi))
    s[idx] = root
    return s, hit


def lif_forward(t_in: np.ndarray, src: np.ndarray, weight: np.ndarray, kern: Kernel,
                threshold: float, t_end: float) -> np.ndarray:
    """Exact spike times of one CUBA LIF layer (event-driven; see the module docstring).

    ``t_in``: (batch, events) input spike times sorted ascending per row, ``+inf`` for
    padding; ``src``: (batch, events) the input neuron of each event; ``weight``:
    (n_out, n_in). Spikes in [0, ``t_end``] are simulated. Returns (batch, n_out, S) spike
    times ascending per neuron, ``+inf`` padded (S >= 1).
    """
    t_in = np.asarray(t_in, dtype=np.float64)
    src = np.asarray(src, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    batch, n_events = t_in.shape
    n_out = w.shape[0]
    kappa = kern.kappa
    valid = t_in < t_end
    ev_t = np.where(valid, t_in, t_end)
    cur = np.zeros(batch * n_out)
    vol = np.zeros(batch * n_out)
    t0 = np.zeros(batch)
    who: list[np.ndarray] = []
    when: list[np.ndarray] = []
    for k in range(n_events + 1):
        t1 = ev_t[:, k] if k < n_events else np.full(batch, float(t_end))
        seg = np.repeat(np.maximum(t1 - t0, 0.0), n_out)
        done = np.zeros_like(seg)
        start = np.repeat(t0, n_out)
        for _ in range(MAX_SPIKES):
            s, hit = _first_crossing(kern, vol, cur, seg - done, threshold)
            if not hit.any():
                break
            idx = np.flatnonzero(hit)
            who.append(idx)
            when.append(start[idx] + done[idx] + s[idx])
            cur[idx] *= np.exp(-s[idx] / kern.tau_syn)
            vol[idx] = 0.0
            done[idx] += s[idx]
        else:
            raise SimulationError(f"a neuron fired more than {MAX_SPIKES} times between two "
                                  "input events; the weights are unstable")
        rest = seg - done
        vol = _v_at(kern, vol, cur, rest)
        cur = cur * np.exp(-rest / kern.tau_syn)
        t0 = t1
        if k < n_events and valid[:, k].any():
            jump = kappa * w[:, src[:, k]].T * valid[:, k, None]  # (batch, n_out)
            cur += jump.reshape(-1)
    who_all = np.concatenate(who) if who else np.zeros(0, dtype=np.int64)
    when_all = np.concatenate(when) if when else np.zeros(0)
    order = np.lexsort((when_all, who_all))  # by neuron, then time
    who_all, when_all = who_all[order], when_all[order]
    pos, width = _ragged(who_all, batch * n_out)
    if width > MAX_SPIKES:
        raise SimulationError(f"a neuron fired {width} times in one sample (more than "
                              f"{MAX_SPIKES}); the weights are unstable")
    out = np.full((batch * n_out, width), np.inf)
    out[who_all, pos] = when_all
    return out.reshape(batch, n_out, width)


def _ragged(rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, int]:
    """For ``rows`` sorted ascending (row of every entry): each entry's position within its
    row and the length of the longest row (at least 1)."""
    counts = np.bincount(rows, minlength=n_rows)
    width = max(1, int(counts.max()) if counts.size else 1)
    return np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts), width


# ---------------------------------------------------------------------------------------
# differentiable spike times (implicit differentiation at the crossings)
# ---------------------------------------------------------------------------------------

def to_events(times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, n, S) spike times (``+inf`` padded) -> events sorted per sample:
    (batch, n * S) times (``+inf`` last) and the (batch, n * S) source neuron of each."""
    batch, n, width = times.shape
    flat = times.reshape(batch, n * width)
    order = torch.argsort(flat.detach(), dim=1, stable=True)
    src = (order // width).to(torch.int64)
    return torch.gather(flat, 1, order), src


def exact_spike_times(t_in: torch.Tensor, src: torch.Tensor, weight: torch.Tensor,
                      kern: Kernel, threshold: float, t_end: float) -> torch.Tensor:
    """Exact spike times of a CUBA LIF layer, differentiable in ``t_in`` and ``weight``.

    Same arguments as :func:`lif_forward` (``t_in`` and ``weight`` as torch tensors; float64
    recommended). The values are :func:`lif_forward`'s; the gradients are the exact ones by
    implicit differentiation at every crossing (module docstring). Spikes are handled by
    rank (every neuron's first spikes, then second spikes...), each against all input
    events of its sample.
    """
    found = lif_forward(t_in.detach().cpu().numpy(), src.cpu().numpy(),
                        weight.detach().cpu().numpy(), kern, threshold, t_end)
    batch, n_out, width = found.shape
    flat = found.reshape(batch * n_out, width)
    counts = np.isfinite(flat).sum(axis=1)
    out = torch.full((batch * n_out, width), math.inf, dtype=t_in.dtype, device=t_in.device)
    if not counts.any():
        return out.reshape(found.shape)
    ok_in = torch.isfinite(t_in)
    tin = torch.where(ok_in, t_in, torch.full_like(t_in, 2.0 * t_end + 1.0))
    w_rows = weight[:, src].permute(1, 0, 2).reshape(batch * n_out, -1)  # (rows, events)
    w_rows = torch.where(ok_in.repeat_interleave(n_out, 0), w_rows, torch.zeros_like(w_rows))
    sample = np.arange(batch * n_out) // n_out
    values, where_rows, where_rank = [], [], []
    min_slope = MIN_SLOPE * threshold / kern.tau_syn
    prev_rows = prev = prev_det = prev_vf = prev_dvf = None
    for k in range(int(counts.max())):
        rows = np.flatnonzero(counts > k)
        t_det = torch.as_tensor(flat[rows, k], dtype=t_in.dtype, device=t_in.device)
        lag = t_det[:, None] - tin[sample[rows]]
        w = w_rows[rows]
        vf = (w * kern.k(lag)).sum(-1)  # free membrane at the crossing (grad: w, t_in)
        with torch.no_grad():
            dvf = (w * kern.dk(lag)).sum(-1)
        f, slope = vf, dvf
        if k > 0:
            pos = torch.as_tensor(np.searchsorted(prev_rows, rows))
            # Vf at the differentiable previous spike, to first order around its value
            vf_prev = prev_vf[pos] + (prev[pos] - prev_det[pos]) * prev_dvf[pos]
            reset = torch.exp(-(t_det - prev[pos]) / kern.tau_mem) * vf_prev
            f = f - reset
            slope = slope + reset.detach() / kern.tau_mem
        t_k = t_det - (f - f.detach()) / torch.clamp(slope, min=min_slope)
        values.append(t_k)
        where_rows.append(torch.as_tensor(rows))
        where_rank.append(torch.full((rows.size,), k, dtype=torch.int64))
        prev_rows, prev, prev_det, prev_vf, prev_dvf = rows, t_k, t_det, vf, dvf
    out = out.index_put((torch.cat(where_rows), torch.cat(where_rank)), torch.cat(values))
    return out.reshape(found.shape)


def readout_logits(times: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                   kern: Kernel, t_end: float) -> torch.Tensor:
    """Mean membrane over [0, t_end] of non-spiking readout neurons plus bias:
    (batch, n, S) hidden spike times -> (batch, n_classes) logits (module docstring)."""
    exposure = kern.g(t_end - torch.where(torch.isfinite(times), times,
                                          torch.full_like(times, t_end))).sum(-1)
    return exposure @ weight.T / t_end + bias


# ---------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MultiSpikeConfig(JsonConfig):
    """Plain data that rebuilds a :class:`MultiSpikeNetwork` (saved as JSON).

    ``n_inputs`` input channels; ``hidden`` sizes of the spiking layers; ``n_outputs``
    readout neurons (classes). ``tau_syn``, ``tau_mem``: time constants of every layer,
    readout included, in the time unit of the data (seconds for data with a time step);
    ``duration``: the sample window T, same unit; ``threshold``: theta (same unit as the
    weights: a PSP of weight w peaks at w). ``data``: how the training data were made
    (task and parameters).
    """

    n_inputs: int = 10
    hidden: tuple[int, ...] = (64,)
    n_outputs: int = 2
    tau_syn: float = 0.01
    tau_mem: float = 0.05
    threshold: float = 1.0
    duration: float = 1.0
    data: dict = field(default_factory=dict)

    LABEL = "multi-spike config"

    def __post_init__(self) -> None:
        self._check_sizes()
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise InputError(f"hidden = {self.hidden}: give >= 1 spiking layer, each with >= 1 "
                             "neuron")
        Kernel(self.tau_syn, self.tau_mem)  # validates both time constants
        object.__setattr__(self, "tau_syn", float(self.tau_syn))
        object.__setattr__(self, "tau_mem", float(self.tau_mem))
        object.__setattr__(self, "duration", check_time_constant("duration", self.duration))
        self._check_threshold()

    @property
    def kernel(self) -> Kernel:
        return Kernel(self.tau_syn, self.tau_mem)

    @property
    def layer_sizes(self) -> list[int]:
        return [self.n_inputs, *self.hidden, self.n_outputs]


def spikes_to_events(spikes: np.ndarray, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A (batch, steps, channels) 0/1 spike array of 0-based steps of ``dt`` -> input events
    (times ``step * dt``, sorted, ``+inf`` padded; source channels), float64 tensors."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise InputError(f"spikes have shape {spikes.shape}; expected (samples, steps, channels)")
    batch = spikes.shape[0]
    b, step, ch = np.nonzero(spikes)
    order = np.lexsort((ch, step, b))  # by sample, then time, then channel
    b, step, ch = b[order], step[order], ch[order]
    pos, width = _ragged(b, batch)
    times = np.full((batch, width), np.inf)
    src = np.zeros((batch, width), dtype=np.int64)
    times[b, pos] = step * float(dt)
    src[b, pos] = ch
    return torch.as_tensor(times), torch.as_tensor(src)


class MultiSpikeNetwork(nn.Module):
    """Input events -> exact multi-spike CUBA LIF layers -> mean-membrane readout.

    ``forward(t_in, src)`` takes (batch, events) input times (model unit, sorted, ``+inf``
    padded) and their channels (:func:`spikes_to_events`), and returns (batch,
    n_outputs) logits; :meth:`run` also returns every layer's (batch, n, S) spike times.
    Continuous time: no steps and no hop latency here
    (:mod:`neurodeploy.models.exact.discrete_multispike` discretizes). CPU only: the
    event-driven search runs in numpy (float64); parameters are float64.
    """

    def __init__(self, config: MultiSpikeConfig) -> None:
        super().__init__()
        self.config = config
        sizes = config.layer_sizes
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(n_out, n_in, dtype=torch.float64))
            for n_in, n_out in pairwise(sizes[:-1]))
        self.readout = nn.Parameter(torch.zeros(sizes[-1], sizes[-2], dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(sizes[-1], dtype=torch.float64))

    def init_weights(self, generator: torch.Generator, mean: float = 0.3,
                     std: float = 0.3, fan_in: int | None = None) -> None:
        """Hidden weights ~ N(mean, std) (a PSP of weight w peaks at w; theta units when
        theta = 1); with
        ``fan_in`` only that many randomly chosen inputs per neuron start nonzero (sparse
        receptive fields: a neuron first hears few channels, so it can tell their spike
        intervals apart from other channels' spikes); the readout ~ N(0, 1 / sqrt(fan-in))
        scaled by T / (kappa G(T)) (:meth:`Kernel.g` at T: one spike early in the sample
        then moves a logit by ~1 / sqrt(fan-in)), bias 0."""
        kern = self.config.kernel
        with torch.no_grad():
            for w in self.weights:
                w.normal_(mean, std, generator=generator)
                if fan_in is not None and fan_in < w.shape[1]:
                    keep = torch.rand(w.shape, generator=generator, dtype=w.dtype).argsort(dim=1)
                    w.mul_(torch.zeros_like(w).scatter_(1, keep[:, :fan_in], 1.0))
            scale = self.config.duration / float(kern.g(torch.tensor(self.config.duration)))
            self.readout.normal_(0.0, scale / math.sqrt(self.readout.shape[1]), generator=generator)
            self.bias.zero_()

    def run(self, t_in: torch.Tensor, src: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        cfg = self.config
        kern = cfg.kernel
        layers = []
        times, source = t_in, src
        for w in self.weights:
            out = exact_spike_times(times, source, w, kern, cfg.threshold, cfg.duration)
            layers.append(out)
            times, source = to_events(out)
        logits = readout_logits(layers[-1], self.readout, self.bias, kern, cfg.duration)
        return logits, layers

    def forward(self, t_in: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return self.run(t_in, src)[0]
