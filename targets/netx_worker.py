"""Child-process side of the netx target: run a netx file through lava-dl's netx.

Run as ``python -m neurodeploy.targets.netx_worker JOB_DIR``. ``JOB_DIR/net.net`` is the
netx file; ``JOB_DIR/job.npz`` holds the input spikes ``__spikes__`` (batch, steps,
n_inputs), optionally an input layer's bias ``__input_bias__``, and the options
``__options__`` (JSON: ``layers``, the number of layers to record,
``input_message_bits``, ``input_shape``). Each sample runs on its own freshly built
``netx.hdf5.Network`` on Lava's CPU simulator (``fixed_pt`` models), so no state passes
between samples; ``JOB_DIR/rec_<i>.npz`` gets the spikes (batch, steps, size) of
``Network.layers[i]``, step t being what its ``out`` port sent at Lava step t (0-based).
The runtime is always stopped (also on error or SIGTERM).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from lava.lib.dl import netx
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import RunConfig
from lava.proc import io

from neurodeploy.network_io import atomic_savez
from neurodeploy.targets.lava_worker import run_worker_main


class FixedPointCfg(RunConfig):
    """Lava's fixed_pt model of every process, netx's hierarchical blocks included (what
    lava-dl's own netx tests select; ``Loihi2SimCfg`` finds no model for an input layer
    with a neuron)."""

    def __init__(self) -> None:
        super().__init__(custom_sync_domains=None)

    def select(self, _: object, proc_models: list) -> object:
        for pm in proc_models:
            if "fixed_pt" in pm.tags:
                return pm
        raise AssertionError("no fixed_pt ProcessModel")


def run_sample(net_path: Path, spikes: np.ndarray, n_layers: int, input_message_bits: int,
               input_shape: list[int] | None, input_bias: np.ndarray | None = None
               ) -> list[np.ndarray]:
    """Every layer's spikes (steps, size) for one sample's input (steps, n_inputs).

    ``input_shape`` (C, H, W) when the input is 3-D: netx's layers hold (W, H, C) arrays,
    which go in and come out in neurodeploy's flat (C, H, W) order. ``input_bias``
    (flat, C, H, W order) is the ``bias_mant`` of an input layer with a neuron (how netx
    feeds an image, e.g. to PilotNet)."""
    steps = spikes.shape[0]
    net = netx.hdf5.Network(net_config=str(net_path), input_message_bits=input_message_bits)
    if input_bias is not None:
        shape = input_shape or [input_bias.size]
        net.in_layer.neuron.bias_mant.init = input_bias.reshape(shape).T
    data = spikes.reshape(steps, *input_shape) if input_shape else spikes
    source = io.source.RingBuffer(data=data.T.astype(np.int32))
    first = net.layers[0]
    if isinstance(first, netx.blocks.process.Input):  # an input layer with a neuron: the
        source.s_out.connect(first.neuron.a_in)  # spikes go to it, as lava-dl's tests do
    else:
        source.s_out.connect(net.inp)
    sinks = []
    for layer in net.layers[:n_layers]:
        sink = io.sink.RingBuffer(shape=layer.out.shape, buffer=steps)
        layer.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=FixedPointCfg())
        return [sink.data.get().T.reshape(steps, -1) != 0 for sink in sinks]
    finally:
        net.stop()


def run_job(job_dir: Path) -> None:
    """Every sample of ``JOB_DIR/job.npz`` through ``JOB_DIR/net.net``; one rec file per layer."""
    with np.load(job_dir / "job.npz", allow_pickle=False) as job:
        spikes = job["__spikes__"]
        options = json.loads(str(job["__options__"]))
        bias = job["__input_bias__"] if "__input_bias__" in job.files else None
    per_sample = [run_sample(job_dir / "net.net", x, options["layers"],
                             options["input_message_bits"], options["input_shape"], bias)
                  for x in spikes]
    for i, layer in enumerate(zip(*per_sample, strict=True)):
        atomic_savez(job_dir / f"rec_{i}.npz", {"spikes": np.stack(layer)})


def main(argv: list[str] | None = None) -> int:
    return run_worker_main("netx", run_job, argv)


if __name__ == "__main__":
    sys.exit(main())
