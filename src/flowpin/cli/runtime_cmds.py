"""CLI commands that use the database: run, publish, worker, events, tasks, runs, db.

The JSON printed by ``run`` and ``runs show`` is a contract scripts rely on:
``{"runId", "workflow", "version", "status", "output", "state": {"payload", "vars", "meta"},
"error", "waitingFor"}`` (``runs show`` adds ``history``). Exit code 0 unless the command itself
failed — a run that FAILED is still a successful ``flowpin run``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from flowpin.errors import FlowpinError

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: FLOWPIN_DATABASE_URL or ./flowpin.db)."),
]
ActionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--actions",
        help="Python module whose @action functions to register (repeatable; "
        "also FLOWPIN_ACTIONS, comma-separated).",
    ),
]


RedactOption = Annotated[
    list[str] | None,
    typer.Option(
        "--redact-pointer",
        metavar="PTR",
        help="JSON pointer into every run's envelope (/payload/card/number) whose values are "
        "masked in stored history and API answers (repeatable; also FLOWPIN_REDACT_POINTERS, "
        "comma-separated).",
    ),
]
MaxStepsOption = Annotated[
    int | None,
    typer.Option(
        "--max-steps-per-run",
        min=1,
        envvar="FLOWPIN_MAX_STEPS_PER_RUN",
        help="History steps after which a run fails with limit.steps (default 10000).",
    ),
]
EnvSecretsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env-secrets-tenant",
        metavar="TENANT",
        help="Tenant whose workflows may read FLOWPIN_ENV_SECRET_<NAME> (repeatable; '*' for "
        "every tenant; default FLOWPIN_ENV_SECRETS_TENANTS, else the default tenant only).",
    ),
]


def redact_pointers(flags: list[str] | None) -> list[str]:
    """``--redact-pointer`` values, then the comma-separated ``FLOWPIN_REDACT_POINTERS``; a
    malformed one is a usage error that names it."""
    from flowpin.engine.redaction import compile_pointers

    env = os.environ.get("FLOWPIN_REDACT_POINTERS", "")
    pointers = list(dict.fromkeys([*(flags or []), *(p.strip() for p in env.split(","))]))
    pointers = [p for p in pointers if p]
    try:
        compile_pointers(pointers)
    except ValueError as exc:
        raise typer.BadParameter(
            str(exc), param_hint="--redact-pointer or FLOWPIN_REDACT_POINTERS"
        ) from None
    return pointers


def action_modules(actions: list[str] | None) -> list[str]:
    """``--actions`` values, then the comma-separated ``FLOWPIN_ACTIONS``."""
    modules = list(actions or [])
    env = os.environ.get("FLOWPIN_ACTIONS", "")
    modules += [m.strip() for m in env.split(",") if m.strip()]
    return modules


def open_engine(
    db: str | None,
    actions: list[str] | None,
    *,
    redact: list[str] | None = None,
    max_steps_per_run: int | None = None,
    env_secrets_tenants: list[str] | None = None,
) -> Any:
    """An Engine for a command; redaction pointers from ``redact`` and the environment."""
    from flowpin.cli.validate_cmd import registry_from
    from flowpin.engine import Engine

    return Engine(
        db,
        registry=registry_from(action_modules(actions)),
        redact_pointers=redact_pointers(redact),
        max_steps_per_run=max_steps_per_run,
        env_secret_tenants=env_secrets_tenants or None,
    )


def emit(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def fail(exc: Exception) -> None:
    if isinstance(exc, FlowpinError):
        emit({"error": exc.to_dict()})
    else:
        emit({"error": {"code": "cli.error", "message": str(exc), "details": None}})
    raise typer.Exit(2)


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{what} is not valid JSON: {exc}") from None


def register(app: typer.Typer) -> None:
    runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
    events_app = typer.Typer(help="Submit events.", no_args_is_help=True)
    tasks_app = typer.Typer(help="Human tasks.", no_args_is_help=True)
    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    app.add_typer(runs_app, name="runs")
    app.add_typer(events_app, name="events")
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(db_app, name="db")

    @app.command("run")
    def run_cmd(
        file: Annotated[Path, typer.Argument(help="Definition file (JSON or YAML).")],
        input: Annotated[
            str, typer.Option("--input", help="Run payload as JSON (or @file).")
        ] = "{}",
        subject: Annotated[str | None, typer.Option("--subject")] = None,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Publish FILE, start a run, work it until it finishes or parks, print it as JSON."""
        try:
            with open_engine(db, actions) as engine:
                published = engine.publish(file)
                run_id = engine.start(
                    published.workflow,
                    _json_arg(input, "--input"),
                    subject=subject,
                    version=published.version,
                )
                engine.run_worker(until_idle=True)
                emit(engine.get_run(run_id))
        except FlowpinError as exc:
            fail(exc)

    @app.command("publish")
    def publish_cmd(
        file: Annotated[Path, typer.Argument()], db: DbOption = None, actions: ActionsOption = None
    ) -> None:
        """Validate and publish FILE as a new immutable version."""
        try:
            with open_engine(db, actions) as engine:
                published = engine.publish(file)
                emit(
                    {
                        "workflow": published.workflow,
                        "version": published.version,
                        "hash": published.hash,
                        "created": published.created,
                        "problems": published.problems,
                    }
                )
        except FlowpinError as exc:
            fail(exc)

    @app.command("worker")
    def worker_cmd(
        until_idle: Annotated[
            bool, typer.Option("--until-idle", help="Work everything due, then exit.")
        ] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
        redact_pointer: RedactOption = None,
        max_steps_per_run: MaxStepsOption = None,
        env_secrets_tenant: EnvSecretsOption = None,
    ) -> None:
        """Run a worker: claim runnable runs, execute them, fire timers and schedules."""
        with open_engine(
            db,
            actions,
            redact=redact_pointer,
            max_steps_per_run=max_steps_per_run,
            env_secrets_tenants=env_secrets_tenant,
        ) as engine:
            try:
                worker = engine.run_worker(until_idle=until_idle)
            except KeyboardInterrupt:
                return
            if until_idle:
                emit({"claimed": worker.stats.claimed, "finished": worker.stats.finished})

    @db_app.command("upgrade")
    def db_upgrade(db: DbOption = None) -> None:
        """Create or migrate the schema to the newest version."""
        from flowpin.store.database import Database

        database = Database(db)
        database.upgrade()
        emit({"database": database.url.split("@")[-1], "upgraded": True})

    @events_app.command("send")
    def events_send(
        name: Annotated[str, typer.Argument()],
        key: Annotated[str | None, typer.Argument()] = None,
        payload: Annotated[str | None, typer.Option("--payload")] = None,
        event_id: Annotated[str | None, typer.Option("--event-id")] = None,
        ttl_ms: Annotated[int | None, typer.Option("--ttl-ms")] = None,
        work: Annotated[
            bool, typer.Option("--work", help="Then work the resumed and started runs.")
        ] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Submit an event; prints which runs it resumed and started."""
        try:
            with open_engine(db, actions) as engine:
                outcome = engine.send_event(
                    name, key, _json_arg(payload, "--payload"), event_id=event_id, ttl_ms=ttl_ms
                )
                if work:
                    engine.run_worker(until_idle=True)
                emit(outcome.to_dict())
        except FlowpinError as exc:
            fail(exc)

    @tasks_app.command("list")
    def tasks_list(
        status: Annotated[str | None, typer.Option("--status")] = "open",
        assignee: Annotated[str | None, typer.Option("--assignee")] = None,
        db: DbOption = None,
    ) -> None:
        with open_engine(db, None) as engine:
            emit(engine.list_tasks(status=status, assignee=assignee))

    @tasks_app.command("complete")
    def tasks_complete(
        task_id: Annotated[str, typer.Argument()],
        data: Annotated[str, typer.Option("--data")] = "{}",
        work: Annotated[bool, typer.Option("--work")] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Complete a human task with DATA valid against its form."""
        try:
            with open_engine(db, actions) as engine:
                task = engine.complete_task(task_id, _json_arg(data, "--data"))
                if work:
                    engine.run_worker(until_idle=True)
                emit(task)
        except FlowpinError as exc:
            fail(exc)

    @runs_app.command("list")
    def runs_list(
        workflow: Annotated[str | None, typer.Option("--workflow")] = None,
        status: Annotated[str | None, typer.Option("--status")] = None,
        subject: Annotated[str | None, typer.Option("--subject")] = None,
        limit: Annotated[int, typer.Option("--limit")] = 100,
        db: DbOption = None,
    ) -> None:
        with open_engine(db, None) as engine:
            emit(engine.list_runs(workflow=workflow, status=status, subject=subject, limit=limit))

    @runs_app.command("show")
    def runs_show(run_id: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
        """The run as `flowpin run` prints it, plus its step history."""
        try:
            with open_engine(db, None) as engine:
                emit(engine.get_run(run_id, history=True))
        except FlowpinError as exc:
            fail(exc)

    for verb in ("cancel", "resume", "retry"):
        _operator(runs_app, verb)


def _operator(runs_app: typer.Typer, verb: str) -> None:
    @runs_app.command(verb)
    def operator(
        run_id: Annotated[str, typer.Argument()],
        from_step: Annotated[
            str | None, typer.Option("--from-step", help="retry only: the step to restart at")
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help="retry only: print which action calls would run again"),
        ] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        try:
            with open_engine(db, actions) as engine:
                if verb == "retry" and dry_run:
                    emit(engine.retry_preview(run_id, from_step=from_step))
                elif verb == "retry":
                    emit(engine.retry(run_id, from_step=from_step))
                else:
                    emit(getattr(engine, verb)(run_id))
        except FlowpinError as exc:
            fail(exc)

    operator.__doc__ = f"{verb.capitalize()} a run."
