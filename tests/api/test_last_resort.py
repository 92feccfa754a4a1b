"""The last resort: an exception no handler expected becomes a JSON 500 in the error shape
(``internal.error`` with an incident id that the server log repeats), and behind a real uvicorn
server the keep-alive connection stays usable — before, the client got a plain-text 500 and the
server closed the connection. The failing route is added to the app by the test: no request a
client can make is known to fail (tests/api/test_no_server_errors.py looks for one)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from apikit import Client

from flowpin import Engine
from flowpin.api import create_app
from waiting import wait_until


def _boom() -> None:
    raise RuntimeError("a defect")


@pytest.fixture
def failing_app(engine: Engine) -> Any:
    app = create_app(engine)
    app.add_api_route("/api/boom", _boom, methods=["GET"])
    return app


def _incident(response: httpx.Response) -> str:
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == "internal.error"
    assert error["details"]["incident"] in error["message"]
    return str(error["details"]["incident"])


def test_an_unexpected_exception_is_a_json_500_and_logged(
    failing_app: Any, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(failing_app, keys["viewer"])
    try:
        with caplog.at_level(logging.ERROR, logger="flowpin.api"):
            incident = _incident(client.get("/api/boom"))
        assert client.get("/api/health").status_code == 200
    finally:
        client.close()
    [record] = [r for r in caplog.records if r.name == "flowpin.api"]
    assert incident in record.getMessage() and "GET /api/boom" in record.getMessage()
    assert record.exc_info is not None and "a defect" in str(record.exc_info[1])


@pytest.fixture
def served(failing_app: Any) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(failing_app, host="127.0.0.1", port=0, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the server to start", seconds=20)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(20)


def _local_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def test_the_keep_alive_connection_survives_a_defect_and_a_bad_input(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        first = client.get("/api/boom")
        _incident(first)
        refused = client.post(
            "/api/runs",
            content='{"workflow": "w", "payload": {"a": "\\ud800", "n": NaN}}',
            headers={"Content-Type": "application/json", "Authorization": "Bearer none"},
        )
        assert refused.status_code == 401  # answered in the error shape, on the same connection
        health = client.get("/api/health")
        assert health.status_code == 200
        assert _local_port(first) == _local_port(refused) == _local_port(health)
