"""Running the timing study's configurations: resume, then an executor.

Resume: :func:`pending` reads what an earlier call left in each configuration's folder; a
configuration whose ``result.json`` records the same parameters is finished and never
redone, one whose training parameters are unchanged is only evaluated again, any other is
trained from scratch.

Executors: :func:`run_jobs` submits :func:`~neurodeploy.study.job.run_configuration` for
each job to a :class:`concurrent.futures.Executor` made by an :data:`ExecutorFactory` and
reports each outcome as it arrives. :func:`process_pool` (local worker processes, one torch
thread each) is the default; any other executor (e.g. a cluster's) is a factory beside it.
An executor whose ``remote`` attribute is true (a Dask cluster's,
:class:`neurodeploy.cluster.DaskExecutor`) runs on machines that need not share this
filesystem: each job runs :func:`run_shipped` there, on a copy of its run folder sent as
data, and the folder's files come back as data; only this process writes the study folder
(atomically; ``result.json`` last, so an interrupted write leaves the configuration to be
redone).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from neurodeploy.models.training import run_json, stored_run
from neurodeploy.network_io import atomic_output
from neurodeploy.study.job import Job, clear_run_dir, run_configuration
from neurodeploy.study.plan import RESULT, RUN_FORMAT, Configuration

CONFIG = "config.json"  # a training run's description

#: Number of jobs to run -> the executor that runs them (shut down by :func:`run_jobs`).
ExecutorFactory = Callable[[int], Executor]

#: Modules the fork server imports once, so that each worker starts without importing them.
WORKER_PRELOAD = ["torch", "torch._dynamo", "matplotlib", "matplotlib.pyplot",
                  "neurodeploy.models.training", "neurodeploy.quantize.ptq",
                  "neurodeploy.study.job"]


def previous_state(run_dir: Path, params: dict) -> tuple[str, dict | None]:
    """What an earlier call left in ``run_dir``: ("done", result) when its result.json
    records these parameters, ("evaluate", None) when only the evaluation parameters differ
    (the trained model is reused), else ("train", None)."""
    try:
        old = json.loads((run_dir / RESULT).read_text())
    except (OSError, ValueError):
        return "train", None
    if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
        return "train", None
    recorded = old.get("params")
    if recorded == params:
        return "done", old
    same_model = isinstance(recorded, dict) and all(
        recorded.get(k) == params[k] for k in ("version", "train", "data_sha256"))
    if same_model and (run_dir / "model.pt").is_file() and (run_dir / "config.json").is_file():
        return "evaluate", None
    return "train", None


def pending(configurations: Sequence[Configuration], runs_dir: Path,
            ) -> tuple[dict[str, dict], list[Job]]:
    """(finished configuration -> its result.json, jobs still to do), in the
    configurations' order."""
    done, jobs = {}, []
    for c in configurations:
        state, previous = previous_state(runs_dir / c.name, c.params)
        if state == "done":
            done[c.name] = previous
        else:
            jobs.append(Job(c.name, str(runs_dir / c.name), c.train, c.params,
                            retrain=state == "train"))
    return done, jobs


def _init_worker() -> None:
    """Each worker process computes on one thread (configurations run side by side)."""
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _worker_context() -> multiprocessing.context.BaseContext:
    """"forkserver" where the platform has it, else "spawn"; never plain "fork" (forking a
    process whose torch has started threads can deadlock). The fork server is started once
    per process, imports ``WORKER_PRELOAD`` without computing anything (no torch threads
    yet), and forks every worker from that state."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def process_pool(workers: int) -> ExecutorFactory:
    """Local worker processes: at most ``workers``, never more than there are jobs."""
    def make(n_jobs: int) -> Executor:
        return ProcessPoolExecutor(max_workers=min(workers, n_jobs),
                                   mp_context=_worker_context(), initializer=_init_worker)
    return make


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> contents); {} when it is absent."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_shipped(job: Job, files: dict[str, bytes]) -> dict:
    """On a worker that need not share the client's filesystem: run ``job`` in a temporary
    copy of its run folder (``files``: relative path -> contents) and return its outcome
    (as :func:`run_configuration`) with ``"files"``: the folder's files afterwards that are
    new or differ from those sent (a reused model is not sent back)."""
    _init_worker()
    with tempfile.TemporaryDirectory(prefix="neurodeploy-study-") as tmp:
        run_dir = Path(tmp) / job.name
        files = _with_data(files, job, run_dir)
        for name, data in files.items():
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / name).write_bytes(data)
        outcome = run_configuration(dataclasses.replace(job, run_dir=str(run_dir)))
        outcome["files"] = {name: data for name, data in folder_files(run_dir).items()
                            if files.get(name) != data}
    return outcome


def write_shipped(job: Job, files: dict[str, bytes]) -> None:
    """Write a shipped job's folder into ``job.run_dir``: cleared first when it was trained
    again, each file atomically, ``result.json`` last."""
    run_dir = Path(job.run_dir)
    if job.retrain:
        clear_run_dir(run_dir)
    files = _with_data(files, job, run_dir)
    for name in sorted(files, key=lambda n: n == RESULT):
        with atomic_output(run_dir / name) as tmp:
            tmp.write_bytes(files[name])


def _with_data(files: dict[str, bytes], job: Job, run_dir: Path) -> dict[str, bytes]:
    """A shipped run folder's files with the data path in its config.json relative to
    ``run_dir``, the folder it is read in next (a run folder stores it relative to itself;
    the study's data file is an absolute path, the same on every machine)."""
    data = job.train.get("data")
    if data is None or CONFIG not in files:
        return files
    run = json.loads(files[CONFIG])
    return {**files, CONFIG: run_json(stored_run({**run, "train": {**run["train"], "data": data}},
                                                 run_dir)).encode()}


def run_jobs(jobs: Sequence[Job], executor: ExecutorFactory,
             on_done: Callable[[Job, dict], None]) -> None:
    """Run every job; ``on_done(job, outcome)`` as each finishes, in any order, with
    ``{"result": result.json}`` or ``{"error": one line}`` (a worker that died, too)."""
    pool = executor(len(jobs))
    remote = getattr(pool, "remote", False)
    futures: dict = {}
    try:
        for job in jobs:
            future = (pool.submit(run_shipped, job, folder_files(Path(job.run_dir))) if remote
                      else pool.submit(run_configuration, job))
            futures[future] = job
        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # e.g. BrokenProcessPool: the worker process died
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            if "files" in outcome:
                write_shipped(job, outcome.pop("files"))
            on_done(job, outcome)
    except BaseException:
        for future in futures:  # Executor's own API only (not every executor has
            future.cancel()     # shutdown(cancel_futures=...))
        pool.shutdown(wait=False)
        raise
    pool.shutdown(wait=True)
