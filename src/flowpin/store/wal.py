"""Background WAL checkpoints for a busy SQLite worker.

In WAL mode SQLite copies the log back into the database file (a checkpoint) from inside the
commit that pushes the log past 1,000 pages: that commit then takes 20 ms instead of 0.7 ms,
and the worker's event loop waits for it (measured: ~9 % of a W1 run). Running the checkpoint
on a thread of its own, with its own connection, moves that copy off the loop: the sqlite3
module releases the GIL while SQLite works, and a PASSIVE checkpoint never blocks writers or
readers. The log then rarely reaches the automatic threshold, which stays as the backstop.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger("flowpin.store")


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds until stopped."""

    def __init__(self, path: str, interval: float = 0.05) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowpin-wal", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=1, isolation_level=None)
        except sqlite3.Error:
            log.warning("WAL checkpointer could not open %s", self.path, exc_info=True)
            return
        try:
            while not self._stop.wait(self.interval):
                with contextlib.suppress(sqlite3.OperationalError):  # busy: next round
                    _busy, frames, copied = connection.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                    if frames > 0 and copied > 0:
                        self.checkpoints += 1
        finally:
            connection.close()
