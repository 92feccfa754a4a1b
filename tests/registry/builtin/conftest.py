"""Real servers on 127.0.0.1 for the built-in actions: an HTTP server (stdlib, in a thread) and an
SMTP server (aiosmtpd). Both are started per test and stopped by the fixture; nothing else is
contacted."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowpin.registry.builtin.email_send import configure_email_send
from flowpin.registry.builtin.http_request import configure_http_request

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[["Seen"], Reply]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpServer:
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    sni: list[str | None] = field(default_factory=list)
    scheme: str = "http"

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, status: int = 200, body: Any = b"", **headers: str) -> None:
        if isinstance(body, dict | list):
            payload = json.dumps(body).encode()
            headers.setdefault("Content_Type", "application/json")
        else:
            payload = body.encode() if isinstance(body, str) else body
        fixed = {name.replace("_", "-"): value for name, value in headers.items()}
        self.routes[path] = lambda seen: (status, fixed, payload)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.server.state.requests.append(seen)
        route = self.server.state.routes.get(path)
        status, headers, payload = route(seen) if route else (404, {}, b"no route")
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: HttpServer


@pytest.fixture
def http_factory() -> Iterator[Callable[..., HttpServer]]:
    """Start HTTP servers on 127.0.0.1; ``tls=(cert, key)`` makes one HTTPS (recording the
    SNI name each client sent in ``state.sni``)."""
    started: list[tuple[_Server, threading.Thread]] = []

    def start(tls: tuple[Path, Path] | None = None) -> HttpServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = HttpServer(port=server.server_address[1])
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            context.sni_callback = lambda sock, name, ctx: server.state.sni.append(name)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.state.scheme = "https"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append((server, thread))
        return server.state

    try:
        yield start
    finally:
        for server, thread in started:
            server.state.release.set()  # let slow handlers finish
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture
def http_server(http_factory: Callable[..., HttpServer]) -> HttpServer:
    return http_factory()


@pytest.fixture
def allow_loopback() -> Iterator[None]:
    """The test servers are on 127.0.0.1, which http.request and email.send refuse unless
    allowed."""
    previous_http = configure_http_request(allow=["127.0.0.1"])
    previous_smtp = configure_email_send(allow=["127.0.0.1"])
    try:
        yield
    finally:
        configure_http_request(previous_http)
        configure_email_send(previous_smtp)


@pytest.fixture
def no_allow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The default policy: nothing but global addresses."""
    monkeypatch.delenv("FLOWPIN_HTTP_ALLOW", raising=False)
    monkeypatch.delenv("FLOWPIN_SMTP_ALLOW", raising=False)
    previous_http = configure_http_request(allow=[])
    previous_smtp = configure_email_send(allow=[])
    try:
        yield
    finally:
        configure_http_request(previous_http)
        configure_email_send(previous_smtp)


# --------------------------------------------------------------------------- SMTP


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "timeoutMs": 5000,
            **extra,
        }


class _Collect:
    def __init__(self, state: SmtpServer, reject: Callable[[str], str | None]) -> None:
        self.state = state
        self.reject = reject

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        answer = self.reject(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.state.envelopes.append(envelope)
        content = envelope.content.replace(b"\r\n", b"\n")
        self.state.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpServer]]:
    from aiosmtpd.controller import Controller

    controllers: list[Any] = []

    def start(
        *,
        reject: Callable[[str], str | None] = lambda address: None,
        credentials: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> SmtpServer:
        state = SmtpServer("127.0.0.1", _free_port())
        if credentials is not None:

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
            ) -> Any:
                from aiosmtpd.smtp import AuthResult

                login = auth_data.login.decode()
                password = auth_data.password.decode()
                state.logins.append((login, password))
                return AuthResult(success=(login, password) == credentials, handled=False)

            kwargs.update(
                authenticator=authenticator,
                auth_require_tls=False,
                auth_exclude_mechanism=["LOGIN"],  # smtplib and aiosmtpd disagree on it
            )
        controller = Controller(
            _Collect(state, reject), hostname=state.host, port=state.port, **kwargs
        )
        controller.start()
        controllers.append(controller)
        return state

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()


@pytest.fixture
def smtp_server(smtp_factory: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_factory()
