"""Exact-timing models (``neurodeploy.models.exact``) at one time step, quantized to Loihi 2
fixed point: :func:`deploy_ttfs` and :func:`deploy_multispike` discretize a trained
continuous-time network (``to_float_network`` of ``discrete_ttfs`` / ``discrete_multispike``)
and post-training-quantize the float model on calibration samples.

**Headroom.** A small du spreads each input's charge over ~1/du steps, so the per-step
input into u is a du-fraction of the weight, and Loihi 2 adds inputs to u in whole units
(``a_in << 6``): the weight resolution relative to theta is ~64 * headroom * (|v|max /
theta) / (du * 2**23). Post-training quantization therefore runs with a small state
``headroom`` (TTFS 1.5, multi-spike 2, instead of PTQ's 4: v here stays within bounds that
the calibration data reach). Independently of dt, 8-bit weights (about 7 bits of magnitude
on the mixed-sign grid) leave an output spike-time error of a few hundredths of tau_syn: the
dt study (``neurodeploy.study.dt``) shows where quantization, not timing, limits accuracy
(small dt).

Time convention: 0-based steps, one step of latency per projection (see the discrete
modules for how spike times map to steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurodeploy.float_network import FloatNetwork
from neurodeploy.models.exact import discrete_multispike, discrete_ttfs
from neurodeploy.models.exact.multispike import MultiSpikeNetwork
from neurodeploy.models.exact.ttfs import TTFSNetwork
from neurodeploy.network import FixedPointNetwork
from neurodeploy.quantize.ptq import QuantizationInfo, post_training_quantize

#: State headroom of a TTFS network (largest calibrated |u|, |v| x this must fit in 24 bits).
TTFS_HEADROOM = 1.5
#: State headroom of a multi-spike network (largest calibrated |u|, |v| x this).
MULTISPIKE_HEADROOM = 2.0


@dataclass
class DeployedTTFS:
    """A TTFS model at one time step: its float model, fixed-point network and what PTQ
    chose. ``delta`` = dt / tau_syn; ``steps`` per sample; ``hops`` = L."""

    dt: float
    delta: float
    steps: int
    hops: int
    float_network: FloatNetwork
    network: FixedPointNetwork
    quantization: QuantizationInfo


def deploy_ttfs(model: TTFSNetwork, dt: float, calib_times: np.ndarray, t_end: float,
                self_inhibition: float = discrete_ttfs.SELF_INHIBITION,
                headroom: float = TTFS_HEADROOM, weight_split: str = "auto") -> DeployedTTFS:
    """Discretize ``model`` at ``dt`` (model unit), then post-training-quantize it to Loihi 2
    fixed point (``post_training_quantize(..., headroom=headroom)``) with the calibration
    samples ``calib_times`` ((samples, n_inputs) data times) simulated for
    ``simulation_steps`` covering ``t_end`` (tau_syn units). ``weight_split``: PTQ's policy
    (:func:`~neurodeploy.quantize.ptq.post_training_quantize`)."""
    fnet = discrete_ttfs.to_float_network(model, dt, self_inhibition)
    delta = discrete_ttfs.check_dt(model, dt)
    steps = discrete_ttfs.simulation_steps(model, delta, t_end)
    calib = discrete_ttfs.encode_steps(model, calib_times, delta, steps)
    network, info = post_training_quantize(fnet, calib, headroom=headroom,
                                           weight_split=weight_split)
    return DeployedTTFS(float(dt), delta, steps, discrete_ttfs.hops(model), fnet, network, info)


@dataclass
class DeployedMultiSpike:
    """A multi-spike model at one time step (seconds): float model, fixed-point network, PTQ
    info; ``steps`` per sample."""

    dt: float
    steps: int
    float_network: FloatNetwork
    network: FixedPointNetwork
    quantization: QuantizationInfo


def deploy_multispike(model: MultiSpikeNetwork, dt: float, calib_spikes: np.ndarray,
                      data_dt: float, headroom: float = MULTISPIKE_HEADROOM,
                      weight_split: str = "auto") -> DeployedMultiSpike:
    """Discretize ``model`` at ``dt`` (seconds) and post-training-quantize it to Loihi 2 fixed
    point with calibration spikes ``calib_spikes`` (samples, steps, channels) on 0-based
    steps of ``data_dt`` seconds. ``weight_split``: PTQ's policy
    (:func:`~neurodeploy.quantize.ptq.post_training_quantize`; "auto" splits the input
    projection of the ISI network, whose single-grid SMAPE is 24-30 %)."""
    fnet = discrete_multispike.to_float_network(model, dt)
    steps = discrete_multispike.sample_steps(model, dt)
    calib, _ = discrete_multispike.resample_spikes(calib_spikes, data_dt, dt, steps)
    network, info = post_training_quantize(fnet, calib, headroom=headroom,
                                           weight_split=weight_split)
    return DeployedMultiSpike(float(dt), steps, fnet, network, info)
