"""A run a worker claimed: what it holds of the run's row between two checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class ClaimedRun:
    """What a worker holds for a run it claimed."""

    id: str
    tenant_id: str
    workflow_id: int
    workflow_key: str
    version_id: int
    version_number: int
    subject: str | None
    created_at: datetime
    parent_run_id: str | None
    parent_token: str | None
    state: dict[str, Any]
    claim_count: int
    status: str = "PENDING"
    """The status the run's row holds (as claimed, then as last checkpointed)."""

    @classmethod
    def from_row(cls, row: Any) -> ClaimedRun:
        """From a ``runs`` row as ``claims.claim_runs`` returns it."""
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            workflow_id=row.workflow_id,
            workflow_key=row.workflow_key,
            version_id=row.version_id,
            version_number=row.version_number,
            subject=row.subject,
            created_at=row.created_at,
            parent_run_id=row.parent_run_id,
            parent_token=row.parent_token,
            state=row.state,
            claim_count=row.claim_count,
            status=row.status,
        )
