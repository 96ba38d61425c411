"""Benchmark: training throughput of neurodeploy's CUBA LIF network against snnTorch.

One training step = forward + backward + Adam step on a batch of 128 samples x 100 steps
of Poisson input (5% per step), for a 224-128-128-20 network with a cross-entropy loss on
the output. Measured in the same run, interleaved (so machine load hits both alike), on
the CPU with ``--threads`` threads (default 2), median of ``--repeats`` steps after warm-up:

- neurodeploy, no delays (fused LIF scan with hand-written BPTT);
- neurodeploy, trainable axonal delays (max 62 steps);
- neurodeploy, trainable per-synapse delays (max 62 steps; a causal convolution whose
  length is the largest current delay + 2 taps: measured at the initial delays, uniform in
  [0, 5] steps, so the cost grows as training lengthens delays);
- snnTorch 1.0 ``Synaptic`` neurons (the same CUBA dynamics), same sizes, its usual
  per-step loop over ``nn.Linear`` layers.

Acceptance target: neurodeploy without delays >= 2x snnTorch's samples/s.
GPU figures are added when CUDA is available (``--device cuda``).

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

from neurodeploy.models.network import NetworkConfig, SpikingNetwork

SIZES = (224, 128, 128, 20)
TARGET_RATIO = 2.0


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


def measure(device: str, batch: int, steps: int, repeats: int, seed: int) -> dict[str, float]:
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
    for step in runs.values():  # warm-up
        step()
    for _ in range(repeats):
        for name, step in runs.items():  # interleaved
            times[name].append(step())
    return {name: batch / statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="batch 16, 20 steps, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.repeats = 16, 20, 2
    torch.set_num_threads(args.threads)
    console = Console()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ok = True
    for device in devices:
        rates = measure(device, args.batch, args.steps, args.repeats, args.seed)
        peer = rates["snnTorch Synaptic"]
        table = Table(title=f"training step throughput on {device} "
                      f"({args.threads} threads; batch {args.batch} x {args.steps} steps, "
                      f"{'-'.join(map(str, SIZES))})")
        for col in ("model", "samples/s", "vs snnTorch"):
            table.add_column(col, justify="right")
        for name, rate in rates.items():
            table.add_row(name, f"{rate:,.0f}", f"{rate / peer:.2f}x")
        console.print(table)
        ratio = rates["neurodeploy (no delays)"] / peer
        if device == "cpu":
            ok = ratio >= TARGET_RATIO
            console.print(f"Acceptance target: neurodeploy without delays >= {TARGET_RATIO:g}x "
                          f"snnTorch on the CPU; measured {ratio:.2f}x: "
                          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
