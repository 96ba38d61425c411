"""neurodeploy verify: backends, recorded traces, gates, outputs and bad input.

The Loihi 2 conformance case goes through the same code as any user's: the chip's CSV is a
recorded backend (``--trace``). Known answers (shared/conformance/nir-paper-single-lif):
the reference spikes exactly like the chip (steps 461, 511, 711, 761), v differs only at
those four steps (the chip records v before the reset), and the exact continuous solution
spikes one step earlier than the chip (lag 1 from exact to chip).
"""

import json
from importlib import resources
from pathlib import Path

import nir
import numpy as np
import pytest

from neurodeploy import save_network
from neurodeploy.cli import main
from neurodeploy.conformance import load_recording, nir_paper_single_lif_network
from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.verify.gates import evaluate_gate, parse_gate
from neurodeploy.verify.pipeline import verify

from netgen import recurrent_bias_case

SPIKE_STEPS = [461, 511, 711, 761]


def csv(name: str) -> str:
    folder = resources.files("neurodeploy.data").joinpath("nir_paper_single_lif")
    return str(folder.joinpath(f"{name}.csv"))


@pytest.fixture
def lif(tmp_path):
    save_network(nir_paper_single_lif_network(), tmp_path / "lif.npz")
    x = load_recording("lif_exact").input_spikes[None, :, None].astype(np.uint8)
    np.savez(tmp_path / "input.npz", spikes=x)
    return str(tmp_path / "lif.npz"), str(tmp_path / "input.npz")


def pair(summary, a, b):
    (p,) = [p for p in summary["pairs"] if (p["a"], p["b"]) == (a, b)]
    return p


def test_conformance_case_through_the_trace_path(lif):
    model, data = lif
    result = verify(model, ["reference"], data=data,
                    traces={"chip": csv("lif_lava_loihi_fixed"), "exact": csv("lif_exact")},
                    gates=["reference==chip", "exact~chip:lag==1", "exact~chip:f1@lag>=1"])
    s = result.summary
    ref_chip = pair(s, "reference", "chip")
    m = ref_chip["populations"]["lif"]
    assert ref_chip["identical"] and m["best_lag"] == 0 and m["f1_at_0"] == 1.0
    assert m["n_spikes_a"] == 4
    assert m["v_mismatch_steps"] == SPIKE_STEPS and m["v_mismatches"] == 4
    ex = pair(s, "reference", "exact")["populations"]["lif"]
    assert ex["best_lag"] == -1 and ex["f1_at_0"] == 0.0  # the exact solution is a step early
    chip_exact = pair(s, "chip", "exact")
    assert chip_exact["populations"]["lif"]["v_rmse"] is None  # LSB vs float units: not compared
    assert [g["passed"] for g in s["gates"]] == [True, True, True] and result.passed


def test_a_failing_gate_fails_the_verification(lif):
    model, data = lif
    result = verify(model, ["reference"], data=data, traces={"exact": csv("lif_exact")},
                    gates=["reference==exact", "reference~exact:f1@1>=0.99"])
    gates = result.summary["gates"]
    assert not result.passed
    assert gates[0]["passed"] is False and "step 460" in gates[0]["detail"]
    assert gates[1]["passed"] is True  # one step apart: matched within +-1


def test_integer_backends_agree_on_a_recurrent_delayed_network(tmp_path):
    net, x = recurrent_bias_case()
    save_network(net, tmp_path / "n.npz")
    np.savez(tmp_path / "x.npz", spikes=x)
    result = verify(str(tmp_path / "n.npz"), ["reference", "torch-int", "onnx", "torch-float"],
                    data=str(tmp_path / "x.npz"),
                    gates=["reference==torch-int", "reference==onnx"])
    assert result.passed
    for a, b in (("reference", "torch-int"), ("reference", "onnx")):
        p = pair(result.summary, a, b)
        assert p["identical"] and all(m["v_rmse"] == 0.0 for m in p["populations"].values())
    assert result.summary["backends"]["torch-float"]["units"] == "lsb"


def test_traces_written_by_run_come_back_as_a_backend(lif, tmp_path, capsys):
    model, data = lif
    code = exit_code(["run", model, "--data", data, "--record", "spikes,v",
                      "--out", str(tmp_path / "ref.nir")])
    assert code == 0
    graph_data = nir.read_data(str(tmp_path / "ref.nir"))
    assert graph_data.nodes["lif"].observables["spikes"].data.shape == (1, 1000, 1)
    result = verify(model, ["reference"], data=data, traces={"saved": str(tmp_path / "ref.nir")},
                    gates=["reference==saved"])
    assert result.passed
    assert pair(result.summary, "reference", "saved")["populations"]["lif"]["v_rmse"] == 0.0


