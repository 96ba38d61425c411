"""Exact multi-spike timing (CUBA LIF, many spikes per neuron): the event-driven forward pass
against an independent ODE solver, exact spike-time gradients against finite differences,
the readout integral, discretization (0-based steps, one step per hop), deployment
(reference == Lava), training and reload, the dt study, and one-line errors. Times are in
seconds unless stated."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad, solve_ivp

import neurodeploy.models.exact.multispike as ms
from neurodeploy.cli import main
from neurodeploy.errors import InputError, SimulationError
from neurodeploy.float_network import FloatNetwork, FloatPopulation, FloatProjection
from neurodeploy.models.datasets import make_task, save_dataset
from neurodeploy.models.exact.discrete_multispike import (
    bias_per_step,
    check_dt,
    resample_spikes,
    sample_steps,
    spike_step_lists,
    timing_error,
    to_float_network,
)
from neurodeploy.models.exact.multispike import (
    Kernel,
    MultiSpikeConfig,
    MultiSpikeNetwork,
    exact_spike_times,
    lif_forward,
    readout_logits,
    spikes_to_events,
    to_events,
)
from neurodeploy.models.exact.multispike_training import load_multispike, train_multispike
from neurodeploy.quantize.exact import deploy_multispike
from neurodeploy.simulate import simulate
from neurodeploy.study.dt import run_dt_study
from neurodeploy.targets.torch_float import simulate_torch_float
from neurodeploy.verify.pipeline import verify

KERN = Kernel(0.01, 0.04)


def ode_spikes(t_in: np.ndarray, src: np.ndarray, w: np.ndarray, kern: Kernel, theta: float,
               t_end: float) -> list[list[float]]:
    """Spike times of each neuron by scipy's adaptive solver with event location and reset,
    neuron by neuron (independent of the closed form)."""
    out = []
    kappa = kern.kappa
    for j in range(w.shape[0]):
        spikes, state, t = [], np.zeros(2), 0.0  # V, I
        events = [(float(x), int(s)) for x, s in zip(t_in, src, strict=True) if x < t_end]
        edges = [*[x for x, _ in events], t_end]
        crossing = lambda t, y: y[0] - theta  # noqa: E731
        crossing.terminal, crossing.direction = True, 1
        rhs = lambda t, y: [-y[0] / kern.tau_mem + y[1], -y[1] / kern.tau_syn]  # noqa: E731
        for k, end in enumerate(edges):
            while end > t:
                sol = solve_ivp(rhs, (t, end), state, events=crossing, rtol=1e-11, atol=1e-13)
                if sol.t_events[0].size:
                    t = float(sol.t_events[0][0])
                    spikes.append(t)
                    state = np.array([0.0, sol.y_events[0][0][1]])
                else:
                    state, t = sol.y[:, -1].copy(), end
            if k < len(events):
                state[1] += kappa * w[j, events[k][1]]
        out.append(spikes)
    return out


def random_case(seed: int, batch: int = 2, n_in: int = 4, n_out: int = 3, events: int = 10,
                mean: float = 0.9, std: float = 0.6):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 0.15, (batch, events)), axis=1)
    src = rng.integers(0, n_in, (batch, events))
    w = rng.normal(mean, std, (n_out, n_in))
    return t, src, w


SLOW_MEMBRANE = Kernel(0.04, 0.01)  # tau_syn > tau_mem: the kernel's other branch


@pytest.mark.parametrize("seed, kern, mean, std", [
    (0, KERN, 0.9, 0.6), (1, KERN, 0.9, 0.6), (2, KERN, 0.3, 2.0),  # mixed signs
    (3, SLOW_MEMBRANE, 0.9, 0.6),
])
def test_event_driven_forward_matches_an_ode_solver(seed, kern, mean, std):
    t, src, w = random_case(seed, mean=mean, std=std)
    found = lif_forward(t, src, w, kern, 1.0, 0.2)
    assert np.isfinite(found).sum() >= 5  # neurons fire, several times
    assert (np.isfinite(found).sum(axis=2) > 1).any()
    for b in range(t.shape[0]):
        ode = ode_spikes(t[b], src[b], w, kern, 1.0, 0.2)
        for j, expected in enumerate(ode):
            got = found[b, j][np.isfinite(found[b, j])]
            assert got.size == len(expected)
            np.testing.assert_allclose(got, expected, atol=1e-7)


def test_a_single_input_below_threshold_never_fires_and_the_psp_peaks_at_the_weight():
    # kappa normalises the PSP: a lone spike of weight w peaks at exactly w
    s = torch.linspace(0.0, 0.2, 20001, dtype=torch.float64)
    assert float(KERN.k(s).max()) == pytest.approx(1.0, abs=1e-6)
    t = np.array([[0.01]])
    assert not np.isfinite(lif_forward(t, np.zeros((1, 1), int), np.array([[0.999]]),
                                       KERN, 1.0, 0.3)).any()
    assert np.isfinite(lif_forward(t, np.zeros((1, 1), int), np.array([[1.001]]),
                                   KERN, 1.0, 0.3)).sum() == 1


def _loss(times: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    return (torch.where(torch.isfinite(times), times, torch.zeros_like(times)) * coef).sum()


@pytest.mark.parametrize("kern", [KERN, SLOW_MEMBRANE])
def test_spike_time_gradients_match_finite_differences(kern):
    t, src, w = random_case(3, batch=3, n_in=4, n_out=3, events=10)
    t[1, 7:] = np.inf  # padding: fewer events in this row
    t[2, :] = np.inf  # a row with no events at all
    t_in = torch.tensor(t, requires_grad=True)
    weight = torch.tensor(w, requires_grad=True)
    out = exact_spike_times(t_in, torch.tensor(src), weight, kern, 1.0, 0.2)
    coef = torch.linspace(0.5, 1.5, out.numel(), dtype=torch.float64).reshape(out.shape)
    assert (torch.isfinite(out).sum(-1) > 1).any()  # resets are part of the chain
    assert not torch.isfinite(out[2]).any()
    _loss(out, coef).backward()
    assert torch.all(t_in.grad[1, 7:] == 0) and torch.all(t_in.grad[2] == 0)

    def loss_np(w_, t_):
        o = torch.as_tensor(lif_forward(t_, src, w_, kern, 1.0, 0.2))
        assert o.shape == out.shape and torch.equal(torch.isfinite(o), torch.isfinite(out))
        return float(_loss(o, coef))

    eps = 1e-7
    for i, j in np.ndindex(*w.shape):
        wp, wm = w.copy(), w.copy()
        wp[i, j] += eps
        wm[i, j] -= eps
        fd = (loss_np(wp, t) - loss_np(wm, t)) / (2 * eps)
        assert weight.grad[i, j].item() == pytest.approx(fd, rel=1e-4, abs=1e-5)
    for i, j in np.ndindex(*t.shape):
        if not np.isfinite(t[i, j]):
            continue  # padding is not an input time
        tp, tm = t.copy(), t.copy()
        tp[i, j] += eps
        tm[i, j] -= eps
        fd = (loss_np(w, tp) - loss_np(w, tm)) / (2 * eps)
        assert t_in.grad[i, j].item() == pytest.approx(fd, rel=1e-4, abs=1e-5)


def test_network_gradient_through_two_layers_and_the_readout_matches_finite_differences():
    cfg = MultiSpikeConfig(n_inputs=4, hidden=(5, 4), n_outputs=2, tau_syn=0.01, tau_mem=0.04,
                           duration=0.2)
    net = MultiSpikeNetwork(cfg)
    net.init_weights(torch.Generator().manual_seed(1), mean=0.8, std=0.5)
    t, src, _ = random_case(4, batch=3, n_in=4, events=12)
    t_in, s = torch.tensor(t), torch.tensor(src)
    labels = torch.tensor([0, 1, 1])
    logits, layers = net.run(t_in, s)
    assert all(torch.isfinite(x).sum() > 0 for x in layers)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    first = net.weights[0]
    counts = [torch.isfinite(x).sum().item() for x in layers]
    eps = 1e-6
    for i, j in [(0, 0), (1, 2), (3, 1), (4, 3)]:
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                first[i, j] += sign * eps
                lg, ly = net.run(t_in, s)
                first[i, j] -= sign * eps
            assert [torch.isfinite(x).sum().item() for x in ly] == counts
            values.append(float(torch.nn.functional.cross_entropy(lg, labels)))
        fd = (values[0] - values[1]) / (2 * eps)
        assert first.grad[i, j].item() == pytest.approx(fd, rel=1e-3, abs=1e-6)


def test_readout_is_the_time_average_of_the_readout_membrane():
    times = torch.tensor([[[0.02, 0.05, math.inf], [0.11, math.inf, math.inf]]],
                         dtype=torch.float64)
    w = torch.tensor([[0.7, -0.4]], dtype=torch.float64)
    t_end = 0.15
    got = float(readout_logits(times, w, torch.tensor([0.25], dtype=torch.float64), KERN,
                               t_end))

    def membrane(t):
        lags = np.array([t - 0.02, t - 0.05, t - 0.11])
        psp = KERN.k(torch.tensor(lags)).numpy()
        return 0.7 * (psp[0] + psp[1]) - 0.4 * psp[2]

    integral = quad(membrane, 0.0, t_end, points=[0.02, 0.05, 0.11], limit=200)[0]
    assert got == pytest.approx(integral / t_end + 0.25, rel=1e-9)


def test_events_from_a_spike_array_and_between_layers():
    spikes = np.zeros((2, 6, 3), dtype=np.uint8)
    spikes[0, 4, 2] = spikes[0, 1, 0] = spikes[1, 3, 1] = spikes[0, 4, 0] = 1
    t, src = spikes_to_events(spikes, 0.005)
    np.testing.assert_allclose(t[0].numpy(), [0.005, 0.02, 0.02])
    assert src[0].tolist() == [0, 0, 2]
    assert t[1, 0].item() == pytest.approx(0.015) and math.isinf(t[1, 1].item())
    layer = torch.tensor([[[0.3, math.inf], [0.1, 0.4]]], dtype=torch.float64)
    times, source = to_events(layer)
    assert times[0, :3].tolist() == [0.1, 0.3, 0.4] and source[0, :3].tolist() == [1, 0, 1]


def small_model(seed: int = 0, data: dict | None = None) -> MultiSpikeNetwork:
    cfg = MultiSpikeConfig(n_inputs=10, hidden=(8,), n_outputs=2, tau_syn=0.01, tau_mem=0.05,
                           duration=1.0, data=data or {})
    net = MultiSpikeNetwork(cfg)
    net.init_weights(torch.Generator().manual_seed(seed), mean=0.5, std=0.3)
    with torch.no_grad():
        net.bias.copy_(torch.tensor([0.05, -0.05]))
    return net


def isi_spikes(n: int = 6, seed: int = 0):
    ds = make_task("isi", seed=seed, n_samples=n)
    return ds.spikes, ds.labels, ds.dt


def test_first_spike_step_of_every_neuron_is_the_continuous_crossing_rounded_up():
    # before its first reset, the discrete membrane is the continuous one sampled at the
    # step boundaries: the first spike is at step ceil(t / dt) exactly
    net = small_model()
    spikes, _, data_dt = isi_spikes()
    t_in, src = spikes_to_events(spikes, data_dt)
    with torch.no_grad():
        _, (cont,) = net.run(t_in, src)
    first = cont[..., 0].numpy()
    assert np.isfinite(first).mean() > 0.5
    for dt in (0.005, 0.001):
        steps = sample_steps(net, dt)
        x, lost = resample_spikes(spikes, data_dt, dt, steps)
        assert lost == 0
        tr = simulate_torch_float(to_float_network(net, dt), x, populations=["layer0"])
        disc = [[s[0] if s.size else -1 for s in per] for per in spike_step_lists(tr.spikes["layer0"])]
        expected = np.where(np.isfinite(first), np.ceil(first / dt - 1e-9), -1)
        np.testing.assert_array_equal(np.array(disc), expected)


def test_timing_error_shrinks_with_dt_and_the_readout_approaches_the_continuous_one():
    net = small_model(1)
    spikes, _, data_dt = isi_spikes(8, seed=1)
    t_in, src = spikes_to_events(spikes, data_dt)
    with torch.no_grad():
        logits, (cont,) = net.run(t_in, src)
    errors, unpaired, gaps = [], [], []
    for dt in (0.005, 0.001, 0.0002):
        x, _ = resample_spikes(spikes, data_dt, dt, sample_steps(net, dt))
        tr = simulate_torch_float(to_float_network(net, dt), x, record=("spikes", "v"))
        err = timing_error(cont.numpy(), spike_step_lists(tr.spikes["layer0"]), dt, 1, 0.01)
        errors.append(err["time_error"])
        unpaired.append(err["unpaired_pct"])
        gaps.append(float(np.abs(tr.v["output"].mean(axis=1) - logits.numpy()).max()))
    # a busy network (~25 spikes per neuron): every late reset perturbs what follows, so
    # the error shrinks with dt but more slowly than the half step of a single crossing
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.5 * errors[0]
    assert unpaired[0] > unpaired[1] > unpaired[2]
    assert gaps[0] > gaps[2] and gaps[2] < 0.02 * float(np.abs(logits).max())


def test_timing_error_decodes_half_a_step_per_layer_and_pairs_mutual_nearest_spikes():
    dt, tau = 0.005, 0.01
    cont = np.array([[[0.0123, 0.0500, 0.2000, np.inf], [0.0300, np.inf, np.inf, np.inf]]])
    # neuron 0: steps 3 and 10 decode (layer 1) to 0.0125 and 0.0475, step 60 (0.2975) is
    # farther than tau from 0.2; neuron 1: no discrete spike
    steps = [[np.array([3, 10, 60]), np.array([], dtype=np.int64)]]
    got = timing_error(cont, steps, dt, 1, tau)
    errors = np.array([0.0125 - 0.0123, 0.0475 - 0.05]) / tau
    assert got["time_error"] == pytest.approx(np.abs(errors).mean(), rel=1e-9)
    assert got["time_bias"] == pytest.approx(errors.mean(), rel=1e-9)
    assert got["unpaired_pct"] == pytest.approx(100.0 * 3 / 7)  # 0.2, 0.2975, 0.03
    assert got["count_mismatch_pct"] == pytest.approx(50.0)  # neuron 1 (1 vs 0); 0 has 3 = 3
    # layer 2 decodes a full step earlier: step 4 -> (4 - 1) dt = 0.015
    two = timing_error(np.array([[[0.016]]]), [[np.array([4])]], dt, 2, tau)
    assert two["time_bias"] == pytest.approx((0.015 - 0.016) / tau, rel=1e-9)


def test_two_hidden_layers_deploy_as_a_chain_with_the_sampling_gain_and_no_delays():
    cfg = MultiSpikeConfig(n_inputs=10, hidden=(6, 5), n_outputs=2, tau_syn=0.01,
                           tau_mem=0.05, duration=1.0)
    net = MultiSpikeNetwork(cfg)
    net.init_weights(torch.Generator().manual_seed(3), mean=0.6, std=0.2)
    dt = 0.002
    a, b = math.exp(-dt / 0.01), math.exp(-dt / 0.05)
    # the gain computed here from its definition: kappa K sampled one step after a spike
    gain = float(Kernel(0.01, 0.05).k(torch.tensor(dt, dtype=torch.float64)))
    fnet = to_float_network(net, dt)
    chain = [(p.src, p.dst) for p in fnet.projections]
    assert chain == [("input", "layer0"), ("layer0", "layer1"), ("layer1", "output")]
    for p, w in zip(fnet.projections, [*net.weights, net.readout], strict=True):
        np.testing.assert_allclose(p.weights, w.detach().numpy() * gain, rtol=1e-12)
        assert not np.any(p.delays)
    for name in ("layer0", "layer1", "output"):
        pop = fnet.populations[name]
        np.testing.assert_allclose(pop.du, 1 - a, rtol=1e-12)
        np.testing.assert_allclose(pop.dv, 1 - b, rtol=1e-12)
    assert fnet.populations["layer1"].spiking and not fnet.populations["output"].spiking


def test_a_neuron_fires_many_times_between_two_inputs_and_a_runaway_is_an_error(monkeypatch):
    t, src = np.array([[0.0]]), np.zeros((1, 1), dtype=int)
    burst = lif_forward(t, src, np.array([[12.0]]), KERN, 1.0, 0.2)
    expected = ode_spikes(t[0], src[0], np.array([[12.0]]), KERN, 1.0, 0.2)[0]
    assert len(expected) >= 10
    np.testing.assert_allclose(burst[0, 0][np.isfinite(burst[0, 0])], expected, atol=1e-7)
    monkeypatch.setattr(ms, "MAX_SPIKES", 5)
    with pytest.raises(SimulationError, match="more than 5"):
        lif_forward(t, src, np.array([[12.0]]), KERN, 1.0, 0.2)


def test_bias_per_step_adds_the_logit_bias_to_mean_v():
    dv, steps = 0.07, 40
    bias = bias_per_step(np.array([0.3, -1.2]), dv, steps)
    pop = FloatPopulation(2, du=0.2, dv=dv, vth=0.0, bias=bias, spiking=False)
    fnet = FloatNetwork(1, {"out": pop}, [FloatProjection("input", "out", np.zeros((2, 1)))],
                        outputs=["out"])
    tr = simulate_torch_float(fnet, np.zeros((1, steps, 1), dtype=bool), record=("v",))
    np.testing.assert_allclose(tr.v["out"].mean(axis=1)[0], [0.3, -1.2], rtol=1e-12)


def test_resampling_counts_merged_input_spikes():
    spikes = np.zeros((1, 4, 1), dtype=np.uint8)
    spikes[0, 1, 0] = spikes[0, 2, 0] = 1
    fine, lost = resample_spikes(spikes, 0.005, 0.001, 20)
    assert lost == 0 and np.flatnonzero(fine[0, :, 0]).tolist() == [5, 10]
    coarse, lost = resample_spikes(spikes, 0.005, 0.01, 2)
    assert lost == 1 and coarse.sum() == 1


def test_deployed_network_lava_equals_reference():
    net = small_model(2)
    spikes, _, data_dt = isi_spikes(4, seed=2)
    dep = deploy_multispike(net, 0.005, spikes, data_dt)
    x, _ = resample_spikes(spikes[:2], data_dt, 0.005, dep.steps)
    record = ("spikes", "u", "v")
    ref = simulate(dep.network, x, target="reference", record=record)
    assert ref.spikes["layer0"].sum() > 0
    lava = simulate(dep.network, x, target="lava", record=record)
    for kind in record:
        for pop in dep.network.populations:
            np.testing.assert_array_equal(getattr(ref, kind)[pop], getattr(lava, kind)[pop])


@pytest.mark.parametrize("build, match", [
    (lambda: MultiSpikeConfig(tau_syn=0.0), "tau_syn = 0.0 is not allowed"),
    (lambda: MultiSpikeConfig(tau_mem=-1.0), "tau_mem = -1.0 is not allowed"),
    (lambda: MultiSpikeConfig(tau_syn=0.02, tau_mem=0.02), "tau_syn != tau_mem"),
    (lambda: MultiSpikeConfig(hidden=(4, 0)), "each with >= 1 neuron"),
    (lambda: MultiSpikeConfig(duration=0), "duration = 0 is not allowed"),
])
def test_bad_configurations_are_one_line_input_errors(build, match):
    with pytest.raises(InputError, match=match) as info:
        build()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("dt, match", [
    (0.0, "must be > 0"), (-1e-3, "must be > 0"), (float("nan"), "must be > 0"),
    (0.02, "larger than tau_syn = 0.01 s"), (1e-7, "rounds to 0"), ("x", "not a number"),
])
def test_bad_time_steps_are_one_line_input_errors(dt, match):
    with pytest.raises(InputError, match=match) as info:
        check_dt(small_model(), dt)
    assert "\n" not in str(info.value)


def test_no_causal_path_to_an_output_is_an_input_error():
    net = small_model()
    with torch.no_grad():
        net.readout[1].zero_()
    with pytest.raises(InputError, match="output neuron 1 has no nonzero readout weight"):
        to_float_network(net, 0.001)
    with torch.no_grad():
        net.weights[0].clamp_(max=0.0)
        net.readout.fill_(1.0)
    with pytest.raises(InputError, match=r"layer 0 .* can never spike"):
        to_float_network(net, 0.001)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("multispike") / "run"
    run = train_multispike(out=out, epochs=3, hidden=(16,), task_params={"n_samples": 200},
                           seed=0)
    return run, out


def test_training_is_reproducible_and_the_run_reloads(trained):
    run, out = trained
    history = run.metrics["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    again = train_multispike(epochs=3, hidden=(16,), task_params={"n_samples": 200}, seed=0)
    for a, b in zip(run.model.state_dict().values(), again.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    model, description = load_multispike(out)
    assert description["train"]["hidden"] == [16]
    spikes, _, data_dt = isi_spikes(5, seed=9)
    t_in, src = spikes_to_events(spikes, data_dt)
    with torch.no_grad():
        assert torch.equal(model(t_in, src), run.model(t_in, src))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy_pct"] == run.metrics["test_accuracy_pct"]


def test_dt_study_of_a_multispike_run(trained, tmp_path):
    _, run_dir = trained
    result = run_dt_study(run_dir, dts=[0.005, 0.001], out=tmp_path, lava_samples=2)
    assert result.kind == "multispike" and [r["dt"] for r in result.rows] == [0.005, 0.001]
    fine, coarse = result.rows[1], result.rows[0]
    assert fine["float_time_error"] < coarse["float_time_error"]
    assert fine["input_spikes_lost"] == 0 and fine["steps"] == 1000
    assert result.lava["identical"] is True
    assert result.lava["lava_accuracy_pct"] == result.lava["reference_accuracy_pct"]
    saved = json.loads((tmp_path / "dt_study.json").read_text())
    assert saved["kind"] == "multispike" and len(saved["rows"]) == 2
    assert (tmp_path / "dt_study.png").stat().st_size > 1000
    # the deployed folder is what `neurodeploy verify` reads: reference == Lava on its data,
    # and the reference's accuracy there is the study's deployed accuracy
    deployed = tmp_path / "deployed"
    assert result.files["deployed"] == str(deployed)
    check = verify(str(deployed), ["torch-float", "reference", "lava"],
                   data=str(deployed / "test.npz"), samples=4,
                   gates=["reference==lava"])
    assert check.passed
    full = verify(str(deployed), ["torch-float", "reference"], data=str(deployed / "test.npz"))
    acc = full.summary["backends"]["reference"]["accuracy"]
    chosen = next(r for r in result.rows if r["dt"] == (result.recommended_dt or 0.001))
    assert 100.0 * acc == pytest.approx(chosen["deployed_accuracy_pct"])


def test_cli_study_dt_bad_time_step_exits_2_with_one_line(trained, tmp_path, capsys):
    _, run_dir = trained
    with pytest.raises(SystemExit) as exc:
        main(["study", "dt", str(run_dir), "--dts", "0.005,0.02", "--out", str(tmp_path / "s")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "dt = 0.02 s is larger than tau_syn = 0.01 s" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "s").exists()  # nothing half-written


def test_training_on_a_data_file_is_described_and_the_study_reloads_it(tmp_path):
    data = tmp_path / "ccisi.npz"
    save_dataset(make_task("ccisi", seed=4, n_samples=60), data)
    run = train_multispike(out=tmp_path / "run", data=str(data), epochs=1, hidden=(6,), seed=2)
    cfg = run.model.config
    assert cfg.n_inputs == 20 and cfg.data["file"] == str(data.resolve())
    assert "task" not in cfg.data and cfg.data["seed"] == 2
    result = run_dt_study(tmp_path / "run", dts=[0.005], lava_samples=0)
    assert result.n_test == run.metrics["n_test"] == 6
    assert result.continuous_accuracy_pct == pytest.approx(run.metrics["test_accuracy_pct"])
