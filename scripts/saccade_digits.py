"""A convolutional SNN on ``saccade_digits``: float accuracy and its Loihi 2 deployment.

Trains a convolutional CUBA LIF network (Loihi 2 dynamics, one step of latency per
projection; sum pooling folded into the next projection) on the offline vision task
``saccade_digits`` (scikit-learn's 8x8 digits moved along three saccades in front of a DVS
pixel model: 2 polarities x 34 x 34, 30 steps of 10 ms), then quantizes it to Loihi 2
integers (PTQ, optionally QAT) and evaluates it on the test split with the reference
simulator (bit-exact with Lava: tests/test_lava_equivalence.py, tests/test_conv.py).

Default architecture: the NIR paper's N-MNIST CNN (Conv 2->16 5x5 stride 2 padding 1,
Conv 16->16 3x3 padding 1, sum pool 2, Conv 16->8 3x3 padding 1, sum pool 2, dense 128 ->
256 -> 10), with a non-spiking mean-v readout.

Run: ``python scripts/saccade_digits.py [--conv 16c5s2p1,16c3p1,pool2,8c3p1,pool2]
[--hidden 256] [--epochs 20] [--qat-epochs 0] [--lava-samples 20] [--out results.json]``.

The deployed network then runs on the whole test split on the reference and torch-int
(bit-exact, their spikes compared) and on a subset on Lava's Loihi 2 simulator
(``--lava-samples``; spikes compared with the reference's, gate ``reference==lava``). It
prints the accuracies, the deployment cost (neurons, synapses and cores estimated by
``neurodeploy lint``) and the run times, as the README's figure ``saccade-digits`` shows.

The default (the N-MNIST CNN, 8,970 neurons) costs about 0.8 s per training sample and
epoch on 2 cores, so use a GPU (``--device cuda``) for it; the README runs a smaller one.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from neurodeploy.models.training import TrainConfig, train
from neurodeploy.network_io import atomic_write_text
from neurodeploy.quantize.pipeline import quantize_run
from neurodeploy.terminal_table import print_table
from neurodeploy.verify.formatting import pct
from neurodeploy.verify.pipeline import verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conv", default="16c5s2p1,16c3p1,pool2,8c3p1,pool2")
    parser.add_argument("--hidden", default="256", help="dense hidden sizes, comma-separated")
    parser.add_argument("--samples", type=int, default=1797)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--qat-epochs", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (training)")
    parser.add_argument("--keep", help="directory for the run and quantize outputs")
    parser.add_argument("--lava-samples", type=int, default=20,
                        help="test samples also run on Lava (0: none)")
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args(argv)
    console = Console()
    config = TrainConfig(
        task="saccade_digits", task_params={"n_samples": args.samples}, conv=args.conv,
        hidden=tuple(int(h) for h in args.hidden.split(",") if h.strip()), delays="none",
        readout="mean_v", epochs=args.epochs, int_delay_epochs=0, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, threads=args.threads, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        t0 = time.perf_counter()
        metrics = train(config, root / "run", console=console)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        quiet = Console(file=io.StringIO())
        q = quantize_run(root / "run", root / "q", qat_epochs=args.qat_epochs, console=quiet)
        quant_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = verify(str(root / "q"), ["reference", "torch-int"], split="test",
                      gates=["reference==torch-int"], console=quiet)
        lava = (verify(str(root / "q"), ["reference", "lava"], split="test",
                       samples=args.lava_samples, gates=["reference==lava"], console=quiet)
                if args.lava_samples else None)
        verify_s = time.perf_counter() - t0
    cost = q["lint"]["estimates"]
    result = {
        "conv": args.conv, "hidden": config.hidden, "samples": args.samples,
        "epochs": args.epochs, "qat_epochs": args.qat_epochs, "seed": args.seed,
        "n_test": metrics["n_test"], "test_acc_float": metrics["test_acc"],
        "test_acc_float_quantize": q["test_acc_float"],
        "test_acc_reference": q["test_acc_quantized_reference"],
        "lint_violations": len(q["lint"]["violations"]),
        "neurons": cost["neurons"], "synapses": cost["synapses"], "cores": cost["cores"],
        "reference_identical_torch_int": full.passed,
        "lava_samples": args.lava_samples,
        "lava_identical_reference": None if lava is None else lava.passed,
        "train_s": round(train_s, 1), "quantize_s": round(quant_s, 1),
        "verify_s": round(verify_s, 1),
    }
    table = Table(title="Convolutional SNN on saccade_digits, float and deployed")
    for column in ("model", "samples", "test accuracy", "spikes", "s per sample"):
        table.add_column(column, justify="left" if column in ("model", "spikes") else "right")
    table.add_row("float (training)", str(metrics["n_test"]), pct(metrics["test_acc"]), "-", "-")
    for run, name, other in ((full, "reference", None), (full, "torch-int", "reference"),
                             (lava, "lava", "reference")):
        if run is None:
            continue
        backend = run.summary["backends"][name]
        same = "-" if other is None else ("identical to " + other if run.passed
                                          else "DIFFERENT from " + other)
        table.add_row(f"Loihi 2 integers, {name}", str(run.summary["samples"]),
                      pct(backend["accuracy"]), same,
                      f"{backend['seconds'] / run.summary['samples']:.3f}")
    print_table(console, table)
    cost_table = Table(title="Deployment cost (neurodeploy lint estimates)")
    for column in ("neurons", "synapses", "Loihi 2 cores", "lint violations"):
        cost_table.add_column(column, justify="right")
    cost_table.add_row(f"{cost['neurons']:,}", f"{cost['synapses']:,}", str(cost["cores"]),
                       str(result["lint_violations"]))
    print_table(console, cost_table)
    change = round(100 * (q["test_acc_quantized_reference"] - metrics["test_acc"]), 1) + 0.0
    console.print(f"deployed minus float: {change:+.1f} points "
                  f"({'within' if change >= -1.0 else 'NOT within'} 1 point)")
    console.print(f"training took {train_s:.0f} s; quantization took {quant_s:.0f} s; "
                  f"verification took {verify_s:.0f} s")
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2))
    ok = full.passed and (lava is None or lava.passed)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
