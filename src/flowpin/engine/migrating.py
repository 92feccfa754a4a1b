"""Migrating runs in flight to another version (SPEC §5): select the runs, check each one with
``runtime.migrate.Migrator``, and — unless it is a dry run — move those that pass.

Runs are handled in batches of ``BATCH``, each in one transaction: the rows are read inside the
write transaction (SQLite: the writer lock; PostgreSQL: ``FOR UPDATE``), so what is checked is
what is moved, and a run is never half-moved. A worker holding a run's live lease makes it
``run.busy`` (try again); moving a run bumps its ``claim_count`` and clears its lease, so a
worker whose lease lapsed writes nothing afterwards (its checkpoint is fenced): a run is never
both run and moved. Finished and canceled runs are never moved.

Each moved run gets its new version, its rewritten state, its waits, tasks and inbox renamed
to the new tokens (or closed, for a position that restarts), and a ``migration`` row in its
history. History rows keep the version their step ran under (``step_history.version_number``),
so a run's history shows which steps ran on which version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition
from flowpin.errors import FlowpinError
from flowpin.runtime.migrate import Migrator, MovePlan, MoveProblem
from flowpin.runtime.positions import encode as encode_positions
from flowpin.store import tables as t
from flowpin.store.bulk import INSERT_HISTORY, Bulk, HistoryRow, json_param
from flowpin.store.dialects import dialect_of
from flowpin.store.statements import among
from flowpin.store.workflows import version_row, workflow_row

ACTIVE = ("PENDING", "RUNNING", "WAITING")
BATCH = 500
"""Runs checked and moved per transaction."""
STATUSES = frozenset(ACTIVE)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` after each batch."""


class MigrationRequestError(FlowpinError):
    code = "migration.invalid"


@dataclass(slots=True)
class RunFilter:
    """Which active runs of the version: by status, current step and subject (all optional)."""

    status: str | None = None
    step: str | None = None
    subject: str | None = None


Selection = str | list[str] | RunFilter
"""``"all-active"``, run ids, or a ``RunFilter``."""


@dataclass(slots=True)
class MigrationRequest:
    from_version: int
    to_version: int
    runs: Selection = "all-active"
    mapping: dict[str, str] = field(default_factory=dict)
    reset_timers: bool = False
    dry_run: bool = True


class Migration:
    """A checked request with its runs selected, ready to run (``total`` runs in all).

    ``prepare`` raises what is wrong with the request itself (unknown workflow or version, a
    mapping naming steps that do not exist) before anything is reported per run, so the HTTP
    layer can answer 4xx before it starts streaming progress."""

    def __init__(
        self,
        key: str,
        request: MigrationRequest,
        migrator: Migrator,
        source: Any,
        target: Any,
        ids: list[str],
        reports: list[dict[str, Any]],
        transaction: Callable[[bool], Any],
        now: Callable[[], datetime],
    ) -> None:
        self.key = key
        self.request = request
        self.migrator = migrator
        self.source = source
        self.target = target
        self.ids = ids
        self.reports = reports
        self.transaction = transaction
        self.now = now

    @property
    def total(self) -> int:
        return len(self.ids) + len(self.reports)

    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        """Check (and unless ``dry_run`` move) the runs, ``BATCH`` per transaction."""
        reports = list(self.reports)
        done = len(reports)
        if progress is not None:
            progress(done, self.total)
        write = not self.request.dry_run
        for start in range(0, len(self.ids), BATCH):
            chunk = self.ids[start : start + BATCH]
            with self.transaction(write) as conn:
                reports += _batch(
                    conn, chunk, self.migrator, self.source, self.target, self.request, self.now()
                )
            done += len(chunk)
            if progress is not None:
                progress(done, self.total)
        return _report(self.key, self.request, reports)


def prepare(
    transaction: Callable[[bool], Any],
    tenant_id: str,
    key: str,
    request: MigrationRequest,
    definition_in: Callable[[Connection, int], Definition],
    now: Callable[[], datetime],
) -> Migration:
    """Check the request and select its runs. ``transaction(write)`` opens a transaction (a
    context manager giving a connection): one here, then one per batch when it runs."""
    with transaction(False) as conn:
        workflow = workflow_row(conn, tenant_id, key)
        source = version_row(conn, workflow.id, request.from_version)
        target = version_row(conn, workflow.id, request.to_version)
        if source.number == target.number:
            raise MigrationRequestError(
                "fromVersion and toVersion are the same version", code="migration.same_version"
            )
        migrator = Migrator(
            definition_in(conn, source.id),
            definition_in(conn, target.id),
            request.mapping,
            target_version=target.number,
            reset_timers=request.reset_timers,
        )
        errors = migrator.mapping_errors()
        if errors:
            raise MigrationRequestError(
                "; ".join(errors), code="migration.bad_mapping", details=errors
            )
        ids, reports = _select(conn, tenant_id, workflow.id, source.number, request.runs)
    return Migration(key, request, migrator, source, target, ids, reports, transaction, now)


