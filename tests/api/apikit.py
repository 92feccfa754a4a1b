"""Helpers for the API tests: sample definitions and a synchronous client that talks to the app
through ``httpx.ASGITransport`` (no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

WAITER = {
    "key": "waiter",
    "name": "Waits for go",
    "payloadSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    "steps": [
        {"id": "mark", "type": "state.set", "config": {"state": "WAITING_FOR_GO"}},
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go", "saveAs": "vars.go"}},
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.go"}},
    ],
}

TASKER = {
    "key": "approve",
    "name": "Asks a person",
    "steps": [
        {
            "id": "ask",
            "type": "human.task",
            "config": {
                "title": "Approve?",
                "formSchema": {
                    "type": "object",
                    "required": ["ok"],
                    "properties": {"ok": {"type": "boolean"}},
                },
                "saveAs": "vars.answer",
            },
        },
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.answer"}},
    ],
}


class Client:
    """Synchronous calls into the ASGI app, with one event loop for the whole test."""

    def __init__(self, app: Any, key: str | None = None) -> None:
        self.app = app
        self.key = key
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://flowpin.test"
        )

    def as_key(self, key: str | None) -> Client:
        other = Client.__new__(Client)
        other.__dict__.update(self.__dict__)
        other.key = key
        return other

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.key is not None:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return self._loop.run_until_complete(
            self._client.request(method, url, headers=headers, **kwargs)
        )

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return str(body["error"]["code"])
