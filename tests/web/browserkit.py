"""What the web UI's browser tests share (the fixtures in this folder's conftest use it):
where Chromium is and how it starts, the served app, and signing in."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from playwright.sync_api import Page, expect

from servekit import ROOT, run_status

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
MALFORMED = ROOT / "tests" / "examples" / "helpdesk" / "messages" / "malformed.eml"
"""An email the helpdesk example cannot parse: its run waits for a person."""
UI_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Served:
    base_url: str
    http: httpx.Client
    key: str
    output: list[str]

    def new_key(self, role: str) -> str:
        """A fresh API key of ``role`` on the default tenant."""
        response = self.http.post("/api/keys", json={"role": role, "name": f"ui test {role}"})
        response.raise_for_status()
        return str(response.json()["key"])


def signed_in_as(page: Page, served: Served, key: str, path: str = "/") -> Page:
    """Open ``path`` and sign in with ``key`` (the UI keeps it for the tab's session)."""
    page.goto(served.base_url + path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("who")).to_be_visible()
    return page


def malformed_email_waiting(served: Served) -> str:
    """Post ``MALFORMED`` to the helpdesk example's inbound address; returns its run once it
    waits for a person."""
    posted = served.http.post(
        "/examples/helpdesk/inbound",
        content=MALFORMED.read_bytes(),
        headers={"Content-Type": "message/rfc822"},
    )
    assert posted.status_code == 202, posted.text
    [run_id] = posted.json()["started"]
    assert run_status(served.http, run_id, {"WAITING"}) == "WAITING"
    return str(run_id)
