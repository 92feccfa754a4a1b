"""``flowpin migrate``: check, then move runs in flight to another version (SPEC §5); and
``flowpin shadow``: re-evaluate a version against recorded runs.

A dry run unless ``--apply``: the per-run report is printed as JSON on stdout, with a progress
bar on stderr while the runs are checked or moved, batch by batch."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowpin.cli.progress import progress_bar
from flowpin.cli.runtime_cmds import ActionsOption, DbOption, emit, fail, open_engine
from flowpin.errors import FlowpinError


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """``old=new`` pairs; a malformed one is a usage error that names it."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise typer.BadParameter(f"{pair!r} is not OLD=NEW", param_hint="--map")
        mapping[old.strip()] = new.strip()
    return mapping


def parse_runs(runs: str | None, status: str | None, step: str | None, subject: str | None) -> Any:
    from flowpin.engine.migrating import RunFilter

    if runs not in (None, "all-active") and (status or step or subject):
        raise typer.BadParameter(
            "name runs or filter them (--status/--step/--subject), not both", param_hint="--runs"
        )
    if status or step or subject:
        return RunFilter(status=status, step=step, subject=subject)
    if runs is None or runs == "all-active":
        return "all-active"
    ids = [run_id.strip() for run_id in runs.split(",") if run_id.strip()]
    if not ids:
        raise typer.BadParameter("no run ids given", param_hint="--runs")
    return ids


def register(app: typer.Typer) -> None:
    register_shadow(app)

    @app.command("migrate")
    def migrate_cmd(
        key: Annotated[str, typer.Argument(metavar="KEY", help="The workflow key.")],
        from_version: Annotated[
            int, typer.Option("--from", min=1, help="Version the runs are on.")
        ],
        to_version: Annotated[int, typer.Option("--to", min=1, help="Version to move them to.")],
        mapping: Annotated[
            list[str] | None,
            typer.Option(
                "--map",
                metavar="OLD=NEW",
                help="Map a step of --from to a step of --to (repeatable; default: same id).",
            ),
        ] = None,
        runs: Annotated[
            str | None,
            typer.Option("--runs", help='"all-active" (default) or run ids separated by commas.'),
        ] = None,
        status: Annotated[
            str | None, typer.Option("--status", help="Only active runs with this status.")
        ] = None,
        step: Annotated[
            str | None, typer.Option("--step", help="Only runs whose current step is this.")
        ] = None,
        subject: Annotated[
            str | None, typer.Option("--subject", help="Only runs with this subject.")
        ] = None,
        reset_timers: Annotated[
            bool,
            typer.Option(
                "--reset-timers", help="Restart time.wait steps (default: keep due times)."
            ),
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run/--apply",
                help="Only check and report (the default), or move the runs that pass.",
            ),
        ] = True,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Check runs in flight against another version and, with --apply, move them."""
        selection = parse_runs(runs, status, step, subject)
        moves = parse_mapping(mapping)
        try:
            with open_engine(db, actions) as engine:
                migration = engine.prepare_migration(
                    key,
                    from_version=from_version,
                    to_version=to_version,
                    runs=selection,
                    mapping=moves,
                    reset_timers=reset_timers,
                    dry_run=dry_run,
                )
                emit(_with_progress(engine, migration, "Checking" if dry_run else "Migrating"))
        except FlowpinError as exc:
            fail(exc)


def _with_progress(engine: Any, migration: Any, verb: str) -> dict[str, Any]:
    with progress_bar(f"{verb} runs", migration.total) as advance_to:
        report: dict[str, Any] = engine.run_migration(
            migration, lambda done, _total: advance_to(done)
        )
    return report


def register_shadow(app: typer.Typer) -> None:
    @app.command("shadow")
    def shadow_cmd(
        key: Annotated[str, typer.Argument(metavar="KEY", help="The workflow key.")],
        version: Annotated[
            str, typer.Option("--version", help="Version to re-evaluate, or 'draft'.")
        ],
        runs: Annotated[
            str | None, typer.Option("--runs", help="Run ids separated by commas.")
        ] = None,
        last: Annotated[
            int | None,
            typer.Option("--last", min=1, max=1000, help="The workflow's latest N runs."),
        ] = None,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Re-evaluate a version against recorded runs (nothing is called or written) and
        print where routing or results would differ."""
        if (runs is None) == (last is None):
            raise typer.BadParameter("give --runs or --last (one of them)", param_hint="--runs")
        ids = None if runs is None else [r.strip() for r in runs.split(",") if r.strip()]
        which = version.strip().lower()
        if which != "draft" and not (which.isdigit() and 0 < int(which) < 2**31):
            raise typer.BadParameter(f"{version!r} is not a version number or 'draft'")
        try:
            with open_engine(db, actions) as engine:
                target = which if which == "draft" else int(which)
                emit(engine.shadow(key, version=target, runs=ids, last=last))
        except FlowpinError as exc:
            fail(exc)
