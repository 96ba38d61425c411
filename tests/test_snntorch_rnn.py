"""An snnTorch recurrent network with Affine biases, trained in the test, deployed.

``scripts/snntorch_rnn.py`` (loaded here; its bigger run prints the README's numbers):
12 inputs -> Linear (bias) -> RSynaptic (CubaLIF, recurrent Linear with a bias) -> Linear
(bias) -> Synaptic readout, reset to zero in the spike step (Loihi's rule), trained
briefly with snnTorch on the Braille-like task, exported by ``snntorch.export_to_nir``,
then quantized as ``neurodeploy quantize GRAPH.nir --data F --reset zero --readout
mean_v`` does it. The biases flow into CubaLIF populations (du < 1), so the integers have
the bias unit. Time: 0-based steps; the deployed network answers two steps (two hops)
after snnTorch and runs two extra silent steps to give its whole answer.
"""

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("snntorch")

from neurodeploy import load_network, simulate
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.quantize.lint import lint_network
from neurodeploy.readout import readout_logits
from neurodeploy.targets.torch_float import simulate_torch_float

from compare import RECORD, assert_same_traces

_path = Path(__file__).resolve().parents[1] / "scripts" / "snntorch_rnn.py"
_spec = importlib.util.spec_from_file_location("snntorch_rnn", _path)
rnn = importlib.util.module_from_spec(_spec)
sys.modules["snntorch_rnn"] = rnn
_spec.loader.exec_module(rnn)

N_SAMPLES, N_CLASSES, N_HIDDEN, EPOCHS, CALIB = 400, 4, 32, 10, 300


def train_and_deploy(tmp_path_factory):
    """(folder, data set, held-out indices, snnTorch's decisions on them): trained once per
    session by conftest's ``snntorch_rnn_deployed`` (the weight split's tests use it too)."""
    folder = tmp_path_factory.mktemp("snntorch_rnn")
    ds = rnn.braille_task(N_SAMPLES, N_CLASSES, seed=0)
    data = rnn.save_dataset(ds, folder / "braille.npz")
    train = np.random.default_rng(0).permutation(N_SAMPLES)[:CALIB]  # quantize's calib
    model = rnn.BrailleRNN(N_HIDDEN, N_CLASSES, "zero", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rnn.train_snntorch(model, ds.spikes[train], ds.labels[train], EPOCHS)
        _, test = rnn.deploy(model, data, folder, CALIB)
    theirs = rnn.snntorch_logits(model, ds.spikes[test]).argmax(axis=1)
    assert (theirs == ds.labels[test]).mean() > 0.6  # it learned the task
    return folder, ds, test, theirs


@pytest.fixture
def deployed(snntorch_rnn_deployed):
    return snntorch_rnn_deployed


def test_biases_become_the_bias_unit_and_the_network_lints_clean(deployed):
    folder = deployed[0]
    net = load_network(folder / "q" / "network.npz")
    graph = import_nir(folder / "graph.nir", dt=rnn.DT, reset="zero").network
    assert all(p.bias is not None and np.any(p.bias) for p in graph.projections)
    assert all(np.all(pop.du < 1) for pop in graph.populations.values())
    hidden, out = "lif1.lif", "lif2"
    assert net.populations["bias"].size == 1
    # a weight split adds a fine twin with the same delays (tests/test_weight_split.py)
    assert sorted({(p.dst, p.max_delay) for p in net.projections if p.src == "bias"}) == [
        (hidden, 0), (out, 1)]
    assert lint_network(net).ok


def test_deploys_with_95_percent_decision_agreement(deployed):
    """Decisions (argmax of the readout's mean v) on the held-out samples: the float
    import equals snnTorch (measured: all of them), the PTQ integers agree on >= 95 %
    (measured 95 % with the CPU kernels pinned by conftest.py)."""
    folder, ds, test, theirs = deployed
    x = rnn.padded(ds.spikes[test])
    graph = import_nir(folder / "graph.nir", dt=rnn.DT, reset="zero").network
    tr = simulate_torch_float(graph, x, record=("spikes", "v"))
    out = graph.outputs[0]
    float_decisions = readout_logits(tr.spikes[out], tr.v[out], "mean_v").argmax(axis=1)
    assert (float_decisions == theirs).mean() >= 0.98
    ours = rnn.decisions(folder, ds.spikes[test])
    agreement = (ours == theirs).mean()
    print("decision agreement with snnTorch", agreement)
    assert agreement >= 0.95


@pytest.mark.parametrize("target", ["torch-int", "onnx",
                                    pytest.param("lava", marks=pytest.mark.lava)])
def test_every_backend_runs_it_identically(deployed, target):
    folder, ds, test, _ = deployed
    net = load_network(folder / "q" / "network.npz")
    x = rnn.padded(ds.spikes[test[:12]])
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate(net, x, target=target, record=RECORD)
    assert_same_traces(ref, got, net.populations, got_name=target)
    assert ref.spikes["lif1.lif"].any() and ref.spikes["bias"].all()
