"""Hostile inputs through the CLI: every bad file, value or option is one line naming the file
or field, exit 2, no traceback, and nothing written.

Each case is a command line, the text its one error line must contain and the paths that
must not exist afterwards. The cases run through the CLI's entry point
(:func:`neurodeploy.cli.main`, what ``python -m neurodeploy`` calls) in this process, one
after another, in one shared folder of small inputs made once with the Python API; the
valid commands run as real subprocesses (``python -m neurodeploy``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from rich.console import Console

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.cli import main as cli_main
from neurodeploy.exchange.nir_export import fixed_point_network_to_nir
from neurodeploy.models.datasets import make_task, save_dataset
from neurodeploy.models.training import TrainConfig, train
from neurodeploy.network_io import network_to_arrays, save_network

STEPS = 3


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    needle: str  # the file or field the one error line names
    absent: tuple[str, ...] = ()  # outputs that must not exist afterwards


def _cli(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def _spikes(folder: Path, name: str, value: float) -> str:
    x = np.zeros((1, STEPS, 2))
    x[0, 1, 1] = value
    np.savez(folder / name, spikes=x)
    return name


def _csv(folder: Path, name: str, rows: list[str]) -> str:
    (folder / name).write_text("".join(f"{r}\n" for r in rows))
    return name


def _make_inputs(folder: Path) -> None:
    """Every input the cases read, written with the Python API (valid ones and bad ones)."""
    save_dataset(make_task("ccisi", seed=0, n_samples=40), folder / "d.npz")
    net = FixedPointNetwork(2, {"out": LIFPopulation(1, du=0, dv=0, vth=1)},
                            [Projection("input", "out", np.full((1, 2), 64))])
    save_network(net, folder / "net.npz")
    (folder / "trunc.npz").write_bytes((folder / "d.npz").read_bytes()[:1000])
    for name in ("zero.npz", "zero.nir", "zero.net"):
        (folder / name).write_bytes(b"")
    (folder / "folder.npz").mkdir()
    # an ONNX model (protobuf bytes) under the name of a network file
    (folder / "model.npz").write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x032.1:\x8a\x01\n")
    (folder / "afile").write_text("not a folder")
    # spikes whose header claims 10^12 steps (nothing behind it): refused before allocating
    _claimed_spikes(folder / "huge.npz", (1000, 10**12, 20))
    # data sets whose spikes header claims 10^12 steps, as their metadata does, and 10^8
    # steps where their metadata says 200 (refused before reading: nothing is behind it)
    _claimed_spikes(folder / "huge_data.npz", (40, 10**12, 20), folder / "d.npz", 10**12)
    _claimed_spikes(folder / "long_data.npz", (40, 10**8, 20), folder / "d.npz")
    _spikes(folder, "ok.npz", 1)
    for name, value in (("two.npz", 2), ("minus.npz", -1), ("half.npz", 0.5)):
        _spikes(folder, name, value)
    _csv(folder, "s25.csv", ["0,1.0,0", "1,2.0,2.5", "0,3.0,0"])
    _csv(folder, "vnan.csv", ["0,1.0,0", "1,nan,1", "0,3.0,0"])
    _csv(folder, "vinf.csv", ["0,1.0,0", "1,inf,1", "0,3.0,0"])
    # a duplicate population name in a network file
    arrays = network_to_arrays(net)
    meta = json.loads(str(arrays["__meta__"]))
    meta["populations"].append(dict(meta["populations"][0]))
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(folder / "dup.npz", **arrays)
    # neurodeploy NIR graphs with a bad contract dt and a NaN weight
    nir.write(folder / "g.nir", fixed_point_network_to_nir(net, 0.005))
    (folder / "trunc.nir").write_bytes((folder / "g.nir").read_bytes()[:500])
    for name, edit in (("negdt.nir", "dt"), ("nanw.nir", "weight")):
        shutil.copy(folder / "g.nir", folder / name)
        with h5py.File(folder / name, "r+") as f:
            if edit == "dt":
                f["node/metadata/neurodeploy/dt"][...] = -0.005
            else:
                weight = next(f["node/nodes"][n]["weight"] for n in f["node/nodes"]
                              if "weight" in f["node/nodes"][n])
                w = weight[()]
                w.flat[0] = np.nan
                weight[...] = w
    # a tiny training run, and copies with a bad config.json
    train(TrainConfig(data=str(folder / "d.npz"), hidden=(4,), delays="none", epochs=1,
                      int_delay_epochs=0, batch_size=16), folder / "run",
          console=_quiet())
    for name, section, key, value in (("run_hidden", "network", "hidden", "sixteen"),
                                      ("run_du", "network", "du", float("nan")),
                                      ("run_lr", "train", "lr", -1.0)):
        shutil.copytree(folder / "run", folder / name)
        config = json.loads((folder / name / "config.json").read_text())
        config[section][key] = value
        (folder / name / "config.json").write_text(json.dumps(config))
    shutil.copytree(folder / "run", folder / "run_cut")
    text = (folder / "run" / "config.json").read_text()
    (folder / "run_cut" / "config.json").write_text(text[: len(text) // 2])


def _claimed_spikes(path: Path, shape: tuple[int, ...], like: Path | None = None,
                    steps: int | None = None) -> None:
    """An .npz whose 'spikes' is only a header claiming ``shape``; with ``like``, that
    data set's labels and metadata beside it (``steps``: its params.steps changed)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spikes.npy", header.getvalue())
        if like is None:
            return
        arrays = dict(np.load(like))
        meta = json.loads(str(arrays["__meta__"]))
        meta["params"]["steps"] = steps or meta["params"]["steps"]
        for name, array in (("labels", arrays["labels"]), ("__meta__", np.array(json.dumps(meta)))):
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())


