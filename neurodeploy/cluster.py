"""Where parallel jobs run: the local process pool (default) or a Dask cluster.

A cluster is named by ``--cluster`` or, without the option, by the environment variable
``NEURODEPLOY_CLUSTER``:

- ``local`` or ``local:N``: a Dask ``LocalCluster`` of N worker processes (default: the
  number of CPU cores), one thread each, started for the command and closed after it;
- ``tcp://HOST:PORT``: an existing Dask scheduler (e.g. one started by ``dask-jobqueue``
  on SLURM, or by the Dask Kubernetes operator; see ``docs/cluster.md``).

Neither: :func:`cluster_spec` returns None and callers keep their local process pool.
:func:`open_cluster` connects (at most ``CONNECT_TIMEOUT_S`` seconds), checks that every
worker has the client's neurodeploy version, and returns a :class:`DaskExecutor`: a
:class:`concurrent.futures.Executor` whose tasks are retried on another worker when theirs
dies. Its ``remote`` attribute is True: its workers need not share the client's
filesystem, so callers send inputs and receive outputs as data.

Dask (``dask``, ``distributed``) is the optional extra ``neurodeploy[cluster]``; it is
imported only when a cluster is opened (an optional dependency: a plain install and every
command without ``--cluster`` run without it).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from importlib import metadata

from neurodeploy.errors import InputError

#: Environment variable naming the cluster when ``--cluster`` is not given.
ENV_VAR = "NEURODEPLOY_CLUSTER"
#: Seconds to wait for a scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Times a task is retried after an exception on its worker (a worker's death is retried by
#: the scheduler itself, up to ``distributed.scheduler.allowed-failures`` times).
RETRIES = 2
ALLOWED = "allowed: local, local:N (N >= 1 worker processes) or tcp://HOST:PORT"
_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]+)")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed cluster name: ``kind`` "local" (``workers`` processes, None: one per CPU
    core) or "tcp" (``address`` of an existing scheduler); ``source`` says where it came
    from ("--cluster" or the environment variable)."""

    kind: str
    workers: int | None = None
    address: str | None = None
    source: str = "--cluster"

    def describe(self) -> str:
        """One line for people, e.g. ``Dask LocalCluster of 2 worker processes``."""
        if self.kind == "local":
            n = self.workers or os.cpu_count() or 1
            return f"Dask LocalCluster of {n} worker processes (from {self.source})"
        return f"Dask scheduler at {self.address} (from {self.source})"


def parse_cluster(text: str, source: str = "--cluster") -> ClusterSpec:
    """Parse ``local``, ``local:N`` or ``tcp://HOST:PORT``; InputError (one line naming
    the value and what is allowed) for anything else."""
    value = text.strip()
    if value == "local":
        return ClusterSpec("local", source=source)
    if value.startswith("local:"):
        n = value[len("local:"):]
        if n.isdigit() and int(n) >= 1:
            return ClusterSpec("local", workers=int(n), source=source)
        raise InputError(f"{source} = {text!r}: {n!r} is not a number of workers >= 1; {ALLOWED}")
    match = _TCP.fullmatch(value)
    if match:
        port = int(match["port"])
        if 1 <= port <= 65535:
            return ClusterSpec("tcp", address=value, source=source)
        raise InputError(f"{source} = {text!r}: port {port} is out of range 1..65535; {ALLOWED}")
    raise InputError(f"{source} = {text!r} is not a cluster address; {ALLOWED}")


def cluster_spec(option: str | None) -> ClusterSpec | None:
    """The cluster named by ``option``, else by ``NEURODEPLOY_CLUSTER``, else None (the
    local process pool)."""
    if option is not None:
        return parse_cluster(option)
    env = os.environ.get(ENV_VAR, "").strip()
    return parse_cluster(env, source=ENV_VAR) if env else None


def dask_version() -> str | None:
    """Installed version of ``distributed``, or None (never imports it)."""
    try:
        return metadata.version("distributed")
    except metadata.PackageNotFoundError:
        return None


