"""PostgreSQL: concurrent writers, row locks, ``NOTIFY``.

- claimers take disjoint batches with ``FOR UPDATE SKIP LOCKED``, each claim one
  ``UPDATE … RETURNING``; rows a check relies on are locked ``FOR UPDATE`` until the commit;
- a list parameter is an array (``column = ANY(:ids)``);
- a queue's numbers come from a sequence, so concurrent starts never share one;
- a commit can wake the listeners of other processes (``pg_notify``);
- custom plans for every statement (see ``prepare``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine

CONNECT_TIMEOUT_S = 10
_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


class Postgres:
    name = "postgresql"
    concurrent_writers = True
    notifies = True
    embedded = False
    naive_times = False

    def engine_options(self, url: str, pool_size: int) -> dict[str, Any]:
        options: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_pre_ping": True,
        }
        # A server that never answers (a filtered port) fails in seconds, not never.
        if "connect_timeout" not in sa.make_url(url).query:
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        return options

    def prepare(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # psycopg prepares a statement run five times; PostgreSQL then caches a generic
            # plan, made once from the statistics of that moment. A queue's tables go from
            # empty to thousands of rows faster than autovacuum analyzes them, and a plan made
            # for an empty ``run_inbox`` (a sequential scan) stayed in use at 5,000 rows: 20 ms
            # a call instead of 0.3 ms (measured). Custom plans see the tables' current size;
            # parsing is still saved, planning costs ~0.1 ms per statement, and flowpin's
            # statements are per batch.
            cursor = dbapi_connection.cursor()
            cursor.execute("SET plan_cache_mode = force_custom_plan")
            cursor.close()
            dbapi_connection.commit()

    def locked(self, query: Any, *, key_share: bool = False, skip_locked: bool = False) -> Any:
        return query.with_for_update(key_share=key_share, skip_locked=skip_locked)

    def in_list(self, column: Any, parameter: Any) -> Any:
        return column == sa.any_(parameter)

    def list_type(self, column: Any) -> Any:
        return ARRAY(column.type)

    def list_value(self, values: list[Any]) -> Any:
        return list(values)

    def unindexed(self, column: Any) -> Any:
        return column

    def next_in_queue(self, sequence: Any, fallback: Any) -> Any:
        return sa.func.nextval(sequence)

    def notify(self, conn: Connection, channel: str, payload: str) -> None:
        conn.execute(_NOTIFY, {"channel": channel, "payload": payload})

    def insert_or_skip(self, table: Any) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing()

    def bulk_time(self, value: Any, formatted: dict[Any, str]) -> Any:
        return value

    def bulk_write(self, conn: Connection, statement: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        # One execution for the batch, one array parameter per column (``unnest``).
        conn.exec_driver_sql(
            statement.pg, tuple(list(column) for column in zip(*rows, strict=True))
        )