def exit_code(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_cli_exit_codes_and_report(lif, tmp_path, capsys):
    model, data = lif
    base = ["verify", model, "--backends", "reference", "--data", data,
            "--trace", f"chip={csv('lif_lava_loihi_fixed')}"]
    report = tmp_path / "rep"
    assert exit_code([*base, "--require", "reference==chip", "--report", str(report)]) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] and (report / "report.html").stat().st_size > 1000
    assert nir.read_data(str(report / "traces" / "reference.nir")).nodes["lif"]
    assert exit_code([*base, "--require", "reference~chip:f1@0<0.5"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--backends", "reference,nosuch"], "backend 'nosuch' is unknown; allowed:"),
    (["--backends", "reference,loihi2"], "backend 'loihi2' is unknown"),
    (["--require", "reference=>chip"], "gate 'reference=>chip' does not parse"),
    (["--require", "reference~chip:f7>=1"], "metric 'f7' is unknown"),
    (["--require", "reference==lava"], "gate 'reference==lava': 'lava' is not among"),
    (["--trace", "chip"], "--trace 'chip': expected NAME=FILE"),
])
def test_cli_bad_input_is_one_line_exit_2(lif, extra, needle, capsys):
    model, data = lif
    args = ["verify", model, "--data", data, "--trace",
            f"chip={csv('lif_lava_loihi_fixed')}", *extra]
    if "--backends" not in extra:
        args += ["--backends", "reference"]
    assert exit_code(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_data_width_and_trace_shape_are_checked(lif, tmp_path):
    model, _ = lif
    np.savez(tmp_path / "wide.npz", spikes=np.zeros((1, 10, 3), np.uint8))
    with pytest.raises(InputError, match=r"data has shape \(1, 10, 3\); the model takes "
                                         r"\(samples, steps, 1\)"):
        verify(model, ["reference", "torch-int"], data=str(tmp_path / "wide.npz"))
    np.savez(tmp_path / "short.npz", spikes=np.zeros((1, 10, 1), np.uint8))
    with pytest.raises(InputError, match=r"trace 'chip': spikes of 'lif' has shape "
                                         r"\(1, 1000, 1\)"):
        verify(model, ["reference"], data=str(tmp_path / "short.npz"),
               traces={"chip": csv("lif_lava_loihi_fixed")})
    np.savez(tmp_path / "t.npz", **{"spikes/nope": np.zeros((1, 10, 1), bool)})
    with pytest.raises(InputError, match="population 'nope' is not in the model; known: lif"):
        verify(model, ["reference"], data=str(tmp_path / "short.npz"),
               traces={"t": str(tmp_path / "t.npz")})


def test_float_model_cannot_run_on_integer_backends(tmp_path):
    from neurodeploy.exchange.nir_export import write_nir
    from neurodeploy.exchange.nir_import import import_nir

    graph = Path(str(resources.files("neurodeploy.data").joinpath(
        "nir_paper_single_lif", "lif_norse.nir")))
    imported = import_nir(graph, dt=1e-4)
    from neurodeploy.exchange.nir_export import float_network_to_nir

    write_nir(float_network_to_nir(imported.network, 1e-4), tmp_path / "f.nir")
    np.savez(tmp_path / "x.npz", spikes=np.zeros((1, 10, 1), np.uint8))
    with pytest.raises(InputError, match="backend 'reference' runs fixed-point networks"):
        verify(str(tmp_path / "f.nir"), ["reference"], data=str(tmp_path / "x.npz"))


def test_unavailable_backend_says_which_are(lif, monkeypatch):
    from neurodeploy.targets import TARGETS

    monkeypatch.setattr(type(TARGETS["lava"]), "available",
                        lambda self: (False, "lava-nc not installed") if self.name == "lava"
                        else (True, ""))
    model, data = lif
    with pytest.raises(TargetUnavailableError, match=r"backend 'lava' is unavailable here "
                                                     r"\(lava-nc not installed\); available: "):
        verify(model, ["reference", "lava"], data=data)


@pytest.mark.parametrize(("expr", "kind"), [
    ("reference==lava", "exact"), ("a~b:f1@1>=0.95", "pair"), ("a~b:lag[layer1]==0", "pair"),
    ("a:accuracy>=0.9", "accuracy"), (" a ~ b : decision_agreement >= 1 ", "pair"),
])
def test_gate_syntax(expr, kind):
    assert parse_gate(expr).kind == kind


def test_gate_takes_the_worst_population_and_flips_lag():
    summary = {"backends": {}, "pairs": [{
        "a": "x", "b": "y", "identical": False, "first_divergence": None,
        "decision_agreement": 0.5,
        "populations": {"p": {"f1_at_1": 0.99, "best_lag": 1}, "q": {"f1_at_1": 0.80,
                                                                     "best_lag": 1}}}]}
    g = evaluate_gate(parse_gate("x~y:f1@1>=0.9"), summary)
    assert not g["passed"] and g["value"] == 0.80 and "(q)" in g["detail"]
    assert evaluate_gate(parse_gate("x~y:f1@1[p]>=0.9"), summary)["passed"]
    assert evaluate_gate(parse_gate("y~x:lag==-1"), summary)["passed"]
    assert not evaluate_gate(parse_gate("x~y:decision_agreement>=0.9"), summary)["passed"]


def test_one_backend_is_not_a_comparison(lif):
    model, data = lif
    with pytest.raises(InputError, match="verify compares backends: got reference"):
        verify(model, ["reference"], data=data)


def test_a_broken_data_set_file_is_reported_not_read_as_plain_spikes(lif, tmp_path):
    from neurodeploy.errors import NeurodeployError

    model, _ = lif
    np.savez(tmp_path / "broken.npz", spikes=np.zeros((1, 10, 1), np.uint8),
             labels=np.array([7]))
    with pytest.raises(NeurodeployError, match=r"broken\.npz"):
        verify(model, ["reference", "torch-int"], data=str(tmp_path / "broken.npz"))
