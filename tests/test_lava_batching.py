"""Lava's default batching: the samples per run that minimise the modelled wall time per
sample (targets/lava.py's cost model; no Lava run needed)."""

import numpy as np
import pytest

from neurodeploy.targets import lava
from neurodeploy.targets.lava import auto_neurons_per_run, samples_per_run

from netgen import random_network


def per_sample_cost(neurons: np.ndarray, steps: int) -> np.ndarray:
    """The model's seconds per neuron laid side by side (proportional to per sample)."""
    return (lava.LAVA_STARTUP_S + steps * (lava.LAVA_STEP_S + lava.LAVA_STEP_PER_NEURON_S
                                           * neurons + lava.LAVA_STEP_PER_NEURON2_S
                                           * neurons**2)) / neurons


@pytest.mark.parametrize("steps", [5, 30, 100, 1000, 5000])
def test_auto_choice_is_the_minimum_of_the_model_within_its_range(steps):
    lo, hi = lava.AUTO_NEURONS_RANGE
    grid = np.arange(lo, hi + 1, 50, dtype=np.float64)
    brute = grid[np.argmin(per_sample_cost(grid, steps))]  # search, not the closed form
    got = auto_neurons_per_run(steps)
    assert lo <= got <= hi
    assert abs(got - brute) <= 50


def test_longer_samples_run_fewer_side_by_side_and_an_explicit_cap_wins():
    net = random_network(3, 2, False, 2)
    short, long = samples_per_run(net, 20), samples_per_run(net, 2000)
    assert short > long >= 1
    assert samples_per_run(net, 20, max_neurons_per_run=1) == 1
    size = net.n_neurons + net.n_inputs
    assert samples_per_run(net, 20, max_neurons_per_run=5 * size) == 5
