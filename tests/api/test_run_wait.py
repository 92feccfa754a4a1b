"""``GET /api/runs/{id}?wait=5s``: a read right after a start or an event shows what the worker
made of it (the README's walk-through relies on it), through a real ``flowpin serve``."""

from __future__ import annotations

from pathlib import Path

from apikit import WAITER

from servekit import flowpin_serve


def test_wait_returns_once_the_run_has_nothing_to_do(tmp_path: Path) -> None:
    with flowpin_serve(f"sqlite:///{tmp_path / 'w.db'}") as http:
        http.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
        http.post("/api/workflows/waiter/publish")
        run_id = http.post("/api/runs", json={"workflow": "waiter", "subject": "s-1"}).json()[
            "runId"
        ]
        parked = http.get(f"/api/runs/{run_id}", params={"wait": "20s"}).json()
        assert parked["status"] == "WAITING"
        assert parked["state"]["meta"]["state"] == "WAITING_FOR_GO"

        http.post("/api/events", json={"name": "go", "key": "s-1", "payload": {"by": "Grace"}})
        done = http.get(f"/api/runs/{run_id}", params={"wait": "20000ms"}).json()
        assert done["status"] == "SUCCEEDED"
        assert done["output"] == {"by": "Grace"}


def test_wait_refuses_what_is_not_a_duration_and_unknown_runs(tmp_path: Path) -> None:
    with flowpin_serve(f"sqlite:///{tmp_path / 'w.db'}") as http:
        bad = http.get("/api/runs/nope", params={"wait": "soon"})
        assert 400 <= bad.status_code < 500
        assert set(bad.json()["error"]) >= {"code", "message"}
        missing = http.get("/api/runs/nope", params={"wait": "2s"})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "run.not_found"
