"""Test accuracy of the timing tasks, with and without axonal delays, float and deployed.

Trains, for each configuration and seed, a 128-128 CUBA LIF network (Loihi 2 dynamics,
one step of latency per projection) with the defaults of ``neurodeploy train``, and
prints a table of test accuracy (mean and range over seeds) of the float model and of its
post-training-quantized Loihi 2 integer network (reference simulator, which is bit-exact
with Lava: see tests/test_lava_equivalence.py). The tasks are generated
with 5 ms steps (200-step samples); CCISI uses a long maximum ISI (``--max-isi-ms``,
default 300 ms), where Yu et al. found delays clearly better.

Run: ``python scripts/accuracy_tasks.py [--seeds 0 1 2] [--epochs 40] [--out results.json]``.
Takes about 2 minutes per configuration and seed on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy.models.training import TrainConfig, train
from neurodeploy.quantize.pipeline import quantize_run


def configurations(max_isi_ms: int) -> list[tuple[str, str, dict]]:
    return [
        ("isi", "none", {}),
        ("isi", "axonal", {}),
        ("coincidence", "none", {"difficulty": 0.0}),
        ("coincidence", "axonal", {"difficulty": 0.0}),
        ("ccisi", "axonal", {}),  # the default CCISI task (max ISI 100 ms)
        ("ccisi", "none", {"max_isi_ms": max_isi_ms}),
        ("ccisi", "axonal", {"max_isi_ms": max_isi_ms}),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--max-isi-ms", type=int, default=300)
    parser.add_argument("--only", nargs="*", help="tasks to run (default: all)")
    parser.add_argument("--out", help="JSON file for the results")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per training run (default: torch's)")
    args = parser.parse_args(argv)
    console = Console()
    results = []
    for task, delays, params in configurations(args.max_isi_ms):
        if args.only and task not in args.only:
            continue
        accs, deployed = [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            quiet = Console(file=io.StringIO())
            with tempfile.TemporaryDirectory() as run_dir:
                metrics = train(TrainConfig(task=task, delays=delays, task_params=params,
                                            epochs=args.epochs, seed=seed,
                                            threads=args.threads), run_dir, console=quiet)
                quant = quantize_run(run_dir, f"{run_dir}/quantized", console=quiet)
            accs.append(metrics["test_acc"])
            deployed.append(quant["test_acc_quantized_reference"])
            console.print(f"{task:12s} {delays:7s} seed {seed}: test {metrics['test_acc']:.1%}, "
                          f"fixed point {deployed[-1]:.1%} ({time.perf_counter() - t0:.0f} s)")
        results.append({"task": task, "delays": delays, "params": params, "seeds": args.seeds,
                         "test_acc": accs, "test_acc_fixed_point": deployed})
    table = Table(title="test accuracy (mean, min-max over seeds)")
    for col in ("task", "parameters", "delays", "float model", "Loihi 2 integers (PTQ)"):
        table.add_column(col)

    def cell(values: list[float]) -> str:
        a = np.array(values)
        return f"{a.mean():.1%} ({a.min():.1%}-{a.max():.1%})"

    for r in results:
        table.add_row(r["task"], json.dumps(r["params"]), r["delays"], cell(r["test_acc"]),
                      cell(r["test_acc_fixed_point"]))
    console.print(table)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
