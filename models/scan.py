"""A fused LIF layer scan: the same dynamics as :func:`neurodeploy.models.neurons.lif_step`
repeated over time, with a hand-written backward pass (BPTT) instead of an autograd graph.

Forward, for t = 0..T-1 (time-major tensors (steps, batch, neurons)), with
``alpha = 1 - du`` and ``beta = 1 - dv``::

    a_t = I_t + s_{t-1} R^T                 (R: recurrent weights, optional)
    u_t = alpha u_{t-1} + a_t
    p_t = beta v_{t-1} + u_t + b            (v before the threshold)
    s_t = H(p_t - vth)                      (or Bernoulli(p_esc(p_t - vth)) when stochastic)
    v_t = p_t (1 - s_t)                     (reset to zero)

Backward, for t = T-1..0, the adjoints (lambda) of each quantity::

    lv_t = Gv_t + beta lp_{t+1}
    ls_t = Gs_t + la_{t+1} R  [- p_t lv_t when the reset is not detached]
    lp_t = ls_t g(p_t - vth) + lv_t (1 - s_t)
    lu_t = lp_t + alpha lu_{t+1};   la_t = lu_t

with g the surrogate derivative (or the escape function's derivative). Autograd through
``lif_step`` builds a graph of ~10 nodes per step; this does the same arithmetic without
it, which is what makes CPU training fast. ``tests/test_models.py`` checks that values and
gradients equal autograd through ``lif_step``.
"""

from __future__ import annotations

import torch

from neurodeploy.models.neurons import DU_MAX, DU_MIN, DV_MAX, DV_MIN
from neurodeploy.models.surrogates import SpikeFn, escape_probability, surrogate_derivative_


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a (batch, neurons) gradient down to a parameter of shape (neurons,) or ()."""
    grad = grad.sum(dim=0)
    return grad.sum() if len(shape) == 0 else grad


class _LIFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, rec, alpha, beta, bias, vth, kind, sbeta, p0, stochastic,
                spiking, detach_reset):
        steps, batch, n = current.shape
        us, ps = torch.empty_like(current), torch.empty_like(current)
        volts = torch.empty_like(current)
        fires = torch.zeros(current.shape, dtype=torch.bool, device=current.device)
        u = v = current.new_zeros((batch, n))
        zero = current.new_zeros((batch, n))
        alpha_b, beta_b = alpha.expand(batch, n), beta.expand(batch, n)
        vth_b = vth.expand(batch, n)
        has_bias = bool(bias.requires_grad) or bool((bias != 0).any())
        for t in range(steps):
            a = current[t]
            if rec is not None and t > 0:
                a = a + fires[t - 1].to(a.dtype) @ rec.t()
            u = torch.addcmul(a, alpha_b, u, out=us[t])
            p = torch.addcmul(u, beta_b, v, out=ps[t])
            if has_bias:
                p += bias
            if spiking:
                if stochastic:
                    prob = escape_probability(kind, p - vth, sbeta, p0)
                    torch.lt(torch.rand_like(p), prob, out=fires[t])
                else:
                    torch.gt(p, vth_b, out=fires[t])
                v = torch.where(fires[t], zero, p, out=volts[t])
            else:
                v = volts[t]
                v.copy_(p)
        spikes = fires.to(current.dtype)
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None (no zeros)
        ctx.save_for_backward(us, ps, spikes, volts, rec, alpha, beta, bias, vth)
        ctx.cfg = (kind, sbeta, p0, spiking, detach_reset)
        return spikes, volts

    @staticmethod
    def backward(ctx, g_spikes, g_volts):
        us, ps, spikes, volts, rec, alpha, beta, bias, vth = ctx.saved_tensors
        kind, sbeta, p0, spiking, detach_reset = ctx.cfg
        steps, batch, n = us.shape
        alpha_b, beta_b = alpha.expand(batch, n), beta.expand(batch, n)
        lp_all = torch.empty_like(us)  # adjoint of p
        lu_all = torch.empty_like(us)  # adjoint of u (= of a, the arriving input)
        if g_spikes is None:
            g_spikes = torch.zeros_like(us)
        if spiking:
            sg = surrogate_derivative_(kind, ps - vth, sbeta, p0)
            carry = (1.0 - spikes).mul_(beta)  # lp_{t+1} -> lp_t through v_t (simple case)
        else:
            sg, carry = None, beta_b.expand_as(us)
        simple = spiking and rec is None and detach_reset and g_volts is None
        ls_all = g_spikes if simple else (torch.empty_like(us) if spiking else None)
        lsg = sg.mul_(g_spikes) if simple else None  # sg is not needed after this
        lp = lu = us.new_zeros((batch, n))
        for t in range(steps - 1, -1, -1):
            if simple:  # lp_t = Gs_t g_t + beta (1 - s_t) lp_{t+1}
                lp = torch.addcmul(lsg[t], carry[t], lp, out=lp_all[t])
            else:
                lv = beta_b * lp if g_volts is None else torch.addcmul(g_volts[t], beta_b, lp)
                if spiking:
                    ls = g_spikes[t]
                    if rec is not None and t < steps - 1:
                        ls = ls + lu @ rec
                    if not detach_reset:
                        ls = ls - ps[t] * lv
                    ls_all[t] = ls
                    lp = torch.addcmul(ls * sg[t], lv, 1.0 - spikes[t], out=lp_all[t])
                else:
                    lp = lp_all[t]
                    lp.copy_(lv)
            lu = torch.addcmul(lp, alpha_b, lu, out=lu_all[t])
        g_rec = None
        if rec is not None:
            g_rec = lu_all[1:].reshape(-1, n).t() @ spikes[:-1].reshape(-1, n)
        need = ctx.needs_input_grad
        g_alpha = g_beta = g_bias = g_vth = None
        if need[2]:
            g_alpha = _reduce_to((lu_all[1:] * us[:-1]).sum(dim=0), alpha.shape)
        if need[3]:
            g_beta = _reduce_to((lp_all[1:] * volts[:-1]).sum(dim=0), beta.shape)
        if need[4]:
            g_bias = _reduce_to(lp_all.sum(dim=0), bias.shape)
        if need[5]:
            g_vth = (_reduce_to(-(lsg if simple else ls_all * sg).sum(dim=0), vth.shape)
                     if spiking else torch.zeros_like(vth))
        return (lu_all, g_rec, g_alpha, g_beta, g_bias, g_vth,
                None, None, None, None, None, None)


def lif_scan(
    current: torch.Tensor,
    rec: torch.Tensor | None,
    du: torch.Tensor,
    dv: torch.Tensor,
    vth: torch.Tensor,
    bias: torch.Tensor,
    spike_fn: SpikeFn,
    training: bool,
    spiking: bool = True,
    detach_reset: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and v (after reset), each (steps, batch, neurons), for the arriving input
    ``current`` (steps, batch, neurons); du, dv are clamped to their Loihi ranges."""
    alpha = 1.0 - du.clamp(DU_MIN, DU_MAX)
    beta = 1.0 - dv.clamp(DV_MIN, DV_MAX)
    return _LIFScan.apply(current, rec, alpha, beta, bias, vth, spike_fn.kind, spike_fn.beta,
                          spike_fn.p0, spike_fn.stochastic and training, spiking, detach_reset)
