"""Threads that each keep one database connection, for short reads and writes made off an
event loop on a networked database (``Engine.short_reads``, ``Engine.short_writes``).

The API's ``GET /api/runs/{id}`` on PostgreSQL is one round trip of reading. Made on a thread
of the shared pool with a pool connection, it was four (the pool's liveness ping, BEGIN, the
read, the ROLLBACK of the connection's return), each a wait for the GIL among the server's
threads on the way back. Made on one of a few threads that each keep a connection in
autocommit mode (``Database.read_kept``), it is one (measured on PostgreSQL at 8 clients:
~+20 to +40 % reads, a lower p99). The API's group commits of starts and events run the same
way on one writing thread that keeps its connection (``Database.keep_writes_on_this_thread``).
Shared by an engine and its tenant views."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

THREADS = 2
"""Each keeps one of the engine's pool connections while the engine is open."""


class KeptThreads:
    """``threads`` threads named ``name``, each set up by ``initializer`` (which keeps its
    connection), started at the first use."""

    def __init__(
        self,
        threads: int = THREADS,
        name: str = "flowpin-read",
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self._threads = threads
        self._name = name
        self._initializer = initializer
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def executor(self) -> Executor:
        """Started at the first read: a process that never reads this way holds no thread
        and no connection for it."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._threads, thread_name_prefix=self._name, initializer=self._initializer
                )
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
