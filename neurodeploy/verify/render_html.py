"""The verification report as one self-contained HTML page.

The file needs nothing outside itself: the style sheet is inline, every plot is a PNG
embedded as a base64 ``data:`` URI, and there is no script, font or link to fetch. All text
(model, data, backend and population names, gate expressions) is HTML-escaped.

Time convention: steps are 0-based integers, one step per hop; every time, lag and window
is in steps. In a pair (a, b), ``a`` is the reference side and ``b`` the backend under
test; lag +1 means ``b`` spikes one step after ``a``. The numbers come from
:mod:`neurodeploy.verify.summary`, the figures' data from
:mod:`neurodeploy.verify.figure_data`, the drawings from :mod:`neurodeploy.verify.figures`.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from neurodeploy.errors import InputError
from neurodeploy.network_io import atomic_output
from neurodeploy.verify import figures
from neurodeploy.verify.figure_data import (
    MAX_RASTER_NEURONS,
    BackendTraces,
    DivergenceMap,
    Omitted,
    RasterView,
    VoltageWindow,
    divergence_map,
    raster_view,
    voltage_window,
)
from neurodeploy.verify.formatting import (
    FIRST_DIVERGENCE_RULE,
    agreement,
    divergence_sentence,
    num,
    pct,
    population_label,
    spike_f1,
    verdict_kind,
    verdict_line,
)
from neurodeploy.verify.metrics import check_steps
from neurodeploy.verify.summary import PairSummary, SummaryLike, VerificationSummary, as_summary

#: Raster overlays per pair, at most (further requested samples are named, not plotted).
MAX_RASTER_SAMPLES = 4

_STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { min-width: 4em; background: #f0f0f0; }
td.key { font-weight: bold; }
img { max-width: 100%; height: auto; }
td:first-child, th:first-child { text-align: left; }
tr.differs td { background: #fff1d6; }
td.pass, .verdict.pass { color: #176a2c; font-weight: bold; }
td.fail, .verdict.fail { color: #b00020; font-weight: bold; }
.verdict { font-size: 1.2em; }
.verdict.neutral { color: #444; font-weight: bold; }
.identical { color: #176a2c; }
.divergence { font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 0.5em 0 1.2em; }
figcaption { color: #444; font-size: 0.85em; max-width: 900px; }
section.pair { border-top: 2px solid #ddd; margin-top: 1.5em; }
"""

_HOW_TO_READ = (
    "Time: steps are 0-based, one step per hop; every time, lag and window is in steps. "
    "In a pair 'a vs b', a is the reference side and b the backend under test.",
    "F1@k: spikes are matched one-to-one per (sample, neuron) when they are at most k steps "
    "apart; F1 = 2 × pairs / (spikes of a + spikes of b), 1 when both are silent. F1@0 is "
    "the exact step.",
    "First divergence: " + FIRST_DIVERGENCE_RULE + ". Later differences are in the "
    "divergence map.",
    "Lag: the shift L in steps that maximises F1@0 of a at step t against b at step t + L; "
    "lag +1 means b spikes one step after a.",
    "Rasters: grey squares are spikes at the same step in both; blue down-triangles are "
    "spikes only in a (missed by b); orange up-triangles are spikes only in b (extra).",
    "Count error: mean over (sample, neuron) of |count a − count b|, and that relative to "
    "a's mean count. First-spike error: |first spike of a − first spike of b| over "
    "(sample, neuron) where both spike (mean / max), and in brackets how many spike on one "
    "side only. v RMSE is in the backends' v units (lsb: integer state; float: model units).",
    "A dash in an F1 column: neither side spiked in that population (F1 would be 1 by "
    "definition and says nothing).",
    "Readout: a population marked '(readout: mean_v)' or '(readout: max_v)' is the model's "
    "output read from its v, not its spikes (it may not spike at all); its 'identical' cell "
    "compares v, and v is what decides whether the pair agrees.",
)


# ---------------------------------------------------------------------------- markup


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _figure(fig: Figure, alt: str, kind: str, caption: str | None = None) -> str:
    """The figure as an embedded PNG at :data:`figures.DPI`, shown at its size in inches
    (:data:`figures.DISPLAY_PPI` CSS pixels per inch), narrower on a narrow screen, with
    ``caption`` under it."""
    data = base64.b64encode(figures.png(fig)).decode("ascii")
    width, height = (round(x * figures.DISPLAY_PPI) for x in fig.get_size_inches())
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return (f'<figure><img class="{_e(kind)}" alt="{_e(alt)}" width="{width}" '
            f'height="{height}" src="data:image/png;base64,{data}">{cap}</figure>')


def _class(cls: str | None) -> str:
    return f' class="{cls}"' if cls else ""


