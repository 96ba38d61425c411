"""Exact spike-timing training: time-to-first-spike networks (Mostafa 2017) and their
deployment to Loihi 2 (issue "Exact spike-timing training (TTFS)").

- :mod:`.ttfs`: the exact closed-form forward pass and gradients, the weight-sum penalty,
  :class:`TTFSNetwork` (continuous time, tau_syn units);
- :mod:`.encoding`: the 8x8 digits as spike times (brighter pixel -> earlier spike);
- :mod:`.training`: :func:`train_ttfs_digits`, :func:`save_ttfs`, :func:`load_ttfs`;
- :mod:`.deploy`: :func:`to_float_network` (discrete CUBA LIF, dv = 0) and the step/time
  conversions (0-based steps, one step per hop);
- :mod:`.multispike`: exact multi-spike CUBA LIF layers (event-driven forward with exact
  crossing times, spike-time gradients by implicit differentiation at the crossings),
  :class:`MultiSpikeNetwork` with a mean-membrane readout;
- :mod:`.multispike_training`: :func:`train_multispike` (ISI task by default),
  :func:`save_multispike`, :func:`load_multispike`;
- :mod:`.deploy_multispike`: its discretization to a CUBA LIF :class:`FloatNetwork` and
  deployment (:func:`deploy_multispike`);
- :mod:`.dt_study`: :func:`run_dt_study` (``neurodeploy study dt``), for both kinds.
"""

from neurodeploy.models.timing.deploy import (
    DeployedTTFS,
    check_causal_path,
    check_dt,
    classify_first_spike,
    deploy_ttfs,
    encode_steps,
    first_spike_steps,
    output_first_steps,
    steps_to_times,
    time_to_step,
    to_float_network,
)
from neurodeploy.models.timing.deploy_multispike import DeployedMultiSpike, deploy_multispike
from neurodeploy.models.timing.dt_study import DtStudyResult, render_dt_study, run_dt_study
from neurodeploy.models.timing.encoding import intensity_to_time, load_timed_digits
from neurodeploy.models.timing.multispike import (
    MultiSpikeConfig,
    MultiSpikeNetwork,
    exact_spike_times,
    lif_forward,
    spikes_to_events,
)
from neurodeploy.models.timing.multispike_training import (
    MultiSpikeRun,
    MultiSpikeTrainOptions,
    load_multispike,
    save_multispike,
    train_multispike,
)
from neurodeploy.models.timing.training import (
    TTFSRun,
    TTFSTrainOptions,
    load_ttfs,
    save_ttfs,
    train_ttfs_digits,
)
from neurodeploy.models.timing.ttfs import (
    TTFSConfig,
    TTFSLayer,
    TTFSNetwork,
    first_spike_times,
    time_loss,
    weight_sum_penalty,
)

__all__ = [
    "DeployedMultiSpike",
    "DeployedTTFS",
    "DtStudyResult",
    "MultiSpikeConfig",
    "MultiSpikeNetwork",
    "MultiSpikeRun",
    "MultiSpikeTrainOptions",
    "TTFSConfig",
    "TTFSLayer",
    "TTFSNetwork",
    "TTFSRun",
    "TTFSTrainOptions",
    "check_causal_path",
    "check_dt",
    "classify_first_spike",
    "deploy_multispike",
    "deploy_ttfs",
    "encode_steps",
    "exact_spike_times",
    "first_spike_steps",
    "first_spike_times",
    "intensity_to_time",
    "lif_forward",
    "load_multispike",
    "load_timed_digits",
    "load_ttfs",
    "output_first_steps",
    "render_dt_study",
    "run_dt_study",
    "save_multispike",
    "save_ttfs",
    "spikes_to_events",
    "steps_to_times",
    "time_loss",
    "time_to_step",
    "to_float_network",
    "train_multispike",
    "train_ttfs_digits",
    "weight_sum_penalty",
]
