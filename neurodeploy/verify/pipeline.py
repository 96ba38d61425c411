"""``neurodeploy verify``: the same input through several backends, compared spike by spike.

A model is any artifact :func:`neurodeploy.artifacts.load_deployment` reads: a quantize
output directory (fixed-point network + the float model it came from), a training run
directory (float only), a network ``.npz`` or a NIR graph. Backends: ``torch-float`` (the
float model; for a fixed-point-only model its dequantized float equivalent), and every
fixed-point target (``reference``, ``torch-int``, ``onnx``, ``lava``, ``lava-float``,
``netx``: spikes only), each run by :meth:`~neurodeploy.artifacts.Deployment.simulate`,
plus recorded traces (``--trace NAME=FILE``, e.g. from a chip).
Every pair of backends is compared population by population with
``neurodeploy.verify.metrics``; gates (``neurodeploy.verify.gates``) decide the exit code.

Voltages are compared only between backends with the same units: fixed-point backends in
LSB units; the float model's v is converted to LSB units with the quantization scales
(``v_lsb = v_float * S``) when the model is a quantize output. Time convention: 0-based
steps, one step per hop.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from neurodeploy.artifacts import FLOAT_BACKEND, Deployment, load_deployment
from neurodeploy.cluster import run_all, share
from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.models.datasets import load_dataset, split
from neurodeploy.models.training import TrainConfig, load_dataset_for
from neurodeploy.network_io import READ_ERRORS, atomic_directory, check_output_folder
from neurodeploy.readout import readout_logits
from neurodeploy.targets import TARGETS
from neurodeploy.traces import Traces, load_spikes
from neurodeploy.verify import metrics
from neurodeploy.verify.gates import Gate, evaluate_gate, parse_gate
from neurodeploy.verify.render_html import write_html_report
from neurodeploy.verify.trace_files import read_trace_file, write_traces_nir

#: The file that makes a folder a verification report (an earlier one may be replaced).
REPORT_MARKER = "summary.json"

FIXED_BACKENDS = ("reference", "torch-int", "onnx", "lava", "lava-float", "netx")
BACKENDS = (FLOAT_BACKEND, *FIXED_BACKENDS)
SLOW = ("lava", "lava-float", "netx")


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataSource:
    """Where verification data came from: a file (``path``) or a generated task, and which
    part of it (``note``); shown as "<path or task> (<note>)"."""

    name: str
    note: str
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.path or self.name} ({self.note})"

    def seen_from(self, folder: str | os.PathLike[str]) -> str:
        """As :meth:`__str__`, the file's path relative to ``folder``."""
        path = self.path and os.path.relpath(self.path, folder)
        return f"{path or self.name} ({self.note})"


def load_data(data: str | None, model: Deployment, samples: int | None,
              split_name: str | None) -> tuple[np.ndarray, np.ndarray | None, DataSource]:
    """(spikes bool (samples, steps, n_inputs), labels or None, where they came from)."""
    labels = None
    if data is None:
        if model.run is None:
            raise InputError("no --data given and the model is not a training or quantize "
                             "output (which would name its data set)")
        config = TrainConfig.from_json(model.run["train"])
        ds = load_dataset_for(config)
        part = split_name or "test"
        desc = DataSource(config.task or "", f"{part} split", config.data)
    else:
        path = Path(data)
        # a data set file (its errors are the user's to see), else plain spikes (.npz with
        # 'spikes', or .npy)
        ds = load_dataset(path) if _has_labels(path) else None
        if ds is None:
            spikes = load_spikes(str(path))
        part = split_name or "all"
        desc = DataSource("", part, str(path))
    if ds is not None:
        if part != "all":
            if model.run is None:
                raise InputError(f"--split {part}: the model has no training run to take the "
                                 "split from; use --split all")
            config = TrainConfig.from_json(model.run["train"])
            parts = dict(zip(("train", "val", "test"),
                             split(ds, config.splits, seed=config.seed), strict=True))
            if part not in parts:
                raise InputError(f"--split {part!r} is unknown; allowed: all, train, val, test")
            ds = parts[part]
        spikes, labels = ds.spikes, ds.labels
    spikes = np.asarray(spikes)
    if spikes.ndim == 2:
        spikes = spikes[None]
    if spikes.ndim != 3 or spikes.shape[2] != model.n_inputs:
        raise InputError(f"data has shape {spikes.shape}; the model takes (samples, steps, "
                         f"{model.n_inputs})")
    spikes = metrics.as_spikes(spikes, None, f"{data}: spikes" if data else "spikes")
    if samples is not None:
        if samples < 1:
            raise InputError(f"--samples {samples}: must be >= 1")
        if samples > len(spikes):
            raise InputError(f"--samples {samples}: {desc} has only {len(spikes)} samples")
        spikes = spikes[:samples]
        labels = None if labels is None else labels[:samples]
    return spikes, labels, desc


