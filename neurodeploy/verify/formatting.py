"""Numbers and sentences shared by the HTML report and the terminal tables.

Plain text only (no markup): each renderer escapes or styles it. Steps are 0-based, one
step per hop.
"""

from __future__ import annotations

import math

import numpy as np

from neurodeploy.verify.metrics import Divergence, PairMetrics
from neurodeploy.verify.summary import PairSummary, Verdict, VerificationSummary

#: How the first divergence is chosen, in words (steps 0-based).
FIRST_DIVERGENCE_RULE = ("the earliest step at which any spike differs; ties go to the "
                         "smallest sample index, then to the population listed first, then "
                         "to the smallest neuron index")


def num(value: object, digits: int = 4) -> str:
    """A metric value: a dash for None, yes/no for bools, significant digits for floats."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}" if math.isfinite(value) else str(float(value))
    return str(value)


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal, a dash for None."""
    return "–" if value is None else f"{value:.1%}"


def divergence_sentence(divergence: Divergence, a: str, b: str,
                        population: bool = True) -> str:
    """``sample 3, population 'layer1', neuron 17, step 42: a spiked, b did not`` (0-based
    steps); without the population part when ``population`` is False."""
    a_spiked, b_spiked = bool(divergence.a_spiked), bool(divergence.b_spiked)
    if a_spiked and not b_spiked:
        who = f"{a} spiked, {b} did not"
    elif b_spiked and not a_spiked:
        who = f"{b} spiked, {a} did not"
    else:
        who = f"{a} spiked: {num(a_spiked)}, {b} spiked: {num(b_spiked)}"
    where = f"population {divergence.population!r}, " if population else ""
    return (f"sample {divergence.sample}, {where}neuron {divergence.neuron}, "
            f"step {divergence.step}: {who}")


def verdict_kind(verdict: Verdict) -> str:
    """"pass", "fail", or "neutral" when no gate was set (nothing was required)."""
    return ("pass" if verdict.gates else "neutral") if verdict.passed else "fail"


def verdict_line(verdict: Verdict) -> str:
    """One line: PASS or FAIL and which gates failed; neutral wording without gates."""
    if verdict.failed:
        return (f"FAIL: {len(verdict.failed)} of {verdict.gates} gates failed: "
                + "; ".join(verdict.failed))
    if not verdict.passed:
        return "FAIL: the verifier reports a failure although no gate failed"
    if not verdict.gates:
        return ("No gates set: nothing was required, so nothing passed or failed "
                "(--require sets a gate)")
    return f"PASS: all {verdict.gates} gates passed"


def silent(m: PairMetrics) -> bool:
    """Neither side spiked: spike metrics hold trivially (F1 1 by definition)."""
    return m.n_spikes_a == 0 and m.n_spikes_b == 0


def spike_f1(m: PairMetrics, value: float | None) -> str:
    """An F1 score with three decimals; a dash for None or when neither side spiked."""
    return "–" if value is None or silent(m) else f"{value:.3f}"


def population_label(summary: VerificationSummary, population: str) -> str:
    """The population's name, marked ``(readout: mean_v)`` when its v is the output."""
    return (f"{population} (readout: {summary.readout})" if summary.is_v_readout(population)
            else population)


def agreement(summary: VerificationSummary, pair: PairSummary,
              population: str) -> tuple[bool | None, str]:
    """(agrees, words) for one population of a pair: spikes for a spiking population
    (``yes``, ``no``, ``yes (no spikes)``); v for one whose v is the readout (``v
    identical``, ``v differs: RMSE x lsb; N entries, first at step S``, ``v not compared
    (...)`` where agrees is None). Steps are 0-based."""
    comparison = pair.populations[population]
    m = comparison.metrics
    if not summary.is_v_readout(population):
        return m.identical, num(m.identical) + (" (no spikes)" if silent(m) else "")
    ua, ub = summary.units(pair.a), summary.units(pair.b)
    if ua and ub and ua != ub:
        return None, f"v not compared ({ua} vs {ub})"
    if comparison.v_mismatches is None and m.v_rmse is None:
        return None, "v not compared (not recorded by both)"
    if comparison.v_mismatches == 0 or (comparison.v_mismatches is None and m.v_rmse == 0):
        return True, "v identical"
    words = f"v differs: RMSE {num(m.v_rmse)} {ua or ub or ''}".rstrip()
    if comparison.v_mismatches is not None:
        steps = comparison.v_mismatch_steps
        words += f"; {comparison.v_mismatches} entries" + (f", first at step {steps[0]}"
                                                            if steps else "")
    return False, words
