"""The quantization report: where its parts live, and its entry points in one place.

- :mod:`neurodeploy.quantize.quality`: what quantization did to weights, neuron state and
  spikes, computed per projection and population as typed rows.
- :mod:`neurodeploy.quantize.render_report`: those rendered as rich tables and a PNG.

Counts refer to the evaluation data (0-based steps, one step per hop). The names below
are re-exported for the quantize pipeline and the command line.
"""

from neurodeploy.quantize.quality import (
    PopulationQuality,
    ProjectionQuality,
    QuantizationReport,
    population_report,
    projection_report,
    smape,
)
from neurodeploy.quantize.render_report import plot_report, render_report

__all__ = [
    "PopulationQuality",
    "ProjectionQuality",
    "QuantizationReport",
    "plot_report",
    "population_report",
    "projection_report",
    "render_report",
    "smape",
]
