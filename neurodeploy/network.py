"""The fixed-point network IR: CUBA LIF populations joined by integer projections.

A :class:`FixedPointNetwork` is plain, validated data. It says exactly which integers a
Loihi 2 chip (and Lava's ``fixed_pt`` CPU models) would use, and nothing about how the
network was trained. Every backend in ``neurodeploy.targets`` runs this description.

Per step t (0-based), for every population, in this order (see
``docs/conventions.md`` and ``docs/loihi2-fixed-point.md``; ``neurodeploy.kernel`` holds
the one implementation every backend runs)::

    a[t]  = sum over projections p into the population, over delay values k of p:
                shift(W_p[k] @ s_src(t - 1 - k), weight_exp_p)        # one step per hop
    u[t]  = wrap24(trunc0(u[t-1] * (4096 - (du + 1))) + (a[t] << 6))
    v'    = clip(trunc0(v[t-1] * (4096 - dv)) + u[t] + bias, -(2**23 - 1), 2**23 - 1)
    s[t]  = v' > (vth << 6);   v[t] = 0 where s[t] else v'

where ``W_p[k]`` keeps the weights whose delay is k, ``shift`` is ``<< weight_exp`` or a
floor ``>> -weight_exp`` applied to each delay slot's sum (as Lava's Sparse/DelaySparse
do), ``trunc0`` divides by 4096 rounding toward zero, ``wrap24`` is Lava's single wrap
of u into (-2**23, 2**23], and ``bias = bias_mant << bias_exp`` (floor right shift for a
negative exponent). The network input is ``s_input(t)``: an input spike at step t reaches
a population behind one projection at step t + 1 + delay. The widths and ranges are those
of the network's :class:`~neurodeploy.chip.ChipFormat` (default :data:`LOIHI2`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from neurodeploy import fixed_point as fp
from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.errors import NetworkValidationError
from neurodeploy.kernel.lif import LIFConstants, input_bound

INPUT = "input"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def first_bad(arr: np.ndarray, bad: np.ndarray) -> tuple[tuple[int, ...] | None, Any, str]:
    """The index of the first True entry of ``bad`` (None for a 0-d ``arr``), ``arr`` there
    and the index as text (``[i, j]``, empty for None)."""
    index = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else None
    return index, arr[index or ()], str(list(index)) if index else ""


def _as_int_array(label: str, field_name: str, value: Any) -> np.ndarray:
    """Convert to an int64 array; reject non-numeric, non-finite and non-integer values."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy accepts almost anything
        raise NetworkValidationError(f"{label}: {field_name} is not numeric ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise NetworkValidationError(
            f"{label}: {field_name} has dtype {arr.dtype}; integers are required")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            _, val, at = first_bad(arr, bad)
            raise NetworkValidationError(
                f"{label}: {field_name}{at} = {float(val)} is not an "
                "integer; fixed-point networks take integer values (quantize first)")
    return arr.astype(np.int64)


def _check_range(
    label: str, field_name: str, arr: np.ndarray, lo: int, hi: int, extra: str = ""
) -> None:
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        _, val, at = first_bad(arr, bad)
        raise NetworkValidationError(f"{label}: {field_name}{at} = {int(val)} is "
                                     f"out of range; allowed {lo}..{hi}{extra}")


def _scalar(label: str, field_name: str, value: Any, lo: int, hi: int, extra: str = "") -> int:
    """A single integer in ``lo..hi``; NetworkValidationError otherwise."""
    arr = _as_int_array(label, field_name, value)
    if arr.ndim != 0:
        raise NetworkValidationError(f"{label}: {field_name} must be a single integer")
    _check_range(label, field_name, arr, lo, hi, extra)
    return int(arr)


def _count(label: str, field_name: str, value: Any) -> int:
    """A single integer >= 1 (a size); NetworkValidationError otherwise."""
    arr = _as_int_array(label, field_name, value)
    if arr.ndim != 0 or int(arr) < 1:
        raise NetworkValidationError(f"{label}: {field_name} = {value} must be an integer >= 1")
    return int(arr)


def _freeze(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.int64, copy=True)
    arr.setflags(write=False)
    return arr


def _scalar_or_vector(label: str, field_name: str, value: Any, size: int) -> int | np.ndarray:
    arr = _as_int_array(label, field_name, value)
    if arr.ndim == 0:
        return int(arr)
    if arr.shape != (size,):
        raise NetworkValidationError(
            f"{label}: {field_name} has shape {arr.shape}; expected a scalar or ({size},)")
    return _freeze(arr)


