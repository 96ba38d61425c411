"""Studies: many training runs or time steps, evaluated the same way and summarised in one
table.

:func:`run_timing_study` asks Yu et al.'s question (do networks use spike timing, and
does the timing code survive deployment to Loihi 2 fixed point?) and
:func:`render_study` prints its table; it is split into :mod:`.plan` (arguments,
configurations), :mod:`.job` (one configuration), :mod:`.runner` (resume and executors)
and :mod:`.summary` (JSON, CSV, table and plot); :func:`run_isi_sweep` (:mod:`.sweep`)
runs one timing study per maximum ISI on one executor and plots accuracy against it.
:func:`run_dt_study` asks how coarse the
time step of a trained exact-timing model may be (``neurodeploy study dt``) and
:func:`render_dt_study` prints its table.

A study is the top of the stack: it may import every other package (core, models,
quantize, targets, exchange, verify); nothing but the CLI imports a study.
"""

from neurodeploy.study.dt import DtStudyResult, render_dt_study, run_dt_study
from neurodeploy.study.summary import StudyError, StudyResult, render_study
from neurodeploy.study.sweep import SweepResult, render_sweep, run_isi_sweep
from neurodeploy.study.timing import run_timing_study

__all__ = [
    "DtStudyResult",
    "StudyError",
    "StudyResult",
    "SweepResult",
    "render_dt_study",
    "render_study",
    "render_sweep",
    "run_dt_study",
    "run_isi_sweep",
    "run_timing_study",
]
