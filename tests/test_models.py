"""Torch models: surrogates, stochastic neurons, delays, the fused LIF scan."""

import math

import pytest
import torch

from neurodeploy.models.delays import shift_axonal, synaptic_current
from neurodeploy.models.layers import LIFLayer
from neurodeploy.models.neurons import LIFParameters, LIFState, lif_step
from neurodeploy.models.scan import lif_scan
from neurodeploy.models.surrogates import SpikeFn

X = torch.linspace(-2, 2, 41, dtype=torch.float64)
ANALYTIC = {  # written from the formulas, not from the code under test
    "superspike": lambda x, b: 1 / (b * abs(x) + 1) ** 2,
    "sigmoid": lambda x, b: b * math.exp(-b * x) / (1 + math.exp(-b * x)) ** 2,
    "arctan": lambda x, b: b / (math.pi * (1 + (b * x) ** 2)),
    "exponential": lambda x, b: 0.01 * b * math.exp(b * x) if 0.01 * math.exp(b * x) < 1 else 0.0,
}


@pytest.mark.parametrize("kind", list(ANALYTIC))
@pytest.mark.parametrize("beta", [2.0, 10.0])
def test_surrogate_backward_is_the_analytic_derivative(kind, beta):
    x = X.clone().requires_grad_(True)
    s = SpikeFn(kind, beta)(x, training=True)
    assert torch.equal(s, (X > 0).to(s.dtype))  # forward: strict Heaviside
    s.sum().backward()
    expected = torch.tensor([ANALYTIC[kind](float(v), beta) for v in X], dtype=torch.float64)
    torch.testing.assert_close(x.grad, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["sigmoid", "exponential"])
def test_stochastic_spike_probability_matches_the_escape_function(kind):
    torch.manual_seed(0)
    beta = 4.0
    x = torch.linspace(-1.0, 0.5, 7).repeat(20000, 1)
    fn = SpikeFn(kind, beta, stochastic=True)
    rate = fn(x, training=True).mean(dim=0)
    p = (torch.sigmoid(beta * x[0]) if kind == "sigmoid"
         else torch.clamp(0.01 * torch.exp(beta * x[0]), max=1.0))
    assert torch.all((rate - p).abs() < 4 * torch.sqrt(p * (1 - p) / 20000) + 1e-3)
    assert torch.equal(fn(x[:1], training=False), (x[:1] > 0).float())  # deterministic in eval


def test_stochastic_needs_an_escape_function():
    from neurodeploy.errors import InputError

    with pytest.raises(InputError, match="has no escape function"):
        SpikeFn("superspike", stochastic=True)


@pytest.mark.parametrize("d", [0, 1, 5, 62])
def test_integer_axonal_delay_arrives_d_steps_later_and_d_plus_1_behind_a_projection(d):
    x = torch.zeros(80, 1, 2)
    x[3, 0, 0] = 1.0
    delays = torch.tensor([float(d), 0.0])
    y = shift_axonal(x, delays, 62)
    assert torch.nonzero(y[:, 0, 0]).flatten().tolist() == [3 + d]
    layer = LIFLayer(2, 1, delays="axonal", max_delay=62, du=1.0, dv=1.0, vth=0.5)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0]]))
        layer.delay.copy_(delays)
    spikes, _ = layer(x)
    assert torch.nonzero(spikes[:, 0, 0]).flatten().tolist() == [3 + 1 + d]


def test_fractional_delay_interpolates_and_synaptic_kernel_agrees():
    x = torch.zeros(10, 1, 1)
    x[2] = 1.0
    y = shift_axonal(x, torch.tensor([1.25]), 5)[:, 0, 0]
    assert y[3].item() == pytest.approx(0.75) and y[4].item() == pytest.approx(0.25)
    w = torch.tensor([[2.0]])
    z = synaptic_current(x, w, torch.tensor([[1.25]]), 5)[:, 0, 0]
    torch.testing.assert_close(z, 2 * y)


