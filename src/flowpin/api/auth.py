"""``Authorization: Bearer <key>`` → the key's tenant and role, and an Engine view of that
tenant (``engine.for_tenant``: shared database and workers, nothing created per request).

Resolved keys are cached for a short time (hash → principal) so a busy client costs one
indexed lookup per ``ttl`` seconds, not one per request. A revocation made in this process
(``DELETE /api/keys/{id}``, or ``Engine.revoke_api_key`` on the engine the app serves) empties the
cache at once; one made by another process (``flowpin keys revoke``, another API server) is
honoured here within ``ttl`` (``create_app(key_cache_seconds=…)``, 30 s by default; 0 disables
the cache).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from flowpin.api.errors import ApiError
from flowpin.engine.tenancy import Principal, hash_key


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    engine: Any

    @property
    def tenant(self) -> str:
        return self.principal.tenant


class KeyCache:
    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._epoch = 0

    def get(self, digest: str, epoch: int = 0) -> Principal | None:
        """The cached principal, unless expired or a key was revoked since (``epoch``: the
        engine's revocation count)."""
        with self._lock:
            if epoch != self._epoch:
                self._items.clear()
                self._epoch = epoch
            item = self._items.get(digest)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[digest] = (time.monotonic() + self.ttl, principal)

    def forget(self, key_id: str) -> None:
        """Drop the cached entry of a key (it was revoked)."""
        with self._lock:
            self._items = {d: item for d, item in self._items.items() if item[1].key_id != key_id}


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError("missing Authorization: Bearer <key>", code="auth.missing")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError("Authorization must be 'Bearer <key>'", code="auth.invalid")
    return key.strip()


async def caller(request: Request) -> Caller:
    """Async, so a cached key costs no hop to a worker thread; only a lookup in the database
    (a key not seen within ``ttl``) runs on one."""
    key = _bearer(request)
    state = request.app.state
    digest = hash_key(key)
    epoch = state.engine.key_epoch
    principal = state.key_cache.get(digest, epoch)
    if principal is None:
        principal = await run_in_threadpool(state.engine.authenticate, key)
        if principal is None:
            raise ApiError("unknown or revoked API key", code="auth.invalid")
        state.key_cache.put(digest, principal)
    return Caller(principal, state.engine.for_tenant(principal.tenant))


class Role(HTTPBearer):
    """The dependency giving the Caller when its key's role is at least ``role``.

    It is the ``bearer`` security scheme itself (an ``HTTPBearer``, so FastAPI declares the
    scheme on every operation using it: Swagger UI's Authorize button) rather than a function
    depending on one: each level of FastAPI's dependency solving costs every request (~0.2 ms
    measured on ``GET /api/runs/{id}``). The header is read by ``_bearer`` for flowpin's own
    error codes, not by ``HTTPBearer``."""

    def __init__(self, role: str) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="bearer",
            description="An API key: `Authorization: Bearer fp_…` (`flowpin keys create`).",
        )
        self.role = role

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        who = await caller(request)
        if not who.principal.allows(self.role):
            raise ApiError(
                f"this needs the {self.role!r} role; the key has {who.principal.role!r}",
                code="auth.forbidden",
            )
        return who


VIEWER, EDITOR, ADMIN = Role("viewer"), Role("editor"), Role("admin")
"""The role checks, also called directly by the lean routes (``api.lean``)."""
Viewer = Annotated[Caller, Depends(VIEWER)]
Editor = Annotated[Caller, Depends(EDITOR)]
Admin = Annotated[Caller, Depends(ADMIN)]


class RateLimiter:
    """A token bucket per tenant: ``rate`` per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str, cost: float = 1.0) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(tenant, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < cost:
                self._buckets[tenant] = (tokens, now)
                wait = (cost - tokens) / self.rate
                raise ApiError(
                    f"more than {self.rate:g} events per second for this tenant",
                    code="limit.rate",
                    details={"retryAfterSeconds": round(wait, 3)},
                )
            self._buckets[tenant] = (tokens - cost, now)
