"""The designer over live runs, in a real browser: count badges at the wait, publishing v2 shows
the "runs in flight on older versions" banner, a dragged step keeps its place after a reload,
one parked run moves to v2 in the migration view after a dry run, and the diff of v1 and v2."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from browserkit import Served
from playwright.sync_api import Page, expect

from waiting import wait_until

APPROVALS = {
    "key": "approvals",
    "name": "Approvals",
    "steps": [
        {"id": "received", "type": "state.set", "config": {"state": "RECEIVED"}},
        {"id": "wait", "type": "event.wait", "config": {"eventName": "approved"}},
        {"id": "done", "type": "state.set", "config": {"state": "DONE"}},
    ],
}


def _publish_v1_with_two_parked_runs(served: Served) -> list[str]:
    http = served.http
    assert http.post("/api/workflows", json={"key": "approvals", "draft": APPROVALS}).is_success
    assert http.post("/api/workflows/approvals/publish").status_code == 201
    runs = [
        http.post("/api/runs", json={"workflow": "approvals", "subject": f"order-{n}"}).json()
        for n in (1, 2)
    ]
    ids = [run["runId"] for run in runs]
    wait_until(
        lambda: all(http.get(f"/api/runs/{i}").json()["status"] == "WAITING" for i in ids),
        "both runs parked at the wait",
    )
    return ids


def _node_position(page: Page, step_id: str) -> tuple[float, float]:
    style = page.locator(f'.react-flow__node[data-id="{step_id}"]').get_attribute("style") or ""
    found = re.search(r"translate\(([-\d.]+)px, ([-\d.]+)px\)", style)
    assert found, style
    return float(found.group(1)), float(found.group(2))


def test_badges_banner_layout_migration_and_diff(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    run_ids = _publish_v1_with_two_parked_runs(served)
    page = signed_in
    page.goto(served.base_url + "/workflows/approvals")
    expect(page.get_by_test_id("badge-wait")).to_contain_text("2 waiting")
    shot(page, "07-designer-badges")

    # v2: one more step after the wait, published from the designer
    page.get_by_test_id("insert-wait->done").click()
    page.get_by_test_id("palette-state.set").click()
    state = page.get_by_test_id("step-panel").locator('[data-field="state"]')
    state.locator("input, textarea").fill("NOTIFIED")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").filter(has_text="Published version 2")).to_be_visible()
    banner = page.get_by_test_id("banner")
    expect(banner).to_contain_text("2 runs in flight on older versions")
    expect(banner).to_contain_text("changes affect new runs only")
    shot(page, "08-designer-banner-v2")

    # drag a step; after a reload it is where it was dropped
    before = _node_position(page, "done")
    box = page.get_by_test_id("step-done").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 60, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + 180, box["y"] + 70, steps=8)
    page.mouse.up()
    wait_until(
        lambda: "done" in served.http.get("/api/workflows/approvals/layout").json()["layout"],
        "the saved position",
    )
    dropped = _node_position(page, "done")
    assert dropped != before
    page.reload()
    expect(page.get_by_test_id("step-done")).to_be_visible()
    assert _node_position(page, "done") == dropped

    # the step's panel says who is there, and leads to the migration view for them
    page.get_by_test_id("step-wait").click()
    expect(page.get_by_test_id("runs-here")).to_contain_text("2 active runs here on v1")
    shot(page, "09-designer-runs-here")

    # the migration view: move one of the two parked runs after a dry run
    page.get_by_test_id("runs-here").get_by_role("link", name="move them…").click()
    expect(page.get_by_role("heading", name="Move runs in flight")).to_be_visible()
    expect(page.get_by_label("Target of wait")).to_have_value("wait")
    page.get_by_label("These runs:").check()
    page.locator(".run-picks input[type=checkbox]").first.check()
    page.get_by_role("button", name="Check (dry run)").click()
    report = page.get_by_test_id("migration-report")
    expect(report).to_contain_text("1 run can move")
    shot(page, "10-migration-dry-run")
    page.get_by_role("button", name="Move 1 run to v2").click()
    expect(report).to_contain_text("1 run moved to v2")
    shot(page, "11-migration-applied")
    versions = sorted(served.http.get(f"/api/runs/{i}").json()["version"] for i in run_ids)
    assert versions == [1, 2]

    # the diff of v1 and v2
    page.get_by_role("link", name="← Back to the designer").click()
    page.get_by_role("button", name="History").click()
    page.get_by_label("Compare from").select_option("1")
    page.get_by_label("Compare to").select_option("2")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_test_id("diff-result")
    expect(diff).to_contain_text("added")
    expect(page.get_by_test_id("step-state-set")).to_have_class(re.compile(r"mark-added"))
    shot(page, "12-designer-diff")

    # the draft against the recorded runs: both would take the same path so far
    page.get_by_role("button", name="Back to the draft").click()
    page.get_by_role("button", name="▶ Try the draft").click()
    page.get_by_role("button", name="Replay against the draft").click()
    shadow = page.get_by_test_id("shadow")
    expect(shadow.locator(".change")).to_have_count(2)
    expect(shadow).to_contain_text("same so far (still running)")
    shot(page, "13-designer-shadow")


CHARGE = {
    "key": "charge-then-wait",
    "steps": [
        {
            "id": "charge",
            "type": "action.call",
            "config": {
                "actionId": "payments.charge",
                "version": 1,
                "inputMapping": {
                    "orderId": {"$expr": "payload.orderId"},
                    "amountCents": {"$expr": "payload.cents"},
                    "currency": "EUR",
                },
                "saveAs": "vars.charge",
            },
        },
        {"id": "shipped", "type": "event.wait", "config": {"eventName": "shipped"}},
    ],
}


def test_try_the_draft_with_a_recorded_runs_payload_and_outputs(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    http = served.http
    assert http.post("/api/workflows", json={"key": CHARGE["key"], "draft": CHARGE}).is_success
    assert http.post(f"/api/workflows/{CHARGE['key']}/publish").status_code == 201
    payload = {"orderId": "o-7", "cents": 1200}
    run = http.post("/api/runs", json={"workflow": CHARGE["key"], "payload": payload}).json()
    wait_until(
        lambda: http.get(f"/api/runs/{run['runId']}").json()["status"] == "WAITING", "parked"
    )
    page = signed_in
    page.goto(f"{served.base_url}/workflows/{CHARGE['key']}")
    page.get_by_role("button", name="▶ Try the draft").click()
    page.get_by_label("Recorded run").select_option(run["runId"])
    expect(page.get_by_label("Payload (JSON)")).to_have_value(re.compile('"orderId": "o-7"'))
    expect(page.get_by_label("payments.charge v1")).to_have_value(re.compile("ch_o-7_1"))
    page.get_by_test_id("try-run").click()
    expect(page.get_by_test_id("try-status")).to_have_text("waiting for an answer")
    page.get_by_test_id("try-result").get_by_text("charge", exact=True).click()
    expect(page.get_by_test_id("try-result")).to_contain_text("ch_o-7_1")
    shot(page, "19-designer-try-recorded-run")
    runs = http.get("/api/runs", params={"workflow": CHARGE["key"]}).json()["items"]
    assert len(runs) == 1  # the trial charged nobody and stored nothing