def _table(header: Sequence[str], rows: Sequence[tuple[Sequence[str], str | None]]) -> str:
    """``rows``: (cells as HTML, row class or None); header cells are plain text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(f"<tr{_class(cls)}>" + "".join(cells) + "</tr>" for cells, cls in rows)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _td(text: object, cls: str | None = None) -> str:
    return f"<td{_class(cls)}>{_e(text)}</td>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _omitted(item: Omitted, sample: int | None = None, population: str = "") -> str:
    """Why a population (of ``sample``) or a backend (v of ``population``) is not in a
    figure, as a sentence."""
    of = "" if sample is None else f" of sample {sample}"
    return {"not comparable": f"population {item.name!r}: no comparable spikes{of}.",
            "empty": f"population {item.name!r}: no neurons or no steps.",
            "no v": f"{item.name}: no v of population {population!r}.",
            "shape": f"{item.name}: v has shape {item.shape}, unlike its spikes; not plotted.",
            }.get(item.reason, f"{item.name}: v does not cover the divergence; not plotted.")


# ---------------------------------------------------------------------------- sections


def _header(summary: VerificationSummary) -> str:
    dt_text = "dt not stated" if summary.dt is None else f"dt = {summary.dt:g} s per step"
    verdict = summary.verdict
    pop_text = ", ".join(f"{name} ({size})" for name, size in summary.populations.items())
    outputs = ", ".join(map(str, summary.outputs)) or "–"
    rows = [([_td(g.expr), _td(num(g.value)),
              _td("pass" if g.passed else "FAIL", "pass" if g.passed else "fail"),
              _td(g.detail)], None if g.passed else "differs") for g in summary.gates]
    return "\n".join([
        f"<h1>Verification report: {_e(summary.model)}</h1>",
        f"<p>data: {_e(summary.data)}; {_e(summary.samples)} samples × "
        f"{_e(summary.steps)} steps (0-based, one step per hop); {_e(dt_text)}</p>",
        f"<p>populations (neurons): {_e(pop_text or '–')}; outputs: {_e(outputs)}</p>",
        f'<p class="verdict {verdict_kind(verdict)}">{_e(verdict_line(verdict))}</p>',
        '<h2 id="gates">Gates</h2>',
        _table(["gate", "value", "result", "detail"], rows) if rows
        else _note("No gates were set.")])


def _contents(summary: VerificationSummary) -> str:
    links = ['<a href="#gates">gates</a>', '<a href="#backends">backends</a>',
             *(f'<a href="#pair-{index}">{_e(pair.a)} vs {_e(pair.b)}</a>'
               for index, pair in enumerate(summary.shown_pairs(), 1)),
             '<a href="#how-to-read">how to read this</a>']
    return "<nav><p>Contents: " + " · ".join(links) + "</p></nav>"


def _backends(summary: VerificationSummary) -> str:
    rows = [([_td(name), _td(info.kind or "–"), _td(info.v_units or "–"),
              _td(", ".join(info.recorded) or "–"), _td(pct(info.accuracy)),
              _td("–" if info.seconds is None else f"{info.seconds:.3g}")], None)
            for name, info in summary.backends.items()]
    parts = ['<h2 id="backends">Backends</h2>',
             _table(["backend", "kind", "v units", "recorded", "accuracy", "run time (s)"], rows)]
    for group in summary.identical_groups():
        if len(group) > 1:
            parts.append(f'<p class="identical">Identical at every step (every sample, every '
                         f"population): {_e(' = '.join(group))}. Only {_e(group[0])} is "
                         "compared below; its comparisons hold for the others.</p>")
    fig = figures.backends_figure(summary)
    parts.append(_note("No backend reports an accuracy or a run time.") if fig is None
                 else _figure(fig, "accuracy and run time per backend", "backends"))
    return "\n".join(parts)


def _metric_table(summary: VerificationSummary, pair: PairSummary) -> str:
    ua, ub = summary.units(pair.a), summary.units(pair.b)
    rows = []
    for pop, comparison in pair.populations.items():
        m = comparison.metrics
        agrees, words = agreement(summary, pair, pop)
        rel = m.count_error_rel
        count = f"{num(m.count_error_abs, 3)} ({'–' if rel is None else f'{rel:.1%}'})"
        first = (f"{num(m.first_spike_mean, 3)} / {num(m.first_spike_max)} "
                 f"({num(m.first_spike_n_only_one)})")
        if m.v_rmse is None:
            v_text = "–"
        elif ua and ub and ua != ub:
            v_text = f"{num(m.v_rmse)} ({ua} vs {ub}: not comparable)"
        else:
            v_text = f"{num(m.v_rmse)} {ua or ub or ''}".strip()
        readout = summary.is_v_readout(pop)
        rows.append(([
            _td(population_label(summary, pop)), _td(words, "key" if readout else None),
            _td(pct(m.identical_samples)), _td(spike_f1(m, m.f1_at_0)),
            _td(spike_f1(m, m.f1_at_1)), _td(spike_f1(m, m.f1_at_2)),
            _td(f"{num(m.best_lag)} ({spike_f1(m, m.f1_at_best_lag)})"), _td(count), _td(first),
            _td(f"{num(m.van_rossum, 3)} (τ {num(m.tau, 3)})"),
            _td(v_text, "key" if readout else None),
            _td(f"{num(m.n_spikes_a)} / {num(m.n_spikes_b)}"),
        ], "differs" if agrees is False else None))
    header = ["population", "identical", "identical samples (spikes)", "F1@0", "F1@±1",
              "F1@±2", "best lag (F1 there)", "count error: mean |Δ| (relative)",
              "first-spike error mean / max (one side only)", "van Rossum (τ, steps)",
              "v RMSE", f"spikes {pair.a} / {pair.b}"]
    notes = [f"{pop!r} is the readout: the model decides from its v ({summary.readout}), "
             "so it is compared by v (its 'identical' cell and v RMSE); its spike columns do "
             "not decide anything." for pop in pair.populations if summary.is_v_readout(pop)]
    return _table(header, rows) + "".join(_note(n) for n in notes)


def _raster(summary: VerificationSummary, view: RasterView) -> str:
    notes = []
    for item in view.items:
        if isinstance(item, Omitted):
            notes.append(_omitted(item, view.sample))
            continue
        if item.n_matched + item.n_missed + item.n_extra == 0:
            notes.append(f"population {item.population!r}: no spikes on either side"
                         + (" (the readout: compare its v in the table)."
                            if summary.is_v_readout(item.population) else "."))
        elif item.subsampled:
            shown, n, n_mis = item.neurons.size, item.size, item.n_mismatched
            which = (f"all {n_mis} with a mismatch" if n_mis <= MAX_RASTER_NEURONS else
                     f"the first {MAX_RASTER_NEURONS} of {n_mis} with a mismatch")
            notes.append(f"population {item.population!r}: {shown} of {n} neurons shown: {which} "
                         f"in sample {view.sample} plus {shown - min(n_mis, shown)} others; rows "
                         "are labelled with the neuron index.")
    if not view.panels:
        return _note(" ".join(notes))
    caption = (f"Sample {view.sample}: {view.a} against {view.b} at the exact step. "
               + " ".join(notes))
    return _figure(figures.raster_figure(view),
                   f"raster: {view.a} vs {view.b}, sample {view.sample}", "raster", caption)


def _heat_map(data: DivergenceMap) -> str:
    notes = [_omitted(item) for item in data.omitted]
    if data.share is None:
        return _note("No divergence map: " + (" ".join(notes) or "no steps."))
    bottom, top = figures.log_colour_range(data.share)
    caption = (f"Share of (sample, neuron) entries whose spike differs between {data.a} and "
               f"{data.b}, per population and step (log colour scale from "
               f"{bottom:.2g} to {top:.2g}; white: no difference)"
               + ("; the dashed line is the first divergence."
                  if data.divergence_step is not None else ".")
               + (" " + " ".join(notes) if notes else ""))
    return _figure(figures.divergence_map_figure(data), f"divergence map: {data.a} vs {data.b}",
                   "heatmap", caption)


def _voltage(data: VoltageWindow, colours: dict[str, str]) -> str:
    notes = [_omitted(item, population=data.population) for item in data.omitted]
    if not data.groups:
        return _note(f"No backend recorded v of population {data.population!r}; no voltage "
                     "plot. " + " ".join(notes))
    layout = "; ".join(f"{g.units or 'units not stated'}: "
                       f"{', '.join(t.backend for t in g.traces)}" for g in data.groups)
    axes = (f"One axis: v in {layout}." if len(data.groups) == 1 else
            f"{len(data.groups)} axes stacked, top to bottom, one per v unit ({layout}); "
            "values are not comparable across axes.")
    spikes = (" Circles mark steps where a backend spiked." if any(
        t.spiked is not None and t.spiked.any() for g in data.groups for t in g.traces) else "")
    caption = (f"v of neuron {data.neuron} of population {data.population!r}, sample "
               f"{data.sample}; horizontal axis: steps {data.first} to {data.last} "
               f"(±{data.window} around the first divergence at step {data.step}, dashed "
               f"line). {axes}{spikes}" + (" " + " ".join(notes) if notes else ""))
    return _figure(figures.voltage_figure(data, colours), f"voltage: {data.a} vs {data.b}, "
                   f"population {data.population}, neuron {data.neuron}", "voltage", caption)


def _pair(summary: VerificationSummary, pair: PairSummary, index: int, traces: BackendTraces,
          samples: Sequence[int] | None, window: int, colours: dict[str, str]) -> str:
    a, b = pair.a, pair.b
    parts = [f'<section class="pair" id="pair-{index}">', f"<h2>{_e(a)} vs {_e(b)}</h2>",
             f"<p>{_e(pct(pair.identical_samples))} of samples with identical spikes in every "
             f"population; decision agreement {_e(pct(pair.decision_agreement))}.</p>"]
    if pair.first_divergence:
        parts += [f'<p class="divergence">First divergence: '
                  f"{_e(divergence_sentence(pair.first_divergence, a, b))}.</p>",
                  _note(f"Chosen as {FIRST_DIVERGENCE_RULE} (steps are 0-based).")]
    parts.append(_metric_table(summary, pair))
    missing = [name for name in (a, b) if name not in traces]
    if pair.identical:  # not the same only by the readout's v: the plots would show nothing
        parts.append(_note("Every spike is identical; only the readout's v can differ (see "
                           "the table), so there are no spike plots."))
    elif missing:
        parts.append(_note(f"No traces of {', '.join(missing)}: no plots for this pair."))
    else:  # rasters, the divergence map and the voltage plot
        chosen = summary.raster_samples(pair, samples)
        parts += ["<h3>Rasters at the exact step</h3>",
                  *(_raster(summary, raster_view(pair, traces, sample))
                    for sample in chosen[:MAX_RASTER_SAMPLES])]
        if len(chosen) > MAX_RASTER_SAMPLES:
            parts.append(_note(f"Samples {', '.join(map(str, chosen[MAX_RASTER_SAMPLES:]))} "
                               f"not plotted (at most {MAX_RASTER_SAMPLES} per pair)."))
        parts += ["<h3>Where they differ</h3>", _heat_map(divergence_map(pair, traces))]
        voltage = voltage_window(summary, pair, traces, window, colours)
        if voltage is not None:
            parts += ["<h3>Voltage around the first divergence</h3>", _voltage(voltage, colours)]
    return "\n".join([*parts, "</section>"])


def _check_options(summary: VerificationSummary, samples: Sequence[int] | None,
                   window: int) -> None:
    check_steps(window, "window")
    n = summary.samples
    for s in samples or ():
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 or (
                isinstance(n, int) and s >= n):
            raise InputError(f"sample {s!r}; allowed: an integer in 0..{n - 1 if n else 0}")


def render_html(summary: SummaryLike, traces: BackendTraces,
                samples: Sequence[int] | None = None, window: int = 20) -> str:
    """The report as one HTML string; see :func:`write_html_report`."""
    summary = as_summary(summary)
    _check_options(summary, samples, window)
    # the summary's backends, then any backend that only has traces
    colours = figures.backend_colours(dict.fromkeys([*summary.backends, *traces]))
    body = [_header(summary), _contents(summary), _backends(summary),
            *(_pair(summary, pair, index, traces, samples, window, colours)
              for index, pair in enumerate(summary.shown_pairs(), 1)),
            '<h2 id="how-to-read">How to read this</h2><ul class="note">'
            + "".join(f"<li>{_e(item)}</li>" for item in _HOW_TO_READ) + "</ul>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Verification report: {_e(summary.model)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_html_report(summary: SummaryLike, traces: BackendTraces,
                      path: str | os.PathLike[str], samples: Sequence[int] | None = None,
                      window: int = 20) -> None:
    """Write the verification report to ``path`` as one self-contained HTML file.

    ``summary``: a :class:`~neurodeploy.verify.summary.VerificationSummary` or the
    verifier's JSON-able dict; ``traces``: see :mod:`neurodeploy.verify.figure_data`.
    Time convention: steps are 0-based, one step per hop; ``window`` is in steps. The
    report holds the verdict and gate table, accuracy and run time per backend, which
    backends are identical at every step (each group is compared through its first
    member), and per remaining pair of backends a metric table per population (a readout
    read from v is compared by v) and, unless every spike is identical, raster overlays
    (matched / only in a / only in b at the exact step), a divergence map (population x
    step) and the v of the first divergent neuron for ``window`` steps either side, one
    axis per v unit.

    ``samples``: the samples to draw rasters of; by default the first-divergence sample of
    each non-identical pair (the pair's own first) and sample 0. At most
    :data:`MAX_RASTER_SAMPLES` per pair are drawn; the rest are named. Plots are base64
    PNGs in the file; nothing is fetched when it is opened. Written atomically (a temp
    file beside ``path``, then a rename).
    """
    text = render_html(summary, traces, samples, window)
    with atomic_output(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
