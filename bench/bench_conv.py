"""Benchmark: the reference simulator against Lava on a spiking CNN of the NIR paper's size.

Workload: the Sinabs N-MNIST CNN's structure (Pedersen et al. 2024), built in NIR as Sinabs
writes it (Conv2d 2->16 5x5 stride 2 padding 1, IF, Conv2d 16->16 3x3 padding 1, IF,
SumPool2d 2x2, Conv2d 16->8 3x3 padding 1, IF, SumPool2d 2x2, Flatten, Affine 128->256,
IF, Affine 256->10, IF; input 2 x 34 x 34; 8,970 neurons) with seeded random weights,
imported at dt = 1 (one step per hop), post-training quantized on Poisson event frames
and run on ``--samples`` frames of ``--steps`` 0-based steps. What it measures, in one run:

- the firing rate of every layer;
- Lava (``fixed_pt``, the convolutions as Lava ``Sparse`` weights) on the first
  ``--lava-samples`` samples side by side, start-up included, and a 1-step run for the
  start-up alone;
- the reference simulator on all samples (best of 3), its throughput and its synaptic
  events per second (one event = one source spike delivered to one nonzero weight);
- what a dense simulator must compute: one float64 product per projection per step with
  its whole weight matrix, timed alone (the reference runs the convolutional projections
  as convolutions, so it can beat this);
- the machine's float32 GEMM roofline, measured in the same run, and what the reference
  achieves against it: its FLOP per sample-step are twice the multiply-adds of
  ``bench_simulators.synaptic_macs`` (a convolution's own multiply-adds for the
  convolutional projections, the third with the sum pooling before it as one 6x6
  convolution of stride 2; n_dst x n_src for the dense layers);
- that every layer's spikes are identical between the reference and Lava.

Acceptance target: reference >= min(500,000 sample-steps/s, half the roofline in
sample-steps/s); exit 1 if not met or if the spikes differ.

Run: ``python bench/bench_conv.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
from collections.abc import Sequence

import nir
import numpy as np
from bench_netx import matmul_floor  # bench/ is the script's folder: on sys.path
from bench_simulators import (
    acceptance,
    measure_roofline,
    roofline_rows,
    synaptic_events,
    synaptic_macs,
)
from rich.console import Console
from rich.table import Table

from neurodeploy import simulate
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.quantize.ptq import post_training_quantize

IN = (2, 34, 34)


def sinabs_cnn(seed: int) -> nir.NIRGraph:
    """The CNN as Sinabs exports it (IF with r, v_threshold, v_reset; SumPool2d)."""
    rng = np.random.default_rng(seed)

    def if_node(shape: tuple[int, ...]) -> nir.IF:
        return nir.IF(r=np.ones(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))

    def conv(shape: tuple[int, int], c_out: int, c_in: int, k: int, stride: int, mean: float
             ) -> nir.Conv2d:
        w = rng.normal(mean, 0.5, (c_out, c_in, k, k))
        return nir.Conv2d(input_shape=shape, weight=w, stride=stride, padding=1, dilation=1,
                          groups=1, bias=np.zeros(c_out))

    pool = {"kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
            "padding": np.array([0, 0])}
    nodes = {
        "input": nir.Input(input_type={"input": np.array(IN)}),
        "conv1": conv((34, 34), 16, 2, 5, 2, 0.15), "if1": if_node((16, 16, 16)),
        "conv2": conv((16, 16), 16, 16, 3, 1, 0.02), "if2": if_node((16, 16, 16)),
        "pool2": nir.SumPool2d(**pool),
        "conv3": conv((8, 8), 8, 16, 3, 1, 0.01), "if3": if_node((8, 8, 8)),
        "pool3": nir.SumPool2d(**pool),
        "flat": nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0,
                            end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(0.02, 0.3, (256, 128)), bias=np.zeros(256)),
        "if4": if_node((256,)),
        "fo": nir.Affine(weight=rng.normal(0.05, 0.3, (10, 256)), bias=np.zeros(10)),
        "if5": if_node((10,)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    chain = ["input", "conv1", "if1", "conv2", "if2", "pool2", "conv3", "if3", "pool3",
             "flat", "fc", "if4", "fo", "if5", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(chain)))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=32, help="reference batch (default 32)")
    ap.add_argument("--steps", type=int, default=30, help="steps per sample (default 30)")
    ap.add_argument("--lava-samples", type=int, default=2, help="Lava batch (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="4 samples x 10 steps, Lava 1")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.steps, args.lava_samples = 4, 10, 1
    console = Console(width=max(120, Console().width))
    cores = os.cpu_count() or 0
    cpu = platform.processor() or platform.machine()
    console.print(f"[bold]neurodeploy CNN benchmark[/] - {cpu}, {cores} cores, Python "
                  f"{platform.python_version()}")
    rng = np.random.default_rng(args.seed + 1)
    x = rng.random((args.samples, args.steps, int(np.prod(IN)))) < 0.1
    t0 = time.perf_counter()
    fnet = import_nir(sinabs_cnn(args.seed), dt=1.0).network
    net, _ = post_training_quantize(fnet, x[:8])
    synapses = sum(int(np.count_nonzero(p.weights)) for p in net.projections)
    console.print(f"CNN {net.n_neurons:,} neurons, {synapses:,} synapses (nonzero weights), "
                  f"{args.samples} samples x {args.steps} steps of 10% event frames; built and "
                  f"quantized in {time.perf_counter() - t0:.1f} s; time: 0-based steps, one "
                  "step per hop")

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    roof = measure_roofline(max(1, usable))
    best, ref = float("inf"), None
    for _ in range(3):
        t0 = time.perf_counter()
        ref = simulate(net, x, target="reference")
        best = min(best, time.perf_counter() - t0)
    rates = ", ".join(f"{n} {s.mean():.1%}" for n, s in ref.spikes.items())
    console.print(f"firing rates (spikes per neuron per step): input 10.0%, {rates}")
    floor_s = matmul_floor(net, args.samples, args.steps)
    lx = x[: args.lava_samples]
    opts = {"max_neurons_per_run": 10**9, "timeout_s": 3600.0}
    t0 = time.perf_counter()
    simulate(net, lx[:, :1], target="lava", **opts)
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lava = simulate(net, lx, target="lava", **opts)
    lava_s = time.perf_counter() - t0
    same = all(np.array_equal(lava.spikes[n], ref.spikes[n][: args.lava_samples])
               for n in net.populations)

    ref_tp = args.samples * args.steps / best
    lava_tp = args.lava_samples * args.steps / lava_s
    table = Table(title="CNN throughput (sample-steps per second; Lava includes start-up)")
    for col in ("simulator", "samples", "wall s", "start-up s", "sample-steps/s", "vs Lava"):
        table.add_column(col, justify="right")
    table.add_row("lava (fixed_pt, Sparse weights)", str(args.lava_samples), f"{lava_s:.2f}",
                  f"{start_s:.2f}", f"{lava_tp:,.1f}", "1.00x")
    table.add_row("reference (best of 3)", str(args.samples), f"{best:.3f}", "-",
                  f"{ref_tp:,.0f}", f"{ref_tp / lava_tp:,.0f}x")
    table.add_row("dense products alone (one per projection)", str(args.samples),
                  f"{floor_s:.3f}", "-", f"{args.samples * args.steps / floor_s:,.0f}",
                  f"reference takes {best / floor_s:.2f}x this time")
    console.print(table)
    ev = synaptic_events(net, x, ref)
    summary = Table(title="CNN summary", show_header=False)
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    summary.add_row("neurons, synapses (nonzero weights)", f"{net.n_neurons:,}, {synapses:,}")
    summary.add_row("reference synaptic events per second", f"{ev / best:,.3g}")
    macs = synaptic_macs(net)
    roofline_rows(summary, ref_tp, macs, roof)
    summary.add_row(f"spikes identical to Lava ({args.lava_samples} samples, every layer)",
                    "yes" if same else "NO")
    console.print(summary)
    met = acceptance(console, ref_tp, macs, roof, quick=args.quick)
    return 0 if met and same else 1


if __name__ == "__main__":
    sys.exit(main())
