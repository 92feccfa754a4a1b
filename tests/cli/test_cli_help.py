"""Every command's help reads as words: each option says what it does, each argument has a
name a person reads (``RUN_ID``, ``FILE...``), not ``{run_id}`` or ``<list[str]>``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from flowpin.cli.main import app


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from commands(command, (*path, name))
    else:
        yield " ".join(path), group


def test_every_option_has_help_and_every_argument_a_name() -> None:
    found = list(commands(typer.main.get_command(app)))
    assert len(found) > 20
    missing = []
    for name, command in found:
        if not command.help:
            missing.append(f"flowpin {name}: no help")
        for param in command.params:
            if param.param_type_name == "option" and not param.help:
                missing.append(f"flowpin {name} {param.opts[0]}: no help")
            if param.param_type_name == "argument" and not (param.metavar or "").isupper():
                missing.append(f"flowpin {name} {param.name}: no metavar")
    assert missing == []
