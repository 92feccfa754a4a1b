"""Transactional actions: the handler's writes and the ledger's record of the call commit in
one transaction, so a call is made exactly once (not at least once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import transactional_actions as tx
from pydantic import BaseModel

from flowpin.clock import FakeClock
from flowpin.engine import Engine
from flowpin.errors import RegistryError
from flowpin.registry.actions import ActionContext, action
from flowpin.registry.catalog import Registry
from flowpin.store import tables as t


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    tx.FAIL_AFTER_WRITE.clear()
    registry = Registry()
    registry.register(tx)
    engine = Engine(db_url, registry=registry, clock=FakeClock())
    with engine.db.write() as conn:
        tx.create_table(conn)
    engine.publish(
        {
            "key": "signup",
            "steps": [
                {
                    "id": "add",
                    "type": "action.call",
                    "config": {
                        "actionId": "crm.add_contact",
                        "version": 1,
                        "inputMapping": {"name": {"$expr": "payload.name"}},
                        "saveAs": "vars.contact",
                    },
                    "retry": {"maxAttempts": 3, "backoffMs": 0, "jitter": "none"},
                }
            ],
            "output": {"$expr": "vars.contact.id"},
        }
    )
    yield engine
    engine.close()


def contacts(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.db.read() as conn:
        return [tuple(row) for row in conn.execute(sa.select(tx.CONTACTS)).all()]


def ledger(engine: Engine) -> list[tuple[str, int]]:
    with engine.db.read() as conn:
        return [
            tuple(row)
            for row in conn.execute(sa.select(t.action_ledger.c.status, t.action_ledger.c.calls))
        ]


def test_the_effect_and_the_record_of_the_call_commit_together(engine: Engine) -> None:
    run = engine.start("signup", {"name": "Ada"})
    engine.run_worker(until_idle=True)
    view = engine.get_run(run)
    assert view["status"] == "SUCCEEDED"
    assert contacts(engine) == [(view["output"], "Ada", 1)]
    assert ledger(engine) == [("succeeded", 1)]


def test_a_failed_call_leaves_no_write_behind_and_its_retry_writes_once(engine: Engine) -> None:
    tx.FAIL_AFTER_WRITE["Grace"] = 2
    run = engine.start("signup", {"name": "Grace"})
    engine.run_worker(until_idle=True)
    assert engine.get_run(run)["status"] == "SUCCEEDED"
    assert [row[1:] for row in contacts(engine)] == [("Grace", 1)]
    attempts = [step["status"] for step in engine.history(run) if step["stepId"] == "add"]
    assert attempts == ["retrying", "retrying", "succeeded"]


def test_a_call_that_always_fails_fails_the_run_and_writes_nothing(engine: Engine) -> None:
    tx.FAIL_AFTER_WRITE["Linus"] = 99
    run = engine.start("signup", {"name": "Linus"})
    engine.run_worker(until_idle=True)
    assert engine.get_run(run)["status"] == "FAILED"
    assert contacts(engine) == []
    assert ledger(engine) == [("failed", 3)]


class In(BaseModel):
    x: int


def test_a_transactional_handler_must_be_sync_and_take_the_context() -> None:
    with pytest.raises(RegistryError, match="transactional"):

        @action("bad.async", transactional=True)
        async def bad_async(data: In, ctx: ActionContext) -> None: ...

    with pytest.raises(RegistryError, match="transactional"):

        @action("bad.noctx", transactional=True)
        def bad_noctx(data: In) -> None: ...