def test_gradient_flows_into_delays_like_finite_differences():
    torch.manual_seed(1)
    x = (torch.rand(30, 2, 4) < 0.3).double()
    target = torch.randn(30, 2, 4, dtype=torch.float64)
    d = torch.tensor([0.3, 2.6, 4.1, 7.7], dtype=torch.float64, requires_grad=True)

    def loss(delays):
        return ((shift_axonal(x, delays, 10) - target) ** 2).sum()

    loss(d).backward()
    eps = 1e-6
    for i in range(4):
        e = torch.zeros(4, dtype=torch.float64)
        e[i] = eps
        fd = (loss(d.detach() + e) - loss(d.detach() - e)) / (2 * eps)
        assert d.grad[i].item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-8)
    wd = torch.tensor([[0.3, 2.6], [4.1, 7.7]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)

    def syn_loss(delays):
        return ((synaptic_current(x[:, :, :2], w, delays, 10) - target[:, :, :2]) ** 2).sum()

    syn_loss(wd).backward()
    for idx in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        e = torch.zeros(2, 2, dtype=torch.float64)
        e[idx] = eps
        fd = (syn_loss(wd.detach() + e) - syn_loss(wd.detach() - e)) / (2 * eps)
        assert wd.grad[idx].item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("max_delay", [9, 62])
def test_synaptic_current_equals_per_synapse_interpolated_shifts(max_delay):
    # the kernel stops at the largest current delay: values and gradients must not change
    torch.manual_seed(2)
    x = (torch.rand(40, 3, 5) < 0.3).double()
    w = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    d = (torch.rand(4, 5, dtype=torch.float64) * 8.5).requires_grad_(True)
    got = synaptic_current(x, w, d, max_delay)
    # independent: y_i(t) = sum_j w_ij ((1 - f) x_j(t - k) + f x_j(t - k - 1))
    xp = torch.cat([x.new_zeros((max_delay + 2, 3, 5)), x])
    want = x.new_zeros((40, 3, 4))
    for i in range(4):
        for j in range(5):
            k = int(d[i, j].detach().floor())
            f = d[i, j] - k
            near = xp[max_delay + 2 - k: max_delay + 2 - k + 40, :, j]
            far = xp[max_delay + 1 - k: max_delay + 1 - k + 40, :, j]
            want[:, :, i] = want[:, :, i] + w[i, j] * ((1 - f) * near + f * far)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    probe = torch.randn(40, 3, 4, dtype=torch.float64)
    g_got = torch.autograd.grad((got * probe).sum(), (w, d))
    g_want = torch.autograd.grad((want * probe).sum(), (w, d))
    for a, b in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def _reference_scan(current, rec, du, dv, vth, bias, fn, training, detach_reset):
    """Autograd through the functional lif_step: the definition the fused scan must meet."""
    steps, batch, n = current.shape
    state = LIFState(current.new_zeros(batch, n), current.new_zeros(batch, n))
    params = LIFParameters(du, dv, vth, bias)
    s = current.new_zeros(batch, n)
    out_s, out_v = [], []
    for t in range(steps):
        a = current[t] if rec is None else current[t] + s @ rec.t()
        s, state = lif_step(a, state, params, fn, training, detach_reset)
        out_s.append(s)
        out_v.append(state.v)
    return torch.stack(out_s), torch.stack(out_v)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("fn", [SpikeFn("superspike", 5.0), SpikeFn("sigmoid", 3.0, stochastic=True)])
@pytest.mark.parametrize("loss_on_v", [False, True])
@pytest.mark.parametrize("train_neurons", [True, False])
def test_fused_scan_equals_autograd_through_lif_step(recurrent, detach_reset, fn, loss_on_v,
                                                     train_neurons):
    """Values and gradients of the fused scan equal autograd through lif_step, with the
    neuron parameters trainable (every record kept) or frozen and v not recorded (the
    scan keeps only what the input gradient needs)."""
    gen = torch.Generator().manual_seed(2)
    steps, batch, n = 25, 3, 5
    current = (torch.rand(steps, batch, n, generator=gen, dtype=torch.float64) * 0.8)
    rec = (torch.randn(n, n, generator=gen, dtype=torch.float64) * 0.3) if recurrent else None
    du = torch.rand(n, generator=gen, dtype=torch.float64) * 0.5 + 0.05
    dv = torch.rand(n, generator=gen, dtype=torch.float64) * 0.2
    vth = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5
    bias = torch.randn(n, generator=gen, dtype=torch.float64) * 0.05
    weights = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64)
    results = []
    for impl in ("fused", "reference"):
        leaves = [t.clone().requires_grad_(i == 0 or train_neurons)
                  for i, t in enumerate((current, du, dv, vth, bias))]
        r = rec.clone().requires_grad_(True) if recurrent else None
        torch.manual_seed(7)  # same Bernoulli draws in both
        if impl == "fused":
            s, v = lif_scan(leaves[0], r, *leaves[1:], fn, training=True,
                            detach_reset=detach_reset, record_v=loss_on_v or train_neurons)
        else:
            s, v = _reference_scan(leaves[0], r, *leaves[1:], fn, True, detach_reset)
        loss = (s * weights).sum() + ((v * weights).sum() if loss_on_v else 0)
        loss.backward()
        grads = [leaf.grad for leaf in leaves] + ([r.grad] if recurrent else [])
        results.append((s.detach(), None if v is None else v.detach(), grads))
    (s1, v1, g1), (s2, v2, g2) = results
    assert torch.equal(s1, s2) and s1.sum() > 0
    if loss_on_v or train_neurons:
        torch.testing.assert_close(v1, v2, rtol=1e-12, atol=1e-12)
    else:
        assert v1 is None
    assert (g1[1] is not None) == train_neurons
    for a, b in zip(g1, g2, strict=True):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_non_spiking_readout_integrates_without_reset():
    layer = LIFLayer(1, 1, du=1.0, dv=0.0, vth=0.1, spiking=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.ones(5, 1, 1)
    s, v = layer(x)
    assert s.sum() == 0
    assert v[:, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]  # hop latency: first input at step 1
