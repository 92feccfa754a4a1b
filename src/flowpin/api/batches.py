"""Group commit on the event loop: concurrent ``POST /api/runs`` (and ``/api/events``) handlers
await one shared write instead of each taking a worker thread.

A handler checks its item on the loop, queues it and awaits its own outcome. While no write of
that engine view is in progress, the first handler to queue starts one: it takes what is queued
(up to ``max_batch``) and hands the whole batch to the engine on one worker thread, in one
transaction; handlers arriving meanwhile form the next batch. A lone request pays one hop to a
thread and one commit, as before; 32 concurrent ones share a handful of hops and commits,
where each used to take a thread of its own and wake all the others (``Engine``'s threaded
``GroupCommitter``) to find out whose batch was written. Every outcome is delivered only once
its batch was committed (a 201 means written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

In = TypeVar("In")
Out = TypeVar("Out")


class LoopBatches(Generic[In, Out]):
    def __init__(
        self, write: Callable[[Any, Sequence[In]], list[Out]], max_batch: int = 512
    ) -> None:
        """``write(engine, items)``: one transaction for ``items``, one outcome each, in order."""
        self._write = write
        self._max_batch = max_batch
        self._queues: dict[Any, list[tuple[In, asyncio.Future[Out]]]] = {}
        self._writing: set[Any] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def submit(self, engine: Any, item: In) -> Out:
        """``item``'s outcome once the batch holding it is committed; a failed batch raises
        its error in each of its callers."""
        loop = asyncio.get_running_loop()
        key = (engine, loop)  # an app driven by two loops (test clients) keeps them apart
        future: asyncio.Future[Out] = loop.create_future()
        self._queues.setdefault(key, []).append((item, future))
        if key not in self._writing:
            self._writing.add(key)
            task = loop.create_task(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: tuple[Any, asyncio.AbstractEventLoop]) -> None:
        engine, loop = key
        queue = self._queues[key]
        try:
            while queue:
                batch = queue[: self._max_batch]
                del queue[: len(batch)]
                items = [item for item, _ in batch]
                try:
                    writer = getattr(engine, "short_writes", None)
                    if writer is None:
                        outcomes = await run_in_threadpool(self._write, engine, items)
                    else:
                        outcomes = await loop.run_in_executor(writer, self._write, engine, items)
                except BaseException as exc:  # each caller gets the batch's failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._writing.discard(key)
            if not queue:  # nothing can have queued since the loop's last check: no await
                del self._queues[key]


def starts() -> LoopBatches[Any, Any]:
    """Batches of ``POST /api/runs`` (``Engine.start_checked``)."""
    return LoopBatches(lambda engine, items: engine.start_checked(items))


def events() -> LoopBatches[Any, Any]:
    """Batches of ``POST /api/events`` (``Engine.send_checked_events``)."""
    return LoopBatches(lambda engine, items: engine.send_checked_events(items))
