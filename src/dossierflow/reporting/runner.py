"""One store, one query at a time, off the event loop, each within a time limit.

A `Store`'s client is not thread-safe, and the sink opens one store for reading; every HTTP
handler that queries it (the report, the dashboard) goes through the process's one runner,
which runs the blocking query in a worker thread while holding an asyncio lock.

A request may not hold the store, nor the event loop, for as long as it likes: ClickHouse
stops any query of this client after `time_limit` seconds (its `max_execution_time`
setting), the caller gets `QueryTimeout` at the latest a second after that even if the
engine overran, and at most `max_waiting` requests queue for the store (`StoreBusy` past
that), so a burst of heavy requests is refused instead of piling up.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from dossierflow.store import Store, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")

TIMEOUT_EXCEEDED = "TIMEOUT_EXCEEDED"
"""The name of ClickHouse's error 159, in the text of the exception the driver raises."""
GRACE = 1.0
"""Seconds past the engine's own limit before the caller stops waiting for it."""


class QueryTimeout(StoreUnavailable):
    """A query ran past the runner's time limit and was stopped."""


class StoreBusy(StoreUnavailable):
    """Too many requests already wait for the store."""


class QueryRunner:
    def __init__(self, store: Store, time_limit: float = 30.0, max_waiting: int = 16) -> None:
        self.store = store
        self.time_limit = time_limit
        self.max_waiting = max_waiting
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._limited = False

    async def run(
        self, query: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`query(store, *args, **kwargs)` in a thread, after any query already running."""
        if self._waiting >= self.max_waiting:
            raise StoreBusy(
                f"{self._waiting} requests already wait for the store; try again shortly"
            )
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        loop = asyncio.get_running_loop()
        try:
            if not self._limited:  # every query of this client, from the first one on
                self.store.client.set_client_setting(
                    "max_execution_time", str(math.ceil(self.time_limit))
                )
                self._limited = True
            work = loop.run_in_executor(None, functools.partial(query, self.store, *args, **kwargs))
        except BaseException:
            self._lock.release()
            raise
        # The lock is released when the thread ends, not when the caller stops waiting: the
        # client must not run two queries at once.
        work.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.time_limit + GRACE)
        except TimeoutError:
            raise self._timeout() from None
        except Exception as exc:
            if TIMEOUT_EXCEEDED in str(exc):
                raise self._timeout() from None
            raise

    def _finished(self, work: asyncio.Future[Any]) -> None:
        self._lock.release()
        if not work.cancelled():
            work.exception()  # retrieved: a caller that timed out no longer awaits it

    def _timeout(self) -> QueryTimeout:
        return QueryTimeout(
            f"the query was stopped after its time limit of {self.time_limit:g} s "
            "(DOSSIERFLOW_SINK_QUERY_TIME_LIMIT); ask for a shorter period or a smaller unit"
        )
