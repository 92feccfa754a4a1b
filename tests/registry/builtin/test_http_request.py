"""http.request@1 against a real HTTP server on 127.0.0.1. Addresses that must be refused are
refused before any connection is attempted, so no traffic leaves the machine."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from tls_certs import make_cert

from flowpin.registry import Registry
from flowpin.registry.actions import ActionContext, action_spec
from flowpin.registry.builtin.http_request import configure_http_request, http_request
from flowpin.registry.errors import ActionError, RetryAfter, TargetUnreachable
from flowpin.security.address_policy import address_allowed

SPEC = action_spec(http_request)
assert SPEC is not None


def call(data: dict[str, Any], key: str = "idem-1") -> dict[str, Any]:
    ctx = ActionContext(
        run_id="r", step_id="hook", workflow_key="w", version=1, attempt=1, idempotency_key=key
    )
    output = asyncio.run(SPEC.call(SPEC.validate_input(data), ctx))
    return SPEC.validate_output(output)


def test_registered_as_a_builtin() -> None:
    spec = Registry().action("http.request", 1)
    assert spec is SPEC and spec.is_async and spec.effect == "side_effect"
    schema = spec.input_json_schema()
    assert schema["required"] == ["url"]
    assert {"failOnStatus", "bodyType", "timeoutMs", "idempotencyHeader"} <= set(
        schema["properties"]
    )
    assert Registry(builtins=False).action("http.request", 1) is None


def test_json_post_with_query_headers_and_idempotency_key(http_server, allow_loopback) -> None:
    http_server.route("/hook", 201, {"ok": True, "id": 7}, X_Trace="abc")
    out = call(
        {
            "method": "POST",
            "url": http_server.url("/hook"),
            "headers": {"Authorization": "Bearer s3cret", "X-Count": 3},
            "query": {"page": 2, "tag": ["a", "b"], "flag": True},
            "body": {"ticket": {"id": 1, "subject": "Hi"}},
        }
    )
    assert out["status"] == 201
    assert out["body"] == {"ok": True, "id": 7}
    assert out["headers"]["x-trace"] == "abc"
    assert out["headers"]["content-type"] == "application/json"
    assert out["url"].startswith(f"http://127.0.0.1:{http_server.port}/hook?")
    seen = http_server.requests[0]
    assert seen.method == "POST"
    assert seen.path == "/hook?page=2&tag=a&tag=b&flag=true"
    assert seen.json() == {"ticket": {"id": 1, "subject": "Hi"}}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["authorization"] == "Bearer s3cret"
    assert seen.headers["x-count"] == "3"
    assert seen.headers["idempotency-key"] == "idem-1"
    assert seen.headers["host"] == f"127.0.0.1:{http_server.port}"
    assert seen.headers["user-agent"].startswith("flowpin")


def test_text_bodies_and_text_responses(http_server, allow_loopback) -> None:
    http_server.route("/text", 200, "plain words", Content_Type="text/plain; charset=utf-8")
    out = call({"method": "PUT", "url": http_server.url("/text"), "body": "raw text"})
    assert out["body"] == "plain words"
    seen = http_server.requests[0]
    assert seen.body == b"raw text" and seen.headers["content-type"].startswith("text/plain")
    # a JSON-looking text response stays text in auto mode, and is parsed with responseType json
    http_server.route("/jsonish", 200, '{"a": 1}', Content_Type="text/plain")
    assert call({"url": http_server.url("/jsonish")})["body"] == '{"a": 1}'
    assert call({"url": http_server.url("/jsonish"), "responseType": "json"})["body"] == {"a": 1}
    with pytest.raises(ActionError, match="not JSON"):
        call({"url": http_server.url("/text"), "responseType": "json"})


def test_form_body_and_header_overrides(http_server, allow_loopback) -> None:
    http_server.route("/form", 204)
    out = call(
        {
            "method": "POST",
            "url": http_server.url("/form"),
            "body": {"a": "1 2", "b": ["x", "y"]},
            "bodyType": "form",
            "headers": {"Idempotency-Key": "mine"},
            "idempotencyHeader": "X-Other",
        }
    )
    assert out == {"status": 204, "headers": out["headers"], "body": None, "url": out["url"]}
    seen = http_server.requests[0]
    assert seen.body == b"a=1+2&b=x&b=y"
    assert seen.headers["idempotency-key"] == "mine" and seen.headers["x-other"] == "idem-1"
    call({"url": http_server.url("/form"), "idempotencyHeader": None})
    assert "idempotency-key" not in http_server.requests[1].headers


def test_non_2xx_is_data_unless_fail_on_status(http_server, allow_loopback) -> None:
    http_server.route("/missing", 404, {"error": "nope"})
    http_server.route("/broken", 503, "down")
    http_server.route("/busy", 429, "slow down", Retry_After="7")
    http_server.route("/bad", 400, {"error": "bad"})
    out = call({"url": http_server.url("/missing")})
    assert out["status"] == 404 and out["body"] == {"error": "nope"}

    with pytest.raises(ActionError) as bad:
        call({"url": http_server.url("/bad"), "failOnStatus": True})
    assert not bad.value.retryable and "answered 400" in bad.value.message
    assert bad.value.data["body"] == {"error": "bad"} and bad.value.data["status"] == 400

    with pytest.raises(ActionError) as broken:
        call({"url": http_server.url("/broken"), "failOnStatus": True})
    assert broken.value.retryable and not isinstance(broken.value, RetryAfter)

    with pytest.raises(RetryAfter) as busy:
        call({"url": http_server.url("/busy"), "failOnStatus": True})
    assert busy.value.seconds == 7 and busy.value.retryable


def test_loopback_is_refused_by_default(http_server, no_allow) -> None:
    http_server.route("/hook", 200, "should not be reached")
    for url in (http_server.url("/hook"), f"http://localhost:{http_server.port}/hook"):
        with pytest.raises(TargetUnreachable) as refused:
            call({"url": url})
        assert refused.value.data["reason"] == "unreachable"
        assert "FLOWPIN_HTTP_ALLOW" in refused.value.message
    assert http_server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://240.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[ff02::1]/",
        "http://2130706433/",  # 127.0.0.1 spelled as one number: resolved, then checked
    ],
)
def test_private_link_local_and_multicast_addresses_are_refused(url: str, no_allow) -> None:
    with pytest.raises(TargetUnreachable):
        call({"url": url, "timeoutMs": 2000})


def test_address_policy() -> None:
    allowed = [ipaddress.ip_network("10.0.0.0/8")]
    ip = ipaddress.ip_address
    assert address_allowed(ip("8.8.8.8")) and address_allowed(ip("2001:4860::8888"))
    assert not address_allowed(ip("10.0.0.5"))
    assert address_allowed(ip("10.0.0.5"), allowed)
    assert address_allowed(ip("::ffff:10.0.0.5"), allowed)  # the mapped form of an allowed one
    assert not address_allowed(ip("10.0.0.1"), [ipaddress.ip_network("::/0")])  # v6 only
    assert not address_allowed(ip("2002:a00:1::1"))  # 6to4 around 10.0.0.1
    assert not address_allowed(ip("64:ff9b::a00:1"))  # NAT64 around 10.0.0.1


def test_env_allow_list(http_server, monkeypatch, no_allow) -> None:
    http_server.route("/hook", 200, "ok")
    monkeypatch.setenv("FLOWPIN_HTTP_ALLOW", "10.0.0.0/8, 127.0.0.0/8")
    assert call({"url": http_server.url("/hook")})["body"] == "ok"
    monkeypatch.setenv("FLOWPIN_HTTP_ALLOW", "nonsense")
    with pytest.raises(ActionError, match="not an IP address or network"):
        call({"url": http_server.url("/hook")})


def test_resolved_addresses_are_checked_and_the_connection_is_pinned(
    http_server, allow_loopback
) -> None:
    http_server.route("/hook", 200, "pinned")
    answers: dict[str, list[list[str]]] = {
        "hooks.example.test": [["127.0.0.1"], ["10.9.9.9"]],  # rebinding: 2nd answer is private
        "mixed.example.test": [["10.0.0.1", "127.0.0.1"]],  # only the allowed one is used
        "private.example.test": [["10.0.0.1", "169.254.169.254"]],
    }
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host].pop(0)

    previous = configure_http_request(resolver=resolver)
    try:
        out = call({"url": f"http://hooks.example.test:{http_server.port}/hook"})
        assert out["body"] == "pinned"
        assert asked == ["hooks.example.test"]  # resolved once, connected to the checked IP
        assert http_server.requests[0].headers["host"] == f"hooks.example.test:{http_server.port}"
        assert call({"url": f"http://mixed.example.test:{http_server.port}/hook"})["status"] == 200
        with pytest.raises(TargetUnreachable, match=r"private\.example\.test:80"):
            call({"url": "http://private.example.test/"})
        assert asked == ["hooks.example.test", "mixed.example.test", "private.example.test"]
    finally:
        configure_http_request(previous)


def test_redirects_are_followed_and_rechecked(http_server, allow_loopback) -> None:
    http_server.route("/start", 302, "", Location="/middle")
    http_server.route("/middle", 307, "", Location=http_server.url("/end"))
    http_server.route("/end", 200, {"done": True})
    out = call({"method": "POST", "url": http_server.url("/start"), "body": {"x": 1}})
    assert out["body"] == {"done": True} and out["url"] == http_server.url("/end")
    methods = [(r.method, r.path, r.body) for r in http_server.requests]
    # 302 turns POST into GET without a body; 307 keeps the method (and the empty body)
    assert methods == [
        ("POST", "/start", b'{"x":1}'),
        ("GET", "/middle", b""),
        ("GET", "/end", b""),
    ]

    # a loopback server redirecting to a disallowed address: refused before following
    http_server.route("/evil", 302, "", Location="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(TargetUnreachable, match=r"169\.254\.169\.254:80"):
        call({"url": http_server.url("/evil")})

    # without followRedirects the 3xx is the answer
    out = call({"url": http_server.url("/evil"), "followRedirects": False})
    assert out["status"] == 302
    assert out["headers"]["location"] == "http://169.254.169.254/latest/meta-data/"


def test_redirect_chains_longer_than_five_are_refused(http_server, allow_loopback) -> None:
    for hop in range(7):
        http_server.route(f"/r{hop}", 302, "", Location=f"/r{hop + 1}")
    http_server.route("/r7", 200, "end")
    http_server.route("/five0", 301, "", Location="/r2")  # five0 -> r2 .. r7: 6 redirects
    with pytest.raises(ActionError, match="more than 5 redirects") as too_many:
        call({"url": http_server.url("/r0")})
    assert not too_many.value.retryable
    assert len(http_server.requests) == 6  # r0..r5 answered, r6 never asked
    http_server.requests.clear()
    assert call({"url": http_server.url("/r2")})["body"] == "end"  # exactly 5 redirects


def test_timeout(http_server, allow_loopback) -> None:
    def slow(seen: Any) -> tuple[int, dict[str, str], bytes]:
        http_server.release.wait(5)
        return 200, {}, b"late"

    http_server.routes["/slow"] = slow
    with pytest.raises(ActionError, match="timed out after 200 ms") as timed_out:
        call({"url": http_server.url("/slow"), "timeoutMs": 200})
    assert timed_out.value.retryable and timed_out.value.data["reason"] == "timeout"


def test_connection_errors_are_retryable(allow_loopback) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TargetUnreachable, match=rf"cannot reach 127\.0\.0\.1:{port}") as failed:
        call({"url": f"http://127.0.0.1:{port}/"})
    assert failed.value.retryable


def test_bad_urls_and_response_limit(http_server, allow_loopback) -> None:
    with pytest.raises(ActionError, match="scheme must be http or https"):
        call({"url": "file:///etc/passwd"})
    with pytest.raises(ActionError, match="no host"):
        call({"url": "http:///x"})
    http_server.route("/big", 200, "x" * 5000)
    with pytest.raises(ActionError, match="larger than maxResponseBytes"):
        call({"url": http_server.url("/big"), "maxResponseBytes": 1000})
    with pytest.raises(Exception, match="extra"):
        SPEC.validate_input({"url": "http://a", "fail_on_status_typo": True})
    with pytest.raises(Exception, match="line break"):
        SPEC.validate_input({"url": "http://a", "headers": {"X-A": "1\r\nX-Injected: 1"}})
    with pytest.raises(Exception, match="not a valid header name"):
        SPEC.validate_input({"url": "http://a", "headers": {"X A": "1"}})
    with pytest.raises(Exception, match="pattern"):
        SPEC.validate_input({"url": "http://a", "idempotencyHeader": "Bad Header"})


def test_https_keeps_sni_and_certificate_checks_on_the_host_name(http_factory, tmp_path) -> None:
    """The connection is pinned to the checked IP, yet TLS speaks to the name: the server sees
    the name as SNI and the certificate (made for the name only) verifies."""
    cert, key = make_cert(tmp_path, "DNS:hooks.example.test")
    server = http_factory(tls=(cert, key))
    server.route("/hook", 200, {"secure": True})
    previous = configure_http_request(
        allow=["127.0.0.1"],
        resolver=lambda host, port: {"hooks.example.test": ["127.0.0.1"]}[host],
        verify=str(cert),
    )
    try:
        out = call({"url": server.url("/hook", host="hooks.example.test")})
        assert out["body"] == {"secure": True}
        assert server.sni == ["hooks.example.test"]
        assert server.requests[0].headers["host"] == f"hooks.example.test:{server.port}"
        # the same server by IP: the certificate does not name the IP, so TLS refuses it
        with pytest.raises(ActionError, match="does not verify") as unverified:
            call({"url": server.url("/hook")})
        assert not unverified.value.retryable
        assert len(server.requests) == 1
    finally:
        configure_http_request(previous)
