"""Loihi 2 integer arithmetic as Lava 0.10's ``fixed_pt`` process models define it.

This module holds the constants and the small integer functions that every fixed-point
backend shares (reference simulator, torch integer emulation, linter). They follow
``lava/proc/lif/models.py`` (``PyLifModelBitAcc``), ``lava/proc/sparse/models.py`` and
``lava/utils/weightutils.py``; the tests compare them with those files' functions.

Time convention: steps are 0-based; a spike emitted at step t by a projection's source
reaches the destination neuron at step t + 1 + delay (one step per hop).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SignMode = Literal["excitatory", "inhibitory", "mixed"]
SIGN_MODES: tuple[str, ...] = ("excitatory", "inhibitory", "mixed")

DECAY_BITS = 12
DECAY_UNITY = 1 << DECAY_BITS  # 4096
DECAY_MAX = DECAY_UNITY - 1  # du, dv in 0..4095
VTH_MAX = (1 << 17) - 1  # 131071
VTH_SHIFT = 6  # threshold is compared as vth << 6
ACT_SHIFT = 6  # synaptic input enters u as a_in << 6
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << 12), (1 << 12) - 1  # 13-bit signed
BIAS_EXP_MIN, BIAS_EXP_MAX = -8, 7
WEIGHT_BITS_MAX = 8
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 7
STATE_BITS = 24
STATE_HALF = 1 << (STATE_BITS - 1)  # M = 2**23
V_MIN, V_MAX = -(STATE_HALF - 1), STATE_HALF - 1
DELAY_MAX = 62  # Loihi 2 profile (Lava's model accepts 63; netx clamps to 62)
ACCUMULATOR_LIMIT = 1 << 15  # keep |summed input| below this on chip (see lint)


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (numpy int32 overflow)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``bias_mant << bias_exp`` for bias_exp >= 0, ``bias_mant >> -bias_exp`` (floor) otherwise.

    The result is added to v unshifted: bias 64 is worth one weight unit per step.
    """
    mant = np.asarray(bias_mant, dtype=np.int64)
    exp = np.asarray(bias_exp, dtype=np.int64)
    return np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))


def shift_by_weight_exp(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    """Apply a projection's weight_exp to a summed input: left shift, or floor right shift."""
    return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp


def infer_sign_mode(weights: np.ndarray) -> SignMode:
    """Sign mode as Lava's ``determine_sign_mode`` infers it (all zeros -> excitatory)."""
    w = np.asarray(weights)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def dropped_weight_bits(sign_mode: SignMode, num_weight_bits: int) -> int:
    """Low bits Lava drops from each weight: ``8 - num_weight_bits + (1 if mixed)``."""
    return WEIGHT_BITS_MAX - num_weight_bits + (1 if sign_mode == "mixed" else 0)


def weight_limits(sign_mode: SignMode) -> tuple[int, int]:
    """Clip range Lava applies before truncation, per sign mode."""
    return {"excitatory": (0, 255), "inhibitory": (-255, 0), "mixed": (-256, 255)}[sign_mode]


def lava_weight_transform(
    weights: np.ndarray, sign_mode: SignMode, num_weight_bits: int = 8
) -> np.ndarray:
    """What Lava does to integer weights at its first step: clip by sign mode, drop low bits.

    Mirrors ``clip_weights(.., num_bits=8)`` then ``truncate_weights`` from
    ``lava.utils.weightutils``: inhibitory weights are negated, clipped and floored, then
    negated back (so they round toward zero); mixed and excitatory weights are floored.
    Use it to snap weights onto the grid that :class:`~neurodeploy.Projection` accepts.
    """
    w = np.trunc(np.asarray(weights)).astype(np.int64)
    k = dropped_weight_bits(sign_mode, num_weight_bits)
    if sign_mode == "inhibitory":
        w = -np.clip(-w, 0, 255)
        return -(((-w) >> k) << k)
    lo, hi = weight_limits(sign_mode)
    w = np.clip(w, lo, hi)
    return (w >> k) << k
