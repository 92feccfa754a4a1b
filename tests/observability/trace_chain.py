"""The traced scenario of ``test_traces.py``, run in a process of its own (OpenTelemetry's
tracer provider is set once per process, and the other tests must run without one):

    python trace_chain.py DB_URL

sets a provider with an in-memory exporter, serves a loopback HTTP receiver, starts a run of a
workflow calling it through ``POST /api/runs``, works the run, reads it with
``GET /api/runs/{run_id}`` and prints JSON: the run id,
the finished spans and the headers the receiver got."""

from __future__ import annotations

import asyncio
import http.server
import json
import sys
import threading
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def receiver() -> tuple[http.server.ThreadingHTTPServer, list[dict[str, str]]]:
    """A loopback HTTP server that keeps the headers of each request it gets."""
    received: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append({k.lower(): v for k, v in self.headers.items()})
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler), received


def hook(port: int) -> dict[str, Any]:
    return {
        "key": "hook",
        "steps": [
            {"id": "note", "type": "state.set", "config": {"state": "CALLING"}},
            {
                "id": "call",
                "type": "action.call",
                "config": {
                    "actionId": "http.request",
                    "version": 1,
                    "inputMapping": {
                        "url": f"http://127.0.0.1:{port}/hook",
                        "method": "POST",
                        "body": {"hello": "world"},
                    },
                },
            },
        ],
    }


async def ask(app: Any, key: str, method: str, path: str, body: Any = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://flowpin.test") as client:
        return await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {key}"}
        )


def span_json(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace": span.context.trace_id,
        "id": span.context.span_id,
        "parent": span.parent.span_id if span.parent is not None else None,
        "attributes": dict(span.attributes or {}),
    }


def main(db_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from flowpin import Engine
    from flowpin.api import create_app
    from flowpin.registry.builtin.http_request import configure_http_request

    server, received = receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configure_http_request(allow=["127.0.0.1"])
    try:
        with Engine(db_url) as engine:
            engine.publish(hook(server.server_address[1]))
            key = engine.create_api_key("admin").key
            app = create_app(engine)
            response = asyncio.run(
                ask(app, key, "POST", "/api/runs", {"workflow": "hook", "payload": {}})
            )
            assert response.status_code == 201, response.text
            run_id = response.json()["runId"]
            engine.run_worker(until_idle=True)
            read = asyncio.run(ask(app, key, "GET", f"/api/runs/{run_id}"))  # a lean route
            status = read.json()["status"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    spans = [span_json(s) for s in exporter.get_finished_spans()]
    print(json.dumps({"runId": run_id, "status": status, "spans": spans, "received": received}))


if __name__ == "__main__":
    main(sys.argv[1])
