"""Benchmark: how ``neurodeploy verify`` against Lava scales with worker processes.

One seeded workload (default: a 224-128-128-20 fixed-point LIF network with axonal
delays up to 15 steps, thresholds calibrated for ~5 % spikes per neuron per step, and
1,000 samples x 100 steps of 5 % Poisson input), written to temporary files the way a
user would hand them to ``neurodeploy verify``: the network with ``save_network`` and
the input as an ``.npz`` with one array ``spikes``.

For W in 1, 2 (when the machine has more than 2 cores) and ``os.cpu_count()`` workers,
it times one full ``verify(net, ["reference", "lava"], data=spikes, workers=W,
gates=["reference==lava"])``: the samples are split into W chunks, each run in its own
thread by ``simulate(..., target="lava")``, which lays up to ``max_neurons_per_run``
(20,000) neurons side by side per Lava run, each run a fresh Lava worker process (Lava
start-up paid once per run). Reported per W:

- Lava's wall time (``run_backend``'s own timing, start-up included), samples/s and the
  speed-up over one worker;
- the CPU time Lava's processes used (children's user + system time, from
  ``getrusage``) divided by the wall time: the cores Lava actually kept busy;
- the reference simulator's time on the same samples in the same ``verify`` call, and
  the whole ``verify`` call (loading, both backends, comparison, gates).

Every ``verify`` call must pass its gate (Lava bit-exact to the reference, every
population, sample and step); a failure raises. A 1-step Lava run of one full run's
batch estimates Lava's start-up on its own. Lava processes are cleaned up by the Lava
target; the script checks that no child process is left behind.

Time convention (as everywhere in neurodeploy): steps are 0-based and an input spike at
step t reaches a population behind one projection at step t + 1 + delay.

Run: ``python bench/bench_verify.py`` (``--quick`` for a smoke test, < ~1 min).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy import FixedPointNetwork, save_network, simulate
from neurodeploy.examples import layered_network, poisson_spikes
from neurodeploy.targets.lava import live_pids
from neurodeploy.verify.pipeline import verify

TARGET_RATE = 0.05
GATE = "reference==lava"
#: What ``simulate(target="lava")`` lays side by side per Lava run (its default).
MAX_NEURONS_PER_RUN = 20_000


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...]
    max_delay: int
    samples: int
    steps: int
    input_rate: float
    seed: int
    workers: tuple[int, ...]


@dataclass(frozen=True)
class Result:
    workers: int
    lava_s: float  # run_backend's timing of Lava (start-up included)
    lava_cpu_s: float  # user + system time of Lava's (child) processes
    reference_s: float
    verify_s: float  # the whole verify() call
    runs: int  # Lava runs (worker processes) over all chunks
    samples: int

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.lava_s

    @property
    def busy_cores(self) -> float:
        return self.lava_cpu_s / self.lava_s


def lava_runs(samples: int, workers: int, per_run: int) -> int:
    """Lava runs in a verify with ``workers``: W chunks, each split into runs of per_run."""
    chunk = -(-samples // workers)
    sizes = [min(chunk, samples - i) for i in range(0, samples, chunk)]
    return sum(-(-s // per_run) for s in sizes)


def children_cpu_s() -> float:
    """User + system seconds of this process's terminated (waited-for) descendants."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_verify(net_path: str, data_path: str, workers: int, samples: int,
                per_run: int) -> Result:
    """One verify(reference, lava) with ``workers``; raises unless the gate passed."""
    quiet = Console(quiet=True)
    cpu0 = children_cpu_s()
    t0 = time.perf_counter()
    result = verify(net_path, ["reference", "lava"], data=data_path, workers=workers,
                    gates=[GATE], console=quiet)
    verify_s = time.perf_counter() - t0
    cpu = children_cpu_s() - cpu0
    gate = result.summary["gates"][0]
    pair = result.summary["pairs"][0]
    if not (result.passed and gate["passed"] and pair["identical"]):
        raise AssertionError(f"workers={workers}: gate {GATE!r} failed: {gate['detail']}")
    ref, lava = result.runs["reference"], result.runs["lava"]
    for name, s in ref.spikes.items():  # belt and braces: the raw rasters, bit for bit
        if not np.array_equal(s, lava.spikes[name]):
            raise AssertionError(f"workers={workers}: {name} spikes differ")
        if lava.spikes[name].shape[0] != samples:
            raise AssertionError(f"workers={workers}: Lava ran {lava.spikes[name].shape[0]} "
                                 f"samples, not {samples}")
    backends = result.summary["backends"]
    return Result(workers, backends["lava"]["seconds"], cpu, backends["reference"]["seconds"],
                  verify_s, lava_runs(samples, workers, per_run), samples)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"


# ------------------------------------------------------------------------ workload
def build_workload(cfg: Config) -> tuple[FixedPointNetwork, np.ndarray]:
    net = layered_network(cfg.sizes, seed=cfg.seed, delays="axonal", max_delay=cfg.max_delay,
                          target_rate=TARGET_RATE, input_rate=cfg.input_rate)
    spikes = poisson_spikes(cfg.sizes[0], cfg.samples, cfg.steps, cfg.input_rate, cfg.seed + 2)
    return net, spikes


