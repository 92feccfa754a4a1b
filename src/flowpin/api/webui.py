"""The web UI (designer and operations console) served beside the API by ``flowpin serve``.

The built single-page app ships inside the package (``flowpin/webui``, built from ``web/`` and
committed), so a plain ``pip install flowpin`` serves it with no Node. Hashed files under
``/assets`` are cached for a year (their names change with their content); every other path that
is not the API, the docs or a mounted route answers ``index.html`` (never cached) so the app's own
routes (``/workflows/…``) survive a reload. Unknown ``/api/…`` paths keep their JSON 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from flowpin.api.errors import ApiError

UI_DIR = Path(__file__).resolve().parents[1] / "webui"
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_THE_APP = ("api/", "docs", "redoc", "openapi.json", "assets/")


class HashedAssets(StaticFiles):
    """Static files whose names carry their content hash: cached for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = IMMUTABLE
        return response


def ui_available() -> bool:
    return (UI_DIR / "index.html").is_file()


def mount_ui(app: FastAPI) -> None:
    """Serve the UI at ``/``; call it after every other route is added (it answers the rest)."""
    if not ui_available():
        return
    app.mount("/assets", HashedAssets(directory=UI_DIR / "assets"), name="ui-assets")
    top_level = {p.name for p in UI_DIR.iterdir() if p.is_file() and p.name != "index.html"}

    @app.get("/{path:path}", include_in_schema=False)
    def single_page_app(path: str) -> Response:
        if path.startswith(NOT_THE_APP) or path == "api":
            raise ApiError(f"no route {'/' + path!r}", code="route.not_found")
        if path in top_level:
            return FileResponse(UI_DIR / path, headers={"cache-control": "public, max-age=3600"})
        return FileResponse(UI_DIR / "index.html", headers={"cache-control": "no-cache"})
