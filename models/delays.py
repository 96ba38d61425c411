"""Trainable axonal and per-synapse delays (in steps) with a differentiable shift.

A delay d >= 0 (continuous while training) moves a spike train later in time by d steps:
``y(t) = (1 - f) x(t - k) + f x(t - k - 1)`` with ``k = floor(d)``, ``f = d - k``: linear
interpolation between the two neighbouring integer shifts, which is differentiable in d
(``dy/dd = x(t - k - 1) - x(t - k)``, the right derivative at an integer d). Per-synapse
delays are a causal convolution over time with the triangular kernel
``h_d[j] = max(0, 1 - |j - d|)`` (the same interpolation, one-hot when d is an integer).
Delays are clamped to [0, max_delay] (Loihi 2: at most 62) and rounded to integers for
deployment; ``integer=True`` uses the rounded delays in the forward pass (no gradient to the
delays), for the final training phase that makes rounding free.

All take ``hop`` (steps, default 0): a further uniform delay (the projection's one step of
latency) folded into the same shift, so that a layer needs no separate copy for it.

Tensors are time-major: (steps, batch, channels); steps are 0-based. The layers' paths are
:class:`torch.autograd.Function` s with hand-written backward passes (the adjoint of a shift
by s steps is a shift by -s): no scatter, no (steps, batch, out, in) intermediate.
:func:`axonal_current` (shift and weights in one) and :func:`synaptic_current` work per
input event when the input is sparse (spikes: an event adds its weight columns at its
delayed steps, an embedding bag; the weight and delay gradients sum the output gradient at
those steps), and with matrix products when it is dense (axonal: channel-major, channels
sorted by shift, each shift a time slice; per-synapse: one product per kernel tap on a
time-shifted view). The input gradient is dense (matrix products) either way. The events
are found and grouped (by output row, by channel) in one compiled pass on the CPU
(:mod:`neurodeploy.models.events`, numba), by torch's ``nonzero`` and stable ``argsort``
elsewhere: the same arrays in the same order, so the same sums to the last bit.
``tests/test_delays_speed.py`` checks values and gradients against the plain definitions.
"""

from __future__ import annotations

import torch

from neurodeploy.errors import InputError
from neurodeploy.fixed_point import DELAY_MAX


def triangle_kernel(delays: torch.Tensor, max_delay: int, first: int = 0) -> torch.Tensor:
    """(..., max_delay + 2 - first) interpolation kernels, tap j weighting x(t - j), for
    j = first..max_delay+1 (taps below ``first`` are left out)."""
    taps = torch.arange(first, max_delay + 2, dtype=delays.dtype, device=delays.device)
    return torch.relu(1.0 - (taps - delays.unsqueeze(-1)).abs())


def effective_delays(raw: torch.Tensor, max_delay: int, integer: bool) -> torch.Tensor:
    """Delays used in the forward pass: clamped to [0, max_delay], rounded if ``integer``."""
    d = raw.clamp(0.0, float(max_delay))
    return d.detach().round() if integer else d


