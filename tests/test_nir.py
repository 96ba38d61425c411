"""NIR export and import: exact round trips, Delay nodes, the contract, and bad input.

Given a network, the graph neurodeploy writes must (a) be read by ``nir.read`` with type
checking on, (b) contain its delays as ``nir.Delay`` nodes in seconds (steps x dt), and
(c) come back as the same integers (fixed point) or the same float parameters and spikes
(float models). Time: 0-based steps, one step per hop.
"""

import json

import h5py
import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate
from neurodeploy.cli import main
from neurodeploy.errors import InputError, NetworkValidationError
from neurodeploy.exchange.contract import KEY
from neurodeploy.exchange.nir_export import (
    fixed_point_network_to_nir,
    float_network_to_nir,
    write_nir,
)
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.float_network import FloatPopulation, FloatProjection
from neurodeploy.models.network import NetworkConfig, SpikingNetwork
from neurodeploy.targets.torch_float import simulate_torch_float

from compare import RECORD, assert_same_traces
from netgen import network_cases, recurrent_bias_case

DT = 1e-3


def assert_same_integers(a: FixedPointNetwork, b: FixedPointNetwork) -> None:
    assert a.n_inputs == b.n_inputs and list(a.outputs) == list(b.outputs)
    assert list(a.populations) == list(b.populations)
    for name, p in a.populations.items():
        q = b.populations[name]
        assert p.size == q.size
        for field in p.PARAMETERS:
            assert np.array_equal(np.asarray(getattr(p, field)), np.asarray(getattr(q, field))), \
                (name, field)
            assert np.ndim(getattr(p, field)) == np.ndim(getattr(q, field)), (name, field)
    assert len(a.projections) == len(b.projections)
    for p, q in zip(a.projections, b.projections, strict=True):
        assert (p.src, p.dst, p.weight_exp, p.num_weight_bits, p.sign_mode, p.name) == \
            (q.src, q.dst, q.weight_exp, q.num_weight_bits, q.sign_mode, q.name)
        assert np.array_equal(p.weights, q.weights)
        assert p.delay_kind == q.delay_kind
        assert np.array_equal(p.delay_matrix(), q.delay_matrix())


def write_and_read(graph: nir.NIRGraph, path) -> nir.NIRGraph:
    write_nir(graph, path)
    return nir.read(path)  # type checking on


@settings(max_examples=30, deadline=None)
@given(case=network_cases(max_steps=30))
def test_fixed_point_network_round_trips_exactly(case, tmp_path_factory):
    net, x = case
    path = tmp_path_factory.mktemp("nir") / "net.nir"
    write_and_read(fixed_point_network_to_nir(net, DT), path)
    back = import_nir(path)
    assert back.kind == "fixed_point" and back.dt == DT and not back.warnings
    assert_same_integers(net, back.network)
    assert_same_traces(simulate(net, x, record=RECORD), simulate(back.network, x, record=RECORD),
                       net.populations)


