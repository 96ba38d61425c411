"""Post-training quantization: a trained float model -> a :class:`FixedPointNetwork`.

The float model (``neurodeploy.models``) and the integer network share the dynamics of
``docs/loihi2-fixed-point.md``; per population a scale S (integer LSBs of v per
float unit) maps one onto the other::

    W_int * 2**weight_exp * 64 = W_f * S      (per projection: weight_exp, 8-bit W_int)
    vth_int * 64 = vth_f * S;   bias_mant * 2**bias_exp = bias_f * S
    du_int = round(4096 du_f) - 1;   dv_int = round(4096 dv_f);   delays rounded

Choosing S: larger S resolves the decays' truncation and the weights more finely, but u and
v must stay inside 24 bits, vth below 131071, and the worst-case summed input of a step
(every source of one sign firing at once) inside the 16-bit accumulator (|sum| < 2**15),
so that the result always passes ``neurodeploy lint``. For each population in order, S starts
from the largest value the state headroom allows on calibration data (with a margin) and
candidates S, S/2, S/4, ... are scored by spike agreement with the float model (F1 of
spikes at the exact step, layer inputs taken from the already-quantized layers); the best
one is kept. Each projection's weight_exp is the smallest exponent that fits its largest
weight in 8 bits, so the weights use the full grid. Every value that had to be clipped
is counted and reported. Time convention: 0-based steps, one step per hop.

A projection bias of the float model (a constant current into u, e.g. an NIR ``Affine``
bias, from the population's bias onset L on, see ``neurodeploy.float_network``) has no
Loihi 2 register where u keeps a memory (du < 1: the chip's bias adds to v). It becomes
what the chip can do: one always-firing *bias unit* (a population of one neuron, vth 0,
bias 1, so v' = 1 > 0 at every step from step 0) feeding every such population through a
projection whose weights are the biases (8 bits with their own weight_exp) and whose
delay is L - 1, so that the bias enters u with the << 6 of any input, from step L on.
Every backend runs it as the plain network it is.

Weight split (``weight_split``): one 8-bit grid per projection loses the small weights of a
projection whose weights span a wide range (an imported network's, say). Such a projection
may become two with the same source, destination and delays, which Loihi 2 sums into the
same dendritic accumulator: the *coarse* one (the quantization above, weight_exp e_c) and
the *fine* one (name ``"src->dst (fine)"``): the residual ``W_f S / 64 - W_c 2**e_c`` on its
own 8-bit grid with a smaller exponent e_f < e_c, nonzero only where the residual rounds to
a nonzero integer. The effective weight is ``W_c 2**e_c + W_f 2**e_f``; each projection's
sum is shifted by its own exponent (the fine one's floor right shift, e_f < 0, applies to
its own sum). ``"auto"`` (the default) tries it on the projections whose single-grid weight
SMAPE (over the nonzero float weights) exceeds :data:`SPLIT_SMAPE` (20 %) and keeps it only
when it raises the layer's spike F1 with the float model and the network still lints clean;
``"on"`` splits every projection whose residual is nonzero (convolutions excepted);
``"off"`` never splits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from neurodeploy import fixed_point as fp
from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.errors import InputError
from neurodeploy.float_network import FloatNetwork
from neurodeploy.kernel.float_step import current_step
from neurodeploy.models.neurons import DU_MAX, DU_MIN
from neurodeploy.network import INPUT, Conv2d, FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.quantize.lint import lint_network
from neurodeploy.targets.reference import simulate_reference
from neurodeploy.targets.torch_float import simulate_torch_float


@dataclass
class FloatLayer:
    """One layer of a float model, as numpy arrays in the float model's units."""

    name: str
    src: str
    weight: np.ndarray  # (n_out, n_in)
    delays: np.ndarray | None  # integer steps: (n_in,) axonal or (n_out, n_in) synaptic
    rec_weight: np.ndarray | None
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias: np.ndarray
    spiking: bool
    current_bias: np.ndarray | None = None  # constant input into u (projection biases)
    bias_onset: int = 1  # the first step current_bias enters u (0-based)
    conv: Conv2d | None = None  # the feed-forward weights are this convolution's (float kernel)


