"""The NIR paper's Loihi 2 recording (shared/conformance/nir-paper-single-lif), reproduced.

Chip facts (from the recording, not from neurodeploy): output spikes at steps 461, 511,
711, 761; v equal to the chip's at every step but those four, where the chip recorded
128 and Lava's CPU model records 0, the value after reset.
"""

import numpy as np
import pytest

from neurodeploy import simulate
from neurodeploy.conformance import load_recording, nir_paper_single_lif_network


@pytest.mark.parametrize("target", ["reference", pytest.param("lava", marks=pytest.mark.lava)])
def test_single_lif_reproduces_the_loihi2_chip(target):
    chip = load_recording("lif_lava_loihi_fixed")
    tr = simulate(nir_paper_single_lif_network(), chip.input_spikes[None, :, None],
                  target=target, record=("spikes", "v"))
    spikes, v = tr.spikes["lif"][0, :, 0], tr.v["lif"][0, :, 0]
    assert np.flatnonzero(spikes).tolist() == np.flatnonzero(chip.output_spikes).tolist()
    differ = np.flatnonzero(v != chip.v).tolist()
    assert differ == np.flatnonzero(chip.output_spikes).tolist()
    assert (chip.v[differ] == 128).all() and (v[differ] == 0).all()
    first_input = int(np.flatnonzero(chip.input_spikes)[0])
    assert v[first_input + 1] == 640  # one step of hop latency, 10 << 6


def test_lava_cpu_recording_matches_the_chip_spikes():
    """The shipped CPU-fixed recording agrees with the chip (sanity of the data files)."""
    chip, cpu = load_recording("lif_lava_loihi_fixed"), load_recording("lif_lava_cpu_fixed")
    assert (chip.output_spikes == cpu.output_spikes).all()
    assert (chip.input_spikes == cpu.input_spikes).all()
