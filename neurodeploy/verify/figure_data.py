"""What the report's figures show for one pair of backends, computed from their traces.

``traces[backend]`` is ``{"spikes": {population: bool (samples, steps, neurons)},
"v": {population: numbers, same shape}}``; "v" may be missing or cover only some
populations. All backends share the same samples, steps and populations.

Time convention: steps are 0-based, one step per hop. In a pair (a, b), ``a`` is the
reference side: rasters compare the two at the exact step (the tolerance-0 matching of
:func:`neurodeploy.verify.metrics.spike_matching`); "missed" spikes are spikes of ``a``
that ``b`` lacks, "extra" spikes are spikes of ``b`` that ``a`` lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from neurodeploy.verify.metrics import as_spikes, spike_matching
from neurodeploy.verify.summary import PairSummary, VerificationSummary

#: Neurons per population in a raster; larger populations show every neuron with a
#: mismatch (up to this many) plus evenly spread others.
MAX_RASTER_NEURONS = 64

BackendTraces = Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]


def spikes_of(traces: BackendTraces, backend: str, population: str) -> np.ndarray | None:
    """The backend's spikes of ``population`` as bool (samples, steps, neurons), or None."""
    spikes = (traces.get(backend) or {}).get("spikes") or {}
    return as_spikes(spikes[population], population) if population in spikes else None


def v_of(traces: BackendTraces, backend: str, population: str) -> np.ndarray | None:
    """The backend's v of ``population`` as recorded, or None."""
    v = (traces.get(backend) or {}).get("v") or {}
    return None if population not in v else np.asarray(v[population])


# ------------------------------------------------------------------------------ rasters


def pick_neurons(mismatch: np.ndarray, active: np.ndarray, limit: int) -> np.ndarray:
    """Neuron indices for a raster: those with a mismatch, then evenly spread active ones,
    then evenly spread silent ones, ``limit`` at most, sorted."""
    chosen = list(np.flatnonzero(mismatch)[:limit])
    for pool in (np.flatnonzero(active & ~mismatch), np.flatnonzero(~active & ~mismatch)):
        room = limit - len(chosen)
        if room <= 0 or pool.size == 0:
            continue
        picks = np.unique(np.linspace(0, pool.size - 1, min(room, pool.size)).round())
        chosen.extend(pool[picks.astype(int)])
    return np.sort(np.asarray(chosen, dtype=np.int64))


@dataclass(frozen=True)
class RasterPanel:
    """One population of one sample at the exact step.

    ``neurons``: the neuron indices shown, sorted (every neuron unless the population has
    more than :data:`MAX_RASTER_NEURONS`); ``matched``/``missed``/``extra``: bool
    (steps, shown neurons) for spikes in both, only in a, only in b; ``n_*``: those counts
    over every neuron of the sample; ``n_mismatched``: neurons with a missed or extra
    spike; ``divergence``: (step, row among the shown neurons) of the pair's first
    divergence when it lies in this panel.
    """

    population: str
    steps: int
    size: int
    neurons: np.ndarray
    matched: np.ndarray
    missed: np.ndarray
    extra: np.ndarray
    n_matched: int
    n_missed: int
    n_extra: int
    n_mismatched: int
    divergence: tuple[int, int] | None

    @property
    def subsampled(self) -> bool:
        return self.neurons.size < self.size


@dataclass(frozen=True)
class Omitted:
    """A population or backend a figure leaves out, and why (``shape``: the v shape when
    it does not match the spikes)."""

    name: str
    reason: Literal["not comparable", "empty", "no v", "shape", "short"]
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class RasterView:
    """Sample ``sample`` of the pair: one panel per comparable population, in order, and
    the populations left out (in ``items`` both, in population order).

    ``divergence_here``: the pair's first divergence is in this sample.
    """

    a: str
    b: str
    sample: int
    items: tuple[RasterPanel | Omitted, ...]
    divergence_here: bool

    @property
    def panels(self) -> list[RasterPanel]:
        return [item for item in self.items if isinstance(item, RasterPanel)]


def raster_view(pair: PairSummary, traces: BackendTraces, sample: int,
                max_neurons: int = MAX_RASTER_NEURONS) -> RasterView:
    """The raster of ``sample`` (0-based) for ``pair``."""
    a, b = pair.a, pair.b
    divergence = pair.first_divergence
    items: list[RasterPanel | Omitted] = []
    for pop in pair.populations:
        sa, sb = spikes_of(traces, a, pop), spikes_of(traces, b, pop)
        if sa is None or sb is None or sa.shape != sb.shape or sample >= sa.shape[0]:
            items.append(Omitted(pop, "not comparable"))
            continue
        if sa.shape[2] == 0 or sa.shape[1] == 0:
            items.append(Omitted(pop, "empty"))
            continue
        match = spike_matching(sa[sample:sample + 1], sb[sample:sample + 1], 0, name=pop)
        mismatch = (match.missed | match.extra)[0].any(axis=0)
        n = sa.shape[2]
        shown = (pick_neurons(mismatch, (sa[sample] | sb[sample]).any(axis=0), max_neurons)
                 if n > max_neurons else np.arange(n))
        here = (divergence is not None and divergence.sample == sample
                and divergence.population == pop)
        rows = np.flatnonzero(shown == divergence.neuron) if here else ()
        ring = (divergence.step, int(rows[0])) if len(rows) else None
        items.append(RasterPanel(
            pop, sa.shape[1], n, shown, match.matched_a[0][:, shown], match.missed[0][:, shown],
            match.extra[0][:, shown], match.n_matched, match.n_missed, match.n_extra,
            int(mismatch.sum()), ring))
    return RasterView(a, b, sample, tuple(items),
                      divergence is not None and divergence.sample == sample)


