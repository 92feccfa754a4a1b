"""``http.request@1``: the built-in webhook action (SPEC §8), on httpx.

Input (``inputMapping`` of an ``action.call`` step; values arrive resolved from the run)::

    {"method": "POST",                      # GET (default), HEAD, POST, PUT, PATCH, DELETE, OPTIONS
     "url": "https://hooks.example.com/x",  # http or https
     "headers": {"Authorization": {"$secret": "HOOK_TOKEN"}},  # strings, numbers, booleans
     "query": {"page": 2, "tag": ["a", "b"]},
     "body": {"id": {"$expr": "payload.id"}},                  # any JSON value
     "bodyType": "json",        # json | text | form; default: text for a string body, else json
     "responseType": "auto",    # auto (JSON when the response says so, else text) | json | text
     "failOnStatus": false,     # true: a non-2xx response fails the step (see below)
     "followRedirects": true,   # at most 5 hops, every hop checked like the first
     "timeoutMs": 10000,        # the whole request, redirects included
     "maxResponseBytes": 1048576,
     "idempotencyHeader": "Idempotency-Key"}  # null: do not forward the idempotency key

Output: ``{"status": 200, "headers": {"content-type": "…"}, "body": <JSON or text>,
"url": "<final URL>"}``. Header names are lower case; repeated headers are joined by ``", "``.
``body`` is null for an empty response (and for HEAD); other non-JSON content is decoded as
text with the response's charset (UTF-8 by default, undecodable bytes replaced).

A non-2xx response is data (the output above) unless ``failOnStatus`` is true; then the step
fails with an ``ActionError`` whose ``data`` is that output, retryable for 408, 429 and 5xx,
and a ``RetryAfter`` when such a response carries a ``Retry-After`` header (seconds or an HTTP
date; capped at one day). An unreachable target (see below), a dropped connection and a
timeout are retryable ActionErrors; a bad URL, too many redirects or a response over
``maxResponseBytes`` are not. Whether a retryable failure is retried is the step's ``retry``
policy (the action declares none by default).

The call's idempotency key (SPEC §4.5) is sent as ``Idempotency-Key`` unless the request sets
that header itself or ``idempotencyHeader`` is null/renamed.

**Address policy (SSRF).** Every hop goes through ``flowpin.security.address_policy``: the
URL's host is resolved once, only allowed addresses are used (global unicast ones, or those in
``FLOWPIN_HTTP_ALLOW`` - comma-separated addresses or CIDR networks, e.g.
``127.0.0.1,10.0.0.0/8``, read at call time - or ``configure_http_request(allow=[...])``), and a
refused address, a name that does not resolve, a closed port and one that does not answer
before the connection is made all fail with the same retryable ``TargetUnreachable``
(``data.reason`` ``"unreachable"``); the server log says which it was.

**Pinning (DNS rebinding).** The connection goes to the address that was checked; the name is
never resolved a second time. The request URL is rewritten to that IP literal while the ``Host``
header keeps the original host, and for https the TLS SNI and certificate check use the original
host name (httpcore's ``sni_hostname`` request extension), so virtual hosting and certificate
verification behave as if the name had been used. Every hop gets a fresh client (no connection
reused across hosts), environment proxies are ignored (``trust_env=False``: a proxy would resolve
the name itself), and redirects are followed by hand: each ``Location`` is resolved and checked
like the first URL, at most 5 hops; 301/302/303 turn into GET without a body (HEAD stays HEAD),
307/308 repeat the method and body; credentials (``Authorization``, ``Cookie``) and an explicit
``Host`` header are dropped when a redirect leaves the origin.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowpin.registry.actions import ActionContext, action
from flowpin.registry.errors import ActionError, RetryAfter, TargetUnreachable
from flowpin.security.address_policy import (
    Address,
    AddressPolicy,
    AllowListInvalid,
    Network,
    Resolver,
    Unreachable,
    address_allowed,
    ip_literal,
    parse_network,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ALLOW_ENV",
    "AddressNotAllowed",
    "HttpRequestInput",
    "HttpRequestSettings",
    "HttpResponse",
    "address_allowed",
    "configure_http_request",
    "http_request",
    "http_request_settings",
]

ALLOW_ENV = "FLOWPIN_HTTP_ALLOW"
MAX_REDIRECTS = 5
MAX_RETRY_AFTER_SECONDS = 86_400.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUSES = frozenset({408, 429})
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "host"})
"""Dropped when a redirect leaves the origin."""

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class HttpRequestSettings:
    """Process-wide configuration of ``http.request`` (see ``configure_http_request``)."""

    allow: tuple[Network, ...] = ()
    """Networks allowed although not global (added to ``FLOWPIN_HTTP_ALLOW``)."""
    resolver: Resolver | None = None
    """Replaces the system resolver (``getaddrinfo``); tests map names to loopback with it."""
    verify: bool | str | ssl.SSLContext = True
    """TLS verification: True (system/certifi CAs), False, a CA bundle path or an SSLContext."""
    max_redirects: int = MAX_REDIRECTS
    user_agent: str = "flowpin-http-request/1"

    def policy(self) -> AddressPolicy:
        """The address policy of a call: these networks and resolver plus
        ``FLOWPIN_HTTP_ALLOW``."""
        return AddressPolicy("http.request", ALLOW_ENV, allow=self.allow, resolver=self.resolver)

    def allowed(self, address: Address) -> bool:
        return self.policy().allowed(address)


_settings = HttpRequestSettings()


def configure_http_request(
    settings: HttpRequestSettings | None = None,
    *,
    allow: Iterable[str] | None = None,
    resolver: Resolver | None = None,
    verify: bool | str | ssl.SSLContext | None = None,
) -> HttpRequestSettings:
    """Set the process-wide settings of ``http.request``; returns the previous ones (pass them
    back to restore). ``allow``: addresses or CIDR networks (``["127.0.0.1", "10.0.0.0/8"]``)."""
    global _settings
    previous = _settings
    new = settings if settings is not None else previous
    changes: dict[str, Any] = {}
    if allow is not None:
        changes["allow"] = tuple(parse_network(entry, "allow") for entry in allow)
    if resolver is not None:
        changes["resolver"] = resolver
    if verify is not None:
        changes["verify"] = verify
    _settings = replace(new, **changes) if changes else new
    return previous


def http_request_settings() -> HttpRequestSettings:
    """The settings a call uses now (``FLOWPIN_HTTP_ALLOW`` is read by their ``policy()``)."""
    return _settings


AddressNotAllowed = TargetUnreachable
"""The former name of the error for a refused address (now one error for every unreachable
target)."""


# --------------------------------------------------------------------------- models


Scalar = str | int | float | bool
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
"""An HTTP header name (RFC 9110 token)."""


class HttpRequestInput(BaseModel):
    """Input of ``http.request@1``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str = Field(min_length=1, max_length=8192)
    headers: dict[str, Scalar] = Field(default_factory=dict)
    query: dict[str, Scalar | list[Scalar] | None] = Field(default_factory=dict)
    body: Any = None
    body_type: Literal["json", "text", "form"] | None = Field(None, alias="bodyType")
    response_type: Literal["auto", "json", "text"] = Field("auto", alias="responseType")
    fail_on_status: bool = Field(False, alias="failOnStatus")
    follow_redirects: bool = Field(True, alias="followRedirects")
    timeout_ms: int = Field(10_000, alias="timeoutMs", ge=1, le=600_000)
    max_response_bytes: int = Field(1_048_576, alias="maxResponseBytes", ge=0, le=64 * 1_048_576)
    idempotency_header: str | None = Field(
        "Idempotency-Key", alias="idempotencyHeader", pattern=_TOKEN.pattern
    )

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if isinstance(text, str) and any(c in text for c in "\r\n\0"):
                raise ValueError(f"header {name!r} may not contain a line break or NUL")
        return value


