"""``neurodeploy study dt``: how coarse may the time step be for a trained exact-timing
network (TTFS or multi-spike)?

For every time step dt (the model's unit: seconds, or tau_syn units for ``tau_syn="units"``)
the trained continuous-time network is discretized (exact exponential decays sampled at
the step boundaries, one step of latency per hop), quantized to Loihi 2 fixed point
(post-training quantization on calibration samples from the training split) and run on
the test split.

TTFS models (``neurodeploy.models.exact.discrete_ttfs``, ``neurodeploy.quantize.exact``):

- the discrete float model (torch-float) and the deployed fixed-point network (reference
  simulator) classify by the earliest output first-spike step (ties: lowest index; no
  output spike: wrong);
- their output first-spike steps decode to times ``(n - L / 2) * Delta`` (tau_syn units;
  L = 2 projections, Delta = dt / tau_syn) and are compared with the exact continuous
  times: mean |t_discrete - t_continuous| (tau_syn units) over the output neurons that
  spike in both, the mean signed error, and the share of output neurons (over samples x
  neurons, in %) that spike in only one of the two.

Multi-spike models (``neurodeploy.models.exact.discrete_multispike``; default dts 1 to 1/50
of the data's time step, so that input spikes stay on the grid):

- both discrete models classify by the largest mean v of the non-spiking readout;
- the last spiking layer's spikes (a spike at step n decodes to ``(n - L / 2) dt``, L =
  spiking layers) are paired with the continuous ones per neuron (mutual nearest
  neighbours within tau_syn: ``discrete_multispike.timing_error``): mean |error| and mean
  signed error in tau_syn units over pairs, the share of both models' spikes left
  unpaired (``<model>_one_only_pct`` in the JSON rows) and of (sample, neuron) whose spike
  counts differ (``<model>_count_mismatch_pct``).

The recommended dt is the largest one whose deployed accuracy is within ``tolerance_pct``
(default 1) percentage points of the continuous model's. On the first ``lava_samples``
test samples the deployed network at the recommended dt (else the smallest dt) also runs
on Lava's bit-accurate CPU simulator, and its traces (spikes, u, v of every population)
are compared with the reference simulator's.

Outputs (when ``out`` is given): ``dt_study.json`` (everything below) and ``dt_study.png``
(accuracy and timing error against dt), written atomically, and ``deployed/``: the
fixed-point network at the recommended dt (else the smallest) with its float model, its
readout (``mean_v`` or ``first_spike``) and the test data on that step, which
``neurodeploy verify`` checks spike by spike across backends.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from neurodeploy.cluster import run_all, share
from neurodeploy.errors import InputError, SimulationError, TargetUnavailableError
from neurodeploy.exchange.nir_export import float_network_to_nir, write_nir
from neurodeploy.float_network import FloatNetwork
from neurodeploy.models.datasets import save_dataset
from neurodeploy.models.datasets.format import SpikeDataset
from neurodeploy.models.exact import discrete_multispike, discrete_ttfs
from neurodeploy.models.exact.encoding import load_described
from neurodeploy.models.exact.multispike import MultiSpikeNetwork, spikes_to_events
from neurodeploy.models.exact.multispike_training import RUN_FORMAT as MULTISPIKE_FORMAT
from neurodeploy.models.exact.multispike_training import load_multispike, load_splits
from neurodeploy.models.exact.training import RUN_FORMAT as TTFS_FORMAT
from neurodeploy.models.exact.training import load_ttfs
from neurodeploy.models.exact.ttfs import UNITS, TTFSNetwork
from neurodeploy.models.network import population_names
from neurodeploy.models.training import read_run_files
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import atomic_output, atomic_write_text
from neurodeploy.quantize import exact as quantize_exact
from neurodeploy.quantize.pipeline import write_quant_dir
from neurodeploy.readout import readout_logits
from neurodeploy.simulate import simulate
from neurodeploy.terminal_table import print_table

STUDY_FORMAT = "neurodeploy.dt_study"
VERSION = 1
#: Default time steps, as fractions of tau_syn.
DEFAULT_DT_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
#: Default time steps of a multi-spike study, as fractions of the data's time step (input
#: spikes stay on the grid; a coarser step would merge spikes).
DEFAULT_MULTISPIKE_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02)
JSON_NAME = "dt_study.json"
PLOT_NAME = "dt_study.png"
#: A deployed exact-timing model: TTFS or multi-spike.
Deployed = quantize_exact.DeployedTTFS | quantize_exact.DeployedMultiSpike


@dataclass
class DtStudyResult:
    """What :func:`run_dt_study` found (also ``dt_study.json``).

    ``rows``: one per dt, largest first, each with ``dt`` (model unit), ``delta``
    (dt / tau_syn), ``steps`` per sample, ``du`` (the 12-bit integer), for model in
    ("float", "deployed"): ``<model>_accuracy_pct``, ``<model>_time_error`` (mean |error|,
    tau_syn units), ``<model>_time_bias`` (mean signed error), ``<model>_one_only_pct``,
    ``<model>_tied_pct`` (samples whose earliest output step is shared) and
    ``<model>_silent_pct`` (samples without output spike); ``scales`` and ``clipped``
    from PTQ; ``seconds``. ``lava``: the Lava check (or why it was skipped), None if not
    asked for.
    """

    model: str
    unit: str
    tau_syn: float | str
    kind: str  # "ttfs" (first output spikes) or "multispike" (mean-v readout)
    n_test: int
    continuous_accuracy_pct: float
    tolerance_pct: float
    rows: list[dict] = field(default_factory=list)
    recommended_dt: float | None = None
    lava: dict | None = None
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": STUDY_FORMAT, "version": VERSION, **asdict(self)}


def _time_metrics(steps: np.ndarray, delta: float, n_hops: int, t_cont: np.ndarray,
                  labels: np.ndarray) -> dict:
    t_disc = discrete_ttfs.steps_to_times(steps, delta, n_hops)
    both = np.isfinite(t_disc) & np.isfinite(t_cont)
    err = t_disc[both] - t_cont[both]
    key = np.sort(np.where(steps >= 0, steps, np.iinfo(np.int64).max), axis=1)
    any_spike = (steps >= 0).any(axis=1)
    tied = any_spike & (key[:, 0] == key[:, 1]) if steps.shape[1] > 1 else np.zeros_like(
        any_spike)
    return {
        "accuracy_pct": 100.0 * float((discrete_ttfs.classify_first_spike(steps) == labels).mean()),
        "time_error": float(np.abs(err).mean()) if err.size else None,
        "time_bias": float(err.mean()) if err.size else None,
        "one_only_pct": 100.0 * float((np.isfinite(t_disc) != np.isfinite(t_cont)).mean()),
        "tied_pct": 100.0 * float(tied.mean()),
        "silent_pct": 100.0 * float((~any_spike).mean()),
    }


def _resolve_model(model) -> tuple[TTFSNetwork | MultiSpikeNetwork, str]:
    """(the model, its name): an in-memory model, or a TTFS or multi-spike run directory's
    model by the format in its config.json."""
    if isinstance(model, (TTFSNetwork, MultiSpikeNetwork)):
        return model, "<in-memory model>"
    if not isinstance(model, (str, os.PathLike)):
        raise InputError(f"model = {type(model).__name__}: expected an exact-timing run "
                         "directory, a TTFSNetwork or a MultiSpikeNetwork")
    run, _ = read_run_files(model, kind="exact-timing run")
    fmt = run.get("format") if isinstance(run, dict) else None
    loaders = {MULTISPIKE_FORMAT: load_multispike, TTFS_FORMAT: load_ttfs}
    if fmt not in loaders:
        raise InputError(f"{model}: format {fmt!r} is not an exact-timing run; expected "
                         f"{TTFS_FORMAT!r} or {MULTISPIKE_FORMAT!r}")
    return loaders[fmt](model)[0], str(model)


def _dt_list(dts, fractions: tuple[float, ...], unit: float,
             check: Callable[[float], object]) -> list[float]:
    """The study's time steps, largest first: ``dts`` (else ``fractions`` x ``unit``), each
    validated by ``check``; an empty list is a one-line :class:`InputError`."""
    values = [f * unit for f in fractions] if dts is None else list(dts)
    if not values:
        raise InputError("dts is empty; give at least one time step")
    for dt in values:
        check(dt)
    return sorted({float(dt) for dt in values}, reverse=True)


def run_dt_study(
    model: TTFSNetwork | str | os.PathLike[str],
    dts: list[float] | tuple[float, ...] | None = None,
    out: str | os.PathLike[str] | None = None,
    test_times: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    calib_times: np.ndarray | None = None,
    calib_samples: int = 256,
    tolerance_pct: float = 1.0,
    lava_samples: int = 8,
    console: Console | None = None,
    executor: Executor | None = None,
) -> DtStudyResult:
    """Accuracy and spike-time error of a trained exact-timing model against the time step.

    ``model``: a run directory (``scripts/ttfs_digits.py``, ``scripts/multispike_isi.py``),
    a :class:`TTFSNetwork` or a :class:`MultiSpikeNetwork` (which always uses its own test
    split and, by default, dts of 1 to 1/50 of its data's time step).
    ``dts``: time steps in the model's unit (default: 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01
    x tau_syn); each must satisfy :func:`check_dt`. Test data default to the model's own
    test split (``config.data``), calibration data to the first ``calib_samples`` of its
    training split (else of the test times given). ``lava_samples`` = 0 skips Lava. See the
    module docstring for what is measured; bad input raises a one-line :class:`InputError`.
    ``executor``: the dts run there side by side (e.g. a Dask cluster's; the model and
    the data go as data, each dt's row and deployed model come back), the same rows as
    here (their ``seconds`` aside); the Lava check and the files stay in this process.
    """
    start = time.perf_counter()
    net, name = _resolve_model(model)
    if not (math.isfinite(tolerance_pct) and tolerance_pct >= 0):
        raise InputError(f"tolerance_pct = {tolerance_pct} must be >= 0")
    if calib_samples < 1 or lava_samples < 0:
        raise InputError(f"calib_samples = {calib_samples} must be >= 1 and lava_samples = "
                         f"{lava_samples} >= 0")
    if isinstance(net, MultiSpikeNetwork):
        return _multispike_study(net, name, dts, out, calib_samples, tolerance_pct,
                                 lava_samples, console, start, executor)
    tau = 1.0 if net.config.tau_syn == UNITS else float(net.config.tau_syn)
    dt_list = _dt_list(dts, DEFAULT_DT_FRACTIONS, tau, lambda dt: discrete_ttfs.check_dt(net, dt))
    if test_times is None or test_labels is None:
        if not net.config.data:
            raise InputError("the model does not describe its data (config.data is empty); "
                             "pass test_times and test_labels")
        data = load_described(net.config.data)
        test_times, test_labels = data.test_times, data.test_labels
        calib_times = data.train_times if calib_times is None else calib_times
    test_times = np.asarray(test_times, dtype=np.float64)
    test_labels = np.asarray(test_labels)
    if test_labels.shape != (len(test_times),):
        raise InputError(f"test_labels has shape {test_labels.shape}; expected "
                         f"({len(test_times)},)")
    calib = np.asarray(test_times if calib_times is None else calib_times)[:calib_samples]

    reference = TTFSNetwork(net.config).double()
    reference.load_state_dict(net.state_dict())
    with torch.no_grad():
        t_cont = reference(torch.as_tensor(test_times)).numpy()
    t_end = float(max(t_cont[np.isfinite(t_cont)], default=0.0)) + 1.0
    cont_acc = 100.0 * float((reference.predict(torch.as_tensor(t_cont)).numpy()
                              == test_labels).mean())
    result = DtStudyResult(model=name, unit=discrete_ttfs.time_unit(net),
                           tau_syn=net.config.tau_syn, kind="ttfs", n_test=len(test_labels),
                           continuous_accuracy_pct=cont_acc, tolerance_pct=float(tolerance_pct))
    dep = _run_rows(result, executor, console, _ttfs_row, net, dt_list,
                    (calib, t_end, test_times, t_cont, test_labels))
    x = discrete_ttfs.encode_steps(net, test_times, dep.delta, dep.steps)
    data = SpikeDataset(x.astype(np.uint8), test_labels.astype(np.int64), net.config.n_outputs,
                        dep.dt, "ttfs-test",
                        {"data": net.config.data, "dt": dep.dt, "time_unit": result.unit})
    return _conclude(result, dep, data, "first_spike", dep.hops, lava_samples, out, start,
                     lambda tr: discrete_ttfs.classify_first_spike(
                         discrete_ttfs.first_spike_steps(tr.spikes[dep.network.outputs[-1]])))


def _ttfs_row(net: TTFSNetwork, dt: float, calib: np.ndarray, t_end: float,
              test_times: np.ndarray, t_cont: np.ndarray, labels: np.ndarray,
              ) -> tuple[dict, quantize_exact.DeployedTTFS]:
    """One dt of a TTFS study: (its row, the deployed model); see :class:`DtStudyResult`."""
    t0 = time.perf_counter()
    dep = quantize_exact.deploy_ttfs(net, dt, calib, t_end)
    x = discrete_ttfs.encode_steps(net, test_times, dep.delta, dep.steps)
    row = {"dt": dt, "delta": dep.delta, "steps": dep.steps,
           "du": int(next(iter(dep.network.populations.values())).param("du").max())}
    for label, target_net in (("float", dep.float_network), ("deployed", dep.network)):
        steps = output_first_steps(target_net, x)
        metrics = _time_metrics(steps, dep.delta, dep.hops, t_cont, labels)
        row.update({f"{label}_{k}": v for k, v in metrics.items()})
    return _with_ptq(row, dep, t0), dep


def _with_ptq(row: dict, dep, t0: float) -> dict:
    """``row`` with PTQ's scales and clipping and the seconds since ``t0``."""
    row.update(scales=dep.quantization.scales, clipped=dep.quantization.clipped,
               seconds=time.perf_counter() - t0)
    return row


def _run_rows(result: DtStudyResult, executor: Executor | None, console: Console | None,
              row_of: Callable, net: TTFSNetwork | MultiSpikeNetwork, dts: list[float],
              args: tuple) -> Deployed:
    """``row_of(net, dt, *args)`` per dt, here in order or all at once on ``executor``
    (``net`` shared with its workers once); each row printed as it arrives, added to
    ``result`` in the dts' order. Sets ``result.recommended_dt``: the largest dt whose
    deployed accuracy is within the tolerance (None if none is). Returns the deployed
    model at that dt, else at the smallest dt."""
    def arrived(_i: int, done: tuple[dict, object]) -> None:
        row = done[0]
        if console is not None:
            console.print(f"dt = {row['dt']:g} {result.unit}: float "
                          f"{row['float_accuracy_pct']:.1f}%, deployed "
                          f"{row['deployed_accuracy_pct']:.1f}% ({row['seconds']:.1f} s)")

    shared = share(executor, net)
    done = run_all(executor, row_of, [(shared, dt, *args) for dt in dts], arrived)
    result.rows.extend(row for row, _ in done)
    deployed = {row["dt"]: dep for row, dep in done}
    ok = [r["dt"] for r in result.rows if r["deployed_accuracy_pct"]
          >= result.continuous_accuracy_pct - result.tolerance_pct - 1e-9]
    result.recommended_dt = max(ok) if ok else None
    return deployed[result.recommended_dt or dts[-1]]


def output_first_steps(net: FloatNetwork | FixedPointNetwork, spikes: np.ndarray) -> np.ndarray:
    """Run ``net`` on input spikes and return the output population's first-spike steps
    (batch, n_out), -1 where none. A :class:`FloatNetwork` runs on torch-float."""
    out = net.outputs[-1]
    return discrete_ttfs.first_spike_steps(
        simulate(net, spikes, target=_target(net), populations=[out]).spikes[out])


def _target(net: FloatNetwork | FixedPointNetwork) -> str:
    """``torch-float`` for a :class:`FloatNetwork`, else the reference simulator."""
    return "torch-float" if isinstance(net, FloatNetwork) else "reference"


def _lava_check(network: FixedPointNetwork, x: np.ndarray, labels: np.ndarray, dt: float,
                classify: Callable[[object], np.ndarray]) -> dict:
    """Reference vs Lava (bit-accurate CPU models) on a few samples: identical traces?
    ``classify(traces)`` gives the classes from a backend's traces."""
    record = ("spikes", "v", "u")
    ref = simulate(network, x, target="reference", record=record)
    t0 = time.perf_counter()
    try:
        lava = simulate(network, x, target="lava", record=record)
    except (TargetUnavailableError, SimulationError) as exc:  # keep the study's results
        return {"dt": dt, "samples": len(labels), "skipped": f"{type(exc).__name__}: {exc}"}
    identical = all(np.array_equal(getattr(ref, kind)[pop], getattr(lava, kind)[pop])
                    for kind in record for pop in network.populations)
    acc = {name: 100.0 * float((classify(tr) == labels).mean())
           for name, tr in (("reference", ref), ("lava", lava))}
    return {"dt": dt, "samples": len(labels), "steps": int(x.shape[1]),
            "identical": bool(identical), "reference_accuracy_pct": acc["reference"],
            "lava_accuracy_pct": acc["lava"], "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------
# multi-spike models: mean-v readout, timing of the last spiking layer
# ---------------------------------------------------------------------------------------

def _continuous_multispike(model: MultiSpikeNetwork, spikes: np.ndarray, data_dt: float,
                           batch_size: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(logits, last spiking layer's times (samples, n, S) +inf padded) of the continuous
    model."""
    logits, times = [], []
    with torch.no_grad():
        for i in range(0, len(spikes), batch_size):
            t_in, src = spikes_to_events(spikes[i:i + batch_size], data_dt)
            out, layers = model.run(t_in, src)
            logits.append(out.numpy())
            times.append(layers[-1].numpy())
    width = max(t.shape[2] for t in times)
    times = [np.concatenate([t, np.full((*t.shape[:2], width - t.shape[2]), np.inf)], axis=2)
             for t in times]
    return np.concatenate(logits), np.concatenate(times)


def _multispike_study(net: MultiSpikeNetwork, name: str, dts, out, calib_samples: int,
                      tolerance_pct: float, lava_samples: int, console: Console | None,
                      start: float, executor: Executor | None) -> DtStudyResult:
    cfg = net.config
    if not cfg.data:
        raise InputError("the model does not describe its data (config.data is empty)")
    data_dt = float(cfg.data["dt"])
    dt_list = _dt_list(dts, DEFAULT_MULTISPIKE_FRACTIONS, data_dt,
                       lambda dt: discrete_multispike.check_dt(net, dt))
    train, _, test = load_splits(cfg.data)
    labels = test.labels
    logits, t_cont = _continuous_multispike(net, test.spikes, data_dt)
    cont_acc = 100.0 * float((logits.argmax(axis=1) == labels).mean())
    result = DtStudyResult(model=name, unit="s", tau_syn=cfg.tau_syn, kind="multispike",
                           n_test=len(labels), continuous_accuracy_pct=cont_acc,
                           tolerance_pct=float(tolerance_pct))
    output = population_names(len(cfg.hidden) + 1)[-1]
    dep = _run_rows(result, executor, console, _multispike_row, net, dt_list,
                    (train.spikes[:calib_samples], data_dt, test.spikes, labels, t_cont))
    x, _ = discrete_multispike.resample_spikes(test.spikes, data_dt, dep.dt, dep.steps)
    data = replace(test, spikes=x.astype(np.uint8), dt=dep.dt,
                   params={**test.params, "resampled_dt": dep.dt})
    return _conclude(result, dep, data, "mean_v", len(cfg.hidden) + 1, lava_samples, out, start,
                     lambda tr: readout_logits(None, tr.v[output], "mean_v").argmax(axis=1))


def _multispike_row(net: MultiSpikeNetwork, dt: float, calib_spikes: np.ndarray,
                    data_dt: float, test_spikes: np.ndarray, labels: np.ndarray,
                    t_cont: np.ndarray) -> tuple[dict, quantize_exact.DeployedMultiSpike]:
    """One dt of a multi-spike study: (its row, the deployed model); see
    :class:`DtStudyResult`."""
    t0 = time.perf_counter()
    cfg = net.config
    hidden, output = population_names(len(cfg.hidden) + 1)[-2:]
    dep = quantize_exact.deploy_multispike(net, dt, calib_spikes, data_dt)
    x, lost = discrete_multispike.resample_spikes(test_spikes, data_dt, dt, dep.steps)
    row = {"dt": dt, "delta": dt / cfg.tau_syn, "steps": dep.steps,
           "du": int(dep.network.populations[hidden].param("du").max()),
           "input_spikes_lost": lost}
    for label, target_net in (("float", dep.float_network), ("deployed", dep.network)):
        tr = simulate(target_net, x, target=_target(target_net),
                      populations=[hidden, output], record=("spikes", "v"))
        scores = readout_logits(None, tr.v[output], "mean_v")
        top = np.sort(scores, axis=1)
        timing = discrete_multispike.timing_error(
            t_cont, discrete_multispike.spike_step_lists(tr.spikes[hidden]), dt, len(cfg.hidden),
            cfg.tau_syn)
        row.update({
            f"{label}_accuracy_pct": 100.0 * float((scores.argmax(axis=1) == labels).mean()),
            f"{label}_time_error": timing["time_error"],
            f"{label}_time_bias": timing["time_bias"],
            f"{label}_one_only_pct": timing["unpaired_pct"],
            f"{label}_count_mismatch_pct": timing["count_mismatch_pct"],
            f"{label}_tied_pct": 100.0 * float((top[:, -1] == top[:, -2]).mean())
            if scores.shape[1] > 1 else 0.0,
            f"{label}_silent_pct": 100.0 * float((~tr.spikes[hidden].any(axis=(1, 2))).mean()),
        })
    return _with_ptq(row, dep, t0), dep


def _conclude(result: DtStudyResult, dep: Deployed, data: SpikeDataset, readout: str, hops: int,
              lava_samples: int, out: str | os.PathLike[str] | None, start: float,
              classify: Callable[[object], np.ndarray]) -> DtStudyResult:
    """Finish a study at ``dep``, the deployed model at the recommended dt (else the
    smallest): on the first ``lava_samples`` of ``data`` (the test split on steps of that
    dt) the Lava check (``classify(traces)``: the classes), the run time and, with ``out``,
    the files: ``<out>/deployed``, the deployed network as a folder ``neurodeploy verify``
    reads (``network.npz``, ``quantization.json`` with the readout, ``source.nir``: the
    discrete float model, ``test.npz``: ``data``), written into a temporary folder that
    replaces the old one only when complete (a model in tau_syn units is written with dt in
    tau_syn units as if they were seconds; ``time_unit`` says so), then ``dt_study.json``
    and ``dt_study.png``."""
    if lava_samples:
        result.lava = _lava_check(dep.network, data.spikes[:lava_samples].astype(bool),
                                  data.labels[:lava_samples], dep.dt, classify)
    if out is not None:
        out = Path(out)
        row = next(r for r in result.rows if r["dt"] == dep.dt)
        info = {**dep.quantization.to_json(), "readout": readout,
                "output": dep.network.outputs[0], "hops": hops, "dt": dep.dt,
                "time_unit": result.unit,
                "test_acc_float": row["float_accuracy_pct"] / 100.0,
                "test_acc_quantized_reference": row["deployed_accuracy_pct"] / 100.0}

        def extra(tmp: Path) -> None:
            write_nir(float_network_to_nir(dep.float_network, dep.dt), tmp / "source.nir")
            save_dataset(data, tmp / "test.npz")

        write_quant_dir(out / "deployed", dep.network, info, extra)
        result.files["deployed"] = str(out / "deployed")
    result.seconds = time.perf_counter() - start
    if out is not None:
        result.files.update(json=str(out / JSON_NAME), plot=str(out / PLOT_NAME))
        atomic_write_text(result.files["json"], json.dumps(result.to_json(), indent=2))
        _plot(result)
    return result


def _plot(result: DtStudyResult) -> None:
    """Left: accuracy (%) against dt / tau_syn, continuous model and its tolerance band;
    right: mean |output spike-time error| (tau_syn units) against dt / tau_syn."""
    delta = [r["delta"] for r in result.rows]
    fig = Figure(figsize=(10, 4))
    ax_acc, ax_err = fig.subplots(1, 2)
    cont = result.continuous_accuracy_pct
    ax_acc.axhspan(cont - result.tolerance_pct, cont, color="grey", alpha=0.2,
                   label=f"continuous - {result.tolerance_pct:g} point")
    ax_acc.axhline(cont, color="black", linestyle="--", label=f"continuous ({cont:.1f}%)")
    for model, marker in (("float", "o"), ("deployed", "s")):
        ax_acc.plot(delta, [r[f"{model}_accuracy_pct"] for r in result.rows], marker=marker,
                    label=f"{model} (discrete)")
        errors = [math.nan if r[f"{model}_time_error"] is None else r[f"{model}_time_error"]
                  for r in result.rows]
        ax_err.plot(delta, errors, marker=marker, label=model)
    if result.recommended_dt is not None:
        rec = next(r["delta"] for r in result.rows if r["dt"] == result.recommended_dt)
        for ax in (ax_acc, ax_err):
            ax.axvline(rec, color="green", linestyle=":", label="recommended dt")
    ax_err.set_yscale("log")
    for ax, ylabel in ((ax_acc, "test accuracy (%)"),
                       (ax_err, "mean |t - t_continuous| (tau_syn)")):
        ax.set(xscale="log", xlabel="dt / tau_syn", ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(f"dt study: {result.model}, {result.n_test} test samples", fontsize=10)
    fig.tight_layout()
    with atomic_output(result.files["plot"]) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def render_dt_study(result: DtStudyResult, console: Console | None = None) -> None:
    """Print the study's table, the Lava check and where the files are."""
    console = console or Console()
    unit = result.unit
    if result.kind == "multispike":
        timed = ("|Δt| = mean |spike time - continuous| and bias = mean signed error, tau_syn "
                 "units, over the last spiking layer's spikes paired with the continuous ones "
                 "(mutual nearest, within tau_syn, per neuron); unpaired = % of both models' "
                 "spikes without a partner; ties = % of samples with a tied top readout")
        mismatch = "unpaired %"
    else:
        timed = ("|Δt| = mean |output spike time - continuous| and bias = mean signed error, "
                 "tau_syn units, over output neurons spiking in both; one-only = % of output "
                 "neurons spiking in only one; ties = % of samples whose earliest output step "
                 "is shared (lowest index wins)")
        mismatch = "one-only %"
    table = Table(
        title=f"dt study: {result.model} (continuous model {result.continuous_accuracy_pct:.1f}%"
              f" on {result.n_test} test samples)",
        caption=f"accuracy in %; {timed}; ★ = recommended (largest dt within "
                f"{result.tolerance_pct:g} point of continuous)")
    seconds = unit == "s"  # dt/τ differs from dt only when dt is in seconds
    for col in (f"dt ({unit})", *(["dt/τ"] if seconds else []), "steps", "du", "float %",
                "deployed %", "Δ deployed", "|Δt| float", "|Δt| deployed", "bias deployed",
                mismatch, "ties %", "s"):
        table.add_column(col, justify="right", no_wrap=True)

    def num(x: float | None, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    for r in result.rows:
        star = " ★" if r["dt"] == result.recommended_dt else ""
        diff = r["deployed_accuracy_pct"] - result.continuous_accuracy_pct
        style = "green" if diff >= -result.tolerance_pct - 1e-9 else "red"
        table.add_row(
            f"{r['dt']:g}{star}", *([f"{r['delta']:.3g}"] if seconds else []), str(r["steps"]),
            str(r["du"]), f"{r['float_accuracy_pct']:.1f}", f"{r['deployed_accuracy_pct']:.1f}",
            f"[{style}]{diff:+.1f}[/{style}]", num(r["float_time_error"], ".4f"),
            num(r["deployed_time_error"], ".4f"), num(r["deployed_time_bias"], "+.4f"),
            f"{r['deployed_one_only_pct']:.2f}", f"{r['deployed_tied_pct']:.1f}",
            f"{r['seconds']:.1f}")
    print_table(console, table)
    if result.recommended_dt is None:
        console.print(f"[red]no dt keeps the deployed accuracy within {result.tolerance_pct:g} "
                      "point of the continuous model[/red]")
    else:
        console.print(f"recommended dt = {result.recommended_dt:g} {unit}")
    lava = result.lava or {}
    if "skipped" in lava:
        console.print(f"Lava check skipped: {lava['skipped']}")
    elif lava:
        verdict = "identical" if lava["identical"] else "[red]DIFFERENT[/red]"
        console.print(
            f"Lava (fixed_pt) at dt = {lava['dt']:g} {unit} on {lava['samples']} test "
            f"samples: spikes, u, v {verdict} to the reference simulator (accuracy "
            f"{lava['lava_accuracy_pct']:.1f}% vs {lava['reference_accuracy_pct']:.1f}%)")
    if result.files:
        console.print(f"summary: {result.files['json']}; plot: {result.files['plot']}")
    if "deployed" in result.files:
        where = result.files["deployed"]
        console.print(f"deployed network at dt = {result.recommended_dt or result.rows[-1]['dt']:g}"
                      f" {unit}: {where} (check it spike by spike: neurodeploy verify {where} "
                      f"--data {where}/test.npz --backends torch-float,reference,lava)")
    console.print(f"took {result.seconds:.1f} s")
