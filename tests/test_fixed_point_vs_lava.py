"""The shared integer helpers and the kernel's neuron step, checked against Lava's code.

These call Lava's own functions in-process (weight utilities, PyLifModelBitAcc's
arithmetic) on random and extreme values; whole networks are compared in
test_lava_equivalence.py.
"""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from lava.proc.lif.models import PyLifModelBitAcc
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights

from neurodeploy import LIFPopulation
from neurodeploy import fixed_point as fp
from neurodeploy.kernel import LIFConstants, NumpyIntOps, lif_step
from neurodeploy.kernel.numpy_ops import wrap_int32
from neurodeploy.kernel.torch_ops import TorchIntOps, TorchLIF

weights = st.lists(st.integers(-400, 400), min_size=1, max_size=30).map(np.array)


@given(weights, st.sampled_from(fp.SIGN_MODES), st.integers(1, 8))
def test_weight_transform_equals_lava_clip_and_truncate(w, sign_mode, nbits):
    mode = SignMode[sign_mode.upper()]
    lava = truncate_weights(clip_weights(w, mode, num_bits=8), mode, nbits)
    assert (fp.lava_weight_transform(w, sign_mode, nbits) == lava).all()


@given(weights)
def test_sign_mode_inference_equals_lava(w):
    assert fp.infer_sign_mode(w).upper() == determine_sign_mode(w).name


@given(st.lists(st.integers(-2**40, 2**40), min_size=1, max_size=20).map(np.array))
def test_int32_wrap_equals_numpy_int32_overflow(x):
    assert (wrap_int32(x) == x.astype(np.int32)).all()
    assert (wrap_int32(x.astype(np.float64)) == x.astype(np.int32)).all()
    assert (TorchIntOps().wrap_int32(torch.as_tensor(x, dtype=torch.float64)).numpy()
            == x.astype(np.int32)).all()


state = st.integers(-(2**23) + 1, 2**23)
n_neurons = 12


@given(
    u=st.lists(state, min_size=n_neurons, max_size=n_neurons),
    v=st.lists(state, min_size=n_neurons, max_size=n_neurons),
    a=st.lists(st.one_of(st.integers(-2**15, 2**15), st.integers(-2**30, 2**30)),
               min_size=n_neurons, max_size=n_neurons),
    du=st.integers(0, 4095), dv=st.integers(0, 4095), vth=st.integers(0, 131071),
    bias_mant=st.integers(-4096, 4095), bias_exp=st.integers(-8, 7),
    steps=st.integers(1, 4),
)
def test_reference_neuron_step_equals_lava_pylifmodelbitacc(u, v, a, du, dv, vth, bias_mant,
                                                            bias_exp, steps):
    """Random states and inputs, including u beyond its wrap and a_in that overflows int32."""
    lava = PyLifModelBitAcc({})
    lava.u = np.array(u, dtype=np.int32)
    lava.v = np.array(np.clip(v, -(2**23) + 1, 2**23 - 1), dtype=np.int32)
    lava.du, lava.dv, lava.vth = du, dv, vth
    lava.bias_mant = np.full(n_neurons, bias_mant, dtype=np.int16)
    lava.bias_exp = np.full(n_neurons, bias_exp, dtype=np.int16)
    lava.scale_bias()
    lava.scale_threshold()
    pop = LIFPopulation(n_neurons, du=du, dv=dv, vth=vth, bias_mant=bias_mant,
                        bias_exp=bias_exp)
    a_in = wrap_int32(np.array(a, dtype=np.int64))  # what an int32 channel delivers
    small = np.abs(a_in).max() <= 2**18  # u stays in 24 bits: no int32 emulation needed
    np_ops, torch_ops = NumpyIntOps(), TorchIntOps()
    emulations = (True, False) if small else (True,)
    # every realisation of the kernel step, with and without the int32 emulation
    states = {}
    for emulate in emulations:
        c = LIFConstants.of(pop, emulate)
        states["numpy", emulate] = (np_ops, np_ops.constants(c),
                                    lava.u.astype(np.float64)[:, None],  # (neurons, batch 1)
                                    lava.v.astype(np.float64)[:, None])
        states["torch", emulate] = (torch_ops, TorchLIF.of(c),
                                    torch.as_tensor(lava.u, dtype=torch.float64)[None],
                                    torch.as_tensor(lava.v, dtype=torch.float64)[None])
    for _ in range(steps):
        lava.subthr_dynamics(a_in.astype(np.int32))
        lava_spikes = lava.spiking_activation()
        lava.reset_voltage(lava_spikes)
        for key, (ops, c, u, v) in states.items():
            x = a_in.astype(np.float64)
            x = x[:, None] if key[0] == "numpy" else torch.as_tensor(x)[None]
            s, u, v = lif_step(ops, c, x, u, v)
            states[key] = (ops, c, u, v)
            got = [np.asarray(t).reshape(-1) for t in (s, u, v)]
            assert (got[0].astype(bool) == lava_spikes.astype(bool)).all(), key
            assert (got[1] == lava.u).all(), key
            assert (got[2] == lava.v).all(), key


@given(st.lists(st.integers(-4096, 4095), min_size=1, max_size=10),
       st.lists(st.integers(-8, 7), min_size=1, max_size=10))
def test_effective_bias_equals_lava_scale_bias(mant, exp):
    n = min(len(mant), len(exp))
    lava = PyLifModelBitAcc({})
    lava.bias_mant = np.array(mant[:n], dtype=np.int16)
    lava.bias_exp = np.array(exp[:n], dtype=np.int16)
    lava.scale_bias()
    assert (fp.effective_bias(mant[:n], exp[:n]) == lava.effective_bias).all()
