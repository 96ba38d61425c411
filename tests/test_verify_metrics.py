"""Spike-timing agreement metrics on hand-built rasters (0-based steps, answers by hand)."""

import json
import math

import numpy as np
import pytest

from neurodeploy.errors import InputError
from neurodeploy.verify.metrics import (
    PairMetrics,
    accuracy,
    best_lag,
    compare_populations,
    compare_traces,
    count_error,
    decision_agreement,
    exact_agreement,
    f1_at,
    f1_at_lag,
    first_divergence,
    first_spike_error,
    match_spikes,
    spike_matching,
    v_rmse,
    van_rossum_distance,
)


def train(steps, *times):
    """One sample, one neuron: (1, steps, 1) bool with spikes at the given steps."""
    x = np.zeros((1, steps, 1), bool)
    x[0, list(times), 0] = True
    return x


def steps_of(mask):
    return [int(t) for t in np.flatnonzero(mask[0, :, 0])]


# ----------------------------------------------------------------------------- lag


def test_a_copy_one_step_later_has_lag_plus_one():
    a = train(10, 2, 5, 7)
    b = train(10, 3, 6, 8)  # every spike one step later
    assert f1_at(a, b, 0) == 0.0
    assert f1_at(a, b, 1) == 1.0
    assert best_lag(a, b) == (1, 1.0)


def test_a_copy_one_step_earlier_has_lag_minus_one():
    a = train(10, 2, 5, 7)
    b = train(10, 1, 4, 6)
    assert f1_at(a, b, 0) == 0.0
    assert best_lag(a, b) == (-1, 1.0)


def test_lag_compares_only_the_overlapping_steps():
    # a's spike at step 9 has no step 10 in b to land on: left out at lag +1, not a miss
    a = train(10, 2, 9)
    b = train(10, 3)
    assert f1_at_lag(a, b, 1) == 1.0
    assert f1_at_lag(a, b, 0) == 0.0
    # at lag -1, b's step 0 has no partner step -1 in a: only a[1..9] vs b[0..8]
    assert f1_at_lag(train(5, 0), train(5, 0, 4), -1) == 0.0  # a[0] left out; b[0] kept
    assert best_lag(a, b) == (1, 1.0)


def test_lag_ties_go_to_the_smallest_shift_then_to_the_negative_one():
    # b spikes 2 steps before and 2 steps after a's only spike: lags -2 and +2 both F1 2/3
    a = train(10, 5)
    b = train(10, 3, 7)
    assert f1_at_lag(a, b, -2) == pytest.approx(2 / 3)
    assert f1_at_lag(a, b, 2) == pytest.approx(2 / 3)
    assert best_lag(a, b) == (-2, pytest.approx(2 / 3))
    assert best_lag(train(10), train(10)) == (0, 1.0)  # all lags tie at 1.0 when silent
    assert best_lag(a, b, max_lag=1) == (0, 0.0)


# ------------------------------------------------------------------------ matching


def test_dropped_and_extra_spikes_counted_exactly():
    a = train(12, 1, 4, 7, 9)
    b = train(12, 1, 4, 7, 11)  # 9 dropped, 11 is extra: two steps from 9
    m0 = spike_matching(a, b, 0)
    assert (m0.n_matched, m0.n_missed, m0.n_extra) == (3, 1, 1)
    assert steps_of(m0.matched_a) == [1, 4, 7]
    assert steps_of(m0.matched_b) == [1, 4, 7]
    assert steps_of(m0.missed) == [9]
    assert steps_of(m0.extra) == [11]
    assert m0.f1 == 6 / 8
    assert f1_at(a, b, 1) == 6 / 8
    m2 = spike_matching(a, b, 2)
    assert (m2.n_matched, m2.n_missed, m2.n_extra) == (4, 0, 0)
    assert m2.f1 == 1.0
    assert match_spikes(a, b, 2) == 4


def test_matching_is_one_to_one():
    a = train(10, 5)
    b = train(10, 4, 6)
    m = spike_matching(a, b, 1)
    assert m.n_matched == 1
    assert m.f1 == pytest.approx(2 * 1 / 3)
    assert steps_of(m.matched_b) == [4]  # the earliest waiting spike takes the pair
    assert steps_of(m.extra) == [6]
    assert m.n_missed == 0


def test_an_earlier_waiting_spike_pairs_before_a_same_step_one():
    # a: 3, 4; b: 4, 5 at tolerance 1. Pairing b4 with a4 would strand a3 and b5 (1 pair);
    # the maximum is 2 pairs: (3, 4) and (4, 5).
    a = train(8, 3, 4)
    b = train(8, 4, 5)
    assert match_spikes(a, b, 1) == 2
    assert f1_at(a, b, 1) == 1.0
    assert match_spikes(a, b, 0) == 1


