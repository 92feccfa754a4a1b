"""PostgreSQL: the writes of a batch of events in ONE statement (one round trip).

Once ``store.events.submit_events`` has read the open waits (``FOR UPDATE``) and decided which
event resumes which wait, what is left to write is: end those waits, give each one's run its
inbox row, wake the runs, store the events, and tell listening workers. On SQLite these are
statements on one local connection; on PostgreSQL each is a round trip to the server (~0.1 to
0.3 ms on loopback), and they were five of the nine of a batch's transaction (measured: the
driver's wait for the server was 70 % of an event's time). Here they are the data-modifying
CTEs of one statement, as the timers' ``claims.resolve_due_waits_pg`` does for deadlines. Same
effects, same order: inbox ids follow the given order of the ended waits (``WITH ORDINALITY``),
the runs woken are those the inbox rows are for, ``status = 'open'`` is checked again as by
every resolver, and the notification is sent only when a wait ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from flowpin.store.bulk import unnest
from flowpin.store.codec import dumps
from flowpin.store.notify import CHANNEL
from flowpin.store.waits import EndedWait
from flowpin.types import ACTIVE_STATUSES

_ACTIVE = ", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES)

EVENT_COLUMNS = (
    "id",
    "tenant_id",
    "event_id",
    "name",
    "key",
    "payload",
    "source_run_id",
    "received_at",
    "expires_at",
    "result",
    "matched",
)
"""The keys of an event row (``store.events``), in the statement's column order."""

_EVENTS = ", ".join(EVENT_COLUMNS)
_EVENT_CASTS = (
    "varchar varchar varchar varchar varchar jsonb varchar timestamptz timestamptz jsonb bool"
)
_JSON_COLUMNS = frozenset({"payload", "result"})

_WRITE_EVENTS = f"""
    WITH ended AS (
        UPDATE waits SET status = 'resolved', resolved_at = %b::timestamptz
        WHERE id = ANY(%b::int[]) AND status = 'open'
        RETURNING id
    ), inbox AS (
        INSERT INTO run_inbox (run_id, token, kind, body, at)
        SELECT v.run_id, v.token, v.kind, v.body, %b::timestamptz
        FROM {
    unnest(
        "wait_id, run_id, token, kind, body, n",
        "int varchar varchar varchar jsonb",
        ordinality=True,
    )
}
        WHERE v.wait_id = ANY(ARRAY(SELECT id FROM ended))
        ORDER BY v.n
        RETURNING run_id
    ), woken AS (
        UPDATE runs SET wake_at = %b::timestamptz
        WHERE id = ANY(ARRAY(SELECT run_id FROM inbox))
          AND status IN ({_ACTIVE}) AND wake_at IS NULL
    ), stored AS (
        INSERT INTO events ({_EVENTS}) SELECT {_EVENTS} FROM {unnest(_EVENTS, _EVENT_CASTS)}
    )
    SELECT pg_notify(%b, '') FROM (SELECT 1 FROM ended LIMIT 1) AS some_ended
"""


def write_events_pg(
    conn: Connection, ended: Sequence[EndedWait], events: Sequence[dict[str, Any]], now: datetime
) -> None:
    """End ``ended`` (read ``FOR UPDATE`` by the caller) with their inbox rows and wake-ups,
    and insert ``events`` (rows keyed by ``EVENT_COLUMNS``), in one statement. JSON values are
    written as ``store.codec.dumps`` writes them (``None`` as JSON null, as Core's JSON type)."""
    inbox_columns: list[list[Any]] = [[], [], [], [], []]
    for wait in ended:
        for column, value in zip(
            inbox_columns,
            (wait.wait_id, wait.run_id, wait.token, wait.kind, dumps(wait.body)),
            strict=True,
        ):
            column.append(value)
    event_columns = [
        [dumps(row[name]) if name in _JSON_COLUMNS else row[name] for row in events]
        for name in EVENT_COLUMNS
    ]
    params = (
        now,
        [wait.wait_id for wait in ended],
        now,
        *inbox_columns,
        now,
        *event_columns,
        CHANNEL,
    )
    conn.exec_driver_sql(_WRITE_EVENTS, params)