def test_delays_are_delay_nodes_in_seconds(tmp_path):
    """Axonal delays: one Delay node; per-synapse delays {0, 2, 5}: a branch per value."""
    w = np.array([[10, 20, 0], [30, 0, 40]])
    net = FixedPointNetwork(3, {"a": LIFPopulation(2, du=10, dv=20, vth=100)}, [
        Projection("input", "a", w, delays=[1, 0, 7]),
        Projection("a", "a", np.array([[8, 16], [24, 32]]), delays=np.array([[0, 2], [5, 2]])),
    ])
    graph = write_and_read(fixed_point_network_to_nir(net, 5e-3), tmp_path / "d.nir")
    delays = {n: x for n, x in graph.nodes.items() if isinstance(x, nir.Delay)}
    got = sorted(tuple(np.round(x.delay / 5e-3).astype(int)) for x in delays.values())
    assert got == [(1, 0, 7), (2, 2), (5, 5)]  # branch k = 0 needs no Delay node
    assert np.allclose(sorted(x.delay[0] for x in delays.values()), [5e-3, 10e-3, 25e-3])
    # the branches of the per-synapse projection carry disjoint parts of its weights
    rec = [x for x in graph.nodes.values() if isinstance(x, nir.Linear)
           and x.metadata[KEY]["projection"] == 1]
    assert len(rec) == 3
    total = sum(x.weight for x in rec)
    assert np.array_equal(total, net.projections[1].weights * 64.0)
    # what another tool sees (no metadata): the same delays, recovered from Delay nodes
    graph.metadata = {}
    generic = import_nir(graph, dt=5e-3).network
    (ff,) = [p for p in generic.projections if p.src == "input"]
    assert np.array_equal(ff.delays, [1, 0, 7])
    (r,) = [p for p in generic.projections if p.src == "a"]
    assert np.array_equal(r.delays, [[0, 2], [5, 2]])


def test_float_fields_are_the_integers_under_dt(tmp_path):
    """Without our metadata a reader gets du = (du_int + 1) / 4096, dv = dv_int / 4096 and
    the thresholds, biases and weights in LSB units: the NIR fields say the same thing."""
    net, _ = recurrent_bias_case()
    graph = write_and_read(fixed_point_network_to_nir(net, 2e-3), tmp_path / "f.nir")
    graph.metadata = {}
    f = import_nir(graph, dt=2e-3).network
    a = f.populations["a"]
    assert np.allclose(a.du, 301 / 4096, rtol=1e-12) and np.allclose(a.dv, 200 / 4096)
    assert np.allclose(a.vth, 5 * 64) and np.allclose(a.bias, [0, 400, -200], rtol=1e-9)
    b = f.populations["b"]
    assert np.allclose(b.du, [1 / 4096, 1.0]) and np.allclose(b.dv, 0.0, atol=1e-11)
    (ab,) = [p for p in f.projections if (p.src, p.dst) == ("a", "b")]
    assert np.allclose(ab.weights, 64 * 2.0**-2 * 64)


def small_model(seed: int = 1) -> tuple[SpikingNetwork, torch.Tensor]:
    cfg = NetworkConfig(n_inputs=5, n_outputs=3, hidden=(8, 8), recurrent=(True, False),
                        delays=("axonal", "synaptic", "none"), readout="count", seed=seed)
    model = SpikingNetwork(cfg)
    x = (torch.rand(6, 50, 5, generator=torch.Generator().manual_seed(seed)) < 0.3).float()
    with torch.no_grad():  # delays that differ after rounding
        model.layers[0].delay.copy_(torch.tensor([0.0, 1.2, 3.7, 6.0, 2.4]))
    model.set_integer_delays(True)
    model.calibrate_init(x, 0.1)
    return model.eval(), x


def test_float_model_round_trips_with_identical_spikes(tmp_path):
    model, x = small_model()
    graph = float_network_to_nir(model.to_float_network(dt=5e-3),
                                 network_config=model.config.to_json())
    write_and_read(graph, tmp_path / "m.nir")
    back = import_nir(tmp_path / "m.nir")
    assert back.kind == "float" and back.network_config == model.config.to_json()
    model2 = SpikingNetwork.from_float_network(back.network,
                                               NetworkConfig.from_json(back.network_config))
    for name in ("weight", "du", "dv", "vth"):
        for la, lb in zip(model.layers, model2.layers, strict=True):
            assert torch.equal(getattr(la, name), getattr(lb, name))
    assert torch.equal(model2.layers[0].delay, torch.tensor([0.0, 1.0, 4.0, 6.0, 2.0]))
    runs = model.run(x), model2.run(x)
    spikes = [int(r["spikes"].sum()) for r in runs[0]]
    assert all(s > 10 for s in spikes), spikes  # not a vacuous comparison
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a["spikes"], b["spikes"])


