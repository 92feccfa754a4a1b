"""The engine layer: publishing, starting, events, operator actions — over store + runtime."""

from flowpin.engine.facade import Engine

__all__ = ["Engine"]
