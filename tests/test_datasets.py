"""Spike data sets: the Yu et al. tasks are built as specified, transforms keep what they
claim, files round-trip byte for byte, and bad input gets a one-line naming error."""

import math

import h5py
import numpy as np
import pytest

from neurodeploy.errors import DatasetError, NeurodeployError
from neurodeploy.models.datasets import (
    SpikeDataset,
    add_noise,
    describe,
    load_dataset,
    load_shd,
    make_task,
    perturb_timing,
    remove_rate,
    reverse_time,
    save_dataset,
    split,
)


def spike_dataset(events, shape, labels, n_classes=2, dt=0.001):
    """A data set from (sample, step, channel) events."""
    spikes = np.zeros(shape, np.uint8)
    for s, t, c in events:
        spikes[s, t, c] = 1
    return SpikeDataset(spikes, np.array(labels), n_classes, dt, "hand", {})


def plane(value, lo, hi):
    """Grid value -> its coordinate in [-10, 10] (the generator's linear map)."""
    return -10 + 20 * (value - lo) / (hi - lo)


# ---------------------------------------------------------------- determinism and balance

@pytest.mark.parametrize("name", ["isi", "ccisi", "coincidence"])
def test_same_seed_same_arrays_other_seed_other_arrays(name):
    a = make_task(name, seed=3, n_samples=40)
    b = make_task(name, seed=3, n_samples=40)
    c = make_task(name, seed=4, n_samples=40)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.labels, b.labels)
    assert all(np.array_equal(a.latents[k], b.latents[k]) for k in a.latents)
    assert a.params == b.params and a.seed == 3
    assert not np.array_equal(a.spikes, c.spikes)


@pytest.mark.parametrize(("name", "n", "counts"), [
    ("isi", 101, [51, 50]), ("ccisi", 100, [50, 50]), ("coincidence", 100, [34, 33, 33]),
])
def test_labels_are_balanced(name, n, counts):
    ds = make_task(name, seed=0, n_samples=n)
    assert describe(ds)["label_counts"] == counts


def test_default_step_and_sample_lengths():
    for name, channels in (("isi", 10), ("ccisi", 20), ("coincidence", 60)):
        ds = make_task(name, n_samples=3)
        assert ds.dt == 0.005 and ds.n_steps == 200 and ds.n_channels == channels
        paper = make_task(name, n_samples=3, preset="paper")
        assert paper.dt == 0.001 and paper.params["preset"] == "paper"
    assert make_task("isi", n_samples=3, preset="paper").n_steps == 10000
    assert make_task("coincidence", n_samples=3, preset="paper").n_steps == 1000


# ---------------------------------------------------------------- ISI task

@pytest.mark.parametrize("preset", ["default", "paper"])
def test_isi_pairs_and_intervals_match_the_sampled_parameters(preset):
    ds = make_task("isi", seed=1, n_samples=150 if preset == "default" else 20, preset=preset)
    p = ds.params
    lat = ds.latents
    assert np.array_equal(lat["isi_steps"], np.maximum(1, np.floor(lat["isi_ms"] / p["dt_ms"] + 0.5)))
    assert np.array_equal(lat["n_pairs"], np.floor(lat["rate_hz"] * p["duration_ms"] / 1000 + 0.5))
    for i in range(ds.n_samples):
        for c in range(ds.n_channels):
            t = np.flatnonzero(ds.spikes[i, :, c])
            assert t.size == 2 * lat["n_pairs"][i]
            firsts, seconds = t[0::2], t[1::2]
            assert np.all(seconds - firsts == lat["isi_steps"][i])  # every pair has the ISI
            assert np.all(firsts[1:] > seconds[:-1])  # pairs do not overlap


