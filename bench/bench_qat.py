"""Benchmark: one QAT step (forward + backward + Adam) with the fused integer scan against the
per-step straight-through graph, in the same run.

The network is what ``neurodeploy quantize`` fine-tunes by default: the CCISI shape
(20 inputs, 128-128 hidden, 2 outputs, axonal delays up to 62 steps, non-spiking mean-v
readout), initialised as ``neurodeploy train`` does and post-training quantized on
calibration data from the task, then wrapped in :class:`QATNetwork`. One step = a batch of
``--batch`` samples x 200 steps. Both variants compute the same integers and the same
gradients (tests/test_qat.py checks it); only the autograd bookkeeping differs: the
per-step graph has ~10 Python-level nodes per step and population, the fused scan one node
per population with a hand-written backward pass. Median of ``--repeats`` steps after one
warm-up, interleaved so that machine load hits both alike; CPU, ``--threads`` threads.

Roofline: the machine's float32 GEMM FLOP/s is measured in the same run
(``roofline.gemm_flops_per_s``, 1024^3 products with the same threads; best of a
measurement before and one after the timed steps). Each row reports its useful arithmetic
per second: the projections' products, forward and backward, counted as 3 x the forward
products (3 x 2 x batch x steps x sum of the projections' n_src x n_dst FLOP per step; one
multiply-add = 2 FLOP; neuron updates, rounding and Adam not counted), and that as a share
of the roofline. QAT computes in float64 (exact integers), whose peak is about half the
float32 one: the share is against the float32 roofline all the same.

Run: ``python bench/bench_qat.py [--batch 32] [--repeats 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table
from roofline import gemm_flops_per_s, share

from neurodeploy.models.datasets import make_task
from neurodeploy.models.network import NetworkConfig, SpikingNetwork
from neurodeploy.quantize.ptq import post_training_quantize
from neurodeploy.quantize.qat import QATNetwork


def build(batch: int) -> tuple[QATNetwork, torch.Tensor, torch.Tensor]:
    data = make_task("ccisi", seed=0, n_samples=max(batch, 64))
    model = SpikingNetwork(NetworkConfig(data.n_channels, data.n_classes, hidden=(128, 128),
                                         delays="axonal", readout="mean_v", seed=0))
    model.eval()
    net, info = post_training_quantize(model, data.spikes[:64])
    qnet = QATNetwork(net, "mean_v", info.scales)
    return qnet, torch.as_tensor(data.spikes[:batch]), torch.as_tensor(data.labels[:batch])


def step(qnet: QATNetwork, opt: torch.optim.Optimizer, x: torch.Tensor,
         y: torch.Tensor) -> float:
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(qnet(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    qnet.clamp_weights_()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    console = Console()
    variants = {}
    for fused in (True, False):
        qnet, x, y = build(args.batch)
        qnet.fused = fused
        variants[fused] = (qnet, torch.optim.Adam(qnet.parameters(), lr=0.5), x, y)
    qnet, _, x, _ = variants[True]
    flops = 3.0 * 2.0 * x.shape[0] * x.shape[1] * sum(w.numel() for w in qnet.weights)
    peak = gemm_flops_per_s(args.threads)
    times: dict[bool, list[float]] = {True: [], False: []}
    for qnet, opt, x, y in variants.values():
        step(qnet, opt, x, y)  # warm-up
    for _ in range(args.repeats):
        for fused, (qnet, opt, x, y) in variants.items():
            times[fused].append(step(qnet, opt, x, y))
    peak = max(peak, gemm_flops_per_s(args.threads))
    table = Table(title=f"QAT step: batch {args.batch} x 200 steps, 20-128-128-2 axonal, "
                        f"{args.threads} threads (median of {args.repeats})")
    for col in ("variant", "s per step", "samples/s", "speed-up", "GFLOP/s",
                "of GEMM roofline"):
        table.add_column(col, justify="right")
    base = statistics.median(times[False])
    for fused, label in ((False, "per-step STE graph"), (True, "fused integer scan")):
        t = statistics.median(times[fused])
        table.add_row(label, f"{t:.3f}", f"{args.batch / t:.1f}", f"{base / t:.2f}x",
                      f"{flops / t / 1e9:.2f}", share(flops / t, peak))
    console.print(table)
    console.print(f"GEMM roofline: {peak / 1e9:.1f} GFLOP/s (float32 1024^3 products, "
                  f"{args.threads} threads); useful work {flops / 1e9:.3f} GFLOP per step "
                  "(3 x the forward products)")


if __name__ == "__main__":
    main()
