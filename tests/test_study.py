"""The timing study: its table, resuming, redoing, re-evaluating, Lava check, failures, errors.

One tiny study (ISI task, 200 samples, 1 + 1 epochs, 8 hidden neurons, one seed, delays
none vs axonal) is run once; every other test works on a copy of its folder.
"""

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from neurodeploy import load_network, simulate
from neurodeploy.errors import InputError
from neurodeploy.models.datasets import make_task, split
from neurodeploy.readout import accuracy, readout_logits
from neurodeploy.study import StudyError, render_study, run_timing_study, runner

TINY = dict(task="isi", task_params={"n_samples": 200}, hidden=(8,), epochs=1, seeds=(0,),
            stochastic=(False,), perturb=(0.5,), lava_samples=0, calib=16, workers=2,
            train_options={"int_delay_epochs": 1})
CONDITIONS = ["normal", "reversed", "perturbed f=0.5", "rate-removed"]
NONE, AXONAL = "none-deterministic-seed0", "axonal-deterministic-seed0"


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def rendered(result) -> str:
    console = quiet()
    render_study(result, console)
    return console.file.getvalue()


def mtimes(out) -> dict:
    return {p.relative_to(out): p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "timing"
    return out, run_timing_study(out, console=quiet(), **TINY)


@pytest.fixture
def copy(study, tmp_path):
    out = tmp_path / "timing"
    shutil.copytree(study[0], out)
    return out


def test_table_has_every_delays_model_condition_cell(study):
    out, result = study
    assert result.conditions == CONDITIONS
    assert result.trained == [NONE, AXONAL] and not result.loaded and not result.failed
    text = rendered(result)
    reader = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert [(r["delays"], r["model"]) for r in reader] == [
        ("none", "float"), ("none", "deployed"), ("axonal", "float"), ("axonal", "deployed")]
    for delays in ("none", "axonal"):
        for model in ("float", "deployed"):
            row = result.row(delays, False, model)
            assert row["seeds"] == [0]
            means = [row["cells"][c]["mean"] for c in CONDITIONS]
            assert all(0.0 <= m <= 100.0 for m in means)
            assert [row["cells"][c]["values"] for c in CONDITIONS] == [[m] for m in means]
            line = next(ln for ln in text.splitlines()
                        if re.search(rf"│ {delays}\s+│ deterministic\s+│ {model}\s+│", ln))
            assert re.findall(r"\d+\.\d", line) == [f"{m:.1f}" for m in means]
            csv_row = next(r for r in reader if (r["delays"], r["model"]) == (delays, model))
            assert [csv_row[f"{c} mean %"] for c in CONDITIONS] == [f"{m:.4f}" for m in means]
    for cond in CONDITIONS:
        assert cond in text
    assert json.loads((out / "summary.json").read_text()) == result.to_json()
    assert (out / "timing_study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((out / "runs" / AXONAL / "result.json").read_text())
    assert run["samples"]["normal"] == 20 and run["lava"] is None


def test_float_accuracy_is_the_trained_models_on_the_test_split(study):
    """The float 'normal' cell is the run's own test accuracy (same model, same split)."""
    out, result = study
    for name, delays in ((NONE, "none"), (AXONAL, "axonal")):
        metrics = json.loads((out / "runs" / name / "metrics.json").read_text())
        assert result.row(delays, False, "float")["cells"]["normal"]["mean"] == \
            pytest.approx(100.0 * metrics["test_acc"])


def test_a_second_call_loads_every_result_and_trains_nothing(study, copy, monkeypatch):
    _, first = study
    before = mtimes(copy)

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for a finished study")

    monkeypatch.setattr(runner, "ProcessPoolExecutor", no_pool)
    again = run_timing_study(copy, console=quiet(), **TINY)
    assert again.loaded == [NONE, AXONAL] and not again.trained and not again.evaluated
    assert again.rows == first.rows and again.lava == first.lava
    assert mtimes(copy) == before


def test_a_configuration_without_result_json_is_redone_from_scratch(study, copy):
    _, first = study
    (copy / "runs" / AXONAL / "result.json").unlink()  # as if interrupted after training
    (copy / "runs" / AXONAL / "stale-partial-file").write_text("left by an interrupted run")
    before = mtimes(copy)
    again = run_timing_study(copy, console=quiet(), **TINY)
    assert again.trained == [AXONAL] and again.loaded == [NONE]
    after = mtimes(copy)
    model = Path("runs", AXONAL, "model.pt")
    assert after[model] != before[model]  # retrained, not reused
    assert not (copy / "runs" / AXONAL / "stale-partial-file").exists()
    untouched = [p for p in before if p.parts[1] == NONE]
    assert untouched and all(after[p] == before[p] for p in untouched)
    assert again.rows == first.rows  # same seed, same numbers


def test_new_evaluation_parameters_reuse_the_trained_models(study, copy):
    _, first = study
    models = {p: t for p, t in mtimes(copy).items() if p.name == "model.pt"}
    again = run_timing_study(copy, console=quiet(), **{**TINY, "perturb": (0.5, 1.0)})
    assert sorted(again.evaluated) == sorted([NONE, AXONAL]) and not again.trained
    assert {p: t for p, t in mtimes(copy).items() if p.name == "model.pt"} == models
    assert again.conditions == ["normal", "reversed", "perturbed f=0.5", "perturbed f=1",
                                "rate-removed"]
    for row, old in zip(again.rows, first.rows, strict=True):
        assert {c: row["cells"][c] for c in CONDITIONS} == old["cells"]
        assert row["cells"]["perturbed f=1"]["mean"] is not None


@pytest.mark.lava
def test_deployed_accuracy_on_lava_equals_the_reference_on_the_same_samples(copy):
    result = run_timing_study(copy, console=quiet(),
                              **{**TINY, "delays": ("axonal",), "lava_samples": 6})
    assert result.evaluated == [AXONAL] and not result.trained
    (check,) = result.lava
    assert check["config"] == AXONAL and check["samples"] == 6
    assert check["identical_output"] is True
    assert check["lava_pct"] == check["reference_pct"]
    # the reference number is the deployed network's accuracy on the first 6 test samples
    net = load_network(copy / "runs" / AXONAL / "network.npz")
    _, _, test = split(make_task("isi", seed=0, n_samples=200), (0.8, 0.1, 0.1), seed=0)
    tr = simulate(net, test.spikes[:6].astype(bool), record=("spikes", "v"))
    logits = readout_logits(tr.spikes["output"], tr.v["output"], "mean_v", hops=2)
    assert check["reference_pct"] == pytest.approx(100.0 * accuracy(logits, test.labels[:6]))
    text = rendered(result)
    assert re.search(rf"{AXONAL}\s+│\s+6\s+│\s+{check['reference_pct']:.1f}\s+│\s+"
                     rf"{check['lava_pct']:.1f}\s+│\s+yes", text)
    assert json.loads((copy / "summary.json").read_text())["lava"] == result.lava


def test_a_failing_configuration_is_named_and_the_others_are_kept(study, copy):
    _, first = study
    shutil.rmtree(copy / "runs" / NONE)
    (copy / "runs" / NONE).write_text("not a run directory")  # the worker cannot use this
    with pytest.raises(StudyError) as info:
        run_timing_study(copy, console=quiet(), **TINY)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert NONE in message and "not a run directory" in message and AXONAL not in message
    result = info.value.result
    assert list(result.failed) == [NONE] and result.loaded == [AXONAL]
    assert result.row("axonal", False, "deployed") == first.row("axonal", False, "deployed")
    assert result.row("none", False, "float")["cells"]["normal"]["mean"] is None
    summary = json.loads((copy / "summary.json").read_text())
    assert list(summary["failed"]) == [NONE]
    text = rendered(result)
    assert f"failed {NONE}" in text and "—" in text


@pytest.mark.parametrize(("changes", "needle"), [
    (dict(task="mnist"), r"task = 'mnist' is unknown; allowed: ccisi, coincidence, isi"),
    (dict(data="x.npz"), r"task = 'isi', data = 'x.npz': give exactly one"),
    (dict(task=None), r"task = None, data = None: give exactly one"),
    (dict(seeds=()), r"seeds = \(\) is empty; allowed: integers >= 0"),
    (dict(perturb=(0.5, 0.0)), r"perturbation f = 0.0 is out of range; allowed 0 < f <= 1"),
    (dict(perturb=(1.5,)), r"perturbation f = 1.5 is out of range; allowed 0 < f <= 1"),
    (dict(workers=0), r"workers = 0 is not allowed; allowed an integer >= 1"),
    (dict(delays=("none", "dendritic")), r"delays = 'dendritic' is unknown; allowed: none, "),
    (dict(train_options={"seed": 3}), r"train option 'seed' is not allowed; allowed: "),
])
def test_bad_input_is_a_one_line_input_error_before_any_work(tmp_path, changes, needle):
    out = tmp_path / "never"
    with pytest.raises(InputError, match=needle) as info:
        run_timing_study(out, console=quiet(), **{**TINY, **changes})
    assert len(str(info.value).splitlines()) == 1
    assert not out.exists()


def test_any_executor_runs_the_jobs_and_every_outcome_is_reported(tmp_path):
    """The runner's seam: a factory (number of jobs -> concurrent.futures.Executor), here
    threads; a job that cannot start reports a one-line error instead of raising."""
    from concurrent.futures import ThreadPoolExecutor

    from neurodeploy.study.job import Job

    made, outcomes = [], {}

    def threads(n_jobs):
        made.append(n_jobs)
        return ThreadPoolExecutor(max_workers=2)

    jobs = []
    for name in ("a", "b"):
        (tmp_path / name).write_text("not a run directory")
        jobs.append(Job(name, str(tmp_path / name), {}, {"evaluation": {}}, retrain=True))
    runner.run_jobs(jobs, threads, lambda job, outcome: outcomes.update({job.name: outcome}))
    assert made == [2] and sorted(outcomes) == ["a", "b"]
    for name in ("a", "b"):
        assert outcomes[name] == {"error": f"InputError: {tmp_path / name} exists and is not a "
                                           "run directory; move it away"}
