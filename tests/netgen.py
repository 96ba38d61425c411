"""Random fixed-point networks for property tests (shared by several test modules)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection
from neurodeploy import fixed_point as fp
from neurodeploy.float_network import FloatNetwork, FloatPopulation, FloatProjection
from neurodeploy.quantize.ptq import post_training_quantize

SMALL_VTH = (0, 1, 3, 10, 40, 200, 1000, 131071)
DECAYS = (0, 1, 7, 200, 1024, 2048, 4000, 4095)


def _param(rng: np.random.Generator, size: int, choices, lo: int, hi: int):
    """A scalar or a per-neuron vector, from a few typical values or the full range."""
    pick = rng.integers(3)
    if pick == 0:
        return int(rng.choice(choices))
    if pick == 1:
        return int(rng.integers(lo, hi + 1))
    return rng.choice(choices, size=size).astype(np.int64)


def random_network(seed: int, n_pops: int, recurrent: bool, max_delay: int,
                   layered: bool = False) -> FixedPointNetwork:
    """A random network: 1-4 populations, every weight format, delays, biases.

    ``layered``: recurrence only onto the population itself (no cycles between
    populations) and the last population as the one output, as QAT takes them.
    """
    rng = np.random.default_rng(seed)
    n_inputs = int(rng.integers(1, 6))
    pops = {}
    for k in range(n_pops):
        size = int(rng.integers(1, 7))
        pops[f"p{k}"] = LIFPopulation(
            size=size,
            du=_param(rng, size, DECAYS, 0, fp.DECAY_MAX),
            dv=_param(rng, size, DECAYS, 0, fp.DECAY_MAX),
            vth=_param(rng, size, SMALL_VTH, 0, fp.VTH_MAX),
            bias_mant=(0 if rng.random() < 0.4 else _param(
                rng, size, (-4096, -100, -1, 1, 50, 4095), fp.BIAS_MANT_MIN, fp.BIAS_MANT_MAX)),
            bias_exp=_param(rng, size, (-8, -3, 0, 2, 7), fp.BIAS_EXP_MIN, fp.BIAS_EXP_MAX),
        )
    names = list(pops)
    projections = []
    for k, dst in enumerate(names):
        sources = ["input"] if k == 0 else [names[k - 1]]
        if rng.random() < 0.3:
            sources.append("input")
        if recurrent and rng.random() < 0.6:
            later = dst if layered else names[int(rng.integers(k, n_pops))]
            sources.append(later)  # self or a later population
        for src in sources:
            n_src = n_inputs if src == "input" else pops[src].size
            shape = (pops[dst].size, n_src)
            sign_mode = str(rng.choice(fp.SIGN_MODES))
            nbits = int(rng.choice([8, 8, 7, 5, 3, 1]))
            lo, hi = fp.weight_limits(sign_mode)
            raw = rng.integers(lo, hi + 1, size=shape)
            raw[rng.random(shape) < 0.2] = 0
            weights = fp.lava_weight_transform(raw, sign_mode, nbits)
            kind = rng.integers(4)
            delays = None
            if max_delay and kind == 1:
                delays = int(rng.integers(0, max_delay + 1))
            elif max_delay and kind == 2:
                delays = rng.integers(0, max_delay + 1, size=n_src)
            elif max_delay and kind == 3:
                delays = rng.integers(0, max_delay + 1, size=shape)
            projections.append(Projection(
                src=src, dst=dst, weights=weights, weight_exp=int(rng.integers(-8, 8)),
                delays=delays, num_weight_bits=nbits, sign_mode=sign_mode,
            ))
    return FixedPointNetwork(n_inputs, pops, projections,
                             outputs=[names[-1]] if layered else None)


def random_spikes(seed: int, net: FixedPointNetwork, batch: int, steps: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    rate = rng.choice([0.05, 0.3, 0.8])
    return rng.random((batch, steps, net.n_inputs)) < rate


@st.composite
def network_cases(draw, max_pops: int = 4, max_steps: int = 40, layered: bool = False):
    """(network, spikes) with hypothesis choosing the structure and seed (``layered``: see
    :func:`random_network`)."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_pops = draw(st.integers(1, max_pops))
    recurrent = draw(st.booleans())
    max_delay = draw(st.sampled_from([0, 3, 10, fp.DELAY_MAX]))
    steps = draw(st.integers(5, max_steps))
    batch = draw(st.integers(1, 3))
    net = random_network(seed, n_pops, recurrent, max_delay, layered)
    return net, random_spikes(seed, net, batch, steps)


