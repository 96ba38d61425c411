"""A layer of CUBA LIF neurons behind one projection (optionally delayed and recurrent).

Input and output spikes are time-major (steps, batch, channels), steps 0-based. The
projection adds one step of latency (``hop_latency=True``, the default and what Loihi 2
does): a spike at step t reaches the neurons at step t + 1 + delay. A recurrent
projection likewise delivers a spike of step t at step t + 1. ``hop_latency=False`` drops
the feed-forward hop's step, only for comparison experiments with models that ignore it
(such a network does not transfer spike timing exactly to the chip).

:class:`ConvLIFLayer` is the convolutional kind (neurons shaped (C, H, W), flattened in
C, H, W order) and :class:`PooledLIFLayer` a dense layer reading sum-pooled spikes: the
same neurons and hop, another projection. Every layer's projection is a matrix
(:meth:`LIFLayer.dense_weight`), which is what deployment runs.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from neurodeploy.errors import InputError
from neurodeploy.models.delays import (
    axonal_current,
    check_max_delay,
    effective_delays,
    synaptic_current,
    tap_conv,
)
from neurodeploy.models.scan import lif_scan
from neurodeploy.models.surrogates import SpikeFn
from neurodeploy.network import Conv2d

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
        self._add_neurons(du, dv, vth, per_neuron, train_decays, train_thresholds)

    def _add_neurons(self, du: float, dv: float, vth: float, per_neuron: bool,
                     train_decays: bool, train_thresholds: bool) -> None:
        shape = (self.n_out,) if per_neuron else ()
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

    def dense_weight(self) -> np.ndarray:
        """The feed-forward projection as float64 (n_out, n_in) weights (what deploys)."""
        return self.weight.detach().cpu().double().numpy()

    def float_conv(self) -> Conv2d | None:
        """The deployed convolution with its float kernel, or None for a dense layer."""
        return None

    @torch.no_grad()
    def load_dense_weight(self, matrix: np.ndarray, label: str) -> None:
        """Set the weights from a (n_out, n_in) matrix as :meth:`dense_weight` gives it;
        ``label`` names the population in the one-line error for a matrix that is not one."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (self.n_out, self.n_in):
            raise InputError(f"{label}: weights have shape {matrix.shape}; the layer has "
                             f"{(self.n_out, self.n_in)}")
        self.weight.copy_(torch.tensor(matrix, dtype=self.weight.dtype))

    # ------------------------------------------------------------------ forward
    def _hop(self, current: torch.Tensor) -> torch.Tensor:
        if self.hop_latency:
            current = torch.cat([current.new_zeros((1, *current.shape[1:])), current[:-1]])
        return current

    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        """Feed-forward current (steps, batch, n_out) as it arrives, hop latency included
        (folded into the shift: no separate copy)."""
        hop = int(self.hop_latency)
        if self.delay_kind == "none":
            return tap_conv(x, self.weight.unsqueeze(-1), hop)
        d = effective_delays(self.delay, self.max_delay, self.integer_delays)
        if self.delay_kind == "axonal":
            return axonal_current(x, self.weight, d, self.max_delay, hop)
        return synaptic_current(x, self.weight, d, self.max_delay, hop)

    def forward(
        self, x: torch.Tensor, record_v: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Spikes (steps, batch, n_out) for input spikes x (steps, batch, n_in), and v if asked.

        For a non-spiking layer the "spikes" are zeros and v is always returned.
        """
        current = self.input_current(x)
        return lif_scan(
            current, self.rec_weight, self.du, self.dv, self.vth, self.bias, self.spike_fn,
            self.training, spiking=self.spiking, record_v=record_v,
        )


def _check_pool(label: str, in_shape: tuple[int, int, int], pool: int) -> tuple[int, int, int]:
    """The (C, H // pool, W // pool) shape after sum pooling; H and W must divide."""
    c, h, w = in_shape
    if pool < 1 or h % pool or w % pool:
        raise InputError(f"{label}: pool = {pool} must be >= 1 and divide the input's height "
                         f"and width ({h} x {w})")
    return c, h // pool, w // pool


def _sum_pool(x: torch.Tensor, in_shape: tuple[int, int, int], pool: int) -> torch.Tensor:
    """Sum pooling of flat (..., C*H*W) spikes over pool x pool blocks, flat again."""
    c, h, w = in_shape
    lead = x.shape[:-1]
    x = x.reshape(*lead, c, h // pool, pool, w // pool, pool).sum(dim=(-1, -3))
    return x.reshape(*lead, c * (h // pool) * (w // pool))


def _pool_index(in_shape: tuple[int, int, int], pool: int) -> np.ndarray:
    """For every source (C, H, W flat) the index of its pooled cell (C, H/p, W/p flat)."""
    c, h, w = in_shape
    ci, y, x = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return ((ci * (h // pool) + y // pool) * (w // pool) + x // pool).ravel()


class PooledLIFLayer(LIFLayer):
    """A dense LIF layer whose input is sum-pooled first: source spikes (C, H, W), flat in
    C, H, W order, summed over ``pool`` x ``pool`` blocks (H and W divisible by ``pool``),
    then ``weight`` (n_out, C * H/pool * W/pool). Deployed as one projection from the
    unpooled source: every source of a block has its block's weight
    (:meth:`dense_weight`), an exact fold (no neuron stands between pooling and weights).
    No delays and no recurrence. Other arguments as :class:`LIFLayer`."""

    def __init__(self, in_shape: tuple[int, int, int], pool: int, n_out: int,
                 **kwargs: object) -> None:
        self.in_shape = tuple(int(v) for v in in_shape)
        pooled = _check_pool("dense layer after the convolutions", self.in_shape, pool)
        super().__init__(int(np.prod(pooled)), n_out, **kwargs)  # type: ignore[arg-type]
        if self.delay_kind != "none" or self.recurrent:
            raise InputError("a dense layer after sum pooling takes no delays and no "
                             "recurrence: use delays 'none' for it")
        self.pool = int(pool)
        self.n_in = int(np.prod(self.in_shape))
        self.register_buffer("pool_index", torch.as_tensor(_pool_index(self.in_shape, pool)),
                             persistent=False)

    def dense_weight(self) -> np.ndarray:
        return self.weight.detach().cpu().double().numpy()[:, self.pool_index.cpu().numpy()]

    @torch.no_grad()
    def load_dense_weight(self, matrix: np.ndarray, label: str) -> None:
        matrix = np.asarray(matrix, dtype=np.float64)
        index = self.pool_index.cpu().numpy()
        if matrix.shape != (self.n_out, self.n_in):
            raise InputError(f"{label}: weights have shape {matrix.shape}; the layer has "
                             f"{(self.n_out, self.n_in)}")
        first = np.unique(index, return_index=True)[1]
        pooled = matrix[:, first]
        if not np.array_equal(pooled[:, index], matrix):
            raise InputError(f"{label}: weights are not a sum pooling's (sources of one "
                             f"{self.pool}x{self.pool} block differ)")
        self.weight.copy_(torch.tensor(pooled, dtype=self.weight.dtype))

    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        return self._hop(_sum_pool(x, self.in_shape, self.pool) @ self.weight.t())


class ConvLIFLayer(LIFLayer):
    """A 2-D convolution into CUBA LIF neurons (the dynamics, hop and surrogate of
    :class:`LIFLayer`).

    Input spikes are (steps, batch, C*H*W), ``in_shape`` = (C, H, W) flattened in C, H, W
    order; the layer's neurons are (channels, OH, OW) in the same order. With ``pool`` > 1
    the input is first sum-pooled over ``pool`` x ``pool`` blocks (H and W divisible by
    ``pool``); the pooling is folded into the convolution (kernel taps repeated ``pool``
    times per axis, stride and padding times ``pool``), exactly what deploys.
    ``weight`` is (channels, C, kernel, kernel); zero padding; no bias, delays or
    recurrence.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        channels: int,
        kernel: int,
        *,
        stride: int = 1,
        padding: int = 0,
        pool: int = 1,
        du: float = 0.2,
        dv: float = 0.05,
        vth: float = 1.0,
        per_neuron: bool = True,
        train_decays: bool = False,
        train_thresholds: bool = False,
        spike_fn: SpikeFn | None = None,
        hop_latency: bool = True,
        weight_gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        nn.Module.__init__(self)
        self.in_shape = tuple(int(v) for v in in_shape)
        self.pool, self.stride, self.padding = int(pool), int(stride), int(padding)
        c, ph, pw = _check_pool("convolution", self.in_shape, self.pool)
        if channels < 1 or kernel < 1 or stride < 1 or padding < 0:
            raise InputError(f"convolution: channels = {channels}, kernel = {kernel}, stride "
                             f"= {stride}, padding = {padding}: allowed >= 1, >= 1, >= 1, >= 0")
        oh = (ph + 2 * padding - kernel) // stride + 1
        ow = (pw + 2 * padding - kernel) // stride + 1
        if min(oh, ow) < 1:
            raise InputError(f"convolution: kernel = {kernel} does not fit the padded input "
                             f"({ph} x {pw}, padding {padding})")
        self.out_shape = (int(channels), oh, ow)
        self.n_in, self.n_out = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
        self.delay_kind, self.max_delay, self.recurrent = "none", 0, False
        self.spiking, self.hop_latency = True, hop_latency
        self.spike_fn = spike_fn or SpikeFn()
        self.integer_delays = False
        fan_in = c * kernel * kernel * self.pool**2
        bound = weight_gain * vth / (math.sqrt(fan_in) * impulse_peak(du, dv))
        self.weight = nn.Parameter(
            (torch.rand(channels, c, kernel, kernel, generator=generator) * 2 - 1) * bound)
        self.rec_weight = None
        self.register_parameter("delay", None)
        self._add_neurons(du, dv, vth, per_neuron, train_decays, train_thresholds)

    def folded_kernel(self, kernel: torch.Tensor | None = None) -> torch.Tensor:
        """The kernel on the unpooled input: each tap repeated ``pool`` times per axis."""
        kernel = self.weight if kernel is None else kernel
        return kernel.repeat_interleave(self.pool, dim=2).repeat_interleave(self.pool, dim=3)

    def geometry(self) -> Conv2d:
        """The deployed convolution (pooling folded in) as :class:`neurodeploy.network.Conv2d`."""
        conv = Conv2d(np.zeros(tuple(self.folded_kernel().shape), dtype=np.int64),
                      self.in_shape, self.stride * self.pool, self.padding * self.pool)
        conv.check("convolution")
        return conv

    def float_conv(self) -> Conv2d:
        kernel = self.folded_kernel().detach().cpu().double().numpy()
        return dataclasses.replace(self.geometry(), kernel=kernel)

    def dense_weight(self) -> np.ndarray:
        kernel = self.folded_kernel().detach().cpu().double().numpy()
        return self.geometry().expand(kernel)

    @torch.no_grad()
    def load_dense_weight(self, matrix: np.ndarray, label: str) -> None:
        matrix = np.asarray(matrix, dtype=np.float64)
        conv = self.geometry()
        if matrix.shape != (self.n_out, self.n_in):
            raise InputError(f"{label}: weights have shape {matrix.shape}; the layer has "
                             f"{(self.n_out, self.n_in)}")
        # which kernel tap each synapse holds: expand the taps' numbers (1-based)
        taps = torch.arange(1, self.weight.numel() + 1, dtype=torch.float64).reshape(
            self.weight.shape)
        where = conv.expand(self.folded_kernel(taps).numpy()).astype(np.int64)
        kernel = np.zeros(self.weight.numel())
        kernel[where[where > 0] - 1] = matrix[where > 0]
        if not np.array_equal(conv.expand(self.folded_kernel(
                torch.tensor(kernel).reshape(self.weight.shape)).numpy()), matrix):
            raise InputError(f"{label}: weights are not this convolution's (kernel "
                             f"{tuple(self.weight.shape)}, stride {self.stride}, padding "
                             f"{self.padding}, pool {self.pool})")
        self.weight.copy_(torch.tensor(kernel, dtype=self.weight.dtype).reshape(
            self.weight.shape))

    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        out = torch.nn.functional.conv2d(
            x.reshape(steps * batch, *self.in_shape), self.folded_kernel(),
            stride=self.stride * self.pool, padding=self.padding * self.pool)
        return self._hop(out.reshape(steps, batch, self.n_out))
