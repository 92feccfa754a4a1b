"""Secrets (admin only): store encrypted, list and describe by name, delete. A value is never
returned."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from flowpin.api.auth import Admin
from flowpin.api.schemas import SecretBody

router = APIRouter(prefix="/secrets", tags=["secrets"])


@router.get("")
def list_secrets(who: Admin) -> dict[str, Any]:
    return {"items": who.engine.list_secrets()}


@router.get("/{name}")
def describe(who: Admin, name: str) -> dict[str, Any]:
    return who.engine.get_secret_info(name)


@router.put("/{name}")
def put(who: Admin, name: str, body: SecretBody, response: Response) -> dict[str, Any]:
    created = who.engine.put_secret(name, body.value)
    response.status_code = 201 if created else 200
    return who.engine.get_secret_info(name)


@router.delete("/{name}", status_code=204)
def delete(who: Admin, name: str) -> Response:
    who.engine.delete_secret(name)
    return Response(status_code=204)
