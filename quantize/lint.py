"""Hardware lint: every Loihi 2 violation of a network file at once, plus planning estimates.

:class:`~neurodeploy.FixedPointNetwork` validates on construction and stops at the first
error. :func:`lint_arrays` reads the raw arrays of a network file (the layout of
:mod:`neurodeploy.network_io`) without building the network and lists *every* violation:
parameter ranges (du, dv, vth, bias_mant, bias_exp), per-neuron array shapes, weights that
are not integers or not on the grid Lava keeps for their sign mode and ``num_weight_bits``,
``weight_exp`` and ``num_weight_bits`` ranges, delays and their shapes, weight shapes
against population sizes, unknown source/destination names, an empty network, and the
accumulator headroom (worst-case |summed input per step| must stay below
``fmt.accumulator_limit`` = 2**15; Lava's model does not saturate there, a chip may).

A convolutional projection is checked on its kernel and geometry (the file holds no dense
weights for it): kernel grid, geometry, the output shape against the destination, and the
accumulator from the kernel's per-output sums.

It also gives *estimates* (fan-in, neurons, synapses, cores, for the network and for each
population with the synapses that end on it) from the per-core figures of the
:class:`~neurodeploy.chip.ChipFormat`; those are planning numbers only.
Limits are read from the format (``LOIHI2`` by default), weight grids from
:mod:`neurodeploy.fixed_point`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.text import Text

from neurodeploy import fixed_point as fp
from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.errors import NetworkValidationError, NeurodeployError
from neurodeploy.kernel import NumpyIntOps
from neurodeploy.network import _NAME_RE, INPUT, Conv2d, FixedPointNetwork, LIFPopulation, first_bad
from neurodeploy.network_io import FORMAT, VERSION, network_to_arrays, read_meta, read_npz
from neurodeploy.terminal_table import make_table, print_table

__all__ = ["LintReport", "Violation", "lint_arrays", "lint_file", "lint_network", "render"]

_INT_MAX = int(np.iinfo(np.int64).max)
ESTIMATE_NOTE = (
    "estimates only: planning figures from the chip format's per-core capacities "
    "(neurons_per_core, synapses_per_core), not a compiler's placement")


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of ``value`` (numpy scalars/arrays and tuples become Python)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass
class Violation:
    """One finding of the linter.

    ``where`` names the place (``"population 'h'"``, ``"projection 'input->h'"`` or
    ``"network"``), ``field`` the field (``"dv"``, ``"weights"``, ``"delays"``,
    ``"accumulator"``...), ``value`` the offending value (for arrays: the first offending
    entry, at ``index``), ``limit`` what is allowed and ``message`` a one-line sentence
    saying all of it. ``count`` is the number of offending entries of the field.
    """

    where: str
    field: str
    value: Any
    limit: str
    message: str
    index: tuple[int, ...] | None = None
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The violation as JSON-friendly data."""
        return {
            "where": self.where, "field": self.field, "value": _plain(self.value),
            "index": None if self.index is None else list(self.index), "count": self.count,
            "limit": self.limit, "message": self.message,
        }