# ----------------------------------------------------------- targeted edge-case networks
def wrap_and_saturate_case() -> tuple[FixedPointNetwork, np.ndarray]:
    """u of "wrap" passes 2**23 within a few steps (weight 255 << 7) and wraps; a large
    negative bias and inhibitory input drive v of "sat" into its negative saturation."""
    pops = {"wrap": LIFPopulation(2, du=0, dv=[0, 10], vth=131071, bias_mant=4095, bias_exp=7),
            "sat": LIFPopulation(2, du=[0, 7], dv=0, vth=0, bias_mant=-4096, bias_exp=7)}
    net = FixedPointNetwork(1, pops, [
        Projection("input", "wrap", [[255], [255]], weight_exp=7),
        Projection("input", "sat", [[-255], [-255]], weight_exp=3),
    ])
    return net, np.ones((1, 30, 1), bool)


def int32_overflow_case(n: int, steps: int, du: int) -> tuple[FixedPointNetwork, np.ndarray]:
    """Inputs beyond 2**18 per step: u leaves 24 bits and Lava's int32 arithmetic wraps.

    n = 1100 inputs x 255 << 7 = 35.9e6: a_in << 6 overflows int32 in one step. n = 100
    (3.3e6 per step) with du = 0: the single 24-bit wrap cannot keep up, u drifts by about
    1.9e8 per step and overflows int32 after about ten steps.
    """
    net = FixedPointNetwork(n, {"h": LIFPopulation(1, du=du, dv=4095, vth=131071)},
                            [Projection("input", "h", np.full((1, n), 255), weight_exp=7)])
    x = np.zeros((1, steps, n), bool)
    x[0, 1:] = True
    return net, x


def recurrent_bias_case() -> tuple[FixedPointNetwork, np.ndarray]:
    """Two populations in a cycle, self-recurrence, delays, negative weight_exp, biases;
    sample 2 is silent input, so only bias and recurrence drive it."""
    pops = {"a": LIFPopulation(3, du=300, dv=200, vth=5, bias_mant=[0, 100, -50], bias_exp=2),
            "b": LIFPopulation(2, du=[0, 4095], dv=0, vth=[3, 50])}
    projs = [Projection("input", "a", np.full((3, 2), 120), delays=[0, 7]),
             Projection("a", "a", np.array([[0, -40, 0], [30, 0, 0], [0, 0, -2]]), delays=2),
             Projection("a", "b", np.full((2, 3), 64), weight_exp=-2),
             Projection("b", "a", np.full((3, 2), -6), weight_exp=-3,
                        delays=np.array([[1, 2], [3, 4], [5, 6]]))]
    x = np.random.default_rng(3).random((5, 60, 2)) < 0.3
    x[2] = False
    return FixedPointNetwork(2, pops, projs), x


def bias_current_float_network(seed: int = 0) -> FloatNetwork:
    """6 inputs -> CubaLIF "h" (8, du 0.2, recurrent) -> CubaLIF "out" (3, du 0.3), every
    projection with a constant current (Affine bias) of both signs: what an snnTorch
    RSynaptic network imports as. Biases enter h's u from step 1, out's from step 2."""
    rng = np.random.default_rng(seed)
    pops = {"h": FloatPopulation(8, du=0.2, dv=0.1, vth=1.0),
            "out": FloatPopulation(3, du=0.3, dv=0.15, vth=1.0)}
    projs = [FloatProjection("input", "h", rng.normal(0.3, 0.4, (8, 6)),
                             bias=rng.normal(0.03, 0.05, 8)),
             FloatProjection("h", "h", rng.normal(0.0, 0.2, (8, 8)),
                             bias=rng.normal(0.0, 0.02, 8)),
             FloatProjection("h", "out", rng.normal(0.2, 0.4, (3, 8)),
                             bias=np.array([0.12, -0.05, 0.02]))]
    return FloatNetwork(6, pops, projs, dt=1e-3)


def bias_current_case(seed: int = 0) -> tuple[FixedPointNetwork, np.ndarray]:
    """:func:`bias_current_float_network` quantized by PTQ (its biases become the bias
    unit's projections, one with a delay) and input spikes; sample 1 is silent, so only the
    biases (and the recurrence they start) drive it."""
    x = np.random.default_rng(seed + 1).random((4, 50, 6)) < 0.25
    x[1] = False
    net, _ = post_training_quantize(bias_current_float_network(seed), x)
    return net, x
