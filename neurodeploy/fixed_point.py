"""Loihi 2 integer arithmetic as Lava 0.10's ``fixed_pt`` process models define it.

This module holds Loihi 2's widths by name (read off :data:`neurodeploy.chip.LOIHI2`) and
the small integer functions of Lava's weight and bias handling that the IR, PTQ, the
linter and the Lava target share; the step itself is ``neurodeploy.kernel``. They follow
``lava/proc/lif/models.py`` (``PyLifModelBitAcc``), ``lava/proc/sparse/models.py`` and
``lava/utils/weightutils.py``; the tests compare them with those files' functions.

Time convention: steps are 0-based; a spike emitted at step t by a projection's source
reaches the destination neuron at step t + 1 + delay (one step per hop).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from neurodeploy.chip import LOIHI2, ChipFormat

SignMode = Literal["excitatory", "inhibitory", "mixed"]
SIGN_MODES: tuple[str, ...] = ("excitatory", "inhibitory", "mixed")

# Loihi 2's widths by name, all read off the LOIHI2 profile (the single source).
DECAY_BITS = LOIHI2.decay_bits
DECAY_UNITY = LOIHI2.decay_unity  # 4096
DECAY_MAX = LOIHI2.decay_max  # du, dv in 0..4095
VTH_MAX = LOIHI2.vth_max  # 131071
VTH_SHIFT = LOIHI2.vth_shift  # threshold is compared as vth << 6
ACT_SHIFT = LOIHI2.act_shift  # synaptic input enters u as a_in << 6
BIAS_MANT_MIN, BIAS_MANT_MAX = LOIHI2.bias_mant_min, LOIHI2.bias_mant_max  # 13-bit signed
BIAS_EXP_MIN, BIAS_EXP_MAX = LOIHI2.bias_exp_min, LOIHI2.bias_exp_max
WEIGHT_BITS_MAX = LOIHI2.weight_bits
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = LOIHI2.weight_exp_min, LOIHI2.weight_exp_max
STATE_BITS = LOIHI2.state_bits
STATE_HALF = LOIHI2.state_half  # M = 2**23
V_MIN, V_MAX = -LOIHI2.state_max, LOIHI2.state_max
DELAY_MAX = LOIHI2.delay_max  # Lava's model accepts 63; netx clamps to 62
ACCUMULATOR_LIMIT = LOIHI2.accumulator_limit  # keep |summed input| below this on chip


def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``bias_mant << bias_exp`` for bias_exp >= 0, ``bias_mant >> -bias_exp`` (floor) otherwise.

    The result is added to v unshifted: bias 64 is worth one weight unit per step.
    """
    mant = np.asarray(bias_mant, dtype=np.int64)
    exp = np.asarray(bias_exp, dtype=np.int64)
    return np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))


def infer_sign_mode(weights: np.ndarray) -> SignMode:
    """Sign mode as Lava's ``determine_sign_mode`` infers it (all zeros -> excitatory)."""
    w = np.asarray(weights)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def dropped_weight_bits(
    sign_mode: SignMode, num_weight_bits: int, chip: ChipFormat = LOIHI2
) -> int:
    """Low bits Lava drops from each weight: ``8 - num_weight_bits + (1 if mixed)``."""
    return chip.weight_bits - num_weight_bits + (1 if sign_mode == "mixed" else 0)


def weight_limits(sign_mode: SignMode, chip: ChipFormat = LOIHI2) -> tuple[int, int]:
    """Clip range Lava applies before truncation, per sign mode (8 bits: 0..255,
    -255..0, -256..255)."""
    top = 1 << chip.weight_bits
    return {"excitatory": (0, top - 1), "inhibitory": (-(top - 1), 0),
            "mixed": (-top, top - 1)}[sign_mode]


def lava_weight_transform(
    weights: np.ndarray, sign_mode: SignMode, num_weight_bits: int = 8,
    chip: ChipFormat = LOIHI2,
) -> np.ndarray:
    """What Lava does to integer weights at its first step: clip by sign mode, drop low bits.

    Mirrors ``clip_weights(.., num_bits=8)`` then ``truncate_weights`` from
    ``lava.utils.weightutils``: inhibitory weights are negated, clipped and floored, then
    negated back (so they round toward zero); mixed and excitatory weights are floored.
    Use it to snap weights onto the grid that :class:`~neurodeploy.Projection` accepts.
    """
    w = np.trunc(np.asarray(weights)).astype(np.int64)
    k = dropped_weight_bits(sign_mode, num_weight_bits, chip)
    lo, hi = weight_limits(sign_mode, chip)
    if sign_mode == "inhibitory":
        w = -np.clip(-w, 0, -lo)
        return -(((-w) >> k) << k)
    w = np.clip(w, lo, hi)
    return (w >> k) << k
