"""Chip number formats as data: what PTQ, QAT and the linter read.

``LOIHI2`` is the Loihi 2 profile of Lava 0.10's fixed-point models (see
``shared/docs/loihi2-fixed-point.md``). Another chip would be another
:class:`ChipFormat` instance, not another code path.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurodeploy import fixed_point as fp


@dataclass(frozen=True)
class ChipFormat:
    """Integer ranges of one neuromorphic chip profile (units: Loihi's integers).

    - weights: ``weight_bits`` bits; the grid per sign mode comes from
      :func:`neurodeploy.fixed_point.weight_limits` / ``dropped_weight_bits``;
    - ``weight_exp`` in [weight_exp_min, weight_exp_max], applied to the summed input;
    - decays du, dv with ``decay_bits`` bits (0..2**decay_bits - 1);
    - threshold vth in 0..vth_max (compared as vth << vth_shift);
    - bias = bias_mant * 2**bias_exp, mantissa ``bias_mant_bits`` signed bits, exponent in
      [bias_exp_min, bias_exp_max];
    - u and v ``state_bits`` wide (u wraps, v saturates);
    - delays 0..delay_max steps;
    - the summed input of a projection per step should stay below ``accumulator_limit``
      in magnitude (dendritic accumulator headroom);
    - ``neurons_per_core`` and ``synapses_per_core`` are planning estimates only.
    """

    name: str
    weight_bits: int
    weight_exp_min: int
    weight_exp_max: int
    decay_bits: int
    vth_max: int
    vth_shift: int
    act_shift: int
    bias_mant_bits: int
    bias_exp_min: int
    bias_exp_max: int
    state_bits: int
    delay_max: int
    accumulator_limit: int
    neurons_per_core: int
    synapses_per_core: int

    @property
    def decay_max(self) -> int:
        return (1 << self.decay_bits) - 1

    @property
    def bias_mant_min(self) -> int:
        return -(1 << (self.bias_mant_bits - 1))

    @property
    def bias_mant_max(self) -> int:
        return (1 << (self.bias_mant_bits - 1)) - 1

    @property
    def state_max(self) -> int:
        return (1 << (self.state_bits - 1)) - 1


LOIHI2 = ChipFormat(
    name="loihi2",
    weight_bits=fp.WEIGHT_BITS_MAX,
    weight_exp_min=fp.WEIGHT_EXP_MIN,
    weight_exp_max=fp.WEIGHT_EXP_MAX,
    decay_bits=fp.DECAY_BITS,
    vth_max=fp.VTH_MAX,
    vth_shift=fp.VTH_SHIFT,
    act_shift=fp.ACT_SHIFT,
    bias_mant_bits=13,
    bias_exp_min=fp.BIAS_EXP_MIN,
    bias_exp_max=fp.BIAS_EXP_MAX,
    state_bits=fp.STATE_BITS,
    delay_max=fp.DELAY_MAX,
    accumulator_limit=fp.ACCUMULATOR_LIMIT,
    neurons_per_core=8192,  # estimate: depends on the neuron model's state size
    synapses_per_core=128 * 1024,  # estimate: synaptic memory per core at 8-bit weights
)
