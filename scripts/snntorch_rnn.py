"""An snnTorch recurrent network, trained in snnTorch, deployed on Loihi 2's integers.

The NIR paper's Braille network, rebuilt on a generated task: 12 input channels ->
``Linear`` (bias) -> ``RSynaptic`` (CubaLIF, recurrent ``Linear`` with a bias) ->
``Linear`` (bias) -> ``Synaptic`` (CubaLIF readout), trained with snnTorch, exported by
``snntorch.export_to_nir``, then

- reset to zero: imported and quantized (PTQ, the Affine biases as a bias unit) and
  compared decision by decision with snnTorch's own outputs on the test samples;
- its reset-by-subtraction sibling: imported with ``--reset zero`` (Loihi 2's reset) and
  fine-tuned with QAT on the chip's integers; its accuracy against snnTorch's.

The task (:func:`braille_task`) is Braille-like: a 2 x 3 dot letter slides under a 2 x 3
taxel sensor; each taxel has an ON and an OFF channel (12 channels) that spike when a dot
starts and stops touching it. Letters differ in which dots they have and in the order the
sensor columns meet them, so the order of events carries the class. Every sample draws a
sliding speed, an onset, spike jitter, dropped events and background noise.

Time: 0-based steps; snnTorch's exporter writes time constants for dt = 1e-4 s, the
step of the data file. neurodeploy adds one step per projection (Loihi 2's hop latency),
so its readout trails snnTorch's by two steps; the mean-membrane readout is compared.

    .venv/bin/python scripts/snntorch_rnn.py            # the bigger version, prints numbers
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import warnings
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from rich.console import Console
from rich.table import Table
from snntorch import surrogate
from snntorch.export_nir import export_to_nir

from neurodeploy import load_network, simulate
from neurodeploy.models.datasets import SpikeDataset, save_dataset
from neurodeploy.quantize.pipeline import quantize_graph
from neurodeploy.readout import readout_logits

DT = 1e-4  # snnTorch's exporter: tau = dt / (1 - beta) with dt = 1e-4 s
N_IN = 12
#: Braille letters a..t as dots 1-6 (dots 1-3: left column top to bottom, 4-6: right)
LETTERS = ("1", "12", "14", "145", "15", "124", "1245", "125", "24", "245",
           "13", "123", "134", "1345", "135", "1234", "12345", "1235", "234", "2345")


def braille_task(n_samples: int, n_classes: int = 10, steps: int = 32,
                 seed: int = 0) -> SpikeDataset:
    """Braille-like 12-channel spike data: ``n_classes`` letters (a, b, ...), balanced.

    Taxel (row r, column s) touches dot (r, c) of the letter at step onset + gap (c + 1 -
    s) / speed (the sensor slides right to left over the cell, its column 1 first) and
    leaves it ``width`` steps later: channel 4 r + 2 s spikes at the touch (ON), channel
    4 r + 2 s + 1 at the release (OFF). Per sample: speed in [0.8, 1.25], onset 2..6,
    each event jittered by N(0, 0.7) steps (rounded) and dropped with probability 0.1,
    and background spikes at 0.005 per channel and step. dt = 1e-4 s per step.
    """
    if not 1 <= n_classes <= len(LETTERS):
        raise ValueError(f"n_classes = {n_classes}; allowed 1..{len(LETTERS)}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_samples) % n_classes)
    x = rng.random((n_samples, steps, N_IN)) < 0.005
    gap, width = 6.0, 4.0
    for k, label in enumerate(labels):
        speed, onset = rng.uniform(0.8, 1.25), rng.integers(2, 7)
        for dot in LETTERS[label]:
            row, col = (int(dot) - 1) % 3, (int(dot) - 1) // 3
            for s in (0, 1):
                touch = onset + gap * (col + 1 - s) / speed
                for polarity, t in ((0, touch), (1, touch + width / speed)):
                    step = int(np.rint(t + rng.normal(0.0, 0.7)))
                    if 0 <= step < steps and rng.random() >= 0.1:
                        x[k, step, 4 * row + 2 * s + polarity] = True
    return SpikeDataset(spikes=x, labels=labels, n_classes=n_classes, dt=DT,
                        task="braille-like", params={"n_classes": n_classes, "steps": steps},
                        seed=seed)


RESETS = ("zero", "zero-delayed", "subtract")
#: How the README names each variant.
VARIANTS = {"zero": "reset to zero in the spike step (Loihi 2's rule)",
            "zero-delayed": "RSynaptic's default reset (zero one step late)",
            "subtract": "reset by subtraction, imported with --reset zero"}


def _reset_to_zero_in_the_spike_step(module: torch.nn.Module, _inputs, spikes) -> None:
    """Forward hook: Loihi's reset (v = 0 in the spike step) on a neuron whose own reset
    is "none"; like snnTorch's own resets it passes no gradient."""
    module.mem = module.mem * (1.0 - spikes.detach())


