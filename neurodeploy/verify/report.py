"""The verification report: where its parts live, and its entry points in one place.

- :mod:`neurodeploy.verify.summary`: the verifier's result as typed, read-only summaries
  (backends, pairs, per-population metrics, first divergence, gates, verdict).
- :mod:`neurodeploy.verify.figure_data`: what the figures show, computed from the traces
  (raster panels, divergence map, voltage window).
- :mod:`neurodeploy.verify.figures`: those drawn with matplotlib.
- :mod:`neurodeploy.verify.render_html`: the self-contained HTML page.
- :mod:`neurodeploy.verify.render_terminal`: the rich tables.

Time convention: 0-based steps, one step per hop. The names below are re-exported for the
verifier (``write_html_report``) and the command line (``render_terminal``).
"""

from neurodeploy.verify.figure_data import MAX_RASTER_NEURONS
from neurodeploy.verify.render_html import MAX_RASTER_SAMPLES, render_html, write_html_report
from neurodeploy.verify.render_terminal import render_terminal
from neurodeploy.verify.summary import (
    VerificationSummary,
    identical_groups,
    raster_samples,
)

__all__ = [
    "MAX_RASTER_NEURONS",
    "MAX_RASTER_SAMPLES",
    "VerificationSummary",
    "identical_groups",
    "raster_samples",
    "render_html",
    "render_terminal",
    "write_html_report",
]
