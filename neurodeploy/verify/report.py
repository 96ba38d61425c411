"""The verification report: one self-contained HTML file, and the verdict as rich tables.

Time convention: steps are 0-based integers, one step per hop; every time, lag and window
below is in steps. In a pair (a, b), ``a`` is the reference side and ``b`` the backend
under test. Rasters compare them at the exact step (the tolerance-0 matching of
:func:`neurodeploy.verify.metrics.spike_matching`): "missed" spikes are spikes of ``a``
that ``b`` lacks, "extra" spikes are spikes of ``b`` that ``a`` lacks. Lag +1 means ``b``
spikes one step after ``a``.

The HTML file needs nothing outside itself: the style sheet is inline, every plot is a PNG
embedded as a base64 ``data:`` URI, and there is no script, font or link to fetch. All text
(model, data, backend and population names, gate expressions) is HTML-escaped.

``summary`` is the verifier's JSON-able result::

    {"model", "data", "samples", "steps", "dt" (seconds or None),
     "populations": {population: size}, "outputs": [population, ...],
     "backends": {name: {"kind", "units" ("lsb" | "float" | None), "accuracy", "seconds",
                         "recorded"}},
     "pairs": [{"a", "b", "identical", "identical_samples", "decision_agreement",
                "first_divergence": None | {"step", "sample", "population", "neuron",
                                            "a_spiked", "b_spiked"},
                "populations": {population: PairMetrics.to_json()}}],
     "gates": [{"expr", "passed", "value", "detail"}], "passed"}

``traces[backend]`` is ``{"spikes": {population: bool (samples, steps, neurons)},
"v": {population: numbers, same shape}}``; "v" may be missing or cover only some
populations. All backends share the same samples, steps and populations.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from rich.console import Console
from rich.table import Table
from rich.text import Text

from neurodeploy.errors import InputError
from neurodeploy.network_io import atomic_output
from neurodeploy.verify.metrics import as_spikes, spike_matching

#: Raster overlays per pair, at most (further requested samples are named, not plotted).
MAX_RASTER_SAMPLES = 4
#: Neurons per population in a raster; larger populations show every neuron with a
#: mismatch (up to this many) plus evenly spread others.
MAX_RASTER_NEURONS = 64
#: Resolution of the embedded PNGs (dots per inch).
DPI = 80

#: Raster colours (Okabe-Ito): matched spikes, spikes only in a, spikes only in b.
COLOUR_MATCHED = "#8c8c8c"
COLOUR_MISSED = "#0072B2"
COLOUR_EXTRA = "#D55E00"
COLOUR_DIVERGENCE = "#CC79A7"

BackendTraces = Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]

_STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
tr.differs td { background: #fff1d6; }
td.pass, .verdict.pass { color: #176a2c; font-weight: bold; }
td.fail, .verdict.fail { color: #b00020; font-weight: bold; }
.verdict { font-size: 1.2em; }
.identical { color: #176a2c; }
.divergence { font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 0.5em 0 1.2em; }
figcaption { color: #444; font-size: 0.85em; max-width: 900px; }
section.pair { border-top: 2px solid #ddd; margin-top: 1.5em; }
"""


# ------------------------------------------------------------------------- formatting


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _mpl(text: object) -> str:
    """Text for matplotlib: a literal ``$`` must not start math mode."""
    return str(text).replace("$", r"\$")


def _legend_label(text: object) -> str:
    """Matplotlib drops legend labels that start with ``_``."""
    label = _mpl(text)
    return " " + label if label.startswith("_") else label


