"""neurodeploy: spiking networks from PyTorch to Loihi 2 fixed point, verified.

Time convention everywhere: steps are 0-based; a spike at step t reaches a population
behind one projection at step t + 1 + delay (one step of latency per hop).

This package holds the core: the integer IR (:mod:`.network`, :mod:`.fixed_point`), its
float counterpart (:mod:`.float_network`), files (:mod:`.network_io`), traces and
readouts; :func:`simulate` dispatches to the backends of ``neurodeploy.targets``. The core
modules import only each other; the root and :mod:`.simulate` also import targets. The
subpackages ``exchange`` (NIR), ``verify``, ``study`` and the CLI sit above ``models``,
``quantize`` and ``targets``; ``tests/test_layering.py`` checks the layering.
"""

from neurodeploy.errors import (
    InputError,
    NetworkValidationError,
    NeurodeployError,
    SimulationError,
    TargetUnavailableError,
)
from neurodeploy.network import Conv2d, FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.network_io import load_network, save_network
from neurodeploy.simulate import simulate
from neurodeploy.traces import Traces

__version__ = "0.1.0"

__all__ = [
    "Conv2d",
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
