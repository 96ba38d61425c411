"""The ``neurodeploy`` command line: a thin shell over the library.

Every command parses arguments, calls one library function and renders its result.
User errors (:class:`~neurodeploy.errors.NeurodeployError`) become a one-line message and
exit code 2 here, in one place; ``--debug`` shows the traceback instead.

Each command imports the library it calls inside its own function: importing every stage
at the top (torch, Lava, matplotlib) takes ``neurodeploy --version`` from 0.4 s to 3.5 s
(measured on the project's 2-core machine), for every command, including ``--help``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from neurodeploy import __version__
from neurodeploy.cluster import cluster_spec, open_cluster
from neurodeploy.errors import InputError, NeurodeployError
from neurodeploy.terminal_table import print_table

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="neurodeploy",
    help="Deploy spiking networks to Loihi 2 fixed point and verify they spike the same.\n\n"
    "Time convention: 0-based steps; a spike at step t reaches a population behind one "
    "projection at step t+1+delay.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"neurodeploy {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Global options (``--debug`` is handled in :func:`main`)."""


@app.command()
def doctor() -> None:
    """Show versions of Python and the key packages, and which targets can run here.

    Example: [bold]neurodeploy doctor[/bold]
    """
    from neurodeploy.doctor import environment_report

    report = environment_report()
    table = Table("component", "version / status", title="neurodeploy doctor")
    for name, value in report["versions"].items():
        table.add_row(name, value or "[red]not installed[/red]")
    for name, (ok, reason) in report["targets"].items():
        status = "[green]available[/green]" if ok else f"[yellow]{reason}[/yellow]"
        table.add_row(f"target {name}", status)
    ext = report["loihi_extension"]
    table.add_row("Loihi 2 extension (lava-loihi)", "[green]importable[/green]" if ext
                  else "[yellow]not installed (proprietary; Intel INRC)[/yellow]")
    table.add_row("parallel jobs (study)", report["cluster"])
    print_table(console, table)


@app.command()
def targets() -> None:
    """List the backends that run fixed-point networks, and whether each can run here.

    Example: [bold]neurodeploy targets[/bold]
    """
    from neurodeploy.targets import TARGETS

    table = Table("name", "what it is", "here", title="targets")
    for info in TARGETS.values():
        ok, reason = info.available()
        table.add_row(info.name, info.description,
                      "[green]yes[/green]" if ok else f"[yellow]{reason}[/yellow]")
    print_table(console, table)


@app.command()
def run(
    model: str = typer.Argument(..., help="Network .npz, quantize output dir, training run "
                                "dir, NIR graph or netx file (.net)."),
    spikes: str = typer.Option(None, "--spikes", help="Input spikes: .npz with array 'spikes' "
                               "(batch, steps, n_inputs) or .npy."),
    data: str = typer.Option(None, "--data", help="A data set file (neurodeploy data make): "
                             "its spikes are the input."),
    samples: int = typer.Option(None, help="Use the first N samples."),
    target: str = typer.Option("reference", help="Backend (see `neurodeploy targets`)."),
    out: str = typer.Option(..., "--out", help="Traces to write: .nir (NIR data, one node per "
                            "population) or .npz (spikes/<pop>, v/<pop>, u/<pop>)."),
    record: str = typer.Option("spikes", help="Comma-separated subset of spikes,v,u."),
) -> None:
    """Run a network on one backend and save its traces (for `verify --trace`).
    torch-float runs the float model (a quantize output's source model, v in LSB units);
    every other target runs the integers.

    Example: [bold]neurodeploy run runs/ccisi-q --data ccisi.npz --target lava --record spikes,v
    --out lava.nir[/bold]
    """
    from neurodeploy.artifacts import load_deployment
    from neurodeploy.network_io import atomic_savez
    from neurodeploy.traces import traces_to_arrays
    from neurodeploy.verify.pipeline import load_data
    from neurodeploy.verify.trace_files import write_traces_nir

    if (spikes is None) == (data is None):
        raise InputError("give the input as exactly one of --spikes FILE or --data FILE")
    deployment = load_deployment(model)
    deployment.network_for(target)  # fail on a target the artifact cannot run before reading
    x, _, _ = load_data(spikes or data, deployment, samples, "all")
    options = {"progress": True} if target in ("lava", "lava-float", "netx") else {}
    traces = deployment.simulate(target, x, record=list(_items(record, "--record", str.strip)),
                                 **options)
    if out.endswith(".nir"):
        write_traces_nir(traces, out, dt=deployment.dt or 1.0)
    else:
        atomic_savez(out, traces_to_arrays(traces))
    counts = ", ".join(f"{n}: {int(s.sum())}" for n, s in traces.spikes.items())
    console.print(f"{target}: {traces.batch} samples x {traces.steps} steps; spikes {counts}; "
                  f"wrote {out}")


