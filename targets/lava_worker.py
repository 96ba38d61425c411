"""Child-process side of the Lava target: build the Lava network, run it, write traces.

Run as ``python -m neurodeploy.targets.lava_worker JOB_DIR``. ``JOB_DIR/job.npz`` holds
the network (``neurodeploy.network_io`` layout), the input spikes of one batch and the
options; the recorders write ``JOB_DIR/rec_<i>.npz``. The runtime is always stopped
(also on error or SIGTERM), so no Lava child process or shared memory outlives the run.

Batching: the samples of a batch are laid side by side as extra neurons. Every
population becomes one LIF process of batch*size neurons (index ``b * size + i``) and
every projection one ``Sparse`` (``DelaySparse`` when it has delays) with the
block-diagonal weights ``kron(eye(batch), W)``. Samples cannot interact: there is no
synapse between blocks, and each neuron has its own state and delay buffer.

Float mode (``lava-float``) runs Lava's floating_pt models with the float equivalent of
the integers at scale S = 64 (state in units of one weight LSB): ``du_f = (du + 1)/4096``,
``dv_f = dv/4096``, ``vth_f = vth``, ``W_f = W * 2**weight_exp``, ``bias_f = bias/64``;
u and v are multiplied by 64 on the way out so they share the fixed targets' units.
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import SignMode
from scipy.sparse import csr_matrix, identity, kron

from neurodeploy import fixed_point as fp
from neurodeploy.network import INPUT, Projection
from neurodeploy.network_io import network_from_arrays
from neurodeploy.targets.lava_procs.processes import PerNeuronLIF, SpikeStateRecorder


def sparse_weights(p: Projection) -> csr_matrix:
    """The projection's int64 weights as a CSR matrix; a convolution's straight from its
    kernel (an image-sized layer's dense matrix would not fit in memory)."""
    if p.conv is None:
        return csr_matrix(p.weights.astype(np.int64))
    dst, src, values = p.conv.nonzero_synapses()
    return csr_matrix((values, (dst, src)), shape=(p.n_dst, p.n_src), dtype=np.int64)


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: unwind with KeyboardInterrupt so that `finally` stops Lava."""
    raise KeyboardInterrupt(f"signal {signum}")


def _unconnected_populations(net) -> list[str]:
    """Populations with no path (either direction) to the input, in network order.

    Lava compiles only the processes connected to the one it runs, so these would be
    left out; the worker links one population of each such group to the input with zero
    weights (a zero weight changes no sum).
    """
    adj = {n: set() for n in (INPUT, *net.populations)}
    for p in net.projections:
        adj[p.src].add(p.dst)
        adj[p.dst].add(p.src)
    seen: set[str] = set()
    roots = []
    for start in (INPUT, *net.populations):
        if start in seen:
            continue
        if start != INPUT:
            roots.append(start)
        seen.add(start)
        todo = [start]
        while todo:
            for m in adj[todo.pop()] - seen:
                seen.add(m)
                todo.append(m)
    return roots


def build_and_run(job_dir: Path) -> None:
    with np.load(job_dir / "job.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    options = json.loads(str(arrays.pop("__options__")))
    spikes = arrays.pop("__spikes__")
    net = network_from_arrays(arrays, source="lava job")
    float_mode = bool(options["float_mode"])
    record_state = bool(options["record_state"])
    wanted = list(options["populations"])
    batch, steps, n_in = spikes.shape
    eye = identity(batch, format="csr", dtype=np.int64)

    data = spikes.transpose(0, 2, 1).reshape(batch * n_in, steps)
    ring = RingBuffer(data=data.astype(float if float_mode else np.int32))
    lif = {}
    for name, pop in net.populations.items():
        bias = fp.effective_bias(pop.param("bias_mant"), pop.param("bias_exp"))
        uniform = all(pop.is_uniform(k) for k in ("du", "dv", "vth"))
        if float_mode:
            params = dict(du=(pop.param("du") + 1) / fp.DECAY_UNITY,
                          dv=pop.param("dv") / fp.DECAY_UNITY, vth=pop.param("vth") * 1.0)
            kwargs = dict(bias_mant=np.tile(bias / 64.0, batch), bias_exp=0)
        else:
            params = {k: pop.param(k) for k in ("du", "dv", "vth")}
            kwargs = dict(bias_mant=np.tile(pop.param("bias_mant"), batch),
                          bias_exp=np.tile(pop.param("bias_exp"), batch))
        shape = (batch * pop.size,)
        if pop.reset_interval and not uniform:
            raise ValueError(f"population '{name}': timed state resets run on Lava's LIFReset, "
                             "which takes one du, dv and vth per population")
        if uniform:  # Lava's own LIF process, scalar parameters as Python numbers
            cast = float if float_mode else int
            scalars = {k: cast(v[0]) for k, v in params.items()}
            if pop.reset_interval:  # Lava counts steps from 1: step t is its t + 1
                lif[name] = LIFReset(shape=shape, **scalars, **kwargs,
                                     reset_interval=pop.reset_interval,
                                     reset_offset=(pop.reset_offset + 1) % pop.reset_interval)
            else:
                lif[name] = LIF(shape=shape, **scalars, **kwargs)
        else:
            vectors = {k: np.tile(v, batch) for k, v in params.items()}
            lif[name] = PerNeuronLIF(shape=shape, **vectors, **kwargs)

    conns = []
    for p in net.projections:
        w = sparse_weights(p)
        if float_mode:
            weights = kron(eye, w * 2.0 ** p.weight_exp, format="csr")
        else:
            weights = kron(eye, w, format="csr").astype(np.int32)
        fixed_kwargs = {} if float_mode else dict(
            weight_exp=p.weight_exp, num_weight_bits=p.num_weight_bits,
            sign_mode=SignMode[p.sign_mode.upper()],
        )
        if p.src == INPUT and net.input_max > 1:  # graded input: counts multiply weights
            fixed_kwargs["num_message_bits"] = int(net.input_max).bit_length()
        if p.max_delay > 0:
            delays = kron(eye, csr_matrix(p.delay_matrix()), format="csr").astype(np.int64)
            conn = DelaySparse(weights=weights, delays=delays, **fixed_kwargs)
        else:
            conn = Sparse(weights=weights, **fixed_kwargs)
        source = ring if p.src == INPUT else lif[p.src]
        source.s_out.connect(conn.s_in)
        conn.a_out.connect(lif[p.dst].a_in)
        conns.append(conn)
    for name in _unconnected_populations(net):
        zero = csr_matrix((batch * net.populations[name].size, batch * n_in),
                          dtype=float if float_mode else np.int32)
        conn = Sparse(weights=zero)
        ring.s_out.connect(conn.s_in)
        conn.a_out.connect(lif[name].a_in)
        conns.append(conn)

    recorders = []
    for i, name in enumerate(wanted):
        shape = (batch * net.populations[name].size,)
        rec = SpikeStateRecorder(shape=shape, num_steps=steps,
                                 path=str(job_dir / f"rec_{i}.npz"), record_state=record_state)
        lif[name].s_out.connect(rec.s_in)
        if record_state:
            rec.u_ref.connect_var(lif[name].u)
            rec.v_ref.connect_var(lif[name].v)
        recorders.append(rec)

    cfg = Loihi2SimCfg(select_tag="floating_pt" if float_mode else "fixed_pt")
    try:
        ring.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
    finally:
        ring.stop()


def run_worker_main(name: str, body: Callable[[Path], None], argv: list[str] | None) -> int:
    """A worker process's main: ``body(JOB_DIR)`` with SIGTERM turned into an interrupt (so
    that ``finally`` blocks stop Lava's runtime); exit 0, 130 when interrupted, 1 with the
    error's last line on stderr (which the parent reports)."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, interrupt)
    try:
        body(Path(argv[0]))
    except KeyboardInterrupt as exc:
        print(f"{name} worker interrupted ({exc})", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(f"{name} worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_worker_main("lava", build_and_run, argv)


if __name__ == "__main__":
    sys.exit(main())
