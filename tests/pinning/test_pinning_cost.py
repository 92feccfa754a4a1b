"""Pinning costs O(1) per run: 10,000 runs pinned to one version of a workflow whose
definition is large share its single stored copy. Each run's row holds the version's id and its
own small state, never the definition or any part of it."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from flowpin.engine import Engine
from flowpin.store import tables as t

RUNS = 10_000
MARKER = "PINNED-DEFINITION-TEXT"
BROCHURE = MARKER + " " + "lorem ipsum " * 5_000  # ~60 kB of config the runs reach later


@pytest.mark.timeout(300)  # ~40 s on SQLite, ~70 s on PostgreSQL on a busy 2-core machine
def test_ten_thousand_runs_share_one_copy_of_their_version(db_url: str) -> None:
    definition = {
        "key": "campaign",
        "triggers": [{"type": "event", "eventName": "campaign.join"}],
        "steps": [
            {"id": "mark", "type": "state.set", "config": {"state": "JOINED"}},
            {"id": "pause", "type": "time.wait", "config": {"durationMs": 86_400_000}},
            {
                "id": "brochure",
                "type": "transform.assign",
                "config": {"assign": {"vars.brochure": BROCHURE}},
            },
        ],
    }
    with Engine(db_url) as engine:
        engine.publish(definition)
        began = time.monotonic()
        for batch in range(RUNS // 1000):
            events = [
                {"name": "campaign.join", "payload": {"i": batch * 1000 + i}} for i in range(1000)
            ]
            engine.send_events(events)
        engine.run_worker(until_idle=True)
        took = time.monotonic() - began
        with engine.db.read() as conn:
            runs = t.runs
            state_text = sa.cast(runs.c.state, sa.Text)
            row = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count(sa.distinct(runs.c.version_id)),
                    sa.func.max(sa.func.length(state_text)),
                    sa.func.sum(sa.func.length(state_text)),
                ).where(runs.c.workflow_key == "campaign", runs.c.status == "WAITING")
            ).one()
            copies = conn.execute(
                sa.select(sa.func.count()).where(
                    runs.c.workflow_key == "campaign",
                    sa.or_(
                        state_text.contains(MARKER),
                        sa.cast(runs.c.payload, sa.Text).contains(MARKER),
                    ),
                )
            ).scalar_one()
            versions = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.max(sa.func.length(sa.cast(t.workflow_versions.c.definition, sa.Text))),
                )
                .select_from(t.workflow_versions.join(t.workflows))
                .where(t.workflows.c.key == "campaign")
            ).one()
    count, distinct_versions, largest_state, all_states = row
    stored_versions, definition_size = versions
    print(
        f"\npinning cost: {count} runs parked in {took:.1f}s; one version of {definition_size} "
        f"bytes; largest run state {largest_state} bytes, all states {all_states} bytes"
    )
    assert count == RUNS and distinct_versions == 1 and stored_versions == 1
    assert copies == 0  # no run row holds any of the definition's text
    assert definition_size > 50_000
    # Each run's state is its own small document (payload, position, variables), whatever the
    # size of the definition: together less than a single copy of the definition per 25 runs.
    assert largest_state < 1_000
    assert all_states < RUNS * definition_size // 25