def test_float_target_reproduces_the_torch_model():
    """torch-float on the model's FloatNetwork (float32) == the trained module's spikes."""
    model, x = small_model(2)
    tr = simulate_torch_float(model.to_float_network(), x.numpy(), dtype=torch.float32)
    for layer, name in zip(model.run(x), tr.spikes, strict=True):
        assert np.array_equal(layer["spikes"].detach().numpy() > 0, tr.spikes[name])
        assert tr.spikes[name].sum() > 10


def test_float_graph_imported_generically_matches(tmp_path):
    """Our float graph read like a third-party graph (metadata dropped) runs the same."""
    model, x = small_model(3)
    fnet = model.to_float_network(dt=5e-3)
    graph = write_and_read(float_network_to_nir(fnet), tmp_path / "g.nir")
    graph.metadata = {}
    generic = import_nir(graph, dt=5e-3)
    assert generic.dt_source == "argument" and not generic.warnings
    a = simulate_torch_float(fnet, x.numpy(), record=("spikes", "v"))
    b = simulate_torch_float(generic.network, x.numpy(), record=("spikes", "v"))
    for name in a.spikes:
        assert np.array_equal(a.spikes[name], b.spikes[name])
        assert np.allclose(a.v[name], b.v[name], rtol=1e-9, atol=1e-9)


def test_same_network_same_bytes(tmp_path):
    net, _ = recurrent_bias_case()
    for name in ("a.nir", "b.nir"):
        write_nir(fixed_point_network_to_nir(net, DT), tmp_path / name)
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "b.nir").read_bytes()


def test_contract_is_declared(tmp_path):
    net, _ = recurrent_bias_case()
    graph = write_and_read(fixed_point_network_to_nir(net, 2e-3), tmp_path / "c.nir")
    c = graph.metadata[KEY]
    assert (c["schema_version"], c["kind"], c["dt"], c["hop_latency_steps"], c["reset"],
            c["threshold"], c["update_order"]) == (1, "fixed_point", 2e-3, 1, "zero", "strict",
                                                    "u_then_v")
    meta = graph.nodes["a"].metadata[KEY]
    assert np.array_equal(meta["bias_mant"], [0, 100, -50]) and meta["du"] == 300


# ------------------------------------------------------------------ bad input
def lif_graph(**changes) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type=np.array([2])),
             "w": nir.Linear(weight=np.ones((3, 2))),
             "lif": nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
                            v_threshold=np.ones(3), v_reset=np.zeros(3)),
             "output": nir.Output(output_type=np.array([3]))}
    edges = [("input", "w"), ("w", "lif"), ("lif", "output")]
    nodes.update(changes.pop("nodes", {}))
    edges += changes.pop("edges", [])
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@pytest.mark.parametrize(("graph", "message"), [
    (lif_graph(nodes={"w": nir.Linear(weight=np.ones((3, 4)))}),
     r"node 'w' \(Linear\): weight has shape \(3, 4\), but receives 2 values from 'input'"),
    (lif_graph(nodes={"lif": nir.LIF(tau=np.array([0.01, np.nan, 0.01]), r=np.ones(3),
                                     v_leak=np.zeros(3), v_threshold=np.ones(3),
                                     v_reset=np.zeros(3))}),
     r"node 'lif' \(LIF\): tau\[1\] = nan is not finite"),
    (lif_graph(nodes={"s1": nir.Scale(scale=np.ones(3)), "s2": nir.Scale(scale=np.ones(3))},
               edges=[("lif", "s1"), ("s1", "s2"), ("s2", "s1")]),
     r"cycle 's1' -> 's2' -> 's1' passes through no neuron node"),
    (lif_graph(nodes={"c": nir.Conv1d(input_shape=3, weight=np.ones((1, 1, 2)), stride=1,
                                      padding=0, dilation=1, groups=1, bias=np.zeros(1)),
                      "p": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                         padding=np.array([0, 0]))},
               edges=[("lif", "c"), ("c", "p")]),
     r"node 'p' \(SumPool2d\): conv output would be \(1, 0, 1\): the kernel \(dilated\) does "
     r"not fit the padded input \(1, 1, 2\)"),
    (lif_graph(nodes={"d": nir.Delay(delay=np.array([0.0, 2.5e-4]))},
               edges=[("input", "d"), ("d", "w")]),
     r"node 'd' \(Delay\): delay\[1\] = 0.00025 s is 2.5 steps at dt = 0.0001 s"),
    (lif_graph(nodes={"lif": nir.LIF(tau=np.full(3, 5e-5), r=np.ones(3), v_leak=np.zeros(3),
                                     v_threshold=np.ones(3), v_reset=np.zeros(3))}),
     r"node 'lif' \(LIF\): tau\[0\] = 5e-05 s is shorter than dt = 0.0001 s"),
])
def test_bad_graphs_name_the_node(graph, message, tmp_path):
    with pytest.raises(NetworkValidationError, match=message):
        import_nir(graph, dt=1e-4)


