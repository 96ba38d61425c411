"""Reports a person can trust: what the HTML report and the terminal tables must not hide.

A readout population read from v (``mean_v``) that never spikes is compared by v, never
shown as "identical, F1 1.000" on zero spikes; backends identical at every step are shown
once; a report without gates says so instead of PASS; figures are sharp with legible
labels; tables scroll on a narrow screen; terminal tables keep every number whole at 80
columns. Steps are 0-based, one step per hop.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
from matplotlib.text import Text
from PIL import Image
from rich.console import Console
from rich.table import Table
from test_verify_report import Page, build_case, only_pairs, png_bytes
from test_verify_summary import QUANT

from neurodeploy.quantize.render_report import render_report
from neurodeploy.study.dt import DtStudyResult, render_dt_study
from neurodeploy.study.summary import StudyResult, render_study
from neurodeploy.terminal_table import print_table
from neurodeploy.verify import figures
from neurodeploy.verify.pipeline import BackendRun, compare_pair
from neurodeploy.verify.render_html import write_html_report
from neurodeploy.verify.render_terminal import render_terminal
from neurodeploy.verify.summary import VerificationSummary

SAMPLES, STEPS = 2, 6


def readout_case() -> tuple[dict, dict]:
    """(summary, traces): 'hidden' spikes the same everywhere, 'quiet' never spikes, 'out'
    is the mean_v readout and never spikes. "copy" equals "reference"; "lava" differs from
    it in v of 'out' at sample 1, steps 2 and 4 (neuron 0) and by one extra spike of
    'hidden' (sample 1, step 4, neuron 1); "torch-float" has the same spikes as "reference",
    v in float units."""
    hidden = np.zeros((SAMPLES, STEPS, 3), bool)
    hidden[0, 1, 0] = hidden[1, 3, 2] = True
    quiet = np.zeros((SAMPLES, STEPS, 2), bool)
    out = np.zeros((SAMPLES, STEPS, 2), bool)
    v_out = np.arange(SAMPLES * STEPS * 2, dtype=float).reshape(SAMPLES, STEPS, 2) * 100
    v_lava = v_out.copy()
    v_lava[1, [2, 4], 0] += 7

    hidden_lava = hidden.copy()
    hidden_lava[1, 4, 1] = True

    def run(name, kind, units, v, spikes=hidden):
        return BackendRun(name, kind, units, {"hidden": spikes.copy(), "quiet": quiet.copy(),
                                              "out": out.copy()}, {"out": v}, 1.0)

    runs = {"reference": run("reference", "fixed_point", "lsb", v_out),
            "copy": run("copy", "fixed_point", "lsb", v_out.copy()),
            "lava": run("lava", "fixed_point", "lsb", v_lava, hidden_lava),
            "torch-float": run("torch-float", "float", "float", v_out / 2**6)}
    names = list(runs)
    pairs = [compare_pair(runs[a], runs[b], tau=5.0, max_lag=2, logits={})
             for i, a in enumerate(names) for b in names[i + 1:]]
    summary = {
        "model": "readout.npz", "data": "x.npz", "samples": SAMPLES, "steps": STEPS,
        "dt": None, "populations": {"hidden": 3, "quiet": 2, "out": 2}, "outputs": ["out"],
        "readout": "mean_v",
        "backends": {n: {"kind": r.kind, "units": r.units, "seconds": r.seconds,
                         "recorded": ["spikes", "v"], "accuracy": None}
                     for n, r in runs.items()},
        "pairs": pairs, "gates": [], "passed": True,
    }
    return summary, {n: {"spikes": r.spikes, "v": r.v} for n, r in runs.items()}


def section_table(page: Page, text: str, a: str, b: str) -> dict[str, dict[str, str]]:
    """The metric table of the pair's section: population label -> {column: cell}."""
    sid = page.pair_section(a, b)
    section = Page(text.split(f'id="{sid}"', 1)[1].split("</section>", 1)[0])
    header, *rows = next(t for t in section.tables if "F1@0" in t[0])
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def test_a_readout_read_from_v_is_labelled_and_compared_by_v(tmp_path):
    summary, traces = readout_case()
    typed = VerificationSummary.from_json(summary)
    assert [typed.same(p) for p in typed.pairs[:3]] == [True, False, False]
    assert typed.identical_groups() == [["reference", "copy"], ["lava"], ["torch-float"]]
    write_html_report(summary, traces, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    page = Page(text)
    rows = section_table(page, text, "reference", "lava")
    out = rows["out (readout: mean_v)"]
    rmse = math.sqrt(2 * 7**2 / (SAMPLES * STEPS * 2))  # two of 24 entries off by 7 LSB
    assert out["identical"] == f"v differs: RMSE {rmse:.4g} lsb; 2 entries, first at step 2"
    assert out["v RMSE"] == f"{rmse:.4g} lsb"
    assert out["F1@0"] == out["F1@±1"] == "–"  # no spikes: no F1 of 1.000
    assert out["spikes reference / lava"] == "0 / 0"
    assert rows["quiet"]["identical"] == "yes (no spikes)" and rows["quiet"]["F1@0"] == "–"
    assert rows["hidden"]["identical"] == "no" and rows["hidden"]["F1@0"] == "0.800"
    assert re.search(r'<tr class="differs"><td>out \(readout: mean_v\)</td>', text)
    assert ("'out' is the readout: the model decides from its v (mean_v), so it is compared "
            "by v") in page.text
    assert ("population 'quiet': no spikes on either side. population 'out': no spikes on "
            "either side (the readout: compare its v in the table).") in page.text  # raster
    float_rows = section_table(page, text, "reference", "torch-float")
    assert float_rows["out (readout: mean_v)"]["identical"] == "v not compared (lsb vs float)"
    assert float_rows["hidden"]["identical"] == "yes" and float_rows["hidden"]["F1@0"] == "1.000"
    sid = page.pair_section("reference", "torch-float")
    assert ("Every spike is identical; only the readout's v can differ"
            in "".join(page.section_text[sid]))

    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    render_terminal(summary, console)
    lines = [" ".join(line.replace("│", " ").split())
             for line in console.export_text().splitlines()]
    assert any(line.startswith(f"reference vs lava out (readout: mean_v) v differs: RMSE "
                               f"{rmse:.4g} lsb; 2 entries, first at step 2 – –")
               for line in lines)
    assert "identical at every step: reference = copy (rows show reference)" in lines


def test_identical_backends_get_no_section_of_their_own(tmp_path):
    summary, traces = readout_case()
    write_html_report(summary, traces, tmp_path / "r.html")
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    headings = [" ".join("".join(parts).split()[:3]) for parts in page.section_text.values()]
    assert headings == ["reference vs lava", "reference vs torch-float", "lava vs torch-float"]
    assert ("Identical at every step (every sample, every population): reference = copy. "
            "Only reference is compared below") in page.text


def test_a_report_without_gates_is_neutral(tmp_path):
    summary, traces = readout_case()
    write_html_report(summary, traces, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    page = Page(text)
    line = ("No gates set: nothing was required, so nothing passed or failed (--require sets "
            "a gate)")
    assert f'<p class="verdict neutral">{line}</p>' in text
    assert "PASS" not in page.text and 'class="verdict pass"' not in text
    console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
    render_terminal(summary, console)
    assert console.export_text().rstrip().splitlines()[-1] == line


def test_figures_are_sharp_and_labels_legible_on_an_800_px_screen(tmp_path, monkeypatch):
    drawn = []
    png = figures.png
    monkeypatch.setattr(figures, "png", lambda fig: drawn.append(fig) or png(fig))
    summary, traces = build_case()
    write_html_report(only_pairs(summary, ("reference", "torch-float")), traces,
                      tmp_path / "r.html", samples=[3])
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    page = Page(text)
    assert sorted(img["class"] for img in page.images) == ["backends", "heatmap", "raster",
                                                            "voltage"]
    assert "img { max-width: 100%; height: auto; }" in text
    content_px = 800 - 2 * 16  # the page's 1em side padding at an 800 px wide viewport
    for img, fig in zip(page.images, drawn, strict=True):
        with Image.open(io.BytesIO(png_bytes(img))) as im:
            dpi, (width_px, height_px) = im.info["dpi"], im.size
        assert min(dpi) >= 149.5  # 150 dpi
        shown = int(img["width"])  # CSS px: the figure's inches at 96 px per inch
        assert abs(width_px - shown * 150 / 96) <= 2  # both rounded to whole pixels
        assert abs(height_px - int(img["height"]) * 150 / 96) <= 2
        scale = min(1.0, content_px / shown)
        sizes = [t.get_fontsize() * 96 / 72 * scale for t in fig.findobj(Text)
                 if t.get_visible() and t.get_text().strip()]
        assert sizes and min(sizes) >= 10, (img["class"], min(sizes))


def test_voltage_caption_describes_the_axes_drawn(tmp_path):
    summary, traces = build_case(backends=("reference", "lava", "torch-float"))
    summary["backends"]["torch-float"] = {**summary["backends"]["torch-float"], "units": "lsb"}
    traces["torch-float"]["v"] = {p: np.round(v * 2**16) for p, v in
                                  traces["torch-float"]["v"].items()}
    write_html_report(only_pairs(summary, ("reference", "torch-float")), traces,
                      tmp_path / "r.html", samples=[3])
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "One axis: v in lsb: reference, torch-float." in page.text  # one unit, one axis
    assert "axes stacked" not in page.text and "across axes" not in page.text


def test_tables_scroll_instead_of_being_cut_on_a_narrow_screen(tmp_path):
    summary, traces = readout_case()
    write_html_report(summary, traces, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert ".scroll { overflow-x: auto; max-width: 100%; }" in text
    assert text.count("<table>") == text.count('<div class="scroll"><table>') >= 4


# ------------------------------------------------------------------ terminal, 80 columns


def narrow(render, *args) -> str:
    console = Console(record=True, width=80, file=io.StringIO(), color_system=None)
    render(*args, console)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out  # nothing cut
    return out


def dt_row(dt: float, delta: float) -> dict:
    row = {"dt": dt, "delta": delta, "steps": round(1 / dt), "du": 1234, "seconds": 12.345}
    for model in ("float", "deployed"):
        row.update({f"{model}_accuracy_pct": 91.234, f"{model}_time_error": 0.16234,
                    f"{model}_time_bias": -0.01234, f"{model}_one_only_pct": 1.25,
                    f"{model}_tied_pct": 3.5, f"{model}_silent_pct": 0.0})
    return row


def test_the_dt_study_table_keeps_numbers_and_titles_at_80_columns():
    result = DtStudyResult("ttfs-model", "s", 0.005, "ttfs", 1000, 92.5, 1.0,
                           rows=[dt_row(0.001, 0.2), dt_row(0.0005, 0.1)],
                           recommended_dt=0.001)
    out = narrow(render_dt_study, result)
    for number in ("0.001 ★", "0.0005", "0.2", "1000", "2000", "1234", "91.2", "-1.3",
                   "0.1623", "-0.0123", "1.25", "3.5", "12.3"):
        assert number in out, number
    for title in ("dt (s)", "dt/τ", "steps", "du", "float %", "deployed %", "Δ deployed",
                  "|Δt| float", "|Δt| deployed", "bias deployed", "one-only %", "ties %"):
        assert all(word in out for word in title.split()), title


def test_the_verify_quantize_and_timing_tables_stay_whole_at_80_columns(tmp_path):
    summary, _ = build_case()
    out = narrow(render_terminal, summary)
    for text in ("reference", "torch-float", "identical", "F1@±1", "0.992", "1.000",
                 "(0.992)", "first", "divergence", "'layer1')"):
        assert text in out, text
    out = narrow(render_report, {**QUANT, "projections": [
        {**QUANT["projections"][0], "projection": "input->a-rather-long-hidden-layer"}]})
    assert "input->a-rather-long-hidden-layer" in out and "0.251" in out
    conditions = ["normal", "reversed", "perturbed f=0.5", "rate-removed", "jittered"]
    cell = {"mean": 91.25, "std": 1.5, "values": [90.0, 92.5]}
    result = StudyResult(tmp_path, {"task": "isi", "task_params": {}, "seeds": [0, 1]},
                         conditions, [], rows=[
                             {"delays": "axonal", "stochastic": False, "model": "lif-heterogeneous",
                              "seeds": [0, 1], "cells": {c: cell for c in conditions}}])
    out = narrow(render_study, result)
    assert "lif-heterogeneous" in out and out.count("91.2") == len(conditions)


def test_print_table_splits_a_wide_table_repeating_the_key_column():
    table = Table(title="wide")
    table.add_column("name")
    for k in range(12):
        table.add_column(f"a long column title {k}", justify="right")
    table.add_row("row-one", *(f"{k + 0.123456:.6f}" for k in range(12)))
    console = Console(record=True, width=80, file=io.StringIO(), color_system=None)
    print_table(console, table)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    assert all(f"{k + 0.123456:.6f}" in out for k in range(12))
    assert out.count("row-one") >= 2 and out.count("wide") == 1  # key repeated, title once
    wide = Console(record=True, width=400, file=io.StringIO(), color_system=None)
    print_table(wide, table)
    assert wide.export_text().count("row-one") == 1  # fits: one table as it is

