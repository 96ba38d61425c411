"""Exact spike-timing (TTFS, Mostafa 2017) networks: the closed form against an ODE solver,
exact gradients, the penalty, discretization to the CUBA LIF float model (0-based steps,
one step per hop), deployment to fixed point (reference == torch-int == Lava), the dt study
and one-line errors. Times are in tau_syn units unless stated."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from neurodeploy.errors import InputError
from neurodeploy.models.exact.discrete_ttfs import (
    check_dt,
    classify_first_spike,
    encode_steps,
    first_spike_steps,
    simulation_steps,
    steps_to_times,
    time_to_step,
    to_float_network,
)
from neurodeploy.models.exact.encoding import intensity_to_time
from neurodeploy.models.exact.training import load_ttfs, train_ttfs_digits
from neurodeploy.models.exact.ttfs import (
    TTFSConfig,
    TTFSNetwork,
    first_spike_times,
    time_loss,
    weight_sum_penalty,
)
from neurodeploy.quantize.exact import deploy_ttfs
from neurodeploy.simulate import simulate
from neurodeploy.study.dt import output_first_steps, run_dt_study
from neurodeploy.targets.torch_float import simulate_torch_float
from neurodeploy.verify.pipeline import verify


def ode_first_spike(t_in: np.ndarray, w: np.ndarray, theta: float, t_max: float = 40.0) -> float:
    """First time V reaches theta for dV/dt = I, dI/dt = -I, I += w_i at t_i, by scipy's
    adaptive solver with event location (independent of the closed form)."""
    order = np.argsort(t_in)
    times, weights = t_in[order], w[order]
    keep = np.isfinite(times)
    times, weights = times[keep], weights[keep]
    state = np.zeros(2)  # V, I
    edges = [*times, t_max]
    crossing = lambda t, y: y[0] - theta  # noqa: E731
    crossing.terminal, crossing.direction = True, 1
    for k in range(len(times)):
        state[1] += weights[k]
        if edges[k + 1] <= edges[k]:
            continue
        sol = solve_ivp(lambda t, y: [y[1], -y[1]], (edges[k], edges[k + 1]), state,
                        events=crossing, rtol=1e-11, atol=1e-12)
        if sol.t_events[0].size:
            return float(sol.t_events[0][0])
        state = sol.y[:, -1].copy()
    return math.inf


def small_network(seed: int = 0, sizes=(6, 5, 3), reference=0.0) -> TTFSNetwork:
    """A hand-built network whose neurons fire within a few tau_syn (weights mostly
    positive, summing above threshold)."""
    gen = torch.Generator().manual_seed(seed)
    net = TTFSNetwork(TTFSConfig(n_inputs=sizes[0], hidden=sizes[1:-1], n_outputs=sizes[-1],
                                 reference_time=reference))
    with torch.no_grad():
        for layer in net.layers:
            n_in = layer.weight.shape[1]
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=gen) * 5.0 / n_in - 0.6
                               / n_in)
    return net


def random_times(seed: int, shape, window: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, window, size=shape)


# --------------------------------------------------------------------------- closed form


def test_closed_form_matches_an_ode_solver_on_random_cases():
    rng = np.random.default_rng(1)
    checked = silent = 0
    for _ in range(60):
        n = int(rng.integers(1, 7))
        t_in = rng.uniform(0.0, 3.0, n)
        t_in[rng.random(n) < 0.15] = np.inf  # some inputs do not spike
        w = rng.normal(0.5, 0.8, (1, n))
        theta = float(rng.uniform(0.5, 1.5))
        got = first_spike_times(torch.tensor(t_in[None]), torch.tensor(w), theta).item()
        want = ode_first_spike(t_in, w[0], theta)
        if math.isinf(want):
            assert math.isinf(got), (t_in, w, theta)
            silent += 1
        else:
            assert got == pytest.approx(want, abs=1e-6), (t_in, w, theta)
            checked += 1
    assert checked >= 20 and silent >= 5  # both branches were exercised


def test_tied_input_times_and_the_causal_set():
    # three inputs at t = 0 together cross theta; one of them alone would not
    t_in = torch.tensor([[0.0, 0.0, 0.0, 5.0]], dtype=torch.float64)
    w = torch.tensor([[0.5, 0.5, 0.5, 10.0]], dtype=torch.float64)
    t = first_spike_times(t_in, w, 1.0).item()
    assert t == pytest.approx(math.log(1.5 / 0.5))  # z = W z / (W - 1) with z_i = 1
    # the late large input is outside the causal set: its gradient is exactly zero
    w.requires_grad_(True)
    first_spike_times(t_in, w, 1.0).sum().backward()
    assert w.grad[0, 3].item() == 0.0


def test_no_spike_is_inf_with_zero_not_nan_gradients():
    t_in = torch.tensor([[0.0, 1.0, math.inf]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[0.3, 0.4, 5.0], [0.9, 0.9, 0.0]], dtype=torch.float64,
                     requires_grad=True)
    t = first_spike_times(t_in, w, 1.0)
    assert math.isinf(t[0, 0].item())  # 0.7 < theta: never (the inf input never arrives)
    assert math.isfinite(t[0, 1].item())
    t[torch.isfinite(t)].sum().backward()
    assert torch.isfinite(t_in.grad).all() and torch.isfinite(w.grad).all()
    assert (w.grad[0] == 0).all() and t_in.grad[0, 2] == 0


def test_gradients_match_finite_differences_and_mostafa_closed_forms():
    t_in = torch.tensor(random_times(3, (4, 6)), dtype=torch.float64, requires_grad=True)
    w = (torch.rand(3, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
         * 0.8 - 0.1).requires_grad_(True)
    t = first_spike_times(t_in, w, 1.0)
    assert torch.isfinite(t).all()
    assert torch.autograd.gradcheck(lambda a, b: first_spike_times(a, b, 1.0), (t_in, w))
    # Mostafa: dz_out/dz_i = w_i / (W_C - 1), dz_out/dw_i = (z_i - z_out) / (W_C - 1)
    z_out = torch.exp(t[0, 0])
    z_out_grad_t, z_out_grad_w = torch.autograd.grad(z_out, (t_in, w))
    z_in = torch.exp(t_in[0]).detach()
    causal = t_in[0].detach() < t[0, 0].detach()
    w_c = w[0].detach()[causal].sum()
    expect_dz = torch.where(causal, w[0].detach() / (w_c - 1.0), torch.zeros(6, dtype=w.dtype))
    assert torch.allclose(z_out_grad_t[0] / z_in, expect_dz)  # chain rule: dz_i/dt_i = z_i
    expect_dw = torch.where(causal, (z_in - z_out.detach()) / (w_c - 1.0),
                            torch.zeros(6, dtype=w.dtype))
    assert torch.allclose(z_out_grad_w[0], expect_dw)


def test_network_gradient_through_two_layers_matches_finite_differences():
    net = small_network(4).double()
    x = torch.tensor(random_times(4, (3, 6)))
    w0, w1 = (layer.weight for layer in net.layers)
    assert torch.isfinite(net(x)).all()

    def output(a, b):
        h = first_spike_times(net.with_reference(x), a, 1.0)
        return first_spike_times(h, b, 1.0)

    assert torch.autograd.gradcheck(output, (w0.detach().clone().requires_grad_(True),
                                             w1.detach().clone().requires_grad_(True)))


def test_weight_sum_penalty_and_time_loss():
    w = torch.tensor([[0.2, 0.3], [0.7, 0.6], [-1.0, 0.5]], requires_grad=True)
    penalty = weight_sum_penalty(w, 1.0)
    assert penalty.item() == pytest.approx(0.5 + 0.0 + 1.5)
    penalty.backward()
    assert w.grad.tolist() == [[-1.0, -1.0], [0.0, 0.0], [-1.0, -1.0]]
    t = torch.tensor([[1.0, 2.0, math.inf]])
    loss = time_loss(t, torch.tensor([0]))  # the silent neuron counts as t = 2 + 1
    want = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-2) + math.exp(-3)))
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_config_rejects_bad_time_constants_and_thresholds():
    for bad in (0.0, -1e-3, math.inf, "fast"):
        with pytest.raises(InputError, match="tau_syn") as exc:
            TTFSConfig(tau_syn=bad)
        assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="threshold"):
        TTFSConfig(threshold=0.0)
    assert TTFSConfig(tau_syn=5e-3).tau_syn == 5e-3


def test_intensity_encoding():
    t = intensity_to_time(np.array([[0, 8, 16, 20]]), window=2.0)
    assert t.tolist() == [[2.0, 1.0, 0.0, 0.0]]  # brighter -> earlier; every pixel spikes
    with pytest.raises(InputError, match="window"):
        intensity_to_time(np.zeros((1, 2)), window=0.0)


# --------------------------------------------------------------------------- discretization


def test_discrete_membrane_is_the_continuous_one_sampled_at_step_boundaries():
    """dv = 0, du = 1 - exp(-dt), W = w du: an input at step s (time s dt) reaches u at step
    s + 1 and v[n] = V(n dt) until the first spike."""
    net = TTFSNetwork(TTFSConfig(n_inputs=3, hidden=(), n_outputs=2, reference_time=None))
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[0.6, -0.2, 0.9], [0.5, 0.4, 0.3]]))
    dt, steps = 0.1, 60
    step_in = np.array([2, 5, 11])
    x = np.zeros((1, steps, 3), dtype=bool)
    x[0, step_in, [0, 1, 2]] = True
    fnet = to_float_network(net, dt)
    trace = simulate_torch_float(fnet, x, record=("spikes", "v"))
    v, spikes = trace.v["output"][0], trace.spikes["output"][0]
    w = net.layers[0].weight.detach().numpy().astype(np.float64)
    n = np.arange(steps)[:, None]
    age = np.clip(n - step_in[None, :], 0, None) * dt  # time since each input, 0 before it
    v_cont = (w[None, :, :] * (1.0 - np.exp(-age))[:, None, :]).sum(-1)
    for j in range(2):
        first = first_spike_steps(spikes[None])[0, j]
        upto = steps if first < 0 else first
        np.testing.assert_allclose(v[:upto, j], v_cont[:upto, j], atol=1e-12)
    # no input before step 3 (the earliest input, step 2, arrives one hop later)
    assert np.all(v[:3] == 0)


def test_first_spike_steps_approach_the_continuous_times_as_dt_shrinks():
    net = small_network(7)
    times = random_times(7, (16, 6))
    with torch.no_grad():
        t_cont = net.double()(torch.as_tensor(times)).numpy()
    net.float()
    assert np.isfinite(t_cont).all()
    t_end = float(t_cont.max()) + 1.0
    errors = []
    for dt in (0.2, 0.05, 0.0125):
        delta = check_dt(net, dt)
        x = encode_steps(net, times, delta, simulation_steps(net, delta, t_end))
        steps = output_first_steps(to_float_network(net, dt), x)
        t_disc = steps_to_times(steps, delta, 2)
        assert np.isfinite(t_disc).all()
        errors.append(float(np.abs(t_disc - t_cont).max()))
        # decoding (n - L/2) dt: each of the L = 2 layers is half a step late on average
        assert abs(float(np.mean(t_disc - t_cont))) < 0.3 * dt
    assert errors[0] > errors[1] > errors[2]
    assert errors[-1] < 0.05  # a few steps of 0.0125


def test_hidden_neurons_spike_at_most_once_after_discretization():
    net = small_network(2)
    times = random_times(2, (8, 6))
    fnet = to_float_network(net, 0.05)
    x = encode_steps(net, times, 0.05, 200)
    spikes = simulate_torch_float(fnet, x).spikes
    assert spikes["layer0"].sum(axis=1).max() == 1
    assert spikes["output"].sum(axis=1).max() > 1  # the output is free to spike again


def test_step_time_conversions_and_the_classification_rule():
    assert time_to_step(np.array([0.0, 0.049, 0.05, 0.149, np.inf]), 0.1).tolist() == [
        0, 0, 1, 1, -1]  # round half up
    assert steps_to_times(np.array([4, -1]), 0.1, 2).tolist() == [pytest.approx(0.3), np.inf]
    steps = np.array([[5, 3, 3], [-1, -1, -1], [-1, 7, 9]])
    assert classify_first_spike(steps).tolist() == [1, -1, 1]  # ties: lowest index


def test_deployed_network_reference_equals_torch_int():
    net = small_network(5)
    times = random_times(5, (6, 6))
    dep = deploy_ttfs(net, 0.1, times, t_end=8.0)
    x = encode_steps(net, times, dep.delta, dep.steps)
    ref = simulate(dep.network, x, target="reference", record=("spikes", "v", "u"))
    emu = simulate(dep.network, x, target="torch-int", record=("spikes", "v", "u"))
    for pop in dep.network.populations:
        for kind in ("spikes", "v", "u"):
            np.testing.assert_array_equal(getattr(ref, kind)[pop], getattr(emu, kind)[pop])
    # quantization keeps the first spikes close to the float model's
    float_steps = output_first_steps(dep.float_network, x)
    fixed_steps = first_spike_steps(ref.spikes["output"])
    assert (fixed_steps >= 0).all()
    assert np.abs(fixed_steps - float_steps).max() <= 2


@pytest.mark.lava
def test_deployed_network_lava_equals_reference():
    net = small_network(6)
    times = random_times(6, (3, 6))
    dep = deploy_ttfs(net, 0.2, times, t_end=6.0)
    x = encode_steps(net, times, dep.delta, dep.steps)
    record = ("spikes", "v", "u")
    ref = simulate(dep.network, x, target="reference", record=record)
    lava = simulate(dep.network, x, target="lava", record=record)
    assert ref.spikes["output"].any()
    for pop in dep.network.populations:
        for kind in record:
            np.testing.assert_array_equal(getattr(ref, kind)[pop], getattr(lava, kind)[pop])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("dt, match", [
    (0.0, "must be > 0"), (-0.1, "must be > 0"), (math.nan, "must be > 0"),
    (1.5, "larger than tau_syn"), (1e-5, "rounds to 0"), ("x", "not a number")])
def test_bad_time_steps_are_one_line_input_errors(dt, match):
    net = small_network(0)
    with pytest.raises(InputError, match=match) as exc:
        to_float_network(net, dt)
    assert "\n" not in str(exc.value)


def test_time_step_in_seconds_is_checked_against_tau_syn_in_seconds():
    net = TTFSNetwork(TTFSConfig(n_inputs=2, hidden=(), n_outputs=1, tau_syn=5e-3))
    with torch.no_grad():
        net.layers[0].weight.fill_(1.0)
    assert check_dt(net, 1e-3) == pytest.approx(0.2)
    assert to_float_network(net, 1e-3).dt == 1e-3
    with pytest.raises(InputError, match=r"dt = 0\.01 s is larger than tau_syn = 0\.005 s"):
        check_dt(net, 1e-2)


def test_no_causal_path_to_an_output_is_an_input_error():
    net = small_network(0)
    with torch.no_grad():
        net.layers[1].weight[2].zero_()
    with pytest.raises(InputError, match="output neuron 2 can never spike") as exc:
        to_float_network(net, 0.1)
    assert "\n" not in str(exc.value)
    with torch.no_grad():  # a dead hidden layer cuts every output off
        net.layers[0].weight.fill_(-1.0)
    with pytest.raises(InputError, match="output neuron 0 can never spike"):
        run_dt_study(net, dts=[0.1], test_times=random_times(0, (2, 6)),
                     test_labels=np.zeros(2, dtype=int), lava_samples=0)


# --------------------------------------------------------------------------- training, study


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ttfs")
    run = train_ttfs_digits(out=out / "model", epochs=5, hidden=(48,), seed=1)
    return run, out


def test_training_learns_the_digits_and_the_run_reloads(trained):
    run, out = trained
    assert run.metrics["test_accuracy_pct"] > 70.0  # chance is 10%
    assert run.metrics["n_train"] == 1437 and run.metrics["n_test"] == 360
    model, saved = load_ttfs(out / "model")
    assert saved["train"]["epochs"] == 5 and saved["network"]["hidden"] == [48]
    x = torch.as_tensor(random_times(0, (5, 64)), dtype=torch.float32)
    torch.testing.assert_close(model(x), run.model(x))
    with pytest.raises(InputError, match="not a TTFS run directory"):
        load_ttfs(out)


def test_dt_study_writes_its_table_plot_and_recommendation(trained):
    run, out = trained
    result = run_dt_study(out / "model", dts=[0.1, 0.5], out=out / "study", lava_samples=0,
                          calib_samples=32)
    assert [r["dt"] for r in result.rows] == [0.5, 0.1]  # largest first
    assert result.continuous_accuracy_pct == pytest.approx(run.metrics["test_accuracy_pct"])
    for row in result.rows:
        assert 0.0 <= row["deployed_accuracy_pct"] <= 100.0
        assert row["float_time_error"] is not None and row["deployed_time_error"] is not None
    fine, coarse = result.rows[1], result.rows[0]
    assert fine["float_time_error"] < coarse["float_time_error"]
    within = [r["dt"] for r in result.rows if r["deployed_accuracy_pct"]
              >= result.continuous_accuracy_pct - 1.0]
    assert result.recommended_dt == (max(within) if within else None)
    saved = json.loads((out / "study" / "dt_study.json").read_text())
    assert saved["format"] == "neurodeploy.dt_study" and len(saved["rows"]) == 2
    assert (out / "study" / "dt_study.png").read_bytes()[:4] == b"\x89PNG"
    # deployed/ is what `neurodeploy verify` reads: with the first-spike readout, the
    # reference's accuracy on its test data is the study's deployed accuracy
    deployed = out / "study" / "deployed"
    check = verify(str(deployed), ["torch-float", "reference"], data=str(deployed / "test.npz"))
    chosen = next(r for r in result.rows if r["dt"] == (result.recommended_dt or 0.1))
    acc = check.summary["backends"]["reference"]["accuracy"]
    assert 100.0 * acc == pytest.approx(chosen["deployed_accuracy_pct"])
    with pytest.raises(InputError, match="must be > 0"):
        run_dt_study(out / "model", dts=[0.1, 0.0], lava_samples=0)