class HttpResponse(BaseModel):
    """Output of ``http.request@1``."""

    status: int
    headers: dict[str, str]
    body: Any = None
    url: str


# --------------------------------------------------------------------------- the action


@action(
    "http.request",
    version=1,
    effect="side_effect",
    description="Send an HTTP request (webhook) and return the response as data.",
)
async def http_request(data: HttpRequestInput, ctx: ActionContext) -> HttpResponse:
    """Send an HTTP request (webhook) and return the response as data."""
    import httpx

    settings = http_request_settings()
    url = _parse_url(data.url)
    headers = {name: _header_value(value) for name, value in data.headers.items()}
    lower = {name.lower() for name in headers}
    if data.idempotency_header and data.idempotency_header.lower() not in lower:
        headers[data.idempotency_header] = ctx.idempotency_key
    if "user-agent" not in lower:
        headers["User-Agent"] = settings.user_agent
    if ctx.traceparent and "traceparent" not in lower:
        headers["traceparent"] = ctx.traceparent  # the run's trace goes on (W3C Trace Context)
    content, body_headers = _encode_body(data)
    for name, value in body_headers.items():
        if name.lower() not in lower:
            headers[name] = value
    url = url.copy_merge_params(_query(data.query)) if data.query else url
    method = data.method
    deadline = time.monotonic() + data.timeout_ms / 1000
    hop = _Hop(settings.policy())
    try:
        async with asyncio.timeout(data.timeout_ms / 1000):
            hops = 0
            while True:
                response, raw = await _send_pinned(
                    method, url, headers, content, settings, data, deadline, hop
                )
                location = response.headers.get("location")
                if not (
                    data.follow_redirects
                    and response.status_code in _REDIRECT_STATUSES
                    and location
                ):
                    break
                hops += 1
                if hops > settings.max_redirects:
                    raise ActionError(
                        f"http.request: more than {settings.max_redirects} redirects "
                        f"(last from {_show(url)})",
                        data={"reason": "too_many_redirects", "url": _show(url)},
                    )
                target = _parse_url(str(url.join(location)))
                if response.status_code in (301, 302, 303) and method != "HEAD":
                    method, content = "GET", None
                    headers = {
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in ("content-type", "content-length")
                    }
                if _origin(target) != _origin(url):
                    headers = {
                        k: v for k, v in headers.items() if k.lower() not in _SENSITIVE_HEADERS
                    }
                url = target
    except (TimeoutError, httpx.TimeoutException):
        if not hop.connected:
            raise hop.unreachable(f"connect timed out after {data.timeout_ms} ms") from None
        raise ActionError(
            f"http.request: {data.method} {_show(url)} timed out after {data.timeout_ms} ms",
            retryable=True,
            data={"reason": "timeout", "url": _show(url)},
        ) from None
    result = HttpResponse(
        status=response.status_code,
        headers=_headers_out(response.headers),
        body=_decode_body(response, raw, data),
        url=_show(url),
    )
    if data.fail_on_status and not 200 <= result.status < 300:
        _fail_on_status(result, data)
    return result