class _AxonalShift(torch.autograd.Function):
    """``y(t) = (1 - f) x(t - s) + f x(t - s - 1)`` per channel, ``s = floor(d) + hop``.

    Forward: one gather of the near shift into a buffer with a leading zero step, so the
    far shift is the same buffer one step earlier (a view), and one ``lerp``. Backward:
    the adjoint lerp (``(1 - f) g(t) + f g(t + 1)``) and one gather shifting back by -s.
    """

    @staticmethod
    def forward(ctx, x, delays, max_delay, hop):
        steps, batch, channels = x.shape
        k = delays.detach().floor().clamp(0, max_delay)
        frac = delays.detach() - k
        shift = k.long() + hop  # (channels,)
        pad = int(shift.max()) if channels else 0
        xp = torch.cat([x.new_zeros((pad, batch, channels)), x]) if pad else x
        t = torch.arange(steps, device=x.device).unsqueeze(1)
        near = x.new_empty((steps + 1, batch, channels))  # near[1 + t] = x(t - s)
        near[0].zero_()
        torch.gather(xp, 0, (t + pad - shift).unsqueeze(1).expand(steps, batch, channels),
                     out=near[1:])
        interpolate = ctx.needs_input_grad[1] or bool(frac.any())
        y = torch.lerp(near[1:], near[:-1], frac) if interpolate else near[1:].clone()
        ctx.save_for_backward(near, frac, shift)
        ctx.interpolate = interpolate
        return y

    @staticmethod
    def backward(ctx, g_y):
        near, frac, shift = ctx.saved_tensors
        steps, batch, channels = g_y.shape
        g_x = g_d = None
        if ctx.needs_input_grad[0]:
            pad = int(shift.max()) if channels else 0
            g_near = g_y.new_zeros((steps + pad, batch, channels))
            if ctx.interpolate:  # (1 - f) g(t) + f g(t + 1)
                torch.mul(g_y, 1.0 - frac, out=g_near[:steps])
                g_near[:steps - 1].addcmul_(g_y[1:], frac)
            else:
                g_near[:steps] = g_y
            t = torch.arange(steps, device=g_y.device).unsqueeze(1)
            g_x = g_near.gather(0, (t + shift).unsqueeze(1).expand(steps, batch, channels))
        if ctx.needs_input_grad[1]:
            diff = torch.sub(near[:-1], near[1:])  # x(t - s - 1) - x(t - s)
            g_d = diff.mul_(g_y).sum(dim=(0, 1))
        return g_x, g_d, None, None


def shift_axonal(x: torch.Tensor, delays: torch.Tensor, max_delay: int,
                 hop: int = 0) -> torch.Tensor:
    """Delay each channel of x (steps, batch, channels) by its own delay (channels,), in
    steps, plus ``hop`` whole steps for every channel (zeros shift in at step 0).

    The result equals the triangular kernel's (two taps: the neighbouring integer shifts);
    ``delays`` must already be clamped to [0, max_delay] (:func:`effective_delays`).
    """
    return _AxonalShift.apply(x, delays, max_delay, hop)


def _shift_groups(shift: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int, int]]]:
    """Channels sorted by shift (stable) and the runs ``(start, stop, shift)`` of that order."""
    order = torch.argsort(shift, stable=True)
    values, counts = torch.unique_consecutive(shift[order], return_counts=True)
    runs, start = [], 0
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        runs.append((start, start + count, value))
        start += count
    return order, runs


