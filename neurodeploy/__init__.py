"""neurodeploy: spiking networks from PyTorch to Loihi 2 fixed point, verified.

Time convention everywhere: steps are 0-based; a spike at step t reaches a population
behind one projection at step t + 1 + delay (one step of latency per hop).
"""

from neurodeploy.errors import (
    InputError,
    NetworkValidationError,
    NeurodeployError,
    SimulationError,
    TargetUnavailableError,
)
from neurodeploy.network import FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.network_io import load_network, save_network
from neurodeploy.simulate import simulate
from neurodeploy.traces import Traces

__version__ = "0.1.0"

__all__ = [
    "FixedPointNetwork",
    "InputError",
    "LIFPopulation",
    "NetworkValidationError",
    "NeurodeployError",
    "Projection",
    "SimulationError",
    "TargetUnavailableError",
    "Traces",
    "__version__",
    "load_network",
    "save_network",
    "simulate",
]