@dataclass
class _Hop:
    """Where the current hop is: its target, and whether a TCP connection was made (until
    then, any failure is the one ``Unreachable`` of the address policy)."""

    policy: AddressPolicy
    host: str = ""
    port: int = 0
    connected: bool = False

    def unreachable(self, reason: str) -> TargetUnreachable:
        return _unreachable(self.policy.unreachable(self.host, self.port, reason))


def _unreachable(exc: Unreachable) -> TargetUnreachable:
    return TargetUnreachable(exc.message, retryable=True, data=exc.details)


async def _send_pinned(
    method: str,
    url: httpx.URL,
    headers: dict[str, str],
    content: bytes | None,
    settings: HttpRequestSettings,
    data: HttpRequestInput,
    deadline: float,
    hop: _Hop,
) -> tuple[httpx.Response, bytes]:
    """Resolve ``url``'s host once, keep the allowed addresses, then connect to one of them
    with the original Host header and SNI. Returns the response and its (capped) body."""
    import httpx

    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    hop.host, hop.port, hop.connected = host, port, False
    try:
        addresses = await hop.policy.addresses(host, port)
    except Unreachable as exc:
        raise _unreachable(exc) from None
    except AllowListInvalid as exc:
        raise ActionError(exc.message, data={"reason": "configuration"}) from None
    request_headers = dict(headers)
    if not any(name.lower() == "host" for name in request_headers):
        request_headers["Host"] = url.netloc.decode("ascii")

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            hop.connected = True

    extensions: dict[str, Any] = {"trace": trace}
    if url.scheme == "https" and not _is_ip_literal(host):
        extensions["sni_hostname"] = host
    failures: list[str] = []
    for address in addresses:
        pinned = url.copy_with(host=str(address))
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            async with httpx.AsyncClient(
                verify=_ssl_context(settings.verify),
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(remaining),
            ) as client:
                request = client.build_request(
                    method, pinned, headers=request_headers, content=content, extensions=extensions
                )
                response = await client.send(request, stream=True)
                try:
                    raw = await _read_capped(response, data.max_response_bytes, url)
                finally:
                    await response.aclose()
                return response, raw
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if not hop.connected:  # refused or not answering: try the next checked address
                failures.append(f"{address}: {_describe(exc)}")
                continue
            if _caused_by(exc, ssl.SSLCertVerificationError):
                raise ActionError(
                    f"http.request: the TLS certificate of {host} does not verify: "
                    f"{_describe(exc)}",
                    data={"reason": "tls", "url": _show(url)},
                ) from None
            raise ActionError(
                f"http.request: TLS with {host} failed: {_describe(exc)}",
                retryable=True,
                data={"reason": "tls", "url": _show(url)},
            ) from None
        except httpx.TimeoutException:
            raise
        except httpx.TransportError as exc:
            raise ActionError(
                f"http.request: {method} {_show(url)} failed: {_describe(exc)}",
                retryable=True,
                data={"reason": "connection", "url": _show(url)},
            ) from None
    raise hop.unreachable("; ".join(failures))


