"""lava-dl netx files: write_netx / read_netx against netx itself, lava-dl's shipped NTIDIGITS
network against its recorded ground truth, and one-line errors for bad files."""

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection
from neurodeploy import fixed_point as fp
from neurodeploy.artifacts import NETX_FILE, load_deployment
from neurodeploy.errors import InputError, NetworkValidationError
from neurodeploy.exchange.netx import import_netx, netx_weight_shift, read_netx, write_netx
from neurodeploy.simulate import simulate

from netgen import DECAYS

HERE = Path(__file__).parent
DATA = HERE / "data" / "netx"
HAVE_NETX = importlib.util.find_spec("lava.lib.dl.netx") is not None


# ------------------------------------------------------------------- random chains
def _weights(rng, shape, mode: str, exp: int) -> tuple[np.ndarray, np.ndarray]:
    """(IR weights W, effective integers V) with shift(sum W s, exp) == sum V s, inside the
    range netx reproduces: excitatory 0..255 or mixed even -256..254 with a positive weight."""
    k = abs(exp)
    if mode == "excitatory":
        u = rng.integers(0, (255 >> k) + 1, shape)
    else:
        u = 2 * rng.integers(-(128 >> k), (127 >> k) + 1, shape)
    if u.max() <= 0:  # all <= 0: netx shifts as mixed, Lava clips as inhibitory (refused)
        u.flat[0] = 2
    w = u if exp >= 0 else u << k
    v = u << exp if exp >= 0 else u
    return w, v


def random_chain(seed: int) -> FixedPointNetwork:
    """A network netx can hold: input -> 1..3 populations in a chain, self-recurrence,
    axonal/per-synapse/uniform delays up to 62, biases, weight exponents -2..2."""
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 6))
    pops, projs, src, n_src = {}, [], "input", n_in
    for k in range(int(rng.integers(1, 4))):
        name, size = f"p{k}", int(rng.integers(1, 7))
        bias_mant, bias_exp = 0, 0
        if rng.random() < 0.5:
            bias_mant, bias_exp = ((int(rng.integers(-40, 41)), 6) if rng.random() < 0.5
                                   else (64 * int(rng.integers(-30, 31)), 0))
        pops[name] = LIFPopulation(size, du=int(rng.choice(DECAYS)), dv=int(rng.choice(DECAYS)),
                                   vth=int(rng.choice([1, 3, 10, 40, 200])),
                                   bias_mant=bias_mant, bias_exp=bias_exp)
        recurrent = (src != "input" and rng.random() < 0.4) or rng.random() < 0.2
        exp = int(rng.choice([0, 0, 1, 2, -1, -2]))
        w, _ = _weights(rng, (size, n_src), "mixed" if recurrent or rng.random() < 0.5
                        else "excitatory", exp)
        delays = None
        if not recurrent:
            hi = 62 if rng.random() < 0.2 else 4
            delays = [None, int(rng.integers(0, hi + 1)), rng.integers(0, hi + 1, n_src),
                      rng.integers(0, hi + 1, (size, n_src))][int(rng.integers(4))]
        projs.append(Projection(src, name, w, weight_exp=exp, delays=delays))
        if recurrent:
            w_rec, _ = _weights(rng, (size, size), "mixed", exp)
            projs.append(Projection(name, name, w_rec, weight_exp=exp))
        src, n_src = name, size
    return FixedPointNetwork(n_in, pops, projs)


