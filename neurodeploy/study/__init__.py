"""Studies: many training runs, evaluated the same way and summarised in one table.

:func:`run_timing_study` asks Yu et al.'s question (do networks use spike timing, and
does the timing code survive deployment to Loihi 2 fixed point?) and
:func:`render_study` prints its table. The study is split into :mod:`.plan` (arguments,
configurations), :mod:`.job` (one configuration), :mod:`.runner` (resume and executors)
and :mod:`.summary` (JSON, CSV, table and plot).
"""

from neurodeploy.study.timing import (
    StudyError,
    StudyResult,
    render_study,
    run_timing_study,
)

__all__ = ["StudyError", "StudyResult", "render_study", "run_timing_study"]
