"""The operations console in a real browser (Debian's Chromium through Playwright) against a live
``flowpin serve --examples``: a malformed email waits for a person, who completes the task from
the inbox and watches the run succeed; a run is canceled; a failed run is retried from a step
after its side-effect preview; a journey run is found by its subject; the events screen.
Screenshots of each screen go to ``test-artifacts/console-*.png``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiosmtpd.controller import Controller
from browserkit import MALFORMED, Served, malformed_email_waiting, signed_in_as
from playwright.sync_api import Browser, Page, expect

from servekit import clean_env, flowpin_serve, free_port, run_status

LATE_EVENT = {
    "key": "console-late-approval",
    "name": "Approval that can come too late",
    "steps": [
        {"id": "mark", "type": "state.set", "config": {"state": "WAITING_FOR_APPROVAL"}},
        {
            "id": "approval",
            "type": "event.wait",
            "config": {"eventName": "order.approved", "timeoutMs": 300, "saveAs": "vars.approval"},
        },
        {
            "id": "confirm",
            "type": "action.call",
            "config": {
                "actionId": "notify.email",
                "version": 1,
                "inputMapping": {
                    "to": "buyer@example.com",
                    "subject": "Approved",
                    "body": {"$expr": "'Approved by ' & vars.approval.by"},
                },
            },
        },
    ],
}


WAITER = {
    "key": "console-waiter",
    "name": "Waits for a go",
    "steps": [
        {"id": "mark", "type": "state.set", "config": {"state": "WAITING_FOR_GO"}},
        {"id": "go", "type": "event.wait", "config": {"eventName": "go", "saveAs": "vars.go"}},
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.go"}},
    ],
}


def _publish(http: httpx.Client, definition: dict[str, Any]) -> None:
    if http.get(f"/api/workflows/{definition['key']}").status_code == 404:
        assert http.post(
            "/api/workflows", json={"key": definition["key"], "draft": definition}
        ).is_success
        assert http.post(f"/api/workflows/{definition['key']}/publish").is_success


def _start_waiting(http: httpx.Client, subject: str) -> str:
    _publish(http, WAITER)
    run_id = str(
        http.post("/api/runs", json={"workflow": WAITER["key"], "subject": subject}).json()["runId"]
    )
    assert run_status(http, run_id, {"WAITING"}) == "WAITING"
    return run_id


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``flowpin serve --examples`` with an SMTP sink for the journeys' emails."""
    folder = tmp_path_factory.mktemp("console")
    port = free_port()
    sink = Controller(Sink(), hostname="127.0.0.1", port=port)
    sink.start()
    env = clean_env(
        JOURNEYS_SMTP_PORT=str(port),
        FLOWPIN_SMTP_ALLOW="127.0.0.1",
        HELPDESK_ATTACHMENTS_DIR=str(folder / "attachments"),
    )
    output: list[str] = []
    try:
        with flowpin_serve(
            f"sqlite:///{folder / 'console.db'}", "--examples", env=env, output=output
        ) as http:
            key = http.headers["Authorization"].split(" ", 1)[1]
            yield Served(str(http.base_url).rstrip("/"), http, key, output)
    finally:
        sink.stop()


Shot = Callable[[Page, str], Path]


def test_a_malformed_email_waits_for_a_person_who_creates_the_ticket(
    page: Page, examples: Served, shot: Shot
) -> None:
    run_id = malformed_email_waiting(examples)

    signed_in_as(page, examples, examples.key, "/runs")
    page.get_by_role("tab", name="Waiting").click()
    row = page.get_by_test_id("run-row").filter(has_text=run_id)
    expect(row).to_contain_text("email-to-ticket")
    expect(row).to_contain_text("manual-resolution")
    expect(row).not_to_contain_text("=?utf-8?")  # its subject, decoded, not the Message-ID
    expect(row).not_to_contain_text("nowhere.invalid")
    shot(page, "console-01-runs-waiting")
    row.get_by_role("link").click()

    waits = page.get_by_test_id("waiting-for")
    expect(waits).to_contain_text("manual-resolution")
    expect(waits).to_contain_text("waits for a person")
    expect(page.get_by_text("AWAITING_MANUAL_RESOLUTION").first).to_be_visible()
    expect(page.get_by_test_id("step-manual-resolution")).to_have_class(re.compile("mark-current"))
    expect(page.get_by_test_id("step-parse-email")).to_have_class(re.compile("mark-failed"))
    shot(page, "console-02-run-waiting")
    page.get_by_role("button", name="its path on the workflow").click()
    page.get_by_test_id("run-canvas").scroll_into_view_if_needed()
    shot(page, "console-02b-run-path")

    page.get_by_role("link", name="open the task").click()
    expect(page.get_by_role("heading", name="Inbound email needs a person: broken")).to_be_visible()
    expect(page.locator(".task-description")).to_contain_text("ERROR_PROCESSING_EMAIL")
    page.get_by_label("What to do with this email").select_option("create-ticket")
    page.get_by_label("Subject of the new ticket").fill("Broken mail")
    page.get_by_label("Sender, when the email has none").fill("it@acme.test")
    shot(page, "console-03-task-form")
    page.get_by_role("button", name="Complete task").click()
    expect(page.get_by_role("status")).to_contain_text("completed by")

    page.get_by_role("link", name="Follow the run").click()
    expect(page.locator(".run-header")).to_contain_text("succeeded")
    expect(page.get_by_test_id("timeline-item").filter(has_text="completed by")).to_be_visible()
    expect(page.get_by_text("EMAIL_PROCESSED").first).to_be_visible()
    shot(page, "console-04-run-succeeded")


