"""The integer kernel over scalars, compiled by numba: one fused loop per population.

numba compiles the kernel's own :func:`~neurodeploy.kernel.lif_step` (the source every
other backend runs) with :data:`OPS`, a realisation of
:class:`~neurodeploy.kernel.IntOps` over float64 scalars (integers held exactly, as in
``numpy_ops``: ``trunc(x * keep / 4096)`` is the truncating shift, ``floor(x / 2**k)``
the floor shift). :func:`lif_block` runs that step for every neuron and sample of a
population over consecutive steps in one call without the GIL: the reference simulator's
element-wise work in one pass over the state instead of a dozen numpy passes, with its
threads running side by side.

The chip's bounds are compiled in as constants: the compiled step applies to networks of
:data:`CHIP` (``ChipFormat`` equality); the reference runs any other chip profile through
the numpy realisation, with the same integers.

Two copies that change layout go with it: :func:`load_steps` (input spikes (batch, step,
input) into the history ring (ring, input, batch)) and the spike recording of
:func:`lif_block` (ring into (batch, step, neuron)). :func:`lif_block_by_sample` is the
same step over (batch, neuron) state, for a population whose input is one convolution's
output in that order: no layout changes at all.

Compiled code is cached on disk under the user's cache folder (``$XDG_CACHE_HOME`` or
``~/.cache``, ``neurodeploy/numba/<key>``; the system's temporary folder where that cannot
be written), where the key hashes the sources of this module, the kernel and the chip
profiles and numba's and numpy's versions: an edit of the kernel never reuses stale
machine code. The first run in a fresh environment compiles (about a second per argument
layout); where no folder can be written, every process compiles.

Time convention: 0-based steps; ``lif_block`` advances steps ``t0 .. t0 + count - 1``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import types
from collections import namedtuple
from pathlib import Path

import numba
import numpy as np
from numba import njit

from neurodeploy import chip
from neurodeploy.chip import LOIHI2
from neurodeploy.kernel import lif

#: The chip whose bounds the compiled step holds.
CHIP = LOIHI2
_HALF = float(CHIP.state_half)
_SPAN = 2.0 * _HALF
_VMAX = float(CHIP.state_max)
_INT32_HALF = float(1 << 31)
_INT32_SPAN = float(1 << 32)

ScalarChip = namedtuple("ScalarChip", "act_shift")
ScalarOps = namedtuple("ScalarOps", "chip decay add scale wrap_int32 wrap24 saturate fire reset")
#: One neuron's :class:`~neurodeploy.kernel.LIFConstants` as scalars (keeps as fractions).
ScalarLIF = namedtuple("ScalarLIF", "keep_u keep_v bias vth_scaled emulate_int32")


def _inline(fn):
    return njit(inline="always")(fn)


@_inline
def _decay(x, keep):
    return np.trunc(x * keep)


@_inline
def _add(x, y):
    return x + y


@_inline
def _scale(x, exp):
    return x * float(1 << exp) if exp >= 0 else np.floor(x / float(1 << -exp))


@_inline
def _wrap_int32(x):
    return x - _INT32_SPAN * np.floor((x + _INT32_HALF) / _INT32_SPAN)


@_inline
def _wrap24(u):
    if u > _HALF:
        return u - _SPAN
    if u <= -_HALF:
        return u + _SPAN
    return u


@_inline
def _saturate(v):
    return min(max(v, -_VMAX), _VMAX)


@_inline
def _fire(v, vth_scaled):
    return v > vth_scaled


@_inline
def _reset(spike, v):
    return 0.0 if spike else v


#: :class:`~neurodeploy.kernel.IntOps` over float64 scalars, for compiled code.
OPS = ScalarOps(ScalarChip(CHIP.act_shift), _decay, _add, _scale, _wrap_int32, _wrap24,
                _saturate, _fire, _reset)


def _compiled(fn: types.FunctionType, **callees: object) -> object:
    """``fn`` (a kernel function) compiled for inlining, its kernel callees compiled too."""
    scope = {**fn.__globals__, **callees}
    return _inline(types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__))


_step = _compiled(lif.lif_step, integrate=_compiled(lif.integrate))
_accumulate = _compiled(lif.accumulate)


def cache_key() -> str:
    """The hash of the sources of this module, the kernel and the chip profiles, and of
    numba's and numpy's versions: compiled code is valid for exactly these."""
    digest = hashlib.sha256(f"{numba.__version__} {np.__version__}".encode())
    for path in (Path(__file__), Path(lif.__file__), Path(chip.__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path | None:
    """Where compiled code is kept: ``neurodeploy/numba/<cache_key>`` in the user's cache
    folder (``$XDG_CACHE_HOME`` or ``~/.cache``), else in the system's temporary folder
    (``neurodeploy-numba-<uid>``); None where neither can be written."""
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neurodeploy"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    key, temp = cache_key(), Path(tempfile.gettempdir()) / f"neurodeploy-numba-{uid}"
    for path in (user / "numba" / key, temp / key):
        try:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
        except OSError:
            continue
        return path
    return None


_CACHE_DIR = cache_dir()


def cached_jit(fn):
    """``fn`` compiled without the GIL, its machine code cached in :func:`cache_dir` (not
    cached where no folder can be written: numba's own fallback, a ``__pycache__`` beside
    this file, would not see edits of the kernel)."""
    if _CACHE_DIR is None:
        return njit(nogil=True)(fn)
    before = numba.config.CACHE_DIR  # numba picks the folder when the function is wrapped
    numba.config.CACHE_DIR = str(_CACHE_DIR)
    try:
        return njit(nogil=True, cache=True)(fn)
    finally:
        numba.config.CACHE_DIR = before


def _lif_block(keep_u, keep_v, bias, vth_scaled, emulate_int32, a_in, resets, t0,
               u, v, hist, out_v, out_u):
    count = resets.shape[0]
    n, batch = u.shape
    ring = hist.shape[0]
    for k in range(count):
        t = t0 + k
        if resets[k]:
            u[:] = 0.0
            v[:] = 0.0
        row = t % ring
        for i in range(n):
            c = ScalarLIF(keep_u[i], keep_v[i], bias[i], vth_scaled[i], emulate_int32)
            ui, vi, hi = u[i], v[i], hist[row, i]
            if a_in.shape[0]:
                ai = a_in[k, i]
                for j in range(batch):
                    hi[j], ui[j], vi[j] = _step(OPS, c, float(ai[j]), ui[j], vi[j])
            else:
                for j in range(batch):
                    hi[j], ui[j], vi[j] = _step(OPS, c, None, ui[j], vi[j])
            if out_v.shape[0]:
                out_v[:, t, i] = vi
            if out_u.shape[0]:
                out_u[:, t, i] = ui


_lif_block_compiled = cached_jit(_lif_block)
_EMPTY_INPUT = np.zeros((0, 0, 0))
_EMPTY_RECORD = np.zeros((0, 0, 0), np.int64)


def lif_block(c: ScalarLIF, a_in: np.ndarray | None, resets: np.ndarray, t0: int,
              u: np.ndarray, v: np.ndarray, hist: np.ndarray,
              out_s: np.ndarray | None = None, out_v: np.ndarray | None = None,
              out_u: np.ndarray | None = None) -> None:
    """Advance one population through steps ``t0 .. t0 + count - 1`` in place.

    ``c``: the population's constants as float64 vectors (size,) (``keep_*`` as fractions of
    2**decay_bits) and ``emulate_int32``; ``a_in``: the summed projection input (count,
    size, batch), exact integers in float32 or float64, or None (no projection);
    ``resets`` (count,) bool: u and v are set to 0 before the update of that step; ``u``,
    ``v``: the state (size, batch) float64, updated; ``hist``: the spike history ring
    (ring, size, batch), step t written at ``t % ring``; ``out_*``: recordings (batch,
    steps, size) written at step t, or None. Bit for bit :func:`~neurodeploy.kernel.lif_step`
    per step.
    """
    # absent arrays as empty ones of the dtypes the present ones have: fewer compiled
    # variants (each takes about a second to compile the first time)
    no_input, no_record = _EMPTY_INPUT, _EMPTY_RECORD
    _lif_block_compiled(
        c.keep_u, c.keep_v, c.bias, c.vth_scaled, c.emulate_int32,
        no_input if a_in is None else a_in, resets, t0, u, v, hist,
        no_record if out_v is None else out_v, no_record if out_u is None else out_u)
    if out_s is not None:
        _record_steps_compiled(hist, t0, resets.shape[0], out_s)


def _lif_block_by_sample(keep_u, keep_v, bias, vth_scaled, emulate_int32, a_in, weight_exp,
                         wrap, resets, t0, u, v, hist, hist_by_neuron, out_s, out_v, out_u):
    count = resets.shape[0]
    batch, n = u.shape
    ring = hist_by_neuron.shape[0]
    spare = np.empty(n, np.bool_)  # the spikes' row where they are not recorded
    for k in range(count):
        t = t0 + k
        if resets[k]:
            u[:] = 0.0
            v[:] = 0.0
        for j in range(batch):
            uj, vj, hj, aj = u[j], v[j], hist[k, j], a_in[k, j]
            sj = out_s[j, t] if out_s.shape[0] else spare
            for i in range(n):
                c = ScalarLIF(keep_u[i], keep_v[i], bias[i], vth_scaled[i], emulate_int32)
                a = _accumulate(OPS, (float(aj[i]),), weight_exp, wrap)
                spike, uj[i], vj[i] = _step(OPS, c, a, uj[i], vj[i])
                hj[i] = spike
                sj[i] = spike
            if ring:
                hist_by_neuron[t % ring, :, j] = hj
            if out_v.shape[0]:
                out_v[j, t] = vj
            if out_u.shape[0]:
                out_u[j, t] = uj


_lif_block_by_sample_compiled = cached_jit(_lif_block_by_sample)
_EMPTY_HISTORY = np.zeros((0, 0, 0), np.float32)
_EMPTY_SPIKES = np.zeros((0, 0, 0), np.bool_)


def lif_block_by_sample(c: ScalarLIF, a_in: np.ndarray, weight_exp: int, wrap: bool,
                        resets: np.ndarray, t0: int, u: np.ndarray, v: np.ndarray,
                        hist: np.ndarray, hist_by_neuron: np.ndarray | None = None,
                        out_s: np.ndarray | None = None, out_v: np.ndarray | None = None,
                        out_u: np.ndarray | None = None) -> None:
    """:func:`lif_block` with the samples first: for a population whose input is one
    projection's raw sums in (sample, neuron) order, as a convolution computes them.

    ``a_in``: the raw sums (count, batch, size), exact integers in float32 or float64, to
    which the step applies :func:`~neurodeploy.kernel.accumulate` with
    ``weight_exp`` and ``wrap``; ``u``, ``v``: the state (batch, size) float64; ``hist``:
    the block's spikes (count, batch, size) float32, step ``t0 + k`` at k;
    ``hist_by_neuron``: the same spikes into a (ring, size, batch) ring too, step t at
    ``t % ring``, or None;
    ``out_*``: recordings (batch, steps, size), or None. Bit for bit
    :func:`~neurodeploy.kernel.lif_step` per step.
    """
    _lif_block_by_sample_compiled(
        c.keep_u, c.keep_v, c.bias, c.vth_scaled, c.emulate_int32,
        a_in, int(weight_exp), bool(wrap), resets, t0, u, v,
        hist, _EMPTY_HISTORY if hist_by_neuron is None else hist_by_neuron,
        _EMPTY_SPIKES if out_s is None else out_s, _EMPTY_RECORD if out_v is None else out_v,
        _EMPTY_RECORD if out_u is None else out_u)


@_inline
def _transpose(src, dst):
    """dst[j, i] = src[i, j], writing dst's rows in order."""
    rows, cols = src.shape
    for j in range(cols):
        out = dst[j]
        for i in range(rows):
            out[i] = src[i, j]