def test_the_inputs_are_left_unchanged():
    for shape in ((1, 8, 1), (2, 8, 3)):  # a (1, T, 1) transpose needs no copy in numpy
        a = np.zeros(shape, bool)
        a[:, [1, 5]] = True
        b = np.roll(a, 1, axis=1)
        a0, b0 = a.copy(), b.copy()
        compare_populations(a, b)
        assert (a == a0).all() and (b == b0).all()


def test_both_silent_is_full_agreement_and_one_silent_is_none():
    assert f1_at(train(5), train(5), 0) == 1.0
    assert f1_at(train(5, 2), train(5), 3) == 0.0


def brute_force_pairs(ta, tb, tol):
    """Maximum matching by trying every pairing of a's spikes with b's."""
    def best(i, used):
        if i == len(ta):
            return 0
        result = best(i + 1, used)  # leave ta[i] unpaired
        for j, t in enumerate(tb):
            if j not in used and abs(ta[i] - t) <= tol:
                result = max(result, 1 + best(i + 1, used | {j}))
        return result
    return best(0, frozenset())


def test_greedy_matching_equals_brute_force_maximum():
    rng = np.random.default_rng(20240611)
    for _ in range(150):
        shape = (3, int(rng.integers(1, 11)), 4)
        density = rng.uniform(0.1, 0.6)
        a = rng.random(shape) < density
        b = a.copy()
        # disturb a random share of (sample, neuron) columns: both code paths get used
        for s, n in np.argwhere(rng.random((3, 4)) < rng.uniform(0.0, 1.0)):
            b[s, :, n] = rng.random(shape[1]) < density
        tol = int(rng.integers(0, 4))
        m = spike_matching(a, b, tol)
        pairs = m.pairs_per_neuron()
        for s in range(3):
            for n in range(4):
                ta, tb = np.flatnonzero(a[s, :, n]), np.flatnonzero(b[s, :, n])
                assert pairs[s, n] == brute_force_pairs(list(ta), list(tb), tol)
                # the masks are a real matching: the paired spikes of a and of b pair off
                # in time order within the tolerance
                pa = np.flatnonzero(m.matched_a[s, :, n])
                pb = np.flatnonzero(m.matched_b[s, :, n])
                assert len(pa) == len(pb) == pairs[s, n]
                assert (np.abs(pa - pb) <= tol).all()
        assert (m.matched_a | m.missed == a).all() and not (m.matched_a & m.missed).any()
        assert (m.matched_b | m.extra == b).all() and not (m.matched_b & m.extra).any()


def test_matching_a_large_shifted_batch():
    rng = np.random.default_rng(0)
    a = rng.random((200, 100, 128)) < 0.05
    b = np.zeros_like(a)
    b[:, 1:] = a[:, :-1]
    assert match_spikes(a, b, 1) == int(a[:, :-1].sum())  # all but those at the last step


# ------------------------------------------------------------- counts and latency


def hand_built_pair():
    """2 samples x 10 steps x 2 neurons; comments give the spike steps."""
    a = np.zeros((2, 10, 2), bool)
    b = np.zeros((2, 10, 2), bool)
    a[0, [2, 5], 0] = True  # b: 3 -> first spike 1 step late; counts 2 vs 1
    b[0, [3], 0] = True
    a[0, [4], 1] = True  # b silent -> only one spikes; counts 1 vs 0
    a[1, [1, 8], 1] = True  # b: 4, 8, 9 -> first spike 3 steps late; counts 2 vs 3
    b[1, [4, 8, 9], 1] = True
    return a, b  # (sample 1, neuron 0): both silent


def test_first_spike_latency_error_by_hand():
    a, b = hand_built_pair()
    err = first_spike_error(a, b)
    assert err.mean == 2.0  # (1 + 3) / 2
    assert err.max == 3
    assert err.n_both == 2
    assert err.n_only_one == 1
    silent = np.zeros((1, 4, 1), bool)
    assert first_spike_error(silent, silent) == (None, None, 0, 0)


def test_count_error_by_hand():
    a, b = hand_built_pair()
    err = count_error(a, b)
    assert err.mean_abs == 0.75  # |2-1|, |1-0|, |0-0|, |2-3| over 4
    assert err.relative == pytest.approx(0.75 / 1.25)  # a's mean count (2+1+0+2)/4
    silent = np.zeros((1, 4, 1), bool)
    assert count_error(silent, silent) == (0.0, 0.0)
    assert count_error(silent, train(4, 1)) == (1.0, None)