def test_isi_labels_follow_the_line_rule_with_margin():
    ds = make_task("isi", seed=2, n_samples=300)
    p, lat = ds.params, ds.latents
    x = plane(lat["rate_hz"], p["rate_min_hz"], p["rate_max_hz"])
    y = plane(lat["isi_ms"], p["isi_min_ms"], p["max_isi_ms"])
    assert np.array_equal(ds.labels, (y > -x / 2).astype(int))
    assert np.all(np.abs(x + 2 * y) / math.sqrt(5) >= 2.5)
    # every value is on its grid
    assert set(np.round(lat["rate_hz"], 9)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert set(np.round(lat["isi_ms"] / 5, 9)) <= set(range(1, 21))
    assert len(set(lat["isi_ms"])) > 10  # and the grid is actually explored


def test_isi_rejects_pairs_that_cannot_fit():
    with pytest.raises(DatasetError, match=r"duration_ms = 100 \(20 steps\) cannot hold"):
        make_task("isi", duration_ms=100, rate_min_hz=10, rate_max_hz=20, rate_step_hz=10)


# ---------------------------------------------------------------- CCISI task

@pytest.mark.parametrize("max_isi_ms", [100.0, 300.0])
def test_ccisi_partner_lag_equals_the_sampled_isi(max_isi_ms):
    ds = make_task("ccisi", seed=5, n_samples=120, max_isi_ms=max_isi_ms)
    lat = ds.latents
    pairs = ds.n_channels // 2
    assert lat["isi_steps"].max() <= round(max_isi_ms / 5) and lat["isi_steps"].min() >= 1
    if max_isi_ms == 300.0:
        assert lat["isi_steps"].max() > 40  # long lags are really drawn
    for i in range(ds.n_samples):
        for k in range(pairs):
            lead = np.flatnonzero(ds.spikes[i, :, k])
            follow = np.flatnonzero(ds.spikes[i, :, k + pairs])
            assert lead.size == lat["n_spikes"][i]
            assert np.array_equal(np.sort(follow),
                                  np.sort((lead + lat["isi_steps"][i]) % ds.n_steps))


def test_ccisi_single_neurons_carry_no_isi_information():
    """Circular placement: each neuron's spike times are uniform whatever the ISI, so the
    lag between partners is the only cue. Without it, long ISIs leave an empty edge."""
    for circular in (True, False):
        ds = make_task("ccisi", seed=2, n_samples=400, max_isi_ms=300.0, circular=circular)
        long = ds.latents["isi_steps"] >= 40
        pairs = ds.n_channels // 2
        first_partner = ds.spikes[long][:, :40, pairs:].sum()
        last_leader = ds.spikes[long][:, -40:, :pairs].sum()
        if circular:
            assert first_partner > 0 and last_leader > 0
        else:
            assert first_partner == 0 and last_leader == 0


# ---------------------------------------------------------------- coincidence task

@pytest.mark.parametrize("preset", ["default", "paper"])
def test_coincidence_spikes_only_in_active_part_and_class_rule_holds(preset):
    ds = make_task("coincidence", seed=7, n_samples=90, preset=preset)
    window = ds.params["window_steps"]
    a, b = ds.params["active_steps"]
    assert (window, a, b) == ((40, 10, 30) if preset == "default" else (200, 50, 150))
    _, t, _ = np.nonzero(ds.spikes)
    assert np.all((t % window >= a) & (t % window < b))
    on = ds.latents["group_on"]
    for label, (g, h), other in ((0, (0, 1), 2), (1, (0, 2), 1), (2, (1, 2), 0)):
        rows = ds.labels == label
        assert np.all(on[rows, :, g] == on[rows, :, h])
        assert np.all(on[rows, :, other] == 1 - on[rows, :, g])
    # the spikes show the drawn numbers of active neurons, at most one spike each per window
    per_window = ds.spikes.reshape(ds.n_samples, -1, window, 3, 20).sum(axis=2)
    assert per_window.max() <= 1
    assert np.array_equal(per_window.sum(axis=-1), ds.latents["active"])


def test_coincidence_count_means_follow_difficulty():
    easy = make_task("coincidence", seed=1, n_samples=300, difficulty=0.0)
    hard = make_task("coincidence", seed=1, n_samples=300, difficulty=1.0)
    on = easy.latents["group_on"] == 1
    assert abs(easy.latents["active"][on].mean() - 12) < 0.5
    assert abs(easy.latents["active"][~on].mean() - 2) < 0.3
    assert abs(hard.latents["active"].mean() - 5) < 0.3
    # each group is ON half the time whatever the class: its rate says nothing of the class
    for label in range(3):
        assert np.all(np.abs(on[easy.labels == label].mean(axis=(0, 1)) - 0.5) < 0.1)


# ---------------------------------------------------------------- transforms

def test_perturb_timing_keeps_every_count_and_moves_spikes():
    ds = make_task("isi", seed=0, n_samples=50)
    moved = perturb_timing(ds, 0.5, seed=1)
    assert np.array_equal(moved.spikes.sum(axis=1), ds.spikes.sum(axis=1))
    changed = (moved.spikes != ds.spikes).sum()
    assert changed == 2 * moved.params["transforms"][-1]["moved_spikes"] > 0
    assert np.array_equal(perturb_timing(ds, 0.0, seed=1).spikes, ds.spikes)
    full = perturb_timing(ds, 1.0, seed=1)  # few spikes in 200 steps: all of them move
    assert not np.any(full.spikes & ds.spikes)
    assert np.array_equal(full.spikes.sum(axis=1), ds.spikes.sum(axis=1))
    assert moved.params["transforms"][-1]["name"] == "perturb_timing"
    assert ds.params.get("transforms") is None  # input untouched


def test_reverse_time_on_a_hand_made_sample():
    ds = spike_dataset([(0, 2, 0), (0, 3, 0), (0, 5, 1), (1, 4, 1)], (3, 8, 2), [0, 1, 0])
    rev = reverse_time(ds)
    # sample 0: window [2, 5], t -> 7 - t; sample 1: window [4, 4]; sample 2: no spikes
    expected = spike_dataset([(0, 5, 0), (0, 4, 0), (0, 2, 1), (1, 4, 1)], (3, 8, 2), [0, 1, 0])
    assert np.array_equal(rev.spikes, expected.spikes)


def test_reverse_time_twice_is_the_identity():
    for name in ("isi", "coincidence"):
        ds = make_task(name, seed=2, n_samples=30)
        once = reverse_time(ds)
        assert not np.array_equal(once.spikes, ds.spikes)
        assert np.array_equal(reverse_time(once).spikes, ds.spikes)


def test_remove_rate_leaves_equal_counts_and_balanced_classes():
    ds = make_task("coincidence", seed=3, n_samples=200, n_windows=10)
    ds = SpikeDataset(ds.spikes[:190], ds.labels[:190], 3, ds.dt, ds.task, ds.params,
                      latents={"index": np.arange(190)})  # unequal classes: 64, 63, 63
    norm = remove_rate(ds, seed=4)
    counts = norm.spikes.sum(axis=1)
    assert norm.n_channels > 0 and np.all(counts == counts[0])  # same count in every sample
    entry = norm.params["transforms"][-1]
    assert list(counts[0]) == entry["spikes_per_channel"]
    assert np.all(np.bincount(norm.labels) == entry["samples_per_class"])
    assert entry["samples_per_class"] == np.bincount(ds.labels).min()
    # kept spikes are a subset of the original spikes of the kept samples and channels
    index = norm.latents["index"]
    assert np.array_equal(norm.labels, ds.labels[index])
    assert np.all(norm.spikes <= ds.spikes[index][:, :, entry["kept_channels"]])
    # channels silent in some sample are the ones dropped
    silent = (ds.spikes.sum(axis=1) == 0).any(axis=0)
    assert entry["kept_channels"] == np.flatnonzero(~silent).tolist()


def test_remove_rate_is_exact_on_a_hand_made_set():
    # channel 0: counts 3, 2, 2, 1 -> N = 1; channel 1: silent in sample 3 -> dropped
    events = [(0, 0, 0), (0, 1, 0), (0, 2, 0), (1, 0, 0), (1, 3, 0), (2, 1, 0), (2, 2, 0),
              (3, 4, 0), (0, 0, 1), (1, 1, 1), (2, 2, 1)]
    ds = spike_dataset(events, (4, 5, 2), [0, 1, 0, 1])
    norm = remove_rate(ds, seed=0)
    assert norm.n_channels == 1 and norm.params["transforms"][-1]["kept_channels"] == [0]
    assert np.all(norm.spikes.sum(axis=1) == 1)
    assert np.all(norm.spikes <= ds.spikes[:, :, :1])
    # min_count=2 drops sample 3 (rare: 1 of 4 samples) for channel 1 and 0 -> N = (2, 1)
    dropped = remove_rate(ds, seed=0, min_count=2, max_dropped_fraction=0.25)
    entry = dropped.params["transforms"][-1]
    assert entry["dropped_samples"] == 1 and entry["kept_channels"] == [0, 1]
    assert entry["spikes_per_channel"] == [2, 1] and np.bincount(dropped.labels).tolist() == [1, 1]


def test_add_noise_jitters_within_range_and_adds_background():
    ds = make_task("coincidence", seed=1, n_samples=20)
    assert np.array_equal(add_noise(ds, seed=3).spikes, ds.spikes)
    jit = add_noise(ds, jitter_steps=2, seed=3)
    s, t, c = np.nonzero(jit.spikes)
    near = np.zeros_like(ds.spikes)
    for shift in range(-2, 3):
        near |= np.roll(ds.spikes, shift, axis=1)
    assert np.all(near[s, t, c] == 1)
    assert not np.array_equal(jit.spikes, ds.spikes)
    noisy = add_noise(ds, poisson_rate=0.05, seed=3)
    assert np.all(noisy.spikes >= ds.spikes)
    added = noisy.params["transforms"][-1]["added_spikes"]
    assert abs(added / ds.spikes.size - 0.05 * (1 - ds.spikes.mean())) < 0.005


def test_transform_arguments_are_checked():
    ds = make_task("isi", n_samples=4)
    with pytest.raises(DatasetError, match=r"f = 1\.5 is out of range; allowed 0\.\.1"):
        perturb_timing(ds, 1.5)
    with pytest.raises(DatasetError, match="jitter_steps = -1"):
        add_noise(ds, jitter_steps=-1)


# ---------------------------------------------------------------- SHD loader

def write_shd(path, times, units, labels):
    with h5py.File(path, "w") as h5:
        t = h5.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        u = h5.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units, strict=True)):
            t[i] = np.array(ti, np.float32)
            u[i] = np.array(ui, np.uint16)
        h5.create_dataset("labels", data=np.array(labels, np.uint8))


