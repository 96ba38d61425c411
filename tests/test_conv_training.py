"""Convolutional SNNs in ``models/``: the conv and pooled layers against hand computations
(torch's ``conv2d`` and :func:`lif_step`), their export as expanded projections, PTQ on
the reference, and train + quantize through the command line on ``saccade_digits``.

Time: 0-based steps, one step per hop.
"""

import json
import subprocess
import sys

import nir
import numpy as np
import pytest
import torch

from neurodeploy import simulate
from neurodeploy.errors import InputError
from neurodeploy.models.layers import ConvLIFLayer, PooledLIFLayer
from neurodeploy.models.network import NetworkConfig, SpikingNetwork, parse_conv_spec
from neurodeploy.models.neurons import LIFParameters, LIFState, lif_step
from neurodeploy.models.surrogates import SpikeFn
from neurodeploy.quantize.ptq import post_training_quantize, spike_f1
from neurodeploy.targets.torch_float import simulate_torch_float


def _block_sum(x: np.ndarray, pool: int) -> np.ndarray:
    """Sum pooling by loops: (..., C, H, W) -> (..., C, H/pool, W/pool)."""
    *lead, c, h, w = x.shape
    out = np.zeros((*lead, c, h // pool, w // pool))
    for y in range(h // pool):
        for xx in range(w // pool):
            out[..., y, xx] = x[..., y * pool:(y + 1) * pool, xx * pool:(xx + 1) * pool].sum(
                axis=(-1, -2))
    return out


def _lif_by_steps(current: torch.Tensor, layer) -> tuple[torch.Tensor, torch.Tensor]:
    """lif_step over (steps, batch, n) currents that arrive one step late (the hop)."""
    params = LIFParameters(layer.du, layer.dv, layer.vth, layer.bias)
    state = LIFState(torch.zeros_like(current[0]), torch.zeros_like(current[0]))
    spikes, volts = [], []
    for t in range(current.shape[0]):
        a = current[t - 1] if t > 0 else torch.zeros_like(current[0])
        s, state = lif_step(a, state, params, SpikeFn())
        spikes.append(s)
        volts.append(state.v)
    return torch.stack(spikes), torch.stack(volts)


@pytest.mark.parametrize(("pool", "stride", "padding"), [(1, 1, 1), (2, 1, 1), (1, 2, 0)])
def test_conv_layer_is_torch_conv2d_of_the_pooled_input_then_the_lif_step(pool, stride,
                                                                         padding):
    gen = torch.Generator().manual_seed(3)
    layer = ConvLIFLayer((2, 8, 8), 3, 3, stride=stride, padding=padding, pool=pool,
                         du=0.3, dv=0.1, vth=0.5, generator=gen).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen, dtype=torch.float64))
    x = (torch.rand(12, 4, 2 * 8 * 8, generator=gen) < 0.3).double()
    pooled = torch.tensor(_block_sum(x.numpy().reshape(48, 2, 8, 8), pool))
    current = torch.nn.functional.conv2d(pooled, layer.weight, stride=stride, padding=padding)
    assert current.shape[1:] == layer.out_shape
    s_ref, v_ref = _lif_by_steps(current.reshape(12, 4, -1), layer)
    s, _ = layer(x)
    _, v = layer(x, record_v=True)
    assert torch.equal(s, s_ref) and 0 < s.sum() < s.numel()
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-12)


def test_pooled_dense_layer_sums_blocks_then_multiplies():
    gen = torch.Generator().manual_seed(4)
    layer = PooledLIFLayer((2, 4, 6), 2, 5, du=0.5, dv=0.0, vth=0.4, generator=gen).double()
    x = (torch.rand(6, 3, 48, generator=gen) < 0.4).double()
    pooled = _block_sum(x.numpy().reshape(6, 3, 2, 4, 6), 2).reshape(6, 3, 12)
    current = torch.tensor(pooled) @ layer.weight.t()
    s_ref, _ = _lif_by_steps(current, layer)
    assert torch.equal(layer(x)[0], s_ref) and s_ref.sum() > 0
    # deployed as one projection from the unpooled source: same currents
    assert layer.dense_weight().shape == (5, 48)
    np.testing.assert_allclose(x.numpy() @ layer.dense_weight().T, current.detach().numpy(), atol=1e-12)


@pytest.fixture(scope="module")
def conv_net():
    conv, pool = parse_conv_spec("4c3s2p1,pool2,3c3p1,pool2")
    config = NetworkConfig(n_inputs=2 * 16 * 16, n_outputs=4, hidden=(10,), conv=conv,
                           dense_pool=pool, input_shape=(2, 16, 16), delays="none",
                           readout="mean_v", seed=2)
    model = SpikingNetwork(config).double()
    x = (np.random.default_rng(0).random((24, 16, 512)) < 0.15).astype(np.uint8)
    model.calibrate_init(torch.as_tensor(x, dtype=torch.float64), 0.1)
    return model.float(), x


def test_the_float_export_runs_the_convolutions_as_expanded_matrices(conv_net):
    model, x = conv_net
    net = model.to_float_network()
    assert [p.weights.shape for p in net.projections] == [
        (4 * 8 * 8, 512), (3 * 4 * 4, 256), (10, 48), (4, 10)]  # pooled: from 3x4x4
    # pool2 before a 3x3 kernel folds into a 6x6 kernel of stride 2: 4 channels x 36 taps
    assert (net.projections[1].weights != 0).sum(axis=1).max() == 4 * 36
    model.double()
    with torch.no_grad():
        want = model.run(torch.as_tensor(x, dtype=torch.float64), record_v=True)
    got = simulate_torch_float(net, x, record=("spikes", "v"))
    for name, rec in zip(net.populations, want, strict=True):
        assert np.array_equal(got.spikes[name], rec["spikes"].numpy() > 0), name
    np.testing.assert_allclose(got.v["output"], want[-1]["v"].numpy(), atol=1e-9)
    assert all(rec["spikes"].sum() > 0 for rec in want[:-1])
    rebuilt = SpikingNetwork.from_float_network(net, model.config).double()
    for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    model.float()


def test_ptq_of_a_conv_network_gives_the_reference_the_float_spikes(conv_net):
    model, x = conv_net
    net, info = post_training_quantize(model, x[:16])
    assert not info.clipped
    # the convolutions stay convolutions (kernel and geometry), the pooled dense layer dense
    assert [p.conv is not None for p in net.projections] == [True, True] + [False] * (
        len(net.projections) - 2)
    assert net.projections[0].conv.stride == model.layers[0].geometry().stride
    tr = simulate(net, x[16:].astype(bool), record=("spikes",))
    with torch.no_grad():
        want = model.run(torch.as_tensor(x[16:], dtype=torch.float32))
    for k, name in enumerate(["layer0", "layer1", "layer2"]):
        f1 = spike_f1(tr.spikes[name], want[k]["spikes"].numpy() > 0)
        # the convolutions match almost exactly; the small pooled layer behind them (10
        # neurons of an untrained network, near threshold) inherits their few differences
        assert f1 > (0.95 if k < 2 else 0.75), (name, f1)


def test_weights_that_are_no_convolution_are_refused(conv_net):
    model, _ = conv_net
    net = model.to_float_network()
    layer = model.layers[0]
    bad = net.projections[0].weights.copy()
    bad[0, -1] = 1.0  # a synapse outside the kernel's reach
    with pytest.raises(InputError, match="not this convolution's"):
        layer.load_dense_weight(bad, "population 'layer0'")


@pytest.mark.parametrize(("spec", "needle"), [
    ("16c5s2p1,x3", "token 'x3' is neither"),
    ("pool2", "no convolution"),
    ("pool2,pool2,4c3", "one pool<n>"),
])
def test_bad_conv_specs_are_one_line_errors(spec, needle):
    with pytest.raises(InputError, match=needle):
        parse_conv_spec(spec)


def test_conv_geometry_that_does_not_fit_names_the_layer():
    with pytest.raises(InputError, match=r"conv\[1\].pool = 2 does not divide its input "
                                         r"4x17x17"):
        NetworkConfig(n_inputs=2312, n_outputs=10, conv=parse_conv_spec("4c3s2p1,pool2,4c3")[0],
                      input_shape=(2, 34, 34))
    with pytest.raises(InputError, match="C\\*H\\*W = n_inputs = 100"):
        NetworkConfig(n_inputs=100, n_outputs=10, conv=parse_conv_spec("4c3")[0],
                      input_shape=(2, 34, 34))


def cli(*args, cwd, rc=0):
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)
    assert proc.returncode == rc, proc.stdout + proc.stderr
    return proc


