"""One progress bar for commands that work through many items (ingest-eml, migrate, bulk
cancel): drawn on stderr, so stdout stays the command's JSON, and only on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(verb: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yields ``advance_to(done)``; nothing is drawn when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _done: None
        return
    with Progress(
        verb, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task(verb, total=total)
        yield lambda done: bar.update(task, completed=done)
