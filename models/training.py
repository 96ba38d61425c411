"""Training: Adam with a cosine schedule, early stopping, best checkpoint, integer-delay phase.

``train(TrainConfig(...), out_dir)`` writes a run directory that fully describes the model:

- ``config.json``: the training config, the network config (rebuilds the module) and the
  dataset's description (task, parameters, seed, dt); a data file is named relative to the
  run directory (:func:`stored_run`), so the directory works from anywhere;
- ``model.pt``: the best state dict (``torch.load(..., weights_only=True)``);
- ``metrics.json``: per-epoch train/validation loss and accuracy, the best epoch, test
  accuracy with continuous delays and with the rounded integer delays used on the chip;
- ``learning_curve.png``.

Delays: after the main phase (continuous delays), ``int_delay_epochs`` more epochs train
with the rounded integer delays in the forward pass, so that rounding costs nothing at
deployment. Same seed, same data and same final weights on CPU.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from neurodeploy.errors import InputError
from neurodeploy.models.datasets import describe, load_dataset, make_task, split
from neurodeploy.models.network import (
    NetworkConfig,
    SpikingNetwork,
    check_finite,
    conv_shapes,
    int_sizes,
    parse_conv_spec,
)
from neurodeploy.network_io import (
    atomic_directory,
    atomic_output,
    atomic_write_text,
    check_input_file,
    check_output_folder,
    read_json,
)

CHECKPOINT = "model.pt"

#: glibc's mallopt parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def retain_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse (a process-wide setting): blocks up
    to 32 MiB come from the heap instead of their own mmap, and the heap is returned to
    the system only when more than 1 GiB of it is free.

    A training step allocates and frees the same large tensors every step (time-major
    records, their gradients: MiBs each); by default glibc hands many of them back to the
    system and the next step takes them again, zero-filled page by page (thousands of page
    faults, a fifth of a CPU step, and different from step to step). The cost is memory:
    the process keeps its peak heap. Returns False where the C library is not glibc
    (nothing is changed there)."""
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):
            return False
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
                    and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s state dict (CPU tensors, loadable with ``weights_only=True``) to
    ``path`` atomically; the same weights give the same bytes (torch names the zip's root
    folder after the file it writes to, so it writes to memory first, under a fixed name)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all saved in ``config.json``)."""

    task: str | None = "ccisi"
    data: str | None = None  # an NPZ dataset file instead of a generated task
    task_params: dict = field(default_factory=dict)
    preset: str = "default"
    hidden: tuple[int, ...] = (128, 128)
    conv: str | None = None  # convolutions before the hidden layers, e.g. "16c5s2p1,pool2"
    input_shape: tuple[int, int, int] | None = None  # (C, H, W); else the data's frame_shape
    recurrent: bool = False
    delays: str = "axonal"
    max_delay: int = 62
    stochastic: bool = False
    surrogate: str = "superspike"
    beta: float = 10.0
    readout: str = "mean_v"
    du: float = 0.2
    dv: float = 0.05
    vth: float = 1.0
    weight_gain: float = 3.0
    delay_init: float = 5.0  # initial delays uniform in [0, delay_init] steps
    init_rate: float = 0.05  # calibrate initial weights for this firing rate (spikes/step)
    epochs: int = 30
    int_delay_epochs: int = 5
    batch_size: int = 64
    lr: float = 5e-3
    delay_lr: float = 0.03
    weight_decay: float = 0.0
    patience: int = 10
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.task is None and self.data is None:
            raise InputError("give a task (--task) or a dataset file (--data)")
        if self.epochs < 0 or self.int_delay_epochs < 0:
            raise InputError(f"epochs = {self.epochs}, int_delay_epochs = "
                             f"{self.int_delay_epochs}: must be >= 0")
        if self.batch_size < 1:
            raise InputError(f"batch_size = {self.batch_size} must be >= 1")
        check_finite(lr=self.lr, delay_lr=self.delay_lr, weight_decay=self.weight_decay,
                     init_rate=self.init_rate, du=self.du, dv=self.dv, vth=self.vth,
                     beta=self.beta, weight_gain=self.weight_gain,
                     delay_init=self.delay_init)
        if self.lr <= 0:
            raise InputError(f"lr = {self.lr} must be > 0")
        if self.delay_lr < 0 or self.weight_decay < 0:
            raise InputError(f"delay_lr = {self.delay_lr}, weight_decay = "
                             f"{self.weight_decay}: must be >= 0")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device = {self.device!r} but no CUDA device is available here")
        self.hidden = int_sizes("hidden", self.hidden)
        if not isinstance(self.splits, (list, tuple)) or len(self.splits) != 3:
            raise InputError(f"splits = {self.splits!r}: expected three fractions "
                             "(train, validation, test)")
        check_finite(**{f"splits[{i}]": s for i, s in enumerate(self.splits)})
        self.splits = tuple(float(s) for s in self.splits)
        if self.conv is not None:
            conv, pool = parse_conv_spec(self.conv)
            if self.input_shape is not None:
                self.input_shape = int_sizes("input_shape", self.input_shape)
                if len(self.input_shape) != 3:
                    raise InputError(f"input_shape = {list(self.input_shape)}: expected "
                                     "(C, H, W)")
                conv_shapes(self.input_shape, conv, pool)
        # fail before any data is generated: the network checks these again
        NetworkConfig(n_inputs=1, n_outputs=1, hidden=self.hidden, recurrent=self.recurrent,
                      delays=self.delays, max_delay=self.max_delay, readout=self.readout,
                      surrogate=self.surrogate, beta=self.beta, stochastic=self.stochastic)

    def to_json(self) -> dict:
        data = asdict(self)
        data["hidden"], data["splits"] = list(self.hidden), list(self.splits)
        if self.input_shape is not None:
            data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_json(cls, data: dict, where: str = "train config") -> TrainConfig:
        """The config saved by :meth:`to_json`; a bad value is a one-line InputError
        prefixed with ``where`` (e.g. the file and section it came from)."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: is {type(data).__name__}; expected a JSON object")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (InputError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: {exc}") from None


def stored_run(run: Mapping[str, Any], run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``run`` (a run description whose ``train.data`` is a path from the working directory)
    as a run directory ``run_dir`` stores it: ``train.data`` relative to ``run_dir``, so
    that the directory works from anywhere and when moved together with its data."""
    data = run.get("train", {}).get("data")
    if not isinstance(data, str):
        return dict(run)
    return {**run, "train": {**run["train"], "data": os.path.relpath(data, run_dir)}}


def resolved_run(run: Mapping[str, Any], run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Inverse of :func:`stored_run`: ``train.data`` of a run directory's description as a
    path from the working directory. A run written before paths were stored relative to
    their directory named its data relative to where it was trained: that path is kept
    when only it exists."""
    train = run.get("train")
    data = train.get("data") if isinstance(train, Mapping) else None
    if not isinstance(data, str):
        return dict(run)
    path = os.path.normpath(os.path.join(run_dir, data))
    if not os.path.exists(path) and os.path.exists(data):
        path = data
    return {**run, "train": {**train, "data": path}}


def load_dataset_for(config: TrainConfig):
    """The dataset a config names: a file, or a generated task (seeded by config.seed)."""
    if config.data is not None:
        return load_dataset(config.data)
    return make_task(config.task, seed=config.seed, preset=config.preset, **config.task_params)


def network_config_for(config: TrainConfig, n_inputs: int, n_outputs: int,
                       frame_shape: object = None) -> NetworkConfig:
    """The network a training config builds; ``frame_shape`` is the data set's (C, H, W)
    (its ``params["frame_shape"]``), the input shape of convolutions unless the config
    names one."""
    conv: dict = {}
    if config.conv is not None:
        spec, pool = parse_conv_spec(config.conv)
        shape = config.input_shape if config.input_shape is not None else frame_shape
        if shape is None:
            raise InputError(f"conv = {config.conv!r}: the data set declares no frame_shape; "
                             "give the input's (C, H, W) (--input-shape)")
        conv = dict(conv=spec, dense_pool=pool, input_shape=tuple(shape))
    return NetworkConfig(**conv,
        n_inputs=n_inputs, n_outputs=n_outputs, hidden=config.hidden,
        recurrent=config.recurrent, delays=config.delays, max_delay=config.max_delay,
        readout=config.readout, surrogate=config.surrogate, beta=config.beta,
        stochastic=config.stochastic, du=config.du, dv=config.dv, vth=config.vth,
        weight_gain=config.weight_gain, delay_init=config.delay_init, seed=config.seed,
    )


def evaluate(model: SpikingNetwork, spikes: np.ndarray, labels: np.ndarray,
             batch_size: int = 256, device: str = "cpu") -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in evaluation mode (deterministic spikes)."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            x = torch.as_tensor(spikes[i : i + batch_size], dtype=torch.float32, device=device)
            y = torch.as_tensor(labels[i : i + batch_size], device=device)
            logits = model(x)
            total_loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
    n = max(1, len(labels))
    return total_loss / n, correct / n


def _optimizer(model: SpikingNetwork, config: TrainConfig, lr_scale: float = 1.0):
    delay_params = [p for n, p in model.named_parameters() if n.endswith(".delay")]
    other = [p for n, p in model.named_parameters()
             if not n.endswith(".delay") and p.requires_grad]
    groups = [{"params": other, "lr": config.lr * lr_scale}]
    if delay_params:
        groups.append({"params": delay_params, "lr": config.delay_lr * lr_scale})
    return torch.optim.Adam(groups, weight_decay=config.weight_decay)


def _train_phase(model, config, train, val, epochs, phase, history, progress, lr_scale=1.0):
    """Train ``epochs`` epochs; returns the best state dict by validation accuracy."""
    opt = _optimizer(model, config, lr_scale)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    best = (-1.0, float("inf"), None, -1)
    stale = 0
    task = progress.add_task(phase, total=epochs, info="")
    for epoch in range(epochs):
        model.train()
        rng = np.random.default_rng([config.seed, len(history), epoch])
        order = rng.permutation(len(train.labels))
        total, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            x = torch.as_tensor(train.spikes[idx], dtype=torch.float32, device=config.device)
            y = torch.as_tensor(train.labels[idx], device=config.device)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(dim=1) == y).sum())
            seen += len(idx)
        sched.step()
        val_loss, val_acc = evaluate(model, val.spikes, val.labels, device=config.device)
        history.append({"phase": phase, "epoch": epoch, "train_loss": total / seen,
                        "train_acc": correct / seen, "val_loss": val_loss, "val_acc": val_acc})
        progress.update(task, advance=1, info=f"loss {total / seen:.3f} train "
                        f"{correct / seen:.1%} val {val_acc:.1%}")
        if (val_acc, -val_loss) > (best[0], -best[1]):
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = (val_acc, val_loss, state, epoch)
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best[2] is not None:
        model.load_state_dict(best[2])
    return best[3]


