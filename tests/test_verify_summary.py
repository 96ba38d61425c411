"""Typed verification summaries and figure data on a case small enough to count by hand.

One population 'out' of 2 neurons, 3 samples x 4 steps (0-based, one step per hop).
"ref" spikes: sample 0 neuron 0 at step 1, sample 1 neuron 1 at step 0, sample 2 silent.
"dut" spikes each of those one step later (steps 2 and 1); "copy" equals "ref".
v (LSB): all zero, except dut's v of sample 2, neuron 1, step 3, which is 2.
Readout scores: ref and copy decide class 0, 1, 0; dut decides 0, 1, 1.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from neurodeploy.errors import InputError
from neurodeploy.quantize.quality import QuantizationReport
from neurodeploy.quantize.render_report import plot_report, render_report
from neurodeploy.verify.figure_data import (
    divergence_map,
    pick_neurons,
    raster_view,
    voltage_window,
)
from neurodeploy.verify.gates import evaluate_gate, parse_gate
from neurodeploy.verify.metrics import Divergence
from neurodeploy.verify.pipeline import BackendRun, compare_pair
from neurodeploy.verify.summary import Verdict, VerificationSummary

SAMPLES, STEPS = 3, 4


def tiny_case():
    """(summary dict as the verifier builds it, traces)."""
    ref = np.zeros((SAMPLES, STEPS, 2), bool)
    ref[0, 1, 0] = ref[1, 0, 1] = True
    dut = np.zeros_like(ref)
    dut[0, 2, 0] = dut[1, 1, 1] = True
    v = np.zeros(ref.shape)
    v_dut = v.copy()
    v_dut[2, 3, 1] = 2.0
    runs = {"ref": BackendRun("ref", "fixed_point", "lsb", {"out": ref}, {"out": v}, 1.5),
            "dut": BackendRun("dut", "trace", "lsb", {"out": dut}, {"out": v_dut}),
            "copy": BackendRun("copy", "fixed_point", "lsb", {"out": ref.copy()},
                               {"out": v.copy()}, 0.5)}
    scores = {"ref": np.array([[1, 0], [0, 1], [1, 0]]), "copy": np.array([[1, 0], [0, 1], [1, 0]]),
              "dut": np.array([[1, 0], [0, 1], [0, 1]])}
    names = list(runs)
    pairs = [compare_pair(runs[a], runs[b], tau=5.0, max_lag=2, logits=scores)
             for i, a in enumerate(names) for b in names[i + 1:]]
    summary = {
        "model": "tiny.npz", "data": "x.npz (all)", "samples": SAMPLES, "steps": STEPS,
        "dt": None, "populations": {"out": 2}, "outputs": ["out"], "readout": "count",
        "backends": {n: {"kind": r.kind, "units": r.units, "seconds": r.seconds,
                         "recorded": ["spikes", "v"], "accuracy": None}
                     for n, r in runs.items()},
        "pairs": pairs, "tau": 5.0, "max_lag": 2,
    }
    summary["gates"] = [evaluate_gate(parse_gate(g), summary)
                        for g in ("ref==dut", "ref~dut:lag==1", "ref==copy")]
    summary["passed"] = all(g["passed"] for g in summary["gates"])
    traces = {n: {"spikes": r.spikes, "v": r.v} for n, r in runs.items()}
    return summary, traces


@pytest.fixture(scope="module")
def case():
    summary, traces = tiny_case()
    return VerificationSummary.from_json(summary), traces


def test_backends_and_population_sizes(case):
    s, _ = case
    assert (s.samples, s.steps, s.dt, s.outputs, s.readout) == (3, 4, None, ("out",), "count")
    assert dict(s.populations) == {"out": 2}
    assert list(s.backends) == ["ref", "dut", "copy"]
    assert s.backends["ref"].seconds == 1.5 and s.backends["dut"].seconds is None
    assert s.backends["dut"].kind == "trace" and s.backends["dut"].recorded == ("spikes", "v")
    assert s.units("ref") == "lsb" and s.units("nosuch") is None


def test_a_pair_one_step_late(case):
    s, _ = case
    assert [(p.a, p.b) for p in s.pairs] == [("ref", "dut"), ("ref", "copy"), ("dut", "copy")]
    pair = s.pairs[0]
    assert not pair.identical
    assert pair.identical_samples == pytest.approx(1 / 3)  # only the silent sample 2
    assert pair.decision_agreement == pytest.approx(2 / 3)  # sample 2 decides differently
    # step 0 is the earliest difference: sample 1, neuron 1, ref spiked and dut did not
    assert pair.first_divergence == Divergence(0, 1, "out", 1, True, False)
    assert pair.divergent_sample == 1
    out = pair.populations["out"]
    m = out.metrics
    assert (m.n_spikes_a, m.n_spikes_b) == (2, 2)
    assert m.f1_at_0 == 0.0 and m.f1_at_1 == 1.0
    assert (m.best_lag, m.f1_at_best_lag) == (1, 1.0)  # dut one step after ref
    assert m.count_error_abs == 0.0  # same counts per (sample, neuron)
    assert m.first_spike_mean == 1.0 and m.first_spike_max == 1
    assert m.v_rmse == pytest.approx(math.sqrt(2.0**2 / 24))  # one entry of 24 differs by 2
    assert (out.v_mismatches, out.v_mismatch_steps) == (1, (3,))
    copy = s.pairs[1]
    assert copy.identical and copy.first_divergence is None and copy.divergent_sample is None
    assert copy.populations["out"].v_mismatches == 0


def test_gates_verdict_and_groups(case):
    s, _ = case
    assert [(g.expr, g.passed, g.value) for g in s.gates] == [
        ("ref==dut", False, False), ("ref~dut:lag==1", True, 1), ("ref==copy", True, True)]
    assert s.gates[0].detail == "first divergence: sample 1, population 'out', neuron 1, step 0"
    verdict = s.verdict
    assert (verdict.passed, verdict.gates, verdict.failed) == (False, 3, ("ref==dut",))
    assert s.identical_groups() == [["ref", "copy"], ["dut"]]
    assert s.raster_samples(s.pairs[0]) == [1, 0]  # own divergence, 0; dut-copy: sample 1
    assert s.raster_samples(s.pairs[1], samples=[2, 2, 0]) == [2, 0]


def test_the_verdict_needs_every_gate_and_the_verifier_to_pass():
    summary, _ = tiny_case()
    summary["passed"] = True  # a failed gate still fails
    assert VerificationSummary.from_json(summary).verdict == Verdict(False, 3, ("ref==dut",))
    summary["gates"] = []
    assert VerificationSummary.from_json(summary).verdict == Verdict(True, 0, ())
    summary["passed"] = False
    assert VerificationSummary.from_json(summary).verdict == Verdict(False, 0, ())


@pytest.mark.parametrize(("path", "needle"), [
    (("steps",), "the summary has no 'steps'"),
    (("backends", "dut", "units"), "backend 'dut' has no 'units'"),
    (("pairs", 0, "populations", "out", "f1_at_1"),
     "pair ref vs dut, population 'out' has no 'f1_at_1'"),
    (("pairs", 0, "first_divergence", "neuron"), "pair ref vs dut, first divergence has no"),
    (("gates", 1, "detail"), "gate 'ref~dut:lag==1' has no 'detail'"),
])
def test_a_missing_field_is_named(path, needle):
    summary, _ = tiny_case()
    record = summary
    for key in path[:-1]:
        record = record[key]
    del record[path[-1]]
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        VerificationSummary.from_json(summary)


# --------------------------------------------------------------------------- figure data


def test_raster_of_the_divergent_sample(case):
    s, traces = case
    view = raster_view(s.pairs[0], traces, sample=1)
    (panel,) = view.panels
    assert view.divergence_here and panel.population == "out"
    assert (panel.steps, panel.size, panel.neurons.tolist()) == (4, 2, [0, 1])
    assert not panel.matched.any()
    assert np.argwhere(panel.missed).tolist() == [[0, 1]]  # (step, neuron row): ref only
    assert np.argwhere(panel.extra).tolist() == [[1, 1]]  # dut only
    assert (panel.n_matched, panel.n_missed, panel.n_extra, panel.n_mismatched) == (0, 1, 1, 1)
    assert panel.divergence == (0, 1) and not panel.subsampled
    other = raster_view(s.pairs[0], traces, sample=0)
    assert not other.divergence_here and other.panels[0].divergence is None


def test_a_population_without_comparable_spikes_is_omitted(case):
    s, traces = case
    short = {**traces, "dut": {"spikes": {"out": traces["dut"]["spikes"]["out"][:, :2]}}}
    view = raster_view(s.pairs[0], short, sample=0)
    assert view.panels == [] and [(o.name, o.reason) for o in view.items] == [
        ("out", "not comparable")]


def test_divergence_map_counts_differing_entries_per_step(case):
    s, traces = case
    data = divergence_map(s.pairs[0], traces)
    assert data.populations == ("out",) and data.divergence_step == 0
    # of 3 samples x 2 neurons: step 0 one entry (ref), step 1 two (ref, dut), step 2 one
    np.testing.assert_allclose(data.share, [[1 / 6, 2 / 6, 1 / 6, 0.0]])


def test_voltage_window_groups_backends_by_units(case):
    s, traces = case
    data = voltage_window(s, s.pairs[0], traces, window=1, backends=["ref", "dut", "copy"])
    assert (data.population, data.sample, data.neuron, data.step) == ("out", 1, 1, 0)
    assert (data.first, data.last) == (0, 1)  # step 0 - 1 is clipped at 0
    (group,) = data.groups
    assert group.units == "lsb" and [t.backend for t in group.traces] == ["ref", "dut", "copy"]
    assert group.traces[0].spiked.tolist() == [True, False]
    assert group.traces[1].spiked.tolist() == [False, True]
    assert voltage_window(s, s.pairs[1], traces, 1, ["ref"]) is None  # identical pair


def test_pick_neurons_mismatches_first_then_spread_active_then_silent():
    mismatch = np.array([False, True, False, False, False, False])
    active = np.array([True, False, False, True, False, True])
    assert pick_neurons(mismatch, active, 3).tolist() == [0, 1, 5]  # 0 and 5 spread over 0,3,5
    assert pick_neurons(mismatch, active, 5).tolist() == [0, 1, 2, 3, 5]  # then silent 2
    assert pick_neurons(mismatch, active, 1).tolist() == [1]


# ---------------------------------------------------------------------- quantization


QUANT = {"projections": [{"projection": "input->h", "weight_exp": 3, "sign_mode": "mixed",
                          "weight_smape": 0.0123, "clipped_share": 0.001,
                          "grid_dropped_bits": 1, "mean_rounding_error_lsb": 0.251}],
         "populations": [{"population": "h", "spiking": True, "u_wraps": 3,
                          "v_saturations": 0, "never_fire": 2, "fire_every_step": 0,
                          "spike_f1_vs_float": 0.9},
                         {"population": "out", "spiking": False, "u_wraps": 0,
                          "v_saturations": 1, "never_fire": None, "fire_every_step": None,
                          "spike_f1_vs_float": None}],
         "accuracy_float": 0.91, "accuracy_fixed_point": 0.875}


def test_quantization_report_reads_back_what_it_writes():
    report = QuantizationReport.from_json(QUANT)
    assert report.to_json() == QUANT
    assert report.projections[0].grid_dropped_bits == 1
    assert report.populations[1].spike_f1_vs_float is None
    broken = {**QUANT, "populations": [{**QUANT["populations"][0]}]}
    del broken["populations"][0]["u_wraps"]
    with pytest.raises(InputError, match="population 'h' has no 'u_wraps'"):
        QuantizationReport.from_json(broken)


def test_quantization_report_tables_and_plot(tmp_path):
    console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
    render_report(QUANT, console)
    lines = [" ".join(line.replace("│", " ").split()) for line in console.export_text()
             .splitlines()]
    assert "input->h 3 1.23% 0.10% 1 0.251" in lines
    assert "out 0 1 - - -" in lines
    assert lines[-1] == "task accuracy: float 91.0%, fixed point 87.5% (-3.5%)"
    plot_report(QuantizationReport.from_json(QUANT), tmp_path / "q.png")
    with Image.open(tmp_path / "q.png") as im:
        assert im.format == "PNG" and im.size == (900, 350)  # 9 x 3.5 inches at 100 dpi
