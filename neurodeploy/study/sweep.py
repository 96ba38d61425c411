"""A timing study swept over the task's maximum inter-spike interval (Yu et al.'s question:
from which maximum ISI on do delays matter?).

:func:`run_isi_sweep` runs one timing study per maximum ISI, each in its own folder
``out_dir/max-isi-<ms>ms`` (a complete study: runs, ``summary.json``, resumable as any),
with the jobs of all of them on one executor, so that a cluster stays busy from the first
configuration to the last. It then writes ``out_dir/sweep.json`` (per delays x training x
model x condition: accuracy in %, mean and sample std over seeds, against the maximum
ISI) and ``out_dir/sweep.png`` (accuracy against maximum ISI, one line per configuration
kind, one panel per condition). Time convention: 0-based steps of the task's ``dt_ms``,
one step per hop; maximum ISIs in ms.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Column, Table

from neurodeploy.errors import InputError
from neurodeploy.models.datasets.format import is_number
from neurodeploy.network_io import atomic_write_text
from neurodeploy.study.plan import MODELS, VERSION, training_label
from neurodeploy.study.runner import ExecutorFactory, process_pool
from neurodeploy.study.summary import StudyError, StudyResult, mean_std, save_accuracy_plot
from neurodeploy.study.timing import finish_study, prepare_study, run_studies

SWEEP_FORMAT = "neurodeploy.timing_sweep"
JSON_NAME = "sweep.json"
PLOT_NAME = "sweep.png"


def sweep_folder(max_isi_ms: float) -> str:
    """The folder of one maximum ISI's study: ``"max-isi-300ms"``."""
    return f"max-isi-{max_isi_ms:g}ms"


@dataclass
class SweepResult:
    """What :func:`run_isi_sweep` found: per maximum ISI (ms) its study's result, ``rows``
    (see :func:`sweep_rows`), ``failed`` ("<folder>/<configuration>" -> one-line error)."""

    out_dir: Path
    max_isi_ms: list[float]
    studies: dict[float, StudyResult] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def sweep_json(self) -> Path:
        return self.out_dir / JSON_NAME

    @property
    def plot(self) -> Path:
        return self.out_dir / PLOT_NAME

    def to_json(self) -> dict:
        """The content of ``sweep.json`` (the same numbers for the same seeds)."""
        first = next(iter(self.studies.values()))
        return {"format": SWEEP_FORMAT, "version": VERSION, "max_isi_ms": self.max_isi_ms,
                "studies": {f"{v:g}": sweep_folder(v) for v in self.max_isi_ms},
                "params": {k: v for k, v in first.params.items() if k != "task_params"},
                "conditions": first.conditions, "rows": self.rows, "failed": self.failed,
                "units": "accuracy in % of test samples; maximum ISI in ms"}


def _checked_max_isi(values: Iterable[float]) -> list[float]:
    out = []
    for v in values:
        if not is_number(v) or not math.isfinite(float(v)) or float(v) <= 0:
            raise InputError(f"max_isi_ms = {v!r} is not allowed; allowed: numbers > 0 (ms)")
        out.append(float(v))
    if not out or len(set(out)) != len(out):
        raise InputError(f"max_isi_ms = {tuple(values)!r}: allowed a non-empty list of "
                         "distinct maximum ISIs in ms")
    return sorted(out)


def run_isi_sweep(out_dir: str | os.PathLike[str], max_isi_ms: Iterable[float], *,
                  task_params: dict | None = None, workers: int | None = None,
                  executor: ExecutorFactory | None = None, console: Console | None = None,
                  **study_args) -> SweepResult:
    """Run :func:`~neurodeploy.study.run_timing_study` once per maximum ISI (ms; the task
    parameter ``max_isi_ms``, so the task must be ``isi`` or ``ccisi``) into
    ``out_dir/max-isi-<ms>ms``, all configurations on one executor (``executor``, else
    ``workers`` local processes), then write ``sweep.json`` and ``sweep.png``.
    ``study_args`` are :func:`~neurodeploy.study.run_timing_study`'s (task, delays, seeds...).

    Raises:
        InputError: a bad argument (one line), before any work.
        StudyError: some configurations failed (after every summary is written).
    """
    console = console or Console()
    values = _checked_max_isi(max_isi_ms)
    out = Path(out_dir)
    if task_params and "max_isi_ms" in task_params:
        raise InputError("task parameter max_isi_ms is what the sweep sets; allowed: the "
                         "sweep's list of maximum ISIs")
    defaults = dict(task=None, data=None, delays=("none", "axonal"), stochastic=None,
                    seeds=None, perturb=None, epochs=None, hidden=None, quick=False,
                    lava_samples=None, calib=None, train_options=None)
    unknown = sorted(set(study_args) - set(defaults))
    if unknown:
        raise InputError(f"argument {unknown[0]!r} is unknown; allowed: "
                         f"{', '.join(defaults)}, task_params, workers, executor, console")
    args = {**defaults, **study_args}
    # every plan is checked before the first configuration runs
    studies = [prepare_study(out / sweep_folder(v), task_params={**(task_params or {}),
                                                                 "max_isi_ms": v}, **args)
               for v in values]
    run_studies(studies, executor or process_pool(workers or os.cpu_count() or 1), console)
    result = SweepResult(out, values)
    for v, study in zip(values, studies, strict=True):
        try:
            result.studies[v] = finish_study(study)
        except StudyError as exc:
            result.studies[v] = exc.result
            result.failed.update({f"{sweep_folder(v)}/{n}": m for n, m in exc.failed.items()})
    result.rows = sweep_rows(result)
    atomic_write_text(result.sweep_json, json.dumps(result.to_json(), indent=2))
    _plot_sweep(result)
    if result.failed:
        error = StudyError(f"ISI sweep: {len(result.failed)} configurations failed: "
                           f"{', '.join(result.failed)}; the others are summarised in "
                           f"{result.sweep_json}", next(iter(result.studies.values())))
        error.sweep = result  # type: ignore[attr-defined]  (render_sweep shows the rest)
        raise error
    return result


