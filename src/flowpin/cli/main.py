"""The ``flowpin`` command (SPEC §7). Each command module exposes ``register(app)``; adding a
command module is one line in ``COMMAND_MODULES``. ``main()`` is the console script: it turns a
user's mistake into one line on stderr (exit 2) instead of a traceback."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from sqlalchemy import exc as sa_exc

from flowpin import __version__
from flowpin.cli import (
    ingest_cmd,
    keys_cmd,
    migrate_cmd,
    runtime_cmds,
    serve_cmd,
    validate_cmd,
    workflows_cmd,
)
from flowpin.cli.problems import CliProblem, describe_database_error
from flowpin.errors import FlowpinError

COMMAND_MODULES = (
    validate_cmd,
    runtime_cmds,
    serve_cmd,
    keys_cmd,
    ingest_cmd,
    workflows_cmd,
    migrate_cmd,
)

app = typer.Typer(
    name="flowpin",
    help="flowpin: a durable, data-defined workflow engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"flowpin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print flowpin's version and exit.",
        ),
    ] = False,
) -> None:
    """flowpin: a durable, data-defined workflow engine."""


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Run the command; known mistakes become one line on stderr and exit code 2."""
    try:
        app()
    except CliProblem as problem:
        typer.echo(f"flowpin: {problem}", err=True)
        sys.exit(2)
    except FlowpinError as error:
        typer.echo(f"flowpin: {error.code}: {error.message}", err=True)
        sys.exit(2)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        url = os.environ.get("FLOWPIN_DATABASE_URL", "")
        typer.echo(f"flowpin: {describe_database_error(url, exc)}", err=True)
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("FLOWPIN_DEBUG"):
            raise
        first = (str(exc).splitlines() or [""])[0]
        typer.echo(
            f"flowpin: unexpected {type(exc).__name__}: {first} "
            "(FLOWPIN_DEBUG=1 shows the traceback; please report it)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