# -------------------------------------------------------------------------- divergence map


@dataclass(frozen=True)
class DivergenceMap:
    """Per population and step, the share of (sample, neuron) entries whose spike differs
    between a and b: ``share`` (populations, steps), None when no map can be drawn (no
    comparable population, populations of different lengths, or no steps).
    ``divergence_step``: the first divergence's step, None when identical."""

    a: str
    b: str
    populations: tuple[str, ...]
    share: np.ndarray | None
    omitted: tuple[Omitted, ...]
    divergence_step: int | None


def divergence_map(pair: PairSummary, traces: BackendTraces) -> DivergenceMap:
    names, rows, omitted = [], [], []
    for pop in pair.populations:
        sa, sb = spikes_of(traces, pair.a, pop), spikes_of(traces, pair.b, pop)
        if sa is None or sb is None or sa.shape != sb.shape:
            omitted.append(Omitted(pop, "not comparable"))
            continue
        differs = sa != sb
        names.append(pop)
        rows.append(differs.mean(axis=(0, 2)) if differs.shape[0] * differs.shape[2]
                    else np.zeros(differs.shape[1]))
    drawable = rows and len({r.size for r in rows}) == 1 and rows[0].size > 0
    divergence = pair.first_divergence
    return DivergenceMap(pair.a, pair.b, tuple(names), np.vstack(rows) if drawable else None,
                         tuple(omitted), None if divergence is None else divergence.step)


# --------------------------------------------------------------------------------- voltage


@dataclass(frozen=True)
class VoltageTrace:
    """One backend's v of the divergent neuron over the window (float64, one value per
    step) and where it spiked there (bool, same length; None without spikes)."""

    backend: str
    v: np.ndarray
    spiked: np.ndarray | None


@dataclass(frozen=True)
class VoltageGroup:
    """Backends whose v shares ``units`` (None: units not stated, one backend a group)."""

    units: str | None
    traces: tuple[VoltageTrace, ...]


@dataclass(frozen=True)
class VoltageWindow:
    """v of the pair's first divergent neuron at steps ``first`` to ``last`` (0-based,
    inclusive; at most ``window`` steps either side of ``step``), every backend with v of
    that population, grouped by units; ``omitted``: backends with traces but no usable
    v."""

    a: str
    b: str
    population: str
    sample: int
    neuron: int
    step: int
    window: int
    first: int
    last: int
    groups: tuple[VoltageGroup, ...]
    omitted: tuple[Omitted, ...]


def voltage_window(summary: VerificationSummary, pair: PairSummary, traces: BackendTraces,
                   window: int, backends: Iterable[str]) -> VoltageWindow | None:
    """None when the pair is identical; ``backends``: those to look at, in plotting order."""
    divergence = pair.first_divergence
    if divergence is None:
        return None
    pop, sample = divergence.population, divergence.sample
    neuron, step = divergence.neuron, divergence.step
    # (units, backend when units are not stated) -> [(backend, v, spikes or None)]
    members: dict[tuple[str | None, str | None], list[tuple[str, np.ndarray, Any]]] = {}
    omitted = []
    for name in backends:
        v = v_of(traces, name, pop)
        if v is None:
            if name in traces:
                omitted.append(Omitted(name, "no v"))
            continue
        spikes = spikes_of(traces, name, pop)
        if v.ndim != 3 or (spikes is not None and v.shape != spikes.shape):
            omitted.append(Omitted(name, "shape", tuple(v.shape)))
            continue
        if sample >= v.shape[0] or step >= v.shape[1] or neuron >= v.shape[2]:
            omitted.append(Omitted(name, "short"))
            continue
        units = summary.units(name)
        # one axis per unit; a backend that states no units gets an axis of its own
        members.setdefault((units, None if units else name), []).append((name, v, spikes))
    first = last = step
    if members:
        steps = next(iter(members.values()))[0][1].shape[1]
        first, last = max(0, step - window), min(steps - 1, step + window)
    at = np.s_[sample, first:last + 1, neuron]  # the neuron over the window
    groups = tuple(VoltageGroup(units, tuple(
        VoltageTrace(name, np.asarray(v[at], dtype=np.float64),
                     None if s is None else np.asarray(s[at])) for name, v, s in group))
        for (units, _), group in members.items())
    return VoltageWindow(pair.a, pair.b, pop, sample, neuron, step, window, first, last,
                         groups, tuple(omitted))
