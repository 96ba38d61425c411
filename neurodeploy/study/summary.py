"""The timing study's summary: the result, its table (JSON, CSV, terminal) and plot.

:class:`StudyResult` holds what a study found; :func:`aggregate` makes the table (accuracy
in %, mean and sample std over seeds) from the configurations' ``result.json``;
:func:`write_summary` writes ``summary.json``, ``summary.csv`` and ``timing_study.png``;
:func:`render_study` prints the table.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Column, Table

from neurodeploy.errors import NeurodeployError
from neurodeploy.network_io import atomic_output, atomic_write_text
from neurodeploy.study.plan import MODELS, STUDY_FORMAT, VERSION, Configuration, training_label
from neurodeploy.terminal_table import print_table


class StudyError(NeurodeployError):
    """Some configurations of a study failed; ``result`` holds everything that finished
    (its summary files are written) and ``failed`` maps each failed configuration to its
    one-line error (the traceback is in ``runs/<config>/error.txt`` where it could be
    written)."""

    def __init__(self, message: str, result: StudyResult) -> None:
        super().__init__(message)
        self.result = result
        self.failed = dict(result.failed)


@dataclass
class StudyResult:
    """What :func:`run_timing_study` found (also in ``summary.json``).

    ``rows``: one per (stochastic, delays, model) in that order, each
    ``{"delays", "stochastic", "model", "seeds", "cells"}`` where ``cells[condition]`` is
    ``{"mean", "std", "values"}``: accuracy in %, mean and sample standard deviation
    (``ddof=1``; None for fewer than two values) over the seeds that finished, and the
    per-seed values (None where the condition does not apply). ``lava``: per configuration,
    the deployed network's accuracy on the Lava subset on the reference simulator and on
    Lava. ``runs``: each finished configuration's ``result.json``. ``trained``,
    ``evaluated`` (trained model reused, evaluation redone because its parameters changed)
    and ``loaded`` (result.json reused) say what this call did; ``failed`` maps failed
    configurations to their error.
    """

    out_dir: Path
    params: dict[str, Any]
    conditions: list[str]
    configurations: list[str]
    runs: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    lava: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    trained: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)

    @property
    def summary_json(self) -> Path:
        return self.out_dir / "summary.json"

    @property
    def summary_csv(self) -> Path:
        return self.out_dir / "summary.csv"

    @property
    def plot(self) -> Path:
        return self.out_dir / "timing_study.png"

    def row(self, delays: str, stochastic: bool, model: str) -> dict:
        """The table row of (delays, stochastic, model)."""
        for row in self.rows:
            if (row["delays"], row["stochastic"], row["model"]) == (delays, stochastic, model):
                return row
        raise KeyError((delays, stochastic, model))

    def to_json(self) -> dict:
        """The content of ``summary.json`` (the same numbers for the same seeds)."""
        return {
            "format": STUDY_FORMAT, "version": VERSION, "params": self.params,
            "conditions": self.conditions, "configurations": self.configurations,
            "chance_pct": next((r["chance_pct"] for r in self.runs.values()), None),
            "rows": self.rows, "lava": self.lava,
            "failed": self.failed, "units": "accuracy in % of test samples",
        }


def _cell(values: list[float | None]) -> dict:
    present = [v for v in values if v is not None]
    return {
        "mean": float(np.mean(present)) if present else None,
        "std": float(np.std(present, ddof=1)) if len(present) >= 2 else None,
        "values": values,
    }


def aggregate(study: dict, configurations: Sequence[Configuration],
              runs: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """(table rows, Lava checks) of the finished ``runs`` (see :class:`StudyResult`)."""
    rows = []
    for s, d in itertools.product(study["stochastic"], study["delays"]):
        names = [c.name for c in configurations if (c.delays, c.stochastic) == (d, s)
                 and c.name in runs]
        rows += [{"delays": d, "stochastic": s, "model": model,
                  "seeds": [runs[n]["seed"] for n in names],
                  "cells": {cond: _cell([runs[n]["accuracy_pct"][model][cond] for n in names])
                            for cond in study["conditions"]}} for model in MODELS]
    lava = [{"config": name, "delays": run["delays"], "stochastic": run["stochastic"],
             "seed": run["seed"], **run["lava"]}
            for name, run in runs.items() if run.get("lava")]
    return rows, lava


def mean_std(mean: float | None, std: float | None, missing: str = "—") -> str:
    """An accuracy cell in the terminal: "mean ± std", "mean" without std, else ``missing``."""
    return missing if mean is None else f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def write_summary(result: StudyResult) -> None:
    """summary.json, summary.csv and timing_study.png, each written atomically."""
    atomic_write_text(result.summary_json, json.dumps(result.to_json(), indent=2))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["delays", "training", "model", "seeds",
                     *(f"{c} {stat} %" for c in result.conditions for stat in ("mean", "std")),
                     "lava subset samples", "lava subset reference %", "lava subset lava %",
                     "lava identical to reference"])

    def number(x: float | None) -> str:
        return "" if x is None else f"{x:.4f}"

    for row in result.rows:
        line = [row["delays"], training_label(row["stochastic"]), row["model"],
                " ".join(str(s) for s in row["seeds"]),
                *(number(row["cells"][cond][stat]) for cond in result.conditions
                  for stat in ("mean", "std"))]
        checks = [x for x in result.lava if (x["delays"], x["stochastic"])
                  == (row["delays"], row["stochastic"])]
        if row["model"] == "deployed" and checks:
            line += [sum(x["samples"] for x in checks),
                     number(float(np.mean([x["reference_pct"] for x in checks]))),
                     number(float(np.mean([x["lava_pct"] for x in checks]))),
                     all(x["identical_output"] for x in checks)]
        else:
            line += ["", "", "", ""]
        writer.writerow(line)
    atomic_write_text(result.summary_csv, text.getvalue())
    _plot_study(result)


def _plot_study(result: StudyResult) -> None:
    """Grouped bars: accuracy per condition, one bar per (delays, model), one panel per
    training kind; error bars are the std over seeds; the dotted line is chance."""
    conditions = result.conditions
    kinds = result.params["stochastic"]
    delays = result.params["delays"]
    fig = Figure(figsize=(max(5.0, 1.3 * len(conditions) + 2.0) * len(kinds), 4.0))
    axes = fig.subplots(1, len(kinds), squeeze=False, sharey=True)
    colors = colormaps["tab10"]
    series = [(d, m) for d in delays for m in MODELS]
    width = 0.8 / len(series)
    x = np.arange(len(conditions))
    chance = result.to_json()["chance_pct"]
    for ax, stochastic in zip(axes[0], kinds, strict=True):
        for k, (d, model) in enumerate(series):
            cells = [result.row(d, stochastic, model)["cells"][c] for c in conditions]
            means = [math.nan if c["mean"] is None else c["mean"] for c in cells]
            errors = [0.0 if c["std"] is None else c["std"] for c in cells]
            ax.bar(x + (k - (len(series) - 1) / 2) * width, means, width, yerr=errors,
                   color=colors(delays.index(d)), alpha=1.0 if model == "float" else 0.6,
                   hatch=None if model == "float" else "//", edgecolor="black", linewidth=0.5,
                   capsize=2, label=f"delays {d}, {model}")
        if chance is not None:
            ax.axhline(chance, color="grey", linestyle=":", label="chance")
        ax.set_xticks(x, conditions, rotation=20, ha="right")
        ax.set(ylim=(0, 100), title=f"{training_label(stochastic)} training")
    save_accuracy_plot(fig, axes[0], f"Timing study: {_source(result.params)}; ",
                       result.params["seeds"], 7, result.plot)


def save_accuracy_plot(fig: Figure, axes: Sequence[Axes], title: str, seeds: Sequence[int],
                       legend_size: float, path: Path) -> None:
    """Finish a figure of accuracy panels side by side (accuracy axis labelled on the first,
    the legend right of the last, titled "<title>mean ± std over seeds ...") and write it
    to ``path`` as a PNG, atomically."""
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize=legend_size, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"{title}mean ± std over seeds {', '.join(str(s) for s in seeds)}", fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")


def _source(params: dict) -> str:
    if params["task"] is not None:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(params["task_params"].items()))
        return f"task {params['task']}" + (f" ({extra})" if extra else "")
    return f"data {Path(params['data']).name}"


def render_study(result: StudyResult, console: Console | None = None) -> None:
    """Print the study's table (accuracy in %, mean ± std over seeds), the Lava check and
    any failed configurations."""
    console = console or Console()
    seeds = ", ".join(str(s) for s in result.params["seeds"])
    table = Table(*(Column(name, no_wrap=True) for name in ("delays", "training", "model")),
                  *(Column(cond, justify="right") for cond in result.conditions),
                  title=f"Timing study: {_source(result.params)}",
                  caption=f"test accuracy in %, mean ± std (sample) over seeds {seeds}; "
                  "f = fraction of each neuron's spikes moved; n/a = condition does not apply; "
                  "— = no finished configuration")
    for _, rows in itertools.groupby(result.rows, lambda r: (r["stochastic"], r["delays"])):
        for row in rows:
            table.add_row(row["delays"], training_label(row["stochastic"]), row["model"],
                          *(mean_std(row["cells"][c]["mean"], row["cells"][c]["std"],
                                     "n/a" if row["cells"][c]["values"] else "—")
                            for c in result.conditions))
        table.add_section()  # a line between (training, delays) groups
    print_table(console, table, keys=3)
    if result.lava:
        lava = Table("configuration", *(Column(name, justify="right") for name in (
            "samples", "reference %", "lava %", "identical")),
            title="Deployed network on Lava (normal test samples)")
        for check in result.lava:
            lava.add_row(check["config"], str(check["samples"]), f"{check['reference_pct']:.1f}",
                         f"{check['lava_pct']:.1f}",
                         "yes" if check["identical_output"] else "[red]NO[/red]")
        print_table(console, lava)
    for name, message in result.failed.items():
        console.print(f"[red]failed[/red] {name}: {message}")
    console.print(f"summary: {result.summary_json}, {result.summary_csv}; plot: {result.plot}")

