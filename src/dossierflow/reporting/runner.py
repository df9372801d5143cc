"""One store, one query at a time, off the event loop.

A `Store`'s client is not thread-safe, and the sink opens one store for reading; every HTTP
handler that queries it (the report, the dashboard) goes through the process's one runner,
which runs the blocking query in a worker thread while holding an asyncio lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from dossierflow.store import Store

P = ParamSpec("P")
T = TypeVar("T")


class QueryRunner:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def run(
        self, query: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`query(store, *args, **kwargs)` in a thread, after any query already running."""
        async with self._lock:
            return await asyncio.to_thread(query, self.store, *args, **kwargs)