# --------------------------------------------------------------------- van Rossum


def test_van_rossum_is_zero_for_identical_trains():
    a, _ = hand_built_pair()
    assert van_rossum_distance(a, a.copy(), tau=3.0) == 0.0


def test_van_rossum_of_one_spike_against_silence_is_the_closed_form():
    tau, steps, spike = 2.5, 10, 3
    expected = math.sqrt(sum(math.exp(-2 * k / tau) for k in range(steps - spike)) / tau)
    assert van_rossum_distance(train(steps, spike), train(steps), tau) == pytest.approx(expected)
    assert van_rossum_distance(train(steps), train(steps, spike), tau) == pytest.approx(expected)
    # a spike at the last step counts only its own step: sqrt(1 / tau)
    assert van_rossum_distance(train(steps, 9), train(steps), tau) == pytest.approx(
        math.sqrt(1 / tau))
    # the mean over (sample, neuron): a second, silent neuron halves it
    a = np.concatenate([train(steps, spike), train(steps)], axis=2)
    b = np.zeros_like(a)
    assert van_rossum_distance(a, b, tau) == pytest.approx(expected / 2)


# -------------------------------------------------------------- several populations


def test_first_divergence_located_with_its_tie_breaks():
    rng = np.random.default_rng(3)
    a = {"h": rng.random((4, 12, 5)) < 0.3, "out": rng.random((4, 12, 3)) < 0.3}
    b = {name: x.copy() for name, x in a.items()}
    assert first_divergence(a, b) is None

    b["h"][2, 6, 4] = not a["h"][2, 6, 4]
    d = first_divergence(a, b)
    assert (d.step, d.sample, d.population, d.neuron) == (6, 2, "h", 4)
    assert (d.a_spiked, d.b_spiked) == (bool(a["h"][2, 6, 4]), not a["h"][2, 6, 4])

    b["out"][1, 6, 2] = not a["out"][1, 6, 2]  # same step, smaller sample: wins
    d = first_divergence(a, b)
    assert (d.step, d.sample, d.population, d.neuron) == (6, 1, "out", 2)

    b["h"][1, 6, 3] = not a["h"][1, 6, 3]  # same step and sample: 'h' comes first in a
    d = first_divergence(a, b)
    assert (d.step, d.sample, d.population, d.neuron) == (6, 1, "h", 3)

    b["h"][1, 6, 1] = not a["h"][1, 6, 1]  # same population: the smaller neuron
    assert first_divergence(a, b).neuron == 1

    b["out"][3, 5, 0] = not a["out"][3, 5, 0]  # an earlier step beats every tie-break
    d = first_divergence(a, b)
    assert (d.step, d.sample, d.population, d.neuron) == (5, 3, "out", 0)


def test_exact_agreement_per_population_and_over_all():
    a = {"h": np.zeros((4, 3, 2), bool), "out": np.zeros((4, 3, 1), bool)}
    b = {"h": a["h"].copy(), "out": a["out"].copy()}
    assert exact_agreement(a, b) == ({"h": 1.0, "out": 1.0}, 1.0, True)
    b["h"][1, 2, 0] = True
    b["out"][3, 0, 0] = True
    assert exact_agreement(a, b) == ({"h": 0.75, "out": 0.75}, 0.5, False)


# ------------------------------------------------------------------------ decisions


def test_decision_agreement_and_accuracy_by_hand():
    scores_a = np.array([[1, 2], [3, 0], [0, 0]])  # argmax 1, 0, 0 (a tie goes to class 0)
    scores_b = np.array([[0, 5], [1, 2], [1, 0]])  # argmax 1, 1, 0
    assert decision_agreement(scores_a, scores_b) == pytest.approx(2 / 3)
    assert accuracy(scores_a, np.array([1, 1, 0])) == pytest.approx(2 / 3)
    with pytest.raises(InputError, match="labels"):
        accuracy(scores_a, np.array([1, 1]))


def test_v_rmse_by_hand():
    a_v = np.array([[[0, 3], [4, 0]]])
    b_v = np.zeros((1, 2, 2), np.int64)
    assert v_rmse(a_v, b_v) == 2.5  # sqrt((9 + 16) / 4)


# ------------------------------------------------------------------------ bundles


