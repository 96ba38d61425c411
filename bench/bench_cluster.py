"""Benchmark: what running on a Dask LocalCluster costs against neurodeploy's local pool.

Two jobs, each run by four engines on this machine:

- ``study``: the quick timing study (``run_timing_study(task="ccisi", quick=True)``: two
  configurations, none and axonal delays, deterministic, seed 0; ``--epochs`` shortens
  it), each configuration trained, deployed and evaluated by one worker;
- ``verify``: ``verify(network, ["reference", "lava"], gates=["reference==lava"])`` on a
  seeded 64-48-48-10 network (axonal delays 0..8, ~5 % spikes) and ``--samples`` samples x
  50 steps of 5 % Poisson input, the samples split into one Lava shard per worker.

Engines: the local pool with 1 and 2 workers (processes for the study, one Lava process
per thread for verify: what runs without ``--cluster``) and a Dask ``LocalCluster`` of 1
and 2 worker processes (``--cluster local:1``, ``local:2``: configurations shipped to the
workers as data, the run folders shipped back; the deployment shared once, the samples
and traces sent as data). Reported per (job, engine): the cluster's start-up (connect and
the workers' version check), the job's wall time, the total, and the ratios: speed-up
against the 1-worker pool, and the pool's time over Dask's with the same number of
workers (< 1: the overhead Dask adds). Every engine must produce the same results (the
study's ``summary.json`` byte for byte, verify's traces bit for bit and its gate passed);
a difference raises.

Time convention (as everywhere in neurodeploy): steps are 0-based and an input spike at
step t reaches a population behind one projection at step t + 1 + delay.

Run: ``python bench/bench_cluster.py`` (``--quick`` for a smoke test, a few minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy import save_network
from neurodeploy.cluster import ClusterSpec, open_cluster
from neurodeploy.examples import layered_network, poisson_spikes
from neurodeploy.study import run_timing_study
from neurodeploy.verify.pipeline import verify

ENGINES = (("pool", 1), ("dask", 1), ("pool", 2), ("dask", 2))
GATE = "reference==lava"


@dataclass(frozen=True)
class Timing:
    job: str
    engine: str  # "pool" or "dask"
    workers: int
    start_s: float  # the cluster's start-up (0 for the pool: it starts inside the job)
    run_s: float

    @property
    def total_s(self) -> float:
        return self.start_s + self.run_s


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"


def timed(job: str, engine: str, workers: int, run: Callable[[object], object]
          ) -> tuple[Timing, object]:
    """``run(executor)`` (None: the local pool) timed, the cluster's start-up apart."""
    t0 = time.perf_counter()
    executor = open_cluster(ClusterSpec("local", workers=workers)) if engine == "dask" else None
    start_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        out = run(executor)
        run_s = time.perf_counter() - t0
    finally:
        if executor is not None:
            executor.shutdown()
    return Timing(job, engine, workers, start_s, run_s), out


def study_job(tmp: Path, epochs: int | None) -> Callable[[str, int], Callable]:
    def make(engine: str, workers: int) -> Callable:
        out = tmp / f"study-{engine}-{workers}"

        def run(executor) -> bytes:
            run_timing_study(out, task="ccisi", quick=True, epochs=epochs, console=Console(
                quiet=True), workers=workers if executor is None else None,
                executor=None if executor is None else lambda n_jobs: executor)
            return (out / "summary.json").read_bytes()
        return run
    return make


def verify_job(net_path: str, data_path: str) -> Callable[[str, int], Callable]:
    def make(engine: str, workers: int) -> Callable:
        def run(executor) -> dict:
            result = verify(net_path, ["reference", "lava"], data=data_path, gates=[GATE],
                            workers=workers, executor=executor, console=Console(quiet=True))
            if not result.passed:
                raise AssertionError(f"{engine} {workers}: gate {GATE} failed")
            return result.runs["lava"].spikes
        return run
    return make


def same(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return a == b


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=128, help="verify samples (default 128)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="study epochs per configuration (default: the quick study's 10)")
    ap.add_argument("--jobs", nargs="+", choices=("study", "verify"),
                    default=["study", "verify"], help="jobs to time (default both)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 32 verify samples, 1 study epoch")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.epochs = 32, 1
    if args.samples < 2 or (args.epochs is not None and args.epochs < 1):
        ap.error("--samples must be >= 2 and --epochs >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    command = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else \
        shlex.join(["bench_cluster.py", *argv])
    args = parse_args(argv)
    console = Console(width=max(110, Console().width))
    cores = os.cpu_count() or 0
    console.print(f"$ {command}")
    console.print(f"[bold]neurodeploy Dask LocalCluster vs local pool[/] - "
                  f"{platform.processor() or platform.machine()}, {cores} cores, Python "
                  f"{platform.python_version()}, load average {_load()} (other work skews "
                  "timings)")
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        jobs = {}
        if "study" in args.jobs:
            jobs["study"] = study_job(tmp, args.epochs)
        if "verify" in args.jobs:
            net = layered_network((64, 48, 48, 10), seed=0, delays="axonal", max_delay=8,
                                  target_rate=0.05, input_rate=0.05)
            save_network(net, tmp / "network.npz")
            np.savez_compressed(tmp / "spikes.npz",
                                spikes=poisson_spikes(64, args.samples, 50, 0.05, 2))
            jobs["verify"] = verify_job(str(tmp / "network.npz"), str(tmp / "spikes.npz"))
        for job, make in jobs.items():
            first = None
            for engine, workers in ENGINES:
                timing, out = timed(job, engine, workers, make(engine, workers))
                if first is not None and not same(out, first):
                    raise AssertionError(f"{job}: {engine} with {workers} workers gave "
                                         "other results than the 1-worker pool")
                first = out if first is None else first
                timings.append(timing)
                console.print(f"  {job:6s} {engine:4s} x{workers}: start {timing.start_s:5.1f} s,"
                              f" run {timing.run_s:6.1f} s (load {_load()})")

    table = Table(title=f"Dask LocalCluster vs local pool, {cores} cores (study: quick ccisi"
                        f"{'' if args.epochs is None else f', {args.epochs} epochs'}; verify: "
                        f"{args.samples} samples x 50 steps, reference + Lava)")
    for col in ("job", "engine", "workers", "start s", "run s", "total s",
                "speed-up vs pool 1", "pool / dask (same workers)"):
        table.add_column(col, justify="left" if col in ("job", "engine") else "right")
    for t in timings:
        base = next(x for x in timings if (x.job, x.engine, x.workers) == (t.job, "pool", 1))
        pool = next(x for x in timings if (x.job, x.engine, x.workers) == (t.job, "pool",
                                                                           t.workers))
        table.add_row(t.job, "Dask LocalCluster" if t.engine == "dask" else "local pool",
                      str(t.workers), f"{t.start_s:.1f}", f"{t.run_s:.1f}", f"{t.total_s:.1f}",
                      f"{base.total_s / t.total_s:.2f}x", f"{pool.total_s / t.total_s:.2f}")
    console.print(table)
    console.print(f"same results from every engine; load average at the end {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
