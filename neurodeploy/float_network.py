"""The float network IR: the same graph as :class:`FixedPointNetwork`, in float units.

A :class:`FloatNetwork` is what a trained torch model or a NIR graph from another tool
is before quantization: CUBA LIF populations joined by float projections, with integer
delays in steps and a declared time step ``dt``. Per step t (0-based), for every
population, in this order (Loihi 2's float model, ``docs/loihi2-fixed-point.md``; the step
is ``neurodeploy.kernel.float_step``)::

    a[t] = sum over projections p into the population:
               W_p (masked per delay) @ s_src(t - 1 - delay)            # one step per hop
               + b_p  for t >= L                                       # (see below)
    u[t] = u[t-1] * (1 - du) + a[t]
    v'   = v[t-1] * (1 - dv) + u[t] + bias
    s[t] = v' > vth                     (strict; never for a non-spiking population)
    v[t] = 0 where s[t] (reset "zero")  or  v' - vth where s[t] (reset "subtract")

``du`` and ``dv`` are fractions lost per step (du in (0, 1], dv in [0, 1]); weights, u,
v, vth, bias and the projection bias ``b_p`` (a constant current, from NIR ``Affine``)
share one arbitrary unit. u and v start at 0. The projection bias enters u together with
the first input: from step L, the fewest projections from the input to the population
(:meth:`FloatNetwork.bias_onsets`; 1 where the input never arrives). Tools without hop
latency (snnTorch, Norse) add an ``Affine``'s bias and its input in the same step; with
one step per hop, their step 0 is our step L, so their bias starts there too (delays do
not delay a bias). Loihi 2 delivers it so, as a unit that fires at every step from step 0
through a projection of delay L - 1 (``neurodeploy.quantize.ptq``). ``dt`` (seconds per
step) only says what one step means in time (it turns NIR time constants into du, dv and
NIR delays into steps); the dynamics above are in steps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from neurodeploy import fixed_point as fp
from neurodeploy.errors import NetworkValidationError
from neurodeploy.network import (
    Conv2d,
    FixedPointNetwork,
    PopulationGraph,
    ProjectionQueries,
    _freeze,
    first_bad,
)

RESETS = ("zero", "subtract")


def _float_array(label: str, field_name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkValidationError(f"{label}: {field_name} is not numeric") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        _, val, at = first_bad(arr, bad)
        raise NetworkValidationError(f"{label}: {field_name}{at} = {val} is not finite; "
                                     "parameters must be finite numbers")
    return arr


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only copy of ``arr``."""
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _vector(label: str, field_name: str, value: Any, size: int,
            lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False) -> np.ndarray:
    arr = _float_array(label, field_name, value)
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    elif arr.shape != (size,):
        raise NetworkValidationError(
            f"{label}: {field_name} has shape {arr.shape}; expected a scalar or ({size},)")
    bad = (arr <= lo if lo_open else arr < lo) | (arr > hi)
    if bad.any():
        _, val, at = first_bad(arr, bad)
        raise NetworkValidationError(f"{label}: {field_name}{at} = {val:g} is out of range; "
                                     f"allowed {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    return _read_only(arr)


@dataclass(frozen=True, eq=False)
class FloatPopulation:
    """CUBA LIF neurons in float units (see the module docstring for the update).

    Every parameter is a scalar or a per-neuron vector (stored as a float64 vector):
    du in (0, 1], dv in [0, 1], vth >= 0, bias any finite value. ``spiking=False`` is a
    non-spiking readout (v integrates, never resets). ``reset``: "zero" (Loihi 2) or
    "subtract".
    """

    size: int
    du: Any
    dv: Any
    vth: Any
    bias: Any = 0.0
    spiking: bool = True
    reset: str = "zero"
    name: str | None = field(default=None, compare=False)

    PARAMETERS: ClassVar[tuple[str, ...]] = ("du", "dv", "vth", "bias")

    def __post_init__(self) -> None:
        label = f"population '{self.name}'" if self.name else "FloatPopulation"
        if not isinstance(self.size, (int, np.integer)) or int(self.size) < 1:
            raise NetworkValidationError(f"{label}: size = {self.size} must be an integer >= 1")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "du", _vector(label, "du", self.du, self.size, 0.0, 1.0, True))
        object.__setattr__(self, "dv", _vector(label, "dv", self.dv, self.size, 0.0, 1.0))
        object.__setattr__(self, "vth", _vector(label, "vth", self.vth, self.size, 0.0))
        object.__setattr__(self, "bias", _vector(label, "bias", self.bias, self.size))
        if self.reset not in RESETS:
            raise NetworkValidationError(
                f"{label}: reset = {self.reset!r} is unknown; allowed: {', '.join(RESETS)}")
        object.__setattr__(self, "spiking", bool(self.spiking))

    def named(self, name: str) -> FloatPopulation:
        return dataclasses.replace(self, name=name)


