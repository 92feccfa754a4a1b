"""The ``flowpin`` command (SPEC §7). Each command module exposes ``register(app)``; adding a
command module is one line in ``COMMAND_MODULES``."""

from __future__ import annotations

import typer

from flowpin.cli import (
    ingest_cmd,
    keys_cmd,
    runtime_cmds,
    serve_cmd,
    validate_cmd,
    workflows_cmd,
)

COMMAND_MODULES = (validate_cmd, runtime_cmds, serve_cmd, keys_cmd, ingest_cmd, workflows_cmd)

app = typer.Typer(
    name="flowpin",
    help="flowpin: a durable, data-defined workflow engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """flowpin: a durable, data-defined workflow engine."""


for _module in COMMAND_MODULES:
    _module.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
