"""Static data as spike times: scikit-learn's 8x8 digits, brighter pixel -> earlier spike.

Every pixel is one input channel that spikes exactly once, at (tau_syn units)::

    t = window * (1 - p / 16)          p in 0..16 (the digits' intensity range)

so the brightest pixels spike at t = 0 and blank pixels (p = 0) at t = window, the end
of the encoding window. Blank pixels spike too, on purpose: when every input spikes, a
neuron whose weights sum above threshold is guaranteed to fire (its membrane tends to
the weight sum), which is what the weight-sum penalty relies on. The network adds one
reference spike (``TTFSConfig.reference_time``, default t = 0) as a learnable bias in
time, as Mostafa's synchronisation pulses.

Split: 1797 images, stratified by class (``sklearn.model_selection.train_test_split``
with ``random_state=seed``), ``test_fraction`` (default 0.2: 1437 train / 360 test).
The data ship with scikit-learn: no download.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurodeploy.errors import InputError

#: The digits' largest pixel value.
DIGITS_MAX = 16.0


def intensity_to_time(pixels: np.ndarray, window: float, max_value: float = DIGITS_MAX,
                      ) -> np.ndarray:
    """Spike times (tau_syn units): ``window * (1 - p / max_value)``, p clipped to
    [0, max_value]; every channel spikes once inside [0, window]."""
    if not np.isfinite(window) or window <= 0:
        raise InputError(f"window = {window} is not allowed; the encoding window must be > 0 "
                         "(tau_syn units)")
    p = np.clip(np.asarray(pixels, dtype=np.float64), 0.0, max_value)
    return window * (1.0 - p / max_value)


@dataclass
class TimedDigits:
    """The digits as spike times: (samples, 64) times in tau_syn units and labels 0..9."""

    train_times: np.ndarray
    train_labels: np.ndarray
    test_times: np.ndarray
    test_labels: np.ndarray
    description: dict


def digits_description(seed: int = 0, window: float = 2.0, test_fraction: float = 0.2) -> dict:
    """What :func:`load_timed_digits` was called with (stored in the model's config)."""
    return {"name": "sklearn-digits", "seed": int(seed), "window": float(window),
            "test_fraction": float(test_fraction),
            "encoding": "t = window * (1 - pixel / 16), tau_syn units"}


def load_timed_digits(seed: int = 0, window: float = 2.0, test_fraction: float = 0.2,
                      ) -> TimedDigits:
    """The 8x8 digits encoded by :func:`intensity_to_time`, split stratified and seeded."""
    # Lazy: scikit-learn is no declared dependency (only these digits need it) and takes
    # ~1.5 s to import.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction = {test_fraction} is not allowed; allowed (0, 1)")
    pixels, labels = load_digits(return_X_y=True)
    times = intensity_to_time(pixels, window)
    x_tr, x_te, y_tr, y_te = train_test_split(
        times, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    return TimedDigits(x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64),
                       digits_description(seed, window, test_fraction))


def load_described(description: dict) -> TimedDigits:
    """Rebuild the data a model was trained on from its stored description."""
    if description.get("name") != "sklearn-digits":
        raise InputError(f"data {description.get('name')!r} is unknown; this module builds "
                         "'sklearn-digits' (pass test times and labels yourself otherwise)")
    return load_timed_digits(description["seed"], description["window"],
                             description["test_fraction"])