def test_a_refused_decision_is_shown_in_words(page: Page, examples: Served) -> None:
    run_id = examples.http.post(
        "/examples/helpdesk/inbound",
        content=MALFORMED.read_bytes().replace(b"broken-1", b"broken-2"),
        headers={"Content-Type": "message/rfc822"},
    ).json()["started"][0]
    assert run_status(examples.http, run_id, {"WAITING"}) == "WAITING"
    [task] = examples.http.get("/api/tasks", params={"runId": run_id}).json()["items"]
    signed_in_as(page, examples, examples.key, f"/tasks?task={task['taskId']}")
    page.get_by_label("What to do with this email").select_option("attach-to-ticket")
    page.get_by_label("Ticket to attach it to").fill("not-a-ticket")
    page.get_by_role("button", name="Complete task").click()
    expect(page.locator(".task-form")).to_contain_text('must match pattern "^tk_[0-9a-f]{16}$"')


def test_an_operator_cancels_a_run(page: Page, examples: Served, shot: Shot) -> None:
    http = examples.http
    http.post(
        "/examples/journeys/contacts",
        json={"id": "cara", "email": "cara@example.com", "data": {"firstName": "Cara"}},
    )
    sent = http.post(
        "/api/events", json={"name": "contact.signed_up", "key": "cara", "payload": {}}
    )
    [run_id] = sent.json()["started"]
    assert run_status(http, run_id, {"WAITING"}) == "WAITING"

    signed_in_as(page, examples, examples.key, f"/runs/{run_id}")
    page.get_by_role("button", name="Cancel run").click()
    dialog = page.get_by_role("dialog", name="Cancel this run")
    expect(dialog).to_contain_text("stops for good")
    shot(page, "console-05-cancel-confirm")
    dialog.get_by_role("button", name="Cancel run").click()
    expect(page.locator(".run-header")).to_contain_text("canceled")
    operator = page.get_by_test_id("timeline-item").filter(has_text="Operator")
    expect(operator).to_contain_text("canceled by")
    assert http.get(f"/api/runs/{run_id}").json()["status"] == "CANCELED"


def test_a_failed_run_is_retried_from_a_step_after_its_preview(
    page: Page, examples: Served, shot: Shot
) -> None:
    http = examples.http
    assert http.post(
        "/api/workflows", json={"key": LATE_EVENT["key"], "draft": LATE_EVENT}
    ).is_success
    assert http.post(f"/api/workflows/{LATE_EVENT['key']}/publish").is_success
    run_id = http.post(
        "/api/runs", json={"workflow": LATE_EVENT["key"], "subject": "order-77"}
    ).json()["runId"]
    assert run_status(http, run_id, {"FAILED"}) == "FAILED"
    late = {"name": "order.approved", "key": "order-77", "payload": {"by": "Dana"}}
    assert http.post("/api/events", json={**late, "ttlMs": 600_000}).is_success

    signed_in_as(page, examples, examples.key, f"/runs/{run_id}")
    expect(page.get_by_role("alert")).to_contain_text("TimeoutError")
    page.get_by_role("button", name="Retry…").click()
    dialog = page.get_by_role("dialog", name="Retry the run")
    page.get_by_label("Restart from").select_option("approval")
    preview = page.get_by_test_id("retry-preview")
    expect(preview).to_contain_text("notify.email@1")
    expect(preview).to_contain_text("side_effect")
    shot(page, "console-06-retry-preview")
    dialog.get_by_role("button", name="Retry from approval").click()
    expect(page.locator(".run-header")).to_contain_text("succeeded")
    resolved = page.get_by_test_id("timeline-item").filter(has_text="resolved by event")
    expect(resolved).to_be_visible()
    operator = page.get_by_test_id("timeline-item").filter(has_text="Operator")
    expect(operator).to_contain_text("retried from approval by")
    shot(page, "console-07-retried")