class BrailleRNN(torch.nn.Module):
    """Linear -> RSynaptic (recurrent, biases everywhere) -> Linear -> Synaptic readout.

    ``reset``:
    - "zero": reset to zero in the spike step, Loihi's rule, in both layers (the readout
      with snnTorch's ``reset_delay=False``; snnTorch 1.0.0's RSynaptic has no working
      ``reset_delay=False``, so its reset is "none" plus a forward hook that zeroes the
      membrane of the neurons that spiked);
    - "zero-delayed": snnTorch's default RSynaptic reset to zero, which acts one step
      late (the membrane is 0 in the step after a spike: a one-step refractory period that
      Loihi 2's LIF neuron does not have);
    - "subtract": snnTorch's default reset by subtraction (the threshold comes off one
      step late in the hidden layer).
    """

    def __init__(self, n_hidden: int, n_classes: int, reset: str, seed: int = 0) -> None:
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"reset = {reset!r}; allowed: {', '.join(RESETS)}")
        torch.manual_seed(seed)
        grad = surrogate.fast_sigmoid(slope=10)

        def full(n: int, value: float) -> torch.Tensor:
            return torch.full((n,), value)  # per neuron: the exporter needs equal shapes

        self.fc1 = torch.nn.Linear(N_IN, n_hidden)
        self.lif1 = snn.RSynaptic(alpha=full(n_hidden, 0.8), beta=full(n_hidden, 0.9),
                                  threshold=full(n_hidden, 1.0), linear_features=n_hidden,
                                  all_to_all=True, spike_grad=grad, init_hidden=True,
                                  reset_mechanism={"zero": "none", "zero-delayed": "zero"}
                                  .get(reset, reset))
        if reset == "zero":
            self.lif1.register_forward_hook(_reset_to_zero_in_the_spike_step)
        self.fc2 = torch.nn.Linear(n_hidden, n_classes)
        self.lif2 = snn.Synaptic(alpha=full(n_classes, 0.8), beta=full(n_classes, 0.9),
                                 threshold=full(n_classes, 1.0), spike_grad=grad,
                                 init_hidden=True, reset_mechanism=reset.split("-")[0],
                                 reset_delay=False)
        with torch.no_grad():
            self.fc1.weight.mul_(2.0)
            self.lif1.recurrent.weight.mul_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))

    def mean_membrane(self, x: torch.Tensor) -> torch.Tensor:
        """snnTorch's own run on (batch, steps, 12) spikes: the readout's mean membrane
        (after its reset) over the steps, the logits (batch, n_classes)."""
        for m in (self.lif1, self.lif2):
            m.reset_mem()
        mem = []
        for t in range(x.shape[1]):
            self(x[:, t])
            mem.append(self.lif2.mem)
        return torch.stack(mem, dim=1).mean(dim=1)


def train_snntorch(model: BrailleRNN, x: np.ndarray, y: np.ndarray, epochs: int,
                   batch: int = 32, lr: float = 3e-3, seed: int = 0) -> None:
    """Adam on the cross-entropy of the mean-membrane logits (float32, snnTorch's own)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), batch):
            idx = order[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model.mean_membrane(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@torch.no_grad()
def snntorch_logits(model: BrailleRNN, x: np.ndarray) -> np.ndarray:
    return model.mean_membrane(torch.as_tensor(x, dtype=torch.float32)).numpy()


def export_graph(model: BrailleRNN, path: Path) -> None:
    """snnTorch's own exporter, written with ``nir.write``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch's entry point
        graph = export_to_nir(model, torch.zeros(N_IN))
    nir.write(str(path), graph)


def deploy(model: BrailleRNN, data: Path, folder: Path, calib: int,
           qat_epochs: int = 0) -> tuple[dict, np.ndarray]:
    """Export, ``neurodeploy quantize GRAPH.nir --data F --reset zero --readout mean_v``
    (``--qat-epochs``) into ``folder/q`` (replacing it), as the library call the CLI makes;
    returns its quantization.json and the held-out sample indices (those after the first
    ``calib`` of its permutation)."""
    export_graph(model, folder / "graph.nir")
    result = quantize_graph(folder / "graph.nir", data, folder / "q", calib=calib, dt=DT,
                            reset="zero", readout="mean_v", qat_epochs=qat_epochs,
                            console=Console(file=io.StringIO()), overwrite=True)
    n = len(np.load(data)["labels"])
    return result, np.random.default_rng(0).permutation(n)[calib:]


