"""Studies and verification on a Dask cluster: same results as local processes, shipped
runs, worker faults, and one-line errors for bad cluster names.

One tiny study (as tests/test_study.py's, plus a two-sample Lava check so that Lava runs
inside a Dask worker) is run once with local processes and once on a ``LocalCluster`` of
two workers; the other tests copy or reuse those folders.
"""

import dataclasses
import io
import json
import multiprocessing.resource_tracker
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rich.console import Console
from rich.progress import Progress

from neurodeploy import save_network
from neurodeploy.artifacts import load_deployment
from neurodeploy.cluster import (
    ENV_VAR,
    ClusterSpec,
    check_workers,
    cluster_spec,
    open_cluster,
    parse_cluster,
)
from neurodeploy.errors import InputError
from neurodeploy.models.datasets import make_task
from neurodeploy.models.exact.ttfs import TTFSConfig, TTFSNetwork
from neurodeploy.study import run_dt_study, run_timing_study, runner
from neurodeploy.study.plan import plan_study, preset_arguments
from neurodeploy.study.runner import pending, run_shipped
from neurodeploy.study.sweep import run_isi_sweep
from neurodeploy.verify.pipeline import run_on_executor, verify

from netgen import recurrent_bias_case

pytest.importorskip("distributed")

STUDY = dict(task="isi", task_params={"n_samples": 200}, hidden=(8,), epochs=1, seeds=(0,),
             stochastic=(False,), perturb=(0.5,), lava_samples=2, calib=16,
             train_options={"int_delay_epochs": 1})
NONE, AXONAL = "none-deterministic-seed0", "axonal-deterministic-seed0"
RUN_FILES = ("result.json", "config.json", "metrics.json", "network.npz", "train.log")


def untimed(path: Path) -> bytes:
    """A file's bytes; in train.log the progress bar's elapsed times (h:mm:ss) masked."""
    data = path.read_bytes()
    return re.sub(rb"\d+:\d\d:\d\d", b"h:mm:ss", data) if path.name == "train.log" else data


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def on_cluster(out: Path, workers: int = 2, **changes):
    """The study on a fresh LocalCluster of ``workers`` workers (closed by the study)."""
    pool = open_cluster(ClusterSpec("local", workers=workers))
    return run_timing_study(out, console=quiet(), executor=lambda n_jobs: pool,
                            **{**STUDY, **changes})


