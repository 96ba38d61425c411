"""The netx target: run a :class:`FixedPointNetwork` through lava-dl's netx.

The network is written as a netx file (:func:`neurodeploy.exchange.netx.write_netx`,
which refuses what netx would run differently) and loaded by lava-dl's
``netx.hdf5.Network`` on Lava's CPU simulator (``fixed_pt``) in a child process
(``neurodeploy.targets.netx_worker``), stopped and cleaned up as the Lava target's are
(timeout, Ctrl-C, SIGTERM: no process, shared memory or temp folder is left). It answers
"does the file a Loihi 2 user loads run as neurodeploy says?": the spikes of every layer,
at netx's step t = neurodeploy's step t (0-based; the written files have lag 0).

netx holds one sample per network, so every sample runs on its own network (about a
second of Lava start-up each); netx records spikes only (``record`` must be spikes).
Needs lava-dl (installed ``--no-deps`` by ``make venv``; see ``docs/netx.md``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from neurodeploy.errors import InputError, TargetUnavailableError
from neurodeploy.exchange.netx import netx_layers, write_netx
from neurodeploy.network import INPUT, FixedPointNetwork
from neurodeploy.targets.lava import DEFAULT_TIMEOUT_S, netx_available, run_worker, samples_progress
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

#: Samples one worker process runs, one fresh netx network each (start-up is shared).
SAMPLES_PER_WORKER = 8


def simulate_netx(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: bool = False,
) -> Traces:
    """Run ``net`` as a netx file through lava-dl's netx on Lava's CPU simulator.

    ``spikes`` (batch, steps, n_inputs); ``timeout_s`` applies to each sample (start-up
    included); ``progress`` shows a bar over the samples on stderr. Returns
    :class:`~neurodeploy.Traces` with the spikes of ``populations`` (default all).
    A network netx cannot express raises the writer's one-line InputError.
    """
    spikes = check_spikes(net, spikes)
    if set(check_record(record)) - {"spikes"}:
        raise InputError(f"netx: record = {sorted(record)}; the netx target records spikes "
                         "only (netx gives no per-step u and v)")
    wanted = check_populations(net, populations)
    layers = netx_layers(net)
    n_layers = max(layers.index(name) for name in wanted) + 1
    first = next(p for p in net.projections if p.src == INPUT)
    with tempfile.TemporaryDirectory(prefix="neurodeploy-netx-file-") as tmp:
        write_netx(net, Path(tmp) / "net.net")
        recs = run_netx_file(Path(tmp) / "net.net", spikes, n_layers,
                             first.conv and first.conv.in_shape,
                             0 if net.input_max == 1 else int(net.input_max).bit_length(),
                             timeout_s, progress)
    return Traces(target="netx", spikes={name: recs[layers.index(name)] for name in wanted})


def run_netx_file(path: str | Path, spikes: np.ndarray, n_layers: int,
                  input_shape: tuple[int, ...] | None = None, input_message_bits: int = 0,
                  timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = False,
                  input_bias: np.ndarray | None = None) -> list[np.ndarray]:
    """The spikes (batch, steps, size) of the first ``n_layers`` of ``Network.layers`` (an
    input layer with a neuron is one; one without is not) of a netx file as lava-dl's netx
    runs it on Lava's CPU simulator (``fixed_pt``), for input ``spikes`` (batch, steps,
    n_inputs); neurons in (C, H, W) order, the input reshaped to ``input_shape``
    (C, H, W) for a file whose input layer is 3-D;
    ``input_bias`` (flat, C, H, W order) sets the ``bias_mant`` of an input layer with a
    neuron (how netx feeds an image). Step t is what a layer sent at Lava step t
    (0-based). One fresh network per sample."""
    if not netx_available():
        raise TargetUnavailableError(
            "netx: lava-dl is not installed; install it with `pip install --no-deps "
            "lava-dl==0.6.0 opencv-python-headless` beside lava-nc 0.10 (see docs/netx.md)")
    options = {"layers": n_layers, "input_message_bits": input_message_bits,
               "input_shape": list(input_shape) if input_shape else None}
    files = {"net.net": Path(path).read_bytes()}
    batch, steps, _ = spikes.shape
    out: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
    with samples_progress(progress) as bar:
        task = bar.add_task("netx: samples", total=batch)
        for b0 in range(0, batch, SAMPLES_PER_WORKER):
            chunk = spikes[b0 : b0 + SAMPLES_PER_WORKER]
            job = {"__spikes__": chunk.astype(np.uint8),
                   "__options__": np.array(json.dumps(options))}
            if input_bias is not None:
                job["__input_bias__"] = np.asarray(input_bias, dtype=np.int64)
            recs = run_worker("neurodeploy.targets.netx_worker", job, n_layers,
                              timeout_s * len(chunk),
                              f"netx: samples {b0}..{b0 + len(chunk) - 1}, {steps} steps",
                              files=files)
            for i, rec in enumerate(recs):
                out[i].append(rec["spikes"])
            bar.advance(task, len(chunk))
    return [np.concatenate(parts) for parts in out]
