"""The verification as typed, read-only summaries: what the report and the terminal show.

:func:`neurodeploy.verify.pipeline.verify` writes its result as a JSON-able dict
(``summary.json``; there ``model`` and the file in ``data`` are paths relative to the
report's folder)::

    {"model", "data", "samples", "steps", "dt" (seconds or None),
     "populations": {population: size}, "outputs": [population, ...], "readout",
     "backends": {name: {"kind", "units" ("lsb" | "float" | None), "accuracy", "seconds",
                         "recorded"}},
     "pairs": [{"a", "b", "identical", "identical_samples", "decision_agreement",
                "first_divergence": None | {"step", "sample", "population", "neuron",
                                            "a_spiked", "b_spiked"},
                "populations": {population: PairMetrics.to_json()
                                             [+ "v_mismatches", "v_mismatch_steps"]}}],
     "tau", "max_lag", "gates": [{"expr", "passed", "value", "detail"}], "passed"}

:meth:`VerificationSummary.from_json` reads that dict into frozen dataclasses; the
renderers (:mod:`neurodeploy.verify.render_html`, :mod:`neurodeploy.verify.render_terminal`)
work on these only. The per-population metrics are :class:`~neurodeploy.verify.metrics.
PairMetrics` and the first divergence a :class:`~neurodeploy.verify.metrics.Divergence`,
the very records the metrics compute.

Time convention: steps are 0-based, one step per hop; lags and divergence steps are in
steps. In a pair (a, b), ``a`` is the reference side and ``b`` the backend under test;
lag +1 means ``b`` spikes one step after ``a``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neurodeploy.network_io import read_record
from neurodeploy.readout import V_READOUTS
from neurodeploy.verify.metrics import Divergence, PairMetrics


def _record(cls: type, record: Mapping[str, Any], where: str, *given: Any,
            **convert: Any) -> Any:
    """:func:`~neurodeploy.network_io.read_record` of the verification summary."""
    return read_record(cls, record, "verification summary", where, *given, **convert)


def _names(values: Any) -> tuple:
    return tuple(values or ())


@dataclass(frozen=True)
class GateResult:
    """One ``--require`` gate: its expression, outcome, value (None when not available)
    and a one-line detail."""

    expr: str
    passed: bool
    value: bool | int | float | None
    detail: str

    @classmethod
    def from_json(cls, gate: Mapping[str, Any]) -> GateResult:
        where = f"gate {gate.get('expr')!r}" if isinstance(gate, Mapping) else "a gate"
        return _record(cls, gate, where, expr=str, passed=bool,
                       detail=lambda value: str(value or ""))


@dataclass(frozen=True)
class BackendSummary:
    """One backend (or recorded trace): what it is, its v units, task accuracy (share of
    samples, None without labels or readout), run time in seconds (None for a recorded
    trace) and what it recorded (``("spikes",)`` or ``("spikes", "v")``)."""

    name: str
    kind: str | None  # "float", "fixed_point" or "trace"
    units: str | None
    accuracy: float | None
    seconds: float | None
    recorded: tuple[str, ...]

    @property
    def v_units(self) -> str | None:
        """The v units; None when not stated (None, "" or "none")."""
        return None if self.units in (None, "", "none") else str(self.units)

    @classmethod
    def from_json(cls, name: str, backend: Mapping[str, Any]) -> BackendSummary:
        return _record(cls, backend, f"backend {name!r}", name, recorded=_names)


@dataclass(frozen=True)
class PopulationComparison:
    """One population compared between the two backends of a pair: the metrics and, when
    both recorded v in the same units, how many (sample, step, neuron) entries of v differ
    and the first steps (0-based, at most 20) where they do."""

    population: str
    metrics: PairMetrics
    v_mismatches: int | None = None
    v_mismatch_steps: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, population: str, record: Mapping[str, Any],
                  where: str) -> PopulationComparison:
        where = f"{where}, population {population!r}"
        return _record(cls, record, where, population, _record(PairMetrics, record, where),
                       v_mismatch_steps=_names)


@dataclass(frozen=True)
class PairSummary:
    """Two backends compared: ``a`` the reference side, ``b`` the backend under test.

    ``identical``: every spike of every population, sample and step equal;
    ``identical_samples``: share of samples identical in every population;
    ``decision_agreement``: share of samples whose readout decides the same (None when a
    side has no readout); ``first_divergence``: the earliest step where the rasters differ
    (ties: smallest sample, then population order, then neuron), None when identical;
    ``populations``: per population, in the model's order.
    """

    a: str
    b: str
    identical: bool
    identical_samples: float
    decision_agreement: float | None
    first_divergence: Divergence | None
    populations: Mapping[str, PopulationComparison]

    @property
    def divergent_sample(self) -> int | None:
        """The sample of the first divergence, None when identical."""
        return None if self.first_divergence is None else self.first_divergence.sample

    @classmethod
    def from_json(cls, pair: Mapping[str, Any]) -> PairSummary:
        where = (f"pair {pair['a']} vs {pair['b']}"  # "a pair" until its sides are known
                 if isinstance(pair, Mapping) and "a" in pair and "b" in pair else "a pair")
        return _record(
            cls, pair, where, a=str, b=str, identical=bool,
            first_divergence=lambda d: _record(Divergence, d, f"{where}, first divergence")
            if d else None,
            populations=lambda pops: {
                str(pop): PopulationComparison.from_json(str(pop), record, where)
                for pop, record in (pops or {}).items()})


@dataclass(frozen=True)
class Verdict:
    """The outcome: ``passed`` when every gate passed and the verifier says so;
    ``gates``: how many were set; ``failed``: the expressions of the failed ones."""

    passed: bool
    gates: int
    failed: tuple[str, ...]


@dataclass(frozen=True)
class VerificationSummary:
    """A verification: model, data (``samples`` x ``steps``, dt in seconds per step or
    None), population sizes, output populations, the readout, every backend, every pair
    (in the order compared) and the gates."""

    model: str
    data: str
    samples: int
    steps: int
    dt: float | None
    populations: Mapping[str, int]
    outputs: tuple[str, ...]
    backends: Mapping[str, BackendSummary]
    pairs: tuple[PairSummary, ...]
    gates: tuple[GateResult, ...]
    passed: bool
    readout: str | None = None

    @classmethod
    def from_json(cls, summary: Mapping[str, Any]) -> VerificationSummary:
        """The typed summary of the verifier's JSON-able dict; InputError naming the first
        missing field."""
        return _record(
            cls, summary, "the summary", model=str, data=str, passed=bool,
            populations=lambda pops: dict(pops or {}), outputs=_names,
            backends=lambda backends: {str(name): BackendSummary.from_json(str(name), info)
                                       for name, info in (backends or {}).items()},
            pairs=lambda pairs: tuple(PairSummary.from_json(p) for p in pairs or ()),
            gates=lambda gates: tuple(GateResult.from_json(g) for g in gates or ()))

    def units(self, backend: str) -> str | None:
        """The backend's v units; None when not stated or the backend is unknown."""
        return self.backends[backend].v_units if backend in self.backends else None

    @property
    def verdict(self) -> Verdict:
        failed = tuple(g.expr for g in self.gates if not g.passed)
        return Verdict(self.passed and not failed, len(self.gates), failed)

    def backend_names(self) -> list[str]:
        """Every backend, in the summary's order, then any only named by a pair."""
        return list(dict.fromkeys([*self.backends,
                                   *(name for pair in self.pairs for name in (pair.a, pair.b))]))

    def is_v_readout(self, population: str) -> bool:
        """Whether ``population``'s v, not its spikes, is the model's output: an output
        population read out by ``mean_v`` or ``max_v`` (it may not spike at all)."""
        return self.readout in V_READOUTS and population in self.outputs

    def same(self, pair: PairSummary) -> bool:
        """Identical at every step: every spike equal and, for a population whose v is the
        readout (:meth:`is_v_readout`), every v entry equal. False when that v was not
        compared (recorded by one side only, or in different units)."""
        return pair.identical and all(
            comparison.v_mismatches == 0 for pop, comparison in pair.populations.items()
            if self.is_v_readout(pop))

    def identical_groups(self) -> list[list[str]]:
        """Backends grouped by :meth:`same` (identical at every step), in
        :meth:`backend_names` order; each group is listed once, its first member first."""
        names = self.backend_names()
        parent = {n: n for n in names}

        def root(n: str) -> str:
            while parent[n] != n:
                n = parent[n]
            return n

        for pair in self.pairs:
            if self.same(pair):
                ra, rb = root(pair.a), root(pair.b)
                if ra != rb:
                    parent[max(ra, rb, key=names.index)] = min(ra, rb, key=names.index)
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(root(n), []).append(n)
        return list(groups.values())

    def shown_pairs(self) -> list[PairSummary]:
        """The pairs worth showing once each group of :meth:`identical_groups` stands for
        all its members: none within a group and, between two groups, one pair (of their
        first members when compared, else the first in order); in the summary's order."""
        head = {name: group[0] for group in self.identical_groups() for name in group}
        chosen: dict[frozenset[str], PairSummary] = {}
        for pair in self.pairs:
            key = frozenset((head[pair.a], head[pair.b]))
            best = chosen.get(key)
            if len(key) == 2 and (best is None or ({pair.a, pair.b} == key
                                                   and {best.a, best.b} != key)):
                chosen[key] = pair
        keep = {id(pair) for pair in chosen.values()}
        return [pair for pair in self.pairs if id(pair) in keep]

    def raster_samples(self, pair: PairSummary,
                       samples: Sequence[int] | None = None) -> list[int]:
        """The samples to draw rasters of for ``pair``, in order, without repeats.

        ``samples`` when given; otherwise the pair's first-divergence sample, sample 0,
        then the first-divergence samples of the other non-identical pairs.
        """
        if samples is not None:
            return list(dict.fromkeys(int(s) for s in samples))
        chosen = [pair.divergent_sample, 0,
                  *(other.divergent_sample for other in self.pairs if not other.identical)]
        return list(dict.fromkeys(s for s in chosen if s is not None))


SummaryLike = VerificationSummary | Mapping[str, Any]


def as_summary(summary: SummaryLike) -> VerificationSummary:
    """``summary`` itself when typed, else :meth:`VerificationSummary.from_json` of it."""
    return (summary if isinstance(summary, VerificationSummary)
            else VerificationSummary.from_json(summary))


def raster_samples(summary: SummaryLike, pair: PairSummary | Mapping[str, Any],
                   samples: Sequence[int] | None = None) -> list[int]:
    """:meth:`VerificationSummary.raster_samples` of a typed or JSON summary and pair."""
    typed = pair if isinstance(pair, PairSummary) else PairSummary.from_json(pair)
    return as_summary(summary).raster_samples(typed, samples)
