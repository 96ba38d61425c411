"""Network builder: input -> hidden LIF layers -> output readout.

``NetworkConfig`` is plain data (saved as JSON in a run directory) from which
``SpikingNetwork`` rebuilds the same module. Inputs are batch-first spike tensors
(batch, steps, channels) as in the dataset format; steps are 0-based and every
projection adds one step of latency, so an L-projection network answers L steps (plus
delays) after its input.

Readouts: ``"count"`` (logits = output spike counts over the sample) or ``"max_v"``
(a non-spiking output layer; logits = maximum of v over the steps from the first one that
input can reach, i.e. from step L for L projections) or ``"mean_v"`` (the same layer;
logits = mean of v over the sample: never without gradient, unlike a maximum that can
settle on a step where v is exactly 0).

Convolutional networks: ``conv`` lists convolutional LIF layers before the dense ones
(:class:`~neurodeploy.models.layers.ConvLIFLayer`), each a dict ``{"channels", "kernel",
"stride" (1), "padding" (0), "pool" (1: sum pooling of its input over pool x pool blocks)}``
on inputs shaped ``input_shape`` = (C, H, W) (flattened in C, H, W order); ``dense_pool``
sum-pools the last convolution's spikes before the first dense layer. Every layer is one
projection and one hop; :func:`parse_conv_spec` reads the compact form
``"16c5s2p1,16c3p1,pool2,8c3p1,pool2"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import nn

from neurodeploy.errors import InputError
from neurodeploy.float_network import FloatNetwork, FloatPopulation, FloatProjection
from neurodeploy.models.delays import check_max_delay
from neurodeploy.models.layers import DELAY_KINDS, ConvLIFLayer, LIFLayer, PooledLIFLayer
from neurodeploy.models.neurons import DU_MAX, DU_MIN, DV_MAX, DV_MIN
from neurodeploy.models.surrogates import SpikeFn

READOUTS = ("count", "max_v", "mean_v")
CONV_FIELDS = {"channels": None, "kernel": None, "stride": 1, "padding": 0, "pool": 1}
_CONV_TOKEN = re.compile(r"(\d+)c(\d+)(?:s(\d+))?(?:p(\d+))?")
_POOL_TOKEN = re.compile(r"pool(\d+)")


def parse_conv_spec(text: str) -> tuple[tuple[dict, ...], int]:
    """``(conv, dense_pool)`` of a compact convolutional architecture.

    Comma-separated tokens: ``<channels>c<kernel>[s<stride>][p<padding>]`` a convolution,
    ``pool<n>`` sum pooling over n x n blocks before the next convolution (or, last,
    before the dense layers). Example: ``"16c5s2p1,16c3p1,pool2,8c3p1,pool2"``.
    """
    conv: list[dict] = []
    pool = 1
    tokens = [t.strip() for t in str(text).split(",")]
    for token in tokens:
        if (m := _POOL_TOKEN.fullmatch(token)) is not None:
            if pool != 1 or int(m[1]) < 1:
                raise InputError(f"conv spec {text!r}: {token!r}: one pool<n> (n >= 1) per "
                                 "layer")
            pool = int(m[1])
        elif (m := _CONV_TOKEN.fullmatch(token)) is not None:
            conv.append({"channels": int(m[1]), "kernel": int(m[2]),
                         "stride": int(m[3] or 1), "padding": int(m[4] or 0), "pool": pool})
            pool = 1
        else:
            raise InputError(f"conv spec {text!r}: token {token!r} is neither "
                             "<channels>c<kernel>[s<stride>][p<padding>] (e.g. 16c5s2p1) nor "
                             "pool<n> (e.g. pool2)")
    if not conv:
        raise InputError(f"conv spec {text!r}: no convolution (e.g. 16c5s2p1)")
    return tuple(conv), pool


def conv_shapes(input_shape: tuple[int, int, int], conv: tuple[dict, ...],
                dense_pool: int = 1) -> list[tuple[int, int, int]]:
    """The (C, H, W) of the input and after each convolution; the last is pooled by
    ``dense_pool``. One-line InputError naming ``conv[i]`` for a geometry that does not
    fit (a pooling that does not divide, a kernel larger than its padded input)."""
    shapes = [tuple(input_shape)]
    for i, spec in enumerate(conv):
        c, h, w = shapes[-1]
        pool, k, s, p = spec["pool"], spec["kernel"], spec["stride"], spec["padding"]
        if h % pool or w % pool:
            raise InputError(f"conv[{i}].pool = {pool} does not divide its input {c}x{h}x{w}")
        h, w = h // pool, w // pool
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if min(oh, ow) < 1:
            raise InputError(f"conv[{i}].kernel = {k} does not fit its input {c}x{h}x{w} "
                             f"(padding {p})")
        shapes.append((spec["channels"], oh, ow))
    c, h, w = shapes[-1]
    if h % dense_pool or w % dense_pool:
        raise InputError(f"dense_pool = {dense_pool} does not divide the last convolution's "
                         f"output {c}x{h}x{w}")
    return shapes


def _check_conv(conv: object) -> tuple[dict, ...]:
    if not isinstance(conv, (list, tuple)):
        raise InputError(f"conv = {conv!r}: expected a list of layer specs")
    out = []
    for i, spec in enumerate(conv):
        if not isinstance(spec, dict) or set(spec) - set(CONV_FIELDS):
            raise InputError(f"conv[{i}] = {spec!r}: expected a dict with keys "
                             f"{', '.join(CONV_FIELDS)}")
        full = {k: spec.get(k, d) for k, d in CONV_FIELDS.items()}
        for key, value in full.items():
            low = 0 if key == "padding" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise InputError(f"conv[{i}].{key} = {value!r}: expected an integer >= {low}")
        out.append({k: int(v) for k, v in full.items()})
    return tuple(out)


def population_names(n_layers: int) -> list[str]:
    """Names of a layered network's populations: layer0, layer1, ..., output."""
    return [f"layer{k}" for k in range(n_layers - 1)] + ["output"]


