"""A spiking CNN in NIR, built node by node as Sinabs writes it (Conv2d with input_shape,
IF with r, v_threshold and v_reset, SumPool2d, Flatten, Affine), through neurodeploy:
import (the float model equals an independent torch computation of the same CNN with
neurodeploy's one step per hop), PTQ, lint, and identical integers on reference,
torch-int, ONNX and Lava.

Time: 0-based steps; dt = 1 s per step (Sinabs' IF adds its input once per step, so the
graph is imported at dt = 1, where NIR's forward Euler ``v += dt r I`` is that).
"""

import dataclasses
import itertools
import subprocess
import sys

import nir
import numpy as np
import pytest
import torch

from neurodeploy import simulate
from neurodeploy.exchange.nir_export import fixed_point_network_to_nir, write_nir
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.float_network import FloatNetwork
from neurodeploy.quantize.lint import lint_network
from neurodeploy.quantize.ptq import post_training_quantize
from neurodeploy.quantize.qat import QATNetwork

from compare import RECORD, assert_same_traces

SHAPES = {"in": (2, 18, 18), "c1": (4, 8, 8), "c2": (4, 8, 8), "c3": (2, 4, 4),
          "fc": (10,), "out": (3,)}
THRESHOLD = 1.0


def cnn_parts(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.normal(0.3, 0.5, (4, 2, 5, 5)), "b1": rng.normal(0, 0.05, 4),
        "w2": rng.normal(0.2, 0.4, (4, 4, 3, 3)), "b2": np.zeros(4),
        "w3": rng.normal(0.2, 0.4, (2, 4, 3, 3)), "b3": np.zeros(2),
        "wf": rng.normal(0.5, 0.5, (10, 8)), "bf": np.zeros(10),
        "wo": rng.normal(0.3, 0.6, (3, 10)), "bo": np.zeros(3),
    }


def sinabs_like_graph(p: dict) -> nir.NIRGraph:
    def if_node(shape):
        return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, THRESHOLD),
                      v_reset=np.zeros(shape))

    nodes = {
        "input": nir.Input(input_type={"input": np.array(SHAPES["in"])}),
        "conv1": nir.Conv2d(input_shape=(18, 18), weight=p["w1"], stride=2, padding=1,
                            dilation=1, groups=1, bias=p["b1"]),
        "if1": if_node(SHAPES["c1"]),
        "conv2": nir.Conv2d(input_shape=(8, 8), weight=p["w2"], stride=1, padding=1,
                            dilation=1, groups=1, bias=p["b2"]),
        "if2": if_node(SHAPES["c2"]),
        "pool2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                               padding=np.array([0, 0])),
        "conv3": nir.Conv2d(input_shape=(4, 4), weight=p["w3"], stride=1, padding=1,
                            dilation=1, groups=1, bias=p["b3"]),
        "if3": if_node(SHAPES["c3"]),
        "pool3": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                               padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0,
                            end_dim=-1),
        "fc": nir.Affine(weight=p["wf"], bias=p["bf"]),
        "if4": if_node(SHAPES["fc"]),
        "fo": nir.Affine(weight=p["wo"], bias=p["bo"]),
        "if5": if_node(SHAPES["out"]),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    chain = ["input", "conv1", "if1", "conv2", "if2", "pool2", "conv3", "if3", "pool3",
             "flat", "fc", "if4", "fo", "if5", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(chain)))


