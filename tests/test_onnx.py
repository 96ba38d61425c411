"""The ONNX target == the reference simulator: spikes, u and v at every step (bit-exact).

Random networks come from hypothesis (tests/netgen.py: delays up to 62, recurrence, every
weight format, weight_exp -8..7, biases); the targeted cases make u wrap, v saturate and
Lava's int32 input path overflow. The step model, fed its own state back step by step,
must give the same integers as the sequence model and the reference. Time: 0-based steps,
one step per hop.
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from onnx.reference import ReferenceEvaluator

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate
from neurodeploy.chip import LOIHI2
from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.targets.onnx import (
    OPSET,
    _Graph,
    build_onnx_model,
    export_onnx,
    history_depths,
    initial_step_state,
    simulate_onnx,
    step_state_names,
)
from neurodeploy.targets.reference import ReferencePlan

from compare import RECORD, assert_same_traces
from netgen import (
    int32_overflow_case,
    network_cases,
    random_network,
    random_spikes,
    recurrent_bias_case,
    wrap_and_saturate_case,
)


def assert_identical(net, x):
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate(net, x, target="onnx", record=RECORD)
    assert got.target == "onnx"
    assert_same_traces(ref, got, net.populations, got_name="onnx", check_dtype=True)
    return ref


@settings(max_examples=25)
@given(case=network_cases(max_steps=80))
def test_random_networks_bit_exact(case):
    net, x = case
    assert_identical(net, x)


def test_u_wraps_and_v_saturates_identically():
    net, x = wrap_and_saturate_case()
    ref = assert_identical(net, x)
    assert (np.diff(ref.u["wrap"][0], axis=0) < -(2**23)).any(), "u never wrapped"
    assert (ref.v["sat"][0] == -(2**23 - 1)).any(), "v never saturated"


@pytest.mark.parametrize(("n", "steps", "du"), [(1100, 4, 4095), (100, 20, 0)])
def test_int32_overflow_of_lava_input_path_is_emulated(n, steps, du):
    """See netgen.int32_overflow_case: one-step overflow, and drift out of 24 bits."""
    net, x = int32_overflow_case(n, steps, du)
    assert ReferencePlan(net).pops["h"].emulate_int32
    ref = assert_identical(net, x)
    assert (ref.u["h"] < -(2**24)).any()  # only an int32 wrap makes positive input negative


def test_recurrence_delays_negative_weight_exp_and_bias():
    net, x = recurrent_bias_case()
    ref = assert_identical(net, x)
    assert ref.spikes["a"][2].any() and ref.spikes["b"].any()


# --------------------------------------------------------------------------- step model
def run_step_model(net, x):
    """Run the step model one step at a time, feeding each step's state back."""
    session = ort.InferenceSession(build_onnx_model(net, "step").SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feedback = step_state_names(net)
    state = initial_step_state(net, x.shape[0])
    out_names = [o.name for o in session.get_outputs()]
    rec = {kind: {p: [] for p in net.populations} for kind in RECORD}
    for t in range(x.shape[1]):
        values = dict(zip(out_names, session.run(None, {"spikes": x[:, t], **state}),
                          strict=True))
        state = {name: values[out] for name, out in feedback.items()}
        for kind in RECORD:
            for p in net.populations:
                rec[kind][p].append(values[f"{kind}/{p}"])
    return {kind: {p: np.stack(v, axis=1) for p, v in per.items()} for kind, per in rec.items()}


@pytest.mark.parametrize("case", ["recurrent_bias", "random", "int32_overflow"])
def test_step_model_fed_back_equals_sequence_model_and_reference(case):
    if case == "recurrent_bias":
        net, x = recurrent_bias_case()
    elif case == "random":
        net = random_network(11, n_pops=3, recurrent=True, max_delay=10)
        x = random_spikes(11, net, batch=2, steps=40)
    else:
        net, x = int32_overflow_case(100, 20, 0)
    assert any(p.max_delay for p in net.projections) or case == "int32_overflow"
    stepped = run_step_model(net, x)
    ref = simulate(net, x, record=RECORD)
    seq = simulate_onnx(net, x, record=RECORD)
    for kind in RECORD:
        for p in net.populations:
            got = stepped[kind][p]
            assert got.dtype == getattr(ref, kind)[p].dtype, (kind, p, got.dtype)
            np.testing.assert_array_equal(got, getattr(ref, kind)[p], err_msg=f"{kind}/{p}")
            np.testing.assert_array_equal(got, getattr(seq, kind)[p], err_msg=f"{kind}/{p}")


def test_step_model_state_layout():
    net, _ = recurrent_bias_case()
    assert history_depths(net) == {"input": 8, "a": 3, "b": 7}
    model = build_onnx_model(net, "step")
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    feedback = step_state_names(net)
    assert inputs == {"spikes", *feedback}
    assert set(feedback.values()) | {"spikes/a", "spikes/b"} == outputs
    state = initial_step_state(net, batch=4)
    assert state["history_prev/input"].shape == (4, 8, 2)
    assert state["history_prev/input"].dtype == bool
    assert state["u_prev/a"].shape == (4, 3) and state["u_prev/a"].dtype == np.int64


# ------------------------------------------------------------------- the exported file
def test_exported_file_passes_checker_and_declares_opset(tmp_path):
    net, _ = recurrent_bias_case()
    for kind in ("sequence", "step"):
        path = tmp_path / f"net_{kind}.onnx"
        export_onnx(net, path, kind=kind)
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
        assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
        assert OPSET == 17
        ops = {n.op_type for n in model.graph.node}
        assert ("Scan" in ops) == (kind == "sequence")
        assert not ops & {"Clip", "Min", "Max", "Sign"}  # wrong for int64 in ORT 1.23
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net_sequence.onnx", "net_step.onnx"]
    seq = onnx.load(str(tmp_path / "net_sequence.onnx"))
    dims = [d.dim_param or d.dim_value for d in seq.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "steps", 2]
    fixed = build_onnx_model(net, "sequence", steps=60)
    dims = [d.dim_param or d.dim_value for d in fixed.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 60, 2]
    # the steps are a loop, not unrolled: the graph does not grow with the step count
    assert len(fixed.graph.node) == len(seq.graph.node)


def test_file_loaded_by_onnxruntime_gives_reference_spikes(tmp_path):
    net, x = recurrent_bias_case()
    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [f"spikes/{p}" for p in net.populations]
    got = dict(zip(names, session.run(names, {"spikes": x}), strict=True))
    ref = simulate(net, x)
    for p in net.populations:
        assert got[f"spikes/{p}"].dtype == bool and got[f"spikes/{p}"].shape == (5, 60, net.size_of(p))
        np.testing.assert_array_equal(got[f"spikes/{p}"], ref.spikes[p], err_msg=p)
    assert ref.spikes["a"].any()


@pytest.mark.parametrize("case", ["recurrent_bias", "int32_overflow"])
def test_onnx_reference_evaluator_gives_the_same_integers(case):
    """A second runtime (onnx's own reference evaluator) agrees: nothing ORT-specific."""
    net, x = recurrent_bias_case() if case == "recurrent_bias" else int32_overflow_case(100, 20, 0)
    model = build_onnx_model(net)
    out = ReferenceEvaluator(model).run(None, {"spikes": x})
    ref = simulate(net, x, record=RECORD)
    for info, value in zip(model.graph.output, out, strict=True):
        kind, pop = info.name.split("/")
        np.testing.assert_array_equal(value, getattr(ref, kind)[pop], err_msg=info.name)


def test_integer_helpers_are_exact_beyond_int32():
    """The kernel operations of the ONNX realisation (trunc0, the floor shift, saturation and
    the int32 / 24-bit wraps) on int64 values up to 2**45 (ORT's int64 Clip/Min/Max/Sign are
    wrong for some of these; the graphs must not depend on it)."""
    helper, tp = onnx.helper, onnx.TensorProto
    constants = {}
    g = _Graph(onnx, "t/", constants, LOIHI2)
    outs = {"trunc": g.decay("x", g.i64("one", 1)), "clip": g.saturate("x"),
            "wrap32": g.wrap_int32("x"), "wrap24": g.wrap24("x"), "floor3": g.scale("x", -3),
            "shl2": g.scale("x", 2)}
    graph = helper.make_graph(
        g.nodes, "t", [helper.make_tensor_value_info("x", tp.INT64, ["n"])],
        [helper.make_tensor_value_info(v, tp.INT64, ["n"]) for v in outs.values()],
        initializer=list(constants.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=8)
    onnx.checker.check_model(model)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(-(2**45), 2**45, 20000),
                        rng.integers(-(2**33), 2**33, 20000),
                        [3085877340, 2**31, -(2**31) - 7, 2**23, 2**23 + 1, -(2**23),
                         -(2**23) + 1, -4097, -4096, -1, 0, 1, 4095]]).astype(np.int64)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip(outs, session.run(list(outs.values()), {"x": x}), strict=True))
    np.testing.assert_array_equal(got["trunc"], np.sign(x) * (np.abs(x) >> 12))
    np.testing.assert_array_equal(got["clip"], np.clip(x, -(2**23 - 1), 2**23 - 1))
    np.testing.assert_array_equal(got["wrap32"], ((x + 2**31) & 0xFFFFFFFF) - 2**31)
    np.testing.assert_array_equal(got["floor3"], x >> 3)
    np.testing.assert_array_equal(got["shl2"], x * 4)
    wrapped = np.where(x > 2**23, x - 2**24, x)
    np.testing.assert_array_equal(got["wrap24"],
                                  np.where(wrapped <= -(2**23), wrapped + 2**24, wrapped))


