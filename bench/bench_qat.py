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

Run: ``python bench/bench_qat.py [--batch 32] [--repeats 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table

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
    times: dict[bool, list[float]] = {True: [], False: []}
    for qnet, opt, x, y in variants.values():
        step(qnet, opt, x, y)  # warm-up
    for _ in range(args.repeats):
        for fused, (qnet, opt, x, y) in variants.items():
            times[fused].append(step(qnet, opt, x, y))
    table = Table(title=f"QAT step: batch {args.batch} x 200 steps, 20-128-128-2 axonal, "
                        f"{args.threads} threads (median of {args.repeats})")
    for col in ("variant", "s per step", "samples/s", "speed-up"):
        table.add_column(col, justify="right")
    base = statistics.median(times[False])
    for fused, label in ((False, "per-step STE graph"), (True, "fused integer scan")):
        t = statistics.median(times[fused])
        table.add_row(label, f"{t:.3f}", f"{args.batch / t:.1f}", f"{base / t:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
