"""Browser tests of the web UI: a live ``flowpin serve`` (temporary SQLite, the demo actions of
``examples/actions.py``) and Debian's Chromium driven by Playwright - never a downloaded browser.

Fixtures for every UI test (the designer's and the operations console's):

- ``served``: the server (``base_url``, an admin ``http`` client, the admin ``key``, its
  ``output`` lines), one per session; tests keep apart by using their own workflow keys.
- ``browser``: Chromium, one per test module; ``page``: a fresh 1280×800 page per test.
- ``signed_in``: ``page`` signed in with the admin key (``browserkit.signed_in_as`` for others).
- ``shot(page, name)``: a screenshot in ``test-artifacts/<name>.png`` (git-ignored); a failed
  test leaves ``FAILED-<test>.png`` there too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browserkit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, Served, signed_in_as
from playwright.sync_api import Browser, Page, expect, sync_playwright

from servekit import flowpin_serve


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("web")
    output: list[str] = []
    db = f"sqlite:///{folder / 'ui.db'}"
    with flowpin_serve(db, "--actions", "examples.actions", output=output) as http:
        key = http.headers["Authorization"].split(" ", 1)[1]
        yield Served(str(http.base_url).rstrip("/"), http, key, output)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API holds an event loop on this thread while it is open,
    so it must be closed before the modules after it (which run their own loops)."""
    chromium = shutil.which("chromium") or CHROMIUM
    assert Path(chromium).exists(), "Chromium is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; when the test fails, a screenshot of it (``FAILED-<test>.png``) and the
    page's errors (``FAILED-<test>.log``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on(
        "pageerror", lambda error: errors.append(f"{error.name}: {error.message}\n{error.stack}")
    )
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield opened
    finally:
        if request.node.stash.get(FAILED, False):
            ARTIFACTS.mkdir(exist_ok=True)
            opened.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"))
            (ARTIFACTS / f"FAILED-{request.node.name}.log").write_text("\n".join(errors))
        context.close()


@pytest.fixture
def signed_in(page: Page, served: Served) -> Page:
    return signed_in_as(page, served, served.key)


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take
