"""Benchmark: the reference fixed-point simulator against Lava 0.10's CPU simulator.

What it measures, on one seeded workload (default: a 224-128-128-20 LIF network with
axonal delays up to 15 steps, 256 samples x 100 steps of Poisson input):

- the firing rate of every layer (``layered_network`` calibrates each layer's threshold
  for 5 % spikes per neuron per step; a warning is printed outside 2-10 %);
- Lava's throughput in sample-steps per second for several batchings (1, 8, 32, 64
  samples laid side by side per Lava run, via ``max_neurons_per_run``), start-up
  included, since that is what a user pays; start-up is also estimated on its own
  with a 1-step run of the same batch, and its share of the run. Lava runs only the
  first ``--lava-samples`` samples (each batching runs one Lava run of its batch size);
  the summary shows the batching Lava's default picks for this sample length
  (``targets/lava.py``'s cost model, fitted to these runs);
- the reference simulator on all samples (best of 3 after one untimed warm-up run, whose
  time is shown: it loads the compiled step), its throughput, the ratio
  reference / best Lava, and its synaptic operations per second (one synaptic event
  = one source spike delivered to one nonzero weight of its column); the same with the
  kernel's numpy realisation in place of the numba-compiled loop (the choice the
  reference makes, measured; spikes compared);
- the machine's roofline, measured in the same run: the float32 GEMM FLOP/s of a
  1024 x 1024 x 1024 product with the usable cores (``bench/roofline.py``), the higher of
  numpy's BLAS and torch's; and what the reference achieves against it. Its FLOP count
  is that of a dense simulator, :func:`synaptic_macs` x 2 per sample-step: every weight
  of every projection multiplied and added once per step (n_dst x n_src per projection,
  whatever the delays and however many weights are zero; a convolution's multiply-adds
  for a convolutional projection), so a simulator that skips work (zero weights, silent
  sources) can exceed the roofline;
- that the spikes of every population are identical between the reference and Lava on
  every sample Lava ran (exit code 1 if not).

Time convention (as everywhere in neurodeploy): steps are 0-based and an input spike
at step t reaches a population behind one projection at step t + 1 + delay, one step of
latency per hop.

Acceptance target: reference >= min(500,000 sample-steps/s, half the roofline in
sample-steps/s), i.e. half the measured GEMM FLOP/s divided by the FLOP of one
sample-step; exit code 1 if not met (or if the spikes differ).

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
from roofline import gemm_flops_per_s, share  # bench/ is the script's folder: on sys.path

from neurodeploy import FixedPointNetwork, Traces, simulate
from neurodeploy.examples import layered_network, poisson_spikes
from neurodeploy.network import INPUT
from neurodeploy.targets.lava import samples_per_run
from neurodeploy.targets.reference import ReferencePlan

TARGET_THROUGHPUT = 500_000.0  # sample-steps/s, or half the roofline where that is lower
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
    quick: bool = False


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


def synaptic_macs(net: FixedPointNetwork) -> int:
    """Multiply-adds of one sample-step's synaptic accumulation as a dense simulator does
    it: n_dst x n_src per projection (each weight once per step, zero or not, whatever its
    delay); for a convolutional projection the convolution's, output neurons x input
    channels per group x kernel taps. FLOP per sample-step: twice this."""
    total = 0
    for p in net.projections:
        if p.conv is not None:
            _, in_per_group, kh, kw = p.conv.kernel.shape
            total += p.n_dst * in_per_group * kh * kw
        else:
            total += p.n_dst * p.n_src
    return total


@dataclass(frozen=True)
class Roofline:
    """The machine's float32 GEMM FLOP/s with ``threads`` threads (the higher library)."""

    threads: int
    numpy_flops: float
    torch_flops: float

    @property
    def peak(self) -> float:
        return max(self.numpy_flops, self.torch_flops)

    def describe(self) -> str:
        return (f"{self.peak / 1e9:,.1f} GFLOP/s (numpy {self.numpy_flops / 1e9:,.1f}, "
                f"torch {self.torch_flops / 1e9:,.1f}; {self.threads} threads)")


def measure_roofline(threads: int) -> Roofline:
    """float32 1024^3 GEMM FLOP/s through numpy's BLAS and torch (see ``roofline.py``)."""
    return Roofline(threads, gemm_flops_per_s(threads, "numpy"),
                    gemm_flops_per_s(threads, "torch"))


def acceptance(console: Console, throughput: float, macs: int, roof: Roofline,
               quick: bool = False) -> bool:
    """Print and return: ``throughput`` (sample-steps/s) >= min(TARGET_THROUGHPUT, half
    the roofline in sample-steps/s, i.e. 0.5 x peak / (2 x ``macs``)); True for a
    ``quick`` smoke test, whose workload is too small to judge (the line says so)."""
    half = 0.5 * roof.peak / (2.0 * macs)
    target = min(TARGET_THROUGHPUT, half)
    met = throughput >= target
    console.print(
        f"Acceptance: reference >= min({TARGET_THROUGHPUT:,.0f} sample-steps/s, half the "
        f"roofline = {half:,.0f} sample-steps/s) = {target:,.0f}; measured "
        f"{throughput:,.0f}: {'met' if met else 'NOT met'} (machine under whatever load it "
        "had; the roofline is measured in the same run)"
        + ("; --quick: a smoke test, not judged" if quick else ""))
    return met or quick