@dataclass(frozen=True, eq=False)
class FloatProjection(ProjectionQueries):
    """Float synapses from ``src`` (``"input"`` or a population) to population ``dst``.

    ``weights`` is (n_dst, n_src). ``delays`` (integer steps >= 0) is None, an int, a
    per-source vector (axonal) or a (n_dst, n_src) array (per synapse): a spike of source
    j at step t reaches dst neuron i at step t + 1 + delays[i, j]. ``bias`` (n_dst,) or
    None is a constant current added to the destination's u at every step from the step
    the network input first reaches it (:meth:`FloatNetwork.bias_onsets`). ``conv`` (a
    :class:`neurodeploy.Conv2d` whose kernel is float) says that the weights are that
    convolution's expansion (:meth:`Conv2d.expand`); it takes no delays.
    """

    src: str
    dst: str
    weights: Any
    delays: Any = None
    bias: Any = None
    name: str | None = None
    conv: Conv2d | None = None

    def __post_init__(self) -> None:
        label = self.label
        weights = _float_array(label, "weights", self.weights)
        if weights.ndim != 2 or 0 in weights.shape:
            raise NetworkValidationError(
                f"{label}: weights has shape {weights.shape}; expected (n_dst, n_src)")
        object.__setattr__(self, "weights", _read_only(weights))
        if self.bias is not None:
            object.__setattr__(self, "bias", _vector(label, "bias", self.bias, weights.shape[0]))
        if self.delays is not None:
            arr = _float_array(label, "delays", self.delays)
            if (arr != np.round(arr)).any() or (arr < 0).any():
                raise NetworkValidationError(
                    f"{label}: delays must be integers >= 0 (steps), got {arr.min():g}..."
                    f"{arr.max():g}")
            n_dst, n_src = weights.shape
            if arr.ndim == 0:
                delays: int | np.ndarray = int(arr)
            elif arr.shape in ((n_src,), (n_dst, n_src)):
                delays = _freeze(arr)
            else:
                raise NetworkValidationError(
                    f"{label}: delays has shape {arr.shape}; expected None, an int, "
                    f"({n_src},) or ({n_dst}, {n_src})")
            object.__setattr__(self, "delays", delays)
        if self.conv is not None:
            self._check_conv(label, weights)

    def _check_conv(self, label: str, weights: np.ndarray) -> None:
        """The geometry as :meth:`Conv2d.check` validates it, with the float kernel kept."""
        if not isinstance(self.conv, Conv2d):
            raise NetworkValidationError(
                f"{label}: conv must be a Conv2d or None, got {type(self.conv).__name__}")
        kernel = _read_only(_float_array(label, "conv kernel", self.conv.kernel))
        shape = dataclasses.replace(self.conv, kernel=np.zeros(kernel.shape, np.int64))
        shape.check(label)
        conv = dataclasses.replace(shape, kernel=kernel)
        if self.delays is not None:
            raise NetworkValidationError(
                f"{label}: delays = {self.delays!r} on a convolutional projection; allowed None")
        if not np.array_equal(weights, conv.expand(kernel)):
            raise NetworkValidationError(
                f"{label}: weights are not the convolution's expansion (expected shape "
                f"{(conv.n_dst, conv.n_src)}, got {weights.shape})")
        object.__setattr__(self, "conv", conv)

    @property
    def n_dst(self) -> int:
        """Destination neurons (rows of ``weights``)."""
        return int(self.weights.shape[0])

    @property
    def n_src(self) -> int:
        """Source neurons or inputs (columns of ``weights``)."""
        return int(self.weights.shape[1])


@dataclass(frozen=True, eq=False)
class FloatNetwork(PopulationGraph):
    """A validated float network: populations, projections, outputs and the time step.

    ``dt`` is seconds per step (None when unknown). Time convention: 0-based steps, one
    step of latency per projection.
    """

    n_inputs: int
    populations: Mapping[str, FloatPopulation]
    projections: Sequence[FloatProjection]
    outputs: Sequence[str] | None = None
    dt: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_inputs, (int, np.integer)) or self.n_inputs < 1:
            raise NetworkValidationError(f"network: n_inputs = {self.n_inputs} must be >= 1")
        object.__setattr__(self, "n_inputs", int(self.n_inputs))
        self._validate_graph(FloatPopulation, FloatProjection)
        if self.dt is not None:
            dt = float(self.dt)
            if not math.isfinite(dt) or dt <= 0:
                raise NetworkValidationError(f"network: dt = {self.dt} must be > 0 seconds")
            object.__setattr__(self, "dt", dt)

    def bias_onsets(self) -> dict[str, int]:
        """Per population, the first step (0-based) at which its projections' biases enter
        u: the fewest projections from the input (one step per hop), so that a bias
        starts with the first input as in tools without hop latency; 1 for a population
        the input never reaches."""
        hops = self.hops()
        return {name: hops.get(name, 1) for name in self.populations}


def dequantize(net: FixedPointNetwork, dt: float | None = None) -> FloatNetwork:
    """The float model of a fixed-point network, in LSB units of v and u.

    du = (du_int + 1) / 4096, dv = dv_int / 4096, vth = vth_int * 64, bias = bias_mant *
    2**bias_exp, W = W_int * 2**weight_exp * 64: the same update without integer
    truncation, wrapping or saturation (what Lava's ``floating_pt`` models compute). A
    convolutional projection stays one, with its kernel in the same units.
    """
    chip = net.chip
    unity = float(chip.decay_unity)
    pops = {name: FloatPopulation(
        pop.size, du=(pop.param("du") + 1) / unity, dv=pop.param("dv") / unity,
        vth=pop.param("vth") * float(1 << chip.vth_shift),
        bias=fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp")).astype(float))
        for name, pop in net.populations.items()}
    act = float(1 << chip.act_shift)
    projs = [FloatProjection(p.src, p.dst, np.asarray(p.weights) * 2.0**p.weight_exp * act,
                             delays=p.delays, name=p.name,
                             conv=None if p.conv is None else dataclasses.replace(
                                 p.conv, kernel=p.conv.kernel * 2.0**p.weight_exp * act))
             for p in net.projections]
    return FloatNetwork(net.n_inputs, pops, projs, outputs=list(net.outputs), dt=dt)
