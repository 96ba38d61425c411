"""Every fixed-point backend == the reference simulator == Lava: spikes, u and v at every step.

Backends: torch-int (torch integer emulation), onnx (ONNX Runtime), QAT's forward pass
(the straight-through realisation of the kernel) and lava (Lava 0.10 fixed_pt, the spec).
Random networks come from hypothesis (tests/netgen.py: 1-4 populations, feed-forward and
recurrent, every sign mode, odd weights, num_weight_bits < 8, weight_exp -8..7,
per-synapse and axonal delays up to 62, per-neuron parameters, biases with both signs of
bias_exp); the targeted cases make u wrap, v saturate and Lava's int32 input path
overflow. Time: 0-based steps, one step per hop.
"""

import numpy as np
import pytest
from hypothesis import given, settings

from neurodeploy import simulate
from neurodeploy.quantize.qat import QATNetwork
from neurodeploy.targets.reference import ReferencePlan

from compare import RECORD, assert_same_traces
from netgen import (
    bias_current_case,
    int32_overflow_case,
    network_cases,
    recurrent_bias_case,
    wrap_and_saturate_case,
)

BACKENDS = [pytest.param("torch-int", id="torch-int"), pytest.param("onnx", id="onnx"),
            pytest.param("lava", marks=pytest.mark.lava, id="lava")]


def qat_forward(net, x, fused):
    """QAT's forward pass as traces: its exact integers (readout and scales do not matter);
    ``fused``: populations without recurrence in one scan, else the per-step graph."""
    qnet = QATNetwork(net, readout="count", scales=dict.fromkeys(net.populations, 1.0))
    qnet.fused = fused
    return qnet.simulate(x)


def assert_identical(net, x, target, **options):
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate(net, x, target=target, record=RECORD, **options)
    assert_same_traces(ref, got, net.populations, got_name=target, check_dtype=True)
    return ref


@pytest.mark.parametrize("target", BACKENDS)
@settings(max_examples=25)
@given(case=network_cases(max_steps=80))
def test_random_networks_bit_exact(target, case):
    net, x = case
    assert_identical(net, x, target)


@pytest.mark.lava
@settings(max_examples=15)
@given(case=network_cases(max_steps=60, layered=True))
def test_every_integer_backend_equals_lava_on_the_same_random_networks(case):
    """Layered networks (self-recurrence, one output) so that QAT takes them too: the
    reference (its numba-compiled step and its numpy step), torch-int, ONNX and QAT's
    forward pass (fused scan and per-step graph) against one Lava run."""
    net, x = case
    lava = simulate(net, x, target="lava", record=RECORD)
    runs = {t: simulate(net, x, target=t, record=RECORD)
            for t in ("reference", "torch-int", "onnx")}
    for compiled in (True, False):  # both realisations of the reference's step
        runs[f"reference (compiled={compiled})"] = ReferencePlan(net, compiled=compiled).run(
            x, RECORD)
    runs["qat"] = qat_forward(net, x, fused=True)
    runs["qat-per-step"] = qat_forward(net, x, fused=False)
    for name, got in runs.items():
        assert_same_traces(lava, got, net.populations, expected_name="lava", got_name=name)


@pytest.mark.parametrize("target", BACKENDS)
def test_u_wraps_and_v_saturates_identically(target):
    net, x = wrap_and_saturate_case()
    ref = assert_identical(net, x, target)
    assert (np.diff(ref.u["wrap"][0], axis=0) < -(2**23)).any(), "u never wrapped"
    assert (ref.v["sat"][0] == -(2**23 - 1)).any(), "v never saturated"


@pytest.mark.parametrize("target", BACKENDS)
@pytest.mark.parametrize(("n", "steps", "du"), [(1100, 4, 4095), (100, 20, 0)])
def test_int32_overflow_of_lava_input_path_is_emulated(target, n, steps, du):
    """See netgen.int32_overflow_case: one-step overflow, and drift out of 24 bits."""
    net, x = int32_overflow_case(n, steps, du)
    assert ReferencePlan(net).pops["h"].emulate_int32
    ref = assert_identical(net, x, target)
    # only positive input: u far below -2**24 can only come from an int32 wrap
    assert (ref.u["h"] < -(2**24)).any()


@pytest.mark.parametrize("target", BACKENDS)
def test_recurrence_delays_negative_weight_exp_and_bias(target):
    net, x = recurrent_bias_case()
    ref = assert_identical(net, x, target)
    assert ref.spikes["a"][2].any() and ref.spikes["b"].any()


@pytest.mark.parametrize("target", [*BACKENDS, pytest.param("qat", id="qat")])
def test_bias_unit_of_quantized_bias_currents(target):
    """Affine biases into CubaLIF populations (du < 1) quantized as an always-firing bias
    unit with delayed projections: every backend gives the reference's integers, the bias
    unit fires at every step from step 0, and the silent sample moves only through it."""
    net, x = bias_current_case()
    assert net.populations["bias"].size == 1
    assert sorted((p.dst, p.max_delay) for p in net.projections if p.src == "bias") == [
        ("h", 0), ("out", 1)]
    if target == "qat":
        ref = simulate(net, x, target="reference", record=RECORD)
        assert_same_traces(ref, qat_forward(net, x, fused=True), net.populations,
                           got_name="qat")
    else:
        ref = assert_identical(net, x, target)
    assert ref.spikes["bias"].all()
    assert ref.u["h"][1, 1:].any() and ref.spikes["out"].any()
