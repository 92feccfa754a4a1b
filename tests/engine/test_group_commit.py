"""The group commit behind ``Engine.send_event``: every caller gets back its own submission's
outcome, only after that submission was written, however many callers share a commit."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from flowpin.engine.batching import GroupCommitter
from waiting import wait_until

CALLERS = 20


class _Recorder:
    """A write that blocks its first batch until released, so the other callers queue up behind
    it; batches containing ``failing`` raise."""

    def __init__(self, failing: int | None = None) -> None:
        self.written: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.failing = failing

    def __call__(self, items: Sequence[int]) -> list[int]:
        if not self.started.is_set():
            self.started.set()
            assert self.release.wait(30)
        if self.failing in items:
            raise ValueError(f"batch with {self.failing} refused")
        self.written.extend(items)
        return [item * 10 for item in items]


def _submit_all(committer: GroupCommitter[int, int], recorder: _Recorder) -> dict[int, object]:
    outcomes: dict[int, object] = {}

    def call(item: int) -> None:
        try:
            outcomes[item] = committer.submit(item)
        except Exception as exc:  # the caller's own error is an outcome too
            outcomes[item] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert recorder.started.wait(30)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, CALLERS)]
    for thread in others:
        thread.start()
    wait_until(lambda: committer.queued == CALLERS - 1, "the other callers to queue", seconds=30)
    recorder.release.set()
    for thread in [first, *others]:
        thread.join(60)
        assert not thread.is_alive()
    return outcomes


def test_each_caller_returns_its_own_result_after_its_own_slot_is_written() -> None:
    recorder = _Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(recorder, max_batch=2)

    outcomes = _submit_all(committer, recorder)

    assert outcomes == {i: i * 10 for i in range(CALLERS)}
    assert sorted(recorder.written) == list(range(CALLERS))
    assert committer.queued == 0


def test_a_failed_batch_fails_only_its_own_callers() -> None:
    recorder = _Recorder(failing=7)
    committer: GroupCommitter[int, int] = GroupCommitter(recorder, max_batch=2)

    outcomes = _submit_all(committer, recorder)

    failed = {i for i, outcome in outcomes.items() if isinstance(outcome, ValueError)}
    assert 7 in failed and len(failed) <= 2
    assert {i: outcomes[i] for i in range(CALLERS) if i not in failed} == {
        i: i * 10 for i in range(CALLERS) if i not in failed
    }
    assert sorted(recorder.written) == sorted(set(range(CALLERS)) - failed)
    assert committer.queued == 0
