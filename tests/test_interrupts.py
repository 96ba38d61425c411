"""Ctrl-C and SIGTERM during a Lava run: the command stops at once instead of waiting for
the run (which would take minutes), says ``interrupted``, exits 130 (SIGINT) or 143
(SIGTERM) and leaves no process, no shared memory segment, no temporary job folder and no
output file behind. (The bound on the stop time is loose on purpose: it separates "stops
now" from "waits for the run", not fast from slow.)"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from neurodeploy import save_network
from neurodeploy.examples import layered_network
from neurodeploy.targets.lava import live_pids, shared_memory_of

pytestmark = pytest.mark.lava


def shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children, ...), by /proc."""
    found, frontier = set(), [pid]
    while frontier:
        kids = [c for p in frontier for c in live_pids(parent=p)]
        frontier = [k for k in kids if k not in found]
        found.update(frontier)
    return found


@pytest.fixture(scope="module")
def long_lava_job(tmp_path_factory):
    """A network and input that keep Lava busy for far longer than the test waits."""
    folder = tmp_path_factory.mktemp("interrupt")
    net = layered_network([8, 16, 4], seed=0, max_delay=2)
    save_network(net, folder / "net.npz")
    x = np.random.default_rng(0).random((2, 100_000, 8)) < 0.2
    np.savez(folder / "spikes.npz", spikes=x)
    return folder


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_lava_and_leaves_nothing(long_lava_job, sig, code):
    out = long_lava_job / f"traces-{sig.name}.npz"
    # the command's own temp folder; short, since Lava's managers put UNIX sockets there
    tmp = Path(tempfile.mkdtemp(prefix="ndi-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "neurodeploy", "run", str(long_lava_job / "net.npz"),
         "--spikes", str(long_lava_job / "spikes.npz"), "--target", "lava",
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp)})
    # wait until Lava's own processes run (the worker and the processes it starts)
    deadline = time.monotonic() + 120
    while len(descendants(proc.pid)) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)
    workers = descendants(proc.pid)
    assert len(workers) >= 3, "Lava did not start"
    segments = shared_memory_of(list(workers))
    assert segments, "Lava's processes map no shared memory"
    assert list(tmp.glob("neurodeploy-lava-*")), "no Lava job folder"
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == code, err.decode()
    assert err.decode().strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err.decode()
    assert took < 15.0, f"took {took:.1f} s to stop"
    assert not set(live_pids()) & workers, "Lava processes left running"
    assert not segments & shm(), "shared memory left behind"
    assert not list(tmp.iterdir()), "a temporary folder was left behind"
    tmp.rmdir()
    assert not out.exists()
