"""One entry point for every backend: :func:`simulate`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from neurodeploy.float_network import FloatNetwork
from neurodeploy.network import FixedPointNetwork
from neurodeploy.targets import get_target
from neurodeploy.traces import Traces


def simulate(
    net: FixedPointNetwork | FloatNetwork,
    spikes: np.ndarray,
    target: str = "reference",
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    **options: object,
) -> Traces:
    """Run ``net`` on ``target`` for a batch of input spikes.

    ``spikes`` is (batch, steps, n_inputs), bool or 0/1 integers; step t is 0-based and an
    input spike at step t reaches a population behind one projection at step
    t + 1 + delay. ``record`` is a subset of ("spikes", "v", "u") (spikes are always
    recorded); ``populations`` limits recording to some populations (default: all).
    ``target`` is one of ``neurodeploy targets`` ("reference", "torch-int", "onnx",
    "torch-float", "lava", "lava-float", "loihi2"); ``options`` go to the target (e.g.
    ``timeout_s`` for Lava). "torch-float" also takes a :class:`FloatNetwork`.
    """
    return get_target(target, net)(net, spikes, record=record, populations=populations, **options)