def _load_steps(spikes, t0, count, hist):
    for k in range(count):
        _transpose(spikes[:, t0 + k], hist[(t0 + k) % hist.shape[0]])


def _record_steps(hist, t0, count, out):
    for k in range(count):
        _transpose(hist[(t0 + k) % hist.shape[0]], out[:, t0 + k])


_load_steps_compiled = cached_jit(_load_steps)
_record_steps_compiled = cached_jit(_record_steps)


def load_steps(spikes: np.ndarray, t0: int, count: int, hist: np.ndarray) -> None:
    """Copy input steps ``t0 .. t0 + count - 1`` of ``spikes`` (batch, steps, n) into the
    history ring ``hist`` (ring, n, batch), step t at ``t % ring`` (a transposing copy in
    one pass, any numeric dtypes)."""
    _load_steps_compiled(spikes, t0, count, hist)


def scalar_constants(c: lif.LIFConstants, size: int) -> ScalarLIF:
    """``c`` as :func:`lif_block` takes it: float64 vectors of ``size``."""
    unity = float(CHIP.decay_unity)

    def vector(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(values, np.float64), (size,)))

    return ScalarLIF(vector(c.keep_u) / unity, vector(c.keep_v) / unity, vector(c.bias),
                     vector(c.vth_scaled), bool(c.emulate_int32))
