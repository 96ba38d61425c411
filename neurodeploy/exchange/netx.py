"""lava-dl netx files (``.net``, HDF5) in and out, for dense and convolutional networks.

netx (``lava.lib.dl.netx.hdf5.Network``) is how Loihi 2 users load a network on the chip
(``Loihi2HwCfg``) or on Lava's CPU simulator. A file is a chain of layers
``/layer/0 .. /layer/n-1``, every value a dataset: ``type`` (``input``, ``flatten``,
``dense``, ``dense_rec``, ``conv``, ...), ``shape`` (stored z, y, x: C, H, W), ``weight``
(out, in; a conv's (out, in / groups, kH, kW) with ``stride``, ``padding``, ``dilation``
as (y, x) and ``groups``), ``weight_rec``, ``bias``, ``delay`` and a ``neuron/`` group
(``type`` CUBA or LOIHI, ``iDecay``, ``vDecay``, ``vThMant``). This module writes and
reads such files with h5py; lava-dl itself is not needed. The mapping (see ``docs/netx.md``):

- a CUBA/LOIHI neuron is Lava's LIF with ``du = iDecay - 1``, ``dv = vDecay``,
  ``vth = vThMant``, ``bias_mant = bias``, ``bias_exp = 6``;
- netx ignores the file's weight exponent: it recomputes a weight shift ``s``, the
  number of weight bits and the sign mode from the integer weights
  (``optimize_weight_bits``) and hands Lava ``weight << s`` with ``weight_exp = -s``, so
  a layer adds the plain sum of the file's integer weights over the spiking sources;
  ``dense_rec`` shifts its two weight matrices together, and with delays it drops the
  exponent (Lava then adds ``weight << s``);
- ``delay``: a scalar, a vector over the outputs (checked first) or over the inputs, or a
  full (out, in) matrix; clipped to 0..62 and truncated to integers.

Time alignment: feed input spikes s[t] (0-based steps) to ``Network.inp`` (for example
from a ``RingBuffer``). When the input layer has no neuron (what :func:`write_netx`
writes), every layer's spikes in netx at step t are neurodeploy's at step t (lag 0).
An input layer with a neuron takes the spikes directly on its neuron's input, with no
synapse; neurodeploy models it as a population behind a one-to-one projection, one hop
later, so its spikes trail netx's by :attr:`NetxImport.lag` = 1 step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from neurodeploy import fixed_point as fp
from neurodeploy.errors import InputError, NetworkValidationError
from neurodeploy.network import INPUT, FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.network_io import atomic_output, check_input_file

#: netx gives every CUBA neuron this bias exponent, whatever the file says.
NETX_BIAS_EXP = 6
#: netx clips delays to this many steps.
NETX_DELAY_MAX = 62
#: Layer types this module reads (netx also has conv, average, dense_comp, ...).
READ_TYPES = ("input", "flatten", "dense", "dense_rec", "conv")
NEURON_TYPES = ("CUBA", "LOIHI")


@dataclass(frozen=True)
class NetxImport:
    """A netx file as neurodeploy reads it.

    ``lag``: steps by which neurodeploy's spikes trail netx's (0, or 1 when the input layer
    has a neuron; see the module docstring). ``warnings``: what netx itself would change
    (delays clipped to 62, fractional values truncated).
    """

    network: FixedPointNetwork
    lag: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------ netx's rules
def netx_weight_shift(weights: np.ndarray) -> tuple[np.ndarray, int, int]:
    """netx's ``optimize_weight_bits`` on integer weights: ``(weights << s, num_weight_bits,
    weight_exp = -s)``, mixed-sign weights clipped to -256..254 first as netx does. Raises
    ValueError where netx's result is undefined (all weights zero; weights beyond 8 bits,
    which need a negative shift)."""
    w = np.asarray(weights, dtype=np.int64)
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):  # netx clips, and so do we
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:
        scale, signed = -256 / lo, 0
    elif lo >= 0:
        if hi == 0:
            raise ValueError("all weights are zero; netx cannot derive their exponent")
        scale, signed = 255 / hi, 0
    else:
        scale, signed = min(127 / hi, -128 / lo), 1
    shift = int(np.floor(np.log2(scale))) + signed
    if shift < 0:
        raise ValueError(f"weights span {lo}..{hi}, beyond the 8 bits netx shifts into")
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    return w << shift, 8 - shift - n, -shift


def _effective(weights: np.ndarray, weight_exp: int) -> np.ndarray | None:
    """Integers V with ``shift(sum W s, weight_exp) == sum V s`` for every spike vector s,
    or None when the shift floors (a weight is not a multiple of ``2**-weight_exp``)."""
    w = np.asarray(weights, dtype=np.int64)
    if weight_exp >= 0:
        return w << weight_exp
    if np.any(w % (1 << -weight_exp)):
        return None
    return w >> -weight_exp


def _lava_synapse(weights: np.ndarray, num_weight_bits: int) -> np.ndarray:
    """The weights Lava's Dense keeps (it infers the sign mode from the weights itself);
    num_weight_bits above 8 drops no bit."""
    mode = fp.infer_sign_mode(weights)
    bits = min(num_weight_bits, fp.WEIGHT_BITS_MAX + (1 if mode == "mixed" else 0))
    k = fp.dropped_weight_bits(mode, bits)
    if k <= 0:
        lo, hi = fp.weight_limits(mode)
        return np.clip(weights, lo, hi)
    return fp.lava_weight_transform(weights, mode, max(bits, 1))


def netx_synapses(weights: Sequence[np.ndarray], keep_exp: bool = True
                  ) -> tuple[list[np.ndarray], int]:
    """What Lava runs for a layer's weight matrices (one, or ``dense``'s and
    ``dense_rec``'s shifted together): their weights and one weight_exp (0 when
    ``keep_exp`` is False: netx's ``dense_rec`` with delays drops it)."""
    widths = [w.shape[1] for w in weights]
    shifted, bits, exp = netx_weight_shift(np.hstack(weights))
    kept = _lava_synapse(shifted, bits)
    parts = np.split(kept, np.cumsum(widths)[:-1], axis=1)
    return parts, exp if keep_exp else 0