def _quiet() -> Console:
    return Console(file=io.StringIO())


VERIFY = ("verify", "net.npz", "--data", "ok.npz", "--backends", "reference")

CASES: dict[str, Case] = {
    # ---- files that cannot be read
    "truncated data set": Case(("data", "info", "trunc.npz"), "trunc.npz: cannot read as .npz"),
    "zero-byte data set": Case(("data", "info", "zero.npz"), "zero.npz: is empty"),
    "missing data set": Case(("data", "info", "nope.npz"), "nope.npz: no such file"),
    "folder as data set": Case(("data", "info", "folder.npz"), "folder.npz: is a folder"),
    "header beyond memory": Case(("run", "net.npz", "--spikes", "huge.npz", "--out", "o19.npz"),
                                 "huge.npz: reading its arrays needs 20000000000000000 bytes "
                                 "(18626451.5 GiB); ", ("o19.npz",)),
    "data header beyond memory": Case(("data", "info", "huge_data.npz"),
                                      "huge_data.npz: reading its arrays needs 8000"),
    "steps beyond metadata": Case(("train", "--data", "long_data.npz", "--out", "r_long"),
                                  "long_data.npz: spikes has 100000000 steps but __meta__ "
                                  "says params.steps = 200", ("r_long",)),
    "data make beyond memory": Case(("data", "make", "ccisi", "--param", "n_samples=1000000000",
                                     "--out", "o20.npz"),
                                    "ccisi: 1000000000 samples x 200 steps x 20 channels "
                                    "needs 4256000000000 bytes (3963.7 GiB); ", ("o20.npz",)),
    "truncated train data": Case(("train", "--data", "trunc.npz", "--out", "r_trunc"),
                                 "trunc.npz", ("r_trunc",)),
    "zero-byte network": Case(("run", "zero.npz", "--spikes", "ok.npz", "--out", "o1.npz"),
                              "zero.npz: is empty", ("o1.npz",)),
    "onnx as network": Case(("run", "model.npz", "--spikes", "ok.npz", "--out", "o2.npz"),
                            "model.npz: cannot read as .npz (not a zip archive)", ("o2.npz",)),
    "truncated spikes": Case(("run", "net.npz", "--spikes", "trunc.npz", "--out", "o3.npz"),
                             "trunc.npz: cannot read as .npz", ("o3.npz",)),
    "zero-byte trace": Case((*VERIFY, "--trace", "chip=zero.npz", "--report", "rep1"),
                            "zero.npz: is empty", ("rep1",)),
    "truncated NIR graph": Case(("import", "trunc.nir", "--out", "o4.npz"), "trunc.nir",
                                ("o4.npz",)),
    "zero-byte NIR graph": Case(("import", "zero.nir", "--out", "o17.npz"),
                                "zero.nir: is empty", ("o17.npz",)),
    "zero-byte netx file": Case(("import", "zero.net", "--out", "o18.npz"),
                                "zero.net: is empty", ("o18.npz",)),
    "truncated config.json": Case(("export", "run_cut", "--nir", "o5.nir"),
                                  "config.json: cannot read JSON", ("o5.nir",)),
    # ---- outputs that cannot be written
    "output under a file": Case(("data", "make", "isi", "--param", "n_samples=10", "--out",
                                 "afile/x.npz"), "afile is a file, not a folder"),
    "folder as output file": Case(("run", "net.npz", "--spikes", "ok.npz", "--out",
                                   "folder.npz"), "folder.npz: is a folder"),
    "train run under a file": Case(("train", "--data", "d.npz", "--out", "afile/run"),
                                   "afile is a file, not a folder"),
    "export under a file": Case(("export", "net.npz", "--dt", "0.001", "--nir",
                                 "afile/g.nir"), "afile is a file, not a folder"),
    # ---- values
    "spike value 2": Case(("run", "net.npz", "--spikes", "two.npz", "--out", "o6.npz"),
                          "two.npz: spikes[0, 1, 1] = 2", ("o6.npz",)),
    "spike value -1": Case(("run", "net.npz", "--spikes", "minus.npz", "--out", "o7.npz"),
                           "minus.npz: spikes[0, 1, 1] = -1", ("o7.npz",)),
    "spike value 0.5": Case(("run", "net.npz", "--spikes", "half.npz", "--out", "o8.npz"),
                            "half.npz: spikes[0, 1, 1] = 0.5", ("o8.npz",)),
    "verify data value 2": Case((*VERIFY[:2], "--data", "two.npz", "--backends",
                                 "reference,torch-int", "--report", "rep2"),
                                "two.npz: spikes[0, 1, 1] = 2", ("rep2",)),
    "CSV spike 2.5": Case((*VERIFY, "--trace", "chip=s25.csv", "--report", "rep3"),
                          "s25.csv: spikes of 'out'[0, 1, 0] = 2.5", ("rep3",)),
    "CSV v NaN": Case((*VERIFY, "--trace", "chip=vnan.csv", "--report", "rep4"),
                      "vnan.csv: v of 'out'[0, 1, 0] = nan", ("rep4",)),
    "CSV v Inf": Case((*VERIFY, "--trace", "chip=vinf.csv", "--report", "rep5"),
                      "vinf.csv: v of 'out'[0, 1, 0] = inf", ("rep5",)),
    "export dt 0": Case(("export", "net.npz", "--dt", "0", "--nir", "o9.nir"), "--dt",
                        ("o9.nir",)),
    "NIR contract dt < 0": Case(("import", "negdt.nir", "--out", "o10.npz"),
                                "negdt.nir: graph metadata 'neurodeploy': dt = -0.005",
                                ("o10.npz",)),
    "NIR NaN weight": Case(("import", "nanw.nir", "--out", "o11.npz"), "nanw.nir: ",
                           ("o11.npz",)),
    "duplicate population": Case(("run", "dup.npz", "--spikes", "ok.npz", "--out", "o12.npz"),
                                 "dup.npz: population 'out' is listed twice", ("o12.npz",)),
    "train lr -1": Case(("train", "--data", "d.npz", "--lr", "-1", "--out", "r_lr"),
                        "lr = -1.0 must be > 0", ("r_lr",)),
    "train lr nan": Case(("train", "--data", "d.npz", "--lr", "nan", "--out", "r_nan"),
                         "lr = nan", ("r_nan",)),
    "train task and data": Case(("train", "--task", "ccisi", "--data", "d.npz", "--out",
                                 "r_both"), "--task ccisi and --data d.npz", ("r_both",)),
    "verify workers 0": Case((*VERIFY[:4], "--backends",
                              "reference,torch-int", "--workers", "0", "--report", "rep6"),
                             "workers = 0", ("rep6",)),
    "samples beyond data": Case(("run", "net.npz", "--spikes", "ok.npz", "--samples", "5",
                                 "--out", "o13.npz"), "--samples 5: ok.npz (all) has only 1",
                                ("o13.npz",)),
    "config hidden string": Case(("export", "run_hidden", "--nir", "o14.nir"),
                                 "run_hidden/config.json network: hidden = 'sixteen'",
                                 ("o14.nir",)),
    "config du NaN": Case(("export", "run_du", "--nir", "o15.nir"),
                          "run_du/config.json network: du = nan", ("o15.nir",)),
    "config lr -1": Case(("export", "run_lr", "--nir", "o16.nir"),
                         "run_lr/config.json train: lr = -1.0", ("o16.nir",)),
    # ---- half-done work: a failed train leaves no run folder
    "train bad task": Case(("train", "--task", "nope", "--out", "r_task"),
                           "task = 'nope' is unknown", ("r_task",)),
    "train missing data": Case(("train", "--data", "nope.npz", "--out", "r_missing"),
                               "nope.npz: no such file", ("r_missing",)),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile")
    _make_inputs(path)
    return path


def _cli_in_process(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    """:func:`neurodeploy.cli.main` on ``args`` in ``cwd``, its exit code and output; an
    exception that escapes it becomes exit code 1 with its traceback (no interpreter start
    per case: the 40-odd cases take seconds instead of minutes)."""
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli_main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except Exception:  # what a user would see as a traceback
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def outcomes(folder) -> dict[str, subprocess.CompletedProcess]:
    """Every case run once."""
    return {name: _cli_in_process(case.args, folder) for name, case in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(name, folder, outcomes):
    case, proc = CASES[name], outcomes[name]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "Aborted" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and case.needle in lines[0], lines[0]
    for path in case.absent:
        assert not (folder / path).exists(), f"{path} was written"
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"hidden temp files left: {leftovers}"


def test_the_valid_inputs_are_accepted(folder):
    """The cases fail because of what is wrong with them: the same commands on the valid
    inputs succeed."""
    proc = _cli(("run", "net.npz", "--spikes", "ok.npz", "--out", "good.npz"), folder)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "good.npz").exists()
    proc = _cli(("export", "run", "--nir", "good.nir"), folder)
    assert proc.returncode == 0, proc.stderr


def test_an_interrupted_train_leaves_no_run_folder(folder):
    proc = subprocess.Popen(
        [sys.executable, "-m", "neurodeploy", "train", "--data", "d.npz", "--hidden", "4",
         "--epochs", "100000", "--patience", "100000", "--out", "r_interrupted"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # past start-up, into the epochs
    assert proc.poll() is None, "train ended before it was interrupted"
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (folder / "r_interrupted").exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".r_interrupted")]