def test_a_journey_run_is_found_by_its_subject(page: Page, examples: Served, shot: Shot) -> None:
    http = examples.http
    http.post(
        "/examples/journeys/contacts",
        json={"id": "dora.finder", "email": "dora@example.com", "data": {"firstName": "Dora"}},
    )
    sent = http.post(
        "/api/events",
        json={"name": "contact.signed_up", "key": "dora.finder", "payload": {"plan": "pro"}},
    )
    [run_id] = sent.json()["started"]

    signed_in_as(page, examples, examples.key, "/runs")
    page.get_by_label("Subject or run id").fill("DORA.F")
    page.get_by_role("button", name="Apply").click()
    rows = page.get_by_test_id("run-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("welcome-series")
    expect(rows.first).to_contain_text(run_id)
    shot(page, "console-08-runs-search")


def test_events_screen_shows_what_each_event_did(page: Page, examples: Served, shot: Shot) -> None:
    http = examples.http
    http.post("/api/events", json={"name": "nobody.listens", "key": "k-1", "ttlMs": 3_600_000})
    signed_in_as(page, examples, examples.key, "/events")
    row = page.get_by_test_id("event-row").filter(has_text="nobody.listens")
    expect(row).to_contain_text("reached no run")
    expect(row).to_contain_text("left")
    shot(page, "console-09-events")
    row.get_by_role("button", name="nobody.listens").click()
    expect(page.get_by_role("dialog")).to_contain_text("No run")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Send an event").click()
    dialog = page.get_by_role("dialog", name="Send an event")
    dialog.get_by_label("Name").fill("order.approved")
    dialog.get_by_label("Key").fill("no-such-order")
    dialog.get_by_label("Payload (JSON)").fill('{"by": "Eve"}')
    shot(page, "console-10-send-event")
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("resumed 0 runs, started 0 runs")


def test_bulk_cancel_names_how_many_runs_it_cancels(
    page: Page, examples: Served, shot: Shot
) -> None:
    runs = [_start_waiting(examples.http, f"bulk-{n}") for n in range(3)]
    keep = _start_waiting(examples.http, "keep-going")

    signed_in_as(page, examples, examples.key, "/runs?search=bulk-")
    expect(page.get_by_test_id("run-row")).to_have_count(3)
    page.get_by_role("button", name="Cancel matching runs…").click()
    dialog = page.get_by_role("dialog", name="Cancel matching runs")
    expect(dialog).to_contain_text("3 active runs match the filters")
    shot(page, "console-11-bulk-cancel")
    dialog.get_by_role("button", name="Cancel 3 runs").click()
    expect(page.get_by_role("status")).to_contain_text("3 runs canceled.")
    expect(page.get_by_role("tab", name="Canceled 3")).to_be_visible()
    statuses = {examples.http.get(f"/api/runs/{r}").json()["status"] for r in runs}
    assert statuses == {"CANCELED"}
    assert examples.http.get(f"/api/runs/{keep}").json()["status"] == "WAITING"


def test_the_viewer_refreshes_without_closing_panels_or_scrolling(
    page: Page, examples: Served
) -> None:
    run_id = _start_waiting(examples.http, "live-1")
    page.set_viewport_size({"width": 1280, "height": 500})
    signed_in_as(page, examples, examples.key, f"/runs/{run_id}")
    expect(page.get_by_test_id("waiting-for")).to_contain_text("the event go")
    vars_panel = page.locator("details.json", has_text="vars").first
    vars_panel.locator("summary").click()
    expect(vars_panel).to_have_attribute("open", "")
    page.locator(".main").evaluate("main => { main.scrollTop = 120; }")

    sent = examples.http.post("/api/events", json={"name": "go", "key": "live-1", "payload": 1})
    assert sent.json()["resumed"] == [run_id]
    expect(page.locator(".run-header")).to_contain_text("succeeded")  # the poll brought it
    resolved = page.get_by_test_id("timeline-item").filter(has_text="resolved by event")
    expect(resolved).to_be_visible()
    expect(vars_panel).to_have_attribute("open", "")
    assert page.locator(".main").evaluate("main => main.scrollTop") == 120
    timings = page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter(e => e.name.includes("/api/runs/"))
            .map(e => Math.round(e.duration))"""
    )
    print(f"run viewer polls: {len(timings)} requests, ms each: {sorted(timings)}")


def test_a_viewer_sees_runs_and_tasks_but_cannot_act(page: Page, examples: Served) -> None:
    run_id = _start_waiting(examples.http, "viewer-sees-me")
    viewer = examples.http.post("/api/keys", json={"role": "viewer", "name": "auditor"})
    signed_in_as(page, examples, viewer.json()["key"], f"/runs/{run_id}")
    expect(page.get_by_test_id("waiting-for")).to_contain_text("the event go")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.get_by_role("button", name="New run, same input")).to_have_count(0)
    page.goto(examples.base_url + "/runs")
    expect(page.get_by_test_id("run-row").first).to_be_visible()
    expect(page.get_by_role("button", name="Cancel matching runs…")).to_have_count(0)
    page.goto(examples.base_url + "/events")
    expect(page.get_by_role("button", name="Send an event")).to_have_count(0)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "UTC"])
def test_times_are_the_viewers_local_time_with_the_zone_named(
    browser: Browser, examples: Served, shot: Shot, zone: str
) -> None:
    run_id = _start_waiting(examples.http, f"zone-{zone}")
    created = examples.http.get(f"/api/runs/{run_id}").json()["createdAt"]
    there = datetime.fromisoformat(created).astimezone(ZoneInfo(zone))
    offset = there.utcoffset()
    assert offset is not None
    named = "UTC" if zone == "UTC" else f"GMT+{offset.seconds // 3600}"  # en-US's short names
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id=zone, locale="en-US"
    )
    try:
        page = context.new_page()
        signed_in_as(page, examples, examples.key, f"/runs/{run_id}")
        started = page.locator(".fact").filter(has=page.locator(".fact-label", has_text="Started"))
        expect(started).to_contain_text(f"{there.strftime('%I:%M:%S %p')} {named}")
        expect(page.get_by_test_id("timeline-item").first).to_contain_text(named)
        shot(page, f"console-12-run-times-{zone.replace('/', '-')}")
        page.goto(examples.base_url + "/runs")
        row = page.get_by_test_id("run-row").filter(has_text=run_id)
        expect(row.locator("td[title]").first).to_have_attribute(
            "title", re.compile(re.escape(named))
        )
        expect(page.get_by_label(f"Started from ({named})")).to_be_visible()
    finally:
        context.close()


def test_events_are_filtered_by_when_they_were_received(
    browser: Browser, examples: Served, shot: Shot
) -> None:
    """The fields are the viewer's local time (Europe/Berlin here), to the minute; "from" is
    inclusive, "to" exclusive, as the API's receivedAfter and receivedBefore."""
    sent = examples.http.post("/api/events", json={"name": "received.between", "key": "k-1"})
    assert sent.is_success, sent.text
    [event] = examples.http.get("/api/events?name=received.between").json()["items"]
    berlin = ZoneInfo("Europe/Berlin")
    minute = datetime.fromisoformat(event["receivedAt"]).astimezone(berlin)
    minute = minute.replace(second=0, microsecond=0)

    def field(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M")

    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin", locale="en-US"
    )
    try:
        page = context.new_page()
        signed_in_as(page, examples, examples.key, "/events?name=received.between")
        rows = page.get_by_test_id("event-row")
        expect(rows).to_have_count(1)
        filters = page.get_by_role("form", name="Filter events")
        received_from = filters.get_by_label("Received from")
        received_to = filters.get_by_label("to", exact=True)

        received_from.fill(field(minute))
        received_to.fill(field(minute + timedelta(minutes=1)))
        filters.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile("receivedAfter=.*receivedBefore="))
        expect(rows).to_have_count(1)
        shot(page, "console-13-events-received-between")

        received_to.fill(field(minute))  # before the minute it was received in
        filters.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("heading", name="No events match these filters")).to_be_visible()

        received_from.fill(field(minute + timedelta(minutes=1)))  # from after it
        received_to.fill("")
        filters.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("heading", name="No events match these filters")).to_be_visible()
        expect(filters.get_by_label("Received from")).to_have_value(
            field(minute + timedelta(minutes=1))
        )
        filters.get_by_role("button", name="Clear").click()
        expect(rows.filter(has_text="received.between")).to_have_count(1)
    finally:
        context.close()
