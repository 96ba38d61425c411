"""The one exception family for user errors.

Everything a user can get wrong (a bad parameter, a wrong shape, an unavailable target, a
file that cannot be read) raises a subclass of :class:`NeurodeployError`. The CLI turns it
into a one-line message and exit code 2 in exactly one place (``neurodeploy.cli``).
"""

from __future__ import annotations


class NeurodeployError(Exception):
    """Base class of every error caused by user input or the user's environment."""


class NetworkValidationError(NeurodeployError, ValueError):
    """A network description violates a Loihi 2 range, a shape or a reference.

    The message names the population or projection, the field, the offending value and
    what is allowed, e.g. ``population 'h': dv = 5000 is out of range; allowed 0..4095``.
    """


class InputError(NeurodeployError, ValueError):
    """Input spikes or options passed to a simulation are malformed."""


class TargetUnavailableError(NeurodeployError):
    """A backend is unknown or cannot run here (missing package, missing hardware)."""


class SimulationError(NeurodeployError):
    """A backend failed or timed out while running a network."""


class DatasetError(NeurodeployError, ValueError):
    """A spike data set, a task parameter or a data file is malformed.

    The message names the field and the offending value and says what is allowed, e.g.
    ``labels[3] = 7 is out of range; allowed 0..2``.
    """