@dataclass(frozen=True, eq=False)
class LIFPopulation:
    """A population of CUBA LIF neurons with Loihi 2 integer parameters.

    Every parameter is a scalar shared by the population or a per-neuron integer vector
    of length ``size``. Units are Loihi's: du, dv are 12-bit decays (u keeps
    ``(4096 - (du + 1)) / 4096`` of itself per step, v keeps ``(4096 - dv) / 4096``);
    the threshold compares v with ``vth << 6``; the bias ``bias_mant * 2**bias_exp`` is
    added to v every step without the << 6 that synaptic input gets. u and v start at 0.

    Ranges (validated against ``chip``, Loihi 2 by default): size >= 1; du, dv 0..4095;
    vth 0..131071; bias_mant -4096..4095; bias_exp -8..7.

    ``reset_interval`` > 0 adds timed state resets (netx's ``reset_interval``, Lava's
    ``LIFReset``): u and v are set to 0 before the update of every step t (0-based) with
    ``t % reset_interval == reset_offset`` (0 <= reset_offset < reset_interval). 0 (the
    default) means never. The reference, torch-int and Lava targets run them.
    """

    size: int
    du: int | np.ndarray
    dv: int | np.ndarray
    vth: int | np.ndarray
    bias_mant: int | np.ndarray = 0
    bias_exp: int | np.ndarray = 0
    name: str | None = field(default=None, compare=False)
    chip: ChipFormat = field(default=LOIHI2, compare=False, repr=False)
    reset_interval: int = 0
    reset_offset: int = 0

    PARAMETERS: ClassVar[tuple[str, ...]] = ("du", "dv", "vth", "bias_mant", "bias_exp")

    @staticmethod
    def ranges(chip: ChipFormat = LOIHI2) -> dict[str, tuple[int, int]]:
        """The allowed range of every parameter on ``chip``."""
        return {
            "du": (0, chip.decay_max),
            "dv": (0, chip.decay_max),
            "vth": (0, chip.vth_max),
            "bias_mant": (chip.bias_mant_min, chip.bias_mant_max),
            "bias_exp": (chip.bias_exp_min, chip.bias_exp_max),
        }

    def __post_init__(self) -> None:
        label = f"population '{self.name}'" if self.name else "LIFPopulation"
        object.__setattr__(self, "size", _count(label, "size", self.size))
        ranges = self.ranges(self.chip)
        for name in self.PARAMETERS:
            value = _scalar_or_vector(label, name, getattr(self, name), self.size)
            _check_range(label, name, np.asarray(value), *ranges[name])
            object.__setattr__(self, name, value)
        for name in ("reset_interval", "reset_offset"):
            object.__setattr__(self, name, _scalar(label, name, getattr(self, name), 0, 1 << 30))
        if self.reset_offset and self.reset_offset >= max(self.reset_interval, 1):
            raise NetworkValidationError(
                f"{label}: reset_offset = {self.reset_offset} is out of range; allowed "
                f"0..{max(self.reset_interval - 1, 0)} (reset_interval {self.reset_interval})")

    def resets_at(self, step: int) -> bool:
        """True when u and v are set to 0 before the update of 0-based ``step``."""
        return self.reset_interval > 0 and step % self.reset_interval == self.reset_offset

    def param(self, name: str) -> np.ndarray:
        """Parameter ``name`` as an int64 vector of length ``size`` (scalars broadcast)."""
        return np.broadcast_to(np.asarray(getattr(self, name), dtype=np.int64), (self.size,))

    def is_uniform(self, name: str) -> bool:
        """True when parameter ``name`` has one value for the whole population."""
        values = self.param(name)
        return bool((values == values[0]).all())

    def named(self, name: str) -> LIFPopulation:
        """The same population carrying its network name (used in error messages)."""
        return replace(self, name=name)


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if np.ndim(value) == 0 else tuple(value)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Conv2d:
    """The structure behind a convolutional projection's weights.

    ``kernel`` is (out_channels, in_channels / groups, kh, kw) integers; the source is
    ``in_shape`` = (C, H, W) and the destination (out_channels, OH, OW), both flattened in
    C, H, W order (NIR's layout), with ``OH = (H + 2 pad_y - dil_y (kh - 1) - 1) // stride_y
    + 1`` (likewise OW). Output (o, y, x) sums kernel[o, i, ky, kx] * source[g * C/groups + i,
    y * stride_y - pad_y + ky * dil_y, x * stride_x - pad_x + kx * dil_x] over the taps
    inside the input (zero padding), g = o // (out_channels / groups): what Lava's ``Conv``
    process and Loihi 2 compute. :meth:`matrix` is the equivalent (n_dst, n_src) weights,
    which every backend runs exactly; ``stride``, ``padding`` and ``dilation`` are ints or
    (y, x) pairs.
    """

    kernel: np.ndarray
    in_shape: tuple[int, int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1

    def check(self, label: str) -> None:
        """Validate and normalise the geometry; one-line errors name ``label`` and the field."""
        kernel = _as_int_array(label, "conv kernel", self.kernel)
        if kernel.ndim != 4 or 0 in kernel.shape:
            raise NetworkValidationError(
                f"{label}: conv kernel has shape {kernel.shape}; expected (out_channels, "
                "in_channels / groups, kh, kw)")
        object.__setattr__(self, "kernel", _freeze(kernel))
        shape = _as_int_array(label, "conv in_shape", self.in_shape)
        if shape.shape != (3,) or (shape < 1).any():
            raise NetworkValidationError(
                f"{label}: conv in_shape = {self.in_shape!r}; expected (C, H, W), each >= 1")
        object.__setattr__(self, "in_shape", tuple(int(x) for x in shape))
        for attr, low in (("stride", 1), ("padding", 0), ("dilation", 1)):
            arr = _as_int_array(label, f"conv {attr}", _pair(getattr(self, attr)))
            if arr.shape != (2,):
                raise NetworkValidationError(
                    f"{label}: conv {attr} = {getattr(self, attr)!r}; expected an int or a "
                    "(y, x) pair")
            _check_range(label, f"conv {attr}", arr, low, 1 << 16)
            object.__setattr__(self, attr, (int(arr[0]), int(arr[1])))
        groups = _as_int_array(label, "conv groups", self.groups)
        out_ch, in_per_group = kernel.shape[:2]
        channels = self.in_shape[0]
        if groups.ndim or groups < 1 or channels % groups or out_ch % groups:
            raise NetworkValidationError(
                f"{label}: conv groups = {self.groups!r} must be an integer >= 1 dividing the "
                f"input channels ({channels}) and the output channels ({out_ch})")
        object.__setattr__(self, "groups", int(groups))
        if in_per_group * self.groups != channels:
            raise NetworkValidationError(
                f"{label}: conv kernel has {in_per_group} input channels per group; the "
                f"source has {channels} channels in {self.groups} group(s), so "
                f"{channels // self.groups} are required")
        if min(self.out_shape[1:]) < 1:
            raise NetworkValidationError(
                f"{label}: conv output would be {self.out_shape}: the kernel (dilated) does "
                f"not fit the padded input {self.in_shape}")

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(out_channels, OH, OW) of the destination."""
        out_ch, _, kh, kw = self.kernel.shape
        _, h, w = self.in_shape
        (sy, sx), (py, px), (dy, dx) = self.stride, self.padding, self.dilation
        return (int(out_ch), (h + 2 * py - dy * (kh - 1) - 1) // sy + 1,
                (w + 2 * px - dx * (kw - 1) - 1) // sx + 1)

    @property
    def n_dst(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def n_src(self) -> int:
        return int(np.prod(self.in_shape))

    def matrix(self) -> np.ndarray:
        """The equivalent (n_dst, n_src) int64 weights (every synapse at most once)."""
        return self.expand(self.kernel)

    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dst, src, tap)``: every synapse of the geometry as flat destination and source
        indices and the flat index of its kernel tap (``kernel.ravel()[tap]``), without the
        dense matrix (the sparse form large convolutions need)."""
        out_ch, in_g, kh, kw = self.kernel.shape
        _, h, w = self.in_shape
        _, oh, ow = self.out_shape
        (sy, sx), (py, px), (dy, dx) = self.stride, self.padding, self.dilation
        o, i, ky, kx, y, x = np.meshgrid(np.arange(out_ch), np.arange(in_g), np.arange(kh),
                                         np.arange(kw), np.arange(oh), np.arange(ow),
                                         indexing="ij", sparse=True)
        iy, ix = y * sy - py + ky * dy, x * sx - px + kx * dx
        shape = (out_ch, in_g, kh, kw, oh, ow)
        inside = np.broadcast_to((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w), shape)
        ic = (o // (out_ch // self.groups)) * in_g + i

        def flat(index: np.ndarray) -> np.ndarray:
            return np.broadcast_to(index, shape)[inside]

        tap = ((o * in_g + i) * kh + ky) * kw + kx
        return flat((o * oh + y) * ow + x), flat((ic * h + iy) * w + ix), flat(tap)

    def nonzero_synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dst, src, weight)`` of the synapses whose kernel tap is nonzero, as in
        :meth:`synapses` (the sparse weights of a large convolution)."""
        dst, src, tap = self.synapses()
        values = self.kernel.ravel()[tap]
        keep = values != 0
        return dst[keep], src[keep], values[keep]

    def expand(self, kernel: np.ndarray) -> np.ndarray:
        """The (n_dst, n_src) matrix of this geometry for ``kernel`` (any dtype, the kernel's
        shape): what NIR import uses for float kernels."""
        dst, src, tap = self.synapses()
        kernel = np.asarray(kernel)
        dense = np.zeros((self.n_dst, self.n_src), dtype=kernel.dtype)
        dense[dst, src] = kernel.ravel()[tap]
        return dense

    def row_sums(self, kernel: np.ndarray) -> np.ndarray:
        """The row sums of the dense matrix of this geometry for ``kernel`` (the kernel's
        shape; ``abs(kernel)`` gives every destination's sum of |weights|), computed tap by
        tap over the outputs each tap reaches inside the input."""
        out_ch, _, kh, kw = self.kernel.shape
        _, h, w = self.in_shape
        _, oh, ow = self.out_shape
        (sy, sx), (py, px), (dy, dx) = self.stride, self.padding, self.dilation
        per_tap = np.asarray(kernel).sum(axis=1)  # (out, kh, kw)
        iy = np.arange(oh)[:, None] * sy - py + np.arange(kh)[None, :] * dy  # (oh, kh)
        ix = np.arange(ow)[:, None] * sx - px + np.arange(kw)[None, :] * dx  # (ow, kw)
        rows_in = ((iy >= 0) & (iy < h)).astype(np.int64)
        cols_in = ((ix >= 0) & (ix < w)).astype(np.int64)
        sums = np.einsum("okl,yk,xl->oyx", per_tap, rows_in, cols_in)
        return sums.reshape(out_ch * oh * ow)

    def followed_by(self, after: Conv2d) -> Conv2d | None:
        """The one convolution that computes this convolution and then ``after`` (which
        reads this one's output), or None where no single convolution does.

        Both must be checked (:meth:`check`); kernels of any dtype (float at import: a sum
        pooling is a grouped convolution of ones). The composite has stride ``s_a s_b``,
        padding ``p_b s_a + p_a`` and its taps at offsets ``k_b d_b s_a + k_a d_a`` (per
        axis; a: this, b: ``after``), its channels mixed by both kernels and grouped as
        finely as the two groupings allow. It exists unless ``after`` reads its zero padding
        where the composite would read real input: a tap of this convolution beyond its
        stride and padding (overlapping windows) next to ``after``'s leading padding, or
        input rows this one leaves unread (a size its stride does not divide) next to
        ``after``'s trailing padding. The result's :meth:`matrix` is
        ``after.matrix() @ self.matrix()`` (up to float rounding of float kernels).
        """
        if after.in_shape != self.out_shape:
            return None
        offsets, size, dil = [], [], []
        for axis in (0, 1):
            s_a, p_a, d_a = self.stride[axis], self.padding[axis], self.dilation[axis]
            s_b, p_b, d_b = after.stride[axis], after.padding[axis], after.dilation[axis]
            k_a, k_b = self.kernel.shape[2 + axis], after.kernel.shape[2 + axis]
            h, h_mid, h_out = self.in_shape[1 + axis], self.out_shape[1 + axis], \
                after.out_shape[1 + axis]
            if p_b > 0 and (k_a - 1) * d_a >= s_a + p_a:  # padding before: taps reach input
                return None
            if (h_out - 1) * s_b - p_b + (k_b - 1) * d_b >= h_mid and h_mid * s_a - p_a < h:
                return None  # padding after: the composite would read unread input rows
            step = np.gcd(d_b * s_a if k_b > 1 else 0, d_a if k_a > 1 else 0) or 1
            offsets.append(((np.arange(k_b) * d_b * s_a)[:, None]
                            + (np.arange(k_a) * d_a)[None, :]) // step)  # (k_b, k_a)
            size.append(int(offsets[-1].max()) + 1)
            dil.append(int(step))

        def full(conv: Conv2d, kernel: np.ndarray) -> np.ndarray:
            """(out, in) channels of ``kernel`` (conv's shape), zero across groups."""
            out_ch, in_g = kernel.shape[:2]
            per = out_ch // conv.groups
            dense = np.zeros((out_ch, in_g * conv.groups, *kernel.shape[2:]), kernel.dtype)
            for g in range(conv.groups):
                rows = slice(g * per, (g + 1) * per)
                dense[rows, g * in_g:(g + 1) * in_g] = kernel[rows]
            return dense

        def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            """(out, in, kh, kw) of the composite for full kernels ``a`` and ``b``."""
            dtype = np.result_type(a, b)
            out = np.zeros((b.shape[0], a.shape[1], *size), dtype)
            for by, ay in np.ndindex(offsets[0].shape):
                for bx, ax in np.ndindex(offsets[1].shape):
                    out[:, :, offsets[0][by, ay], offsets[1][bx, ax]] += (
                        b[:, :, by, bx] @ a[:, :, ay, ax])
            return out

        support = compose(full(self, np.ones(self.kernel.shape, np.int64)),
                          full(after, np.ones(after.kernel.shape, np.int64))).any(axis=(2, 3))
        kernel = compose(full(self, np.asarray(self.kernel)), full(after, np.asarray(after.kernel)))
        out_ch, in_ch = support.shape
        for groups in range(np.gcd(out_ch, in_ch), 0, -1):  # the finest grouping that holds
            same = ((np.arange(out_ch) // (out_ch // groups))[:, None]
                    == (np.arange(in_ch) // (in_ch // groups))[None, :])
            if out_ch % groups == 0 and in_ch % groups == 0 and not support[~same].any():
                break
        in_g = in_ch // groups
        first = (np.arange(out_ch) // (out_ch // groups)) * in_g  # each output's group start
        grouped = kernel[np.arange(out_ch)[:, None], first[:, None] + np.arange(in_g)]
        composite = Conv2d(np.zeros(grouped.shape, np.int64), self.in_shape,
                           tuple(self.stride[i] * after.stride[i] for i in (0, 1)),
                           tuple(after.padding[i] * self.stride[i] + self.padding[i]
                                 for i in (0, 1)), tuple(dil), int(groups))
        composite.check("composite convolution")
        return replace(composite, kernel=grouped)


class ProjectionQueries:
    """What an integer and a float projection share: ``label`` and the delay queries (over
    their ``src``, ``dst``, ``name``, ``delays``, ``n_dst`` and ``n_src``)."""

    @property
    def label(self) -> str:
        """How error messages name this projection."""
        return f"projection '{self.name or f'{self.src}->{self.dst}'}'"

    def delay_matrix(self) -> np.ndarray:
        """Delays as a full (n_dst, n_src) int64 array (zeros when there are none)."""
        shape = (self.n_dst, self.n_src)
        if self.delays is None:
            return np.zeros(shape, dtype=np.int64)
        return np.broadcast_to(np.asarray(self.delays, dtype=np.int64), shape).copy()

    @property
    def max_delay(self) -> int:
        return 0 if self.delays is None else int(np.max(self.delays))


@dataclass(frozen=True, eq=False)
class Projection(ProjectionQueries):
    """Integer synapses from ``src`` (``"input"`` or a population) to population ``dst``.

    ``weights`` is (n_dst, n_src). Loihi 2 stores 8-bit weights and shifts their *sum*:
    the input a projection delivers is ``shift(sum of weights of spiking sources,
    weight_exp)`` per delay slot, a left shift for weight_exp > 0 and a floor right
    shift for weight_exp < 0. Weights must lie on the grid Lava keeps for the sign mode
    (``lava_weight_transform`` is then the identity):

    - excitatory: 0..255; inhibitory: -255..0; mixed: -256..255;
    - multiples of ``2**(8 - num_weight_bits + (1 if mixed else 0))``.

    ``sign_mode`` defaults to what Lava infers from the weights (all >= 0 excitatory,
    all <= 0 inhibitory, else mixed). ``conv`` (a :class:`Conv2d`) says that the weights
    are a convolution's (build such a projection with :meth:`conv2d`); it takes no delays
    (Lava's ``Conv`` process has none). A convolutional projection keeps only its kernel
    (``weights=None``, what :meth:`conv2d` does): ``weights`` builds the dense equivalent
    on first use, refused beyond :data:`DENSE_CONV_MAX` entries (an image-sized layer's
    matrix would not fit in memory; the reference simulator and the file formats work on
    the kernel). ``delays`` (steps, 0..62) is None (no delay), an
    int for all synapses, a per-source vector of length n_src (axonal delay) or a
    (n_dst, n_src) array (per synapse). A spike of source j at step t reaches dst
    neuron i at step ``t + 1 + delays[i, j]``.
    """

    src: str
    dst: str
    weights: np.ndarray | None  # a property (below the class): conv builds it on demand
    weight_exp: int = 0
    delays: int | np.ndarray | None = None
    num_weight_bits: int = 8
    sign_mode: str | None = None
    name: str | None = None
    chip: ChipFormat = field(default=LOIHI2, compare=False, repr=False)
    conv: Conv2d | None = None

    def __post_init__(self) -> None:
        label = self.label
        chip = self.chip
        for attr in ("src", "dst"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise NetworkValidationError(
                    f"{label}: {attr} = {value!r} must be a population name or 'input'")
        if self.dst == INPUT:
            raise NetworkValidationError(f"{label}: dst = 'input' is not allowed; "
                                         "projections end at a population")
        stored = self.__dict__["_weights"]
        if self.conv is not None:
            if not isinstance(self.conv, Conv2d):
                raise NetworkValidationError(
                    f"{label}: conv must be a Conv2d or None, got {type(self.conv).__name__}")
            self.conv.check(label)
        if stored is None and self.conv is None:
            raise NetworkValidationError(f"{label}: weights = None; expected a 2-D (n_dst, n_src) "
                                         "array (only a convolutional projection leaves them "
                                         "to its kernel)")
        weights = self.conv.kernel if stored is None else _as_int_array(label, "weights", stored)
        if stored is not None and (weights.ndim != 2 or 0 in weights.shape):
            raise NetworkValidationError(
                f"{label}: weights has shape {weights.shape}; expected a 2-D (n_dst, n_src) array")
        for attr, lo, hi in (("weight_exp", chip.weight_exp_min, chip.weight_exp_max),
                             ("num_weight_bits", 1, chip.weight_bits)):
            object.__setattr__(self, attr, _scalar(label, attr, getattr(self, attr), lo, hi))
        sign_mode = self.sign_mode if self.sign_mode is not None else fp.infer_sign_mode(weights)
        if sign_mode not in fp.SIGN_MODES:
            raise NetworkValidationError(
                f"{label}: sign_mode = {self.sign_mode!r} is not one of "
                f"{', '.join(fp.SIGN_MODES)} (or None to infer it)")
        object.__setattr__(self, "sign_mode", sign_mode)
        self._check_weight_grid(label, weights, sign_mode,
                                "weights" if stored is not None else "conv kernel")
        if stored is not None:
            self.__dict__["_weights"] = _freeze(weights)
        object.__setattr__(self, "delays", self._normalise_delays(label, (self.n_dst, self.n_src)))
        if self.conv is not None:
            self._check_conv(label, stored is not None)

    @classmethod
    def conv2d(
        cls, src: str, dst: str, kernel: Any, in_shape: tuple[int, int, int],
        stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1, groups: int = 1, **fields: Any,
    ) -> Projection:
        """A convolutional projection (see :class:`Conv2d`); ``fields`` are the other
        :class:`Projection` fields (weight_exp, num_weight_bits, sign_mode, name, chip)."""
        return cls(src, dst, None, conv=Conv2d(kernel, in_shape, stride, padding, dilation, groups),
                   **fields)

    def _check_conv(self, label: str, dense_given: bool) -> None:
        if self.delays is not None:
            raise NetworkValidationError(
                f"{label}: delays = {self.delays!r} on a convolutional projection; Loihi 2's "
                "convolution (Lava's Conv process) has no delays: allowed None")
        if not dense_given:
            return
        expected = (self.conv.n_dst, self.conv.n_src)
        if self.weights.shape != expected or not np.array_equal(self.weights, self.conv.matrix()):
            raise NetworkValidationError(
                f"{label}: weights are not the convolution's: build the projection with "
                f"Projection.conv2d (expected shape {expected}, got {self.weights.shape})")

    @property
    def n_dst(self) -> int:
        stored = self.__dict__["_weights"]
        return self.conv.n_dst if stored is None else int(stored.shape[0])

    @property
    def n_src(self) -> int:
        stored = self.__dict__["_weights"]
        return self.conv.n_src if stored is None else int(stored.shape[1])

    def _check_weight_grid(self, label: str, weights: np.ndarray, sign_mode: str,
                           field_name: str) -> None:
        lo, hi = fp.weight_limits(sign_mode, self.chip)
        _check_range(label, field_name, weights, lo, hi, f" for sign_mode {sign_mode}")
        step = 1 << fp.dropped_weight_bits(sign_mode, self.num_weight_bits, self.chip)
        off_grid = weights % step != 0
        if off_grid.any():
            _, val, at = first_bad(weights, off_grid)
            raise NetworkValidationError(
                f"{label}: {field_name}{at} = {int(val)} is not on the Loihi 2 "
                f"grid; allowed multiples of {step} for sign_mode {sign_mode} with "
                f"num_weight_bits {self.num_weight_bits} (Lava would change it to "
                f"{int(fp.lava_weight_transform(val, sign_mode, self.num_weight_bits))};"
                f" snap with neurodeploy.fixed_point.lava_weight_transform)")

    def _normalise_delays(self, label: str, shape: tuple[int, int]) -> int | np.ndarray | None:
        if self.delays is None:
            return None
        arr = _as_int_array(label, "delays", self.delays)
        _check_range(label, "delays", arr, 0, self.chip.delay_max, f" steps ({self.chip.name})")
        if arr.ndim == 0:
            return int(arr)
        n_dst, n_src = shape
        if arr.shape in ((n_src,), (n_dst, n_src)):
            return _freeze(arr)
        raise NetworkValidationError(
            f"{label}: delays has shape {arr.shape}; expected None, an int, a per-source "
            f"vector ({n_src},) or a per-synapse array ({n_dst}, {n_src})")

    @property
    def delay_kind(self) -> str:
        """One of ``"none"``, ``"uniform"``, ``"axonal"`` (per source), ``"synaptic"``."""
        if self.delays is None:
            return "none"
        if isinstance(self.delays, int):
            return "uniform"
        return "axonal" if self.delays.ndim == 1 else "synaptic"

    def delay_slots(self, keep_zero: bool = False) -> list[Slot]:
        """The projection split by delay value, as the chip sums it: one :class:`Slot` per
        distinct delay, in increasing delay. No delays or one uniform delay give one slot
        over every source; axonal delays one slot per delay value holding those sources'
        columns; per-synapse delays one slot per delay value holding the weights with that
        delay (zeros elsewhere). All-zero slots are dropped unless ``keep_zero`` (they add
        0, also after a floor shift; QAT keeps them because its weights can move off 0).
        """
        w = np.asarray(self.weights, dtype=np.int64)
        kind = self.delay_kind
        if kind in ("none", "uniform"):
            return [Slot(self.max_delay, None, w, None)] if keep_zero or w.any() else []
        if kind == "axonal":
            axonal = np.asarray(self.delays, dtype=np.int64)
            cols_of = {int(d): np.flatnonzero(axonal == d) for d in np.unique(axonal)}
            return [Slot(d, cols, w[:, cols], None) for d, cols in cols_of.items()
                    if keep_zero or w[:, cols].any()]
        slots = []
        dmat = np.asarray(self.delays, dtype=np.int64)
        for d in np.unique(dmat):
            hit = dmat == d
            masked = np.where(hit, w, 0)
            cols = np.flatnonzero(hit.any(axis=0) if keep_zero else masked.any(axis=0))
            if cols.size:
                slots.append(Slot(int(d), cols, masked[:, cols], hit[:, cols]))
        return slots

    def input_bound_terms(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
        """``(row sums of |weights|, weight_exp, number of delay slots)`` for
        :func:`neurodeploy.kernel.input_bound`; ``weights`` replaces this projection's own
        (QAT's current weights)."""
        n_slots = 1 if self.delay_kind in ("none", "uniform") else len(np.unique(self.delays))
        if weights is None and self.conv is not None:  # from the kernel, even where the
            # dense equivalent has been built: summing it costs O(n_dst x n_src)
            return self.conv.row_sums(np.abs(self.conv.kernel)), self.weight_exp, n_slots
        w = np.abs(np.asarray(self.weights if weights is None else weights))
        return np.trunc(w.sum(axis=1)).astype(np.int64), self.weight_exp, n_slots


DENSE_CONV_MAX = 1 << 27
"""Most entries of a convolution's dense equivalent that :attr:`Projection.weights` builds
(1 GiB as int64)."""


def _get_weights(self: Projection) -> np.ndarray:
    stored = self.__dict__["_weights"]
    if stored is None:
        n_dst, n_src = self.conv.n_dst, self.conv.n_src
        if n_dst * n_src > DENSE_CONV_MAX:
            raise NetworkValidationError(
                f"{self.label}: this needs the convolution's dense equivalent ({n_dst:,} x "
                f"{n_src:,} weights), beyond the {DENSE_CONV_MAX:,} entries neurodeploy "
                "builds; the reference simulator and the netx and network files run it from "
                "its kernel")
        stored = _freeze(self.conv.matrix())
        self.__dict__["_weights"] = stored
    return stored


def _set_weights(self: Projection, value: np.ndarray | None) -> None:
    self.__dict__["_weights"] = value  # validated and frozen by __post_init__


# A data descriptor under the field's name: the dataclass __init__ stores through it and
# a convolutional projection's dense weights appear only when something reads them.
Projection.weights = property(  # type: ignore[assignment,method-assign]
    _get_weights, _set_weights, doc="(n_dst, n_src) int64 weights (read-only).")


@dataclass(frozen=True)
class Slot:
    """One delay value of a projection: ``weights @ s_src(t - 1 - delay)[cols]``.

    ``cols`` are the source indices the slot reads (None: every source); ``weights`` is
    the (n_dst, n_cols) int64 weights with this delay (zeros elsewhere); ``mask`` (per-synapse
    delays only) is the (n_dst, n_cols) bool map of the synapses with this delay.
    """

    delay: int
    cols: np.ndarray | None
    weights: np.ndarray
    mask: np.ndarray | None


class PopulationGraph:
    """What a fixed-point and a float network share: populations joined by projections
    (``src`` a population or ``"input"``), validated once here, and the graph queries.

    Subclasses are frozen dataclasses with ``n_inputs``, ``populations``, ``projections``
    and ``outputs`` fields; ``_validate_graph`` normalises the last three.
    """

    def _validate_graph(self, population_type: type, projection_type: type) -> None:
        kind = population_type.__name__
        if not isinstance(self.populations, Mapping) or not self.populations:
            raise NetworkValidationError(
                f"network: populations is empty; a network needs at least one {kind}")
        pops: dict[str, Any] = {}
        for name, pop in self.populations.items():
            if not isinstance(name, str) or not _NAME_RE.match(name) or name == INPUT:
                raise NetworkValidationError(
                    f"network: population name {name!r} is not allowed; use letters, digits, "
                    "'_', '.', '-' (starting with a letter or '_'), and not 'input'")
            if not isinstance(pop, population_type):
                raise NetworkValidationError(
                    f"population '{name}': expected a {kind}, got {type(pop).__name__}")
            pops[name] = pop if pop.name == name else pop.named(name)
        object.__setattr__(self, "populations", pops)
        projections = tuple(self.projections)
        known = ", ".join([INPUT, *pops])
        for proj in projections:
            if not isinstance(proj, projection_type):
                raise NetworkValidationError(
                    f"network: projections must be {projection_type.__name__} objects, got "
                    f"{type(proj).__name__}")
            for attr in ("src", "dst"):
                name = getattr(proj, attr)
                if name not in pops and not (attr == "src" and name == INPUT):
                    raise NetworkValidationError(
                        f"{proj.label}: {attr} = {name!r} is not a population of this network; "
                        f"known: {known}")
            expected = (self.size_of(proj.dst), self.size_of(proj.src))
            if (proj.n_dst, proj.n_src) != expected:
                raise NetworkValidationError(
                    f"{proj.label}: weights has shape {(proj.n_dst, proj.n_src)}; expected "
                    f"{expected} = (size of '{proj.dst}', size of '{proj.src}')")
        object.__setattr__(self, "projections", projections)
        if self.outputs is None:
            sources = {p.src for p in projections}
            outputs = [n for n in pops if n not in sources] or list(pops)
        else:
            outputs = [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)
            for name in outputs:
                if name not in pops:
                    raise NetworkValidationError(
                        f"network: outputs names unknown population {name!r}; "
                        f"known: {', '.join(pops)}")
        object.__setattr__(self, "outputs", tuple(outputs))

    # ------------------------------------------------------------------ queries
    def size_of(self, name: str) -> int:
        """Number of neurons of a population, or ``n_inputs`` for ``"input"``."""
        return self.n_inputs if name == INPUT else self.populations[name].size

    def incoming(self, name: str) -> list:
        """Projections whose destination is population ``name``, in network order."""
        return [p for p in self.projections if p.dst == name]

    @property
    def max_delay(self) -> int:
        return max((p.max_delay for p in self.projections), default=0)

    def hops(self) -> dict[str, int]:
        """Fewest projections from the input to each population it reaches: with one step
        of latency per projection, an input spike at step t moves population p at step
        t + hops[p] at the earliest (later with delays)."""
        dist = {INPUT: 0}
        queue = [INPUT]
        for src in queue:  # breadth first: the queue grows while it is read
            for p in self.projections:
                if p.src == src and p.dst not in dist:
                    dist[p.dst] = dist[src] + 1
                    queue.append(p.dst)
        del dist[INPUT]
        return dist


@dataclass(frozen=True, eq=False)
class FixedPointNetwork(PopulationGraph):
    """A validated network of LIF populations and integer projections.

    ``n_inputs`` input channels feed projections whose ``src`` is ``"input"``; each carries
    per step a count 0..``input_max`` (1: binary spikes, the default; more: graded spikes,
    e.g. event counts of a frame, up to the chip's ``graded_spike_max``), which multiplies
    the weights it reaches.
    ``populations`` maps names to :class:`LIFPopulation`; ``projections`` may form
    cycles (recurrence). ``outputs`` names the populations whose spikes are the
    network's answer (default: populations that project nowhere, else all).
    Time convention: 0-based steps, one step of latency per projection.
    """

    n_inputs: int
    populations: Mapping[str, LIFPopulation]
    projections: Sequence[Projection]
    outputs: Sequence[str] | None = None
    chip: ChipFormat = field(default=LOIHI2, compare=False, repr=False)
    input_max: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_max", _scalar(
            "network", "input_max", self.input_max, 1, self.chip.graded_spike_max,
            f" (graded input counts on {self.chip.name})"))
        object.__setattr__(self, "n_inputs", _count("network", "n_inputs", self.n_inputs))
        self._validate_graph(LIFPopulation, Projection)
        parts = [*((f"population '{n}'", p) for n, p in self.populations.items()),
                 *((p.label, p) for p in self.projections)]
        for label, part in parts:
            if part.chip != self.chip:
                raise NetworkValidationError(
                    f"{label}: validated for chip {part.chip.name!r}, but the network is for "
                    f"{self.chip.name!r}; build both for the same ChipFormat")

    # ------------------------------------------------------------------ queries
    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations.values())

    def strongly_connected_order(self) -> list[list[str]]:
        """Populations grouped into strongly connected components, in topological order.

        A component with more than one population, or with a self-projection, is
        recurrent and must be simulated step by step; the others can be computed for a
        block of steps at once once their sources are known.
        """
        names = list(self.populations)
        succ: dict[str, list[str]] = {n: [] for n in names}
        for p in self.projections:
            if p.src != INPUT:
                succ[p.src].append(p.dst)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        comps: list[list[str]] = []

        def visit(v: str) -> None:  # Tarjan; networks are small, recursion depth is fine
            index[v] = low[v] = len(index)  # the visit's number: index grows by one per visit
            stack.append(v)
            on_stack.add(v)
            for w in succ[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:  # v and what the stack holds above it form a component
                comp = stack[stack.index(v):]
                del stack[len(stack) - len(comp):]
                on_stack.difference_update(comp)
                comps.append(sorted(comp, key=names.index))

        for n in names:
            if n not in index:
                visit(n)
        comps.reverse()  # Tarjan emits sinks first
        return comps

    def max_abs_input(self, name: str, weights: Sequence[np.ndarray] | None = None) -> int:
        """Upper bound of |a_in| (summed, shifted projection input) of population ``name``;
        ``weights[k]`` replaces ``projections[k]``'s weights (QAT's current ones). A graded
        input count multiplies the weights it reaches."""
        def terms(k: int, p: Projection) -> tuple[np.ndarray, int, int]:
            rows, exp, slots = p.input_bound_terms(None if weights is None else weights[k])
            return (rows * self.input_max if p.src == INPUT else rows), exp, slots

        return input_bound(terms(k, p) for k, p in enumerate(self.projections) if p.dst == name)

    def emulates_int32(self, name: str, weights: Sequence[np.ndarray] | None = None) -> bool:
        """Whether population ``name``'s input can overflow Lava's int32 buffers, so that
        backends emulate their wraps (``neurodeploy.kernel.lif``); ``weights`` as in
        :meth:`max_abs_input`."""
        return self.max_abs_input(name, weights) > self.chip.safe_input

    def lif_constants(self) -> dict[str, LIFConstants]:
        """Every population's integer constants for the kernel, built once per call."""
        return {name: LIFConstants.of(pop, self.emulates_int32(name), self.chip)
                for name, pop in self.populations.items()}
