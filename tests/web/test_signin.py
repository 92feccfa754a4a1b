"""Signing in to the UI in a real browser: paste a key, see the tenant and role; a wrong key is
refused in words; a viewer sees everything but cannot change anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from browserkit import Served, signed_in_as
from playwright.sync_api import Page, expect


def test_sign_in_shows_tenant_and_role(
    page: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    page.goto(served.base_url + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shot(page, "01-sign-in")
    signed_in_as(page, served, served.key)
    who = page.get_by_test_id("who")
    expect(who).to_contain_text("default")
    expect(who).to_contain_text("admin")
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
    page.reload()  # the key is kept for the tab's session
    expect(page.get_by_test_id("who")).to_contain_text("admin")
    shot(page, "02-workflows-list")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()


def test_an_unknown_key_is_refused_in_words(page: Page, served: Served) -> None:
    page.goto(served.base_url + "/workflows")
    page.get_by_label("API key").fill("fp_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not known to this server")


def test_a_viewer_sees_workflows_read_only(page: Page, served: Served) -> None:
    served.http.post("/api/workflows", json={"key": "viewer-sees-me", "name": "Viewer sees me"})
    signed_in_as(page, served, served.new_key("viewer"))
    expect(page.get_by_test_id("who")).to_contain_text("viewer")
    expect(page.get_by_role("link", name="Viewer sees me")).to_be_visible()
    expect(page.get_by_role("button", name="New workflow")).to_have_count(0)
    expect(page.get_by_role("button", name="Duplicate")).to_have_count(0)


def test_only_a_published_workflow_is_live(
    page: Page, served: Served, shot: Callable[[Page, str], Path]
) -> None:
    served.http.post("/api/workflows", json={"key": "status-draft", "name": "Status draft"})
    steps = [{"id": "done", "type": "control.return", "output": 1}]
    draft = {"key": "status-live", "name": "Status live", "steps": steps}
    served.http.post("/api/workflows", json={"key": "status-live", "draft": draft})
    assert served.http.post("/api/workflows/status-live/publish").is_success
    signed_in_as(page, served, served.key)
    expect(page.get_by_test_id("workflow-row-status-draft")).to_contain_text("draft only")
    expect(page.get_by_test_id("workflow-row-status-draft")).not_to_contain_text("live")
    expect(page.get_by_test_id("workflow-row-status-draft")).not_to_contain_text("as published")
    expect(page.get_by_test_id("workflow-row-status-live")).to_contain_text("live")
    shot(page, "02-workflows-list-status")
