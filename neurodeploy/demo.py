"""``neurodeploy demo``: the embedded default, end to end on what exists so far.

1. The NIR paper's single LIF neuron, recorded on a Loihi 2 chip: run its integer network
   on the reference simulator and on Lava, compare spikes and v with the chip.
2. A seeded random network (inputs -> recurrent hidden layer with axonal delays ->
   output): run a batch on the reference simulator and on Lava, compare every spike,
   u and v.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy.conformance import load_recording, nir_paper_single_lif_network
from neurodeploy.examples import layered_network, poisson_spikes
from neurodeploy.simulate import simulate


@dataclass
class DemoResult:
    rows: list[tuple[str, str, bool | None, float]]  # (case, target, exact?, seconds)

    @property
    def all_exact(self) -> bool:
        return all(row[2] is not False for row in self.rows)


def run_demo(steps: int = 200, batch: int = 8, seed: int = 0,
             console: Console | None = None) -> DemoResult:
    console = console or Console()
    rows: list[tuple[str, str, bool | None, float]] = []

    chip = load_recording("lif_lava_loihi_fixed")
    net = nir_paper_single_lif_network()
    x = chip.input_spikes[None, :, None]
    spike_steps = np.flatnonzero(chip.output_spikes)
    for target in ("reference", "lava"):
        with console.status(f"single LIF (Loihi 2 recording) on {target}..."):
            t0 = time.perf_counter()
            tr = simulate(net, x, target=target, record=("spikes", "v"))
            dt = time.perf_counter() - t0
        spikes = tr.spikes["lif"][0, :, 0]
        v = tr.v["lif"][0, :, 0]
        off_spike = ~chip.output_spikes
        exact = bool((spikes == chip.output_spikes).all()
                     and (v[off_spike] == chip.v[off_spike]).all())
        rows.append(("Loihi 2 chip recording vs " + target, target, exact, dt))
    console.print(f"chip spikes at steps {spike_steps.tolist()} (0-based); "
                  "v compared at every other step")

    with console.status("building a random 32-64-10 network with axonal delays..."):
        rnet = layered_network([32, 64, 10], seed=seed, delays="axonal", max_delay=8,
                               recurrent=True)
        xs = poisson_spikes(32, batch, steps, 0.1, seed + 7)
    traces = {}
    for target in ("reference", "lava"):
        with console.status(f"random network, batch {batch} x {steps} steps on {target}..."):
            t0 = time.perf_counter()
            traces[target] = simulate(rnet, xs, target=target, record=("spikes", "v", "u"))
            dt = time.perf_counter() - t0
        rows.append((f"random net, {batch}x{steps} steps", target, None, dt))
    ref, lav = traces["reference"], traces["lava"]
    same = all(
        (ref.spikes[n] == lav.spikes[n]).all() and (ref.v[n] == lav.v[n]).all()
        and (ref.u[n] == lav.u[n]).all() for n in rnet.populations
    )
    rows[-1] = (rows[-1][0] + " vs reference", "lava", same, rows[-1][3])
    n_spikes = sum(int(ref.spikes[n].sum()) for n in rnet.populations)

    table = Table(title="neurodeploy demo: bit-exactness")
    for col in ("case", "target", "identical", "seconds"):
        table.add_column(col)
    for case, target, exact, dt in rows:
        shown = "-" if exact is None else ("[green]yes[/green]" if exact else "[red]NO[/red]")
        table.add_row(case, target, shown, f"{dt:.2f}")
    console.print(table)
    console.print(f"random network: {n_spikes} spikes compared, with u and v at every step")
    return DemoResult(rows)