def test_compare_populations_on_a_shifted_copy():
    a = train(10, 2, 5, 7)
    b = train(10, 3, 6, 8)
    m = compare_populations(a, b, tau=2.0)
    assert isinstance(m, PairMetrics)
    assert (m.identical, m.identical_samples) == (False, 0.0)
    assert (m.n_spikes_a, m.n_spikes_b) == (3, 3)
    assert (m.f1_at_0, m.f1_at_1, m.f1_at_2) == (0.0, 1.0, 1.0)
    assert (m.count_error_abs, m.count_error_rel) == (0.0, 0.0)
    assert (m.first_spike_mean, m.first_spike_max, m.first_spike_n_only_one) == (1.0, 1, 0)
    assert (m.best_lag, m.f1_at_best_lag) == (1, 1.0)
    assert m.v_rmse is None
    assert m.van_rossum > 0
    assert m.tau == 2.0
    text = json.dumps(m.to_json(), allow_nan=False)
    assert json.loads(text)["best_lag"] == 1


def test_compare_traces_bundles_every_population_and_the_divergence():
    a = {"h": train(6, 1, 4), "out": train(6, 2)}
    b = {"h": train(6, 1, 4), "out": train(6, 3)}
    a_v = {"out": np.array([[[0], [1], [2], [3], [4], [5]]])}
    b_v = {"out": np.array([[[0], [1], [2], [3], [4], [7]]])}
    result = compare_traces(a, b, a_v, b_v, tau=1.0, max_lag=2)
    assert list(result.populations) == ["h", "out"]
    assert result.populations["h"].identical
    assert result.populations["h"].v_rmse is None  # no v for 'h'
    assert result.populations["out"].v_rmse == pytest.approx(math.sqrt(4 / 6))
    assert result.populations["out"].best_lag == 1
    d = result.first_divergence
    assert (d.step, d.sample, d.population, d.neuron, d.a_spiked, d.b_spiked) == (
        2, 0, "out", 0, True, False)
    assert (result.identical, result.identical_samples) == (False, 0.0)
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["first_divergence"]["population"] == "out"
    assert data["populations"]["out"]["f1_at_1"] == 1.0


# ---------------------------------------------------------------------- bad input


def test_shape_mismatch_names_the_population_and_both_shapes():
    a = {"h": np.zeros((2, 5, 3), bool), "out": np.zeros((2, 5, 2), bool)}
    b = {"h": np.zeros((2, 5, 3), bool), "out": np.zeros((2, 6, 2), bool)}
    with pytest.raises(InputError, match=r"population 'out'.*\(2, 5, 2\).*\(2, 6, 2\)"):
        compare_traces(a, b)
    with pytest.raises(InputError, match=r"population 'out'"):
        first_divergence(a, b)


def test_bad_values_and_options_are_refused():
    with pytest.raises(InputError, match=r"spikes\[0, 1, 0\] = 2"):
        f1_at(np.array([[[0], [2]]]), np.zeros((1, 2, 1), int), 0)
    with pytest.raises(InputError, match="expected \\(samples, steps, neurons\\)"):
        f1_at(np.zeros((5, 2), bool), np.zeros((5, 2), bool), 0)
    with pytest.raises(InputError, match="tolerance = -1"):
        match_spikes(train(5), train(5), -1)
    with pytest.raises(InputError, match="max_lag = -2"):
        best_lag(train(5), train(5), max_lag=-2)
    with pytest.raises(InputError, match="tau = 0"):
        van_rossum_distance(train(5), train(5), tau=0)
    with pytest.raises(InputError, match="only in a: 'h'; only in b: 'x'"):
        compare_traces({"h": train(5)}, {"x": train(5)})
    with pytest.raises(InputError, match="population 'h': v shapes differ"):
        compare_traces({"h": train(5)}, {"h": train(5)},
                       {"h": np.zeros((1, 5, 1))}, {"h": np.zeros((1, 4, 1))})


def test_first_spike_readout_earliest_wins_ties_lowest_and_silence_is_wrong():
    from neurodeploy.readout import accuracy as readout_accuracy
    from neurodeploy.readout import readout_logits

    spikes = np.zeros((3, 6, 3), dtype=bool)
    spikes[0, 4, 0] = spikes[0, 2, 1] = spikes[0, 5, 2] = True  # neuron 1 first
    spikes[1, 3, 0] = spikes[1, 3, 2] = True  # tie at step 3: lowest index, 0
    logits = readout_logits(spikes, None, "first_spike")
    assert logits[0].tolist() == [-4.0, -2.0, -5.0] and logits[2].tolist() == [-np.inf] * 3
    assert logits.argmax(axis=1)[:2].tolist() == [1, 0]
    # sample 2 is silent: wrong even though argmax of all -inf is class 0
    assert readout_accuracy(logits, np.array([1, 0, 0])) == pytest.approx(2 / 3)
