"""The numba-compiled step (``neurodeploy.kernel.compiled``) against the kernel's numpy
realisation, whose integers are tested against Lava (``test_fixed_point_vs_lava.py``);
the reference simulator that runs the compiled step is tested against Lava itself in
``test_bit_exact.py``. Time convention: 0-based steps."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection
from neurodeploy.chip import LOIHI2
from neurodeploy.kernel import LIFConstants, NumpyIntOps, accumulate, lif_step
from neurodeploy.kernel.compiled import (
    lif_block,
    lif_block_by_sample,
    load_steps,
    scalar_constants,
)
from neurodeploy.network import INPUT
from neurodeploy.targets.reference import ReferencePlan


def random_block(seed: int, emulate: bool, size: int, batch: int, count: int):
    """A random population's constants (every branch of the step taken by some neurons),
    state (size, batch) and timed resets (count,)."""
    rng = np.random.default_rng(seed)
    pop = LIFPopulation(size, du=rng.integers(0, 4096, size), dv=rng.integers(0, 4096, size),
                        vth=rng.integers(0, 2**17, size), bias_mant=rng.integers(-4096, 4096, size),
                        bias_exp=int(rng.integers(0, 8)))
    u0, v0 = (rng.integers(-(2**23) + 1, 2**23, (size, batch)).astype(np.float64)
              for _ in range(2))
    return rng, LIFConstants.of(pop, emulate), u0, v0, rng.random(count) < 0.2


def numpy_steps(consts, inputs, u0, v0, resets):
    """The numpy realisation step by step from state (size, batch): the spikes, u and v of
    every step as (batch, size), and the final u, v; ``inputs[k]`` is step k's a_in."""
    ops = NumpyIntOps(LOIHI2)
    numpy_consts = ops.constants(consts)
    u, v = u0.copy(), v0.copy()
    want = {"s": [], "u": [], "v": []}
    for k, reset in enumerate(resets):
        if reset:
            u[...], v[...] = 0.0, 0.0
        s, u, v = lif_step(ops, numpy_consts, inputs[k], u, v)
        for key, x in (("s", s), ("u", u), ("v", v)):
            want[key].append(x.T.copy())
    return want, u, v


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), emulate=st.booleans(), graded=st.booleans(),
       no_input=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_compiled_block_equals_numpy_steps(seed, emulate, graded, no_input, dtype):
    """Every branch of the step (u wrap, v saturation, int32 wrap, reset, a timed reset,
    no input) taken by some neurons: the compiled block gives the numpy steps' integers."""
    size, batch, count, t0, ring = 7, 5, 6, 3, 11
    rng, consts, u0, v0, resets = random_block(seed, emulate, size, batch, count)
    top = 2**31 if emulate else 2**17
    a_in = None if no_input else rng.integers(-top, top, (count, size, batch)).astype(dtype)
    if graded and a_in is not None:  # exact in float32 only below 2**24
        a_in = np.round(a_in / 256).astype(dtype)
    inputs = [None] * count if a_in is None else [a.astype(np.float64) for a in a_in]
    want, u, v = numpy_steps(consts, inputs, u0, v0, resets)
    got_u, got_v = u0.copy(), v0.copy()
    hist = np.zeros((ring, size, batch), np.float32)
    steps = t0 + count + 2
    out_s = np.zeros((batch, steps, size), bool)
    out_v = np.zeros((batch, steps, size), np.int64)
    out_u = np.zeros((batch, steps, size), np.int64)
    lif_block(scalar_constants(consts, size), a_in, resets, t0, got_u, got_v, hist,
              out_s, out_v, out_u)
    window = slice(t0, t0 + count)
    np.testing.assert_array_equal(out_s[:, window], np.stack(want["s"], axis=1))
    np.testing.assert_array_equal(out_u[:, window], np.stack(want["u"], axis=1))
    np.testing.assert_array_equal(out_v[:, window], np.stack(want["v"], axis=1))
    np.testing.assert_array_equal(got_u, u)
    np.testing.assert_array_equal(got_v, v)
    rows = [(t0 + k) % ring for k in range(count)]
    np.testing.assert_array_equal(hist[rows],
                                  np.stack(want["s"]).transpose(0, 2, 1).astype(np.float32))
    assert not out_s[:, :t0].any() and not out_s[:, t0 + count :].any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), emulate=st.booleans(), weight_exp=st.integers(-3, 3),
       dtype=st.sampled_from([np.float32, np.float64]), by_neuron=st.booleans(),
       record=st.booleans())
