"""Regenerate the result tables of README.md from the scripts and benches that make them.

Every figure is one command. Its tables (the rich tables it prints) become markdown between
``<!-- figure: NAME -->`` and ``<!-- /figure: NAME -->`` in README.md, with the facts it
prints (accuracies, verdicts) as a list, and one closing line (``<sub>made by ...</sub>``)
that says how: the command, the commit, the date, the machine's cores and CPU kernels, and
the timings, which are shown and never compared.

Cheap figures (the TTFS digits run, the multi-spike ISI run, the demo, the quick timing
study: a few minutes together) run by default and are checked by
``tests/test_readme_figures.py``; expensive ones (3-seed accuracy tables, benches) run only
when asked for, by ``--all`` or ``--only NAME``.

Exact figures (accuracies, spike counts) are deterministic on one machine but not across
CPUs: torch's ATen kernels for AVX-512 round differently from their AVX2 kernels in the last
bits, MKL (torch's BLAS) and OpenBLAS (numpy's) pick different matrix kernels on Intel and
on AMD processors even at the same instruction set, and training amplifies any of that.
Exact figures therefore run with every such choice pinned
(:data:`neurodeploy.cpu_env.PORTABLE_CPU_ENV`): ATen
and numpy to AVX2, which every x86-64 CPU since 2013 has; MKL to its conditional numerical
reproducibility branch that gives the same bits on Intel and AMD processors; OpenBLAS to its
Haswell kernels; so that any such machine reproduces them digit for digit.
Benches run with the machine's own kernels.

Run: ``python scripts/figures.py [--all | --only NAME ...] [--jobs N] [--check]``
(``make figures``; ``make figures FIGURES="--all"``). ``--check`` writes nothing and exits 1
when a regenerated figure differs from README.md.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from neurodeploy.cpu_env import PORTABLE_CPU_ENV
from neurodeploy.network_io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Wide enough that rich never wraps a table cell.
COLUMNS = "250"
NOT_COMPARED = "<sub>"
#: Lines above a table searched for its title (rich wraps a long title to the table's width).
TITLE_LINES = 5
BLOCK = re.compile(r"<!-- figure: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /figure: (?P=name) -->",
                   re.S)


@dataclass(frozen=True)
class Fact:
    """One line of a figure's list: ``label``: ``template`` expanded on the first match of
    ``pattern`` in the command's output (a timing when ``timing``: shown in the closing
    line, never compared)."""

    label: str
    pattern: str
    timing: bool = False
    template: str = r"\1"


@dataclass(frozen=True)
class Figure:
    """A README figure: the command that makes it (``{out}``: a scratch folder), the titles
    (prefixes) of the tables it prints that the README shows, the facts, and the table
    columns that are timings."""

    name: str
    command: tuple[str, ...]
    tables: tuple[str, ...]
    facts: tuple[Fact, ...] = ()
    timing_columns: frozenset[str] = frozenset()
    cheap: bool = True
    exact: bool = True
    judged: bool = False  # a bench that exits 1 when its acceptance target is not met

    @property
    def ok_codes(self) -> tuple[int, ...]:
        """Exit codes whose output makes the figure: a judged bench's tables stand when it
        misses its target (exit 1); its acceptance lines are facts of the figure."""
        return (0, 1) if self.judged else (0,)

    def shown_command(self, out: str) -> str:
        words = [w.replace("{out}", out) for w in self.command]
        if words[:2] == ["-m", "neurodeploy"]:
            return " ".join(["neurodeploy", *words[2:]])
        return " ".join(["python", *words])


def _dt_study_figure(name: str, script: str, model: str, *facts: Fact,
                     args: tuple[str, ...] = ()) -> Figure:
    """An exact-timing script's figure: its dt study table (without the Lava check), its
    continuous-time test accuracy, ``facts``, the recommended dt and the timings."""
    return Figure(
        name, (script, *args, "--lava-samples", "0", "--out", "{out}/" + name),
        tables=("dt study",),
        facts=(Fact("continuous-time test accuracy (seed 0)",
                    r"continuous time: test accuracy ([\d.]+% \(\d+ samples\))"),
               *facts,
               Fact("recommended dt", r"recommended dt = (.+)"),
               Fact(f"{model} trained in", r"trained in ([\d.]+ s)", timing=True),
               Fact("dt study took", r"took ([\d.]+ s)", timing=True)),
        timing_columns=frozenset({"s"}),
    )


FIGURES: tuple[Figure, ...] = (
    _dt_study_figure("ttfs-digits", "scripts/ttfs_digits.py", "TTFS network"),
    _dt_study_figure("multispike-isi", "scripts/multispike_isi.py", "multi-spike network",
                     Fact("validation accuracy", r"validation ([\d.]+% \(\d+\))"),
                     Fact("accuracy on fresh samples",
                          r"(\d+) fresh samples \(seed (\d+)\): ([\d.]+%)",
                          template=r"\3 on \1 samples (seed \2)"),
                     # down to 1/20 of the data's 5 ms step: the study's default 1/50
                     # (10,000 steps per sample) would double the test suite's cost of it
                     args=("--dts", "0.005", "0.0025", "0.001", "0.0005", "0.00025")),
    Figure(
        "demo",
        ("-m", "neurodeploy", "demo", "--out", "{out}/demo"),
        tables=("neurodeploy demo",),
        facts=(Fact("verdict", r"^((?:PASS|FAIL): chip conformance [^;]+)"),
               Fact("demo took", r"(\d+ s) in all", timing=True)),
        timing_columns=frozenset({"seconds"}),
    ),
    Figure(
        "study-timing-quick",
        ("-m", "neurodeploy", "study", "timing", "--task", "ccisi", "--quick", "--out",
         "{out}/study-ccisi"),
        tables=("Timing study", "Deployed network on Lava"),
    ),
    Figure(
        "saccade-digits",
        ("scripts/saccade_digits.py", "--conv", "8c5s2p1,pool2,16c3p1,pool2", "--hidden", "64",
         "--epochs", "8", "--lr", "3e-3", "--lava-samples", "20"),
        tables=("Convolutional SNN", "Deployment cost"),
        facts=(Fact("deployed minus float", r"deployed minus float: (.+)"),
               Fact("training took", r"training took (\d+ s)", timing=True),
               Fact("quantization took", r"quantization took (\d+ s)", timing=True),
               Fact("verification took", r"verification took (\d+ s)", timing=True)),
        timing_columns=frozenset({"s per sample"}), cheap=False,
    ),
    Figure(
        "accuracy-tasks",
        ("scripts/accuracy_tasks.py", "--seeds", "0", "1", "2"),
        tables=("test accuracy",), cheap=False,
    ),
    Figure("bench-simulators", ("bench/bench_simulators.py",),
           tables=("Throughput", "Summary"), cheap=False, exact=False, judged=True,
           facts=(Fact("acceptance", r"^Acceptance: (reference >= .*?: (?:met|NOT met))"),)),
    Figure("bench-verify", ("bench/bench_verify.py", "--samples", "200"),
           tables=("verify(", "Summary"), cheap=False, exact=False),
    Figure("bench-training", ("bench/bench_training.py",),
           tables=("training step throughput",), cheap=False, exact=False, judged=True,
           facts=tuple(Fact(f"acceptance ({kind})", r"^Acceptance target: (neurodeploy \("
                            + kind + r"\) .*?: (?:met|NOT met))")
                       for kind in ("no delays", "axonal delays", "per-synapse delays"))
           + tuple(Fact(f"delay cost ({kind})", r"^Delay cost target: (a step of neurodeploy \("
                        + kind + r"\) .*?: (?:met|NOT met))")
                   for kind in ("axonal delays", "per-synapse delays"))),
    Figure("bench-qat", ("bench/bench_qat.py",), tables=("QAT step",), cheap=False,
           exact=False),
    Figure("snntorch-rnn", ("scripts/snntorch_rnn.py",), tables=("snnTorch recurrent",),
           cheap=False),
    Figure("bench-conv", ("bench/bench_conv.py",), tables=("CNN throughput", "CNN summary"),
           cheap=False, exact=False, judged=True,
           facts=(Fact("acceptance", r"^Acceptance: (reference >= .*?: (?:met|NOT met))"),)),
    Figure("bench-netx", ("bench/bench_netx.py",), tables=("One sample",), cheap=False,
           exact=False),
)
BY_NAME = {f.name: f for f in FIGURES}


@dataclass
class RichTable:
    """A table as rich prints it: the lines above it (its title, which rich may wrap, and
    perhaps other output), header cells, rows of cells."""

    title: str
    header: list[str] | None
    rows: list[list[str]] = field(default_factory=list)


def _cells(line: str, sep: str) -> list[str]:
    return [c.strip() for c in line.strip().strip(sep).split(sep)]


def _join(above: list[str], below: list[str]) -> list[str]:
    """Cells of one row printed on two lines (rich wrapped a cell), joined by a space."""
    return [f"{a} {b}".strip() for a, b in zip(above, below, strict=True)]


def parse_rich_tables(text: str) -> list[RichTable]:
    """The tables in rich's plain-text output (heavy-head box: ``┃`` header, ``│`` rows),
    each with up to :data:`TITLE_LINES` lines printed just above it. A row whose first cell
    is empty continues the row above it (a wrapped cell)."""
    tables: list[RichTable] = []
    current: RichTable | None = None
    above: deque[str] = deque(maxlen=TITLE_LINES)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("┏", "┌")):
            current = RichTable(" ".join(above), None)
            tables.append(current)
        elif current is not None and stripped.startswith("┃"):
            cells = _cells(stripped, "┃")
            current.header = cells if current.header is None else _join(current.header, cells)
        elif current is not None and stripped.startswith("│"):
            cells = _cells(stripped, "│")
            if current.rows and not cells[0]:
                current.rows[-1] = _join(current.rows[-1], cells)
            else:
                current.rows.append(cells)
        elif stripped.startswith(("└", "╰")):
            current = None
            above.clear()
        elif stripped and current is None:
            above.append(stripped)
    return tables


def markdown_table(table: RichTable) -> str:
    """``table`` as a markdown table (an empty header row when rich printed none)."""
    header = table.header or [""] * len(table.rows[0])

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([row(header), "|" + "---|" * len(header), *map(row, table.rows)])


def select_tables(figure: Figure, output: str) -> list[RichTable]:
    """The tables of ``figure`` in ``output``, in the order ``figure.tables`` names them (the
    first table with the name in the lines just above it); ValueError when one is missing."""
    found = parse_rich_tables(output)
    chosen = []
    for prefix in figure.tables:
        match = [t for t in found if prefix in t.title]
        if not match:
            raise ValueError(f"{figure.name}: no table titled '{prefix}...' in the output of "
                             f"{figure.shown_command('OUT')}; titles: {[t.title for t in found]}")
        chosen.append(match[0])
    return chosen


def extract_facts(figure: Figure, output: str) -> list[tuple[Fact, str]]:
    """(fact, value) for every fact of ``figure`` found in ``output`` (the first match)."""
    values = []
    for fact in figure.facts:
        m = re.search(fact.pattern, output, re.M)
        if m:
            values.append((fact, m.expand(fact.template)))
    return values


def provenance() -> tuple[str, str]:
    """(commit, date): the short commit, with ``+changes`` when files other than README.md
    differ from it, and today's UTC date."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                            text=True).stdout.splitlines()
    if any(line[3:] != "README.md" for line in status):
        commit += "+changes"
    return commit, datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``; the platform's name where it has none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render(figure: Figure, output: str, wall_s: float, commit: str, date: str,
           load: float | None = None, out: str = "out") -> str:
    """The markdown between the figure's markers (ending in a newline)."""
    parts = [markdown_table(t) for t in select_tables(figure, output)]
    facts = extract_facts(figure, output)
    compared = [f"- {fact.label}: {value}" for fact, value in facts if not fact.timing]
    if compared:
        parts.append("\n".join(compared))
    timings = [f"{fact.label} {value}" for fact, value in facts if fact.timing]
    kernels = ("CPU kernels pinned (scripts/figures.py)" if figure.exact
               else "the machine's own CPU kernels")
    columns = (f"; timing columns ({', '.join(sorted(figure.timing_columns))}) are not compared"
               if figure.timing_columns else "")
    busy = "" if load is None else f" (load average {load:.1f} at the start)"
    parts.append(f"{NOT_COMPARED}made by `{figure.shown_command(out)}` at commit {commit} on "
                 f"{date}, {cpu_model()}, {os.cpu_count()} cores{busy}, {kernels}; "
                 + "; ".join([*timings, f"{wall_s:.0f} s in all"]) + f"{columns}</sub>")
    return "\n\n".join(parts) + "\n"