def parse_args(argv: Sequence[str] | None) -> Config:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=None, help="samples (default 1000)")
    ap.add_argument("--steps", type=int, default=None, help="steps per sample (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="network and input seed (default 0)")
    ap.add_argument("--workers", type=int, nargs="+", default=None,
                    help="worker counts to time (default: 1, 2 if cores > 2, and cores)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 64-48-48-10 network, 64 samples x 50 steps")
    args = ap.parse_args(argv)
    if args.quick:
        sizes, max_delay, samples, steps = (64, 48, 48, 10), 8, 64, 50
    else:
        sizes, max_delay, samples, steps = (224, 128, 128, 20), 15, 1000, 100
    samples = args.samples if args.samples is not None else samples
    steps = args.steps if args.steps is not None else steps
    if min(samples, steps) < 1:
        ap.error("--samples and --steps must be >= 1")
    cores = os.cpu_count() or 1
    workers = args.workers or [1, *([2] if cores > 2 else []), cores]
    if min(workers) < 1:
        ap.error("--workers must be >= 1")
    return Config(sizes=sizes, max_delay=max_delay, samples=samples, steps=steps,
                  input_rate=0.05, seed=args.seed, workers=tuple(sorted(set(workers))))


def main(argv: Sequence[str] | None = None) -> int:
    command = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else \
        shlex.join(["bench_verify.py", *argv])
    cfg = parse_args(argv)
    console = Console(width=max(110, Console().width))
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    console.print(f"$ {command}")
    console.print(
        f"[bold]neurodeploy verify-vs-Lava scaling benchmark[/] - "
        f"{platform.processor() or platform.machine()}, {cores} cores ({usable} usable), "
        f"Python {platform.python_version()}, load average {_load()} (other work skews timings)"
    )
    console.print(
        f"network {'-'.join(map(str, cfg.sizes))}, axonal delays 0..{cfg.max_delay}, "
        f"{cfg.samples} samples x {cfg.steps} steps, Poisson input {cfg.input_rate:.0%}, "
        f"seed {cfg.seed}; gate {GATE}"
    )

    t0 = time.perf_counter()
    net, spikes = build_workload(cfg)
    per_run = max(1, MAX_NEURONS_PER_RUN // (net.n_neurons + net.n_inputs))
    console.print(f"workload built in {time.perf_counter() - t0:.1f} s; "
                  f"{min(per_run, cfg.samples)} samples per Lava run")
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        net_path, data_path = str(Path(tmp, "network.npz")), str(Path(tmp, "spikes.npz"))
        save_network(net, net_path)
        np.savez_compressed(data_path, spikes=spikes)

        ref = simulate(net, spikes[: min(64, cfg.samples)])
        rates = ", ".join(f"{n} {s.mean():.1%}" for n, s in ref.spikes.items())
        console.print(f"firing rates (reference, first {ref.batch} samples): "
                      f"input {spikes.mean():.1%}, {rates}")

        simulate(net, spikes[:1, :1], target="lava")  # warm-up (imports, file cache); untimed
        batch = spikes[: min(per_run, cfg.samples), :1]
        t0 = time.perf_counter()
        simulate(net, batch, target="lava")
        startup_s = time.perf_counter() - t0

        results = []
        for w in cfg.workers:
            res = time_verify(net_path, data_path, w, cfg.samples, per_run)
            results.append(res)
            console.print(f"  workers {w:2d}: lava {res.lava_s:7.1f} s, reference "
                          f"{res.reference_s:.2f} s, verify {res.verify_s:.1f} s, gate passed")
    left = live_pids(parent=os.getpid())
    if left:
        raise RuntimeError(f"child processes left behind: {left}")

    base = next((r for r in results if r.workers == 1), results[0])
    table = Table(title=f"verify(reference, lava, gate {GATE}): {cfg.samples} samples x "
                        f"{cfg.steps} steps, {'-'.join(map(str, cfg.sizes))}, {cores} cores")
    for col in ("workers", "Lava runs", "Lava wall s", "samples/s", f"speed-up vs {base.workers}",
                "Lava busy cores", "reference s", "verify total s", "gate"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r.workers), str(r.runs), f"{r.lava_s:.1f}", f"{r.samples_per_s:.2f}",
                      f"{base.lava_s / r.lava_s:.2f}x", f"{r.busy_cores:.2f}",
                      f"{r.reference_s:.2f}", f"{r.verify_s:.1f}", "passed")
    console.print(table)

    summary = Table(title="Summary", show_header=False)
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    summary.add_row("machine cores (usable)", f"{cores} ({usable})")
    summary.add_row(f"Lava start-up (1-step run of {batch.shape[0]} samples)",
                    f"{startup_s:.2f} s")
    summary.add_row("start-up share of the 1-worker Lava time",
                    f"{min(1.0, base.runs * startup_s / base.lava_s):.0%}")
    best = min(results, key=lambda r: r.lava_s)
    summary.add_row("best", f"{best.workers} workers, {best.samples_per_s:.2f} samples/s, "
                            f"{base.lava_s / best.lava_s:.2f}x")
    summary.add_row("reference / best Lava (same samples)",
                    f"{best.lava_s / np.median([r.reference_s for r in results]):,.0f}x")
    summary.add_row("child processes left behind", "0")
    summary.add_row("load average at the end (1, 5, 15 min)", _load())
    console.print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