@pytest.fixture(scope="module", autouse=True)
def no_child_left():
    """Dask's worker processes are spawned, which starts multiprocessing's resource tracker:
    a child that lives as long as this process. Stop it after the module (it restarts on
    demand), so that later tests that count this process's children see none."""
    yield
    multiprocessing.resource_tracker._resource_tracker._stop()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The study on the local process pool, run in a child process: the pool's fork server
    lives as long as the process that started it, and must not outlive this module."""
    out = tmp_path_factory.mktemp("local") / "study"
    code = ("import json, sys; from neurodeploy.study import run_timing_study; "
            "run_timing_study(sys.argv[1], workers=2, **json.loads(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(out), json.dumps(STUDY)], check=True,
                   capture_output=True, timeout=600)
    return out, None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    out = tmp_path_factory.mktemp("cluster") / "study"
    return out, on_cluster(out)


def test_a_cluster_study_writes_the_local_studys_summary_and_runs(local, cluster):
    (local_out, _), (out, result) = local, cluster
    assert result.trained == [NONE, AXONAL] and not result.failed
    # summary.json holds no timings or host names: every byte must agree
    assert (out / "summary.json").read_bytes() == (local_out / "summary.json").read_bytes()
    assert (out / "summary.csv").read_bytes() == (local_out / "summary.csv").read_bytes()
    for name in (NONE, AXONAL):
        for file in RUN_FILES:  # trained, deployed and evaluated alike, shipped back whole
            assert untimed(out / "runs" / name / file) == \
                untimed(local_out / "runs" / name / file), (name, file)
        assert result.runs[name]["lava"]["identical_output"] is True  # Lava ran on a worker


def test_a_worker_runs_a_shipped_job_without_touching_its_run_folder(cluster, tmp_path):
    out, _ = cluster
    # the cluster study with another Lava sample count: its trained model is evaluated again
    _, configurations = plan_study(
        STUDY["task"], None, ("none",), STUDY["stochastic"], STUDY["seeds"], STUDY["perturb"],
        STUDY["epochs"], STUDY["hidden"], False, 0, STUDY["calib"], STUDY["task_params"],
        STUDY["train_options"])
    runs = tmp_path / "runs"
    shutil.copytree(out / "runs" / NONE, runs / NONE)
    _, jobs = pending(configurations, runs)
    assert len(jobs) == 1 and not jobs[0].retrain
    sent = {p.name: p.read_bytes() for p in (runs / NONE).iterdir()}
    job = dataclasses.replace(jobs[0], run_dir=str(tmp_path / "absent" / NONE))
    outcome = run_shipped(job, sent)
    assert not (tmp_path / "absent").exists()
    before = json.loads((out / "runs" / NONE / "result.json").read_text())
    assert outcome["result"]["accuracy_pct"] == before["accuracy_pct"]
    assert outcome["result"]["lava"] is None
    assert "model.pt" not in outcome["files"]  # reused, not retrained: not sent back
    assert b'"accuracy_pct"' in outcome["files"]["result.json"]


def test_new_evaluation_parameters_ship_the_trained_models_to_the_workers(cluster, tmp_path):
    out, first = cluster
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    models = {n: (copy / "runs" / n / "model.pt").stat().st_mtime_ns for n in (NONE, AXONAL)}
    again = on_cluster(copy, perturb=(0.5, 1.0))
    assert sorted(again.evaluated) == sorted([NONE, AXONAL]) and not again.trained
    assert {n: (copy / "runs" / n / "model.pt").stat().st_mtime_ns
            for n in (NONE, AXONAL)} == models
    for row, old in zip(again.rows, first.rows, strict=True):
        assert row["cells"]["perturbed f=0.5"] == old["cells"]["perturbed f=0.5"]
        assert row["cells"]["perturbed f=1"]["mean"] is not None


def test_a_worker_killed_mid_study_does_not_stop_it(local, tmp_path):
    local_out, _ = local
    out = tmp_path / "study"
    pool = open_cluster(ClusterSpec("local", workers=2))
    pids = pool.client.run(os.getpid)
    outcome: dict = {}

    def study() -> None:
        try:
            outcome["result"] = run_timing_study(out, console=quiet(),
                                                 executor=lambda n_jobs: pool, **STUDY)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=study)
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        busy = [w for w, keys in pool.client.processing().items() if keys]
        if busy:
            time.sleep(1.0)  # well inside the configuration (it takes several seconds)
            if pool.client.processing().get(busy[0]):  # still running it: kill its worker
                killed = pids[busy[0]]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    thread.join(timeout=600)
    assert killed is not None, "no task was seen running"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.trained == [NONE, AXONAL] and not result.failed
    assert (out / "summary.json").read_bytes() == (local_out / "summary.json").read_bytes()


def test_ctrl_c_cancels_the_clusters_tasks_and_the_study_resumes(local, tmp_path,
                                                                  monkeypatch):
    local_out, _ = local
    out = tmp_path / "study"
    real_write = runner.write_shipped

    def write_then_interrupt(job, files):
        real_write(job, files)
        raise KeyboardInterrupt  # as Ctrl-C right after the first configuration came back

    monkeypatch.setattr(runner, "write_shipped", write_then_interrupt)
    pool = open_cluster(ClusterSpec("local", workers=1))  # one at a time: the second waits
    with pytest.raises(KeyboardInterrupt):
        run_timing_study(out, console=quiet(), executor=lambda n_jobs: pool, **STUDY)
    assert pool.client.status == "closed" and pool.cluster.status.name == "closed"
    finished = [n for n in (NONE, AXONAL) if (out / "runs" / n / "result.json").exists()]
    assert len(finished) == 1  # the other was cancelled before it ran to the end
    monkeypatch.setattr(runner, "write_shipped", real_write)
    again = on_cluster(out)
    assert again.loaded == finished and again.trained == [n for n in (NONE, AXONAL)
                                                          if n not in finished]
    assert (out / "summary.json").read_bytes() == (local_out / "summary.json").read_bytes()


class FakeClient:
    """What check_workers asks of a Dask client: each worker's neurodeploy version."""

    def __init__(self, found: dict) -> None:
        self.found = found

    def run(self, function, *args, on_error):
        assert function is metadata.version and args == ("neurodeploy",)
        return self.found