def _has_labels(path: Path) -> bool:
    """True for an .npz that holds labels (a data set file), False for plain spikes."""
    if path.suffix != ".npz":
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "labels" in data.files
    except READ_ERRORS:
        return False  # load_spikes then says what is wrong with the file


# -------------------------------------------------------------------------- running
@dataclass
class BackendRun:
    name: str
    kind: str  # "float", "fixed_point", "trace"
    units: str
    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    seconds: float | None = None


def check_backends(names: Sequence[str], model: Deployment) -> list[str]:
    """Validate backend names: known, available here, and runnable for this model."""
    out = []
    for name in names:
        if name not in BACKENDS:
            raise InputError(f"backend {name!r} is unknown; allowed: {', '.join(BACKENDS)} "
                             "(recorded traces: --trace NAME=FILE)")
        ok, reason = TARGETS[name].available()
        if not ok:
            available = ", ".join(b for b in BACKENDS if TARGETS[b].available()[0])
            raise TargetUnavailableError(f"backend {name!r} is unavailable here ({reason}); "
                                         f"available: {available}")
        model.network_for(name)  # an integer backend needs integers
        if name in out:
            raise InputError(f"backend {name!r} is listed twice")
        out.append(name)
    return out


def _run(model: Deployment, backend: str, x: np.ndarray) -> tuple[dict, dict]:
    tr = model.simulate(backend, x, record=[r for r in ("spikes", "v")
                                            if r in TARGETS[backend].records])
    return tr.spikes, {n: np.asarray(a, dtype=np.float64) for n, a in tr.v.items()}


