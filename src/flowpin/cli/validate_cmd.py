"""``flowpin validate FILE...``: load and validate definition files, print the problems.

Exit codes: 0 when no file has an error (warnings are fine), 1 when some file has an error,
2 for a usage error (a missing file, an actions module that does not import).

``--actions pkg.mod`` (repeatable) and ``FLOWPIN_ACTIONS`` (comma-separated) import modules
whose ``@action`` functions are registered, so unknown actions and missing inputs are found;
the current directory is importable, as for ``python -m``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flowpin.cli.runtime_cmds import ActionsOption, action_modules
from flowpin.definitions.canonical import version_hash
from flowpin.definitions.loader import Problem, load_document
from flowpin.definitions.validate import validate
from flowpin.errors import DefinitionError, RegistryError
from flowpin.registry.catalog import Registry


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_command)


def validate_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...",
            help="Definition files (JSON or YAML).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of tables.")
    ] = False,
    actions: ActionsOption = None,
) -> None:
    """Validate definition files; exit 1 if any has an error."""
    try:
        registry = registry_from(action_modules(actions))
    except RegistryError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    results = [check_file(path, registry) for path in files]
    if json_output:
        typer.echo(json.dumps({"files": results}, indent=2, ensure_ascii=False))
    else:
        console = Console(highlight=False)
        if not console.is_terminal:  # piped or captured: wide enough to keep rows readable
            console.width = max(console.width, 140)
        print_results(results, console)
    if any(not result["valid"] for result in results):
        raise typer.Exit(1)


def registry_from(modules: list[str]) -> Registry:
    """A registry with the built-ins plus the ``@action``s of ``modules``."""
    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    registry = Registry()
    for module in modules:
        registry.load_module(module)
    return registry


def check_file(path: Path, registry: Registry) -> dict[str, Any]:
    """The JSON result for one file: ``{file, valid, key, hash, errors, warnings, problems}``;
    ``hash`` is the version hash a valid file would be published under."""
    document: Any = None
    try:
        document = load_document(path)
        problems = validate(document, registry)
    except DefinitionError as exc:
        problems = [Problem.from_dict(item) for item in exc.details or []]
    errors = sum(1 for problem in problems if problem.is_error)
    key = document.get("key") if isinstance(document, dict) else None
    return {
        "file": str(path),
        "valid": errors == 0,
        "key": key if isinstance(key, str) else None,
        "hash": version_hash(document) if errors == 0 else None,
        "errors": errors,
        "warnings": len(problems) - errors,
        "problems": [problem.to_dict() for problem in problems],
    }


def print_results(results: list[dict[str, Any]], console: Console) -> None:
    for result in results:
        if result["valid"]:
            tail = f" ({result['warnings']} warning(s))" if result["warnings"] else ""
            console.print(f"[green]✓[/] {result['file']}: valid{tail}")
        else:
            console.print(
                f"[red]✗[/] {result['file']}: {result['errors']} error(s), "
                f"{result['warnings']} warning(s)"
            )
        if not result["problems"]:
            continue
        table = Table(pad_edge=False, box=box.SIMPLE_HEAD)
        table.add_column("severity", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("where", overflow="fold", max_width=48)
        table.add_column("message", overflow="fold", ratio=1)
        for problem in result["problems"]:
            colour = "red" if problem["severity"] == "error" else "yellow"
            where = problem["path"] or "(document)"
            if problem["stepId"]:
                where += f"\n[dim]step {problem['stepId']}[/]"
            table.add_row(
                f"[{colour}]{problem['severity']}[/]",
                problem["code"],
                where,
                escape(problem["message"]),
            )
        console.print(table)
