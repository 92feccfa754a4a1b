"""A test kit for users' own tests: run workflows in-process on a temporary SQLite file, with
actions stubbed by id and a clock you control (a 3-day ``time.wait`` passes instantly).

    kit = WorkflowTestKit(stubs={"crm.create_ticket@1": {"ticketId": "T-1"}})
    kit.publish("workflows/email-to-ticket.json")
    run_id = kit.start("email-to-ticket", {"email": …})
    run = kit.run_to_completion()            # skips through timers
    assert kit.get_run(run_id)["status"] == "SUCCEEDED"
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flowpin.clock import FakeClock
from flowpin.engine.facade import Engine
from flowpin.registry.catalog import Registry


def advance(engine: Engine, clock: FakeClock, delta: timedelta) -> None:
    """Move ``clock`` forward by ``delta``, working ``engine`` at every timer due on the way, in
    order (a run sees each of its timers fire at its own time, not all at the end)."""
    target = clock.now() + delta
    engine.run_worker(until_idle=True)
    while True:
        due = engine.next_due()
        if due is None or due > target:
            break
        if due > clock.now():
            clock.set(due)
        engine.run_worker(until_idle=True)
    clock.set(max(target, clock.now()))
    engine.run_worker(until_idle=True)


def _as_callable(stub: Any) -> Callable[..., Any]:
    if callable(stub):
        return stub
    return lambda _input: stub


class WorkflowTestKit:
    def __init__(
        self,
        *,
        actions: tuple[Any, ...] | list[Any] = (),
        stubs: dict[str, Any] | None = None,
        start: datetime | None = None,
        directory: str | Path | None = None,
        secrets: dict[str, str] | None = None,
    ) -> None:
        self._tmp = None if directory else tempfile.mkdtemp(prefix="flowpin-kit-")
        folder = Path(directory or self._tmp or ".")
        self.clock = FakeClock(start)
        registry = Registry()
        for item in actions:
            registry.register(item)
        secret_values = dict(secrets or {})

        def lookup(_tenant: str, name: str) -> str:
            return secret_values[name]

        self.engine = Engine(
            f"sqlite:///{folder / 'flowpin-kit.db'}",
            registry=registry,
            clock=self.clock,
            stubs={key: _as_callable(value) for key, value in (stubs or {}).items()},
            secrets=lookup,
        )

    def close(self) -> None:
        self.engine.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> WorkflowTestKit:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # Delegates kept explicit so the kit reads as a small API.
    def publish(self, definition: Any) -> Any:
        return self.engine.publish(definition)

    def start(self, workflow: str, payload: Any = None, **kwargs: Any) -> str:
        return self.engine.start(workflow, payload, **kwargs)

    def send_event(self, name: str, key: str | None = None, payload: Any = None, **kw: Any) -> Any:
        return self.engine.send_event(name, key, payload, **kw)

    def complete_task(self, task_id: str, data: Any) -> Any:
        return self.engine.complete_task(task_id, data)

    def get_run(self, run_id: str, *, history: bool = False) -> dict[str, Any]:
        return self.engine.get_run(run_id, history=history)

    def run_until_idle(self) -> None:
        """Work everything due now, without moving the clock."""
        self.engine.run_worker(until_idle=True)

    def next_due(self) -> datetime | None:
        return self.engine.next_due()

    def advance(self, delta: timedelta | float) -> None:
        """Move the clock forward by ``delta``, working every timer in order on the way."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        advance(self.engine, self.clock, delta)

    def run_to_completion(self, limit: timedelta = timedelta(days=400)) -> None:
        """Work until nothing is due at all, skipping time to each next timer (up to ``limit``)."""
        end = self.clock.now() + limit
        self.run_until_idle()
        while True:
            due = self.next_due()
            if due is None or due > end:
                return
            if due > self.clock.now():
                self.clock.set(due)
            self.run_until_idle()