CLUSTER_HELP = ("Run on Dask: local[:N] (a local cluster of N processes) or tcp://HOST:PORT "
                "(a running scheduler); default: $NEURODEPLOY_CLUSTER unless --workers is "
                "given, else local processes. See docs/cluster.md.")


def _open_executor(stack: contextlib.ExitStack, cluster: str | None, workers: int | None):
    """The Dask executor named by ``--cluster`` (or $NEURODEPLOY_CLUSTER), opened before
    anything is written and closed by ``stack``; None for local processes. An explicit
    ``--workers`` asks for local processes whatever the variable says; both options
    together are refused."""
    if cluster is not None and workers is not None:
        raise InputError(f"--workers {workers} with --cluster {cluster!r}: give one; allowed: "
                         "--workers for local processes, --cluster local:N for a local Dask "
                         "cluster")
    spec = None if workers is not None else cluster_spec(cluster)
    if spec is None:
        return None
    pool = stack.enter_context(open_cluster(spec))
    console.print(f"running on {spec.describe()}")
    return pool


@app.command()
def verify(
    model: str = typer.Argument(..., help="Quantize output dir, training run dir, network "
                                ".npz, NIR graph or netx file (.net)."),
    backends: str = typer.Option("torch-float,reference", help="Comma-separated: torch-float, "
                                 "torch-int, reference, onnx, lava, lava-float, netx."),
    data: str = typer.Option(None, "--data", help="Data set or spikes file (default: the "
                             "run's own data, test split)."),
    trace: list[str] = typer.Option([], "--trace", help="NAME=FILE: a recorded backend (NIR "
                                    "data, NPZ or CSV; e.g. from a Loihi 2 chip). Repeatable."),
    samples: int = typer.Option(None, help="Use the first N samples."),
    split: str = typer.Option(None, help="all, train, val or test (of the run's split)."),
    require: list[str] = typer.Option([], "--require", help="Gate, e.g. 'reference==lava' or "
                                      "'torch-float~reference:f1@1>=0.95'. Repeatable."),
    report: str = typer.Option(None, "--report", help="Directory for summary.json, traces/ "
                               "and report.html."),
    tau: float = typer.Option(5.0, help="van Rossum time constant (steps)."),
    max_lag: int = typer.Option(5, help="Largest lag searched (steps)."),
    workers: int = typer.Option(None, help="Parallel Lava processes (default: all cores)."),
    cluster: str = typer.Option(None, "--cluster", help="Run the backends' shards of the "
                                "samples on Dask: local[:N] or tcp://HOST:PORT; default: "
                                "$NEURODEPLOY_CLUSTER unless --workers is given, else local "
                                "processes. See docs/cluster.md."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output "
                                   "that is not an earlier one of this command's."),
) -> None:
    """Run the same input through several backends and compare them spike by spike.
    Exit 0 when every --require gate holds, 1 when one fails, 2 on bad input.

    Example: [bold]neurodeploy verify runs/ccisi-q --backends torch-float,torch-int,reference,lava
    --samples 200 --require reference==lava --require torch-int==reference --report rep[/bold]
    """
    from neurodeploy.verify.pipeline import verify as run_verify
    from neurodeploy.verify.render_terminal import render_terminal

    traces = {}
    for item in trace:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--trace {item!r}: expected NAME=FILE")
        traces[name.strip()] = path.strip()
    with contextlib.ExitStack() as stack:
        pool = _open_executor(stack, cluster, workers)
        result = run_verify(model, list(_items(backends, "--backends", str.strip)),
                            data=data, traces=traces, samples=samples, split=split,
                            gates=require, tau=tau, max_lag=max_lag, workers=workers,
                            report_dir=report, console=console, overwrite=overwrite,
                            executor=pool)
    render_terminal(result.summary, console)
    if report:
        console.print(f"report: {report}/report.html")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def demo(
    out: str = typer.Option("neurodeploy-demo", "--out", help="Directory for every artifact "
                            "(data, run, quant, model.nir, model.onnx, report)."),
    quick: bool = typer.Option(False, "--quick", help="A one-minute smoke version."),
    seed: int = typer.Option(0, help="Seed of the data and the training."),
) -> None:
    """The whole workflow on embedded data: chip conformance, CCISI data, training with
    axonal delays, PTQ + QAT, lint, NIR/ONNX export, verification against Lava with gates.
    Exit 0 when everything agrees, 1 when a gate fails.

    Example: [bold]neurodeploy demo --quick --out /tmp/nd-demo[/bold]
    """
    from neurodeploy.demo import run_demo

    result = run_demo(out_dir=out, quick=quick, seed=seed, console=console)
    raise typer.Exit(0 if result.passed else 1)