class DaskExecutor(Executor):
    """A Dask client (and the LocalCluster it started, if any) as a
    :class:`concurrent.futures.Executor`. ``shutdown`` closes the client and that cluster;
    ``shutdown(wait=False)`` cancels the tasks not yet finished first."""

    #: Workers need not share the client's filesystem: send inputs and outputs as data.
    remote = True

    def __init__(self, client, cluster=None) -> None:
        self.client, self.cluster = client, cluster
        # pure=False: every submission runs (same arguments twice are two tasks)
        self._executor = client.get_executor(retries=RETRIES, pure=False)
        self._closed = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    @property
    def n_workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def share(self, value: object) -> object:
        """``value`` sent to the cluster once: a handle that tasks submitted here receive as
        ``value`` itself (instead of one copy per task)."""
        return self.client.scatter([value], hash=False)[0]  # a list: any value is one item


def run_all(executor: Executor | None, fn: Callable, calls: Sequence[tuple],
            on_result: Callable[[int, object], None] | None = None) -> list:
    """``[fn(*args) for args in calls]``: here, one after the other, without an executor;
    else all submitted at once (an argument :meth:`DaskExecutor.share` made reaches ``fn``
    as its value) and gathered in the calls' order. ``on_result(i, result)`` is called as
    each call finishes (in any order on an executor). The first failure (or Ctrl-C)
    cancels the calls not yet finished and is raised."""
    results: list = [None] * len(calls)

    def done(i: int, result: object) -> None:
        results[i] = result
        if on_result is not None:
            on_result(i, result)

    if executor is None:
        for i, args in enumerate(calls):
            done(i, fn(*args))
        return results
    futures: dict[Future, int] = {}
    try:
        for i, args in enumerate(calls):
            futures[executor.submit(fn, *args)] = i
        for future in as_completed(futures):
            done(futures[future], future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results


def share(executor: Executor | None, value: object) -> object:
    """``value`` shared with ``executor``'s workers where it can (a Dask cluster: sent
    once), else ``value`` itself."""
    return executor.share(value) if isinstance(executor, DaskExecutor) else value


def open_cluster(spec: ClusterSpec) -> DaskExecutor:
    """Start (``local``) or connect to (``tcp``) the cluster and check its workers.

    Raises:
        InputError: Dask is not installed, the scheduler does not answer within
            ``CONNECT_TIMEOUT_S`` seconds, it has no workers, or a worker lacks the
            client's neurodeploy version (one line each).
    """
    if dask_version() is None:
        raise InputError(f"{spec.source}: Dask is not installed; allowed: install "
                         "neurodeploy[cluster] (dask, distributed) or omit the cluster")
    # optional dependency, ~0.4 s to import: imported only when a cluster is used
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if spec.kind == "local":
            cluster = LocalCluster(n_workers=spec.workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
        else:
            client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{spec.source} = {spec.address or spec.kind!r}: cannot connect "
                         f"within {CONNECT_TIMEOUT_S:g} s ({reason}); allowed: the address "
                         "of a running Dask scheduler") from None
    executor = DaskExecutor(client, cluster)
    try:
        check_workers(executor, spec)
    except BaseException:
        executor.shutdown(wait=False)
        raise
    return executor


def check_workers(executor: DaskExecutor, spec: ClusterSpec) -> None:
    """InputError (one line) unless every worker has this process's neurodeploy version; a
    ``tcp`` scheduler must have a worker within ``CONNECT_TIMEOUT_S`` seconds. The workers
    run ``importlib.metadata.version`` (standard library, so the check works where
    neurodeploy is missing)."""
    if spec.kind == "tcp":
        try:
            executor.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise InputError(f"{spec.source} = {spec.address!r}: the scheduler has no "
                             f"workers after {CONNECT_TIMEOUT_S:g} s; allowed: a scheduler "
                             "with at least one worker") from None
    mine = metadata.version("neurodeploy")
    found = executor.client.run(metadata.version, "neurodeploy", on_error="return")
    wrong = {w: v for w, v in found.items() if v != mine}
    if wrong:
        worker, version = next(iter(wrong.items()))
        got = "not installed" if not isinstance(version, str) else f"version {version}"
        raise InputError(f"{spec.source}: worker {worker} has neurodeploy {got} "
                         f"({len(wrong)} of {len(found)} workers differ); allowed: "
                         f"neurodeploy {mine} on every worker")

