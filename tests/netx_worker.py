"""Run a netx file through lava-dl's netx on Lava's CPU simulator (a child process).

``python tests/netx_worker.py NET SPIKES OUT``: SPIKES is an .npy (steps, n_inputs) of
0/1; OUT gets an .npz with every layer's spikes as ``layer{i}`` (steps, size), step t
being what the layer's ``out`` port sent at Lava step t (0-based). The runtime is
stopped in ``finally``. The tests start it through ``run_netx`` in ``test_netx``.
"""

from __future__ import annotations

import sys

import numpy as np
from lava.lib.dl import netx
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc import io


def main(net_path: str, spikes_path: str, out_path: str) -> None:
    spikes = np.load(spikes_path)
    steps = spikes.shape[0]
    net = netx.hdf5.Network(net_config=net_path)
    source = io.source.RingBuffer(data=spikes.T.astype(np.int32))
    source.s_out.connect(net.inp)
    sinks = []
    for layer in net.layers:
        sink = io.sink.RingBuffer(shape=layer.out.shape, buffer=steps)
        layer.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=steps),
                run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        data = {f"layer{i}": sink.data.get().T.astype(np.uint8) for i, sink in
                enumerate(sinks)}
    finally:
        net.stop()
    np.savez(out_path, **data)


if __name__ == "__main__":
    main(*sys.argv[1:4])
