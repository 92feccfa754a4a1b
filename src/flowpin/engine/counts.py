"""Per-version and per-step run counts of a workflow (SPEC §5; the designer's badges and its
banner "N runs in flight on older versions — changes affect new runs only").

Served from the runs' own rows: ``status`` and ``positions`` are written in the same statement
as every transition's state (see ``runtime.positions``), so the counts are exactly as current
as the runs, and reading them groups the workflow's counted runs by (version, status,
positions) in SQL — a handful of groups — without reading any state or history.

Version level, by run status: ``running`` (PENDING or RUNNING), ``waiting`` (WAITING),
``failed`` (FAILED, until retried), ``active`` (running + waiting). Step level, by position:
``running``, ``waiting`` and ``failed`` runs at that step. ``waitingByKind`` (``event``,
``timer``, ``task``, ``child``, ``retry``) counts runs parked on that kind; a run parked in two
places (parallel branches) counts at both steps, once per version.
"""

from __future__ import annotations

from typing import Any

from flowpin.runtime.positions import WAIT_KINDS, decode
from flowpin.store import workflows
from flowpin.store.database import Connection
from flowpin.store.workflows import workflow_row
from flowpin.types import ACTIVE_STATUSES, RunStatus

COUNTED = (*ACTIVE_STATUSES, RunStatus.FAILED)


def _zero_step() -> dict[str, Any]:
    return {"running": 0, "waiting": 0, "waitingByKind": dict.fromkeys(WAIT_KINDS, 0), "failed": 0}


def _zero_version() -> dict[str, Any]:
    return {"active": 0, **_zero_step(), "steps": {}}


def position_groups(
    conn: Connection,
    tenant_id: str,
    workflow_id: int,
    *,
    statuses: tuple[str, ...] = COUNTED,
    version: int | None = None,
) -> list[Any]:
    """``(version_number, status, positions, runs)`` rows for the workflow's runs (of one
    version when ``version`` is given)."""
    return workflows.position_groups(conn, tenant_id, workflow_id, statuses, version)


def active_leaves(
    conn: Connection, tenant_id: str, workflow_id: int, version: int
) -> dict[frozenset[str], int]:
    """The active runs of one version by the set of steps they stand on (for the diff)."""
    groups: dict[frozenset[str], int] = {}
    for _number, _status, encoded, runs in position_groups(
        conn, tenant_id, workflow_id, statuses=ACTIVE_STATUSES, version=version
    ):
        leaves = frozenset(step_id for step_id, _kind in decode(encoded))
        groups[leaves] = groups.get(leaves, 0) + runs
    return groups


def step_counts(conn: Connection, tenant_id: str, key: str) -> dict[str, Any]:
    row = workflow_row(conn, tenant_id, key)
    latest = workflows.latest_number(conn, row.id)
    by_version: dict[str, dict[str, Any]] = {}
    for number, status, encoded, runs in position_groups(conn, tenant_id, row.id):
        version = by_version.setdefault(str(number), _zero_version())
        if status == "FAILED":
            version["failed"] += runs
        else:
            version["active"] += runs
            version["waiting" if status == "WAITING" else "running"] += runs
        places = decode(encoded)
        for kind in {kind for _, kind in places if kind in WAIT_KINDS}:
            version["waitingByKind"][kind] += runs
        for step_id, kind in places:
            step = version["steps"].setdefault(step_id, _zero_step())
            if kind in WAIT_KINDS:
                step["waitingByKind"][kind] += runs
            else:
                step[kind] += runs  # running or failed
        for step_id in {step_id for step_id, kind in places if kind in WAIT_KINDS}:
            version["steps"][step_id]["waiting"] += runs
    total = _zero_step()
    total["active"] = 0
    for version in by_version.values():
        for name in ("active", "running", "waiting", "failed"):
            total[name] += version[name]
        for kind in WAIT_KINDS:
            total["waitingByKind"][kind] += version["waitingByKind"][kind]
    older = sum(
        version["active"]
        for number, version in by_version.items()
        if latest is not None and int(number) < latest
    )
    return {
        "workflow": key,
        "latestVersion": latest,
        "total": total,
        "activeOnOlderVersions": older,
        "byVersion": dict(sorted(by_version.items(), key=lambda item: int(item[0]))),
    }
