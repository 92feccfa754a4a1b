"""``api.batches.LoopBatches``: handlers on one event loop share writes; each gets its own
outcome only after its batch was written, and a failed batch fails each of its callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from flowpin.api.batches import LoopBatches


def test_concurrent_submissions_share_writes_and_get_their_own_outcomes() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def write(engine: str, items: Sequence[int]) -> list[str]:
        gate.wait(5)  # the first batch is still being written while the others queue
        batches.append(list(items))
        return [f"{engine}:{item}" for item in items]

    async def go() -> list[str]:
        loop = LoopBatches(write)
        first = asyncio.ensure_future(loop.submit("e", 0))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(loop.submit("e", n)) for n in range(1, 20)]
        gate.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(go()) == [f"e:{n}" for n in range(20)]
    assert batches == [[0], list(range(1, 20))]


def test_a_failed_write_fails_each_caller_of_its_batch_and_the_next_batch_is_written() -> None:
    calls: list[list[int]] = []

    def write(engine: str, items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return list(items)

    async def go() -> None:
        loop = LoopBatches(write)
        failed = await asyncio.gather(
            loop.submit("e", 1), loop.submit("e", 2), return_exceptions=True
        )
        assert [type(f) for f in failed] == [RuntimeError, RuntimeError]
        assert await loop.submit("e", 3) == 3

    asyncio.run(go())
    assert calls == [[1, 2], [3]]


def test_engine_views_are_written_apart() -> None:
    seen: list[tuple[str, list[int]]] = []

    def write(engine: str, items: Sequence[int]) -> list[int]:
        seen.append((engine, list(items)))
        return list(items)

    async def go() -> list[int]:
        loop = LoopBatches(write)
        return await asyncio.gather(loop.submit("a", 1), loop.submit("b", 2), loop.submit("a", 3))

    assert asyncio.run(go()) == [1, 2, 3]
    assert sorted(seen) == [("a", [1, 3]), ("b", [2])]


@pytest.mark.parametrize("size", [1, 3])
def test_max_batch_bounds_a_write(size: int) -> None:
    seen: list[int] = []

    def write(engine: str, items: Sequence[int]) -> list[int]:
        seen.append(len(items))
        return list(items)

    async def go() -> list[int]:
        loop = LoopBatches(write, max_batch=size)
        return await asyncio.gather(*(loop.submit("e", n) for n in range(7)))

    assert asyncio.run(go()) == list(range(7))
    assert max(seen) <= size and sum(seen) == 7


def test_nothing_is_kept_once_a_loop_has_no_submissions_left() -> None:
    loop = LoopBatches(lambda engine, items: list(items))

    async def go() -> list[int]:
        return await asyncio.gather(loop.submit("e", 1), loop.submit("e", 2))

    assert asyncio.run(go()) == [1, 2]
    assert asyncio.run(go()) == [1, 2]  # another event loop, its own queue
    assert loop._queues == {} and loop._writing == set()
