"""The worker's one-line summary, logged every minute while it is busy (nothing when idle), so
a log shows at a glance that work moves - or that it does not."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowpin.worker.loop import Worker

log = logging.getLogger("flowpin.worker")


def summary_seconds() -> float:
    """Seconds between summaries: 60, or ``FLOWPIN_LOG_SUMMARY_SECONDS``."""
    try:
        return max(0.05, float(os.environ.get("FLOWPIN_LOG_SUMMARY_SECONDS", "60")))
    except ValueError:
        return 60.0


async def report_while_busy(worker: Worker, interval: float) -> None:
    """Every ``interval`` seconds, the work done since the last line, if any was done or runs
    are held."""
    stats = worker.stats
    last = (stats.claimed, stats.finished, stats.checkpoints, stats.commits)
    last += (stats.actions_called, stats.timers_fired)
    while True:
        await asyncio.sleep(interval)
        now = (stats.claimed, stats.finished, stats.checkpoints, stats.commits)
        now += (stats.actions_called, stats.timers_fired)
        held = len(worker.held_runs())
        if now == last and not held:
            continue
        claimed, finished, checkpoints, commits, actions, timers = (
            a - b for a, b in zip(now, last, strict=True)
        )
        last = now
        log.info(
            "last %.0f s: %d runs claimed, %d finished, %d checkpoints in %d commits, "
            "%d action calls, %d timers fired; %d runs held now",
            interval,
            claimed,
            finished,
            checkpoints,
            commits,
            actions,
            timers,
            held,
            extra={"worker": worker.owner},
        )


__all__ = ["report_while_busy", "summary_seconds"]