def test_load_shd_bins_by_hand(tmp_path):
    path = tmp_path / "tiny.h5"
    write_shd(path, [[0.0, 0.25, 0.3, 1.0], [0.5, 0.74]], [[0, 1, 1, 2], [3, 3]], [1, 0])
    ds = load_shd(path, steps=4, max_time_s=1.0, channels=5)
    # dt = 0.25 s: 0.0 -> 0, 0.25 -> 1, 0.3 -> 1 (merged), 1.0 -> 3 (right edge), 0.5 -> 2, 0.74 -> 2
    expected = np.zeros((2, 4, 5), np.uint8)
    expected[0, 0, 0] = expected[0, 1, 1] = expected[0, 3, 2] = expected[1, 2, 3] = 1
    assert np.array_equal(ds.spikes, expected)
    assert ds.labels.tolist() == [1, 0] and ds.n_classes == 2 and ds.dt == 0.25
    assert ds.params["merged_spikes"] == 2 and ds.params["late_spikes"] == 0
    short = load_shd(path, steps=2, max_time_s=0.5)  # 1.0 and 0.74 are late; channels = 4
    assert short.n_channels == 4 and short.params["late_spikes"] == 2
    assert np.argwhere(short.spikes[0]).tolist() == [[0, 0], [1, 1]]
    assert np.argwhere(short.spikes[1]).tolist() == [[1, 3]]  # 0.5 s: the right edge


