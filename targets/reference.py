"""The reference fixed-point simulator: Lava's ``fixed_pt`` arithmetic, vectorised.

It computes, bit for bit, what Lava 0.10's ``PyLifModelBitAcc`` with ``Sparse`` /
``DelaySparse`` projections computes, for a whole batch at once, and is tested against
Lava itself. The arithmetic is the integer kernel's (``neurodeploy.kernel``: its step
and projection accumulation, with the numpy realisation); this module adds the schedule
and the float-exact products.

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
- A convolution is held as a scipy CSR matrix built from its kernel, and so is any slot
  whose weights are mostly zeros (density below :data:`SPARSE_DENSITY`): the same float
  products over the nonzero weights only, so the same exactness argument holds.
- Neuron state is held in float64, which represents every value exactly (|u * 4096| <
  2**37), see ``neurodeploy.kernel.numpy_ops``. Only populations whose input can overflow
  Lava's int32 arithmetic wrap to int32 (the kernel's ``emulate_int32``).
- Spike history is kept for ``max_delay + 1`` steps plus one block, so working memory is
  proportional to batch x (max delay + 1 + block) x neurons, not to the number of steps;
  only what is recorded grows with the steps.

Time convention: 0-based steps; a spike at step t reaches a neuron behind one projection
at step t + 1 + delay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from scipy.sparse import csr_matrix

from neurodeploy.kernel import NumpyIntOps, accumulate, lif_step, slots_merge
from neurodeploy.network import INPUT, FixedPointNetwork, Projection, Slot
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

FLOAT32_EXACT = 1 << 24
#: Slots with at most this share of nonzero weights (and at least SPARSE_MIN_SIZE weights)
#: multiply as CSR matrices.
SPARSE_DENSITY = 0.05
SPARSE_MIN_SIZE = 1 << 16


def _slot_weights(w: np.ndarray, dtype: type) -> np.ndarray | csr_matrix:
    if w.size >= SPARSE_MIN_SIZE and np.count_nonzero(w) <= SPARSE_DENSITY * w.size:
        return csr_matrix(w, dtype=dtype)
    return w.astype(dtype)


@dataclass(frozen=True)
class _CompiledProjection:
    src: str
    dst: str
    n_src: int
    n_dst: int
    weight_exp: int
    slots: tuple[Slot, ...]  # weights as float32/float64 exact integers; () when all are 0
    matrix: np.ndarray  # all weights (n_dst, n_src) for the one-product axonal path (dtype)
    axonal_delays: np.ndarray | None  # per-source delays when the projection has them


def sparse_weights(p: Projection) -> csr_matrix:
    """The projection's int64 weights as a CSR matrix; a convolution's straight from its
    kernel (an image-sized layer's dense matrix would not fit in memory)."""
    if p.conv is None:
        return csr_matrix(p.weights.astype(np.int64))
    dst, src, tap = p.conv.synapses()
    w = csr_matrix((p.conv.kernel.ravel()[tap], (dst, src)), shape=(p.n_dst, p.n_src),
                   dtype=np.int64)
    w.eliminate_zeros()
    return w


def _compile_projection(p: Projection, input_max: int) -> _CompiledProjection:
    """``input_max``: the largest value a source delivers per step (graded input counts)."""
    if p.conv is not None:  # no delays: one CSR slot built from the kernel
        exact32 = int(p.conv.row_sums(np.abs(p.conv.kernel)).max()) * input_max < FLOAT32_EXACT
        dtype = np.float32 if exact32 else np.float64
        w = sparse_weights(p).astype(dtype)
        slots = (Slot(0, None, w, None),) if w.nnz else ()
        return _CompiledProjection(p.src, p.dst, p.n_src, p.n_dst, p.weight_exp, slots,
                                   np.zeros((0, 0), dtype), None)
    w = p.weights.astype(np.int64)
    exact32 = int(np.abs(w).sum(axis=1).max()) * input_max < FLOAT32_EXACT
    dtype = np.float32 if exact32 else np.float64
    slots = [replace(sl, weights=_slot_weights(sl.weights, dtype)) for sl in p.delay_slots()]
    axonal = np.asarray(p.delays, dtype=np.int64) if p.delay_kind == "axonal" else None
    return _CompiledProjection(p.src, p.dst, p.n_src, p.n_dst, p.weight_exp, tuple(slots),
                               w.astype(dtype), axonal)


class ReferencePlan:
    """A network prepared for the reference simulator (reuse it across batches)."""

    def __init__(self, net: FixedPointNetwork, block_steps: int = 8) -> None:
        self.net = net
        self.ops = NumpyIntOps(net.chip)
        self.block_steps = max(1, int(block_steps))
        self.history = net.max_delay + 1
        self.components = net.strongly_connected_order()
        self.projections = [_compile_projection(p, net.input_max if p.src == INPUT else 1)
                            for p in net.projections]
        self.incoming = {
            name: [cp for cp in self.projections if cp.dst == name] for name in net.populations
        }
        self.recurrent = {
            tuple(comp): len(comp) > 1 or any(cp.src == comp[0] for cp in self.incoming[comp[0]])
            for comp in self.components
        }
        self.pops = {name: self.ops.constants(c) for name, c in net.lif_constants().items()}

    # --------------------------------------------------------------- arithmetic
    def _projection_input(
        self, cp: _CompiledProjection, hist: np.ndarray, first: int, count: int, wrap: bool
    ) -> np.ndarray | None:
        """Input delivered by ``cp`` at block-local steps first..first+count-1.

        ``hist`` is the source's spike history (history + block, n_src, batch) as 0/1
        float32, where index ``history + i`` holds block step i. Returns float64 integers
        (count, n_dst, batch) (int32-wrapped when ``wrap``), or None without slots.
        """
        batch = hist.shape[2]

        def product(slot: Slot) -> np.ndarray:
            start = self.history + first - 1 - slot.delay
            x = hist[start : start + count]
            if slot.cols is not None:
                x = np.take(x, slot.cols, axis=1)
            if isinstance(slot.weights, csr_matrix):  # (n_dst, n) @ (n, count * batch)
                n = x.shape[1]
                flat = slot.weights @ x.transpose(1, 0, 2).reshape(n, count * batch)
                return np.asarray(flat).reshape(-1, count, batch).transpose(1, 0, 2)
            return np.matmul(slot.weights, x)

        if not slots_merge(cp.weight_exp, wrap):  # the shift applies to each slot's sum
            sums = (product(slot).astype(np.float64) for slot in cp.slots)
            return accumulate(self.ops, sums, cp.weight_exp, wrap)
        if cp.axonal_delays is not None:  # all slots in one product: gather each delay
            rows = (self.history + first - 1 - cp.axonal_delays)[None, :] + np.arange(
                count)[:, None]
            flat = hist.reshape(-1, batch)
            x = np.take(flat, (rows * cp.n_src + np.arange(cp.n_src)).ravel(), axis=0)
            acc = np.matmul(cp.matrix, x.reshape(count, cp.n_src, batch))
        else:
            acc = np.zeros((count, cp.n_dst, batch), dtype=cp.matrix.dtype)
            for slot in cp.slots:
                acc += product(slot)
        return accumulate(self.ops, [acc.astype(np.float64)], cp.weight_exp, wrap)

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
        state = {n: (np.zeros((net.size_of(n), batch)), np.zeros((net.size_of(n), batch)))
                 for n in self.pops}
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

        def total(parts):
            parts = [a for a in parts if a is not None]
            return sum(parts[1:], parts[0]) if parts else None

        external = {
            name: total(self._projection_input(cp, hist[cp.src], 0, count,
                                               self.pops[name].emulate_int32)
                        for cp in self.incoming[name] if cp.src not in members)
            for name in comp
        }
        recurrent = self.recurrent[tuple(comp)]
        for i in range(count):
            for name in comp:
                pop = self.pops[name]
                a_in = None if external[name] is None else external[name][i]
                if recurrent:
                    a_in = total([a_in] + [
                        part[0] for cp in self.incoming[name] if cp.src in members
                        for part in [self._projection_input(cp, hist[cp.src], i, 1,
                                                            pop.emulate_int32)]
                        if part is not None])
                u, v = state[name]
                if self.net.populations[name].resets_at(t0 + i):
                    u[...] = 0.0
                    v[...] = 0.0
                s, u, v = lif_step(self.ops, pop, a_in, u, v)
                state[name] = (u, v)
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
