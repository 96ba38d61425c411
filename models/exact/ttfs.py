"""Exact time-to-first-spike (TTFS) layers after Mostafa (2017, arXiv 1606.08165).

Neuron model: a non-leaky integrate-and-fire
membrane driven by exponentially decaying synaptic currents. Time t is in units of the
synaptic time constant tau_syn throughout this module (t = 1 means one tau_syn). An input
spike of weight w_i at time t_i gives::

    I(t) = sum_i w_i exp(-(t - t_i)) H(t - t_i),     dV/dt = I(t),     V(-inf) = 0
    V(t) = sum_{i: t_i <= t} w_i (1 - exp(t_i - t))

and the neuron's output is the first time V reaches the threshold theta (each neuron
spikes at most once; later threshold crossings are ignored). With z = exp(t) and the
causal set C (the inputs that arrive before the output spike)::

    z_out = sum_C w_i z_i / (W_C - theta),       W_C = sum_C w_i           (1)

**Causal set.** Sort the inputs by time. On the interval between the k-th and (k+1)-th
input, V = W_k - Z_k / z with the prefix sums W_k = sum_{j<=k} w_j, Z_k = sum_{j<=k} w_j z_j,
so V reaches theta inside the interval iff W_k > theta and z_k = Z_k / (W_k - theta)
satisfies z_(k) <= z_k < z_(k+1) (z_(n+1) = +inf). C is the first prefix for which this
holds. The lower bound z_k >= z_(k) never needs testing for the *first* such prefix: V is
continuous (a current-based synapse adds no jump), so z_k < z_(k) would mean V > theta at
z_(k), i.e. an earlier crossing, i.e. an earlier valid prefix. Testing only the upper
bound also keeps a crossing that lands exactly on an input time (rounding) from being
lost. Tied input times are handled by the strict upper bound (a prefix that splits a tie
is never valid). No valid prefix: the neuron does not spike; its time is ``+inf``.
Inputs that do not spike are ``+inf`` and are never part of C.

**Gradients.** The forward pass evaluates (1) for the selected prefix with differentiable
torch operations; the prefix index is piecewise constant in (t, w), so autograd through
(1) *is* the exact derivative wherever it exists (everywhere except on the measure-zero
boundaries where C changes). It reproduces Mostafa's closed forms:

    dz_out/dz_i = w_i / (W_C - theta),       dz_out/dw_i = (z_i - z_out) / (W_C - theta)

(d/dw_i of Z_C / (W_C - theta) = z_i/(W_C - theta) - Z_C/(W_C - theta)^2), and in time
dt_out/dt_i = w_i z_i / (z_out (W_C - theta)), dt_out/dw_i = (z_i - z_out) /
(z_out (W_C - theta)); inputs outside C get exactly zero. Masked values (non-spiking
inputs, denominators of invalid prefixes) are replaced *before* the arithmetic so that no
``inf * 0`` or ``0 / 0`` reaches the backward pass. ``tests/test_timing_ttfs.py`` checks
the gradients against finite differences and against the closed forms above (float64).

z = exp(t) overflows float32 beyond t ~ 88: keep times in the tens of tau_syn (the digits
encoding uses a window of a few tau_syn); a spike so late that z overflows counts as none.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from itertools import pairwise

import torch
from torch import nn

from neurodeploy.errors import InputError

#: Name of the time unit when a model has no physical time constant.
UNITS = "units"


def check_time_constant(name: str, value: float) -> float:
    """A positive, finite time constant, else a one-line :class:`InputError`."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number; allowed: a time > 0") from None
    if not math.isfinite(x) or x <= 0:
        raise InputError(f"{name} = {value!r} is not allowed; time constants must be > 0")
    return x


