"""The workflow's settings in the designer, in a real browser: triggers and the payload schema
are forms (an event trigger with subject, re-entry and a payload mapped field by field, a
schedule from a preset in a time zone, a payload schema as a list of fields), their edits are
draft edits like any other (undo, problems that lead to the field, save), and a schema the list
cannot show is offered as JSON with what it holds said, never trimmed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from browserkit import Served
from playwright.sync_api import Page, expect

JOURNEY = {
    "key": "journey",
    "name": "Welcome journey",
    "steps": [{"id": "welcome", "type": "state.set", "config": {"state": "WELCOMED"}}],
}


def test_triggers_and_payload_schema_are_forms(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    http = served.http
    assert http.post("/api/workflows", json={"key": "journey", "draft": JOURNEY}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/journey")
    panel = page.get_by_test_id("settings-panel")
    expect(panel.get_by_test_id("triggers")).to_be_visible()
    expect(panel.locator("#wf-triggers")).to_have_count(0)  # no raw JSON by default

    # the payload schema: two fields
    schema = panel.get_by_test_id("payload-schema")
    schema.get_by_role("button", name="+ Add field").click()
    schema.get_by_label("Name of field 1").fill("contactId")
    schema.get_by_label("Field 1 is required").check()
    schema.get_by_label("Description of field 1").fill("The CRM's id")
    schema.get_by_role("button", name="+ Add field").click()
    schema.get_by_label("Name of field 2").fill("plan")
    expect(page.get_by_test_id("draft-state")).to_have_text("unsaved changes")
    shot(page, "20-designer-payload-schema-fields")

    # an event trigger, its payload mapped field by field from the payload schema
    panel.get_by_role("button", name="+ On an event").click()
    event = panel.get_by_test_id("trigger-0")
    event.get_by_label("Event name").fill("contact.created")
    event.get_by_test_id("expr-wf-trigger-0-subject").fill("event.payload.id")
    event.get_by_label("Start a run again for the same subject").select_option("notWhileActive")
    event.get_by_role("button", name="Field by field").click()
    expect(event.get_by_label("Run payload: name of field 1")).to_have_value("contactId")
    expect(event.get_by_label("Run payload: name of field 2")).to_have_value("plan")
    expect(page.get_by_test_id("start")).to_contain_text("on “contact.created”")
    event.scroll_into_view_if_needed()
    shot(page, "21-designer-event-trigger-form")

    # a schedule from a preset, in a time zone
    panel.get_by_role("button", name="+ On a schedule").click()
    schedule = panel.get_by_test_id("trigger-1")
    schedule.get_by_label("Schedule of trigger 2").select_option(label="Every day at 9:00")
    expect(schedule.get_by_label("Cron of trigger 2")).to_have_value("0 9 * * *")
    schedule.get_by_label("Time zone").fill("Europe/Berlin")

    # a bad cron is a problem of the draft, and the problem leads to the field
    schedule.get_by_label("Cron of trigger 2").fill("61 * * * *")
    problems_button = page.get_by_test_id("problems-button")
    expect(problems_button).to_have_text("1 problem")
    problems_button.click()
    page.get_by_test_id("problems").get_by_role("button").filter(has_text="cron").first.click()
    expect(schedule.get_by_label("Cron of trigger 2")).to_be_focused()
    shot(page, "22-designer-schedule-problem")

    # undo takes the bad cron back, like any edit
    page.get_by_role("button", name="Undo").click()
    expect(schedule.get_by_label("Cron of trigger 2")).to_have_value("0 9 * * *")
    expect(problems_button).to_have_text("No problems")

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    draft = http.get("/api/workflows/journey/draft").json()["draft"]
    assert draft["payloadSchema"] == {
        "type": "object",
        "properties": {
            "contactId": {"type": "string", "description": "The CRM's id"},
            "plan": {"type": "string"},
        },
        "required": ["contactId"],
    }
    assert draft["triggers"] == [
        {
            "type": "event",
            "eventName": "contact.created",
            "subject": {"$expr": "event.payload.id"},
            "reentry": "notWhileActive",
            "payloadMapping": {
                "contactId": {"$expr": "event.payload.contactId"},
                "plan": {"$expr": "event.payload.plan"},
            },
        },
        {"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
    ]

    # the raw JSON is one click away, and says the same
    panel.get_by_role("group", name="Edit triggers as").get_by_role("button", name="JSON").click()
    expect(panel.locator("#wf-triggers")).to_contain_text('"eventName": "contact.created"')


def test_an_event_triggers_filter_is_rules_and_only_a_matching_event_starts_a_run(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    """ "Only when" is the rule builder over the event's fields (event.payload.plan contains
    pro), said on the start of the canvas, saved as a rule, published; of two events only the
    one whose plan contains "pro" starts a run. No rule naming a field is no filter."""
    http = served.http
    draft = {**JOURNEY, "key": "pro-journey"}
    assert http.post("/api/workflows", json={"key": "pro-journey", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/pro-journey")
    panel = page.get_by_test_id("settings-panel")
    panel.get_by_role("button", name="+ On an event").click()
    event = panel.get_by_test_id("trigger-0")
    event.get_by_label("Event name").fill("contact.created")
    rules = event.get_by_test_id("rules-wf-trigger-0-filter")
    mode = rules.get_by_role("radiogroup", name="How the condition is written")

    # with no filter yet, the expression mode can be chosen (and left) without writing one
    mode.get_by_role("radio", name="Expression").click()
    expect(rules.get_by_test_id("expr-wf-trigger-0-filter-expr")).to_be_visible()
    mode.get_by_role("radio", name="All rules match").click()
    expect(page.get_by_test_id("start")).to_have_text("Start" + "on “contact.created”")

    rule = rules.get_by_test_id("rule-0")
    for path in ("event.name", "event.key", "event.payload"):
        expect(page.locator(f'#wf-trigger-0-filter-paths option[value="{path}"]')).to_have_count(1)
    rule.get_by_label("Field").fill("event.payload.plan")
    rule.get_by_label("Operator").select_option("contains")
    rule.get_by_label("Value").fill("pro")
    expect(page.get_by_test_id("start")).to_contain_text(
        'on “contact.created” when plan contains "pro"'
    )
    event.scroll_into_view_if_needed()
    shot(page, "29-designer-event-trigger-filter-rules")
    overflowing = event.evaluate(
        "card => [card, ...card.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth"
        " && getComputedStyle(e).overflowX !== 'visible').length"
    )
    assert overflowing == 0
    box = event.bounding_box()
    shown = panel.bounding_box()
    assert box and shown and box["x"] + box["width"] <= shown["x"] + shown["width"]

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    saved = http.get("/api/workflows/pro-journey/draft").json()["draft"]
    assert saved["triggers"] == [
        {
            "type": "event",
            "eventName": "contact.created",
            "filter": {"field": "event.payload.plan", "op": "contains", "value": "pro"},
        }
    ]
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").filter(has_text="Published version 1")).to_be_visible()

    for key, plan in (("free-1", "free"), ("pro-1", "pro-yearly")):
        sent = http.post(
            "/api/events", json={"name": "contact.created", "key": key, "payload": {"plan": plan}}
        )
        assert sent.is_success, sent.text
    runs = http.get("/api/runs", params={"workflow": "pro-journey"}).json()["items"]
    assert [run["subject"] for run in runs] == ["pro-1"]

    # the rule's field emptied: no filter, every contact.created again
    rule.get_by_label("Field").fill("")
    expect(page.get_by_test_id("start")).to_have_text("Start" + "on “contact.created”")
    expect(rule.get_by_label("Field")).to_be_visible()  # the builder stays, with its blank rule
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    saved = http.get("/api/workflows/pro-journey/draft").json()["draft"]
    assert saved["triggers"] == [{"type": "event", "eventName": "contact.created"}]


def test_an_expression_filter_opens_as_one_and_rules_without_a_field_are_a_problem(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    expression = "event.payload.to = 'support@acme.test'"
    trigger = {"type": "event", "eventName": "email.received", "filter": {"$expr": expression}}
    draft = {**JOURNEY, "key": "helpdesk", "triggers": [trigger]}
    assert served.http.post("/api/workflows", json={"key": "helpdesk", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/helpdesk")
    rules = page.get_by_test_id("rules-wf-trigger-0-filter")
    mode = rules.get_by_role("radiogroup", name="How the condition is written")
    expect(mode.get_by_role("radio", name="Expression")).to_be_checked()
    expect(rules.get_by_test_id("expr-wf-trigger-0-filter-expr")).to_have_text(expression)
    expect(page.get_by_test_id("start")).to_contain_text(f"when ƒ {expression}")

    # rules instead, joined by "any"
    mode.get_by_role("radio", name="Any rule matches").click()
    rule = rules.get_by_test_id("rule-0")
    rule.get_by_label("Field").fill("event.payload.to")
    rule.get_by_label("Operator").select_option("equals")
    rule.get_by_label("Value").fill("support@acme.test")
    rules.get_by_role("button", name="+ Add rule").click()
    rules.get_by_test_id("rule-1").get_by_label("Field").fill("event.payload.cc")
    expect(page.get_by_test_id("start")).to_contain_text('when to = "support@acme.test" or cc = ""')
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    saved = served.http.get("/api/workflows/helpdesk/draft").json()["draft"]
    assert saved["triggers"][0]["filter"] == {
        "any": [
            {"field": "event.payload.to", "op": "equals", "value": "support@acme.test"},
            {"field": "event.payload.cc", "op": "equals", "value": ""},
        ]
    }


def test_a_schema_the_field_list_cannot_show_is_json_with_what_it_holds_said(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}},
        "required": ["email"],
    }
    draft = {**JOURNEY, "key": "formats", "payloadSchema": schema}
    assert served.http.post("/api/workflows", json={"key": "formats", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/formats")
    box = page.get_by_test_id("payload-schema")
    expect(box.get_by_test_id("schema-unsupported")).to_contain_text("email: format")
    expect(box.get_by_role("button", name="Fields")).to_be_disabled()
    expect(box.locator("#wf-payload-schema")).to_contain_text('"format": "email"')
    box.locator("#wf-payload-schema").scroll_into_view_if_needed()
    shot(page, "23-designer-payload-schema-json")


def test_run_settings_are_a_form(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    """The concurrency key as an expression over the payload, the fields to mask as JSON
    pointers (offered from the payload schema, a bad one said inline), saved as the settings;
    the JSON view says the same, and a published version shows them read-only."""
    http = served.http
    schema = {
        "type": "object",
        "properties": {"threadId": {"type": "string"}, "email": {"type": "string"}},
    }
    draft = {**JOURNEY, "key": "ordered", "payloadSchema": schema}
    assert http.post("/api/workflows", json={"key": "ordered", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/ordered")
    box = page.get_by_test_id("run-settings")
    expect(box.locator("#wf-settings")).to_have_count(0)  # no raw JSON by default

    box.get_by_role("button", name="Expression for Concurrency key").click()
    box.get_by_test_id("expr-wf-concurrency-key").fill("payload.threadId")

    add = box.get_by_role("button", name="+ Add field to mask")
    add.click()
    first = box.get_by_label("Field to mask 1", exact=True)
    expect(page.locator('#wf-redact-pointers option[value="/payload/email"]')).to_have_count(1)
    first.fill("payload/email")
    expect(box.get_by_role("alert")).to_contain_text("starts with “/”")
    first.fill("/payload/email")
    expect(box.get_by_role("alert")).to_have_count(0)
    add.click()
    second = box.get_by_label("Field to mask 2", exact=True)
    second.fill("/payload/card~2")
    expect(box.get_by_role("alert")).to_contain_text("~0")
    box.scroll_into_view_if_needed()
    shot(page, "26-designer-run-settings-bad-pointer")
    second.fill("/payload/card")
    expect(box.get_by_role("alert")).to_have_count(0)
    add.click()  # an empty row is not written; removing it leaves the two
    box.get_by_role("button", name="Remove field to mask 3").click()
    expect(box.get_by_label("Field to mask 3", exact=True)).to_have_count(0)
    box.scroll_into_view_if_needed()
    shot(page, "27-designer-run-settings-form")

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    saved = http.get("/api/workflows/ordered/draft").json()["draft"]
    assert saved["settings"] == {
        "concurrencyKey": {"$expr": "payload.threadId"},
        "redact": ["/payload/email", "/payload/card"],
    }

    # the JSON says the same, and the form shows it again
    switch = box.get_by_role("group", name="Edit run settings as")
    switch.get_by_role("button", name="JSON").click()
    expect(box.locator("#wf-settings")).to_contain_text('"$expr": "payload.threadId"')
    expect(box.locator("#wf-settings")).to_contain_text('"/payload/card"')
    switch.get_by_role("button", name="Form").click()
    expect(box.get_by_test_id("expr-wf-concurrency-key")).to_have_text("payload.threadId")
    expect(box.get_by_label("Field to mask 1", exact=True)).to_have_value("/payload/email")
    expect(box.get_by_label("Field to mask 2", exact=True)).to_have_value("/payload/card")

    # a published version shows the settings without editing them
    assert http.post("/api/workflows/ordered/publish").status_code == 201
    page.reload()
    page.get_by_role("button", name="History").click()
    page.get_by_test_id("versions-panel").get_by_role("button", name="Show").click()
    expect(page.get_by_role("button", name="Back to the draft")).to_be_visible()
    page.get_by_role("button", name="Close the history").click()
    box = page.get_by_test_id("run-settings")
    expect(box.get_by_label("Field to mask 2", exact=True)).to_have_value("/payload/card")
    expect(box.get_by_label("Field to mask 2", exact=True)).not_to_be_editable()
    expect(box.get_by_role("button", name="+ Add field to mask")).to_have_count(0)
    expect(box.get_by_role("button", name="Expression for Concurrency key")).to_have_count(0)
    box.scroll_into_view_if_needed()
    shot(page, "28-designer-run-settings-read-only")


def test_settings_the_form_does_not_know_are_kept(signed_in: Page, served: Served) -> None:
    settings = {"redact": ["/payload/email"], "futureKnob": {"on": True}}
    draft = {**JOURNEY, "key": "knobs", "settings": settings}
    assert served.http.post("/api/workflows", json={"key": "knobs", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/knobs")
    box = page.get_by_test_id("run-settings")
    expect(box).to_contain_text('futureKnob {"on":true}')
    box.get_by_role("button", name="+ Add field to mask").click()
    box.get_by_label("Field to mask 2", exact=True).fill("/vars/ssn")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    saved = served.http.get("/api/workflows/knobs/draft").json()["draft"]
    assert saved["settings"] == {
        "redact": ["/payload/email", "/vars/ssn"],
        "futureKnob": {"on": True},
    }


def test_a_schedule_says_what_slots_missed_during_an_outage_become(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    """The schedule's form offers what missed slots become (latest, default; all; none), each
    said in one line, and a window in hours: zero hours is a problem that leads to the field,
    48 hours is saved as milliseconds and published."""
    http = served.http
    draft = {**JOURNEY, "key": "report"}
    assert http.post("/api/workflows", json={"key": "report", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/report")
    panel = page.get_by_test_id("settings-panel")
    panel.get_by_role("button", name="+ On a schedule").click()
    schedule = panel.get_by_test_id("trigger-0")
    catch_up = schedule.get_by_label("Slots missed while no worker ran")
    expect(catch_up).to_have_value("latest")
    expect(schedule.locator("[data-field=catchUp] .hint")).to_contain_text(
        "one run catches up, for the most recent slot missed"
    )
    catch_up.select_option(label="Run every missed slot")
    expect(schedule.locator("[data-field=catchUp] .hint")).to_contain_text("One run per slot")

    window = schedule.get_by_label("Catch up at most (hours back)")
    window.fill("0")
    problems_button = page.get_by_test_id("problems-button")
    expect(problems_button).to_have_text("1 problem")
    problems_button.click()
    page.get_by_test_id("problems").get_by_role("button").filter(has_text="catchUpWindowMs").click()
    expect(window).to_be_focused()
    window.fill("48")
    expect(problems_button).to_have_text("No problems")
    schedule.scroll_into_view_if_needed()
    shot(page, "2a-designer-schedule-catch-up")

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    saved = http.get("/api/workflows/report/draft").json()["draft"]
    [trigger] = saved["triggers"]
    assert {k: v for k, v in trigger.items() if k != "timezone"} == {
        "type": "schedule",
        "cron": "0 9 * * 1-5",
        "catchUp": "all",
        "catchUpWindowMs": 48 * 3600 * 1000,
    }
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").filter(has_text="Published version 1")).to_be_visible()

    # back to the default: the key leaves the definition
    catch_up.select_option(label="Skip missed slots")
    expect(schedule.locator("[data-field=catchUp] .hint")).to_contain_text("never run")
    catch_up.select_option(label="Run the latest missed slot once")
    window.fill("")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_test_id("draft-state")).to_contain_text("draft · rev")
    [trigger] = http.get("/api/workflows/report/draft").json()["draft"]["triggers"]
    assert "catchUp" not in trigger and "catchUpWindowMs" not in trigger


def test_a_catch_up_the_form_does_not_know_is_shown_as_it_is_and_is_a_problem(
    signed_in: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    """A value pasted as JSON is not shown as the default: it stays in the list as what it is,
    the draft has a problem naming it, and choosing a mode fixes it."""
    trigger = {"type": "schedule", "cron": "0 9 * * *", "catchUp": "sometimes"}
    draft = {**JOURNEY, "key": "odd", "triggers": [trigger]}
    assert served.http.post("/api/workflows", json={"key": "odd", "draft": draft}).is_success
    page = signed_in
    page.goto(served.base_url + "/workflows/odd")
    schedule = page.get_by_test_id("settings-panel").get_by_test_id("trigger-0")
    catch_up = schedule.get_by_label("Slots missed while no worker ran")
    expect(catch_up.locator("option:checked")).to_have_text('"sometimes" (not a choice)')
    problems_button = page.get_by_test_id("problems-button")
    expect(problems_button).to_have_text("1 problem")
    schedule.scroll_into_view_if_needed()
    shot(page, "2b-designer-schedule-unknown-catch-up")
    catch_up.select_option(label="Skip missed slots")
    expect(problems_button).to_have_text("No problems")
    expect(catch_up.locator("option")).to_have_count(3)