def train(config: TrainConfig, out_dir: str | os.PathLike[str],
          console: Console | None = None) -> dict:
    """Train per ``config`` and write the run directory ``out_dir``; returns the metrics."""
    console = console or Console()
    out = Path(out_dir)
    check_output_folder(out, "config.json")  # before the work; written whole at the end
    if config.threads:
        torch.set_num_threads(config.threads)
    retain_freed_memory()
    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    dataset = load_dataset_for(config)
    train_ds, val_ds, test_ds = split(dataset, config.splits, seed=config.seed)
    net_config = network_config_for(config, dataset.spikes.shape[2], dataset.n_classes,
                                    dataset.params.get("frame_shape"))
    model = SpikingNetwork(net_config).to(config.device)
    order = np.random.default_rng(config.seed).permutation(len(train_ds.labels))
    calib = train_ds.spikes[order[:256]]
    init_rates = model.calibrate_init(torch.as_tensor(calib, dtype=torch.float32,
                                                      device=config.device), config.init_rate)
    has_delays = any(d != "none" for d in net_config.delays)
    history: list[dict] = []
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total} epochs"), TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        best_epoch = _train_phase(model, config, train_ds, val_ds, config.epochs, "train",
                                  history, progress)
        _, test_acc_continuous = evaluate(model, test_ds.spikes, test_ds.labels,
                                          device=config.device)
        model.set_integer_delays(True)
        _, test_acc_rounded = evaluate(model, test_ds.spikes, test_ds.labels,
                                       device=config.device)
        if has_delays and config.int_delay_epochs:
            _train_phase(model, config, train_ds, val_ds, config.int_delay_epochs,
                         "integer delays", history, progress, lr_scale=0.2)
    model.snap_delays()  # the checkpoint holds the integer delays the chip will use
    val_loss, val_acc = evaluate(model, val_ds.spikes, val_ds.labels, device=config.device)
    test_loss, test_acc = evaluate(model, test_ds.spikes, test_ds.labels, device=config.device)
    metrics = {
        "history": history, "best_epoch": best_epoch,
        "val_acc": val_acc, "val_loss": val_loss, "test_acc": test_acc, "test_loss": test_loss,
        "test_acc_continuous_delays": test_acc_continuous if has_delays else None,
        "test_acc_rounded_delays_before_phase": test_acc_rounded if has_delays else None,
        "init_rates": init_rates, "n_train": len(train_ds.labels), "n_val": len(val_ds.labels),
        "n_test": len(test_ds.labels),
    }
    run = stored_run({"train": config.to_json(), "network": net_config.to_json(),
                      "dataset": describe(dataset), "format": "neurodeploy.run",
                      "version": 1}, out)
    with atomic_directory(out, marker="config.json") as tmp:
        save_checkpoint(model, tmp / CHECKPOINT)
        atomic_write_text(tmp / "config.json", run_json(run))
        atomic_write_text(tmp / "metrics.json", json.dumps(metrics, indent=2))
        plot_learning_curve(history, tmp / "learning_curve.png")
    return metrics


