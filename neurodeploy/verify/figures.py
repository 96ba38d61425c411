"""The report's figures, drawn with matplotlib from the typed summaries and figure data.

Each function returns a :class:`~matplotlib.figure.Figure` drawn by Agg directly (no
pyplot, no global backend switch); :func:`png` encodes it. Axes are placed by hand in
inches (:func:`axes_at`): a layout engine would cost several times the drawing itself.
Time axes are in 0-based steps, one step per hop.

matplotlib is imported at the top: only the HTML page (:mod:`neurodeploy.verify.render_html`)
imports this module. The terminal tables (:mod:`neurodeploy.verify.render_terminal`) and
the summaries do not, so code that only prints a verdict never pays matplotlib's import
(about 0.6 to 1 s here).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from neurodeploy.verify.figure_data import DivergenceMap, RasterView, VoltageWindow
from neurodeploy.verify.summary import VerificationSummary

#: Resolution of the embedded PNGs (dots per inch): sharp at :data:`DISPLAY_PPI`.
DPI = 150
#: CSS pixels per inch at which the report shows a figure (the web's 96 px per inch).
DISPLAY_PPI = 96
#: Font sizes in points: ticks, legends and annotations; axis labels and titles. At
#: :data:`DISPLAY_PPI` a point is 4/3 px: 9 pt is 12 px, 10 px on an 800 px wide screen.
FONT = 9
FONT_LABEL = 10

#: Raster colours (Okabe-Ito): matched spikes, spikes only in a, spikes only in b.
COLOUR_MATCHED = "#8c8c8c"
COLOUR_MISSED = "#0072B2"
COLOUR_EXTRA = "#D55E00"
COLOUR_DIVERGENCE = "#CC79A7"
#: Raster markers (colour, marker, size in points²) of matched, missed and extra spikes.
_MARKS = ((COLOUR_MATCHED, "s", 5), (COLOUR_MISSED, "v", 22), (COLOUR_EXTRA, "^", 22))

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf",
            "#bcbd22", "#7f7f7f", "#d62728", "#e377c2")


def backend_colours(names: Iterable[str]) -> dict[str, str]:
    """One line colour per backend, in order (the palette repeats after ten)."""
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def mpl_text(text: object) -> str:
    """Text for matplotlib: a literal ``$`` must not start math mode."""
    return str(text).replace("$", r"\$")


def legend_label(text: object) -> str:
    """Matplotlib drops legend labels that start with ``_``."""
    label = mpl_text(text)
    return " " + label if label.startswith("_") else label


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches drawn by Agg."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def axes_at(fig: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """Axes at a position given in inches from the figure's lower left corner."""
    w, h = fig.get_size_inches()
    return fig.add_axes((left / w, bottom / h, max(width, 0.1) / w, max(height, 0.1) / h))


def stacked_axes(width: float, heights: Sequence[float], left: float, gap: float,
                 top: float, bottom: float, right: float = 0.2) -> tuple[Figure, list[Axes]]:
    """A figure ``width`` inches wide holding one axes per height (inches), stacked top to
    bottom ``gap`` inches apart, with margins in inches."""
    fig = new_figure(width, top + bottom + sum(heights) + gap * (len(heights) - 1))
    axes = []
    y = fig.get_size_inches()[1] - top
    for height in heights:
        y -= height
        axes.append(axes_at(fig, left, y, width - left - right, height))
        y -= gap
    return fig, axes


def label_inches(labels: Sequence[str], fontsize: float = FONT) -> float:
    """A rough width of the longest tick label, in inches."""
    longest = max((len(str(x)) for x in labels), default=1)
    return min(3.5, 0.25 + 0.6 * fontsize / 72 * longest)


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes at :data:`DPI`, without the software stamp."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def backends_figure(summary: VerificationSummary) -> Figure | None:
    """Bars of accuracy (%) and run time (s) per backend; None when no backend has
    either."""
    backends = summary.backends
    acc = [(n, i.accuracy) for n, i in backends.items() if i.accuracy is not None]
    secs = [(n, i.seconds) for n, i in backends.items() if i.seconds is not None]
    panels = [p for p in (("accuracy (%)", acc, 100), ("run time (s)", secs, 1)) if p[1]]
    if not panels:
        return None
    bars = max(len(p[1]) for p in panels)
    left = label_inches([n for p in panels for n, _ in p[1]])
    panel_width, axes_height = 4.6, 0.3 * bars + 0.2
    fig = new_figure(panel_width * len(panels), axes_height + 0.6)
    for index, (label, values, scale) in enumerate(panels):
        ax = axes_at(fig, index * panel_width + left, 0.45,
                     panel_width - left - 0.45, axes_height)
        names = [mpl_text(n) for n, _ in values][::-1]
        numbers = [scale * float(v) for _, v in values][::-1]  # accuracy in %
        if scale == 100:
            ax.set_xlim(0, 100)
        ax.barh(range(len(numbers)), numbers, color="#4c72b0")
        ax.set_yticks(range(len(numbers)), names)
        ax.set_xlabel(label, fontsize=FONT_LABEL)
        ax.tick_params(labelsize=FONT)
        for y, v in enumerate(numbers):
            ax.annotate(f"{v:.3g}", (v, y), xytext=(2, 0), textcoords="offset points",
                        va="center", fontsize=FONT)
    return fig


