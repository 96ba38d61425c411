"""Benchmark: training throughput of neurodeploy's CUBA LIF network against snnTorch.

One training step = forward + backward + Adam step on a batch of 128 samples x 100 steps
of Poisson input (5% per step), for a 224-128-128-20 network with a cross-entropy loss on
the output. Measured in the same run, interleaved (one step of every model per round, so
machine load hits all alike), on the CPU with ``--threads`` threads (default 2), median of
``--repeats`` rounds (default 31) after ``--warmup`` rounds (default 2, which also grow the
heap to its working size):

- neurodeploy, no delays (fused LIF scan with hand-written BPTT);
- neurodeploy, trainable axonal delays (max 62 steps; spike inputs are processed per
  event, the input gradient with matrix products);
- neurodeploy, trainable per-synapse delays (max 62 steps; a causal convolution over the
  kernel taps from the smallest current delay to the largest + 1: measured at the initial
  delays, uniform in [0, 5] steps (7 taps), so the cost grows as training spreads the
  delays; spike inputs per event, the input gradient one matrix product per tap);
- snnTorch 1.0 ``Synaptic`` neurons (the same CUBA dynamics), same sizes, its usual
  per-step loop over ``nn.Linear`` layers.

Acceptance targets (CPU, same run): neurodeploy without delays >= 2.5x snnTorch's
samples/s, with axonal delays >= 1.6x, with per-synapse delays >= 1.2x; and what delays
cost: a step with axonal delays at most 1.3x the step without delays, with per-synapse
delays at most 2x (column "step vs no delays"); the script exits with status 1 when one is
not met. GPU figures are added when CUDA is available.

Measurement: the ratio judged is that of the medians; the table's "ratio range" gives the
spread of the same ratio taken per round (this model's step over snnTorch's step of the
same round), from the lowest to the highest round, and its interquartile range: what one
round could have shown. The process keeps freed memory for reuse
(:func:`neurodeploy.models.training.retain_freed_memory`, as ``train`` does): otherwise
glibc hands the MiB-sized records of a step back to the system and the next step
zero-fills them again page by page, a cost that varies from step to step.

Roofline: the machine's float32 GEMM FLOP/s is measured in the same run
(``roofline.gemm_flops_per_s``, 1024^3 products with the same threads; best of a
measurement before and one after the timed steps). Each row reports what it achieves in
useful arithmetic: the network's dense projections, forward and backward, counted as
3 x the forward products (forward, input gradient, weight gradient: 3 x 2 x batch x steps x
sum of n_in x n_out FLOP per training step, one multiply-add = 2 FLOP), the same count for
every row (delays, neuron updates, the loss and Adam are not counted), divided by the
measured step time; and that as a share of the GEMM roofline.

Time convention (as everywhere in neurodeploy): 0-based steps, one step of latency per
projection in neurodeploy's model (snnTorch has none; it does not change the cost).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table
from roofline import gemm_flops_per_s, share

from neurodeploy.models.network import NetworkConfig, SpikingNetwork
from neurodeploy.models.training import retain_freed_memory

SIZES = (224, 128, 128, 20)
#: Acceptance: samples/s of each neurodeploy row over snnTorch's, on the CPU.
TARGETS = {"neurodeploy (no delays)": 2.5, "neurodeploy (axonal delays)": 1.6,
           "neurodeploy (per-synapse delays)": 1.2}
#: Acceptance: a step with trainable delays over a step without, at most (the CPU).
DELAY_COST = {"neurodeploy (axonal delays)": 1.3, "neurodeploy (per-synapse delays)": 2.0}
NO_DELAYS = "neurodeploy (no delays)"


def neurodeploy_model(delays: str) -> torch.nn.Module:
    return SpikingNetwork(NetworkConfig(SIZES[0], SIZES[-1], hidden=SIZES[1:-1], delays=delays,
                                        max_delay=62, readout="count"))


class SnnTorchNet(torch.nn.Module):
    """224-128-128-20 with snnTorch Synaptic (CUBA) neurons; logits = output spike counts."""

    def __init__(self) -> None:
        import snntorch as snn

        super().__init__()
        self.fc = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in itertools.pairwise(SIZES))
        self.lif = torch.nn.ModuleList(snn.Synaptic(alpha=0.8, beta=0.95) for _ in self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [lif.init_synaptic() for lif in self.lif]
        count = 0
        for t in range(x.shape[1]):
            h = x[:, t]
            for k, (fc, lif) in enumerate(zip(self.fc, self.lif, strict=False)):
                syn, mem = states[k]
                h, syn, mem = lif(fc(h), syn, mem)
                states[k] = (syn, mem)
            count = count + h
        return count


def step_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> float:
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return step


def step_flops(batch: int, steps: int) -> float:
    """Useful FLOP of one training step: 3 x the forward products of the dense projections
    (forward, input gradient, weight gradient), 2 FLOP per multiply-add."""
    return 3.0 * 2.0 * batch * steps * sum(a * b for a, b in itertools.pairwise(SIZES))


def measure(device: str, batch: int, steps: int, repeats: int, seed: int,
            warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per training step of every model, ``repeats`` rounds of one step each
    (interleaved) after ``warmup`` rounds."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, steps, SIZES[0], generator=gen) < 0.05).float().to(device)
    y = torch.randint(0, SIZES[-1], (batch,), generator=gen).to(device)
    torch.manual_seed(seed)
    runs = {
        "neurodeploy (no delays)": step_fn(neurodeploy_model("none").to(device), x, y),
        "neurodeploy (axonal delays)": step_fn(neurodeploy_model("axonal").to(device), x, y),
        "neurodeploy (per-synapse delays)": step_fn(neurodeploy_model("synaptic").to(device),
                                                    x, y),
        "snnTorch Synaptic": step_fn(SnnTorchNet().to(device), x, y),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(warmup):
        for step in runs.values():
            step()
    for _ in range(repeats):
        for name, step in runs.items():  # interleaved
            times[name].append(step())
    return times


def ratio_spread(times: list[float], peer: list[float]) -> tuple[float, float, float, float]:
    """(min, lower quartile, upper quartile, max) of the per-round speed ratio
    ``peer[i] / times[i]`` (step times of the same round)."""
    ratios = sorted(p / t for t, p in zip(times, peer, strict=True))
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0], ratios[0]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return ratios[0], q1, q3, ratios[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="batch 16, 20 steps, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.repeats = 16, 20, 2
    torch.set_num_threads(args.threads)
    retain_freed_memory()
    start = time.perf_counter()
    console = Console()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ok = True
    flops = step_flops(args.batch, args.steps)
    for device in devices:
        peak = gemm_flops_per_s(args.threads, device=device)
        times = measure(device, args.batch, args.steps, args.repeats, args.seed, args.warmup)
        peak = max(peak, gemm_flops_per_s(args.threads, device=device))
        rates = {name: args.batch / statistics.median(ts) for name, ts in times.items()}
        peer = rates["snnTorch Synaptic"]
        table = Table(title=f"training step throughput on {device} "
                      f"({args.threads} threads; batch {args.batch} x {args.steps} steps, "
                      f"{'-'.join(map(str, SIZES))})")
        for col in ("model", "samples/s", "vs snnTorch", "ratio range (IQR)",
                    "step vs no delays", "GFLOP/s", "of GEMM roofline"):
            table.add_column(col, justify="right")
        for name, rate in rates.items():
            achieved = rate / args.batch * flops
            lo, q1, q3, hi = ratio_spread(times[name], times["snnTorch Synaptic"])
            table.add_row(name, f"{rate:,.0f}", f"{rate / peer:.2f}x",
                          f"{lo:.2f}-{hi:.2f}x ({q1:.2f}-{q3:.2f}x)",
                          f"{rates[NO_DELAYS] / rate:.2f}x" if name.startswith("neurodeploy")
                          else "-", f"{achieved / 1e9:.1f}",
                          share(achieved, peak))
        console.print(table)
        console.print(f"GEMM roofline on {device}: {peak / 1e9:.1f} GFLOP/s (float32 1024^3 "
                      f"products, {args.threads} threads); useful work "
                      f"{flops / 1e9:.2f} GFLOP per step (3 x the forward products); median "
                      f"of {args.repeats} interleaved rounds after {args.warmup} of warm-up")
        if device == "cpu":
            for name, target in TARGETS.items():
                ratio = rates[name] / peer
                met = ratio >= target
                ok = ok and met
                lo, _, _, hi = ratio_spread(times[name], times["snnTorch Synaptic"])
                console.print(f"Acceptance target: {name} >= {target:g}x snnTorch on the CPU; "
                              f"measured {ratio:.2f}x (rounds {lo:.2f}-{hi:.2f}x): "
                              f"{'met' if met else 'NOT met'}")
            for name, most in DELAY_COST.items():
                cost = rates[NO_DELAYS] / rates[name]
                met = cost <= most
                ok = ok and met
                lo, _, _, hi = ratio_spread(times[NO_DELAYS], times[name])
                console.print(f"Delay cost target: a step of {name} <= {most:g}x the step "
                              f"without delays on the CPU; measured {cost:.2f}x (rounds "
                              f"{lo:.2f}-{hi:.2f}x): {'met' if met else 'NOT met'}")
    console.print(f"bench took {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
