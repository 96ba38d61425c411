"""A network trained elsewhere, brought in through NIR, fine-tuned on Loihi 2's own
dynamics: reset by subtraction is refused with the fix named; imported with reset to zero,
`quantize GRAPH.nir --data F --qat-epochs N` trains the integers (a recurrent CubaLIF
layer included) and writes the trained network, whose accuracy on the held-out samples the
reference simulator reproduces. Time: 0-based steps, dt = 5 ms (the data's)."""

import json
import subprocess
import sys

import nir
import numpy as np
import pytest

from neurodeploy import load_network, simulate
from neurodeploy.models.datasets import make_task, save_dataset
from neurodeploy.readout import accuracy, readout_logits

DT = 5e-3


def recurrent_graph(seed: int = 0) -> nir.NIRGraph:
    """20 inputs -> Affine -> CubaLIF (16, recurrent Affine) -> Affine -> CubaLIF (2)."""
    rng = np.random.default_rng(seed)

    def cuba(n):
        return nir.CubaLIF(tau_syn=np.full(n, 0.02), tau_mem=np.full(n, 0.04),
                           r=np.full(n, 1.0 / (0.125 * 0.25)), v_leak=np.zeros(n),
                           v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.ones(n))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([20])}),
        "fc1": nir.Affine(weight=rng.normal(0.5, 0.6, (16, 20)), bias=np.zeros(16)),
        "lif1": cuba(16),
        "rec": nir.Linear(weight=rng.normal(0.0, 0.3, (16, 16))),
        "fc2": nir.Affine(weight=rng.normal(0.3, 1.0, (2, 16)), bias=np.zeros(2)),
        "lif2": cuba(2),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "rec"), ("rec", "lif1"),
             ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nirqat")
    nir.write(str(folder / "rnn.nir"), recurrent_graph())
    save_dataset(make_task("ccisi", seed=0, n_samples=160), folder / "data.npz")
    return folder


def test_reset_by_subtraction_is_refused_naming_the_fix(files):
    proc = cli("quantize", str(files / "rnn.nir"), "--data", str(files / "data.npz"),
               "--reset", "subtract", "--out", str(files / "q-sub"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--reset zero" in proc.stderr and "--qat-epochs" in proc.stderr
    assert not (files / "q-sub").exists()


def test_qat_of_an_imported_recurrent_graph_writes_the_trained_integers(files):
    common = ("--data", str(files / "data.npz"), "--reset", "zero", "--calib", "100",
              "--readout", "mean_v")
    ptq = cli("quantize", str(files / "rnn.nir"), *common, "--out", str(files / "q-ptq"))
    assert ptq.returncode == 0, ptq.stderr
    qat = cli("quantize", str(files / "rnn.nir"), *common, "--qat-epochs", "3",
              "--out", str(files / "q-qat"))
    assert qat.returncode == 0, qat.stderr
    before = json.loads((files / "q-ptq" / "quantization.json").read_text())
    after = json.loads((files / "q-qat" / "quantization.json").read_text())
    assert before["qat"] is None and after["qat"]["epochs"] == 3
    assert after["qat"]["best_epoch"] >= 0  # training improved on validation: kept
    # QAT starts from the PTQ integers: its "before" is the PTQ network's accuracy
    assert after["qat"]["test_acc_before"] == before["test_acc_quantized_reference"]
    trained = load_network(files / "q-qat" / "network.npz")
    ptq_net = load_network(files / "q-ptq" / "network.npz")
    assert any(not np.array_equal(a.weights, b.weights)
               for a, b in zip(trained.projections, ptq_net.projections, strict=True))
    assert any(p.src == p.dst for p in trained.projections)  # the recurrent projection
    # the written network's accuracy, recomputed on the held-out samples by the reference
    task = make_task("ccisi", seed=0, n_samples=160)
    held_out = np.random.default_rng(0).permutation(len(task.labels))[100:]
    out = trained.outputs[0]
    tr = simulate(trained, task.spikes[held_out].astype(bool), populations=[out],
                  record=("spikes", "v"))
    acc = accuracy(readout_logits(tr.spikes[out], tr.v[out], "mean_v"), task.labels[held_out])
    assert acc == after["test_acc_quantized_reference"]
