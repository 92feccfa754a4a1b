"""Cross-process wake-ups on PostgreSQL: ``NOTIFY flowpin_wake`` when a transaction creates work
(a new run, a resumed run, a new timer), and a listener that wakes a worker when it arrives.

PostgreSQL delivers a notification only when the transaction that sent it commits, and folds
identical notifications of one transaction into one, so a worker never wakes for work it cannot
see yet. SQLite has no such channel: there, wake-ups are in-process (``Core.notify``) and the
poll interval is the backstop for other processes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHANNEL = "flowpin_wake"
log = logging.getLogger("flowpin.notify")


def signal_work(conn: Connection) -> None:
    """Tell every listening worker, on commit, that something became runnable or due."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_notify('{CHANNEL}', '')"))


class Listener:
    """A thread that LISTENs on its own connection and calls ``on_wake`` for each notification
    (and after reconnecting, since notifications sent meanwhile are lost)."""

    def __init__(self, url: str, on_wake: Callable[[], None]) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.on_wake = on_wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowpin-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.on_wake()
                    while not self._stop.is_set():
                        for _notice in conn.notifies(timeout=0.5, stop_after=1):
                            self.on_wake()
            except Exception as exc:  # the database restarted or is unreachable: retry
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
                self._stop.wait(0.5)
