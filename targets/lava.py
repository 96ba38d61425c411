"""The Lava target: run a :class:`FixedPointNetwork` on Lava 0.10's CPU simulator.

``target="lava"`` uses Lava's ``fixed_pt`` (bit-accurate) process models;
``target="lava-float"`` its ``floating_pt`` models with the float equivalent of the
integers (see ``neurodeploy.targets.lava_worker``). ``target="loihi2"`` needs Intel's
proprietary Lava extension for the chip (``lava-loihi``); neurodeploy cannot test that
path here and says so when the extension is absent.

Each Lava run happens in a child process in its own session (``lava_worker``): the
batch goes in and the traces come out as ``.npz`` files, never through Lava's
per-element ``Var.get``/``Var.set``. The parent enforces a timeout; on timeout, error or
Ctrl-C it sends SIGTERM to the child, which stops Lava's runtime in ``finally``; anything
of the child's process group still alive after a grace period (:data:`STOP_GRACE_S`) is
killed and the shared memory it had mapped is unlinked, so no Lava process or shared
memory is left behind. The cleanup cannot be cut short by a second Ctrl-C or a SIGTERM
(both wait until it is done). Every live worker is registered, so that a caller whose
runs happen in threads (``verify``) can stop them all at once on an interrupt
(:func:`stop_all_workers`) instead of waiting for them to finish.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, TextColumn

from neurodeploy.errors import SimulationError, TargetUnavailableError
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import atomic_savez, network_to_arrays
from neurodeploy.traces import Traces, check_populations, check_record, check_spikes

#: Neurons (batch x (network neurons + inputs)) laid side by side in one Lava run, when
#: given; the default (None) is :func:`auto_neurons_per_run` of the sample length.
DEFAULT_MAX_NEURONS_PER_RUN: int | None = None
#: The cost model of one fixed_pt Lava run of N neurons side by side for ``steps`` steps,
#: ``S + steps * (A + C * N + Q * N**2)`` seconds, fitted to bench/bench_simulators.py's
#: Lava batchings (1 to 64 samples of its 500-neuron network, 100 steps, on a loaded
#: 2-core machine): start-up S, a per-step cost A, a per-step cost per neuron C and a
#: per-step cost that grows with the square of N (Lava's per-step work grew a little
#: faster than the batch: 14.5 ms per sample-step at 32 samples, 15.4 ms at 64). That
#: term is within the loaded machine's noise (another run measured 64 samples fastest,
#: 8.3 against 12.0 ms per sample-step at 32): refit it on a quiet machine.
LAVA_STARTUP_S = 2.4
LAVA_STEP_S = 2.7e-3
LAVA_STEP_PER_NEURON_S = 2.9e-5
LAVA_STEP_PER_NEURON2_S = 6e-11
#: Bounds of the automatic choice (memory of the block-diagonal weights).
AUTO_NEURONS_RANGE = (1_000, 200_000)
#: Seconds allowed per Lava run before it is killed (start-up included).
DEFAULT_TIMEOUT_S = 600.0
#: Seconds a worker gets to stop Lava's runtime after SIGTERM before its group is killed.
STOP_GRACE_S = 1.5

_LIVE: set[subprocess.Popen] = set()  # running Lava workers, for stop_all_workers
_LIVE_LOCK = threading.Lock()


def lava_available() -> bool:
    """True when lava-nc can be imported here."""
    return importlib.util.find_spec("lava") is not None


def netx_available() -> bool:
    """True when lava-dl's netx (and lava-nc) can be imported here."""
    return lava_available() and importlib.util.find_spec("lava.lib.dl") is not None


def loihi_extension_available() -> bool:
    """True when Intel's proprietary Lava extension for Loihi 2 (lava-loihi) is importable."""
    try:
        return importlib.util.find_spec("lava.magma.compiler.subcompilers.nc") is not None or (
            importlib.util.find_spec("lava_loihi") is not None
        )
    except (ImportError, ValueError):
        return False


def live_pids(parent: int | None = None, pgid: int | None = None) -> list[int]:
    """PIDs of live (not zombie) processes whose parent is ``parent`` and/or whose process
    group is ``pgid`` (Linux /proc; [] where there is no /proc)."""
    proc, pids = Path("/proc"), []
    if not proc.is_dir():
        return pids
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":
            continue
        if (parent is None or int(fields[1]) == parent) and (pgid is None
                                                            or int(fields[2]) == pgid):
            pids.append(int(entry.name))
    return pids


