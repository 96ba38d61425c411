"""Benchmark: the reference simulator against lava-dl's netx on a shipped network.

Workload: lava-dl's NTIDIGITS network (its netx test file, vendored in
``tests/data/netx/``; 3 dense LOIHI layers 256-256-242 with per-synapse delays up to 62
steps), read up to its average layer, on its recorded input sample (one sample,
``steps`` 0-based steps, one step per hop). What it measures, in one run:

- the reference simulator (best of 3) on that sample, and on a batch of copies of it
  (``--batch``, default 16: the reference's throughput grows with the batch, netx runs
  one sample per network);
- the netx backend (neurodeploy writes the network's netx file, lava-dl's netx loads it
  on Lava's CPU simulator, ``fixed_pt``), start-up included since a user pays it, and a
  1-step run of the same network for the start-up alone;
- the Lava backend (neurodeploy's own Lava network of the same integers);
- the machine's floor for a dense simulator: one float64 product ``s @ W.T`` of the
  step's source spikes with each projection's whole weight matrix, every step, timed
  alone (every synapse touched once per step; the reference's overhead, delays
  included, is its time above this);
- that the spikes of every layer are identical between the reference, netx and Lava
  (exit code 1 if not), and that the reference reproduces the recorded output.

Run: ``python bench/bench_netx.py`` (``--steps N`` cuts the sample for a smoke test).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy import FixedPointNetwork, Traces, simulate
from neurodeploy.exchange.netx import import_netx

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "netx"


def load_workload(steps: int | None) -> tuple[FixedPointNetwork, np.ndarray, np.ndarray]:
    """(network, input (1, steps, 64) bool, recorded output (242, steps))."""
    net = import_netx(DATA / "ntidigits.net", num_layers=5).network
    with np.load(DATA / "ntidigits_gt.npz") as d:
        total = int(d["steps"])
        x = np.unpackbits(d["input"], axis=1, count=total).T[None].astype(bool)
        gt = np.unpackbits(d["output"], axis=1, count=total)
    n = total if steps is None else min(steps, total)
    return net, x[:, :n], gt[:, :n]


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def matmul_floor(net: FixedPointNetwork, batch: int, steps: int) -> float:
    """Seconds for one float64 product per projection per step (the whole weights)."""
    rng = np.random.default_rng(0)
    mats = [(p.weights.astype(np.float64).T.copy(),
             (rng.random((batch, p.n_src)) < 0.05).astype(np.float64)) for p in net.projections]
    t0 = time.perf_counter()
    for _ in range(steps):
        for w, s in mats:
            s @ w
    return time.perf_counter() - t0


def timed(target: str, net: FixedPointNetwork, x: np.ndarray) -> tuple[float, Traces]:
    t0 = time.perf_counter()
    tr = simulate(net, x, target=target, timeout_s=3600.0)
    return time.perf_counter() - t0, tr


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="cut the sample (default: all)")
    ap.add_argument("--batch", type=int, default=16, help="reference batch (default 16)")
    args = ap.parse_args(argv)
    console = Console(width=max(100, Console().width))
    cores = os.cpu_count() or 0
    console.print(f"[bold]neurodeploy vs netx[/] - {platform.processor() or platform.machine()}"
                  f", {cores} cores, Python {platform.python_version()}")
    net, x, gt = load_workload(args.steps)
    steps = x.shape[1]
    sizes = "-".join(str(p.size) for p in net.populations.values())
    console.print(f"lava-dl NTIDIGITS {net.n_inputs}-{sizes}, delays up to {net.max_delay}, "
                  f"1 sample x {steps} steps; time: 0-based steps, one step per hop")

    ref1_s, ref = best_of(lambda: simulate(net, x, target="reference"))
    xb = np.repeat(x, args.batch, axis=0)
    refb_s, _ = best_of(lambda: simulate(net, xb, target="reference"))
    floor_s = matmul_floor(net, 1, steps)
    netx_start, _ = timed("netx", net, x[:, :1])
    netx_s, netx = timed("netx", net, x)
    lava_s, lava = timed("lava", net, x)

    out = net.outputs[0]
    same = all(np.array_equal(ref.spikes[n], tr.spikes[n]) for tr in (netx, lava)
               for n in net.populations)
    recorded = np.array_equal(ref.spikes[out][0].T[:, :-1], gt[:, 1:])

    table = Table(title="One sample (sample-steps per second; netx and Lava include start-up)")
    for col in ("simulator", "wall s", "start-up s", "sample-steps/s", "reference is"):
        table.add_column(col, justify="right")
    table.add_row("netx (lava-dl 0.6.0, Lava fixed_pt)", f"{netx_s:.2f}", f"{netx_start:.2f}",
                  f"{steps / netx_s:,.0f}", f"{netx_s / ref1_s:,.0f}x faster")
    table.add_row("lava (neurodeploy's Lava network)", f"{lava_s:.2f}", "-",
                  f"{steps / lava_s:,.0f}", f"{lava_s / ref1_s:,.0f}x faster")
    table.add_row("reference (best of 3)", f"{ref1_s:.3f}", "-", f"{steps / ref1_s:,.0f}", "-")
    table.add_row(f"reference, batch {args.batch} (best of 3)", f"{refb_s:.3f}", "-",
                  f"{args.batch * steps / refb_s:,.0f}",
                  f"{args.batch * netx_s / refb_s:,.0f}x netx per sample")
    table.add_row("machine floor: one product per projection", f"{floor_s:.3f}", "-",
                  f"{steps / floor_s:,.0f}", f"{ref1_s / floor_s:.1f}x this time")
    console.print(table)
    console.print(f"spikes identical (reference = netx = lava, every layer): "
                  f"{'yes' if same else 'NO'}; reference reproduces the recorded output "
                  f"(one step earlier): {'yes' if recorded else 'NO'}")
    return 0 if same and recorded else 1


if __name__ == "__main__":
    sys.exit(main())
