"""Timed state resets (netx's ``reset_interval``, Lava's ``LIFReset``): the reference and
torch-int against Lava itself and against an independent per-step loop, validation,
storage and the targets that refuse them."""

from dataclasses import replace

import numpy as np
import pytest

from neurodeploy import FixedPointNetwork, LIFPopulation, simulate
from neurodeploy.errors import NetworkValidationError, TargetUnavailableError
from neurodeploy.examples import layered_network, poisson_spikes
from neurodeploy.network_io import load_network, save_network

from compare import RECORD, assert_same_traces


def _with_resets(net: FixedPointNetwork, interval: int) -> FixedPointNetwork:
    pops = {name: replace(pop, reset_interval=interval, reset_offset=(2 * k + 1) % interval)
            for k, (name, pop) in enumerate(net.populations.items())}
    return FixedPointNetwork(net.n_inputs, pops, net.projections, outputs=net.outputs)


def _network() -> FixedPointNetwork:
    return _with_resets(layered_network((6, 8, 5), seed=3, delays="axonal", max_delay=4,
                                        recurrent=True, target_rate=0.2, input_rate=0.3), 5)


@pytest.mark.lava
def test_reference_resets_as_lavas_lifreset():
    net = _network()
    x = poisson_spikes(6, 3, 40, 0.3, seed=4)
    ref = simulate(net, x, target="reference", record=RECORD)
    for target in ("lava", "torch-int"):
        assert_same_traces(ref, simulate(net, x, target=target, record=RECORD),
                           net.populations, got_name=target)
    plain = FixedPointNetwork(net.n_inputs, {n: replace(p, reset_interval=0, reset_offset=0)
                                             for n, p in net.populations.items()},
                              net.projections, outputs=net.outputs)
    changed = simulate(plain, x, target="reference", record=RECORD)
    assert any(not np.array_equal(ref.u[n], changed.u[n]) for n in net.populations)


def test_reset_steps_zero_u_and_v_before_the_update():
    """A single neuron driven by its bias alone: v charges by the bias every step, decays,
    and starts again from 0 at the reset steps (t % 4 == 1), computed step by step here."""
    pop = LIFPopulation(1, du=0, dv=1024, vth=100_000, bias_mant=100, bias_exp=0,
                        reset_interval=4, reset_offset=1)
    net = FixedPointNetwork(1, {"p": pop}, [], outputs=["p"])
    got = simulate(net, np.zeros((1, 12, 1), bool), record=("v",)).v["p"][0, :, 0]
    v, expected = 0, []
    for t in range(12):
        if t % 4 == 1:
            v = 0
        v = (v * (4096 - 1024)) // 4096 + 100  # v >= 0: truncation is the floor
        expected.append(v)
    assert got.tolist() == expected


@pytest.mark.parametrize("fields, needle", [
    ({"reset_interval": 4, "reset_offset": 4}, r"reset_offset = 4 is out of range; allowed 0..3"),
    ({"reset_interval": -1}, r"reset_interval = -1 is out of range"),
    ({"reset_interval": 0, "reset_offset": 2}, r"reset_offset = 2 is out of range; allowed 0..0"),
])
def test_bad_reset_fields_get_one_line_errors(fields, needle):
    with pytest.raises(NetworkValidationError, match=needle):
        LIFPopulation(3, du=0, dv=0, vth=1, name="h", **fields)


def test_network_files_keep_resets_and_other_targets_refuse_them(tmp_path):
    net = _network()
    save_network(net, tmp_path / "n.npz")
    loaded = load_network(tmp_path / "n.npz")
    assert [(p.reset_interval, p.reset_offset) for p in loaded.populations.values()] == [
        (5, 1), (5, 3)]
    x = poisson_spikes(6, 1, 10, 0.3, seed=1)
    with pytest.raises(TargetUnavailableError,
                       match=r"'onnx' does not run timed state resets \(population 'layer0' "
                             r"has reset_interval 5\); targets that do: reference, torch-int, "
                             "lava"):
        simulate(loaded, x, target="onnx")