@dataclass
class LintReport:
    """All violations and warnings of one network, and its resource estimates.

    ``violations`` make the network undeployable (or make the chip's result differ from
    Lava's model); ``warnings`` are legal but suspicious; ``estimates`` holds planning
    figures (see :data:`ESTIMATE_NOTE`), never guarantees.
    """

    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    estimates: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no violation (warnings do not count)."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-friendly data; estimates sit under ``"estimates"``."""
        return {
            "ok": self.ok,
            "violations": [v.to_dict() for v in self.violations],
            "warnings": [w.to_dict() for w in self.warnings],
            "estimates": _plain(self.estimates),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The report as a JSON document (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent)


@dataclass
class _Proj:
    """What the linter could make of one projection entry (None where unusable)."""

    label: str
    src: str | None
    dst: str | None
    weights: np.ndarray | None
    weight_exp: int | None
    delays: np.ndarray | None  # full (n_dst, n_src) matrix when usable
    conv: Conv2d | None = None  # a usable convolution (weights None then)

    def row_sums(self, sign: int) -> np.ndarray:
        """Per destination: the sum of its positive (``sign`` 1) or negative (-1) weights
        of every delay value summed separately and shifted by ``weight_exp``."""
        ops = NumpyIntOps()
        if self.conv is not None:
            kernel = self.conv.kernel
            return ops.scale(self.conv.row_sums(np.where(kernel * sign > 0, kernel, 0)),
                             self.weight_exp)
        w = self.weights
        delays = self.delays if self.delays is not None else np.zeros(w.shape, np.int64)
        return sum(ops.scale(np.where((delays == k) & (w * sign > 0), w, 0).sum(axis=1),
                             self.weight_exp) for k in np.unique(delays))

    def nonzero_synapses(self) -> tuple[int, np.ndarray]:
        """(number of nonzero synapses, nonzero fan-in of every destination)."""
        if self.conv is not None:
            dst = self.conv.nonzero_synapses()[0]
            return int(dst.size), np.bincount(dst, minlength=self.conv.n_dst)
        nonzero = self.weights != 0
        return int(nonzero.sum()), nonzero.sum(axis=1)

    @property
    def n_dst(self) -> int | None:
        if self.conv is not None:
            return self.conv.n_dst
        return None if self.weights is None else int(self.weights.shape[0])


class _Linter:
    """Collects violations while walking a network file's metadata and arrays."""

    def __init__(self, arrays: Mapping[str, np.ndarray], fmt: ChipFormat) -> None:
        self.arrays = arrays
        self.fmt = fmt
        self.violations: list[Violation] = []
        self.warnings: list[Violation] = []
        self.used_keys: set[str] = {"__meta__"}

    # ------------------------------------------------------------------ reporting
    def add(
        self, where: str, field_name: str, value: Any, limit: str, message: str,
        index: tuple[int, ...] | None = None, count: int = 1, warning: bool = False,
    ) -> None:
        item = Violation(where, field_name, _plain(value), limit, f"{where}: {message}",
                         index=index, count=count)
        (self.warnings if warning else self.violations).append(item)

    def add_first(self, where: str, field_name: str, arr: np.ndarray, bad: np.ndarray,
                  limit: str, problem: Callable[[Any, str], str], many: str) -> None:
        """Report the first entry of ``arr`` where ``bad`` holds, as ``"<field>[i] = <value>
        " + problem(value, more)``; ``more`` is ``many`` with the ``{count}`` of such entries
        when there are more than one, else empty."""
        index, val, at = first_bad(arr, bad)
        val = float(val) if arr.dtype.kind == "f" else int(val)
        count = int(bad.sum())
        self.add(where, field_name, val, limit, f"{field_name}{at} = {val} " + problem(
            val, many.format(count=count) if count > 1 else ""), index=index, count=count)

    def int_array(self, where: str, field_name: str, value: Any) -> np.ndarray | None:
        """``value`` as int64, or None after reporting why it is not integer data."""
        try:
            arr = np.asarray(value)
        except Exception as exc:  # pragma: no cover - numpy accepts almost anything
            self.add(where, field_name, repr(value), "integers",
                     f"{field_name} is not numeric ({exc})")
            return None
        if arr.dtype.kind not in "iuf":
            shown = value if arr.ndim == 0 else f"array of dtype {arr.dtype}"
            self.add(where, field_name, _plain(shown), "integers",
                     f"{field_name} = {shown!r} has dtype {arr.dtype}; integers are required")
            return None
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr) | (arr != np.round(arr))
            if bad.any():
                self.add_first(where, field_name, arr, bad, "integers", lambda _, more: (
                    f"is not an integer{more}; fixed-point networks take integer values "
                    "(quantize first)"), " ({count} such entries)")
                return None
        return arr.astype(np.int64)

    def check_range(
        self, where: str, field_name: str, arr: np.ndarray, lo: int, hi: int, extra: str = ""
    ) -> bool:
        """Report entries of ``arr`` outside ``lo..hi``; True when all are inside."""
        bad = (arr < lo) | (arr > hi)
        if not bad.any():
            return True
        self.add_first(where, field_name, arr, bad, f"{lo}..{hi}{extra}", lambda _, more: (
            f"is out of range; allowed {lo}..{hi}{extra}{more}"), " ({count} entries out of range)")
        return False

    def scalar(self, where: str, field_name: str, value: Any, lo: int, hi: int) -> int | None:
        """A single integer in ``lo..hi``, or None after reporting what is wrong."""
        arr = self.int_array(where, field_name, value)
        if arr is None:
            return None
        if arr.ndim != 0:
            self.add(where, field_name, list(arr.shape), "a single integer",
                     f"{field_name} has shape {arr.shape}; must be a single integer")
            return None
        return int(arr) if self.check_range(where, field_name, arr, lo, hi) else None

    def array_entry(self, where: str, field_name: str, key: str) -> Any:
        """The array stored under ``key``, or None after reporting that it is missing."""
        if key not in self.arrays:
            self.add(where, field_name, None, f"an array entry '{key}'",
                     f"{field_name} refers to array '{key}', which the file lacks")
            return None
        self.used_keys.add(key)
        return self.arrays[key]

    # ------------------------------------------------------------------ network
    def lint(self, meta: Mapping[str, Any]) -> LintReport:
        n_in = None
        if meta.get("n_inputs") is None:
            self.add("network", "n_inputs", None, "an integer >= 1", "n_inputs is missing")
        else:
            n_in = self.scalar("network", "n_inputs", meta["n_inputs"], 1, _INT_MAX)
        sizes = self.lint_populations(meta.get("populations"))
        projs = self.lint_projections(meta.get("projections"), sizes, n_in)
        self.lint_outputs(meta.get("outputs"), sizes)
        self.lint_accumulators(projs, sizes)
        for key in sorted(set(self.arrays) - self.used_keys):
            self.add("network", "arrays", key, "arrays referenced by __meta__",
                     f"array '{key}' is not referenced by the metadata and is ignored",
                     warning=True)
        return LintReport(self.violations, self.warnings, self.estimate(projs, sizes))

    def lint_populations(self, entries: Any) -> dict[str, int | None]:
        """Check every population entry; name -> size (None where the size is invalid)."""
        sizes: dict[str, int | None] = {}
        if not isinstance(entries, list) or not entries:
            shown = len(entries) if isinstance(entries, list) else entries
            self.add("network", "populations", _plain(shown), "at least one population",
                     "populations is empty; a network needs at least one LIF population")
            return sizes
        for k, entry in enumerate(entries):
            name = entry.get("name") if isinstance(entry, Mapping) else None
            where = f"population '{name}'" if isinstance(name, str) else f"population #{k}"
            if not isinstance(entry, Mapping):
                self.add("network", "populations", _plain(entry), "a JSON object",
                         f"population entry #{k} is not an object")
                continue
            if not isinstance(name, str) or not _NAME_RE.match(name) or name == INPUT:
                self.add(where, "name", name, "letters, digits, '_', '.', '-'; not 'input'",
                         f"name {name!r} is not allowed; use letters, digits, '_', '.', '-' "
                         "(starting with a letter or '_'), and not 'input'")
                continue
            if name in sizes:
                self.add(where, "name", name, "unique population names",
                         f"name {name!r} is used by more than one population")
                continue
            sizes[name] = self.scalar(where, "size", entry.get("size"), 1, _INT_MAX)
            self.lint_parameters(where, name, entry, sizes[name])
        return sizes

    def lint_parameters(
        self, where: str, name: str, entry: Mapping[str, Any], size: int | None
    ) -> None:
        ranges = LIFPopulation.ranges(self.fmt)
        for param in LIFPopulation.PARAMETERS:
            if param not in entry:
                self.add(where, param, None, "a value", f"{param} is missing")
                continue
            value = entry[param]
            if value is None:
                value = self.array_entry(where, param, f"pop/{name}/{param}")
                if value is None:
                    continue
            arr = self.int_array(where, param, value)
            if arr is None:
                continue
            if arr.ndim != 0 and size is not None and arr.shape != (size,):
                self.add(where, param, list(arr.shape), f"a scalar or ({size},)",
                         f"{param} has shape {arr.shape}; expected a scalar or ({size},)")
                continue
            lo, hi = ranges[param]
            self.check_range(where, param, arr, lo, hi)

    def lint_projections(
        self, entries: Any, sizes: dict[str, int | None], n_in: int | None
    ) -> list[_Proj]:
        if entries is None:
            entries = []
            self.add("network", "projections", None, "a list", "projections is missing")
        if not isinstance(entries, list):
            self.add("network", "projections", _plain(entries), "a list",
                     "projections is not a list")
            return []
        if not entries:
            self.add("network", "projections", 0, "at least one projection",
                     "the network has no projection; its populations never see the input",
                     warning=True)
        elif not any(isinstance(e, Mapping) and e.get("src") == INPUT for e in entries):
            self.add("network", "projections", 0, "a projection from 'input'",
                     "no projection reads 'input'; the network ignores its input",
                     warning=True)
        projs = []
        for i, entry in enumerate(entries):
            if isinstance(entry, Mapping):
                projs.append(self.lint_projection(i, entry, sizes, n_in))
            else:
                self.add("network", "projections", _plain(entry), "a JSON object",
                         f"projection entry #{i} is not an object")
        return projs

    def lint_projection(
        self, i: int, entry: Mapping[str, Any], sizes: dict[str, int | None], n_in: int | None
    ) -> _Proj:
        src, dst, name = entry.get("src"), entry.get("dst"), entry.get("name")
        label = f"projection '{name}'" if name else f"projection '{src}->{dst}'"
        known = ", ".join([INPUT, *sizes])
        # names
        ok_src = isinstance(src, str) and (src == INPUT or src in sizes)
        if not ok_src:
            self.add(label, "src", src, f"one of: {known}",
                     f"src = {src!r} is not a population of this network; known: {known}")
        ok_dst = isinstance(dst, str) and dst in sizes
        if not ok_dst:
            why = ("projections end at a population" if dst == INPUT
                   else "is not a population of this network")
            self.add(label, "dst", dst, f"one of: {', '.join(sizes)}",
                     f"dst = {dst!r} {why}; known: {', '.join(sizes) or '(none)'}")
        src, dst = (src if ok_src else None), (dst if ok_dst else None)
        n_src, n_dst = (n_in if src == INPUT else sizes.get(src)), sizes.get(dst)
        # scalars
        fmt = self.fmt
        weight_exp = self.scalar(label, "weight_exp", entry.get("weight_exp", 0),
                                 fmt.weight_exp_min, fmt.weight_exp_max)
        nwb = self.scalar(label, "num_weight_bits", entry.get("num_weight_bits", fmt.weight_bits),
                          1, fmt.weight_bits)
        sign_mode = entry.get("sign_mode")
        if sign_mode is not None and sign_mode not in fp.SIGN_MODES:
            self.add(label, "sign_mode", sign_mode, f"one of {', '.join(fp.SIGN_MODES)} or null",
                     f"sign_mode = {sign_mode!r} is not one of {', '.join(fp.SIGN_MODES)} "
                     "(or null to infer it)")
            sign_mode = None
        if entry.get("conv") is not None:
            conv = self.lint_conv(i, entry, label, src, dst, (n_dst, n_src), sign_mode, nwb)
            return _Proj(label, src, dst, None, weight_exp, None, conv)
        raw = self.array_entry(label, "weights", f"proj/{i}/weights")
        weights = None if raw is None else self.int_array(label, "weights", raw)
        if weights is not None and (weights.ndim != 2 or 0 in weights.shape):
            self.add(label, "weights", list(weights.shape), "a 2-D (n_dst, n_src) array",
                     f"weights has shape {weights.shape}; expected a 2-D (n_dst, n_src) array")
            weights = None
        shape_ok = weights is not None
        if weights is not None:
            self.lint_weight_grid(label, weights, sign_mode, nwb)
            expected = (n_dst, n_src)
            if None not in expected and weights.shape != expected:
                self.add(label, "weights", list(weights.shape), f"shape {expected}",
                         f"weights has shape {weights.shape}; expected {expected} = "
                         f"(size of '{dst}', size of '{src}')")
                shape_ok = False
        delays = self.lint_delays(label, i, entry.get("delays"), weights)
        return _Proj(label, src, dst, weights if shape_ok else None, weight_exp, delays)

    def lint_conv(self, i: int, entry: Mapping[str, Any], label: str, src: str | None,
                  dst: str | None, expected: tuple[int | None, int | None],
                  sign_mode: str | None, nwb: int | None) -> Conv2d | None:
        """A convolutional projection entry: its kernel and geometry (weights in older
        files are the kernel's expansion and not read); the convolution when usable."""
        if f"proj/{i}/weights" in self.arrays:
            self.used_keys.add(f"proj/{i}/weights")
        raw = self.array_entry(label, "conv kernel", f"proj/{i}/kernel")
        kernel = None if raw is None else self.int_array(label, "conv kernel", raw)
        geometry = entry["conv"]
        if kernel is None:
            return None
        try:
            if not isinstance(geometry, Mapping):
                raise NetworkValidationError(f"{label}: conv is not a JSON object")
            conv = Conv2d(kernel, **geometry)
            conv.check(label)
        except (NetworkValidationError, TypeError) as exc:
            self.add(label, "conv", _plain(geometry), "a convolution's geometry",
                     str(exc).removeprefix(f"{label}: "))
            return None
        self.lint_weight_grid(label, conv.kernel, sign_mode, nwb, "conv kernel")
        if entry.get("delays") is not None:
            self.add(label, "delays", _plain(entry.get("delays")), "null",
                     "delays on a convolutional projection; Loihi 2's convolution (Lava's "
                     "Conv process) has none")
        shape = (conv.n_dst, conv.n_src)
        if None not in expected and shape != expected:
            self.add(label, "conv", list(shape), f"shape {expected}",
                     f"the convolution maps {conv.in_shape} to {conv.out_shape}, "
                     f"{shape} as weights; expected {expected} = (size of '{dst}', size "
                     f"of '{src}')")
            return None
        return conv

    def lint_weight_grid(
        self, label: str, weights: np.ndarray, sign_mode: str | None, nwb: int | None,
        field_name: str = "weights",
    ) -> None:
        mode: Any = sign_mode if sign_mode is not None else fp.infer_sign_mode(weights)
        lo, hi = fp.weight_limits(mode, self.fmt)
        self.check_range(label, field_name, weights, lo, hi, f" for sign_mode {mode}")
        if nwb is None:
            return
        step = 1 << fp.dropped_weight_bits(mode, nwb, self.fmt)
        off = (weights >= lo) & (weights <= hi) & (weights % step != 0)
        if not off.any():
            return
        limit = f"multiples of {step} (sign_mode {mode}, num_weight_bits {nwb})"
        self.add_first(label, field_name, weights, off, limit, lambda val, more: (
            f"is not on the Loihi 2 grid; allowed {limit}; Lava would change it to "
            f"{int(fp.lava_weight_transform(np.array(val), mode, nwb, self.fmt))}{more} "
            "(snap with neurodeploy.fixed_point.lava_weight_transform)"),
            "; {count} weights are off the grid")

    def lint_delays(
        self, label: str, i: int, value: Any, weights: np.ndarray | None
    ) -> np.ndarray | None:
        """Check the delays; the full delay matrix when usable, else None."""
        if value is None:
            return None if weights is None else np.zeros(weights.shape, dtype=np.int64)
        if isinstance(value, str) and value == "array":
            value = self.array_entry(label, "delays", f"proj/{i}/delays")
            if value is None:
                return None
        arr = self.int_array(label, "delays", value)
        if arr is None:
            return None
        in_range = self.check_range(label, "delays", arr, 0, self.fmt.delay_max,
                                    f" steps ({self.fmt.name})")
        if weights is None:
            return None
        n_dst, n_src = weights.shape
        if arr.ndim != 0 and arr.shape not in ((n_src,), (n_dst, n_src)):
            self.add(label, "delays", list(arr.shape),
                     f"an int, ({n_src},) or ({n_dst}, {n_src})",
                     f"delays has shape {arr.shape}; expected null, an int, a per-source "
                     f"vector ({n_src},) or a per-synapse array ({n_dst}, {n_src})")
            return None
        return np.broadcast_to(arr, weights.shape).copy() if in_range else None

    def lint_outputs(self, outputs: Any, sizes: dict[str, int | None]) -> None:
        if outputs is None:
            return
        names = [outputs] if isinstance(outputs, str) else outputs
        if not isinstance(names, list):
            self.add("network", "outputs", _plain(outputs), "a list of population names",
                     "outputs is not a list of population names")
            return
        for name in names:
            if name not in sizes:
                self.add("network", "outputs", name, f"one of: {', '.join(sizes)}",
                         f"outputs names unknown population {name!r}; "
                         f"known: {', '.join(sizes) or '(none)'}")

    # ------------------------------------------------------------------ accumulator
    def lint_accumulators(self, projs: list[_Proj], sizes: dict[str, int | None]) -> None:
        """Per destination row: the largest positive and negative summed input per step.

        Lava sums the weights of each delay slot, shifts that sum by ``weight_exp`` (floor
        for a right shift) and adds the slots arriving in the same step; spikes of
        different slots come from different steps, so all slots can add up at once.
        """
        limit = self.fmt.accumulator_limit
        per_pop: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for proj in projs:
            if proj.n_dst is None or proj.weight_exp is None:
                continue
            pos, neg = proj.row_sums(1).astype(np.int64), proj.row_sums(-1).astype(np.int64)
            self._check_headroom(proj.label, pos, neg, limit, "")
            if proj.dst is not None and sizes.get(proj.dst) == proj.n_dst:
                per_pop.setdefault(proj.dst, []).append((pos, neg))
        for name, sums in per_pop.items():
            if len(sums) > 1:
                pos = np.sum([s[0] for s in sums], axis=0)
                neg = np.sum([s[1] for s in sums], axis=0)
                self._check_headroom(f"population '{name}'", pos, neg, limit,
                                     f" over its {len(sums)} incoming projections")

    def _check_headroom(
        self, where: str, pos: np.ndarray, neg: np.ndarray, limit: int, over: str
    ) -> None:
        worst = np.maximum(pos, -neg)
        bad = worst >= limit
        if not bad.any():
            return
        row = int(np.argmax(worst))
        value = int(worst[row])
        count = int(bad.sum())
        more = f"; {count} rows exceed it" if count > 1 else ""
        self.add(where, "accumulator", value, f"|sum| < {limit} (2**{limit.bit_length() - 1})",
                 f"worst-case summed input per step{over} is {value} at destination row "
                 f"{row} (all positive weights {int(pos[row])}, all negative weights "
                 f"{int(neg[row])}, after weight_exp); keep |sum| < {limit}, or the chip's "
                 f"16-bit accumulator may saturate or wrap where Lava's model does not{more}",
                 index=(row,), count=count)

    # ------------------------------------------------------------------ estimates
    def estimate(self, projs: list[_Proj], sizes: dict[str, int | None]) -> dict[str, Any]:
        fmt = self.fmt
        neurons = sum(s for s in sizes.values() if s is not None)
        synapses = 0
        fan_in_rows: dict[str, np.ndarray] = {
            name: np.zeros(size, dtype=np.int64) for name, size in sizes.items() if size
        }
        synapses_in = {name: 0 for name in fan_in_rows}
        for proj in projs:
            if proj.n_dst is None:
                continue
            count, fan_in = proj.nonzero_synapses()
            synapses += count
            rows = fan_in_rows.get(proj.dst) if proj.dst is not None else None
            if rows is not None and rows.shape[0] == fan_in.shape[0]:
                rows += fan_in
                synapses_in[proj.dst] += count
        by_neurons = math.ceil(neurons / fmt.neurons_per_core)
        by_synapses = math.ceil(synapses / fmt.synapses_per_core)
        layers = {name: {"neurons": int(sizes[name]), "synapses": synapses_in[name],
                         "cores": max(math.ceil(sizes[name] / fmt.neurons_per_core),
                                      math.ceil(synapses_in[name] / fmt.synapses_per_core))}
                  for name in fan_in_rows}
        return {
            "note": ESTIMATE_NOTE,
            "format": fmt.name,
            "neurons": neurons,
            "synapses": synapses,
            "fan_in": {name: int(rows.max()) for name, rows in fan_in_rows.items()},
            "cores": max(by_neurons, by_synapses),
            "cores_by_neurons": by_neurons,
            "cores_by_synapses": by_synapses,
            "neurons_per_core": fmt.neurons_per_core,
            "synapses_per_core": fmt.synapses_per_core,
            "layers": layers,
        }


