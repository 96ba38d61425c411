"""Training a :class:`TTFSNetwork` on the digits in continuous time, saving and loading it.

Loss (per batch): ``time_loss(t_out, labels, scale)`` (cross-entropy on softmax of
-scale * t_out, t in tau_syn units) plus ``penalty * sum_j max(0, (1 + penalty_margin) *
theta - sum_i w_ji)`` over every neuron (Mostafa's weight-sum penalty; the margin keeps
neurons away from the edge where W_C -> theta and the spike time diverges). The softmax is
taken over -t rather than Mostafa's -z = -exp(t): it depends only on time differences
(shifting all spikes changes nothing), and ``scale`` (default 3 per tau_syn) sets how
large a lead the correct neuron must build (a larger lead also survives a coarser dt
after deployment). Adam with a cosine learning-rate schedule, gradient norm clipped, a
fixed number of epochs (no early stopping; the test split is only used for the final
score). One thread by default: the tensors are small, one thread is reproducible and
hardly slower, and two threads on a CPU shared with other work were measured 20-50x
slower (the threads wait on each other); the previous thread count is restored.

A run directory holds ``model.pt`` (the state dict, read with ``weights_only=True``),
``config.json`` (the :class:`TTFSConfig`, the training options, format and version) and
``metrics.json`` (loss and accuracies per epoch, test accuracy).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from neurodeploy.errors import InputError
from neurodeploy.models.exact.encoding import load_timed_digits
from neurodeploy.models.exact.ttfs import TTFSConfig, TTFSNetwork, time_loss, weight_sum_penalty
from neurodeploy.models.training import CHECKPOINT, read_run_files, save_checkpoint
from neurodeploy.network_io import atomic_write_text

RUN_FORMAT = "neurodeploy.ttfs_run"
VERSION = 1


def check_train_options(options, positive: tuple[str, ...]) -> None:
    """One-line :class:`InputError` unless ``options.epochs``, ``batch_size`` and ``threads``
    are >= 1 and every field named in ``positive`` is a finite number > 0; ``options.hidden``
    becomes a tuple of ints."""
    if options.epochs < 1 or options.batch_size < 1 or options.threads < 1:
        raise InputError(f"epochs = {options.epochs}, batch_size = {options.batch_size}, "
                         f"threads = {options.threads}: each must be >= 1")
    for name in positive:
        value = getattr(options, name)
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} = {value} must be > 0")
    object.__setattr__(options, "hidden", tuple(int(h) for h in options.hidden))


def clipped_step(loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
                 schedule, clip_norm: float) -> None:
    """One optimizer step on ``loss``: backward, gradient norm clipped to ``clip_norm``,
    the optimizer's and the learning-rate schedule's step."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    opt.step()
    schedule.step()


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class TTFSTrainOptions:
    """Hyper-parameters of :func:`train_ttfs_digits` (saved in ``config.json``)."""

    seed: int = 0
    epochs: int = 30
    hidden: tuple[int, ...] = (100,)
    window: float = 2.0  # encoding window, tau_syn units
    test_fraction: float = 0.2
    batch_size: int = 32
    lr: float = 1e-3
    scale: float = 3.0  # softmax over -scale * t
    penalty: float = 10.0  # K
    penalty_margin: float = 0.2
    clip_norm: float = 10.0
    init_gain: float = 2.0
    tau_syn: float | str = "units"
    threshold: float = 1.0
    threads: int = 1

    def __post_init__(self) -> None:
        check_train_options(self, ("lr", "scale", "clip_norm", "init_gain"))
        if self.penalty < 0 or self.penalty_margin < 0:
            raise InputError(f"penalty = {self.penalty}, penalty_margin = {self.penalty_margin}: "
                             "must be >= 0")


@dataclass
class TTFSRun:
    """A trained model, its metrics and where it was saved (None when not saved)."""

    model: TTFSNetwork
    metrics: dict
    path: Path | None


def accuracy(model: TTFSNetwork, times: np.ndarray, labels: np.ndarray) -> float:
    """Test accuracy in % of the continuous model (earliest output spike; none = wrong)."""
    with torch.no_grad():
        pred = model.predict(model(torch.as_tensor(times, dtype=torch.float32)))
    return 100.0 * float((pred.numpy() == np.asarray(labels)).mean())


def train_ttfs_digits(options: TTFSTrainOptions | None = None,
                      out: str | os.PathLike[str] | None = None, log=None,
                      **overrides) -> TTFSRun:
    """Train a 64 -> hidden -> 10 TTFS network on the digits (continuous time, exact
    gradients) and, when ``out`` is given, save the run there. ``overrides`` replace fields
    of ``options`` (e.g. ``epochs=5``); ``log`` is called with one line per epoch."""
    options = TTFSTrainOptions(**{**asdict(options or TTFSTrainOptions()), **overrides})
    data = load_timed_digits(options.seed, options.window, options.test_fraction)
    config = TTFSConfig(n_inputs=data.train_times.shape[1], hidden=options.hidden,
                        n_outputs=int(data.train_labels.max()) + 1,
                        threshold=options.threshold, tau_syn=options.tau_syn,
                        data=data.description)
    with torch_threads(options.threads):
        model, history, seconds = _fit(config, options, data, log)
    metrics = {
        "history": history, "train_seconds": seconds,
        "train_accuracy_pct": accuracy(model, data.train_times, data.train_labels),
        "test_accuracy_pct": accuracy(model, data.test_times, data.test_labels),
        "n_train": len(data.train_labels), "n_test": len(data.test_labels),
    }
    path = None if out is None else save_ttfs(model, out, options, metrics)
    return TTFSRun(model, metrics, path)


