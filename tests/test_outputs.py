"""Outputs: a command writes only what it was asked to write. An existing output that is
not the same kind of neurodeploy artifact is refused (exit 2, one line, nothing touched)
unless --overwrite; replacing an earlier artifact of the same kind leaves nothing hidden
beside it."""

import subprocess
import sys

import numpy as np
import pytest

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, save_network


def cli(*args):
    return subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True)


@pytest.fixture
def net_file(tmp_path):
    net = FixedPointNetwork(3, {"h": LIFPopulation(2, du=0, dv=0, vth=1)},
                            [Projection("input", "h", np.full((2, 3), 64))])
    path = save_network(net, tmp_path / "net.npz")
    data = np.random.default_rng(0).random((4, 20, 3)) < 0.5
    np.savez(tmp_path / "spikes.npz", spikes=data)
    return path


def verify_args(net_file, report):
    return ("verify", str(net_file), "--backends", "reference,torch-int", "--data",
            str(net_file.parent / "spikes.npz"), "--report", str(report))


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_report_folder_of_other_files_is_refused_and_kept(net_file, tmp_path):
    report = tmp_path / "mine"
    report.mkdir()
    (report / "thesis.tex").write_text("precious")
    proc = cli(*verify_args(net_file, report))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "--overwrite" in proc.stderr
    assert str(report) in proc.stderr and "thesis.tex" in proc.stderr
    assert (report / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in report.iterdir()) == ["thesis.tex"]
    assert hidden(tmp_path) == []


def test_report_path_that_is_a_file_is_refused_and_kept(net_file, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("precious")
    proc = cli(*verify_args(net_file, afile))
    assert proc.returncode == 2 and "is not a folder" in proc.stderr, proc.stderr
    assert afile.read_text() == "precious" and hidden(tmp_path) == []


def test_overwrite_replaces_a_file_and_leaves_nothing_hidden(net_file, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("old")
    proc = cli(*verify_args(net_file, afile), "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert (afile / "summary.json").is_file() and hidden(tmp_path) == []


def test_an_earlier_report_is_replaced_whole(net_file, tmp_path):
    report = tmp_path / "rep"
    assert cli(*verify_args(net_file, report)).returncode == 0
    (report / "stale.txt").write_text("from before")  # inside an earlier report
    proc = cli(*verify_args(net_file, report))
    assert proc.returncode == 0, proc.stderr
    assert not (report / "stale.txt").exists() and (report / "summary.json").is_file()
    assert hidden(tmp_path) == []
