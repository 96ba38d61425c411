"""Chip profiles as data: the integer widths and ranges of one neuromorphic chip.

:data:`LOIHI2` is the Loihi 2 profile of Lava 0.10's ``fixed_pt`` process models (see
``docs/loihi2-fixed-point.md``). The IR's validation (``neurodeploy.network``), the integer
kernel (``neurodeploy.kernel``), the targets, PTQ, QAT and the linter all read a
:class:`ChipFormat`; another chip would be another instance, not another code path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChipFormat:
    """Integer ranges of one neuromorphic chip profile (units: the chip's integers).

    - weights: ``weight_bits`` bits with a sign mode (see ``neurodeploy.fixed_point``);
    - ``weight_exp`` in [weight_exp_min, weight_exp_max], applied to the summed input;
    - decays du, dv with ``decay_bits`` bits (0..2**decay_bits - 1); a decay multiplies
      by ``(2**decay_bits - d) / 2**decay_bits`` and truncates toward zero;
    - threshold vth in 0..vth_max, compared as ``vth << vth_shift``;
    - synaptic input enters u as ``a << act_shift``;
    - bias = bias_mant * 2**bias_exp, mantissa ``bias_mant_bits`` signed bits, exponent in
      [bias_exp_min, bias_exp_max];
    - u and v ``state_bits`` wide (u wraps once per step, v saturates);
    - delays 0..delay_max steps (one step per hop comes on top);
    - the summed input of a projection per step should stay below ``accumulator_limit``
      in magnitude (dendritic accumulator headroom);
    - ``neurons_per_core`` and ``synapses_per_core`` are planning estimates only;
    - graded input spikes carry counts 0..``graded_spike_max`` (1: binary spikes only).
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
    graded_spike_max: int = 255

    @property
    def decay_unity(self) -> int:
        """``2**decay_bits``: a decay d keeps ``(decay_unity - d) / decay_unity`` per step."""
        return 1 << self.decay_bits

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
    def state_half(self) -> int:
        """``2**(state_bits - 1)``: u wraps into (-state_half, state_half]."""
        return 1 << (self.state_bits - 1)

    @property
    def state_max(self) -> int:
        """Largest |v|: v saturates to [-state_max, state_max]."""
        return (1 << (self.state_bits - 1)) - 1

    @property
    def safe_input(self) -> int:
        """Largest |a| for which ``a << act_shift`` keeps one wrap of u inside int32.

        With |a << act_shift| <= 2**state_bits, one wrap keeps u in (-2**(state_bits-1),
        2**(state_bits-1)] and nothing leaves int32; beyond it u can drift out of range
        step after step until Lava's int32 arithmetic overflows, so populations whose
        input can exceed this bound emulate that int32 arithmetic.
        """
        return (1 << self.state_bits) >> self.act_shift

    @property
    def du_float_min(self) -> float:
        """The smallest float decay fraction of u: the hidden +1 of du makes it 1/2**decay_bits."""
        return 1.0 / self.decay_unity

    @property
    def dv_float_max(self) -> float:
        """The largest float decay fraction of v: ``decay_max / 2**decay_bits``."""
        return self.decay_max / self.decay_unity


LOIHI2 = ChipFormat(
    name="loihi2",
    weight_bits=8,
    weight_exp_min=-8,
    weight_exp_max=7,
    decay_bits=12,
    vth_max=(1 << 17) - 1,
    vth_shift=6,
    act_shift=6,
    bias_mant_bits=13,
    bias_exp_min=-8,
    bias_exp_max=7,
    state_bits=24,
    delay_max=62,  # Lava's model accepts 63; Intel's netx tooling clamps to 62
    accumulator_limit=1 << 15,
    neurons_per_core=8192,  # estimate: depends on the neuron model's state size
    synapses_per_core=128 * 1024,  # estimate: synaptic memory per core at 8-bit weights
)
