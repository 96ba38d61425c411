"""The HTML verification report on a hand-built case (0-based steps, one step per hop).

Four backends: "reference", "chip" and "lava" spike identically; "torch-float" shifts neuron 17
of population 'layer1' in sample 3 one step late (reference spikes at steps 12, 20, 33,
torch-float at 13, 21, 34) and drops the spike of neuron 2 of 'output' at step 40 of
sample 1. The first divergence is therefore sample 3, 'layer1', neuron 17, step 12.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.image import imread
from PIL import Image
from rich.console import Console

from neurodeploy.errors import InputError
from neurodeploy.verify.figure_data import MAX_RASTER_NEURONS
from neurodeploy.verify.metrics import compare_traces, decision_agreement
from neurodeploy.verify.render_html import write_html_report
from neurodeploy.verify.render_terminal import render_terminal
from neurodeploy.verify.summary import raster_samples

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLES, STEPS = 5, 50
SHIFTED = {"sample": 3, "neuron": 17, "steps": (12, 20, 33)}  # population "layer1"
DROPPED = {"sample": 1, "neuron": 2, "step": 40}  # population "output"

BACKENDS = {
    "torch-float": {"kind": "float", "units": "float", "accuracy": 0.92, "seconds": 1.7,
                    "recorded": ["spikes", "v"]},
    "reference": {"kind": "fixed_point", "units": "lsb", "accuracy": 0.9, "seconds": 4.2,
                  "recorded": ["spikes", "v"]},
    "chip": {"kind": "trace", "units": "lsb", "accuracy": 0.9, "seconds": None,
             "recorded": ["spikes", "v"]},
    "lava": {"kind": "fixed_point", "units": "lsb", "accuracy": 0.9, "seconds": 30.0,
             "recorded": ["spikes"]},
}


def build_case(populations=None, model="shd-lif-3layer", backends=("torch-float", "reference",
               "chip"), failing_gate=True):
    """(summary, traces): the verifier's summary computed with the real metrics."""
    populations = populations or {"layer1": 24, "layer2": 16, "output": 4}
    pops = list(populations)
    first, out = pops[0], pops[-1]
    rng = np.random.default_rng(7)
    spikes = {p: rng.random((SAMPLES, STEPS, n)) < 0.08 for p, n in populations.items()}
    v_float = {p: rng.normal(0.0, 0.3, (SAMPLES, STEPS, n)).cumsum(axis=1) % 1.0
               for p, n in populations.items()}
    s, n = SHIFTED["sample"], SHIFTED["neuron"]
    spikes[first][s, :, n] = False
    spikes[first][s, list(SHIFTED["steps"]), n] = True
    spikes[first][:, :12, :] = False  # nothing else may diverge first
    spikes[out][DROPPED["sample"], DROPPED["step"], DROPPED["neuron"]] = True

    float_spikes = {p: x.copy() for p, x in spikes.items()}
    float_spikes[first][s, :, n] = False
    float_spikes[first][s, [t + 1 for t in SHIFTED["steps"]], n] = True
    float_spikes[out][DROPPED["sample"], DROPPED["step"], DROPPED["neuron"]] = False

    lsb = {p: np.round(v * 2**16).astype(np.int32) for p, v in v_float.items()}
    traces = {
        "torch-float": {"spikes": float_spikes, "v": v_float},
        "reference": {"spikes": spikes, "v": lsb},
        "chip": {"spikes": {p: x.copy() for p, x in spikes.items()},
                 "v": {first: lsb[first].copy()}},  # v of one population only
        "lava": {"spikes": {p: x.copy() for p, x in spikes.items()}},
    }
    traces = {k: traces[k] for k in backends}
    summary_pairs = []
    for a, b in itertools.combinations(["reference", *[x for x in backends
                                                          if x != "reference"]], 2):
        cmp = compare_traces(traces[a]["spikes"], traces[b]["spikes"],
                             traces[a].get("v"), traces[b].get("v")).to_json()
        counts_a = traces[a]["spikes"][out].sum(axis=1)
        counts_b = traces[b]["spikes"][out].sum(axis=1)
        summary_pairs.append({"a": a, "b": b, **cmp,
                              "decision_agreement": decision_agreement(counts_a, counts_b)})
    ref_float = next(p for p in summary_pairs if {p["a"], p["b"]} == {"reference",
                                                                      "torch-float"})
    f1 = min(m["f1_at_0"] for m in ref_float["populations"].values())
    gates = [
        {"expr": "identical(reference, chip)", "passed": True, "value": True, "detail": ""},
        {"expr": "f1_at_0(reference, torch-float) >= 0.999" if failing_gate
         else "f1_at_0(reference, torch-float) >= 0.5",
         "passed": not failing_gate, "value": f1, "detail": f"worst population {first!r}"},
    ]
    summary = {
        "model": model, "data": "shd test split", "samples": SAMPLES, "steps": STEPS,
        "dt": 0.001, "populations": dict(populations), "outputs": [out],
        "backends": {k: BACKENDS[k] for k in backends},
        "pairs": summary_pairs, "gates": gates, "passed": not failing_gate,
    }
    return summary, traces