def sweep_rows(result: SweepResult) -> list[dict]:
    """One row per (stochastic, delays, model, condition): ``mean``, ``std`` (accuracy in
    %, over seeds; None where nothing finished) and ``values`` (per seed), each a list
    over ``max_isi_ms``."""
    first = next(iter(result.studies.values()))
    rows = []
    for r, cond in itertools.product(first.rows, first.conditions):
        cells = [result.studies[v].row(r["delays"], r["stochastic"], r["model"])["cells"][cond]
                 for v in result.max_isi_ms]
        rows.append({"stochastic": r["stochastic"], "delays": r["delays"], "model": r["model"],
                     "condition": cond, "max_isi_ms": result.max_isi_ms,
                     **{stat: [c[stat] for c in cells] for stat in ("mean", "std", "values")}})
    return rows


def _plot_sweep(result: SweepResult) -> None:
    """Accuracy (%) against maximum ISI (ms): one panel per condition, one line per
    delays (colour) x training (marker) x model (float solid, deployed dashed); error bars
    are the std over seeds."""
    conditions = list(dict.fromkeys(r["condition"] for r in result.rows))
    fig = Figure(figsize=(4.2 * len(conditions) + 1.8, 3.8))
    axes = fig.subplots(1, len(conditions), squeeze=False, sharey=True)[0]
    colors = colormaps["tab10"]
    delays = list(dict.fromkeys(r["delays"] for r in result.rows))
    chances = [r["chance_pct"] for s in result.studies.values() for r in s.runs.values()]
    for ax, cond in zip(axes, conditions, strict=True):
        for row in (r for r in result.rows if r["condition"] == cond):
            mean = [math.nan if m is None else m for m in row["mean"]]
            std = [0.0 if s is None else s for s in row["std"]]
            ax.errorbar(row["max_isi_ms"], mean, yerr=std, capsize=2,
                        color=colors(delays.index(row["delays"])),
                        linestyle="-" if row["model"] == MODELS[0] else "--",
                        marker="s" if row["stochastic"] else "o", markersize=4,
                        label=f"delays {row['delays']}, {training_label(row['stochastic'])}, "
                              f"{row['model']}")
        ax.set(title=cond, xlabel="maximum ISI (ms)", ylim=(0, 100))
        ax.axhline(chances[0] if chances else math.nan, color="grey", linestyle=":")
    save_accuracy_plot(fig, axes, "ISI sweep: ",
                       next(iter(result.studies.values())).params["seeds"], 6, result.plot)


def render_sweep(result: SweepResult, console: Console | None = None) -> None:
    """Print the sweep's table: accuracy in % (mean ± std over seeds) per maximum ISI."""
    console = console or Console()
    table = Table(*(Column(n, no_wrap=True) for n in ("delays", "training", "model", "condition")),
                  *(Column(f"{v:g} ms", justify="right") for v in result.max_isi_ms),
                  title="ISI sweep", caption="test accuracy in %, mean ± std (sample) over "
                  "seeds; — = no finished configuration")
    for row in result.rows:
        table.add_row(row["delays"], training_label(row["stochastic"]), row["model"],
                      row["condition"], *map(mean_std, row["mean"], row["std"]))
    console.print(table)
    for name, message in result.failed.items():
        console.print(f"[red]failed[/red] {name}: {message}")
    console.print(f"sweep: {result.sweep_json}; plot: {result.plot}; per maximum ISI: "
                  f"{', '.join(sweep_folder(v) for v in result.max_isi_ms)}")
