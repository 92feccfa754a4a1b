"""CLI commands that use the database: run, publish, worker, events, tasks, runs, db.

The JSON printed by ``run`` and ``runs show`` is a contract scripts rely on:
``{"runId", "workflow", "version", "status", "output", "state": {"payload", "vars", "meta"},
"error", "waitingFor"}`` (``runs show`` adds ``history``). Exit code 0 unless the command itself
failed — a run that FAILED is still a successful ``flowpin run``. Runs are shown as the API
shows them: values under secret-like keys and at redaction pointers are ``"[redacted]"``.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from flowpin.cli.operate_opts import (
    LogFormat,
    LogFormatOption,
    MetricsHostOption,
    MetricsPortOption,
    start_logging,
    start_metrics,
)
from flowpin.cli.problems import CliProblem, check_database_url, describe_database_error
from flowpin.cli.progress import progress_bar
from flowpin.errors import FlowpinError
from flowpin.types import RunStatus


class TaskStatus(StrEnum):
    """What ``tasks list --status`` accepts."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", metavar="URL", help="Database URL (default: FLOWPIN_DATABASE_URL or ./flowpin.db)."
    ),
]
ActionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--actions",
        metavar="MODULE",
        help="Python module whose @action functions to register (repeatable; "
        "also FLOWPIN_ACTIONS, comma-separated).",
    ),
]

RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id.")]

InstallOption = Annotated[
    list[str] | None,
    typer.Option(
        "--install",
        help="Package whose install(engine) to call first, e.g. examples.helpdesk: its "
        "tables, actions and workflows (repeatable).",
    ),
]


def install_packages(engine: Any, modules: list[str] | None) -> None:
    """Call ``install(engine)`` of each module (the current directory is importable), so the
    actions of an application such as ``examples.helpdesk`` are registered in this process."""
    import importlib
    import sys

    modules = list(modules or [])
    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise typer.BadParameter(f"cannot import {name!r}: {exc}") from None
        install = getattr(module, "install", None)
        if install is None:
            raise typer.BadParameter(f"{name!r} has no install(engine)")
        install(engine)


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
MaxCallDepthOption = Annotated[
    int | None,
    typer.Option(
        "--max-call-depth",
        min=1,
        envvar="FLOWPIN_MAX_CALL_DEPTH",
        help="Nesting of control.callWorkflow past which the child run fails with limit.depth "
        "(default 16).",
    ),
]
CpuBudgetOption = Annotated[
    float | None,
    typer.Option(
        "--cpu-budget-ms",
        min=1,
        envvar="FLOWPIN_CPU_BUDGET_MS",
        help="CPU time a run may spend interpreting per claim before it yields to the other "
        "runs (default 100).",
    ),
]


GroupOption = Annotated[
    float | None,
    typer.Option(
        "--group-ms",
        min=0,
        envvar="FLOWPIN_GROUP_MS",
        help="How long a run's calls of repeatable actions (effect none or idempotent) may go "
        "unwritten before one checkpoint writes them all (default 200; 0: every call is a "
        "checkpoint of its own).",
    ),
]


def worker_options(cpu_budget_ms: float | None, group_ms: float | None = None) -> Any:
    """The worker's options for ``--cpu-budget-ms`` and ``--group-ms`` (defaults otherwise)."""
    from flowpin.worker.loop import WorkerOptions

    options = WorkerOptions()
    if cpu_budget_ms is not None:
        options.cpu_budget_seconds = cpu_budget_ms / 1000
    if group_ms is not None:
        options.group_seconds = group_ms / 1000
    return options


MaxChildrenOption = Annotated[
    int | None,
    typer.Option(
        "--max-children-per-run",
        min=1,
        envvar="FLOWPIN_MAX_CHILDREN_PER_RUN",
        help="Child runs one run may start before it fails with limit.children (default 1000).",
    ),
]


def redact_pointers(flags: list[str] | None) -> list[str]:
    """``--redact-pointer`` values, then the comma-separated ``FLOWPIN_REDACT_POINTERS``; a
    malformed one is a usage error that names it."""
    from flowpin.security.redaction import compile_pointers

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
    return list(dict.fromkeys(modules))


