"""What quantization did to weights, neuron state and spikes, as typed rows.

Per projection (:class:`ProjectionQuality`): weight SMAPE between the float weights and
the dequantized integers (``W_int * 2**weight_exp * 64 / S``), the share of weights
clipped, the low bits the Loihi grid drops (``8 - num_weight_bits + 1 if mixed``) and the
mean rounding error in LSBs. Per population (:class:`PopulationQuality`): u wraps and v
saturations (steps x neurons where they happened), neurons that never fire or fire at
every step, and spike agreement with the float model (F1 of matching spikes at the exact
step). :class:`QuantizationReport` adds the task accuracy of the float model and of the
integer network. Counts refer to the evaluation data (0-based steps, one step per hop).

``quantization.json["report"]`` holds :meth:`QuantizationReport.to_json`; the renderers
(:mod:`neurodeploy.quantize.render_report`) read it back with
:meth:`QuantizationReport.from_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np

from neurodeploy import fixed_point as fp
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import read_record
from neurodeploy.quantize.ptq import (
    FloatLayer,
    QuantizationInfo,
    bias_unit_name,
    fine_name,
    layer_projections,
    smape,
    spike_f1,
)
from neurodeploy.traces import Traces


@dataclass(frozen=True)
class ProjectionQuality:
    """One projection ``"src->dst"``: its weight_exp and sign mode, weight SMAPE (a share),
    share of weights clipped, grid bits dropped and mean rounding error (LSB).

    A split projection (coarse and fine, see ``neurodeploy.quantize.ptq``) is one row:
    ``weight_exp``, sign mode and grid are the coarse projection's, ``fine_weight_exp`` the
    fine one's, ``weight_smape`` and the rounding error those of the effective weights
    ``W_c 2**e_c + W_f 2**e_f`` (in coarse LSBs), ``weight_smape_single`` the single grid's,
    ``added_synapses`` the fine projection's nonzero weights. Unsplit: None, None, 0.
    """

    projection: str
    weight_exp: int
    sign_mode: str | None
    weight_smape: float
    clipped_share: float
    grid_dropped_bits: int
    mean_rounding_error_lsb: float
    fine_weight_exp: int | None = None
    weight_smape_single: float | None = None
    added_synapses: int = 0

    SPLIT_FIELDS: ClassVar[tuple[str, ...]] = ("fine_weight_exp", "weight_smape_single",
                                               "added_synapses")

    def to_json(self) -> dict[str, Any]:
        """The row as JSON; an unsplit projection's without the split's three fields."""
        return {k: v for k, v in asdict(self).items()
                if self.fine_weight_exp is not None or k not in self.SPLIT_FIELDS}


@dataclass(frozen=True)
class PopulationQuality:
    """One population: u wraps and v saturations ((sample, step, neuron) entries), neurons
    that never fire or fire at every step, spike F1 against the float model at the exact
    step (the last three None for a non-spiking readout population)."""

    population: str
    spiking: bool
    u_wraps: int
    v_saturations: int
    never_fire: int | None
    fire_every_step: int | None
    spike_f1_vs_float: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QuantizationReport:
    """Every projection and population, and the task accuracy (share of samples) of the
    float model and of the integer network (None without labels)."""

    projections: tuple[ProjectionQuality, ...]
    populations: tuple[PopulationQuality, ...]
    accuracy_float: float | None
    accuracy_fixed_point: float | None

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections],
                "populations": [p.to_json() for p in self.populations],
                "accuracy_float": self.accuracy_float,
                "accuracy_fixed_point": self.accuracy_fixed_point}

    @classmethod
    def from_json(cls, report: Mapping[str, Any]) -> QuantizationReport:
        """The typed report of ``quantization.json["report"]``; InputError naming the first
        missing field."""
        what = "quantization report"
        return read_record(
            cls, report, what, "the report",
            projections=lambda rows: tuple(read_record(
                ProjectionQuality, r, what, f"projection {r.get('projection')!r}") for r in rows),
            populations=lambda rows: tuple(read_record(
                PopulationQuality, r, what, f"population {r.get('population')!r}") for r in rows))


def as_report(report: QuantizationReport | Mapping[str, Any]) -> QuantizationReport:
    """``report`` itself when typed, else :meth:`QuantizationReport.from_json` of it."""
    return report if isinstance(report, QuantizationReport) else \
        QuantizationReport.from_json(report)


def projection_quality(net: FixedPointNetwork, layers: list[FloatLayer],
                       info: QuantizationInfo) -> list[ProjectionQuality]:
    """One row per projection into each float layer (feed-forward, recurrent, then the
    bias unit's, whose weights are the layer's constant input current); a split projection
    is one row (its coarse and fine projections together)."""
    rows = []
    unit = bias_unit_name(layers)
    for layer in layers:  # a convolution's row: its expanded weights
        for src, w_f, _ in layer_projections(replace(layer, conv=None), unit):
            key = f"{src}->{layer.name}"
            mine = [p for p in net.projections if p.src == src and p.dst == layer.name]
            proj = next(p for p in mine if p.name != fine_name(key))
            fine = next((p for p in mine if p.name == fine_name(key)), None)
            lsb = 64.0 * 2.0**proj.weight_exp / info.scales[layer.name]
            ints = proj.weights  # the effective weights in coarse LSBs
            if fine is not None:
                ints = ints + fine.weights * 2.0 ** (fine.weight_exp - proj.weight_exp)
            clipped = info.clipped.get(f"projection '{key}'.weights", 0)
            rows.append(ProjectionQuality(
                projection=key, weight_exp=proj.weight_exp,
                sign_mode=proj.sign_mode,
                weight_smape=smape(w_f, ints * lsb),
                clipped_share=clipped / proj.weights.size,
                grid_dropped_bits=fp.dropped_weight_bits(proj.sign_mode, proj.num_weight_bits),
                mean_rounding_error_lsb=float(np.mean(np.abs(w_f / lsb - ints))),
                fine_weight_exp=None if fine is None else fine.weight_exp,
                weight_smape_single=None if fine is None else smape(w_f, proj.weights * lsb),
                added_synapses=0 if fine is None else int(np.count_nonzero(fine.weights)),
            ))
    return rows


def population_quality(traces: Traces, float_spikes: dict[str, np.ndarray],
                       spiking: dict[str, bool]) -> list[PopulationQuality]:
    """One row per population of ``traces`` (the integer network's spikes, u and v)."""
    rows = []
    for name, s in traces.spikes.items():
        u, v = traces.u[name], traces.v[name]
        counts = s.sum(axis=(0, 1))
        total_steps = s.shape[0] * s.shape[1]
        rows.append(PopulationQuality(
            population=name, spiking=spiking[name],
            u_wraps=int((np.abs(np.diff(u, axis=1)) > fp.STATE_HALF).sum()),
            v_saturations=int((np.abs(v) == fp.V_MAX).sum()),
            never_fire=int((counts == 0).sum()) if spiking[name] else None,
            fire_every_step=int((counts == total_steps).sum()) if spiking[name] else None,
            spike_f1_vs_float=spike_f1(float_spikes[name], s) if spiking[name] else None,
        ))
    return rows


def projection_report(net: FixedPointNetwork, layers: list[FloatLayer],
                      info: QuantizationInfo) -> list[dict[str, Any]]:
    """:func:`projection_quality` as JSON rows (``quantization.json["report"]``)."""
    return [row.to_json() for row in projection_quality(net, layers, info)]


def population_report(traces: Traces, float_spikes: dict[str, np.ndarray],
                      spiking: dict[str, bool]) -> list[dict[str, Any]]:
    """:func:`population_quality` as JSON rows (``quantization.json["report"]``)."""
    return [row.to_json() for row in population_quality(traces, float_spikes, spiking)]
