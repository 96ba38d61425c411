"""Numbers and sentences shared by the HTML report and the terminal tables.

Plain text only (no markup): each renderer escapes or styles it. Steps are 0-based, one
step per hop.
"""

from __future__ import annotations

import math

import numpy as np

from neurodeploy.verify.metrics import Divergence
from neurodeploy.verify.summary import Verdict


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


def f1(value: float | None) -> str:
    """An F1 score with three decimals, a dash for None."""
    return "–" if value is None else f"{value:.3f}"


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


def verdict_line(verdict: Verdict) -> str:
    """One line: PASS or FAIL, and which gates failed."""
    if verdict.failed:
        return (f"FAIL: {len(verdict.failed)} of {verdict.gates} gates failed: "
                + "; ".join(verdict.failed))
    if not verdict.passed:
        return "FAIL: the verifier reports a failure although no gate failed"
    if not verdict.gates:
        return "PASS: no gates were set"
    return f"PASS: all {verdict.gates} gates passed"
