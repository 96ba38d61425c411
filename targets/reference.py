"""The reference fixed-point simulator: Lava's ``fixed_pt`` arithmetic, vectorised.

It computes, bit for bit, what Lava 0.10's ``PyLifModelBitAcc`` with ``Sparse`` /
``DelaySparse`` projections computes (see ``neurodeploy.network`` for the update
equations), for a whole batch at once, and is tested against Lava itself.

How it is fast while exact:

- Time runs in blocks of ``block_steps`` steps. Populations are visited by strongly
  connected component in topological order; a non-recurrent population gets the input
  of the whole block from matrix products (one per projection for axonal delays, one per
  delay slot otherwise), then a cheap element-wise scan over the block. Recurrent
  components are stepped one step at a time.
- Arrays are laid out (step, neuron, batch) so that reading each source's spikes at its
  own delay is a gather of contiguous rows.
- Products run in float32 when every partial sum of a destination neuron is an integer
  below 2**24 (all partial sums are bounded by the sum of |weights| of its row, so
  float32 represents every intermediate exactly, whatever the summation order), else in
  float64 (exact below 2**53). ``tests/test_reference.py`` checks this against integer
  arithmetic.
- Neuron state is held in float64, which represents every value exactly (|u * 4096| <
  2**37): ``trunc(u * (keep / 4096))`` is Lava's ``sign(p) * (|p| >> 12)`` because
  scaling by a power of two is exact. Shifts by weight_exp are exact scalings too, the
  floor right shift becomes ``floor(x * 2**weight_exp)``. Only inputs large enough to
  overflow Lava's int32 arithmetic take an int64 path that emulates the wrap.
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
# With |a_in << 6| <= 2**24, Lava's single wrap keeps u in (-2**23, 2**23] and nothing
# leaves int32. Beyond it u can drift out of 24 bits step after step until Lava's int32
# arithmetic overflows, so such populations take the exact int64 path that emulates it.
SAFE_INPUT = (2 * fp.STATE_HALF) >> fp.ACT_SHIFT  # 2**18


@dataclass(frozen=True)
class _Slot:
    """One delay value of a projection: ``matrix @ S[t - 1 - delay, cols]``."""

    delay: int
    cols: np.ndarray | None  # source indices feeding this slot (None: all)
    matrix: np.ndarray  # (n_dst, n_cols) float32/float64, exact integers


@dataclass(frozen=True)
class _CompiledProjection:
    src: str
    dst: str
    n_src: int
    n_dst: int
    weight_exp: int
    slots: tuple[_Slot, ...]  # empty when every weight is 0
    matrix: np.ndarray  # all weights (n_dst, n_src), for the one-product axonal path
    axonal_delays: np.ndarray | None  # per-source delays when the projection has them


def _compile_projection(p: Projection) -> _CompiledProjection:
    w = p.weights.astype(np.int64)
    exact32 = int(np.abs(w).sum(axis=1).max()) < FLOAT32_EXACT
    dtype = np.float32 if exact32 else np.float64
    slots = [_Slot(d, cols, m.astype(dtype)) for d, cols, m in p.delay_slots()]
    axonal = np.asarray(p.delays, dtype=np.int64) if p.delay_kind == "axonal" else None
    return _CompiledProjection(p.src, p.dst, p.n_src, p.n_dst, p.weight_exp, tuple(slots),
                               w.astype(dtype), axonal)


@dataclass(frozen=True)
class _CompiledPopulation:
    """Per-neuron constants as (size, 1) float64 columns (they broadcast over the batch)."""

    size: int
    keep_u: np.ndarray  # (4096 - (du + 1)) / 4096
    keep_v: np.ndarray  # (4096 - dv) / 4096
    bias: np.ndarray  # bias_mant << bias_exp (floor shift for negative exponents)
    vth_scaled: np.ndarray  # vth << 6
    emulate_int32: bool  # input large enough to overflow Lava's int32 arithmetic


def _column(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def compile_population(pop, emulate_int32: bool) -> _CompiledPopulation:
    """Constants of one LIFPopulation for :meth:`ReferencePlan._lif_step`."""
    return _CompiledPopulation(
        size=pop.size,
        keep_u=_column(fp.DECAY_UNITY - (pop.param("du") + 1)) / fp.DECAY_UNITY,
        keep_v=_column(fp.DECAY_UNITY - pop.param("dv")) / fp.DECAY_UNITY,
        bias=_column(fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp"))),
        vth_scaled=_column(pop.param("vth") << fp.VTH_SHIFT),
        emulate_int32=emulate_int32,
    )


class ReferencePlan:
    """A network prepared for the reference simulator (reuse it across batches)."""

    def __init__(self, net: FixedPointNetwork, block_steps: int = 8) -> None:
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
        self.pops = {
            name: compile_population(
                pop, net.max_abs_input(name) > SAFE_INPUT
            )
            for name, pop in net.populations.items()
        }

    # --------------------------------------------------------------- arithmetic
    def _projection_input(
        self, cp: _CompiledProjection, hist: np.ndarray, first: int, count: int, wrap: bool
    ) -> np.ndarray:
        """Input delivered by ``cp`` at block-local steps first..first+count-1.

        ``hist`` is the source's spike history (history + block, n_src, batch) as 0/1
        float32, where index ``history + i`` holds block step i. Returns
        (count, n_dst, batch): float64, or int64 already wrapped to int32 when ``wrap``.
        """
        batch = hist.shape[2]
        if cp.weight_exp >= 0 and not wrap:
            # A left shift distributes over the slots: sum them exactly in float first.
            if cp.axonal_delays is not None:
                rows = (self.history + first - 1 - cp.axonal_delays)[None, :] + np.arange(
                    count)[:, None]
                flat = hist.reshape(-1, batch)
                x = np.take(flat, (rows * cp.n_src + np.arange(cp.n_src)).ravel(), axis=0)
                acc = np.matmul(cp.matrix, x.reshape(count, cp.n_src, batch))
            else:
                acc = np.zeros((count, cp.n_dst, batch), dtype=cp.matrix.dtype)
                for slot in cp.slots:
                    start = self.history + first - 1 - slot.delay
                    x = hist[start : start + count]
                    if slot.cols is not None:
                        x = np.take(x, slot.cols, axis=1)
                    acc += np.matmul(slot.matrix, x)
            return acc * float(1 << cp.weight_exp) if cp.weight_exp else acc.astype(np.float64)
        # A floor right shift (or int32 wrapping) applies to each slot's own sum.
        scale = 2.0 ** cp.weight_exp
        total = np.zeros((count, cp.n_dst, batch), dtype=np.int64 if wrap else np.float64)
        for slot in cp.slots:
            start = self.history + first - 1 - slot.delay
            x = hist[start : start + count]
            if slot.cols is not None:
                x = np.take(x, slot.cols, axis=1)
            part = np.floor(np.matmul(slot.matrix, x) * scale)
            total += fp.wrap_int32(part.astype(np.int64)) if wrap else part
        if wrap:  # Lava's DelaySparse buffer and output channel are int32
            total = fp.wrap_int32(total)
        return total

    @staticmethod
    def _lif_step(
        pop: _CompiledPopulation, a_in: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> np.ndarray:
        """One Lava ``PyLifModelBitAcc`` step, in place on float64 u, v (size, batch).

        ``a_in`` is the summed projection input (integers; int64 when int32 emulation
        is on). Returns the spikes (size, batch) bool.
        """
        np.multiply(u, pop.keep_u, out=u)
        np.trunc(u, out=u)  # trunc0(u * keep) / 4096, exactly
        if pop.emulate_int32:
            act = fp.wrap_int32(np.asarray(a_in, dtype=np.int64) << fp.ACT_SHIFT)
            u[...] = fp.wrap_int32(u.astype(np.int64) + act)
        else:
            u += a_in * float(1 << fp.ACT_SHIFT)
        over = u > fp.STATE_HALF
        if over.any():
            u[over] -= 2 * fp.STATE_HALF
        under = u <= -fp.STATE_HALF
        if under.any():
            u[under] += 2 * fp.STATE_HALF
        np.multiply(v, pop.keep_v, out=v)
        np.trunc(v, out=v)
        v += u
        v += pop.bias
        np.minimum(v, fp.V_MAX, out=v)
        np.maximum(v, fp.V_MIN, out=v)
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

        # recordings are (step, neuron, batch) while running, transposed at the end
        out_s = {n: np.zeros((steps, net.size_of(n), batch), dtype=bool) for n in wanted}
        out_v = {n: np.zeros(out_s[n].shape) for n in wanted} if "v" in record else {}
        out_u = {n: np.zeros(out_s[n].shape) for n in wanted} if "u" in record else {}
        state = {n: (np.zeros((p.size, batch)), np.zeros((p.size, batch)))
                 for n, p in self.pops.items()}
        hist = {
            n: np.zeros((hlen + block, net.size_of(n), batch), dtype=np.float32)
            for n in (INPUT, *net.populations)
        }
        for t0 in range(0, steps, block):
            count = min(block, steps - t0)
            if t0:  # keep the previous (full) block's last `history` steps at the front
                for h in hist.values():
                    h[:hlen] = h[block : block + hlen].copy()
                    h[hlen:] = 0
            hist[INPUT][hlen : hlen + count] = spikes[:, t0 : t0 + count].transpose(1, 2, 0)
            for comp in self.components:
                self._run_component(comp, hist, state, t0, count, out_s, out_v, out_u)

        def batch_first(arrays: dict[str, np.ndarray], dtype: type) -> dict[str, np.ndarray]:
            return {n: np.ascontiguousarray(a.transpose(2, 0, 1), dtype=dtype)
                    for n, a in arrays.items()}

        return Traces(target="reference", spikes=batch_first(out_s, bool),
                      v=batch_first(out_v, np.int64), u=batch_first(out_u, np.int64))

    def _run_component(self, comp, hist, state, t0, count, out_s, out_v, out_u) -> None:
        """Advance one strongly connected component through block steps t0..t0+count-1."""
        members = set(comp)
        hlen = self.history
        external = {}
        for name in comp:
            pop = self.pops[name]
            a = None
            for cp in self.incoming[name]:
                if cp.src not in members:
                    part = self._projection_input(cp, hist[cp.src], 0, count, pop.emulate_int32)
                    a = part if a is None else a + part
            external[name] = a
        recurrent = self.recurrent[tuple(comp)]
        for i in range(count):
            for name in comp:
                pop = self.pops[name]
                a_in = 0.0 if external[name] is None else external[name][i]
                if recurrent:
                    for cp in self.incoming[name]:
                        if cp.src in members:
                            a_in = a_in + self._projection_input(
                                cp, hist[cp.src], i, 1, pop.emulate_int32)[0]
                if pop.emulate_int32:
                    a_in = fp.wrap_int32(np.asarray(a_in, dtype=np.int64))
                u, v = state[name]
                s = self._lif_step(pop, a_in, u, v)
                hist[name][hlen + i] = s
                if name in out_s:
                    out_s[name][t0 + i] = s
                    if out_v:
                        out_v[name][t0 + i] = v
                    if out_u:
                        out_u[name][t0 + i] = u


def simulate_reference(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    block_steps: int = 8,
) -> Traces:
    """Run ``net`` on the reference fixed-point simulator. See :func:`neurodeploy.simulate`."""
    return ReferencePlan(net, block_steps=block_steps).run(spikes, record, populations)
