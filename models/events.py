"""Spike events of time-major tensors, bucketed by where they are delivered, compiled.

Training with delays works per input event (``models.delays``): an event (t, b, c) of a
(steps, batch, channels) input with a channel shift s_c is delivered to output row
``(t + s_c) * batch + b`` (clamped to the last step, where its value counts as 0), and the
embedding bags that sum the events need them grouped by that row; the gradients need them
grouped by channel. :func:`shifted_events` and :func:`by_channel` do this in one pass over
the input and one over the events (a counting sort, stable: within a row the events keep
the input's (t, b, c) order, within a channel their row order), compiled by numba without
the GIL; torch's ``nonzero`` and stable ``argsort`` give the same arrays, event for event
(``tests/test_delays_speed.py``), in several passes of their own. CPU tensors only;
compiled code is cached with the integer kernel's (``neurodeploy.kernel.compiled``).

Time convention: 0-based steps.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from neurodeploy.kernel.compiled import cached_jit


@njit(inline="always")
def _positions(keys, counts):
    """Where a stable counting sort puts each event: events of key ``k`` (``counts[k]`` of
    them) in their order, after those of the smaller keys."""
    starts = np.cumsum(counts) - counts
    out = np.empty(keys.shape[0], np.int64)
    for k in range(keys.shape[0]):
        out[k] = starts[keys[k]]
        starts[keys[k]] += 1
    return out


def _shifted_events(x, shift, limit):
    steps, batch, channels = x.shape
    counts = np.zeros(steps * batch, np.int64)
    size = min(limit, x.size) + channels
    found_rows = np.empty(size, np.int64)  # in x's order
    found_cols = np.empty(size, np.int64)
    found_values = np.empty(size, x.dtype)
    n = 0
    for t in range(steps):
        for b in range(batch):
            row = x[t, b]
            first = n
            for c in range(channels):  # branch-free: a store per entry, none mispredicted
                found_cols[n] = c
                n += row[c] != 0
            if n > limit:
                return -1, found_rows, found_cols, found_values, counts
            for k in range(first, n):
                c = found_cols[k]
                delivered = t + shift[c]
                r = min(delivered, steps - 1) * batch + b
                found_rows[k] = r
                found_values[k] = row[c] if delivered < steps else 0
                counts[r] += 1
    at = _positions(found_rows[:n], counts)
    rows = np.empty(n, np.int64)
    cols = np.empty(n, np.int64)
    values = np.empty(n, x.dtype)
    rows[at] = found_rows[:n]
    cols[at] = found_cols[:n]
    values[at] = found_values[:n]
    return n, rows, cols, values, counts


def _by_channel(cols, rows, values, channels):
    counts = np.bincount(cols, minlength=channels)
    at = _positions(cols, counts)
    rows_out = np.empty_like(rows)
    values_out = np.empty_like(values)
    rows_out[at] = rows
    values_out[at] = values
    return rows_out, values_out, counts


_shifted_events_compiled = cached_jit(_shifted_events)
_by_channel_compiled = cached_jit(_by_channel)


def shifted_events(x: torch.Tensor, shift: torch.Tensor, limit: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The nonzero entries of ``x`` (steps, batch, channels; CPU) delivered ``shift``
    (channels,) whole steps later, as ``(rows, cols, values, counts)``: by output row
    ``min(t + s_c, steps - 1) * batch + b`` (ascending; within a row in x's order), the
    channel, the value (0 where ``t + s_c >= steps``: delivered past the end) and the
    events per output row (steps x batch); None when there are more than ``limit``."""
    n, rows, cols, values, counts = _shifted_events_compiled(
        x.detach().contiguous().numpy(), shift.contiguous().numpy(), int(limit))
    if n < 0:
        return None
    return (torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(values),
            torch.from_numpy(counts))


def by_channel(cols: torch.Tensor, rows: torch.Tensor, values: torch.Tensor, channels: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Events regrouped by channel (stable): ``(rows, values, counts)`` in the order of a
    stable sort of ``cols``, with the events per channel (channels,)."""
    rows, values, counts = _by_channel_compiled(cols.numpy(), rows.numpy(), values.numpy(),
                                                int(channels))
    return torch.from_numpy(rows), torch.from_numpy(values), torch.from_numpy(counts)
