"""Real Loihi 2 recordings shipped with neurodeploy, and the networks that produced them.

``nir_paper_single_lif``: the NIR paper's single-neuron test (Pedersen et al., Nature
Communications 15:8122, 2024; data from neuromorphs/NIR ``paper/01_lif``, BSD-3-Clause).
One input channel, one projection of weight 10 into one CUBA LIF neuron with du = 4095,
dv = 163, vth = 25, no bias; 1,000 steps recorded on a Loihi 2 chip through Lava.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from neurodeploy.network import FixedPointNetwork, LIFPopulation, Projection

_PACKAGE = "neurodeploy.data"
_FOLDER = "nir_paper_single_lif"


@dataclass(frozen=True)
class Recording:
    """One recorded run: input spikes (steps,), membrane voltage v (steps,), output spikes."""

    name: str
    input_spikes: np.ndarray
    v: np.ndarray
    output_spikes: np.ndarray


def load_recording(name: str = "lif_lava_loihi_fixed") -> Recording:
    """Load a CSV of the single-LIF test: rows are 0-based steps; input, v, output spike.

    ``name`` is one of ``lif_lava_loihi_fixed`` (the chip), ``lif_lava_cpu_fixed``,
    ``lif_lava_cpu_float``, ``lif_exact`` (continuous-time solution).
    """
    path = resources.files(_PACKAGE).joinpath(_FOLDER, f"{name}.csv")
    table = np.loadtxt(str(path), delimiter=",")
    return Recording(name, table[:, 0] != 0, table[:, 1], table[:, 2] != 0)


def nir_paper_single_lif_network() -> FixedPointNetwork:
    """The integer network that the NIR paper ran on Loihi 2 (see module docstring)."""
    return FixedPointNetwork(
        n_inputs=1,
        populations={"lif": LIFPopulation(size=1, du=4095, dv=163, vth=25)},
        projections=[Projection(src="input", dst="lif", weights=np.array([[10]]))],
        outputs=["lif"],
    )
