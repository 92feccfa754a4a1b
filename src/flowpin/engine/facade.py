"""``Engine``: the one object applications use (SPEC §7, Python).

engine = Engine("sqlite:///flowpin.db")
engine.register(my_actions_module)
engine.publish(definition)
run_id = engine.start("email-to-ticket", {"email": …}, subject="msg-1")
engine.run_worker(until_idle=True)
engine.get_run(run_id)["status"]
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

from flowpin.clock import Clock, SystemClock
from flowpin.definitions.loader import load_document
from flowpin.definitions.models import Definition
from flowpin.definitions.validate import validate
from flowpin.engine import (
    counts,
    diffs,
    event_listing,
    inputs,
    migrating,
    run_listing,
    secret_store,
    shadowing,
    tenancy,
    views,
)
from flowpin.engine import workflows_admin as admin
from flowpin.engine.batching import GroupCommitter
from flowpin.engine.kept_threads import KeptThreads
from flowpin.engine.migrating import MigrationRequest, Progress, Selection
from flowpin.engine.publishing import (
    PublishedVersion,
    draft_conflict,
    publish,
    save_draft,
)
from flowpin.engine.run_listing import RunFilter
from flowpin.engine.start_commits import Started, StartIn, check_start, start_in, write_starts
from flowpin.engine.triggers import check_event
from flowpin.errors import ConflictError, FlowpinError
from flowpin.observability import metrics
from flowpin.registry.catalog import Registry
from flowpin.runtime.interpreter import resume_timers, retry_state
from flowpin.runtime.preview import retry_targets
from flowpin.security.redaction import DEFAULT_KEYS, Masks, Redactor
from flowpin.security.secrets import (
    EnvironmentSecrets,
    tenants_for_env_secrets,
    warn_legacy_secrets,
)
from flowpin.store import claims, history
from flowpin.store.database import Database, lost_connection
from flowpin.store.events import EventIn, submit_events
from flowpin.store.ledger import succeeded_keys
from flowpin.store.runs import cancel_tree, restart_run
from flowpin.store.tasks import complete_task
from flowpin.store.waits import (
    EndedWait,
    EventOutcome,
    open_task_wait,
    open_timers,
    resolve_waits,
    wake_runs,
)
from flowpin.store.workflows import locked_workflow_row, version_row, versions_of, workflow_row
from flowpin.types import TERMINAL_STATUSES
from flowpin.worker.deps import WorkerDeps, build_deps
from flowpin.worker.loop import Worker, WorkerOptions

BULK_CANCEL_MAX = 10_000
"""Runs one bulk cancel cancels at most (one transaction); the answer says how many remain."""


class TaskDataInvalid(FlowpinError):
    code = "task.invalid_data"


MAX_RUN_WAIT_S = 30.0


class Engine:
    def __init__(
        self,
        url: str | None = None,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        tenant: str = "default",
        secrets: Callable[[str, str], str] | None = None,
        stubs: dict[str, Callable[..., Any]] | None = None,
        lease_seconds: float = 30.0,
        upgrade: bool = True,
        redact_keys: str | None = DEFAULT_KEYS,
        redact_pointers: list[str] | None = None,
        max_steps_per_run: int | None = None,
        env_secret_tenants: Iterable[str] | None = None,
        max_call_depth: int | None = None,
        max_children_per_run: int | None = None,
    ) -> None:
        """``redact_keys``: a regex of object keys whose values are masked in stored step
        history (``None``: store history as is). ``redact_pointers``: JSON pointers into every
        run's envelope (``/payload/card/number``) whose values are masked there too, besides
        each workflow's ``settings.redact``. Run state is never masked.
        ``max_steps_per_run``: history steps after which a run fails with ``limit.steps``
        (default ``FLOWPIN_MAX_STEPS_PER_RUN`` or 10,000). ``max_call_depth``: nesting of
        ``control.callWorkflow`` past which the child run fails with ``limit.depth`` (default
        ``FLOWPIN_MAX_CALL_DEPTH`` or 16). ``max_children_per_run``: child runs after which a
        run fails with ``limit.children`` (default ``FLOWPIN_MAX_CHILDREN_PER_RUN`` or 1,000).
        ``env_secret_tenants``: the tenants whose ``{"$secret": NAME}`` may read
        ``FLOWPIN_ENV_SECRET_<NAME>`` when the tenant stores no such secret (``"*"``: every
        tenant; default ``FLOWPIN_ENV_SECRETS_TENANTS``, else ``tenant`` alone)."""
        self.db = Database(url)
        self._short_reads = KeptThreads()
        self._short_writes = KeptThreads(1, "flowpin-write", self.db.keep_writes_on_this_thread)
        if upgrade:
            self.db.upgrade()
        self.registry = registry or Registry()
        self.clock = clock or SystemClock()
        self.tenant = tenant
        warn_legacy_secrets()
        self.deps: WorkerDeps = build_deps(
            self.db,
            self.registry,
            self.clock,
            secrets=secrets
            if secrets is not None
            else secret_store.StoredSecrets(
                self.db, EnvironmentSecrets(tenants_for_env_secrets(env_secret_tenants, tenant))
            ),
            stubs=stubs,
            lease_seconds=lease_seconds,
            redact_keys=redact_keys,
            redact_pointers=redact_pointers,
            max_steps_per_run=max_steps_per_run,
            max_call_depth=max_call_depth,
            max_children_per_run=max_children_per_run,
        )
        self._events: GroupCommitter[EventIn, EventOutcome] = GroupCommitter(
            self._submit_events, observe=metrics.EVENT_BATCH.observe
        )
        self._starts: GroupCommitter[StartIn, Started | FlowpinError] = GroupCommitter(
            self._write_starts
        )
        self._tenant_views: dict[str, Engine] = {tenant: self}
        self._key_epoch = _KeyEpoch()

    def close(self) -> None:
        self.deps.executor.close()
        self._short_reads.close()
        self._short_writes.close()
        self.db.dispose()

    @property
    def short_reads(self) -> Executor:
        """The few threads, each keeping its connection, that make short reads off an event
        loop on a networked database (``engine.short_reads``)."""
        return self._short_reads.executor

    @property
    def short_writes(self) -> Executor | None:
        """On a networked database, the one thread, keeping its connection, that writes the
        API's group commits (``api.batches``): they are written one at a time anyway, and a
        kept connection spares each the pool's checkout and its liveness ping round trip.
        None on SQLite, whose writes share one kept connection from any thread."""
        return None if self.db.dialect.embedded else self._short_writes.executor

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- registry

    def register(self, *items: Any) -> None:
        """Register ``@action`` functions, or every one found in the given modules."""
        for item in items:
            self.registry.register(item)

    # ---------------------------------------------------------------- workflows

    def save_draft(self, document: dict[str, Any], *, expected_revision: int | None = None) -> int:
        """Store a draft (valid or not) and return its new revision. With ``expected_revision``
        (the revision the edit was based on) the save is a compare-and-set: a stale one raises
        ``ConflictError`` ``draft.conflict`` whose details hold the current draft, its revision
        and its problems. Without it the draft is overwritten (scripts; the HTTP API requires
        it)."""
        _check_document(document)
        try:
            with self.db.write() as conn:
                return save_draft(
                    conn,
                    self.tenant,
                    document,
                    self.clock.now(),
                    expected_revision=expected_revision,
                )
        except ConflictError as exc:
            raise self._with_problems(exc) from None

    def get_draft(self, key: str) -> dict[str, Any]:
        """The draft of ``key`` with its revision and its validation problems."""
        inputs.check_texts(workflow=key)
        with self.db.read() as conn:
            row = workflow_row(conn, self.tenant, key)
        return {
            "key": key,
            "revision": row.draft_revision,
            "draft": row.draft,
            **self._problems(row.draft),
        }

    def publish_draft(self, key: str, *, expected_revision: int | None = None) -> PublishedVersion:
        """Publish the stored draft of ``key``; with ``expected_revision``, only if the draft is
        still that revision (else ``draft.conflict``), so an editor publishes what they saw."""
        inputs.check_texts(workflow=key)
        try:
            with self.db.write() as conn:
                row = locked_workflow_row(conn, self.tenant, key)
                if expected_revision is not None and row.draft_revision != expected_revision:
                    raise draft_conflict(conn, row.id, key, expected_revision)
                if row.draft is None:
                    raise ConflictError(f"workflow {key!r} has no draft", code="draft.missing")
                document = {**row.draft, "key": key}
                return publish(conn, self.tenant, document, self.registry, self.clock.now())
        except ConflictError as exc:
            raise self._with_problems(exc) from None

    def _problems(self, document: Any) -> dict[str, Any]:
        if not isinstance(document, dict):
            return {"valid": False, "problems": []}
        problems = [p.to_dict() for p in validate(document, self.registry)]
        return {"valid": not any(p["severity"] == "error" for p in problems), "problems": problems}

    def _with_problems(self, exc: ConflictError) -> ConflictError:
        """A ``draft.conflict`` gains the current draft's problems, for the editor to show."""
        if exc.code == "draft.conflict" and isinstance(exc.details, dict):
            exc.details.update(self._problems(exc.details.get("draft")))
        return exc

    def publish(self, definition: dict[str, Any] | Definition | str | Path) -> PublishedVersion:
        document = _check_document(_document(definition))
        with self.db.write() as conn:
            return publish(conn, self.tenant, document, self.registry, self.clock.now())

    def versions(self, workflow: str) -> list[dict[str, Any]]:
        inputs.check_texts(workflow=workflow)
        with self.db.read() as conn:
            row = workflow_row(conn, self.tenant, workflow)
            rows = versions_of(conn, row.id)
        return [
            {"version": r.number, "hash": r.hash, "publishedAt": views.iso(r.published_at)}
            for r in rows
        ]

    def get_version(self, workflow: str, version: int | None = None) -> dict[str, Any]:
        inputs.check_texts(workflow=workflow)
        with self.db.read() as conn:
            row = workflow_row(conn, self.tenant, workflow)
            v = version_row(conn, row.id, version)
        return {
            "version": v.number,
            "hash": v.hash,
            "definition": v.definition,
            "publishedAt": views.iso(v.published_at),
        }

    # ---------------------------------------------------------------- runs

    def start(
        self,
        workflow: str,
        payload: Any = None,
        *,
        subject: str | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Start a run on the latest published version (or the one named); the same
        ``idempotency_key`` returns the same run."""
        return self.start_run(StartIn(workflow, payload, subject, version, idempotency_key)).run_id

    def start_run(self, item: StartIn) -> Started:
        """``start``, answering with the new run as written (``Started.view``; None when the
        idempotency key named an existing run). Concurrent calls share one transaction."""
        outcome = self._starts.submit(check_start(item))
        if isinstance(outcome, FlowpinError):
            raise outcome
        return outcome

    def start_many(self, items: Sequence[StartIn | dict[str, Any]]) -> list[Started | FlowpinError]:
        """Start many runs in one transaction; each item (a ``StartIn`` or a dict with
        ``start``'s argument names) gets its own outcome, in order: a ``Started`` or the error
        that refused it (the others are written all the same)."""
        outcomes: list[Started | FlowpinError | None] = []
        checked: list[StartIn] = []
        for item in items:
            try:
                checked.append(check_start(start_in(item)))
                outcomes.append(None)
            except FlowpinError as exc:
                outcomes.append(exc)
        written = iter(self._write_starts(checked) if checked else [])
        return [next(written) if o is None else o for o in outcomes]

    def start_checked(self, items: Sequence[StartIn]) -> list[Started | FlowpinError]:
        """``start_many`` of items that already passed ``check_start`` (on the caller's thread,
        which also took its trace): one transaction, an outcome each. For callers that group
        starts themselves (the API's event loop, ``api.batches``)."""
        return self._write_starts(items)

    def _write_starts(self, items: Sequence[StartIn]) -> list[Started | FlowpinError]:
        with self.db.write() as conn:
            outcomes = write_starts(
                conn,
                self.tenant,
                items,
                self.clock.now(),
                self.deps.definitions.definition_in,
                self.registry,
            )
        if any(isinstance(o, Started) and o.created for o in outcomes):
            self.deps.wakeups.notify()
        return outcomes

    def get_run(self, run_id: str, *, history: bool = False, wait: float = 0.0) -> dict[str, Any]:
        """The run as clients see it. ``wait`` (seconds, at most ``MAX_RUN_WAIT_S``): first wait
        until the run has nothing to do right now — finished, or parked with no due work — so
        a read right after an event or a start shows what the worker made of it."""
        inputs.check_texts(runId=run_id)
        if wait > 0:
            self._wait_settled(run_id, min(wait, MAX_RUN_WAIT_S))
        with self.db.read() as conn:
            return views.run_view(conn, self.tenant, run_id, history=history)

    def get_run_masked(
        self, run_id: str, *, wait: float = 0.0, kept: bool = False
    ) -> tuple[dict[str, Any], Any]:
        """``get_run`` and the run's redaction masks (``Core.masks_for_view``), read in one
        transaction (what the API answers with). ``kept``: on the connection this thread keeps
        (``Database.read_kept``; the API's event loop on SQLite)."""
        inputs.check_texts(runId=run_id)
        if wait > 0:
            self._wait_settled(run_id, min(wait, MAX_RUN_WAIT_S))
        if not kept:
            with self.db.read() as conn:
                return self._run_masked(conn, run_id)
        try:
            with self.db.read_kept() as conn:
                return self._run_masked(conn, run_id)
        except Exception as exc:
            if not lost_connection(exc):
                raise
        with self.db.read_kept() as conn:  # the kept connection died: once more, on a new one
            return self._run_masked(conn, run_id)

    def _run_masked(self, conn: Any, run_id: str) -> tuple[dict[str, Any], Any]:
        row = views.run_row(conn, self.tenant, run_id)
        return views.row_view(conn, row), self.deps.redaction.masks_for_row(conn, self.tenant, row)

    def _wait_settled(self, run_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            with self.db.read() as conn:
                if views.run_settled(conn, self.tenant, run_id, self.clock.now()):
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.1)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        inputs.check_texts(runId=run_id)
        with self.db.read() as conn:
            views.run_row(conn, self.tenant, run_id)
            return views.history(conn, run_id)

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        subject: str | None = None,
        version: int | None = None,
        step: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; at most ``limit`` (capped at a page); ``page_runs`` pages further."""
        page = self.page_runs(
            workflow=workflow,
            status=status,
            subject=subject,
            version=version,
            step=step,
            limit=limit,
        )
        return list(page["items"])

    # ---------------------------------------------------------------- events and tasks

    def send_event(
        self,
        name: str,
        key: str | None = None,
        payload: Any = None,
        *,
        event_id: str | None = None,
        ttl_ms: int | None = None,
    ) -> EventOutcome:
        """Store the event, resume matching waits and start triggered runs (one transaction,
        shared with events other threads submit at the same moment)."""
        return self._events.submit(check_event(EventIn(name, key, payload, event_id, ttl_ms)))

    def send_events(self, events: list[EventIn | dict[str, Any]]) -> list[EventOutcome]:
        """Submit many events in one transaction; each gets its own outcome, in order."""
        items = [check_event(e if isinstance(e, EventIn) else _event_in(e)) for e in events]
        return self._submit_events(items)

    def send_events_each(self, events: Sequence[EventIn]) -> list[EventOutcome | FlowpinError]:
        """``send_events``, but an event that fails its checks gets its error in its place and
        the others are submitted (one transaction)."""
        outcomes: list[EventOutcome | FlowpinError | None] = []
        checked: list[EventIn] = []
        for event in events:
            try:
                checked.append(check_event(event))
                outcomes.append(None)
            except FlowpinError as exc:
                outcomes.append(exc)
        written = iter(self._submit_events(checked) if checked else [])
        return [next(written) if o is None else o for o in outcomes]

    def send_checked_events(self, items: Sequence[EventIn]) -> list[EventOutcome]:
        """``send_events`` of items that already passed ``check_event``, counted as one event
        commit (``flowpin_event_commit_batch_size``). For callers that group events themselves
        (the API's event loop, ``api.batches``)."""
        metrics.EVENT_BATCH.observe(len(items))
        return self._submit_events(items)

    def _submit_events(self, items: Sequence[EventIn]) -> list[EventOutcome]:
        with self.db.write() as conn:
            outcomes = submit_events(
                conn,
                self.tenant,
                items,
                self.clock.now(),
                self.deps.definitions.definition_in,
                self.registry,
            )
        if any(o.resumed or o.started for o in outcomes):
            self.deps.wakeups.notify()
        return outcomes

    def list_tasks(
        self,
        *,
        status: str | None = "open",
        assignee: str | None = None,
        run_id: str | None = None,
    ) -> list[dict[str, Any]]:
        inputs.check_texts(status=status, assignee=assignee, runId=run_id)
        with self.db.read() as conn:
            return views.list_tasks(
                conn, self.tenant, status=status, assignee=assignee, run_id=run_id
            )

    def get_task(self, task_id: str) -> dict[str, Any]:
        inputs.check_texts(taskId=task_id)
        with self.db.read() as conn:
            return views.task_view(views.task_row(conn, self.tenant, task_id))

    def complete_task(self, task_id: str, data: Any, *, by: str | None = None) -> dict[str, Any]:
        """Complete an open human task with data valid against its form schema; ``by`` (who
        completed it) is kept on the task and in the step's history row."""
        inputs.check_texts(taskId=task_id, by=by)
        inputs.check_value(data, "data")
        now = self.clock.now()
        with self.db.write() as conn:
            task = views.task_row(conn, self.tenant, task_id)
            if task.status != "open":
                raise ConflictError(f"task {task_id} is {task.status}", code="task.not_open")
            errors = list(jsonschema.Draft202012Validator(task.form_schema).iter_errors(data))
            if errors:
                raise TaskDataInvalid(
                    "task data does not fit the form: "
                    + "; ".join(_in_words(e) for e in errors[:3]),
                    details=[
                        {
                            "path": "/" + "/".join(str(p) for p in e.absolute_path),
                            "message": e.message,
                        }
                        for e in errors[:20]
                    ],
                )
            wait_id = open_task_wait(conn, task_id)
            detail = {"taskId": task_id, "completedBy": by}
            body = {"data": data, "detail": detail}
            if wait_id is None or not resolve_waits(
                conn, [EndedWait(wait_id, task.run_id, task.token, "task", body)], now
            ):
                raise ConflictError(f"task {task_id} is no longer open", code="task.not_open")
            complete_task(conn, task_id, data, by, now)
            result = views.task_view(views.task_row(conn, self.tenant, task_id))
        self.deps.wakeups.notify()
        return result

    # ---------------------------------------------------------------- operator actions

    def cancel(self, run_id: str, *, by: str | None = None) -> dict[str, Any]:
        """Cancel a run and its active children; a canceled run is never revived by an event,
        a timer or a stale worker (its waits are closed and every worker write is fenced).
        Each canceled run's history says so (``by``: who)."""
        inputs.check_texts(runId=run_id, by=by)
        now = self.clock.now()
        with self.db.write() as conn:
            views.run_row(conn, self.tenant, run_id)
            cancel_tree(conn, run_id, now, by=by)
        return self.get_run(run_id)

    def resume(self, run_id: str, *, by: str | None = None) -> dict[str, Any]:
        """Fire the run's pending timers now (a time.wait or a retry backoff); the step's
        history row says an operator resumed it (``by``: who)."""
        inputs.check_texts(runId=run_id, by=by)
        now = self.clock.now()
        with self.db.write() as conn:
            run = views.run_row(conn, self.tenant, run_id)
            if run.status in TERMINAL_STATUSES:
                raise ConflictError(f"run {run_id} is {run.status}", code="run.terminal")
            tokens = set(resume_timers(run.state))
            waits = open_timers(conn, run_id)
            detail = {"resumedBy": "operator", "operator": by}
            due = [
                EndedWait(wait.id, run_id, wait.token, "timer", {"detail": detail})
                for wait in waits
                if not tokens or wait.token in tokens
            ]
            fired = [ended.token for ended in resolve_waits(conn, due, now, wake=False)]
            if fired:
                history.record_operator(
                    conn, run_id, run.version_number, "resumed", now, by=by, timers=fired
                )
            wake_runs(conn, [run_id], now)
        self.deps.wakeups.notify()
        return self.get_run(run_id)

    def retry(
        self,
        run_id: str,
        *,
        from_step: str | None = None,
        payload: Any = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """Retry a finished run from a step (default: the step that failed); its history
        says an operator retried it, from where (``by``: who)."""
        inputs.check_texts(runId=run_id, fromStep=from_step, by=by)
        inputs.check_value(payload, "payload")
        now = self.clock.now()
        with self.db.write() as conn:
            run = views.run_row(conn, self.tenant, run_id)
            if run.status not in TERMINAL_STATUSES:
                raise ConflictError(
                    f"run {run_id} is {run.status}; only finished runs can be retried",
                    code="run.not_finished",
                )
            definition = self.deps.definitions.definition_in(conn, run.version_id)
            state = retry_state(definition, run.state, from_step, payload, now=now)
            restart_run(
                conn,
                run_id,
                run.status,
                state,
                state.get("envelope", {}).get("payload", run.payload)
                if payload is not None
                else run.payload,
                now,
            )
            history.record_operator(
                conn,
                run_id,
                run.version_number,
                "retried",
                now,
                by=by,
                fromStep=from_step,
                previousStatus=run.status,
                newInput=payload is not None,
            )
        self.deps.wakeups.notify()
        return self.get_run(run_id)

    def retry_preview(self, run_id: str, *, from_step: str | None = None) -> dict[str, Any]:
        """What ``retry(run_id, from_step=…)`` would call again, before the operator decides
        (SPEC §4.6); writes nothing and raises what ``retry`` raises.

        ``actions`` lists the ``action.call`` steps from the restart point on, read from the
        definition in document order: steps that *may* run again, since routes (``if`` and
        ``switch`` branches, a ``catch``, a ``forEach``'s items) are decided at run time. Each
        names its ``effect`` (``unknown`` when the action is not registered here) and
        ``answeredByLedger``: ``True`` when the call's key already has a succeeded entry, so
        the ledger returns its output instead of calling; ``None`` when the key is not known
        beforehand (an ``idempotencyKey`` expression, a position inside a loop). Restarting
        without ``from_step`` keeps the failed calls' keys; with it, every call gets a new one.
        """
        inputs.check_texts(runId=run_id, fromStep=from_step)
        with self.db.read() as conn:
            run = views.run_row(conn, self.tenant, run_id)
            if run.status not in TERMINAL_STATUSES:
                raise ConflictError(
                    f"run {run_id} is {run.status}; only finished runs can be retried",
                    code="run.not_finished",
                )
            definition = self.deps.definitions.definition_in(conn, run.version_id)
            plan = retry_targets(definition, run.state, run_id, from_step)
            keys = [target.key for target in plan.targets if target.key is not None]
            answered = succeeded_keys(conn, self.tenant, keys)
        actions = []
        for target in plan.targets:
            spec = self.registry.action(target.action_id, target.version)
            actions.append(
                {
                    "stepId": target.step_id,
                    "token": target.token,
                    "actionId": target.action_id,
                    "version": target.version,
                    "effect": spec.effect if spec is not None else "unknown",
                    "reason": target.reason,
                    "idempotencyKey": target.key,
                    "answeredByLedger": None if target.key is None else target.key in answered,
                }
            )
        return {"runId": run_id, "fromStep": plan.restart_at, "actions": actions}

    def migrate(
        self,
        workflow: str,
        *,
        from_version: int,
        to_version: int,
        runs: Selection = "all-active",
        mapping: dict[str, str] | None = None,
        reset_timers: bool = False,
        dry_run: bool = True,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Move runs in flight from one version to another (SPEC §5); a dry run by default.

        ``runs``: ``"all-active"``, a list of run ids, or a ``RunFilter`` (status, current
        step, subject). ``mapping``: ``{old step id: new step id}``, default the same id.
        Every run is checked first (``runtime.migrate``); the report says per run ``ok`` /
        ``moved`` or ``blocked`` with its problems. ``progress(done, total)`` is called after
        each batch."""
        migration = self.prepare_migration(
            workflow,
            from_version=from_version,
            to_version=to_version,
            runs=runs,
            mapping=mapping,
            reset_timers=reset_timers,
            dry_run=dry_run,
        )
        return self.run_migration(migration, progress)

    def prepare_migration(
        self,
        workflow: str,
        *,
        from_version: int,
        to_version: int,
        runs: Selection = "all-active",
        mapping: dict[str, str] | None = None,
        reset_timers: bool = False,
        dry_run: bool = True,
    ) -> migrating.Migration:
        """``migrate`` in two halves: this one checks the request and selects the runs (and
        raises for a bad request), ``run_migration`` checks and moves them."""
        inputs.check_texts(workflow=workflow)
        inputs.check_value(mapping, "mapping")
        _check_selection(runs)
        request = MigrationRequest(
            from_version=from_version,
            to_version=to_version,
            runs=runs,
            mapping=dict(mapping or {}),
            reset_timers=reset_timers,
            dry_run=dry_run,
        )
        return migrating.prepare(
            lambda write: self.db.write() if write else self.db.read(),
            self.tenant,
            workflow,
            request,
            self.deps.definitions.definition_in,
            self.clock.now,
        )

    def run_migration(
        self, migration: migrating.Migration, progress: Progress | None = None
    ) -> dict[str, Any]:
        report = migration.run(progress)
        if report["summary"]["moved"]:
            self.deps.wakeups.notify()  # restarted positions are runnable now
        return report

    def shadow(
        self,
        workflow: str,
        *,
        version: int | str,
        runs: list[str] | None = None,
        last: int | None = None,
    ) -> dict[str, Any]:
        """Shadow replay (SPEC §5): re-evaluate ``version`` against recorded runs (``runs``
        ids, or the ``last`` N runs of the workflow) with their recorded action outputs,
        events and task answers as stubs; calls nothing and writes nothing. Per run: the first
        step where routing or results would differ (expected: ``version``; actual: what
        happened), or where the shadow cannot go on (no recorded output for a step the run
        never reached). ``version="draft"`` replays the workflow's draft (it must be valid)."""
        inputs.check_texts(workflow=workflow)
        _check_selection(runs)
        if (runs is None) == (last is None):
            raise shadowing.ShadowRequestError("give runs or last, not both")
        with self.db.read() as conn:
            return shadowing.shadow_runs(
                conn,
                self.tenant,
                workflow,
                version,
                runs if runs is not None else int(last or 0),
                self.deps.definitions.definition_in,
                catalog=self.registry,
                action_retry=self.deps.action_retry,
                mask=self.deps.redaction.redactor,
            )

    def rerun(self, run_id: str, *, latest: bool = False, by: str | None = None) -> str:
        """Start a new run with the input of ``run_id`` (same version unless ``latest``); the
        history of ``run_id`` names the new run.

        Not to be confused with ``shadow``, which re-evaluates recorded runs without running
        anything."""
        inputs.check_texts(runId=run_id)
        with self.db.read() as conn:
            run = views.run_row(conn, self.tenant, run_id)
        new_run = self.start(
            run.workflow_key,
            run.payload,
            subject=run.subject,
            version=None if latest else run.version_number,
        )
        with self.db.write() as conn:
            history.record_operator(
                conn, run_id, run.version_number, "rerun", self.clock.now(), by=by, newRunId=new_run
            )
        return new_run

    replay = rerun
    """The former name of ``rerun`` (kept for existing callers)."""

    # ---------------------------------------------------------------- tenants and keys

    def for_tenant(self, tenant: str) -> Engine:
        """The same engine seen as ``tenant``: shares the database, registry, clock, core and
        workers (nothing is re-created; views are cached). Close only the original engine."""
        view = self._tenant_views.get(tenant)
        if view is not None:
            return view
        inputs.check_text(tenant, "tenant", inputs.TENANT_MAX)
        view = object.__new__(Engine)
        view.db, view.registry, view.clock, view.deps = (
            self.db,
            self.registry,
            self.clock,
            self.deps,
        )
        view._key_epoch = self._key_epoch
        view._short_reads = self._short_reads
        view._short_writes = self._short_writes
        view.tenant = tenant
        view._events = GroupCommitter(view._submit_events, observe=metrics.EVENT_BATCH.observe)
        view._starts = GroupCommitter(view._write_starts)
        view._tenant_views = self._tenant_views
        return self._tenant_views.setdefault(tenant, view)

    def create_api_key(self, role: str, *, name: str | None = None) -> tenancy.NewKey:
        """A new API key of this tenant; the returned ``key`` is shown once, only its hash is
        stored."""
        inputs.check_text(name, "name", inputs.KEY_NAME_MAX)
        with self.db.write() as conn:
            return tenancy.create_key(conn, self.tenant, role, self.clock.now(), name=name)

    def list_api_keys(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return tenancy.list_keys(conn, self.tenant)

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key of this tenant: at once for an API app serving this engine; another
        process's API honours it within its key cache time (30 s by default)."""
        inputs.check_texts(keyId=key_id)
        with self.db.write() as conn:
            tenancy.revoke_key(conn, self.tenant, key_id, self.clock.now())
        self._key_epoch.revoked += 1

    def authenticate(self, key: str) -> tenancy.Principal | None:
        """The tenant and role of an API key (any tenant), or None when it is unknown."""
        inputs.check_texts(key=key)
        with self.db.read() as conn:
            return tenancy.authenticate(conn, key)

    def has_api_keys(self) -> bool:
        with self.db.read() as conn:
            return tenancy.any_key(conn)

    # ---------------------------------------------------------------- secrets

    def put_secret(self, name: str, value: str) -> bool:
        """Store a secret of this tenant, encrypted (``FLOWPIN_SECRET_KEY``); True if new."""
        inputs.check_texts(name=name, value=value)
        with self.db.write() as conn:
            return secret_store.put(conn, self.tenant, name, value, self.clock.now())

    def list_secrets(self) -> list[dict[str, Any]]:
        """Names and times of this tenant's secrets (never the values)."""
        with self.db.read() as conn:
            return secret_store.describe(conn, self.tenant)

    def get_secret_info(self, name: str) -> dict[str, Any]:
        inputs.check_texts(name=name)
        with self.db.read() as conn:
            return secret_store.describe(conn, self.tenant, name)[0]

    def delete_secret(self, name: str) -> None:
        inputs.check_texts(name=name)
        with self.db.write() as conn:
            secret_store.delete(conn, self.tenant, name)

    # ---------------------------------------------------------------- workflow administration

    def list_workflows(
        self, *, search: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any]:
        inputs.check_texts(search=search, cursor=cursor)
        with self.db.read() as conn:
            return admin.list_workflows(
                conn, self.tenant, search=search, limit=limit, cursor=cursor
            )

    def get_workflow(self, key: str) -> dict[str, Any]:
        inputs.check_texts(workflow=key)
        with self.db.read() as conn:
            return admin.workflow_view(conn, self.tenant, key)

    def step_counts(self, key: str) -> dict[str, Any]:
        """Runs of a workflow per version and per step: running, waiting by kind, failed; and
        the active runs on versions older than the latest (see ``engine.counts``)."""
        inputs.check_texts(workflow=key)
        with self.db.read() as conn:
            return counts.step_counts(conn, self.tenant, key)

    def diff(
        self, key: str, from_version: int | str | None = None, to: int | str | None = None
    ) -> dict[str, Any]:
        """Compare version ``from_version`` (default: the latest) with ``to`` (a version or
        ``"draft"``, the default): each change with the active runs of ``from_version`` at,
        before and after it, and whether it is safe for them (see ``definitions.diff``)."""
        inputs.check_texts(workflow=key)
        a, b = diffs.parse_side(from_version, "from"), diffs.parse_side(to, "to")
        with self.db.read() as conn:
            return diffs.version_diff(conn, self.tenant, key, a, b)

    def create_workflow(
        self, key: str, *, name: str | None = None, draft: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        inputs.check_texts(key=key)
        inputs.check_text(name, "name", inputs.WORKFLOW_NAME_MAX)
        if draft is not None:
            _check_document(draft)
        with self.db.write() as conn:
            admin.create_workflow(conn, self.tenant, key, name, draft, self.clock.now())
            return admin.workflow_view(conn, self.tenant, key)

    def set_layout(self, key: str, layout: dict[str, Any]) -> dict[str, Any]:
        inputs.check_texts(workflow=key)
        inputs.check_value(layout, "layout")
        with self.db.write() as conn:
            return admin.set_layout(conn, self.tenant, key, layout, self.clock.now())

    def update_workflow(self, key: str, **changes: Any) -> dict[str, Any]:
        """Change settings: ``name``, ``paused``, ``concurrencyLimit``."""
        inputs.check_texts(workflow=key)
        if "name" in changes:
            inputs.check_text(changes["name"], "name", inputs.WORKFLOW_NAME_MAX)
        with self.db.write() as conn:
            admin.update_settings(conn, self.tenant, key, changes, self.clock.now())
            view = admin.workflow_view(conn, self.tenant, key)
        self.deps.wakeups.notify()  # a resumed workflow's held runs are claimable again
        return view

    def duplicate_workflow(
        self, key: str, new_key: str, *, name: str | None = None
    ) -> dict[str, Any]:
        inputs.check_texts(workflow=key, key=new_key)
        inputs.check_text(name, "name", inputs.WORKFLOW_NAME_MAX)
        with self.db.write() as conn:
            admin.duplicate_workflow(conn, self.tenant, key, new_key, name, self.clock.now())
            return admin.workflow_view(conn, self.tenant, new_key)

    def delete_workflow(self, key: str) -> None:
        inputs.check_texts(workflow=key)
        with self.db.write() as conn:
            admin.delete_workflow(conn, self.tenant, key)

    def cancel_all(self, key: str) -> list[str]:
        """Cancel every active run of a workflow (children with their parents)."""
        inputs.check_texts(workflow=key)
        now = self.clock.now()
        with self.db.write() as conn:
            run_ids = admin.active_top_level_runs(conn, self.tenant, key)
            for run_id in run_ids:
                cancel_tree(conn, run_id, now)
        return run_ids

    def page_runs(
        self, *, limit: int = 50, cursor: str | None = None, **filters: Any
    ) -> dict[str, Any]:
        """Runs newest first, filtered (the fields of ``run_listing.RunFilter``), one page at a
        time: pass the answer's ``nextCursor`` back as ``cursor`` for the next."""
        inputs.check_texts(cursor=cursor)
        _check_selection(filters)
        with self.db.read() as conn:
            return run_listing.page_runs(
                conn, self.tenant, RunFilter(**filters), limit=limit, cursor=cursor
            )

    def run_counts(self, **filters: Any) -> dict[str, Any]:
        """How many runs of the filtered set have each status (the filter's status ignored)."""
        _check_selection(filters)
        with self.db.read() as conn:
            return run_listing.status_counts(conn, self.tenant, RunFilter(**filters))

    def cancel_matching(
        self,
        selection: RunFilter,
        *,
        dry_run: bool = False,
        expected: int | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """Cancel the active runs of a filtered set (children with their parents), at most
        ``BULK_CANCEL_MAX`` per call. ``dry_run``: only count them, so an operator can confirm
        a number first; ``expected``: the number confirmed, refused (409) when more match now.
        """
        _check_selection(selection)
        now = self.clock.now()
        with self.db.write() as conn:
            matching, run_ids = run_listing.active_matching(
                conn, self.tenant, selection, BULK_CANCEL_MAX
            )
            if expected is not None and matching > expected:
                raise ConflictError(
                    f"{matching} active runs match now, more than the {expected} confirmed",
                    code="runs.count_changed",
                    details={"matching": matching, "expected": expected},
                )
            if not dry_run:
                for run_id in run_ids:
                    cancel_tree(conn, run_id, now, by=by, bulk=True)
        canceled = [] if dry_run else run_ids
        return {
            "matching": matching,
            "canceled": len(canceled),
            "runIds": canceled,
            "remaining": matching - len(canceled),
            "dryRun": dry_run,
        }

    def list_events(self, **filters: Any) -> dict[str, Any]:
        """Stored events newest first with what each did (see ``event_listing.page_events``
        for the filters: name, key, outcome, received_after/before, limit, cursor)."""
        _check_selection(filters)
        with self.db.read() as conn:
            return event_listing.page_events(conn, self.tenant, self.clock.now(), **filters)

    def get_event(self, ident: str) -> dict[str, Any]:
        """One stored event (its id or the ``eventId`` it was sent with) and the runs it
        touched."""
        inputs.check_texts(event=ident)
        with self.db.read() as conn:
            return event_listing.event_detail(conn, self.tenant, ident, self.clock.now())

    # ---------------------------------------------------------------- redaction

    @property
    def redactor(self) -> Redactor:
        """Masks values under sensitive keys (``redact_keys``) in what the engine shows."""
        return self.deps.redaction.redactor

    def masks_for_view(self, view: dict[str, Any]) -> Masks | None:
        """The pointer masks of a run as ``get_run`` shows it (None when none apply)."""
        return self.deps.redaction.masks_for_view(self.tenant, view)

    def masks_for_new(
        self, version_id: int, definition: Definition, state: dict[str, Any]
    ) -> Masks | None:
        """The pointer masks of a run just created with ``state`` (no database read)."""
        return self.deps.redaction.masks_for_new(version_id, definition, state)

    def masks_for_runs(self, run_ids: Iterable[str]) -> dict[str, Masks]:
        """The pointer masks of each of ``run_ids`` (of this tenant) that has some."""
        return self.deps.redaction.masks_for_runs(self.tenant, run_ids)

    @property
    def key_epoch(self) -> int:
        """Changes whenever an API key is revoked through this process (any tenant): API key
        caches drop their entries then, so a revocation takes effect at once here."""
        return self._key_epoch.revoked

    @property
    def reads_inline(self) -> bool:
        """True when a short read costs less than handing it to a thread: SQLite, in this
        process, with no network round trip (the API then reads on its event loop)."""
        return self.db.dialect.embedded

    # ---------------------------------------------------------------- workers

    def worker(self, options: WorkerOptions | None = None, name: str | None = None) -> Worker:
        return Worker(self.deps, options, name)

    def next_due(self) -> datetime | None:
        """When a worker next has something to do by the engine's clock (a timer, a timeout, a
        schedule slot, a deferred run, a lease to lapse); ``None``: nothing is due, ever. What
        the test kit moves its clock to."""
        with self.db.read() as conn:
            return claims.next_wakeup(conn, self.clock.now())

    def run_worker(
        self,
        *,
        until_idle: bool = False,
        options: WorkerOptions | None = None,
        stop: Any = None,
    ) -> Worker:
        """Run a worker in this thread: until every due thing is done (``until_idle``), or
        until ``stop`` (a ``threading.Event``) is set."""
        worker = self.worker(options)

        async def main() -> None:
            stop_event = asyncio.Event()
            if stop is not None:
                loop = asyncio.get_running_loop()

                def watch() -> None:
                    stop.wait()
                    loop.call_soon_threadsafe(stop_event.set)

                loop.run_in_executor(None, watch)
            await worker.run(until_idle=until_idle, stop=stop_event)

        asyncio.run(main())
        return worker


def _in_words(error: jsonschema.ValidationError) -> str:
    """One form error as a person reads it: the field, then what is wrong with it."""
    field = ".".join(str(part) for part in error.absolute_path)
    return f"{field}: {error.message}" if field else error.message


def _document(definition: dict[str, Any] | Definition | str | Path) -> dict[str, Any]:
    if isinstance(definition, Definition):
        return definition.to_json()
    if isinstance(definition, dict):
        return definition
    return load_document(Path(definition))


def _check_document(document: Any) -> dict[str, Any]:
    """A draft or definition stores as JSON, and its name fits the workflow's name column."""
    inputs.check_value(document, "definition")
    if isinstance(document, dict):
        inputs.check_text(document.get("name"), "name", inputs.WORKFLOW_NAME_MAX)
    return document  # type: ignore[no-any-return]


def _check_selection(selection: Any) -> None:
    """The texts of a run or event selection (filter fields, a list of ids) can be looked up."""
    if dataclasses.is_dataclass(selection) and not isinstance(selection, type):
        selection = dataclasses.asdict(selection)
    if isinstance(selection, dict):
        for field, value in selection.items():
            _check_selection_value(value, field)
    else:
        _check_selection_value(selection, "runs")


def _check_selection_value(value: Any, field: str) -> None:
    if isinstance(value, str):
        inputs.check_text(value, field)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_selection_value(item, field)


def _event_in(data: dict[str, Any]) -> EventIn:
    return EventIn(
        name=data["name"],
        key=data.get("key"),
        payload=data.get("payload"),
        event_id=data.get("eventId"),
        ttl_ms=data.get("ttlMs"),
    )


@dataclasses.dataclass(slots=True)
class _KeyEpoch:
    """Counts API keys revoked through this process, shared by an engine and its tenant views."""

    revoked: int = 0