def shared_memory_of(pids: list[int]) -> set[str]:
    """Names of POSIX shared-memory segments mapped by ``pids`` (Lava's channels)."""
    names = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        for line in maps.splitlines():
            if "/dev/shm/" in line:
                names.add(line.split("/dev/shm/", 1)[1].split()[0])
    return names


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends (main thread; elsewhere a no-op, since
    Python runs signal handlers in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _kill_group(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Stop the worker and everything it started; leave no process or shared memory.

    First SIGTERM to the worker alone: it unwinds and stops Lava's runtime, which ends
    Lava's processes and unlinks their shared memory. Whatever is still alive after
    ``grace_s`` (or survives the worker) is killed, and the shared-memory segments it
    had mapped are unlinked. Signals arriving meanwhile wait until this is done.
    """
    with _signals_deferred():
        _stop(proc, grace_s)
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def stop_all_workers() -> None:
    """Kill every Lava worker of this process now, without a grace period (on Ctrl-C or
    SIGTERM, also while runs happen in threads); each run then fails and its thread
    returns promptly. Shared memory is unlinked as after any kill."""
    with _LIVE_LOCK:
        running = list(_LIVE)
    for proc in running:
        _kill_group(proc, grace_s=0.0)


def _stop(proc: subprocess.Popen, grace_s: float) -> None:
    if proc.poll() is None and grace_s > 0:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    members = live_pids(pgid=proc.pid)
    if members:
        segments = shared_memory_of(members)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait()
        for name in segments:
            Path("/dev/shm", name).unlink(missing_ok=True)


def _first_error(stderr: bytes) -> str:
    """The first exception line a Lava process printed (Lava often hangs after one)."""
    for line in stderr.decode(errors="replace").splitlines():
        if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line):
            return line.strip()
    return ""


def run_worker(module: str, job: dict[str, np.ndarray], n_results: int, timeout_s: float,
               what: str, files: dict[str, bytes] | None = None) -> list[dict[str, np.ndarray]]:
    """Run ``python -m module JOB_DIR`` in its own session and read back its results.

    ``job`` goes to ``JOB_DIR/job.npz`` (``files``: other files to put beside it, by
    name); the worker writes ``JOB_DIR/rec_<i>.npz`` for i < ``n_results``. The run is
    registered for :func:`stop_all_workers`, killed with its whole process group after
    ``timeout_s`` seconds, on an error or on Ctrl-C, and the job folder is removed;
    ``what`` names the run in error messages (e.g. "lava: batch 4, 100 steps").
    """
    name = what.split(":")[0]
    with tempfile.TemporaryDirectory(prefix=f"neurodeploy-{name}-") as tmp:
        job_dir = Path(tmp)
        atomic_savez(job_dir / "job.npz", job)
        for file_name, data in (files or {}).items():
            (job_dir / file_name).write_bytes(data)
        cmd = [sys.executable, "-m", module, str(job_dir)]
        # whatever Lava and multiprocessing put in the temp folder (pymp-* folders, left
        # behind by killed processes) goes inside the job folder, which is removed below
        (job_dir / "tmp").mkdir()
        env = {**os.environ, "TMPDIR": str(job_dir / "tmp")}
        with _signals_deferred():  # registered as soon as it exists
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, env=env)
            with _LIVE_LOCK:
                _LIVE.add(proc)
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _, err = proc.communicate()
            cause = _first_error(err)
            raise SimulationError(
                f"{what}: run timed out after {timeout_s:.0f} s"
                + (f"; a Lava process failed first: {cause}" if cause else
                   "; pass a larger timeout_s or a smaller batch")
            ) from None
        finally:  # no-op when it already exited; on Ctrl-C or an error: killed at once
            _kill_group(proc, grace_s=0.0)
        if proc.returncode != 0:
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            last = lines[-1] if lines else f"exit code {proc.returncode}"
            raise SimulationError(f"{name}: worker failed: {last}")
        results = []
        for i in range(n_results):
            with np.load(job_dir / f"rec_{i}.npz", allow_pickle=False) as rec:
                results.append({k: rec[k] for k in rec.files})
        return results


def auto_neurons_per_run(steps: int) -> int:
    """Neurons per Lava run that minimise the modelled wall time per sample for samples
    of ``steps`` steps (see :data:`LAVA_STARTUP_S`): with N = batch x neurons per sample,
    the time per sample is proportional to ``(S + steps * (A + C N + Q N**2)) / N``, lowest
    at ``N = sqrt((S + steps * A) / (steps * Q))`` (about 21,000 for 100 steps, 9,000
    for 1,000 steps: short samples amortise the start-up over more of them), within
    :data:`AUTO_NEURONS_RANGE`."""
    steps = max(1, int(steps))
    best = ((LAVA_STARTUP_S + steps * LAVA_STEP_S) / (steps * LAVA_STEP_PER_NEURON2_S)) ** 0.5
    lo, hi = AUTO_NEURONS_RANGE
    return int(min(hi, max(lo, best)))


def samples_per_run(net: FixedPointNetwork, steps: int,
                    max_neurons_per_run: int | None = DEFAULT_MAX_NEURONS_PER_RUN) -> int:
    """Samples laid side by side in one Lava run: as many as ``max_neurons_per_run`` (None:
    :func:`auto_neurons_per_run` of ``steps``) allows, at least one."""
    cap = auto_neurons_per_run(steps) if max_neurons_per_run is None else max_neurons_per_run
    return max(1, int(cap) // max(1, net.n_neurons + net.n_inputs))


def samples_progress(show: bool) -> Progress:
    """The progress bar (on stderr, gone when done) of a target's runs over samples."""
    return Progress(*Progress.get_default_columns(), TextColumn("{task.completed}/{task.total}"),
                    console=Console(stderr=True), transient=True, disable=not show)


def simulate_lava(
    net: FixedPointNetwork,
    spikes: np.ndarray,
    record: Iterable[str] = ("spikes",),
    populations: Iterable[str] | None = None,
    float_mode: bool = False,
    max_neurons_per_run: int | None = DEFAULT_MAX_NEURONS_PER_RUN,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: bool = False,
) -> Traces:
    """Run ``net`` on Lava's CPU simulator; the batch is split into as few runs as fit.

    ``max_neurons_per_run`` caps batch x neurons laid side by side in one run (None: the
    modelled best for the sample length, :func:`samples_per_run`);
    ``timeout_s`` applies to each run; ``progress`` shows a rich progress bar over the
    runs on stderr. Returns :class:`~neurodeploy.Traces` with int64
    u, v for ``fixed_pt`` and float64 (same LSB units) for ``lava-float``.
    """
    if not lava_available():
        raise TargetUnavailableError(
            "lava: lava-nc is not installed; install it with `pip install lava-nc==0.10.0` "
            "(Python 3.10)")
    spikes = check_spikes(net, spikes)
    record = check_record(record)
    wanted = check_populations(net, populations)
    batch, steps, _ = spikes.shape
    per_run = samples_per_run(net, steps, max_neurons_per_run)
    record_state = "u" in record or "v" in record
    net_arrays = network_to_arrays(net)
    state_dtype = np.float64 if float_mode else np.int64
    out_s = {n: np.zeros((batch, steps, net.size_of(n)), bool) for n in wanted}
    out = {kind: {n: np.zeros(out_s[n].shape, state_dtype) for n in wanted}
           for kind in ("u", "v") if kind in record}
    scale = 64.0 if float_mode else 1
    with samples_progress(progress) as bar:
        task = bar.add_task(f"{'lava-float' if float_mode else 'lava'}: samples", total=batch)
        for b0 in range(0, batch, per_run):
            chunk = spikes[b0 : b0 + per_run]
            nb = chunk.shape[0]
            options = {"float_mode": float_mode, "record_state": record_state,
                       "populations": list(wanted)}
            job = {**net_arrays, "__spikes__": chunk.astype(np.uint8),
                   "__options__": np.array(json.dumps(options))}
            results = run_worker("neurodeploy.targets.lava_worker", job, len(wanted),
                                 timeout_s, f"lava: batch {nb}, {steps} steps")
            for name, rec in zip(wanted, results, strict=True):
                shape = (steps, nb, net.size_of(name))  # recorders hold (step, b * size + i)
                out_s[name][b0 : b0 + nb] = rec["spikes"].reshape(shape).transpose(1, 0, 2)
                for kind, values in out.items():
                    values[name][b0 : b0 + nb] = rec[kind].reshape(shape).transpose(1, 0, 2) * scale
            bar.advance(task, nb)
    return Traces(target="lava-float" if float_mode else "lava", spikes=out_s,
                  v=out.get("v", {}), u=out.get("u", {}))


def simulate_loihi2(net: FixedPointNetwork, spikes: np.ndarray, **_: object) -> Traces:
    """Run on a Loihi 2 chip through Intel's Lava extension (untested here)."""
    if not loihi_extension_available():
        raise TargetUnavailableError(
            "loihi2: Intel's proprietary Lava extension for Loihi 2 (lava-loihi) is not "
            "installed; it is available to members of Intel's Neuromorphic Research Community. "
            "Use target 'lava' for the bit-accurate CPU simulation of the same integers")
    raise TargetUnavailableError(  # pragma: no cover - needs the proprietary extension
        "loihi2: the lava-loihi extension was found, but running on the chip through "
        "Loihi2HwCfg is not implemented in this version of neurodeploy")

