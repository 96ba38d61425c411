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
[--hidden 256] [--epochs 20] [--qat-epochs 0] [--out results.json]``.

Measured on a shared 2-core CPU (seed 0, mean-v readout, PTQ only, 10% test split):
``--conv 8c5s2p1,pool2,16c3p1,pool2 --hidden 64 --epochs 8 --lr 3e-3`` (2,048 + 1,024 +
64 + 10 neurons, all 1,797 digits) trains in 8.5 minutes to 98.3% float test accuracy and
deploys at 98.3% on the reference (180 test samples; quantization 66 s). With 1,000
samples and 6 epochs: 94% float, 94% reference (100 test samples). The default (the
N-MNIST CNN, 8,970 neurons) costs about 0.8 s per training sample and epoch there, so use
a GPU (``--device cuda``) for it.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

from neurodeploy.models.training import TrainConfig, train
from neurodeploy.network_io import atomic_write_text
from neurodeploy.quantize.pipeline import quantize_run


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
        q = quantize_run(root / "run", root / "q", qat_epochs=args.qat_epochs,
                         console=Console(file=io.StringIO()))
        quant_s = time.perf_counter() - t0
    result = {
        "conv": args.conv, "hidden": config.hidden, "samples": args.samples,
        "epochs": args.epochs, "qat_epochs": args.qat_epochs, "seed": args.seed,
        "n_test": metrics["n_test"], "test_acc_float": metrics["test_acc"],
        "test_acc_float_quantize": q["test_acc_float"],
        "test_acc_reference": q["test_acc_quantized_reference"],
        "train_s": round(train_s, 1), "quantize_s": round(quant_s, 1),
    }
    console.print_json(json.dumps(result))
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