def test_train_and_quantize_a_conv_network_on_saccade_digits_through_the_cli(tmp_path):
    cli("data", "make", "saccade_digits", "--param", "n_samples=100", "--param", "steps=10",
        "--out", "d.npz", cwd=tmp_path)
    bad = cli("train", "--data", "d.npz", "--conv", "4c5s2p1,pool3", "--delays", "none",
              "--out", "bad", cwd=tmp_path, rc=2)
    assert bad.stderr.strip().count("\n") == 0 and "dense_pool = 3 does not divide" in bad.stderr
    assert not (tmp_path / "bad").exists()
    cli("train", "--data", "d.npz", "--conv", "4c5s2p1,pool2", "--hidden", "12", "--delays",
        "none", "--epochs", "1", "--batch-size", "20", "--out", "run", cwd=tmp_path)
    network = json.loads((tmp_path / "run" / "config.json").read_text())["network"]
    assert network["conv"] == [{"channels": 4, "kernel": 5, "stride": 2, "padding": 1,
                                "pool": 1}]
    assert network["input_shape"] == [2, 34, 34] and network["dense_pool"] == 2
    cli("quantize", "run", "--calib", "40", "--out", "q", cwd=tmp_path)
    result = json.loads((tmp_path / "q" / "quantization.json").read_text())
    assert result["lint"]["violations"] == []
    assert result["test_acc_float"] - result["test_acc_quantized_reference"] <= 0.2
    # the rest of the walkthrough: export (the NIR graph keeps the convolution), Lava
    cli("export", "q", "--nir", "q.nir", "--onnx", "q.onnx", cwd=tmp_path)
    graph = nir.read(tmp_path / "q.nir")
    assert sum(isinstance(n, nir.Conv2d) for n in graph.nodes.values()) == 1
    cli("verify", "q", "--backends", "reference,onnx,lava", "--samples", "2", "--require",
        "reference==lava", "--require", "reference==onnx", "--report", "report", cwd=tmp_path)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["passed"] and summary["samples"] == 2
