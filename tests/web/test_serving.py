"""``flowpin serve`` serves the built UI at ``/`` with no Node: the app's own routes survive a
reload, hashed assets are cached for good, and the API, its 404s and the docs are unaffected."""

from __future__ import annotations

import re

from browserkit import Served


def test_serve_prints_the_url_to_open(served: Served) -> None:
    port = served.base_url.rsplit(":", 1)[1]
    assert any(f"open http://127.0.0.1:{port}/ in a browser" in line for line in served.output), (
        served.output
    )


def test_the_app_answers_its_own_routes_and_is_never_cached(served: Served) -> None:
    with_key_removed = {"Authorization": ""}
    for path in ("/", "/workflows", "/workflows/some-key/migrate", "/runs/r-1"):
        response = served.http.get(path, headers=with_key_removed)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert '<div id="root">' in response.text


def test_hashed_assets_are_cached_for_a_year(served: Served) -> None:
    index = served.http.get("/").text
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index)
    assert assets, index
    for asset in assets:
        response = served.http.get(asset)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    missing = served.http.get("/assets/not-there-1234.js")
    assert missing.status_code == 404


def test_api_docs_and_unknown_api_paths_are_untouched(served: Served) -> None:
    unknown = served.http.get("/api/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "route.not_found"
    assert served.http.get("/openapi.json").json()["info"]["title"] == "flowpin"
    assert "swagger" in served.http.get("/docs").text.lower()


def test_me_names_the_tenant_and_role_of_the_key(served: Served) -> None:
    assert served.http.get("/api/me").json() == {
        "tenant": "default",
        "role": "admin",
        "keyId": served.http.get("/api/me").json()["keyId"],
        "can": {"viewer": True, "editor": True, "admin": True},
    }
    viewer = served.new_key("viewer")
    seen = served.http.get("/api/me", headers={"Authorization": f"Bearer {viewer}"}).json()
    assert (seen["role"], seen["can"]) == (
        "viewer",
        {"viewer": True, "editor": False, "admin": False},
    )
    refused = served.http.get("/api/me", headers={"Authorization": "Bearer fp_nope"})
    assert refused.status_code == 401
