"""Reproducible and relocatable artifacts, through the CLI: the same seed gives the same
bytes in every file of a run and a quantize folder, no artifact holds an absolute path, and
a run or quantize folder moved together with its data works from any working directory."""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

TRAIN = ("train", "--data", "d.npz", "--hidden", "4", "--delays", "none", "--epochs", "1",
         "--int-delay-epochs", "0", "--batch-size", "16", "--seed", "3", "--out", "run")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def json_strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> list[Path]:
    """The same data, run and quantize folder made twice, in folders at different depths."""
    root = tmp_path_factory.mktemp("portable")
    folders = [root / "first", root / "second" / "deeper"]

    def make(folder: Path) -> None:
        folder.mkdir(parents=True)
        cli("data", "make", "ccisi", "--param", "n_samples=40", "--out", "d.npz", cwd=folder)
        cli(*TRAIN, cwd=folder)
        cli("quantize", "run", "--calib", "8", "--out", "q", cwd=folder)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(make, folders))
    return folders


def test_same_seed_gives_the_same_bytes_in_every_file(made):
    first, second = (files(folder) for folder in made)
    assert {"run/model.pt", "run/config.json", "q/quantization.json", "q/network.npz",
            "q/run.json", "q/model.pt", "q/report.png"} <= set(first)
    assert sorted(first) == sorted(second)
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"same seed, different bytes: {differ}"


def test_no_artifact_holds_an_absolute_path(made):
    for folder in made:
        for name, data in files(folder).items():
            assert str(folder).encode() not in data, f"{name} names {folder}"
            assert str(folder.parent).encode() not in data, f"{name} names {folder.parent}"
            if name.endswith(".json"):
                absolute = [s for s in json_strings(json.loads(data)) if s.startswith("/")]
                assert not absolute, f"{name}: {absolute}"


def test_a_moved_folder_works_from_any_working_directory(made, tmp_path):
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(made[0], moved)  # run, quantize output and their data, together
    away = tmp_path / "unrelated"
    away.mkdir()
    proc = cli("quantize", str(moved / "run"), "--calib", "8", "--out", "../q2", cwd=away)
    assert "error" not in proc.stderr
    # the new quantize output names the run and the data relative to itself
    assert json.loads((tmp_path / "q2" / "quantization.json").read_text())["source_run"] \
        == "../elsewhere/moved/run"
    assert json.loads((tmp_path / "q2" / "run.json").read_text())["train"]["data"] \
        == "../elsewhere/moved/d.npz"
    report = tmp_path / "report"
    cli("verify", str(moved / "q"), "--backends", "reference,torch-float", "--report",
        str(report), cwd=away)
    summary = json.loads((report / "summary.json").read_text())
    assert summary["model"] == "../elsewhere/moved/q"
    assert summary["data"] == "../elsewhere/moved/d.npz (test split)"


def test_a_run_of_the_older_layout_still_finds_its_data(made, tmp_path):
    """Runs written before paths were relative to their folder named the data relative to
    where training ran; from there they still work."""
    old = tmp_path / "old"
    shutil.copytree(made[0], old)
    config = json.loads((old / "run" / "config.json").read_text())
    config["train"]["data"] = "d.npz"
    (old / "run" / "config.json").write_text(json.dumps(config))
    cli("quantize", "run", "--calib", "8", "--out", "q3", cwd=old)
    assert json.loads((old / "q3" / "run.json").read_text())["train"]["data"] == "../d.npz"


def test_a_shipped_study_run_names_its_data_relative_to_its_study_folder(tmp_path):
    """A study configuration trained on a cluster worker (in a temporary folder there)
    comes back naming the study's data file relative to the run folder it is written to."""
    from neurodeploy.models.training import run_json
    from neurodeploy.study.job import Job
    from neurodeploy.study.runner import write_shipped

    run_dir = tmp_path / "study" / "runs" / "c0"
    job = Job("c0", str(run_dir), {"data": str(tmp_path / "d.npz")}, {}, retrain=True)
    on_worker = run_json({"train": {"data": "../../../../home/d.npz"}, "network": {}})
    write_shipped(job, {"config.json": on_worker.encode(), "result.json": b"{}"})
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["data"] == "../../../d.npz"
    assert config["network"] == {} and (run_dir / "result.json").read_text() == "{}"


def test_exact_timing_runs_store_their_data_relative_and_no_wall_time(tmp_path):
    """A multi-spike run names its data file relative to its folder (config.json holds no
    absolute path), resolves it after the folder and the data moved together, and stores
    no wall time (metrics.json is the same bytes for the same model)."""
    from neurodeploy.models.exact.multispike import MultiSpikeConfig, MultiSpikeNetwork
    from neurodeploy.models.exact.multispike_training import load_multispike, save_multispike

    (tmp_path / "a" / "data").mkdir(parents=True)
    data = tmp_path / "a" / "data" / "d.npz"
    data.write_bytes(b"")
    config = MultiSpikeConfig(n_inputs=3, hidden=(4,), n_outputs=2,
                              data={"file": str(data), "seed": 0, "dt": 0.001})
    model = MultiSpikeNetwork(config)
    metrics = {"train_seconds": 12.5, "test_accuracy_pct": 50.0}
    save_multispike(model, tmp_path / "a" / "run", metrics=metrics)
    stored = json.loads((tmp_path / "a" / "run" / "config.json").read_text())
    assert stored["network"]["data"]["file"] == "../data/d.npz"
    assert not [s for s in json_strings(stored) if Path(s).is_absolute()]
    assert json.loads((tmp_path / "a" / "run" / "metrics.json").read_text()) == {
        "test_accuracy_pct": 50.0}
    shutil.move(tmp_path / "a", tmp_path / "b")
    loaded, _ = load_multispike(tmp_path / "b" / "run")
    assert Path(loaded.config.data["file"]) == tmp_path / "b" / "data" / "d.npz"
