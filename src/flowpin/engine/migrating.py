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

from flowpin.definitions.models import Definition
from flowpin.errors import FlowpinError
from flowpin.runtime.migrate import Migrator, MovePlan, MoveProblem
from flowpin.runtime.positions import encode as encode_positions
from flowpin.store import moves
from flowpin.store.database import Connection
from flowpin.store.history import record_migrations
from flowpin.store.workflows import version_row, workflow_row
from flowpin.types import ACTIVE_STATUSES

BATCH = 500
"""Runs checked and moved per transaction."""

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
    if isinstance(selection, list):
        found = moves.runs_named(conn, tenant_id, workflow_id, selection)
        ids, reports = [], []
        for run_id in dict.fromkeys(selection):
            row = found.get(run_id)
            if row is None:
                problem = MoveProblem("run.not_found", "no such run of this workflow")
            elif row.status not in ACTIVE_STATUSES:
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
    narrowed: dict[str, str | None] = {}
    if isinstance(selection, RunFilter):
        narrowed = {
            "status": selection.status,
            "step": selection.step,
            "subject": selection.subject,
        }
    elif selection != "all-active":
        raise MigrationRequestError(
            'runs must be a list of run ids, "all-active" or a filter',
            code="migration.bad_selection",
        )
    return moves.active_run_ids(conn, tenant_id, workflow_id, version, **narrowed), []


def _batch(
    conn: Connection,
    ids: list[str],
    migrator: Migrator,
    source: Any,
    target: Any,
    request: MigrationRequest,
    now: datetime,
) -> list[dict[str, Any]]:
    rows = moves.runs_to_move(conn, ids, lock=not request.dry_run)
    in_flight = moves.calls_in_flight(conn, ids)
    reports: list[dict[str, Any]] = []
    planned: list[tuple[Any, MovePlan]] = []
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
        planned.append((row, plan))
        report = _report_of(run_id, row)
        report["result"] = "ok" if request.dry_run else "moved"
        report["positions"] = [position.to_dict() for position in plan.positions]
        if plan.warnings:
            report["warnings"] = [warning.to_dict() for warning in plan.warnings]
        reports.append(report)
    if planned and not request.dry_run:
        _write(conn, planned, source, target, request, now)
    return reports


def _run_problems(row: Any, version: int, in_flight: bool, now: datetime) -> list[MoveProblem]:
    if row.status not in ACTIVE_STATUSES:
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
    planned: list[tuple[Any, MovePlan]],
    source: Any,
    target: Any,
    request: MigrationRequest,
    now: datetime,
) -> None:
    moves.move_runs(
        conn,
        [
            moves.RunMove(
                run_id=row.id,
                seen_claims=row.claim_count,
                state=plan.state,
                current_step=plan.current_steps[0] if plan.current_steps else None,
                positions=encode_positions(plan.state),
                wakes=plan.wakes,
            )
            for row, plan in planned
        ],
        target.id,
        target.number,
        now,
    )
    renamed = [
        {"run": row.id, "old": p.token, "new": p.new_token, "step": p.new_step_id}
        for row, plan in planned
        for p in plan.positions
        if not p.restart and p.token != p.new_token
    ]
    closed = [
        {"run": row.id, "old": p.token}
        for row, plan in planned
        for p in plan.positions
        if p.restart
    ]
    if renamed:
        moves.rename_positions(conn, renamed)
    if closed:
        moves.close_positions(conn, closed, now)
    record_migrations(
        conn,
        [
            (
                row.id,
                {
                    "fromVersion": source.number,
                    "toVersion": target.number,
                    "mapping": request.mapping,
                    "resetTimers": request.reset_timers,
                    "positions": [position.to_dict() for position in plan.positions],
                },
            )
            for row, plan in planned
        ],
        target.number,
        now,
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
