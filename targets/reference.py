"""The reference fixed-point simulator: Lava's ``fixed_pt`` arithmetic, vectorised.

It computes, bit for bit, what Lava 0.10's ``PyLifModelBitAcc`` with ``Sparse`` /
``DelaySparse`` projections computes, for a whole batch at once, and is tested against
Lava itself. The arithmetic is the integer
kernel's (``neurodeploy.kernel``: its step and projection accumulation, with the
numpy realisation); this module adds the schedule and the float-exact products.

How it is fast while exact:

- Time runs in blocks of ``block_steps`` steps. Populations are visited by strongly
  connected component in topological order; a non-recurrent population gets the input
  of the whole block from one matrix product per projection (one per delay slot where
  the shift applies to each slot's sum), then the kernel's step runs over the block's
  steps (:func:`~neurodeploy.kernel.lif_step`, in place on the state arrays). Recurrent
  components are stepped one step at a time.
- Spike history is a ring of (step, neuron, batch) float32 arrays. A projection reads its
  sources at their delays by one gather of whole (batch,) rows into (step, row, batch),
  where each row is a (source, delay) pair (axonal delays: each source once at its
  delay; synaptic delays: each pair that carries a weight; no delay: every source, a
  plain slice of the ring): the block's products are one batched GEMM.
- The element-wise step is the kernel's ``lif_step`` compiled by numba
  (``neurodeploy.kernel.compiled``): one call per population and block, looping over the
  block's steps, the neurons and the samples without the GIL; it also writes the spike
  history and the recordings. Runs below :data:`COMPILE_MIN_WORK` neuron-steps (unless
  the plan asks for ``compiled=True``), networks of another chip profile than the one
  compiled in (Loihi 2's), and plans made with ``compiled=False`` step with the kernel's
  numpy realisation instead (:func:`~neurodeploy.kernel.lif_step` on (neuron, batch)
  arrays), with the same integers.
- A convolutional projection (``Projection.conv``) runs as a convolution
  (``torch.nn.functional.conv2d``) on the (steps x batch, C, H, W) spikes, from its kernel:
  its mostly-zero (n_dst, n_src) matrix is never built.
- Samples first (compiled step only): a population fed by one convolution and nothing
  else, outside any loop, keeps (batch, neuron) state and steps straight from the
  convolution's (steps x batch, neuron) output
  (:func:`~neurodeploy.kernel.compiled.lif_block_by_sample`, which applies the
  projection's ``weight_exp`` and wrap); its spikes, and the input's where a convolution
  reads it, go into (steps, batch, neuron) windows that convolutions read as their
  images: no transposes between the layouts. A (ring, neuron, batch) history is kept for
  such a population only where another kind of projection reads it.
- Populations with timed state resets (``reset_interval``) have u and v set to 0 before
  the update of their reset steps.
- Products run in float32 when every partial sum of a destination neuron is an integer
  below 2**24 (see :func:`product_dtype`), else in float64 (exact below 2**53).
  Whatever order BLAS or the convolution sums the products in, every intermediate is
  then an exact integer. ``tests/test_reference.py`` checks this against integer
  arithmetic.
- A matrix whose weights are mostly zeros (density below :data:`SPARSE_DENSITY`, not a
  convolution) is held as a scipy CSR matrix: the same float products over the nonzero
  weights only.
- Neuron state is held in float64, which represents every value exactly (|u * 4096| <
  2**43), see ``neurodeploy.kernel.numpy_ops``. Only populations whose input can overflow
  Lava's int32 arithmetic wrap to int32 (the kernel's ``emulate_int32``).
- A batch of at least 2 x :data:`THREAD_MIN_SAMPLES` samples is split into one chunk per
  usable core (``threads``), simulated side by side in threads (the compiled step, numpy,
  BLAS and torch release the GIL); samples never interact, so the result is the same.
  While they run, BLAS and torch are limited to one thread each (process-wide, restored
  after the run): their own threads would compete for the same cores.
- Scratch arrays (history, state, gathers, products) are kept between runs, one set per
  concurrent chunk (at most :data:`WORK_SETS` sets of :data:`WORK_BYTES`): fresh arrays
  would be zero-filled page by page in every run.
- Spike history is kept for ``max_delay + 1`` steps plus one block, so working memory is
  proportional to batch x (max delay + 1 + block) x neurons, not to the number of steps;
  only what is recorded grows with the steps.

Why these choices (and not a spike-driven product or torch for the element-wise step) is
measured in ``docs/architecture.md`` ("Reference simulator speed").

Time convention: 0-based steps; a spike at step t reaches a neuron behind one projection
at step t + 1 + delay.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_matrix
from threadpoolctl import ThreadpoolController

from neurodeploy.chip import LOIHI2
from neurodeploy.kernel import NumpyIntOps, accumulate, lif_step, slots_merge
from neurodeploy.network import INPUT, Conv2d, FixedPointNetwork, Projection
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

if TYPE_CHECKING:  # torch loads only for a network with a convolutional projection
    import torch

FLOAT32_EXACT = 1 << 24
#: Matrices with at most this share of nonzero weights (and at least SPARSE_MIN_SIZE
#: weights) multiply as CSR matrices.
SPARSE_DENSITY = 0.05
SPARSE_MIN_SIZE = 1 << 16
#: Below CONCAT_BATCH samples, a matrix of at least CONCAT_WEIGHTS weights multiplies
#: all of a block's steps in one GEMM (measured: 512 x 4096 weights, 32 samples x 16
#: steps: 38 ms against 51 ms as 16 products; 128 x 224: 0.37 against 0.26 ms).
CONCAT_BATCH = 64
CONCAT_WEIGHTS = 1 << 17
#: Runs of at least this many neuron-steps (batch x steps x neurons) use the compiled step
#: when the plan leaves it open (about 10 ms of numpy work; the compiled step's one-time
#: cost per process, loading numba and its cached code, is about 0.7 s).
COMPILE_MIN_WORK = 2_000_000
#: Samples per thread below which a batch is not split across threads.
THREAD_MIN_SAMPLES = 16
#: Scratch arrays kept between runs: at most WORK_SETS sets (one per concurrent chunk) of
#: at most WORK_BYTES bytes each.
WORK_SETS = 8
WORK_BYTES = 256 << 20


def product_dtype(row_abs_max: int, input_max: int) -> type:
    """float32 when ``row_abs_max * input_max < 2**24``, else float64.

    ``row_abs_max`` is the largest sum of |weights| of a destination neuron's row and
    ``input_max`` the largest value a source delivers per step (1 for spikes, up to 255
    for graded input). Every partial sum of a product over that row, in any order and over
    any subset of its terms, is an integer bounded by their product, so float32 (integers
    exact below 2**24) computes it exactly; float64 is exact below 2**53, which 8-bit
    weights reach only beyond 2**37 sources.
    """
    return np.float32 if row_abs_max * input_max < FLOAT32_EXACT else np.float64


def _as_product_matrix(w: np.ndarray, dtype: type) -> np.ndarray | csr_matrix:
    if w.size >= SPARSE_MIN_SIZE and np.count_nonzero(w) <= SPARSE_DENSITY * w.size:
        return csr_matrix(w, dtype=dtype)
    return np.ascontiguousarray(w, dtype=dtype)


@dataclass(frozen=True)
class _Part:
    """One product of a projection: ``weights`` (n_dst, rows) times rows ``rows`` of the
    projection's gathered input."""

    rows: slice
    weights: np.ndarray | csr_matrix


