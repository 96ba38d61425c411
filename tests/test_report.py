"""Quantization report fields on constructed cases."""

import numpy as np
import pytest

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate
from neurodeploy.quantize.ptq import FloatLayer, QuantizationInfo, build_network
from neurodeploy.quantize.quality import population_report, projection_report, smape


def test_smape_by_hand():
    assert smape([1.0, 0.0, 2.0], [1.0, 0.0, 1.0]) == pytest.approx((0 + (1 / 1.5)) / 2)
    assert smape([0.0], [0.0]) == 0.0


def layer(weight, vth=1.0, name="output", src="input"):
    n = weight.shape[0]
    return FloatLayer(name=name, src=src, weight=np.asarray(weight, float), delays=None,
                      rec_weight=None, du=np.full(n, 1.0), dv=np.full(n, 0.5),
                      vth=np.full(n, vth), bias=np.zeros(n), spiking=True)


def test_a_weight_that_must_clip_is_counted():
    # at scale 3200 the weight 1000 is 50000 LSBs: it needs weight_exp 8 > 7 and clips
    w = np.array([[1000.0, 1.0, -3.0]])
    info = QuantizationInfo(scales={"output": 3200.0})
    net = build_network([layer(w)], {"output": 3200.0}, info=info)
    rows = projection_report(net, [layer(w)], info)
    assert info.clipped["projection 'input->output'.weights"] == 1
    assert rows[0]["clipped_share"] == pytest.approx(1 / 3)
    assert rows[0]["weight_exp"] == 7
    assert rows[0]["grid_dropped_bits"] == 1  # mixed signs: odd integers are off the grid
    assert rows[0]["weight_smape"] > 0.5  # 1000 became 254 * 128


def test_population_fields_saturation_wrap_dead_and_always_firing():
    pops = {"h": LIFPopulation(4, du=[0, 0, 4095, 4095], dv=[0, 0, 0, 4095],
                               vth=[131071, 131071, 131071, 0],
                               bias_mant=[-4096, 0, 0, 100], bias_exp=[7, 0, 0, 0])}
    net = FixedPointNetwork(1, pops, [Projection("input", "h", [[0], [255], [0], [0]],
                                                 weight_exp=7)])
    x = np.ones((2, 40, 1), bool)
    tr = simulate(net, x, record=("spikes", "v", "u"))
    float_spikes = {"h": tr.spikes["h"].copy()}
    float_spikes["h"][0, 5, 3] = False  # the float model missed one spike
    row = population_report(tr, float_spikes, {"h": True})[0]
    assert row["v_saturations"] == int((np.abs(tr.v["h"]) == 2**23 - 1).sum())
    assert (tr.v["h"][:, :, 0] == -(2**23 - 1)).sum() > 0  # neuron 0 saturates (bias)
    assert row["u_wraps"] > 0  # neuron 1: 255 << 7 << 6 per step wraps u
    assert row["never_fire"] == 2 and row["fire_every_step"] == 1  # neurons 0, 2; neuron 3
    assert tr.spikes["h"][:, :, 1].any()  # u wraps, v climbs to its threshold
    n = int(tr.spikes["h"].sum())
    assert row["spike_f1_vs_float"] == pytest.approx(2 * (n - 1) / (2 * n - 1))
