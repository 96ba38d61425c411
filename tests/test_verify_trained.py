"""Verification of a trained, quantized CCISI model with axonal delays on 200 test samples:
the integer backends are the same integers (gates ``reference==lava`` and
``torch-int==reference`` hold) and the report states how close the float model is."""

import io

import pytest
from rich.console import Console

from neurodeploy.models.training import TrainConfig, train
from neurodeploy.quantize.pipeline import quantize_run
from neurodeploy.verify.pipeline import verify


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = TrainConfig(task="ccisi", task_params={"n_samples": 2000}, hidden=(32,),
                         delays="axonal", max_delay=20, epochs=4, int_delay_epochs=1,
                         batch_size=64, seed=3)
    quiet = Console(file=io.StringIO())
    train(config, run, console=quiet)
    out = tmp_path_factory.mktemp("q") / "q"
    quantize_run(run, out, calib=128, console=quiet)
    return run, out


@pytest.mark.lava
def test_trained_ccisi_model_passes_the_integer_gates(quantized, tmp_path):
    _, quant = quantized
    result = verify(str(quant), ["torch-float", "torch-int", "reference", "lava"],
                    samples=200, gates=["reference==lava", "torch-int==reference"],
                    report_dir=str(tmp_path / "report"), console=Console(file=io.StringIO()))
    s = result.summary
    assert s["samples"] == 200 and result.passed
    assert [g["passed"] for g in s["gates"]] == [True, True]
    accs = {n: b["accuracy"] for n, b in s["backends"].items()}
    assert accs["reference"] == accs["lava"] == accs["torch-int"]
    float_int = next(p for p in s["pairs"] if (p["a"], p["b"]) == ("torch-float", "reference"))
    hidden = float_int["populations"]["layer0"]
    assert hidden["n_spikes_a"] > 0 and hidden["n_spikes_b"] > 0
    assert 0.0 < hidden["f1_at_0"] <= hidden["f1_at_1"] <= 1.0
    html = (tmp_path / "report" / "report.html").read_text()
    assert "torch-float" in html and "layer0" in html


def test_export_of_quantize_and_training_directories(quantized, tmp_path):
    """`neurodeploy export QUANT_DIR|RUN_DIR`: the integers, the float model and the ONNX
    model come back exactly; dt comes from the run's data (5 ms steps)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from neurodeploy import load_network, simulate
    from neurodeploy.exchange.export import export_artifacts
    from neurodeploy.exchange.nir_import import import_nir
    from neurodeploy.models.network import NetworkConfig, SpikingNetwork
    from neurodeploy.models.training import load_run

    run, quant = quantized
    r = export_artifacts(quant, nir_out=str(tmp_path / "q.nir"), onnx_out=str(tmp_path / "q.onnx"))
    assert r.kind == "fixed_point" and r.dt == 0.005 and r.node_counts["Delay"] >= 1
    net = load_network(quant / "network.npz")
    back = import_nir(tmp_path / "q.nir")
    assert back.dt == 0.005
    for p, q in zip(net.projections, back.network.projections, strict=True):
        assert np.array_equal(p.weights, q.weights) and p.weight_exp == q.weight_exp
        assert np.array_equal(p.delay_matrix(), q.delay_matrix())
    x = np.random.default_rng(0).random((3, 200, net.n_inputs)) < 0.05
    ref = simulate(net, x, record=("spikes", "v"))
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {"spikes": x}), strict=True))
    for pop in net.populations:
        assert np.array_equal(outputs[f"spikes/{pop}"], ref.spikes[pop])
        assert np.array_equal(outputs[f"v/{pop}"], ref.v[pop])

    r = export_artifacts(run, nir_out=str(tmp_path / "f.nir"))
    assert r.kind == "float" and r.dt == 0.005
    model, _ = load_run(run)
    imported = import_nir(tmp_path / "f.nir")
    rebuilt = SpikingNetwork.from_float_network(imported.network,
                                                NetworkConfig.from_json(imported.network_config))
    xt = torch.as_tensor(x, dtype=torch.float32)
    for a, b in zip(model.run(xt), rebuilt.run(xt), strict=True):
        assert torch.equal(a["spikes"], b["spikes"])
