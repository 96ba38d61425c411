"""The verdict of a verification as rich tables in the terminal.

Steps are 0-based, one step per hop; best lag +1 means b spikes one step after a. Every
name from the summary is shown as plain text (rich markup in it is not interpreted).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from neurodeploy.verify.formatting import divergence_sentence, f1, num, verdict_line
from neurodeploy.verify.summary import PairSummary, SummaryLike, as_summary


def _where(pair: PairSummary, population: str) -> str:
    """Where the pair first diverges, as seen from one population's row."""
    divergence = pair.first_divergence
    if pair.identical or pair.populations[population].metrics.identical:
        return "none"
    if divergence and divergence.population == population:
        return divergence_sentence(divergence, pair.a, pair.b, population=False)
    if divergence:
        return f"later (first in {divergence.population!r})"
    return "–"


def render_terminal(summary: SummaryLike, console: Console) -> None:
    """Rich tables: agreement per pair and population, the gates, and a PASS/FAIL line.

    ``summary``: a :class:`~neurodeploy.verify.summary.VerificationSummary` or the
    verifier's JSON-able dict. Backends identical at every step are grouped: one line names
    the group and only its first member gets rows.
    """
    summary = as_summary(summary)
    title = Text(f"spike agreement: {summary.model} on {summary.data} "
                 f"({summary.samples} samples × {summary.steps} steps, 0-based)")
    pairs = Table(title=title)
    for column in ("pair", "population", "identical", "F1@0", "F1@±1", "best lag (F1)",
                   "first divergence"):
        pairs.add_column(column, justify="left" if column in
                         ("pair", "population", "first divergence") else "right")
    groups = summary.identical_groups()
    shown = {g[0] for g in groups}
    for pair in summary.pairs:
        if pair.a not in shown or pair.b not in shown:  # one row per group of identical
            continue
        for pop, comparison in pair.populations.items():
            m = comparison.metrics
            pairs.add_row(
                Text(f"{pair.a} vs {pair.b}"), Text(str(pop)), num(m.identical),
                f1(m.f1_at_0), f1(m.f1_at_1), f"{num(m.best_lag)} ({f1(m.f1_at_best_lag)})",
                Text(_where(pair, pop)), style=None if m.identical else "yellow",
            )
    for group in groups:
        if len(group) > 1:
            console.print(Text(f"identical at every step: {' = '.join(group)} (rows show "
                               f"{group[0]})"))
    if pairs.row_count:
        console.print(pairs)
    if summary.gates:
        table = Table(title="gates")
        for column in ("gate", "value", "result", "detail"):
            table.add_column(column)
        for gate in summary.gates:
            table.add_row(Text(gate.expr), Text(num(gate.value)),
                          Text("pass" if gate.passed else "FAIL",
                               style="green" if gate.passed else "bold red"),
                          Text(gate.detail))
        console.print(table)
    verdict = summary.verdict
    console.print(Text(verdict_line(verdict), style="bold green" if verdict.passed
                       else "bold red"))
