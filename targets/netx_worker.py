"""Child-process side of the netx target: run a netx file through lava-dl's netx.

Run as ``python -m neurodeploy.targets.netx_worker JOB_DIR``. ``JOB_DIR/net.net`` is the
netx file, ``JOB_DIR/job.npz`` the input spikes ``__spikes__`` (batch, steps, n_inputs)
and the options ``__options__`` (JSON: ``layers``, the number of layers to record,
``input_message_bits``). Each sample runs on its own freshly built ``netx.hdf5.Network``
on Lava's CPU simulator (``Loihi2SimCfg``, ``fixed_pt``), so no state passes between
samples; ``JOB_DIR/rec_<i>.npz`` gets layer i's spikes (batch, steps, size), step t
being what the layer's ``out`` port sent at Lava step t (0-based). The runtime is
always stopped (also on error or SIGTERM).
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path

import numpy as np
from lava.lib.dl import netx
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc import io

from neurodeploy.network_io import atomic_savez
from neurodeploy.targets.lava_worker import interrupt


def run_sample(net_path: Path, spikes: np.ndarray, n_layers: int,
               input_message_bits: int) -> list[np.ndarray]:
    """Every layer's spikes (steps, size) for one sample's input (steps, n_inputs)."""
    steps = spikes.shape[0]
    net = netx.hdf5.Network(net_config=str(net_path), input_message_bits=input_message_bits)
    source = io.source.RingBuffer(data=spikes.T.astype(np.int32))
    source.s_out.connect(net.inp)
    sinks = []
    for layer in net.layers[:n_layers]:
        sink = io.sink.RingBuffer(shape=layer.out.shape, buffer=steps)
        layer.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return [sink.data.get().T != 0 for sink in sinks]
    finally:
        net.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, interrupt)
    job_dir = Path(argv[0])
    try:
        with np.load(job_dir / "job.npz", allow_pickle=False) as job:
            spikes = job["__spikes__"]
            options = json.loads(str(job["__options__"]))
        per_sample = [run_sample(job_dir / "net.net", x, options["layers"],
                                 options["input_message_bits"]) for x in spikes]
        for i, layer in enumerate(zip(*per_sample, strict=True)):
            atomic_savez(job_dir / f"rec_{i}.npz", {"spikes": np.stack(layer)})
    except KeyboardInterrupt as exc:
        print(f"netx worker interrupted ({exc})", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(f"netx worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
