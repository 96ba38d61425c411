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
    """The scan as one autograd node. Per step the forward runs four element-wise ops
    (``u``, ``p``, the threshold, the reset) and the backward two (``lp``, ``lu``), each
    writing straight into its record or into one (batch, neurons) buffer rewritten in
    place: records are kept only of what the backward pass or the caller reads."""

    @staticmethod
    def forward(ctx, current, rec, alpha, beta, bias, vth, kind, sbeta, p0, stochastic,
                spiking, detach_reset, record_v, grad):
        steps, batch, n = current.shape
        need = ctx.needs_input_grad
        keep_u = grad and need[2]  # u_{t-1} for the gradient of alpha
        keep_v = record_v or (grad and need[3]) or not spiking  # v_{t-1} for beta's
        keep_p = grad and spiking  # p_t for the surrogate derivative
        u0, v0 = current.new_zeros((batch, n)), current.new_zeros((batch, n))
        us = torch.empty_like(current) if keep_u else None
        volts = torch.empty_like(current) if keep_v else None
        ps = torch.empty_like(current) if keep_p else None
        spikes = torch.empty_like(current) if spiking else torch.zeros_like(current)
        # an op whose out= is its own input (the same buffer every step) is exact
        u_out = us.unbind(0) if keep_u else (u0,) * steps
        v_out = volts.unbind(0) if keep_v else (v0,) * steps
        p_out = ps.unbind(0) if keep_p else v_out
        s_out, a_in = spikes.unbind(0), current.unbind(0)
        u, v = u0, v0
        has_bias = bool(bias.requires_grad) or bool((bias != 0).any())
        for t in range(steps):
            a = a_in[t]
            if rec is not None and t > 0:
                a = a + s_out[t - 1] @ rec.t()
            u = torch.addcmul(a, alpha, u, out=u_out[t])
            p = torch.addcmul(u, beta, v, out=p_out[t])
            if has_bias:
                p += bias
            if spiking:
                if stochastic:
                    prob = escape_probability(kind, p - vth, sbeta, p0)
                    torch.lt(torch.rand_like(p), prob, out=s_out[t])
                else:
                    torch.gt(p, vth, out=s_out[t])  # 1.0 where p > vth (strict), else 0.0
                # v = p (1 - s), as p - p s: exactly p or 0
                v = torch.addcmul(p, p, s_out[t], value=-1.0, out=v_out[t])
            else:
                v = p
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None (no zeros)
        ctx.save_for_backward(us, ps, spikes, volts, rec, alpha, beta, bias, vth)
        ctx.cfg = (kind, sbeta, p0, spiking, detach_reset)
        return spikes, (volts if record_v or not spiking else None)

    @staticmethod
    def backward(ctx, g_spikes, g_volts):
        us, ps, spikes, volts, rec, alpha, beta, bias, vth = ctx.saved_tensors
        kind, sbeta, p0, spiking, detach_reset = ctx.cfg
        steps, batch, n = spikes.shape
        need = ctx.needs_input_grad
        beta_b = beta.expand(batch, n)
        lp = spikes.new_zeros((batch, n))  # adjoint of p (of step t + 1, then of t)
        lp_all = torch.empty_like(spikes) if need[3] or need[4] else None
        lu_all = torch.empty_like(spikes)  # adjoint of u (= of a, the arriving input)
        lp_out = lp_all.unbind(0) if lp_all is not None else (lp,) * steps
        lu_out = lu_all.unbind(0)
        if g_spikes is None and spiking:
            g_spikes = torch.zeros_like(spikes)
        simple = spiking and rec is None and detach_reset and g_volts is None
        if spiking:
            sg = surrogate_derivative_(kind, ps - vth, sbeta, p0)
        if simple:  # lp_t = Gs_t g_t + beta (1 - s_t) lp_{t+1}
            lsg = sg.mul_(g_spikes).unbind(0)  # sg is not needed after this
            # beta (1 - s) as beta - beta s: exactly beta or 0
            carry = torch.addcmul(beta, beta, spikes, value=-1.0).unbind(0)
        ls_all = None if simple or not spiking else torch.empty_like(spikes)
        lu = spikes.new_zeros((batch, n))
        for t in range(steps - 1, -1, -1):
            if simple:
                lp = torch.addcmul(lsg[t], carry[t], lp, out=lp_out[t])
            else:
                lv = beta_b * lp if g_volts is None else torch.addcmul(g_volts[t], beta_b, lp)
                if spiking:
                    ls = g_spikes[t]
                    if rec is not None and t < steps - 1:
                        ls = ls + lu @ rec
                    if not detach_reset:
                        ls = ls - ps[t] * lv
                    ls_all[t] = ls
                    lp = torch.addcmul(ls * sg[t], lv, 1.0 - spikes[t], out=lp_out[t])
                else:
                    lp = lp_out[t].copy_(lv)
            lu = torch.addcmul(lp, alpha, lu, out=lu_out[t])
        g_rec = None
        if rec is not None:
            g_rec = lu_all[1:].reshape(-1, n).t() @ spikes[:-1].reshape(-1, n)
        g_alpha = g_beta = g_bias = g_vth = None
        if need[2]:
            g_alpha = _reduce_to((lu_all[1:] * us[:-1]).sum(dim=0), alpha.shape)
        if need[3]:
            g_beta = _reduce_to((lp_all[1:] * volts[:-1]).sum(dim=0), beta.shape)
        if need[4]:
            g_bias = _reduce_to(lp_all.sum(dim=0), bias.shape)
        if need[5]:
            g_vth = (_reduce_to(-(sg if simple else ls_all * sg).sum(dim=0), vth.shape)
                     if spiking else torch.zeros_like(vth))
        return (lu_all, g_rec, g_alpha, g_beta, g_bias, g_vth,
                None, None, None, None, None, None, None, None)


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
    record_v: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Spikes and v (after reset), each (steps, batch, neurons), for the arriving input
    ``current`` (steps, batch, neurons); du, dv are clamped to their Loihi ranges. v is
    None when ``record_v`` is False for a spiking population (a non-spiking one always
    returns it): then no (steps, batch, neurons) record of v is kept."""
    alpha = 1.0 - du.clamp(DU_MIN, DU_MAX)
    beta = 1.0 - dv.clamp(DV_MIN, DV_MAX)
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (current, rec, alpha, beta, bias, vth))
    return _LIFScan.apply(current, rec, alpha, beta, bias, vth, spike_fn.kind, spike_fn.beta,
                          spike_fn.p0, spike_fn.stochastic and training, spiking, detach_reset,
                          record_v, grad)
