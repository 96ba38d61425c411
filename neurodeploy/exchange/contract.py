"""The discretization contract neurodeploy writes into NIR graph metadata.

NIR graphs describe continuous-time dynamics and say nothing about the time step, the
reset rule or the latency of a hop, so every importer guesses. Graphs written by
neurodeploy carry, under the ``neurodeploy`` key of the graph metadata::

    schema_version    1
    kind              "fixed_point" | "float"
    dt                seconds per step
    hop_latency_steps 1        (a spike at step t reaches the next population at t + 1 + delay)
    reset             "zero" | "subtract"
    threshold         "strict" (a neuron spikes when v > threshold)
    update_order      "u_then_v" (u[t] uses a[t]; v[t] uses the new u[t])
    discretization    "forward_euler"
    time              "0-based steps"
    n_inputs, outputs (comma-separated population names), network_config (JSON, float
    models from neurodeploy.models only)

and every neuron and weight node carries the exact discrete values under its own
``neurodeploy`` metadata key (see ``docs/nir.md``). The NIR fields themselves are the
continuous-time parameters that forward Euler at ``dt`` turns back into the same update.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurodeploy.errors import InputError, NetworkValidationError, NeurodeployError

KEY = "neurodeploy"
SCHEMA_VERSION = 1
KINDS = ("fixed_point", "float")
# NIR's CubaLIF cannot express a non-leaky membrane (dv = 0) with input: tau_mem would be
# infinite and r = tau_mem / dt with it. Exported graphs use this dv instead (tau_mem =
# dt / DV_FLOOR); the exact value is in the node metadata.
DV_FLOOR = 2.0**-40


def plain(value: Any) -> Any:
    """Metadata value HDF5 can store: 0-d arrays become Python scalars (nir.write
    compresses arrays, and scalar datasets cannot be compressed)."""
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr


def graph_contract(kind: str, dt: float, reset: str, n_inputs: int, outputs: list[str],
                   **extra: Any) -> dict[str, Any]:
    """The ``neurodeploy`` entry of an exported graph's metadata."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "dt": float(dt),
            "hop_latency_steps": 1, "reset": reset, "threshold": "strict",
            "update_order": "u_then_v", "discretization": "forward_euler",
            "time": "0-based steps", "n_inputs": int(n_inputs), "outputs": ",".join(outputs),
            **extra}


def checked_dt(value: object, where: str, error: type[NeurodeployError] = InputError,
               required: bool = False) -> float | None:
    """``value`` as seconds per step (None stays None unless ``required``), or a one-line
    ``error`` naming ``where`` unless it is a finite number > 0."""
    if value is None and not required:
        return None
    try:
        dt = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        dt = math.nan
    if isinstance(value, bool) or not math.isfinite(dt) or dt <= 0:
        raise error(f"{where}: dt = {value!r} is not allowed; allowed: a time step > 0 seconds")
    return dt


def read_contract(metadata: Any) -> dict[str, Any] | None:
    """The contract of a graph's metadata, or None for graphs neurodeploy did not write."""
    if not isinstance(metadata, dict) or KEY not in metadata:
        return None
    contract, where = metadata[KEY], f"graph metadata '{KEY}'"
    if not isinstance(contract, dict):
        raise NetworkValidationError(f"{where} is not a group of fields")
    version = contract.get("schema_version")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise NetworkValidationError(f"{where}: schema_version = {version!r} is not an "
                                     "integer") from None
    if version != SCHEMA_VERSION:
        raise NetworkValidationError(f"{where}: schema_version = {version} is not supported; "
                                     f"this neurodeploy reads version {SCHEMA_VERSION} (upgrade "
                                     "neurodeploy)")
    kind = contract.get("kind")
    if kind not in KINDS:
        raise NetworkValidationError(f"{where}: kind = {kind!r} is unknown; allowed: "
                                     f"{', '.join(KINDS)}")
    for name, value in (("hop_latency_steps", 1), ("threshold", "strict"),
                        ("update_order", "u_then_v")):
        if contract.get(name) != value:
            raise NetworkValidationError(f"{where}: {name} = {contract.get(name)!r}; this "
                                         f"version supports only {value!r}")
    checked_dt(contract.get("dt"), where, NetworkValidationError, required=True)
    return contract
