"""flowpin: a durable, data-defined workflow engine for Python applications.

    from flowpin import Engine, action

The names below are the public API; everything else may change between releases.
"""

from importlib.metadata import PackageNotFoundError, version

from flowpin.engine import Engine
from flowpin.errors import (
    ConflictError,
    DefinitionError,
    ExpressionError,
    FlowpinError,
    LimitError,
    NotFoundError,
    RegistryError,
)
from flowpin.registry import ActionContext, ActionError, Registry, RetryAfter, action, schema
from flowpin.worker.loop import WorkerOptions

try:
    __version__ = version("flowpin")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ActionContext",
    "ActionError",
    "ConflictError",
    "DefinitionError",
    "Engine",
    "ExpressionError",
    "FlowpinError",
    "LimitError",
    "NotFoundError",
    "Registry",
    "RegistryError",
    "RetryAfter",
    "WorkerOptions",
    "__version__",
    "action",
    "schema",
]
