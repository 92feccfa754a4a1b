"""How the executor hands sync handler calls to its threads (``executor._SyncBatcher``): the
calls ready in one pass are split into one chunk per thread, except those of a *quick* action
(its calls' mean time, learnt from its calls, at most ``QUICK_CALL_SECONDS``), which share a few
chunks; an action not yet timed or slower never shares a chunk with them, and a chunk of quick
calls has at most ``QUICK_CHUNK_MAX`` calls. Every call is made and delivered either way."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from flowpin.worker.executor import QUICK_CHUNK_MAX, _SyncBatcher


class _Pool:
    """Runs each chunk at once, in the caller's thread, and keeps it."""

    def __init__(self) -> None:
        self.chunks: list[list[Any]] = []

    def submit(self, fn: Any, loop: Any, chunk: list[Any]) -> None:
        self.chunks.append([kind for _fn, _deliver, _may, kind in chunk])
        fn(loop, chunk)


def quick() -> str:
    return "quick"


def slow() -> str:
    time.sleep(0.002)
    return "slow"


def untimed() -> str:
    return "untimed"


async def _pass(batcher: _SyncBatcher, calls: list[Any]) -> list[Any]:
    got: list[Any] = []
    for fn in calls:
        batcher.submit_callback(fn, lambda value, exc: got.append(value), kind=fn)
    batcher.submit_callback(untimed, lambda value, exc: got.append(value))  # no kind
    for _ in range(5):
        await asyncio.sleep(0)  # the flush, then the deliveries
    return got


def test_quick_calls_share_chunks_and_slow_or_untimed_ones_do_not() -> None:
    pool = _Pool()
    batcher = _SyncBatcher(pool, threads=16)  # type: ignore[arg-type]
    first = asyncio.run(_pass(batcher, [quick] * 100 + [slow] * 4))
    assert sorted(first) == ["quick"] * 100 + ["slow"] * 4 + ["untimed"]
    # Nothing was timed yet: 105 calls in chunks of ceil(105 / 16), as before.
    assert [len(c) for c in pool.chunks] == [7] * 15
    assert batcher.typical[quick] < 0.0002 < batcher.typical[slow]
    assert None not in batcher.typical

    pool.chunks.clear()
    second = asyncio.run(_pass(batcher, [quick] * 200 + [slow] * 4))
    assert sorted(second) == ["quick"] * 200 + ["slow"] * 4 + ["untimed"]
    quick_chunks = [c for c in pool.chunks if quick in c]
    assert all(set(c) == {quick} for c in quick_chunks)  # never behind a slow or untimed call
    assert len(quick_chunks) == -(-200 // QUICK_CHUNK_MAX)
    others = [c for c in pool.chunks if quick not in c]
    assert sorted(len(c) for c in others) == [1] * 5  # slow and untimed: one chunk per thread
