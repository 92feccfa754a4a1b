"""What differs between the databases, in one place per database.

Every store statement is written once in SQLAlchemy Core; the few things the two databases do
differently — engine set-up, row locks, list parameters, the claim's shape, wake-up
notifications, the queue sequence, bulk writes, how a time is stored — are answered by one
``Dialect`` object per database (``sqlite.py``, ``postgres.py``), picked once per
``Database`` and per connection by ``dialect_of``. Store code asks a dialect what to do, or
what it can do, never which database it is (in the manner of SQLAlchemy's own
``dialects/`` and its testing requirements, which name capabilities, not databases).

An internal seam of the store: not for code above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Connection, Engine

from flowpin.store.dialects.postgres import Postgres
from flowpin.store.dialects.sqlite import SQLite


class Dialect(Protocol):
    """One database's answers to what the store's statements cannot say the same way."""

    name: str
    """SQLAlchemy's name of the dialect (``sqlite``, ``postgresql``)."""
    concurrent_writers: bool
    """Writers run side by side (PostgreSQL): a pick locks its rows (``FOR UPDATE``,
    ``SKIP LOCKED``), and a claim, the firing of due waits and the next wake-up are each one
    statement. False (SQLite): one writer at a time (``BEGIN IMMEDIATE``), so a
    select-then-update is already atomic and the statements stay simple."""
    notifies: bool
    """Other processes can be woken on commit (``NOTIFY``); else the poll is the backstop."""
    embedded: bool
    """The database runs inside this process: a short read is a function call, no network
    round trip."""
    naive_times: bool
    """Times are stored without a zone (as naive UTC) and made aware on the way out."""

    def engine_options(self, url: str, pool_size: int) -> dict[str, Any]:
        """Keyword arguments of ``sqlalchemy.create_engine`` for this database."""
        ...

    def prepare(self, engine: Engine) -> None:
        """Per-connection and per-transaction set-up (listeners on ``engine``)."""
        ...

    def locked(self, query: Any, *, key_share: bool = False, skip_locked: bool = False) -> Any:
        """``query`` holding its rows until the transaction ends."""
        ...

    def in_list(self, column: Any, parameter: Any) -> Any:
        """``column IN parameter``, the parameter a whole list bound as one value."""
        ...

    def list_type(self, column: Any) -> Any:
        """The bound type of a list parameter over ``column``."""
        ...

    def list_value(self, values: list[Any]) -> Any:
        """The value of a list parameter."""
        ...

    def unindexed(self, column: Any) -> Any:
        """``column`` as the planner should not pick its index for: for a statement that finds
        its rows another way (a primary key, see ``claims`` and ``waits.end_waits``), which
        SQLite's planner, without statistics, may trade for a walk over every row of that
        column's value in its index."""
        ...

    def next_in_queue(self, sequence: Any, fallback: Any) -> Any:
        """The next number of a queue: ``sequence``'s, or ``fallback`` where there is none."""
        ...

    def notify(self, conn: Connection, channel: str, payload: str) -> None:
        """Tell the listeners of ``channel``, on commit (nothing where nobody can listen)."""
        ...

    def insert_or_skip(self, table: Any) -> Any:
        """``INSERT INTO table … ON CONFLICT DO NOTHING``: a row that breaks a uniqueness
        constraint is not written (rowcount 0), and the transaction goes on without a
        savepoint."""
        ...

    def bulk_time(self, value: Any, formatted: dict[Any, str]) -> Any:
        """A time in its column's storage form, for the bulk statements."""
        ...

    def bulk_write(self, conn: Connection, statement: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run one ``bulk.Statement`` for ``rows``."""
        ...


DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect in (SQLite(), Postgres())}
NAIVE_TIMES = frozenset(name for name, dialect in DIALECTS.items() if dialect.naive_times)
"""Names of the dialects that store times naive (read per bound value: kept a set lookup)."""


def dialect_named(name: str) -> Dialect:
    """The dialect SQLAlchemy calls ``name``."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"flowpin does not support the {name!r} database") from None


def dialect_of(conn: Connection) -> Dialect:
    """The dialect of a connection."""
    return DIALECTS[conn.dialect.name]