def random_input(seed: int, net: FixedPointNetwork, steps: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return (rng.random((steps, net.n_inputs)) < rng.uniform(0.2, 0.7)).astype(np.uint8)


def assert_same_integers(a: FixedPointNetwork, b: FixedPointNetwork) -> None:
    assert a.n_inputs == b.n_inputs and list(a.populations) == list(b.populations)
    for name, p in a.populations.items():
        q = b.populations[name]
        for key in ("du", "dv", "vth"):
            assert np.array_equal(p.param(key), q.param(key)), (name, key)
        assert np.array_equal(fp.effective_bias(p.param("bias_mant"), p.param("bias_exp")),
                              fp.effective_bias(q.param("bias_mant"), q.param("bias_exp")))
    assert len(a.projections) == len(b.projections)
    for p, q in zip(a.projections, b.projections, strict=True):
        assert (p.src, p.dst, p.weight_exp) == (q.src, q.dst, q.weight_exp), p.label
        assert np.array_equal(p.weights, q.weights), p.label
        assert np.array_equal(p.delay_matrix(), q.delay_matrix()), p.label


@pytest.mark.parametrize("seed", range(40))
def test_write_then_read_is_the_identity_on_the_integers(seed, tmp_path):
    net = random_chain(seed)
    write_netx(net, tmp_path / "n.net")
    back = import_netx(tmp_path / "n.net")
    assert back.lag == 0 and back.warnings == ()
    assert_same_integers(net, back.network)


def test_written_file_holds_what_netx_reads(tmp_path):
    """The datasets netx reads, with its rules applied by hand: iDecay = du + 1, bias in
    units of 64, weights as the effective integers, per-source delays as an (in,) vector."""
    pops = {"a": LIFPopulation(3, du=10, dv=20, vth=5, bias_mant=3, bias_exp=7)}
    w = np.array([[2, 4], [6, 0], [0, 8]])
    net = FixedPointNetwork(2, pops, [Projection("input", "a", w, weight_exp=-1,
                                                 delays=[3, 0])])
    write_netx(net, tmp_path / "a.net")
    with h5py.File(tmp_path / "a.net") as f:
        assert f["layer/0/type"][0] == b"input" and list(f["layer/0/shape"][()]) == [2]
        g = f["layer/1"]
        assert g["type"][0] == b"dense" and list(g["shape"][()]) == [3]
        assert g["neuron/type"][()] == b"CUBA"
        assert (g["neuron/iDecay"][()], g["neuron/vDecay"][()], g["neuron/vThMant"][()]) == \
            (11, 20, 5)
        assert np.array_equal(g["weight"][()], [[1, 2], [3, 0], [0, 4]])
        assert np.array_equal(g["bias"][()], [6, 6, 6])  # 3 << 7 = 6 << 6
        assert np.array_equal(g["delay"][()], [3, 0])


def test_netx_weight_shift_follows_optimize_weight_bits():
    # excitatory 0..63: shift 2 (255 / 63 = 4.05), bits 8 - 2 - 0; exponent -2
    w, bits, exp = netx_weight_shift(np.array([[1, 63], [0, 5]]))
    assert (bits, exp) == (6, -2) and np.array_equal(w, [[4, 252], [0, 20]])
    # mixed: min(127/100, 128/60) = 1.27 -> floor(log2) 0, + 1 signed
    w, bits, exp = netx_weight_shift(np.array([[100, -60]]))
    assert (bits, exp) == (8 - 1 - (2 - 1), -1) and np.array_equal(w, [[200, -120]])
    with pytest.raises(ValueError, match="zero"):
        netx_weight_shift(np.zeros((2, 2)))


# ------------------------------------------------------------------------ refusals
def _pop(size=2, **kw):
    return LIFPopulation(size, **{"du": 1, "dv": 2, "vth": 3, **kw})


@pytest.mark.parametrize(("pops", "projs", "needle"), [
    ({"a": _pop(du=[1, 2])}, [("input", "a", [[1], [1]], {})],
     "population 'a': du differs between neurons"),
    ({"a": _pop(bias_mant=37)}, [("input", "a", [[1], [1]], {})],
     "population 'a': bias[0] = 37"),
    ({"a": _pop()}, [("input", "a", [[3], [1]], {"weight_exp": -1})],
     "projection 'input->a': weight_exp -1 floors"),
    ({"a": _pop()}, [("input", "a", [[1], [1]], {}), ("a", "a", [[2, 0], [0, 2]],
                                                      {"delays": 1})],
     "population 'a': netx's dense_rec"),
    ({"a": _pop(), "b": _pop()}, [("input", "a", [[1], [1]], {}),
                                  ("a", "b", [[1, 1], [1, 1]], {}),
                                  ("input", "b", [[1], [1]], {})],
     "the input projects to 2 other populations"),
    ({"a": _pop(), "b": _pop()}, [("input", "a", [[1], [1]], {}),
                                  ("a", "b", [[1, 1], [1, 1]], {}),
                                  ("b", "a", [[1, 1], [1, 1]], {})],
     "projection 'b->a': netx layers take one feed-forward input"),
    ({"a": _pop()}, [("input", "a", [[-128], [-128]], {})],
     "projection 'input->a': netx would change its weights"),
    ({"a": _pop()}, [("input", "a", [[0], [0]], {})], "all weights are zero"),
])
def test_write_refuses_what_netx_would_run_differently(tmp_path, pops, projs, needle):
    net = FixedPointNetwork(1, pops, [Projection(s, d, np.array(w), **kw)
                                      for s, d, w, kw in projs])
    with pytest.raises(InputError, match=re.escape(needle)) as info:
        write_netx(net, tmp_path / "x.net")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_export_writes_no_file_when_netx_refuses_one(tmp_path):
    """NIR and ONNX would be fine; the netx refusal must leave neither behind."""
    from neurodeploy import save_network
    from neurodeploy.exchange.export import export_artifacts

    net = FixedPointNetwork(1, {"a": _pop()}, [Projection("input", "a", np.array([[-128], [-128]]))])
    save_network(net, tmp_path / "n.npz")
    outs = {"nir_out": tmp_path / "n.nir", "onnx_out": tmp_path / "n.onnx",
            "netx_out": tmp_path / "n.net"}
    with pytest.raises(InputError, match="netx would change its weights"):
        export_artifacts(tmp_path / "n.npz", dt=0.001, **{k: str(v) for k, v in outs.items()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.npz"]


# ---------------------------------------------------------------- shipped network
def _ntidigits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / "ntidigits_gt.npz") as d:
        steps = int(d["steps"])
        return (np.unpackbits(d["input"], axis=1, count=steps),
                np.unpackbits(d["output"], axis=1, count=steps))


def test_ntidigits_reproduces_its_recorded_ground_truth():
    """lava-dl's NTIDIGITS network (3 dense LOIHI layers, per-output delays up to 62)
    on the reference: every one of the 22,572 recorded output spikes, one step later
    (the recording's step t + 1 is the reference's step t)."""
    imported = import_netx(DATA / "ntidigits.net", num_layers=5)
    net = imported.network
    assert [p.size for p in net.populations.values()] == [256, 256, 242]
    assert [p.delay_kind for p in net.projections] == ["synaptic", "synaptic", "none"]
    assert imported.lag == 0 and net.max_delay == 62
    x, gt = _ntidigits()
    out = simulate(net, x.T[None], target="reference").spikes[net.outputs[0]][0].T
    assert gt.sum() == 22572
    assert np.array_equal(out[:, :-1], gt[:, 1:])


def test_ntidigits_average_layer_is_named_and_the_loader_reads_dense_files(tmp_path):
    with pytest.raises(InputError, match=r"unsupported layers: 5 \(average\)"):
        read_netx(DATA / "ntidigits.net")
    net = import_netx(DATA / "ntidigits.net", num_layers=5).network
    write_netx(net, tmp_path / "n.net")
    dep = load_deployment(tmp_path / "n.net")
    assert dep.kind == NETX_FILE
    assert_same_integers(net, dep.fixed)


# ------------------------------------------------------------------------ bad files
def _netx_file(path: Path, layers: list[dict]) -> Path:
    with h5py.File(path, "w") as f:
        for i, layer in enumerate(layers):
            for key, value in layer.items():
                f[f"layer/{i}/{key}"] = value
    return path


CUBA = {"neuron/type": b"CUBA", "neuron/iDecay": 1, "neuron/vDecay": 1, "neuron/vThMant": 1}
INPUT = {"type": np.array([b"input"], "S10"), "shape": [4]}


def _dense(n_out, n_in, kind=b"dense", **extra):
    return {"type": np.array([kind], "S10"), "shape": [n_out],
            "weight": np.ones((n_out, n_in), np.float32), **CUBA, **extra}


#: The cases also run through the CLI (import and run): a file that is no HDF5 and one
#: whose layers netx has but neurodeploy does not read.
CLI_CASES = ("not an HDF5 file", r"unsupported layers: 1 \(pool\), 3 \(concat\)")


@pytest.mark.parametrize(("layers", "needle"), [
    (None, "not an HDF5 file"),
    ([], "no 'layer' group"),
    ([INPUT, {k: v for k, v in _dense(3, 4).items() if k != "weight"}],
     "layer 1: dataset 'weight' is missing"),
    ([INPUT, {"type": np.array([b"pool"], "S10")}, _dense(3, 4),
      {"type": np.array([b"concat"], "S10")}],
     r"unsupported layers: 1 \(pool\), 3 \(concat\)"),
    ([INPUT, {k: v for k, v in _dense(3, 4).items() if not k.startswith("neuron")}],
     r"unsupported layers: 1 \(dense without a neuron"),
    ([INPUT, _dense(3, 5)], r"layer 1: weight has shape \(3, 5\); expected \(3, 4\)"),
    ([INPUT, _dense(3, 4, delay=np.ones(7))], r"layer 1: delay has shape \(7,\)"),
    ([INPUT, _dense(3, 4, **{"neuron/vDecay": 5000})], "layer 1: .*dv = 5000"),
])
def test_bad_files_get_one_line_errors_and_exit_2(tmp_path, layers, needle):
    path = tmp_path / "bad.net"
    if layers is None:
        path.write_text("not a network\n")
    else:
        _netx_file(path, layers)
    with pytest.raises(InputError, match=needle) as info:
        read_netx(path)
    assert "\n" not in str(info.value)
    if needle not in CLI_CASES:  # the CLI's path from the error to exit 2 is the same for all
        return
    for args in (("import", str(path)), ("run", str(path), "--spikes", "x.npy", "--out",
                                         str(tmp_path / "t.npz"))):
        proc = subprocess.run([sys.executable, "-m", "neurodeploy", *args], text=True,
                              capture_output=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_cli_export_netx_then_import(tmp_path):
    net = random_chain(3)
    from neurodeploy import save_network

    save_network(net, tmp_path / "n.npz")
    cmd = [sys.executable, "-m", "neurodeploy"]
    proc = subprocess.run([*cmd, "export", str(tmp_path / "n.npz"), "--netx",
                           str(tmp_path / "n.net")], text=True, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([*cmd, "import", str(tmp_path / "n.net"), "--out",
                           str(tmp_path / "back.npz")], text=True, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    from neurodeploy import load_network

    assert_same_integers(net, load_network(tmp_path / "back.npz"))
    proc = subprocess.run([*cmd, "lint", str(tmp_path / "n.net")], text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{net.n_neurons}" in proc.stdout  # the neuron count of the file's network


def test_cli_imports_pilotnet_with_timed_resets_and_lints_it_per_layer(tmp_path):
    cmd = [sys.executable, "-m", "neurodeploy"]
    proc = subprocess.run([*cmd, "import", str(DATA / "pilotnet_lif.net"), "--reset-interval",
                           "16", "--out", str(tmp_path / "p.npz")], text=True,
                          capture_output=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "layer0 -> layer1: 76032x39600 (convolution)" in proc.stdout
    assert "layer1 16/1" in proc.stdout and "layer10 16/9" in proc.stdout
    from neurodeploy import load_network

    net = load_network(tmp_path / "p.npz")
    assert [p.reset_offset for p in net.populations.values()] == list(range(10))
    proc = subprocess.run([*cmd, "lint", str(tmp_path / "p.npz"), "--json",
                           str(tmp_path / "lint.json")], text=True, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    layers = json.loads((tmp_path / "lint.json").read_text())["estimates"]["layers"]
    assert layers["layer1"]["neurons"] == 76032
    assert layers["layer1"]["synapses"] == _conv_synapses(net.projections[1].conv)[0]
    proc = subprocess.run([*cmd, "import", str(tmp_path / "p.npz"), "--reset-interval", "4"],
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "reset_interval = 4 applies to netx files (.net) only" in proc.stderr


def test_lava_dl_tests_package_does_not_shadow_ours():
    """lava-dl's wheel installs a top-level ``tests`` package; ours is imported by path."""
    import netgen

    assert Path(netgen.__file__).resolve().parent == HERE.resolve()


# ------------------------------------------------------------- against netx itself
@pytest.mark.lava
@pytest.mark.skipif(not HAVE_NETX, reason="lava-dl is not installed (make test installs it)")
@pytest.mark.parametrize("seed", [5, 9, 21])  # every population spikes
def test_written_files_run_in_netx_with_the_reference_spikes(seed, tmp_path):
    """write_netx -> lava-dl's netx on Lava's CPU simulator gives the reference's spikes
    in every layer, step for step (lag 0). The seeds cover recurrence, axonal, per-synapse
    and uniform delays up to 56 steps, biases and weight exponents -2..2."""
    net = random_chain(seed)
    x = random_input(seed, net, 120)
    got = simulate(net, x[None], target="netx")  # write_netx, then lava-dl's netx on Lava
    ref = simulate(net, x[None], target="reference")
    for name in net.populations:
        np.testing.assert_array_equal(got.spikes[name], ref.spikes[name], err_msg=name)
    assert all(s.sum() > 0 for s in ref.spikes.values())


@pytest.mark.lava
@pytest.mark.skipif(not HAVE_NETX, reason="lava-dl is not installed (make test installs it)")
def test_verify_runs_the_netx_backend_and_gates_on_it(tmp_path):
    """``verify --backends reference,netx`` on two samples: the gate reference==netx holds
    (exit 0), and netx records no v, so the report compares spikes only."""
    from neurodeploy import save_network

    net = random_chain(9)
    save_network(net, tmp_path / "n.npz")
    np.save(tmp_path / "x.npy", np.stack([random_input(s, net, 60) for s in (1, 2)]))
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", "verify", str(tmp_path / "n.npz"),
                           "--data", str(tmp_path / "x.npy"), "--backends", "reference,netx",
                           "--require", "reference==netx", "--report", str(tmp_path / "rep")],
                          text=True, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "reference = netx" in proc.stdout


def test_netx_backend_refuses_what_netx_cannot_hold(tmp_path):
    """A network that is not a chain: the netx target names why, before starting Lava; the
    CLI says it in one line with exit 2."""
    pops = {n: LIFPopulation(2, du=100, dv=100, vth=5) for n in ("a", "b")}
    projs = [Projection("input", "a", np.full((2, 2), 4)), Projection("input", "b",
                                                                   np.full((2, 2), 4))]
    net = FixedPointNetwork(2, pops, projs)
    with pytest.raises(InputError, match="the input projects to 2 other populations"):
        simulate(net, np.ones((1, 5, 2), bool), target="netx")
    from neurodeploy import save_network

    save_network(net, tmp_path / "n.npz")
    np.save(tmp_path / "x.npy", np.ones((1, 5, 2), np.uint8))
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", "run", str(tmp_path / "n.npz"),
                           "--spikes", str(tmp_path / "x.npy"), "--target", "netx", "--out",
                           str(tmp_path / "t.npz")], text=True, capture_output=True, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "t.npz").exists()


# ------------------------------------------------------------------- convolutions
def random_conv_chain(seed: int) -> FixedPointNetwork:
    """input (C, H, W) -> conv -> conv (groups, dilation) -> flatten -> dense: strides,
    paddings, channel biases, even mixed-sign kernels, a weight exponent on the dense."""
    rng = np.random.default_rng(seed)
    c0 = int(rng.integers(1, 3)) * 2
    in_shape = (c0, int(rng.integers(6, 10)), int(rng.integers(8, 11)))
    c1 = Projection.conv2d("input", "c1", 2 * rng.integers(-20, 40, (4, c0, 3, 3)), in_shape,
                           stride=(int(rng.integers(1, 3)), 1), padding=(1, int(rng.integers(2))))
    c2 = Projection.conv2d("c1", "c2", 2 * rng.integers(-20, 40, (6, 2, 2, 3)),
                           c1.conv.out_shape, groups=2, dilation=(1, 2))
    n1, n2 = (int(np.prod(p.conv.out_shape)) for p in (c1, c2))
    dense = Projection("c2", "d", 2 * rng.integers(-30, 60, (5, n2)), weight_exp=1)
    channel_bias = np.repeat(rng.integers(-2, 5, 4), n1 // 4)
    pops = {"c1": LIFPopulation(n1, du=300, dv=200, vth=40, bias_mant=channel_bias,
                                bias_exp=6),
            "c2": LIFPopulation(n2, du=100, dv=400, vth=60),
            "d": LIFPopulation(5, du=500, dv=100, vth=100)}
    return FixedPointNetwork(int(np.prod(in_shape)), pops, [c1, c2, dense])


@pytest.mark.parametrize("seed", range(6))
def test_conv_chains_write_then_read_is_the_identity(seed, tmp_path):
    net = random_conv_chain(seed)
    write_netx(net, tmp_path / "c.net")
    with h5py.File(tmp_path / "c.net") as f:
        assert [f[f"layer/{i}/type"][0] for i in range(5)] == [b"input", b"conv", b"conv",
                                                                b"flatten", b"dense"]
        assert list(f["layer/0/shape"]) == list(net.projections[0].conv.in_shape)
    back = read_netx(tmp_path / "c.net")
    assert_same_integers(net, back)
    for p, q in zip(net.projections, back.projections, strict=True):
        assert (p.conv is None) == (q.conv is None), p.label
        if p.conv is not None:
            assert (p.conv.stride, p.conv.padding, p.conv.dilation, p.conv.groups) == (
                q.conv.stride, q.conv.padding, q.conv.dilation, q.conv.groups)


@pytest.mark.lava
@pytest.mark.skipif(not HAVE_NETX, reason="lava-dl is not installed (make test installs it)")
@pytest.mark.parametrize("seed", [0, 3])
def test_conv_chains_run_in_netx_with_the_reference_spikes(seed):
    """Lava's Conv process inside netx (kernel, stride, padding, dilation, groups in netx's
    W, H, C layout) gives the reference's spikes in every layer, step for step."""
    net = random_conv_chain(seed)
    x = np.random.default_rng(seed).random((1, 40, net.n_inputs)) < 0.3
    got = simulate(net, x, target="netx")
    ref = simulate(net, x, target="reference")
    for name in net.populations:
        assert ref.spikes[name].sum() > 0, name
        np.testing.assert_array_equal(got.spikes[name], ref.spikes[name], err_msg=name)


def _input_bias(net: FixedPointNetwork, bias: np.ndarray) -> FixedPointNetwork:
    """``net`` with its input layer ('layer0') driven by ``bias`` (netx's bias_mant, with
    the bias_exp 6 netx gives every bias): how netx feeds an image."""
    first = dataclasses.replace(net.populations["layer0"], bias_mant=bias, bias_exp=6)
    return FixedPointNetwork(net.n_inputs, {**net.populations, "layer0": first},
                             net.projections, outputs=net.outputs)


def _conv_synapses(c) -> tuple[int, int]:
    """(nonzero synapses, largest nonzero fan-in) of a convolution, counted by torch's conv2d
    of the kernel's nonzero taps over an all-ones input."""
    import torch

    taps = torch.from_numpy((c.kernel != 0).astype(np.float64))
    per_output = torch.nn.functional.conv2d(
        torch.ones((1, *c.in_shape), dtype=torch.float64), taps, stride=c.stride,
        padding=c.padding, dilation=c.dilation, groups=c.groups)
    return int(per_output.sum()), int(per_output.max())


def _pilotnet(reset_interval: int = 0) -> tuple[FixedPointNetwork, np.ndarray]:
    """lava-dl's PilotNet LIF as imported, and its image as the input layer's bias (C, H, W)."""
    net = import_netx(DATA / "pilotnet_lif.net", reset_interval=reset_interval).network
    return net, np.load(DATA / "pilotnet_image.npy").transpose(2, 1, 0).ravel().astype(int)


def test_pilotnet_imports_as_kernels_saves_small_and_lints_per_layer(tmp_path):
    """An image-sized CNN (3 x 66 x 200 input, 76,032 neurons in its first convolution)
    imports without dense matrices (which would hold 6.9e9 weights), saves as kernels and
    loads back equal, and lint counts each layer's synapses as torch's conv2d does."""

    from neurodeploy.network_io import load_network, save_network
    from neurodeploy.quantize.lint import lint_network

    net, _ = _pilotnet()
    assert [p.size for p in net.populations.values()] == [
        39600, 76032, 26460, 8064, 5632, 2560, 100, 50, 10, 1]
    assert [p.conv is not None for p in net.projections] == [True] * 6 + [False] * 4
    with pytest.raises(NetworkValidationError, match=r"dense equivalent \(76,032 x 39,600"):
        net.projections[1].weights  # noqa: B018
    save_network(net, tmp_path / "p.npz")
    assert (tmp_path / "p.npz").stat().st_size < 1_000_000
    loaded = load_network(tmp_path / "p.npz")
    for a, b in zip(net.projections, loaded.projections, strict=True):
        assert (a.src, a.dst, a.weight_exp, a.sign_mode) == (b.src, b.dst, b.weight_exp,
                                                             b.sign_mode)
        assert np.array_equal(a.conv.kernel, b.conv.kernel) if a.conv else np.array_equal(
            a.weights, b.weights)
    report = lint_network(net)
    assert not report.violations
    for p in net.projections[:6]:
        layer = report.estimates["layers"][p.dst]
        assert (layer["synapses"], report.estimates["fan_in"][p.dst]) == _conv_synapses(p.conv)
        assert layer["neurons"] == net.populations[p.dst].size


def _wheel_recordings() -> Path:
    """lava-dl's shipped PilotNet LIF recordings, read where the wheel installed them (35 MB,
    not vendored; the wheel's top-level ``tests`` package is not imported)."""
    import lava.lib.dl.netx as netx

    return Path(netx.__file__).parents[4] / "tests/lava/lib/dl/netx/gts/pilotnet_lif"


@pytest.mark.skipif(not HAVE_NETX, reason="lava-dl is not installed (make test installs it)")
def test_pilotnet_reproduces_its_recorded_ground_truth_with_netx_timed_resets():
    """lava-dl's PilotNet LIF ground truth (spikes, u and v of every layer at every step,
    what its Loihi 2 test ``test_hdf5_nx.py`` checks the chip against, with netx's
    ``reset_interval=16``): imported with the same timed resets, the reference (and
    torch-int, with torch's conv2d) gives them in the 9 spiking layers for steps 0-16, bit
    for bit (v where a neuron spikes is recorded as 128, where Lava's model has just reset
    it to 0)."""
    gts = _wheel_recordings()
    net, image = _pilotnet(reset_interval=16)
    steps = 17
    driven, x = _input_bias(net, image), np.zeros((1, steps, net.n_inputs), bool)
    got = simulate(driven, x, record=("spikes", "u", "v"))
    torch_int = simulate(driven, x, target="torch-int", record=("spikes", "u", "v"))
    names = ["input"] + [f"conv-{i}" for i in range(5)] + [f"fc-{i}" for i in range(3)]
    for pop, name in zip(list(net.populations)[:9], names, strict=True):
        spikes = got.spikes[pop][0]
        ours = {"": spikes, "-u": got.u[pop][0], "-v": np.where(spikes, 128, got.v[pop][0])}
        for suffix, values in ours.items():
            if name == "input" and suffix:
                continue  # the input layer's u and v are not recorded
            rec = np.load(gts / f"{name}{suffix}.npy")  # (W, H, C, steps) or (n, steps)
            rec = rec.transpose(*range(rec.ndim - 2, -1, -1), rec.ndim - 1)
            rec = rec.reshape(-1, rec.shape[-1])[:, :steps].T
            assert rec.shape == values.shape, name
            np.testing.assert_array_equal(values, rec, err_msg=f"{name}{suffix}")
        assert spikes.sum() > 0, name
        for kind in ("spikes", "u", "v"):  # torch's conv2d gives the same integers
            np.testing.assert_array_equal(getattr(torch_int, kind)[pop], getattr(got, kind)[pop])


def test_a_negative_reset_interval_is_refused_before_the_file_is_read(tmp_path):
    """The argument is checked first: a missing file still gets the reset_interval error."""
    with pytest.raises(InputError, match=r"reset_interval = -3; allowed >= 0"):
        import_netx(tmp_path / "missing.net", reset_interval=-3)


def test_tinynet_reproduces_its_recorded_output_with_netx_timed_resets():
    """lava-dl's tinynet test: with every layer reset every 17 steps (layer k before steps
    k, k + 17, ...), netx's output at steps 2-16 is the recorded output's steps 1-15. The
    reference, from the file imported with ``reset_interval=17``, gives all of it."""
    net = import_netx(DATA / "tiny.net", reset_interval=17).network
    bias = np.load(DATA / "tinynet_input_bias.npy").transpose(2, 1, 0).ravel().astype(int)
    got = simulate(_input_bias(net, bias), np.zeros((1, 20, net.n_inputs), bool))
    recorded = np.load(DATA / "tinynet_output.npy").reshape(36, 16)[:, 1:].T  # (step, neuron)
    assert recorded.sum() > 80
    np.testing.assert_array_equal(got.spikes["layer2"][0, 2:17], recorded)


@pytest.mark.lava
@pytest.mark.skipif(not HAVE_NETX, reason="lava-dl is not installed (make test installs it)")
def test_tinynet_runs_in_the_reference_as_in_netx():
    """lava-dl's shipped convolutional tinynet (input neurons driven by its recorded image
    bias, two strided convs with channel biases), read by neurodeploy: the reference gives
    netx's own spikes on the original file in every layer at every step."""
    from neurodeploy.targets.netx import run_netx_file

    imported = import_netx(DATA / "tiny.net")
    net = imported.network
    assert [p.conv is not None for p in net.projections] == [True, True, True]
    bias = np.load(DATA / "tinynet_input_bias.npy").transpose(2, 1, 0).ravel().astype(int)
    driven = _input_bias(net, bias)
    x = np.zeros((1, 20, net.n_inputs), bool)  # the image enters through the bias only
    got = run_netx_file(DATA / "tiny.net", x, 3, (3, 16, 16), input_bias=bias)
    ref = simulate(driven, x, target="reference")
    for i, name in enumerate(net.populations):
        assert ref.spikes[name].sum() > 0, name
        np.testing.assert_array_equal(got[i], ref.spikes[name], err_msg=name)


def test_conv_files_that_do_not_chain_and_conv_writes_netx_cannot_run(tmp_path):
    net = random_conv_chain(1)
    write_netx(net, tmp_path / "c.net")
    with h5py.File(tmp_path / "c.net", "a") as f:
        f["layer/2/shape"][...] = np.array(f["layer/2/shape"]) + 1
    with pytest.raises(InputError, match=r"layer 2: conv output is \(6, .*the layers do not "
                                         "chain"):
        read_netx(tmp_path / "c.net")
    pops = {"a": LIFPopulation(8, du=100, dv=100, vth=5),
            "b": LIFPopulation(2 * 4 * 4, du=100, dv=100, vth=5)}
    after_dense = FixedPointNetwork(4, pops, [
        Projection("input", "a", np.full((8, 4), 4)),
        Projection.conv2d("a", "b", np.full((2, 2, 1, 1), 4), (2, 2, 2), padding=(1, 1))])
    with pytest.raises(InputError, match="previous netx layer has shape \\(8,\\)"):
        write_netx(after_dense, tmp_path / "x.net")
    big = FixedPointNetwork(8, {"b": LIFPopulation(1, du=100, dv=100, vth=5)}, [
        Projection.conv2d("input", "b", np.full((1, 2, 2, 2), 200), (2, 2, 2), weight_exp=2)])
    with pytest.raises(InputError, match=r"not integers within -256\.\.255"):
        write_netx(big, tmp_path / "x.net")
    assert not (tmp_path / "x.net").exists()
