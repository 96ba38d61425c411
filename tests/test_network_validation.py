"""Construction rejects every out-of-range or malformed value with one naming message."""

import numpy as np
import pytest

from neurodeploy import FixedPointNetwork, LIFPopulation, NetworkValidationError, Projection
from neurodeploy.network_io import load_network, save_network


def pop(size=3, **kw):
    params = dict(du=4095, dv=163, vth=25)
    params.update(kw)
    return LIFPopulation(size=size, **params)


def net(projections=None, populations=None, n_inputs=4, outputs=None):
    populations = populations if populations is not None else {"h": pop()}
    if projections is None:
        projections = [Projection("input", "h", np.ones((3, 4), int) * 2)]
    return FixedPointNetwork(n_inputs, populations, projections, outputs=outputs)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("du", 4096, "du = 4096 is out of range; allowed 0..4095"),
        ("dv", -1, "dv = -1 is out of range; allowed 0..4095"),
        ("vth", 131072, "vth = 131072 is out of range; allowed 0..131071"),
        ("bias_mant", 4096, "bias_mant = 4096 is out of range; allowed -4096..4095"),
        ("bias_exp", 8, "bias_exp = 8 is out of range; allowed -8..7"),
        ("vth", np.array([1, 2, 200000]), "vth[2] = 200000 is out of range"),
        ("du", 1.5, "du = 1.5 is not an integer"),
        ("dv", np.array([1, 2]), "dv has shape (2,); expected a scalar or (3,)"),
    ],
)
def test_population_ranges_name_the_field(field, value, needle):
    with pytest.raises(NetworkValidationError, match=needle.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        pop(**{field: value})


def test_population_error_names_the_population_inside_a_network():
    with pytest.raises(NetworkValidationError, match=r"population 'hidden': dv = 5000"):
        LIFPopulation(size=2, du=0, dv=5000, vth=1, name="hidden")


def test_population_size_must_be_positive():
    with pytest.raises(NetworkValidationError, match="size = 0 must be an integer >= 1"):
        pop(size=0)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(weights=np.full((3, 4), 3), sign_mode="mixed"), r"weights\[0, 0\] = 3 is not on the Loihi 2 grid"),
        (dict(weights=np.full((3, 4), 300)), r"weights\[0, 0\] = 300 is out of range; allowed 0\.\.255"),
        (dict(weights=np.full((3, 4), 0.5)), r"weights\[0, 0\] = 0\.5 is not an integer"),
        (dict(weights=np.full((3, 4), 2), weight_exp=8), r"weight_exp = 8 is out of range; allowed -8\.\.7"),
        (dict(weights=np.full((3, 4), 2), num_weight_bits=9), r"num_weight_bits = 9 is out of range"),
        (dict(weights=np.full((3, 4), 2), delays=63), r"delays = 63 is out of range; allowed 0\.\.62"),
        (dict(weights=np.full((3, 4), 2), delays=np.arange(5)), r"delays has shape \(5,\)"),
        (dict(weights=np.full((3, 4), 2), sign_mode="both"), r"sign_mode = 'both' is not one of"),
        (dict(weights=np.full((3, 4), -2), sign_mode="excitatory"), r"weights\[0, 0\] = -2 is out of range; allowed 0\.\.255 for sign_mode excitatory"),
        (dict(weights=np.full((3, 4), 4), num_weight_bits=5), r"weights\[0, 0\] = 4 is not on the Loihi 2 grid; allowed multiples of 8"),
    ],
)
def test_projection_checks_name_projection_and_field(kwargs, needle):
    with pytest.raises(NetworkValidationError, match=r"projection 'input->h': " + needle):
        Projection("input", "h", **kwargs)


def test_mixed_odd_weight_reports_what_lava_would_make_of_it():
    w = np.array([[2, -3]])
    with pytest.raises(NetworkValidationError, match=r"weights\[0, 1\] = -3 is not on the Loihi 2 grid.*Lava would change it to -4"):
        Projection("input", "h", w)


def test_weight_shape_must_match_population_sizes():
    with pytest.raises(NetworkValidationError,
                       match=r"projection 'input->h': weights has shape \(3, 5\); expected \(3, 4\)"):
        net([Projection("input", "h", np.zeros((3, 5), int))])


def test_unknown_population_names_are_reported():
    with pytest.raises(NetworkValidationError, match=r"dst = 'out' is not a population"):
        net([Projection("input", "out", np.zeros((3, 4), int))])
    with pytest.raises(NetworkValidationError, match=r"outputs names unknown population 'o'"):
        net(outputs=["o"])


def test_empty_network_is_rejected():
    with pytest.raises(NetworkValidationError, match="populations is empty"):
        FixedPointNetwork(4, {}, [])


def test_bad_population_name_and_input_as_destination():
    with pytest.raises(NetworkValidationError, match="population name 'input' is not allowed"):
        net(populations={"input": pop()}, projections=[])
    with pytest.raises(NetworkValidationError, match="dst = 'input' is not allowed"):
        Projection("h", "input", np.zeros((4, 3), int))


def test_sign_mode_inferred_as_lava_does():
    assert Projection("input", "h", np.array([[0, 2]])).sign_mode == "excitatory"
    assert Projection("input", "h", np.array([[0, -3]])).sign_mode == "inhibitory"
    assert Projection("input", "h", np.array([[-2, 2]])).sign_mode == "mixed"
    assert Projection("input", "h", np.zeros((1, 2), int)).sign_mode == "excitatory"


def test_delay_forms_expand_to_the_same_matrix():
    w = np.full((2, 3), 2)
    assert (Projection("input", "h", w, delays=4).delay_matrix() == 4).all()
    axonal = Projection("input", "h", w, delays=[0, 1, 62]).delay_matrix()
    assert axonal.tolist() == [[0, 1, 62], [0, 1, 62]]
    assert Projection("input", "h", w).delay_matrix().sum() == 0


def test_recurrent_components_in_topological_order():
    pops = {name: pop(size=2) for name in ("a", "b", "c", "d")}
    w = np.full((2, 2), 2)
    projs = [
        Projection("input", "a", np.full((2, 4), 2)),
        Projection("a", "b", w), Projection("b", "c", w), Projection("c", "b", w),
        Projection("c", "d", w), Projection("d", "d", w),
    ]
    order = net(projs, pops).strongly_connected_order()
    assert order == [["a"], ["b", "c"], ["d"]]


def test_network_file_round_trip_is_exact(tmp_path):
    original = net(
        [Projection("input", "h", np.array([[4, -8, 0, 252]] * 3), weight_exp=-3,
                    delays=np.arange(12).reshape(3, 4), num_weight_bits=7),
         Projection("h", "h", np.full((3, 3), -5), delays=[1, 2, 3], name="rec")],
        {"h": pop(du=[1, 2, 3], bias_mant=-7, bias_exp=[-8, 0, 7])},
    )
    path = save_network(original, tmp_path / "net.npz")
    loaded = load_network(path)
    assert loaded.n_inputs == original.n_inputs and loaded.outputs == original.outputs
    for name, p in original.populations.items():
        for field in LIFPopulation.PARAMETERS:
            assert (loaded.populations[name].param(field) == p.param(field)).all()
    for a, b in zip(original.projections, loaded.projections, strict=True):
        assert (a.src, a.dst, a.name, a.weight_exp, a.num_weight_bits, a.sign_mode) == (
            b.src, b.dst, b.name, b.weight_exp, b.num_weight_bits, b.sign_mode)
        assert (a.weights == b.weights).all() and (a.delay_matrix() == b.delay_matrix()).all()
        assert a.delay_kind == b.delay_kind
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file
