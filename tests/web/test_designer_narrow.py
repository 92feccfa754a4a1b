"""The designer and the operations console on a laptop-sized window (1,024 × 700 and 1,280 × 720),
in a real browser against ``flowpin serve --examples``: the toolbar fits on one line with every
action visible or in its "More" menu, and usable from there; a step selected or dropped at the
canvas's edge is brought whole into sight beside the side panel, never left under it; the folded
palette opens where a step is to be added; step cards keep an action's version in sight and the
whole text in their tooltip; the runs list and a run's page fit at 1,024 px. Screenshots go to
``test-artifacts/narrow-*.png``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import Served, malformed_email_waiting, signed_in_as
from playwright.sync_api import Locator, Page, expect

from servekit import clean_env, flowpin_serve

Shot = Callable[[Page, str], Path]
Box = dict[str, float]

LAPTOPS = [(1024, 700), (1280, 720)]
# what the toolbar of an editor (an admin) offers, by accessible name
ACTIONS = ("Undo", "Redo", "▶ Try the draft", "History", "Save draft", "Publish")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``flowpin serve --examples``: the helpdesk's and the journeys' workflows, published."""
    folder = tmp_path_factory.mktemp("narrow")
    env = clean_env(HELPDESK_ATTACHMENTS_DIR=str(folder / "attachments"))
    with flowpin_serve(f"sqlite:///{folder / 'narrow.db'}", "--examples", env=env) as http:
        key = http.headers["Authorization"].split(" ", 1)[1]
        yield Served(str(http.base_url).rstrip("/"), http, key, [])


def _box(locator: Locator) -> Box:
    box = locator.bounding_box()
    assert box is not None, locator
    return box


def _inside(inner: Box, outer: Box, what: str, slack: float = 0.5) -> None:
    assert inner["x"] >= outer["x"] - slack, f"{what} sticks out on the left: {inner} {outer}"
    assert inner["y"] >= outer["y"] - slack, f"{what} sticks out at the top: {inner} {outer}"
    right, outer_right = inner["x"] + inner["width"], outer["x"] + outer["width"]
    bottom, outer_bottom = inner["y"] + inner["height"], outer["y"] + outer["height"]
    assert right <= outer_right + slack, f"{what} is cut off on the right: {inner} {outer}"
    assert bottom <= outer_bottom + slack, f"{what} is cut off at the bottom: {inner} {outer}"


def _apart(a: Box, b: Box) -> bool:
    return (
        a["x"] + a["width"] <= b["x"] + 0.5
        or b["x"] + b["width"] <= a["x"] + 0.5
        or a["y"] + a["height"] <= b["y"] + 0.5
        or b["y"] + b["height"] <= a["y"] + 0.5
    )


def _viewport(page: Page) -> Box:
    size = page.viewport_size
    assert size is not None
    return {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}


def _toolbar_fits(page: Page) -> None:
    """Every part of the toolbar (crumb, name, pills, buttons) is whole, inside the window, on
    one row, and none overlaps another: nothing spills under the buttons or is clipped."""
    bar = page.locator(".designer-bar")
    title = _box(bar.locator(".designer-title"))
    parts = bar.locator(".designer-title > *")
    buttons = bar.locator(".actions > button, .actions > .more > button")
    boxes = [(f"title part {i}", _box(parts.nth(i))) for i in range(parts.count())]
    boxes += [
        (f"button {buttons.nth(i).inner_text()!r}", _box(buttons.nth(i)))
        for i in range(buttons.count())
    ]
    for name, box in boxes:
        _inside(box, _viewport(page), name)
        if name.startswith("title"):
            _inside(box, title, name)  # the title group clips what overflows: nothing may
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1 :]:
            assert _apart(a, b), f"{name_a} overlaps {name_b}: {a} {b}"
    middles = [box["y"] + box["height"] / 2 for _, box in boxes]
    assert max(middles) - min(middles) < 4, f"the toolbar wraps: {sorted(set(middles))}"
    assert _box(bar.locator("h1"))["width"] > 100, "the workflow's name is cut to nothing"


