"""Trace comparison shared by the bit-exactness tests."""

import numpy as np
import pytest

RECORD = ("spikes", "v", "u")


def assert_same_traces(expected, got, populations, expected_name="reference",
                       got_name="other", check_dtype=False) -> None:
    """Fail at the first (sample, step, neuron) where spikes, v or u differ."""
    for name in populations:
        for kind in RECORD:
            a, b = getattr(expected, kind)[name], getattr(got, kind)[name]
            if check_dtype:
                assert a.shape == b.shape and a.dtype == b.dtype, (kind, name, a.dtype, b.dtype)
            if not (a == b).all():
                idx = tuple(np.argwhere(a != b)[0])
                pytest.fail(f"{kind} of {name!r} differs first at (sample, step, neuron) {idx}: "
                            f"{expected_name} {a[idx]}, {got_name} {b[idx]}")
