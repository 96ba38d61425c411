"""Hardware lint: every violation of a network file at once, accumulator headroom, estimates."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from neurodeploy import FixedPointNetwork, LIFPopulation, NetworkValidationError, Projection
from neurodeploy.chip import LOIHI2
from neurodeploy.conformance import nir_paper_single_lif_network
from neurodeploy.errors import NeurodeployError
from neurodeploy.network_io import (
    atomic_savez,
    network_from_arrays,
    network_to_arrays,
    save_network,
)
from neurodeploy.quantize.lint import (
    LintReport,
    lint_arrays,
    lint_file,
    lint_network,
    render,
)

from netgen import random_network

LIMIT = LOIHI2.accumulator_limit  # 2**15


def pop(size: int) -> LIFPopulation:
    return LIFPopulation(size=size, du=100, dv=200, vth=10)


def four_projection_network() -> FixedPointNetwork:
    """input(2) -> h(3) -> o(2), input -> o, o -> h; one mixed projection, one with delays."""
    return FixedPointNetwork(
        n_inputs=2,
        populations={"h": pop(3), "o": pop(2)},
        projections=[
            Projection("input", "h", np.array([[2, -2], [4, 0], [0, 6]])),  # mixed: even grid
            Projection("h", "o", np.ones((2, 3), int), delays=np.array([[0, 1, 2], [3, 4, 5]])),
            Projection("input", "o", np.ones((2, 2), int)),
            Projection("o", "h", np.ones((3, 2), int)),
        ],
    )


def edit_meta(arrays: dict[str, np.ndarray], edit) -> dict[str, np.ndarray]:
    """A copy of ``arrays`` whose JSON ``__meta__`` went through ``edit(meta)``."""
    arrays = dict(arrays)
    meta = json.loads(str(arrays["__meta__"]))
    edit(meta)
    arrays["__meta__"] = np.array(json.dumps(meta))
    return arrays


def found(report: LintReport) -> set[tuple]:
    return {(v.where, v.field, json.dumps(v.value), v.index) for v in report.violations}


# ---------------------------------------------------------------- clean networks
def test_clean_network_has_no_violations_and_no_warnings(tmp_path: Path) -> None:
    net = nir_paper_single_lif_network()
    report = lint_network(net)
    assert report.ok and report.violations == [] and report.warnings == []
    from_file = lint_file(save_network(net, tmp_path / "nir.npz"))
    assert from_file.to_dict() == report.to_dict()


@pytest.mark.parametrize("seed", range(25))
def test_valid_ir_networks_can_only_fail_the_accumulator_check(seed: int) -> None:
    net = random_network(seed, n_pops=1 + seed % 4, recurrent=seed % 2 == 0, max_delay=seed % 9)
    report = lint_network(net)
    assert {v.field for v in report.violations} <= {"accumulator"}
    for v in report.violations:  # the IR's own (looser) upper bound must agree
        assert v.value >= LIMIT
        dsts = [p.dst for p in net.projections if p.label == v.where] or [v.where[12:-1]]
        assert max(net.max_abs_input(d) for d in dsts) >= LIMIT


# ---------------------------------------------------------------- every violation at once
def test_file_with_several_violations_lists_all_of_them(tmp_path: Path) -> None:
    arrays = network_to_arrays(four_projection_network())

    def corrupt(meta: dict) -> None:
        meta["populations"][0]["dv"] = 5000
        meta["projections"][3]["dst"] = "nope"

    arrays = edit_meta(arrays, corrupt)
    weights = arrays["proj/0/weights"].copy()
    weights[1, 0] = 3  # mixed grid is the even integers: Lava would make it 2
    arrays["proj/0/weights"] = weights
    delays = arrays["proj/1/delays"].copy()
    delays[1, 2] = 70
    arrays["proj/1/delays"] = delays
    arrays["proj/2/weights"] = np.ones((3, 2), np.int64)  # 'o' has 2 neurons, not 3
    path = atomic_savez(tmp_path / "broken.npz", arrays)

    with pytest.raises(NetworkValidationError, match="dv = 5000"):  # the IR stops at the first
        network_from_arrays(arrays)
    report = lint_file(path)

    assert not report.ok
    assert found(report) == {
        ("population 'h'", "dv", "5000", None),
        ("projection 'input->h'", "weights", "3", (1, 0)),
        ("projection 'h->o'", "delays", "70", (1, 2)),
        ("projection 'input->o'", "weights", "[3, 2]", None),
        ("projection 'o->nope'", "dst", '"nope"', None),
    }
    by_field = {(v.where, v.field): v for v in report.violations}
    assert by_field["population 'h'", "dv"].limit == "0..4095"
    assert "multiples of 2" in by_field["projection 'input->h'", "weights"].limit
    assert "Lava would change it to 2" in by_field["projection 'input->h'", "weights"].message
    assert by_field["projection 'h->o'", "delays"].limit.startswith("0..62")
    assert "(2, 2)" in by_field["projection 'input->o'", "weights"].limit
    assert "h, o" in by_field["projection 'o->nope'", "dst"].limit
    assert all("\n" not in v.message and v.message.startswith(v.where)
               for v in report.violations)


def test_counts_and_first_index_of_array_violations() -> None:
    arrays = network_to_arrays(four_projection_network())
    arrays = edit_meta(arrays, lambda m: m["populations"][0].update(vth=None))
    arrays["pop/h/vth"] = np.array([1, 200000, 300000])
    report = lint_arrays(arrays)
    (v,) = report.violations
    assert (v.where, v.field, v.value, v.index, v.count) == (
        "population 'h'", "vth", 200000, (1,), 2)
    assert v.limit == "0..131071"


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda m, a: m["projections"][0].update(src="ghost"),
         ("projection 'ghost->h'", "src", "ghost")),
        (lambda m, a: m["projections"][0].update(weight_exp=9),
         ("projection 'input->h'", "weight_exp", 9)),
        (lambda m, a: m["projections"][2].update(num_weight_bits=0),
         ("projection 'input->o'", "num_weight_bits", 0)),
        (lambda m, a: m["populations"][1].update(bias_exp=-9),
         ("population 'o'", "bias_exp", -9)),
        (lambda m, a: m["populations"][1].update(bias_mant=4096),
         ("population 'o'", "bias_mant", 4096)),
        (lambda m, a: m["populations"][1].update(du=2.5),
         ("population 'o'", "du", 2.5)),
        (lambda m, a: (m["populations"][1].update(du=None),
                       a.__setitem__("pop/o/du", np.array([1, 2, 3]))),
         ("population 'o'", "du", [3])),
        (lambda m, a: a.__setitem__("proj/2/weights", np.array([[1.0, 0.5], [1.0, 1.0]])),
         ("projection 'input->o'", "weights", 0.5)),
        (lambda m, a: a.__setitem__("proj/1/delays", np.array([1, 2])),
         ("projection 'h->o'", "delays", [2])),
        (lambda m, a: a.__setitem__("proj/3/weights", -np.ones((3, 2), np.int64)),
         ("projection 'o->h'", "weights", -1)),  # sign_mode excitatory was stored
        (lambda m, a: m.update(outputs=["o", "zz"]), ("network", "outputs", "zz")),
        (lambda m, a: m.update(populations=[], projections=[], outputs=[]),
         ("network", "populations", 0)),
    ],
)
def test_each_violation_kind_is_named(corrupt, expected) -> None:
    arrays = dict(network_to_arrays(four_projection_network()))
    meta = json.loads(str(arrays["__meta__"]))
    corrupt(meta, arrays)
    arrays["__meta__"] = np.array(json.dumps(meta))
    report = lint_arrays(arrays)
    assert [(v.where, v.field, v.value) for v in report.violations] == [expected]


def test_format_limits_come_from_the_chip_format() -> None:
    net = FixedPointNetwork(1, {"h": pop(1)}, [Projection("input", "h", np.array([[5]]),
                                                          delays=20)])
    assert lint_network(net).ok
    report = lint_network(net, replace(LOIHI2, delay_max=10))
    assert [(v.field, v.value, v.limit) for v in report.violations] == [
        ("delays", 20, "0..10 steps (loihi2)")]


# ---------------------------------------------------------------- accumulator headroom
def single_row(weights: list[int], weight_exp: int = 0, delays=None) -> FixedPointNetwork:
    w = np.array([weights])
    return FixedPointNetwork(w.shape[1], {"h": pop(1)}, [
        Projection("input", "h", w, weight_exp=weight_exp, delays=delays)])


def accumulator(report: LintReport) -> list[tuple]:
    return [(v.where, v.value, v.index) for v in report.violations if v.field == "accumulator"]


def test_accumulator_flags_a_row_sum_of_2_15_and_not_one_just_below() -> None:
    over = single_row([255] * 128 + [128])  # 128 * 255 + 128 = 32768
    under = single_row([255] * 128 + [127])  # 32767
    assert accumulator(lint_network(over)) == [("projection 'input->h'", 32768, (0,))]
    assert lint_network(under).ok


def test_accumulator_applies_weight_exp_to_the_sum() -> None:
    assert accumulator(lint_network(single_row([255, 1], weight_exp=7))) == [
        ("projection 'input->h'", 256 << 7, (0,))]  # 32768
    assert lint_network(single_row([255], weight_exp=7)).ok  # 32640


def test_accumulator_names_the_worst_row_of_negative_weights() -> None:
    w = np.zeros((3, 130), int)
    w[0, :2] = [-256, 254]
    w[1, :128] = -256  # -32768: |sum| = 2**15
    w[2, :129] = -256  # -33024: the worst row
    net = FixedPointNetwork(130, {"h": pop(3)}, [Projection("input", "h", w)])
    (v,) = lint_network(net).violations
    assert (v.field, v.value, v.index, v.count) == ("accumulator", 33024, (2,), 2)
    assert "2**15" in v.limit and "row 2" in v.message


def test_accumulator_shifts_each_delay_slot_separately() -> None:
    # weight_exp = -1 floors each slot's sum: 32767 + 32769 = 65536 >> 1 = 32768 in one
    # slot, but (32767 >> 1) + (32769 >> 1) = 16383 + 16384 = 32767 in two.
    first, second = [255] * 128 + [127], [255] * 128 + [129]
    one_slot = single_row(first + second, weight_exp=-1)
    two_slots = single_row(first + second, weight_exp=-1,
                           delays=np.array([0] * 129 + [1] * 129))
    assert accumulator(lint_network(one_slot)) == [("projection 'input->h'", 32768, (0,))]
    assert lint_network(two_slots).ok


def test_accumulator_sums_the_projections_into_a_population() -> None:
    def net(last: int) -> FixedPointNetwork:
        return FixedPointNetwork(5, {"h": pop(1)}, [
            Projection("input", "h", np.array([[250, 0, 0, 0, 0]]), weight_exp=7),  # 32000
            Projection("input", "h", np.array([[0, 255, 255, 255, last]])),  # 765 + last
        ])

    assert accumulator(lint_network(net(3))) == [("population 'h'", 32768, (0,))]
    assert lint_network(net(2)).ok


# ---------------------------------------------------------------- estimates
def test_estimates_on_a_hand_computed_network() -> None:
    net = FixedPointNetwork(
        n_inputs=3,
        populations={"a": pop(2), "b": pop(1)},
        projections=[
            Projection("input", "a", np.array([[1, 0, 2], [0, 0, 3]])),
            Projection("a", "b", np.array([[4, 5]])),
            Projection("b", "a", np.array([[7], [0]])),
        ],
    )
    fmt = replace(LOIHI2, neurons_per_core=2, synapses_per_core=2)
    est = lint_network(net, fmt).estimates
    # fan-in of a: row 0 has 2 + 1 nonzero synapses, row 1 has 1 + 0; b: 2
    assert est["fan_in"] == {"a": 3, "b": 2}
    assert (est["neurons"], est["synapses"]) == (3, 6)
    assert (est["cores_by_neurons"], est["cores_by_synapses"], est["cores"]) == (2, 3, 3)
    assert lint_network(net).estimates["cores"] == 1
    assert "estimate" in est["note"]


def test_json_and_render_mark_the_estimates() -> None:
    arrays = edit_meta(network_to_arrays(four_projection_network()),
                       lambda m: m["populations"][0].update(dv=5000))
    report = lint_arrays(arrays)
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["violations"][0]["value"] == 5000
    assert "estimates only" in data["estimates"]["note"]
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    assert "population 'h'" in text and "dv" in text and "5000" in text
    assert "estimates" in text and text.index("violation") < text.index("estimates")


# ---------------------------------------------------------------- unreadable files
def test_unreadable_or_non_network_files_raise_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(3))
    other = atomic_savez(tmp_path / "other.npz", {"x": np.arange(3)})
    wrong = atomic_savez(tmp_path / "wrong.npz", {"__meta__": np.array('{"format": "x"}')})
    for path in (tmp_path / "missing.npz", text, npy, other, wrong):
        with pytest.raises(NeurodeployError) as info:
            lint_file(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
