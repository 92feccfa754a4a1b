"""``GET /api/me``: who the presented key is (tenant and role), so a client such as the web UI
can say who is signed in and hide what the role may not do."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowpin.api.auth import Viewer
from flowpin.engine.tenancy import ROLES

router = APIRouter(tags=["meta"])


@router.get("/me")
def me(who: Viewer) -> dict[str, Any]:
    role = who.principal.role
    return {
        "tenant": who.principal.tenant,
        "role": role,
        "keyId": who.principal.key_id,
        "can": {r: who.principal.allows(r) for r in ROLES},
    }