def open_engine(
    db: str | None,
    actions: list[str] | None,
    *,
    redact: list[str] | None = None,
    max_steps_per_run: int | None = None,
    env_secrets_tenants: list[str] | None = None,
    needs_actions: bool = True,
    tenant: str = "default",
    max_call_depth: int | None = None,
    max_children_per_run: int | None = None,
    registry: Any = None,
    upgrade: bool = True,
) -> Any:
    """An Engine for a command; redaction pointers from ``redact`` and the environment.
    ``registry``: one already filled (``serve --workers``: the set-up process's, with what the
    example packages registered) instead of one from ``actions``; ``upgrade=False``: the
    database was migrated by whoever opened it first.

    Commands that never run an action (``needs_actions=False``: listing, showing, keys) import
    no action module, so a broken ``FLOWPIN_ACTIONS`` cannot stop them. A database that cannot
    be opened is a one-line :class:`CliProblem`; a new SQLite file is announced with its path.
    """
    from sqlalchemy import exc as sa_exc

    from flowpin.cli.validate_cmd import registry_from
    from flowpin.engine import Engine
    from flowpin.registry import Registry
    from flowpin.store.database import resolve_url

    url = resolve_url(db)
    check_database_url(url)
    new_file = new_sqlite_file(url)
    if registry is None:
        registry = registry_from(action_modules(actions)) if needs_actions else Registry()
    try:
        engine = Engine(
            url,
            registry=registry,
            upgrade=upgrade,
            redact_pointers=redact_pointers(redact),
            max_steps_per_run=max_steps_per_run,
            max_call_depth=max_call_depth,
            max_children_per_run=max_children_per_run,
            tenant=tenant,
            env_secret_tenants=env_secrets_tenants or None,
        )
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise CliProblem(describe_database_error(url, exc)) from None
    if new_file is not None:
        typer.echo(f"flowpin: created a new database at {new_file}", err=True)
    return engine


