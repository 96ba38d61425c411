"""The chip profile PTQ, QAT and the linter read: :class:`neurodeploy.chip.ChipFormat`.

Re-exported here for code that imported it from ``neurodeploy.quantize.format``; the one
definition lives in ``neurodeploy.chip`` (the IR validates against it too).
"""

from neurodeploy.chip import LOIHI2, ChipFormat

__all__ = ["LOIHI2", "ChipFormat"]
