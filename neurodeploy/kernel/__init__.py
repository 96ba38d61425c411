"""The Loihi 2 integer kernel: one step written once, realised per array library.

Holds :func:`lif_step` and :func:`accumulate` (the integer semantics of one step and of
one projection's input), :class:`LIFConstants` (a population's integers, built once) and
the :class:`IntOps` protocol they are written over, in ``neurodeploy.kernel.lif``; its
realisations: float64 scalars compiled by numba (``compiled``, the reference simulator's
fused loop), numpy (``numpy_ops``: the reference on other chip profiles, the linter),
torch (``torch_ops``, torch-int and QAT's forward values), torch with straight-through
gradients (``neurodeploy.quantize.qat.ops``) and the ONNX graph builder
(``neurodeploy.targets.onnx``).
The float model's step is ``float_step`` (torch). The torch modules are not imported here,
so that the IR (which uses the kernel's bounds) loads without torch.

May import: ``neurodeploy.chip``, ``neurodeploy.fixed_point``, numpy, numba and torch only
(never models, quantize, targets, verify or studies).
"""

from neurodeploy.kernel.lif import (
    IntOps,
    LIFConstants,
    accumulate,
    input_bound,
    integrate,
    lif_step,
    slots_merge,
)
from neurodeploy.kernel.numpy_ops import NumpyIntOps

__all__ = [
    "IntOps",
    "LIFConstants",
    "NumpyIntOps",
    "accumulate",
    "input_bound",
    "integrate",
    "lif_step",
    "slots_merge",
]
