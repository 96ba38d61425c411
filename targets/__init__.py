"""Backends that run a :class:`~neurodeploy.FixedPointNetwork` (installed as
``neurodeploy.targets``).

Each target is a function ``(net, spikes, record, populations, **options) -> Traces``.
A target never knows how a network was trained: targets import only the core
(``neurodeploy.network``, ``fixed_point``, ``float_network``, ``network_io``, ``traces``,
``errors``) and the file formats they run (``neurodeploy.exchange``: the netx target
writes the network's netx file), never models, quantize, verify or study.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from neurodeploy.errors import TargetUnavailableError
from neurodeploy.targets.lava import lava_available, loihi_extension_available, netx_available


@dataclass(frozen=True)
class TargetInfo:
    name: str
    description: str
    module: str
    function: str
    options: dict
    records: tuple[str, ...] = ("spikes", "u", "v")  # what it can record
    timed_resets: bool = False  # runs populations with a reset_interval

    def available(self) -> tuple[bool, str]:
        """(usable here?, reason when not)."""
        if self.name in ("lava", "lava-float"):
            return (True, "") if lava_available() else (False, "lava-nc not installed")
        if self.name == "netx":
            return (True, "") if netx_available() else (False, "lava-dl not installed")
        if self.name == "loihi2":
            if loihi_extension_available():
                return False, "lava-loihi found, but the chip path is not implemented yet"
            return False, "needs Intel's proprietary Lava extension (lava-loihi)"
        return True, ""


TARGETS: dict[str, TargetInfo] = {
    t.name: t
    for t in (
        TargetInfo("reference", "neurodeploy's vectorised fixed-point simulator (bit-exact)",
                   "neurodeploy.targets.reference", "simulate_reference", {},
                   timed_resets=True),
        TargetInfo("torch-int", "PyTorch integer emulation of the fixed-point arithmetic "
                   "(bit-exact; device='cpu' or 'cuda')",
                   "neurodeploy.targets.torch_int", "simulate_torch_int", {},
                   timed_resets=True),
        TargetInfo("torch-float", "PyTorch float model (float64): a FloatNetwork (a trained "
                   "model's, a NIR import) or a fixed-point network's dequantized equivalent",
                   "neurodeploy.targets.torch_float", "simulate_torch_float", {}),
        TargetInfo("onnx", "ONNX Runtime running an exported integer model (bit-exact)",
                   "neurodeploy.targets.onnx", "simulate_onnx", {}),
        TargetInfo("lava", "Lava 0.10 CPU simulator, fixed_pt models (bit-accurate)",
                   "neurodeploy.targets.lava", "simulate_lava", {}, timed_resets=True),
        TargetInfo("lava-float", "Lava 0.10 CPU simulator, floating_pt models (float equivalent)",
                   "neurodeploy.targets.lava", "simulate_lava", {"float_mode": True}),
        TargetInfo("netx", "lava-dl's netx running the network's netx file on Lava's CPU "
                   "simulator (fixed_pt; spikes only)",
                   "neurodeploy.targets.netx", "simulate_netx", {}, ("spikes",)),
        TargetInfo("loihi2", "Loihi 2 chip through Intel's Lava extension (untested here)",
                   "neurodeploy.targets.lava", "simulate_loihi2", {}))
}


def get_target(name: str, net: object = None) -> Callable:
    """The simulate function of target ``name`` (with its fixed options bound); refused
    when ``net`` has timed state resets the target does not run."""
    info = TARGETS.get(name)
    if info is None:
        raise TargetUnavailableError(f"target {name!r} is unknown; available: {', '.join(TARGETS)}")
    timed = [(n, p.reset_interval) for n, p in getattr(net, "populations", {}).items()
             if getattr(p, "reset_interval", 0)]
    if timed and not info.timed_resets:
        runs = ", ".join(t.name for t in TARGETS.values() if t.timed_resets)
        raise TargetUnavailableError(
            f"target {name!r} does not run timed state resets (population '{timed[0][0]}' "
            f"has reset_interval {timed[0][1]}); targets that do: {runs}")
    func = getattr(importlib.import_module(info.module), info.function)
    if not info.options:
        return func
    return lambda *args, **kwargs: func(*args, **{**info.options, **kwargs})
