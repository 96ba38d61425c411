"""Exact spike-timing models in continuous time: time-to-first-spike networks (Mostafa
2017) and multi-spike CUBA LIF networks, their training and their discretization to a
:class:`~neurodeploy.float_network.FloatNetwork` on a time grid.

- :mod:`.ttfs`: the exact closed-form forward pass and gradients, the weight-sum penalty,
  :class:`TTFSNetwork` (continuous time, tau_syn units);
- :mod:`.encoding`: the 8x8 digits as spike times (brighter pixel -> earlier spike);
- :mod:`.training`: :func:`train_ttfs_digits`, :func:`save_ttfs`, :func:`load_ttfs`;
- :mod:`.discrete_ttfs`: :func:`to_float_network` (discrete CUBA LIF, dv = 0) and the
  step/time conversions (0-based steps, one step per hop);
- :mod:`.multispike`: exact multi-spike CUBA LIF layers (event-driven forward with exact
  crossing times, spike-time gradients by implicit differentiation at the crossings),
  :class:`MultiSpikeNetwork` with a mean-membrane readout;
- :mod:`.multispike_training`: :func:`train_multispike` (ISI task by default),
  :func:`save_multispike`, :func:`load_multispike`;
- :mod:`.discrete_multispike`: its discretization to a CUBA LIF float model and the
  spike-time error against the continuous model.

Quantizing these models to Loihi 2 fixed point is ``neurodeploy.quantize.exact``; the dt
study (``neurodeploy study dt``) is ``neurodeploy.study.dt``.

May import: the core (``neurodeploy.errors``, ``network``, ``float_network``,
``network_io``) and the rest of ``neurodeploy.models``; never quantize, targets, exchange,
verify or study.
"""

from neurodeploy.models.exact.discrete_ttfs import (
    check_causal_path,
    check_dt,
    classify_first_spike,
    encode_steps,
    first_spike_steps,
    steps_to_times,
    time_to_step,
    to_float_network,
)
from neurodeploy.models.exact.encoding import intensity_to_time, load_timed_digits
from neurodeploy.models.exact.multispike import (
    MultiSpikeConfig,
    MultiSpikeNetwork,
    exact_spike_times,
    lif_forward,
    spikes_to_events,
)
from neurodeploy.models.exact.multispike_training import (
    MultiSpikeRun,
    MultiSpikeTrainOptions,
    load_multispike,
    save_multispike,
    train_multispike,
)
from neurodeploy.models.exact.training import (
    TTFSRun,
    TTFSTrainOptions,
    load_ttfs,
    save_ttfs,
    train_ttfs_digits,
)
from neurodeploy.models.exact.ttfs import (
    TTFSConfig,
    TTFSLayer,
    TTFSNetwork,
    first_spike_times,
    time_loss,
    weight_sum_penalty,
)

__all__ = [
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
    "encode_steps",
    "exact_spike_times",
    "first_spike_steps",
    "first_spike_times",
    "intensity_to_time",
    "lif_forward",
    "load_multispike",
    "load_timed_digits",
    "load_ttfs",
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