def torch_cnn(p: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """The same CNN step by step in torch: IF neurons (v += input, spike when v > 1, reset
    to 0), each layer reading the previous layer's spikes of the previous step; a layer's
    bias starts at the step the input first reaches it (layer k at step k), where the
    exporting library's step 0 lands with one step per hop."""
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in p.items()}
    batch, steps = x.shape[:2]
    frames = torch.tensor(x, dtype=torch.float64).reshape(batch, steps, *SHAPES["in"])

    def layers(name, s):
        if name == "c1":
            return torch.nn.functional.conv2d(s, t["w1"], t["b1"], stride=2, padding=1)
        if name == "c2":
            return torch.nn.functional.conv2d(s, t["w2"], t["b2"], padding=1)
        if name == "c3":
            pooled = torch.nn.functional.avg_pool2d(s, 2) * 4
            return torch.nn.functional.conv2d(pooled, t["w3"], t["b3"], padding=1)
        if name == "fc":
            pooled = (torch.nn.functional.avg_pool2d(s, 2) * 4).reshape(batch, -1)
            return pooled @ t["wf"].T + t["bf"]
        return s @ t["wo"].T + t["bo"]

    order = ["c1", "c2", "c3", "fc", "out"]
    src = {"c1": None, "c2": "c1", "c3": "c2", "fc": "c3", "out": "fc"}
    depth = {n: k + 1 for k, n in enumerate(order)}  # the step the input first reaches n
    v = {n: torch.zeros(batch, *SHAPES[n], dtype=torch.float64) for n in order}
    s = {n: torch.zeros_like(v[n]) for n in order}
    out = {n: [] for n in order}
    for step in range(steps):
        prev = {n: s[n].clone() for n in order}
        for n in order:
            if step < depth[n]:  # a layer's bias starts with its first input, as snnTorch's
                out[n].append(s[n].reshape(batch, -1))
                continue
            arriving = (frames[:, step - 1] if step > 0 else torch.zeros_like(frames[:, 0])) \
                if src[n] is None else prev[src[n]]
            v[n] = v[n] + layers(n, arriving)
            s[n] = (v[n] > THRESHOLD).to(torch.float64)
            v[n] = torch.where(s[n] > 0, torch.zeros_like(v[n]), v[n])
            out[n].append(s[n].reshape(batch, -1))
    return {n: torch.stack(out[n], dim=1).numpy() > 0 for n in order}


def input_frames(seed: int, batch: int = 3, steps: int = 25) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, steps, 2 * 18 * 18)) < 0.15


def test_float_import_equals_the_cnn_computed_in_torch():
    p = cnn_parts(0)
    imported = import_nir(sinabs_like_graph(p), dt=1.0)
    net = imported.network
    assert [net.populations[n].size for n in net.populations] == [256, 256, 32, 10, 3]
    x = input_frames(1)
    got = simulate(net, x, target="torch-float")
    expected = torch_cnn(p, x)
    for ours, theirs in zip(net.populations, ["c1", "c2", "c3", "fc", "out"], strict=True):
        np.testing.assert_array_equal(got.spikes[ours], expected[theirs], err_msg=ours)
    assert expected["out"].any() and expected["c3"].any()


@pytest.fixture(scope="module")
def quantized():
    imported = import_nir(sinabs_like_graph(cnn_parts(0)), dt=1.0)
    net, info = post_training_quantize(imported.network, input_frames(2, batch=8))
    return net, info


def test_quantized_cnn_lints_clean_and_keeps_the_float_spikes(quantized):
    net, info = quantized
    assert not lint_network(net).violations
    assert min(info.agreement.values()) > 0.9


@pytest.mark.parametrize("target", ["torch-int", "onnx",
                                    pytest.param("lava", marks=pytest.mark.lava)])
def test_quantized_cnn_runs_identically_on_every_integer_backend(quantized, target):
    net, _ = quantized
    x = input_frames(3, batch=2, steps=20)
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate(net, x, target=target, record=RECORD)
    assert_same_traces(ref, got, net.populations, got_name=target)
    assert ref.spikes[net.outputs[0]].any()


def test_cli_import_states_reset_dt_and_hop_latency(tmp_path):
    """`neurodeploy import` says which reset, dt and hop latency it used: five projections
    from the input to the output population, so a spike at step t reaches it at t + 5."""
    path = tmp_path / "cnn.nir"
    nir.write(str(path), sinabs_like_graph(cnn_parts(0)))
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", "import", str(path), "--dt",
                           "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "reset: zero (Loihi 2 resets to zero)" in text
    assert "dt = 1 s (argument)" in text
    assert "an input spike at step t reaches if5 at step t + 5 at the earliest" in text


