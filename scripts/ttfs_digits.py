"""Train an exact spike-timing (TTFS, Mostafa 2017) network on the 8x8 digits, then run the
dt study: discretize it, deploy it to Loihi 2 fixed point and measure what each time step
costs.

Continuous time (tau_syn units): every pixel spikes once, at t = window * (1 - p / 16)
(default window 2 tau_syn), plus a reference spike at t = 0; a 65 -> 100 -> 10 network of
non-leaky IF neurons with exponential synaptic current is trained with exact gradients
(``neurodeploy.models.exact``). Split: stratified 80/20 (1437 train / 360 test) with
``random_state = seed``. The run is saved to ``<out>/model`` (``model.pt``: state dict for
``torch.load(..., weights_only=True)``; ``config.json``; ``metrics.json``) and the dt study
to ``<out>/dt-study`` (``dt_study.json``, ``dt_study.png``).

Run: ``python scripts/ttfs_digits.py [--seed 0] [--epochs 30] [--out out/ttfs-digits]``
(about 20 s of training and well under a minute of study on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from neurodeploy.models.exact.training import train_ttfs_digits
from neurodeploy.study.dt import render_dt_study, run_dt_study


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--out", default="out/ttfs-digits")
    parser.add_argument("--dts", type=float, nargs="*", default=None,
                        help="time steps in tau_syn units (default 1 0.5 0.2 0.1 0.05 0.02 "
                        "0.01)")
    parser.add_argument("--lava-samples", type=int, default=8)
    parser.add_argument("--no-study", action="store_true", help="only train")
    args = parser.parse_args(argv)
    console = Console()
    out = Path(args.out)
    start = time.perf_counter()
    run = train_ttfs_digits(out=out / "model", seed=args.seed, epochs=args.epochs,
                            hidden=(args.hidden,),
                            log=lambda line: console.print(line, highlight=False))
    m = run.metrics
    console.print(f"continuous time: test accuracy {m['test_accuracy_pct']:.2f}% "
                  f"({m['n_test']} samples), train {m['train_accuracy_pct']:.2f}% "
                  f"({m['n_train']}); trained in {m['train_seconds']:.1f} s; saved {run.path}")
    if not args.no_study:
        result = run_dt_study(run.path, dts=args.dts, out=out / "dt-study",
                              lava_samples=args.lava_samples, console=console)
        render_dt_study(result, console)
    console.print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