@pytest.mark.parametrize("found, says", [
    ({"tcp://a:1": "MINE", "tcp://b:1": metadata.PackageNotFoundError("neurodeploy")},
     "worker tcp://b:1 has neurodeploy not installed (1 of 2 workers differ)"),
    ({"tcp://a:1": "0.0.1", "tcp://b:1": "0.0.1"},
     "worker tcp://a:1 has neurodeploy version 0.0.1 (2 of 2 workers differ)"),
])
def test_a_worker_without_this_neurodeploy_is_a_one_line_error(found, says):
    mine = metadata.version("neurodeploy")
    found = {w: mine if v == "MINE" else v for w, v in found.items()}
    executor = SimpleNamespace(client=FakeClient(found))
    with pytest.raises(InputError) as info:
        check_workers(executor, ClusterSpec("local", workers=2))
    assert str(info.value) == (f"--cluster: {says}; allowed: neurodeploy {mine} on every "
                               "worker")


def test_workers_with_this_neurodeploy_pass_the_check():
    mine = metadata.version("neurodeploy")
    executor = SimpleNamespace(client=FakeClient({"tcp://a:1": mine, "tcp://b:1": mine}))
    check_workers(executor, ClusterSpec("local", workers=2))


@pytest.mark.parametrize("text, spec", [
    ("local", ClusterSpec("local")),
    ("local:3", ClusterSpec("local", workers=3)),
    ("tcp://10.0.0.5:8786", ClusterSpec("tcp", address="tcp://10.0.0.5:8786")),
    ("tcp://node-1.cluster:8786", ClusterSpec("tcp", address="tcp://node-1.cluster:8786")),
])
def test_cluster_names_parse(text, spec):
    assert parse_cluster(text) == spec


@pytest.mark.parametrize("text, says", [
    ("local:0", "'0' is not a number of workers >= 1"),
    ("local:two", "'two' is not a number of workers >= 1"),
    ("tcp://host", "is not a cluster address"),
    ("tcp://host:99999", "port 99999 is out of range 1..65535"),
    ("http://host:8786", "is not a cluster address"),
    ("", "is not a cluster address"),
])
def test_bad_cluster_names_are_one_line_errors(text, says):
    with pytest.raises(InputError) as info:
        parse_cluster(text)
    message = str(info.value)
    assert says in message and "allowed: local, local:N" in message and "\n" not in message


