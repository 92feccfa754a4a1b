"""Group commit for calls that arrive on many threads at once (events from API handlers).

The first caller to find no commit in progress becomes the leader: it takes what is queued (the
oldest ``max_batch`` submissions), writes it in one transaction, hands each caller its own result
and steps down. Callers that arrive meanwhile queue up and are served by the next leader; every
caller returns only once its own submission was written. A lone caller pays one commit
and no waiting; a thousand concurrent callers share a handful of commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(slots=True)
class _Slot(Generic[In, Out]):
    item: In
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class GroupCommitter(Generic[In, Out]):
    def __init__(
        self,
        write: Callable[[Sequence[In]], list[Out]],
        max_batch: int = 512,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        """``observe``: told each batch's size (the events' committer feeds a histogram)."""
        self._write = write
        self._observe = observe
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot[In, Out]] = []
        self._writing = False

    @property
    def queued(self) -> int:
        """Submissions waiting for a leader to take them (for monitoring and tests)."""
        with self._cond:
            return len(self._queue)

    def submit(self, item: In) -> Out:
        """Write ``item`` (alone or with others) and return its own result or raise its own error.

        A leader writes the oldest ``max_batch`` submissions, which need not include its own: it
        then leads again, or waits for whoever leads next, until its own slot is written. Never
        return before that, or the caller would see an error for an event that is written later.
        """
        slot: _Slot[In, Out] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
        while True:
            with self._cond:
                while not slot.done and self._writing:
                    self._cond.wait()
                if slot.done:
                    return self._answer(slot)
                self._writing = True
                batch = self._queue[: self._max_batch]
                del self._queue[: len(batch)]
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Slot[In, Out]]) -> None:
        """One transaction for ``batch``; each slot gets its result, or the batch's error."""
        if self._observe is not None:
            self._observe(len(batch))
        try:
            results = self._write([s.item for s in batch])
            for s, result in zip(batch, results, strict=True):
                s.result = result
        except BaseException as exc:
            for s in batch:
                s.error = exc
        finally:
            with self._cond:
                for s in batch:
                    s.done = True
                self._writing = False
                self._cond.notify_all()

    @staticmethod
    def _answer(slot: _Slot[In, Out]) -> Out:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[no-any-return]
