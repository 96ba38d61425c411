"""One configuration of the timing study: train, quantize, evaluate every condition.

A :class:`Job` is what a worker process (or any executor) needs to do one configuration;
:func:`run_configuration` is the worker's entry point. The model is trained with
:func:`~neurodeploy.models.training.train` and deployed with the quantize pipeline
(:func:`~neurodeploy.quantize.pipeline.quantize_trained`: the run's split, PTQ on the
first ``calib`` samples of a seeded permutation of the training split, lint), then the
float and the deployed (reference simulator) model are scored on every condition, and
the deployed network on Lava for the first ``lava_samples`` normal test samples.
Accuracy in %. Time convention: 0-based steps, one step per hop.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from neurodeploy.errors import DatasetError, InputError
from neurodeploy.models.datasets import perturb_timing, remove_rate, reverse_time
from neurodeploy.models.training import TrainConfig, evaluate, train
from neurodeploy.network_io import atomic_write_text, save_network
from neurodeploy.quantize.pipeline import quantize_trained
from neurodeploy.readout import accuracy, readout_logits
from neurodeploy.simulate import simulate
from neurodeploy.study import plan


@dataclass(frozen=True)
class Job:
    """One configuration to do: its name, its run folder, its training configuration
    (TrainConfig.to_json()), the parameters its result.json records, and whether to train
    (False: the trained model in ``run_dir`` is reused, only the evaluation is redone)."""

    name: str
    run_dir: str
    train: dict
    params: dict
    retrain: bool


def clear_run_dir(run_dir: Path) -> None:
    """Delete a run folder (InputError if the path is something else)."""
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise InputError(f"{run_dir} exists and is not a run directory; move it away")
    if run_dir.exists():
        shutil.rmtree(run_dir)


def _rate_removed(test, seed: int):
    """remove_rate on the test split, with the channels it drops put back as silent inputs."""
    removed = remove_rate(test, seed=seed)
    spikes = np.zeros((removed.n_samples, removed.n_steps, test.n_channels), dtype=np.uint8)
    spikes[:, :, removed.params["transforms"][-1]["kept_channels"]] = removed.spikes
    return spikes, removed.labels


def _deployed_logits(net, spikes: np.ndarray, readout: str, hops: int,
                     batch: int = 256) -> np.ndarray:
    """Readout logits of the fixed-point network on the reference simulator."""
    out = net.outputs[0]
    return np.concatenate([
        _readout_logits_of(simulate(net, spikes[i:i + batch].astype(bool), target="reference",
                                    record=("spikes", "v"), populations=[out]),
                           out, readout, hops)
        for i in range(0, len(spikes), batch)])


def study_configuration(job: Job) -> dict:
    """Train (unless reusing), quantize and evaluate one configuration; writes result.json."""
    run_dir = Path(job.run_dir)
    evaluation = job.params["evaluation"]
    if job.retrain:
        clear_run_dir(run_dir)
        log = Console(file=io.StringIO(), width=100)
        train(TrainConfig.from_json(job.train), run_dir, console=log)
        atomic_write_text(run_dir / "train.log", log.file.getvalue())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    quantized = quantize_trained(run_dir, calib=evaluation["calib"],
                                 console=Console(file=io.StringIO()))
    model, net, info, config = quantized.model, quantized.net, quantized.info, quantized.config
    dataset, test_ds = quantized.dataset, quantized.test
    save_network(net, run_dir / "network.npz")
    readout, hops = model.config.readout, len(model.layers)

    data: dict[str, tuple[np.ndarray, np.ndarray] | None] = {
        plan.NORMAL: (test_ds.spikes, test_ds.labels),
        plan.REVERSED: (reverse_time(test_ds).spikes, test_ds.labels),
        **{plan.perturbed_name(f): (perturb_timing(test_ds, f, seed=config.seed).spikes,
                                    test_ds.labels) for f in evaluation["perturb"]},
    }
    notes = {}
    try:
        data[plan.RATE_REMOVED] = _rate_removed(test_ds, config.seed)
    except DatasetError as exc:
        data[plan.RATE_REMOVED] = None
        notes[plan.RATE_REMOVED] = f"n/a: {exc}"
    acc: dict[str, dict[str, float | None]] = {m: {} for m in plan.MODELS}
    samples: dict[str, int | None] = {}
    for name, pair in data.items():
        if pair is None:
            acc["float"][name] = acc["deployed"][name] = samples[name] = None
            continue
        spikes, labels = pair
        acc["float"][name] = 100.0 * evaluate(model, spikes, labels)[1]
        acc["deployed"][name] = 100.0 * accuracy(_deployed_logits(net, spikes, readout, hops),
                                                 labels)
        samples[name] = len(labels)

    lava = None
    n_lava = min(evaluation["lava_samples"], len(test_ds.labels))
    if n_lava > 0:
        x, labels = test_ds.spikes[:n_lava].astype(bool), test_ds.labels[:n_lava]
        ref = simulate(net, x, target="reference", record=("spikes", "v"))
        got = simulate(net, x, target="lava", record=("spikes", "v"))
        out = net.outputs[0]
        identical = all(np.array_equal(ref.spikes[p], got.spikes[p]) for p in net.populations) \
            and np.array_equal(ref.v[out], got.v[out])
        pct = {name: 100.0 * accuracy(_readout_logits_of(tr, out, readout, hops), labels)
               for name, tr in (("reference", ref), ("lava", got))}
        lava = {"samples": n_lava, "reference_pct": pct["reference"], "lava_pct": pct["lava"],
                "identical_output": bool(identical)}

    result = {
        "format": plan.RUN_FORMAT, "version": plan.VERSION, "config": job.name,
        "delays": config.delays, "stochastic": config.stochastic, "seed": config.seed,
        "params": job.params, "n_classes": dataset.n_classes,
        "chance_pct": 100.0 / dataset.n_classes, "readout": readout, "hops": hops,
        "conditions": list(data), "accuracy_pct": acc, "samples": samples, "notes": notes,
        "lava": lava,
        "training": {"test_acc_pct": 100.0 * metrics["test_acc"],
                     "best_epoch": metrics["best_epoch"], "epochs_run": len(metrics["history"])},
        "quantization": {**info.to_json(), "calibration_samples": len(quantized.order)},
    }
    atomic_write_text(run_dir / plan.RESULT, json.dumps(result, indent=2))
    return result


def _readout_logits_of(traces, out: str, readout: str, hops: int) -> np.ndarray:
    """Readout logits of population ``out`` in recorded ``traces``."""
    return readout_logits(traces.spikes[out], traces.v[out], readout, hops=hops)


def run_configuration(job: Job) -> dict:
    """Worker entry point: ``{"result": ...}`` or ``{"error": one line}``; never raises for
    an ordinary failure, so one configuration cannot take the others down."""
    try:
        return {"result": study_configuration(job)}
    except Exception as exc:
        with contextlib.suppress(OSError):
            atomic_write_text(Path(job.run_dir) / "error.txt", traceback.format_exc())
        lines = str(exc).strip().splitlines()
        return {"error": f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__}

