"""Bulk statements take rows of one named type whose fields are the statement's bound columns,
in order: two values of one type cannot swap places silently."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from flowpin.store import bulk, ledger
from flowpin.store.bulk import Bulk, RunRow, Statement

STATEMENTS = {
    f"{module.__name__}.{name}": value
    for module in (bulk, ledger)
    for name, value in vars(module).items()
    if isinstance(value, Statement)
}


def bound_columns(sql: str) -> list[str]:
    """The columns a statement's ``?`` placeholders bind, in placeholder order."""
    insert = re.match(r"INSERT INTO \w+ \(([^)]*)\) VALUES \(([^)]*)\)", sql)
    if insert:
        columns = [c.strip() for c in insert.group(1).split(",")]
        values = [v.strip() for v in insert.group(2).split(",")]
        return [column for column, value in zip(columns, values, strict=True) if value == "?"]
    return re.findall(r"(\w+) = \?", sql)


def test_every_bulk_statement_names_its_row_type() -> None:
    assert len(STATEMENTS) >= 9
    for name, statement in STATEMENTS.items():
        assert statement.row is not None, name
        assert hasattr(statement.row, "_fields"), name


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_row_fields_are_the_bound_columns_in_order(name: str) -> None:
    statement = STATEMENTS[name]
    assert statement.row is not None
    assert list(statement.row._fields) == bound_columns(statement.sqlite), name
    assert statement.pg.count("%b") == len(statement.row._fields), name


def test_a_plain_tuple_is_refused() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        writer = Bulk(conn)
        row = RunRow(
            state="{}", status="RUNNING", current_step=None, positions="[]", updated_at=None, id="r"
        )
        with pytest.raises(TypeError):
            writer.write(conn, bulk.UPDATE_HELD_RUNS, [tuple(row)])
    engine.dispose()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 3, 1, 14, 30, 5, 7, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_a_bulk_time_is_stored_as_sqlalchemy_stores_it(moment: datetime) -> None:
    """Times written by the bulk statements compare and read back like those written through
    Core: the text SQLAlchemy's SQLite DateTime stores for the same UTC moment."""
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        stored = sa.literal(moment.astimezone(UTC).replace(tzinfo=None), sa.DateTime())
        core = conn.execute(sa.select(sa.cast(stored, sa.String))).scalar_one()
        assert Bulk(conn).time(moment) == core
    engine.dispose()
