"""``neurodeploy study timing``: do networks use spike timing, and does it survive deployment?

After Yu, Sun, Akarca & Goodman (2025; ``shared/docs/methods.md`` section 1): networks are
trained with and without axonal delays (and with deterministic or stochastic escape-noise
spikes), then evaluated, without retraining, on test data from which one kind of
information was removed:

- ``normal``: the test split as generated;
- ``reversed``: every channel's train reversed within each sample's active window
  ``[first spike, last spike]`` (:func:`~neurodeploy.models.datasets.reverse_time`): counts,
  ISIs and coincidences are kept, temporal order is not;
- ``perturbed f=...``: per sample and channel with ``n`` spikes, ``floor(f * n + 0.5)`` of them
  (chosen uniformly) are moved to uniformly chosen empty steps of the same channel
  (:func:`~neurodeploy.models.datasets.perturb_timing`): spike counts are kept exactly and
  ``f`` is the fraction of each neuron's spikes moved (1.0 moves them all);
- ``rate-removed``: every channel keeps, in every sample, a random subset of exactly as many
  spikes as its smallest count over the test samples, and classes are balanced
  (:func:`~neurodeploy.models.datasets.remove_rate`, Yu et al.'s "Norm"); channels that this
  silences stay silent inputs, so the trained network still sees its input width. Where
  nothing would remain (e.g. the coincidence task, whose neurons are often silent) the
  condition is ``n/a`` with the reason recorded.

Each trained model is scored twice on every condition: the float model (torch, evaluation
mode: deterministic spikes, integer delays) and the deployed model (post-training
quantization to Loihi 2 fixed point, run on the reference simulator, decided by the same
readout on the output population). On the first ``lava_samples`` normal test samples the
deployed network also runs on Lava's bit-accurate CPU simulator; both accuracies on that
subset are recorded, and whether the output traces are identical.

Units: accuracy in % of the test samples of the condition. Time convention: 0-based steps
of the data set's ``dt``; every projection adds one step of latency (one step per hop), so
a spike at step t reaches the next population at step t + 1 + delay, in the float and in
the deployed network alike.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import shutil
import traceback
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from neurodeploy.errors import InputError, NeurodeployError

__all__ = ["StudyError", "StudyResult", "render_study", "run_timing_study"]

STUDY_FORMAT = "neurodeploy.timing_study"
RUN_FORMAT = "neurodeploy.timing_study_run"
VERSION = 1

NORMAL = "normal"
REVERSED = "reversed"
RATE_REMOVED = "rate-removed"
MODELS = ("float", "deployed")
RESULT = "result.json"

#: Defaults of the full study and of ``quick=True`` for the arguments left at None.
FULL_DEFAULTS: dict[str, Any] = dict(
    stochastic=(False, True), seeds=(0, 1, 2), perturb=(0.25, 0.5, 1.0), epochs=30,
    hidden=(64,), lava_samples=32, calib=256, task_params={}, train_options={},
)
QUICK_DEFAULTS: dict[str, Any] = dict(
    stochastic=(False,), seeds=(0,), perturb=(0.5,), epochs=10, hidden=(32,),
    lava_samples=8, calib=64, task_params={"n_samples": 1000},
    train_options={"int_delay_epochs": 2},
)
#: Training options every configuration starts from: the sigmoid surrogate, whose escape
#: function makes the stochastic neurons (Gygax & Zenke), so that deterministic and
#: stochastic runs differ only by the noise.
BASE_TRAIN_OPTIONS: dict[str, Any] = {"surrogate": "sigmoid"}
#: TrainConfig fields the study sets itself (not allowed in ``train_options``).
STUDY_FIELDS = ("task", "data", "task_params", "hidden", "delays", "stochastic", "seed",
                "epochs", "device", "threads")


class StudyError(NeurodeployError):
    """Some configurations of a study failed; ``result`` holds everything that finished
    (its summary files are written) and ``failed`` maps each failed configuration to its
    one-line error (the traceback is in ``runs/<config>/error.txt`` where it could be
    written)."""

    def __init__(self, message: str, result: StudyResult) -> None:
        super().__init__(message)
        self.result = result
        self.failed = dict(result.failed)


def perturbed_name(f: float) -> str:
    """The condition name of timing perturbation ``f``: ``"perturbed f=0.5"``."""
    return f"perturbed f={f:g}"


def config_name(delays: str, stochastic: bool, seed: int) -> str:
    """The name (and run folder) of one configuration: ``"axonal-deterministic-seed0"``."""
    return f"{delays}-{'stochastic' if stochastic else 'deterministic'}-seed{seed}"


@dataclass
class StudyResult:
    """What :func:`run_timing_study` found (also in ``summary.json``).

    ``rows``: one per (stochastic, delays, model) in that order, each
    ``{"delays", "stochastic", "model", "seeds", "cells"}`` where ``cells[condition]`` is
    ``{"mean", "std", "values"}``: accuracy in %, mean and sample standard deviation
    (``ddof=1``; None for fewer than two values) over the seeds that finished, and the
    per-seed values (None where the condition does not apply). ``lava``: per configuration,
    the deployed network's accuracy on the Lava subset on the reference simulator and on
    Lava. ``runs``: each finished configuration's ``result.json``. ``trained``,
    ``evaluated`` (trained model reused, evaluation redone because its parameters changed)
    and ``loaded`` (result.json reused) say what this call did; ``failed`` maps failed
    configurations to their error.
    """

    out_dir: Path
    params: dict[str, Any]
    conditions: list[str]
    configurations: list[str]
    runs: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    lava: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    trained: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)

    @property
    def summary_json(self) -> Path:
        return self.out_dir / "summary.json"

    @property
    def summary_csv(self) -> Path:
        return self.out_dir / "summary.csv"

    @property
    def plot(self) -> Path:
        return self.out_dir / "timing_study.png"

    def row(self, delays: str, stochastic: bool, model: str) -> dict:
        """The table row of (delays, stochastic, model)."""
        for row in self.rows:
            if (row["delays"], row["stochastic"], row["model"]) == (delays, stochastic, model):
                return row
        raise KeyError((delays, stochastic, model))

    def to_json(self) -> dict:
        """The content of ``summary.json`` (the same numbers for the same seeds)."""
        chance = next((r["chance_pct"] for r in self.runs.values()), None)
        return {
            "format": STUDY_FORMAT, "version": VERSION, "params": self.params,
            "conditions": self.conditions, "configurations": self.configurations,
            "chance_pct": chance, "rows": self.rows, "lava": self.lava,
            "failed": self.failed, "units": "accuracy in % of test samples",
        }


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Configuration:
    name: str
    delays: str
    stochastic: bool
    seed: int
    train: dict  # TrainConfig.to_json()
    params: dict  # what result.json must record for the result to be reused


def _one_or_many(value: object) -> tuple:
    if isinstance(value, (str, bytes, bool, int, float, np.generic)):
        return (value,)
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        return (value,)


def _distinct(name: str, values: tuple, allowed: str) -> tuple:
    if not values:
        raise InputError(f"{name} = () is empty; allowed: {allowed}")
    repeated = sorted({repr(v) for v in values if values.count(v) > 1})
    if repeated:
        raise InputError(f"{name}: {', '.join(repeated)} given twice; allowed: {allowed}, "
                         "each once")
    return values


def _integer(name: str, value: object, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise InputError(f"{name} = {value!r} is not allowed; allowed an integer >= {minimum}")
    return int(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plan(task, data, delays, stochastic, seeds, perturb, epochs, hidden, quick, lava_samples,
          calib, task_params, train_options) -> tuple[dict, list[_Configuration]]:
    """Check every argument and resolve the defaults: (study params, configurations)."""
    from neurodeploy.models.datasets import TASKS
    from neurodeploy.models.datasets.tasks import task_parameters
    from neurodeploy.models.layers import DELAY_KINDS
    from neurodeploy.models.training import TrainConfig

    defaults = QUICK_DEFAULTS if quick else FULL_DEFAULTS
    pick = {name: defaults[name] if value is None else value for name, value in (
        ("stochastic", stochastic), ("seeds", seeds), ("perturb", perturb), ("epochs", epochs),
        ("hidden", hidden), ("lava_samples", lava_samples), ("calib", calib))}
    if (task is None) == (data is None):
        raise InputError(f"task = {task!r}, data = {data!r}: give exactly one; allowed: a task "
                         f"({', '.join(sorted(TASKS))}) or a dataset .npz file")
    data_sha256 = None
    if task is not None and task not in TASKS:
        raise InputError(f"task = {task!r} is unknown; allowed: {', '.join(sorted(TASKS))}")
    if data is not None:
        path = Path(data)
        if not path.is_file():
            raise InputError(f"data = {str(data)!r}: no such file; allowed: a dataset .npz file")
        data, data_sha256 = str(path.resolve()), _sha256(path)

    delays = _distinct("delays", _one_or_many(delays), ", ".join(DELAY_KINDS))
    for d in delays:
        if d not in DELAY_KINDS:
            raise InputError(f"delays = {d!r} is unknown; allowed: {', '.join(DELAY_KINDS)}")
    stochastic = _distinct("stochastic", _one_or_many(pick["stochastic"]), "False, True")
    for s in stochastic:
        if not isinstance(s, (bool, np.bool_)):
            raise InputError(f"stochastic = {s!r} is not allowed; allowed: False, True")
    stochastic = tuple(bool(s) for s in stochastic)
    seeds = _distinct("seeds", _one_or_many(pick["seeds"]), "integers >= 0")
    seeds = tuple(_integer("seed", s, 0) for s in seeds)
    perturb = _one_or_many(pick["perturb"])
    for f in perturb:
        if isinstance(f, (bool, np.bool_)) or not isinstance(f, (int, float, np.integer,
                                                                 np.floating)) \
                or not 0.0 < float(f) <= 1.0:
            raise InputError(f"perturbation f = {f!r} is out of range; allowed 0 < f <= 1 "
                             "(the fraction of each neuron's spikes moved)")
    perturb = tuple(float(f) for f in perturb)
    if perturb:
        _distinct("perturb", perturb, "fractions 0 < f <= 1")
    epochs = _integer("epochs", pick["epochs"], 1)
    lava_samples = _integer("lava_samples", pick["lava_samples"], 0)
    calib = _integer("calib", pick["calib"], 1)
    hidden = _one_or_many(pick["hidden"])

    if task_params is not None and not isinstance(task_params, dict):
        raise InputError(f"task_params = {task_params!r} is not allowed; allowed: a dict")
    if data is not None:
        if task_params:
            raise InputError(f"task_params = {task_params!r} apply to generated tasks only; "
                             "allowed with data: none")
        task_params = {}
    else:
        allowed = task_parameters(task)
        for key in task_params or {}:
            if key not in allowed:
                raise InputError(f"task parameter {key!r} is unknown for task {task!r}; "
                                 f"allowed: {', '.join(allowed)}")
        task_params = {**defaults["task_params"], **(task_params or {})}
    if train_options is not None and not isinstance(train_options, dict):
        raise InputError(f"train_options = {train_options!r} is not allowed; allowed: a dict")
    known = [f.name for f in fields(TrainConfig) if f.name not in STUDY_FIELDS]
    for key in train_options or {}:
        if key not in known:
            raise InputError(f"train option {key!r} is not allowed; allowed: {', '.join(known)}")
    options = {**BASE_TRAIN_OPTIONS, **defaults["train_options"], **(train_options or {})}

    conditions = [NORMAL, REVERSED, *(perturbed_name(f) for f in perturb), RATE_REMOVED]
    evaluation = {"perturb": list(perturb), "lava_samples": lava_samples, "calib": calib}
    configurations = []
    for s in stochastic:
        for d in delays:
            for seed in seeds:
                config = TrainConfig(task=task, data=data, task_params=dict(task_params),
                                     hidden=hidden, delays=d, stochastic=s, seed=seed,
                                     epochs=epochs, device="cpu", threads=1, **options)
                train_json = json.loads(json.dumps(config.to_json()))
                params = {"version": VERSION, "train": train_json, "evaluation": evaluation,
                          "data_sha256": data_sha256}
                configurations.append(_Configuration(config_name(d, s, seed), d, s, seed,
                                                     train_json, params))
    study = json.loads(json.dumps({
        "task": task, "data": data, "data_sha256": data_sha256, "delays": list(delays),
        "stochastic": list(stochastic), "seeds": list(seeds), "perturb": list(perturb),
        "epochs": epochs, "hidden": [int(h) for h in configurations[0].train["hidden"]],
        "lava_samples": lava_samples, "calib": calib, "task_params": task_params,
        "train_options": options, "quick": bool(quick), "conditions": conditions,
    }))
    return study, configurations


def _previous(run_dir: Path, params: dict) -> tuple[str, dict | None]:
    """What an earlier call left in ``run_dir``: ("done", result) when its result.json
    records these parameters, ("evaluate", None) when only the evaluation parameters differ
    (the trained model is reused), else ("train", None)."""
    try:
        old = json.loads((run_dir / RESULT).read_text())
    except (OSError, ValueError):
        return "train", None
    if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
        return "train", None
    recorded = old.get("params")
    if recorded == params:
        return "done", old
    same_model = isinstance(recorded, dict) and all(
        recorded.get(k) == params[k] for k in ("version", "train", "data_sha256"))
    if same_model and (run_dir / "model.pt").is_file() and (run_dir / "config.json").is_file():
        return "evaluate", None
    return "train", None


# --------------------------------------------------------------------------- one worker


def _init_worker() -> None:
    """Each worker process computes on one thread (configurations run side by side)."""
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _clear_run_dir(run_dir: Path) -> None:
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise InputError(f"{run_dir} exists and is not a run directory; move it away")
    if run_dir.exists():
        shutil.rmtree(run_dir)


def _rate_removed(test, seed: int):
    """remove_rate on the test split, with the channels it drops put back as silent inputs."""
    from neurodeploy.models.datasets import remove_rate

    removed = remove_rate(test, seed=seed)
    kept = removed.params["transforms"][-1]["kept_channels"]
    spikes = np.zeros((removed.n_samples, removed.n_steps, test.n_channels), dtype=np.uint8)
    spikes[:, :, kept] = removed.spikes
    return spikes, removed.labels


def _deployed_logits(net, spikes: np.ndarray, readout: str, hops: int,
                     batch: int = 256) -> np.ndarray:
    """Readout logits of the fixed-point network on the reference simulator."""
    from neurodeploy.simulate import simulate

    out = net.outputs[0]
    parts = []
    for i in range(0, len(spikes), batch):
        tr = simulate(net, spikes[i:i + batch].astype(bool), target="reference",
                      record=("spikes", "v"), populations=[out])
        parts.append(_readout_logits_of(tr, out, readout, hops))
    return np.concatenate(parts)


def _study_configuration(job: dict) -> dict:
    """Train (unless reusing), quantize and evaluate one configuration; writes result.json."""
    from neurodeploy.errors import DatasetError, SimulationError
    from neurodeploy.models.datasets import perturb_timing, reverse_time, split
    from neurodeploy.models.training import (
        TrainConfig,
        evaluate,
        load_dataset_for,
        load_run,
        train,
    )
    from neurodeploy.network_io import atomic_write_text, save_network
    from neurodeploy.quantize.lint import lint_network
    from neurodeploy.quantize.ptq import post_training_quantize
    from neurodeploy.readout import accuracy
    from neurodeploy.simulate import simulate

    run_dir = Path(job["run_dir"])
    config = TrainConfig.from_json(job["train"])
    evaluation = job["params"]["evaluation"]
    if job["retrain"]:
        _clear_run_dir(run_dir)
        log = Console(file=io.StringIO(), width=100)
        train(config, run_dir, console=log)
        atomic_write_text(run_dir / "train.log", log.file.getvalue())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model, _ = load_run(run_dir)
    dataset = load_dataset_for(config)
    train_ds, _, test_ds = split(dataset, config.splits, seed=config.seed)
    order = np.random.default_rng(config.seed).permutation(len(train_ds.labels))
    net, info = post_training_quantize(model, train_ds.spikes[order[:evaluation["calib"]]])
    lint_report = lint_network(net)
    if not lint_report.ok:
        raise SimulationError(f"quantization produced a network that fails lint: "
                              f"{lint_report.violations[0].message}")
    save_network(net, run_dir / "network.npz")
    readout, hops = model.config.readout, len(model.layers)

    data: dict[str, tuple[np.ndarray, np.ndarray] | None] = {
        NORMAL: (test_ds.spikes, test_ds.labels),
        REVERSED: (reverse_time(test_ds).spikes, test_ds.labels),
    }
    for f in evaluation["perturb"]:
        data[perturbed_name(f)] = (perturb_timing(test_ds, f, seed=config.seed).spikes,
                                   test_ds.labels)
    notes = {}
    try:
        data[RATE_REMOVED] = _rate_removed(test_ds, config.seed)
    except DatasetError as exc:
        data[RATE_REMOVED] = None
        notes[RATE_REMOVED] = f"n/a: {exc}"
    acc: dict[str, dict[str, float | None]] = {m: {} for m in MODELS}
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
        lava = {
            "samples": n_lava,
            "reference_pct": 100.0 * accuracy(_readout_logits_of(ref, out, readout, hops), labels),
            "lava_pct": 100.0 * accuracy(_readout_logits_of(got, out, readout, hops), labels),
            "identical_output": bool(identical),
        }

    result = {
        "format": RUN_FORMAT, "version": VERSION, "config": job["name"],
        "delays": config.delays, "stochastic": config.stochastic, "seed": config.seed,
        "params": job["params"], "n_classes": dataset.n_classes,
        "chance_pct": 100.0 / dataset.n_classes, "readout": readout, "hops": hops,
        "conditions": list(data), "accuracy_pct": acc, "samples": samples, "notes": notes,
        "lava": lava,
        "training": {"test_acc_pct": 100.0 * metrics["test_acc"],
                     "best_epoch": metrics["best_epoch"], "epochs_run": len(metrics["history"])},
        "quantization": {**info.to_json(), "calibration_samples":
                         int(min(evaluation["calib"], len(order)))},
    }
    atomic_write_text(run_dir / RESULT, json.dumps(result, indent=2))
    return result


def _readout_logits_of(traces, out: str, readout: str, hops: int) -> np.ndarray:
    """Readout logits of population ``out`` in recorded ``traces``."""
    from neurodeploy.readout import readout_logits

    return readout_logits(traces.spikes[out], traces.v[out], readout, hops=hops)


def _run_configuration(job: dict) -> dict:
    """Worker entry point: ``{"result": ...}`` or ``{"error": one line}``; never raises for
    an ordinary failure, so one configuration cannot take the others down."""
    try:
        return {"result": _study_configuration(job)}
    except Exception as exc:
        from neurodeploy.network_io import atomic_write_text

        with contextlib.suppress(OSError):
            atomic_write_text(Path(job["run_dir"]) / "error.txt", traceback.format_exc())
        lines = str(exc).strip().splitlines()
        return {"error": f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__}


# --------------------------------------------------------------------------- the study


def run_timing_study(
    out_dir: str | os.PathLike[str],
    task: str | None = None,
    data: str | os.PathLike[str] | None = None,
    delays: Iterable[str] = ("none", "axonal"),
    stochastic: Iterable[bool] | None = None,
    seeds: Iterable[int] | None = None,
    perturb: Iterable[float] | None = None,
    epochs: int | None = None,
    hidden: Iterable[int] | None = None,
    quick: bool = False,
    lava_samples: int | None = None,
    workers: int | None = None,
    console: Console | None = None,
    *,
    task_params: dict | None = None,
    train_options: dict | None = None,
    calib: int | None = None,
) -> StudyResult:
    """Train, deploy and probe networks with and without delays (Yu et al.'s protocol).

    Configurations are ``delays x stochastic x seeds``; each is one folder
    ``out_dir/runs/<delays>-<deterministic|stochastic>-seed<seed>`` holding the training run
    (:func:`~neurodeploy.models.training.train`: ``config.json``, ``model.pt``,
    ``metrics.json``...), ``train.log``, the deployed ``network.npz`` and, written
    atomically when the configuration is done, ``result.json``. Per configuration: train
    on CPU; post-training quantization with ``calib`` calibration samples of the training
    split; the float and the deployed (reference simulator) model's accuracy in % on the
    test split under each condition (``normal``, ``reversed``, ``perturbed f=...`` for
    each ``f`` in ``perturb``, ``rate-removed``; see the module docstring); and the
    deployed network on Lava for the first ``lava_samples`` normal test samples, recording
    its accuracy beside the reference's on the same samples (0 skips Lava). The seed sets
    the data, the initialisation, the batching and the random draws of the conditions:
    same seeds, same numbers, whatever the number of workers.

    Resumable: a configuration whose ``result.json`` records the same study parameters is
    loaded, not redone. When only the evaluation parameters changed (``perturb``,
    ``lava_samples``, ``calib``) the trained model is reused and only evaluated again. A
    folder without ``result.json`` (an interrupted run) or with other training parameters
    is deleted and redone from scratch.

    Parallel: the configurations to do run in ``workers`` processes (default
    ``os.cpu_count()``, "spawn" context, one torch thread each), with a progress bar over
    configurations. A failing configuration does not stop the others: its error is
    collected (traceback in its folder's ``error.txt``) and, after the summary of the rest
    is written, :class:`StudyError` names every failed configuration.

    Aggregation: ``out_dir/summary.json`` and ``out_dir/summary.csv`` (rows: delays x
    stochastic x model float/deployed; columns: conditions; cells: accuracy in %, mean and
    sample std over seeds; plus the Lava check) and ``out_dir/timing_study.png`` (accuracy
    per condition, delays vs none, float vs deployed). Print the table with
    :func:`render_study`.

    Arguments left at None take the full study's defaults (``FULL_DEFAULTS``: stochastic
    (False, True), seeds (0, 1, 2), perturb (0.25, 0.5, 1.0), 30 epochs, hidden (64,),
    32 Lava samples, 256 calibration samples) or, with ``quick=True``, a smoke-size study
    (``QUICK_DEFAULTS``: deterministic only, one seed, perturb (0.5,), 10 + 2 epochs,
    hidden (32,), 1000 generated samples, 8 Lava samples, 64 calibration samples) that
    finishes in a few minutes on 2 CPU cores; arguments given explicitly win over both.
    ``task_params`` go to the task generator (with ``task``; e.g. ``{"max_isi_ms": 300}``),
    ``train_options`` to :class:`~neurodeploy.models.training.TrainConfig` (e.g.
    ``max_delay``, ``lr``, ``int_delay_epochs``; the study starts from the sigmoid surrogate,
    whose escape function the stochastic neurons use). Time convention: 0-based steps, one
    step per hop.

    Raises:
        InputError: a bad argument (one line naming the value and what is allowed).
        StudyError: some configurations failed (``.result`` holds the rest).
    """
    console = console or Console()
    if workers is not None:
        workers = _integer("workers", workers, 1)
    study, configurations = _plan(task, data, delays, stochastic, seeds, perturb, epochs,
                                  hidden, quick, lava_samples, calib, task_params,
                                  train_options)
    out = Path(out_dir)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    result = StudyResult(out_dir=out, params=study, conditions=study["conditions"],
                         configurations=[c.name for c in configurations])
    jobs = []
    for c in configurations:
        state, previous = _previous(runs_dir / c.name, c.params)
        if state == "done":
            result.runs[c.name] = previous
            result.loaded.append(c.name)
        else:
            jobs.append({"name": c.name, "run_dir": str(runs_dir / c.name), "train": c.train,
                         "params": c.params, "retrain": state == "train"})

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[last]}"))
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("timing study", total=len(configurations), last="")
        if result.loaded:
            progress.console.print(f"loaded {len(result.loaded)} finished configuration(s) "
                                   f"from {runs_dir}: {', '.join(result.loaded)}")
            progress.advance(bar, len(result.loaded))
        if jobs:
            _run_jobs(jobs, workers or os.cpu_count() or 1, result, progress, bar)

    # workers finish in any order; everything reported follows the configurations' order
    order = {name: i for i, name in enumerate(result.configurations)}
    result.trained.sort(key=order.__getitem__)
    result.evaluated.sort(key=order.__getitem__)
    result.failed = dict(sorted(result.failed.items(), key=lambda item: order[item[0]]))
    done = {c: result.runs[c] for c in result.configurations if c in result.runs}
    result.runs = done
    result.rows, result.lava = _aggregate(study, configurations, done)
    _write_summary(result)
    if result.failed:
        names = ", ".join(f"{n} ({msg})" for n, msg in result.failed.items())
        raise StudyError(f"timing study: {len(result.failed)} of {len(configurations)} "
                         f"configurations failed: {names}; the others are summarised in "
                         f"{result.summary_json}", result)
    return result


#: Modules the fork server imports once, so that each worker starts without importing them.
WORKER_PRELOAD = ["torch", "torch._dynamo", "matplotlib", "matplotlib.pyplot",
                  "neurodeploy.models.training", "neurodeploy.quantize.ptq",
                  "neurodeploy.study.timing"]


def _worker_context() -> multiprocessing.context.BaseContext:
    """"forkserver" where the platform has it, else "spawn"; never plain "fork" (forking a
    process whose torch has started threads can deadlock). The fork server is started once
    per process, imports ``WORKER_PRELOAD`` without computing anything (no torch threads
    yet), and forks every worker from that state."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def _run_jobs(jobs: list[dict], workers: int, result: StudyResult, progress: Progress,
              bar) -> None:
    """Run the configurations in a process pool, recording results and failures."""
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=_worker_context(),
                               initializer=_init_worker)
    try:
        futures = {pool.submit(_run_configuration, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # e.g. BrokenProcessPool: the worker process died
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            name = job["name"]
            if "error" in outcome:
                result.failed[name] = outcome["error"]
                progress.console.print(f"[red]failed[/red] {name}: {outcome['error']}")
            else:
                result.runs[name] = outcome["result"]
                (result.trained if job["retrain"] else result.evaluated).append(name)
                what = "trained and evaluated" if job["retrain"] else "evaluated again"
                progress.console.print(f"[green]done[/green] {name} ({what})")
            progress.update(bar, advance=1, last=name)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# --------------------------------------------------------------------------- summary


def _cell(values: list[float | None]) -> dict:
    present = [v for v in values if v is not None]
    return {
        "mean": float(np.mean(present)) if present else None,
        "std": float(np.std(present, ddof=1)) if len(present) >= 2 else None,
        "values": values,
    }


def _aggregate(study: dict, configurations: list[_Configuration],
               runs: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    rows = []
    for s in study["stochastic"]:
        for d in study["delays"]:
            names = [c.name for c in configurations if (c.delays, c.stochastic) == (d, s)
                     and c.name in runs]
            for model in MODELS:
                cells = {cond: _cell([runs[n]["accuracy_pct"][model][cond] for n in names])
                         for cond in study["conditions"]}
                rows.append({"delays": d, "stochastic": s, "model": model,
                             "seeds": [runs[n]["seed"] for n in names], "cells": cells})
    lava = [{"config": name, "delays": run["delays"], "stochastic": run["stochastic"],
             "seed": run["seed"], **run["lava"]}
            for name, run in runs.items() if run.get("lava")]
    return rows, lava


def _format_cell(cell: dict) -> str:
    if cell["mean"] is None:
        return "n/a" if cell["values"] else "—"
    if cell["std"] is None:
        return f"{cell['mean']:.1f}"
    return f"{cell['mean']:.1f} ± {cell['std']:.1f}"


def _training_label(stochastic: bool) -> str:
    return "stochastic" if stochastic else "deterministic"


def _write_summary(result: StudyResult) -> None:
    from neurodeploy.network_io import atomic_write_text

    atomic_write_text(result.summary_json, json.dumps(result.to_json(), indent=2))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    header = ["delays", "training", "model", "seeds"]
    for cond in result.conditions:
        header += [f"{cond} mean %", f"{cond} std %"]
    header += ["lava subset samples", "lava subset reference %", "lava subset lava %",
               "lava identical to reference"]
    writer.writerow(header)

    def number(x: float | None) -> str:
        return "" if x is None else f"{x:.4f}"

    for row in result.rows:
        line = [row["delays"], _training_label(row["stochastic"]), row["model"],
                " ".join(str(s) for s in row["seeds"])]
        for cond in result.conditions:
            line += [number(row["cells"][cond]["mean"]), number(row["cells"][cond]["std"])]
        checks = [x for x in result.lava if (x["delays"], x["stochastic"])
                  == (row["delays"], row["stochastic"])]
        if row["model"] == "deployed" and checks:
            line += [sum(x["samples"] for x in checks),
                     number(float(np.mean([x["reference_pct"] for x in checks]))),
                     number(float(np.mean([x["lava_pct"] for x in checks]))),
                     all(x["identical_output"] for x in checks)]
        else:
            line += ["", "", "", ""]
        writer.writerow(line)
    atomic_write_text(result.summary_csv, text.getvalue())
    _plot_study(result)


def _plot_study(result: StudyResult) -> None:
    """Grouped bars: accuracy per condition, one bar per (delays, model), one panel per
    training kind; error bars are the std over seeds; the dotted line is chance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurodeploy.network_io import atomic_output

    conditions = result.conditions
    kinds = result.params["stochastic"]
    delays = result.params["delays"]
    fig, axes = plt.subplots(1, len(kinds), squeeze=False, sharey=True,
                             figsize=(max(5.0, 1.3 * len(conditions) + 2.0) * len(kinds), 4.0))
    colors = plt.get_cmap("tab10")
    series = [(d, m) for d in delays for m in MODELS]
    width = 0.8 / len(series)
    x = np.arange(len(conditions))
    chance = result.to_json()["chance_pct"]
    for ax, stochastic in zip(axes[0], kinds, strict=True):
        for k, (d, model) in enumerate(series):
            cells = [result.row(d, stochastic, model)["cells"][c] for c in conditions]
            means = [math.nan if c["mean"] is None else c["mean"] for c in cells]
            errors = [0.0 if c["std"] is None else c["std"] for c in cells]
            ax.bar(x + (k - (len(series) - 1) / 2) * width, means, width, yerr=errors,
                   color=colors(delays.index(d)), alpha=1.0 if model == "float" else 0.6,
                   hatch=None if model == "float" else "//", edgecolor="black", linewidth=0.5,
                   capsize=2, label=f"delays {d}, {model}")
        if chance is not None:
            ax.axhline(chance, color="grey", linestyle=":", label="chance")
        ax.set_xticks(x)
        ax.set_xticklabels(conditions, rotation=20, ha="right")
        ax.set_ylim(0, 100)
        ax.set_title(f"{_training_label(stochastic)} training")
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"Timing study: {_source(result.params)}; mean ± std over seeds "
                 f"{', '.join(str(s) for s in result.params['seeds'])}", fontsize=9)
    fig.tight_layout()
    with atomic_output(result.plot) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)


def _source(params: dict) -> str:
    if params["task"] is not None:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(params["task_params"].items()))
        return f"task {params['task']}" + (f" ({extra})" if extra else "")
    return f"data {Path(params['data']).name}"


def render_study(result: StudyResult, console: Console | None = None) -> None:
    """Print the study's table (accuracy in %, mean ± std over seeds), the Lava check and
    any failed configurations."""
    console = console or Console()
    seeds = ", ".join(str(s) for s in result.params["seeds"])
    table = Table(title=f"Timing study: {_source(result.params)}",
                  caption=f"test accuracy in %, mean ± std (sample) over seeds {seeds}; "
                  "f = fraction of each neuron's spikes moved; n/a = condition does not apply; "
                  "— = no finished configuration")
    for name in ("delays", "training", "model"):
        table.add_column(name, no_wrap=True)
    for cond in result.conditions:
        table.add_column(cond, justify="right")
    previous = None
    for row in result.rows:
        key = (row["stochastic"], row["delays"])
        if previous is not None and key != previous:
            table.add_section()
        previous = key
        table.add_row(row["delays"], _training_label(row["stochastic"]), row["model"],
                      *(_format_cell(row["cells"][c]) for c in result.conditions))
    console.print(table)
    if result.lava:
        lava = Table(title="Deployed network on Lava (normal test samples)")
        for name in ("configuration", "samples", "reference %", "lava %", "identical"):
            lava.add_column(name, justify="left" if name == "configuration" else "right")
        for check in result.lava:
            lava.add_row(check["config"], str(check["samples"]), f"{check['reference_pct']:.1f}",
                         f"{check['lava_pct']:.1f}",
                         "yes" if check["identical_output"] else "[red]NO[/red]")
        console.print(lava)
    for name, message in result.failed.items():
        console.print(f"[red]failed[/red] {name}: {message}")
    console.print(f"summary: {result.summary_json}, {result.summary_csv}; plot: {result.plot}")
