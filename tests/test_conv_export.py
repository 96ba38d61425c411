"""NIR export of convolutional networks: a convolutional projection is written as a
``nir.Conv2d`` node (float kernel; the exact integers and geometry in its ``neurodeploy``
metadata), and export -> import is the identity on the integers, the convolution kinds
and their geometry. NIR's type check holds where NIR can say the shapes; a dense
projection into a (C, H, W) population from a source that nothing feeds is written as a
Conv2d on the source shaped (n, 1, 1), checked here against ``Conv2d.expand``.
"""

import dataclasses

import nir
import numpy as np
import pytest

from neurodeploy.errors import InputError, NetworkValidationError
from neurodeploy.exchange.nir_export import (
    fixed_point_network_to_nir,
    float_network_to_nir,
    write_nir,
)
from neurodeploy.exchange.nir_import import import_nir
from neurodeploy.float_network import FloatNetwork, FloatPopulation, FloatProjection, dequantize
from neurodeploy.network import Conv2d, FixedPointNetwork, LIFPopulation, Projection

DT = 1e-3


def _population(rng: np.random.Generator, size: int) -> LIFPopulation:
    return LIFPopulation(size, du=rng.integers(0, 4096, size), dv=rng.integers(0, 4096, size),
                         vth=rng.integers(0, 2000, size), bias_mant=rng.integers(-50, 50, size),
                         bias_exp=rng.integers(0, 3, size))


def _kernel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return 2 * rng.integers(-128, 128, shape)  # the mixed 8-bit grid (even integers)


