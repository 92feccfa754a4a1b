"""``flowpin serve --workers N``: N API processes forked from one that did the set-up once.

The parent binds the listening socket, migrates the database, creates the first admin key and
publishes the examples, then forks N children that each accept on that one socket (the kernel
hands every new connection to one of them) with an engine of their own: a database pool and an
in-process worker opened after the fork, never shared across it. The parent only supervises: a
SIGTERM or SIGINT it receives is passed to every child as SIGTERM (a graceful stop), and a child
that dies on its own stops the others, so a supervisor (systemd, Kubernetes) restarts the whole
server rather than one that serves with fewer processes than it was asked for. Children are in a
process group of their own (a terminal's Ctrl-C reaches only the parent, which passes it on
once) and, on Linux, get SIGTERM if the parent dies without passing anything on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

STOP_SECONDS = 30.0
"""How long the children have to finish their requests and stop their workers after SIGTERM
before they are killed."""


def serve_in_children(listener: socket.socket, count: int, child: Callable[[], None]) -> int:
    """Fork ``count`` children that each run ``child()`` (serving on ``listener``); supervise
    them until a signal or a child's exit stops them all. Returns the parent's exit code."""
    parent = os.getpid()
    stopping: list[int] = []
    # Installed before the forks: a signal that arrives between two forks is not lost.
    previous = {
        sig: signal.signal(sig, lambda sig, _frame: stopping.append(sig))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    children: list[int] = []
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                _be_child(parent, listener, child)  # never returns
            children.append(pid)
        listener.close()  # the children hold it
        return _supervise(children, stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _be_child(parent: int, listener: socket.socket, child: Callable[[], None]) -> None:
    code = 0
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            # uvicorn handles both while it serves and raises them again once stopped; by then
            # there is nothing left to interrupt but the clean-up that follows.
            signal.signal(sig, lambda _sig, _frame: None)
        os.setpgid(0, 0)
        _stop_with_parent()
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(0)
        child()
    except BaseException:  # a child never returns into the parent's code
        traceback.print_exc()
        code = 1
    finally:
        listener.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _stop_with_parent() -> None:
    """On Linux: SIGTERM for this process when its parent dies (``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _supervise(children: list[int], stopping: list[int]) -> int:
    """Wait for a signal or a child's exit, then stop and reap every child."""
    alive = set(children)
    code = 0
    while alive and not stopping:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.1)  # a signal ends the sleep early
            continue
        alive.discard(pid)
        say(f"flowpin: API process {pid} {_how(status)}; stopping the others")
        code = 1
        break
    _signal_all(alive, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while alive:
        pid, _status = os.waitpid(-1, os.WNOHANG)
        if pid:
            alive.discard(pid)
        elif time.monotonic() > deadline:
            say(f"flowpin: killed API processes {sorted(alive)}: not stopped in {STOP_SECONDS:g} s")
            _signal_all(alive, signal.SIGKILL)
            deadline = float("inf")
        else:
            time.sleep(0.05)
    return code


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
