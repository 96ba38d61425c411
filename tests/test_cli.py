"""The command line: help, version, doctor, targets, run, and one-line errors (exit 2)."""

import subprocess
import sys

import numpy as np
import pytest

from neurodeploy import __version__, save_network
from neurodeploy.conformance import nir_paper_single_lif_network


def cli(*args, check_rc=None):
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, timeout=300)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


def test_help_lists_commands():
    out = cli("--help", check_rc=0).stdout
    for command in ("doctor", "targets", "run", "demo", "train", "quantize", "lint", "data", "export",
                    "import"):
        assert command in out


def all_commands() -> list[str]:
    """Every leaf command of the CLI, e.g. "verify", "data make" (so none is forgotten)."""
    import typer.main

    from neurodeploy.cli import app

    def walk(cmd, prefix):
        subs = getattr(cmd, "commands", None)
        if not subs:
            return [prefix.strip()]
        return [c for name, sub in subs.items() for c in walk(sub, f"{prefix} {name}")]

    return walk(typer.main.get_command(app), "")


def test_the_command_list_is_complete():
    assert {"demo", "verify", "study timing", "data make", "import", "export"} <= set(
        all_commands())


@pytest.mark.parametrize("command", all_commands())
def test_every_command_help_has_an_example(command):
    assert "Example:" in cli(*command.split(), "--help", check_rc=0).stdout


def test_version():
    assert cli("--version", check_rc=0).stdout.strip() == f"neurodeploy {__version__}"


def test_doctor_reports_versions_and_targets():
    out = cli("doctor", check_rc=0).stdout
    from importlib.metadata import version

    assert version("lava-nc") in out and version("numpy") in out
    assert "target reference" in out and "target loihi2" in out
    assert "lava-loihi" in out


def test_targets_lists_all_backends():
    out = cli("targets", check_rc=0).stdout
    for name in ("reference", "lava", "lava-float", "loihi2"):
        assert name in out


@pytest.fixture
def files(tmp_path):
    net = save_network(nir_paper_single_lif_network(), tmp_path / "net.npz")
    x = np.zeros((2, 80, 1), bool)
    x[:, ::3] = True
    np.savez(tmp_path / "x.npz", spikes=x)
    return net, tmp_path / "x.npz", x