def raster_figure(view: RasterView) -> Figure:
    """One panel per population (rows: the shown neurons): grey squares matched, blue
    down-triangles only in a, orange up-triangles only in b, a ring at the first
    divergence. ``view`` must have at least one panel."""
    a, b, panels = view.a, view.b, view.panels
    fig, axes = stacked_axes(9, [0.45 + 0.025 * p.neurons.size for p in panels], left=0.65,
                             gap=0.55, top=0.6, bottom=0.45)
    for ax, panel in zip(axes, panels, strict=True):
        for mask, (colour, marker, size) in zip((panel.matched, panel.missed, panel.extra),
                                                _MARKS, strict=True):
            t, neuron = np.nonzero(mask)
            ax.scatter(t, neuron, s=size, c=colour, marker=marker, linewidths=0)
        if panel.divergence is not None:
            ax.scatter([panel.divergence[0]], [panel.divergence[1]], s=110,
                       facecolors="none", edgecolors=COLOUR_DIVERGENCE, linewidths=1.5)
        shown = panel.neurons
        ax.set_xlim(-0.5, panel.steps - 0.5)
        ax.set_ylim(-0.5, shown.size - 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        if panel.subsampled:  # rows are the shown neurons: label them with their index
            ax.yaxis.set_major_formatter(FuncFormatter(
                lambda y, _pos, shown=shown: str(shown[int(y)])
                if float(y).is_integer() and 0 <= y < shown.size else ""))
        ax.set_ylabel("neuron", fontsize=FONT_LABEL)
        ax.set_title(mpl_text(f"population {panel.population!r}, sample {view.sample}: "
                              f"{panel.n_matched} matched, {panel.n_missed} only in {a}, "
                              f"{panel.n_extra} only in {b}"), fontsize=FONT_LABEL)
        ax.tick_params(labelsize=FONT)
    axes[-1].set_xlabel("step (0-based)", fontsize=FONT_LABEL)
    labels = ("matched (both)", f"only in {a} (missed)", f"only in {b} (extra)")
    handles = [Line2D([], [], ls="", marker=marker, color=colour, label=legend_label(label))
               for (colour, marker, _), label in zip(_MARKS, labels, strict=True)]
    if view.divergence_here:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", ms=9,
                              color=COLOUR_DIVERGENCE, label="first divergence"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1.0),
               ncol=len(handles), fontsize=FONT, frameon=False)
    return fig


def log_colour_range(share: np.ndarray) -> tuple[float, float]:
    """(bottom, top) of the divergence map's log colour scale: the smallest and largest
    nonzero share, the bottom at most a tenth of the top."""
    nonzero = share[share > 0]
    top = float(nonzero.max()) if nonzero.size else 1.0
    bottom = float(nonzero.min()) if nonzero.size else 0.1
    return min(bottom, top / 10), top


def divergence_map_figure(data: DivergenceMap) -> Figure:
    """Population x step, coloured by the share of entries that differ (log scale, white
    where none do); the first divergence dashed. ``data.share`` must not be None."""
    grid, names = data.share, data.populations
    left = label_inches(names)
    axes_height = min(0.3 * len(names) + 0.3, 6.0)
    fig = new_figure(9, axes_height + 0.65)
    ax = axes_at(fig, left, 0.45, 9 - left - 1.45, axes_height)
    # A log scale: one wrong spike among many neurons must stay visible next to a
    # population where most entries differ. White: no difference at that step.
    bottom, top = log_colour_range(grid)
    cmap = ListedColormap(colormaps["Reds"](np.linspace(0.3, 1.0, 256))).with_extremes(
        bad="white", under="white")
    image = ax.imshow(np.ma.masked_equal(grid, 0.0), aspect="auto", interpolation="nearest",
                      cmap=cmap, norm=LogNorm(vmin=bottom, vmax=top),
                      extent=(-0.5, grid.shape[1] - 0.5, len(names) - 0.5, -0.5))
    ax.set_yticks(range(len(names)), [mpl_text(n) for n in names])
    ax.set_xlabel("step (0-based)", fontsize=FONT_LABEL)
    ax.tick_params(labelsize=FONT)
    if data.divergence_step is not None:
        ax.axvline(data.divergence_step, color=COLOUR_DIVERGENCE, ls="--", lw=1)
    bar = fig.colorbar(image, cax=axes_at(fig, 9 - 1.3, 0.45, 0.14, axes_height))
    bar.set_label("share of entries\nthat differ", fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)
    return fig


def voltage_figure(data: VoltageWindow, colours: dict[str, str]) -> Figure:
    """One axis per v unit, stacked, sharing the step axis: each backend's v (circles
    where it spiked), the first divergence dashed. ``data.groups`` must not be empty."""
    t = np.arange(data.first, data.last + 1)
    styles = ["-", "--", ":", "-."]
    fig, axes = stacked_axes(9, [1.6] * len(data.groups), left=0.85, gap=0.15, top=0.35,
                             bottom=0.45)
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    for ax, group in zip(axes, data.groups, strict=True):
        for index, trace in enumerate(group.traces):
            colour = colours[trace.backend]
            ax.plot(t, trace.v, ls=styles[index % len(styles)], lw=2.0 - 0.4 * (index % 3),
                    color=colour, label=legend_label(trace.backend))
            if trace.spiked is not None:
                fired = np.flatnonzero(trace.spiked)
                ax.plot(t[fired], trace.v[fired], ls="", marker="o", mfc="none", ms=6,
                        color=colour)
        ax.axvline(data.step, color=COLOUR_DIVERGENCE, ls="--", lw=1)
        ax.set_ylabel(mpl_text(f"v ({group.units or 'units not stated'})"),
                      fontsize=FONT_LABEL)
        ax.legend(fontsize=FONT, loc="best")
        ax.tick_params(labelsize=FONT)
    axes[-1].set_xlabel("step (0-based)", fontsize=FONT_LABEL)
    axes[0].set_title(mpl_text(f"population {data.population!r}, sample {data.sample}, "
                               f"neuron {data.neuron}; first divergence at step {data.step} "
                               "(dashed)"), fontsize=FONT_LABEL)
    return fig
