"""The Lava target's own concerns: batching runs, compiling disconnected populations, and
the lava-float equivalent. (Bit-exactness on random networks: tests/test_bit_exact.py.)"""

import numpy as np
import pytest

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate

from compare import RECORD, assert_same_traces
from netgen import recurrent_bias_case

pytestmark = pytest.mark.lava


def assert_identical(net, x, **lava_options):
    ref = simulate(net, x, target="reference", record=RECORD)
    lava = simulate(net, x, target="lava", record=RECORD, **lava_options)
    assert_same_traces(ref, lava, net.populations, got_name="lava")
    return ref


def test_batch_split_over_several_lava_runs_and_recurrence_with_bias():
    net, x = recurrent_bias_case()
    ref = assert_identical(net, x, max_neurons_per_run=2 * (net.n_neurons + 2))
    assert ref.spikes["a"][2].any() and ref.spikes["b"].any()


def test_bias_driven_populations_not_connected_to_the_input():
    """Lava compiles only what is connected to the process it runs; nothing may be lost."""
    pops = {"a": LIFPopulation(2, du=0, dv=0, vth=3, bias_mant=100),
            "b": LIFPopulation(1, du=0, dv=0, vth=1),
            "c": LIFPopulation(2, du=4095, dv=0, vth=5)}
    net = FixedPointNetwork(2, pops, [Projection("a", "b", [[64, 64]]),
                                      Projection("input", "c", np.full((2, 2), 30))])
    x = np.random.default_rng(0).random((2, 30, 2)) < 0.5
    ref = assert_identical(net, x)
    assert ref.spikes["a"].any() and ref.spikes["b"].any()


def test_lava_float_runs_the_documented_float_equivalent():
    """lava-float == the float model of docs/loihi2-fixed-point.md at scale S = 64:
    du_f = (du + 1)/4096, dv_f = dv/4096, W_f = W * 2**weight_exp, vth_f = vth,
    b_f = bias / 64; u and v come back multiplied by 64. Computed here step by step."""
    pops = {"h": LIFPopulation(2, du=[300, 4095], dv=[200, 50], vth=[9, 4], bias_mant=-5,
                               bias_exp=3)}
    w = np.array([[100, -40, 6], [20, 60, -2]])
    net = FixedPointNetwork(3, pops, [Projection("input", "h", w, weight_exp=-2, delays=[0, 2, 1])])
    x = np.random.default_rng(1).random((2, 40, 3)) < 0.4
    got = simulate(net, x, target="lava-float", record=RECORD)
    du_f, dv_f = np.array([301, 4096]) / 4096, np.array([200, 50]) / 4096
    wf, delays, bias = w * 2.0**-2, np.array([0, 2, 1]), (-5 << 3) / 64
    for b in range(2):
        u, v = np.zeros(2), np.zeros(2)
        for t in range(40):
            arrived = np.array([x[b, t - 1 - d, j] if t - 1 - d >= 0 else False
                                for j, d in enumerate(delays)])
            u = u * (1 - du_f) + wf @ arrived
            v = v * (1 - dv_f) + u + bias
            s = v > np.array([9, 4])
            v[s] = 0
            assert (got.spikes["h"][b, t] == s).all()
            np.testing.assert_allclose(got.u["h"][b, t], u * 64, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(got.v["h"][b, t], v * 64, rtol=1e-9, atol=1e-9)
    assert got.spikes["h"].any()
