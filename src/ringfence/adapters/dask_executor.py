"""The Dask distributed executor (the ``Executor`` port; ``adapters/executors.py`` chooses).

It submits a bounded window of tasks (twice the cluster's threads) and yields results in order
as they come, so neither the coordinator nor the workers hold a whole run's inputs at once. A
task's own exception comes back as it was raised. A failure of the cluster itself, a scheduler
that dies, workers killed while running a task more often than the scheduler allows
(``KilledWorker``), or no worker left for the scheduler's ``no-workers-timeout``, raises
``ExecutorError``, and the run's caller keeps nothing of it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeVar

import dask
from distributed import Client, Future, LocalCluster
from distributed.scheduler import KilledWorker, NoValidWorkerError, NoWorkerError

from ringfence.core.errors import ExecutorError

_Item = TypeVar("_Item")
_Outcome = TypeVar("_Outcome")

# How long to wait for a scheduler to answer, and a local cluster's workers to start.
_connect_timeout_s: Final = 30
# A run whose tasks have had no worker this long fails instead of waiting for ever.
_no_workers_timeout: Final = "60s"
# Exceptions that say the cluster, not the task, failed (a lost scheduler raises OSError's
# CommClosedError; cancelled futures raise either kind of CancelledError).
_cluster_failures = (OSError, asyncio.CancelledError, concurrent.futures.CancelledError,
                     TimeoutError)


class DaskExecutor:
    """Tasks on a Dask cluster through ``client`` (and the local cluster it owns, if any)."""

    def __init__(self, client: Client, name: str, cluster: LocalCluster | None = None) -> None:
        self.client = client
        self.name = name
        self._cluster = cluster

    @property
    def window(self) -> int:
        threads = sum(self.client.nthreads().values())
        return 2 * max(threads, 1)

    def map(
        self, task: Callable[[_Item], _Outcome], items: Iterable[_Item]
    ) -> Iterator[_Outcome]:
        return self._results(task, iter(items))

    def _results(
        self, task: Callable[[_Item], _Outcome], items: Iterator[_Item]
    ) -> Iterator[_Outcome]:
        in_flight: deque[Future] = deque()
        try:
            in_flight.extend(self._submit(task, item) for item in itertools.islice(
                items, self._window_or_fail()))
            while in_flight:
                outcome: _Outcome = self._outcome(in_flight.popleft())
                in_flight.extend(self._submit(task, item) for item in itertools.islice(items, 1))
                yield outcome
        finally:
            for future in in_flight:
                with contextlib.suppress(Exception):
                    future.release()

    def _window_or_fail(self) -> int:
        # A client that lost its scheduler says so at once ("connecting" while it retries);
        # asking the scheduler anything then would wait out the client's reconnect timeout.
        if self.client.status != "running":
            raise ExecutorError(f"{self.name}: no scheduler (the client is {self.client.status}); "
                                "nothing of the run was kept")
        try:
            return self.window
        except _cluster_failures as error:
            raise ExecutorError(f"{self.name}: the scheduler does not answer: {error}") from error

    def _submit(self, task: Callable[[_Item], _Outcome], item: _Item) -> Future:
        try:
            return self.client.submit(task, item, pure=False)
        except _cluster_failures as error:
            raise ExecutorError(f"{self.name}: cannot submit a task: {error}") from error

    def _outcome(self, future: Future) -> Any:
        try:
            return future.result()
        except (Exception, asyncio.CancelledError) as error:
            if future.status == "error" and not _is_cluster_failure(error):
                raise  # the task's own exception, as it raised it
            raise ExecutorError(
                f"{self.name} failed mid-run ({type(error).__name__}: {error}); "
                "nothing of the run was kept") from error

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=5)


def _is_cluster_failure(error: BaseException) -> bool:
    return isinstance(error, KilledWorker | NoWorkerError | NoValidWorkerError)


def local_executor(spec: str, workers: int) -> DaskExecutor:
    """A ``LocalCluster`` of ``workers`` processes of one thread, owned by the executor."""
    try:
        with dask.config.set({"distributed.scheduler.no-workers-timeout": _no_workers_timeout}):
            # No dashboard; the scheduler's HTTP server (metrics) on any free loopback port,
            # so that two clusters on one machine never compete for its default 8787.
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR,
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
        client = Client(cluster, timeout=_connect_timeout_s)
    except (Exception, asyncio.CancelledError) as error:
        raise ExecutorError(f"{spec}: the local cluster did not start: {error}") from error
    return DaskExecutor(client, spec, cluster)


def remote_executor(spec: str, address: str) -> DaskExecutor:
    """The cluster whose scheduler is at ``address`` (tcp://HOST:PORT)."""
    try:
        client = Client(address, timeout=_connect_timeout_s)
    except (Exception, asyncio.CancelledError) as error:
        raise ExecutorError(f"{spec}: no scheduler answers: {error}") from error
    return DaskExecutor(client, spec)
