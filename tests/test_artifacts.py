"""The artifact layer: each kind of artifact reads to the right deployment, bad paths give
one-line errors, and the time step is the same wherever it is read from.

A tiny ISI run (8 hidden neurons, one epoch) and its quantize output are made once.
"""

import io
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from neurodeploy import load_network, save_network, simulate
from neurodeploy.artifacts import (
    NETWORK_FILE,
    NIR_GRAPH,
    QUANTIZE_DIR,
    TRAINING_RUN,
    artifact_kind,
    load_deployment,
)
from neurodeploy.conformance import nir_paper_single_lif_network
from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.exchange.export import export_artifacts
from neurodeploy.exchange.nir_export import float_network_to_nir, write_nir
from neurodeploy.exchange.nir_import import ASSUMED_DT, import_nir
from neurodeploy.float_network import dequantize
from neurodeploy.models.datasets import make_task
from neurodeploy.models.training import TrainConfig, load_run, train
from neurodeploy.quantize.pipeline import quantize_run
from neurodeploy.targets.torch_float import simulate_torch_float

ISI = dict(task="isi", task_params={"n_samples": 200}, hidden=(8,), epochs=1,
           int_delay_epochs=1, delays="axonal", max_delay=8, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(training run dir, quantize dir) of a tiny ISI model."""
    base = tmp_path_factory.mktemp("artifacts")
    quiet = Console(file=io.StringIO())
    train(TrainConfig(**ISI), base / "run", console=quiet)
    quantize_run(base / "run", base / "quant", calib=16, console=quiet)
    return base / "run", base / "quant"


def same_integers(a, b) -> bool:
    return list(a.populations) == list(b.populations) and all(
        np.array_equal(p.weights, q.weights) and p.weight_exp == q.weight_exp
        for p, q in zip(a.projections, b.projections, strict=True))


def norse_graph() -> Path:
    return Path(str(resources.files("neurodeploy.data").joinpath("nir_paper_single_lif",
                                                                   "lif_norse.nir")))


# ------------------------------------------------------------------ each kind of artifact
def test_a_network_file_is_integers_with_their_dequantized_float_model(tmp_path):
    net = nir_paper_single_lif_network()
    path = save_network(net, tmp_path / "lif.npz")
    d = load_deployment(path)
    assert d.kind == NETWORK_FILE and d.path == str(path)
    assert same_integers(d.fixed, net) and d.dt is None and d.output == "lif"
    assert d.float_units == "lsb" and not d.scales and d.run is None
    assert d.populations == {"lif": 1} and d.n_inputs == 1
    # LSB units: the threshold mantissa shifted by 6, as the integer dynamics compare it
    np.testing.assert_array_equal(d.float_network.populations["lif"].vth,
                                  net.populations["lif"].vth * 64)
    assert load_deployment(path, dt=0.002).dt == 0.002


def test_a_fixed_point_nir_graph_reads_back_the_integers_and_its_dt(tmp_path):
    net = nir_paper_single_lif_network()
    save_network(net, tmp_path / "lif.npz")
    export_artifacts(tmp_path / "lif.npz", nir_out=str(tmp_path / "lif.nir"), dt=0.002)
    d = load_deployment(tmp_path / "lif.nir")
    assert d.kind == NIR_GRAPH and same_integers(d.fixed, net) and d.dt == 0.002
    assert d.float_units == "lsb" and not d.warnings
    with pytest.raises(InputError, match=r"declares dt = 0\.002 s"):
        load_deployment(tmp_path / "lif.nir", dt=0.001)


def test_a_float_nir_graph_has_no_integers_and_says_what_it_assumed(tmp_path):
    d = load_deployment(norse_graph())
    assert d.kind == NIR_GRAPH and d.fixed is None and d.float_units == "float"
    assert d.dt == ASSUMED_DT and any("assuming dt" in w for w in d.warnings)
    assert load_deployment(norse_graph(), dt=1e-3).dt == 1e-3
    with pytest.raises(InputError, match="backend 'reference' runs fixed-point networks"):
        d.network_for("reference")
    assert d.network_for("torch-float") is d.float_network


def test_a_training_run_is_its_float_model(trained):
    run, _ = trained
    d = load_deployment(run)
    model, run_json = load_run(run)
    assert d.kind == TRAINING_RUN and d.fixed is None and d.float_units == "float"
    assert d.readout == model.config.readout == "mean_v" and d.hops == 2
    assert d.output == "output" and d.run == run_json
    assert d.network_config == model.config.to_json()
    assert d.populations == {"layer0": 8, "output": 2}
    np.testing.assert_array_equal(d.float_network.projections[0].weights,
                                  model.layers[0].weight.detach().double().numpy())


def test_a_quantize_dir_is_the_integers_and_the_float_model_they_came_from(trained):
    run, quant = trained
    d = load_deployment(quant)
    q = json.loads((quant / "quantization.json").read_text())
    assert d.kind == QUANTIZE_DIR and same_integers(d.fixed, load_network(quant / "network.npz"))
    assert dict(d.scales) == q["scales"] and set(d.scales) == {"layer0", "output"}
    assert (d.readout, d.hops, d.output) == (q["readout"], q["hops"], q["output"])
    assert d.float_units == "lsb" and d.run == load_run(run)[1]
    np.testing.assert_array_equal(d.float_network.projections[0].weights,
                                  load_run(run)[0].layers[0].weight.detach().double().numpy())


def test_torch_float_runs_the_source_float_model_with_v_in_lsb_units(trained):
    """One meaning per backend name: torch-float is the float model the integers came
    from (float64, targets/torch_float), its v times the PTQ scale; reference the
    integers."""
    run, quant = trained
    d = load_deployment(quant)
    x = np.random.default_rng(1).random((3, 60, d.n_inputs)) < 0.1
    expected = simulate_torch_float(load_run(run)[0].to_float_network(), x, record=("v",))
    got = d.simulate("torch-float", x, record=("spikes", "v"))
    for pop, scale in d.scales.items():
        np.testing.assert_array_equal(got.spikes[pop], expected.spikes[pop])
        np.testing.assert_allclose(got.v[pop], expected.v[pop] * scale, rtol=1e-12)
    ref = d.simulate("reference", x, record=("v",))
    want = simulate(load_network(quant / "network.npz"), x, record=("v",))
    assert all(np.array_equal(ref.v[p], want.v[p]) for p in want.v)
    with pytest.raises(TargetUnavailableError, match="target 'nope' is unknown"):
        d.network_for("nope")


def test_a_quantize_dir_without_its_float_model_falls_back_to_the_integers(trained, tmp_path):
    _, quant = trained
    copy = tmp_path / "q"
    shutil.copytree(quant, copy)
    (copy / "model.pt").unlink()
    q = json.loads((copy / "quantization.json").read_text())
    q["source_run"] = str(tmp_path / "gone")
    (copy / "quantization.json").write_text(json.dumps(q))
    d = load_deployment(copy)
    assert not d.scales and d.float_units == "lsb"
    np.testing.assert_array_equal(d.float_network.projections[0].weights,
                                  dequantize(d.fixed).projections[0].weights)


# ------------------------------------------------------------------------------- dt
def test_every_dt_source_of_a_run_agrees_with_its_data(trained, tmp_path):
    run, quant = trained
    data_dt = make_task("isi", seed=0, n_samples=200).dt
    assert data_dt == 0.005
    assert load_deployment(run).dt == load_deployment(quant).dt == data_dt
    for source in (run, quant):
        assert export_artifacts(source, nir_out=str(tmp_path / "x.nir")).dt == data_dt
        assert import_nir(tmp_path / "x.nir").dt == data_dt


def test_a_dt_that_is_not_a_time_step_is_named(trained, tmp_path):
    _, quant = trained
    copy = tmp_path / "q"
    shutil.copytree(quant, copy)
    run = json.loads((copy / "run.json").read_text())
    run["dataset"]["dt_s"] = -1
    (copy / "run.json").write_text(json.dumps(run))
    with pytest.raises(InputError, match=r"run\.json dataset\.dt_s: dt = -1 is not allowed; "
                                         r"allowed: a time step > 0 seconds"):
        load_deployment(copy)
    with pytest.raises(InputError, match=r"--dt: dt = 0 is not allowed"):
        load_deployment(quant, dt=0)


# ------------------------------------------------------------------------ bad paths
def bad_paths(tmp_path: Path, quant: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    broken = tmp_path / "broken-q"
    shutil.copytree(quant, broken)
    (broken / "quantization.json").write_text("{not json")
    return {
        "missing": (tmp_path / "nope.npz", "no such file or directory; allowed: a training run"),
        "empty dir": (tmp_path / "empty", "neither a quantize output nor a training run "
                                          "directory; allowed: "),
        "suffix": (tmp_path / "notes.txt", r"\.txt is not a known artifact; allowed: "),
        "corrupt npz": (tmp_path / "junk.npz", r"cannot read as \.npz .*; allowed: a network "
                                              "file"),
        "corrupt json": (broken / "quantization.json", "cannot read JSON"),
    }


def test_a_wrong_or_corrupt_path_is_a_one_line_input_error_naming_it(trained, tmp_path):
    _, quant = trained
    for name, (path, message) in bad_paths(tmp_path, quant).items():
        target = path.parent if name == "corrupt json" else path
        with pytest.raises(InputError, match=message) as info:
            load_deployment(target)
        text = str(info.value)
        assert len(text.splitlines()) == 1 and str(path) in text, name


def test_kind_is_decided_by_content_and_suffix(trained, tmp_path):
    run, quant = trained
    save_network(nir_paper_single_lif_network(), tmp_path / "n.npz")
    write_nir(float_network_to_nir(import_nir(norse_graph(), dt=1e-4).network, 1e-4),
              tmp_path / "f.nir")
    assert [artifact_kind(p) for p in (run, quant, tmp_path / "n.npz", tmp_path / "f.nir")] \
        == [TRAINING_RUN, QUANTIZE_DIR, NETWORK_FILE, NIR_GRAPH]
