"""The operations console's runs screen through HTTP: filters (subject search, several
statuses), keyset paging, counts per status and bulk cancel with a confirmed count."""

from __future__ import annotations

from apikit import TASKER, WAITER, Client, error_code

from flowpin import Engine


def _publish(client: Client, definition: dict) -> None:
    key = definition["key"]
    assert client.post("/api/workflows", json={"key": key, "draft": definition}).status_code == 201
    assert client.post(f"/api/workflows/{key}/publish").status_code == 201


def _start(client: Client, workflow: str, subject: str) -> str:
    response = client.post("/api/runs", json={"workflow": workflow, "subject": subject})
    assert response.status_code == 201, response.text
    return str(response.json()["runId"])


def _ids(client: Client, **params: object) -> set[str]:
    response = client.get("/api/runs", params=params)
    assert response.status_code == 200, response.text
    return {item["runId"] for item in response.json()["items"]}


def test_search_statuses_counts_and_paging(client: Client, engine: Engine) -> None:
    _publish(client, WAITER)
    _publish(client, TASKER)
    ann = _start(client, "waiter", "Ann.Lee@Example.com")
    bob = _start(client, "waiter", "bob@example.com")
    task = _start(client, "approve", "ticket-100_a")
    engine.run_worker(until_idle=True)
    client.post(f"/api/runs/{bob}/cancel")

    assert _ids(client, search="ann.lee") == {ann}  # any case, part of the subject
    assert _ids(client, search="EXAMPLE.COM") == {ann, bob}
    assert _ids(client, search=task) == {task}  # a whole run id
    assert _ids(client, search="100_") == {task} and _ids(client, search="%") == set()
    assert _ids(client, status="waiting,canceled") == {ann, bob, task}
    assert _ids(client, status="active") == {ann, task}
    assert _ids(client, status="active", step="ask") == {task}
    assert _ids(client, parent=task) == set()
    bad = client.get("/api/runs", params={"status": "asleep"})
    assert bad.status_code == 400 and error_code(bad) == "request.bad_status"

    counts = client.get("/api/runs/counts").json()
    assert counts["counts"]["WAITING"] == 2 and counts["counts"]["CANCELED"] == 1
    assert counts["counts"]["SUCCEEDED"] == 0 and counts["total"] == 3
    waiter = client.get("/api/runs/counts", params={"workflow": "waiter", "status": "x"})
    assert waiter.json()["counts"]["WAITING"] == 1 and waiter.json()["total"] == 2
    assert client.get("/api/runs/counts", params={"search": "ann"}).json()["total"] == 1

    more = {_start(client, "waiter", f"page-{n}") for n in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2, "search": "page-"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/runs", params=params).json()
        seen += [item["runId"] for item in page["items"]]
        _start(client, "waiter", "page-late")  # a run added meanwhile shifts no page
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert set(seen) == more and len(seen) == 5
    anonymous = Client(client.app)
    assert anonymous.get("/api/runs/counts").status_code == 401
    anonymous.close()


def test_bulk_cancel_counts_first_then_cancels_what_was_confirmed(
    client: Client, engine: Engine, keys: dict[str, str]
) -> None:
    _publish(client, WAITER)
    stuck = [_start(client, "waiter", f"stuck-{n}") for n in range(3)]
    keep = _start(client, "waiter", "keep-me")
    engine.run_worker(until_idle=True)
    client.post(f"/api/runs/{stuck[0]}/cancel")  # already canceled: not counted again

    preview = client.post(
        "/api/runs/cancel", json={"workflow": "waiter", "search": "stuck", "dryRun": True}
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["matching"] == 2 and preview.json()["canceled"] == 0
    assert client.get(f"/api/runs/{stuck[1]}").json()["status"] == "WAITING"

    changed = client.post("/api/runs/cancel", json={"search": "stuck", "expectedCount": 1})
    assert changed.status_code == 409 and error_code(changed) == "runs.count_changed"
    assert changed.json()["error"]["details"] == {"matching": 2, "expected": 1}

    editor = client.as_key(keys["editor"])
    refused = editor.post("/api/runs/cancel", json={"search": "stuck"})
    assert refused.status_code == 403
    done = client.post("/api/runs/cancel", json={"search": "stuck", "expectedCount": 2})
    assert done.status_code == 200, done.text
    assert done.json()["canceled"] == 2 and set(done.json()["runIds"]) == set(stuck[1:])
    assert done.json()["remaining"] == 0
    statuses = {run_id: client.get(f"/api/runs/{run_id}").json()["status"] for run_id in stuck}
    assert set(statuses.values()) == {"CANCELED"}
    assert client.get(f"/api/runs/{keep}").json()["status"] == "WAITING"
    steps = client.get(f"/api/runs/{stuck[1]}").json()
    assert steps["waitingFor"] == []
    other = client.as_key(keys["other"])  # another tenant's filter reaches none of these
    assert other.post("/api/runs/cancel", json={"dryRun": True}).json()["matching"] == 0
    bad = client.post("/api/runs/cancel", json={"status": "nope", "dryRun": True})
    assert bad.status_code == 400


def test_children_of_a_run(client: Client, engine: Engine) -> None:
    _publish(client, WAITER)
    caller = {
        "key": "caller",
        "steps": [
            {
                "id": "call",
                "type": "control.callWorkflow",
                "workflowKey": "waiter",
                "version": "latest",
                "inputMapping": {"n": 1},
            }
        ],
    }
    _publish(client, caller)
    parent = _start(client, "caller", "p-1")
    engine.run_worker(until_idle=True)
    children = client.get("/api/runs", params={"parent": parent}).json()["items"]
    assert [c["workflow"] for c in children] == ["waiter"]
    assert children[0]["parentRunId"] == parent
    waiting = client.get(f"/api/runs/{parent}").json()["waitingFor"]
    assert waiting[0]["childRunId"] == children[0]["runId"]