def test_the_environment_variable_names_the_cluster_unless_the_option_does(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert cluster_spec(None) is None
    monkeypatch.setenv(ENV_VAR, "local:2")
    assert cluster_spec(None) == ClusterSpec("local", workers=2, source=ENV_VAR)
    assert cluster_spec("tcp://h:1") == ClusterSpec("tcp", address="tcp://h:1")
    monkeypatch.setenv(ENV_VAR, "bogus")
    with pytest.raises(InputError, match=f"^{ENV_VAR} = 'bogus' is not a cluster address"):
        cluster_spec(None)


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_an_unreachable_scheduler_is_a_one_line_error_and_nothing_is_written(tmp_path):
    out = tmp_path / "study"
    start = time.monotonic()
    proc = cli("study", "timing", "--task", "isi", "--quick", "--out", str(out),
               "--cluster", "tcp://127.0.0.1:1")
    assert time.monotonic() - start < 60
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "tcp://127.0.0.1:1" in lines[0] and "cannot connect" in lines[0]
    assert not out.exists()


def test_a_bad_environment_cluster_is_a_one_line_error_and_doctor_names_it(tmp_path):
    out = tmp_path / "study"
    proc = cli("study", "timing", "--task", "isi", "--quick", "--out", str(out),
               env={ENV_VAR: "local:none"})
    assert proc.returncode == 2 and not out.exists()
    assert (proc.stdout + proc.stderr).strip().splitlines() == [
        f"error: {ENV_VAR} = 'local:none': 'none' is not a number of workers >= 1; allowed: "
        "local, local:N (N >= 1 worker processes) or tcp://HOST:PORT"]
    both = cli("study", "timing", "--task", "isi", "--out", str(out), "--workers", "2",
               "--cluster", "local:2")
    assert both.returncode == 2 and not out.exists()
    assert (both.stdout + both.stderr).strip().splitlines() == [
        "error: --workers 2 with --cluster 'local:2': give one; allowed: --workers for local "
        "processes, --cluster local:N for a local Dask cluster"]
    doctor = cli("doctor", env={ENV_VAR: "local:3"})
    assert doctor.returncode == 0
    assert "LocalCluster of 3 worker" in " ".join(doctor.stdout.split())


# ---------------------------------------------------------------------------- verify
@pytest.fixture(scope="module")
def pool():
    """One LocalCluster of two workers for the verification tests."""
    executor = open_cluster(ClusterSpec("local", workers=2))
    yield executor
    executor.shutdown()


@pytest.fixture
def network(tmp_path):
    net, x = recurrent_bias_case()  # 5 samples x 60 steps
    save_network(net, tmp_path / "net.npz")
    np.savez(tmp_path / "x.npz", spikes=x)
    return str(tmp_path / "net.npz"), str(tmp_path / "x.npz")


def without_seconds(summary: dict) -> dict:
    return {**summary, "backends": {n: {k: v for k, v in b.items() if k != "seconds"}
                                    for n, b in summary["backends"].items()}}


def test_a_verification_on_a_cluster_gives_the_local_runs_traces_and_summary(
        pool, network, tmp_path):
    model, data = network
    backends = ["reference", "torch-int", "torch-float", "lava"]
    local = verify(model, backends, data=data, workers=2, console=quiet())
    bars = []
    remote = verify(model, backends, data=data, executor=pool, console=quiet(),
                    report_dir=str(tmp_path / "report"), on_progress=bars.append)
    assert without_seconds(remote.summary) == without_seconds(local.summary)
    for name in backends:
        for kind in ("spikes", "v"):
            got, want = getattr(remote.runs[name], kind), getattr(local.runs[name], kind)
            assert got.keys() == want.keys()
            for pop in want:
                assert np.array_equal(got[pop], want[pop]), (name, kind, pop)
    assert local.summary["pairs"][0]["populations"]["a"]["n_spikes_a"] > 0  # not all silent
    # one bar per backend, each advanced over all 5 samples as the shards came back
    assert {t.description: t.completed for t in bars[0].tasks} == {b: 5 for b in backends}
    written = json.loads((tmp_path / "report" / "summary.json").read_text())
    expected = json.loads(json.dumps(remote.summary))
    # the file names the model relative to the report folder (relocatable reports)
    assert Path(tmp_path / "report", written.pop("model")).resolve() == Path(
        expected.pop("model")).resolve()
    assert written.pop("data") == expected.pop("data").replace(str(tmp_path), "..")
    assert written == expected


def test_workers_get_the_deployment_and_samples_as_data_not_as_files(pool, network):
    model, data = network
    deployment = load_deployment(model)
    x = np.load(data)["spikes"].astype(bool)
    os.remove(model)  # the workers cannot read it any more
    bars = Progress(console=quiet())
    runs = run_on_executor(deployment, ["reference"], x, bars, pool, workers=2)
    want = deployment.simulate("reference", x, record=("spikes", "v"))
    assert len(bars.tasks) == 1 and bars.tasks[0].completed == len(x)
    for pop in want.spikes:
        assert np.array_equal(runs["reference"].spikes[pop], want.spikes[pop])
        assert np.array_equal(runs["reference"].v[pop], want.v[pop])


def test_verify_with_an_unreachable_scheduler_is_a_one_line_error(network, tmp_path):
    model, data = network
    proc = cli("verify", model, "--data", data, "--backends", "reference,torch-int",
               "--report", str(tmp_path / "report"), "--cluster", "tcp://127.0.0.1:1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0]
    assert not (tmp_path / "report").exists()


# -------------------------------------------------------------------------- dt study
def test_a_dt_study_on_a_cluster_gives_the_local_rows(pool):
    torch.manual_seed(0)
    net = TTFSNetwork(TTFSConfig(n_inputs=6, hidden=(5,), n_outputs=3))
    with torch.no_grad():  # mostly positive weights: every neuron fires within a few tau_syn
        for layer in net.layers:
            layer.weight.copy_((torch.rand(layer.weight.shape) * 5.0 - 0.6)
                               / layer.weight.shape[1])
    rng = np.random.default_rng(0)
    args = dict(dts=[0.5, 0.2, 0.1], test_times=rng.uniform(0.0, 2.0, (8, 6)),
                test_labels=rng.integers(0, 3, 8), lava_samples=0, calib_samples=8)
    local = run_dt_study(net, **args)
    remote = run_dt_study(net, executor=pool, **args)

    def rows(result):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in result.rows]

    assert [r["dt"] for r in remote.rows] == [0.5, 0.2, 0.1]
    assert rows(remote) == rows(local)
    assert remote.recommended_dt == local.recommended_dt
    assert any(r["deployed_time_error"] is not None for r in remote.rows)  # outputs spiked


# ------------------------------------------------------------------ the ISI sweep
SWEEP = {**STUDY, "task": "ccisi", "delays": ("none",), "lava_samples": 0}


def test_an_isi_sweep_runs_one_study_per_maximum_isi_on_one_cluster(tmp_path):
    pool = open_cluster(ClusterSpec("local", workers=2))
    result = run_isi_sweep(tmp_path, [100, 50], executor=lambda n_jobs: pool,
                           console=quiet(), **SWEEP)
    assert result.max_isi_ms == [50.0, 100.0] and not result.failed
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["studies"] == {"50": "max-isi-50ms", "100": "max-isi-100ms"}
    for i, ms in enumerate((50, 100)):
        study = json.loads((tmp_path / f"max-isi-{ms}ms" / "summary.json").read_text())
        assert study["params"]["task_params"]["max_isi_ms"] == ms
        run = json.loads((tmp_path / f"max-isi-{ms}ms" / "runs" / NONE / "result.json")
                         .read_text())
        for model in ("float", "deployed"):
            (row,) = [r for r in saved["rows"] if (r["model"], r["condition"])
                      == (model, "normal")]
            assert row["values"][i] == [run["accuracy_pct"][model]["normal"]]
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    # resumable: a second call (local processes) loads every configuration
    again = run_isi_sweep(tmp_path, [50, 100], workers=1, console=quiet(), **SWEEP)
    assert [s.loaded for s in again.studies.values()] == [[NONE], [NONE]]
    assert again.rows == result.rows


@pytest.mark.parametrize("values, changes, says", [
    ([50, -1], {}, "max_isi_ms = -1 is not allowed"),
    ([50, 50], {}, "distinct maximum ISIs"),
    ([50], {"task_params": {"max_isi_ms": 3}}, "what the sweep sets"),
    ([50], {"task": "coincidence"}, "task parameter 'max_isi_ms' is unknown"),
])
def test_bad_sweeps_are_one_line_errors_before_any_work(tmp_path, values, changes, says):
    with pytest.raises(InputError, match=says) as info:
        run_isi_sweep(tmp_path / "sweep", values, console=quiet(), **{**SWEEP, **changes})
    assert "\n" not in str(info.value) and not (tmp_path / "sweep").exists()


def test_the_yu2025_preset_is_yu_et_al_s_sweep():
    args = preset_arguments("yu2025")
    sweep = args.pop("max_isi_ms")
    assert sweep == (50, 100, 200, 300, 500)
    total = []
    for ms in sweep:
        study, configurations = plan_study(
            args["task"], None, args["delays"], args["stochastic"], args["seeds"],
            args["perturb"], None, None, False, args["lava_samples"], None,
            {"max_isi_ms": ms}, args["train_options"])
        total += configurations
        assert study["conditions"] == ["normal", "reversed", "rate-removed"]
    assert len(total) == 100  # 5 maximum ISIs x 2 delay kinds x 2 neuron kinds x 5 seeds
    train = total[-1].train
    assert train["task"] == "ccisi" and train["preset"] == "paper"
    assert train["task_params"] == {"max_isi_ms": 500} and train["epochs"] == 30
    assert {(c.delays, c.stochastic) for c in total} == {
        (d, s) for d in ("none", "axonal") for s in (False, True)}
    data = make_task("ccisi", preset=train["preset"], n_samples=4, **train["task_params"])
    assert data.dt == 0.001 and data.n_steps == 10_000  # 1 ms steps, 10 s samples
    with pytest.raises(InputError, match="preset = 'yu' is unknown; allowed: yu2025"):
        preset_arguments("yu")