def lint_arrays(
    arrays: Mapping[str, np.ndarray], fmt: ChipFormat = LOIHI2, source: str = "network"
) -> LintReport:
    """Lint the raw arrays of a network file (see :mod:`neurodeploy.network_io`).

    Never builds a :class:`~neurodeploy.FixedPointNetwork`, so every violation is listed,
    not only the first. Raises :class:`~neurodeploy.errors.NeurodeployError` only when the
    arrays are not a network file at all (no or unreadable ``__meta__``, other format).
    """
    return _Linter(arrays, fmt).lint(read_meta(arrays, FORMAT, VERSION, source, "network file"))


def lint_network(net: FixedPointNetwork, fmt: ChipFormat = LOIHI2) -> LintReport:
    """Lint a constructed network against ``fmt`` (its IR ranges hold; the accumulator,
    a stricter ``fmt`` and the estimates are what this adds)."""
    return lint_arrays(network_to_arrays(net), fmt)


def lint_file(path: str | os.PathLike[str], fmt: ChipFormat = LOIHI2) -> LintReport:
    """Lint a network ``.npz`` file; NeurodeployError (one line) when it cannot be read."""
    arrays = read_npz(path, "a network file (.npz written by save_network)", NeurodeployError)
    return lint_arrays(arrays, fmt, source=str(path))


