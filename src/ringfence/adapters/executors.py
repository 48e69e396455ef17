"""Where batch runs execute (the ``Executor`` port): in this process, or on Dask distributed.

``--executor`` names one:

- ``in-process`` (the default): each task runs here, one after another, as it is asked for.
- ``dask-local:N``: a ``LocalCluster`` of N worker processes of one thread each, started for
  the run and closed after it (``processes=True``: the hashing holds the GIL).
- ``dask://HOST:PORT``: the scheduler of a running cluster; its workers must have ringfence
  installed (tasks are ringfence's own functions, pickled by reference) and, for a run over a
  store, reach the database at the URL the run was given.

The Dask adapter is ``adapters/dask_executor.py``, imported only when one is asked for (it
brings in ``distributed``, a second of imports that an in-process run does not need).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.service.ports import Executor

_Item = TypeVar("_Item")
_Outcome = TypeVar("_Outcome")

in_process: Final = "in-process"
_local = re.compile(r"dask-local:([0-9]{1,3})")
_remote = re.compile(r"dask://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})")


class InProcessExecutor:
    """Every task in this process, lazily: one item in memory at a time."""

    name = in_process

    def map(
        self, task: Callable[[_Item], _Outcome], items: Iterable[_Item]
    ) -> Iterator[_Outcome]:
        return map(task, items)

    def close(self) -> None:
        return None


def open_executor(spec: str) -> Executor:
    """The executor ``spec`` names (see the module docstring); ``InputError``
    ``executor_invalid`` for anything else, ``ExecutorError`` for a cluster that does not
    start or answer."""
    if spec == in_process:
        return InProcessExecutor()
    local = _local.fullmatch(spec)
    if local is not None:
        workers = int(local.group(1))
        if not 1 <= workers <= limits.batch_local_workers_max:
            raise InputError(Result.executor_invalid,
                             f"{spec}: 1 to {limits.batch_local_workers_max} workers")
        from ringfence.adapters.dask_executor import local_executor

        return local_executor(spec, workers)
    remote = _remote.fullmatch(spec)
    if remote is not None and 0 < int(remote.group(2)) < 2**16:
        from ringfence.adapters.dask_executor import remote_executor

        return remote_executor(spec, f"tcp://{remote.group(1)}:{remote.group(2)}")
    raise InputError(Result.executor_invalid,
                     f"{spec!r}: use in-process, dask-local:N or dask://HOST:PORT")
