"""What a worker works with, built in one place (``build_deps``, called by the Engine) and
handed down as one frozen object: the worker reaches nothing else."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flowpin.clock import Clock
from flowpin.definitions.models import Definition, RetryPolicy
from flowpin.runtime.decisions import HistoryEntry
from flowpin.security.redaction import DEFAULT_KEYS
from flowpin.store.database import Connection, Database
from flowpin.worker.checkpoint_batch import Services
from flowpin.worker.definitions import DefinitionCache
from flowpin.worker.executor import ActionExecutor
from flowpin.worker.masking import Redaction
from flowpin.worker.wakeups import Wakeups

DEFAULT_MAX_STEPS_PER_RUN = 10_000
MAX_STEPS_ENV = "FLOWPIN_MAX_STEPS_PER_RUN"
DEFAULT_MAX_CALL_DEPTH = 16
MAX_CALL_DEPTH_ENV = "FLOWPIN_MAX_CALL_DEPTH"
DEFAULT_MAX_CHILDREN_PER_RUN = 1_000
MAX_CHILDREN_ENV = "FLOWPIN_MAX_CHILDREN_PER_RUN"


@dataclass(frozen=True, slots=True)
class Limits:
    lease_seconds: float
    max_steps_per_run: int | None
    """History steps a run may record before it fails with ``limit.steps``."""
    max_call_depth: int | None
    """Nesting of ``control.callWorkflow`` past which a child run is created FAILED."""
    max_children_per_run: int | None
    """Child runs a run may start before it fails with ``limit.children``."""


@dataclass(frozen=True, slots=True)
class WorkerDeps:
    db: Database
    clock: Clock
    catalog: Any
    """The action and node-type registry (``registry.catalog.Registry``)."""
    definitions: DefinitionCache
    executor: ActionExecutor
    redaction: Redaction
    wakeups: Wakeups
    limits: Limits

    def action_retry(self, action_id: str, version: int) -> RetryPolicy | None:
        spec = self.catalog.action(action_id, version)
        return getattr(spec, "retry", None) if spec is not None else None

    def services(self, owner: str) -> Services:
        """What a checkpoint written by ``owner`` needs beyond its connection."""
        return _Services(self, owner)


def _no_secrets(tenant_id: str, name: str) -> str:
    raise KeyError(name)


def _limit(given: int | None, env: str, default: int) -> int:
    return given if given is not None else int(os.environ.get(env, default))


def build_deps(
    db: Database,
    catalog: Any,
    clock: Clock,
    *,
    secrets: Callable[[str, str], str] | None = None,
    stubs: dict[str, Callable[..., Any]] | None = None,
    lease_seconds: float = 30.0,
    redact_keys: str | None = DEFAULT_KEYS,
    redact_pointers: list[str] | None = None,
    max_steps_per_run: int | None = None,
    max_call_depth: int | None = None,
    max_children_per_run: int | None = None,
) -> WorkerDeps:
    definitions = DefinitionCache(db)
    return WorkerDeps(
        db=db,
        clock=clock,
        catalog=catalog,
        definitions=definitions,
        executor=ActionExecutor(catalog, clock, secrets or _no_secrets, stubs=stubs),
        redaction=Redaction(db, definitions, redact_keys, redact_pointers),
        wakeups=Wakeups(),
        limits=Limits(
            lease_seconds=lease_seconds,
            max_steps_per_run=_limit(max_steps_per_run, MAX_STEPS_ENV, DEFAULT_MAX_STEPS_PER_RUN),
            max_call_depth=_limit(max_call_depth, MAX_CALL_DEPTH_ENV, DEFAULT_MAX_CALL_DEPTH),
            max_children_per_run=_limit(
                max_children_per_run, MAX_CHILDREN_ENV, DEFAULT_MAX_CHILDREN_PER_RUN
            ),
        ),
    )


class _Services(Services):
    def __init__(self, deps: WorkerDeps, owner: str) -> None:
        self.deps = deps
        self.lease_owner = owner
        self.lease_seconds = deps.limits.lease_seconds
        self.schemas = deps.catalog
        self.max_steps_per_run = deps.limits.max_steps_per_run
        self.max_call_depth = deps.limits.max_call_depth
        self.max_children_per_run = deps.limits.max_children_per_run

    def definition(self, conn: Connection, version_id: int) -> Definition:
        return self.deps.definitions.definition_in(conn, version_id)

    def redact(self, value: Any) -> Any:
        return self.deps.redaction.redactor(value)

    def history_redactor(
        self,
        conn: Connection,
        run: Any,
        state: dict[str, Any],
        history: Sequence[HistoryEntry],
    ) -> Callable[[Any], Any]:
        return self.deps.redaction.history_redactor(conn, run, state, history)