def only_pairs(summary, *pairs):
    """The summary reduced to the given (a, b) pairs: fewer plots, a faster test."""
    return {**summary, "pairs": [p for p in summary["pairs"] if (p["a"], p["b"]) in pairs]}


class Page(HTMLParser):
    """Tags, text, tables (rows of cell texts) and images, each with its pair section."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.images, self.tables, self.texts = [], [], [], []
        self.section = None
        self.section_text = {}
        self.cell = None
        self.feed(text)
        self.close()
        self.text = " ".join(" ".join(self.texts).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "section":
            self.section = attrs.get("id")
            self.section_text[self.section] = []
        elif tag == "img":
            self.images.append({**attrs, "section": self.section})
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        elif tag in ("td", "th"):
            self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        self.texts.append(data)
        if self.cell is not None:
            self.cell.append(data)
        if self.section is not None:
            self.section_text[self.section].append(data)

    def pair_section(self, a, b):
        """id of the section whose heading is 'a vs b'."""
        for sid, parts in self.section_text.items():
            if " ".join("".join(parts).split()).startswith(f"{a} vs {b}"):
                return sid
        raise AssertionError(f"no section for {a} vs {b}")

    def table_with(self, header_cell):
        return next(t for t in self.tables if t and header_cell in t[0])


def png_bytes(img):
    src = img["src"]
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1], validate=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """4 backends x 3 populations, every pair compared: three pairs differ, three do not."""
    summary, traces = build_case(backends=("torch-float", "reference", "chip", "lava"))
    path = tmp_path_factory.mktemp("report") / "verify.html"
    write_html_report(summary, traces, path)
    text = path.read_text(encoding="utf-8")
    return summary, path, text, Page(text)


# ----------------------------------------------------------------------------- fixture


def test_the_fixture_diverges_where_the_docstring_says():
    summary, _ = build_case()
    by_pair = {(p["a"], p["b"]): p for p in summary["pairs"]}
    assert by_pair["reference", "chip"]["identical"]
    div = by_pair["reference", "torch-float"]["first_divergence"]
    assert div == {"step": 12, "sample": 3, "population": "layer1", "neuron": 17,
                   "a_spiked": True, "b_spiked": False}
    assert by_pair["reference", "torch-float"]["populations"]["layer1"]["f1_at_1"] == 1.0
    assert by_pair["reference", "torch-float"]["populations"]["layer2"]["identical"]


# ----------------------------------------------------------------- self-contained file


def test_the_report_fetches_nothing(report):
    _, _, text, page = report
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed", "base"), tag
        for name in ("src", "href", "srcset", "action", "data", "poster", "background"):
            value = attrs.get(name)
            if value is None:
                continue
            assert value.startswith(("data:image/png;base64,", "#")), (tag, name, value[:60])
    lowered = text.lower()
    for needle in ("http://", "https://", "url(", "@import", "<script", "<link", "//cdn"):
        assert needle not in lowered, needle
    anchors = {attrs["id"] for _, attrs in page.tags if "id" in attrs}
    for _, attrs in page.tags:
        if attrs.get("href", "").startswith("#"):
            assert attrs["href"][1:] in anchors  # in-page links lead somewhere


def test_every_plot_is_an_embedded_png_that_decodes(report):
    _, _, _, page = report
    # backends chart + the one pair left once reference = chip = lava are grouped
    # (reference vs torch-float): rasters of samples 3 and 0, one divergence map, one
    # voltage plot
    assert len(page.images) == 1 + (2 + 1 + 1)
    for img in page.images:
        data = png_bytes(img)
        assert data.startswith(PNG_SIGNATURE)
        assert b"http" not in data  # no matplotlib URL in the PNG metadata either
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        pixels = imread(io.BytesIO(data), format="png")
        assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
        assert img["alt"]


def test_the_file_is_small_and_utf8(report):
    _, path, text, _ = report
    assert path.stat().st_size < 2_000_000  # 4 backends x 3 populations: well under 5 MB
    assert '<meta charset="utf-8">' in text
    assert list(path.parent.iterdir()) == [path]  # the temp file was renamed away


# -------------------------------------------------------------------------- contents


def test_the_header_states_model_data_shape_and_verdict(report):
    _, _, _, page = report
    assert "Verification report: shd-lif-3layer" in page.text
    assert "data: shd test split; 5 samples × 50 steps (0-based, one step per hop)" in page.text
    assert "dt = 0.001 s per step" in page.text
    assert ("FAIL: 1 of 2 gates failed: f1_at_0(reference, torch-float) >= 0.999"
            in page.text)


def test_the_gate_table_shows_the_failed_gate(report):
    _, _, _, page = report
    table = page.table_with("gate")
    assert table[0][:3] == ["gate", "value", "result"]
    rows = {row[0]: row for row in table[1:]}
    assert rows["identical(reference, chip)"][1:3] == ["yes", "pass"]
    failed = rows["f1_at_0(reference, torch-float) >= 0.999"]
    assert failed[2] == "FAIL"
    assert float(failed[1]) < 0.999


def test_a_run_whose_gates_all_pass_says_pass(tmp_path):
    summary, traces = build_case(failing_gate=False)
    summary = only_pairs(summary, ("reference", "chip"))
    path = tmp_path / "ok.html"
    write_html_report(summary, traces, path)
    page = Page(path.read_text(encoding="utf-8"))
    assert "PASS: all 2 gates passed" in page.text
    assert "FAIL" not in page.text
    assert [row[2] for row in page.table_with("gate")[1:]] == ["pass", "pass"]


def test_accuracy_and_run_time_per_backend(report):
    _, _, _, page = report
    table = page.table_with("accuracy")
    rows = {row[0]: row for row in table[1:]}
    assert rows["torch-float"][4:] == ["92.0%", "1.7"]
    assert rows["chip"][4:] == ["90.0%", "–"]
    assert rows["reference"][2] == "lsb"


def test_the_first_divergence_is_stated_in_words(report):
    _, _, _, page = report
    sentence = ("First divergence: sample 3, population 'layer1', neuron 17, step 12: "
                "reference spiked, torch-float did not.")
    sid = page.pair_section("reference", "torch-float")
    assert sentence in " ".join("".join(page.section_text[sid]).split())
    assert ("Chosen as the earliest step at which any spike differs; ties go to the smallest "
            "sample index, then to the population listed first, then to the smallest neuron "
            "index (steps are 0-based).") in page.text
    assert "chip spiked, torch-float did not" not in page.text  # chip is grouped with reference


def test_the_metric_table_highlights_the_differing_populations(report):
    _, _, text, page = report
    sid = page.pair_section("reference", "torch-float")
    section = text.split(f'id="{sid}"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr( class=\"differs\")?><td>([^<]*)</td>", section)
    assert {name: bool(cls) for cls, name in rows} == {
        "layer1": True, "layer2": False, "output": True}
    metric = next(t for t in Page(section).tables if "F1@0" in t[0])
    header, rows = metric[0], {row[0]: row for row in metric[1:]}
    assert rows["layer1"][header.index("F1@±1")] == "1.000"  # the shift is one step
    assert rows["layer1"][header.index("best lag (F1 there)")].startswith("0 (")
    assert rows["output"][header.index("F1@±2")] != "1.000"  # the dropped spike
    assert "not comparable" in rows["layer1"][header.index("v RMSE")]  # lsb vs float


def test_identical_backends_are_grouped_not_repeated(report):
    _, _, _, page = report
    assert ("Identical at every step (every sample, every population): reference = chip = "
            "lava. Only reference is compared below") in page.text
    headings = [" ".join("".join(parts).split()[:3]) for parts in page.section_text.values()]
    assert headings == ["reference vs torch-float"]  # no section per identical backend
    differing = page.pair_section("reference", "torch-float")
    rasters = [img for img in page.images
               if img["section"] == differing and img["class"] == "raster"]
    assert [img["alt"] for img in rasters] == ["raster: reference vs torch-float, sample 3",
                                               "raster: reference vs torch-float, sample 0"]
    kinds = sorted(img["class"] for img in page.images if img["section"] == differing)
    assert kinds == ["heatmap", "raster", "raster", "voltage"]


def test_voltage_units_are_never_mixed_on_one_axis(report):
    _, _, _, page = report
    assert ("2 axes stacked, top to bottom, one per v unit (float: torch-float; lsb: "
            "reference, chip); values are not comparable across axes.") in page.text
    assert "±20 around the first divergence at step 12" in page.text
    assert "lava: no v of population 'layer1'." in page.text  # lava records spikes only


def test_backends_without_v_units_get_an_axis_each(tmp_path):
    summary, traces = build_case()
    summary = only_pairs(summary, ("reference", "torch-float"))
    summary["backends"] = {**summary["backends"],
                           "reference": {**BACKENDS["reference"], "units": "none"},
                           "chip": {**BACKENDS["chip"], "units": None}}
    path = tmp_path / "units.html"
    write_html_report(summary, traces, path, samples=[3])
    page = Page(path.read_text(encoding="utf-8"))
    assert ("3 axes stacked, top to bottom, one per v unit (float: torch-float; units not "
            "stated: reference; units not stated: chip)") in page.text


def test_the_footnote_explains_time_f1_and_lag(report):
    _, _, _, page = report
    assert "steps are 0-based, one step per hop" in page.text
    assert "lag +1 means b spikes one step after a" in page.text
    assert "F1@k: spikes are matched one-to-one per (sample, neuron)" in page.text


# ------------------------------------------------------------------------- options


def test_chosen_samples_replace_the_default_up_to_four_per_pair(tmp_path):
    summary, traces = build_case()
    summary = only_pairs(summary, ("reference", "torch-float"), ("reference", "chip"))
    path = tmp_path / "many.html"
    write_html_report(summary, traces, path, samples=[4, 1, 2, 1, 0, 3], window=3)
    page = Page(path.read_text(encoding="utf-8"))
    alts = [img["alt"] for img in page.images if img["class"] == "raster"]
    assert alts == [f"raster: reference vs torch-float, sample {s}" for s in (4, 1, 2, 0)]
    assert "Samples 3 not plotted (at most 4 per pair)." in page.text
    assert "steps 9 to 15 (±3 around the first divergence at step 12, dashed line)" in page.text


def test_default_raster_samples_own_divergence_then_zero_then_the_other_pairs():
    summary, _ = build_case()
    ref_float, ref_chip, float_chip = summary["pairs"]
    float_chip = {**float_chip, "first_divergence": {**float_chip["first_divergence"],
                                                     "sample": 2}}
    summary = {**summary, "pairs": [ref_float, ref_chip, float_chip]}
    assert raster_samples(summary, ref_float) == [3, 0, 2]
    assert raster_samples(summary, float_chip) == [2, 0, 3]
    assert raster_samples(summary, ref_float, samples=[1, 1, 4]) == [1, 4]


@pytest.mark.parametrize("kwargs", [{"samples": [5]}, {"samples": [-1]}, {"samples": [True]},
                                    {"window": -1}, {"window": 2.5}])
def test_bad_options_are_refused_and_nothing_is_written(tmp_path, kwargs):
    summary, traces = build_case()
    with pytest.raises(InputError):
        write_html_report(summary, traces, tmp_path / "bad.html", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_large_population_is_subsampled_and_says_so(tmp_path):
    summary, traces = build_case(populations={"layer1": 300, "output": 4})
    summary = only_pairs(summary, ("reference", "torch-float"))
    path = tmp_path / "large.html"
    write_html_report(summary, traces, path)
    page = Page(path.read_text(encoding="utf-8"))
    assert (f"population 'layer1': {MAX_RASTER_NEURONS} of 300 neurons shown: all 1 with a "
            f"mismatch in sample 3 plus {MAX_RASTER_NEURONS - 1} others") in page.text


def test_names_are_escaped(tmp_path):
    evil = "<script>alert('pop')</script> $_$"  # also not mathtext for matplotlib
    summary, traces = build_case(populations={evil: 24, "out<b>": 4},
                                 model="<script>alert(1)</script>")
    summary = only_pairs(summary, ("reference", "torch-float"), ("reference", "chip"))
    path = tmp_path / "evil.html"
    write_html_report(summary, traces, path)
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert "<script" not in text.lower() and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert all(tag != "script" and tag != "b" for tag, _ in page.tags)
    assert "Verification report: <script>alert(1)</script>" in page.text  # shown as text
    assert f"population {evil!r}, neuron 17, step 12" in page.text


# ------------------------------------------------------------------------ terminal


def test_render_terminal_lists_pairs_gates_and_the_verdict():
    summary, _ = build_case(populations={"[bold]layer1[/bold]": 24, "output": 4})
    console = Console(record=True, width=250, file=io.StringIO(), color_system=None)
    render_terminal(summary, console)
    out = console.export_text()
    lines = [" ".join(line.replace("│", " ").split()) for line in out.splitlines()]
    # identical backends are grouped: one line, and no rows of their own
    assert "identical at every step: reference = chip (rows show reference)" in lines
    assert not any(line.startswith("reference vs chip") for line in lines)
    assert not any(line.startswith("torch-float vs chip") for line in lines)
    assert any("reference vs torch-float [bold]layer1[/bold] no" in line
               and "sample 3, neuron 17, step 12: reference spiked, torch-float did not" in line
               for line in lines)
    assert any(line.startswith("reference vs torch-float output no")
               and line.endswith("later (first in '[bold]layer1[/bold]')") for line in lines)
    assert any(line.startswith("f1_at_0(reference, torch-float) >= 0.999") and "FAIL" in line
               for line in lines)
    assert lines[-1] == "FAIL: 1 of 2 gates failed: f1_at_0(reference, torch-float) >= 0.999"


def test_render_terminal_passes_when_every_gate_passes():
    summary, _ = build_case(failing_gate=False)
    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    render_terminal(summary, console)
    assert console.export_text().rstrip().splitlines()[-1] == "PASS: all 2 gates passed"