def padded(x: np.ndarray, hops: int = 2) -> np.ndarray:
    """``x`` with ``hops`` silent steps appended: the deployed network answers ``hops``
    steps after snnTorch (one per projection), so it runs that much longer to see the
    whole of snnTorch's answer (the mean-v readout then averages the same membrane values,
    shifted, plus ``hops`` leading zeros, which do not change its argmax)."""
    return np.concatenate([x, np.zeros_like(x[:, :hops])], axis=1)


def decisions(folder: Path, x: np.ndarray, target: str = "reference") -> np.ndarray:
    """The deployed network's class decisions (mean-v readout) on ``target``, on ``x``
    padded by :func:`padded`."""
    net = load_network(folder / "q" / "network.npz")
    out = net.outputs[0]
    tr = simulate(net, padded(x), target=target, populations=[out], record=("spikes", "v"))
    return readout_logits(tr.spikes[out], tr.v[out], "mean_v").argmax(axis=1)


def experiment(n_samples: int, n_hidden: int, n_classes: int, steps: int, epochs: int,
               qat_epochs: int, folder: Path, seed: int = 0,
               resets: tuple[str, ...] = RESETS) -> dict[str, float]:
    """Each variant end to end (PTQ for "zero", PTQ then QAT for the others); every
    number the README reports, as shares of the held-out samples."""
    ds = braille_task(n_samples, n_classes, steps, seed=seed)
    data = save_dataset(ds, folder / "braille.npz")
    calib = int(0.75 * n_samples)
    train = np.random.default_rng(0).permutation(n_samples)[:calib]  # quantize's calib
    numbers: dict[str, float] = {}
    for reset in resets:
        model = BrailleRNN(n_hidden, n_classes, reset, seed)
        train_snntorch(model, ds.spikes[train], ds.labels[train], epochs, seed=seed)
        sub = folder / reset
        sub.mkdir(exist_ok=True)
        _, test = deploy(model, data, sub, calib)
        theirs = snntorch_logits(model, ds.spikes[test]).argmax(axis=1)
        y = ds.labels[test]
        ours = decisions(sub, ds.spikes[test])
        numbers[f"{reset}: snnTorch accuracy"] = float((theirs == y).mean())
        numbers[f"{reset}: PTQ accuracy"] = float((ours == y).mean())
        numbers[f"{reset}: PTQ decision agreement with snnTorch"] = float((ours == theirs).mean())
        if reset != "zero" and qat_epochs:
            deploy(model, data, sub, calib, qat_epochs)
            ours = decisions(sub, ds.spikes[test])
            numbers[f"{reset}: QAT accuracy"] = float((ours == y).mean())
            numbers[f"{reset}: QAT decision agreement with snnTorch"] = float(
                (ours == theirs).mean())
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1200)
    parser.add_argument("--hidden", type=int, default=48)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--qat-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resets", default=",".join(RESETS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        numbers = experiment(args.samples, args.hidden, args.classes, args.steps, args.epochs,
                             args.qat_epochs, Path(tmp), args.seed,
                             tuple(args.resets.split(",")))
    for name, value in numbers.items():
        print(f"{name}: {100 * value:.1f} %")
    Console(width=200).print(table(numbers))


def table(numbers: dict[str, float]) -> Table:
    """The README's table: per variant, snnTorch's accuracy, the deployed network's after
    PTQ and after QAT, with the decision agreement with snnTorch in parentheses."""
    out = Table(title="snnTorch recurrent networks on Loihi 2 integers (held-out samples)")
    for col in ("snnTorch network", "snnTorch", "Loihi 2 integers, PTQ (agreement)",
                "after QAT (agreement)"):
        out.add_column(col)
    for reset, label in VARIANTS.items():
        if f"{reset}: snnTorch accuracy" not in numbers:
            continue

        def cell(stage: str, reset: str = reset) -> str:
            acc = numbers.get(f"{reset}: {stage} accuracy")
            agree = numbers.get(f"{reset}: {stage} decision agreement with snnTorch")
            return "-" if acc is None else f"{100 * acc:.1f}% ({100 * agree:.1f}%)"

        out.add_row(label, f"{100 * numbers[f'{reset}: snnTorch accuracy']:.1f}%",
                    cell("PTQ"), cell("QAT"))
    return out


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    main()
