"""Drafts under concurrent editing: every save names the revision it was based on (If-Match or
expectedRevision), a stale save gets 409 ``draft.conflict`` with the current draft and never
overwrites it, and validation problems come back on save as well as on publish."""

from __future__ import annotations

import copy
import threading
from typing import Any

from apikit import WAITER, Client, error_code

from flowpin import Engine
from flowpin.errors import ConflictError


def _edited(label: str) -> dict[str, Any]:
    draft = copy.deepcopy(WAITER)
    draft["steps"][0]["config"]["state"] = label
    return draft


def test_a_stale_save_gets_the_current_draft_and_overwrites_nothing(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    got = client.get("/api/workflows/waiter/draft")
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    assert got.json()["revision"] == 1 and got.json()["valid"] is True

    # Alice and Bob both opened revision 1; Alice saves first.
    alice = client.put(
        "/api/workflows/waiter/draft", json={"draft": _edited("ALICE")}, headers={"If-Match": '"1"'}
    )
    assert alice.status_code == 200, alice.text
    assert alice.headers["ETag"] == '"2"' and alice.json()["revision"] == 2
    bob = client.put(
        "/api/workflows/waiter/draft", json={"draft": _edited("BOB")}, headers={"If-Match": '"1"'}
    )
    assert bob.status_code == 409 and error_code(bob) == "draft.conflict"
    assert bob.headers["ETag"] == '"2"'
    details = bob.json()["error"]["details"]
    assert details["currentRevision"] == 2
    assert details["draft"]["steps"][0]["config"]["state"] == "ALICE"
    assert details["valid"] is True and isinstance(details["problems"], list)
    stored = client.get("/api/workflows/waiter/draft").json()
    assert stored["revision"] == 2 and stored["draft"]["steps"][0]["config"]["state"] == "ALICE"

    # Bob merges onto revision 2 (here through the body field, a weak ETag works the same).
    merged = client.put(
        "/api/workflows/waiter/draft", json={"draft": _edited("BOB"), "expectedRevision": 2}
    )
    assert merged.status_code == 200 and merged.json()["revision"] == 3
    weak = client.put(
        "/api/workflows/waiter/draft", json={"draft": _edited("C")}, headers={"If-Match": 'W/"3"'}
    )
    assert weak.status_code == 200 and weak.json()["revision"] == 4


def test_a_save_must_say_what_it_was_based_on(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    blind = client.put("/api/workflows/waiter/draft", json={"draft": _edited("X")})
    assert blind.status_code == 428 and error_code(blind) == "draft.precondition_required"
    bad = client.put(
        "/api/workflows/waiter/draft", json={"draft": WAITER}, headers={"If-Match": "*"}
    )
    assert bad.status_code == 400 and error_code(bad) == "draft.bad_precondition"
    disagree = client.put(
        "/api/workflows/waiter/draft",
        json={"draft": WAITER, "expectedRevision": 1},
        headers={"If-Match": '"2"'},
    )
    assert disagree.status_code == 400 and error_code(disagree) == "draft.bad_precondition"
    assert client.get("/api/workflows/waiter/draft").json()["revision"] == 1
    assert client.get("/api/workflows/nope/draft").status_code == 404


def test_problems_come_back_on_save_and_on_publish(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    broken = copy.deepcopy(WAITER)
    broken["steps"].append({"id": "wait", "type": "state.set", "config": {"state": "X"}})
    saved = client.put(
        "/api/workflows/waiter/draft", json={"draft": broken}, headers={"If-Match": '"1"'}
    )
    assert saved.status_code == 200, saved.text  # an invalid draft is still saved
    body = saved.json()
    assert body["valid"] is False
    codes = {p["code"] for p in body["problems"] if p["severity"] == "error"}
    assert codes, body
    shown = client.get("/api/workflows/waiter/draft").json()
    assert shown["valid"] is False and shown["problems"] == body["problems"]
    refused = client.post("/api/workflows/waiter/publish", headers={"If-Match": '"2"'})
    assert refused.status_code == 422 and error_code(refused) == "definition.invalid"
    assert {p["code"] for p in refused.json()["error"]["details"]} >= codes


def test_publish_with_if_match_publishes_only_the_draft_that_was_seen(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    edit = {"draft": _edited("NEW")}
    client.put("/api/workflows/waiter/draft", json=edit, headers={"If-Match": "1"})
    stale = client.post("/api/workflows/waiter/publish", headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and error_code(stale) == "draft.conflict"
    assert client.get("/api/workflows/waiter/versions").json()["items"] == []
    published = client.post("/api/workflows/waiter/publish", headers={"If-Match": '"2"'})
    assert published.status_code == 201, published.text
    version = client.get("/api/workflows/waiter/versions/1").json()
    assert version["definition"]["steps"][0]["config"]["state"] == "NEW"


def test_concurrent_saves_on_one_revision_exactly_one_wins(engine: Engine) -> None:
    engine.create_workflow("waiter", draft=WAITER)
    editors = 6
    barrier = threading.Barrier(editors)
    outcomes: dict[str, Any] = {}

    def save(label: str) -> None:
        barrier.wait()
        try:
            outcomes[label] = engine.save_draft(
                {**_edited(label), "key": "waiter"}, expected_revision=1
            )
        except ConflictError as exc:
            outcomes[label] = exc

    threads = [threading.Thread(target=save, args=(f"E{i}",)) for i in range(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [label for label, result in outcomes.items() if result == 2]
    assert len(outcomes) == editors and len(winners) == 1, outcomes
    losers = [r for r in outcomes.values() if isinstance(r, ConflictError)]
    assert len(losers) == editors - 1
    assert all(r.code == "draft.conflict" and r.details["currentRevision"] == 2 for r in losers)
    draft = engine.get_draft("waiter")
    assert draft["revision"] == 2
    assert draft["draft"]["steps"][0]["config"]["state"] == winners[0]
