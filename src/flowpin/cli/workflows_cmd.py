"""CLI commands for editing live workflows: ``draft show|save`` (a save names the revision it
was based on, like the HTTP API's If-Match), ``diff KEY A B`` and ``counts KEY``. Output is
JSON; a refused command prints ``{"error": {...}}`` and exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flowpin.cli.runtime_cmds import DbOption, emit, fail, open_engine
from flowpin.errors import FlowpinError


def register(app: typer.Typer) -> None:
    draft_app = typer.Typer(help="Read and save workflow drafts.", no_args_is_help=True)
    app.add_typer(draft_app, name="draft")

    @draft_app.command("show")
    def draft_show(
        key: Annotated[str, typer.Argument(metavar="KEY", help="The workflow key.")],
        db: DbOption = None,
    ) -> None:
        """The draft of KEY with its revision and validation problems."""
        try:
            with open_engine(db, None) as engine:
                emit(engine.get_draft(key))
        except FlowpinError as exc:
            fail(exc)

    @draft_app.command("save")
    def draft_save(
        file: Annotated[
            Path, typer.Argument(metavar="FILE", help="The draft (a definition, valid or not).")
        ],
        revision: Annotated[
            int,
            typer.Option(
                "--revision",
                min=0,
                help="The revision this edit is based on (from `draft show`); a stale one is "
                "refused with draft.conflict and the current draft.",
            ),
        ],
        db: DbOption = None,
    ) -> None:
        """Save FILE as the draft of the workflow it names, if the draft is still REVISION."""
        try:
            document = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("key"), str):
            raise typer.BadParameter(f"{file} is not a definition with a string 'key'")
        try:
            with open_engine(db, None) as engine:
                engine.get_workflow(document["key"])  # never create a workflow by accident
                saved = engine.save_draft(document, expected_revision=revision)
                shown = engine.get_draft(document["key"])
                emit({"revision": saved, "valid": shown["valid"], "problems": shown["problems"]})
        except FlowpinError as exc:
            fail(exc)

    @app.command("diff")
    def diff_cmd(
        key: Annotated[str, typer.Argument(metavar="KEY", help="The workflow key.")],
        from_version: Annotated[str, typer.Argument(metavar="A", help="A published version.")],
        to: Annotated[str, typer.Argument(metavar="B", help="A version or 'draft'.")] = "draft",
        db: DbOption = None,
    ) -> None:
        """What changes from version A to B (or the draft), and what it means for the runs in
        flight on A: each change with the runs at, before and after it, and its class."""
        try:
            with open_engine(db, None) as engine:
                emit(engine.diff(key, from_version, to))
        except FlowpinError as exc:
            fail(exc)

    @app.command("counts")
    def counts_cmd(
        key: Annotated[str, typer.Argument(metavar="KEY", help="The workflow key.")],
        db: DbOption = None,
    ) -> None:
        """Runs of KEY per version and per step: running, waiting by kind, failed."""
        try:
            with open_engine(db, None) as engine:
                emit(engine.step_counts(key))
        except FlowpinError as exc:
            fail(exc)
