"""lava-dl netx files (``.net``, HDF5) in and out, for dense networks.

netx (``lava.lib.dl.netx.hdf5.Network``) is how Loihi 2 users load a network on the chip
(``Loihi2HwCfg``) or on Lava's CPU simulator. A file is a chain of layers
``/layer/0 .. /layer/n-1``, every value a dataset: ``type`` (``input``, ``flatten``,
``dense``, ``dense_rec``, ...), ``shape`` (stored z, y, x), ``weight`` (out, in),
``weight_rec``, ``bias``, ``delay`` and a ``neuron/`` group (``type`` CUBA or LOIHI,
``iDecay``, ``vDecay``, ``vThMant``). This module writes and reads such files with
h5py; lava-dl itself is not needed. The mapping (see ``docs/netx.md``):

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
from collections.abc import Sequence
from dataclasses import dataclass, field
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
READ_TYPES = ("input", "flatten", "dense", "dense_rec")
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
        by_dst[p.dst].append(p)
    chain, src, left = [], INPUT, set(net.populations)
    while left:
        nxt = [p for p in net.projections if p.src == src and p.dst != src]
        if len(nxt) != 1 or nxt[0].dst not in left:
            where = "the input" if src == INPUT else f"population '{src}'"
            raise InputError(f"{where} projects to {len(nxt)} other populations; netx files "
                             "hold a chain input -> layer -> layer (each with an optional "
                             "self-projection)")
        ff = nxt[0]
        name = ff.dst
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
    if np.any(bias % unit) or mant.min() < fp.BIAS_MANT_MIN or mant.max() > fp.BIAS_MANT_MAX:
        i = int(np.flatnonzero((bias % unit != 0) | (mant < fp.BIAS_MANT_MIN)
                               | (mant > fp.BIAS_MANT_MAX))[0])
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
            step = 1 << -p.weight_exp
            raise InputError(f"{p.label}: weight_exp {p.weight_exp} floors the summed input, "
                             "and netx recomputes the exponent from the weights (it cannot "
                             f"floor); every weight would need to be a multiple of {step}")
        wanted.append(eff)
    try:
        kept, exp = netx_synapses(wanted)
    except ValueError as exc:
        raise InputError(f"{ff.label}: {exc}") from None
    for p, want, got in zip(projs, wanted, kept, strict=True):
        if not np.array_equal(_effective(got, exp), want):
            raise InputError(f"{p.label}: netx would change its weights (it recomputes the "
                             "exponent and sign mode from them); no exact netx layer")
    return wanted


def write_netx(net: FixedPointNetwork, path: str | os.PathLike[str]) -> Path:
    """Write ``net`` as a netx file that lava-dl's netx runs with neurodeploy's integers.

    ``net`` must be a chain: the input feeds one population, each population the next,
    each with an optional self-projection (``dense_rec``, without delays); one du, dv and
    vth per population; biases that are ``bias_mant << 6``; weight exponents that do not
    floor. Anything else raises a one-line InputError naming the population or projection
    and the reason; no file is written then. Time: lag 0 (module docstring). The file also
    carries each layer's population name (``name``) and weight exponent
    (``neuron/wgtExp``), which netx ignores and :func:`read_netx` uses to give back the
    same integers. Written atomically.
    """
    layers = []
    for name, ff, rec in _chain(net):
        pop = net.populations[name]
        neuron = {"type": np.bytes_("CUBA"), "iDecay": _uniform(pop, "du") + 1,
                  "vDecay": _uniform(pop, "dv"), "vThMant": _uniform(pop, "vth"),
                  "refDelay": 1, "wgtExp": ff.weight_exp, "gradedSpike": False}
        weights = _layer_weights(name, ff, rec)
        layers.append((name, pop.size, weights, _delay_data(ff), _bias(pop), neuron))
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f["simulation/Ts"] = 1
        f["layer/0/type"] = np.array([b"input"], dtype="S10")
        f["layer/0/shape"] = np.array([net.n_inputs], dtype=np.int64)
        n_in = net.n_inputs
        for i, (name, size, weights, delay, bias, neuron) in enumerate(layers, start=1):
            g = f.create_group(f"layer/{i}")
            g["type"] = np.array([b"dense_rec" if len(weights) == 2 else b"dense"],
                                 dtype="S10")
            g["shape"] = np.array([size], dtype=np.int64)
            g["inFeatures"], g["outFeatures"] = n_in, size
            g["name"] = np.bytes_(name)
            g["weight"] = weights[0].astype(np.float32)
            if len(weights) == 2:
                g["weight_rec"] = weights[1].astype(np.float32)
            if delay is not None:
                g["delay"] = delay
            if bias is not None:
                g["bias"] = bias.astype(np.float32)
            for key, value in neuron.items():
                g[f"neuron/{key}"] = value
            n_in = size
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
    if kind in ("dense", "dense_rec"):
        if "neuron" not in g:
            return (f"{kind} without a neuron (netx's non-leaky integrator: du = -1, "
                    "dv = 4096, vth = 2**17, outside Loihi 2's ranges)")
        ntype = _text(g["neuron"], "type", f"{where}/neuron")
        if ntype not in NEURON_TYPES:
            return f"{kind} with {ntype} neurons"
    if kind == "input" and "neuron" in g:
        ntype = _text(g["neuron"], "type", f"{where}/neuron")
        if ntype not in NEURON_TYPES:
            return f"input with {ntype} neurons"
    if "neuron" in g and "messageBits" in g["neuron"] and \
            int(np.asarray(g["neuron/messageBits"][()]).ravel()[0]) > 0:
        return f"{kind} with graded spikes (messageBits > 0)"
    return "" if kind in READ_TYPES else kind


def _population(g: h5py.Group, where: str, size: int, bias: bool) -> LIFPopulation:
    neuron = g["neuron"]
    params = {key: _int_param(_dataset(neuron, key, f"{where}/neuron"))
              for key in ("iDecay", "vDecay", "vThMant")}
    bias_mant = 0
    if bias and "bias" in g:
        bias_mant = _int_param(_dataset(g, "bias", where))
        if isinstance(bias_mant, np.ndarray) and bias_mant.size != size:
            raise InputError(f"{where}: bias has {bias_mant.size} values; expected 1 or {size}")
    return LIFPopulation(size, du=params["iDecay"] - 1, dv=params["vDecay"],
                         vth=params["vThMant"], bias_mant=bias_mant,
                         bias_exp=NETX_BIAS_EXP if np.any(bias_mant) else 0)


def _weights(g: h5py.Group, key: str, where: str, n_out: int, n_in: int) -> np.ndarray:
    w = np.trunc(_dataset(g, key, where).astype(np.float64)).astype(np.int64)
    if w.ndim == 1 and w.size % n_out == 0:
        w = w.reshape(n_out, -1)
    if w.shape != (n_out, n_in):
        raise InputError(f"{where}: {key} has shape {w.shape}; expected ({n_out}, {n_in}) "
                         "(this layer's size, the previous layer's size): the layers do not "
                         "chain")
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
    if d.ndim == 1 and d.size == n_in:
        return d
    if d.shape == shape:
        return d
    raise InputError(f"{where}: delay has shape {d.shape}; expected a scalar, ({n_out},), "
                     f"({n_in},) or {shape}")


def _projection(src: str, dst: str, lava_w: np.ndarray, exp: int, hint: int | None,
                delays: int | np.ndarray | None) -> Projection:
    """The projection that adds what Lava's synapse (``lava_w``, ``exp``) adds, written
    with the exponent ``hint`` (the file's ``neuron/wgtExp``) where that is exact and on
    Loihi 2's grid, else with exponent 0, else as Lava holds it."""
    eff = _effective(lava_w, exp)
    forms = []
    if eff is not None and hint is not None:
        rep = _effective(eff, -hint) if hint > 0 else eff << -hint
        if rep is not None and np.array_equal(_effective(rep, hint), eff):
            forms.append((rep, hint))
    if eff is not None:
        forms.append((eff, 0))
    forms.append((lava_w, exp))
    error = None
    for w, e in forms:
        try:
            return Projection(src, dst, w, weight_exp=e, delays=delays)
        except NetworkValidationError as exc:
            error = error or exc
    raise error  # type: ignore[misc]


def import_netx(path: str | os.PathLike[str], num_layers: int | None = None) -> NetxImport:
    """Read a netx file into the integer IR with netx's semantics (module docstring).

    ``num_layers`` reads only the first layers, as netx's own argument does. Layers other
    than input, flatten, dense and dense_rec with CUBA/LOIHI neurons raise one InputError
    listing every one of them; a missing dataset, a shape that does not chain or a value
    outside Loihi 2's ranges raises a one-line InputError naming the layer.
    """
    path = Path(path)
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
        return _build(path, groups)


def _build(path: Path, groups: list[h5py.Group]) -> NetxImport:
    warnings: list[str] = []
    pops: dict[str, LIFPopulation] = {}
    projs: list[Projection] = []
    n_inputs, src, lag = None, INPUT, 0
    for i, g in enumerate(groups):
        where = f"{path}: layer {i}"
        kind = _text(g, "type", where)
        if kind == "flatten":
            continue
        size = int(np.prod(_dataset(g, "shape", where)))
        name = _text(g, "name", where) if "name" in g else f"layer{i}"
        try:
            if kind == "input":
                if n_inputs is not None:
                    raise InputError(f"{where}: a second input layer; netx files have one")
                n_inputs = size
                if "neuron" in g:  # spikes go straight to the neuron: no synapse, no bias
                    pops[name] = _population(g, where, size, bias=False)
                    projs.append(Projection(INPUT, name, np.eye(size, dtype=np.int64)))
                    src, lag = name, 1
                continue
            if n_inputs is None:
                raise InputError(f"{where}: {kind} before the input layer; netx files start "
                                 "with layer 0 of type input")
            n_in = n_inputs if src == INPUT else pops[src].size
            w = [_weights(g, "weight", where, size, n_in)]
            if kind == "dense_rec":
                w.append(_weights(g, "weight_rec", where, size, size))
            delays = _delays(g, where, (size, n_in), warnings)
            if kind == "dense_rec" and delays is not None and np.ndim(delays) and \
                    np.shape(delays) != (size, size):
                raise InputError(f"{where}: dense_rec delays of shape {np.shape(delays)} "
                                 "cannot delay its recurrent synapses too, as netx does")
            try:
                kept, exp = netx_synapses(w, keep_exp=not (kind == "dense_rec"
                                                             and delays is not None))
            except ValueError as exc:
                raise InputError(f"{where}: {exc}") from None
            hint = (int(_int_param(_dataset(g["neuron"], "wgtExp", where)))
                    if "wgtExp" in g["neuron"] else None)
            pops[name] = _population(g, where, size, bias=True)
            projs.append(_projection(src, name, kept[0], exp, hint, delays))
            if kind == "dense_rec":
                rec_delays = (delays if delays is None or np.ndim(delays) == 0
                              else np.broadcast_to(delays, (size, size)).copy())
                projs.append(_projection(name, name, kept[1], exp, hint, rec_delays))
            src = name
        except NetworkValidationError as exc:
            raise InputError(f"{where}: {exc}") from None
    if not pops:
        raise InputError(f"{path}: no dense layer; nothing to run")
    try:
        net = FixedPointNetwork(n_inputs, pops, projs, outputs=[src])
    except NetworkValidationError as exc:
        raise InputError(f"{path}: {exc}") from None
    return NetxImport(net, lag, tuple(warnings))


def read_netx(path: str | os.PathLike[str], num_layers: int | None = None
              ) -> FixedPointNetwork:
    """The integer network of a netx file (:func:`import_netx`'s ``network``)."""
    return import_netx(path, num_layers).network
