"""``neurodeploy study timing``: do networks use spike timing, and does it survive deployment?

After Yu, Sun, Akarca & Goodman (2025): networks are
trained with and without axonal delays (and with deterministic or stochastic escape-noise
spikes), then evaluated, without retraining, on test data from which one kind of
information was removed:

- ``normal``: the test split as generated;
- ``reversed``: every channel's train reversed within each sample's active window
  ``[first spike, last spike]`` (:func:`~neurodeploy.models.datasets.reverse_time`): counts,
  ISIs and coincidences are kept, temporal order is not;
- ``perturbed f=...``: per sample and channel with ``n`` spikes, ``floor(f * n + 0.5)`` of them
  (chosen uniformly) are moved to uniformly chosen empty steps of the same channel
  (:func:`~neurodeploy.models.datasets.perturb_timing`): spike counts are kept exactly and
  ``f`` is the fraction of each neuron's spikes moved (1.0 moves them all);
- ``rate-removed``: every channel keeps, in every sample, a random subset of exactly as many
  spikes as its smallest count over the test samples, and classes are balanced
  (:func:`~neurodeploy.models.datasets.remove_rate`, Yu et al.'s "Norm"); channels that this
  silences stay silent inputs, so the trained network still sees its input width. Where
  nothing would remain (e.g. the coincidence task, whose neurons are often silent) the
  condition is ``n/a`` with the reason recorded.

Each trained model is scored twice on every condition: the float model (torch, evaluation
mode: deterministic spikes, integer delays) and the deployed model (post-training
quantization to Loihi 2 fixed point, run on the reference simulator, decided by the same
readout on the output population). On the first ``lava_samples`` normal test samples the
deployed network also runs on Lava's bit-accurate CPU simulator; both accuracies on that
subset are recorded, and whether the output traces are identical.

The study is in four parts: :mod:`.plan` (arguments checked, configurations),
:mod:`.job` (one configuration: train, quantize with the quantize pipeline, evaluate),
:mod:`.runner` (resume, then an executor: local processes by default) and :mod:`.summary`
(the table as JSON, CSV and terminal table, and the plot); :func:`run_timing_study` joins
them.

Units: accuracy in % of the test samples of the condition. Time convention: 0-based steps
of the data set's ``dt``; every projection adds one step of latency (one step per hop), so
a spike at step t reaches the next population at step t + 1 + delay, in the float and in
the deployed network alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from neurodeploy.errors import InputError
from neurodeploy.models.datasets.format import require_int
from neurodeploy.study.job import Job
from neurodeploy.study.plan import Configuration, plan_study
from neurodeploy.study.runner import ExecutorFactory, pending, process_pool, run_jobs
from neurodeploy.study.summary import StudyError, StudyResult, aggregate, write_summary


def run_timing_study(
    out_dir: str | os.PathLike[str],
    task: str | None = None,
    data: str | os.PathLike[str] | None = None,
    delays: Iterable[str] = ("none", "axonal"),
    stochastic: Iterable[bool] | None = None,
    seeds: Iterable[int] | None = None,
    perturb: Iterable[float] | None = None,
    epochs: int | None = None,
    hidden: Iterable[int] | None = None,
    quick: bool = False,
    lava_samples: int | None = None,
    workers: int | None = None,
    console: Console | None = None,
    *,
    task_params: dict | None = None,
    train_options: dict | None = None,
    calib: int | None = None,
    executor: ExecutorFactory | None = None,
) -> StudyResult:
    """Train, deploy and probe networks with and without delays (Yu et al.'s protocol).

    Configurations are ``delays x stochastic x seeds``; each is one folder
    ``out_dir/runs/<delays>-<deterministic|stochastic>-seed<seed>`` holding the training run
    (:func:`~neurodeploy.models.training.train`: ``config.json``, ``model.pt``,
    ``metrics.json``...), ``train.log``, the deployed ``network.npz`` and, written
    atomically when the configuration is done, ``result.json``. Per configuration: train
    on CPU; post-training quantization with ``calib`` calibration samples of the training
    split; the float and the deployed (reference simulator) model's accuracy in % on the
    test split under each condition (``normal``, ``reversed``, ``perturbed f=...`` for
    each ``f`` in ``perturb``, ``rate-removed``; see the module docstring); and the
    deployed network on Lava for the first ``lava_samples`` normal test samples, recording
    its accuracy beside the reference's on the same samples (0 skips Lava). The seed sets
    the data, the initialisation, the batching and the random draws of the conditions:
    same seeds, same numbers, whatever the number of workers.

    Resumable: a configuration whose ``result.json`` records the same study parameters is
    loaded, not redone. When only the evaluation parameters changed (``perturb``,
    ``lava_samples``, ``calib``) the trained model is reused and only evaluated again. A
    folder without ``result.json`` (an interrupted run) or with other training parameters
    is deleted and redone from scratch.

    Parallel: the configurations to do run in ``workers`` processes (default
    ``os.cpu_count()``, "forkserver" context where there is one, one torch thread each), or
    on ``executor`` when given (number of jobs -> a ``concurrent.futures.Executor``; see
    :mod:`neurodeploy.study.runner`), with a progress bar over configurations. A failing
    configuration does not stop the others: its error is collected (traceback in its
    folder's ``error.txt``) and, after the summary of the rest is written,
    :class:`StudyError` names every failed configuration.

    Aggregation: ``out_dir/summary.json`` and ``out_dir/summary.csv`` (rows: delays x
    stochastic x model float/deployed; columns: conditions; cells: accuracy in %, mean and
    sample std over seeds; plus the Lava check) and ``out_dir/timing_study.png`` (accuracy
    per condition, delays vs none, float vs deployed). Print the table with
    :func:`~neurodeploy.study.summary.render_study`.

    Arguments left at None take the full study's defaults (``FULL_DEFAULTS``: stochastic
    (False, True), seeds (0, 1, 2), perturb (0.25, 0.5, 1.0), 30 epochs, hidden (64,),
    32 Lava samples, 256 calibration samples) or, with ``quick=True``, a smoke-size study
    (``QUICK_DEFAULTS``: deterministic only, one seed, perturb (0.5,), 10 + 2 epochs,
    hidden (32,), 1000 generated samples, 8 Lava samples, 64 calibration samples) that
    finishes in a few minutes on 2 CPU cores; arguments given explicitly win over both.
    ``task_params`` go to the task generator (with ``task``; e.g. ``{"max_isi_ms": 300}``),
    ``train_options`` to :class:`~neurodeploy.models.training.TrainConfig` (e.g.
    ``max_delay``, ``lr``, ``int_delay_epochs``; the study starts from the sigmoid surrogate,
    whose escape function the stochastic neurons use). Time convention: 0-based steps, one
    step per hop.

    Raises:
        InputError: a bad argument (one line naming the value and what is allowed).
        StudyError: some configurations failed (``.result`` holds the rest).
    """
    console = console or Console()
    if workers is not None:
        workers = require_int("workers", workers, 1, InputError)
    study = prepare_study(out_dir, task, data, delays, stochastic, seeds, perturb, epochs,
                          hidden, quick, lava_samples, calib, task_params, train_options)
    run_studies([study], executor or process_pool(workers or os.cpu_count() or 1), console)
    return finish_study(study)


@dataclass
class PreparedStudy:
    """A planned study before its jobs run: ``result`` (with what earlier calls finished
    loaded), its ``configurations`` and the ``jobs`` still to do."""

    result: StudyResult
    configurations: list[Configuration]
    jobs: list[Job]


def prepare_study(out_dir: str | os.PathLike[str], *arguments: Any,
                  **keywords: Any) -> PreparedStudy:
    """Check the arguments (``arguments`` and ``keywords``: those of
    :func:`~neurodeploy.study.plan.plan_study`) and load the configurations an earlier call
    finished (nothing is written)."""
    study, configurations = plan_study(*arguments, **keywords)
    out = Path(out_dir)
    result = StudyResult(out_dir=out, params=study, conditions=study["conditions"],
                         configurations=[c.name for c in configurations])
    result.runs, jobs = pending(configurations, out / "runs")
    result.loaded = list(result.runs)
    return PreparedStudy(result, configurations, jobs)


def run_studies(studies: Sequence[PreparedStudy], executor: ExecutorFactory,
                console: Console) -> None:
    """Run the jobs of every study on one executor (so that a cluster stays busy across
    studies), with one progress bar over all their configurations; each outcome goes to
    its own study's result."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[last]}"))
    several = len(studies) > 1
    owner = {job.run_dir: s.result for s in studies for job in s.jobs}
    for s in studies:
        (s.result.out_dir / "runs").mkdir(parents=True, exist_ok=True)
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("timing study",
                                total=sum(len(s.configurations) for s in studies), last="")
        for s in studies:
            if s.result.loaded:
                progress.console.print(f"loaded {len(s.result.loaded)} finished "
                                       f"configuration(s) from {s.result.out_dir / 'runs'}: "
                                       f"{', '.join(s.result.loaded)}")
                progress.advance(bar, len(s.result.loaded))

        def on_done(job: Job, outcome: dict) -> None:
            result = owner[job.run_dir]
            name = f"{result.out_dir.name}/{job.name}" if several else job.name
            if "error" in outcome:
                result.failed[job.name] = outcome["error"]
                progress.console.print(f"[red]failed[/red] {name}: {outcome['error']}")
            else:
                result.runs[job.name] = outcome["result"]
                (result.trained if job.retrain else result.evaluated).append(job.name)
                what = "trained and evaluated" if job.retrain else "evaluated again"
                progress.console.print(f"[green]done[/green] {name} ({what})")
            progress.update(bar, advance=1, last=name)

        jobs = [job for s in studies for job in s.jobs]
        if jobs:
            run_jobs(jobs, executor, on_done)


def finish_study(study: PreparedStudy) -> StudyResult:
    """Aggregate what finished and write the summary files; StudyError (after writing)
    when some configurations failed."""
    result, configurations = study.result, study.configurations
    # workers finish in any order; everything reported follows the configurations' order
    order = {name: i for i, name in enumerate(result.configurations)}
    result.trained.sort(key=order.__getitem__)
    result.evaluated.sort(key=order.__getitem__)
    result.failed = dict(sorted(result.failed.items(), key=lambda item: order[item[0]]))
    result.runs = {c: result.runs[c] for c in result.configurations if c in result.runs}
    result.rows, result.lava = aggregate(result.params, configurations, result.runs)
    write_summary(result)
    if result.failed:
        names = ", ".join(f"{n} ({msg})" for n, msg in result.failed.items())
        raise StudyError(f"timing study: {len(result.failed)} of {len(configurations)} "
                         f"configurations failed: {names}; the others are summarised in "
                         f"{result.summary_json}", result)
    return result
