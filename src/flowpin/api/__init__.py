"""The HTTP API (SPEC §7): ``create_app(engine)`` → a FastAPI application under ``/api``."""

from flowpin.api.app import create_app

__all__ = ["create_app"]
