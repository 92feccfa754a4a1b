"""Building a workflow in the designer, in a real browser: create it, add an action, an ``if``
with a rule and an ``event.wait`` from the palette, see a bad expression flagged as it is typed,
try the draft on a sample payload (the branch taken shows on the canvas), save and publish; a run
of the version resumes only on an event its wait's filter (a rule set in the form) accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from browserkit import Served
from playwright.sync_api import Page, expect

from servekit import run_status

ITEMS = [{"sku": "A-1", "quantity": 2}]


def _field(page: Page, name: str):  # the panel's field by its data-field name
    return page.get_by_test_id("step-panel").locator(f'[data-field="{name}"]')


def test_build_try_and_publish_a_workflow(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    page = signed_in
    page.get_by_role("button", name="New workflow").click()
    page.get_by_label("Name").fill("Stock check")
    page.get_by_label("Key").fill("stock-check")
    page.get_by_role("button", name="Create and open").click()
    expect(page.get_by_test_id("start")).to_be_visible()
    shot(page, "03-designer-empty")

    # an action, from the + between start and end
    page.get_by_test_id("insert-__start->__end").click()
    expect(page.get_by_role("status").filter(has_text="Inserting")).to_be_visible()
    page.get_by_test_id("palette-inventory.check_stock@1").click()
    expect(page.get_by_test_id("step-inventory-check-stock")).to_be_visible()
    items = _field(page, "items")
    items.get_by_role("button", name="Expression for Items").click()
    items.get_by_test_id("expr-inventory-check-stock-in-items").fill("payload.items")
    _field(page, "saveAs").locator("textarea, input").fill("vars.stock")

    # an if after it (the action is selected), with a rule
    page.get_by_test_id("palette-control.if").click()
    expect(page.get_by_test_id("step-if")).to_be_visible()
    rule = page.get_by_test_id("rule-0")
    rule.get_by_label("Field").fill("vars.stock.available")
    rule.get_by_label("Operator").select_option("equals")
    rule.get_by_label("Value").fill("true")
    expect(page.get_by_test_id("step-if")).to_contain_text("vars.stock.available = true")

    # an event.wait in its Yes branch
    page.get_by_test_id("add-if-then").click()
    page.get_by_test_id("palette-event.wait").click()
    expect(page.get_by_test_id("step-event-wait")).to_be_visible()
    _field(page, "eventName").locator("input, textarea").fill("stock.confirmed")

    # a bad expression is flagged inline, before publishing
    key = _field(page, "correlationKey")
    key.get_by_role("button", name="Expression for Correlation key").click()
    key.get_by_test_id("expr-event-wait-cfg-correlationKey").fill("payload.(")
    expect(key.get_by_test_id("expression-error")).to_contain_text("This expression has a problem")
    shot(page, "04-designer-invalid-expression")
    key.get_by_test_id("expr-event-wait-cfg-correlationKey").fill("run.subject")
    expect(key.get_by_test_id("expression-error")).to_have_count(0)

    # only an event whose payload's kind is "open": a rule, offered the event's and the run's fields
    wait_filter = _field(page, "filter")
    offered = wait_filter.locator("datalist option")
    expect(offered.first).to_have_attribute("value", "event.payload")
    expect(wait_filter.locator('datalist option[value="vars.stock"]')).to_have_count(1)
    only = wait_filter.get_by_test_id("rule-0")
    only.get_by_label("Field").fill("event.payload.kind")
    only.get_by_label("Operator").select_option("equals")
    only.get_by_label("Value").fill("open")
    expect(page.get_by_test_id("step-event-wait")).to_contain_text('when kind = "open"')
    shot(page, "04b-designer-wait-filter")

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    draft = served.http.get("/api/workflows/stock-check/draft").json()["draft"]
    rule = {"field": "event.payload.kind", "op": "equals", "value": "open"}
    assert draft["steps"][1]["then"][0]["config"]["filter"] == rule

    # try the draft on a sample payload: the Yes branch is taken, the run waits at the event
    page.get_by_role("button", name="▶ Try the draft").click()
    payload = page.get_by_label("Payload (JSON)")
    payload.fill(json.dumps({"items": ITEMS}))
    payload.blur()
    page.get_by_test_id("try-run").click()
    expect(page.get_by_test_id("try-status")).to_have_text("waiting for an answer")
    expect(page.get_by_test_id("step-if")).to_have_class(_has("mark-taken"))
    expect(page.get_by_test_id("step-event-wait")).to_have_class(_has("mark-current"))
    shot(page, "05-designer-try-the-draft")
    # an answer the wait's filter refuses leaves the sandbox at the wait, saying so
    answer = page.get_by_label("Event payload (JSON)")
    answer.fill('{"kind": "closed"}')
    answer.blur()
    page.get_by_test_id("try-answer").click()
    expect(page.get_by_test_id("try-answer-refused")).to_be_visible()
    expect(page.get_by_test_id("try-status")).to_have_text("waiting for an answer")
    shot(page, "05b-designer-try-answer-refused")
    answer = page.get_by_label("Event payload (JSON)")
    answer.fill('{"kind": "open"}')
    answer.blur()
    page.get_by_test_id("try-answer").click()
    expect(page.get_by_test_id("try-status")).to_have_text("succeeded")
    assert served.http.get("/api/runs", params={"workflow": "stock-check"}).json()["items"] == []

    page.get_by_role("button", name="Close the sandbox").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").filter(has_text="Published version 1")).to_be_visible()
    expect(page.get_by_text("live: v1")).to_be_visible()
    shot(page, "06-designer-published")
    published = served.http.get("/api/workflows/stock-check/versions/1").json()["definition"]
    assert [s["type"] for s in published["steps"]] == ["action.call", "control.if"]
    assert published["steps"][1]["then"][0]["config"]["eventName"] == "stock.confirmed"

    # a run of v1 waits for "stock.confirmed": an event whose kind is not "open" passes it by
    http = served.http
    started = http.post(
        "/api/runs",
        json={"workflow": "stock-check", "subject": "order-7", "payload": {"items": ITEMS}},
    )
    run_id = started.json()["runId"]
    assert run_status(http, run_id, {"WAITING", "FAILED", "SUCCEEDED"}) == "WAITING"
    closed = {"name": "stock.confirmed", "key": "order-7", "payload": {"kind": "closed"}}
    assert http.post("/api/events", json=closed).json()["resumed"] == []
    assert http.get(f"/api/runs/{run_id}").json()["status"] == "WAITING"
    opened = {"name": "stock.confirmed", "key": "order-7", "payload": {"kind": "open"}}
    assert http.post("/api/events", json=opened).json()["resumed"] == [run_id]
    assert run_status(http, run_id, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"


def _has(cls: str):
    import re

    return re.compile(rf"(^|\s){re.escape(cls)}(\s|$)")


WAITS = {
    "key": "wait-filters",
    "name": "Wait filters",
    "steps": [
        {
            "id": "by-expr",
            "type": "event.wait",
            "config": {"eventName": "a", "filter": {"$expr": "event.payload.n > vars.limit"}},
        },
        {"id": "by-text", "type": "event.wait", "config": {"eventName": "b", "filter": "true"}},
        {
            "id": "by-rule",
            "type": "event.wait",
            "config": {
                "eventName": "c",
                "filter": {"field": "event.key", "op": "equals", "value": "x"},
            },
        },
    ],
}


def test_a_wait_filter_opens_as_written(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    """An expression filter opens in expression mode, a JSONata source written as text stays a
    plain field, a rule without a field beside one with is a problem, and a rule emptied of its
    field leaves the wait without a filter."""
    http = served.http
    assert http.post("/api/workflows", json={"key": WAITS["key"], "draft": WAITS}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/wait-filters")
    expect(page.get_by_test_id("step-by-expr")).to_contain_text(
        "when ƒ event.payload.n > vars.limit"
    )

    page.get_by_test_id("step-by-expr").click()
    mode = _field(page, "filter").get_by_role("radiogroup", name="How the condition is written")
    expect(mode.get_by_role("radio", name="Expression")).to_have_attribute("aria-checked", "true")
    expect(page.get_by_test_id("expr-by-expr-filter-expr")).to_contain_text("vars.limit")

    page.get_by_test_id("step-by-text").click()
    expect(_field(page, "filter").get_by_test_id("rules-by-text-filter")).to_have_count(0)
    expect(_field(page, "filter").locator("input, textarea")).to_have_value("true")

    page.get_by_test_id("step-by-rule").click()
    rule = _field(page, "filter").get_by_test_id("rule-0")
    expect(rule.get_by_label("Field")).to_have_value("event.key")
    _field(page, "filter").scroll_into_view_if_needed()
    shot(page, "04c-designer-wait-filter-rule")
    rule.get_by_label("Field").fill("")
    expect(page.get_by_test_id("step-by-rule")).not_to_contain_text("when")
    expect(rule.get_by_label("Field")).to_be_visible()  # the blank rule stays to write in
    # a second rule with a field: the blank first one is a problem of the draft, shown at the step
    rules = _field(page, "filter").get_by_test_id("rules-by-rule-filter")
    rules.get_by_role("button", name="+ Add rule").click()
    rules.get_by_test_id("rule-1").get_by_label("Field").fill("event.name")
    expect(page.get_by_test_id("step-panel").get_by_role("alert")).to_contain_text("path is empty")
    rules.get_by_role("button", name="Remove rule 1").click()
    expect(rules.get_by_test_id("rule-0").get_by_label("Field")).to_have_value("event.name")
    expect(page.get_by_test_id("step-by-rule")).to_contain_text('when event.name = ""')
    rules.get_by_test_id("rule-0").get_by_label("Field").fill("")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    steps = http.get("/api/workflows/wait-filters/draft").json()["draft"]["steps"]
    assert steps[0]["config"]["filter"] == {"$expr": "event.payload.n > vars.limit"}
    assert steps[1]["config"]["filter"] == "true"
    assert "filter" not in steps[2]["config"]
