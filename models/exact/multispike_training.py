"""Training a :class:`MultiSpikeNetwork` with exact spike-time gradients, saving and loading it.

Data: a spike task (default the ISI task of ``neurodeploy.models.datasets`` with 1,000
samples of 200 steps of 5 ms: ``MultiSpikeTrainOptions.task_params``; the task's own
default is 4,000) or a data set file (``MultiSpikeTrainOptions.data``), split 80/10/10
stratified with the
run's seed, as ``neurodeploy train`` does. Input spikes become continuous times ``step *
dt`` (seconds): the continuous model sees exactly the events the discrete one will.

Loss: cross-entropy on the readout logits (mean membrane of the non-spiking readout over
the sample, plus bias; :func:`~neurodeploy.models.exact.multispike.readout_logits`).
Gradients are the exact spike-time gradients (implicit differentiation at every threshold
crossing), not surrogates. Adam with a cosine learning-rate schedule, gradient norm
clipped; the state with the best validation accuracy is kept (ties: the later epoch) and
scored once on the test split. One thread by default (see
:mod:`neurodeploy.models.exact.training`).

A run directory holds ``model.pt`` (weights only), ``config.json`` (the
:class:`MultiSpikeConfig`, the training options, format and version) and ``metrics.json``.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from neurodeploy.models.datasets import load_dataset, make_task, split
from neurodeploy.models.exact.multispike import (
    MultiSpikeConfig,
    MultiSpikeNetwork,
    spikes_to_events,
)
from neurodeploy.models.exact.training import (
    check_train_options,
    clipped_step,
    load_timing_run,
    save_timing_run,
    torch_threads,
)

RUN_FORMAT = "neurodeploy.multispike_run"
#: Train, validation and test fractions (stratified, seeded).
SPLITS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class MultiSpikeTrainOptions:
    """Hyper-parameters of :func:`train_multispike` (saved in ``config.json``).

    ``tau_syn``, ``tau_mem`` in seconds; ``task`` and ``task_params`` as for
    ``neurodeploy.models.datasets.make_task`` (the task is generated with ``seed``; 1,000
    ISI samples are plenty here); ``data``: a data set file (``neurodeploy data make``,
    SHD binned by ``load_shd``...) to train on instead, its time step taken as given.
    ``init_fan_in``: inputs per hidden neuron that start nonzero (None: all), with weights
    ~ N(``init_mean``, ``init_std``) theta: one channel per neuron with a PSP of 0.7 theta
    makes every neuron an ISI detector from the start (a pair of spikes closer than ~95 ms
    at tau_syn = 10 ms, tau_mem = 100 ms crosses threshold; training then tunes each
    neuron's cut-off), so every neuron fires and has exact gradients; dense N(0.3, 0.3)
    starts reached 86% after 10 epochs, sparse ones 97% after 2.
    """

    seed: int = 0
    task: str = "isi"
    task_params: dict = field(default_factory=lambda: {"n_samples": 1000})
    data: str | None = None  # an NPZ data set file instead of the task
    hidden: tuple[int, ...] = (64,)
    tau_syn: float = 0.01
    tau_mem: float = 0.1
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-2
    init_mean: float = 0.7
    init_std: float = 0.15
    init_fan_in: int | None = 1
    clip_norm: float = 10.0
    threads: int = 1

    def __post_init__(self) -> None:
        check_train_options(self, ("lr", "clip_norm"))

    def to_json(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


@dataclass
class MultiSpikeRun:
    """A trained model, its metrics and where it was saved (None when not saved)."""

    model: MultiSpikeNetwork
    metrics: dict
    path: Path | None


def data_description(options: MultiSpikeTrainOptions) -> dict:
    """What the model trains on, as stored in ``MultiSpikeConfig.data`` (which adds the
    data's dt in seconds): the data file (an absolute path here; a saved run stores it
    relative to its directory) or the task and its parameters, and the seed and fractions
    of the split."""
    where = ({"file": str(Path(options.data).resolve())} if options.data is not None
             else {"task": options.task, "params": dict(options.task_params)})
    return {**where, "seed": options.seed, "splits": list(SPLITS)}


def load_splits(data: dict):
    """(train, val, test) :class:`SpikeDataset` of a stored data description: the NPZ file
    (``neurodeploy data make`` or any SpikeDataset file) or the generated task, split
    80/10/10 stratified with the stored seed."""
    ds = load_dataset(data["file"]) if data.get("file") is not None else make_task(
        data["task"], seed=data["seed"], **(data.get("params") or {}))
    return split(ds, SPLITS, seed=data["seed"])


def predict(model: MultiSpikeNetwork, spikes: np.ndarray, dt: float,
            batch_size: int = 128) -> np.ndarray:
    """Classes (argmax of the logits) of the continuous model for a spike array."""
    out = []
    with torch.no_grad():
        for i in range(0, len(spikes), batch_size):
            out.append(model(*spikes_to_events(spikes[i:i + batch_size], dt)).argmax(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy(model: MultiSpikeNetwork, spikes: np.ndarray, labels: np.ndarray, dt: float) -> float:
    """Accuracy in % of the continuous model."""
    return 100.0 * float((predict(model, spikes, dt) == np.asarray(labels)).mean())


def train_multispike(options: MultiSpikeTrainOptions | None = None,
                     out: str | os.PathLike[str] | None = None, log=None,
                     **overrides) -> MultiSpikeRun:
    """Train a multi-spike exact-timing network on ``options.task`` and, when ``out`` is
    given, save the run there. ``overrides`` replace fields of ``options``; ``log`` is called
    with one line per epoch."""
    options = MultiSpikeTrainOptions(**{**asdict(options or MultiSpikeTrainOptions()), **overrides})
    data = data_description(options)
    train, val, test = load_splits(data)
    config = MultiSpikeConfig(
        n_inputs=train.n_channels, hidden=options.hidden, n_outputs=train.n_classes,
        tau_syn=options.tau_syn, tau_mem=options.tau_mem, duration=train.duration_s,
        data={**data, "dt": train.dt})
    with torch_threads(options.threads):
        model, history, seconds = _fit(config, options, train, val, log)
        metrics = {
            "history": history, "train_seconds": seconds,
            "val_accuracy_pct": accuracy(model, val.spikes, val.labels, val.dt),
            "test_accuracy_pct": accuracy(model, test.spikes, test.labels, test.dt),
            "n_train": train.n_samples, "n_val": val.n_samples, "n_test": test.n_samples,
        }
    path = None if out is None else save_multispike(model, out, options, metrics)
    return MultiSpikeRun(model, metrics, path)


def _fit(config: MultiSpikeConfig, options: MultiSpikeTrainOptions, train, val, log):
    torch.manual_seed(options.seed)
    gen = torch.Generator().manual_seed(options.seed)
    model = MultiSpikeNetwork(config)
    model.init_weights(gen, options.init_mean, options.init_std, options.init_fan_in)
    y = torch.as_tensor(train.labels)
    opt = torch.optim.Adam(model.parameters(), lr=options.lr)
    n_batches = math.ceil(train.n_samples / options.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, options.epochs * n_batches)
    history, best, best_acc = [], None, -1.0
    start = time.perf_counter()
    for epoch in range(options.epochs):
        model.train()
        order = torch.randperm(train.n_samples, generator=gen).numpy()
        total, correct = 0.0, 0
        for i in range(0, train.n_samples, options.batch_size):
            batch = np.sort(order[i:i + options.batch_size])
            logits = model(*spikes_to_events(train.spikes[batch], train.dt))
            loss = torch.nn.functional.cross_entropy(logits, y[batch])
            clipped_step(loss, model, opt, schedule, options.clip_norm)
            total += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == y[batch]).sum())
        model.eval()
        val_acc = accuracy(model, val.spikes, val.labels, val.dt)
        history.append({"epoch": epoch, "loss": total / train.n_samples,
                        "train_accuracy_pct": 100.0 * correct / train.n_samples,
                        "val_accuracy_pct": val_acc})
        if val_acc >= best_acc:
            best_acc, best = val_acc, copy.deepcopy(model.state_dict())
        if log is not None:
            log(f"epoch {epoch + 1}/{options.epochs}: loss {total / train.n_samples:.4f}, "
                f"train {100.0 * correct / train.n_samples:.1f}% (during the epoch), "
                f"val {val_acc:.1f}%")
    model.load_state_dict(best)
    model.eval()
    return model, history, time.perf_counter() - start


def save_multispike(model: MultiSpikeNetwork, out: str | os.PathLike[str],
                    options: MultiSpikeTrainOptions | None = None,
                    metrics: dict | None = None) -> Path:
    """Write ``model.pt``, ``config.json`` (and ``metrics.json``) into ``out``, atomically."""
    return save_timing_run(model, out, RUN_FORMAT, model.config.to_json(),
                           None if options is None else options.to_json(), metrics)


def load_multispike(path: str | os.PathLike[str]) -> tuple[MultiSpikeNetwork, dict]:
    """Rebuild a saved multi-spike model (eval mode) and its run description."""
    return load_timing_run(path, RUN_FORMAT, "multi-spike run",
                           lambda network: MultiSpikeNetwork(MultiSpikeConfig.from_json(network)))