def test_run_writes_traces_equal_to_the_library(files, tmp_path):
    from neurodeploy import simulate

    net_path, x_path, x = files
    out = tmp_path / "traces.npz"
    cli("run", str(net_path), "--spikes", str(x_path), "--record", "spikes,v", "--out", str(out),
        check_rc=0)
    expected = simulate(nir_paper_single_lif_network(), x, record=("spikes", "v"))
    with np.load(out) as data:
        assert (data["spikes/lif"] == expected.spikes["lif"]).all()
        assert (data["v/lif"] == expected.v["lif"]).all()
        assert data["spikes/lif"].any()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target", "nope"], "target 'nope' is unknown"),
        (["--record", "w"], "record: 'w' cannot be recorded"),
        (["--spikes", "missing.npz"], "missing.npz: no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(files, tmp_path, args, needle):
    net_path, x_path, _ = files
    out = tmp_path / "never.npz"
    base = ["run", str(net_path), "--spikes", str(x_path), "--out", str(out)]
    for i in range(0, len(args), 2):  # override options
        j = base.index(args[i]) if args[i] in base else None
        if j is None:
            base += args[i : i + 2]
        else:
            base[j + 1] = str(tmp_path / args[i + 1]) if args[i] == "--spikes" else args[i + 1]
    proc = cli(*base, check_rc=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_wrong_input_shape_names_the_shape(files, tmp_path):
    net_path, _, _ = files
    np.savez(tmp_path / "bad.npz", spikes=np.zeros((2, 5, 3)))
    proc = cli("run", str(net_path), "--spikes", str(tmp_path / "bad.npz"), "--out",
               str(tmp_path / "o.npz"), check_rc=2)
    assert "data has shape (2, 5, 3); the model takes (samples, steps, 1)" in proc.stderr


def test_debug_shows_the_traceback(files, tmp_path):
    net_path, x_path, _ = files
    proc = cli("--debug", "run", str(net_path), "--spikes", str(x_path), "--out",
               str(tmp_path / "o.npz"), "--target", "nope", check_rc=2)
    assert "Traceback" in proc.stderr and "TargetUnavailableError" in proc.stderr


def test_unreadable_network_file(tmp_path):
    bad = tmp_path / "net.npz"
    bad.write_bytes(b"not a zip")
    np.savez(tmp_path / "x.npz", spikes=np.zeros((1, 2, 1)))
    proc = cli("run", str(bad), "--spikes", str(tmp_path / "x.npz"), "--out",
               str(tmp_path / "o.npz"), check_rc=2)
    assert "cannot read as .npz" in proc.stderr


def test_run_accepts_npy_spikes(files, tmp_path):
    net_path, _, x = files
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "t.npz"
    cli("run", str(net_path), "--spikes", str(tmp_path / "x.npy"), "--out", str(out), check_rc=0)
    with np.load(out) as data:
        assert data["spikes/lif"].shape == x.shape


def test_network_file_missing_an_array_is_a_clean_error(tmp_path):
    from neurodeploy.network_io import network_to_arrays

    arrays = network_to_arrays(nir_paper_single_lif_network())
    del arrays["proj/0/weights"]
    np.savez(tmp_path / "net.npz", **arrays)
    np.savez(tmp_path / "x.npz", spikes=np.zeros((1, 2, 1)))
    proc = cli("run", str(tmp_path / "net.npz"), "--spikes", str(tmp_path / "x.npz"), "--out",
               str(tmp_path / "o.npz"), check_rc=2)
    assert "malformed network file" in proc.stderr and "proj/0/weights" in proc.stderr


@pytest.mark.lava
def test_run_on_lava_matches_the_reference_run(files, tmp_path):
    net_path, x_path, _ = files
    for target in ("reference", "lava"):
        cli("run", str(net_path), "--spikes", str(x_path), "--target", target, "--record",
            "spikes,v,u", "--out", str(tmp_path / f"{target}.npz"), check_rc=0)
    with np.load(tmp_path / "reference.npz") as ref, np.load(tmp_path / "lava.npz") as lava:
        for key in ("spikes/lif", "v/lif", "u/lif"):
            assert (ref[key] == lava[key]).all()
        assert str(lava["target"]) == "lava"


@pytest.mark.lava
@pytest.mark.lava
def test_quick_demo_runs_every_stage(tmp_path):
    """`neurodeploy demo --quick`: every stage, the closing table, and the artifacts."""
    import json

    import nir

    from neurodeploy import load_network

    out = tmp_path / "demo"
    proc = cli("demo", "--quick", "--out", str(out), check_rc=0)
    for stage in ("conformance", "data", "train", "quantize", "lint", "export", "verify"):
        assert stage in proc.stdout
    assert "PASS: chip conformance exact" in proc.stdout
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["passed"] and [g["expr"] for g in summary["gates"]] == [
        "reference==lava", "torch-int==reference", "onnx==reference"]
    accs = {n: b["accuracy"] for n, b in summary["backends"].items()}
    assert accs["lava"] == accs["reference"] == accs["onnx"] == accs["torch-int"]
    for name, acc in accs.items():  # the closing table shows what the summary says
        assert f"{name}" in proc.stdout and f"{100 * acc:.1f}%" in proc.stdout
    graph = nir.read(out / "model.nir")
    assert any(isinstance(n, nir.Delay) for n in graph.nodes.values())
    assert (out / "model.onnx").stat().st_size > 0
    assert load_network(out / "quant" / "network.npz").n_inputs == 20


def test_lint_exit_codes(tmp_path):
    from neurodeploy.network_io import network_to_arrays

    clean = save_network(nir_paper_single_lif_network(), tmp_path / "clean.npz")
    proc = cli("lint", str(clean), "--json", str(tmp_path / "report.json"), check_rc=0)
    assert "no violations" in proc.stdout and "estimates" in proc.stdout
    assert (tmp_path / "report.json").exists()
    arrays = network_to_arrays(nir_paper_single_lif_network())
    meta = arrays["__meta__"]
    arrays["__meta__"] = np.array(str(meta).replace('"dv": 163', '"dv": 5000').replace(
        '"vth": 25', '"vth": 200000'))
    np.savez(tmp_path / "bad.npz", **arrays)
    proc = cli("lint", str(tmp_path / "bad.npz"), check_rc=1)
    assert "dv" in proc.stdout and "5000" in proc.stdout
    assert "vth" in proc.stdout and "200000" in proc.stdout
    (tmp_path / "junk.npz").write_bytes(b"junk")
    proc = cli("lint", str(tmp_path / "junk.npz"), check_rc=2)
    assert len(proc.stderr.strip().splitlines()) == 1