def run_json(run: Mapping[str, Any]) -> str:
    """A run description as ``config.json`` holds it."""
    return json.dumps(run, indent=2, default=_json_default)


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def plot_learning_curve(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch (train and validation), both phases, as a PNG."""
    fig = Figure(figsize=(9, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    x = np.arange(len(history))
    for key, ax in (("loss", ax_loss), ("acc", ax_acc)):
        ax.plot(x, [h[f"train_{key}"] for h in history], label="train")
        ax.plot(x, [h[f"val_{key}"] for h in history], label="validation")
        ax.set_xlabel("epoch (all phases)")
        ax.set_ylabel(key)
    switch = next((i for i, h in enumerate(history) if h["phase"] != "train"), None)
    if switch is not None:
        for ax in (ax_loss, ax_acc):
            ax.axvline(switch - 0.5, color="grey", linestyle=":", label="integer delays")
    ax_acc.legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)


def read_run_files(run_dir: str | os.PathLike[str], kind: str = "training run",
                   config_name: str = "config.json") -> tuple[dict, dict]:
    """(run description, state dict) of a run directory: ``config_name`` (JSON) and the
    weights-only checkpoint ``model.pt``, with one-line errors for a missing file, bad JSON
    or a corrupted checkpoint (``kind`` names what the directory should be)."""
    run_dir = Path(run_dir)
    for name in (config_name, CHECKPOINT):
        if not (run_dir / name).exists():
            raise InputError(f"{run_dir}: not a {kind} directory ({name} missing)")
    run = resolved_run(read_json(run_dir / config_name, f"the description of a {kind}"),
                       run_dir)
    checkpoint = check_input_file(run_dir / CHECKPOINT, "a weights-only torch checkpoint")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupted checkpoint
        raise InputError(f"{run_dir / CHECKPOINT}: cannot be read as a weights-only torch "
                         f"checkpoint ({type(exc).__name__})") from None
    return run, state


def load_run(run_dir: str | os.PathLike[str],
             config_name: str = "config.json") -> tuple[SpikingNetwork, dict]:
    """Rebuild the trained model of a run directory (eval mode, integer delays).

    ``config_name``: the run description's file (a quantize output keeps it as
    ``run.json`` beside a copy of ``model.pt``).
    """
    run_dir = Path(run_dir)
    run, state = read_run_files(run_dir, config_name=config_name)
    where = run_dir / config_name
    if not isinstance(run.get("network"), dict) or not isinstance(run.get("train"), dict):
        raise InputError(f"{where}: lacks the 'network' and 'train' sections of a training "
                         "run")
    # checked as a config (the device it trained on need not be here)
    TrainConfig.from_json({**run["train"], "device": "cpu"}, f"{where} train")
    try:
        config = NetworkConfig.from_json(run["network"])
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"{where} network: {exc}") from None
    try:
        model = SpikingNetwork(config)
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{run_dir}: checkpoint does not match its {config_name} "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    model.set_integer_delays(True)
    model.eval()
    return model, run
