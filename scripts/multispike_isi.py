"""Train a multi-spike exact-timing network on the ISI task, then run the dt study:
discretize it, deploy it to Loihi 2 fixed point and measure what each time step costs.

Continuous time (seconds): the ISI task's input spikes (5 ms steps) at t = step * 5 ms feed a
10 -> 64 layer of CUBA LIF neurons (tau_syn 10 ms, tau_mem 100 ms; each neuron fires as
often as its membrane crosses threshold) read out by 2 non-spiking neurons (mean membrane
over the 1 s sample plus bias). Forward pass event-driven with exact crossing times,
gradients exact by implicit differentiation at the crossings
(``neurodeploy.models.exact.multispike``). Data: ``make_task("isi", n_samples=1000,
seed=seed)`` split 80/10/10; the script also scores the model on 1,000 fresh samples
(``seed + 100``). The run is saved to ``<out>/model`` and the dt study to
``<out>/dt-study`` (``dt_study.json``, ``dt_study.png``).

Run: ``python scripts/multispike_isi.py [--seed 0] [--epochs 10] [--out out/multispike-isi]``
(about 3 minutes of training and 2 of study on an idle 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console

from neurodeploy.models.datasets import make_task
from neurodeploy.models.exact.multispike_training import accuracy, train_multispike
from neurodeploy.network_io import atomic_write_text
from neurodeploy.study.dt import render_dt_study, run_dt_study


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--out", default="out/multispike-isi")
    parser.add_argument("--data", default=None,
                        help="an NPZ data set file to train on instead of the ISI task (no "
                        "fresh-sample score then)")
    parser.add_argument("--fresh", type=int, default=1000,
                        help="fresh samples to score the continuous model on (0: none)")
    parser.add_argument("--dts", type=float, nargs="*", default=None,
                        help="time steps in seconds (default: 1 to 1/50 of the data's 5 ms)")
    parser.add_argument("--lava-samples", type=int, default=8)
    parser.add_argument("--no-study", action="store_true", help="only train")
    args = parser.parse_args(argv)
    console = Console()
    out = Path(args.out)
    start = time.perf_counter()
    run = train_multispike(out=out / "model", seed=args.seed, epochs=args.epochs,
                           hidden=(args.hidden,), data=args.data,
                           log=lambda line: console.print(line, highlight=False))
    m = run.metrics
    console.print(f"continuous time: test accuracy {m['test_accuracy_pct']:.1f}% "
                  f"({m['n_test']} samples), validation {m['val_accuracy_pct']:.1f}% "
                  f"({m['n_val']}); trained in {m['train_seconds']:.0f} s; saved {run.path}")
    if args.fresh and args.data is None:
        fresh = make_task("isi", seed=args.seed + 100, n_samples=args.fresh)
        m["fresh_accuracy_pct"] = accuracy(run.model, fresh.spikes, fresh.labels, fresh.dt)
        m["n_fresh"] = args.fresh
        atomic_write_text(out / "model" / "metrics.json", json.dumps(m, indent=2))
        console.print(f"{args.fresh} fresh samples (seed {args.seed + 100}): "
                      f"{m['fresh_accuracy_pct']:.1f}%")
    if not args.no_study:
        result = run_dt_study(run.path, dts=args.dts, out=out / "dt-study",
                              lava_samples=args.lava_samples, console=console)
        render_dt_study(result, console)
    console.print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