def _num(value: object, digits: int = 4) -> str:
    """A metric value: a dash for None, yes/no for bools, significant digits for floats."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}" if math.isfinite(value) else str(float(value))
    return str(value)


def _f1(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def divergence_sentence(divergence: Mapping[str, Any], a: str, b: str,
                        population: bool = True) -> str:
    """``sample 3, population 'layer1', neuron 17, step 42: a spiked, b did not`` (0-based
    steps); without the population part when ``population`` is False."""
    a_spiked, b_spiked = bool(divergence["a_spiked"]), bool(divergence["b_spiked"])
    if a_spiked and not b_spiked:
        who = f"{a} spiked, {b} did not"
    elif b_spiked and not a_spiked:
        who = f"{b} spiked, {a} did not"
    else:
        who = f"{a} spiked: {_num(a_spiked)}, {b} spiked: {_num(b_spiked)}"
    where = f"population {divergence['population']!r}, " if population else ""
    return (f"sample {divergence['sample']}, {where}neuron {divergence['neuron']}, "
            f"step {divergence['step']}: {who}")


def verdict(summary: Mapping[str, Any]) -> tuple[bool, str]:
    """(passed, one line): every gate passed, or which failed."""
    gates = list(summary.get("gates") or [])
    failed = [g for g in gates if not g.get("passed")]
    passed = bool(summary.get("passed")) and not failed
    if failed:
        exprs = "; ".join(str(g.get("expr")) for g in failed)
        return False, f"FAIL: {len(failed)} of {len(gates)} gates failed: {exprs}"
    if not passed:
        return False, "FAIL: the verifier reports a failure although no gate failed"
    if not gates:
        return True, "PASS: no gates were set"
    return True, f"PASS: all {len(gates)} gates passed"


def _new_figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg directly (no pyplot, no global backend switch).

    Axes are placed by hand in inches (:func:`_axes_at`): a layout engine would cost
    several times the drawing itself.
    """
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _axes_at(fig: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """Axes at a position given in inches from the figure's lower left corner."""
    w, h = fig.get_size_inches()
    return fig.add_axes((left / w, bottom / h, max(width, 0.1) / w, max(height, 0.1) / h))


def _label_inches(labels: Sequence[str], fontsize: float = 7) -> float:
    """A rough width of the longest tick label, in inches."""
    longest = max((len(str(x)) for x in labels), default=1)
    return min(3.5, 0.25 + 0.6 * fontsize / 72 * longest)


def _png_img(fig: Figure, alt: str, kind: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<img class="{_e(kind)}" alt="{_e(alt)}" '
            f'src="data:image/png;base64,{data}">')


def _figure(img: str, caption: str | None = None) -> str:
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f"<figure>{img}{cap}</figure>"


def _table(header: Sequence[str], rows: Sequence[tuple[Sequence[str], str | None]]) -> str:
    """``rows``: (cells as HTML, row class or None); header cells are plain text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for cells, cls in rows:
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(text: object, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{_e(text)}</td>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


# ---------------------------------------------------------------------------- sections


def _header(summary: Mapping[str, Any]) -> str:
    dt = summary.get("dt")
    dt_text = "dt not stated" if dt is None else f"dt = {dt:g} s per step"
    passed, line = verdict(summary)
    populations = summary.get("populations") or {}
    pop_text = ", ".join(f"{name} ({size})" for name, size in populations.items())
    outputs = ", ".join(map(str, summary.get("outputs") or [])) or "–"
    parts = [
        f"<h1>Verification report: {_e(summary.get('model'))}</h1>",
        f"<p>data: {_e(summary.get('data'))}; {_e(summary.get('samples'))} samples × "
        f"{_e(summary.get('steps'))} steps (0-based, one step per hop); {_e(dt_text)}</p>",
        f"<p>populations (neurons): {_e(pop_text or '–')}; outputs: {_e(outputs)}</p>",
        f'<p class="verdict {"pass" if passed else "fail"}">{_e(line)}</p>',
        '<h2 id="gates">Gates</h2>',
    ]
    gates = summary.get("gates") or []
    if gates:
        rows = [([_td(g.get("expr")), _td(_num(g.get("value"))),
                  _td("pass" if g.get("passed") else "FAIL",
                      "pass" if g.get("passed") else "fail"),
                  _td(g.get("detail") or "")], None if g.get("passed") else "differs")
                for g in gates]
        parts.append(_table(["gate", "value", "result", "detail"], rows))
    else:
        parts.append(_note("No gates were set."))
    return "\n".join(parts)


def _contents(summary: Mapping[str, Any]) -> str:
    links = ['<a href="#gates">gates</a>', '<a href="#backends">backends</a>']
    for index, pair in enumerate(summary.get("pairs") or [], 1):
        mark = "identical" if pair.get("identical") else "differs"
        links.append(f'<a href="#pair-{index}">{_e(pair["a"])} vs {_e(pair["b"])} '
                     f"({mark})</a>")
    links.append('<a href="#how-to-read">how to read this</a>')
    return "<nav><p>Contents: " + " · ".join(links) + "</p></nav>"


def _backends(summary: Mapping[str, Any]) -> str:
    backends = summary.get("backends") or {}
    parts = ['<h2 id="backends">Backends</h2>']
    rows = []
    for name, info in backends.items():
        seconds = info.get("seconds")
        rows.append(([
            _td(name), _td(info.get("kind") or "–"), _td(_units(summary, name) or "–"),
            _td(", ".join(info.get("recorded") or []) or "–"),
            _td(_pct(info.get("accuracy"))),
            _td("–" if seconds is None else f"{seconds:.3g}"),
        ], None))
    parts.append(_table(["backend", "kind", "v units", "recorded", "accuracy",
                         "run time (s)"], rows))
    acc = [(n, i["accuracy"]) for n, i in backends.items() if i.get("accuracy") is not None]
    secs = [(n, i["seconds"]) for n, i in backends.items() if i.get("seconds") is not None]
    if not acc and not secs:
        parts.append(_note("No backend reports an accuracy or a run time."))
        return "\n".join(parts)
    panels = [p for p in (("accuracy", acc), ("run time (s)", secs)) if p[1]]
    bars = max(len(p[1]) for p in panels)
    left = _label_inches([n for p in panels for n, _ in p[1]], 8)
    panel_width, axes_height = 4.6, 0.3 * bars + 0.2
    fig = _new_figure(panel_width * len(panels), axes_height + 0.6)
    for index, (label, values) in enumerate(panels):
        ax = _axes_at(fig, index * panel_width + left, 0.45,
                      panel_width - left - 0.45, axes_height)
        names = [_mpl(n) for n, _ in values][::-1]
        numbers = [float(v) for _, v in values][::-1]
        if label == "accuracy":
            numbers = [100 * v for v in numbers]
            ax.set_xlim(0, 100)
            label = "accuracy (%)"
        ax.barh(range(len(numbers)), numbers, color="#4c72b0")
        ax.set_yticks(range(len(numbers)), names)
        ax.set_xlabel(label)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(numbers):
            ax.annotate(f"{v:.3g}", (v, y), xytext=(2, 0), textcoords="offset points",
                        va="center", fontsize=7)
    parts.append(_figure(_png_img(fig, "accuracy and run time per backend", "backends")))
    return "\n".join(parts)


def _units(summary: Mapping[str, Any], backend: str) -> str | None:
    """The backend's v units; None when not stated (None, "" or "none")."""
    units = ((summary.get("backends") or {}).get(backend) or {}).get("units")
    return None if units in (None, "", "none") else str(units)


def _metric_table(summary: Mapping[str, Any], pair: Mapping[str, Any]) -> str:
    a, b = pair["a"], pair["b"]
    ua, ub = _units(summary, a), _units(summary, b)
    rows = []
    for pop, m in (pair.get("populations") or {}).items():
        rel = m.get("count_error_rel")
        count = f"{_num(m.get('count_error_abs'), 3)} ({'–' if rel is None else f'{rel:.1%}'})"
        first = (f"{_num(m.get('first_spike_mean'), 3)} / {_num(m.get('first_spike_max'))} "
                 f"({_num(m.get('first_spike_n_only_one'))})")
        rmse = m.get("v_rmse")
        if rmse is None:
            v_text = "–"
        elif ua and ub and ua != ub:
            v_text = f"{_num(rmse)} ({ua} vs {ub}: not comparable)"
        else:
            v_text = f"{_num(rmse)} {ua or ub or ''}".strip()
        lag = f"{_num(m.get('best_lag'))} ({_f1(m.get('f1_at_best_lag'))})"
        rows.append(([
            _td(pop), _td(_num(m.get("identical"))), _td(_pct(m.get("identical_samples"))),
            _td(_f1(m.get("f1_at_0"))), _td(_f1(m.get("f1_at_1"))), _td(_f1(m.get("f1_at_2"))),
            _td(lag), _td(count), _td(first),
            _td(f"{_num(m.get('van_rossum'), 3)} (τ {_num(m.get('tau'), 3)})"), _td(v_text),
            _td(f"{_num(m.get('n_spikes_a'))} / {_num(m.get('n_spikes_b'))}"),
        ], None if m.get("identical") else "differs"))
    header = ["population", "identical", "identical samples", "F1@0", "F1@±1", "F1@±2",
              "best lag (F1 there)", "count error: mean |Δ| (relative)",
              "first-spike error mean / max (one side only)", "van Rossum (τ, steps)",
              "v RMSE", f"spikes {a} / {b}"]
    return _table(header, rows)


def _spikes(traces: BackendTraces, backend: str, population: str) -> np.ndarray | None:
    spikes = (traces.get(backend) or {}).get("spikes") or {}
    if population not in spikes:
        return None
    return as_spikes(spikes[population], population)


def _v(traces: BackendTraces, backend: str, population: str) -> np.ndarray | None:
    v = (traces.get(backend) or {}).get("v") or {}
    return None if population not in v else np.asarray(v[population])


def _pick_neurons(mismatch: np.ndarray, active: np.ndarray, limit: int) -> np.ndarray:
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


def _raster(pair: Mapping[str, Any], traces: BackendTraces, sample: int) -> str:
    a, b = pair["a"], pair["b"]
    divergence = pair.get("first_divergence") or {}
    panels = []  # (population, steps, shown neurons, match, total neurons)
    captions = []
    for pop in pair.get("populations") or {}:
        sa, sb = _spikes(traces, a, pop), _spikes(traces, b, pop)
        if sa is None or sb is None or sa.shape != sb.shape or sample >= sa.shape[0]:
            captions.append(f"population {pop!r}: no comparable spikes of sample {sample}.")
            continue
        if sa.shape[2] == 0 or sa.shape[1] == 0:
            captions.append(f"population {pop!r}: no neurons or no steps.")
            continue
        match = spike_matching(sa[sample:sample + 1], sb[sample:sample + 1], 0, name=pop)
        mismatch = (match.missed | match.extra)[0].any(axis=0)
        n = sa.shape[2]
        if n > MAX_RASTER_NEURONS:
            active = (sa[sample] | sb[sample]).any(axis=0)
            shown = _pick_neurons(mismatch, active, MAX_RASTER_NEURONS)
            n_mis = int(mismatch.sum())
            which = (f"all {n_mis} with a mismatch" if n_mis <= MAX_RASTER_NEURONS else
                     f"the first {MAX_RASTER_NEURONS} of {n_mis} with a mismatch")
            captions.append(f"population {pop!r}: {shown.size} of {n} neurons shown: "
                            f"{which} in sample {sample} plus "
                            f"{shown.size - min(n_mis, shown.size)} others; rows are labelled "
                            "with the neuron index.")
        else:
            shown = np.arange(n)
        panels.append((pop, sa.shape[1], shown, match, n))
    if not panels:
        return _note(" ".join(captions))
    heights = [0.45 + 0.025 * len(p[2]) for p in panels]
    gap, top, bottom = 0.55, 0.6, 0.45
    fig = _new_figure(9, top + bottom + sum(heights) + gap * (len(panels) - 1))
    axes = []
    y = fig.get_size_inches()[1] - top
    for height in heights:
        y -= height
        axes.append(_axes_at(fig, 0.65, y, 9 - 0.85, height))
        y -= gap
    for ax, (pop, steps, shown, match, n) in zip(axes, panels, strict=True):
        row_of = np.full(n, -1)
        row_of[shown] = np.arange(shown.size)
        for mask, colour, marker, size in ((match.matched_a, COLOUR_MATCHED, "s", 5),
                                           (match.missed, COLOUR_MISSED, "v", 22),
                                           (match.extra, COLOUR_EXTRA, "^", 22)):
            t, neuron = np.nonzero(mask[0][:, shown])
            ax.scatter(t, neuron, s=size, c=colour, marker=marker, linewidths=0)
        if (divergence.get("sample") == sample and divergence.get("population") == pop
                and 0 <= divergence.get("neuron", -1) < n and row_of[divergence["neuron"]] >= 0):
            ax.scatter([divergence["step"]], [row_of[divergence["neuron"]]], s=110,
                       facecolors="none", edgecolors=COLOUR_DIVERGENCE, linewidths=1.5)
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylim(-0.5, shown.size - 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        if shown.size < n:  # rows are the shown neurons: label them with their index
            ax.yaxis.set_major_formatter(FuncFormatter(
                lambda y, _pos, shown=shown: str(shown[int(y)])
                if float(y).is_integer() and 0 <= y < shown.size else ""))
        ax.set_ylabel("neuron", fontsize=8)
        ax.set_title(_mpl(f"population {pop!r}, sample {sample}: {match.n_matched} matched, "
                          f"{match.n_missed} only in {a}, {match.n_extra} only in {b}"),
                     fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("step (0-based)", fontsize=8)
    handles = [
        Line2D([], [], ls="", marker="s", color=COLOUR_MATCHED, label="matched (both)"),
        Line2D([], [], ls="", marker="v", color=COLOUR_MISSED,
               label=_legend_label(f"only in {a} (missed)")),
        Line2D([], [], ls="", marker="^", color=COLOUR_EXTRA,
               label=_legend_label(f"only in {b} (extra)")),
    ]
    if divergence.get("sample") == sample:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", ms=9,
                              color=COLOUR_DIVERGENCE, label="first divergence"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1.0),
               ncol=len(handles), fontsize=8, frameon=False)
    img = _png_img(fig, f"raster: {a} vs {b}, sample {sample}", "raster")
    caption = (f"Sample {sample}: {a} against {b} at the exact step. " + " ".join(captions))
    return _figure(img, caption)


def _heat_map(pair: Mapping[str, Any], traces: BackendTraces) -> str:
    a, b = pair["a"], pair["b"]
    names, rows, notes = [], [], []
    for pop in pair.get("populations") or {}:
        sa, sb = _spikes(traces, a, pop), _spikes(traces, b, pop)
        if sa is None or sb is None or sa.shape != sb.shape:
            notes.append(f"population {pop!r}: no comparable spikes.")
            continue
        differs = sa != sb
        share = (differs.mean(axis=(0, 2)) if differs.shape[0] * differs.shape[2]
                 else np.zeros(differs.shape[1]))
        names.append(pop)
        rows.append(share)
    if not rows or len({r.size for r in rows}) != 1 or rows[0].size == 0:
        return _note("No divergence map: " + (" ".join(notes) or "no steps."))
    grid = np.vstack(rows)
    left = _label_inches(names)
    axes_height = min(0.3 * len(rows) + 0.3, 6.0)
    fig = _new_figure(9, axes_height + 0.65)
    ax = _axes_at(fig, left, 0.45, 9 - left - 1.45, axes_height)
    # A log scale: one wrong spike among many neurons must stay visible next to a
    # population where most entries differ. White: no difference at that step.
    nonzero = grid[grid > 0]
    top = float(nonzero.max()) if nonzero.size else 1.0
    bottom = float(nonzero.min()) if nonzero.size else 0.1
    bottom = min(bottom, top / 10)
    cmap = ListedColormap(colormaps["Reds"](np.linspace(0.3, 1.0, 256))).with_extremes(
        bad="white", under="white")
    image = ax.imshow(np.ma.masked_equal(grid, 0.0), aspect="auto", interpolation="nearest",
                      cmap=cmap, norm=LogNorm(vmin=bottom, vmax=top),
                      extent=(-0.5, grid.shape[1] - 0.5, len(rows) - 0.5, -0.5))
    ax.set_yticks(range(len(rows)), [_mpl(n) for n in names])
    ax.set_xlabel("step (0-based)", fontsize=8)
    ax.tick_params(labelsize=7)
    divergence = pair.get("first_divergence")
    if divergence:
        ax.axvline(divergence["step"], color=COLOUR_DIVERGENCE, ls="--", lw=1)
    bar = fig.colorbar(image, cax=_axes_at(fig, 9 - 1.3, 0.45, 0.14, axes_height))
    bar.set_label("share of (sample, neuron)\nthat differ", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    img = _png_img(fig, f"divergence map: {a} vs {b}", "heatmap")
    caption = (f"Share of (sample, neuron) entries whose spike differs between {a} and {b}, "
               "per population and step (log colour scale from "
               f"{bottom:.2g} to {top:.2g}; white: no difference)"
               + ("; the dashed line is the first divergence." if divergence else ".")
               + (" " + " ".join(notes) if notes else ""))
    return _figure(img, caption)


def _voltage(summary: Mapping[str, Any], pair: Mapping[str, Any], traces: BackendTraces,
             window: int, colours: Mapping[str, str]) -> str:
    divergence = pair.get("first_divergence")
    if not divergence:
        return ""
    pop, sample = divergence["population"], divergence["sample"]
    neuron, step = divergence["neuron"], divergence["step"]
    groups: dict[tuple[str | None, str | None],
                 list[tuple[str, np.ndarray, np.ndarray | None]]] = {}
    notes = []
    for name in colours:
        v = _v(traces, name, pop)
        if v is None:
            if name in traces:
                notes.append(f"{name}: no v of population {pop!r}.")
            continue
        spikes = _spikes(traces, name, pop)
        if v.ndim != 3 or (spikes is not None and v.shape != spikes.shape):
            notes.append(f"{name}: v has shape {v.shape}, unlike its spikes; not plotted.")
            continue
        if sample >= v.shape[0] or step >= v.shape[1] or neuron >= v.shape[2]:
            notes.append(f"{name}: v does not cover the divergence; not plotted.")
            continue
        units = _units(summary, name)
        # one axis per unit; a backend that states no units gets an axis of its own
        groups.setdefault((units, None if units else name), []).append((name, v, spikes))
    if not groups:
        return _note(f"No backend recorded v of population {pop!r}; no voltage plot. "
                     + " ".join(notes))
    steps = next(iter(groups.values()))[0][1].shape[1]
    lo, hi = max(0, step - window), min(steps - 1, step + window)
    t = np.arange(lo, hi + 1)
    styles = ["-", "--", ":", "-."]
    axes_height, gap, top, bottom = 1.6, 0.15, 0.35, 0.45
    fig = _new_figure(9, top + bottom + len(groups) * (axes_height + gap) - gap)
    axes = []
    for index in range(len(groups)):
        y = bottom + (len(groups) - 1 - index) * (axes_height + gap)
        ax = _axes_at(fig, 0.85, y, 9 - 1.05, axes_height)
        if axes:
            ax.sharex(axes[0])
        axes.append(ax)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    for ax, ((units, _), members) in zip(axes, groups.items(), strict=True):
        for index, (name, v, spikes) in enumerate(members):
            trace = np.asarray(v[sample, lo:hi + 1, neuron], dtype=np.float64)
            ax.plot(t, trace, ls=styles[index % len(styles)], lw=2.0 - 0.4 * (index % 3),
                    color=colours[name], label=_legend_label(name))
            if spikes is not None:
                fired = np.flatnonzero(spikes[sample, lo:hi + 1, neuron])
                ax.plot(t[fired], trace[fired], ls="", marker="o", mfc="none", ms=6,
                        color=colours[name])
        ax.axvline(step, color=COLOUR_DIVERGENCE, ls="--", lw=1)
        ax.set_ylabel(_mpl(f"v ({units or 'units not stated'})"), fontsize=8)
        ax.legend(fontsize=7, loc="best")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("step (0-based)", fontsize=8)
    axes[0].set_title(_mpl(f"population {pop!r}, sample {sample}, neuron {neuron}; "
                           f"first divergence at step {step} (dashed)"), fontsize=9)
    img = _png_img(fig, f"voltage: {pair['a']} vs {pair['b']}, population {pop}, "
                        f"neuron {neuron}", "voltage")
    layout = "; ".join(f"{units or 'units not stated'}: {', '.join(m[0] for m in members)}"
                       for (units, _), members in groups.items())
    caption = (f"v of neuron {neuron} of population {pop!r}, sample {sample}, steps {lo} to "
               f"{hi} (±{window} around the first divergence at step {step}); circles mark "
               f"spikes. One axis per v unit ({layout}); values are not comparable across "
               "axes." + (" " + " ".join(notes) if notes else ""))
    return _figure(img, caption)


def raster_samples(summary: Mapping[str, Any], pair: Mapping[str, Any],
                   samples: Sequence[int] | None = None) -> list[int]:
    """The samples to draw rasters of for ``pair``, in order, without repeats.

    ``samples`` when given; otherwise the pair's first-divergence sample, sample 0, then
    the first-divergence samples of the other non-identical pairs. The report draws the
    first :data:`MAX_RASTER_SAMPLES` of them.
    """
    if samples is not None:
        return list(dict.fromkeys(int(s) for s in samples))
    chosen = []
    if pair.get("first_divergence"):
        chosen.append(int(pair["first_divergence"]["sample"]))
    chosen.append(0)
    for other in summary.get("pairs") or []:
        if not other.get("identical") and other.get("first_divergence"):
            chosen.append(int(other["first_divergence"]["sample"]))
    return list(dict.fromkeys(chosen))


def _pair(summary: Mapping[str, Any], pair: Mapping[str, Any], index: int, traces: BackendTraces,
          samples: Sequence[int] | None, window: int, colours: Mapping[str, str]) -> str:
    a, b = pair["a"], pair["b"]
    parts = [f'<section class="pair" id="pair-{index}">', f"<h2>{_e(a)} vs {_e(b)}</h2>"]
    if pair.get("identical"):
        parts.append(f'<p class="identical">{_e(a)} and {_e(b)}: identical at every step '
                     "(every sample, every population).</p></section>")
        return "\n".join(parts)
    agreement = pair.get("decision_agreement")
    parts.append(f"<p>{_e(_pct(pair.get('identical_samples')))} of samples identical in "
                 f"every population; decision agreement {_e(_pct(agreement))}.</p>")
    divergence = pair.get("first_divergence")
    if divergence:
        parts.append(f'<p class="divergence">First divergence: '
                     f"{_e(divergence_sentence(divergence, a, b))}.</p>")
    parts.append(_metric_table(summary, pair))
    missing = [name for name in (a, b) if name not in traces]
    if missing:
        parts.append(_note(f"No traces of {', '.join(missing)}: no plots for this pair."))
        parts.append("</section>")
        return "\n".join(parts)
    chosen = raster_samples(summary, pair, samples)
    parts.append("<h3>Rasters at the exact step</h3>")
    for sample in chosen[:MAX_RASTER_SAMPLES]:
        parts.append(_raster(pair, traces, sample))
    if len(chosen) > MAX_RASTER_SAMPLES:
        parts.append(_note(f"Samples {', '.join(map(str, chosen[MAX_RASTER_SAMPLES:]))} "
                           f"not plotted (at most {MAX_RASTER_SAMPLES} per pair)."))
    parts.append("<h3>Where they differ</h3>")
    parts.append(_heat_map(pair, traces))
    if divergence:
        parts.append("<h3>Voltage around the first divergence</h3>")
        parts.append(_voltage(summary, pair, traces, window, colours))
    parts.append("</section>")
    return "\n".join(parts)


_HOW_TO_READ = (
    "Time: steps are 0-based, one step per hop; every time, lag and window is in steps. "
    "In a pair 'a vs b', a is the reference side and b the backend under test.",
    "F1@k: spikes are matched one-to-one per (sample, neuron) when they are at most k steps "
    "apart; F1 = 2 × pairs / (spikes of a + spikes of b), 1 when both are silent. F1@0 is "
    "the exact step.",
    "Lag: the shift L in steps that maximises F1@0 of a at step t against b at step t + L; "
    "lag +1 means b spikes one step after a.",
    "Rasters: grey squares are spikes at the same step in both; blue down-triangles are "
    "spikes only in a (missed by b); orange up-triangles are spikes only in b (extra).",
    "Count error: mean over (sample, neuron) of |count a − count b|, and that relative to "
    "a's mean count. First-spike error: |first spike of a − first spike of b| over "
    "(sample, neuron) where both spike (mean / max), and in brackets how many spike on one "
    "side only. v RMSE is in the backends' v units (lsb: integer state; float: model units).",
)


def _footnote() -> str:
    items = "".join(f"<li>{_e(item)}</li>" for item in _HOW_TO_READ)
    return f'<h2 id="how-to-read">How to read this</h2><ul class="note">{items}</ul>'


def _check_options(summary: Mapping[str, Any], samples: Sequence[int] | None,
                   window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise InputError(f"window = {window!r}; allowed: an integer number of steps >= 0")
    if samples is None:
        return
    n = summary.get("samples")
    for s in samples:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 or (
                isinstance(n, int) and s >= n):
            raise InputError(f"sample {s!r}; allowed: an integer in 0..{n - 1 if n else 0}")


def _colours(summary: Mapping[str, Any], traces: BackendTraces) -> dict[str, str]:
    names = list(dict.fromkeys([*(summary.get("backends") or {}), *traces]))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf",
               "#bcbd22", "#7f7f7f", "#d62728", "#e377c2"]
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def render_html(summary: Mapping[str, Any], traces: BackendTraces,
                samples: Sequence[int] | None = None, window: int = 20) -> str:
    """The report as one HTML string; see :func:`write_html_report`."""
    _check_options(summary, samples, window)
    colours = _colours(summary, traces)
    body = [_header(summary), _contents(summary), _backends(summary)]
    for index, pair in enumerate(summary.get("pairs") or [], 1):
        body.append(_pair(summary, pair, index, traces, samples, window, colours))
    body.append(_footnote())
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Verification report: {_e(summary.get('model'))}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_html_report(summary: dict, traces: dict[str, dict[str, dict[str, np.ndarray]]],
                      path: str | os.PathLike, samples: Sequence[int] | None = None,
                      window: int = 20) -> None:
    """Write the verification report to ``path`` as one self-contained HTML file.

    Time convention: steps are 0-based, one step per hop; ``window`` is in steps. The
    report holds the verdict and gate table, accuracy and run time per backend, and per
    pair of backends a metric table per population and, unless the pair is identical at
    every step, raster overlays (matched / only in a / only in b at the exact step), a
    divergence map (population x step) and the v of the first divergent neuron for
    ``window`` steps either side, one axis per v unit.

    ``samples``: the samples to draw rasters of; by default the first-divergence sample of
    each non-identical pair (the pair's own first) and sample 0. At most
    :data:`MAX_RASTER_SAMPLES` per pair are drawn; the rest are named. Plots are base64
    PNGs in the file; nothing is fetched when it is opened. Written atomically (a temp
    file beside ``path``, then a rename).
    """
    text = render_html(summary, traces, samples, window)
    with atomic_output(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))


def identical_groups(summary: dict) -> list[list[str]]:
    """Backends grouped by identical spikes (every population, sample and step), in the
    summary's backend order; each group is listed once."""
    names = list(summary.get("backends") or {})
    for pair in summary.get("pairs") or []:
        for n in (pair["a"], pair["b"]):
            if n not in names:
                names.append(n)
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for pair in summary.get("pairs") or []:
        if pair.get("identical"):
            ra, rb = root(pair["a"]), root(pair["b"])
            if ra != rb:
                parent[max(ra, rb, key=names.index)] = min(ra, rb, key=names.index)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    return list(groups.values())


def render_terminal(summary: dict, console: Console) -> None:
    """Rich tables: agreement per pair and population, the gates, and a PASS/FAIL line.

    Steps are 0-based, one step per hop; best lag +1 means b spikes one step after a.
    """
    title = Text(f"spike agreement: {summary.get('model')} on {summary.get('data')} "
                 f"({summary.get('samples')} samples × {summary.get('steps')} steps, "
                 "0-based)")
    pairs = Table(title=title)
    for column in ("pair", "population", "identical", "F1@0", "F1@±1", "best lag (F1)",
                   "first divergence"):
        pairs.add_column(column, justify="left" if column in
                         ("pair", "population", "first divergence") else "right")
    groups = identical_groups(summary)
    shown = {g[0] for g in groups}
    for pair in summary.get("pairs") or []:
        a, b = pair["a"], pair["b"]
        if a not in shown or b not in shown:  # one row per group of identical backends
            continue
        divergence = pair.get("first_divergence")
        for pop, m in (pair.get("populations") or {}).items():
            if pair.get("identical") or m.get("identical"):
                where = "none"
            elif divergence and divergence.get("population") == pop:
                where = divergence_sentence(divergence, a, b, population=False)
            elif divergence:
                where = f"later (first in {divergence.get('population')!r})"
            else:
                where = "–"
            pairs.add_row(
                Text(f"{a} vs {b}"), Text(str(pop)), _num(m.get("identical")),
                _f1(m.get("f1_at_0")), _f1(m.get("f1_at_1")),
                f"{_num(m.get('best_lag'))} ({_f1(m.get('f1_at_best_lag'))})", Text(where),
                style=None if m.get("identical") else "yellow",
            )
    for group in groups:
        if len(group) > 1:
            console.print(Text(f"identical at every step: {' = '.join(group)} (rows show "
                               f"{group[0]})"))
    if pairs.row_count:
        console.print(pairs)
    gates = summary.get("gates") or []
    if gates:
        table = Table(title="gates")
        for column in ("gate", "value", "result", "detail"):
            table.add_column(column)
        for gate in gates:
            ok = bool(gate.get("passed"))
            table.add_row(Text(str(gate.get("expr"))), Text(_num(gate.get("value"))),
                          Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
                          Text(str(gate.get("detail") or "")))
        console.print(table)
    passed, line = verdict(summary)
    console.print(Text(line, style="bold green" if passed else "bold red"))