def int_sizes(name: str, value: object) -> tuple[int, ...]:
    """``value`` (a list of whole numbers, e.g. layer sizes) as a tuple of ints; anything
    else (a string, a fraction, a bool) is a one-line InputError naming ``name``."""
    items = value if isinstance(value, (list, tuple)) else None
    if items is None or any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer))
                            or v != int(v) for v in items):
        raise InputError(f"{name} = {value!r}: expected a list of whole numbers")
    return tuple(int(v) for v in items)


def check_finite(**values: object) -> None:
    """Every keyword a finite real number (not a bool), else a one-line InputError naming
    the field and its value."""
    for name, value in values.items():
        if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                or not math.isfinite(value)):
            raise InputError(f"{name} = {value!r}: expected a finite number")


@dataclass(frozen=True)
class NetworkConfig:
    """Everything needed to rebuild a network (weights come from the checkpoint)."""

    n_inputs: int
    n_outputs: int
    hidden: tuple[int, ...] = (128, 128)
    recurrent: tuple[bool, ...] | bool = False
    delays: tuple[str, ...] | str = "none"  # per projection (hidden layers + output), or one
    max_delay: int = 62
    readout: str = "count"
    surrogate: str = "superspike"
    beta: float = 10.0
    stochastic: bool = False
    p0: float = 0.01
    du: float = 0.2
    dv: float = 0.05
    vth: float = 1.0
    per_neuron: bool = True
    train_decays: bool = False
    train_thresholds: bool = False
    hop_latency: bool = True
    weight_gain: float = 3.0
    delay_init: float = 5.0  # initial delays uniform in [0, delay_init] steps
    seed: int = 0
    extra: dict = field(default_factory=dict)
    conv: tuple[dict, ...] = ()  # convolutional layers before the dense ones (module doc)
    input_shape: tuple[int, int, int] | None = None  # (C, H, W) of the input, for conv
    dense_pool: int = 1  # sum pooling of the last convolution's spikes

    def __post_init__(self) -> None:
        conv = _check_conv(self.conv)
        object.__setattr__(self, "conv", conv)
        if conv or self.dense_pool != 1:
            if self.input_shape is None:
                raise InputError("a convolutional network needs input_shape = (C, H, W)")
            shape = int_sizes("input_shape", self.input_shape)
            if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != self.n_inputs:
                raise InputError(f"input_shape = {list(shape)}: expected (C, H, W), each >= 1,"
                                 f" with C*H*W = n_inputs = {self.n_inputs}")
            object.__setattr__(self, "input_shape", shape)
            if not conv:
                raise InputError(f"dense_pool = {self.dense_pool} without convolutions")
            if isinstance(self.dense_pool, bool) or not isinstance(
                    self.dense_pool, (int, np.integer)) or self.dense_pool < 1:
                raise InputError(f"dense_pool = {self.dense_pool!r}: expected an integer >= 1")
            conv_shapes(shape, conv, int(self.dense_pool))
        elif self.input_shape is not None:
            shape = int_sizes("input_shape", self.input_shape)
            object.__setattr__(self, "input_shape", shape)
        hidden = int_sizes("hidden", self.hidden)
        check_finite(du=self.du, dv=self.dv, vth=self.vth, beta=self.beta, p0=self.p0,
                     weight_gain=self.weight_gain, delay_init=self.delay_init)
        if any(h <= 0 for h in hidden):
            raise InputError(f"hidden = {list(hidden)}: every hidden size must be >= 1")
        object.__setattr__(self, "hidden", hidden)
        if self.n_inputs < 1 or self.n_outputs < 1:
            raise InputError(
                f"n_inputs = {self.n_inputs}, n_outputs = {self.n_outputs}: both must be >= 1"
            )
        n_proj = len(hidden) + 1
        delays = (self.delays,) * n_proj if isinstance(self.delays, str) else tuple(self.delays)
        if len(delays) != n_proj:
            raise InputError(f"delays has {len(delays)} entries; expected 1 or {n_proj} "
                             "(one per projection, the output's included)")
        for d in delays:
            if d not in DELAY_KINDS:
                raise InputError(f"delays = {d!r} is unknown; allowed: {', '.join(DELAY_KINDS)}")
        object.__setattr__(self, "delays", delays)
        rec = ((self.recurrent,) * len(hidden) if isinstance(self.recurrent, bool)
               else tuple(bool(r) for r in self.recurrent))
        if len(rec) != len(hidden):
            raise InputError(f"recurrent has {len(rec)} entries; expected 1 or {len(hidden)}")
        object.__setattr__(self, "recurrent", rec)
        check_max_delay(self.max_delay)
        if conv and self.dense_pool != 1 and (delays[0] != "none" or (hidden and rec[0])):
            raise InputError(f"delays = {delays[0]!r} / recurrent on the dense layer after "
                             f"dense_pool = {self.dense_pool}: a pooled layer takes neither "
                             "(use delays 'none' and no recurrence)")
        if self.readout not in READOUTS:
            raise InputError(
                f"readout = {self.readout!r} is unknown; allowed: {', '.join(READOUTS)}")
        SpikeFn(self.surrogate, self.beta, self.stochastic, self.p0)  # validates

    def to_json(self) -> dict:
        data = asdict(self)
        data["hidden"], data["recurrent"], data["delays"] = (
            list(self.hidden), list(self.recurrent), list(self.delays))
        data["conv"] = [dict(c) for c in self.conv]
        if self.input_shape is not None:
            data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_json(cls, data: dict) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"network config has unknown fields {sorted(unknown)}")
        data = dict(data)
        for key in ("hidden", "recurrent", "delays", "conv", "input_shape"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        return cls(**data)


class SpikingNetwork(nn.Module):
    """The trainable model built from a :class:`NetworkConfig`."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        gen = torch.Generator().manual_seed(config.seed)
        spike_fn = SpikeFn(config.surrogate, config.beta, config.stochastic, config.p0)
        neuron = dict(du=config.du, dv=config.dv, vth=config.vth, per_neuron=config.per_neuron,
                      train_decays=config.train_decays,
                      train_thresholds=config.train_thresholds, spike_fn=spike_fn,
                      hop_latency=config.hop_latency, weight_gain=config.weight_gain,
                      generator=gen)
        layers: list[LIFLayer] = []
        if config.conv:
            shapes = conv_shapes(config.input_shape, config.conv, config.dense_pool)
            for spec, shape in zip(config.conv, shapes[:-1], strict=True):
                layers.append(ConvLIFLayer(shape, spec["channels"], spec["kernel"],
                                           stride=spec["stride"], padding=spec["padding"],
                                           pool=spec["pool"], **neuron))
            n_first = layers[-1].n_out
        else:
            n_first = config.n_inputs
        sizes = [n_first, *config.hidden, config.n_outputs]
        for k in range(len(sizes) - 1):
            is_output = k == len(sizes) - 2
            kwargs = dict(
                recurrent=False if is_output else config.recurrent[k],
                delays=config.delays[k], max_delay=config.max_delay,
                spiking=not (is_output and config.readout in ("max_v", "mean_v")),
                delay_init=config.delay_init, **neuron)
            if k == 0 and config.conv and config.dense_pool > 1:
                layers.append(PooledLIFLayer(shapes[-1], config.dense_pool, sizes[1], **kwargs))
            else:
                layers.append(LIFLayer(sizes[k], sizes[k + 1], **kwargs))
        self.layers = nn.ModuleList(layers)

    @torch.no_grad()
    def snap_delays(self) -> None:
        """Replace every delay by its deployed integer (clamped, rounded) value."""
        for layer in self.layers:
            if layer.delay is not None:
                layer.delay.copy_(layer.deployed_delays().to(layer.delay.dtype))

    def set_integer_delays(self, integer: bool) -> None:
        """Use rounded integer delays in the forward pass (the deployment phase)."""
        for layer in self.layers:
            layer.integer_delays = integer

    @torch.no_grad()
    def calibrate_init(self, x: torch.Tensor, target_rate: float = 0.05) -> list[float]:
        """Scale each spiking layer's weights so it fires ``target_rate`` spikes per neuron
        per step on the batch ``x`` (layer by layer, by bisection on a log scale).

        A data-driven start (as LSUV does for ANNs): it avoids silent or saturated layers,
        which leave surrogate-gradient training stuck. Returns the measured rates.
        """
        was_training = self.training
        self.eval()
        h = x.transpose(0, 1).to(self.layers[0].weight.dtype)
        rates = []
        for layer in self.layers:
            if layer.spiking:
                base = layer.weight.detach().clone()
                lo, hi = -6.0, 6.0  # log2 of the scale
                for _ in range(14):
                    mid = (lo + hi) / 2
                    layer.weight.copy_(base * 2.0**mid)
                    rate = float(layer(h)[0].mean())
                    lo, hi = (lo, mid) if rate > target_rate else (mid, hi)
                layer.weight.copy_(base * 2.0 ** ((lo + hi) / 2))
            s, _ = layer(h)
            rates.append(float(s.mean()))
            h = s
        self.train(was_training)
        return rates

    def run(self, x: torch.Tensor, record_v: bool = False) -> list[dict[str, torch.Tensor]]:
        """Per layer {"spikes": (batch, steps, n), "v": ...} for x (batch, steps, n_inputs)."""
        h = x.transpose(0, 1).to(self.layers[0].weight.dtype)
        out = []
        for layer in self.layers:
            s, v = layer(h, record_v=record_v)
            rec = {"spikes": s.transpose(0, 1)}
            if v is not None:
                rec["v"] = v.transpose(0, 1)
            out.append(rec)
            h = s
        return out

    def to_float_network(self, dt: float | None = None) -> FloatNetwork:
        """The model as a :class:`FloatNetwork` (float64 copies, deployed integer delays).

        A convolution (pooling folded in) becomes a projection with its expanded (n_dst,
        n_src) weights in C, H, W order (``neurodeploy.network.Conv2d.expand``).

        Populations are ``layer0, layer1, ..., output``; ``dt`` is seconds per step.
        """
        names = population_names(len(self.layers))
        pops, projs = {}, []
        for k, layer in enumerate(self.layers):
            def arr(t: torch.Tensor, n: int = layer.n_out) -> np.ndarray:
                return np.broadcast_to(t.detach().cpu().double().numpy(), (n,)).copy()

            pops[names[k]] = FloatPopulation(
                layer.n_out, du=arr(layer.du.clamp(DU_MIN, DU_MAX)),
                dv=arr(layer.dv.clamp(DV_MIN, DV_MAX)), vth=arr(layer.vth),
                bias=arr(layer.bias), spiking=layer.spiking)
            delays = layer.deployed_delays()
            projs.append(FloatProjection(
                "input" if k == 0 else names[k - 1], names[k], layer.dense_weight(),
                delays=None if delays is None else delays.cpu().numpy().astype(np.int64),
                conv=layer.float_conv()))
            if layer.rec_weight is not None:
                projs.append(FloatProjection(names[k], names[k],
                                             layer.rec_weight.detach().cpu().double().numpy()))
        return FloatNetwork(self.config.n_inputs, pops, projs, outputs=[names[-1]], dt=dt)

    @classmethod
    def from_float_network(cls, net: FloatNetwork, config: NetworkConfig) -> SpikingNetwork:
        """The module of ``config`` with the parameters of ``net`` (as written by
        :meth:`to_float_network`, e.g. read back from NIR): the inverse of that method,
        with the delays fixed at their integer values."""
        model = cls(config)
        names = population_names(len(model.layers))
        if list(net.populations) != names:
            raise InputError(f"float network has populations {list(net.populations)}; the "
                             f"config builds {names}")
        with torch.no_grad():
            for k, layer in enumerate(model.layers):
                pop = net.populations[names[k]]
                incoming = net.incoming(names[k])
                ff = [p for p in incoming if p.src != names[k]]
                rec = [p for p in incoming if p.src == names[k]]
                if len(ff) != 1 or len(rec) != (layer.rec_weight is not None):
                    raise InputError(f"population '{names[k]}': projections do not match "
                                     "the config's layer")
                layer.load_dense_weight(ff[0].weights, f"population '{names[k]}'")
                if layer.rec_weight is not None:
                    layer.rec_weight.copy_(torch.tensor(rec[0].weights))
                if layer.delay is not None:
                    d = ff[0].delay_matrix()
                    layer.delay.copy_(torch.tensor(
                        d[0] if layer.delay_kind == "axonal" else d, dtype=layer.delay.dtype))
                for attr in ("du", "dv", "vth", "bias"):
                    param = getattr(layer, attr)
                    value = torch.tensor(getattr(pop, attr), dtype=param.dtype)
                    param.copy_(value if param.dim() else value[0])
        model.set_integer_delays(True)
        return model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_outputs) for input spikes x (batch, steps, n_inputs)."""
        last = self.run(x)[-1]
        if self.config.readout == "max_v":
            # Nothing can reach the readout before step `hops` (one step per projection):
            # v is exactly 0 there, and a max taken there would pass no gradient.
            hops = len(self.layers) if self.config.hop_latency else 0
            return last["v"][:, min(hops, last["v"].shape[1] - 1):].amax(dim=1)
        if self.config.readout == "mean_v":
            return last["v"].mean(dim=1)
        return last["spikes"].sum(dim=1)
