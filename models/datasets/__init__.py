"""Spike data sets: one format, the Yu et al. timing tasks, transforms and the SHD loader.

Time convention everywhere: ``spikes[sample, step, channel]``, 0-based steps of ``dt``
seconds.

May import: the core only (``neurodeploy.errors``, ``network_io``), not the models.
"""

from .format import (
    FORMAT,
    VERSION,
    SpikeDataset,
    describe,
    load_dataset,
    save_dataset,
    split,
    subset,
)
from .shd import load_shd
from .tasks import (
    PRESETS,
    TASKS,
    ccisi_task,
    coincidence_task,
    isi_task,
    make_task,
    saccade_digits_task,
)
from .transforms import add_noise, perturb_timing, remove_rate, reverse_time

__all__ = [
    "FORMAT",
    "PRESETS",
    "TASKS",
    "VERSION",
    "SpikeDataset",
    "add_noise",
    "ccisi_task",
    "coincidence_task",
    "describe",
    "isi_task",
    "load_dataset",
    "load_shd",
    "make_task",
    "perturb_timing",
    "remove_rate",
    "reverse_time",
    "saccade_digits_task",
    "save_dataset",
    "split",
    "subset",
]
