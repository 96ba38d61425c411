"""The reference fixed-point simulator: Lava's ``fixed_pt`` arithmetic, vectorised.

It computes, bit for bit, what Lava 0.10's ``PyLifModelBitAcc`` with ``Sparse`` /
``DelaySparse`` projections computes (see ``neurodeploy.network`` for the update
equations), for a whole batch at once, and is tested against Lava itself.

How it is fast while exact:

- Time runs in blocks of ``block_steps`` steps. Populations are visited by strongly
  connected component in topological order; a non-recurrent population gets the input
  of the whole block from one matrix product per projection and delay slot
  (batch*block x n_src @ n_src x n_dst), then a cheap element-wise scan over the block.
  Recurrent components are stepped one step at a time.
- Products run in float32 when every partial sum of a destination neuron is an integer
  below 2**24 (all partial sums are bounded by the sum of |weights| of its row, so
  float32 represents every intermediate exactly, whatever the summation order), else in
  float64 (exact below 2**53). ``tests/test_reference.py`` checks this against integer
  arithmetic.
- Spike history is kept for ``max_delay + 1`` steps plus one block, so working memory is
  proportional to batch x (max delay + 1 + block) x neurons, not to the number of steps;
  only what is recorded grows with the steps.

Time convention: 0-based steps; a spike at step t reaches a neuron behind one projection
at step t + 1 + delay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from neurodeploy import fixed_point as fp
from neurodeploy.network import INPUT, FixedPointNetwork, Projection
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

FLOAT32_EXACT = 1 << 24
INT32_RISK = (1 << 31) - fp.STATE_HALF  # |a_in << 6| beyond this can overflow Lava's int32


@dataclass(frozen=True)
class _Slot:
    """One delay value of a projection: ``S[t - 1 - delay, cols] @ matrix``."""

    delay: int
    cols: np.ndarray | None  # source indices feeding this slot (None: all)
    matrix: np.ndarray  # (n_cols, n_dst) float32/float64, exact integers


@dataclass(frozen=True)
class _CompiledProjection:
    src: str
    dst: str
    n_dst: int
    weight_exp: int
    slots: tuple[_Slot, ...]  # empty when every weight is 0
    matrix: np.ndarray  # all weights (n_src, n_dst), for the one-product axonal path
    axonal_delays: np.ndarray | None  # per-source delays when the projection has them


def _compile_projection(p: Projection) -> _CompiledProjection:
    w = p.weights.astype(np.int64)
    exact32 = int(np.abs(w).sum(axis=1).max()) < FLOAT32_EXACT
    dtype = np.float32 if exact32 else np.float64
    slots: list[_Slot] = []
    kind = p.delay_kind
    axonal = None
    if kind in ("none", "uniform"):
        if w.any():
            slots.append(_Slot(p.max_delay, None, w.T.astype(dtype)))
    elif kind == "axonal":
        axonal = np.asarray(p.delays, dtype=np.int64)
        for d in np.unique(axonal):
            cols = np.flatnonzero(axonal == d)
            sub = w[:, cols]
            if sub.any():
                slots.append(_Slot(int(d), cols, sub.T.astype(dtype)))
    else:
        dmat = np.asarray(p.delays)
        for d in np.unique(dmat):
            masked = np.where(dmat == d, w, 0)
            cols = np.flatnonzero(masked.any(axis=0))
            if cols.size:
                slots.append(_Slot(int(d), cols, masked[:, cols].T.astype(dtype)))
    return _CompiledProjection(p.src, p.dst, p.n_dst, p.weight_exp, tuple(slots),
                               w.T.astype(dtype), axonal)


@dataclass(frozen=True)
class _CompiledPopulation:
    size: int
    keep_u: np.ndarray  # 4096 - (du + 1)
    keep_v: np.ndarray  # 4096 - dv
    bias: np.ndarray
    vth_scaled: np.ndarray  # vth << 6
    emulate_int32: bool  # input large enough to overflow Lava's int32 arithmetic


def _trunc_shift12_inplace(x: np.ndarray) -> None:
    """``x = trunc(x / 4096)`` in place: add 4095 to negatives, then floor-shift."""
    x += (x >> 63) & (fp.DECAY_UNITY - 1)
    x >>= fp.DECAY_BITS


class ReferencePlan:
    """A network prepared for the reference simulator (reuse it across batches)."""

    def __init__(self, net: FixedPointNetwork, block_steps: int = 16) -> None:
        self.net = net
        self.block_steps = max(1, int(block_steps))
        self.history = net.max_delay + 1
        self.components = net.strongly_connected_order()
        self.projections = [_compile_projection(p) for p in net.projections]
        self.incoming = {
            name: [cp for cp in self.projections if cp.dst == name] for name in net.populations
        }
        self.recurrent = {
            tuple(comp): len(comp) > 1 or any(cp.src == comp[0] for cp in self.incoming[comp[0]])
            for comp in self.components
        }
        self.pops = {}
        for name, pop in net.populations.items():
            self.pops[name] = _CompiledPopulation(
                size=pop.size,
                keep_u=fp.DECAY_UNITY - (pop.param("du") + 1),
                keep_v=fp.DECAY_UNITY - pop.param("dv"),
                bias=fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp")),
                vth_scaled=pop.param("vth") << fp.VTH_SHIFT,
                emulate_int32=net.max_abs_input(name) >= INT32_RISK >> fp.ACT_SHIFT,
            )

    # --------------------------------------------------------------- arithmetic
    @staticmethod
    def _slot_input(cp: _CompiledProjection, slot: _Slot, src_spikes: np.ndarray) -> np.ndarray:
        """Shifted sum of one delay slot; src_spikes (rows, n_src) 0/1 -> (rows, n_dst) int64."""
        x = src_spikes if slot.cols is None else src_spikes[:, slot.cols]
        acc = (x.astype(slot.matrix.dtype, copy=False) @ slot.matrix).astype(np.int64)
        return fp.shift_by_weight_exp(acc, cp.weight_exp) if cp.weight_exp else acc

    def _projection_input(
        self, cp: _CompiledProjection, hist: np.ndarray, first: int, count: int, wrap: bool
    ) -> np.ndarray:
        """Input delivered by ``cp`` at block-local steps first..first+count-1.

        ``hist`` is the source's spike history (batch, history + block, n_src) as float32
        0/1, where index ``history + i`` holds block step i.
        """
        batch = hist.shape[0]
        rows = batch * count
        if cp.weight_exp >= 0 and not wrap:
            # A left shift distributes over the slots: sum them exactly in float first.
            if cp.axonal_delays is not None:
                starts = self.history + first - 1 - cp.axonal_delays
                idx = starts[None, :] + np.arange(count)[:, None]
                x = hist[:, idx, np.arange(hist.shape[2])[None, :]].reshape(rows, -1)
                acc = x @ cp.matrix
            else:
                acc = np.zeros((rows, cp.n_dst), dtype=cp.matrix.dtype)
                for slot in cp.slots:
                    start = self.history + first - 1 - slot.delay
                    x = hist[:, start : start + count].reshape(rows, -1)
                    if slot.cols is not None:
                        x = x[:, slot.cols]
                    acc += x @ slot.matrix
            total = acc.astype(np.int64)
            if cp.weight_exp:
                total <<= cp.weight_exp
            return total.reshape(batch, count, cp.n_dst)
        # A floor right shift (or int32 wrapping) applies to each slot's own sum.
        total = np.zeros((rows, cp.n_dst), dtype=np.int64)
        for slot in cp.slots:
            start = self.history + first - 1 - slot.delay
            part = self._slot_input(cp, slot, hist[:, start : start + count].reshape(rows, -1))
            total += fp.wrap_int32(part) if wrap else part
        if wrap:  # Lava's DelaySparse buffer and output channel are int32
            total = fp.wrap_int32(total)
        return total.reshape(batch, count, cp.n_dst)

    @staticmethod
    def _lif_step(
        pop: _CompiledPopulation, a_in: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> np.ndarray:
        """One Lava ``PyLifModelBitAcc`` step in place on int64 u, v; returns spikes."""
        decayed = u * pop.keep_u
        _trunc_shift12_inplace(decayed)
        if pop.emulate_int32:
            decayed = fp.wrap_int32(decayed + fp.wrap_int32(a_in << fp.ACT_SHIFT))
        else:
            decayed += a_in << fp.ACT_SHIFT
        over = decayed > fp.STATE_HALF
        if over.any():
            decayed[over] -= 2 * fp.STATE_HALF
        under = decayed <= -fp.STATE_HALF
        if under.any():
            decayed[under] += 2 * fp.STATE_HALF
        u[...] = decayed
        np.multiply(v, pop.keep_v, out=v)
        _trunc_shift12_inplace(v)
        v += u
        v += pop.bias
        np.clip(v, fp.V_MIN, fp.V_MAX, out=v)
        spikes = v > pop.vth_scaled
        v[spikes] = 0
        return spikes

    # ---------------------------------------------------------------------- run
    def run(
        self,
        spikes: np.ndarray,
        record: Iterable[str] = ("spikes",),
        populations: Iterable[str] | None = None,
    ) -> Traces:
        """Simulate a batch of input spikes (batch, steps, n_inputs); see ``simulate``."""
        net = self.net
        spikes = check_spikes(net, spikes)
        record = check_record(record)
        wanted = check_populations(net, populations)
        batch, steps, _ = spikes.shape
        block, hlen = self.block_steps, self.history

        out_s = {n: np.zeros((batch, steps, net.size_of(n)), dtype=bool) for n in wanted}
        out_v = {n: np.zeros(out_s[n].shape, np.int64) for n in wanted} if "v" in record else {}
        out_u = {n: np.zeros(out_s[n].shape, np.int64) for n in wanted} if "u" in record else {}
        state = {
            n: (np.zeros((batch, p.size), np.int64), np.zeros((batch, p.size), np.int64))
            for n, p in self.pops.items()
        }
        hist = {  # float32 0/1 so that the products need no conversion
            n: np.zeros((batch, hlen + block, net.size_of(n)), dtype=np.float32)
            for n in (INPUT, *net.populations)
        }
        for t0 in range(0, steps, block):
            count = min(block, steps - t0)
            if t0:  # keep the previous (full) block's last `history` steps at the front
                for h in hist.values():
                    h[:, :hlen] = h[:, block : block + hlen].copy()
                    h[:, hlen:] = 0
            hist[INPUT][:, hlen : hlen + count] = spikes[:, t0 : t0 + count]
            for comp in self.components:
                members = set(comp)
                external = {}
                for name in comp:
                    pop = self.pops[name]
                    a = np.zeros((batch, count, pop.size), dtype=np.int64)
                    for cp in self.incoming[name]:
                        if cp.src not in members:
                            a += self._projection_input(
                                cp, hist[cp.src], 0, count, pop.emulate_int32
                            )
                    external[name] = a
                recurrent = self.recurrent[tuple(comp)]
                for i in range(count):
                    for name in comp:
                        pop = self.pops[name]
                        a_in = external[name][:, i]
                        if recurrent:
                            for cp in self.incoming[name]:
                                if cp.src in members:
                                    a_in = a_in + self._projection_input(
                                        cp, hist[cp.src], i, 1, pop.emulate_int32
                                    )[:, 0]
                        if pop.emulate_int32:
                            a_in = fp.wrap_int32(a_in)
                        u, v = state[name]
                        s = self._lif_step(pop, a_in, u, v)
                        hist[name][:, hlen + i] = s
                        if name in out_s:
                            out_s[name][:, t0 + i] = s
                            if out_v:
                                out_v[name][:, t0 + i] = v
                            if out_u:
                                out_u[name][:, t0 + i] = u
        return Traces(target="reference", spikes=out_s, v=out_v, u=out_u)


def simulate_reference(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    block_steps: int = 16,
) -> Traces:
    """Run ``net`` on the reference fixed-point simulator. See :func:`neurodeploy.simulate`."""
    return ReferencePlan(net, block_steps=block_steps).run(spikes, record, populations)