def comparable(figure: Figure, body: str) -> list[str]:
    """The lines of a figure's markdown that must agree exactly: without the closing
    ``<sub>`` line and with the timing columns' cells blanked."""
    lines, blank = [], set()
    for line in body.strip().splitlines():
        if line.startswith(NOT_COMPARED):
            continue
        if line.startswith("| ") and not line.startswith("|---"):
            cells = line.strip().strip("|").split(" | ")
            cells = [c.strip() for c in cells]
            if set(cells) & figure.timing_columns and not blank:
                blank = {i for i, c in enumerate(cells) if c in figure.timing_columns}
            elif blank:
                cells = ["" if i in blank else c for i, c in enumerate(cells)]
            line = "| " + " | ".join(cells) + " |"
        elif not line.startswith("|"):
            blank = set()
        lines.append(line)
    return lines


def readme_blocks(text: str) -> dict[str, str]:
    """Figure name -> the markdown between its markers in ``text``."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the figure ``name``'s block replaced by ``body``; ValueError when the
    README has no markers for it."""
    pattern = re.compile(rf"(<!-- figure: {re.escape(name)} -->\n).*?(<!-- /figure: "
                         rf"{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no '<!-- figure: {name} -->' ... "
                         f"'<!-- /figure: {name} -->' markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text, count=1)


def run_figure(figure: Figure, scratch: Path, python: str = sys.executable) -> tuple[str, float]:
    """Run the figure's command in ``scratch`` (the repository root as working directory);
    returns (stdout, wall seconds). RuntimeError with the output's tail when it fails."""
    env = {**os.environ, "COLUMNS": COLUMNS, **(PORTABLE_CPU_ENV if figure.exact else {})}
    argv = [python, *(w.replace("{out}", str(scratch)) for w in figure.command)]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in figure.ok_codes:
        raise RuntimeError(f"{figure.name}: {' '.join(argv)} exited {proc.returncode}:\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc.stdout, wall


def generate(figures: Sequence[Figure], scratch: Path, jobs: int = 1) -> dict[str, str]:
    """Run ``figures`` (``jobs`` at a time) with scratch folders under ``scratch``; returns
    name -> rendered markdown."""
    commit, date = provenance()
    load = os.getloadavg()[0]

    def one(figure: Figure) -> tuple[str, str]:
        output, wall = run_figure(figure, scratch)
        return figure.name, render(figure, output, wall, commit, date, load)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(one, figures))


def differences(figures: Iterable[Figure], rendered: dict[str, str], readme: str) -> list[str]:
    """One unified diff per figure whose compared lines differ from README.md's block
    (or a line when the README has no block for it)."""
    blocks = readme_blocks(readme)
    problems = []
    for figure in figures:
        if figure.name not in blocks:
            problems.append(f"README.md has no block for figure {figure.name}")
            continue
        old, new = comparable(figure, blocks[figure.name]), comparable(figure,
                                                                       rendered[figure.name])
        if old != new:
            diff = difflib.unified_diff(old, new, f"README.md: {figure.name}",
                                        "regenerated", lineterm="")
            problems.append("\n".join(diff))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="cheap and expensive figures")
    which.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(BY_NAME),
                       help=f"these figures: {', '.join(BY_NAME)}")
    parser.add_argument("--jobs", type=int, default=1,
                        help="figures run side by side (timings suffer; default 1)")
    parser.add_argument("--check", action="store_true",
                        help="compare with README.md instead of writing it; exit 1 on a "
                        "difference")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: must be >= 1")
    figures = ([BY_NAME[n] for n in args.only] if args.only
               else [f for f in FIGURES if args.all or f.cheap])
    with tempfile.TemporaryDirectory(prefix="figures-") as scratch:
        rendered = generate(figures, Path(scratch), jobs=args.jobs)
    text = README.read_text(encoding="utf-8")
    if args.check:
        problems = differences(figures, rendered, text)
        print("\n\n".join(problems) or f"README.md agrees: {', '.join(rendered)}")
        return 1 if problems else 0
    for name, body in rendered.items():
        text = replace_block(text, name, body)
    atomic_write_text(README, text)
    print(f"README.md: wrote {', '.join(rendered)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