# ----------------------------------------------------------------------- API and errors
def test_registry_record_and_errors(tmp_path, monkeypatch):
    net = FixedPointNetwork(1, {"lif": LIFPopulation(1, du=4095, dv=0, vth=100)},
                            [Projection("input", "lif", [[10]])])
    x = np.zeros((2, 5, 1), dtype=np.int64)
    x[:, 0] = 1
    tr = simulate(net, x, target="onnx", record=("v",), populations=["lif"])
    assert tr.target == "onnx" and set(tr.spikes) == {"lif"} and not tr.u
    assert tr.spikes["lif"].dtype == bool and tr.v["lif"].dtype == np.int64
    assert tr.v["lif"][0, :, 0].tolist() == [0, 640, 640, 640, 640]  # one step per hop
    with pytest.raises(InputError):
        simulate(net, x[0], target="onnx")
    with pytest.raises(InputError):
        simulate(net, x, target="onnx", record=("w",))
    with pytest.raises(InputError):
        simulate(net, x, target="onnx", populations=["nope"])
    with pytest.raises(InputError, match="kind"):
        export_onnx(net, tmp_path / "bad.onnx", kind="unrolled")
    with pytest.raises(InputError, match="steps"):
        build_onnx_model(net, "step", steps=5)
    assert not list(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(TargetUnavailableError, match="onnxruntime"):
        simulate(net, x, target="onnx")