def _action(page: Page, name: str) -> Locator:
    """The toolbar's button ``name``: in the bar, or else in the opened "More" menu."""
    bar = page.locator(".designer-bar")
    direct = bar.locator(".actions").get_by_role("button", name=name, exact=True)
    if direct.count() and direct.first.is_visible():
        return direct.first
    more = bar.get_by_role("button", name="More")
    assert more.is_visible(), f"{name!r} is neither in the toolbar nor in a More menu"
    if more.get_attribute("aria-expanded") != "true":
        more.click()
    item = page.get_by_role("menu", name="More").get_by_role("menuitem", name=name, exact=True)
    expect(item).to_be_visible()
    _inside(_box(item), _viewport(page), f"menu item {name!r}")
    return item


@pytest.mark.parametrize(("width", "height"), LAPTOPS)
def test_the_toolbar_fits_and_every_action_is_reachable(
    page: Page, examples: Served, shot: Shot, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    signed_in_as(page, examples, examples.key, "/workflows/email-to-ticket")
    page.get_by_test_id("step-parse-email").click()
    page.keyboard.press("Delete")  # the longest pill: "unsaved changes"
    expect(page.get_by_test_id("draft-state")).to_have_text("unsaved changes")
    expect(page.get_by_text("live: v1")).to_be_visible()
    _toolbar_fits(page)
    for name in ACTIONS:
        action = _action(page, name)
        expect(action).to_be_visible()
        if name != "Redo":  # nothing to redo yet
            expect(action).to_be_enabled()
        page.keyboard.press("Escape")  # closes the menu if it was opened
    problems = page.get_by_test_id("problems-button")
    expect(problems).to_be_visible()
    _inside(_box(problems), _viewport(page), "the problems button")
    shot(page, f"narrow-01-toolbar-{width}x{height}")

    # the actions work from wherever they are: Try, History, then a version, read-only
    _action(page, "▶ Try the draft").click()
    expect(page.get_by_test_id("try-panel")).to_be_visible()
    if page.locator(".designer-bar").get_by_role("button", name="More").is_visible():
        page.locator(".designer-bar").get_by_role("button", name="More").click()
        shot(page, f"narrow-02-more-menu-{width}x{height}")
        page.keyboard.press("Escape")
        expect(page.get_by_role("menu", name="More")).to_be_hidden()
    more = page.locator(".designer-bar").get_by_role("button", name="More")
    if more.is_visible():  # and from the keyboard: open, arrow to History, Enter
        more.focus()
        page.keyboard.press("Enter")
        page.keyboard.press("ArrowDown")
        expect(page.get_by_role("menuitem", name="History")).to_be_focused()
        page.keyboard.press("Enter")
    else:
        _action(page, "History").click()
    panel = page.get_by_test_id("versions-panel")
    expect(panel).to_be_visible()
    _action(page, "Undo").click()  # the deleted step is back
    expect(page.get_by_test_id("step-parse-email")).to_be_visible()
    panel.get_by_role("button", name="Show").first.click()
    expect(page.get_by_role("button", name="Back to the draft")).to_be_visible()
    _toolbar_fits(page)
    expect(_action(page, "History")).to_be_visible()
    page.keyboard.press("Escape")
    shot(page, f"narrow-03-toolbar-version-{width}x{height}")


def _selected_in_sight(page: Page, step: str) -> None:
    """The step's card lies whole inside the canvas and nowhere under the side panel."""
    card = _box(page.get_by_test_id(f"step-{step}"))
    canvas = _box(page.get_by_test_id("canvas"))
    panel = _box(page.get_by_test_id("step-panel"))
    _inside(card, canvas, f"step {step}")
    assert _apart(card, panel), f"step {step} lies under the side panel: {card} {panel}"


def _settled(page: Page, locator: Locator) -> Box:
    """The box of ``locator`` once the canvas's pan animation has ended (two equal readings)."""
    last: Box | None = None
    for _ in range(40):
        box = _box(locator)
        if box == last:
            return box
        last = box
        page.wait_for_timeout(60)
    raise AssertionError(f"{locator} keeps moving")


def test_a_step_at_the_canvas_edge_comes_into_sight_beside_the_panel(
    page: Page, examples: Served, shot: Shot
) -> None:
    page.set_viewport_size({"width": 1024, "height": 700})
    signed_in_as(page, examples, examples.key, "/workflows/welcome-series")
    step = page.get_by_test_id("step-read-config")
    expect(step).to_be_visible()
    canvas = _box(page.get_by_test_id("canvas"))
    assert canvas["width"] >= 520, f"the canvas is too narrow to work in at 1,024 px: {canvas}"

    # pan the canvas so the step is cut by its right edge (the panel's side), then select it
    card = _box(step)
    pane = page.locator(".react-flow__pane")
    start = (canvas["x"] + 60, canvas["y"] + canvas["height"] - 60)
    shift = canvas["x"] + canvas["width"] - 80 - card["x"]
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + shift, start[1], steps=8)
    page.mouse.up()
    assert pane.count() == 1
    cut = _box(step)
    assert cut["x"] + cut["width"] > canvas["x"] + canvas["width"], "the step is not at the edge"
    shot(page, "narrow-04-step-at-the-edge-1024")
    page.mouse.click(cut["x"] + 30, cut["y"] + cut["height"] / 2)
    expect(page.get_by_test_id("step-panel")).to_contain_text("id: read-config")
    _settled(page, step)
    _selected_in_sight(page, "read-config")
    shot(page, "narrow-05-selected-in-sight-1024")

    # drag the selected step to the top right corner, past the canvas's edge (where no arrow
    # is): dropped there, it stays where it was put and the canvas pans it back into sight
    card = _box(step)
    page.mouse.move(card["x"] + 20, card["y"] + 20)
    page.mouse.down()
    page.mouse.move(canvas["x"] + canvas["width"] - 20, canvas["y"] + 24, steps=12)
    page.mouse.up()
    expect(page.get_by_test_id("draft-state")).to_have_text(
        "draft · rev 1"
    )  # not moved in the flow
    _settled(page, step)
    _selected_in_sight(page, "read-config")
    shot(page, "narrow-06-dropped-in-sight-1024")

    # dropped on the + of the switch's "Otherwise" arrow (beside its label), it moves there in
    # the pipeline - a branch drawn at the canvas's right edge - and comes into sight there
    otherwise = page.get_by_role("button", name="Insert a step in “Otherwise”")
    target = _box(otherwise)
    _inside(target, canvas, "the Otherwise arrow's +")
    card = _box(step)
    page.mouse.move(card["x"] + card["width"] / 2, card["y"] + card["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=15)
    expect(otherwise).to_have_class(re.compile("is-active"))  # where it will go, while dragging
    page.mouse.up()
    expect(page.get_by_test_id("draft-state")).to_have_text("unsaved changes")
    expect(page.get_by_role("status").filter(has_text="Moved read-config")).to_contain_text(
        "Otherwise"
    )
    _settled(page, step)
    _selected_in_sight(page, "read-config")
    shot(page, "narrow-06b-moved-into-a-branch-in-sight-1024")


def test_the_folded_palette_opens_where_a_step_is_added(
    page: Page, examples: Served, shot: Shot
) -> None:
    page.set_viewport_size({"width": 1024, "height": 700})
    signed_in_as(page, examples, examples.key, "/workflows/welcome-series")
    expect(page.get_by_test_id("step-welcoming")).to_be_visible()
    palette_item = page.get_by_test_id("palette-state.set")
    expect(palette_item).to_be_hidden()  # folded: the room is the canvas's
    page.get_by_role("button", name="Add a step", exact=True).click()
    expect(palette_item).to_be_visible()
    shot(page, "narrow-07-palette-open-1024")
    page.get_by_role("button", name="Hide the palette").click()
    expect(palette_item).to_be_hidden()

    # "+" on an arrow opens it, with where the step goes; the new step is in sight, selected
    page.get_by_test_id("insert-welcoming->read-config").click()
    expect(page.locator(".palette-target")).to_contain_text("Inserting")
    palette_item.click()
    panel = page.get_by_test_id("step-panel")
    expect(panel).to_contain_text("Set state")
    new_id = panel.locator(".mono").first.inner_text().removeprefix("id: ").strip()
    expect(palette_item).to_be_hidden()  # folded again: the room goes back to the canvas
    _settled(page, page.get_by_test_id(f"step-{new_id}"))
    _selected_in_sight(page, new_id)
    shot(page, "narrow-08-step-added-1024")


def test_step_cards_keep_the_version_in_sight_and_the_whole_text_on_hover(
    page: Page, examples: Served, shot: Shot
) -> None:
    http = examples.http
    long_call: dict[str, Any] = {
        "id": "save-track",
        "type": "action.call",
        "config": {"actionId": "journeys.update_contact", "version": 1, "inputMapping": {}},
    }
    definition = {
        "key": "narrow-cards",
        "name": "Cards",
        "steps": [
            long_call,
            {
                "id": "remember",
                "name": "Remember the plan the contact signed up with, for the reports",
                "type": "state.set",
                "config": {"state": "REMEMBERING_THE_PLAN_OF_THE_CONTACT"},
            },
        ],
    }
    assert http.post("/api/workflows", json={"key": "narrow-cards", "draft": definition}).is_success
    page.set_viewport_size({"width": 1024, "height": 700})
    signed_in_as(page, examples, examples.key, "/workflows/narrow-cards")
    card = page.get_by_test_id("step-save-track")
    expect(card).to_be_visible()
    # the summary is cut in its name, not in its version: "journeys.update_co… v1"
    tail = card.locator(".clipped-tail")
    expect(tail).to_have_text(" v1")
    _inside(_box(tail), _box(card), "the action's version")
    main = card.locator(".clipped-main")
    cut = main.evaluate("(e) => e.scrollWidth > e.clientWidth")
    assert cut, "the test expects the action's name to be too long for the card"
    # the whole text is there on hover: the card and its lines carry it
    assert "journeys.update_contact v1" in (card.get_attribute("title") or "")
    assert card.locator(".step-title").get_attribute("title") == "journeys.update_contact v1"
    named = page.get_by_test_id("step-remember")
    whole = named.get_attribute("title") or ""
    assert "Remember the plan the contact signed up with, for the reports" in whole
    assert "REMEMBERING_THE_PLAN_OF_THE_CONTACT" in whole
    shot(page, "narrow-09-cards-1024")


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => { const m = document.querySelector('.main');"
        " return [m.scrollWidth, m.clientWidth]; }"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_the_runs_list_and_a_run_fit_at_1024(page: Page, examples: Served, shot: Shot) -> None:
    run_id = malformed_email_waiting(examples)
    page.set_viewport_size({"width": 1024, "height": 700})
    signed_in_as(page, examples, examples.key, "/runs")

    # the navigation is a rail of icons, each still named and usable
    for name in ("Workflows", "Runs", "Events", "Tasks"):
        _inside(_box(page.get_by_role("link", name=name, exact=True)), _viewport(page), name)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    row = page.get_by_test_id("run-row").filter(has_text=run_id)
    expect(row).to_be_visible()
    _no_sideways_scroll(page)
    _inside(_box(page.locator(".table")), _viewport(page), "the runs table")
    _inside(_box(row), _viewport(page), "the run's row")
    shot(page, "narrow-10-runs-1024")

    page.get_by_role("link", name="Runs", exact=True).click()
    row.get_by_role("link").first.click()
    expect(page.get_by_test_id("waiting-for")).to_be_visible()
    _no_sideways_scroll(page)
    for name in ("Cancel run", "New run, same input"):
        _inside(_box(page.get_by_role("button", name=name)), _viewport(page), name)
    shot(page, "narrow-11-run-1024")
    canvas = page.get_by_test_id("run-canvas")
    canvas.scroll_into_view_if_needed()
    _inside(_box(canvas), _viewport(page), "the run's path on the workflow")
    _no_sideways_scroll(page)
    shot(page, "narrow-12-run-path-1024")