def test_unknown_schema_version(tmp_path):
    net, _ = recurrent_bias_case()
    graph = fixed_point_network_to_nir(net, DT)
    graph.metadata[KEY]["schema_version"] = 99
    write_nir(graph, tmp_path / "v.nir")
    with pytest.raises(NetworkValidationError, match="schema_version = 99 is not supported"):
        import_nir(tmp_path / "v.nir")


def test_dt_that_contradicts_the_contract(tmp_path):
    net, _ = recurrent_bias_case()
    write_nir(fixed_point_network_to_nir(net, DT), tmp_path / "n.nir")
    with pytest.raises(InputError, match=r"declares dt = 0\.001 s"):
        import_nir(tmp_path / "n.nir", dt=1e-4)


def bad_files(tmp_path):
    net, _ = recurrent_bias_case()
    good = tmp_path / "good.nir"
    write_nir(fixed_point_network_to_nir(net, DT), good)
    truncated = tmp_path / "truncated.nir"
    truncated.write_bytes(good.read_bytes()[:2000])
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    text = tmp_path / "text.nir"
    text.write_text("not hdf5")
    return {"truncated": (truncated, "not a readable NIR file"),
            "not NIR": (other, "an HDF5 file but not a NIR graph"),
            "text": (text, "not a readable NIR file"),
            "missing": (tmp_path / "nope.nir", "no such file")}


