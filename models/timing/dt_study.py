"""``neurodeploy study dt``: how coarse may the time step be for a trained TTFS network?

For every time step dt (the model's unit: seconds, or tau_syn units for ``tau_syn="units"``)
the trained continuous-time network is discretized (:func:`to_float_network`: exact
exponential synaptic decay, dv = 0, one step of latency per hop), quantized to Loihi 2
fixed point (:func:`deploy_ttfs`: post-training quantization on calibration samples from
the training split) and run on the test split:

- the discrete float model (torch-float) and the deployed fixed-point network (reference
  simulator) classify by the earliest output first-spike step (ties: lowest index; no
  output spike: wrong);
- their output first-spike steps decode to times ``(n - L / 2) * Delta`` (tau_syn units;
  L = 2 projections, Delta = dt / tau_syn) and are compared with the exact continuous
  times: mean |t_discrete - t_continuous| (tau_syn units) over the output neurons that
  spike in both, the mean signed error, and the share of output neurons (over samples x
  neurons, in %) that spike in only one of the two.

The recommended dt is the largest one whose deployed accuracy is within ``tolerance_pct``
(default 1) percentage points of the continuous model's. On the first ``lava_samples``
test samples the deployed network at the recommended dt (else the smallest dt) also runs
on Lava's bit-accurate CPU simulator, and its traces (spikes, u, v of every population)
are compared with the reference simulator's.

Outputs (when ``out`` is given): ``dt_study.json`` (everything below) and ``dt_study.png``
(accuracy and timing error against dt), written atomically.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from neurodeploy.errors import InputError, SimulationError, TargetUnavailableError
from neurodeploy.models.timing.deploy import (
    check_dt,
    classify_first_spike,
    deploy_ttfs,
    encode_steps,
    first_spike_steps,
    output_first_steps,
    steps_to_times,
    time_unit,
)
from neurodeploy.models.timing.encoding import load_described
from neurodeploy.models.timing.training import load_ttfs
from neurodeploy.models.timing.ttfs import UNITS, TTFSNetwork

STUDY_FORMAT = "neurodeploy.dt_study"
VERSION = 1
#: Default time steps, as fractions of tau_syn.
DEFAULT_DT_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
JSON_NAME = "dt_study.json"
PLOT_NAME = "dt_study.png"


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
    t_disc = steps_to_times(steps, delta, n_hops)
    both = np.isfinite(t_disc) & np.isfinite(t_cont)
    err = (t_disc - t_cont)[both]
    key = np.sort(np.where(steps >= 0, steps, np.iinfo(np.int64).max), axis=1)
    any_spike = (steps >= 0).any(axis=1)
    tied = any_spike & (key[:, 0] == key[:, 1]) if steps.shape[1] > 1 else np.zeros_like(
        any_spike)
    return {
        "accuracy_pct": 100.0 * float((classify_first_spike(steps) == labels).mean()),
        "time_error": float(np.abs(err).mean()) if err.size else None,
        "time_bias": float(err.mean()) if err.size else None,
        "one_only_pct": 100.0 * float((np.isfinite(t_disc) != np.isfinite(t_cont)).mean()),
        "tied_pct": 100.0 * float(tied.mean()),
        "silent_pct": 100.0 * float((~any_spike).mean()),
    }


def _resolve_model(model) -> tuple[TTFSNetwork, str]:
    if isinstance(model, TTFSNetwork):
        return model, "<in-memory model>"
    if isinstance(model, (str, os.PathLike)):
        return load_ttfs(model)[0], str(model)
    raise InputError(f"model = {type(model).__name__}: expected a TTFS run directory or a "
                     "TTFSNetwork")


def _resolve_dts(model: TTFSNetwork, dts) -> list[float]:
    tau = 1.0 if model.config.tau_syn == UNITS else float(model.config.tau_syn)
    values = [f * tau for f in DEFAULT_DT_FRACTIONS] if dts is None else list(dts)
    if not values:
        raise InputError("dts is empty; give at least one time step")
    for dt in values:
        check_dt(model, dt)
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
) -> DtStudyResult:
    """Accuracy and output spike-time error of a trained TTFS model against the time step.

    ``model``: a run directory (``scripts/ttfs_digits.py``) or a :class:`TTFSNetwork`.
    ``dts``: time steps in the model's unit (default: 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01
    x tau_syn); each must satisfy :func:`check_dt`. Test data default to the model's own
    test split (``config.data``), calibration data to the first ``calib_samples`` of its
    training split (else of the test times given). ``lava_samples`` = 0 skips Lava. See the
    module docstring for what is measured; bad input raises a one-line :class:`InputError`.
    """
    start = time.perf_counter()
    net, name = _resolve_model(model)
    dt_list = _resolve_dts(net, dts)
    if not (math.isfinite(tolerance_pct) and tolerance_pct >= 0):
        raise InputError(f"tolerance_pct = {tolerance_pct} must be >= 0")
    if calib_samples < 1 or lava_samples < 0:
        raise InputError(f"calib_samples = {calib_samples} must be >= 1 and lava_samples = "
                         f"{lava_samples} >= 0")
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
    finite = t_cont[np.isfinite(t_cont)]
    t_end = (float(finite.max()) if finite.size else 0.0) + 1.0
    cont_acc = 100.0 * float((reference.predict(torch.as_tensor(t_cont)).numpy()
                              == test_labels).mean())
    result = DtStudyResult(model=name, unit=time_unit(net), tau_syn=net.config.tau_syn,
                           n_test=len(test_labels), continuous_accuracy_pct=cont_acc,
                           tolerance_pct=float(tolerance_pct))
    deployed = {}
    for dt in dt_list:
        t0 = time.perf_counter()
        dep = deploy_ttfs(net, dt, calib, t_end)
        x = encode_steps(net, test_times, dep.delta, dep.steps)
        row = {"dt": dt, "delta": dep.delta, "steps": dep.steps,
               "du": int(next(iter(dep.network.populations.values())).param("du").max())}
        for label, target_net in (("float", dep.float_network), ("deployed", dep.network)):
            steps = output_first_steps(target_net, x)
            metrics = _time_metrics(steps, dep.delta, dep.hops, t_cont, test_labels)
            row.update({f"{label}_{k}": v for k, v in metrics.items()})
        row.update(scales=dep.quantization.scales, clipped=dep.quantization.clipped,
                   seconds=time.perf_counter() - t0)
        result.rows.append(row)
        deployed[dt] = dep
        if console is not None:
            console.print(f"dt = {dt:g} {result.unit}: float {row['float_accuracy_pct']:.1f}%, "
                          f"deployed {row['deployed_accuracy_pct']:.1f}% "
                          f"({row['seconds']:.1f} s)")
    ok = [r["dt"] for r in result.rows
          if r["deployed_accuracy_pct"] >= cont_acc - tolerance_pct - 1e-9]
    result.recommended_dt = max(ok) if ok else None
    if lava_samples:
        result.lava = _lava_check(net, deployed[result.recommended_dt or dt_list[-1]],
                                  test_times[:lava_samples], test_labels[:lava_samples])
    result.seconds = time.perf_counter() - start
    if out is not None:
        out = Path(out)
        result.files = {"json": str(out / JSON_NAME), "plot": str(out / PLOT_NAME)}
        _write(result)
    return result


def _lava_check(model: TTFSNetwork, dep, times: np.ndarray, labels: np.ndarray) -> dict:
    """Reference vs Lava (bit-accurate CPU models) on a few samples: identical traces?"""
    from neurodeploy.simulate import simulate

    x = encode_steps(model, times, dep.delta, dep.steps)
    record = ("spikes", "v", "u")
    ref = simulate(dep.network, x, target="reference", record=record)
    t0 = time.perf_counter()
    try:
        lava = simulate(dep.network, x, target="lava", record=record)
    except (TargetUnavailableError, SimulationError) as exc:  # keep the study's results
        return {"dt": dep.dt, "samples": len(labels),
                "skipped": f"{type(exc).__name__}: {exc}"}
    identical = all(np.array_equal(getattr(ref, kind)[pop], getattr(lava, kind)[pop])
                    for kind in record for pop in dep.network.populations)
    out = dep.network.outputs[-1]
    acc = {name: 100.0 * float((classify_first_spike(first_spike_steps(tr.spikes[out]))
                                == labels).mean()) for name, tr in (("reference", ref),
                                                                   ("lava", lava))}
    return {"dt": dep.dt, "samples": len(labels), "steps": dep.steps,
            "identical": bool(identical), "reference_accuracy_pct": acc["reference"],
            "lava_accuracy_pct": acc["lava"], "seconds": time.perf_counter() - t0}


def _write(result: DtStudyResult) -> None:
    from neurodeploy.network_io import atomic_write_text

    atomic_write_text(result.files["json"], json.dumps(result.to_json(), indent=2))
    _plot(result)


def _plot(result: DtStudyResult) -> None:
    """Left: accuracy (%) against dt / tau_syn, continuous model and its tolerance band;
    right: mean |output spike-time error| (tau_syn units) against dt / tau_syn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurodeploy.network_io import atomic_output

    delta = [r["delta"] for r in result.rows]
    fig, (ax_acc, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
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
    ax_acc.set_xscale("log")
    ax_acc.set_xlabel("dt / tau_syn")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend(fontsize=8)
    ax_err.set_xscale("log")
    ax_err.set_yscale("log")
    ax_err.set_xlabel("dt / tau_syn")
    ax_err.set_ylabel("mean |t - t_continuous| (tau_syn)")
    ax_err.legend(fontsize=8)
    fig.suptitle(f"dt study: {result.model}, {result.n_test} test samples",
                 fontsize=10)
    fig.tight_layout()
    with atomic_output(result.files["plot"]) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def render_dt_study(result: DtStudyResult, console: Console | None = None) -> None:
    """Print the study's table, the Lava check and where the files are."""
    console = console or Console()
    unit = result.unit
    table = Table(
        title=f"dt study: {result.model} (continuous model {result.continuous_accuracy_pct:.1f}%"
              f" on {result.n_test} test samples)",
        caption="accuracy in %; |Δt| = mean |output spike time - continuous| and bias = mean "
                "signed error, tau_syn units, over output neurons spiking in both; one-only = "
                "% of output neurons spiking in only one; ties = % of samples whose earliest "
                f"output step is shared (lowest index wins); ★ = recommended (largest dt within "
                f"{result.tolerance_pct:g} point of continuous)")
    seconds = unit == "s"  # dt/τ differs from dt only when dt is in seconds
    for col in (f"dt ({unit})", *(["dt/τ"] if seconds else []), "steps", "du", "float %",
                "deployed %", "Δ deployed", "|Δt| float", "|Δt| deployed", "bias deployed",
                "one-only %", "ties %", "s"):
        table.add_column(col, justify="right", no_wrap=True)

    def num(x: float | None, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    for r in result.rows:
        star = " ★" if r["dt"] == result.recommended_dt else ""
        diff = r["deployed_accuracy_pct"] - result.continuous_accuracy_pct
        style = "green" if diff >= -result.tolerance_pct - 1e-9 else "red"
        table.add_row(
            f"{r['dt']:g}{star}", *([f"{r['delta']:.3g}"] if seconds else []), str(r["steps"]),
            str(r["du"]),
            f"{r['float_accuracy_pct']:.1f}", f"{r['deployed_accuracy_pct']:.1f}",
            f"[{style}]{diff:+.1f}[/{style}]", num(r["float_time_error"], ".4f"),
            num(r["deployed_time_error"], ".4f"), num(r["deployed_time_bias"], "+.4f"),
            f"{r['deployed_one_only_pct']:.2f}", f"{r['deployed_tied_pct']:.1f}",
            f"{r['seconds']:.1f}")
    console.print(table)
    if result.recommended_dt is None:
        console.print(f"[red]no dt keeps the deployed accuracy within {result.tolerance_pct:g} "
                      "point of the continuous model[/red]")
    else:
        console.print(f"recommended dt = {result.recommended_dt:g} {unit}")
    lava = result.lava
    if lava is not None:
        if "skipped" in lava:
            console.print(f"Lava check skipped: {lava['skipped']}")
        else:
            verdict = "identical" if lava["identical"] else "[red]DIFFERENT[/red]"
            console.print(
                f"Lava (fixed_pt) at dt = {lava['dt']:g} {unit} on {lava['samples']} test "
                f"samples: spikes, u, v {verdict} to the reference simulator (accuracy "
                f"{lava['lava_accuracy_pct']:.1f}% vs {lava['reference_accuracy_pct']:.1f}%)")
    if result.files:
        console.print(f"summary: {result.files['json']}; plot: {result.files['plot']}")
    console.print(f"took {result.seconds:.1f} s")
