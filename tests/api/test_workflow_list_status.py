"""The workflows list says, per workflow, whether the draft has changes that are not published
and when the latest version was published (the web UI's workflows list shows both)."""

from __future__ import annotations

from typing import Any

from apikit import WAITER, Client


def _listed(client: Client) -> dict[str, Any]:
    items = client.get("/api/workflows").json()["items"]
    return next(item for item in items if item["key"] == "waiter")


def test_draft_changed_follows_saves_and_publishes(client: Client) -> None:
    assert client.post("/api/workflows", json={"key": "waiter", "draft": WAITER}).is_success
    fresh = _listed(client)
    assert (fresh["draftChanged"], fresh["latestVersion"], fresh["lastPublishedAt"]) == (
        True,
        None,
        None,
    )

    assert client.post("/api/workflows/waiter/publish").status_code == 201
    published = _listed(client)
    assert published["draftChanged"] is False
    assert published["latestVersion"] == 1 and published["lastPublishedAt"]

    draft = client.get("/api/workflows/waiter/draft").json()
    edited = {**draft["draft"], "name": "Waits for go, renamed"}
    saved = client.put(
        "/api/workflows/waiter/draft", json={"draft": edited, "expectedRevision": draft["revision"]}
    ).json()
    assert _listed(client)["draftChanged"] is True

    client.put(
        "/api/workflows/waiter/draft",
        json={"draft": draft["draft"], "expectedRevision": saved["revision"]},
    )
    assert _listed(client)["draftChanged"] is False
