"""Keyset paging, newest first: a page costs the same at page 1 and page 2,000, and rows added
meanwhile never shift a page (the cursor is the last (time, id) seen; opaque cursors are the
engine's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def newest_first(
    conn: Connection,
    query: Any,
    table: sa.Table,
    time_column: str,
    after: tuple[datetime | None, str] | None,
    size: int,
) -> list[Any]:
    """``query``'s rows by (time, id) descending, after ``after``; one more than ``size`` when
    more follow."""
    moment_col, id_col = table.c[time_column], table.c.id
    if after is not None:
        moment, last_id = after
        query = query.where(
            sa.or_(moment_col < moment, sa.and_(moment_col == moment, id_col < last_id))
        )
    return list(conn.execute(query.order_by(moment_col.desc(), id_col.desc()).limit(size + 1)))
