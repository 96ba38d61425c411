"""Convolutional projections in the integer IR: geometry, validation, storage, and every
integer backend equal to Lava on random convolutional networks.

Expected values come from torch's own ``conv2d`` (an independent implementation) and from
Lava 0.10's fixed_pt models; time is 0-based steps, one step per hop.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neurodeploy import (
    Conv2d,
    FixedPointNetwork,
    LIFPopulation,
    NetworkValidationError,
    Projection,
    load_network,
    save_network,
    simulate,
)
from neurodeploy import fixed_point as fp
from neurodeploy.quantize.lint import lint_network
from neurodeploy.quantize.qat import QATNetwork
from neurodeploy.targets.reference import ReferencePlan

from compare import RECORD, assert_same_traces


@st.composite
def geometries(draw):
    """A valid conv geometry and an integer kernel."""
    groups = draw(st.sampled_from([1, 1, 2]))
    channels = groups * draw(st.integers(1, 2))
    out_ch = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 9))
    seed = draw(st.integers(0, 2**32 - 1))
    kernel = np.random.default_rng(seed).integers(-128, 128, (out_ch, channels // groups, kh, kw))
    return Conv2d(kernel * 2, (channels, h, w), stride, padding, dilation, groups)


def _torch_conv(conv: Conv2d, x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.conv2d(x, torch.tensor(conv.kernel, dtype=torch.float64),
                                      stride=conv.stride, padding=conv.padding,
                                      dilation=conv.dilation, groups=conv.groups)


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(0, 2**32 - 1))
def test_matrix_is_torch_conv2d(conv, seed):
    conv.check("test")
    x = np.random.default_rng(seed).integers(0, 2, conv.in_shape).astype(np.float64)
    expected = _torch_conv(conv, torch.tensor(x)[None])[0].numpy()
    assert expected.shape == conv.out_shape
    np.testing.assert_array_equal(conv.matrix() @ x.ravel(), expected.ravel())


def test_sum_pooling_is_a_grouped_conv_of_ones():
    """SumPool2d 2x2 over 3 channels of 4x4: each output sums its own channel's block."""
    x = np.arange(48.0).reshape(3, 4, 4)
    pool = Conv2d(np.ones((3, 1, 2, 2), dtype=int), (3, 4, 4), stride=2, groups=3)
    pool.check("pool")
    expected = x.reshape(3, 2, 2, 2, 2).sum(axis=(2, 4))
    np.testing.assert_array_equal(pool.matrix() @ x.ravel(), expected.ravel())