@pytest.mark.lava
def test_event_count_frames_quantize_to_graded_input_and_run_identically():
    """N-MNIST frames carry counts: PTQ on count frames (0..3) gives a network with graded
    input (input_max 3) that reference, torch-int, ONNX and Lava run identically."""
    imported = import_nir(sinabs_like_graph(cnn_parts(1)), dt=1.0)
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 4, (6, 20, 2 * 18 * 18)) * (rng.random((6, 20, 648)) < 0.1)
    net, _ = post_training_quantize(imported.network, frames)
    assert net.input_max == 3
    ref = simulate(net, frames[:2], target="reference", record=RECORD)
    assert ref.spikes[net.outputs[0]].any()
    for target in ("torch-int", "onnx", "lava"):
        got = simulate(net, frames[:2], target=target, record=RECORD)
        assert_same_traces(ref, got, net.populations, got_name=target)


def test_ptq_keeps_convolutions_with_the_dense_integers_and_nir_round_trips(
        quantized, tmp_path):
    """conv1, conv2 and conv3 (with the 2x2 sum pooling before it: one 6x6 convolution of
    stride 2 and padding 2 on the unpooled 16x16 maps) stay convolutions through import and
    PTQ (the pooling before the Affine makes that one dense); the integers equal PTQ's of
    the same network with every projection dense, and export -> import keeps both."""
    net, info = quantized
    imported = import_nir(sinabs_like_graph(cnn_parts(0)), dt=1.0).network
    assert [p.conv is not None for p in imported.projections] == [True] * 3 + [False] * 2
    kinds = {(p.src, p.dst): p.conv for p in net.projections}
    assert kinds[("input", "if1")].in_shape == SHAPES["in"]
    assert kinds[("input", "if1")].stride == (2, 2)
    assert kinds[("if1", "if2")].out_shape == SHAPES["c2"]
    pooled = kinds[("if2", "if3")]
    assert (pooled.kernel.shape, pooled.stride, pooled.padding, pooled.groups) == (
        (2, 4, 6, 6), (2, 2), (2, 2), 1)
    assert sum(c is not None for c in kinds.values()) == 3
    dense = FloatNetwork(imported.n_inputs, imported.populations,
                         [dataclasses.replace(p, conv=None) for p in imported.projections],
                         outputs=imported.outputs, dt=imported.dt)
    net_dense, info_dense = post_training_quantize(dense, input_frames(2, batch=8))
    assert info.to_json() == info_dense.to_json()
    for p, q in zip(net.projections, net_dense.projections, strict=True):
        assert (p.src, p.dst, p.weight_exp, p.sign_mode) == (q.src, q.dst, q.weight_exp,
                                                             q.sign_mode)
        np.testing.assert_array_equal(p.weights, q.weights)
    x = input_frames(3, batch=2, steps=20)
    ref, ref_dense = (simulate(n, x, target="reference") for n in (net, net_dense))
    for name in net.populations:
        np.testing.assert_array_equal(ref.spikes[name], ref_dense.spikes[name])
    write_nir(fixed_point_network_to_nir(net, 1.0), tmp_path / "q.nir")
    assert sum(isinstance(n, nir.Conv2d) for n in nir.read(tmp_path / "q.nir").nodes.values()) \
        == 4  # conv1-3 and the bias unit's projection into if1 (a full Conv2d)
    back = import_nir(tmp_path / "q.nir").network
    for p, q in zip(net.projections, back.projections, strict=True):
        np.testing.assert_array_equal(p.weights, q.weights)
        assert (p.conv is None) == (q.conv is None)
        if p.conv is not None:
            np.testing.assert_array_equal(p.conv.kernel, q.conv.kernel)


def test_qat_trains_the_quantized_cnn_with_its_convolutions_as_dense_weights(quantized):
    """QAT takes the PTQ'd CNN (convolutions kept by import and PTQ): its forward pass is
    the integers' (same spikes and v as the reference), and the network it gives back holds
    the same integers with the convolutions as dense projections."""
    net, info = quantized
    assert any(p.conv is not None for p in net.projections)
    qnet = QATNetwork(net, "count", info.scales)
    x = input_frames(5, batch=2, steps=12)
    assert_same_traces(simulate(net, x, record=RECORD), qnet.simulate(x), net.populations,
                       got_name="qat")
    back = qnet.to_fixed_point()
    assert all(p.conv is None for p in back.projections)
    for p, q in zip(net.projections, back.projections, strict=True):
        np.testing.assert_array_equal(p.weights, q.weights, err_msg=p.label)