def test_samples_first_block_equals_numpy_steps(seed, emulate, weight_exp, dtype, by_neuron,
                                                record):
    """The samples-first block (state (batch, neuron), one projection's raw sums shifted by
    its weight_exp and wrapped inside the step) gives the numpy steps' integers, writes the
    block's spikes, the neurons-first ring and the recordings."""
    size, batch, count, t0, ring = 9, 4, 5, 6, 7
    rng, consts, u0, v0, resets = random_block(seed, emulate, size, batch, count)
    top = 2**31 if emulate else 2**14
    raw = rng.integers(-top, top, (count, batch, size))
    raw = (np.round(raw / 256) if dtype == np.float32 else raw).astype(dtype)
    ops = NumpyIntOps(LOIHI2)
    inputs = [accumulate(ops, [r.T.astype(np.float64)], weight_exp, emulate) for r in raw]
    want, u, v = numpy_steps(consts, inputs, u0, v0, resets)
    got_u, got_v = u0.T.copy(), v0.T.copy()
    block = np.full((count, batch, size), -1.0, np.float32)
    hist = np.full((ring, size, batch), -1.0, np.float32) if by_neuron else None
    steps = t0 + count + 1
    outs = [np.zeros((batch, steps, size), t) for t in (bool, np.int64, np.int64)] if record \
        else [None] * 3
    lif_block_by_sample(scalar_constants(consts, size), raw, weight_exp, emulate, resets, t0,
                        got_u, got_v, block, hist, *outs)
    np.testing.assert_array_equal(got_u, u.T)
    np.testing.assert_array_equal(got_v, v.T)
    np.testing.assert_array_equal(block, np.stack(want["s"]).astype(np.float32))
    if by_neuron:
        rows = [(t0 + k) % ring for k in range(count)]
        np.testing.assert_array_equal(hist[rows], block.transpose(0, 2, 1))
        assert (hist[[r for r in range(ring) if r not in rows]] == -1).all()
    if record:
        window = slice(t0, t0 + count)
        for out, key in zip(outs, "svu", strict=True):
            np.testing.assert_array_equal(out[:, window], np.stack(want[key], axis=1))
            assert not out[:, :t0].any() and not out[:, t0 + count :].any()


def test_load_steps_transposes_into_the_ring():
    rng = np.random.default_rng(0)
    spikes = rng.integers(0, 256, (3, 9, 4))
    hist = np.full((5, 4, 3), -1.0, np.float32)
    load_steps(spikes, 4, 3, hist)  # steps 4, 5, 6 at rows 4, 0, 1
    for t in (4, 5, 6):
        np.testing.assert_array_equal(hist[t % 5], spikes[:, t].T)
    assert (hist[[2, 3]] == -1).all()


def test_threaded_runs_restore_the_blas_and_torch_thread_counts():
    """Chunks run side by side with single-threaded BLAS and torch; the counts come back."""
    rng = np.random.default_rng(1)
    net = FixedPointNetwork(30, {"h": LIFPopulation(20, du=100, dv=200, vth=3)},
                            [Projection(INPUT, "h", 2 * rng.integers(-10, 30, (20, 30)))])
    x = rng.random((64, 10, 30)) < 0.2
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
        threaded = ReferencePlan(net, threads=2).run(x)
        assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(torch_threads)
    alone = ReferencePlan(net, threads=1).run(x)
    np.testing.assert_array_equal(threaded.spikes["h"], alone.spikes["h"])
    assert threaded.spikes["h"].any()


def test_compiled_code_is_cached_under_a_key_of_the_kernel_source(tmp_path, monkeypatch):
    """A changed kernel source gets another folder (numba's own cache would only see
    edits of the compiling function's file); an unwritable user cache falls back to the
    temporary folder."""
    from neurodeploy.kernel import compiled

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = compiled.cache_dir()
    assert path == tmp_path / "cache" / "neurodeploy" / "numba" / compiled.cache_key()
    assert path.is_dir()
    source = compiled.lif.__file__
    real_read = compiled.Path.read_bytes

    def edited(self):
        data = real_read(self)
        return data + b"# edited" if str(self) == source else data

    monkeypatch.setattr(compiled.Path, "read_bytes", edited)
    assert compiled.cache_key() != path.name
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr(compiled.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    fallback = compiled.cache_dir()
    assert fallback is not None and fallback.parent.parent == tmp_path / "tmp"
