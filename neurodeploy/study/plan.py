"""The timing study's plan: its configurations, from arguments checked before any work.

A configuration is one training run (delays x stochastic x seed) with the evaluation
parameters its result depends on; :func:`plan_study` checks every argument (one-line
InputError naming the value and what is allowed) and resolves the defaults of the full
and the quick study.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from neurodeploy.errors import InputError
from neurodeploy.models.datasets import TASKS
from neurodeploy.models.datasets.format import is_number, require_int
from neurodeploy.models.datasets.tasks import task_parameters
from neurodeploy.models.layers import DELAY_KINDS
from neurodeploy.models.training import TrainConfig

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
#: Named studies (``neurodeploy study timing --preset NAME``): the arguments each sets
#: (arguments given explicitly win) and ``max_isi_ms``, the maximum ISIs (ms) it sweeps.
#: ``yu2025``: Yu et al.'s CCISI sweep at their scale: the task's ``paper`` preset (1 ms
#: steps, 10 s samples), maximum ISI 50 to 500 ms, with and without axonal delays (at most
#: 62 steps, Loihi 2's limit), deterministic and stochastic, 5 seeds, scored on normal and
#: time-reversed (and rate-removed) test data, float and deployed; no Lava subset (10 000
#: steps per sample; check a deployed run with ``neurodeploy verify``).
PRESETS: dict[str, dict[str, Any]] = {
    "yu2025": dict(task="ccisi", delays=("none", "axonal"), stochastic=(False, True),
                   seeds=(0, 1, 2, 3, 4), perturb=(), lava_samples=0,
                   train_options={"preset": "paper"}, max_isi_ms=(50, 100, 200, 300, 500)),
}
#: Training options every configuration starts from: the sigmoid surrogate, whose escape
#: function makes the stochastic neurons (Gygax & Zenke), so that deterministic and
#: stochastic runs differ only by the noise.
BASE_TRAIN_OPTIONS: dict[str, Any] = {"surrogate": "sigmoid"}
#: TrainConfig fields the study sets itself (not allowed in ``train_options``).
STUDY_FIELDS = ("task", "data", "task_params", "hidden", "delays", "stochastic", "seed",
                "epochs", "device", "threads")


def preset_arguments(name: str) -> dict[str, Any]:
    """The arguments preset ``name`` sets (a copy); one-line InputError for an unknown name."""
    if name not in PRESETS:
        raise InputError(f"preset = {name!r} is unknown; allowed: {', '.join(sorted(PRESETS))}")
    return {key: dict(value) if isinstance(value, dict) else value
            for key, value in PRESETS[name].items()}


def perturbed_name(f: float) -> str:
    """The condition name of timing perturbation ``f``: ``"perturbed f=0.5"``."""
    return f"perturbed f={f:g}"


def training_label(stochastic: bool) -> str:
    """How a configuration was trained, in words: "stochastic" or "deterministic"."""
    return "stochastic" if stochastic else "deterministic"


def config_name(delays: str, stochastic: bool, seed: int) -> str:
    """The name (and run folder) of one configuration: ``"axonal-deterministic-seed0"``."""
    return f"{delays}-{training_label(stochastic)}-seed{seed}"


@dataclass(frozen=True)
class Configuration:
    """One configuration of the study: a training run (``train``: TrainConfig.to_json())
    and ``params``, what its ``result.json`` must record for the result to be reused."""

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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_study(task, data, delays, stochastic, seeds, perturb, epochs, hidden, quick,
               lava_samples, calib, task_params, train_options,
               ) -> tuple[dict, list[Configuration]]:
    """Check every argument of :func:`~neurodeploy.study.run_timing_study` and resolve the
    defaults: (study params, configurations). Bad input is a one-line InputError naming
    the value and what is allowed, raised before any work."""
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
    seeds = tuple(require_int("seed", s, 0, InputError) for s in seeds)
    perturb = _one_or_many(pick["perturb"])
    for f in perturb:
        if not is_number(f) or not 0.0 < float(f) <= 1.0:
            raise InputError(f"perturbation f = {f!r} is out of range; allowed 0 < f <= 1 "
                             "(the fraction of each neuron's spikes moved)")
    perturb = tuple(float(f) for f in perturb)
    if perturb:
        _distinct("perturb", perturb, "fractions 0 < f <= 1")
    epochs = require_int("epochs", pick["epochs"], 1, InputError)
    lava_samples = require_int("lava_samples", pick["lava_samples"], 0, InputError)
    calib = require_int("calib", pick["calib"], 1, InputError)
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
    for s, d, seed in itertools.product(stochastic, delays, seeds):
        config = TrainConfig(task=task, data=data, task_params=dict(task_params), hidden=hidden,
                             delays=d, stochastic=s, seed=seed, epochs=epochs, device="cpu",
                             threads=1, **options)
        train_json = json.loads(json.dumps(config.to_json()))
        params = {"version": VERSION, "train": train_json, "evaluation": evaluation,
                  "data_sha256": data_sha256}
        configurations.append(Configuration(config_name(d, s, seed), d, s, seed, train_json,
                                            params))
    study = json.loads(json.dumps({
        "task": task, "data": data, "data_sha256": data_sha256, "delays": list(delays),
        "stochastic": list(stochastic), "seeds": list(seeds), "perturb": list(perturb),
        "epochs": epochs, "hidden": [int(h) for h in configurations[0].train["hidden"]],
        "lava_samples": lava_samples, "calib": calib, "task_params": task_params,
        "train_options": options, "quick": bool(quick), "conditions": conditions,
    }))
    return study, configurations

