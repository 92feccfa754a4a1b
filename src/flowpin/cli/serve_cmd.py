"""``flowpin serve``: the HTTP API plus an in-process worker on one database (SQLite by default).

On first start (no API key in the database) it creates the default tenant and prints an admin
key once, as ``FLOWPIN_API_KEY=fp_…``. ``--examples`` registers ``examples.actions`` and
publishes the shipped examples (``examples/*.json`` except ``invalid.json``), then installs every
example package (``examples/<name>/__init__.py``):

    def install(engine: Engine) -> None: ...           # register actions, create tables, publish
    def mount(app: FastAPI, engine: Engine) -> None: ... # optional: add HTTP routes

``install`` must be idempotent: it runs on every start.

``--workers N`` (PostgreSQL only) serves from N processes forked after that set-up
(:mod:`flowpin.cli.api_processes`); each runs the app below and, unless ``--no-worker``, an
in-process worker of its own.
"""

from __future__ import annotations

import importlib
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from flowpin.cli.api_processes import serve_in_children
from flowpin.cli.operate_opts import (
    LogFormat,
    LogFormatOption,
    MetricsHostOption,
    MetricsPortOption,
    start_logging,
    start_metrics,
)
from flowpin.cli.problems import CliProblem, check_database_url
from flowpin.cli.runtime_cmds import (
    ActionsOption,
    CpuBudgetOption,
    DbOption,
    EnvSecretsOption,
    GroupOption,
    MaxCallDepthOption,
    MaxChildrenOption,
    MaxStepsOption,
    RedactOption,
    action_modules,
    open_engine,
    worker_options,
)
from flowpin.errors import FlowpinError


def find_examples(explicit: Path | None) -> Path | None:
    """``--examples-dir``, else ``./examples``, else the repository's ``examples``."""
    candidates = [explicit] if explicit else []
    candidates += [Path.cwd() / "examples", Path(__file__).resolve().parents[3] / "examples"]
    for candidate in candidates:
        if candidate is not None and (candidate / "actions.py").is_file():
            return candidate.resolve()
    return None


def say(text: str) -> None:
    typer.echo(text)
    sys.stdout.flush()


def example_packages(folder: Path) -> list[ModuleType]:
    """The packages under ``examples/`` (imported as ``examples.<name>``), by name."""
    return [
        importlib.import_module(f"{folder.name}.{path.parent.name}")
        for path in sorted(folder.glob("*/__init__.py"))
    ]


def bootstrap(engine: Any, examples: Path | None) -> list[ModuleType]:
    """First start: an admin key for the default tenant; then the examples, if asked."""
    if not engine.has_api_keys():
        key = engine.create_api_key("admin", name="created by flowpin serve")
        say(f"flowpin: created tenant {key.tenant!r} and an admin API key (shown only once):")
        say(f"FLOWPIN_API_KEY={key.key}")
    if examples is None:
        return []
    for path in sorted(examples.glob("*.json")):
        if path.name == "invalid.json":
            continue
        try:
            published = engine.publish(path)
        except FlowpinError as exc:
            say(f"flowpin: example {path.name} not published: {exc.message}")
            continue
        say(f"flowpin: example {published.workflow} version {published.version} published")
    packages = example_packages(examples)
    for package in packages:
        package.install(engine)
        say(f"flowpin: example package {package.__name__} installed")
    return packages


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound now: a port in use is a one-line problem before
    anything is created (a first start's admin key is shown only once). Made as a TCP socket
    by name (``IPPROTO_TCP``): asyncio sets ``TCP_NODELAY`` only on connections it knows are
    TCP, and without it a keep-alive client waited ~40 ms (Nagle and delayed ACK) per request."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliProblem(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "stop what uses that port or choose another with --port"
        ) from None
    sock.listen(2048)
    return sock


@dataclass(frozen=True, slots=True)
class Api:
    """What every API process serves: where, the app's limits, and its in-process worker."""

    host: str
    port: int
    worker: bool
    cpu_budget_ms: float | None
    group_ms: float | None
    max_body_bytes: int
    events_per_second: float | None


def announce(api: Api, processes: int) -> None:
    """The start-up lines, printed once whatever the number of processes."""
    where = f"http://{api.host}:{api.port}"
    if processes == 1:
        say(f"flowpin: serving {where}/api (docs at /docs)")
    else:
        workers = "each with its own worker" if api.worker else "no worker"
        say(f"flowpin: serving {where}/api (docs at /docs) from {processes} processes, {workers}")
    from flowpin.api.webui import ui_available

    if ui_available():
        say(f"flowpin: open {where}/ in a browser and sign in with an API key")


def run_api(engine: Any, listener: socket.socket, api: Api, packages: list[ModuleType]) -> None:
    """Serve the app on ``listener`` with the in-process worker until a signal stops uvicorn;
    the worker is stopped (its runs checkpointed) before this returns."""
    import uvicorn

    from flowpin.api import create_app
    from flowpin.api.webui import mount_ui, ui_available

    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        if api.worker:
            thread = threading.Thread(
                target=engine.run_worker,
                kwargs={"stop": stop, "options": worker_options(api.cpu_budget_ms, api.group_ms)},
                name="flowpin-worker",
            )
            thread.start()
        app = create_app(
            engine, max_body_bytes=api.max_body_bytes, events_per_second=api.events_per_second
        )
        for package in packages:
            mount = getattr(package, "mount", None)
            if mount is not None:
                mount(app, engine)
        if ui_available():
            mount_ui(app)
        # log_config=None: uvicorn's records go through flowpin's handler (--log-format)
        config = uvicorn.Config(
            app, host=api.host, port=api.port, log_level="info", log_config=None
        )
        uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled: a clean stop
        pass
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)


