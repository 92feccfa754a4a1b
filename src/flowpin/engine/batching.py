"""Group commit for calls that arrive on many threads at once (events from API handlers).

The first caller to find no commit in progress becomes the leader: it takes everything queued
so far, writes it in one transaction, hands each caller its own result and steps down. Callers
that arrive meanwhile queue up and are served by the next leader. A lone caller pays one commit
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
    def __init__(self, write: Callable[[Sequence[In]], list[Out]], max_batch: int = 512) -> None:
        self._write = write
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot[In, Out]] = []
        self._writing = False

    def submit(self, item: In) -> Out:
        slot: _Slot[In, Out] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            while not slot.done and self._writing:
                self._cond.wait()
            if slot.done:
                return self._answer(slot)
            self._writing = True
            batch = self._queue[: self._max_batch]
            del self._queue[: len(batch)]
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
        if not slot.done:  # pragma: no cover - our slot is always in the batch we wrote
            raise RuntimeError("group commit lost a submission")
        return self._answer(slot)

    @staticmethod
    def _answer(slot: _Slot[In, Out]) -> Out:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[no-any-return]
