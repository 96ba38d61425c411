"""Benchmark: the reference fixed-point simulator against Lava 0.10's CPU simulator.

What it measures, on one seeded workload (default: a 224-128-128-20 LIF network with
axonal delays up to 15 steps, 256 samples x 100 steps of Poisson input):

- the firing rate of every layer (``layered_network`` calibrates each layer's threshold
  for 5 % spikes per neuron per step; a warning is printed outside 2-10 %);
- Lava's throughput in sample-steps per second for several batchings (1, 8, 32, 64
  samples laid side by side per Lava run, via ``max_neurons_per_run``), start-up
  included, since that is what a user pays; start-up is also estimated on its own
  with a 1-step run of the same batch. Lava runs only the first ``--lava-samples``
  samples (each batching runs one Lava run of its batch size);
- the reference simulator on all samples (best of 3), its throughput, the ratio
  reference / best Lava, and its synaptic operations per second (one synaptic event
  = one source spike delivered to one nonzero weight of its column);
- that the spikes of every population are identical between the reference and Lava on
  every sample Lava ran (exit code 1 if not).

Time convention (as everywhere in neurodeploy): steps are 0-based and an input spike
at step t reaches a population behind one projection at step t + 1 + delay, one step of
latency per hop.

Acceptance target: reference >= 500x Lava (best batching) on a 2-core machine.

Run: ``python bench/bench_simulators.py`` (``--quick`` for a smoke test, < ~30 s).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy import FixedPointNetwork, Traces, simulate
from neurodeploy.examples import layered_network, poisson_spikes
from neurodeploy.network import INPUT

ACCEPTANCE_RATIO = 500.0
RATE_BAND = (0.02, 0.10)
TARGET_RATE = 0.05


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...]
    max_delay: int
    samples: int
    steps: int
    lava_samples: int
    lava_batches: tuple[int, ...]
    input_rate: float
    seed: int


@dataclass(frozen=True)
class LavaResult:
    batch: int  # samples side by side in one Lava run
    wall_s: float  # the full run, start-up included
    startup_s: float  # a 1-step run of the same batch
    steps: int

    @property
    def throughput(self) -> float:
        """Sample-steps per second, start-up included."""
        return self.batch * self.steps / self.wall_s

    @property
    def steady_throughput(self) -> float:
        """Sample-steps per second once started (full run minus the 1-step run)."""
        extra = self.wall_s - self.startup_s
        return self.batch * (self.steps - 1) / extra if extra > 0 else float("nan")


# ------------------------------------------------------------------------ workload
def _rate(net: FixedPointNetwork, spikes: np.ndarray, name: str) -> float:
    return float(simulate(net, spikes, populations=[name]).spikes[name].mean())


def build_workload(cfg: Config, console: Console) -> tuple[FixedPointNetwork, np.ndarray]:
    """The seeded network (rates in RATE_BAND) and the Poisson input (samples, steps, n_in)."""
    net = layered_network(
        cfg.sizes, seed=cfg.seed, delays="axonal", max_delay=cfg.max_delay,
        target_rate=TARGET_RATE, input_rate=cfg.input_rate,
    )
    calib = poisson_spikes(cfg.sizes[0], 16, 100, cfg.input_rate, cfg.seed + 1)
    rates = {n: _rate(net, calib, n) for n in net.populations}
    if any(not RATE_BAND[0] <= r <= RATE_BAND[1] for r in rates.values()):
        shown = ", ".join(f"{n} {r:.1%}" for n, r in rates.items())
        console.print(f"[yellow]warning: firing rates outside "
                      f"{RATE_BAND[0]:.0%}-{RATE_BAND[1]:.0%}: {shown}[/]")
    spikes = poisson_spikes(cfg.sizes[0], cfg.samples, cfg.steps, cfg.input_rate, cfg.seed + 2)
    return net, spikes


def synaptic_events(net: FixedPointNetwork, spikes: np.ndarray, traces: Traces) -> int:
    """Sum over projections of (spikes of each source neuron) x (its nonzero fan-out)."""
    counts = {INPUT: spikes.sum(axis=(0, 1), dtype=np.int64)}
    counts.update({n: s.sum(axis=(0, 1), dtype=np.int64) for n, s in traces.spikes.items()})
    total = 0
    for p in net.projections:
        fan_out = np.count_nonzero(p.weights, axis=0).astype(np.int64)
        total += int(counts[p.src] @ fan_out)
    return total


# ---------------------------------------------------------------------- measuring
def time_reference(
    net: FixedPointNetwork, spikes: np.ndarray, repeats: int = 3
) -> tuple[float, Traces]:
    """Best wall time of ``repeats`` reference runs on the whole batch, and its traces."""
    best, traces = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        traces = simulate(net, spikes, target="reference")
        best = min(best, time.perf_counter() - t0)
    assert traces is not None
    return best, traces


def time_lava(
    net: FixedPointNetwork, spikes: np.ndarray, batch: int
) -> tuple[LavaResult, Traces]:
    """One Lava run of ``batch`` samples side by side, and a 1-step run for start-up."""
    per_sample = net.n_neurons + net.n_inputs  # what max_neurons_per_run counts
    opts = {"max_neurons_per_run": batch * per_sample, "timeout_s": 1800.0}
    chunk = spikes[:batch]
    t0 = time.perf_counter()
    simulate(net, chunk[:, :1], target="lava", **opts)
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    traces = simulate(net, chunk, target="lava", **opts)
    wall = time.perf_counter() - t0
    return LavaResult(batch, wall, startup, chunk.shape[1]), traces


def identical(ref: Traces, lava: Traces) -> bool:
    """Spikes of every population equal on the samples Lava ran."""
    n = lava.batch
    return all(np.array_equal(ref.spikes[k][:n], s) for k, s in lava.spikes.items())


# ---------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> Config:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256, help="reference batch (default 256)")
    ap.add_argument("--steps", type=int, default=100, help="steps per sample (default 100)")
    ap.add_argument("--lava-samples", type=int, default=64,
                    help="largest Lava batch; Lava runs only these first samples (default 64)")
    ap.add_argument("--seed", type=int, default=0, help="network and input seed (default 0)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny smoke test: 16 samples x 40 steps, Lava batches 1 and 4")
    args = ap.parse_args(argv)
    if args.quick:
        samples, steps, lava_samples = 16, 40, 4
    else:
        samples, steps, lava_samples = args.samples, args.steps, args.lava_samples
    if min(samples, steps, lava_samples) < 1:
        ap.error("--samples, --steps and --lava-samples must be >= 1")
    lava_samples = min(lava_samples, samples)
    batches = sorted({b for b in (1, 8, 32, 64) if b < lava_samples} | {lava_samples})
    return Config(sizes=(224, 128, 128, 20), max_delay=15, samples=samples, steps=steps,
                  lava_samples=lava_samples, lava_batches=tuple(batches), input_rate=0.05,
                  seed=args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(width=max(110, Console().width))
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    console.print(
        f"[bold]neurodeploy simulator benchmark[/] - {platform.processor() or platform.machine()},"
        f" {cores} cores ({usable} usable), Python {platform.python_version()}"
    )
    console.print(
        f"network {'-'.join(map(str, cfg.sizes))}, axonal delays 0..{cfg.max_delay}, "
        f"{cfg.samples} samples x {cfg.steps} steps, Poisson input {cfg.input_rate:.0%}, "
        f"seed {cfg.seed}; time: 0-based steps, one step per hop (t -> t + 1 + delay)"
    )

    t0 = time.perf_counter()
    net, spikes = build_workload(cfg, console)
    console.print(f"workload built in {time.perf_counter() - t0:.1f} s")

    ref_s, ref = time_reference(net, spikes)
    rates = {INPUT: float(spikes.mean())}
    rates.update({n: float(s.mean()) for n, s in ref.spikes.items()})
    rate_table = Table(title="Firing rate (spikes per neuron per step, all samples)")
    for col in ("layer", "neurons", "vth", "rate", f"in {RATE_BAND[0]:.0%}-{RATE_BAND[1]:.0%}"):
        rate_table.add_column(col, justify="right")
    for name, rate in rates.items():
        vth = "-" if name == INPUT else str(int(net.populations[name].vth))
        ok = "-" if name == INPUT else ("yes" if RATE_BAND[0] <= rate <= RATE_BAND[1] else "NO")
        rate_table.add_row(name, str(net.size_of(name)), vth, f"{rate:.2%}", ok)
    console.print(rate_table)

    simulate(net, spikes[:1, :1], target="lava")  # warm-up (imports, file cache); untimed
    lava_runs: list[LavaResult] = []
    same = True
    for batch in cfg.lava_batches:
        res, lava = time_lava(net, spikes, batch)
        lava_runs.append(res)
        same &= identical(ref, lava)
        console.print(f"  lava batch {batch:3d}: {res.wall_s:6.1f} s "
                      f"({res.throughput:,.0f} sample-steps/s)")
    best = max(lava_runs, key=lambda r: r.throughput)

    ref_tp = cfg.samples * cfg.steps / ref_s
    ratio = ref_tp / best.throughput
    events = synaptic_events(net, spikes, ref)

    table = Table(title="Throughput (sample-steps per second; Lava includes start-up)")
    for col in ("simulator", "samples", "wall s", "start-up s", "sample-steps/s",
                "steady-state", "vs best Lava"):
        table.add_column(col, justify="right")
    for r in lava_runs:
        mark = " (best)" if r is best else ""
        table.add_row(f"lava, batch {r.batch}{mark}", str(r.batch), f"{r.wall_s:.2f}",
                      f"{r.startup_s:.2f}", f"{r.throughput:,.1f}",
                      f"{r.steady_throughput:,.1f}", f"{r.throughput / best.throughput:.2f}x")
    table.add_row("reference (best of 3)", str(cfg.samples), f"{ref_s:.3f}", "-",
                  f"{ref_tp:,.0f}", "-", f"{ratio:,.0f}x")
    console.print(table)

    summary = Table(title="Summary", show_header=False)
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    summary.add_row("machine cores (usable)", f"{cores} ({usable})")
    summary.add_row("best Lava batching", f"{best.batch} samples per run")
    summary.add_row("Lava start-up (1-step run, best batching)", f"{best.startup_s:.2f} s")
    summary.add_row("reference / best Lava", f"{ratio:,.0f}x")
    summary.add_row("synaptic events (reference, all samples)", f"{events:,}")
    summary.add_row("reference synaptic ops/s", f"{events / ref_s:,.3g}")
    summary.add_row(f"spikes identical on {cfg.lava_samples} Lava samples",
                    "yes" if same else "NO")
    console.print(summary)

    verdict = "met" if ratio >= ACCEPTANCE_RATIO else "NOT met"
    console.print(
        f"Acceptance target: reference >= {ACCEPTANCE_RATIO:.0f}x Lava on a 2-core machine; "
        f"measured {ratio:,.0f}x on {usable} usable cores: {verdict}"
        + ("" if usable == 2 else " (not a 2-core machine; indicative only)")
    )
    if not same:
        console.print("[red]reference and Lava spikes differ[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
