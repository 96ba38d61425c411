"""CI gates over a verification: ``A==B`` and ``A~B:metric[population]>=value``.

- ``A==B``: backends A and B spike identically (every population, sample and step).
- ``A~B:METRIC OP VALUE``: a pair metric compared with a number; METRIC is one of
  ``f1@0``, ``f1@1``, ``f1@2`` (one-to-one spike matching within +-k steps),
  ``f1@lag`` (at the best lag), ``lag`` (best integer lag, b after a when > 0),
  ``identical_samples``, ``count_error``, ``count_error_rel``, ``first_spike_mean``,
  ``first_spike_max``, ``van_rossum``, ``v_rmse``; optionally for one population,
  ``f1@1[layer1]``; without it the worst population counts (the smallest value for
  ``>=``/``>``, the largest for ``<=``/``<``, all of them for ``==``).
  ``decision_agreement`` is per pair (no population).
- ``A:accuracy OP VALUE``: a backend's task accuracy.

OP is one of ``>=``, ``<=``, ``>``, ``<``, ``==``. Pair order does not matter for
symmetric metrics; ``lag`` is measured from A to B.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from neurodeploy.errors import InputError

PAIR_METRICS = {"f1@0": "f1_at_0", "f1@1": "f1_at_1", "f1@2": "f1_at_2",
                "f1@lag": "f1_at_best_lag", "lag": "best_lag",
                "identical_samples": "identical_samples", "count_error": "count_error_abs",
                **{name: name for name in ("count_error_rel", "first_spike_mean",
                                           "first_spike_max", "van_rossum", "v_rmse")}}
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
       "==": operator.eq}
_NAME = r"[A-Za-z0-9_.\-]+"
_EXACT = re.compile(rf"^\s*({_NAME})\s*==\s*({_NAME})\s*$")
_PAIR = re.compile(rf"^\s*({_NAME})\s*~\s*({_NAME})\s*:\s*([a-z_0-9@]+)\s*"
                   rf"(?:\[\s*({_NAME})\s*\])?\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")
_ACC = re.compile(rf"^\s*({_NAME})\s*:\s*accuracy\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")
SYNTAX = ("'A==B', 'A~B:METRIC>=VALUE' (optionally METRIC[population]) or "
          "'A:accuracy>=VALUE'")


@dataclass(frozen=True)
class Gate:
    expr: str
    kind: str  # "exact", "pair", "accuracy"
    a: str
    b: str | None = None
    metric: str | None = None
    population: str | None = None
    op: str | None = None
    value: float | None = None

    @property
    def backends(self) -> tuple[str, ...]:
        return (self.a,) if self.b is None else (self.a, self.b)


def parse_gate(expr: str) -> Gate:
    """Parse one gate expression; InputError naming it when it does not parse."""
    if m := _EXACT.match(expr):
        return Gate(expr, "exact", m[1], m[2])
    if m := _ACC.match(expr):
        return Gate(expr, "accuracy", m[1], op=m[2], value=_number(expr, m[3]))
    if m := _PAIR.match(expr):
        metric = m[3]
        if metric not in PAIR_METRICS and metric != "decision_agreement":
            raise InputError(f"gate {expr!r}: metric {metric!r} is unknown; allowed: "
                             f"{', '.join([*PAIR_METRICS, 'decision_agreement'])}")
        if metric == "decision_agreement" and m[4]:
            raise InputError(f"gate {expr!r}: decision_agreement is per pair, not per "
                             "population")
        return Gate(expr, "pair", m[1], m[2], metric, m[4], m[5], _number(expr, m[6]))
    raise InputError(f"gate {expr!r} does not parse; expected {SYNTAX}")


def _number(expr: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"gate {expr!r}: {text!r} is not a number") from None


def _find_pair(summary: dict, a: str, b: str) -> tuple[dict, bool]:
    for pair in summary["pairs"]:
        if {pair["a"], pair["b"]} == {a, b}:
            return pair, pair["a"] != a
    raise InputError(f"no comparison of {a!r} and {b!r} in this verification")


def _outcome(gate: Gate, passed: bool, value: object, detail: str) -> dict[str, Any]:
    return {"expr": gate.expr, "passed": bool(passed), "value": value, "detail": detail}


def evaluate_gate(gate: Gate, summary: dict) -> dict[str, Any]:
    """{"expr", "passed", "value", "detail"} for one gate over a verification summary."""
    if gate.kind == "accuracy":
        acc = summary["backends"][gate.a].get("accuracy")
        if acc is None:
            return _outcome(gate, False, None,
                            f"{gate.a} has no accuracy (no labels or no readout)")
        return _outcome(gate, OPS[gate.op](acc, gate.value), acc,
                        f"accuracy of {gate.a} = {acc:.4f}")
    pair, swapped = _find_pair(summary, gate.a, gate.b)
    if gate.kind == "exact":
        div = pair["first_divergence"]
        detail = ("identical at every step" if pair["identical"] else
                  f"first divergence: sample {div['sample']}, population "
                  f"'{div['population']}', neuron {div['neuron']}, step {div['step']}")
        return _outcome(gate, pair["identical"], bool(pair["identical"]), detail)
    if gate.metric == "decision_agreement":
        value = pair.get("decision_agreement")
        values = {} if value is None else {"(pair)": value}
    else:
        field = PAIR_METRICS[gate.metric]
        pops = pair["populations"]
        if gate.population is not None and gate.population not in pops:
            raise InputError(f"gate {gate.expr!r}: population {gate.population!r} is unknown; "
                             f"known: {', '.join(pops)}")
        names = [gate.population] if gate.population else list(pops)
        values = {n: pops[n][field] for n in names if pops[n][field] is not None}
        if gate.metric == "lag" and swapped:
            values = {n: -v for n, v in values.items()}
    if not values:
        return _outcome(gate, False, None, f"{gate.metric} is not available for this pair")
    if gate.op == "==":  # every value must equal it: the first one that does not
        worst_name, worst = None, next((v for v in values.values() if v != gate.value),
                                       gate.value)
    else:
        worst_name = (min if gate.op in (">=", ">") else max)(values, key=values.get)
        worst = values[worst_name]
    ok = OPS[gate.op](worst, gate.value)
    where = f" ({worst_name})" if worst_name and worst_name != "(pair)" else ""
    return _outcome(gate, ok, worst, f"{gate.metric}{where} = {worst:.4g}")
