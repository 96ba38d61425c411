"""Torch integer emulation: the fixed-point network run by PyTorch, bit for bit.

The target ``"torch-int"`` computes exactly the integers of the reference simulator
(``neurodeploy.targets.reference``, itself tested against Lava 0.10's ``fixed_pt``
models): both run the integer kernel (``neurodeploy.kernel``: :func:`lif_step` and
:func:`accumulate`), here with its torch realisation (``neurodeploy.kernel.torch_ops``,
float64 tensors that hold integers exactly, on CPU or CUDA). It exists so that
quantization-aware training can use the very arithmetic that the chip runs.

Time convention: steps are 0-based; a spike emitted at step t by a projection's source
(or the network input) reaches the destination neuron at step t + 1 + delay, one step
per hop. Because every hop takes at least one step, all populations read only earlier
steps, so the loop below simply steps time forward and updates every population.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import torch

from neurodeploy.errors import TargetUnavailableError
from neurodeploy.kernel import accumulate, lif_step
from neurodeploy.kernel.torch_ops import DTYPE, TorchIntOps, TorchLIF
from neurodeploy.network import INPUT, Conv2d, FixedPointNetwork, Projection, Slot
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes


def _torch_slot(sl: Slot, device: torch.device) -> Slot:
    """A delay slot with tensors: ``cols`` long indices (or None), ``weights`` transposed
    (n_cols, n_dst) float64, so that ``spikes @ weights`` maps (batch, n_cols) to (batch,
    n_dst)."""
    cols = None if sl.cols is None else torch.as_tensor(sl.cols, dtype=torch.long, device=device)
    return replace(sl, cols=cols, weights=torch.as_tensor(sl.weights.T.astype(np.float64),
                                                          device=device))


# -------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class _TorchProjection:
    src: str
    weight_exp: int
    slots: tuple[Slot, ...]
    conv: Conv2d | None = None  # run as torch's conv2d of ``kernel`` (one slot, no delays)
    kernel: torch.Tensor | None = None

    @classmethod
    def of(cls, p: Projection, device: torch.device) -> _TorchProjection:
        if p.conv is None:
            return cls(p.src, p.weight_exp,
                       tuple(_torch_slot(sl, device) for sl in p.delay_slots()))
        kernel = torch.as_tensor(p.conv.kernel.astype(np.float64), device=device)
        return cls(p.src, p.weight_exp, (), p.conv, kernel)

    def convolve(self, s: torch.Tensor) -> torch.Tensor:
        """(batch, n_src) spikes through the convolution: (batch, n_dst), float64 sums of
        integers, exact below 2**53 (``F.conv2d`` is a correlation, as :class:`Conv2d`)."""
        c = self.conv
        out = torch.nn.functional.conv2d(s.reshape(-1, *c.in_shape), self.kernel,
                                         stride=c.stride, padding=c.padding,
                                         dilation=c.dilation, groups=c.groups)
        return out.reshape(s.shape[0], -1)


def _resolve_device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TargetUnavailableError(
            f"torch-int: device {str(device)!r} requested, but CUDA is not available here; "
            "use device='cpu'")
    return dev


class TorchIntPlan:
    """A network prepared for the torch integer emulation (reuse it across batches)."""

    def __init__(self, net: FixedPointNetwork, device: str | torch.device = "cpu") -> None:
        self.net = net
        self.device = _resolve_device(device)
        self.history = net.max_delay + 1  # ring buffer of the last max_delay + 1 steps
        self.ops = TorchIntOps(net.chip)
        self.params = {name: TorchLIF.of(c, self.device) for name, c in net.lif_constants().items()}
        self.incoming = {name: [_TorchProjection.of(p, self.device) for p in net.incoming(name)]
                         for name in net.populations}

    def _projection_input(
        self, tp: _TorchProjection, hist: dict[str, torch.Tensor], t: int, wrap: bool
    ) -> torch.Tensor | None:
        """Input projection ``tp`` delivers at step t from its source's spike ring buffer."""
        hlen = self.history
        if tp.conv is not None:
            sums = [tp.convolve(hist[tp.src][(t - 1) % hlen])]
            return accumulate(self.ops, sums, tp.weight_exp, wrap)

        def slot_sum(slot: Slot) -> torch.Tensor:
            s = hist[tp.src][(t - 1 - slot.delay) % hlen]
            x = s if slot.cols is None else s.index_select(1, slot.cols)
            return x @ slot.weights

        return accumulate(self.ops, map(slot_sum, tp.slots), tp.weight_exp, wrap)

    def run(
        self,
        spikes: np.ndarray,
        record: Iterable[str] = ("spikes",),
        populations: Iterable[str] | None = None,
    ) -> Traces:
        """Simulate a batch of input spikes (batch, steps, n_inputs); see ``simulate``."""
        net, dev, hlen = self.net, self.device, self.history
        x = check_spikes(net, spikes)
        record = check_record(record)
        wanted = check_populations(net, populations)
        batch, steps, _ = x.shape
        inputs = torch.as_tensor(x, dtype=DTYPE, device=dev)
        # hist[name][t % hlen] holds the spikes of step t (zeros for steps not yet run)
        hist = {n: torch.zeros((hlen, batch, net.size_of(n)), dtype=DTYPE, device=dev)
                for n in (INPUT, *net.populations)}
        state = {n: (torch.zeros((batch, p.size), dtype=DTYPE, device=dev),
                     torch.zeros((batch, p.size), dtype=DTYPE, device=dev))
                 for n, p in net.populations.items()}
        rec: dict[str, dict[str, list[torch.Tensor]]] = {
            kind: {n: [] for n in wanted} for kind in record}
        for t in range(steps):
            a_in = {}
            for name, params in self.params.items():  # reads steps <= t - 1 only
                parts = [self._projection_input(tp, hist, t, params.emulate_int32)
                         for tp in self.incoming[name]]
                parts = [a for a in parts if a is not None]
                a_in[name] = sum(parts[1:], parts[0]) if parts else None
            hist[INPUT][t % hlen] = inputs[:, t]
            for name, params in self.params.items():
                if net.populations[name].resets_at(t):
                    state[name] = tuple(torch.zeros_like(x) for x in state[name])
                s, u, v = lif_step(self.ops, params, a_in[name], *state[name])
                state[name] = (u, v)
                hist[name][t % hlen] = s
                for kind, value in (("spikes", s), ("u", u), ("v", v)):
                    if name in rec.get(kind, {}):
                        rec[kind][name].append(value)

        def stacked(kind: str, dtype: type) -> dict[str, np.ndarray]:
            return {n: torch.stack(vals, dim=1).cpu().numpy().astype(dtype)
                    for n, vals in rec.get(kind, {}).items()}

        return Traces(target="torch-int", spikes=stacked("spikes", bool),
                      v=stacked("v", np.int64), u=stacked("u", np.int64))


def simulate_torch_int(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    device: str | torch.device = "cpu",
) -> Traces:
    """Run ``net`` in torch integer emulation on ``device`` ("cpu", or "cuda" if available).

    Same inputs, outputs and integers as the reference simulator: ``spikes`` is (batch,
    steps, n_inputs), step t 0-based, one step per hop; returns spikes (bool) and the
    recorded u, v (int64), each (batch, steps, size). See :func:`neurodeploy.simulate`.
    """
    return TorchIntPlan(net, device=device).run(spikes, record, populations)