def _cell(value: Any) -> Any:
    return Text("" if value is None else str(value))


def _violation_table(title: str, items: list[Violation], style: str) -> Any:
    return make_table(title, ("where", "field", "index", "value", "count", "limit"),
                      [(_cell(v.where), _cell(v.field), _cell(list(v.index) if v.index else None),
                        _cell(_plain(v.value)), _cell(v.count), _cell(v.limit)) for v in items],
                      title_style=style)


def render(report: LintReport, console: Any) -> None:
    """Print ``report`` on a rich ``Console``: violations, warnings, then the estimates."""
    if report.violations:
        print_table(console, _violation_table(f"{len(report.violations)} violation(s)",
                                              report.violations, "bold red"))
        for v in report.violations:
            console.print(Text(f"- {v.message}"))
    else:
        console.print(Text("no violations", style="bold green"))
    if report.warnings:
        print_table(console, _violation_table(f"{len(report.warnings)} warning(s)",
                                              report.warnings, "bold yellow"))
    est = report.estimates
    keys = ("neurons", "synapses", "cores", "cores_by_neurons", "cores_by_synapses")
    print_table(console, make_table(
        "estimates (not guarantees)", ("estimate", "value"),
        [*((_cell(key), _cell(est[key])) for key in keys if key in est),
         *((_cell(f"fan-in of '{name}'"), _cell(n)) for name, n in est.get("fan_in", {}).items())],
        justify=("left", "right")))
    if est.get("layers"):
        print_table(console, make_table(
            "per population (its neurons and the synapses ending on it)",
            ("population", "neurons", "synapses", "fan-in", "cores"),
            [(_cell(name), _cell(f"{row['neurons']:,}"), _cell(f"{row['synapses']:,}"),
              _cell(f"{est['fan_in'].get(name, 0):,}"), _cell(row["cores"]))
             for name, row in est["layers"].items()],
            justify=("left", "right", "right", "right", "right")))
    if "note" in est:
        console.print(Text(f"note: {est['note']}", style="dim"))