# ----------------------------------------------------------------------------- writing
def _chain(net: FixedPointNetwork) -> list[tuple[str, Projection, Projection | None]]:
    """The populations as netx's layer chain: (name, feed-forward projection, recurrent
    projection or None), from the input on; a one-line InputError for any other graph."""
    by_dst: dict[str, list[Projection]] = {name: [] for name in net.populations}
    for p in net.projections:
        twin = next((q for q in by_dst[p.dst] if q.src == p.src), None)
        if twin is not None:  # a split weight projection (coarse + fine grids)
            raise InputError(f"{p.label}: a second weight grid from '{p.src}' into '{p.dst}' "
                             f"beside {twin.label} (a split projection); netx layers hold one "
                             "weight matrix per input: quantize with --weight-split off")
        by_dst[p.dst].append(p)
    chain, src, left = [], INPUT, set(net.populations)
    while left:
        nxt = [p for p in net.projections if p.src == src and p.dst != src]
        if len(nxt) != 1 or nxt[0].dst not in left:
            where = "the input" if src == INPUT else f"population '{src}'"
            raise InputError(f"{where} projects to {len(nxt)} other populations; netx files "
                             "hold a chain input -> layer -> layer (each with an optional "
                             "self-projection)")
        ff, name = nxt[0], nxt[0].dst
        rec = [p for p in by_dst[name] if p.src == name]
        extra = [p for p in by_dst[name] if p is not ff and p.src != name]
        if extra:
            raise InputError(f"{extra[0].label}: netx layers take one feed-forward input "
                             "(the previous layer) and an optional self-projection")
        chain.append((name, ff, rec[0] if rec else None))
        left.discard(name)
        src = name
    return chain


