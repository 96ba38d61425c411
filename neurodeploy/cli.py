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
        table.add_row(f"target {name}", "[green]available[/green]" if ok else f"[yellow]{reason}[/yellow]")
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
        table.add_row(info.name, info.description, "[green]yes[/green]" if ok else f"[yellow]{reason}[/yellow]")
    console.print(table)


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