class _AxonalLinear(torch.autograd.Function):
    """``current(t) = W y(t)`` with y the axonal shift of x (:func:`shift_axonal`), hop included.

    Sparse inputs (spikes: at most ``SPARSE_DENSITY`` nonzero) work per event: an input
    event (t, b, c) of value v adds ``(1 - f_c) v W[:, c]`` to step t + s_c and ``f_c v
    W[:, c]`` to step t + s_c + 1 (two embedding bags); the weight and delay gradients sum
    the output gradient at those steps per channel (two more). Dense inputs work
    channel-major, channels sorted by their integer shift: every run of channels with the
    same shift s is one time slice ``[s:]`` of a (channels, steps, batch) buffer, and the
    matrix products read the channel-major buffers transposed. The input gradient is dense
    either way: the adjoint interpolation, channel-major, shifted back by -s per run.
    """

    @staticmethod
    def forward(ctx, x, weight, delays, max_delay, hop):
        steps, batch, channels = x.shape
        n_out = weight.shape[0]
        k = delays.detach().floor().clamp(0, max_delay)
        frac = delays.detach() - k
        shift = k.long() + hop
        interpolate = ctx.needs_input_grad[2] or bool(frac.any())
        events = _shifted_events(x, shift, int(SPARSE_DENSITY * x.numel())) if x.numel() \
            else None
        if events is not None:
            rows, c, v, counts = events
            offsets = counts.cumsum(0) - counts
            table = weight.detach().t().contiguous()  # (channels, n_out)
            f = frac.to(x.dtype)[c]
            current = torch.nn.functional.embedding_bag(c, table, offsets, mode="sum",
                                                        per_sample_weights=v - v * f)
            if interpolate and steps > 1:
                far = torch.nn.functional.embedding_bag(c, table, offsets, mode="sum",
                                                        per_sample_weights=v * f)
                current[batch:] += far[:-batch]
            ctx.save_for_backward(x, weight, frac, shift, rows, c, v)
            ctx.events = True
            return current.view(steps, batch, n_out)
        order, runs = _shift_groups(shift)
        f = frac[order].view(-1, 1, 1)
        # channel-major, sorted: a 2-D transpose (ATen's blocked copy) and a row selection
        xs = x.reshape(-1, channels).t().contiguous().index_select(0, order)
        xs = xs.view(channels, steps, batch)
        y = torch.empty_like(xs)
        for a, b_, s in runs:
            y[a:b_, :s].zero_()
            if s >= steps:
                continue
            if not interpolate:
                y[a:b_, s:] = xs[a:b_, :steps - s]
                continue
            torch.mul(xs[a:b_, 0], 1.0 - f[a:b_, 0], out=y[a:b_, s])
            if s + 1 < steps:  # (1 - f) x(t - s) + f x(t - s - 1)
                torch.lerp(xs[a:b_, 1:steps - s], xs[a:b_, :steps - s - 1], f[a:b_],
                           out=y[a:b_, s + 1:])
        current = torch.mm(y.view(channels, -1).t(), weight.detach()[:, order].t())
        ctx.save_for_backward(x, weight, frac, shift, xs, y)
        ctx.events = False
        return current.view(steps, batch, n_out)

    @staticmethod
    def backward(ctx, g_current):
        x, weight, frac, shift = ctx.saved_tensors[:4]
        steps, batch, channels = x.shape
        n_out = weight.shape[0]
        g_cur = g_current.reshape(-1, n_out).contiguous()
        need_x, need_w, need_d = ctx.needs_input_grad[:3]
        g_x = g_w = g_d = None
        order, runs = _shift_groups(shift)
        f = frac[order].to(x.dtype).view(-1, 1, 1)
        w_sorted = weight.detach()[:, order]
        g_y = dz = None
        if need_x or (need_d and not ctx.events):
            g_y = torch.mm(w_sorted.t(), g_cur.t()).view(channels, steps, batch)
        if need_d and not ctx.events:
            dz = torch.empty_like(g_y)  # g(t + 1) - g(t), g(steps) = 0
            torch.sub(g_y[:, 1:], g_y[:, :-1], out=dz[:, :-1])
            torch.neg(g_y[:, -1], out=dz[:, -1])
        if ctx.events and (need_w or need_d):
            rows, c, v = ctx.saved_tensors[4:]
            rows, v, counts = _by_channel(c, rows, v, channels)
            offsets = counts.cumsum(0) - counts
            padded = torch.cat([g_cur, g_cur.new_zeros((batch, n_out))])  # g(steps) = 0
            g_near = torch.nn.functional.embedding_bag(rows, padded, offsets, mode="sum",
                                                       per_sample_weights=v)
            g_far = torch.nn.functional.embedding_bag(rows + batch, padded, offsets,
                                                      mode="sum", per_sample_weights=v)
            fc = frac.to(x.dtype).unsqueeze(1)
            if need_w:  # sum_t g(t) y(t): y's near and far taps
                g_w = torch.lerp(g_near, g_far, fc).t()
            if need_d:  # sum_t g_y(t) (x(t - s - 1) - x(t - s))
                g_d = ((g_far - g_near) * weight.detach().t()).sum(dim=1)
        elif not ctx.events:
            xs, y = ctx.saved_tensors[4:]
            if need_w:
                g_w = torch.empty_like(w_sorted).index_copy_(
                    1, order, torch.mm(g_cur.t(), y.view(channels, -1).t()))
            if need_d:
                g_sorted = xs.new_zeros(channels)
                for a, b, s in runs:  # sum_t g(t) (x(t - s - 1) - x(t - s))
                    if s < steps:
                        g_sorted[a:b] = (xs[a:b, :steps - s] * dz[a:b, s:]).sum(dim=(1, 2))
                g_d = torch.empty_like(g_sorted).index_copy_(0, order, g_sorted)
        if need_x:
            g_xs = torch.empty_like(g_y)
            for a, b, s in runs:  # (1 - f) g(t) + f g(t + 1), shifted back by s
                g_xs[a:b, max(steps - s, 0):].zero_()
                if s < steps:  # g(steps) = 0
                    torch.lerp(g_y[a:b, s:steps - 1], g_y[a:b, s + 1:], f[a:b],
                               out=g_xs[a:b, :steps - s - 1])
                    torch.mul(g_y[a:b, steps - 1], 1.0 - f[a:b, 0],
                              out=g_xs[a:b, steps - s - 1])
            inverse = torch.empty_like(order).index_copy_(0, order, torch.arange(
                channels, device=order.device))
            g_x = g_xs.view(channels, -1).index_select(0, inverse).t().contiguous()
            g_x = g_x.view(steps, batch, channels)
        if g_d is not None:
            g_d = g_d.to(frac.dtype)
        return g_x, g_w, g_d, None, None


