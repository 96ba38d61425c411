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
    return out


@pytest.mark.lava
def test_trained_ccisi_model_passes_the_integer_gates(quantized, tmp_path):
    result = verify(str(quantized), ["torch-float", "torch-int", "reference", "lava"],
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
