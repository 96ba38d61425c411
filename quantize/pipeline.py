"""``neurodeploy quantize RUN_DIR --out QUANT_DIR``: PTQ of a training run, evaluated.

QUANT_DIR (written whole or not at all: built in a temporary folder, then renamed) holds

- ``network.npz``: the :class:`FixedPointNetwork` (``neurodeploy.load_network``);
- ``quantization.json``: scales, weight exponents, what was clipped, spike agreement with
  the float model per population, test accuracy of the float model and of the integer
  network (reference simulator), the readout, and where the data came from;
- ``run.json``: the training run's configuration (to rebuild the float model);
- ``report.png``: weight SMAPE per projection and spike F1 per population.

``quantization.json["report"]`` is the quantization report (``neurodeploy.quantize.report``)
on the run's test split.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console

from neurodeploy.errors import InputError, SimulationError
from neurodeploy.network_io import save_network
from neurodeploy.quantize.format import LOIHI2, ChipFormat
from neurodeploy.quantize.lint import lint_network
from neurodeploy.quantize.ptq import float_layers, float_traces, post_training_quantize
from neurodeploy.quantize.report import plot_report, population_report, projection_report
from neurodeploy.readout import accuracy, readout_logits
from neurodeploy.simulate import simulate


def replace_dir(tmp: Path, out: Path) -> None:
    """Move a finished folder ``tmp`` to ``out``, replacing an old ``out`` only at the end."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def quantize_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 calib: int = 256, fmt: ChipFormat = LOIHI2, qat_epochs: int = 0,
                 qat_lr: float = 0.5, console: Console | None = None) -> dict:
    """Quantize the model of a training run and evaluate it on the run's test split.

    PTQ first; with ``qat_epochs`` > 0 the integer network is then fine-tuned with
    quantization-aware training (``neurodeploy.quantize.qat``: the forward pass is the
    deployed integer arithmetic) on the run's training split, validated on its validation
    split (the PTQ network competes too, so QAT never makes validation worse).
    """
    from neurodeploy.models.datasets import split
    from neurodeploy.models.training import TrainConfig, evaluate, load_dataset_for, load_run

    console = console or Console()
    if qat_epochs < 0:
        raise InputError(f"qat_epochs = {qat_epochs} must be >= 0")
    if calib < 1:
        raise InputError(f"calib = {calib}: at least one calibration sample is needed")
    model, run = load_run(run_dir)
    config = TrainConfig.from_json(run["train"])
    with console.status("loading the run's data..."):
        dataset = load_dataset_for(config)
        train_ds, val_ds, test_ds = split(dataset, config.splits, seed=config.seed)
    if dataset.n_channels != model.config.n_inputs:
        raise InputError(f"data has {dataset.n_channels} channels; the model expects "
                         f"{model.config.n_inputs}")
    order = np.random.default_rng(config.seed).permutation(len(train_ds.labels))[:calib]
    with console.status(f"post-training quantization on {len(order)} calibration samples..."):
        net, info = post_training_quantize(model, train_ds.spikes[order], fmt)
    qat_result = None
    if qat_epochs > 0:
        from neurodeploy.quantize.qat import QATNetwork, qat_finetune

        with console.status(f"quantization-aware training, {qat_epochs} epochs..."):
            qnet = QATNetwork(net, model.config.readout, info.scales)
            qat_result = qat_finetune(qnet, train_ds.spikes, train_ds.labels, val_ds.spikes,
                                      val_ds.labels, epochs=qat_epochs, lr=qat_lr,
                                      seed=config.seed)
            net = qnet.to_fixed_point()
    lint_report = lint_network(net, fmt)
    if not lint_report.ok:  # PTQ's bounds make this impossible: never write such a network
        raise SimulationError(f"quantization produced a network that fails lint: "
                              f"{lint_report.violations[0].message}")
    with console.status("evaluating float and fixed-point models on the test split..."):
        _, float_acc = evaluate(model, test_ds.spikes, test_ds.labels)
        readout = model.config.readout
        out_pop = net.outputs[0]
        traces = simulate(net, test_ds.spikes.astype(bool), target="reference",
                          record=("spikes", "v", "u"))
        logits = readout_logits(traces.spikes[out_pop], traces.v[out_pop], readout,
                                hops=len(model.layers))
        quant_acc = accuracy(logits, test_ds.labels)
        layers = float_layers(model)
        float_spikes = {layer.name: rec["spikes"] for layer, rec in
                        zip(layers, float_traces(model, test_ds.spikes), strict=True)}
        report = {
            "projections": projection_report(net, layers, info),
            "populations": population_report(traces, float_spikes,
                                             {layer.name: layer.spiking for layer in layers}),
            "accuracy_float": float_acc, "accuracy_fixed_point": quant_acc,
        }
    result = {
        **info.to_json(), "report": report, "lint": lint_report.to_dict(), "format": fmt.name,
        "readout": readout,
        "output": out_pop,
        "hops": len(model.layers), "calibration_samples": len(order),
        "qat": None if qat_result is None else {
            "epochs": qat_epochs, "lr": qat_lr, "best_epoch": qat_result["best_epoch"],
            "val_acc_before": qat_result["initial_val_acc"],
            "val_acc_after": qat_result["best_val_acc"]},
        "test_samples": len(test_ds.labels), "test_acc_float": float_acc,
        "test_acc_quantized_reference": quant_acc, "source_run": str(Path(run_dir).resolve()),
    }
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_network(net, tmp / "network.npz")
        (tmp / "quantization.json").write_text(json.dumps(result, indent=2))
        (tmp / "run.json").write_text(json.dumps(run, indent=2))
        plot_report(report, str(tmp / "report.png"))
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
