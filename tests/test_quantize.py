"""Post-training quantization: the integer mapping, accuracy kept, clean errors."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from rich.console import Console

from neurodeploy import load_network, simulate
from neurodeploy.models.datasets import make_task, split
from neurodeploy.models.training import TrainConfig, evaluate, load_run, train
from neurodeploy.quantize.ptq import float_layers, post_training_quantize, spike_f1
from neurodeploy.readout import accuracy, readout_logits
from neurodeploy.targets.torch_float import simulate_torch_float

from netgen import bias_current_float_network


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(task="isi", task_params={"n_samples": 400}, hidden=(24,),
                         delays="axonal", max_delay=10, epochs=8, int_delay_epochs=2,
                         batch_size=32, seed=1)
    train(config, out, console=Console(file=io.StringIO()))
    model, _ = load_run(out)
    ds = make_task("isi", seed=1, n_samples=400)
    train_ds, _, test_ds = split(ds, config.splits, seed=1)
    return out, model, train_ds, test_ds


def test_integer_parameters_follow_the_documented_mapping(trained):
    _, model, train_ds, _ = trained
    net, info = post_training_quantize(model, train_ds.spikes[:64])
    for layer in float_layers(model):
        pop = net.populations[layer.name]
        s = info.scales[layer.name]
        assert (pop.param("du") == np.round(4096 * layer.du) - 1).all()
        assert (pop.param("dv") == np.round(4096 * layer.dv)).all()
        if layer.spiking:
            assert (pop.param("vth") == np.round(layer.vth * s / 64)).all()
        proj = next(p for p in net.projections if p.dst == layer.name and p.src == layer.src)
        lsb = 64 * 2.0**proj.weight_exp / s  # float weight per integer unit
        err = np.abs(proj.weights * lsb - layer.weight)
        assert err.max() <= lsb * (1.0 if proj.sign_mode == "mixed" else 0.5) + 1e-12
        assert np.abs(proj.weights).max() > 127  # the 8-bit grid is used, not wasted
        if layer.delays is not None:
            assert (proj.delay_matrix() == np.broadcast_to(layer.delays, proj.weights.shape)).all()


def test_ptq_keeps_accuracy_and_spikes(trained):
    _, model, train_ds, test_ds = trained
    net, info = post_training_quantize(model, train_ds.spikes[:128])
    _, float_acc = evaluate(model, test_ds.spikes, test_ds.labels)
    tr = simulate(net, test_ds.spikes.astype(bool), record=("spikes", "v"))
    quant_acc = accuracy(readout_logits(None, tr.v["output"], "mean_v"), test_ds.labels)
    assert float_acc > 0.7
    assert quant_acc >= float_acc - 0.03
    assert info.agreement["layer0"] > 0.8
    assert not info.clipped


def test_spike_f1_counts_only_exact_step_matches():
    a = np.zeros((1, 6, 1), bool)
    b = np.zeros((1, 6, 1), bool)
    a[0, [1, 3], 0] = True
    b[0, [1, 4], 0] = True  # one exact match, one spike a step late
    assert spike_f1(a, b) == pytest.approx(0.5)
    assert spike_f1(b[:, :0], a[:, :0]) == 1.0


def cli(*args):
    return subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, timeout=600)


def test_cli_quantize_writes_a_loadable_network(trained, tmp_path):
    run_dir, _, _, test_ds = trained
    out = tmp_path / "q"
    proc = cli("quantize", str(run_dir), "--calib", "64", "--qat-epochs", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "quantization.json").read_text())
    assert result["qat"]["epochs"] == 1
    assert result["qat"]["val_acc_after"] >= result["qat"]["val_acc_before"]
    assert result["lint"]["violations"] == [] and (out / "report.png").stat().st_size > 0
    net = load_network(out / "network.npz")
    tr = simulate(net, test_ds.spikes.astype(bool), record=("spikes", "v"), populations=["output"])
    acc = accuracy(readout_logits(None, tr.v["output"], "mean_v"), test_ds.labels)
    assert acc == result["test_acc_quantized_reference"]


def test_cli_quantize_bad_run_dir_leaves_nothing(tmp_path, trained):
    run_dir, *_ = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((run_dir / "config.json").read_text())
    (broken / "model.pt").write_bytes(b"not a checkpoint")
    out = tmp_path / "q"
    proc = cli("quantize", str(broken), "--out", str(out))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "model.pt" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".q.*"))
    missing = cli("quantize", str(tmp_path / "nowhere"), "--out", str(out))
    assert missing.returncode == 2 and "not a training run directory" in missing.stderr


def test_calibration_data_of_the_wrong_width(trained):
    _, model, _, _ = trained
    from neurodeploy.errors import InputError

    with pytest.raises(InputError, match=r"calibration data has shape \(4, 20, 3\)"):
        post_training_quantize(model, np.zeros((4, 20, 3)))
    assert isinstance(torch.zeros(1), torch.Tensor)


@pytest.mark.lava
def test_quantized_trained_model_is_the_same_integers_on_every_backend(trained):
    """torch-int == reference == Lava fixed_pt on a trained, quantized model."""
    from compare import assert_same_traces

    _, model, train_ds, test_ds = trained
    net, _ = post_training_quantize(model, train_ds.spikes[:64])
    x = test_ds.spikes[:6].astype(bool)
    record = ("spikes", "v", "u")
    ref = simulate(net, x, target="reference", record=record)
    for target in ("torch-int", "lava"):
        assert_same_traces(ref, simulate(net, x, target=target, record=record), net.populations,
                           got_name=target)
    assert sum(int(s.sum()) for s in ref.spikes.values()) > 0


def test_cli_quantize_refuses_a_folder_of_other_files_before_working(trained, tmp_path):
    """`quantize --out d` where d holds the user's file: refused at once, the file kept."""
    run_dir, *_ = trained
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = cli("quantize", str(run_dir), "--out", str(out))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "notes.txt" in proc.stderr and "--overwrite" in proc.stderr
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bias_currents_enter_u_with_the_first_input():
    """A projection bias into a CubaLIF (du < 1) starts at the step the input first
    reaches the population (h: step 1, out: step 2), in the float model and in the PTQ
    integers (the bias unit's projections, delay 0 and 1), where it is the float bias
    times the scale S to within half a step of the weight grid (64 * 2**weight_exp, twice
    that for mixed signs, whose grid is the even integers)."""
    fnet = bias_current_float_network()
    assert fnet.bias_onsets() == {"h": 1, "out": 2}
    calib = np.random.default_rng(0).random((8, 40, 6)) < 0.25
    net, info = post_training_quantize(fnet, calib)
    silent = np.zeros((1, 4, 6), bool)
    ftr = simulate_torch_float(fnet, silent, record=("u",))
    itr = simulate(net, silent, record=("u",))
    for name, onset in (("h", 1), ("out", 2)):
        bias = sum(p.bias for p in fnet.incoming(name))
        assert not ftr.u[name][0, :onset].any() and not itr.u[name][0, :onset].any()
        np.testing.assert_allclose(ftr.u[name][0, onset], bias, rtol=1e-12)
        proj = next(p for p in net.projections if p.src == "bias" and p.dst == name)
        step = 64 * 2.0**proj.weight_exp * (2 if proj.sign_mode == "mixed" else 1)
        assert proj.max_delay == onset - 1 and proj.weight_exp >= 0
        error = np.abs(itr.u[name][0, onset] - bias * info.scales[name])
        assert error.max() <= step / 2 + 1e-9
