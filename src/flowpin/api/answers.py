"""JSON answers serialised once, by orjson, for the hot handlers.

FastAPI turns a returned dict into JSON by walking it with ``jsonable_encoder`` first and then
``json.dumps``; for a run view that walk cost more than reading the run (measured). What the
engine returns is already plain JSON data (it was stored through orjson), so it is written out
directly. The documented answer stays the operation's model in ``api/openapi.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonAnswer(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