#: The weight_split policies: try the split where it pays, never, always.
WEIGHT_SPLITS = ("auto", "off", "on")
#: ``weight_split="auto"`` tries the split on a projection whose single-grid weight SMAPE
#: (nonzero float weights against their dequantized integers) exceeds this share (20 %):
#: above what one grid costs the weights of the networks measured (2-10 %: the README's
#: ccisi and TTFS runs, its snnTorch recurrent nets), so that they quantize as before;
#: a projection whose small weights the grid rounds away costs tens of percent.
#: (docs/nir.md, "Weight split", has the measurements.)
SPLIT_SMAPE = 0.20


def fine_name(key: str) -> str:
    """The name of the fine projection of the split projection ``key`` ("src->dst")."""
    return f"{key} (fine)"


@dataclass
class QuantizationInfo:
    """What PTQ chose and what it had to give up, per population and projection.

    ``split``: per split projection "src->dst", its coarse and fine weight_exp, the weight
    SMAPE of the single grid and of the split (shares), and the synapses the fine
    projection adds.
    """

    scales: dict[str, float] = field(default_factory=dict)
    weight_exp: dict[str, int] = field(default_factory=dict)
    clipped: dict[str, int] = field(default_factory=dict)  # "<where>.<field>" -> count
    agreement: dict[str, float] = field(default_factory=dict)  # F1 at the exact step
    split: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"scales": self.scales, "weight_exp": self.weight_exp,
                "clipped": self.clipped, "spike_f1_vs_float": self.agreement,
                **({"weight_split": self.split} if self.split else {})}


def check_weight_split(weight_split: str) -> str:
    """``weight_split`` itself when it is one of :data:`WEIGHT_SPLITS`; else InputError."""
    if weight_split not in WEIGHT_SPLITS:
        raise InputError(f"weight_split = {weight_split!r} is not allowed; allowed: "
                         f"{', '.join(WEIGHT_SPLITS)}")
    return weight_split