data_app = typer.Typer(help="Make and inspect spike datasets (NPZ: spikes uint8 (samples, "
                        "steps, channels), labels, metadata).", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _items(text: str | None, option: str, kind: Callable[[str], object] = float,
           expected: str = "comma-separated numbers") -> tuple | None:
    """``text``'s comma-separated items (empty ones skipped) as ``kind`` (a ValueError is
    a one-line InputError: ``option``'s ``text``, what is ``expected``); None for None."""
    if text is None:
        return None
    try:
        return tuple(kind(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: expected {expected}") from None


def _parse_params(items: list[str], option: str = "--param") -> dict:
    """``key=value`` pairs; values parsed as JSON when they can be (numbers, lists)."""
    params = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{option} {item!r}: expected key=value")
        key, value = item.split("=", 1)
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


@data_app.command("make")
def data_make(
    task: str = typer.Argument(..., help="isi, ccisi or coincidence."),
    out: str = typer.Option(..., "--out", help="NPZ file to write."),
    seed: int = typer.Option(0, help="Seed of the generator."),
    preset: str = typer.Option("default", help="default (5 ms steps) or paper (1 ms steps)."),
    param: list[str] = typer.Option([], "--param", help="Task parameter key=value (repeat)."),
) -> None:
    """Generate a task dataset and save it.

    Example: [bold]neurodeploy data make ccisi --param max_isi_ms=300 --out ccisi.npz[/bold]
    """
    from neurodeploy.models.datasets import make_task, save_dataset

    ds = make_task(task, seed=seed, preset=preset, **_parse_params(param))
    save_dataset(ds, out)
    console.print(f"{task}: {ds.n_samples} samples x {ds.n_steps} steps x {ds.n_channels} "
                  f"channels, {ds.n_classes} classes, dt {ds.dt * 1e3:g} ms; wrote {out}")


@data_app.command("info")
def data_info(file: str = typer.Argument(..., help="NPZ dataset file.")) -> None:
    """Describe a dataset file (shape, classes, rates, task parameters).

    Example: [bold]neurodeploy data info ccisi.npz[/bold]
    """
    from neurodeploy.models.datasets import describe, load_dataset

    table = Table(title=file, show_header=False)
    for key, value in describe(load_dataset(file)).items():
        table.add_row(key, str(value))
    print_table(console, table)


@app.command()
def train(
    out: str = typer.Option(..., "--out", help="Run directory to write."),
    task: str = typer.Option(None, help="Generated task: isi, ccisi, coincidence, saccade_digits."),
    data: str = typer.Option(None, help="Dataset NPZ file instead of a task."),
    param: list[str] = typer.Option([], "--param", help="Task parameter key=value (repeat)."),
    preset: str = typer.Option("default", help="Task preset: default or paper."),
    hidden: str = typer.Option("128,128", help="Hidden layer sizes, comma-separated."),
    conv: str = typer.Option(None, help="Convolutions before the hidden layers: "
                             "<channels>c<kernel>[s<stride>][p<padding>] and pool<n> (sum "
                             "pooling), comma-separated, e.g. 16c5s2p1,16c3p1,pool2."),
    input_shape: str = typer.Option(None, help="C,H,W of the input for --conv (default: "
                                    "the data set's frame_shape)."),
    delays: str = typer.Option("axonal", help="none, axonal or synaptic (dense layers)."),
    max_delay: int = typer.Option(62, help="Largest delay in steps (Loihi 2: 62)."),
    recurrent: bool = typer.Option(False, help="Recurrent hidden layers."),
    stochastic: bool = typer.Option(False, help="Escape-noise neurons while training."),
    surrogate: str = typer.Option("superspike", help="superspike, sigmoid, arctan, exponential"
                                  " (sigmoid or exponential with --stochastic)."),
    beta: float = typer.Option(10.0, help="Surrogate / escape-function scale."),
    readout: str = typer.Option("mean_v", help="mean_v or max_v (v of a non-spiking output "
                                "layer), or count (output spike counts)."),
    epochs: int = typer.Option(30, help="Epochs of the main phase."),
    int_delay_epochs: int = typer.Option(5, help="Epochs with rounded integer delays."),
    batch_size: int = typer.Option(64, help="Samples per batch."),
    lr: float = typer.Option(5e-3, help="Adam learning rate (delays: --delay-lr)."),
    delay_lr: float = typer.Option(0.03, help="Learning rate of the delays (steps)."),
    patience: int = typer.Option(10, help="Early stopping: epochs without improvement."),
    seed: int = typer.Option(0, help="Seed of data, initialisation and batching."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
) -> None:
    """Train a CUBA LIF network (Loihi 2 dynamics) on a task or a dataset file.

    Example: [bold]neurodeploy train --task ccisi --param max_isi_ms=300 --hidden 64,64
    --delays axonal --epochs 20 --out runs/ccisi[/bold]; a convolutional network:
    [bold]neurodeploy train --task saccade_digits --conv 16c5s2p1,16c3p1,pool2 --hidden
    128 --delays none --out runs/digits[/bold]
    """
    from neurodeploy.models.training import TrainConfig
    from neurodeploy.models.training import train as run_training

    if task is not None and data is not None:
        raise InputError(f"--task {task} and --data {data}: give one of them (the data set "
                         "file replaces the generated task)")
    sizes = _items(hidden, "--hidden", int, "comma-separated integers")
    try:
        shape = None if input_shape is None else tuple(int(v) for v in input_shape.split(","))
    except ValueError:
        raise InputError(f"--input-shape {input_shape!r}: expected C,H,W (integers)") from None
    config = TrainConfig(
        conv=conv, input_shape=shape,
        task=None if data else (task or "ccisi"), data=data, task_params=_parse_params(param),
        preset=preset, hidden=sizes, delays=delays, max_delay=max_delay, recurrent=recurrent,
        stochastic=stochastic, surrogate=surrogate, beta=beta, readout=readout, epochs=epochs,
        int_delay_epochs=int_delay_epochs, batch_size=batch_size, lr=lr, delay_lr=delay_lr,
        patience=patience, seed=seed, device=device,
    )
    metrics = run_training(config, out, console=console)
    console.print(f"test accuracy {metrics['test_acc']:.1%} (validation {metrics['val_acc']:.1%})"
                  f"; run directory {out}")


@app.command()
def quantize(
    source: str = typer.Argument(..., help="Training run directory (neurodeploy train --out), "
                                 "or a float NIR graph (with --data)."),
    out: str = typer.Option(..., "--out", help="Directory to write (network.npz, "
                            "quantization.json, report.png, and the float model)."),
    calib: int = typer.Option(256, help="Calibration samples (the run's training split, or "
                              "drawn from --data)."),
    qat_epochs: int = typer.Option(0, help="Quantization-aware fine-tuning epochs after PTQ "
                                   "(training runs)."),
    qat_lr: float = typer.Option(0.5, help="QAT learning rate (weights in integer LSBs)."),
    data: str = typer.Option(None, "--data", help="Data set file for a NIR graph: calibration "
                             "samples, the rest evaluates."),
    dt: float = typer.Option(None, "--dt", help="Seconds per step for a NIR graph that does "
                             "not say."),
    reset: str = typer.Option(None, "--reset", help="zero or subtract, for a NIR graph."),
    readout: str = typer.Option("count", help="How a NIR graph's output decides: count, "
                                "mean_v, max_v."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output "
                                   "that is not an earlier one of this command's."),
    weight_split: str = typer.Option("auto", "--weight-split", help="Split a projection into "
                                     "coarse + fine 8-bit weight grids: auto (where one grid "
                                     "loses the weights and the split raises spike agreement), "
                                     "off, on."),
    netx: bool = typer.Option(False, "--netx", help="Quantize for a netx file: every "
                              "projection at weight_exp 0 (netx's layers add their plain "
                              "integer weights), no weight split."),
) -> None:
    """Post-training quantization to Loihi 2 integers (plus optional QAT), evaluated with the
    reference simulator. Never writes a network that fails lint.

    Example: [bold]neurodeploy quantize runs/ccisi --calib 256 --qat-epochs 3
    --out runs/ccisi-q[/bold]
    (or [bold]neurodeploy quantize snn.nir --data data.npz --dt 1e-3 --out q[/bold])
    """
    from neurodeploy.quantize.pipeline import quantize_graph, quantize_run
    from neurodeploy.quantize.render_report import render_report

    if source.endswith(".nir"):
        if data is None:
            raise InputError("quantizing a NIR graph needs --data FILE (calibration samples)")
        r = quantize_graph(source, data, out, calib=calib, dt=dt, reset=reset,
                           readout=readout, console=console, overwrite=overwrite,
                           qat_epochs=qat_epochs, qat_lr=qat_lr, weight_split=weight_split,
                           weight_exp=0 if netx else None)
    else:
        for name, value in (("--data", data), ("--dt", dt), ("--reset", reset)):
            if value is not None:
                raise InputError(f"{name} applies to NIR graphs; a training run names its own")
        r = quantize_run(source, out, calib=calib, qat_epochs=qat_epochs, qat_lr=qat_lr,
                         console=console, overwrite=overwrite, weight_split=weight_split,
                         weight_exp=0 if netx else None)
    render_report(r["report"], console)
    clipped = ", ".join(f"{k}: {v}" for k, v in r["clipped"].items()) or "nothing"
    console.print(f"clipped: {clipped}; lint: clean; wrote {out}")


@app.command()
def lint(
    model: str = typer.Argument(..., help="Network file (.npz), quantize output directory, "
                                "fixed-point NIR graph or netx file (.net)."),
    json_out: str = typer.Option(None, "--json", help="Also write the report as JSON here."),
) -> None:
    """Check a fixed-point network against the Loihi 2 format: every violation at once,
    plus accumulator headroom and resource estimates. Exit 0 clean, 1 violations,
    2 unreadable input.

    Example: [bold]neurodeploy lint runs/ccisi-q[/bold]
    """
    from neurodeploy.artifacts import load_deployment
    from neurodeploy.network_io import atomic_write_text
    from neurodeploy.quantize.lint import lint_file, lint_network, render

    path = Path(model)
    if path.is_dir():
        path = path / "network.npz"
    # a .npz: the raw arrays, so every violation, even of an unloadable network
    report = (lint_file(path) if path.suffix.lower() == ".npz"
              else lint_network(load_deployment(path).network_for("reference")))
    render(report, console)
    if json_out:
        atomic_write_text(json_out, report.to_json())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def export(
    source: str = typer.Argument(..., help="Quantize output dir, training run dir, "
                                 "network .npz, NIR graph or netx file (.net)."),
    nir_out: str = typer.Option(None, "--nir", help="NIR graph to write (.nir)."),
    onnx_out: str = typer.Option(None, "--onnx", help="ONNX model to write (fixed point "
                                 "only)."),
    dt: float = typer.Option(None, "--dt", help="Seconds per step (default: the run's data)."),
    netx_out: str = typer.Option(None, "--netx", help="lava-dl netx file to write (.net; "
                                 "fixed point, dense chains; see docs/netx.md)."),
) -> None:
    """Export to NIR (with delays and the discretization contract), ONNX and/or netx.

    Example: [bold]neurodeploy export runs/ccisi-q --nir ccisi.nir --onnx ccisi.onnx[/bold]
    """
    from neurodeploy.exchange.export import export_artifacts

    r = export_artifacts(source, nir_out, onnx_out, dt, netx_out=netx_out)
    nodes = ", ".join(f"{n} {k}" for k, n in sorted(r.node_counts.items()))
    console.print(f"{r.kind} network, dt = {r.dt:g} s" + (f"; NIR nodes: {nodes}" if nodes
                                                           else ""))
    console.print(f"wrote {', '.join(r.written)}")


@app.command("import")
def import_(
    graph: str = typer.Argument(..., help="NIR graph file (.nir) from any tool, or a "
                                "lava-dl netx file (.net)."),
    dt: float = typer.Option(None, "--dt", help="Seconds per step (NIR graphs do not say; "
                             "snnTorch's exporter assumes 1e-4, Norse 1e-3)."),
    reset: str = typer.Option(None, "--reset", help="zero (default) or subtract (e.g. "
                              "snnTorch's default Leaky)."),
    out: str = typer.Option(None, "--out", help="Write the network: .nir (with dt and reset "
                            "declared) or .npz (fixed-point graphs)."),
    reset_interval: int = typer.Option(0, "--reset-interval", help="netx files: the timed "
                                       "state resets netx.hdf5.Network(reset_interval=N) "
                                       "adds (layer k reset before steps k, k + N, ...)."),
) -> None:
    """Import a NIR graph (snnTorch, Norse, Rockpool, neurodeploy) and show what it became.

    Example: [bold]neurodeploy import snntorch.nir --dt 1e-4 --out net.nir[/bold]
    """
    from neurodeploy.exchange.export import import_graph

    imported = import_graph(graph, dt=dt, reset=reset, out=out, reset_interval=reset_interval)
    for warning in imported.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    net = imported.network
    table = Table("population", "NIR node", "size", "du", "dv", "spiking",
                  title=f"{graph}: {imported.kind} network, dt = {imported.dt:g} s "
                  f"({imported.dt_source})")
    for name, pop in net.populations.items():
        table.add_row(name, imported.node_names.get(name, name), str(pop.size), _span(pop.du),
                      _span(pop.dv), "yes" if getattr(pop, "spiking", True) else "no (readout)")
    print_table(console, table)
    for p in net.projections:
        n_dst, n_src = (p.n_dst, p.n_src) if hasattr(p, "n_dst") else p.weights.shape
        console.print(f"  {p.src} -> {p.dst}: {n_dst}x{n_src}"
                      f"{' (convolution)' if p.conv is not None else ''}, "
                      f"delays {f'0..{p.max_delay} steps' if p.max_delay else 'none'}")
    resets = sorted({getattr(pop, "reset", "zero") for pop in net.populations.values()})
    hops = net.hops()
    answer = ", ".join(f"{o} at step t + {hops[o]}" for o in net.outputs if o in hops)
    console.print(f"reset: {' and '.join(resets)} (Loihi 2 resets to zero); time step: "
                  f"dt = {imported.dt:g} s ({imported.dt_source}); hop latency: one step per "
                  f"projection, so an input spike at step t reaches {answer or 'no output'} "
                  "at the earliest")
    timed = {n: (p.reset_interval, p.reset_offset) for n, p in net.populations.items()
             if getattr(p, "reset_interval", 0)}
    if timed:
        console.print("timed state resets (u and v set to 0 before step t when t % interval "
                      "== offset): " + ", ".join(f"{n} {i}/{o}" for n, (i, o) in timed.items())
                      + " (interval/offset; the reference, torch-int and lava run them)")
    biased = sorted({p.dst for p in net.projections if getattr(p, "bias", None) is not None})
    if biased:  # float projections only
        onsets = net.bias_onsets()
        console.print("Affine biases: a constant current into u from the step the input "
                      "first reaches the population, with the first input as in snnTorch ("
                      + ", ".join(f"{n} from step {onsets[n]}" for n in biased) + ")")
    if out:
        console.print(f"wrote {out}")


study_app = typer.Typer(help="Studies over many trained models (resumable, parallel).",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("timing")
def study_timing(
    out: str = typer.Option(..., "--out", help="Study directory (resumes what is there)."),
    task: str = typer.Option(None, help="isi, ccisi or coincidence."),
    data: str = typer.Option(None, "--data", help="A data set file instead of a task."),
    quick: bool = typer.Option(False, "--quick", help="A few-minute smoke version."),
    preset: str = typer.Option(None, "--preset", help="A named study: yu2025 (Yu et al.'s "
                               "CCISI sweep: 1 ms steps, max ISI 50..500 ms, 5 seeds, hours "
                               "per configuration on one core). Options given win."),
    max_isi: str = typer.Option(None, "--max-isi", help="Comma-separated maximum ISIs (ms): "
                                "one study per value in <out>/max-isi-<ms>ms, plus sweep.json "
                                "and sweep.png (isi and ccisi tasks)."),
    seeds: str = typer.Option(None, help="Comma-separated seeds (default 0,1,2)."),
    delays: str = typer.Option(None, help="Comma-separated delay kinds to compare (default "
                               "none,axonal)."),
    stochastic: str = typer.Option(None, "--stochastic", help="Comma-separated training "
                                   "kinds: false (deterministic), true (stochastic)."),
    perturb: str = typer.Option(None, help="Comma-separated timing perturbations f in (0, 1]."),
    epochs: int = typer.Option(None, help="Training epochs per configuration."),
    task_param: list[str] = typer.Option([], "--task-param", help="KEY=VALUE for the task "
                                         "generator, e.g. n_samples=200. Repeatable."),
    train_option: list[str] = typer.Option([], "--train-option", help="KEY=VALUE for "
                                           "training, e.g. int_delay_epochs=1. Repeatable."),
    workers: int = typer.Option(None, help="Parallel configurations (default: all cores)."),
    cluster: str = typer.Option(None, "--cluster", help=CLUSTER_HELP),
) -> None:
    """Yu et al.'s question: do networks use spike timing, and does it survive deployment?
    Trains with and without delays (deterministic and stochastic neurons, several seeds),
    evaluates float and deployed (reference; Lava on a subset) models on normal,
    time-reversed, timing-perturbed and rate-removed data; writes a table and plots.

    Example: [bold]neurodeploy study timing --task ccisi --quick --out study-ccisi[/bold]
    """
    from neurodeploy.study import StudyError, render_study, run_timing_study
    from neurodeploy.study.plan import preset_arguments
    from neurodeploy.study.sweep import render_sweep, run_isi_sweep

    kinds = _items(stochastic, "--stochastic", str.strip)
    for kind in kinds or ():
        if kind.lower() not in ("true", "false"):
            raise InputError(f"--stochastic {stochastic!r}: {kind!r} is not allowed; allowed: "
                             "true, false")
    args = preset_arguments(preset) if preset is not None else {"delays": ("none", "axonal")}
    if preset is not None and (quick or data is not None):
        raise InputError(f"--preset {preset} with {'--quick' if quick else '--data'}: allowed "
                         "one of them")
    given = dict(task=task, data=data, seeds=None if seeds is None else tuple(
        int(x) for x in _items(seeds, "--seeds")), delays=_items(delays, "--delays", str.strip),
        stochastic=None if kinds is None else tuple(k.lower() == "true" for k in kinds),
        perturb=_items(perturb, "--perturb"), epochs=epochs,
        max_isi_ms=_items(max_isi, "--max-isi"))
    args.update({k: v for k, v in given.items() if v is not None})
    for key, items, option in (("task_params", task_param, "--task-param"),
                               ("train_options", train_option, "--train-option")):
        args[key] = {**args.get(key, {}), **_parse_params(items, option)}
    sweep = args.pop("max_isi_ms", None)
    with contextlib.ExitStack() as stack:
        pool = _open_executor(stack, cluster, workers)  # before anything is written
        # run_jobs shuts the executor down
        args.update(quick=quick, workers=workers, console=console,
                    executor=None if pool is None else lambda n_jobs: pool)
        try:
            result = (run_timing_study(out, **args) if sweep is None
                      else run_isi_sweep(out, sweep, **args))
        except StudyError as exc:
            sweep_result = getattr(exc, "sweep", None)
            (render_study(exc.result, console) if sweep_result is None
             else render_sweep(sweep_result, console))
            raise
    (render_study if sweep is None else render_sweep)(result, console)


@study_app.command("dt")
def study_dt(
    model: str = typer.Argument(..., help="Exact-timing run directory: TTFS "
                                "(scripts/ttfs_digits.py) or multi-spike "
                                "(scripts/multispike_isi.py); both write <out>/model."),
    out: str = typer.Option(..., "--out", help="Folder for dt_study.json and dt_study.png."),
    dts: str = typer.Option(None, "--dts", help="Comma-separated time steps in the model's "
                            "unit (seconds, or tau_syn units); default TTFS 1,0.5,...,0.01 x "
                            "tau_syn, multi-spike 1,0.5,...,0.02 x the data's step."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Accuracy points the deployed "
                                    "model may lose."),
    lava_samples: int = typer.Option(8, "--lava-samples", help="Test samples also run on Lava "
                                     "(0: skip)."),
    cluster: str = typer.Option(None, "--cluster", help="Run the dts side by side on Dask: "
                                "local[:N] or tcp://HOST:PORT; default: $NEURODEPLOY_CLUSTER, "
                                "else one after the other here. See docs/cluster.md."),
) -> None:
    """How coarse may the time step be for a trained exact-timing network (TTFS or
    multi-spike)? Accuracy and spike-time error of the discretized float and deployed
    fixed-point models per dt, and the recommended dt (the largest within --tolerance
    points).

    Example: [bold]neurodeploy study dt out/ttfs-digits/model --out dt-study[/bold]
    """
    from neurodeploy.study.dt import render_dt_study, run_dt_study

    steps = _items(dts, "--dts")
    with contextlib.ExitStack() as stack:
        pool = _open_executor(stack, cluster, None)
        result = run_dt_study(model, dts=steps, out=out, tolerance_pct=tolerance,
                              lava_samples=lava_samples, console=console, executor=pool)
    render_dt_study(result, console)


def _span(values: object) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: unwinds like KeyboardInterrupt (``finally`` blocks run), but past
    click, which would turn a KeyboardInterrupt into "Aborted!" and exit 1."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    """First SIGINT/SIGTERM: stop every Lava worker at once (runs in threads would
    otherwise be waited for), then unwind; later ones are ignored while it unwinds."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    lava = sys.modules.get("neurodeploy.targets.lava")
    if lava is not None:
        lava.stop_all_workers()
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors with exit code 2, tracebacks with --debug;
    Ctrl-C and SIGTERM print ``interrupted`` and exit 130 and 143."""
    args = sys.argv[1:] if argv is None else argv
    # the caller's handlers come back afterwards (main may run inside another program)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        app(args=args, prog_name="neurodeploy", standalone_mode=True)
    except NeurodeployError as exc:
        if "--debug" in args:
            traceback.print_exc()
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except Interrupted as exc:
        err_console.print("interrupted")
        sys.exit(128 + exc.signum)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