def _select(
    conn: Connection, tenant_id: str, workflow_id: int, version: int, selection: Selection
) -> tuple[list[str], list[dict[str, Any]]]:
    """The ids of the runs to check, and reports for named runs that cannot be considered."""
    runs = t.runs
    of_workflow = sa.and_(runs.c.tenant_id == tenant_id, runs.c.workflow_id == workflow_id)
    if isinstance(selection, list):
        rows = conn.execute(
            sa.select(runs.c.id, runs.c.status, runs.c.version_number, runs.c.subject).where(
                of_workflow, among(conn, runs.c.id, selection)
            )
        ).all()
        found = {row.id: row for row in rows}
        ids, reports = [], []
        for run_id in dict.fromkeys(selection):
            row = found.get(run_id)
            if row is None:
                problem = MoveProblem("run.not_found", "no such run of this workflow")
            elif row.status not in STATUSES:
                problem = MoveProblem(
                    "run.finished", f"the run is {row.status}; finished runs are never moved"
                )
            elif row.version_number != version:
                problem = MoveProblem(
                    "run.other_version", f"the run is on version {row.version_number}"
                )
            else:
                ids.append(run_id)
                continue
            reports.append(_blocked(run_id, row, [problem]))
        return ids, reports
    query = sa.select(runs.c.id).where(
        of_workflow, runs.c.version_number == version, runs.c.status.in_(ACTIVE)
    )
    if isinstance(selection, RunFilter):
        if selection.status is not None:
            query = query.where(runs.c.status == selection.status)
        if selection.step is not None:
            query = query.where(runs.c.current_step == selection.step)
        if selection.subject is not None:
            query = query.where(runs.c.subject == selection.subject)
    elif selection != "all-active":
        raise MigrationRequestError(
            'runs must be a list of run ids, "all-active" or a filter',
            code="migration.bad_selection",
        )
    return list(conn.execute(query.order_by(runs.c.id)).scalars()), []


_COLUMNS = (
    t.runs.c.id,
    t.runs.c.status,
    t.runs.c.subject,
    t.runs.c.version_number,
    t.runs.c.current_step,
    t.runs.c.lease_owner,
    t.runs.c.lease_expires_at,
    t.runs.c.claim_count,
    t.runs.c.state,
)


def _batch(
    conn: Connection,
    ids: list[str],
    migrator: Migrator,
    source: Any,
    target: Any,
    request: MigrationRequest,
    now: datetime,
) -> list[dict[str, Any]]:
    query = sa.select(*_COLUMNS).where(among(conn, t.runs.c.id, ids))
    if not request.dry_run:
        query = dialect_of(conn).locked(query)
    rows = {row.id: row for row in conn.execute(query)}
    in_flight = set(
        conn.execute(
            sa.select(t.action_ledger.c.run_id).where(
                among(conn, t.action_ledger.c.run_id, ids), t.action_ledger.c.status == "started"
            )
        ).scalars()
    )
    reports: list[dict[str, Any]] = []
    moves: list[tuple[Any, MovePlan]] = []
    for run_id in ids:
        row = rows.get(run_id)
        if row is None:  # deleted with its workflow meanwhile
            reports.append(_blocked(run_id, None, [MoveProblem("run.not_found", "no such run")]))
            continue
        problems = _run_problems(row, source.number, run_id in in_flight, now)
        if problems:
            reports.append(_blocked(run_id, row, problems))
            continue
        plan = migrator.plan(row.state, now)
        if not plan.ok:
            reports.append(_blocked(run_id, row, plan.problems))
            continue
        moves.append((row, plan))
        report = _report_of(run_id, row)
        report["result"] = "ok" if request.dry_run else "moved"
        report["positions"] = [position.to_dict() for position in plan.positions]
        if plan.warnings:
            report["warnings"] = [warning.to_dict() for warning in plan.warnings]
        reports.append(report)
    if moves and not request.dry_run:
        _write(conn, moves, source, target, request, now)
    return reports


def _run_problems(row: Any, version: int, in_flight: bool, now: datetime) -> list[MoveProblem]:
    if row.status not in STATUSES:
        return [MoveProblem("run.finished", f"the run is {row.status}; it is never moved")]
    if row.version_number != version:
        return [MoveProblem("run.other_version", f"the run is on version {row.version_number}")]
    leased = row.lease_owner is not None and row.lease_expires_at is not None
    if leased and row.lease_expires_at >= now:
        return [
            MoveProblem(
                "run.busy",
                "a worker is executing the run right now; try again when it parks",
                row.current_step,
                retryable=True,
            )
        ]
    if in_flight:
        return [
            MoveProblem(
                "action.in_flight",
                "an action call of the run has started and not settled; try again shortly",
                row.current_step,
                retryable=True,
            )
        ]
    return []