def _fit(config: TTFSConfig, options: TTFSTrainOptions, data, log):
    torch.manual_seed(options.seed)
    gen = torch.Generator().manual_seed(options.seed)
    model = TTFSNetwork(config)
    model.init_weights(gen, gain=options.init_gain)
    x = torch.as_tensor(data.train_times, dtype=torch.float32)
    y = torch.as_tensor(data.train_labels)
    opt = torch.optim.Adam(model.parameters(), lr=options.lr)
    steps = options.epochs * math.ceil(len(y) / options.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    history = []
    start = time.perf_counter()
    for epoch in range(options.epochs):
        order = torch.randperm(len(y), generator=gen)
        total, correct = 0.0, 0
        for i in range(0, len(y), options.batch_size):
            batch = order[i:i + options.batch_size]
            t_out = model(x[batch])
            loss = time_loss(t_out, y[batch], options.scale) + options.penalty * sum(
                weight_sum_penalty(layer.weight, (1.0 + options.penalty_margin) * config.threshold)
                for layer in model.layers)
            clipped_step(loss, model, opt, schedule, options.clip_norm)
            total += loss.item() * len(batch)
            correct += int((model.predict(t_out.detach()) == y[batch]).sum())
        history.append({"epoch": epoch, "loss": total / len(y),
                        "train_accuracy_pct": 100.0 * correct / len(y)})
        if log is not None:
            log(f"epoch {epoch + 1}/{options.epochs}: loss {total / len(y):.4f}, "
                f"train accuracy {100.0 * correct / len(y):.1f}% (during the epoch)")
    return model, history, time.perf_counter() - start


def _data_paths(run: dict, where: Callable[[str], str]) -> dict:
    """``run`` with its data file paths (``network.data.file``, ``train.data``) mapped by
    ``where``."""
    run = dict(run)
    data = (run.get("network") or {}).get("data")
    if isinstance(data, dict) and isinstance(data.get("file"), str):
        run["network"] = {**run["network"], "data": {**data, "file": where(data["file"])}}
    if isinstance(run.get("train"), dict) and isinstance(run["train"].get("data"), str):
        run["train"] = {**run["train"], "data": where(run["train"]["data"])}
    return run


def save_timing_run(model: torch.nn.Module, out: str | os.PathLike[str], run_format: str,
                    network: dict, train: dict | None, metrics: dict | None) -> Path:
    """Write ``model.pt`` (state dict), ``config.json`` (``{"format": run_format, "version",
    "network", "train"}``) and ``metrics.json`` into ``out``, each atomically. Data file
    paths are stored relative to ``out`` (the run works from anywhere and when moved
    together with its data)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, out / CHECKPOINT)
    run = _data_paths({"format": run_format, "version": VERSION, "network": network,
                       "train": train}, lambda p: os.path.relpath(p, out))
    atomic_write_text(out / "config.json", json.dumps(run, indent=2))
    if metrics is not None:  # the wall time is shown, not stored: same seed, same bytes
        kept = {k: v for k, v in metrics.items() if k != "train_seconds"}
        atomic_write_text(out / "metrics.json", json.dumps(kept, indent=2))
    return out


def load_timing_run(path: str | os.PathLike[str], run_format: str, kind: str,
                    build: Callable[[dict], torch.nn.Module]) -> tuple[torch.nn.Module, dict]:
    """Rebuild a model saved by :func:`save_timing_run`: ``build(run["network"])`` makes the
    module, the weights are loaded (``weights_only=True``), eval mode. One-line
    :class:`InputError` for another kind of directory or a mismatching checkpoint."""
    path = Path(path)
    run, state = read_run_files(path, kind=kind)
    if not isinstance(run, dict) or run.get("format") != run_format \
            or run.get("version") != VERSION:
        found = (run.get("format"), run.get("version")) if isinstance(run, dict) else None
        raise InputError(f"{path}: format {found} is not a {kind}; expected "
                         f"{run_format!r} version {VERSION}")
    run = _data_paths(run, lambda p: os.path.normpath(os.path.join(path, p)))
    try:
        model = build(run["network"])
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: checkpoint does not match its config.json "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    model.eval()
    return model, run


def save_ttfs(model: TTFSNetwork, out: str | os.PathLike[str],
              options: TTFSTrainOptions | None = None, metrics: dict | None = None) -> Path:
    """Write ``model.pt``, ``config.json`` (and ``metrics.json``) into ``out``, atomically."""
    train = None if options is None else {**asdict(options), "hidden": list(options.hidden)}
    return save_timing_run(model, out, RUN_FORMAT, model.config.to_json(), train, metrics)


def load_ttfs(path: str | os.PathLike[str]) -> tuple[TTFSNetwork, dict]:
    """Rebuild a saved TTFS model (eval mode) and its run description from a run directory."""
    return load_timing_run(path, RUN_FORMAT, "TTFS run",
                           lambda network: TTFSNetwork(TTFSConfig.from_json(network)))
