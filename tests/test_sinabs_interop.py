"""NIR interop with Sinabs itself: a spiking CNN built in Sinabs, exported by
``sinabs.to_nir`` (the graph as Sinabs writes it: Conv2d without ``input_shape``, Flatten
without ``input_type``, IF with ``r`` and ``v_threshold``), imported by neurodeploy.

The float import must spike exactly as Sinabs' own forward pass (float64 both, so rounding
cannot flip a spike), every layer, every step; the quantized network must run the same
integers on the reference (both of its steps) and on Lava.

Sinabs' IAF with ``SingleSpike`` and ``MembraneReset`` is NIR's IF: v += input, a spike
when v reaches the threshold, v back to 0. It fires at v >= threshold, Loihi at v >
threshold: with float64 random weights no membrane lands on the threshold exactly (the
test checks that it does not, so that the comparison holds for the reason it claims).

Time: 0-based steps, dt = 1 (Sinabs adds its input once per step). neurodeploy adds one
step per projection (Loihi 2's hop latency), Sinabs none: a layer L projections from the
input answers L steps later, so our spikes at step t + L are Sinabs' at step t, and a
layer's bias starts with its first input (what the importer does).
"""

from __future__ import annotations

import copy

import nir
import numpy as np
import pytest
import torch
from test_cli import cli

sinabs = pytest.importorskip("sinabs")
sl = pytest.importorskip("sinabs.layers")
activation = pytest.importorskip("sinabs.activation")

from neurodeploy import load_network, simulate  # noqa: E402
from neurodeploy.errors import InputError  # noqa: E402
from neurodeploy.exchange.nir_import import import_nir  # noqa: E402
from neurodeploy.models.datasets import SpikeDataset, save_dataset  # noqa: E402
from neurodeploy.quantize.lint import lint_network  # noqa: E402
from neurodeploy.quantize.ptq import post_training_quantize  # noqa: E402
from neurodeploy.targets.reference import ReferencePlan  # noqa: E402

from compare import RECORD, assert_same_traces  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BATCH, STEPS, RATE = 3, 30, 0.15
IN = (2, 18, 18)
IAF_LAYERS = ("1", "3", "6", "10", "12")  # the IAF modules' names in the Sequential
MIN_SPIKES = 20  # per layer and side: a comparison of silent layers would prove nothing


def sinabs_cnn(seed: int, bias: bool = True) -> torch.nn.Sequential:
    """The NIR paper's Sinabs CNN in small (2x18x18 input, three convolutions, sum pooling,
    two dense layers; the first convolution with a bias unless ``bias`` is False), seeded
    random weights."""
    torch.manual_seed(seed)

    def iaf() -> torch.nn.Module:
        return sl.IAFSqueeze(batch_size=BATCH, spike_fn=activation.SingleSpike,
                             reset_fn=activation.MembraneReset())

    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 5, stride=2, padding=1, bias=bias), iaf(),
        torch.nn.Conv2d(4, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
        torch.nn.Conv2d(4, 2, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8, 10, bias=False), iaf(),
        torch.nn.Linear(10, 3, bias=False), iaf())
    with torch.no_grad():  # weights that make every layer fire at 5-50%
        for module, (mean, std) in zip(
                [m for m in model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)],
                [(0.3, 0.5), (0.2, 0.4), (0.2, 0.4), (0.5, 0.5), (0.3, 0.6)], strict=True):
            module.weight.normal_(mean, std)
        if bias:
            model[0].bias.normal_(0.0, 0.05)
    return model


def frames(seed: int, batch: int = BATCH, steps: int = STEPS) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, steps, int(np.prod(IN)))) < RATE


