"""API keys through HTTP (admin only), and revocation: at once in the process that revoked the
key, within the key cache time in any other."""

from __future__ import annotations

from typing import Any

from apikit import Client, error_code

from flowpin import Engine
from flowpin.api import create_app


def test_keys_are_listed_created_and_revoked_by_admins(
    client: Client, keys: dict[str, str]
) -> None:
    created = client.post("/api/keys", json={"role": "viewer", "name": "dashboard"})
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["role"] == "viewer" and new["key"].startswith("fp_")
    listed = client.get("/api/keys").json()["items"]
    assert new["keyId"] in {k["keyId"] for k in listed}
    assert all("key" not in k for k in listed)  # shown once, at creation
    assert client.as_key(keys["editor"]).get("/api/keys").status_code == 403
    assert client.as_key(keys["other"]).delete(f"/api/keys/{new['keyId']}").status_code == 404
    bad = client.post("/api/keys", json={"role": "root"})
    assert bad.status_code == 400 and "viewer" in bad.text


def test_revoking_through_the_api_takes_effect_at_once(
    engine: Engine, keys: dict[str, str]
) -> None:
    app: Any = create_app(engine, key_cache_seconds=3600)
    admin = Client(app, keys["admin"])
    try:
        new = admin.post("/api/keys", json={"role": "viewer"}).json()
        viewer = admin.as_key(new["key"])
        assert viewer.get("/api/workflows").status_code == 200  # now cached for an hour
        assert admin.delete(f"/api/keys/{new['keyId']}").status_code == 204
        refused = viewer.get("/api/workflows")
        assert refused.status_code == 401 and error_code(refused) == "auth.invalid"
        assert admin.delete(f"/api/keys/{new['keyId']}").status_code == 404
    finally:
        admin.close()


def test_revoking_through_the_engine_takes_effect_at_once(engine: Engine) -> None:
    new = engine.create_api_key("viewer")
    client = Client(create_app(engine, key_cache_seconds=3600), new.key)
    try:
        assert client.get("/api/workflows").status_code == 200
        engine.for_tenant("acme").revoke_api_key(new.key_id)
        assert client.get("/api/workflows").status_code == 401
    finally:
        client.close()


def test_another_process_revocation_is_honoured_after_the_cache_time(
    engine: Engine, db_url: str
) -> None:
    """Another process (here: another Engine on the same database) cannot reach this cache:
    the key keeps working until its cache entry expires (``key_cache_seconds``)."""
    new = engine.create_api_key("viewer")
    cached = Client(create_app(engine, key_cache_seconds=3600), new.key)
    uncached = Client(create_app(engine, key_cache_seconds=0), new.key)
    try:
        assert cached.get("/api/workflows").status_code == 200
        with Engine(db_url, tenant="acme") as elsewhere:
            elsewhere.revoke_api_key(new.key_id)
        assert cached.get("/api/workflows").status_code == 200  # the documented delay
        assert uncached.get("/api/workflows").status_code == 401
    finally:
        cached.close()
        uncached.close()