def netx_layers(net: FixedPointNetwork) -> list[str]:
    """The populations in the order of the netx file's layers after the input (layer i + 1
    of the file is population i); a one-line InputError when ``net`` is not a chain."""
    return [name for name, _, _ in _chain(net)]


def _uniform(pop: LIFPopulation, name: str) -> int:
    if not pop.is_uniform(name):
        raise InputError(f"population '{pop.name}': {name} differs between neurons; netx's "
                         f"CUBA neuron takes one {name} per layer")
    return int(pop.param(name)[0])


def _bias(pop: LIFPopulation) -> np.ndarray | None:
    bias = fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp"))
    if not bias.any():
        return None
    unit = 1 << NETX_BIAS_EXP
    mant = bias // unit
    bad = (bias % unit != 0) | (mant < fp.BIAS_MANT_MIN) | (mant > fp.BIAS_MANT_MAX)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"population '{pop.name}': bias[{i}] = {int(bias[i])} (bias_mant "
                         f"<< bias_exp) is not bias_mant << 6 with bias_mant in "
                         f"{fp.BIAS_MANT_MIN}..{fp.BIAS_MANT_MAX}; netx fixes bias_exp at 6")
    return mant


def _delay_data(proj: Projection) -> np.ndarray | None:
    """The ``delay`` dataset netx reads back as ``proj``'s delays (None: no delay)."""
    kind = proj.delay_kind
    if kind == "none":
        return None
    if kind == "uniform":
        return np.array(proj.delays, dtype=np.float32)
    if kind == "axonal" and proj.n_src != proj.n_dst:  # netx takes length-out vectors first
        return np.asarray(proj.delays, dtype=np.float32)
    return proj.delay_matrix().astype(np.float32)


def _layer_weights(name: str, ff: Projection, rec: Projection | None) -> list[np.ndarray]:
    """The integer weights to write so that netx's layer adds exactly what ``ff`` (and
    ``rec``) add; a one-line InputError naming the projection where that is impossible."""
    projs = [ff] if rec is None else [ff, rec]
    if rec is not None and (ff.delays is not None or rec.delays is not None):
        raise InputError(f"population '{name}': netx's dense_rec gives its recurrent synapses "
                         "the feed-forward delays and drops the weight exponent; write "
                         "recurrent layers without delays")
    wanted = []
    for p in projs:
        eff = _effective(p.weights, p.weight_exp)
        if eff is None:
            raise InputError(f"{p.label}: weight_exp {p.weight_exp} floors the summed input, "
                             "and netx recomputes the exponent from the weights (it cannot "
                             f"floor); every weight would need to be a multiple of "
                             f"{1 << -p.weight_exp}")
        wanted.append(eff)
    try:
        kept, exp = netx_synapses(wanted)
    except ValueError as exc:
        raise InputError(f"{ff.label}: {exc}") from None
    for p, want, got in zip(projs, wanted, kept, strict=True):
        if not np.array_equal(_effective(got, exp), want):
            raise InputError(f"{p.label}: netx would change its weights (it recomputes the "
                             "exponent and sign mode from them); no exact netx layer "
                             "(quantize with --netx: every projection at weight_exp 0)")
    return wanted


