"""API keys of the caller's tenant (admin only): list, create (the key is shown once), revoke.

A revocation takes effect at once in this process (its key cache entry is dropped); other API
processes honour it within their key cache time (``create_app(key_cache_seconds=…)``, 30 s).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from flowpin.api.auth import Admin
from flowpin.api.schemas import KeyBody

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("")
def list_keys(who: Admin) -> dict[str, Any]:
    return {"items": who.engine.list_api_keys()}


@router.post("", status_code=201)
def create(who: Admin, body: KeyBody) -> dict[str, Any]:
    return who.engine.create_api_key(body.role, name=body.name).to_dict()  # type: ignore[no-any-return]


@router.delete("/{key_id}", status_code=204)
def revoke(who: Admin, key_id: str, request: Request) -> Response:
    who.engine.revoke_api_key(key_id)
    request.app.state.key_cache.forget(key_id)
    return Response(status_code=204)
