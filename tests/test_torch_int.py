"""torch-int == the reference simulator, spikes, u and v at every step (bit-exact).

Random networks come from hypothesis (tests/netgen.py); the targeted cases make u wrap,
v saturate and Lava's int32 input path overflow. Time: 0-based steps, one step per hop.
"""

import numpy as np
import pytest
import torch

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate
from neurodeploy.conformance import load_recording, nir_paper_single_lif_network
from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.kernel import LIFConstants, lif_step
from neurodeploy.kernel.torch_ops import TorchIntOps, TorchLIF, wrap_int32
from neurodeploy.targets.torch_int import simulate_torch_int

from compare import RECORD, assert_same_traces


def assert_identical(net, x, device="cpu"):
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate_torch_int(net, x, record=RECORD, device=device)
    assert_same_traces(ref, got, net.populations, got_name="torch-int", check_dtype=True)
    return ref


def test_conformance_network_reproduces_the_chip_spikes():
    chip = load_recording("lif_lava_loihi_fixed")
    tr = simulate(nir_paper_single_lif_network(), chip.input_spikes[None, :, None],
                  target="torch-int", record=("spikes", "v"))
    spikes, v = tr.spikes["lif"][0, :, 0], tr.v["lif"][0, :, 0]
    assert np.flatnonzero(spikes).tolist() == np.flatnonzero(chip.output_spikes).tolist()
    differ = np.flatnonzero(v != chip.v).tolist()  # the chip records 128 at spike steps
    assert differ == np.flatnonzero(chip.output_spikes).tolist()


def test_registry_and_api():
    net = nir_paper_single_lif_network()
    x = np.zeros((2, 5, 1), dtype=np.int64)
    x[:, 0] = 1
    tr = simulate(net, x, target="torch-int", record=("v",), populations=["lif"])
    assert tr.target == "torch-int" and set(tr.spikes) == {"lif"} and not tr.u
    assert tr.spikes["lif"].dtype == bool and tr.v["lif"].dtype == np.int64
    assert tr.v["lif"].shape == (2, 5, 1)
    assert tr.v["lif"][0, :, 0].tolist()[:2] == [0, 640]  # one step per hop, 10 << 6
    with pytest.raises(InputError):
        simulate(net, x[0], target="torch-int")
    with pytest.raises(InputError):
        simulate(net, x, target="torch-int", record=("w",))
    with pytest.raises(InputError):
        simulate(net, x, target="torch-int", populations=["nope"])
    if not torch.cuda.is_available():
        with pytest.raises(TargetUnavailableError):
            simulate(net, x, target="torch-int", device="cuda")


def test_functional_step_matches_the_documented_formula():
    """The kernel's step on torch alone: hidden +1 on du, truncation toward zero, unshifted
    bias."""
    pop = LIFPopulation(2, du=[0, 4095], dv=[1, 0], vth=[0, 131071], bias_mant=[-3, 1],
                        bias_exp=[0, 6])
    params = TorchLIF.of(LIFConstants.of(pop, emulate_int32=False))
    u = torch.tensor([[-4097.0, 5.0]], dtype=torch.float64)
    v = torch.tensor([[-4097.0, 100.0]], dtype=torch.float64)
    s, u2, v2 = lif_step(TorchIntOps(), params, torch.tensor([[1.0, 0.0]], dtype=torch.float64),
                         u, v)
    # u: trunc(-4097 * 4095 / 4096) = -4095, + 64; du = 4095 keeps nothing
    assert u2.tolist() == [[-4095.0 + 64, 0.0]]
    # v: trunc(-4097 * 4095 / 4096) = -4095, + u - 3 -> -4034 (no spike); 100 + 0 + 64
    assert v2.tolist() == [[-4095.0 - 4031 - 3, 164.0]] and s.tolist() == [[0.0, 0.0]]
    big = torch.tensor([2.0**31, -(2.0**31) - 1, 3 * 2.0**32 + 5], dtype=torch.float64)
    assert wrap_int32(big).tolist() == [-(2.0**31), 2.0**31 - 1, 5.0]


def test_cuda_matches_reference_or_is_refused_clearly():
    """On a GPU machine: identical integers on CUDA. Without one: a clear one-line error."""
    from neurodeploy import TargetUnavailableError

    rng = np.random.default_rng(0)
    pops = {"h": LIFPopulation(50, du=100, dv=300, vth=20),
            "o": LIFPopulation(4, du=0, dv=50, vth=10)}
    net = FixedPointNetwork(30, pops, [
        Projection("input", "h", rng.integers(-128, 128, (50, 30)) * 2,
                   delays=rng.integers(0, 10, (50, 30)), weight_exp=-1),
        Projection("h", "o", rng.integers(0, 256, (4, 50))),
        Projection("o", "h", -rng.integers(0, 256, (50, 4)), delays=3)])
    x = rng.random((8, 100, 30)) < 0.3
    if torch.cuda.is_available():
        assert_identical(net, x, device="cuda")
    else:
        with pytest.raises(TargetUnavailableError, match="cuda"):
            simulate(net, x, target="torch-int", device="cuda")
