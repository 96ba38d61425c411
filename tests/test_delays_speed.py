"""The fast delay paths (models/delays.py) against the plain definitions, values and gradients.

References written here from the definition, not from the code under test: a delay d moves a
channel by the triangular kernel ``h_d[j] = max(0, 1 - |j - d|)`` over taps j = 0..max_delay+1
(``y(t) = sum_j h_d[j] x(t - hop - j)``), then the weights. Time-major tensors, 0-based steps.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurodeploy.models import delays as dl
from neurodeploy.models import events
from neurodeploy.models.layers import LIFLayer

MAX_DELAY = 9


def _triangle(d: torch.Tensor) -> torch.Tensor:
    taps = torch.arange(MAX_DELAY + 2, dtype=d.dtype)
    return torch.relu(1.0 - (taps - d.unsqueeze(-1)).abs())


def _shifted(x: torch.Tensor, s: int) -> torch.Tensor:
    """x(t - s), zero before step 0."""
    if s == 0:
        return x
    return torch.cat([x.new_zeros((min(s, x.shape[0]), *x.shape[1:])), x[:max(x.shape[0] - s,
                                                                              0)]])


def reference_axonal(x, w, d, hop):
    h = _triangle(d)  # (channels, taps)
    y = sum(h[:, j] * _shifted(x, hop + j) for j in range(MAX_DELAY + 2))
    return y @ w.t()


def reference_synaptic(x, w, d, hop):
    h = w.unsqueeze(-1) * _triangle(d)  # (out, in, taps)
    return sum(_shifted(x, hop + j) @ h[:, :, j].t() for j in range(MAX_DELAY + 2))


def _inputs(kind: str, steps=23, batch=3, n_in=7, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(steps, batch, n_in, generator=gen, dtype=dtype)
    if kind == "spikes":  # sparse 0/1: the event path
        x = (u < 0.1).to(dtype)
    elif kind == "sparse_real":  # sparse real values: the event path with weights
        x = torch.where(u < 0.1, u * 20.0, torch.zeros_like(u))
    else:  # dense real values: the matrix path
        x = u
    return x


def _fractional(shape, gen, dtype=torch.float64):
    # away from the integers: the triangle's kinks, where the reference has another slope
    d = torch.randint(0, MAX_DELAY, shape, generator=gen).to(dtype)
    return d + 0.05 + 0.9 * torch.rand(shape, generator=gen, dtype=dtype)


def _grads(out, leaves, probe):
    return torch.autograd.grad((out * probe).sum(), leaves)


@pytest.mark.parametrize("kind", ["spikes", "sparse_real", "dense"])
@pytest.mark.parametrize("hop", [0, 1])
def test_synaptic_current_equals_the_triangle_kernel_convolution(kind, hop):
    gen = torch.Generator().manual_seed(1)
    x = _inputs(kind).requires_grad_(True)
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64).requires_grad_(True)
    d = _fractional((5, 7), gen).requires_grad_(True)
    probe = torch.randn(23, 3, 5, generator=gen, dtype=torch.float64)
    got = dl.synaptic_current(x, w, d, MAX_DELAY, hop)
    want = reference_synaptic(x, w, d, hop)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(_grads(got, (x, w, d), probe), _grads(want, (x, w, d), probe), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["spikes", "sparse_real", "dense"])
@pytest.mark.parametrize("hop", [0, 1])
def test_axonal_current_equals_the_triangle_kernel_shift(kind, hop):
    gen = torch.Generator().manual_seed(2)
    x = _inputs(kind).requires_grad_(True)
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64).requires_grad_(True)
    d = _fractional((7,), gen)
    d[0] = 0.3  # a delay below one step next to the hop
    d.requires_grad_(True)
    probe = torch.randn(23, 3, 5, generator=gen, dtype=torch.float64)
    want = reference_axonal(x, w, d, hop)
    g_want = _grads(want, (x, w, d), probe)
    for got in (dl.axonal_current(x, w, d, MAX_DELAY, hop),
                dl.shift_axonal(x, d, MAX_DELAY, hop) @ w.t()):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        for a, b in zip(_grads(got, (x, w, d), probe), g_want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_axonal_delay_gradient_at_an_integer_delay_is_the_right_derivative():
    # at d = k exactly, dy/dd = x(t - k - 1) - x(t - k) (f = d - floor(d) moves right)
    gen = torch.Generator().manual_seed(3)
    x = _inputs("spikes")
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    d = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 8.0, 9.0], dtype=torch.float64,
                     requires_grad=True)
    probe = torch.randn(23, 3, 5, generator=gen, dtype=torch.float64)
    for hop in (0, 1):
        got = dl.axonal_current(x, w, d, MAX_DELAY, hop)
        (g_d,) = torch.autograd.grad((got * probe).sum(), (d,))
        g_y = probe @ w  # gradient w.r.t. the shifted input, per channel
        for c, k in enumerate(d.detach().long().tolist()):
            slope = _shifted(x[:, :, c], hop + k + 1) - _shifted(x[:, :, c], hop + k)
            assert g_d[c].item() == pytest.approx(float((g_y[:, :, c] * slope).sum()),
                                                  rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("kind", ["none", "axonal", "synaptic"])
@pytest.mark.parametrize("hop_latency", [True, False])
def test_layer_current_equals_the_reference_with_its_hop(kind, hop_latency):
    gen = torch.Generator().manual_seed(4)
    layer = LIFLayer(7, 5, delays=kind, max_delay=MAX_DELAY, hop_latency=hop_latency,
                     delay_init=6.0, generator=gen).double()
    x = _inputs("spikes", seed=4).transpose(0, 1).contiguous().transpose(0, 1)  # strided
    x.requires_grad_(True)
    probe = torch.randn(23, 3, 5, generator=gen, dtype=torch.float64)
    hop = int(hop_latency)
    leaves = [x, layer.weight] + ([layer.delay] if layer.delay is not None else [])
    got = layer.input_current(x)
    if kind == "none":
        want = _shifted(x, hop) @ layer.weight.t()
    else:
        d = layer.delay.clamp(0.0, float(MAX_DELAY))
        ref = reference_axonal if kind == "axonal" else reference_synaptic
        want = ref(x, layer.weight, d, hop)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(_grads(got, leaves, probe), _grads(want, leaves, probe), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["axonal", "synaptic"])
def test_integer_delays_round_half_to_even_and_clamp_without_a_delay_gradient(kind):
    gen = torch.Generator().manual_seed(5)
    layer = LIFLayer(6, 4, delays=kind, max_delay=MAX_DELAY, generator=gen).double()
    raw = torch.tensor([-1.0, 0.5, 1.5, 2.49, 2.51, 70.0], dtype=torch.float64)
    rounded = torch.tensor([0.0, 0.0, 2.0, 2.0, 3.0, 9.0], dtype=torch.float64)  # by hand
    with torch.no_grad():
        layer.delay.copy_(raw if kind == "axonal" else raw.expand(4, 6))
    layer.integer_delays = True
    x = _inputs("spikes", n_in=6, seed=5).requires_grad_(True)
    got = layer.input_current(x)
    d = rounded if kind == "axonal" else rounded.expand(4, 6)
    ref = reference_axonal if kind == "axonal" else reference_synaptic
    want = ref(x, layer.weight, d, 1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    got.sum().backward()
    assert layer.delay.grad is None or not layer.delay.grad.any()
    assert layer.weight.grad is not None and x.grad is not None


def test_delays_longer_than_the_sample_give_zero_current_and_gradients():
    x = torch.ones(4, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    d = torch.full((3,), 6.5, dtype=torch.float64, requires_grad=True)
    for out in (dl.axonal_current(x, w, d, MAX_DELAY, 1),
                dl.synaptic_current(x, w, d.expand(2, 3), MAX_DELAY, 1)):
        assert not out.any()
        grads = torch.autograd.grad(out.sum(), (x, w, d))
        assert all(not g.any() for g in grads)


def test_event_and_matrix_paths_agree_in_float32():
    # the same synaptic current from spikes (event path) and from the same values made
    # dense by a tiny offset taken back out (matrix path)
    gen = torch.Generator().manual_seed(6)
    x = _inputs("spikes", steps=40, batch=8, n_in=16, dtype=torch.float32, seed=6)
    w = torch.randn(9, 16, generator=gen)
    d = _fractional((9, 16), gen, torch.float32)
    eps = 1.0
    dense = x + eps  # every entry nonzero: matrix path
    shift = dl.synaptic_current(torch.full_like(x, eps), w, d, MAX_DELAY, 1)
    got_events = dl.synaptic_current(x, w, d, MAX_DELAY, 1)
    got_dense = dl.synaptic_current(dense, w, d, MAX_DELAY, 1) - shift
    want = reference_synaptic(x.double(), w.double(), d.double(), 1).float()
    torch.testing.assert_close(got_events, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_dense, want, rtol=1e-4, atol=1e-4)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 12), st.integers(1, 9), st.integers(1, 12), st.floats(0.0, 1.0),
       st.sampled_from([torch.float32, torch.float64]), st.integers(0, 2**32 - 1),
       st.floats(0.0, 1.0))
def test_compiled_events_are_torchs_event_for_event(steps, batch, channels, density, dtype,
                                                    seed, share):
    """The CPU's compiled event grouping (models/events.py) gives the arrays that torch's
    nonzero, stable argsort and bincount give (the realisation other devices run), in the
    same order (embedding bags then sum in the same order: the same float rounding), and the
    same refusal beyond the limit; regrouped by channel likewise."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, batch, channels, generator=gen) < density).to(dtype) * torch.randint(
        1, 4, (steps, batch, channels), generator=gen).to(dtype)
    shift = torch.randint(0, steps + 2, (channels,), generator=gen)
    limit = int(share * x.numel())
    want, got = dl.shifted_events_torch(x, shift, limit), events.shifted_events(x, shift, limit)
    assert (got is None) == (int(torch.count_nonzero(x)) > limit)
    assert (want is None) == (got is None)
    if got is None:
        return
    for a, b in zip(want, got, strict=True):
        assert a.dtype == b.dtype
        assert torch.equal(a, b)
    rows, cols, values, _ = got
    for a, b in zip(dl.by_channel_torch(cols, rows, values, channels),
                    events.by_channel(cols, rows, values, channels), strict=True):
        assert torch.equal(a, b)