def smape(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean absolute percentage error over entries where either is nonzero."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    denom = (np.abs(a) + np.abs(b)) / 2
    keep = denom > 0
    return float(np.mean(np.abs(a - b)[keep] / denom[keep])) if keep.any() else 0.0


def float_layers(model) -> list[FloatLayer]:
    """Extract a trained :class:`SpikingNetwork`'s parameters (integer delays)."""
    if not model.config.hop_latency:
        raise InputError("model was trained without hop latency (hop_latency=False): its spike "
                         "timing cannot transfer to Loihi 2; retrain with the default")
    return layers_from_network(model.to_float_network())


def layers_from_network(net: FloatNetwork) -> list[FloatLayer]:
    """A layered :class:`FloatNetwork` (input -> p0 -> p1 -> ..., each population fed by
    the previous one and optionally by itself without delay) as PTQ's layer list.

    The biases of a population's projections sum into its ``current_bias``, from its
    ``bias_onset`` on (:meth:`FloatNetwork.bias_onsets`).

    Raises :class:`InputError` naming what does not fit: another topology or a population
    that resets by subtraction (Loihi 2 resets to zero).
    """
    names = list(net.populations)
    onsets = net.bias_onsets()
    layers = []
    for k, name in enumerate(names):
        pop = net.populations[name]
        prev = INPUT if k == 0 else names[k - 1]
        incoming = net.incoming(name)
        ff = [p for p in incoming if p.src == prev]
        rec = [p for p in incoming if p.src == name]
        other = [p for p in incoming if p.src not in (prev, name)]
        if len(ff) != 1 or len(rec) > 1 or other:
            srcs = ", ".join(f"'{p.src}'" for p in incoming) or "none"
            raise InputError(
                f"population '{name}': fed by {srcs}; PTQ takes layered networks where each "
                f"population is fed by exactly one projection from the previous one ('{prev}') "
                "and optionally one from itself")
        if pop.spiking and pop.reset != "zero":
            raise InputError(f"population '{name}': reset = {pop.reset!r}; Loihi 2 resets to "
                             "zero: import the graph with --reset zero and fine-tune on the "
                             "chip's dynamics with --qat-epochs N")
        if rec and rec[0].max_delay > 0:
            raise InputError(f"{rec[0].label}: recurrent delays are not supported by PTQ")
        biases = [p.bias for p in ff + rec if p.bias is not None and np.any(p.bias != 0)]
        delays = ff[0].delays
        if isinstance(delays, int):
            delays = np.full(ff[0].weights.shape[1], delays, dtype=np.int64)
        layers.append(FloatLayer(
            name=name, src=prev, weight=np.array(ff[0].weights),
            delays=None if delays is None else np.array(delays, dtype=np.int64),
            rec_weight=np.array(rec[0].weights) if rec else None,
            du=pop.du.copy(), dv=pop.dv.copy(), vth=pop.vth.copy(), bias=pop.bias.copy(),
            spiking=pop.spiking, current_bias=sum(biases) if biases else None,
            bias_onset=onsets[name], conv=ff[0].conv))
    return layers


def bias_unit_name(layers: list[FloatLayer]) -> str:
    """The name of the always-firing bias unit: ``"bias"`` unless a layer has it."""
    taken = {layer.name for layer in layers}
    name, k = "bias", 1
    while name in taken:
        name, k = f"bias_{k}", k + 1
    return name


def bias_unit(fmt: ChipFormat) -> LIFPopulation:
    """One neuron that fires at every step from step 0: no input, vth 0, bias 1 (v' = 1 >
    0 = vth << 6 at every step; the reset to 0 repeats it)."""
    return LIFPopulation(1, du=fmt.decay_max, dv=fmt.decay_max, vth=0, bias_mant=1,
                         bias_exp=0, chip=fmt)


def check_weight_exp(weight_exp: int | None, weight_split: str, fmt: ChipFormat = LOIHI2
                     ) -> None:
    """A one-line InputError unless ``weight_exp`` (every projection's, or None) is
    0..weight_exp_max and goes with ``weight_split``."""
    if weight_exp is None:
        return
    if not 0 <= weight_exp <= fmt.weight_exp_max:
        raise InputError(f"weight_exp = {weight_exp} is out of range; allowed "
                         f"0..{fmt.weight_exp_max} (or None: chosen per projection)")
    if weight_split == "on":
        raise InputError(f"weight_split = 'on' with every projection at weight_exp = "
                         f"{weight_exp} (--netx): the fine weights need a smaller exponent; "
                         "allowed with it: off, auto")


def _weight_grid(stats: np.ndarray, fmt: ChipFormat) -> tuple[str, int, int, int]:
    """``(sign_mode, lo, top, hi)`` of the nonzero weights ``stats``: their grid's clip range
    lo..top and the largest |integer| ``hi`` the largest |weight| may round to."""
    sign_mode = fp.infer_sign_mode(np.sign(stats))
    lo, top = fp.weight_limits(sign_mode, fmt)
    # the mixed grid is the even integers: its top is one below the clip range's
    top = top - 1 if sign_mode == "mixed" else top
    return sign_mode, lo, top, top if sign_mode != "inhibitory" else -lo


def _quantize_weights(w: np.ndarray, scale: float, fmt: ChipFormat, where: str,
                      info: QuantizationInfo, exp_min: int | None = None,
                      grid_of: np.ndarray | None = None) -> tuple[np.ndarray, int, str]:
    """Integer weights on the Lava grid, their weight_exp (>= ``exp_min``, default the
    chip's) and sign mode, computed on the nonzero weights only (a zero stays 0, and a
    convolution's expanded matrix is mostly zeros). ``grid_of``: the weights whose nonzero
    values choose weight_exp and the sign mode (default ``w``; a convolution's kernel takes
    those of its expanded matrix, so that both give the same integers)."""
    nz = np.flatnonzero(w)
    vals = np.asarray(w).ravel()[nz]
    stats = vals if grid_of is None else np.asarray(grid_of).ravel()[np.flatnonzero(grid_of)]
    sign_mode, lo, top, hi = _weight_grid(stats, fmt)
    unit = float(1 << fmt.act_shift)  # one weight LSB enters u as << act_shift
    target = np.abs(stats).max() * scale / unit if stats.size else 0.0
    exp = fmt.weight_exp_min if target == 0 else math.ceil(math.log2(max(target / hi, 1e-300)))
    exp = int(min(max(exp, fmt.weight_exp_min if exp_min is None else exp_min), fmt.weight_exp_max))
    raw = vals * scale / (unit * 2.0**exp)
    ints = np.round(raw / 2.0) * 2.0 if sign_mode == "mixed" else np.round(raw)
    clipped = int(((ints < lo) | (ints > top)).sum())
    if clipped:
        info.clipped[f"{where}.weights"] = clipped
    out = np.zeros(np.shape(w), dtype=np.int64)
    out.ravel()[nz] = fp.lava_weight_transform(np.clip(ints, lo, top), sign_mode, chip=fmt)
    return out, exp, sign_mode


def _bias_parts(bias_int: np.ndarray, fmt: ChipFormat) -> tuple[np.ndarray, np.ndarray]:
    """bias_mant, bias_exp (per neuron) approximating integer bias values."""
    exp = np.zeros(np.shape(bias_int), dtype=np.int64)
    while True:  # the smallest exponent that fits each mantissa (or the largest one)
        too_big = np.abs(np.round(bias_int / 2.0**exp)) > fmt.bias_mant_max
        grow = too_big & (exp < fmt.bias_exp_max)
        if not grow.any():
            return np.clip(np.round(bias_int / 2.0**exp), fmt.bias_mant_min,
                           fmt.bias_mant_max).astype(np.int64), exp
        exp += grow


def _dequantized(w: np.ndarray, exp: int, scale: float, fmt: ChipFormat) -> np.ndarray:
    """Integer weights at ``exp`` in the float model's units (``W 2**exp 64 / S``)."""
    return np.asarray(w, float) * 2.0**exp * float(1 << fmt.act_shift) / scale


def _nonzero_smape(w: np.ndarray, approx: np.ndarray) -> float:
    """SMAPE of ``approx`` against the nonzero float weights ``w``."""
    nonzero = np.asarray(w) != 0
    return smape(np.asarray(w)[nonzero], np.asarray(approx)[nonzero])


def _dense_projections(src: str, dst: str, w: np.ndarray, scale: float, fmt: ChipFormat,
                       info: QuantizationInfo, split: bool,
                       delays: int | np.ndarray | None = None,
                       exp_min: int | None = None) -> list[Projection]:
    """The projection ``src -> dst`` of float weights ``w`` (n_dst, n_src): one on the
    single grid or, when ``split`` and the residual has nonzero integers on a finer grid,
    the coarse one and its fine one (recorded in ``info.split``)."""
    key = f"{src}->{dst}"
    w_c, e_c, mode = _quantize_weights(w, scale, fmt, f"projection '{key}'", info, exp_min)
    info.weight_exp[key] = e_c
    out = [Projection(src, dst, w_c, weight_exp=e_c, delays=delays, sign_mode=mode, chip=fmt)]
    if not split:
        return out
    coarse = _dequantized(w_c, e_c, scale, fmt)
    residual = np.where(np.asarray(w) != 0, np.asarray(w, float) - coarse, 0.0)
    trial = QuantizationInfo()
    w_f, e_f, mode_f = _quantize_weights(residual, scale, fmt, f"projection '{fine_name(key)}'",
                                         trial, exp_min)
    if e_f >= e_c or not w_f.any():  # no finer grid, or nothing left to add
        return out
    info.clipped.update(trial.clipped)
    info.weight_exp[fine_name(key)] = e_f
    info.split[key] = {
        "coarse_weight_exp": e_c, "fine_weight_exp": e_f,
        "weight_smape_single": _nonzero_smape(w, coarse),
        "weight_smape_split": _nonzero_smape(w, coarse + _dequantized(w_f, e_f, scale, fmt)),
        "added_synapses": int(np.count_nonzero(w_f))}
    return [*out, Projection(src, dst, w_f, weight_exp=e_f, delays=delays, sign_mode=mode_f,
                             name=fine_name(key), chip=fmt)]


def single_grid_smape(w: np.ndarray, scale: float, fmt: ChipFormat = LOIHI2,
                      exp_min: int | None = None) -> float:
    """Weight SMAPE (a share) of the nonzero float weights ``w`` against their dequantized
    integers on one 8-bit grid at ``scale``: what ``weight_split="auto"`` tests."""
    w_int, exp, _ = _quantize_weights(w, scale, fmt, "", QuantizationInfo(), exp_min)
    return _nonzero_smape(w, _dequantized(w_int, exp, scale, fmt))


def layer_projections(layer: FloatLayer, unit: str) -> list[tuple[str, np.ndarray, int | None]]:
    """The dense float projections into ``layer`` PTQ may split: (source, float weights
    (n_dst, n_src), exp_min): feed-forward (unless a convolution), recurrent, bias unit."""
    out = [] if layer.conv is not None else [(layer.src, layer.weight, None)]
    if layer.rec_weight is not None:
        out.append((layer.name, layer.rec_weight, None))
    if layer.current_bias is not None:
        out.append((unit, layer.current_bias[:, None], 0))
    return out


def build_network(layers: list[FloatLayer], scales: dict[str, float], fmt: ChipFormat = LOIHI2,
                  info: QuantizationInfo | None = None, n_layers: int | None = None,
                  input_max: int = 1, split: frozenset[str] | set[str] = frozenset(),
                  weight_exp: int | None = None) -> FixedPointNetwork:
    """The integer network of the first ``n_layers`` layers at the given scales;
    ``input_max``: the largest input count per channel and step (graded input);
    ``split``: the projections ("src->dst") to split into coarse and fine where a finer
    grid adds something (see the module docstring); ``weight_exp``: the least weight_exp
    of every projection (None: the chip's), which is its exponent where the scales keep the
    weights within the grid at it (what :func:`post_training_quantize` makes them do)."""
    info = info if info is not None else QuantizationInfo()
    use = layers[: n_layers or len(layers)]
    pops, projs = {}, []
    n_inputs = layers[0].weight.shape[1]
    unit = bias_unit_name(layers)
    if any(layer.current_bias is not None for layer in use):
        pops[unit] = bias_unit(fmt)
    for layer in use:
        s = scales[layer.name]
        unity = fmt.decay_unity
        du = np.clip(np.round(unity * layer.du) - 1, 0, fmt.decay_max).astype(np.int64)
        dv = np.clip(np.round(unity * layer.dv), 0, fmt.decay_max).astype(np.int64)
        if layer.spiking:
            vth_raw = np.round(layer.vth * s / float(1 << fmt.vth_shift))
            n_clip = int(((vth_raw < 0) | (vth_raw > fmt.vth_max)).sum())
            if n_clip:
                info.clipped[f"population '{layer.name}'.vth"] = n_clip
            vth = np.clip(vth_raw, 0, fmt.vth_max).astype(np.int64)
        else:  # a non-spiking readout: the largest threshold (v is read, not spikes)
            vth = np.full(layer.vth.shape, fmt.vth_max, dtype=np.int64)
        mant, exp = _bias_parts(np.round(layer.bias * s), fmt)
        pops[layer.name] = LIFPopulation(layer.weight.shape[0], du=du, dv=dv, vth=vth,
                                         bias_mant=mant, bias_exp=exp, chip=fmt)
        if layer.conv is not None:  # the kernel on the expanded weights' grid: conv.matrix()
            where = f"projection '{layer.src}->{layer.name}'"
            _, we, mode = _quantize_weights(layer.weight, s, fmt, where, info, weight_exp)
            info.weight_exp[f"{layer.src}->{layer.name}"] = we
            kernel, _, _ = _quantize_weights(layer.conv.kernel, s, fmt, where, QuantizationInfo(),
                                             weight_exp, grid_of=layer.weight)
            projs.append(Projection(layer.src, layer.name, None, weight_exp=we, sign_mode=mode,
                                    chip=fmt, conv=replace(layer.conv, kernel=kernel)))
        for src, w_f, exp_min in layer_projections(layer, unit):
            # the bias unit's: weight_exp >= 0 (with one source a negative exponent only
            # floors the weight), arriving at the bias onset
            delays = (layer.delays if src == layer.src else
                      (layer.bias_onset - 1 or None) if src == unit else None)
            projs += _dense_projections(src, layer.name, w_f, s, fmt, info,
                                        f"{src}->{layer.name}" in split, delays,
                                        exp_min if weight_exp is None else weight_exp)
    return FixedPointNetwork(n_inputs, pops, projs, outputs=[use[-1].name], chip=fmt,
                             input_max=input_max)


def spike_f1(a: np.ndarray, b: np.ndarray) -> float:
    """F1 of spike matching at the exact step (1.0 when both are silent)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def float_traces(model, x: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per layer spikes (bool), v and u (float units) of the float model, integer delays."""
    model.eval()
    model.set_integer_delays(True)
    out = []
    with torch.no_grad():
        h = torch.as_tensor(x, dtype=torch.float32).transpose(0, 1)
        for layer in model.layers:
            current = layer.input_current(h)
            s, v = layer(h, record_v=True)
            alpha = 1.0 - layer.du.clamp(DU_MIN, DU_MAX)
            u = torch.zeros_like(current[0])
            us = []
            for t in range(current.shape[0]):
                u = current_step(current[t], u, alpha)
                if layer.rec_weight is not None and t > 0:  # the scan adds it last
                    u = u + s[t - 1] @ layer.rec_weight.t()
                us.append(u)
            out.append({"spikes": s.transpose(0, 1).numpy() > 0,
                        "v": v.transpose(0, 1).numpy(),
                        "u": torch.stack(us).transpose(0, 1).numpy()})
            h = s
    return out


def post_training_quantize(model, calib: np.ndarray, fmt: ChipFormat = LOIHI2,
                           headroom: float = 4.0, candidates: int = 5,
                           weight_split: str = "auto", split_smape: float = SPLIT_SMAPE,
                           weight_exp: int | None = None,
                           ) -> tuple[FixedPointNetwork, QuantizationInfo]:
    """PTQ of a trained :class:`SpikingNetwork` or a layered :class:`FloatNetwork` (e.g.
    imported from NIR) with calibration spikes (batch, steps, n_in).

    ``headroom``: the largest |u|, |v| seen on the calibration data times this factor must
    stay inside 24 bits. ``candidates``: scales tried per population (S, S/2, ...).
    ``weight_split``: "auto", "off" or "on" (see the module docstring); with "auto" each
    population's scales are tried without the split, then with its wide projections (single-
    grid weight SMAPE > ``split_smape``) split, and a split is kept only when its spike F1 is
    higher. ``weight_exp``: every projection at exactly this weight_exp, 0..weight_exp_max
    (0 for netx, whose layers add their plain integer weights: ``neurodeploy quantize
    --netx``), without the weight split; each population's scale is capped so that its
    largest incoming weight fits the grid at it, so the weights may use fewer of their bits.
    """
    check_weight_split(weight_split)
    check_weight_exp(weight_exp, weight_split, fmt)
    if weight_exp is not None:
        weight_split = "off"
    calib = np.asarray(calib)
    # graded input (event counts): the integer network takes the largest count seen
    input_max = max(1, int(np.max(calib))) if calib.size else 1
    n_inputs = model.n_inputs if isinstance(model, FloatNetwork) else model.config.n_inputs
    if calib.ndim != 3 or calib.shape[2] != n_inputs:
        raise InputError(f"calibration data has shape {calib.shape}; expected (samples, steps, "
                         f"{n_inputs})")
    if isinstance(model, FloatNetwork):
        layers = layers_from_network(model)
        tr = simulate_torch_float(model, calib, record=("spikes", "v", "u"))
        ref = [{"spikes": tr.spikes[x.name], "v": tr.v[x.name], "u": tr.u[x.name]} for x in layers]
    else:
        layers = float_layers(model)
        ref = float_traces(model, calib)
    info = QuantizationInfo()
    scales: dict[str, float] = {}
    split: frozenset[str] = frozenset()
    unit = bias_unit_name(layers)
    for k, layer in enumerate(layers):
        peak = max(float(np.abs(ref[k]["v"]).max()), float(np.abs(ref[k]["u"]).max()),
                   float(np.abs(layer.vth).max()) if layer.spiking else 0.0, 1e-6)
        s_max = fmt.state_half / (peak * headroom)
        # accumulator headroom: the worst-case summed input per step (every source of one
        # sign firing at once, over all incoming projections) must stay below the limit
        graded = input_max if layer.src == INPUT else 1  # a count multiplies the weights
        dense = layer_projections(replace(layer, conv=None), unit)
        incoming = [w * (graded if src == layer.src else 1) for src, w, _ in dense]
        worst = max(float(sum(np.clip(w, 0, None).sum(axis=1) for w in incoming).max()),
                    float(sum(np.clip(-w, 0, None).sum(axis=1) for w in incoming).max()))
        if worst > 0:
            s_max = min(s_max, 0.95 * fmt.accumulator_limit * float(1 << fmt.act_shift) / worst)
        if layer.spiking:
            s_max = min(s_max, float(1 << fmt.vth_shift) * fmt.vth_max
                        / max(float(np.abs(layer.vth).max()), 1e-12))
        if weight_exp is not None:  # every incoming weight within the grid at weight_exp
            for _, w, _ in dense:
                stats = w[w != 0]
                if stats.size:
                    s_max = min(s_max, (1.0 - 1e-9) * _weight_grid(stats, fmt)[3]
                                * float(1 << fmt.act_shift) * 2.0**weight_exp
                                / float(np.abs(stats).max()))
        options = [s_max / 2.0**j for j in range(candidates if layer.spiking else 1)]
        wide = frozenset(
            f"{src}->{layer.name}" for src, w, exp_min in layer_projections(layer, unit)
            if weight_split == "on" or (weight_split == "auto" and layer.spiking and
                                        single_grid_smape(w, s_max, fmt, exp_min) > split_smape))
        groups = [[(s, frozenset()) for s in options]] + ([[(s, wide) for s in options]]
                                                          if wide else [])
        if weight_split == "on":  # the split first; the single grid only where it fails lint
            groups.reverse()
        best = None
        for group in groups:
            if weight_split == "on" and best is not None:
                break
            for s, extra in group:
                net = build_network(layers, {**scales, layer.name: s}, fmt, QuantizationInfo(),
                                    n_layers=k + 1, input_max=input_max, split=split | extra,
                                    weight_exp=weight_exp)
                if extra and not lint_network(net, fmt).ok:
                    continue  # the fine weights must not push the accumulator past its limit
                tr = simulate_reference(net, calib, populations=[layer.name])
                f1 = spike_f1(ref[k]["spikes"], tr.spikes[layer.name]) if layer.spiking else 1.0
                if best is None or f1 > best[0]:  # ties keep the single grid, larger scales
                    best = (f1, s, extra)
        scales[layer.name] = best[1]
        split = split | best[2]
        info.agreement[layer.name] = best[0]
    if any(layer.current_bias is not None for layer in layers):
        scales[unit] = 1.0  # its v is 0 or 1 LSB: any unit will do
    info.scales = scales
    return build_network(layers, scales, fmt, info, input_max=input_max, split=split,
                         weight_exp=weight_exp), info