@st.composite
def chained(draw):
    """Two checked geometries, the second reading the first's output."""
    first = draw(geometries())
    first.check("first")
    c, h, w = first.out_shape
    groups = draw(st.sampled_from([g for g in (1, 2, c) if c % g == 0]))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, dilation = (draw(st.tuples(st.integers(1, 2), st.integers(1, 2))) for _ in "sd")
    no_padding = st.sampled_from([0, 0, 0, 1, 2])  # padding is what most often forbids one
    padding = (draw(no_padding), draw(no_padding))
    seed = draw(st.integers(0, 2**32 - 1))
    kernel = np.random.default_rng(seed).integers(-9, 10, (groups * draw(st.integers(1, 2)),
                                                          c // groups, *k))
    second = Conv2d(kernel, (c, h, w), stride, padding, dilation, groups)
    try:
        second.check("second")
    except NetworkValidationError:
        assume(False)
    return first, second


@settings(max_examples=150, deadline=None)
@given(chained(), st.integers(0, 2**32 - 1))
def test_a_composed_convolution_is_the_two_in_turn(pair, seed):
    """Where ``followed_by`` gives one convolution, torch's conv2d with it equals torch's
    two conv2d in turn on random input (it gives None only where its docstring says)."""
    first, second = pair
    both = first.followed_by(second)
    a_k = first.kernel.shape[2:]
    overlap = any((a_k[i] - 1) * first.dilation[i] >= first.stride[i] + first.padding[i]
                  for i in (0, 1))
    if both is None:
        assert (overlap and any(second.padding)) or any(
            first.out_shape[1 + i] * first.stride[i] - first.padding[i] < first.in_shape[1 + i]
            for i in (0, 1))
        return
    x = torch.tensor(np.random.default_rng(seed).integers(0, 3, (2, *first.in_shape)),
                     dtype=torch.float64)
    expected = _torch_conv(second, _torch_conv(first, x))
    np.testing.assert_array_equal(_torch_conv(both, x).numpy(), expected.numpy())
    assert both.out_shape == second.out_shape


def test_sum_pooling_then_a_convolution_is_one_convolution_of_the_repeated_kernel():
    """Sinabs's SumPool2d 2x2 then Conv2d 3x3 padding 1 on 16 channels of 16x16: one 6x6
    convolution of stride 2, padding 2, each tap repeated over its 2x2 block; a 3x3 pooling
    of stride 2 (overlapping windows) before a padded convolution has none."""
    rng = np.random.default_rng(3)
    pool = Conv2d(np.ones((16, 1, 2, 2), dtype=int), (16, 16, 16), stride=2, groups=16)
    conv = Conv2d(rng.integers(-9, 10, (8, 16, 3, 3)), (16, 8, 8), padding=1)
    pool.check("pool")
    conv.check("conv")
    both = pool.followed_by(conv)
    assert (both.stride, both.padding, both.dilation, both.groups) == ((2, 2), (2, 2), (1, 1), 1)
    np.testing.assert_array_equal(both.kernel,
                                  conv.kernel.repeat(2, axis=2).repeat(2, axis=3))
    wide = Conv2d(np.ones((16, 1, 3, 3), dtype=int), (16, 17, 17), stride=2, groups=16)
    wide.check("wide")
    assert wide.followed_by(conv) is None


def test_validation_names_the_projection_and_the_field():
    k = np.full((2, 1, 3, 3), 2)
    with pytest.raises(NetworkValidationError, match=r"projection 'c': conv groups = 2 must"):
        Projection.conv2d("input", "h", np.full((2, 3, 3, 3), 2), (3, 5, 5), groups=2, name="c")
    with pytest.raises(NetworkValidationError, match=r"'input->h': conv output would be"):
        Projection.conv2d("input", "h", k, (1, 2, 2))
    with pytest.raises(NetworkValidationError, match=r"conv stride\[0\] = 0 is out of range"):
        Projection.conv2d("input", "h", k, (1, 5, 5), stride=(0, 1))
    with pytest.raises(NetworkValidationError, match="1 input channels per group; the source "
                                                     "has 2 channels in 1 group"):
        Projection.conv2d("input", "h", k, (2, 5, 5))
    conv = Projection.conv2d("input", "h", k, (1, 5, 5))
    with pytest.raises(NetworkValidationError, match="no delays: allowed None"):
        Projection("input", "h", conv.weights, delays=1, conv=conv.conv)
    tampered = conv.weights.copy()
    tampered[0, 0] += 2 if tampered[0, 0] < 200 else -2
    with pytest.raises(NetworkValidationError, match="not the convolution's"):
        Projection("input", "h", tampered, conv=conv.conv)
    with pytest.raises(NetworkValidationError, match=r"conv kernel\[0, 0, 0, 0\] = 3 is not on"):
        Projection.conv2d("input", "h", np.full((2, 1, 3, 3), 3) * [[[[1]]], [[[-1]]]],
                          (1, 5, 5))
    pops = {"h": LIFPopulation(2 * 3 * 3, du=0, dv=0, vth=1)}
    with pytest.raises(NetworkValidationError, match=r"weights has shape \(18, 25\); expected "
                                                     r"\(18, 16\)"):
        FixedPointNetwork(16, pops, [conv])


def conv_network(seed: int, graded_bias: bool = True) -> tuple[FixedPointNetwork, np.ndarray]:
    """input 2x8x8 -> conv 3x3 stride 1 pad 1 (4 ch) -> sum pool 2x2 (own population) ->
    grouped conv 3x3 stride 2 -> flatten -> dense 5, with a recurrent dense output."""
    rng = np.random.default_rng(seed)

    def lif(size):
        return LIFPopulation(size, du=int(rng.choice([0, 300, 4095])),
                             dv=int(rng.choice([0, 100, 2000])),
                             vth=int(rng.integers(1, 60)),
                             bias_mant=int(rng.integers(-20, 40)) if graded_bias else 0,
                             bias_exp=int(rng.integers(0, 3)))

    c1 = Projection.conv2d("input", "c1", rng.integers(-60, 128, (4, 2, 3, 3)) * 2,
                           (2, 8, 8), padding=1, weight_exp=int(rng.integers(-1, 3)))
    pool = Projection.conv2d("c1", "pool", np.ones((4, 1, 2, 2), dtype=int) * 64,
                             (4, 8, 8), stride=2, groups=4)
    c2 = Projection.conv2d("pool", "c2", rng.integers(-100, 128, (4, 2, 3, 3)) * 2,
                           (4, 4, 4), stride=2, padding=1, groups=2,
                           weight_exp=int(rng.integers(-2, 2)))
    n_c2 = int(np.prod(c2.conv.out_shape))
    dense = Projection("c2", "out", rng.integers(-128, 128, (5, n_c2)) * 2, weight_exp=1)
    rec = Projection("out", "out", rng.integers(-128, 128, (5, 5)) * 2, delays=2)
    pops = {"c1": lif(4 * 8 * 8), "pool": lif(4 * 4 * 4), "c2": lif(n_c2), "out": lif(5)}
    net = FixedPointNetwork(2 * 8 * 8, pops, [c1, pool, c2, dense, rec], outputs=["out"])
    x = rng.random((2, 30, 2 * 8 * 8)) < rng.choice([0.1, 0.3])
    return net, x


def test_storage_keeps_the_convolution(tmp_path):
    net, _ = conv_network(0)
    back = load_network(save_network(net, tmp_path / "net.npz"))
    for a, b in zip(net.projections, back.projections, strict=True):
        assert (a.conv is None) == (b.conv is None)
        np.testing.assert_array_equal(a.weights, b.weights)
        if a.conv is not None:
            np.testing.assert_array_equal(a.conv.kernel, b.conv.kernel)
            assert (a.conv.in_shape, a.conv.stride, a.conv.padding, a.conv.dilation,
                    a.conv.groups) == (b.conv.in_shape, b.conv.stride, b.conv.padding,
                                       b.conv.dilation, b.conv.groups)


def test_lint_counts_a_convolutions_synapses_and_fan_in():
    """conv 2 -> 4 channels, 3x3, padding 1, on 8x8, no zero in the kernel: an interior
    neuron has 2 * 3 * 3 = 18 inputs; per axis the 8 outputs see 8 * 3 - 2 = 22 taps, so
    4 * 2 * 22 * 22 = 3872 synapses."""
    conv = Projection.conv2d("input", "h", np.full((4, 2, 3, 3), 6), (2, 8, 8), padding=1)
    net = FixedPointNetwork(128, {"h": LIFPopulation(256, du=0, dv=0, vth=10)}, [conv])
    report = lint_network(net)
    assert not report.violations
    assert report.estimates["synapses"] == 3872
    assert report.estimates["fan_in"]["h"] == 18


@pytest.mark.parametrize("target", ["torch-int", "onnx"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integer_backends_equal_the_reference(target, seed):
    net, x = conv_network(seed)
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate(net, x, target=target, record=RECORD)
    assert_same_traces(ref, got, net.populations, got_name=target)
    assert ref.spikes["c2"].any() and ref.spikes["pool"].any()


@pytest.mark.lava
@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_reference_equals_lava_on_random_convolutional_networks(seed):
    net, x = conv_network(seed)
    lava = simulate(net, x, target="lava", record=RECORD)
    for target in ("reference", "torch-int", "onnx"):
        got = simulate(net, x, target=target, record=RECORD)
        assert_same_traces(lava, got, net.populations, expected_name="lava", got_name=target)
    samples_first = ReferencePlan(net, compiled=True)  # what large runs take
    assert set(samples_first.by_sample) == {"c1", "pool", "c2"}
    assert_same_traces(lava, samples_first.run(x, record=RECORD), net.populations,
                       expected_name="lava", got_name="reference, samples first")


def test_mixed_kernel_off_grid_is_refused_with_lavas_value():
    """A mixed-sign kernel with an odd value: the weights check names Lava's rounding."""
    k = np.array([[[[3, -2]]]])
    with pytest.raises(NetworkValidationError, match="Lava would change it to 2"):
        Projection.conv2d("input", "h", k, (1, 1, 2))
    assert fp.lava_weight_transform(np.array(3), "mixed") == 2


def graded_network(seed: int) -> tuple[FixedPointNetwork, np.ndarray]:
    """Event-count frames (0..7 per channel and step) into a conv layer and a dense one."""
    rng = np.random.default_rng(seed)
    conv = Projection.conv2d("input", "c", rng.integers(-30, 64, (3, 2, 3, 3)) * 2,
                             (2, 6, 6), padding=1, weight_exp=-1)
    dense = Projection("c", "o", rng.integers(-128, 128, (4, 108)) * 2)
    net = FixedPointNetwork(72, {"c": LIFPopulation(108, du=200, dv=100, vth=40),
                                 "o": LIFPopulation(4, du=0, dv=300, vth=20)},
                            [conv, dense], input_max=7)
    counts = rng.integers(0, 8, (2, 25, 72)) * (rng.random((2, 25, 72)) < 0.3)
    return net, counts


def test_graded_input_counts_multiply_the_weights():
    """One input channel with count 3 at step 0: the neuron behind it gets 3 * w << 6 at
    step 1 (hand-computed), where a binary network would get w << 6."""
    net = FixedPointNetwork(1, {"h": LIFPopulation(1, du=4095, dv=4095, vth=131071)},
                            [Projection("input", "h", [[10]])], input_max=3)
    x = np.zeros((1, 3, 1), dtype=np.int64)
    x[0, 0, 0] = 3
    for target in ("reference", "torch-int", "onnx"):
        tr = simulate(net, x, target=target, record=("spikes", "u"))
        assert tr.u["h"][0, :, 0].tolist() == [0, 3 * 10 << 6, 0], target
    with pytest.raises(Exception, match=r"integer counts 0..3 \(input_max\)"):
        simulate(net, x + 1, target="reference")
    with pytest.raises(NetworkValidationError, match=r"input_max = 256 is out of range; "
                                                     r"allowed 1..255"):
        FixedPointNetwork(1, net.populations, net.projections, input_max=256)


@pytest.mark.parametrize("target", ["torch-int", "onnx",
                                    pytest.param("lava", marks=pytest.mark.lava)])
def test_graded_input_is_bit_exact_on_every_backend(target):
    net, x = graded_network(0)
    ref = simulate(net, x, target="reference", record=RECORD)
    got = simulate(net, x, target=target, record=RECORD)
    assert_same_traces(ref, got, net.populations, got_name=target)
    assert ref.spikes["o"].any()


def test_graded_input_survives_storage(tmp_path):
    net, _ = graded_network(1)
    assert load_network(save_network(net, tmp_path / "g.npz")).input_max == 7


def test_qat_forward_takes_graded_input_exactly():
    rng = np.random.default_rng(3)
    net = FixedPointNetwork(6, {"h": LIFPopulation(5, du=100, dv=200, vth=30),
                                "o": LIFPopulation(2, du=0, dv=100, vth=10)},
                            [Projection("input", "h", rng.integers(-128, 128, (5, 6)) * 2),
                             Projection("h", "o", rng.integers(0, 256, (2, 5)))],
                            outputs=["o"], input_max=15)
    x = rng.integers(0, 16, (3, 30, 6)) * (rng.random((3, 30, 6)) < 0.4)
    qnet = QATNetwork(net, "count", dict.fromkeys(net.populations, 1.0))
    assert_same_traces(simulate(net, x, record=RECORD), qnet.simulate(x), net.populations,
                       got_name="qat")


def samples_first_case(seed: int, fan_in: bool, wrap: bool, graded: bool, batch: int,
                       steps: int) -> tuple[FixedPointNetwork, np.ndarray]:
    """:func:`conv_network` with variants that take each branch of the reference's
    samples-first path: ``fan_in`` adds a dense projection c1 -> c2 (c2 then steps
    neurons first, its convolution reading pool's samples-first window); ``wrap`` gives c1
    int32 emulation (weight_exp 7); ``graded`` makes the input counts 0..3; c1 resets every
    7 steps."""
    net, _ = conv_network(seed)
    rng = np.random.default_rng(seed + 1)
    pops = dict(net.populations)
    pops["c1"] = replace(pops["c1"], reset_interval=7, reset_offset=int(rng.integers(0, 7)))
    projections = list(net.projections)
    if wrap:
        projections[0] = replace(projections[0], weight_exp=7)
    if fan_in:
        projections.append(Projection("c1", "c2", rng.integers(-20, 21, (pops["c2"].size,
                                                                         pops["c1"].size)) * 2))
    net = FixedPointNetwork(net.n_inputs, pops, projections, outputs=["out"],
                            input_max=3 if graded else 1)
    x = rng.random((batch, steps, net.n_inputs)) < rng.choice([0.1, 0.3])
    if graded:
        x = x * rng.integers(1, 4, x.shape)
    return net, x


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fan_in=st.booleans(), wrap=st.booleans(),
       graded=st.booleans(), batch=st.sampled_from([1, 3, 34]), steps=st.integers(1, 40),
       block=st.sampled_from([1, 6, 16]), subset=st.booleans())
def test_the_samples_first_step_equals_the_numpy_step(seed, fan_in, wrap, graded, batch,
                                                      steps, block, subset):
    """Populations fed by one convolution step samples first in the compiled reference (no
    transposes); the numpy step (neurons first, tested against Lava) gives the same
    integers, over blocks, threads, windows that move between blocks, resets and int32
    emulation, recording every population or some."""
    net, x = samples_first_case(seed, fan_in, wrap, graded, batch, steps)
    compiled = ReferencePlan(net, block_steps=block, compiled=True)
    assert set(compiled.by_sample) == ({"c1", "pool"} if fan_in else {"c1", "pool", "c2"})
    assert compiled.pops["c1"].emulate_int32 == wrap
    wanted = ["c2", "out"] if subset else None
    got = compiled.run(x, record=RECORD, populations=wanted)
    want = ReferencePlan(net, block_steps=block, compiled=False).run(x, record=RECORD,
                                                                     populations=wanted)
    assert_same_traces(want, got, wanted or net.populations, got_name="samples first")