async def _read_capped(response: httpx.Response, limit: int, url: httpx.URL) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ActionError(
                f"http.request: the response of {_show(url)} is larger than "
                f"maxResponseBytes ({limit})",
                data={"reason": "response_too_large", "url": _show(url)},
            )
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- helpers


def _parse_url(text: str) -> httpx.URL:
    import httpx

    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ActionError(f"http.request: invalid URL {text!r}: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise ActionError(
            f"http.request: URL scheme must be http or https, not {url.scheme!r}",
            data={"reason": "invalid_url"},
        )
    if not url.host:
        raise ActionError(f"http.request: URL {text!r} has no host", data={"reason": "invalid_url"})
    return url


def _show(url: httpx.URL) -> str:
    """The URL without credentials (never put userinfo in history)."""
    return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    return url.scheme, url.raw_host, url.port


def _is_ip_literal(host: str) -> bool:
    return ip_literal(host) is not None


def _header_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query(query: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, "" if item is None else _header_value(item)))
    return pairs


def _encode_body(data: HttpRequestInput) -> tuple[bytes | None, dict[str, str]]:
    if data.body is None and data.body_type is None:
        return None, {}
    kind = data.body_type or ("text" if isinstance(data.body, str) else "json")
    if kind == "text":
        if not isinstance(data.body, str):
            raise ActionError("http.request: bodyType 'text' needs a string body")
        return data.body.encode(), {"Content-Type": "text/plain; charset=utf-8"}
    if kind == "form":
        from urllib.parse import urlencode

        if not isinstance(data.body, dict):
            raise ActionError("http.request: bodyType 'form' needs an object body")
        encoded = urlencode(_query(data.body))
        return encoded.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    import orjson

    return orjson.dumps(data.body), {"Content-Type": "application/json"}


def _decode_body(response: httpx.Response, raw: bytes, data: HttpRequestInput) -> Any:
    if data.method == "HEAD" or not raw:
        return None
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if data.response_type == "json" or (data.response_type == "auto" and is_json):
        if not raw.strip():
            return None
        import orjson

        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            if data.response_type == "json":
                raise ActionError(
                    f"http.request: the response of {_show(response.request.url)} is not JSON",
                    data={"reason": "invalid_json", "status": response.status_code},
                ) from None
    encoding = response.charset_encoding or "utf-8"
    try:
        return raw.decode(encoding, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _headers_out(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _fail_on_status(result: HttpResponse, data: HttpRequestInput) -> None:
    status = result.status
    retryable = status >= 500 or status in _RETRYABLE_STATUSES
    payload = result.model_dump(mode="json")
    message = f"http.request: {data.method} {result.url} answered {status}"
    if retryable:
        delay = _retry_after(result.headers.get("retry-after"))
        if delay is not None:
            raise RetryAfter(delay, f"{message} (Retry-After {delay:g} s)", data=payload)
    raise ActionError(message, retryable=retryable, data=payload)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


@lru_cache(maxsize=8)
def _cached_ssl_context(
    verify: bool | str, cert_file: str | None = None, cert_dir: str | None = None
) -> ssl.SSLContext | bool:
    import httpx

    if verify is False:
        return False
    if verify is True:
        return httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
    return ssl.create_default_context(cafile=verify)


def _ssl_context(verify: bool | str | ssl.SSLContext) -> ssl.SSLContext | bool:
    if isinstance(verify, ssl.SSLContext):
        return verify
    # keyed on SSL_CERT_FILE / SSL_CERT_DIR, which the default context honours
    return _cached_ssl_context(
        verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    )


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
