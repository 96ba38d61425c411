"""The reference simulator, specified by small networks whose integers follow by hand
from the rules in docs/loihi2-fixed-point.md (0-based steps, one step per hop)."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate
from neurodeploy.network import INPUT
from neurodeploy.targets.reference import ReferencePlan, _Work

from netgen import network_cases, random_network, random_spikes


def run(net, spikes, **kw):
    return simulate(net, np.asarray(spikes, dtype=bool), target="reference",
                    record=("spikes", "v", "u"), **kw)


def single(n_inputs=1, size=1, weights=None, **pop):
    params = dict(du=4095, dv=4095, vth=0)
    params.update(pop)
    w = np.ones((size, n_inputs), int) * 2 if weights is None else np.asarray(weights)
    proj_kw = {k: params.pop(k) for k in ("delays", "weight_exp") if k in params}
    return FixedPointNetwork(n_inputs, {"h": LIFPopulation(size=size, **params)},
                             [Projection(INPUT, "h", w, **proj_kw)])


def test_axonal_delays_arrive_at_t_plus_1_plus_d():
    # du = dv = 4095 and vth = 0: a neuron spikes exactly at the steps where it gets input.
    net = single(4, 4, np.eye(4, dtype=int) * 2, delays=[0, 1, 5, 62])
    x = np.zeros((1, 70, 4))
    x[0, 2] = 1
    spikes = run(net, x).spikes["h"][0]
    assert [np.flatnonzero(spikes[:, j]).tolist() for j in range(4)] == [[3], [4], [8], [65]]


def test_one_step_per_hop_through_two_populations():
    pops = {"a": LIFPopulation(1, du=4095, dv=4095, vth=0),
            "b": LIFPopulation(1, du=4095, dv=4095, vth=0)}
    net = FixedPointNetwork(1, pops, [Projection(INPUT, "a", [[2]]), Projection("a", "b", [[2]])])
    x = np.zeros((1, 6, 1))
    x[0, 0] = 1
    tr = run(net, x)
    assert np.flatnonzero(tr.spikes["a"][0, :, 0]).tolist() == [1]
    assert np.flatnonzero(tr.spikes["b"][0, :, 0]).tolist() == [2]


def test_weight_exp_floors_each_delay_slot_sum():
    # weights -1, -1 and weight_exp -1: one slot sums to -2 -> -1; two slots give -1 + -1.
    x = np.zeros((1, 6, 2))
    x[0, 1, :] = 1
    same = single(2, 1, [[-1, -1]], weight_exp=-1, vth=131071)
    u_same = run(same, x).u["h"][0, :, 0]
    assert u_same[2] == -1 * 64
    split = single(2, 1, [[-1, -1]], weight_exp=-1, vth=131071,
                   delays=np.array([[0, 1]]))
    x2 = np.zeros((1, 6, 2))
    x2[0, 1, 0] = 1
    x2[0, 0, 1] = 1  # arrives at step 2 through delay 1, together with channel 0
    assert run(split, x2).u["h"][0, 2, 0] == -2 * 64
    pos = single(1, 1, [[3]], weight_exp=-1, vth=131071)
    assert run(pos, x[:, :, :1]).u["h"][0, 2, 0] == 1 * 64  # floor(3 / 2) = 1
    big = single(1, 1, [[3]], weight_exp=7, vth=131071)
    assert run(big, x[:, :, :1]).u["h"][0, 2, 0] == (3 << 7) << 6


def test_du_zero_still_leaks_because_of_the_hidden_plus_one():
    x = np.zeros((1, 4, 1))
    x[0, 0] = 1
    leaky = run(single(1, 1, [[64]], du=0, vth=131071), x).u["h"][0, :, 0]
    assert leaky[1] == 64 << 6 and leaky[2] == 4095  # trunc(4096 * 4095 / 4096)
    full = run(single(1, 1, [[64]], du=4095, vth=131071), x).u["h"][0, :, 0]
    assert full[1] == 4096 and full[2] == 0


def test_bias_is_not_shifted_and_negative_exponent_floors():
    quiet = np.zeros((1, 5, 1))
    v = run(single(1, 1, [[0]], bias_mant=1, bias_exp=6, vth=1), quiet).v["h"][0, :, 0]
    assert v.tolist() == [64] * 5  # bias 64 = one weight unit; 64 > (1 << 6) is false
    v = run(single(1, 1, [[0]], bias_mant=-3, bias_exp=-1, vth=1), quiet).v["h"][0, :, 0]
    assert v.tolist() == [-2] * 5  # floor(-3 / 2)


def test_threshold_is_strict_and_v_resets_to_zero():
    net = single(1, 1, [[0]], bias_mant=1, bias_exp=6, vth=1, dv=0)
    tr = run(net, np.zeros((1, 4, 1)))
    # v: 64, then 128 > 64 spikes and resets to 0, then 64, 128 ...
    assert tr.v["h"][0, :, 0].tolist() == [64, 0, 64, 0]
    assert tr.spikes["h"][0, :, 0].tolist() == [False, True, False, True]


def test_v_saturates_at_24_bits():
    net = single(1, 1, [[0]], bias_mant=-4096, bias_exp=7, dv=0, vth=0)
    v = run(net, np.zeros((1, 20, 1))).v["h"][0, :, 0]
    expected = [max(-524288 * (t + 1), -(2**23 - 1)) for t in range(20)]
    assert v.tolist() == expected


@pytest.mark.parametrize(("n_src", "weight"), [(4096, 255), (70000, 255)])
def test_float_products_are_exact_integer_sums(n_src, weight):
    """float32 (sums < 2**24) and float64 paths both equal integer arithmetic."""
    rng = np.random.default_rng(n_src)
    w = rng.choice([weight, weight - 1, 0], size=(3, n_src))
    w[0] = weight  # one row at the largest possible sum
    net = FixedPointNetwork(n_src, {"h": LIFPopulation(3, du=0, dv=0, vth=0)},
                            [Projection(INPUT, "h", w, sign_mode="excitatory")])
    plan = ReferencePlan(net)
    cp = plan.projections[0]
    spikes = rng.random((4, n_src)) < 0.9
    spikes[0] = True  # the worst case: every source at once
    hist = np.zeros((plan.ring, n_src, 4), np.float32)  # step s at s % ring
    hist[0] = spikes.T
    got = plan._projection_input(cp, {INPUT: hist}, {}, 1, 1, _Work())[0].T  # step 0 -> 1
    exact = spikes.astype(np.int64) @ w.T.astype(np.int64)
    bound = np.abs(w).sum(axis=1).max()
    assert cp.dtype == (np.float32 if bound < 2**24 else np.float64)
    assert cp.parts[0].weights.dtype == cp.dtype
    assert (got == exact).all()
    assert exact.max() > (2**24 if n_src == 70000 else 2**19)


@settings(max_examples=30)
@given(network_cases(max_steps=70), st.sampled_from([1, 5, 64]))
def test_block_size_does_not_change_results(case, block):
    net, x = case
    a = ReferencePlan(net, block_steps=32).run(x, ("spikes", "v", "u"))
    b = ReferencePlan(net, block_steps=block).run(x, ("spikes", "v", "u"))
    for n in net.populations:
        assert (a.spikes[n] == b.spikes[n]).all()
        assert (a.v[n] == b.v[n]).all() and (a.u[n] == b.u[n]).all()


@settings(max_examples=30)
@given(network_cases(max_steps=50))
def test_numpy_step_equals_the_compiled_step(case):
    """The plan's two realisations of the kernel's step (numba over scalars, for large runs;
    numpy over arrays, for small runs and other chip profiles; both also against Lava in
    test_bit_exact.py) on random networks: recurrence, every weight format, int32
    emulation."""
    net, x = case
    plans = [ReferencePlan(net, compiled=flag) for flag in (True, False)]
    assert plans[0]._compiled_step(1) is not None and plans[1]._compiled_step(10**9) is None
    a, b = (p.run(x, ("spikes", "v", "u")) for p in plans)
    for n in net.populations:
        assert (a.spikes[n] == b.spikes[n]).all()
        assert (a.v[n] == b.v[n]).all() and (a.u[n] == b.u[n]).all()


@settings(max_examples=20)
@given(network_cases(max_steps=40))
def test_samples_in_a_batch_do_not_interact(case):
    net, x = case
    batch = run(net, x)
    for b in range(x.shape[0]):
        alone = run(net, x[b : b + 1])
        for n in net.populations:
            assert (alone.spikes[n][0] == batch.spikes[n][b]).all()
            assert (alone.v[n][0] == batch.v[n][b]).all()


def test_recording_a_subset_of_populations_gives_the_same_spikes():
    pops = {"a": LIFPopulation(3, du=100, dv=100, vth=2),
            "b": LIFPopulation(2, du=100, dv=100, vth=2)}
    net = FixedPointNetwork(2, pops, [Projection(INPUT, "a", np.full((3, 2), 200)),
                                      Projection("a", "b", np.full((2, 3), 100), delays=3)])
    x = np.random.default_rng(0).random((2, 50, 2)) < 0.5
    full = run(net, x)
    only_b = simulate(net, x, populations=["b"])
    assert list(only_b.spikes) == ["b"]
    assert (only_b.spikes["b"] == full.spikes["b"]).all()
    assert full.spikes["b"].any()


def test_working_memory_does_not_grow_with_steps_when_recording_only_outputs():
    """History is (max_delay + 1 + block) steps; only what is recorded grows with steps."""
    import tracemalloc

    rng = np.random.default_rng(0)
    pops = {"hidden": LIFPopulation(300, du=500, dv=500, vth=10),
            "out": LIFPopulation(2, du=500, dv=500, vth=10)}
    net = FixedPointNetwork(20, pops, [
        Projection(INPUT, "hidden", rng.integers(0, 64, (300, 20)) * 2, delays=rng.integers(0, 20, 20)),
        Projection("hidden", "out", rng.integers(0, 8, (2, 300)) * 2),
    ])
    plan = ReferencePlan(net)

    def peak(steps: int) -> int:
        x = rng.random((16, steps, 20)) < 0.2
        tracemalloc.start()
        plan.run(x, populations=["out"])
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(200), peak(2000)
    hidden_trace = 1800 * 300 * 16  # what recording the hidden layer would add, in bytes
    assert long - short < hidden_trace / 10


@pytest.mark.parametrize("exp", [0, -1, 2])
def test_convolutions_give_the_integer_sums_of_their_matrix(exp):
    """A convolutional projection runs as a convolution; the same weights without the
    geometry (1,600 x 800, 2% nonzero) run as a CSR product, and forced dense as a GEMM.
    The currents (steps 1..11) equal exact integer arithmetic (int64 matmul, the kernel's
    shift) and the runs are identical, the compiled one stepping samples first."""
    rng = np.random.default_rng(exp + 5)
    conv = Projection.conv2d(INPUT, "c", 2 * rng.integers(-60, 100, (16, 2, 3, 3)), (2, 20, 20),
                             stride=2, padding=1, weight_exp=exp)
    pop = {"c": LIFPopulation(1600, du=400, dv=300, vth=50)}
    net = FixedPointNetwork(800, pop, [conv])
    flat = FixedPointNetwork(800, pop, [Projection(INPUT, "c", conv.weights, weight_exp=exp)])
    x = rng.random((3, 12, 800)) < 0.3
    plan = ReferencePlan(net)
    assert plan.projections[0].conv is not None
    hist = np.zeros((plan.ring, 800, 3), np.float32)
    hist[:11] = x[:, :11].transpose(1, 2, 0)
    got = plan._projection_input(plan.projections[0], {INPUT: hist}, {}, 1, 11, _Work())
    sums = np.einsum("ij,tjb->tib", conv.weights, hist[:11].astype(np.int64))
    want = sums << exp if exp >= 0 else sums >> -exp  # the floor shift of each slot's sum
    np.testing.assert_array_equal(got, want)
    sparse_plan = ReferencePlan(flat)
    assert type(sparse_plan.projections[0].parts[0].weights).__name__ == "csr_matrix"
    dense_plan = ReferencePlan(flat)
    (part,) = dense_plan.projections[0].parts
    dense_plan.projections[0] = replace(dense_plan.projections[0], parts=(
        replace(part, weights=part.weights.toarray()),))
    samples_first = ReferencePlan(net, compiled=True)  # the convolution's output as it is
    assert set(samples_first.by_sample) == {"c"}
    runs = [p.run(x, record=("spikes", "v", "u"))
            for p in (plan, samples_first, sparse_plan, dense_plan)]
    assert runs[0].spikes["c"].any()
    for kind in ("spikes", "v", "u"):
        for other in runs[1:]:
            np.testing.assert_array_equal(getattr(runs[0], kind)["c"], getattr(other, kind)["c"])


@pytest.mark.parametrize("recurrent", [False, True])
def test_batch_split_across_threads_gives_the_single_thread_run(recurrent):
    """A batch of 3 x THREAD_MIN_SAMPLES + 5 samples runs as 3 chunks in threads (uneven
    last chunk); every trace equals the one-thread run of the whole batch."""
    from neurodeploy.targets.reference import THREAD_MIN_SAMPLES

    net = random_network(7, 3, recurrent, 6)
    x = random_spikes(8, net, 3 * THREAD_MIN_SAMPLES + 5, 30)
    one = ReferencePlan(net, threads=1).run(x, ("spikes", "v", "u"))
    split = ReferencePlan(net, threads=3).run(x, ("spikes", "v", "u"))
    assert any(one.spikes[n].any() for n in net.populations)
    for kind in ("spikes", "v", "u"):
        for n in net.populations:
            np.testing.assert_array_equal(getattr(one, kind)[n], getattr(split, kind)[n])