def roofline_rows(table: Table, throughput: float, macs: int, roof: Roofline) -> None:
    """Summary rows: the roofline, the reference's achieved FLOP/s and its share."""
    achieved = throughput * 2.0 * macs
    table.add_row("float32 GEMM roofline (1024^3, best library)", roof.describe())
    table.add_row("dense-equivalent FLOP per sample-step", f"{2 * macs:,}")
    table.add_row("reference achieved FLOP/s (dense-equivalent)", f"{achieved / 1e9:,.2f} G")
    table.add_row("reference share of the roofline", share(achieved, roof.peak))
    table.add_row("half the roofline, in sample-steps/s", f"{0.5 * roof.peak / (2 * macs):,.0f}")


# ---------------------------------------------------------------------- measuring
def time_reference(
    net: FixedPointNetwork, spikes: np.ndarray, repeats: int = 3, compiled: bool = True
) -> tuple[float, Traces]:
    """Best wall time of ``repeats`` reference runs on the whole batch, and its traces;
    ``compiled=False``: with the kernel's numpy realisation instead of the numba loop."""
    best, traces = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        if compiled:
            traces = simulate(net, spikes, target="reference")
        else:
            traces = ReferencePlan(net, compiled=False).run(spikes)
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
                  seed=args.seed, quick=args.quick)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(width=max(140, Console().width))
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

    roof = measure_roofline(max(1, usable))
    t0 = time.perf_counter()  # untimed warm-up: loads the compiled step (numba, cached code)
    simulate(net, spikes, target="reference")
    first_s = time.perf_counter() - t0
    ref_s, ref = time_reference(net, spikes)
    numpy_s, numpy_ref = time_reference(net, spikes, compiled=False)
    numpy_same = all(np.array_equal(ref.spikes[k], s) for k, s in numpy_ref.spikes.items())
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
    for col in ("simulator", "samples", "wall s", "start-up s", "start-up share",
                "sample-steps/s", "steady-state", "vs best Lava"):
        table.add_column(col, justify="right")
    for r in lava_runs:
        mark = " (best)" if r is best else ""
        table.add_row(f"lava, batch {r.batch}{mark}", str(r.batch), f"{r.wall_s:.2f}",
                      f"{r.startup_s:.2f}", f"{r.startup_s / r.wall_s:.0%}",
                      f"{r.throughput:,.1f}", f"{r.steady_throughput:,.1f}",
                      f"{r.throughput / best.throughput:.2f}x")
    table.add_row("reference (best of 3)", str(cfg.samples), f"{ref_s:.3f}", "-", "-",
                  f"{ref_tp:,.0f}", "-", f"{ratio:,.0f}x")
    numpy_tp = cfg.samples * cfg.steps / numpy_s
    table.add_row("reference, numpy step (best of 3)", str(cfg.samples),
                  f"{numpy_s:.3f}", "-", "-", f"{numpy_tp:,.0f}", "-",
                  f"{numpy_tp / best.throughput:,.0f}x")
    console.print(table)

    summary = Table(title="Summary", show_header=False)
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    summary.add_row("machine cores (usable)", f"{cores} ({usable})")
    summary.add_row("best Lava batching", f"{best.batch} samples per run")
    summary.add_row("Lava default batching (modelled best for this length)",
                    f"{samples_per_run(net, cfg.steps)} samples per run")
    summary.add_row("Lava start-up (1-step run, best batching)", f"{best.startup_s:.2f} s")
    summary.add_row("reference / best Lava", f"{ratio:,.0f}x")
    summary.add_row("reference first run in this process (warm-up, loads numba)",
                    f"{first_s:.2f} s")
    summary.add_row("synaptic events (reference, all samples)", f"{events:,}")
    summary.add_row("reference synaptic ops/s", f"{events / ref_s:,.3g}")
    macs = synaptic_macs(net)
    roofline_rows(summary, ref_tp, macs, roof)
    summary.add_row(f"spikes identical on {cfg.lava_samples} Lava samples",
                    "yes" if same else "NO")
    summary.add_row("numba loop / numpy step (time)", f"{ref_s / numpy_s:.2f}x "
                    f"(spikes identical: {'yes' if numpy_same else 'NO'})")
    console.print(summary)

    met = acceptance(console, ref_tp, macs, roof, quick=cfg.quick)
    if not same:
        console.print("[red]reference and Lava spikes differ[/]")
    return 0 if met and same and numpy_same else 1


if __name__ == "__main__":
    sys.exit(main())
