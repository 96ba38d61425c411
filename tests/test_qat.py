"""Quantization-aware training: the QAT forward pass is the reference simulator, bit for bit."""

import numpy as np
import pytest
import torch

from neurodeploy import FixedPointNetwork, LIFPopulation, Projection, simulate
from neurodeploy import fixed_point as fp
from neurodeploy.errors import InputError
from neurodeploy.models.surrogates import SpikeFn
from neurodeploy.quantize.ptq import FloatLayer, build_network
from neurodeploy.quantize.qat import QATNetwork, qat_finetune
from neurodeploy.readout import readout_logits

from compare import RECORD, assert_same_traces

N_IN, H0, H1, N_OUT = 6, 10, 8, 3
SCALES = {"layer0": 64 * 2000.0, "layer1": 64 * 30.0, "output": 64 * 100.0}


def _layer(name, src, w, delays, rec, bias, spiking, du=0.2, dv=0.05):
    n = w.shape[0]
    return FloatLayer(name, src, w, delays, rec, np.full(n, du), np.full(n, dv),
                      np.full(n, 1.0), np.full(n, bias), spiking)


def ptq_network() -> FixedPointNetwork:
    """A PTQ-built network: axonal and synaptic delays, mixed signs, weight_exp 4, 2, -2, -1,
    a recurrent hidden layer, a negative bias and a non-spiking readout."""
    rng = np.random.default_rng(0)
    layers = [
        _layer("layer0", "input", rng.uniform(-1, 1.5, (H0, N_IN)), rng.integers(0, 6, N_IN),
               rng.uniform(-0.5, 0.5, (H0, H0)), 0.02, True),
        _layer("layer1", "layer0", rng.uniform(-1, 1.5, (H1, H0)),
               rng.integers(0, 4, (H1, H0)), None, -0.01, True),
        _layer("output", "layer1", rng.uniform(-1, 1, (N_OUT, H1)), None, None, 0.0, False),
    ]
    return build_network(layers, SCALES)


def random_spikes(seed: int, batch: int, steps: int, n: int = N_IN, rate: float = 0.2):
    return np.random.default_rng(seed).random((batch, steps, n)) < rate


def reference(net, x):
    return simulate(net, x, target="reference", record=RECORD)


