"""``neurodeploy demo``: from nothing to a verified Loihi 2 deployment, on embedded data.

Stages (each visible as it runs; everything lands in ``out_dir``):

1. conformance: the NIR paper's single LIF neuron recorded on a Loihi 2 chip, verified
   through the same ``--trace`` path users use: the reference must spike exactly like the
   chip;
2. data: the CCISI timing task (generated, seeded; 5 ms steps);
3. train: a small network with trainable axonal delays (``data.npz`` -> ``run/``);
4. quantize: PTQ then quantization-aware training on the deployed arithmetic (``quant/``);
5. lint: the network against the Loihi 2 format;
6. export: NIR (with delays and the discretization contract) and ONNX, and the NIR graph
   read back to the same integers;
7. verify: float torch, integer torch, reference, ONNX and Lava on the test split, with
   gates ``reference==lava``, ``torch-int==reference``, ``onnx==reference``; report in
   ``report/report.html``.

A closing table shows accuracy per backend and agreement. ``quick=True`` is a one-minute
smoke version (smaller data, network and epochs). Time convention: 0-based steps, one
step per hop.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from neurodeploy.artifacts import load_deployment
from neurodeploy.conformance import load_recording, nir_paper_single_lif_network
from neurodeploy.exchange.export import export_artifacts
from neurodeploy.models.datasets import make_task, save_dataset
from neurodeploy.models.training import TrainConfig, train
from neurodeploy.network_io import atomic_savez, save_network
from neurodeploy.quantize.lint import lint_network
from neurodeploy.quantize.pipeline import quantize_run
from neurodeploy.terminal_table import print_table
from neurodeploy.verify.pipeline import verify

GATES = ("reference==lava", "torch-int==reference", "onnx==reference")
BACKENDS = ("torch-float", "torch-int", "reference", "onnx", "lava")


@dataclass
class DemoResult:
    out_dir: str
    stages: list[tuple[str, float, str]] = field(default_factory=list)  # name, s, summary
    conformance_exact: bool = False
    verification: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.conformance_exact and bool(self.verification.get("passed"))


@dataclass(frozen=True)
class DemoSize:
    n_samples: int
    hidden: tuple[int, ...]
    epochs: int
    int_delay_epochs: int
    qat_epochs: int
    calib: int
    max_delay: int


FULL = DemoSize(n_samples=1000, hidden=(64,), epochs=20, int_delay_epochs=3, qat_epochs=2,
                calib=256, max_delay=30)
QUICK = DemoSize(n_samples=240, hidden=(24,), epochs=4, int_delay_epochs=1, qat_epochs=1,
                 calib=64, max_delay=12)


def _stage(result: DemoResult, console: Console, number: int, name: str,
           work: Callable[[], str]) -> None:
    console.rule(f"[bold]{number}. {name}")
    start = time.perf_counter()
    summary = work()
    seconds = time.perf_counter() - start
    result.stages.append((name, seconds, summary))
    console.print(f"[green]done[/green] in {seconds:.1f} s: {summary}")


def run_demo(out_dir: str = "neurodeploy-demo", quick: bool = False, seed: int = 0,
             console: Console | None = None) -> DemoResult:
    """Run every stage (see the module docstring); returns what each produced."""
    console = console or Console()
    size = QUICK if quick else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(str(out))
    quiet = Console(file=io.StringIO())

    def conformance() -> str:
        chip = load_recording("lif_lava_loihi_fixed")
        save_network(nir_paper_single_lif_network(), out / "lif.npz")
        atomic_savez(out / "lif_input.npz",
                     {"spikes": chip.input_spikes[None, :, None].astype("uint8")})
        csv = resources.files("neurodeploy.data").joinpath("nir_paper_single_lif",
                                                           "lif_lava_loihi_fixed.csv")
        r = verify(str(out / "lif.npz"), ["reference"], data=str(out / "lif_input.npz"),
                   traces={"chip": str(csv)}, gates=["reference==chip"], console=quiet)
        result.conformance_exact = r.passed
        pop = r.summary["pairs"][0]["populations"]["lif"]
        return (f"reference vs Loihi 2 chip: {'identical' if r.passed else 'DIFFERENT'} spikes "
                f"({pop['n_spikes_a']} spikes, lag {pop['best_lag']}); v differs only at "
                f"steps {pop.get('v_mismatch_steps')} (the chip records v before the reset)")

    def data() -> str:
        ds = make_task("ccisi", seed=seed, n_samples=size.n_samples)
        save_dataset(ds, out / "data.npz")
        return (f"CCISI, {ds.n_samples} samples x {ds.n_steps} steps of {ds.dt * 1e3:g} ms, "
                f"{ds.n_channels} channels, {ds.n_classes} classes -> {out / 'data.npz'}")

    def training() -> str:
        config = TrainConfig(task=None, data=str(out / "data.npz"), hidden=size.hidden,
                             delays="axonal", max_delay=size.max_delay, epochs=size.epochs,
                             int_delay_epochs=size.int_delay_epochs, seed=seed)
        metrics = train(config, out / "run", console=console)
        return (f"hidden {list(size.hidden)}, axonal delays; test accuracy "
                f"{100 * metrics['test_acc']:.1f}% with integer delays -> "
                f"{out / 'run'}")

    def quantization() -> str:
        q = quantize_run(out / "run", out / "quant", calib=size.calib,
                         qat_epochs=size.qat_epochs, console=console)
        result.quantization = q
        return (f"PTQ + {size.qat_epochs} QAT epochs; test accuracy float "
                f"{100 * q['test_acc_float']:.1f}%, fixed point "
                f"{100 * q['test_acc_quantized_reference']:.1f}% -> {out / 'quant'}")

    def lint() -> str:
        report = lint_network(load_deployment(out / "quant").fixed)
        if not report.ok:
            raise RuntimeError(f"lint failed: {report.violations[0].message}")
        return "clean: every value fits the Loihi 2 format"

    def export() -> str:
        r = export_artifacts(out / "quant", nir_out=str(out / "model.nir"),
                             onnx_out=str(out / "model.onnx"))
        back = load_deployment(out / "model.nir").fixed
        net = load_deployment(out / "quant").fixed
        if not all((p.weights == q.weights).all()
                   for p, q in zip(net.projections, back.projections, strict=True)):
            raise RuntimeError("the NIR graph did not read back to the same integers")
        return (f"{out / 'model.nir'} ({r.node_counts.get('Delay', 0)} Delay nodes, read back "
                f"to the same integers), {out / 'model.onnx'}")

    def verification() -> str:
        r = verify(str(out / "quant"), list(BACKENDS), data=str(out / "data.npz"),
                   split="test", gates=list(GATES), report_dir=str(out / "report"),
                   console=console)
        result.verification = r.summary
        failed = [g["expr"] for g in r.summary["gates"] if not g["passed"]]
        return ("all gates hold: " + ", ".join(GATES) if not failed
                else "FAILED gates: " + ", ".join(failed))

    stages = [("conformance with a Loihi 2 chip recording", conformance), ("data", data),
              ("train", training), ("quantize (PTQ + QAT)", quantization), ("lint", lint),
              ("export NIR and ONNX", export), ("verify", verification)]
    for number, (name, work) in enumerate(stages, start=1):
        _stage(result, console, number, name, work)
    render_closing_table(result, console)
    return result


def render_closing_table(result: DemoResult, console: Console) -> None:
    """Accuracy per backend, agreement with the reference, and where the report is."""
    s = result.verification
    table = Table(title="neurodeploy demo: CCISI with axonal delays, float -> Loihi 2")
    for col in ("backend", "kind", "test accuracy", "spikes vs reference", "seconds"):
        table.add_column(col)
    pairs = {(p["a"], p["b"]): p for p in s.get("pairs", [])}
    for name, b in s.get("backends", {}).items():
        p = pairs.get((name, "reference")) or pairs.get(("reference", name))
        if name == "reference":
            agree = "-"
        elif p is None:
            agree = "?"
        elif p["identical"]:
            agree = "[green]identical[/green]"
        else:
            f1 = min(m["f1_at_0"] for m in p["populations"].values())
            f1_1 = min(m["f1_at_1"] for m in p["populations"].values())
            agree = f"F1 {f1:.3f} (+-1 step: {f1_1:.3f})"
        acc = "-" if b["accuracy"] is None else f"{100 * b['accuracy']:.1f}%"
        secs = "-" if b["seconds"] is None else f"{b['seconds']:.1f}"
        table.add_row(name, b["kind"], acc, agree, secs)
    print_table(console, table)
    total = sum(t for _, t, _ in result.stages)
    verdict = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
    console.print(f"{verdict}: chip conformance "
                  f"{'exact' if result.conformance_exact else 'NOT exact'}; gates "
                  f"{', '.join(GATES)}; {total:.0f} s in all. Report: "
                  f"{Path(result.out_dir) / 'report' / 'report.html'}")
