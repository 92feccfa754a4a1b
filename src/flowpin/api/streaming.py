"""Long operations answered as a stream of JSON lines (``application/x-ndjson``): progress
while the work runs, then its result, so a client shows a progress bar for a bulk migration
instead of waiting blind."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

from flowpin.errors import FlowpinError

NDJSON = "application/x-ndjson"
_DONE = object()


def stream_migration(engine: Any, migration: Any) -> Iterator[bytes]:
    """Run ``migration`` in a thread; yield ``{"progress": {"done", "total"}}`` after each
    batch and ``{"report": …}`` at the end (``{"error": …}`` if it failed midway: the
    batches written before stay written, each one whole)."""
    lines: queue.Queue[Any] = queue.Queue()

    def work() -> None:
        try:
            report = engine.run_migration(
                migration,
                lambda done, total: lines.put({"progress": {"done": done, "total": total}}),
            )
            lines.put({"report": report})
        except FlowpinError as exc:
            lines.put({"error": exc.to_dict()})
        except Exception as exc:  # the stream has started: report it as its last line
            lines.put({"error": {"code": "internal", "message": str(exc), "details": None}})
        finally:
            lines.put(_DONE)

    thread = threading.Thread(target=work, name="flowpin-migration", daemon=True)
    thread.start()
    try:
        while (item := lines.get()) is not _DONE:
            yield (json.dumps(item, default=str) + "\n").encode()
    finally:
        thread.join()
