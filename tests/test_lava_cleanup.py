"""Lava runs leave nothing behind: no child process, no shared memory, also on timeout."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from neurodeploy import SimulationError, simulate
from neurodeploy.examples import layered_network

pytestmark = pytest.mark.lava


def children() -> set[int]:
    pids = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        pids.update(int(p) for p in text)
    return pids


def shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def settle(before_shm: set[str], timeout: float = 10.0) -> tuple[set[int], set[str]]:
    end = time.monotonic() + timeout
    while True:
        left_children, left_shm = children(), shm() - before_shm
        if (not left_children and not left_shm) or time.monotonic() > end:
            return left_children, left_shm
        time.sleep(0.1)


@pytest.fixture
def net():
    return layered_network([6, 8, 3], seed=1, max_delay=3)


def test_normal_run_leaves_no_process_or_shared_memory(net):
    before = shm()
    x = np.random.default_rng(0).random((2, 20, 6)) < 0.3
    simulate(net, x, target="lava")
    assert settle(before) == (set(), set())


def test_timeout_kills_the_run_and_cleans_up(net):
    before = shm()
    x = np.zeros((1, 200000, 6), bool)
    t0 = time.monotonic()
    with pytest.raises(SimulationError, match="timed out after 3 s"):
        simulate(net, x, target="lava", timeout_s=3)
    assert time.monotonic() - t0 < 30
    assert settle(before) == (set(), set())


def test_loihi2_target_says_what_is_missing(net):
    from neurodeploy import TargetUnavailableError

    with pytest.raises(TargetUnavailableError, match="proprietary Lava extension"):
        simulate(net, np.zeros((1, 5, 6), bool), target="loihi2")