def new_sqlite_file(url: str) -> Path | None:
    """The absolute path of the SQLite file ``url`` names when it does not exist yet (a
    relative ``sqlite:///tmp/x.db`` is ``./tmp/x.db``: worth saying where it went)."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database).expanduser().resolve()
    return None if path.exists() else path


def shown_run(engine: Any, run_id: str, *, history: bool = False) -> dict[str, Any]:
    """The run as the API shows it: values under secret-like keys (``password``, ``token``,
    …) and at the redaction pointers (engine-wide and the workflow's ``settings.redact``)
    masked. A person reading the CLI sees what they would see over HTTP."""
    view = engine.get_run(run_id, history=history)
    masks = engine.masks_for_view(view)
    return engine.redactor.run(view, masks)  # type: ignore[no-any-return]


def emit(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def fail(exc: Exception) -> None:
    """Print the error as one line of JSON (``{"error": {code, message, details}}``, the API's
    shape) and exit with status 2."""
    if isinstance(exc, FlowpinError):
        error = exc.to_dict()
    else:
        error = {"code": "cli.error", "message": str(exc), "details": None}
    typer.echo(json.dumps({"error": error}, ensure_ascii=False, default=str))
    raise typer.Exit(2)


def _json_arg(text: str | None, what: str) -> Any:
    """A JSON option's value, or ``@file`` to read it from a file; a one-line problem when the
    file cannot be read or the text is not JSON."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise CliProblem(f"{what}: cannot read {str(path)!r}: {reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliProblem(f"{what} is not valid JSON: {exc}") from None


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
        file: Annotated[
            Path, typer.Argument(metavar="FILE", help="Definition file (JSON or YAML).")
        ],
        input: Annotated[
            str, typer.Option("--input", metavar="JSON", help="Run payload as JSON (or @file).")
        ] = "{}",
        subject: Annotated[
            str | None, typer.Option("--subject", metavar="SUBJECT", help="The run's business key.")
        ] = None,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Publish FILE, start a run, work it until it finishes or parks, print it as JSON."""
        payload = _json_arg(input, "--input")
        try:
            with open_engine(db, actions) as engine:
                published = engine.publish(file)
                run_id = engine.start(
                    published.workflow,
                    payload,
                    subject=subject,
                    version=published.version,
                )
                engine.run_worker(until_idle=True)
                emit(shown_run(engine, run_id))
        except FlowpinError as exc:
            fail(exc)

    @app.command("publish")
    def publish_cmd(
        file: Annotated[
            Path, typer.Argument(metavar="FILE", help="Definition file (JSON or YAML).")
        ],
        db: DbOption = None,
        actions: ActionsOption = None,
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
        max_call_depth: MaxCallDepthOption = None,
        max_children_per_run: MaxChildrenOption = None,
        install: InstallOption = None,
        cpu_budget_ms: CpuBudgetOption = None,
        group_ms: GroupOption = None,
        metrics_port: MetricsPortOption = None,
        metrics_host: MetricsHostOption = "127.0.0.1",
        log_format: LogFormatOption = LogFormat.text,
    ) -> None:
        """Run a worker: claim runnable runs, execute them, fire timers and schedules."""
        with open_engine(
            db,
            actions,
            redact=redact_pointer,
            max_steps_per_run=max_steps_per_run,
            env_secrets_tenants=env_secrets_tenant,
            max_call_depth=max_call_depth,
            max_children_per_run=max_children_per_run,
        ) as engine:
            install_packages(engine, install)
            start_logging(engine, log_format, "worker")
            metrics = start_metrics(engine, metrics_port, metrics_host)
            try:
                worker = engine.run_worker(
                    until_idle=until_idle, options=worker_options(cpu_budget_ms, group_ms)
                )
            except KeyboardInterrupt:
                return
            finally:
                if metrics is not None:
                    metrics.stop()
            if until_idle:
                stats = worker.stats
                emit(
                    {
                        "claimed": stats.claimed,
                        "finished": stats.finished,
                        "checkpoints": stats.checkpoints,
                        "actionsCalled": stats.actions_called,
                    }
                )

    @db_app.command("upgrade")
    def db_upgrade(db: DbOption = None) -> None:
        """Create or migrate the schema to the newest version."""
        from flowpin.store.database import Database

        database = Database(db)
        database.upgrade()
        emit({"database": database.url.split("@")[-1], "upgraded": True})

    @events_app.command("send")
    def events_send(
        name: Annotated[str, typer.Argument(metavar="NAME", help="The event's name.")],
        key: Annotated[
            str | None, typer.Argument(metavar="KEY", help="Correlation key (a run's subject).")
        ] = None,
        payload: Annotated[
            str | None,
            typer.Option("--payload", metavar="JSON", help="Payload as JSON (or @file)."),
        ] = None,
        event_id: Annotated[
            str | None,
            typer.Option("--event-id", metavar="ID", help="Deduplicates submissions of one event."),
        ] = None,
        ttl_ms: Annotated[
            int | None,
            typer.Option(
                "--ttl-ms",
                metavar="MS",
                help="Keep the event this long for waits that start later.",
            ),
        ] = None,
        work: Annotated[
            bool, typer.Option("--work", help="Then work the resumed and started runs.")
        ] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Submit an event; prints which runs it resumed and started."""
        body = _json_arg(payload, "--payload")
        try:
            with open_engine(db, actions) as engine:
                outcome = engine.send_event(name, key, body, event_id=event_id, ttl_ms=ttl_ms)
                if work:
                    engine.run_worker(until_idle=True)
                emit(outcome.to_dict())
        except FlowpinError as exc:
            fail(exc)

    @tasks_app.command("list")
    def tasks_list(
        status: Annotated[
            TaskStatus | None,
            typer.Option("--status", case_sensitive=False, help="Only tasks in this status."),
        ] = TaskStatus.OPEN,
        assignee: Annotated[
            str | None,
            typer.Option("--assignee", metavar="WHO", help="Only tasks assigned to WHO."),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Human tasks as JSON (open ones by default)."""
        with open_engine(db, None, needs_actions=False) as engine:
            emit(engine.list_tasks(status=status.value if status else None, assignee=assignee))

    @tasks_app.command("complete")
    def tasks_complete(
        task_id: Annotated[str, typer.Argument(metavar="TASK_ID", help="The task's id.")],
        data: Annotated[
            str,
            typer.Option("--data", metavar="JSON", help="The form's answer as JSON (or @file)."),
        ] = "{}",
        work: Annotated[
            bool, typer.Option("--work", help="Then work the resumed run until it parks or ends.")
        ] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
        install: InstallOption = None,
    ) -> None:
        """Complete a human task with DATA valid against its form (with --work, the actions
        its run calls next must be registered here: --actions or --install)."""
        answer = _json_arg(data, "--data")
        try:
            with open_engine(db, actions) as engine:
                install_packages(engine, install)
                task = engine.complete_task(task_id, answer)
                if work:
                    engine.run_worker(until_idle=True)
                emit(task)
        except FlowpinError as exc:
            fail(exc)

    @runs_app.command("list")
    def runs_list(
        workflow: Annotated[
            str | None, typer.Option("--workflow", metavar="KEY", help="Only this workflow.")
        ] = None,
        status: Annotated[
            RunStatus | None,
            typer.Option("--status", case_sensitive=False, help="Only runs in this status."),
        ] = None,
        subject: Annotated[
            str | None, typer.Option("--subject", metavar="SUBJECT", help="Only this subject.")
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, metavar="N", help="At most N runs, newest first.")
        ] = 100,
        db: DbOption = None,
    ) -> None:
        """Runs as JSON, newest first."""
        with open_engine(db, None, needs_actions=False) as engine:
            emit(
                engine.list_runs(
                    workflow=workflow,
                    status=status.value if status else None,
                    subject=subject,
                    limit=limit,
                )
            )

    @runs_app.command("show")
    def runs_show(run_id: RunIdArgument, db: DbOption = None) -> None:
        """The run as `flowpin run` prints it, plus its step history."""
        try:
            with open_engine(db, None, needs_actions=False) as engine:
                emit(shown_run(engine, run_id, history=True))
        except FlowpinError as exc:
            fail(exc)

    _operators(runs_app)
    _bulk_cancel(runs_app)


def _operators(runs_app: typer.Typer) -> None:
    """cancel, resume and retry: each takes only the options that mean something to it."""

    @runs_app.command("cancel")
    def cancel(run_id: RunIdArgument, db: DbOption = None, actions: ActionsOption = None) -> None:
        """Cancel a run (and its child runs); a canceled run is never revived."""
        _operate(db, actions, lambda engine: engine.cancel(run_id))

    @runs_app.command("resume")
    def resume(run_id: RunIdArgument, db: DbOption = None, actions: ActionsOption = None) -> None:
        """Resume a WAITING run now: fire the timer it waits for."""
        _operate(db, actions, lambda engine: engine.resume(run_id))

    @runs_app.command("retry")
    def retry(
        run_id: RunIdArgument,
        from_step: Annotated[
            str | None,
            typer.Option("--from-step", metavar="STEP_ID", help="Restart at this step."),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Print which action calls would run again; change nothing."
            ),
        ] = False,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Retry a failed run from its failed step, or from --from-step."""
        if dry_run:
            _operate(db, actions, lambda engine: engine.retry_preview(run_id, from_step=from_step))
        else:
            _operate(db, actions, lambda engine: engine.retry(run_id, from_step=from_step))


def _bulk_cancel(runs_app: typer.Typer) -> None:
    @runs_app.command("cancel-matching")
    def cancel_matching(
        workflow: Annotated[
            str | None, typer.Option("--workflow", metavar="KEY", help="Only this workflow.")
        ] = None,
        version: Annotated[
            int | None, typer.Option("--version", metavar="N", min=1, help="Only this version.")
        ] = None,
        status: Annotated[
            str | None,
            typer.Option(
                "--status",
                metavar="STATUS",
                help="pending, running or waiting (several with commas); default: all active.",
            ),
        ] = None,
        subject: Annotated[
            str | None, typer.Option("--subject", metavar="SUBJECT", help="This exact subject.")
        ] = None,
        search: Annotated[
            str | None,
            typer.Option("--search", metavar="TEXT", help="Part of the subject, or a run id."),
        ] = None,
        step: Annotated[
            str | None, typer.Option("--step", metavar="STEP_ID", help="Runs at this step.")
        ] = None,
        yes: Annotated[
            bool, typer.Option("--yes", help="Cancel without asking (scripts).")
        ] = False,
        db: DbOption = None,
    ) -> None:
        """Cancel every active run that matches the filters, after saying how many."""
        from flowpin.engine.run_listing import RunFilter

        selection = RunFilter(
            workflow=workflow,
            version=version,
            status=status or "active",
            subject=subject,
            search=search,
            step=step,
        )
        try:
            with open_engine(db, None, needs_actions=False) as engine:
                matching = engine.cancel_matching(selection, dry_run=True)["matching"]
                if matching and not yes:
                    if not sys.stdin.isatty():
                        raise CliProblem(f"{matching} active runs match: add --yes to cancel them")
                    typer.confirm(f"Cancel {matching} active runs?", abort=True, err=True)
                canceled = 0
                with progress_bar("Canceling runs", matching) as advance_to:
                    while canceled < matching:
                        done = engine.cancel_matching(selection)["canceled"]
                        if not done:
                            break
                        canceled += done
                        advance_to(canceled)
                emit({"matching": matching, "canceled": canceled})
        except FlowpinError as exc:
            fail(exc)


def _operate(db: str | None, actions: list[str] | None, act: Any) -> None:
    try:
        with open_engine(db, actions) as engine:
            emit(act(engine))
    except FlowpinError as exc:
        fail(exc)
