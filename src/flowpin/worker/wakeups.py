"""In-process wake-ups: a start, an event or a checkpoint tells this process's sleeping
workers that new work exists (other processes hear it from the database, ``store.notify``)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Wakeups:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def notify(self) -> None:
        """New work exists in this process (a start, an event, a checkpoint): wake workers."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
