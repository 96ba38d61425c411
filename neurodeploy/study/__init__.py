"""Studies: many training runs, evaluated the same way and summarised in one table.

:func:`run_timing_study` asks Yu et al.'s question (do networks use spike timing, and
does the timing code survive deployment to Loihi 2 fixed point?) and
:func:`render_study` prints its table.
"""

from neurodeploy.study.timing import (
    StudyError,
    StudyResult,
    render_study,
    run_timing_study,
)

__all__ = ["StudyError", "StudyResult", "render_study", "run_timing_study"]
