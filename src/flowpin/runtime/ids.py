"""Ids and keys the interpreter derives, so a recomputation after a crash makes the same ones.

Each is a function of the run id and the *identity* of a position: its token, suffixed with
``#<generation>`` once an operator retried the run (``retry_state`` bumps the generation, so
retried steps start fresh children, tasks and ledger entries instead of finding the old ones).
"""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("6f1c2a4e-3b9d-5e8f-9a7c-1d2e3f405162")


def identity(token: str, generation: int) -> str:
    return token if not generation else f"{token}#{generation}"


def idempotency_key(run_id: str, ident: str, action_id: str, version: int) -> str:
    """SPEC §4.5's default key: sha256 of (run id, token with loop indexes, action, version)."""
    return hashlib.sha256(f"{run_id}\x1f{ident}\x1f{action_id}\x1f{version}".encode()).hexdigest()


def child_run_id(run_id: str, ident: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"child\x1f{run_id}\x1f{ident}"))


def task_id(run_id: str, ident: str, attempt: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"task\x1f{run_id}\x1f{ident}\x1f{attempt}"))


def event_id(run_id: str, ident: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"event\x1f{run_id}\x1f{ident}"))


def expression_seed(run_id: str, token: str, attempt: int) -> int:
    """Seed of ``$random()`` in a step's expressions."""
    digest = hashlib.sha256(f"random\x1f{run_id}\x1f{token}\x1f{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
