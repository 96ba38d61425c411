"""``neurodeploy quantize RUN_DIR|GRAPH.nir --out QUANT_DIR``: PTQ of a training run (or
of a float NIR graph with a data file), evaluated.

QUANT_DIR (written whole or not at all: built in a temporary folder, then renamed) holds

- ``network.npz``: the :class:`FixedPointNetwork` (``neurodeploy.load_network``);
- ``quantization.json``: scales, weight exponents, what was clipped, spike agreement with
  the float model per population, test accuracy of the float model and of the integer
  network (reference simulator), the readout, and where the data came from;
- ``run.json``: the training run's configuration, and ``model.pt`` its float weights
  (the float model that ``neurodeploy verify`` compares with);
- ``report.png``: weight SMAPE per projection and spike F1 per population.

``quantization.json["report"]`` is the quantization report (``neurodeploy.quantize.quality``)
on the run's test split.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from neurodeploy.chip import LOIHI2, ChipFormat
from neurodeploy.errors import InputError, SimulationError
from neurodeploy.exchange.nir_export import float_network_to_nir, write_nir
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.float_network import FloatNetwork
from neurodeploy.models.datasets import SpikeDataset, load_dataset, split
from neurodeploy.models.network import SpikingNetwork
from neurodeploy.models.training import (
    CHECKPOINT,
    TrainConfig,
    evaluate,
    load_dataset_for,
    load_run,
    stored_run,
)
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import atomic_directory, check_output_folder, save_network
from neurodeploy.quantize.lint import LintReport, lint_network
from neurodeploy.quantize.ptq import (
    QuantizationInfo,
    check_weight_exp,
    check_weight_split,
    float_layers,
    float_traces,
    layers_from_network,
    post_training_quantize,
)
from neurodeploy.quantize.qat import QATNetwork, evaluate_qat, qat_finetune
from neurodeploy.quantize.quality import population_report, projection_report
from neurodeploy.quantize.render_report import plot_report
from neurodeploy.readout import accuracy, readout_logits
from neurodeploy.simulate import simulate
from neurodeploy.targets.torch_float import simulate_torch_float

#: The file that makes a folder a quantize output (an earlier one may be replaced).
QUANT_MARKER = "quantization.json"


@dataclass
class QuantizedRun:
    """A training run's model quantized (PTQ, optionally QAT), linted clean, not yet
    evaluated or written: what :func:`quantize_trained` returns.

    ``order``: the calibration samples (indices into ``train``'s samples, the first
    ``calib`` of a permutation seeded by the run's seed).
    """

    model: SpikingNetwork
    run: dict
    config: TrainConfig
    dataset: SpikeDataset
    train: SpikeDataset
    val: SpikeDataset
    test: SpikeDataset
    net: FixedPointNetwork
    info: QuantizationInfo
    order: np.ndarray
    lint: LintReport
    qat: dict | None = None


def quantize_trained(run_dir: str | os.PathLike[str], calib: int = 256,
                     fmt: ChipFormat = LOIHI2, qat_epochs: int = 0, qat_lr: float = 0.5,
                     console: Console | None = None, weight_split: str = "auto",
                     weight_exp: int | None = None) -> QuantizedRun:
    """Load a training run and its data split, calibrate and quantize its model (PTQ on
    ``calib`` samples of the training split; with ``qat_epochs`` > 0 then QAT), and lint
    the integers (a network that fails lint is an error, never returned).
    ``weight_split``: "auto", "off" or "on"; ``weight_exp``: every projection's, or None
    (``neurodeploy.quantize.ptq``)."""
    _check_options(weight_split, calib, qat_epochs, weight_exp)
    console = console or Console()
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
        net, info = post_training_quantize(model, train_ds.spikes[order], fmt,
                                           weight_split=weight_split, weight_exp=weight_exp)
    qat = None
    if qat_epochs > 0:
        net, qat = _qat(net, model.config.readout, info.scales, (train_ds.spikes, train_ds.labels),
                        (val_ds.spikes, val_ds.labels), qat_epochs, qat_lr, config.seed, console)
    return QuantizedRun(model, run, config, dataset, train_ds, val_ds, test_ds, net, info,
                        order, _linted(net, fmt), qat)


def _check_options(weight_split: str, calib: int, qat_epochs: int,
                   weight_exp: int | None = None) -> None:
    check_weight_split(weight_split)
    check_weight_exp(weight_exp, weight_split)
    if qat_epochs < 0:
        raise InputError(f"qat_epochs = {qat_epochs} must be >= 0")
    if calib < 1:
        raise InputError(f"calib = {calib}: at least one calibration sample is needed")


def _qat(net: FixedPointNetwork, readout: str, scales: dict[str, float],
         train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], epochs: int,
         lr: float, seed: int, console: Console,
         test: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[FixedPointNetwork, dict]:
    """QAT of ``net`` on ``train`` (spikes, labels), validated on ``val``: the fine-tuned
    network and its summary (with ``test``, also the test accuracy before QAT)."""
    with console.status(f"quantization-aware training, {epochs} epochs..."):
        qnet = QATNetwork(net, readout, scales)
        before = {} if test is None else {"test_acc_before": evaluate_qat(qnet, *test)[1]}
        result = qat_finetune(qnet, *train, *val, epochs=epochs, lr=lr, seed=seed)
        net = qnet.to_fixed_point()
    return net, {"epochs": epochs, "lr": lr, "best_epoch": result["best_epoch"],
                 "val_acc_before": result["initial_val_acc"],
                 "val_acc_after": result["best_val_acc"], **before}


def _linted(net: FixedPointNetwork, fmt: ChipFormat) -> LintReport:
    report = lint_network(net, fmt)
    if not report.ok:  # PTQ's bounds make this impossible: never write such a network
        raise SimulationError(f"quantization produced a network that fails lint: "
                              f"{report.violations[0].message}")
    return report


def quantize_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 calib: int = 256, fmt: ChipFormat = LOIHI2, qat_epochs: int = 0,
                 qat_lr: float = 0.5, console: Console | None = None,
                 overwrite: bool = False, weight_split: str = "auto",
                 weight_exp: int | None = None) -> dict:
    """Quantize the model of a training run and evaluate it on the run's test split.

    PTQ first; with ``qat_epochs`` > 0 the integer network is then fine-tuned with
    quantization-aware training (``neurodeploy.quantize.qat``: the forward pass is the
    deployed integer arithmetic) on the run's training split, validated on its validation
    split (the PTQ network competes too, so QAT never makes validation worse).
    ``out_dir`` must be absent, empty or an earlier quantize output unless ``overwrite``.
    ``weight_split``: "auto", "off" or "on"; ``weight_exp``: every projection's, or None
    (``neurodeploy.quantize.ptq``).
    """
    _check_options(weight_split, calib, qat_epochs, weight_exp)
    check_output_folder(out_dir, QUANT_MARKER, overwrite)  # before the work, not after
    console = console or Console()
    q = quantize_trained(run_dir, calib, fmt, qat_epochs, qat_lr, console, weight_split,
                         weight_exp)
    model, net, test_ds = q.model, q.net, q.test
    with console.status("evaluating float and fixed-point models on the test split..."):
        _, float_acc = evaluate(model, test_ds.spikes, test_ds.labels)
        layers = float_layers(model)
        float_spikes = {layer.name: rec["spikes"] for layer, rec in
                        zip(layers, float_traces(model, test_ds.spikes), strict=True)}
        report = evaluate_quantized(net, layers, q.info, test_ds.spikes, test_ds.labels,
                                    float_spikes, float_acc, model.config.readout)
    result = {
        **q.info.to_json(), "report": report, "lint": q.lint.to_dict(), "format": fmt.name,
        "readout": model.config.readout, "output": net.outputs[0],
        "hops": len(model.layers), "calibration_samples": len(q.order), "qat": q.qat,
        "test_samples": len(test_ds.labels), "test_acc_float": float_acc,
        "test_acc_quantized_reference": report["accuracy_fixed_point"],
        "source_run": os.path.relpath(run_dir, out_dir),
    }

    def extra(tmp: Path) -> None:
        (tmp / "run.json").write_text(json.dumps(stored_run(q.run, out_dir), indent=2))
        shutil.copyfile(Path(run_dir) / CHECKPOINT, tmp / CHECKPOINT)  # the float model

    write_quant_dir(out_dir, net, result, extra, overwrite)
    return result


def evaluate_quantized(net: FixedPointNetwork, layers: list, info, spikes: np.ndarray,
                       labels: np.ndarray | None, float_spikes: dict[str, np.ndarray],
                       float_acc: float | None, readout: str) -> dict:
    """The quantization report on evaluation data: per projection and population, and the
    task accuracy of the integer network (reference simulator) beside the float one."""
    out_pop = net.outputs[0]
    traces = simulate(net, spikes.astype(bool), target="reference", record=("spikes", "v", "u"),
                      populations=[layer.name for layer in layers])  # not the bias unit
    quant_acc = None if labels is None else accuracy(readout_logits(
        traces.spikes[out_pop], traces.v[out_pop], readout, hops=len(layers)), labels)
    return {
        "projections": projection_report(net, layers, info),
        "populations": population_report(traces, float_spikes,
                                         {layer.name: layer.spiking for layer in layers}),
        "accuracy_float": float_acc, "accuracy_fixed_point": quant_acc,
    }


def write_quant_dir(out_dir: str | os.PathLike[str], net: FixedPointNetwork, result: dict,
                    extra: Callable[[Path], None], overwrite: bool = False) -> None:
    """network.npz, quantization.json, report.png (when ``result`` has a ``"report"``) and
    ``extra``'s files, written into a temporary folder that replaces ``out_dir`` only when
    complete (and only an earlier quantize output, unless ``overwrite``)."""
    with atomic_directory(out_dir, QUANT_MARKER, overwrite) as tmp:
        save_network(net, tmp / "network.npz")
        (tmp / QUANT_MARKER).write_text(json.dumps(result, indent=2))
        extra(tmp)
        if "report" in result:
            plot_report(result["report"], str(tmp / "report.png"))


def quantize_graph(graph: str | os.PathLike[str], data: str | os.PathLike[str],
                   out_dir: str | os.PathLike[str], calib: int = 256, dt: float | None = None,
                   reset: str | None = None, readout: str = "count",
                   fmt: ChipFormat = LOIHI2, console: Console | None = None,
                   overwrite: bool = False, qat_epochs: int = 0, qat_lr: float = 0.5,
                   weight_split: str = "auto", weight_exp: int | None = None) -> dict:
    """PTQ of a float NIR graph (any tool's; see ``neurodeploy import``) with calibration
    samples from a data file; the remaining samples evaluate it.

    With ``qat_epochs`` > 0 the integer network is then trained on Loihi 2's own dynamics
    and integers (QAT from the graph's quantized weights, the readout's cross-entropy):
    on the calibration samples (the last fifth of them validates; the PTQ network competes
    too), and evaluated before and after on the remaining samples.

    Writes QUANT_DIR like :func:`quantize_run`, with ``source.nir`` (the float graph with
    its dt and reset declared) instead of the training run. ``weight_split``: "auto",
    "off" or "on"; ``weight_exp``: every projection's, or None (``neurodeploy.quantize.ptq``).
    """
    _check_options(weight_split, calib, qat_epochs, weight_exp)
    check_output_folder(out_dir, QUANT_MARKER, overwrite)
    console = console or Console()
    imported = import_nir(graph, dt=dt, reset=reset)
    fnet = imported.network
    if not isinstance(fnet, FloatNetwork):
        raise InputError(f"{graph}: already a fixed-point graph; nothing to quantize")
    for warning in imported.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    ds = load_dataset(data)
    if ds.n_channels != fnet.n_inputs:
        raise InputError(f"{data}: {ds.n_channels} channels; the graph takes {fnet.n_inputs}")
    if not math.isclose(ds.dt, imported.dt, rel_tol=1e-9):
        warning = (f"{Path(data).name}: the data's dt = {ds.dt:g} s differs from the graph's dt = "
                   f"{imported.dt:g} s ({imported.dt_source}): the graph's time constants are "
                   f"discretized at {imported.dt:g} s, the data's steps are {ds.dt:g} s")
        imported.warnings.append(warning)
        console.print(f"[yellow]warning:[/yellow] {warning}")
    order = np.random.default_rng(0).permutation(len(ds.labels))
    calib_idx = order[:calib]
    eval_idx = order[calib:] if len(order) > calib else calib_idx  # no sample left: the same
    with console.status(f"post-training quantization on {len(calib_idx)} samples..."):
        net, info = post_training_quantize(fnet, ds.spikes[calib_idx], fmt,
                                           weight_split=weight_split, weight_exp=weight_exp)
    x, labels = ds.spikes[eval_idx], ds.labels[eval_idx]
    qat = None
    if qat_epochs > 0:
        n_val = max(1, len(calib_idx) // 5) if len(calib_idx) > 1 else 0
        train_idx, val_idx = calib_idx[: len(calib_idx) - n_val], calib_idx[-n_val:]
        net, qat = _qat(net, readout, info.scales, (ds.spikes[train_idx], ds.labels[train_idx]),
                        (ds.spikes[val_idx], ds.labels[val_idx]), qat_epochs, qat_lr, 0,
                        console, test=(x, labels))
    lint_report = _linted(net, fmt)
    layers = layers_from_network(fnet)
    with console.status(f"evaluating on {len(eval_idx)} samples..."):
        ftr = simulate_torch_float(fnet, x, record=("spikes", "v"))
        out = layers[-1].name
        float_acc = accuracy(readout_logits(ftr.spikes[out], ftr.v[out], readout,
                                            hops=len(layers)), labels)
        report = evaluate_quantized(net, layers, info, x, labels, ftr.spikes, float_acc, readout)
    result = {
        **info.to_json(), "report": report, "lint": lint_report.to_dict(), "format": fmt.name,
        "readout": readout, "output": net.outputs[0], "hops": len(layers),
        "calibration_samples": len(calib_idx), "test_samples": len(eval_idx),
        "test_acc_float": float_acc,
        "test_acc_quantized_reference": report["accuracy_fixed_point"],
        "source_graph": Path(graph).name, "dt": imported.dt,
        "dt_source": imported.dt_source, "warnings": imported.warnings, "qat": qat,
    }

    def extra(tmp: Path) -> None:
        write_nir(float_network_to_nir(fnet, imported.dt), tmp / "source.nir")

    write_quant_dir(out_dir, net, result, extra, overwrite)
    return result
