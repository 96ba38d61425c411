"""The quantization report rendered: rich tables in the terminal, and one PNG.

Both read a :class:`~neurodeploy.quantize.quality.QuantizationReport` (or the JSON dict
``quantization.json["report"]``). Counts refer to the evaluation data (0-based steps,
one step per hop).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console

from neurodeploy.network_io import atomic_output
from neurodeploy.quantize.quality import QuantizationReport, as_report
from neurodeploy.terminal_table import make_table, print_table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _accuracy_line(report: QuantizationReport) -> str:
    """``float 91.0%, fixed point 87.5%`` (a dash for an accuracy that is not known)."""
    return f"float {_pct(report.accuracy_float)}, fixed point {_pct(report.accuracy_fixed_point)}"


def render_report(report: QuantizationReport | Mapping[str, Any], console: Console) -> None:
    """Rich tables of the report (projections, populations, accuracy)."""
    report = as_report(report)
    print_table(console, make_table(
        "projections", ("projection", "weight_exp", "SMAPE", "clipped", "grid bits dropped",
                        "rounding error (LSB)"),
        [(r.projection, str(r.weight_exp), f"{r.weight_smape:.2%}", f"{r.clipped_share:.2%}",
          str(r.grid_dropped_bits), f"{r.mean_rounding_error_lsb:.3f}")
         for r in report.projections], justify="right"))
    split = [r for r in report.projections if r.fine_weight_exp is not None]
    if split:  # coarse + fine projections (see neurodeploy.quantize.ptq)
        print_table(console, make_table(
            "split projections (coarse + fine weight grids)",
            ("projection", "weight_exp coarse", "weight_exp fine", "SMAPE single grid",
             "SMAPE split", "synapses added"),
            [(r.projection, str(r.weight_exp), str(r.fine_weight_exp),
              f"{r.weight_smape_single:.2%}", f"{r.weight_smape:.2%}", str(r.added_synapses))
             for r in split], justify="right"))
    print_table(console, make_table(
        "populations (evaluation data)", ("population", "u wraps", "v saturations",
                                          "never fire", "fire every step", "spike F1 vs float"),
        [(p.population, str(p.u_wraps), str(p.v_saturations),
          str(p.never_fire if p.never_fire is not None else "-"),
          str(p.fire_every_step if p.fire_every_step is not None else "-"),
          "-" if p.spike_f1_vs_float is None else f"{p.spike_f1_vs_float:.3f}")
         for p in report.populations], justify="right"))
    change = ("" if report.accuracy_float is None or report.accuracy_fixed_point is None else
              f" ({report.accuracy_fixed_point - report.accuracy_float:+.1%})")
    console.print(f"task accuracy: {_accuracy_line(report)}{change}")


def plot_report(report: QuantizationReport | Mapping[str, Any],
                path: str | os.PathLike[str]) -> None:
    """A PNG at ``path``: weight SMAPE per projection and spike F1 per population (written
    atomically)."""
    report = as_report(report)
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)  # drawn by Agg directly: no pyplot, no global backend switch
    ax_w, ax_s = fig.subplots(1, 2)
    ax_w.bar([p.projection for p in report.projections],
             [100 * p.weight_smape for p in report.projections])
    ax_w.set_ylabel("weight SMAPE (%)")
    ax_w.tick_params(axis="x", rotation=30)
    pops = [p for p in report.populations if p.spike_f1_vs_float is not None]
    ax_s.bar([p.population for p in pops], [p.spike_f1_vs_float for p in pops])
    ax_s.set_ylim(0, 1)
    ax_s.set_ylabel("spike F1 vs float (exact step)")
    fig.suptitle(f"accuracy: {_accuracy_line(report)}")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