def test_bad_files_give_one_line_errors(tmp_path):
    for path, message in bad_files(tmp_path).values():
        with pytest.raises(InputError, match=message):
            import_nir(path)


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_cli_import_errors_exit_2_without_traceback(tmp_path, capsys):
    for path, message in bad_files(tmp_path).values():
        assert exit_code(["import", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_export_and_import(tmp_path, capsys):
    net, _ = recurrent_bias_case()
    from neurodeploy.network_io import save_network

    save_network(net, tmp_path / "net.npz")
    # a bare network file does not know its dt
    assert exit_code(["export", str(tmp_path / "net.npz"), "--nir", str(tmp_path / "x.nir")]) == 2
    assert "--dt" in capsys.readouterr().err
    assert not (tmp_path / "x.nir").exists()
    assert exit_code(["export", str(tmp_path / "net.npz"), "--dt", "0.002",
                      "--nir", str(tmp_path / "x.nir"), "--onnx", str(tmp_path / "x.onnx")]) == 0
    assert "8 Delay" in capsys.readouterr().out
    assert exit_code(["import", str(tmp_path / "x.nir"), "--out", str(tmp_path / "back.npz")]) == 0
    from neurodeploy.network_io import load_network

    assert_same_integers(net, load_network(tmp_path / "back.npz"))


def test_float_network_validation_names_the_field():
    with pytest.raises(NetworkValidationError, match=r"population 'p': du\[0\] = 0 is out of "
                                                     r"range; allowed \(0, 1\]"):
        FloatPopulation(1, du=0.0, dv=0.1, vth=1.0, name="p")
    with pytest.raises(NetworkValidationError, match="delays must be integers"):
        FloatProjection("input", "p", np.ones((1, 1)), delays=1.5)


def test_contract_json_config_is_plain_json(tmp_path):
    model, _ = small_model()
    graph = float_network_to_nir(model.to_float_network(dt=5e-3),
                                 network_config=model.config.to_json())
    write_nir(graph, tmp_path / "m.nir")
    assert json.loads(nir.read(tmp_path / "m.nir").metadata[KEY]["network_config"])["seed"] == 1


def lif_norse_path() -> str:
    from importlib import resources

    return str(resources.files("neurodeploy.data").joinpath("nir_paper_single_lif",
                                                              "lif_norse.nir"))


def conformance_dataset(tmp_path):
    from neurodeploy.conformance import load_recording
    from neurodeploy.models.datasets.format import SpikeDataset, save_dataset

    rng = np.random.default_rng(0)
    first = load_recording("lif_exact").input_spikes[None, :, None]
    x = np.concatenate([first, rng.random((19, 1000, 1)) < 0.02]).astype(np.uint8)
    save_dataset(SpikeDataset(x, np.zeros(20, np.int64), 1, 1e-4, "custom"),
                 tmp_path / "data.npz")
    return str(tmp_path / "data.npz"), x


def test_quantize_a_nir_graph_spikes_like_the_chip(tmp_path, capsys):
    """PTQ of the NIR paper's graph (dt = 1e-4 s) gives the chip's output spikes."""
    from neurodeploy import load_network
    from neurodeploy.conformance import load_recording

    data, x = conformance_dataset(tmp_path)
    out = tmp_path / "q"
    assert exit_code(["quantize", lif_norse_path(), "--data", data, "--calib", "10",
                      "--dt", "1e-4", "--out", str(out)]) == 0
    net = load_network(out / "network.npz")
    (pop,) = net.populations.values()
    assert pop.du == 4095 and pop.dv == 164  # round(4096 * 1e-4 / 2.5e-3)
    got = simulate(net, x[:1].astype(bool)).spikes
    chip = load_recording("lif_lava_loihi_fixed").output_spikes
    assert np.array_equal(next(iter(got.values()))[0, :, 0], chip)
    q = json.loads((out / "quantization.json").read_text())
    assert q["dt"] == 1e-4 and q["dt_source"] == "argument" and not q["warnings"]
    assert import_nir(out / "source.nir").dt == 1e-4  # the float graph now says its dt


def test_quantize_a_file_that_is_not_nir_leaves_nothing(tmp_path, capsys):
    data, _ = conformance_dataset(tmp_path)
    (tmp_path / "fake.nir").write_text("hello")
    out = tmp_path / "q"
    assert exit_code(["quantize", str(tmp_path / "fake.nir"), "--data", data,
                      "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a readable NIR file" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".q*"))
    assert exit_code(["quantize", lif_norse_path(), "--out", str(out)]) == 2
    assert "needs --data" in capsys.readouterr().err


def test_output_behind_a_flatten_is_the_neuron_and_behind_weights_is_an_error():
    graph = lif_graph(nodes={"f": nir.Flatten(input_type={"input": np.array([3])}, start_dim=0,
                                              end_dim=-1)},
                      edges=[("lif", "f"), ("f", "output")])
    graph.edges.remove(("lif", "output"))
    assert import_nir(graph, dt=1e-4).network.outputs == ("lif",)
    graph.nodes["f"] = nir.Scale(scale=np.full(3, 2.0))
    with pytest.raises(NetworkValidationError, match="reached from 'f' through weights"):
        import_nir(graph, dt=1e-4)
