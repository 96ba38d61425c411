"""The ``neurodeploy`` command line: a thin shell over the library.

Every command parses arguments, calls one library function and renders its result.
User errors (:class:`~neurodeploy.errors.NeurodeployError`) become a one-line message and
exit code 2 here, in one place; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
import traceback

import typer
from rich.console import Console
from rich.table import Table

from neurodeploy import __version__
from neurodeploy.errors import NeurodeployError

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
    table = Table(title="neurodeploy doctor", show_header=True)
    table.add_column("component")
    table.add_column("version / status")
    for name, value in report["versions"].items():
        table.add_row(name, value or "[red]not installed[/red]")
    for name, (ok, reason) in report["targets"].items():
        status = "[green]available[/green]" if ok else f"[yellow]{reason}[/yellow]"
        table.add_row(f"target {name}", status)
    ext = report["loihi_extension"]
    table.add_row("Loihi 2 extension (lava-loihi)", "[green]importable[/green]" if ext
                  else "[yellow]not installed (proprietary; Intel INRC)[/yellow]")
    console.print(table)


@app.command()
def targets() -> None:
    """List the backends that run fixed-point networks, and whether each can run here.

    Example: [bold]neurodeploy targets[/bold]
    """
    from neurodeploy.targets import TARGETS

    table = Table(title="targets")
    table.add_column("name")
    table.add_column("what it is")
    table.add_column("here")
    for info in TARGETS.values():
        ok, reason = info.available()
        here = "[green]yes[/green]" if ok else f"[yellow]{reason}[/yellow]"
        table.add_row(info.name, info.description, here)
    console.print(table)


@app.command()
def run(
    network: str = typer.Argument(..., help="Network file (.npz written by save_network)."),
    spikes: str = typer.Option(..., "--spikes", help="Input spikes: .npz with array 'spikes' "
                               "(batch, steps, n_inputs) or .npy."),
    target: str = typer.Option("reference", help="Backend (see `neurodeploy targets`)."),
    out: str = typer.Option(..., "--out", help="Traces .npz to write (spikes/<pop>, v/<pop>, "
                            "u/<pop>)."),
    record: str = typer.Option("spikes", help="Comma-separated subset of spikes,v,u."),
) -> None:
    """Run a fixed-point network on one backend and save its traces.

    Example: [bold]neurodeploy run net.npz --spikes input.npz --target lava --record spikes,v
    --out traces.npz[/bold]
    """
    from neurodeploy.network_io import atomic_savez, load_network
    from neurodeploy.simulate import simulate
    from neurodeploy.traces import load_spikes, traces_to_arrays

    net = load_network(network)
    options = {"progress": True} if target.startswith("lava") else {}
    traces = simulate(net, load_spikes(spikes), target=target,
                      record=[r.strip() for r in record.split(",") if r.strip()], **options)
    atomic_savez(out, traces_to_arrays(traces))
    counts = ", ".join(f"{n}: {int(s.sum())}" for n, s in traces.spikes.items())
    console.print(f"{target}: {traces.batch} samples x {traces.steps} steps; spikes {counts}; "
                  f"wrote {out}")


@app.command()
def demo(
    steps: int = typer.Option(200, help="Steps of the random-network comparison."),
    batch: int = typer.Option(8, help="Samples of the random-network comparison."),
    seed: int = typer.Option(0, help="Seed of the random network and input."),
) -> None:
    """Run the embedded default: the NIR paper's Loihi 2 recording and a random network,
    on the reference simulator and on Lava, and show whether they agree bit for bit.

    Example: [bold]neurodeploy demo --steps 100 --batch 4[/bold]
    """
    from neurodeploy.demo import run_demo

    result = run_demo(steps=steps, batch=batch, seed=seed, console=console)
    raise typer.Exit(0 if result.all_exact else 1)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors with exit code 2, tracebacks with --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, prog_name="neurodeploy", standalone_mode=True)
    except NeurodeployError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