@dataclass(frozen=True)
class _CompiledProjection:
    """A projection as products over its gathered input.

    Row r of the gathered input at step t is the spike of source ``sources[r]`` at step
    ``t - lags[r]`` (``lags = 1 + delay``). ``parts`` are one product per delay slot,
    each shifted by ``weight_exp`` on its own, or a single product over all rows where
    :func:`~neurodeploy.kernel.slots_merge` allows it. ``conv`` (one part, every source
    at lag 1): the product is this convolution with ``kernel``.
    """

    src: str
    dst: str
    n_dst: int
    weight_exp: int
    wrap: bool
    sources: np.ndarray
    lags: np.ndarray
    parts: tuple[_Part, ...]
    dtype: type
    conv: Conv2d | None = None
    kernel: torch.Tensor | None = None
    in_order: bool = False  # every source once, in order, at one lag: a slice of history


def _compile_projection(p: Projection, input_max: int, wrap: bool) -> _CompiledProjection:
    """``input_max``: the largest value a source delivers per step (graded input counts);
    ``wrap``: the destination emulates Lava's int32 buffers."""
    if p.conv is not None:  # from the kernel alone: one product, every source at lag 1
        import torch

        dtype = product_dtype(int(p.conv.row_sums(np.abs(p.conv.kernel)).max()), input_max)
        sources, lags = np.arange(p.n_src), np.ones(p.n_src, np.int64)
        if not p.conv.kernel.any():
            return _CompiledProjection(p.src, p.dst, p.n_dst, p.weight_exp, wrap,
                                       np.zeros(0, np.int64), np.zeros(0, np.int64), (), dtype)
        kernel = torch.from_numpy(np.array(p.conv.kernel, dtype=dtype))
        return _CompiledProjection(p.src, p.dst, p.n_dst, p.weight_exp, wrap, sources, lags,
                                   (_Part(slice(0, p.n_src), np.zeros((0, 0), dtype)),), dtype,
                                   p.conv, kernel, True)
    w = np.asarray(p.weights, dtype=np.int64)
    dtype = product_dtype(int(np.abs(w).sum(axis=1).max()), input_max)
    slots = p.delay_slots()
    sources, lags, parts, start = [], [], [], 0
    for sl in slots:
        cols = np.arange(p.n_src) if sl.cols is None else np.asarray(sl.cols)
        sources.append(cols)
        lags.append(np.full(cols.size, 1 + sl.delay))
        parts.append((slice(start, start + cols.size), sl.weights))
        start += cols.size
    if not slots:
        return _CompiledProjection(p.src, p.dst, p.n_dst, p.weight_exp, wrap,
                                   np.zeros(0, np.int64), np.zeros(0, np.int64), (), dtype)
    if slots_merge(p.weight_exp, wrap) and len(parts) > 1:  # one product over all rows
        parts = [(slice(0, start), np.concatenate([wk for _, wk in parts], axis=1))]
    compiled = [_Part(rows, _as_product_matrix(wk, dtype)) for rows, wk in parts]
    sources, lags = np.concatenate(sources), np.concatenate(lags)
    in_order = bool((lags == lags[0]).all()) and np.array_equal(sources, np.arange(p.n_src))
    return _CompiledProjection(p.src, p.dst, p.n_dst, p.weight_exp, wrap, sources, lags,
                               tuple(compiled), dtype, None, None, in_order)