def test_load_shd_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_shd(tmp_path / "absent.h5", steps=10)
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("labels", data=np.zeros(2, np.uint8))
    with pytest.raises(DatasetError, match="missing dataset 'spikes/times', 'spikes/units'"):
        load_shd(path, steps=10)
    good = tmp_path / "good.h5"
    write_shd(good, [[0.1]], [[7]], [0])
    with pytest.raises(DatasetError, match=r"unit 7 is out of range for channels = 4; allowed 0\.\.3"):
        load_shd(good, steps=10, channels=4)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="cannot read as HDF5"):
        load_shd(tmp_path / "text.h5", steps=10)


# ---------------------------------------------------------------- files

def test_save_load_round_trip_and_identical_bytes(tmp_path):
    ds = make_task("ccisi", seed=9, n_samples=30)
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    save_dataset(ds, a)
    save_dataset(make_task("ccisi", seed=9, n_samples=30), b)
    save_dataset(make_task("ccisi", seed=10, n_samples=30), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    back = load_dataset(a)
    assert np.array_equal(back.spikes, ds.spikes) and back.spikes.dtype == np.uint8
    assert np.array_equal(back.labels, ds.labels) and back.labels.dtype == np.int64
    assert (back.n_classes, back.dt, back.task, back.params, back.seed) == (
        ds.n_classes, ds.dt, ds.task, ds.params, ds.seed)
    assert all(np.array_equal(back.latents[k], ds.latents[k]) for k in ds.latents)
    assert describe(back) == describe(ds)


def write_npz(path, spikes, labels, **meta):
    import json
    doc = {"format": "neurodeploy.spike_dataset", "version": 1, "n_classes": 2, "dt": 0.001,
           "task": "t", "params": {}, "seed": None}
    doc.update(meta)
    np.savez(path, spikes=spikes, labels=labels, __meta__=np.array(json.dumps(doc)))


@pytest.mark.parametrize(("spikes", "labels", "meta", "needle"), [
    (np.zeros((2, 3), np.uint8), np.zeros(2), {}, r"spikes has shape \(2, 3\); expected 3 axes"),
    (np.zeros((2, 3, 1), np.uint8), np.zeros(3, np.int64), {}, r"labels has shape \(3,\); expected \(2,\)"),
    (np.zeros((2, 3, 1), np.uint8), np.array([0, 2]), {}, r"labels\[1\] = 2 is out of range; allowed 0\.\.1"),
    (np.full((2, 3, 1), 2, np.uint8), np.zeros(2, np.int64), {}, r"spikes\[0, 0, 0\] = 2 is not allowed; allowed 0 or 1"),
    (np.zeros((2, 3, 1), np.uint8), np.zeros(2, np.int64), {"dt": 0}, r"dt = 0\.0 is out of range"),
    (np.zeros((2, 3, 1), np.uint8), np.zeros(2, np.int64), {"format": "other"}, r"format 'other' version 1 is not supported"),
])
def test_load_dataset_rejects_bad_files(tmp_path, spikes, labels, meta, needle):
    path = tmp_path / "bad.npz"
    write_npz(path, spikes, labels, **meta)
    with pytest.raises(DatasetError, match=needle) as info:
        load_dataset(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_load_dataset_missing_file_and_not_npz(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "absent.npz")
    (tmp_path / "x.npz").write_text("text")
    with pytest.raises(DatasetError, match=r"cannot read as \.npz"):
        load_dataset(tmp_path / "x.npz")


# ---------------------------------------------------------------- construction, split, describe

@pytest.mark.parametrize(("kwargs", "needle"), [
    (dict(spikes=np.zeros((2, 4), np.uint8)), r"spikes has shape \(2, 4\)"),
    (dict(spikes=np.zeros((2, 4, 1), np.float32)), "spikes has dtype float32"),
    (dict(labels=np.array([0, 5])), r"labels\[1\] = 5 is out of range; allowed 0\.\.1"),
    (dict(labels=np.array([0.0, 1.0])), "labels has dtype float64; allowed integers"),
    (dict(n_classes=0), "n_classes = 0 is out of range"),
    (dict(dt=-1.0), r"dt = -1\.0 is out of range"),
    (dict(params={"x": object()}), "params is not JSON-able"),
    (dict(task=""), "task = '' is not allowed"),
])
def test_construction_rejects_bad_fields(kwargs, needle):
    fields = dict(spikes=np.zeros((2, 4, 1), np.uint8), labels=np.array([0, 1]), n_classes=2,
                  dt=0.001, task="t")
    fields.update(kwargs)
    with pytest.raises(DatasetError, match=needle):
        SpikeDataset(**fields)


def test_bool_spikes_are_stored_as_uint8():
    ds = SpikeDataset(np.ones((1, 2, 1), bool), np.array([0]), 1, 0.01, "t")
    assert ds.spikes.dtype == np.uint8 and ds.labels.dtype == np.int64


@pytest.mark.parametrize(("call", "needle"), [
    (lambda: make_task("xor"), "task = 'xor' is unknown; allowed: ccisi, coincidence, isi"),
    (lambda: make_task("isi", isi_max_ms=3), r"parameter 'isi_max_ms' is unknown for task 'isi'; allowed: .*max_isi_ms"),
    (lambda: make_task("coincidence", preset="huge"), "preset = 'huge' is unknown for task 'coincidence'; allowed: default, paper"),
    (lambda: make_task("ccisi", n_neurons=7), "n_neurons = 7 is not allowed; allowed an even number"),
    (lambda: make_task("coincidence", difficulty=1.5), r"difficulty = 1\.5 is out of range; allowed 0\.\.1"),
    (lambda: make_task("isi", n_samples=0), "n_samples = 0 is out of range; allowed >= 1"),
    (lambda: make_task("isi", rate_max_hz=0.5), r"rate_max_hz = 0\.5 is out of range; allowed >= 1"),
])
def test_task_errors_name_the_field(call, needle):
    with pytest.raises(DatasetError, match=needle) as info:
        call()
    assert isinstance(info.value, NeurodeployError) and "\n" not in str(info.value)


def test_split_is_stratified_disjoint_and_complete():
    ds = make_task("coincidence", seed=0, n_samples=90)
    train, val, test = split(ds, (0.8, 0.1, 0.1), seed=1)
    assert [p.n_samples for p in (train, val, test)] == [72, 9, 9]
    for part in (train, val, test):
        assert np.all(np.bincount(part.labels, minlength=3) == part.n_samples // 3)
    rows = np.concatenate([p.spikes for p in (train, val, test)])
    assert sorted(map(bytes, rows)) == sorted(map(bytes, ds.spikes))
    assert train.params["transforms"][-1] == {"name": "split", "part": "train",
                                              "fractions": [0.8, 0.1, 0.1], "seed": 1}
    again = split(ds, (0.8, 0.1, 0.1), seed=1)[0]
    assert np.array_equal(again.spikes, train.spikes)
    with pytest.raises(DatasetError, match="fractions"):
        split(ds, (0.5, 0.2, 0.2))


def test_describe_counts_by_hand():
    ds = spike_dataset([(0, 0, 0), (0, 1, 1), (1, 3, 0)], (2, 4, 2), [1, 1], n_classes=3, dt=0.5)
    info = describe(ds)
    assert info["samples"] == 2 and info["steps"] == 4 and info["channels"] == 2
    assert info["label_counts"] == [0, 2, 0] and info["mean_spikes_per_sample"] == 1.5
    assert info["duration_s"] == 2.0 and info["rate_hz"] == 3 / (2 * 2 * 2.0)


# ---------------------------------------------------------------- saccade digits

def test_saccade_digits_frames_are_seeded_two_polarity_events_of_balanced_digits():
    a = make_task("saccade_digits", seed=2, n_samples=30, steps=12)
    b = make_task("saccade_digits", seed=2, n_samples=30, steps=12)
    c = make_task("saccade_digits", seed=3, n_samples=30, steps=12)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.spikes, c.spikes)
    assert a.spikes.shape == (30, 12, 2 * 34 * 34) and a.spikes.max() == 1
    assert a.params["frame_shape"] == [2, 34, 34] and a.dt == 0.01
    assert describe(a)["label_counts"] == [3] * 10
    frames = a.spikes.reshape(30, 12, 2, 34, 34)
    per_polarity = frames.sum(axis=(1, 3, 4))  # (samples, 2)
    assert (per_polarity > 20).all()  # every sample has ON and OFF events
    # the digit moves: the event count changes over the steps, and nothing at the border
    # that the digit (28 px, centred, +-1 px jitter, +-2 px saccades) never reaches
    assert frames[:, :, :, 0, :].sum() == 0 and frames[:, :, :, :, 33].sum() == 0


def test_saccade_digits_labels_name_the_digit_drawn():
    from sklearn.datasets import load_digits

    ds = make_task("saccade_digits", seed=0, n_samples=20, steps=3)
    _, targets = load_digits(return_X_y=True)
    assert np.array_equal(targets[ds.latents["digit_index"]], ds.labels)


def test_saccade_digits_refuses_a_digit_larger_than_the_canvas():
    with pytest.raises(DatasetError, match="digit_size = 40 is out of range"):
        make_task("saccade_digits", n_samples=2, digit_size=40)
