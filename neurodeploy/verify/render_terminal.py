"""The verdict of a verification as rich tables in the terminal.

Steps are 0-based, one step per hop; best lag +1 means b spikes one step after a. Every
name from the summary is shown as plain text (rich markup in it is not interpreted).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from neurodeploy.terminal_table import print_table
from neurodeploy.verify.formatting import (
    FIRST_DIVERGENCE_RULE,
    agreement,
    divergence_sentence,
    num,
    population_label,
    spike_f1,
    verdict_kind,
    verdict_line,
)
from neurodeploy.verify.summary import PairSummary, SummaryLike, as_summary

_VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "neutral": "bold"}


def _where(pair: PairSummary, population: str) -> str:
    """Where the pair's spikes first diverge, as seen from one population's row."""
    divergence = pair.first_divergence
    if pair.identical or pair.populations[population].metrics.identical:
        return "none"
    if divergence and divergence.population == population:
        return divergence_sentence(divergence, pair.a, pair.b, population=False)
    if divergence:
        return f"later (first in {divergence.population!r})"
    return "–"


def render_terminal(summary: SummaryLike, console: Console) -> None:
    """Rich tables: agreement per pair and population, the gates, and a verdict line.

    ``summary``: a :class:`~neurodeploy.verify.summary.VerificationSummary` or the
    verifier's JSON-able dict. Backends identical at every step are grouped: one line names
    the group and only its first member gets rows. A population whose v is the readout is
    marked so and its "identical" cell compares v. Tables stay readable at 80 columns.
    """
    summary = as_summary(summary)
    title = Text(f"spike agreement: {summary.model} on {summary.data} "
                 f"({summary.samples} samples × {summary.steps} steps, 0-based)")
    pairs = Table(title=title, caption="first divergence: " + FIRST_DIVERGENCE_RULE)
    for column in ("pair", "population", "identical", "F1@0", "F1@±1", "best lag (F1)",
                   "first divergence"):  # numbers to the right
        pairs.add_column(column, justify="right" if column.startswith(("F1", "best")) else "left")
    for pair in summary.shown_pairs():
        for pop, comparison in pair.populations.items():
            m = comparison.metrics
            agrees, words = agreement(summary, pair, pop)
            pairs.add_row(Text(f"{pair.a} vs {pair.b}"), Text(population_label(summary, pop)),
                          Text(words), spike_f1(m, m.f1_at_0), spike_f1(m, m.f1_at_1),
                          f"{num(m.best_lag)} ({spike_f1(m, m.f1_at_best_lag)})",
                          Text(_where(pair, pop)), style="yellow" if agrees is False else None)
    for group in summary.identical_groups():
        if len(group) > 1:
            console.print(Text(f"identical at every step: {' = '.join(group)} (rows show "
                               f"{group[0]})"))
    if pairs.row_count:
        print_table(console, pairs, keys=2)
    if summary.gates:
        table = Table("gate", "value", "result", "detail", title="gates")
        for gate in summary.gates:
            table.add_row(Text(gate.expr), Text(num(gate.value)),
                          Text("pass" if gate.passed else "FAIL",
                               style="green" if gate.passed else "bold red"),
                          Text(gate.detail))
        print_table(console, table)
    verdict = summary.verdict
    console.print(Text(verdict_line(verdict), style=_VERDICT_STYLE[verdict_kind(verdict)]))