def sinabs_run(model: torch.nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """Sinabs' own forward pass in float64: every IAF layer's spikes (batch, steps, n), from
    fresh states."""
    model = model.double()
    sinabs.reset_states(model)
    spikes = {}

    def keep(name):
        def hook(module, _inputs, out):
            spikes[name] = out.detach().reshape(BATCH, x.shape[1], -1).numpy() > 0
        return hook

    def as_float64(_module, inputs):  # Sinabs' IAF returns float32 spikes (0/1: exact)
        return tuple(i.double() for i in inputs)

    handles = [model[int(n)].register_forward_hook(keep(n)) for n in IAF_LAYERS]
    handles += [m.register_forward_pre_hook(as_float64) for m in model
                if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.tensor(x, dtype=torch.float64).reshape(-1, *IN))
    finally:
        for h in handles:
            h.remove()
    return spikes


@pytest.fixture(scope="module")
def exported():
    """The Sinabs CNN and its graph as ``sinabs.to_nir`` returns it (shapes left out; the
    tests that write it to a file fill them in on a copy)."""
    model = sinabs_cnn(0)
    graph = sinabs.to_nir(model, torch.zeros(BATCH, *IN))
    return model, graph


def test_sinabs_writes_shapes_the_importer_infers(exported):
    _, graph = exported
    convs = [node for node in graph.nodes.values() if isinstance(node, nir.Conv2d)]
    assert len(convs) == 3 and all(c.input_shape is None for c in convs)
    net = import_nir(graph, dt=1.0).network
    assert [net.size_of(n) for n in net.populations] == [256, 256, 32, 10, 3]
    assert [p.conv is not None for p in net.projections] == [True, True, True, False, False]


@pytest.mark.parametrize("via_file", [False, True])
def test_float_import_spikes_as_sinabs(exported, via_file, tmp_path):
    model, graph = exported
    if via_file:
        graph = copy.deepcopy(graph)  # the fixture's graph stays as Sinabs wrote it
        graph.infer_types()
        nir.write(tmp_path / "cnn.nir", graph)
        graph = nir.read(tmp_path / "cnn.nir")
    net = import_nir(graph, dt=1.0).network
    x = frames(1)
    theirs = sinabs_run(model, x)
    ours = simulate(net, x, target="torch-float", record=("spikes", "v"))
    for depth, (pop, layer) in enumerate(zip(net.populations, IAF_LAYERS, strict=True), 1):
        a, b = ours.spikes[pop], theirs[layer]
        assert not a[:, :depth].any(), pop  # nothing reaches it before its hop latency
        np.testing.assert_array_equal(a[:, depth:], b[:, : STEPS - depth], err_msg=pop)
        assert a.sum() >= MIN_SPIKES and b.sum() >= MIN_SPIKES, pop
        threshold = float(np.max(np.asarray(graph.nodes[layer].v_threshold)))
        # after the reset every v is below the threshold: no v stayed on it unfired (where
        # Sinabs' >= and Loihi's > would differ)
        assert ours.v[pop].max() < threshold, pop


@pytest.mark.lava
def test_quantized_sinabs_cnn_runs_the_same_integers_everywhere(exported):
    _, graph = exported
    net, info = post_training_quantize(import_nir(graph, dt=1.0).network,
                                       frames(2, batch=8))
    assert min(info.agreement.values()) > 0.9  # PTQ kept the float spikes
    x = frames(3, batch=2, steps=20)
    lava = simulate(net, x, target="lava", record=RECORD)
    for name, plan in (("reference", ReferencePlan(net, compiled=False)),
                       ("reference, samples first", ReferencePlan(net, compiled=True))):
        assert_same_traces(lava, plan.run(x, record=RECORD), net.populations,
                           expected_name="lava", got_name=name)
    assert all(lava.spikes[n].any() for n in net.populations)


def test_quantized_for_netx_every_projection_has_weight_exp_0():
    """netx's layers add their plain integer weights (its conv layer has no exponent, its
    dense layers recompute one that only shifts down): PTQ with ``weight_exp=0`` caps each
    population's scale so that every weight fits at exponent 0; the default PTQ takes
    larger exponents here, which netx cannot hold."""
    fnet = import_nir(sinabs.to_nir(sinabs_cnn(0, bias=False), torch.zeros(BATCH, *IN)),
                      dt=1.0).network
    calib = frames(2, batch=8)
    default, _ = post_training_quantize(fnet, calib)
    assert max(p.weight_exp for p in default.projections) > 0
    net, info = post_training_quantize(fnet, calib, weight_exp=0)
    assert [p.weight_exp for p in net.projections] == [0] * 5
    assert not lint_network(net).violations
    assert min(info.agreement.values()) > 0.95
    with pytest.raises(InputError, match=r"weight_exp = 8 is out of range; allowed 0\.\.7"):
        post_training_quantize(fnet, calib, weight_exp=8)
    with pytest.raises(InputError, match="weight_split = 'on' with every projection at "
                                         "weight_exp = 0 \\(--netx\\)"):
        post_training_quantize(fnet, calib, weight_split="on", weight_exp=0)


@pytest.mark.lava
def test_the_sinabs_cnn_goes_to_netx_with_quantize_netx(tmp_path):
    """The user's path, by the CLI: the Sinabs export (shapes filled in, written), a data
    file, ``neurodeploy quantize --netx``, ``neurodeploy export --netx``; lava-dl's netx
    loads the file and runs it with the reference's spikes in every layer. Without
    ``--netx`` the export names the option."""
    graph = sinabs.to_nir(sinabs_cnn(0, bias=False), torch.zeros(BATCH, *IN))
    graph.infer_types()
    nir.write(tmp_path / "cnn.nir", graph)
    x = frames(4, batch=10, steps=20)  # 8 calibrate, 2 evaluate: the CLI's own runs stay short
    save_dataset(SpikeDataset(x, np.arange(10) % 3, 3, 1.0, "frames"), tmp_path / "d.npz")
    common = ("--data", str(tmp_path / "d.npz"), "--dt", "1", "--calib", "8")
    cli("quantize", str(tmp_path / "cnn.nir"), *common, "--out", str(tmp_path / "q"),
        check_rc=0)
    refused = cli("export", str(tmp_path / "q"), "--netx", str(tmp_path / "a.net"), check_rc=2)
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "quantize with --netx" in refused.stderr and not (tmp_path / "a.net").exists()
    cli("quantize", str(tmp_path / "cnn.nir"), *common, "--netx", "--out",
        str(tmp_path / "qn"), check_rc=0)
    cli("export", str(tmp_path / "qn"), "--netx", str(tmp_path / "cnn.net"), check_rc=0)
    net = load_network(tmp_path / "qn" / "network.npz")
    run = x[:1, :20]
    got = simulate(net, run, target="netx")
    ref = simulate(net, run, target="reference")
    for name in net.populations:
        assert ref.spikes[name].sum() > 0, name
        np.testing.assert_array_equal(got.spikes[name], ref.spikes[name], err_msg=name)
    bad = cli("quantize", "g.nir", "--data", "d.npz", "--netx", "--weight-split", "on",
              "--out", str(tmp_path / "x"), check_rc=2)
    assert "weight_split = 'on' with every projection at weight_exp = 0 (--netx)" in bad.stderr