def _conv_layer(name: str, ff: Projection, rec: Projection | None,
                prev_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The datasets of a netx ``conv`` layer that adds what ``ff`` adds: netx hands Lava's
    Conv the file's integer kernel with no exponent (its fixed_pt model ignores one)."""
    conv = ff.conv
    if rec is not None:
        raise InputError(f"population '{name}': netx's conv layers have no recurrent "
                         "synapses; write it without the self-projection")
    if tuple(prev_shape) != conv.in_shape:
        raise InputError(f"{ff.label}: convolves a source of shape {conv.in_shape}, but the "
                         f"previous netx layer has shape {tuple(prev_shape)}: netx feeds a conv "
                         "layer the previous layer's (C, H, W) output")
    kernel = _effective(conv.kernel, ff.weight_exp)
    if kernel is None or kernel.min() < -256 or kernel.max() > 255:
        raise InputError(f"{ff.label}: netx's conv layer takes integer weights without an "
                         f"exponent; the kernel with weight_exp {ff.weight_exp} is not "
                         "integers within -256..255 (quantize with --netx: every projection "
                         "at weight_exp 0)")
    return {"type": np.array([b"conv"], dtype="S10"),
            "shape": np.array(conv.out_shape, dtype=np.int64), "weight": kernel.astype(np.float32),
            **{key: np.array(getattr(conv, key), dtype=np.int64)
               for key in ("stride", "padding", "dilation", "groups")}}


def _dense_layer(name: str, ff: Projection, rec: Projection | None, n_in: int,
                 size: int) -> dict[str, np.ndarray]:
    weights = _layer_weights(name, ff, rec)
    layer = {"type": np.array([b"dense_rec" if rec is not None else b"dense"], dtype="S10"),
             "shape": np.array([size], dtype=np.int64), "inFeatures": np.array(n_in),
             "outFeatures": np.array(size), "weight": weights[0].astype(np.float32)}
    if rec is not None:
        layer["weight_rec"] = weights[1].astype(np.float32)
    if (delay := _delay_data(ff)) is not None:
        layer["delay"] = delay
    return layer


def _bias_data(pop: LIFPopulation, shape: tuple[int, ...]) -> np.ndarray | None:
    """The ``bias`` dataset: per neuron for a dense layer; for a conv layer per channel
    when every channel's neurons share one bias, else per neuron in netx's (W, H, C)."""
    mant = _bias(pop)
    if mant is None or len(shape) == 1:
        return mant
    by_channel = mant.reshape(shape)
    return (by_channel[:, 0, 0] if np.all(by_channel == by_channel[:, :1, :1])
            else by_channel.transpose(2, 1, 0))


def write_netx(net: FixedPointNetwork, path: str | os.PathLike[str]) -> Path:
    """Write ``net`` as a netx file that lava-dl's netx runs with neurodeploy's integers.

    ``net`` must be a chain: the input feeds one population, each population the next,
    each through a dense projection with an optional self-projection (``dense_rec``,
    without delays) or through a convolution (``conv``, fed by the input or a
    convolution's population; a dense layer after a convolution gets netx's ``flatten``,
    which reads the neurons in (C, H, W) order, neurodeploy's); one du, dv and vth per
    population; biases that are ``bias_mant << 6``; weight exponents that do not floor.
    Anything else raises a one-line InputError naming the population or projection and
    the reason; no file is written then. Time: lag 0 (module docstring). The file also
    carries each layer's population name (``name``) and weight exponent
    (``neuron/wgtExp``), which netx ignores and :func:`read_netx` uses to give back the
    same integers. Written atomically.
    """
    chain = _chain(net)
    first = chain[0][1].conv
    shape: tuple[int, ...] = first.in_shape if first is not None else (net.n_inputs,)
    layers: list[dict[str, np.ndarray]] = [{"type": np.array([b"input"], dtype="S10"),
                                            "shape": np.array(shape, dtype=np.int64)}]
    for name, ff, rec in chain:
        pop = net.populations[name]
        if ff.conv is not None:
            layer = _conv_layer(name, ff, rec, shape)
        else:
            if len(shape) > 1:
                layers.append({"type": np.array([b"flatten"], dtype="S10")})
            layer = _dense_layer(name, ff, rec, int(np.prod(shape)), pop.size)
        shape = tuple(int(v) for v in layer["shape"])
        layer["name"] = np.bytes_(name)
        if (bias := _bias_data(pop, shape)) is not None:
            layer["bias"] = bias.astype(np.float32)
        layer.update({"neuron/type": np.bytes_("CUBA"), "neuron/iDecay": _uniform(pop, "du") + 1,
                      "neuron/vDecay": _uniform(pop, "dv"), "neuron/vThMant":
                      _uniform(pop, "vth"), "neuron/refDelay": 1,
                      "neuron/wgtExp": ff.weight_exp, "neuron/gradedSpike": False})
        layers.append(layer)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f["simulation/Ts"] = 1
        for i, layer in enumerate(layers):
            for key, value in layer.items():
                f[f"layer/{i}/{key}"] = value
    return Path(path)


# ----------------------------------------------------------------------------- reading
def _open(path: Path) -> h5py.File:
    check_input_file(path, "a netx file (.net, HDF5)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).split("(")[0].strip() or type(exc).__name__
        raise InputError(f"{path}: not an HDF5 file ({reason}); allowed: a netx file "
                         "(.net) as lava-dl writes it") from None


def _dataset(g: h5py.Group, key: str, where: str, numeric: bool = True) -> np.ndarray:
    if key not in g or not isinstance(g[key], h5py.Dataset):
        raise InputError(f"{where}: dataset '{key}' is missing; netx needs it")
    arr = np.asarray(g[key][()])
    if numeric and (not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)
                    or not np.all(np.isfinite(arr))):
        raise InputError(f"{where}: '{key}' is not a finite number array; netx reads numbers")
    return arr


def _text(g: h5py.Group, key: str, where: str) -> str:
    arr = _dataset(g, key, where, numeric=False)
    value = arr.ravel()[0] if arr.size else b""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def _int_param(value: np.ndarray) -> int | np.ndarray:
    arr = np.trunc(np.asarray(value, dtype=np.float64)).astype(np.int64).ravel()
    return int(arr[0]) if arr.size == 1 else arr


def _layer_kind(g: h5py.Group, where: str) -> str:
    kind = _text(g, "type", where)
    if kind in ("dense", "dense_rec", "conv") and "neuron" not in g:
        return (f"{kind} without a neuron (netx's non-leaky integrator: du = -1, "
                "dv = 4096, vth = 2**17, outside Loihi 2's ranges)")
    if kind in ("input", "dense", "dense_rec", "conv") and "neuron" in g:
        ntype = _text(g["neuron"], "type", f"{where}/neuron")
        if ntype not in NEURON_TYPES:
            return f"{kind} with {ntype} neurons"
    if "neuron" in g and "messageBits" in g["neuron"] and \
            int(np.asarray(g["neuron/messageBits"][()]).ravel()[0]) > 0:
        return f"{kind} with graded spikes (messageBits > 0)"
    return "" if kind in READ_TYPES else kind


def _population(g: h5py.Group, where: str, shape: tuple[int, ...], bias: bool
                ) -> LIFPopulation:
    """The layer's neurons; ``shape`` is (size,) or a conv layer's (C, H, W), whose bias
    netx takes per channel (C,) or per neuron in its (W, H, C) order."""
    params = {key: _int_param(_dataset(g["neuron"], key, f"{where}/neuron"))
              for key in ("iDecay", "vDecay", "vThMant")}
    size = int(np.prod(shape))
    bias_mant = 0
    if bias and "bias" in g:
        bias_mant = _int_param(_dataset(g, "bias", where))
        if isinstance(bias_mant, np.ndarray) and len(shape) == 3:
            if bias_mant.size == shape[0]:
                bias_mant = np.repeat(bias_mant, shape[1] * shape[2])
            elif bias_mant.size == size:
                bias_mant = bias_mant.reshape(shape[::-1]).transpose(2, 1, 0).ravel()
        if isinstance(bias_mant, np.ndarray) and bias_mant.size != size:
            raise InputError(f"{where}: bias has {bias_mant.size} values; expected 1 or {size}"
                             + (f" or {shape[0]} (one per channel)" if len(shape) == 3 else ""))
    return LIFPopulation(size, du=params["iDecay"] - 1, dv=params["vDecay"],
                         vth=params["vThMant"], bias_mant=bias_mant,
                         bias_exp=NETX_BIAS_EXP if np.any(bias_mant) else 0)


def _weights(g: h5py.Group, key: str, where: str, n_out: int, n_in: int) -> np.ndarray:
    w = np.trunc(_dataset(g, key, where).astype(np.float64)).astype(np.int64)
    if w.ndim == 1 and w.size % n_out == 0:
        w = w.reshape(n_out, -1)
    if w.shape != (n_out, n_in):
        raise InputError(f"{where}: {key} has shape {w.shape}; expected ({n_out}, {n_in}) (this "
                         "layer's size, the previous layer's size): the layers do not chain")
    return w


def _delays(g: h5py.Group, where: str, shape: tuple[int, int], warnings: list[str]
            ) -> int | np.ndarray | None:
    if "delay" not in g:
        return None
    d = _dataset(g, "delay", where).astype(np.float64)
    if d.size and d.min() < 0:
        raise InputError(f"{where}: delay has {d.min():g} < 0; allowed 0..{NETX_DELAY_MAX}")
    if d.size and d.max() > NETX_DELAY_MAX:
        warnings.append(f"{where}: delays up to {d.max():g} clipped to {NETX_DELAY_MAX}, "
                        "as netx does")
        d = np.clip(d, 0, NETX_DELAY_MAX)
    if np.any(d != np.trunc(d)):
        warnings.append(f"{where}: fractional delays truncated to integers, as netx does")
    d = np.trunc(d).astype(np.int64)
    n_out, n_in = shape
    if d.ndim == 0:
        return int(d)
    if d.ndim == 1 and d.size == n_out:  # netx checks the outputs first
        return np.repeat(d.reshape(-1, 1), n_in, axis=1)
    if (d.ndim == 1 and d.size == n_in) or d.shape == shape:
        return d
    raise InputError(f"{where}: delay has shape {d.shape}; expected a scalar, ({n_out},), "
                     f"({n_in},) or {shape}")


def _projection(make: Callable[[np.ndarray, int], Projection], lava_w: np.ndarray, exp: int,
                hint: int | None) -> Projection:
    """The projection (``make(weights, weight_exp)``) that adds what Lava's synapse
    (``lava_w``, ``exp``) adds, written with the exponent ``hint`` (the file's
    ``neuron/wgtExp``) where that is exact and on Loihi 2's grid, else with exponent 0,
    else as Lava holds it, else doubled with exponent -1 (odd mixed-sign integers, which
    Lava's Conv takes as they are: the floor of an even sum halved is exact)."""
    eff = _effective(lava_w, exp)
    forms = [(lava_w, exp)]
    if eff is not None:
        forms = [(eff, 0), (lava_w, exp), (eff << 1, -1)]
        rep = None if hint is None else _effective(eff, -hint) if hint > 0 else eff << -hint
        if rep is not None and np.array_equal(_effective(rep, hint), eff):
            forms.insert(0, (rep, hint))
    error = None
    for w, e in forms:
        try:
            return make(w, e)
        except NetworkValidationError as exc:
            error = error or exc
    raise error  # type: ignore[misc]


def _conv(g: h5py.Group, where: str, src: str, name: str, in_shape: tuple[int, ...],
          shape: tuple[int, ...], hint: int | None) -> Projection:
    """A conv layer's projection: the file's kernel (out, in / groups, kH, kW), a
    correlation over the previous layer's (C, H, W) output, stride, padding and dilation
    stored (y, x); Lava's Conv adds the plain integer sums (no exponent)."""
    kernel = np.trunc(_dataset(g, "weight", where).astype(np.float64)).astype(np.int64)
    while kernel.ndim > 4 and kernel.shape[-1] == 1:  # lava-dl writes (out, in, kH, kW, 1)
        kernel = kernel[..., 0]
    if len(in_shape) != 3 or kernel.ndim != 4:
        raise InputError(f"{where}: conv of a source of shape {in_shape} with a kernel of "
                         f"shape {kernel.shape}; netx convolves a (C, H, W) layer with an "
                         "(out, in / groups, kH, kW) kernel")

    def pair(key: str, default: int) -> tuple[int, int]:
        v = _int_param(_dataset(g, key, where)) if key in g else default
        return tuple(int(x) for x in np.broadcast_to(np.asarray(v, dtype=np.int64).ravel(), (2,)))

    groups = int(_int_param(_dataset(g, "groups", where))) if "groups" in g else 1

    def make(w: np.ndarray, e: int) -> Projection:
        return Projection.conv2d(src, name, w, in_shape, pair("stride", 1),
                                 pair("padding", 0), pair("dilation", 1), groups,
                                 weight_exp=e)

    proj = _projection(make, kernel, 0, hint)
    if proj.conv.out_shape != tuple(shape):
        raise InputError(f"{where}: conv output is {proj.conv.out_shape} for the input {in_shape}, "
                         f"but the layer's shape is {tuple(shape)}: the layers do not chain")
    return proj


def import_netx(path: str | os.PathLike[str], num_layers: int | None = None,
                reset_interval: int = 0) -> NetxImport:
    """Read a netx file into the integer IR with netx's semantics (module docstring).

    ``num_layers`` reads only the first layers, as netx's own argument does.
    ``reset_interval`` > 0 gives the populations netx's timed state resets
    (``netx.hdf5.Network(reset_interval=...)``, offset 0): the k-th neuron layer (0-based,
    the input layer with a neuron included) has u and v set to 0 before steps t with
    ``t % reset_interval == k % reset_interval``. Layers other
    than input, flatten, dense, dense_rec and conv with CUBA/LOIHI neurons raise one InputError
    listing every one of them; a missing dataset, a shape that does not chain or a value
    outside Loihi 2's ranges raises a one-line InputError naming the layer.
    """
    path = Path(path)
    if reset_interval < 0:
        raise InputError(f"{path}: reset_interval = {reset_interval}; allowed >= 0")
    with _open(path) as f:
        if "layer" not in f or not isinstance(f["layer"], h5py.Group) or not len(f["layer"]):
            raise InputError(f"{path}: no 'layer' group; a netx file holds layer/0 .. "
                             "layer/n-1")
        count = len(f["layer"])
        keys = [str(i) for i in range(count)]
        if sorted(f["layer"].keys(), key=lambda k: (len(k), k)) != keys:
            raise InputError(f"{path}: layers are {sorted(f['layer'].keys())}; expected "
                             f"layer/0 .. layer/{count - 1}")
        groups = [f[f"layer/{k}"] for k in keys[:num_layers]]
        unsupported = [f"{i} ({kind})" for i, g in enumerate(groups)
                       if (kind := _layer_kind(g, f"{path}: layer {i}"))]
        if unsupported:
            raise InputError(f"{path}: unsupported layers: {', '.join(unsupported)}; "
                             f"neurodeploy reads {', '.join(READ_TYPES)} with "
                             f"{'/'.join(NEURON_TYPES)} neurons (import_netx(path, "
                             "num_layers=N) reads the first N layers, as netx does)")
        imported = _build(path, groups)
    if not reset_interval:
        return imported
    net = imported.network
    pops = {name: replace(pop, reset_interval=reset_interval, reset_offset=k % reset_interval)
            for k, (name, pop) in enumerate(net.populations.items())}
    return replace(imported, network=FixedPointNetwork(
        net.n_inputs, pops, net.projections, outputs=net.outputs, input_max=net.input_max))


def _one_to_one(name: str, shape: tuple[int, ...]) -> Projection:
    """Input spikes into an input layer's neurons, one to one with weight 1: a depthwise
    1 x 1 convolution over (C, H, W) (a (size, 1, 1) column for other shapes), so that an
    image-sized input layer needs no (size, size) matrix."""
    chw = shape if len(shape) == 3 else (int(np.prod(shape)), 1, 1)
    return Projection.conv2d(INPUT, name, np.ones((chw[0], 1, 1, 1), np.int64), chw,
                             groups=chw[0])


def _build(path: Path, groups: list[h5py.Group]) -> NetxImport:
    warnings: list[str] = []
    pops: dict[str, LIFPopulation] = {}
    projs: list[Projection] = []
    n_inputs, src, lag, prev = None, INPUT, 0, ()
    for i, g in enumerate(groups):
        where = f"{path}: layer {i}"
        kind = _text(g, "type", where)
        if kind == "flatten":
            continue
        shape = tuple(int(v) for v in np.atleast_1d(_dataset(g, "shape", where)))
        size = int(np.prod(shape))
        name = _text(g, "name", where) if "name" in g else f"layer{i}"
        try:
            if kind == "input":
                if n_inputs is not None:
                    raise InputError(f"{where}: a second input layer; netx files have one")
                n_inputs, prev = size, shape
                if "neuron" in g:  # spikes go straight to the neuron: no synapse, no bias
                    pops[name] = _population(g, where, shape, bias=False)
                    projs.append(_one_to_one(name, shape))
                    src, lag = name, 1
                continue
            if n_inputs is None:
                raise InputError(f"{where}: {kind} before the input layer; netx files start "
                                 "with layer 0 of type input")
            hint = (int(_int_param(_dataset(g["neuron"], "wgtExp", where)))
                    if "wgtExp" in g["neuron"] else None)
            pops[name] = _population(g, where, shape, bias=True)
            if kind == "conv":
                projs.append(_conv(g, where, src, name, prev, shape, hint))
            else:
                projs += _dense(g, where, kind, src, name, int(np.prod(prev)), size, hint,
                                warnings)
            src, prev = name, shape
        except NetworkValidationError as exc:
            raise InputError(f"{where}: {exc}") from None
    if not pops:
        raise InputError(f"{path}: no dense or conv layer; nothing to run")
    try:
        net = FixedPointNetwork(n_inputs, pops, projs, outputs=[src])
    except NetworkValidationError as exc:
        raise InputError(f"{path}: {exc}") from None
    return NetxImport(net, lag, tuple(warnings))


def _dense(g: h5py.Group, where: str, kind: str, src: str, name: str, n_in: int, size: int,
           hint: int | None, warnings: list[str]) -> list[Projection]:
    """A dense or dense_rec layer's projections, with netx's weight shift and delays."""
    w = [_weights(g, "weight", where, size, n_in)]
    if kind == "dense_rec":
        w.append(_weights(g, "weight_rec", where, size, size))
    delays = _delays(g, where, (size, n_in), warnings)
    if kind == "dense_rec" and delays is not None and np.ndim(delays) and \
            np.shape(delays) != (size, size):
        raise InputError(f"{where}: dense_rec delays of shape {np.shape(delays)} "
                         "cannot delay its recurrent synapses too, as netx does")
    try:
        kept, exp = netx_synapses(w, keep_exp=not (kind == "dense_rec" and delays is not None))
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    projs = [_projection(lambda v, e: Projection(src, name, v, weight_exp=e, delays=delays),
                         kept[0], exp, hint)]
    if kind == "dense_rec":
        rec_delays = (delays if delays is None or np.ndim(delays) == 0
                      else np.broadcast_to(delays, (size, size)).copy())
        projs.append(_projection(lambda v, e: Projection(name, name, v, weight_exp=e,
                                                         delays=rec_delays),
                                 kept[1], exp, hint))
    return projs


def read_netx(path: str | os.PathLike[str], num_layers: int | None = None,
              reset_interval: int = 0) -> FixedPointNetwork:
    """The integer network of a netx file (:func:`import_netx`'s ``network``)."""
    return import_netx(path, num_layers, reset_interval).network
