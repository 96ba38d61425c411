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