def conv_network(seed: int, recurrent: bool = False, square: bool = False
                 ) -> FixedPointNetwork:
    """input (C, H, W) -> conv -> a -> conv -> b -> dense (per-synapse delays) -> c, and a
    source that nothing feeds ("bias") with a delayed dense projection into a; with
    ``recurrent``, a dense recurrence on a (a population that feeds a convolution); with
    ``square``, square images and kernels, one group (what NIR 1.0 types correctly)."""
    rng = np.random.default_rng(seed)
    c_in, groups = int(rng.choice([2, 4])), 1 if square else int(rng.choice([1, 2]))
    h, kh = int(rng.integers(6, 10)), int(rng.integers(1, 4))
    w, kw = (h, kh) if square else (int(rng.integers(6, 10)), int(rng.integers(1, 4)))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    if not square:
        stride, padding = (stride, int(rng.integers(1, 3))), (padding, int(rng.integers(0, 2)))
    in_shape = (c_in, h, w)
    conv_a = Conv2d(_kernel(rng, (2 * groups, c_in // groups, kh, kw)), in_shape,
                    stride=stride, padding=padding, dilation=int(rng.integers(1, 3)),
                    groups=groups)
    conv_a.check("test")
    conv_b = Conv2d(_kernel(rng, (3, 2 * groups, 3, 3)), conv_a.out_shape, padding=1)
    conv_b.check("test")
    n_a, n_b = (int(np.prod(s)) for s in (conv_a.out_shape, conv_b.out_shape))
    pops = {"a": _population(rng, n_a), "b": _population(rng, n_b), "c": _population(rng, 5),
            "bias": LIFPopulation(1, du=4095, dv=4095, vth=0, bias_mant=1)}
    projs = [
        Projection.conv2d("input", "a", conv_a.kernel, in_shape, conv_a.stride, conv_a.padding,
                          conv_a.dilation, conv_a.groups, weight_exp=int(rng.integers(-2, 3))),
        Projection("bias", "a", _kernel(rng, (n_a, 1)), weight_exp=1, delays=2),
        Projection.conv2d("a", "b", conv_b.kernel, conv_b.in_shape, padding=1, name="ab"),
        Projection("b", "c", _kernel(rng, (5, n_b)), delays=rng.integers(0, 3, (5, n_b))),
    ]
    if recurrent:
        projs.append(Projection("a", "a", _kernel(rng, (n_a, n_a)), weight_exp=-1))
    return FixedPointNetwork(int(np.prod(in_shape)), pops, projs, outputs=["c"])


def _same_fixed(net: FixedPointNetwork, back: FixedPointNetwork) -> None:
    assert sorted(back.populations) == sorted(net.populations)
    for name, pop in net.populations.items():
        for k in pop.PARAMETERS:
            np.testing.assert_array_equal(back.populations[name].param(k), pop.param(k))
    assert len(back.projections) == len(net.projections)
    for p, q in zip(net.projections, back.projections, strict=True):
        assert (q.src, q.dst, q.name, q.weight_exp, q.sign_mode) == (
            p.src, p.dst, p.name, p.weight_exp, p.sign_mode)
        np.testing.assert_array_equal(q.weights, p.weights)
        np.testing.assert_array_equal(q.delay_matrix(), p.delay_matrix())
        assert (q.conv is None) == (p.conv is None)
        if p.conv is not None:
            np.testing.assert_array_equal(q.conv.kernel, p.conv.kernel)
            for attr in ("in_shape", "stride", "padding", "dilation", "groups"):
                assert getattr(q.conv, attr) == getattr(p.conv, attr), attr


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fixed_point_conv_network_round_trips_exactly(seed, tmp_path):
    net = conv_network(seed, recurrent=seed == 3)
    graph = fixed_point_network_to_nir(net, DT)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds["p0.w"] == kinds["p2.w"] == "Conv2d"
    # b is (C, H, W): its dense projection (a branch per delay value) flattens it first
    assert {kinds[k] for k in kinds if k.startswith("p3.") and k.endswith(".flat")} == {"Flatten"}
    if seed != 3:  # a dense recurrence into a population that feeds a convolution: untyped
        assert graph.check_types()
    write_nir(graph, tmp_path / "conv.nir")
    imported = import_nir(tmp_path / "conv.nir")
    assert imported.kind == "fixed_point"
    _same_fixed(net, imported.network)


def test_conv_nodes_carry_the_kernel_in_lsb_units_and_full_convs_expand_to_the_weights():
    net = conv_network(0)
    graph = fixed_point_network_to_nir(net, DT)
    conv, act = net.projections[0], 64.0
    node = graph.nodes["p0.w"]
    np.testing.assert_array_equal(node.weight, conv.conv.kernel * 2.0**conv.weight_exp * act)
    assert tuple(node.stride) == conv.conv.stride and node.groups == conv.conv.groups
    assert graph.nodes["a"].v_threshold.shape == conv.conv.out_shape
    # the dense bias -> a projection, a Conv2d on the source shaped (1, 1, 1)
    full, dense = graph.nodes["p1.w"], net.projections[1]
    geometry = Conv2d(np.zeros(full.weight.shape, np.int64), (1, 1, 1),
                      padding=tuple(full.padding))
    geometry.check("test")
    np.testing.assert_array_equal(geometry.expand(full.weight),
                                  dense.weights * 2.0**dense.weight_exp * act)
    assert graph.nodes["p1.delay"].delay.shape == (1, 1, 1)


def test_a_standard_reader_sees_conv2d_nodes(tmp_path):
    net = conv_network(4, square=True)
    path = tmp_path / "conv.nir"
    write_nir(fixed_point_network_to_nir(net, DT), path)
    graph = nir.read(path)  # NIR's own type check on
    convs = sorted(n for n, x in graph.nodes.items() if isinstance(x, nir.Conv2d))
    assert convs == ["p0.w", "p1.w", "p2.w"]
    assert all(isinstance(x, nir.Linear) for n, x in graph.nodes.items()
               if n.startswith("p3.") and n.endswith(".w"))
    assert graph.nodes["a"].input_type["input"].tolist() == list(net.projections[0].conv.out_shape)


def test_float_conv_network_round_trips_exactly(tmp_path):
    fnet = dequantize(conv_network(1))
    projs = list(fnet.projections)
    out_ch, oh, ow = projs[2].conv.out_shape
    projs[2] = dataclasses.replace(projs[2], bias=np.repeat(np.arange(out_ch) - 1.5, oh * ow))
    fnet = FloatNetwork(fnet.n_inputs, fnet.populations, projs, outputs=["c"], dt=DT)
    write_nir(float_network_to_nir(fnet), tmp_path / "f.nir")
    back = import_nir(tmp_path / "f.nir").network
    for p, q in zip(fnet.projections, back.projections, strict=True):
        np.testing.assert_array_equal(q.weights, p.weights)
        assert (q.bias is None) == (p.bias is None)
        if p.bias is not None:
            np.testing.assert_array_equal(q.bias, p.bias)
        assert (q.conv is None) == (p.conv is None)
        if p.conv is not None:
            np.testing.assert_array_equal(q.conv.kernel, p.conv.kernel)
            assert (q.conv.in_shape, q.conv.stride) == (p.conv.in_shape, p.conv.stride)


def test_conv_errors_are_one_line():
    conv = Conv2d(np.zeros((1, 1, 2, 2), np.int64), (1, 3, 3))
    conv.check("test")
    conv = dataclasses.replace(conv, kernel=np.full((1, 1, 2, 2), 0.5))
    weights = conv.expand(conv.kernel)
    with pytest.raises(NetworkValidationError, match=r"delays .* allowed None"):
        FloatProjection("input", "a", weights, delays=1, conv=conv)
    with pytest.raises(NetworkValidationError, match="not the convolution's expansion"):
        FloatProjection("input", "a", weights * 2, conv=conv)
    pop = {"a": FloatPopulation(4, du=1.0, dv=0.0, vth=1.0)}
    bad = FloatNetwork(9, pop, [FloatProjection("input", "a", weights, bias=np.arange(4.0),
                                                conv=conv)], dt=DT)
    with pytest.raises(InputError, match="one value per output channel"):
        float_network_to_nir(bad)