class JsonConfig:
    """``to_json``/``from_json`` for a frozen dataclass of plain fields with a ``hidden``
    tuple (the network configs saved in a run's ``config.json``). ``LABEL`` names the
    config in the error for unknown fields."""

    LABEL = "config"

    def to_json(self) -> dict:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_json(cls, data: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{cls.LABEL} has unknown fields {unknown}; known: {sorted(known)}")
        return cls(**data)

    def _check_sizes(self) -> None:
        """``hidden`` as ints; n_inputs and n_outputs >= 1."""
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("n_inputs", "n_outputs"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} = {getattr(self, name)} must be an integer >= 1")

    def _check_threshold(self) -> None:
        """``threshold`` as a float, finite and > 0."""
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            threshold = math.nan
        if not (math.isfinite(threshold) and threshold > 0):
            raise InputError(f"threshold = {self.threshold!r} is not allowed; it must be a "
                             "finite number > 0")
        object.__setattr__(self, "threshold", threshold)


def first_spike_times(t_in: torch.Tensor, weight: torch.Tensor,
                      threshold: float = 1.0) -> torch.Tensor:
    """Exact first-spike times of a layer of non-leaky IF neurons (see the module docstring).

    ``t_in``: (batch, n_in) input spike times in tau_syn units, ``+inf`` for no spike.
    ``weight``: (n_out, n_in). Returns (batch, n_out) output times, ``+inf`` where a neuron
    does not spike. Differentiable in ``t_in`` and ``weight`` (exact gradients).
    """
    t_sorted, order = torch.sort(t_in, dim=-1)  # (B, n); +inf last
    spiking = torch.isfinite(t_sorted)
    # exp of a masked time would be inf (forward) and inf * 0 = nan (backward): mask first
    z = torch.exp(torch.where(spiking, t_sorted, torch.zeros_like(t_sorted)))
    z = torch.where(spiking, z, torch.zeros_like(z))
    w = weight[:, order].permute(1, 0, 2)  # (B, n_out, n_in) in time order
    w = torch.where(spiking[:, None, :], w, torch.zeros_like(w))
    w_cum = torch.cumsum(w, dim=-1)
    z_cum = torch.cumsum(w * z[:, None, :], dim=-1)
    with torch.no_grad():
        inf = torch.full_like(z[:, :1], math.inf)
        z_next = torch.cat([torch.where(spiking, z, inf.expand_as(z))[:, 1:], inf], dim=-1)
    reaches = (w_cum > threshold) & spiking[:, None, :]
    denom = torch.where(reaches, w_cum - threshold, torch.ones_like(w_cum))
    cand = z_cum / denom
    valid = reaches & (cand > 0) & (cand < z_next[:, None, :]) & torch.isfinite(cand)
    first = valid.to(torch.uint8).argmax(dim=-1, keepdim=True)  # first True (or 0)
    fires = valid.any(dim=-1)
    z_out = cand.gather(-1, first).squeeze(-1)
    z_out = torch.where(fires, z_out, torch.ones_like(z_out))
    return torch.where(fires, torch.log(z_out), torch.full_like(z_out, math.inf))


def weight_sum_penalty(weight: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """sum_j max(0, theta - sum_i w_ji): zero once every neuron's total weight exceeds theta.

    With every input spiking once, V(t -> inf) = sum_i w_ji, so a neuron whose weights sum
    above theta is guaranteed to spike; the penalty (times K in the loss) keeps every
    neuron able to fire, so every neuron keeps a gradient.
    """
    return torch.clamp(threshold - weight.sum(dim=1), min=0.0).sum()


def time_loss(t_out: torch.Tensor, labels: torch.Tensor, scale: float = 1.0,
              no_spike_time: float | None = None) -> torch.Tensor:
    """Cross-entropy on softmax(-scale * t_out): the correct neuron should fire first.

    A neuron that does not fire (``+inf``) takes ``no_spike_time`` (default: one tau_syn
    after the latest finite output time of the batch), without gradient.
    """
    finite = torch.isfinite(t_out)
    if no_spike_time is None:
        latest = t_out[finite].max().detach() if finite.any() else t_out.new_tensor(0.0)
        no_spike_time = float(latest) + 1.0
    t = torch.where(finite, t_out, torch.full_like(t_out, no_spike_time))
    return nn.functional.cross_entropy(-scale * t, labels)


class TTFSLayer(nn.Module):
    """A fully connected layer of Mostafa neurons: input times -> first-spike times.

    ``forward(t_in)`` maps (batch, n_in) times (tau_syn units, ``+inf`` = no spike) to
    (batch, n_out) times; ``weight`` is (n_out, n_in) in units of the threshold's unit.
    """

    def __init__(self, n_in: int, n_out: int, threshold: float = 1.0) -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.weight = nn.Parameter(torch.zeros(n_out, n_in))

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        return first_spike_times(t_in, self.weight, self.threshold)

    def penalty(self) -> torch.Tensor:
        return weight_sum_penalty(self.weight, self.threshold)


@dataclass(frozen=True)
class TTFSConfig(JsonConfig):
    """Plain data that rebuilds a :class:`TTFSNetwork` (saved as JSON beside the weights).

    ``n_inputs``: data channels. ``reference_time``: time (tau_syn units) of one extra
    reference spike appended as the last input of the first layer (Mostafa's
    synchronisation pulse, a learnable bias in time); None for no reference input.
    ``tau_syn``: the synaptic time constant in seconds, or ``"units"`` when the model has
    no physical time (then every time, dt included, is in tau_syn units). ``threshold``:
    theta, in weight units. ``data``: how the training data were made (for the digits:
    :func:`~neurodeploy.models.exact.encoding.digits_description`), so that a saved
    model can be evaluated again on its own test split.
    """

    n_inputs: int = 64
    hidden: tuple[int, ...] = (100,)
    n_outputs: int = 10
    threshold: float = 1.0
    tau_syn: float | str = UNITS
    reference_time: float | None = 0.0
    data: dict = field(default_factory=dict)  # the data set and encoding trained on

    LABEL = "TTFS config"

    def __post_init__(self) -> None:
        self._check_sizes()
        if any(h < 1 for h in self.hidden):
            raise InputError(f"hidden = {self.hidden}: every layer needs >= 1 neuron")
        if self.tau_syn != UNITS:
            object.__setattr__(self, "tau_syn", check_time_constant("tau_syn", self.tau_syn))
        self._check_threshold()
        if self.reference_time is not None and not math.isfinite(float(self.reference_time)):
            raise InputError(f"reference_time = {self.reference_time} must be finite or None")

    @property
    def layer_sizes(self) -> list[int]:
        n_first = self.n_inputs + (self.reference_time is not None)
        return [n_first, *self.hidden, self.n_outputs]


class TTFSNetwork(nn.Module):
    """Layers of Mostafa neurons: input spike times -> output first-spike times.

    ``forward(t_in)`` takes (batch, n_inputs) input times in tau_syn units (``+inf`` = no
    spike), appends the reference spike when configured, and returns the output layer's
    (batch, n_outputs) times. The predicted class is the earliest output
    (:meth:`predict`). Continuous time: there are no steps and no hop latency here;
    ``neurodeploy.models.exact.discrete_ttfs`` discretizes.
    """

    def __init__(self, config: TTFSConfig) -> None:
        super().__init__()
        self.config = config
        sizes = config.layer_sizes
        self.layers = nn.ModuleList(
            TTFSLayer(n_in, n_out, config.threshold) for n_in, n_out in pairwise(sizes))

    def init_weights(self, generator: torch.Generator, gain: float = 2.0) -> None:
        """Normal weights with mean = gain * theta / (n_in / 2) and std = twice the mean:
        once half of a neuron's inputs have arrived their weights sum to ~gain * theta, and
        all of them to ~2 gain theta > theta, so every neuron fires (see the encoding)."""
        with torch.no_grad():
            for layer in self.layers:
                mean = gain * self.config.threshold / (0.5 * layer.weight.shape[1])
                layer.weight.normal_(mean, 2.0 * mean, generator=generator)

    def with_reference(self, t_in: torch.Tensor) -> torch.Tensor:
        """The first layer's input: ``t_in`` with the reference spike appended (if any)."""
        if self.config.reference_time is None:
            return t_in
        ref = torch.full_like(t_in[:, :1], float(self.config.reference_time))
        return torch.cat([t_in, ref], dim=1)

    def run(self, t_in: torch.Tensor) -> list[torch.Tensor]:
        """First-spike times of every layer, (batch, size) each, first layer first."""
        h = self.with_reference(t_in)
        out = []
        for layer in self.layers:
            h = layer(h)
            out.append(h)
        return out

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        return self.run(t_in)[-1]

    def penalty(self) -> torch.Tensor:
        """sum over layers of :func:`weight_sum_penalty`."""
        return sum(layer.penalty() for layer in self.layers)

    @staticmethod
    def predict(t_out: torch.Tensor) -> torch.Tensor:
        """Index of the earliest output spike; -1 where no output neuron spikes."""
        pred = torch.argmin(t_out, dim=-1)
        return torch.where(torch.isfinite(t_out).any(dim=-1), pred, torch.full_like(pred, -1))
