"""Training runs: run directory, reproducibility, the integer-delay phase, CLI errors."""

import json
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch
from rich.console import Console

from neurodeploy.models.datasets import SpikeDataset, make_task, save_dataset, split
from neurodeploy.models.training import (
    TrainConfig,
    evaluate,
    load_run,
    retain_freed_memory,
    train,
)

SMALL = dict(task="isi", task_params={"n_samples": 240}, hidden=(16,), delays="axonal",
             max_delay=8, epochs=3, int_delay_epochs=2, batch_size=32, seed=3)


def quiet() -> Console:
    import io

    return Console(file=io.StringIO())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics = train(TrainConfig(**SMALL), out, console=quiet())
    return out, metrics


def test_run_directory_describes_and_rebuilds_the_model(run_dir):
    out, metrics = run_dir
    for name in ("config.json", "model.pt", "metrics.json", "learning_curve.png"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test_acc"] == metrics["test_acc"]
    assert [h["phase"] for h in saved["history"]].count("integer delays") == 2
    model, run = load_run(out)
    assert run["dataset"]["task"] == "isi" and run["train"]["seed"] == 3
    ds = make_task("isi", seed=3, n_samples=240)
    _, _, test = split(ds, (0.8, 0.1, 0.1), seed=3)
    _, acc = evaluate(model, test.spikes, test.labels)
    assert acc == metrics["test_acc"]


def test_checkpoint_holds_integer_delays_that_change_nothing(run_dir):
    out, _ = run_dir
    state = torch.load(out / "model.pt", weights_only=True)
    delays = [v for k, v in state.items() if k.endswith(".delay")]
    assert delays and all(torch.equal(d, d.round()) and d.min() >= 0 and d.max() <= 8
                          for d in delays)
    model, _ = load_run(out)
    x = torch.as_tensor(make_task("isi", seed=9, n_samples=20).spikes, dtype=torch.float32)
    model.set_integer_delays(True)
    a = model(x)
    model.set_integer_delays(False)
    torch.testing.assert_close(model(x), a, rtol=0, atol=0)


def test_same_seed_same_weights(tmp_path, run_dir):
    _, metrics = run_dir
    again = train(TrainConfig(**SMALL), tmp_path, console=quiet())
    first = torch.load(run_dir[0] / "model.pt", weights_only=True)
    second = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert again["test_acc"] == metrics["test_acc"]
    # every file of the run directory, model.pt included, byte for byte
    files = sorted(p.name for p in run_dir[0].iterdir())
    assert files == sorted(p.name for p in tmp_path.iterdir())
    differ = [f for f in files if (run_dir[0] / f).read_bytes() != (tmp_path / f).read_bytes()]
    assert not differ, f"same seed, different bytes: {differ}"


def test_integer_delay_phase_keeps_accuracy(tmp_path):
    """Rounding the delays and fine-tuning with them costs (almost) nothing."""
    config = TrainConfig(task="isi", task_params={"n_samples": 400}, hidden=(24,),
                         delays="axonal", max_delay=10, epochs=8, int_delay_epochs=3,
                         batch_size=32, seed=1)
    metrics = train(config, tmp_path, console=quiet())
    assert metrics["test_acc_continuous_delays"] > 0.7  # it learned something
    assert metrics["test_acc"] >= metrics["test_acc_continuous_delays"] - 0.05


def cli(*args):
    return subprocess.run([sys.executable, "-m", "neurodeploy", *args], capture_output=True,
                          text=True, timeout=600)


def test_cli_train_and_data_commands(tmp_path):
    data = tmp_path / "isi.npz"
    assert cli("data", "make", "isi", "--param", "n_samples=120", "--out", str(data)).returncode == 0
    info = cli("data", "info", str(data))
    assert info.returncode == 0 and "120" in info.stdout
    proc = cli("train", "--data", str(data), "--hidden", "8", "--delays", "none", "--epochs",
               "1", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "model.pt").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--task", "nope"], "task = 'nope' is unknown"),
        (["--hidden", "0,4"], "every hidden size must be >= 1"),
        (["--max-delay", "70"], "max_delay = 70 is out of range; allowed 0..62"),
        (["--delays", "dendritic"], "delays = 'dendritic' is unknown"),
    ],
)
def test_cli_train_bad_input(tmp_path, args, needle):
    proc = cli("train", "--out", str(tmp_path / "r"), *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert not (tmp_path / "r" / "model.pt").exists()


def test_cli_train_rejects_a_dataset_with_labels_out_of_range(tmp_path):
    ds = make_task("isi", seed=0, n_samples=20)
    save_dataset(ds, tmp_path / "ok.npz")
    with np.load(tmp_path / "ok.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["labels"] = arrays["labels"] + 5
    np.savez(tmp_path / "bad.npz", **arrays)
    proc = cli("train", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "labels" in proc.stderr
    assert isinstance(ds, SpikeDataset)


def test_retain_freed_memory_is_applied_exactly_on_glibc():
    # glibc accepts both settings; another C library is left alone
    assert retain_freed_memory() == (platform.libc_ver()[0] == "glibc")