@dataclass(frozen=True)
class _Scalar:
    """The compiled step's module and the network's constants in its form."""

    module: Any
    constants: dict[str, Any]


class _Work:
    """Scratch arrays one chunk of samples works in (spike history, state, gathered input,
    products), kept across blocks, runs and networks: fresh arrays of MiBs would be
    zero-filled by the system page by page in every run."""

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def array(self, key: tuple, shape: tuple[int, ...], dtype: type, zero: bool = False
              ) -> np.ndarray:
        """The array for ``key`` of this shape and dtype (zeros when new or ``zero``)."""
        key = (*key, shape, np.dtype(dtype).str)
        out = self._arrays.get(key)
        if out is None:
            out = self._arrays[key] = np.zeros(shape, dtype)
        elif zero:
            out.fill(0)
        return out

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays.values())


class _WorkPool:
    """Scratch sets for concurrent chunks: a chunk's run takes one set for its own use and
    gives it back; at most :data:`WORK_SETS` sets of at most :data:`WORK_BYTES` each are
    kept between runs."""

    def __init__(self) -> None:
        self._free: list[_Work] = []
        self._lock = threading.Lock()

    @contextmanager
    def take(self) -> Iterator[_Work]:
        with self._lock:
            work = self._free.pop() if self._free else _Work()
        try:
            yield work
        finally:
            with self._lock:
                if len(self._free) < WORK_SETS and work.nbytes <= WORK_BYTES:
                    self._free.append(work)


_WORK = _WorkPool()


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """BLAS (process-wide) and torch's intra-op threads (its global setting, which threads
    started meanwhile take up) at one thread each, restored after."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else 0
    with _blas_pools().limit(limits=1, user_api="blas"):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


@cache
def _blas_pools() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (numpy's OpenBLAS)."""
    return ThreadpoolController()


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