def refuse_processes(url: str, metrics_port: int | None) -> None:
    """``--workers N`` with N > 1: PostgreSQL only, and without ``--metrics-port``."""
    import sqlalchemy as sa

    check_database_url(url)
    if sa.make_url(url).get_backend_name() == "sqlite":
        raise CliProblem(
            "--workers above 1 needs PostgreSQL: SQLite takes one writer at a time and one "
            "process already queues its writers, so more processes would only wait on the "
            "file's lock; use --workers 1 or a postgresql:// --db"
        )
    if metrics_port is not None:
        raise CliProblem(
            "--metrics-port serves the counters of one process: use it with --workers 1, or "
            "run 'flowpin worker --metrics-port PORT' processes beside 'serve --no-worker'"
        )


WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        metavar="N",
        min=1,
        help="API processes sharing the port (PostgreSQL only; SQLite refuses N > 1). Each "
        "runs its own in-process worker unless --no-worker, so N processes claim runs with N "
        "workers. The database is migrated and the examples are published once, before they "
        "start; SIGTERM or SIGINT stops them all.",
    ),
]


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[
            str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
        ] = "127.0.0.1",
        port: Annotated[
            int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port to listen on.")
        ] = 8000,
        workers: WorkersOption = 1,
        examples: Annotated[
            bool,
            typer.Option("--examples", help="Register examples.actions and publish examples/."),
        ] = False,
        examples_dir: Annotated[
            Path | None,
            typer.Option("--examples-dir", metavar="DIR", help="Where the examples are."),
        ] = None,
        worker: Annotated[
            bool, typer.Option("--worker/--no-worker", help="Run a worker in this process.")
        ] = True,
        events_per_second: Annotated[
            float | None,
            typer.Option("--events-per-second", help="Per-tenant limit on POST /api/events."),
        ] = None,
        max_body_bytes: Annotated[
            int, typer.Option("--max-body-bytes", help="Larger request bodies get 413.")
        ] = 1024 * 1024,
        db: DbOption = None,
        actions: ActionsOption = None,
        redact_pointer: RedactOption = None,
        max_steps_per_run: MaxStepsOption = None,
        env_secrets_tenant: EnvSecretsOption = None,
        max_call_depth: MaxCallDepthOption = None,
        max_children_per_run: MaxChildrenOption = None,
        cpu_budget_ms: CpuBudgetOption = None,
        group_ms: GroupOption = None,
        metrics_port: MetricsPortOption = None,
        metrics_host: MetricsHostOption = "127.0.0.1",
        log_format: LogFormatOption = LogFormat.text,
    ) -> None:
        """Serve the HTTP API (OpenAPI at /docs) and the web UI (at /) with an in-process worker
        (--workers N: from N processes, on PostgreSQL)."""
        from flowpin.store.database import resolve_url

        url = resolve_url(db)
        if workers > 1:
            refuse_processes(url, metrics_port)
        listener = listen(host, port)  # before a first start prints its one-time admin key
        modules = action_modules(actions)
        folder = find_examples(examples_dir) if examples else None
        if examples:
            if folder is None:
                listener.close()
                raise typer.BadParameter("no examples directory found (use --examples-dir)")
            if str(folder.parent) not in sys.path:
                sys.path.insert(0, str(folder.parent))
            if "examples.actions" not in modules:
                modules.append("examples.actions")
        settings: dict[str, Any] = {
            "redact": redact_pointer,
            "max_steps_per_run": max_steps_per_run,
            "env_secrets_tenants": env_secrets_tenant,
            "max_call_depth": max_call_depth,
            "max_children_per_run": max_children_per_run,
        }
        api = Api(host, port, worker, cpu_budget_ms, group_ms, max_body_bytes, events_per_second)
        engine = open_engine(url, modules, **settings)
        metrics = None
        try:
            start_logging(engine, log_format, "serve")
            metrics = start_metrics(engine, metrics_port, metrics_host)
            if metrics is not None:
                say(f"flowpin: metrics at http://{metrics_host}:{metrics.port}/metrics")
            packages = bootstrap(engine, folder)
            announce(api, workers)
            if workers == 1:
                run_api(engine, listener, api, packages)
                return
        finally:
            if workers == 1:
                listener.close()
            if metrics is not None:
                metrics.stop()
            engine.close()  # with --workers N, before the fork: each process opens its own

        registry = engine.registry  # with the example packages' actions

        def child() -> None:
            own = open_engine(url, modules, registry=registry, upgrade=False, **settings)
            try:
                run_api(own, listener, api, packages)
            finally:
                own.close()

        try:
            code = serve_in_children(listener, workers, child)
        finally:
            listener.close()
        if code:
            raise typer.Exit(code)