def _shards(backend: str, n: int, workers: int, batch_size: int = 256) -> list[slice]:
    """The samples' shards: one per worker for a slow backend (each Lava run starts a
    process), else batches of ``batch_size``."""
    size = -(-n // workers) if backend in SLOW else batch_size
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def run_backend(model: Deployment, backend: str, x: np.ndarray, progress: Progress,
                workers: int, batch_size: int = 256) -> BackendRun:
    """Run one backend on all samples (slow backends in parallel worker processes)."""
    task = progress.add_task(backend, total=len(x))
    parts = _shards(backend, len(x), workers, batch_size)
    start = time.perf_counter()
    # threads for a slow backend: each Lava run is a process of its own
    pool = (ThreadPoolExecutor(max_workers=workers)
            if backend in SLOW and workers > 1 and len(parts) > 1 else None)
    with pool or contextlib.nullcontext():
        results = run_all(pool, _run, [(model, backend, x[part]) for part in parts],
                          lambda i, _: progress.advance(task, parts[i].stop - parts[i].start))
    return _joined(model, backend, results, time.perf_counter() - start)


def run_on_executor(model: Deployment, backends: Sequence[str], x: np.ndarray,
                    progress: Progress, executor: Executor, workers: int,
                    batch_size: int = 256) -> dict[str, BackendRun]:
    """Run every backend on ``executor`` (e.g. a Dask cluster's), all backends' shards of
    the samples at once (``workers`` shards for a slow backend, batches of at most
    ``batch_size`` and at least ``workers`` shards for the others); the
    deployment is shared with the workers once, each shard's samples go with its task and
    its traces come back as data (no shared filesystem). One progress bar per backend
    advances as its shards return; ``seconds`` is the wall time from the first submission
    to a backend's last shard."""
    batch = min(batch_size, -(-len(x) // workers))
    parts = {b: _shards(b, len(x), workers, batch) for b in backends}
    calls = [(b, part) for b in backends for part in parts[b]]
    bars = {b: progress.add_task(b, total=len(x)) for b in backends}
    left = {b: len(parts[b]) for b in backends}
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    def arrived(i: int, _result: object) -> None:
        backend, part = calls[i]
        progress.advance(bars[backend], part.stop - part.start)
        left[backend] -= 1
        if not left[backend]:
            seconds[backend] = time.perf_counter() - start

    shared = share(executor, model)
    results = run_all(executor, _run, [(shared, b, x[part]) for b, part in calls], arrived)
    return {b: _joined(model, b, [r for (name, _), r in zip(calls, results, strict=True)
                                  if name == b], seconds[b]) for b in backends}


def _joined(model: Deployment, backend: str, results: Sequence[tuple[dict, dict]],
            seconds: float) -> BackendRun:
    """One backend's run from its shards' (spikes, v), in the samples' order."""
    spikes = {n: np.concatenate([r[0][n] for r in results]) for n in results[0][0]}
    v = {n: np.concatenate([r[1][n] for r in results]) for n in results[0][1]}
    if backend == FLOAT_BACKEND:
        return BackendRun(backend, "float", model.float_units, spikes, v, seconds)
    return BackendRun(backend, "fixed_point", "lsb", spikes, v, seconds)


def trace_backend(name: str, path: str, model: Deployment, x: np.ndarray) -> BackendRun:
    """A recorded trace file as a backend, checked against the model and the data."""
    pops, out = model.populations, model.output
    rec = read_trace_file(path, name, csv_population=out if out and pops.get(out) == 1 else None)
    n, steps = x.shape[:2]
    for kind in ("spikes", "v"):
        arrays = getattr(rec, kind)
        for pop, arr in list(arrays.items()):
            if pop not in pops:
                raise InputError(f"trace {name!r}: population {pop!r} is not in the model; "
                                 f"known: {', '.join(pops)}")
            if arr.shape[0] < n or arr.shape[1] != steps or arr.shape[2] != pops[pop]:
                raise InputError(f"trace {name!r}: {kind} of {pop!r} has shape {arr.shape}; the "
                                 f"data and model need (>= {n}, {steps}, {pops[pop]})")
            arrays[pop] = arr[:n]
    return BackendRun(name, "trace", rec.units, rec.spikes, rec.v)


# ------------------------------------------------------------------------ comparing
def _logits(run: BackendRun, model: Deployment) -> np.ndarray | None:
    out = model.output
    if out is None or out not in run.spikes:
        return None
    try:
        return readout_logits(run.spikes[out], run.v.get(out), model.readout, model.hops)
    except InputError:
        return None


def compare_pair(a: BackendRun, b: BackendRun, tau: float, max_lag: int,
                 logits: dict[str, np.ndarray | None]) -> dict[str, Any]:
    common = [p for p in a.spikes if p in b.spikes]
    same_units = a.units == b.units and a.units != "none"
    va = {p: a.v[p] for p in common if same_units and p in a.v and p in b.v}
    vb = {p: b.v[p] for p in va}
    cmp = metrics.compare_traces({p: a.spikes[p] for p in common},
                                 {p: b.spikes[p] for p in common}, va or None, vb or None,
                                 tau=tau, max_lag=max_lag)
    result = {"a": a.name, "b": b.name, **cmp.to_json()}
    for p in va:
        diff = np.abs(va[p] - vb[p]) > 1e-9 * np.maximum(1.0, np.abs(va[p]))
        result["populations"][p].update(
            v_mismatches=int(diff.sum()),
            v_mismatch_steps=[int(s) for s in np.unique(np.nonzero(diff)[1])[:20]])
    la, lb = logits.get(a.name), logits.get(b.name)
    result["decision_agreement"] = (None if la is None or lb is None
                                    else metrics.decision_agreement(la, lb))
    return result


@dataclass
class Verification:
    summary: dict[str, Any]
    runs: dict[str, BackendRun]

    @property
    def passed(self) -> bool:
        return bool(self.summary["passed"])


def verify(model_path: str, backends: Sequence[str], data: str | None = None,
           traces: dict[str, str] | None = None, samples: int | None = None,
           split: str | None = None, gates: Sequence[str] = (), tau: float = 5.0,
           max_lag: int = 5, workers: int | None = None, report_dir: str | None = None,
           console: Console | None = None,
           on_progress: Callable[[Progress], None] | None = None,
           overwrite: bool = False, executor: Executor | None = None) -> Verification:
    """Run, compare, gate and (with ``report_dir``) write summary.json, traces and report.html.

    ``workers``: parallel processes for Lava (default: the machine's cores).
    ``executor``: run the backends there instead (e.g. a Dask cluster's,
    :func:`neurodeploy.cluster.open_cluster`; :func:`run_on_executor`), the samples split
    into ``workers`` shards for Lava (default: the executor's workers) and batches for
    the others; the same traces and summary as here (backends' seconds aside). Only this
    process writes ``report_dir``.
    ``report_dir`` must be absent, empty or an earlier report unless ``overwrite``.
    """
    console = console or Console()
    parsed: list[Gate] = [parse_gate(g) for g in gates]  # fail fast on syntax
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InputError(f"workers = {workers} is not allowed; allowed an integer >= 1 "
                         "(default: all cores)")
    if report_dir:
        check_output_folder(report_dir, REPORT_MARKER, overwrite)
    traces = dict(traces or {})
    model = load_deployment(model_path)
    names = check_backends(list(backends), model)
    for name in traces:
        if name in names:
            raise InputError(f"trace name {name!r} is also a backend name; pick another")
    all_names = [*names, *traces]
    if len(all_names) < 2:
        raise InputError(f"verify compares backends: got {', '.join(all_names) or 'none'}; give "
                         "at least two (--backends, --trace); for one, use neurodeploy run")
    for gate in parsed:
        for b in gate.backends:
            if b not in all_names:
                raise InputError(f"gate {gate.expr!r}: {b!r} is not among the backends "
                                 f"({', '.join(all_names)})")
    x, labels, desc = load_data(data, model, samples, split)
    runs = {name: trace_backend(name, path, model, x) for name, path in traces.items()}
    workers = workers or getattr(executor, "n_workers", None) or os.cpu_count() or 1
    columns = (TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        if on_progress:
            on_progress(progress)
        if executor is not None:
            runs.update(run_on_executor(model, names, x, progress, executor, workers))
        for name in names:
            if name not in runs:
                runs[name] = run_backend(model, name, x, progress, workers)
    ordered = [runs[n] for n in all_names]
    logits = {r.name: _logits(r, model) for r in ordered}
    backends_json = {r.name: {"kind": r.kind, "units": r.units, "seconds": r.seconds,
                              "recorded": ["spikes"] + (["v"] if r.v else []),
                              "accuracy": (None if logits[r.name] is None or labels is None
                                           else metrics.accuracy(logits[r.name], labels))}
                     for r in ordered}
    pairs = [compare_pair(a, b, tau, max_lag, logits)
             for i, a in enumerate(ordered) for b in ordered[i + 1:]]
    summary: dict[str, Any] = {
        "model": str(model_path), "data": str(desc), "samples": int(x.shape[0]),
        "steps": int(x.shape[1]), "dt": model.dt, "populations": model.populations,
        "outputs": [model.output] if model.output else [], "readout": model.readout,
        "backends": backends_json, "pairs": pairs, "tau": tau, "max_lag": max_lag}
    summary["gates"] = [evaluate_gate(g, summary) for g in parsed]
    summary["passed"] = all(g["passed"] for g in summary["gates"])
    if report_dir:  # the report names its files relative to its own folder
        seen = {**summary, "model": os.path.relpath(model_path, report_dir),
                "data": desc.seen_from(report_dir)}
        write_outputs(Verification(seen, runs), report_dir, overwrite)
    return Verification(summary, runs)


def write_outputs(result: Verification, report_dir: str | os.PathLike[str],
                  overwrite: bool = False) -> None:
    """summary.json, traces/<backend>.nir (NIR data) and report.html, as one directory
    that appears whole or not at all, replacing only an earlier report unless
    ``overwrite``."""
    with atomic_directory(report_dir, REPORT_MARKER, overwrite) as tmp:
        (tmp / REPORT_MARKER).write_text(json.dumps(result.summary, indent=2))
        (tmp / "traces").mkdir()
        dt = result.summary.get("dt") or 1.0
        for name, run in result.runs.items():
            if run.kind != "trace":
                write_traces_nir(Traces(name, run.spikes, v=run.v), tmp / "traces" / f"{name}.nir",
                                 dt=dt)
        write_html_report(result.summary,
                          {n: {"spikes": r.spikes, "v": r.v} for n, r in result.runs.items()},
                          tmp / "report.html")
