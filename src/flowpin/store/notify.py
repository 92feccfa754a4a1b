"""Cross-process wake-ups on PostgreSQL: ``NOTIFY flowpin_wake`` when a transaction creates work
(a new run, a resumed run, a new timer), and a listener that wakes a worker when it arrives.

PostgreSQL delivers a notification only when the transaction that sent it commits, and folds
identical notifications of one transaction into one, so a worker never wakes for work it cannot
see yet. The payload says *when* the work is due: empty for "runnable now", ``due:<epoch ms>``
for a new deadline (a timer, an event or task timeout). A listener wakes its worker at once for
the first kind and AT the due moment for the second (it keeps the deadlines it heard of), so a
park with a one-hour timeout wakes nobody now, and a timer fires within milliseconds of its time
even while the worker sleeps on a long poll or is busy with other runs.

SQLite has no such channel: there, wake-ups are in-process (``worker.wakeups.Wakeups``) and the poll
interval is the backstop for other processes.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Connection

from flowpin.store.dialects import dialect_of

CHANNEL = "flowpin_wake"
DUE_PREFIX = "due:"
HORIZON_SECONDS = 3600.0
"""Deadlines further away are not kept: the worker's own next-wake-up query (at least once per
poll interval) finds them as they approach."""
MAX_DEADLINES = 100_000
"""Bound on the deadlines a listener keeps (distinct milliseconds); beyond it, the latest are
dropped, for the same reason."""
log = logging.getLogger("flowpin.notify")


def signal_work(conn: Connection, due: datetime | None = None) -> None:
    """Tell every listening worker, on commit, that something became runnable (``due`` None)
    or that a deadline at ``due`` now exists."""
    dialect = dialect_of(conn)
    if not dialect.notifies:
        return
    # Rounded up: a worker woken at the payload's moment must find the deadline passed.
    payload = "" if due is None else f"{DUE_PREFIX}{math.ceil(due.timestamp() * 1000)}"
    dialect.notify(conn, CHANNEL, payload)


def due_of(payload: str) -> float | None:
    """The epoch seconds a payload names, or None for "runnable now" (or a payload this
    version does not know: waking is always safe)."""
    if not payload.startswith(DUE_PREFIX):
        return None
    try:
        return int(payload.removeprefix(DUE_PREFIX)) / 1000
    except ValueError:
        return None


class Deadlines:
    """The deadlines a listener heard of, earliest first (distinct milliseconds, bounded)."""

    def __init__(self, horizon: float = HORIZON_SECONDS, limit: int = MAX_DEADLINES) -> None:
        self.horizon = horizon
        self.limit = limit
        self._heap: list[float] = []
        self._known: set[float] = set()

    def add(self, due: float, now: float) -> bool:
        """Keep ``due``; False when it is already due (wake now) — True otherwise, kept or not."""
        if due <= now:
            return False
        if due - now > self.horizon or due in self._known:
            return True
        if len(self._heap) >= self.limit:
            if due >= max(self._heap):
                return True
            latest = max(self._heap)
            self._heap.remove(latest)
            self._known.discard(latest)
            heapq.heapify(self._heap)
        heapq.heappush(self._heap, due)
        self._known.add(due)
        return True

    def pop_due(self, now: float) -> bool:
        """Forget every deadline that has come; True if there was one."""
        came = False
        while self._heap and self._heap[0] <= now:
            self._known.discard(heapq.heappop(self._heap))
            came = True
        return came

    def next(self) -> float | None:
        return self._heap[0] if self._heap else None


class Listener:
    """A thread that LISTENs on its own connection and calls ``on_wake`` for work that is
    runnable now, at each deadline it heard of, and after (re)connecting, since notifications
    sent meanwhile are lost."""

    def __init__(self, url: str, on_wake: Callable[[], None], *, poll: float = 0.5) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.on_wake = on_wake
        self.poll = poll
        self.deadlines = Deadlines()
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
                        self._listen_once(conn)
            except Exception as exc:  # the database restarted or is unreachable: retry
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
                self._stop.wait(0.5)

    def _listen_once(self, conn: object) -> None:
        """Wait for notifications until the next deadline (or the poll), then wake the
        worker if anything is runnable now or a deadline came."""
        timeout = self.poll
        upcoming = self.deadlines.next()
        if upcoming is not None:
            timeout = max(0.0, min(timeout, upcoming - time.time()))
        wake = False
        for notice in conn.notifies(timeout=timeout, stop_after=1):  # type: ignore[attr-defined]
            due = due_of(notice.payload)
            if due is None or not self.deadlines.add(due, time.time()):
                wake = True
        if self.deadlines.pop_due(time.time()):
            wake = True
        if wake:
            self.on_wake()