class ReferencePlan:
    """A network prepared for the reference simulator (reuse it across batches).

    ``block_steps``: steps per block of products; ``threads``: most threads a batch is
    split over (default: the usable cores); ``compiled``: step with the numba-compiled
    kernel (True), with the kernel's numpy realisation (False: the same integers, slower
    for large runs), or (None, the default) compiled for runs of at least
    :data:`COMPILE_MIN_WORK` neuron-steps: a process that never runs one never loads numba
    (about 0.7 s with its cached code, several seconds to compile it the first time).
    Networks of another chip profile than Loihi 2's always step with numpy.
    """

    def __init__(self, net: FixedPointNetwork, block_steps: int = 16,
                 threads: int | None = None, compiled: bool | None = None) -> None:
        self.net = net
        self.threads = max(1, int(threads if threads is not None else _usable_cores()))
        self.ops = NumpyIntOps(net.chip)
        self.block_steps = max(1, int(block_steps))
        self.history = net.max_delay + 1
        self.ring = self.history + self.block_steps  # steps of spike history held
        self.components = net.strongly_connected_order()
        constants = net.lif_constants()
        self.pops = {name: self.ops.constants(c) for name, c in constants.items()}
        self.projections = [
            _compile_projection(p, net.input_max if p.src == INPUT else 1,
                                self.pops[p.dst].emulate_int32)
            for p in net.projections]
        self._index = {id(cp): i for i, cp in enumerate(self.projections)}  # scratch keys
        self.incoming = {
            name: [cp for cp in self.projections if cp.dst == name] for name in net.populations
        }
        self.recurrent = {
            tuple(comp): len(comp) > 1 or any(cp.src == comp[0] for cp in self.incoming[comp[0]])
            for comp in self.components
        }
        self._size = {INPUT: net.n_inputs} | {n: net.size_of(n) for n in net.populations}
        self.compiled = compiled if net.chip == LOIHI2 else False  # the profile compiled in
        self._constants = constants
        self._scalar: _Scalar | None = None
        # Samples first (compiled step only): populations fed by one convolution and
        # nothing else, outside any loop, step on (batch, neuron) arrays straight from the
        # convolution's output; convolutions read the input and such populations from
        # (ring, batch, neuron) rings. No transposes between the layouts.
        self.by_sample = {name: cp for name in net.populations
                          if (cp := self._only_convolution(name)) is not None}
        self.images = {cp.src for cp in self.projections if cp.conv is not None and cp.parts
                       and cp.src == INPUT} | set(self.by_sample)
        self.by_neuron = {cp.src for cp in self.projections
                          if cp.parts and (cp.conv is None or cp.src not in self.images)}

    def _only_convolution(self, name: str) -> _CompiledProjection | None:
        """The convolution that is a population's only input, the population outside any
        loop; else None."""
        incoming = [cp for cp in self.incoming[name] if cp.parts]
        if len(incoming) != 1 or incoming[0].conv is None:
            return None
        src = incoming[0].src
        looped = src == name or any(name in comp and src in comp for comp in self.components)
        return None if looped else incoming[0]

    def _compiled_step(self, work: int) -> _Scalar | None:
        """The compiled step for a run of ``work`` neuron-steps (batch x steps x neurons),
        or None for the numpy realisation (see ``compiled``)."""
        if not (self.compiled or (self.compiled is None and work >= COMPILE_MIN_WORK)):
            return None
        if self._scalar is None:
            from neurodeploy.kernel import compiled as fused

            assert fused.CHIP == LOIHI2
            self._scalar = _Scalar(fused, {n: fused.scalar_constants(c, self.net.size_of(n))
                                           for n, c in self._constants.items()})
        return self._scalar

    # --------------------------------------------------------------- arithmetic
    def _gather(self, cp: _CompiledProjection, hist: np.ndarray, t: int, count: int,
                work: _Work) -> np.ndarray:
        """The gathered input (count, rows, batch) of steps t..t+count-1 from the source's
        spike history ``hist`` (ring, n_src, batch), which holds step s at ``s % ring``."""
        ring, n_src, batch = hist.shape
        if cp.in_order:  # every source at one lag: consecutive steps of the history
            first = (t - int(cp.lags[0])) % ring
            if first + count <= ring:
                return hist[first : first + count]
        steps = (t - cp.lags)[None, :] + np.arange(count)[:, None]
        rows = (steps % ring) * n_src + cp.sources[None, :]
        out = work.array(("gather", self._index[id(cp)]), (count, cp.sources.size, batch),
                         hist.dtype)
        np.take(hist.reshape(-1, batch), rows.ravel(), axis=0, out=out.reshape(-1, batch),
                mode="clip")  # rows are in range; "raise" would copy through a buffer
        return out

    @staticmethod
    def _product(cp: _CompiledProjection, part: _Part, x: np.ndarray, out: np.ndarray
                 ) -> np.ndarray:
        """``part.weights @ x[:, part.rows]`` as (count, n_dst, batch) exact integers in
        the projection's product dtype (float32 or float64), C order (a matrix product:
        convolutions go through :meth:`_convolve`)."""
        count, _, batch = x.shape
        x = x[:, part.rows]
        if x.dtype != cp.dtype:
            x = x.astype(cp.dtype)
        if isinstance(part.weights, csr_matrix):
            for i in range(count):
                out[i] = part.weights @ x[i]
        elif batch < CONCAT_BATCH and count > 1 and part.weights.size >= CONCAT_WEIGHTS:
            # few samples: one GEMM over every step's columns beats count narrow ones
            wide = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(x.shape[1], -1)
            y = part.weights @ wide
            np.copyto(out, y.reshape(cp.n_dst, count, batch).transpose(1, 0, 2))
        else:
            np.matmul(part.weights, x, out=out)
        return out

    @staticmethod
    def _convolve(cp: _CompiledProjection, images: np.ndarray) -> np.ndarray:
        """``cp``'s convolution (``torch.nn.functional.conv2d``) of ``images`` (count, batch,
        n_src), C order in the product dtype: the raw sums (count, batch, n_dst)."""
        import torch
        from torch.nn.functional import conv2d

        c = cp.conv
        count, batch, _ = images.shape
        y = conv2d(torch.from_numpy(images).reshape(count * batch, *c.in_shape), cp.kernel,
                   stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups)
        return y.numpy().reshape(count, batch, cp.n_dst)

    def _images(self, cp: _CompiledProjection, hist: dict[str, np.ndarray],
                images: dict[str, np.ndarray], t: int, count: int, work: _Work) -> np.ndarray:
        """The source's spikes (count, batch, n_src) that convolution ``cp`` delivers at
        steps t..t+count-1, C order in the product dtype: a slice of the source's
        samples-first window (see :meth:`_run_batch`; t is then the block's first step)
        where it has one, else its neurons-first history transposed (numpy transposes
        faster than torch)."""
        if cp.src in images:
            first = self.history - int(cp.lags[0])
            x = images[cp.src][first : first + count]
            return x if x.dtype == cp.dtype else x.astype(cp.dtype)
        x = self._gather(cp, hist[cp.src], t, count, work)
        return np.ascontiguousarray(x.transpose(0, 2, 1), dtype=cp.dtype)

    def _projection_input(
        self, cp: _CompiledProjection, hist: dict[str, np.ndarray],
        images: dict[str, np.ndarray], t: int, count: int, work: _Work,
    ) -> np.ndarray | None:
        """Input delivered by ``cp`` at steps t..t+count-1.

        ``hist`` holds the spike histories (ring, n_src, batch) as float32 (0/1, or
        counts for graded input) with step s at index ``s % ring``, ``images`` the
        samples-first rings (ring, batch, n_src) that convolutions read where present; the
        result may live in ``work`` until the next call for ``cp``. Returns exact
        integers (count, n_dst, batch), float64 or, where nothing shifts or wraps, in the
        product dtype (int32-wrapped when the destination emulates int32), or None
        without weights.
        """
        if not cp.parts:
            return None
        key = self._index[id(cp)]
        if cp.conv is not None:
            y = self._convolve(cp, self._images(cp, hist, images, t, count, work))
            out = work.array(("product", key, 0), (count, cp.n_dst, y.shape[1]), cp.dtype)
            np.copyto(out, y.transpose(0, 2, 1))
            return accumulate(self.ops, [out], cp.weight_exp, cp.wrap)
        x = self._gather(cp, hist[cp.src], t, count, work)
        count, _, batch = x.shape
        sums = (self._product(cp, part, x, work.array(("product", key, k),
                                                      (count, cp.n_dst, batch), cp.dtype))
                for k, part in enumerate(cp.parts))
        return accumulate(self.ops, sums, cp.weight_exp, cp.wrap)

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
        # recordings are (batch, step, neuron), written one step at a time
        out_s = {n: np.zeros((batch, steps, net.size_of(n)), dtype=bool) for n in wanted}
        out_v = {n: np.zeros(out_s[n].shape, np.int64) for n in wanted} if "v" in record else {}
        out_u = {n: np.zeros(out_s[n].shape, np.int64) for n in wanted} if "u" in record else {}
        chunks = [slice(lo, min(batch, lo + -(-batch // self._threads(batch))))
                  for lo in range(0, batch, -(-batch // self._threads(batch)))]
        scalar = self._compiled_step(batch * steps * net.n_neurons)

        def run_chunk(sl: slice) -> None:
            def view(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                return {n: a[sl] for n, a in out.items()}
            with _WORK.take() as work:
                self._run_batch(spikes[sl], view(out_s), view(out_v), view(out_u), work,
                                scalar)

        if len(chunks) == 1:
            run_chunk(chunks[0])
        else:  # samples are independent: chunks of the batch side by side in threads,
            # each with single-threaded BLAS and torch (their own threads would compete
            # for the same cores)
            with _one_thread_each(), ThreadPoolExecutor(len(chunks)) as pool:
                list(pool.map(run_chunk, chunks))
        return Traces(target="reference", spikes=out_s, v=out_v, u=out_u)

    def _threads(self, batch: int) -> int:
        """Threads for a batch: one per :data:`THREAD_MIN_SAMPLES` samples, at most
        ``self.threads``."""
        return max(1, min(self.threads, batch // THREAD_MIN_SAMPLES))

    def _run_batch(self, spikes: np.ndarray, out_s: dict[str, np.ndarray],
                   out_v: dict[str, np.ndarray], out_u: dict[str, np.ndarray], work: _Work,
                   scalar: _Scalar | None) -> None:
        """Simulate ``spikes`` (batch, steps, n_inputs) into the recordings' arrays."""
        net, ring = self.net, self.ring
        batch, steps, _ = spikes.shape
        by_sample = self.by_sample if scalar is not None else {}
        state = {n: tuple(work.array((part, n), (batch, net.size_of(n)) if n in by_sample else
                                     (net.size_of(n), batch), np.float64, zero=True)
                          for part in ("u", "v")) for n in self.pops}
        # samples-first windows: steps t0 - history .. t0 + block_steps - 1 of the block
        # starting at t0, in order (convolutions read whole steps at lag 1, contiguously)
        images = {n: work.array(("images", n), (ring, batch, self._size[n]), np.float32,
                                zero=True) for n in self.images} if by_sample else {}
        hist = {n: work.array(("history", n), (ring, size, batch), np.float32, zero=True)
                for n, size in self._size.items()
                if not by_sample or n not in self.images or n in self.by_neuron}
        if scalar is not None and spikes.dtype == bool:
            spikes = spikes.view(np.uint8)  # the compiled copy converts bytes
        staging = np.empty((self.block_steps * net.n_inputs, batch), np.uint8) if (
            scalar is None and spikes.dtype == bool) else None
        for t0 in range(0, steps, self.block_steps):
            count = min(self.block_steps, steps - t0)
            if INPUT in hist and scalar is not None:  # (else only convolutions read the
                scalar.module.load_steps(spikes, t0, count, hist[INPUT])  # input's window)
            elif INPUT in hist:
                self._load_input(spikes, t0, count, hist[INPUT], staging)
            for window in images.values() if t0 else ():  # the last steps move to the front
                np.copyto(window[: self.history], window[self.block_steps :])
            if INPUT in images:
                for k in range(count):
                    np.copyto(images[INPUT][self.history + k], spikes[:, t0 + k])
            for comp in self.components:
                self._run_component(comp, hist, images, state, t0, count, out_s, out_v, out_u,
                                    work, scalar)

    def _load_input(self, spikes: np.ndarray, t0: int, count: int, hist: np.ndarray,
                    staging: np.ndarray | None) -> None:
        """Input steps t0..t0+count-1 of ``spikes`` (batch, steps, n_inputs) into the ring
        ``hist`` (ring, n_inputs, batch), in at most two pieces of the ring. Binary input
        goes through ``staging`` as bytes: a plain strided byte copy, then one contiguous
        conversion (half the time of transposing into float32 directly)."""
        batch, _, n_in = spikes.shape
        a = t0
        while a < t0 + count:
            lo = a % self.ring
            n = min(t0 + count - a, self.ring - lo)
            piece = spikes[:, a : a + n].reshape(batch, n * n_in).T  # (step x input, batch)
            dst = hist[lo : lo + n].reshape(n * n_in, batch)
            if staging is not None:
                np.copyto(staging[: n * n_in], piece.view(np.uint8))
                piece = staging[: n * n_in]
            np.copyto(dst, piece)
            a += n

    def _run_component(self, comp, hist, images, state, t0, count, out_s, out_v, out_u, work,
                       scalar) -> None:
        """Advance one strongly connected component through steps t0..t0+count-1."""
        members = set(comp)
        ops, ring = self.ops, self.ring

        def total(parts):
            parts = [a for a in parts if a is not None]
            if len(parts) > 1 and parts[0].dtype != np.float64:
                parts[0] = parts[0].astype(np.float64)  # sums of exact float32 parts
            for a in parts[1:]:
                parts[0] = ops.add(parts[0], a)
            return parts[0] if parts else None

        by_sample = self.by_sample if scalar is not None else {}
        external = {
            name: total(self._projection_input(cp, hist, images, t0, count, work)
                        for cp in self.incoming[name] if cp.src not in members)
            for name in comp if name not in by_sample
        }
        recurrent = self.recurrent[tuple(comp)]

        def step_input(name: str, i: int) -> np.ndarray | None:
            """(1, size, batch): step i's external input plus the component's own."""
            a_in = external[name]
            return total([None if a_in is None else a_in[i : i + 1].copy()] + [
                self._projection_input(cp, hist, images, t0 + i, 1, work)
                for cp in self.incoming[name] if cp.src in members and cp.parts])

        if scalar is not None and comp[0] in by_sample:  # samples first, from the convolution
            name, cp = comp[0], by_sample[comp[0]]
            u, v = state[name]
            resets = np.array([self.net.populations[name].resets_at(t0 + k)
                               for k in range(count)], dtype=bool)
            sums = self._convolve(cp, self._images(cp, hist, images, t0, count, work))
            scalar.module.lif_block_by_sample(
                scalar.constants[name], sums, cp.weight_exp, cp.wrap, resets, t0, u, v,
                images[name][self.history : self.history + count], hist.get(name),
                out_s.get(name), out_v.get(name), out_u.get(name))
            return
        if scalar is not None:  # the compiled step: one call per population and block
            for i in range(count if recurrent else 1):
                t, n = (t0 + i, 1) if recurrent else (t0, count)
                for name in comp:
                    a_in = step_input(name, i) if recurrent else external[name]
                    resets = np.array([self.net.populations[name].resets_at(t + k)
                                       for k in range(n)], dtype=bool)
                    u, v = state[name]
                    scalar.module.lif_block(scalar.constants[name], a_in, resets, t, u, v,
                                            hist[name], out_s.get(name), out_v.get(name),
                                            out_u.get(name))
            return
        for i in range(count):
            t = t0 + i
            for name in comp:
                pop = self.pops[name]
                a_in = step_input(name, i) if recurrent else external[name]
                a_in = None if a_in is None else a_in[0 if recurrent else i]
                u, v = state[name]
                if self.net.populations[name].resets_at(t):  # timed state reset
                    u[...] = 0.0
                    v[...] = 0.0
                s, u, v = lif_step(ops, pop, a_in, u, v)
                state[name] = (u, v)
                hist[name][t % ring] = s
                if name in out_s:
                    out_s[name][:, t] = s.T
                    if out_v:
                        out_v[name][:, t] = v.T
                    if out_u:
                        out_u[name][:, t] = u.T


def simulate_reference(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    block_steps: int = 16,
) -> Traces:
    """Run ``net`` on the reference fixed-point simulator. See :func:`neurodeploy.simulate`."""
    return ReferencePlan(net, block_steps=block_steps).run(spikes, record, populations)
