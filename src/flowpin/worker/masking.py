"""Redaction of a process: the key patterns, the engine-wide pointers, and per version the
pointers, delivering steps and placements that find the values to mask (cached: versions are
immutable)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.definitions.pointers import Pointer
from flowpin.runtime.decisions import HistoryEntry
from flowpin.security.redaction import (
    Delivery,
    Masks,
    Placement,
    Redactor,
    compile_pointers,
    deliveries,
    placed,
    placements,
    scoped_vars,
)
from flowpin.store.database import Connection, Database
from flowpin.store.events import payloads_for_wait
from flowpin.store.ledger import succeeded_step_outputs
from flowpin.store.runs import run_states
from flowpin.store.tasks import completed_task_data
from flowpin.store.waits import resolved_event_waits
from flowpin.worker.definitions import DefinitionCache

DELIVERY_SLACK = timedelta(minutes=5)
"""How far before a run's last logical time a checkpoint looks for the task data, events and
action outputs it consumed (clocks of the API and worker processes may differ a little)."""
DELIVERED_ROWS = 200
"""At most this many of a run's latest resolved event waits, and action results, are looked
up for masks."""


class Redaction:
    def __init__(
        self,
        db: Database,
        definitions: DefinitionCache,
        redact_keys: str | None,
        redact_pointers: list[str] | None,
    ) -> None:
        self.db = db
        self.definitions = definitions
        self.redactor = Redactor(redact_keys)
        """Masks sensitive keys in stored step history (the run's state keeps real values)."""
        self.redact_pointers = compile_pointers(redact_pointers)
        """Engine-wide redaction pointers, added to each workflow's ``settings.redact``."""
        self._pointers: dict[int, tuple[Pointer, ...]] = {}
        self._deliveries: dict[int, tuple[Delivery, ...]] = {}
        self._placements: dict[int, dict[str, Placement]] = {}

    def pointers(self, version_id: int, definition: Definition) -> tuple[Pointer, ...]:
        """The redaction pointers of a version's runs: the engine's plus the definition's."""
        cached = self._pointers.get(version_id)
        if cached is None:
            own = definition.settings.redact if definition.settings is not None else []
            cached = self.redact_pointers + compile_pointers(own)
            self._pointers[version_id] = cached
        return cached

    def deliveries(self, version_id: int, definition: Definition) -> tuple[Delivery, ...]:
        """The steps of a version that save task data or event payloads under a pointer."""
        cached = self._deliveries.get(version_id)
        if cached is None:
            cached = deliveries(definition, self.pointers(version_id, definition))
            self._deliveries[version_id] = cached
        return cached

    def placements(self, version_id: int, definition: Definition) -> dict[str, Placement]:
        """The steps of a version whose history entries carry values written where a pointer
        looks, and where they wrote them."""
        cached = self._placements.get(version_id)
        if cached is None:
            cached = placements(definition, self.pointers(version_id, definition))
            self._placements[version_id] = cached
        return cached

    def masks_for_view(self, tenant_id: str, view: dict[str, Any]) -> Masks | None:
        """The pointer masks of a run as ``get_run`` shows it (None when none apply)."""
        return self.masks_for_runs(tenant_id, [view["runId"]]).get(view["runId"])

    def masks_for_row(self, conn: Connection, tenant_id: str, row: Any) -> Masks | None:
        """``masks_for_view`` of a run row already read, in the same transaction."""
        definition = self.definitions.definition_in(conn, row.version_id)
        pointers = self.pointers(row.version_id, definition)
        if not pointers:
            return None
        state = row.state if isinstance(row.state, dict) else {}
        steps = self.deliveries(row.version_id, definition)
        earlier = delivered(conn, tenant_id, row.id, steps, None) if steps else []
        masks = Masks(pointers, state.get("envelope"), scoped_vars(state.get("root")), earlier)
        return masks if masks else None

    def masks_for_new(
        self, version_id: int, definition: Definition, state: dict[str, Any]
    ) -> Masks | None:
        """``masks_for_view`` of a run just created with ``state`` (no step has saved anything
        yet), from the version's cached pointers: no database read."""
        pointers = self.pointers(version_id, definition)
        if not pointers:
            return None
        masks = Masks(pointers, state.get("envelope"), scoped_vars(state.get("root")), [])
        return masks if masks else None

    def masks_for_runs(self, tenant_id: str, run_ids: Iterable[str]) -> dict[str, Masks]:
        """The pointer masks of each of ``run_ids`` (of this tenant) that has some: values at
        the pointers in its envelope, its running scopes, and the task data and event payloads
        its steps saved there."""
        wanted = sorted({run_id for run_id in run_ids if run_id})
        if not wanted:
            return {}
        result: dict[str, Masks] = {}
        with self.db.read() as conn:
            for row in run_states(conn, tenant_id, wanted):
                definition = self.definitions.definition_in(conn, row.version_id)
                pointers = self.pointers(row.version_id, definition)
                if not pointers:
                    continue
                state = row.state if isinstance(row.state, dict) else {}
                steps = self.deliveries(row.version_id, definition)
                earlier = delivered(conn, tenant_id, row.id, steps, None) if steps else []
                masks = Masks(
                    pointers, state.get("envelope"), scoped_vars(state.get("root")), earlier
                )
                if masks:
                    result[row.id] = masks
        return result

    def history_redactor(
        self,
        conn: Connection,
        run: Any,
        state: dict[str, Any],
        history: Sequence[HistoryEntry],
    ) -> Callable[[Any], Any]:
        """Masks for the values at the workflow's pointers: in ``state`` and in the envelope
        the run was claimed with, those ``history`` says its steps saved there (maybe
        overwritten since), and those read back from the run's completed tasks, received
        events and action results (saved by any claim, in any process)."""
        definition = self.definitions.definition_in(conn, run.version_id)
        pointers = self.pointers(run.version_id, definition)
        if not pointers:
            return self.redactor
        claimed = run.state if isinstance(run.state, dict) else {}
        earlier = [claimed["envelope"]] if claimed.get("envelope") is not None else []
        steps = self.deliveries(run.version_id, definition)
        if steps:  # what steps saved now, maybe overwritten before this write
            last = claimed.get("t")
            since = (
                datetime.fromtimestamp(last / 1000, UTC) - DELIVERY_SLACK
                if isinstance(last, int | float)
                else None
            )
            earlier.extend(delivered(conn, run.tenant_id, run.id, steps, since))
        placing = self.placements(run.version_id, definition)
        if placing:  # what this write's steps saved, maybe overwritten before it
            earlier.extend(placed(history, placing))
        masks = Masks(
            pointers,
            state.get("envelope"),
            scoped_vars(state.get("root")),
            earlier=earlier,
        )
        if not masks:
            return self.redactor
        redactor = self.redactor
        return lambda value: redactor(masks(value))


def delivered(
    conn: Connection,
    tenant_id: str,
    run_id: str,
    steps: tuple[Delivery, ...],
    since: datetime | None,
) -> list[dict[str, Any]]:
    """Envelope-shaped documents with the data of the run's completed tasks, the payloads of
    the events its waits received and the outputs of its action calls (from the ledger), each
    at its step's ``saveAs`` (``since``: only those completed or resolved from then on). An
    event is found by its wait's name, key and time; another event of the same name and key
    received meanwhile is included too (masking more than needed, never less)."""
    documents: list[dict[str, Any]] = []
    calls = {step.step_id: step for step in steps if step.step_type == "action.call"}
    if calls:
        for row in succeeded_step_outputs(conn, run_id, list(calls), since, DELIVERED_ROWS):
            documents.append(calls[row.step_id].placed(row.output))
    tasks = {step.step_id: step for step in steps if step.step_type == "human.task"}
    if tasks:
        for row in completed_task_data(conn, run_id, list(tasks), since):
            documents.append(tasks[row.step_id].placed(row.data))
    events = {step.step_id: step for step in steps if step.step_type == "event.wait"}
    if events:
        for wait in resolved_event_waits(conn, run_id, list(events), since, DELIVERED_ROWS):
            payloads = payloads_for_wait(conn, tenant_id, wait)
            documents.extend(events[wait.step_id].placed(payload) for payload in payloads)
    return documents
