"""What a person reads about a failure never holds SQL or its parameters: a database error
inside an action becomes its driver's error and first line, in the run's error, in what the
workflow captures (``captureErrorAs``) and so in a human task it writes. And a task title
longer than the tasks table holds is cut, not a checkpoint that fails for ever."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from flowpin.engine import Engine
from flowpin.registry.actions import ActionContext, action
from flowpin.registry.catalog import Registry

SECRET_VALUE = "hunter2-parameter-value"


class Nothing(BaseModel):
    pass


class Never(BaseModel):
    ok: bool


class Store:
    engine: Engine | None = None


STORE = Store()


@action("test.bad_query", version=1, effect="none")
def bad_query(_input: Nothing, ctx: ActionContext) -> Never:
    assert STORE.engine is not None
    with STORE.engine.db.write() as conn:
        conn.execute(
            sa.text("INSERT INTO no_such_table (name) VALUES (:name)"), {"name": SECRET_VALUE}
        )
    return Never(ok=True)


FAILING = {
    "key": "failing",
    "steps": [
        {
            "id": "query",
            "type": "action.call",
            "config": {"actionId": "test.bad_query", "version": 1},
        }
    ],
}

CAUGHT = {
    "key": "caught",
    "steps": [
        {
            "id": "guard",
            "type": "control.tryCatch",
            "captureErrorAs": "vars.error",
            "try": [
                {
                    "id": "query",
                    "type": "action.call",
                    "config": {"actionId": "test.bad_query", "version": 1},
                }
            ],
            "catch": [
                {
                    "id": "ask",
                    "type": "human.task",
                    "config": {
                        "title": {"$expr": "$pad('', 2000, 'x')"},
                        "description": {"$expr": "'It failed: ' & vars.error.message"},
                        "formSchema": {"type": "object"},
                        "timeoutMs": 60_000,
                    },
                }
            ],
        }
    ],
}


def _engine(url: str) -> Engine:
    registry = Registry()
    registry.register(bad_query)
    engine = Engine(url, registry=registry)
    STORE.engine = engine
    return engine


def _shows_sql(text: Any) -> bool:
    shown = str(text)
    return any(part in shown for part in ("INSERT", "no_such_table (name)", SECRET_VALUE, "[SQL"))


def test_a_database_error_in_an_action_reads_without_sql_or_parameters(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(FAILING)
        run_id = engine.start("failing", {})
        engine.run_worker(until_idle=True)
        run = engine.get_run(run_id, history=True)
        assert run["status"] == "FAILED"
        message = run["error"]["message"]
        assert message.startswith("database error: ")
        assert "no_such_table" in message  # the driver's own line says what is wrong
        assert not _shows_sql(run["error"]) and not _shows_sql(run["history"])


def test_a_task_written_from_a_database_error_shows_no_sql(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(CAUGHT)
        run_id = engine.start("caught", {})
        engine.run_worker(until_idle=True)
        assert engine.get_run(run_id)["status"] == "WAITING"
        [task] = engine.list_tasks(status="open")
        assert task["description"].startswith("It failed: database error: ")
        assert not _shows_sql(task["description"])
        assert not _shows_sql(engine.get_run(run_id, history=True))
        assert len(task["title"]) == 500 and task["title"].endswith("…")