def _compiled_for(x: torch.Tensor) -> bool:
    """Whether :mod:`neurodeploy.models.events` takes ``x``: CPU float32/float64 tensors."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _shifted_events(x: torch.Tensor, shift: torch.Tensor, limit: int
                   ) -> tuple[torch.Tensor, ...] | None:
    """``(rows, cols, values, counts)`` of x's events delivered ``shift`` steps later
    (:func:`neurodeploy.models.events.shifted_events`), or None beyond ``limit`` events:
    compiled on the CPU, else :func:`shifted_events_torch`."""
    if _compiled_for(x):
        from neurodeploy.models import events

        return events.shifted_events(x, shift, limit)
    return shifted_events_torch(x, shift, limit)


def shifted_events_torch(x: torch.Tensor, shift: torch.Tensor, limit: int
                        ) -> tuple[torch.Tensor, ...] | None:
    """:func:`neurodeploy.models.events.shifted_events` in torch operations (any device)."""
    t, b, c = x.nonzero(as_tuple=True)
    if len(t) > limit:
        return None
    steps, batch, _ = x.shape
    v = x[t, b, c]
    t = t + shift[c]
    keep = t < steps  # events shifted past the end deliver nothing: weight 0
    v = torch.where(keep, v, torch.zeros_like(v))
    rows = t.clamp_(max=steps - 1) * batch + b  # output row of the near tap
    order = torch.argsort(rows, stable=True)
    rows, c, v = rows[order], c[order], v[order]
    return rows, c, v, torch.bincount(rows, minlength=steps * batch)


def _by_channel(c: torch.Tensor, rows: torch.Tensor, v: torch.Tensor, channels: int
                ) -> tuple[torch.Tensor, ...]:
    """The events regrouped by channel, stable: ``(rows, values, counts)``
    (:func:`neurodeploy.models.events.by_channel` on the CPU, else
    :func:`by_channel_torch`)."""
    if _compiled_for(v):
        from neurodeploy.models import events

        return events.by_channel(c, rows, v, channels)
    return by_channel_torch(c, rows, v, channels)


def by_channel_torch(c: torch.Tensor, rows: torch.Tensor, v: torch.Tensor, channels: int
                     ) -> tuple[torch.Tensor, ...]:
    """:func:`neurodeploy.models.events.by_channel` in torch operations (any device)."""
    order = torch.argsort(c, stable=True)
    return rows[order], v[order], torch.bincount(c, minlength=channels)


def axonal_current(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor,
                   max_delay: int, hop: int = 0) -> torch.Tensor:
    """``shift_axonal(x, delays, max_delay, hop) @ weight.T`` (steps, batch, n_out) for x
    (steps, batch, channels), weight (n_out, channels), delays (channels,) in steps (already
    clamped, :func:`effective_delays`), in one pass without the time-major shifted copy."""
    return _AxonalLinear.apply(x, weight, delays, max_delay, hop)


#: Largest share of nonzero inputs for which :class:`_TapConv` adds kernel rows per input
#: event (an embedding bag) instead of multiplying dense matrices.
SPARSE_DENSITY = 0.25


class _Events:
    """The nonzero entries of a (rows, n_in) input, by row (for the forward sums) and, on
    demand, by input channel (for the kernel gradient)."""

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
                 counts: torch.Tensor, n_in: int) -> None:
        self.n_rows, self.n_in, self.rows, self.cols = len(counts), n_in, rows, cols
        self.all_values = values
        self.values = None if bool((values == 1).all()) else values
        self.ends = counts.cumsum(0)
        self.offsets = self.ends - counts

    @classmethod
    def of_sparse(cls, flat: torch.Tensor) -> _Events | None:
        """The events of ``flat``, or None when more than ``SPARSE_DENSITY`` of it is
        nonzero (the matrix products are then the cheaper way)."""
        if not flat.numel():
            return None
        n_rows, n_in = flat.shape
        events = _shifted_events(flat.view(n_rows, 1, n_in),  # rows as steps, no shift
                                 flat.new_zeros(n_in, dtype=torch.long),
                                 int(SPARSE_DENSITY * flat.numel()))
        return None if events is None else cls(*events, n_in)

    def forward_sum(self, table: torch.Tensor, n_rows: int) -> torch.Tensor:
        """(n_rows, n_out): for each of the first ``n_rows`` rows, the sum of ``table``'s
        rows (n_in, n_out) at its events, weighted by their values."""
        end = int(self.ends[n_rows - 1]) if n_rows else 0
        weights = None if self.values is None else self.values[:end]
        return torch.nn.functional.embedding_bag(self.cols[:end], table,
                                                 self.offsets[:n_rows], mode="sum",
                                                 per_sample_weights=weights)

    def backward_sums(self, padded: torch.Tensor, shift_rows: torch.Tensor) -> torch.Tensor:
        """(shifts, n_in, n_out): for each shift s (in rows) and channel, the sum over the
        channel's events (row r, value v) of ``v padded[r + s]``, in one embedding bag;
        ``padded`` is the gradient with at least ``max(shift_rows)`` zero rows after its
        end (events delivered past the end add 0)."""
        rows, values, counts = _by_channel(self.cols, self.rows, self.all_values, self.n_in)
        offsets = counts.cumsum(0) - counts
        n = len(rows)
        rows = rows.unsqueeze(0) + shift_rows.unsqueeze(1)  # (shifts, events)
        values = None if self.values is None else values.repeat(len(shift_rows))
        offsets = offsets.unsqueeze(0) + n * torch.arange(
            len(shift_rows), device=offsets.device).unsqueeze(1)
        sums = torch.nn.functional.embedding_bag(rows.view(-1), padded, offsets.view(-1),
                                                 mode="sum", per_sample_weights=values)
        return sums.view(len(shift_rows), self.n_in, -1)


class _TapConv(torch.autograd.Function):
    """``y(t) = sum_j x(t - first - j) @ kernel[:, :, j].T`` for x (steps, batch, n_in),
    kernel (n_out, n_in, taps), on time-shifted views (time-major tensors make each shift a
    contiguous slice). Sparse inputs (spikes: at most ``SPARSE_DENSITY`` nonzero) add the
    kernel rows of their events (an embedding bag per tap, for the output and the kernel
    gradient: work in proportion to the events); dense inputs multiply matrices, one per tap.
    The input gradient is a dense product per tap either way."""

    @staticmethod
    def forward(ctx, x, kernel, first):
        x = x.contiguous()
        steps, batch, n_in = x.shape
        n_out, _, taps = kernel.shape
        at = kernel.detach().permute(2, 1, 0).contiguous()  # (taps, n_in, n_out)
        shifts = range(first, min(first + taps, steps))
        flat = x.view(-1, n_in)
        events = _Events.of_sparse(flat) if taps > 1 else None
        y = x.new_empty((steps, batch, n_out))
        y[:first].zero_()
        for j, s in enumerate(shifts):
            dst = y[s:].view(-1, n_out)
            if events is not None:
                part = events.forward_sum(at[j], (steps - s) * batch)
                dst.copy_(part) if j == 0 else dst.add_(part)
            elif j == 0:
                torch.mm(flat[:(steps - s) * batch], at[j], out=dst)
            else:
                dst.addmm_(flat[:(steps - s) * batch], at[j])
        ctx.save_for_backward(x, kernel)
        ctx.first, ctx.events = first, events
        return y

    @staticmethod
    def backward(ctx, g_y):
        x, kernel = ctx.saved_tensors
        first, events = ctx.first, ctx.events
        steps, batch, n_in = x.shape
        n_out, _, taps = kernel.shape
        g_y = g_y.contiguous()
        g_flat = g_y.view(-1, n_out)
        shifts = range(first, min(first + taps, steps))
        g_x = g_k = None
        if ctx.needs_input_grad[0]:
            g_x = torch.empty_like(x)
            g_x[max(steps - first, 0):].zero_()
            ak = kernel.detach().permute(2, 0, 1).contiguous()  # (taps, n_out, n_in)
            for j, s in enumerate(shifts):
                src, dst = g_y[s:].view(-1, n_out), g_x[:steps - s].view(-1, n_in)
                if j == 0:
                    torch.mm(src, ak[j], out=dst)
                else:
                    dst.addmm_(src, ak[j])
        if ctx.needs_input_grad[1]:
            g_k = kernel.new_zeros((taps, n_out, n_in))
            if events is not None and len(shifts):
                padded = torch.cat([g_flat, g_flat.new_zeros((shifts[-1] * batch, n_out))])
                sums = events.backward_sums(
                    padded, torch.tensor(shifts, device=x.device) * batch)
                g_k[:len(shifts)] = sums.transpose(1, 2)
            for j, s in enumerate(shifts if events is None else ()):
                torch.mm(g_y[s:].view(-1, n_out).t(), x[:steps - s].view(-1, n_in),
                         out=g_k[j])
            g_k = g_k.permute(1, 2, 0)
        ctx.events = None
        return g_x, g_k, None


def tap_conv(x: torch.Tensor, kernel: torch.Tensor, first: int = 0) -> torch.Tensor:
    """Causal convolution over time: ``y(t) = sum_j kernel[:, :, j] @ x(t - first - j)``
    (zero before step 0) for x (steps, batch, n_in), kernel (n_out, n_in, taps); a kernel
    of one tap with ``first = 1`` is a linear projection with one step of latency."""
    return _TapConv.apply(x, kernel, first)


def synaptic_current(
    x: torch.Tensor, weights: torch.Tensor, delays: torch.Tensor, max_delay: int,
    hop: int = 0,
) -> torch.Tensor:
    """``sum_j w_ij x_j(t - hop - d_ij)`` for x (steps, batch, n_in), weights/delays
    (n_out, n_in); ``hop`` whole steps of further delay for every synapse.

    A causal convolution whose kernel ``w_ij h_{d_ij}`` carries each synapse's delay. Taps
    beyond the largest current delay are zero in value and gradient (the triangle ``h_d``
    is 0 for j >= floor(d) + 2), and so are taps below the smallest (j < floor(min d)), so
    the kernel runs from tap ``floor(min d)`` to ``floor(max d) + 1``: it costs n_out x
    n_in x (taps) multiply-adds per step and sample, at most max_delay + 2 taps.
    """
    if delays.numel():
        d = delays.detach()
        longest = int(d.max().floor().clamp(0, max_delay))
        shortest = min(int(d.min().floor().clamp(0, max_delay)), longest)
    else:
        longest = shortest = 0
    kernel = weights.unsqueeze(-1) * triangle_kernel(delays, longest, shortest)
    return tap_conv(x, kernel, shortest + hop)


def check_max_delay(max_delay: int) -> int:
    """Validate a maximum delay against the Loihi 2 limit."""
    if not isinstance(max_delay, int) or not 0 <= max_delay <= DELAY_MAX:
        raise InputError(f"max_delay = {max_delay} is out of range; allowed 0..{DELAY_MAX} steps")
    return max_delay