def toy_task(seed: int, n: int, steps: int = 40):
    """Three classes, each driving its own pair of input channels: linearly separable."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_OUT, n)
    x = rng.random((n, steps, N_IN)) < 0.03
    for i, c in enumerate(labels):
        x[i, :, 2 * c : 2 * c + 2] |= rng.random((steps, 2)) < 0.35
    return x, labels


@pytest.fixture(scope="module")
def net():
    return ptq_network()


@pytest.fixture(scope="module")
def finetuned(net):
    """Two fine-tuning runs with the same seed (a large lr, so that weights really move)."""
    x, y = toy_task(1, 48)
    vx, vy = toy_task(2, 24)
    runs = []
    for _ in range(2):
        q = QATNetwork(net, "mean_v", SCALES)
        hist = qat_finetune(q, x, y, vx, vy, epochs=2, lr=3.0, batch_size=16, seed=7)
        runs.append((q, hist))
    return runs


def test_the_test_network_covers_the_integer_arithmetic(net):
    exps = sorted(p.weight_exp for p in net.projections)
    assert exps[0] < 0 < exps[-1]
    assert {p.delay_kind for p in net.projections} >= {"axonal", "synaptic", "none"}
    assert all(p.sign_mode == "mixed" for p in net.projections)
    assert any(p.src == p.dst for p in net.projections)
    tr = reference(net, random_spikes(0, 8, 60))
    for name in ("layer0", "layer1"):
        assert 0 < tr.spikes[name].mean() < 0.9  # active, not saturated


def test_forward_is_bit_exact_before_training(net):
    x = random_spikes(3, 8, 60)
    q = QATNetwork(net, "mean_v", SCALES)
    assert_same_traces(reference(net, x), q.simulate(x), net.populations, got_name="qat",
                       check_dtype=True)


def test_forward_is_bit_exact_after_finetuning(net, finetuned):
    q, _ = finetuned[0]
    tuned = q.to_fixed_point()
    moved = sum(int((a.weights != b.weights).sum())
                for a, b in zip(net.projections, tuned.projections, strict=True))
    assert moved > 10  # the comparison below is not the untrained network again
    x = random_spikes(4, 8, 60)
    assert_same_traces(reference(tuned, x), q.simulate(x), tuned.populations, got_name="qat")


def test_int32_overflow_path_and_recurrent_delays_are_exact():
    """A population whose input overflows 24 bits (u drifts, Lava's int32 wraps), with a
    delayed self-projection, behind a mixed one; excitatory, inhibitory and 5-bit grids."""
    rng = np.random.default_rng(5)
    n_in = 300
    pops = {
        "big": LIFPopulation(3, du=0, dv=10, vth=131071, bias_mant=-7, bias_exp=-2),
        "small": LIFPopulation(4, du=np.array([0, 100, 4000, 4095]), dv=300, vth=[1, 5, 40, 0],
                               bias_mant=33, bias_exp=3),
    }
    w_big = fp.lava_weight_transform(rng.integers(200, 256, (3, n_in)), "excitatory")
    w_rec = fp.lava_weight_transform(rng.integers(-255, 1, (3, 3)), "inhibitory", 5)
    w_small = fp.lava_weight_transform(rng.integers(-256, 256, (4, 3)), "mixed")
    projs = [
        Projection("input", "big", w_big, weight_exp=7, delays=rng.integers(0, 3, n_in)),
        Projection("big", "big", w_rec, weight_exp=-3, delays=np.array([[0, 1, 2]] * 3),
                   num_weight_bits=5),
        Projection("big", "small", w_small, weight_exp=-8, delays=2),
    ]
    net = FixedPointNetwork(n_inputs=n_in, populations=pops, projections=projs,
                            outputs=["small"])
    x = random_spikes(6, 3, 30, n=n_in, rate=0.5)
    ref = reference(net, x)
    assert np.abs(ref.u["big"]).max() > fp.STATE_HALF  # u left 24 bits: int32 arithmetic
    q = QATNetwork(net, "count", {"big": 64.0, "small": 64.0})
    assert_same_traces(ref, q.simulate(x), pops, got_name="qat")


def test_logits_follow_the_shared_readout(net):
    x = random_spikes(8, 6, 50)
    tr = reference(net, x)
    for readout in ("mean_v", "max_v", "count"):
        q = QATNetwork(net, readout, SCALES)
        with torch.no_grad():
            got = q(x).numpy()
        expected = readout_logits(tr.spikes["output"], tr.v["output"], readout, hops=3)
        scale = 1.0 if readout == "count" else SCALES["output"]
        np.testing.assert_allclose(got * scale, expected, rtol=1e-12)


def test_gradient_reaches_every_projection(net):
    x, y = toy_task(3, 16)
    q = QATNetwork(net, "mean_v", SCALES, SpikeFn("superspike", 10.0))
    loss = torch.nn.functional.cross_entropy(q(x), torch.as_tensor(y))
    loss.backward()
    for k, p in enumerate(net.projections):
        grad = q.weights[k].grad
        assert grad is not None and torch.isfinite(grad).all()
        assert float(grad.abs().sum()) > 0, f"no gradient for {p.src}->{p.dst}"


@pytest.mark.parametrize("readout, kind", [("mean_v", "superspike"), ("max_v", "sigmoid"),
                                           ("mean_v", "arctan")])
def test_fused_scan_equals_the_per_step_graph_in_values_and_gradients(net, readout, kind):
    # layer1 and output (no recurrent projection) run fused; layer0 (recurrent) per step
    x, y = toy_task(5, 12)
    grads, traces = [], []
    for fused in (True, False):
        q = QATNetwork(net, readout, SCALES, SpikeFn(kind, 7.0))
        q.fused = fused
        logits, tr = q(x, return_traces=True)
        hidden = tr["layer1"]["spikes"].sum() + tr["layer1"]["v"].mean() / 1e4
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)) + 1e-3 * hidden
        loss.backward()
        grads.append([w.grad.clone() for w in q.weights])
        traces.append(tr)
    for pop in ("layer0", "layer1", "output"):
        for kind_ in ("spikes", "u", "v"):
            assert torch.equal(traces[0][pop][kind_], traces[1][pop][kind_])
    assert traces[0]["layer1"]["spikes"].sum() > 0
    for g_fused, g_step in zip(*grads, strict=True):
        assert float(g_step.abs().sum()) > 0
        torch.testing.assert_close(g_fused, g_step, rtol=1e-9, atol=1e-12)


def test_adam_steps_reduce_the_loss_on_a_separable_task(net):
    x, y = toy_task(4, 24)
    target = torch.as_tensor(y)
    q = QATNetwork(net, "mean_v", SCALES)
    opt = torch.optim.Adam(q.parameters(), lr=2.0)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(q(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        q.clamp_weights_()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        final = float(torch.nn.functional.cross_entropy(q(x), target))
    assert final < 0.8 * losses[0], (losses, final)


def test_to_fixed_point_snaps_onto_the_grid_and_keeps_the_rest(net, finetuned):
    q = QATNetwork(net, "mean_v", SCALES)
    with torch.no_grad():  # arbitrary shadow values, far off the grid and out of range
        for w in q.weights:
            w.copy_(torch.empty_like(w).uniform_(-400.0, 400.0, generator=torch.Generator()
                                                  .manual_seed(w.numel())))
    for tuned in (q.to_fixed_point(), finetuned[0][0].to_fixed_point()):
        assert tuned.outputs == net.outputs
        for name, pop in net.populations.items():
            for field in LIFPopulation.PARAMETERS:
                assert (tuned.populations[name].param(field) == pop.param(field)).all()
        for p, t in zip(net.projections, tuned.projections, strict=True):
            assert (t.src, t.dst, t.weight_exp, t.sign_mode, t.num_weight_bits) == (
                p.src, p.dst, p.weight_exp, p.sign_mode, p.num_weight_bits)
            assert (t.delay_matrix() == p.delay_matrix()).all()
            assert t.weights.min() >= -256 and t.weights.max() <= 254
            assert (t.weights % 2 == 0).all()
            assert (fp.lava_weight_transform(t.weights, t.sign_mode) == t.weights).all()
    # nearest grid point of the clamped shadow value
    tuned = q.to_fixed_point()
    for w, t in zip(q.weights, tuned.projections, strict=True):
        clamped = w.detach().clamp(-256, 254).numpy()
        assert np.abs(t.weights - clamped).max() <= 1.0


def test_other_sign_modes_snap_within_their_range():
    pops = {"a": LIFPopulation(4, du=10, dv=10, vth=5), "b": LIFPopulation(2, du=0, dv=0, vth=1)}
    projs = [Projection("input", "a", np.full((4, 3), 8), sign_mode="excitatory",
                        num_weight_bits=6),
             Projection("a", "b", np.full((2, 4), -16), sign_mode="inhibitory",
                        num_weight_bits=4)]
    net = FixedPointNetwork(3, pops, projs)
    q = QATNetwork(net, "count", {"a": 64.0, "b": 64.0})
    with torch.no_grad():
        q.weights[0].copy_(torch.linspace(-50, 300, 12).reshape(4, 3))
        q.weights[1].copy_(torch.linspace(-300, 50, 8).reshape(2, 4))
    tuned = q.to_fixed_point()
    w0, w1 = (p.weights for p in tuned.projections)
    assert w0.min() == 0 and w0.max() == 252 and (w0 % 4 == 0).all()
    assert w1.max() == 0 and w1.min() == -240 and (w1 % 16 == 0).all()


def test_finetuning_is_deterministic_and_keeps_the_best_state(net, finetuned):
    (q1, h1), (q2, h2) = finetuned
    assert h1 == h2
    for a, b in zip(q1.to_fixed_point().projections, q2.to_fixed_point().projections,
                    strict=True):
        assert (a.weights == b.weights).all()
    assert [h["epoch"] for h in h1["history"]] == [0, 1]
    assert h1["best_val_acc"] == max([h1["initial_val_acc"]]
                                     + [h["val_acc"] for h in h1["history"]])


def test_rejects_what_it_cannot_train_exactly(net):
    with pytest.raises(InputError, match="deterministic"):
        QATNetwork(net, "mean_v", SCALES, SpikeFn("sigmoid", 5.0, stochastic=True))
    with pytest.raises(InputError, match="scales"):
        QATNetwork(net, "mean_v", {"layer0": 1.0})
    with pytest.raises(InputError, match="readout"):
        QATNetwork(net, "softmax", SCALES)
    q = QATNetwork(net, "mean_v", SCALES)
    with pytest.raises(InputError, match="0/1"):
        q(np.full((1, 5, N_IN), 2.0))