def _write(
    conn: Connection,
    moves: list[tuple[Any, MovePlan]],
    source: Any,
    target: Any,
    request: MigrationRequest,
    now: datetime,
) -> None:
    runs = t.runs
    update = (
        runs.update()
        .where(
            runs.c.id == sa.bindparam("run_id"),
            runs.c.claim_count == sa.bindparam("seen_claims"),
            runs.c.finished_at.is_(None),  # active (the table's CHECK ties the two)
        )
        .values(
            version_id=target.id,
            version_number=target.number,
            state=sa.bindparam("new_state", type_=runs.c.state.type),
            current_step=sa.bindparam("new_step"),
            positions=sa.bindparam("new_positions"),
            updated_at=now,
            claim_count=runs.c.claim_count + 1,
            lease_owner=None,
            lease_expires_at=None,
            wake_at=sa.case(
                (sa.bindparam("wakes", type_=sa.Boolean), sa.literal(now, runs.c.wake_at.type)),
                else_=runs.c.wake_at,
            ),
        )
    )
    conn.execute(
        update,
        [
            {
                "run_id": row.id,
                "seen_claims": row.claim_count,
                "new_state": plan.state,
                "new_step": plan.current_steps[0] if plan.current_steps else None,
                "new_positions": encode_positions(plan.state),
                "wakes": plan.wakes,
            }
            for row, plan in moves
        ],
    )
    renamed = [
        {"run": row.id, "old": p.token, "new": p.new_token, "step": p.new_step_id}
        for row, plan in moves
        for p in plan.positions
        if not p.restart and p.token != p.new_token
    ]
    closed = [
        {"run": row.id, "old": p.token} for row, plan in moves for p in plan.positions if p.restart
    ]
    if renamed:
        _rename_positions(conn, renamed)
    if closed:
        _close_positions(conn, closed, now)
    bulk = Bulk(conn)
    stamp = bulk.time(now)
    bulk.write(
        conn,
        INSERT_HISTORY,
        [
            HistoryRow(
                run_id=row.id,
                step_id="$migration",
                token="",
                step_type="migration",
                version_number=target.number,
                attempt=1,
                status="migrated",
                logical_time=stamp,
                recorded_at=stamp,
                started_at=stamp,  # a migration takes no time of the run's own
                input=json_param(
                    {
                        "fromVersion": source.number,
                        "toVersion": target.number,
                        "mapping": request.mapping,
                        "resetTimers": request.reset_timers,
                        "positions": [position.to_dict() for position in plan.positions],
                    }
                ),
                output=None,
                error=None,
                detail=None,
            )
            for row, plan in moves
        ],
    )


def _rename_positions(conn: Connection, renamed: list[dict[str, Any]]) -> None:
    run_id, old = sa.bindparam("run"), sa.bindparam("old")
    new, step = sa.bindparam("new"), sa.bindparam("step")
    conn.execute(
        t.waits.update()
        .where(t.waits.c.run_id == run_id, t.waits.c.token == old, t.waits.c.status == "open")
        .values(token=new, step_id=step),
        renamed,
    )
    conn.execute(
        t.human_tasks.update()
        .where(
            t.human_tasks.c.run_id == run_id,
            t.human_tasks.c.token == old,
            t.human_tasks.c.status == "open",
        )
        .values(token=new, step_id=step),
        renamed,
    )
    conn.execute(
        t.run_inbox.update()
        .where(t.run_inbox.c.run_id == run_id, t.run_inbox.c.token == old)
        .values(token=new),
        [{key: item[key] for key in ("run", "old", "new")} for item in renamed],
    )


def _close_positions(conn: Connection, closed: list[dict[str, Any]], now: datetime) -> None:
    """A position that restarts at its target: its wait and task are closed, its inputs
    dropped (the step runs anew)."""
    run_id, old = sa.bindparam("run"), sa.bindparam("old")
    conn.execute(
        t.waits.update()
        .where(t.waits.c.run_id == run_id, t.waits.c.token == old, t.waits.c.status == "open")
        .values(status="canceled", resolved_at=now),
        closed,
    )
    conn.execute(
        t.human_tasks.update()
        .where(
            t.human_tasks.c.run_id == run_id,
            t.human_tasks.c.token == old,
            t.human_tasks.c.status == "open",
        )
        .values(status="canceled", completed_at=now),
        closed,
    )
    conn.execute(
        t.run_inbox.delete().where(t.run_inbox.c.run_id == run_id, t.run_inbox.c.token == old),
        closed,
    )


def _report_of(run_id: str, row: Any) -> dict[str, Any]:
    return {
        "runId": run_id,
        "status": None if row is None else row.status,
        "subject": None if row is None else row.subject,
        "currentStep": None if row is None else getattr(row, "current_step", None),
    }


def _blocked(run_id: str, row: Any, problems: list[MoveProblem]) -> dict[str, Any]:
    report = _report_of(run_id, row)
    report["result"] = "blocked"
    report["problems"] = [problem.to_dict() for problem in problems]
    return report


def _report(key: str, request: MigrationRequest, runs: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {"ok": 0, "moved": 0, "blocked": 0}
    retryable = 0
    for run in runs:
        counts[run["result"]] += 1
        retryable += any(p["retryable"] for p in run.get("problems", ()))
    return {
        "workflow": key,
        "fromVersion": request.from_version,
        "toVersion": request.to_version,
        "dryRun": request.dry_run,
        "mapping": request.mapping,
        "resetTimers": request.reset_timers,
        "summary": {"selected": len(runs), **counts, "retryLater": retryable},
        "runs": runs,
    }
