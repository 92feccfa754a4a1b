"""``flowpin ingest-eml FILE...``: real ``.eml`` files into the helpdesk example.

Each file is received the way ``examples.helpdesk`` receives mail (``examples/helpdesk/
inbound.py``, the claim check): its bytes are stored in ``helpdesk_inbound`` under their sha256,
then the event ``email.received`` is submitted with a reference to them, never the message::

    {"ref": "<sha256 hex>", "size": 1358, "messageId": "<…>", "from": "…", "to": "…",
     "subject": "…"}

The event's key and ``eventId`` are the Message-ID (or ``sha256:<ref>``), so ingesting the same
file twice is deduplicated by flowpin, and the same bytes are stored once.

Two ways in: straight into a database (``--db``; ``--install examples.helpdesk`` installs the
helpdesk's tables, actions and workflow first; ``--work`` runs a worker until idle after each
file, so files are handled in the order given), or through a running server (``--api
http://127.0.0.1:8000`` with ``--key`` or ``FLOWPIN_API_KEY``, editor role or above: ``POST
/examples/helpdesk/inbound`` with the raw bytes as ``message/rfc822``; the server's
``--max-body-bytes``, 1 MiB by default, bounds a message). Prints one JSON line per file: its
``ref``, the event id and the runs it started or resumed (with ``--work``, how they ended).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from flowpin.cli.progress import progress_bar
from flowpin.cli.runtime_cmds import (
    ActionsOption,
    DbOption,
    install_packages,
    open_engine,
    shown_run,
)
from flowpin.errors import FlowpinError

INBOUND_ROUTE = "/examples/helpdesk/inbound"


def _helpdesk() -> tuple[ModuleType, ModuleType]:
    """``examples.helpdesk.inbound`` and ``.store`` (the repository's, or the current
    directory's ``examples`` package)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        inbound = importlib.import_module("examples.helpdesk.inbound")
        store = importlib.import_module("examples.helpdesk.store")
    except ImportError as exc:
        raise typer.BadParameter(
            f"ingest-eml stores messages through examples.helpdesk, which cannot be imported "
            f"({exc}): run it from the repository root"
        ) from None
    return inbound, store


def line(value: dict[str, Any]) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None


def ingest_into_db(
    files: list[Path], db: str | None, actions: list[str] | None, install: list[str], work: bool
) -> int:
    """With ``work``, each file's runs are worked before the next file is submitted, so a
    reply ingested after its original finds the ticket the original made."""
    inbound, tables = _helpdesk()
    failures = 0
    with open_engine(db, actions) as engine:
        install_packages(engine, install)
        store = tables.HelpdeskStore(engine.db, engine.clock)
        store.create_tables()
        with progress_bar("Ingesting", len(files)) as advance_to:
            for done, path in enumerate(files, 1):
                failures += _ingest_file(engine, inbound, store, path, work)
                advance_to(done)
    return failures


def _ingest_file(engine: Any, inbound: Any, store: Any, path: Path, work: bool) -> int:
    """Store one file and submit its event, printing its line; 1 when it failed."""
    data = _read(path)
    try:
        received = inbound.receive(engine, store, data)
    except FlowpinError as exc:
        line({"file": str(path), "error": exc.to_dict()})
        return 1
    result = {"file": str(path), **received}
    if work:
        engine.run_worker(until_idle=True)
        ids = received["started"] + received["resumed"]
        result["runs"] = [_run_summary(shown_run(engine, run_id)) for run_id in ids]
    line(result)
    return 0


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """The run's id, workflow, status, last ``meta.state`` and output (not its payload)."""
    meta = (run.get("state") or {}).get("meta") or {}
    return {
        "runId": run["runId"],
        "workflow": run["workflow"],
        "status": run["status"],
        "state": meta.get("state"),
        "output": run.get("output"),
        "error": run.get("error"),
    }


def ingest_through_api(files: list[Path], api: str, key: str | None, timeout: float) -> int:
    import httpx

    if not key:
        raise typer.BadParameter("--api needs an API key: --key or FLOWPIN_API_KEY")
    failures = 0
    base = api.rstrip("/").removesuffix("/api")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"}
    with (
        httpx.Client(timeout=timeout, headers=headers) as client,
        progress_bar("Sending", len(files)) as advance_to,
    ):
        for done, path in enumerate(files, 1):
            advance_to(done - 1)
            try:
                response = client.post(f"{base}{INBOUND_ROUTE}", content=_read(path))
            except httpx.HTTPError as exc:
                failures += 1
                line({"file": str(path), "error": {"code": "http.error", "message": str(exc)}})
                continue
            body = _json(response)
            if response.status_code >= 400:
                failures += 1
                error = body.get("error") if isinstance(body, dict) else None
                line({"file": str(path), "status": response.status_code, "error": error or body})
                continue
            line({"file": str(path), **body})
        advance_to(len(files))
    return failures


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:500]}


def register(app: typer.Typer) -> None:
    @app.command("ingest-eml")
    def ingest_eml(
        files: Annotated[
            list[Path], typer.Argument(metavar="FILE...", help="RFC 5322 message files (.eml).")
        ],
        api: Annotated[
            str | None,
            typer.Option(
                "--api", metavar="URL", help="A running flowpin server (http://127.0.0.1:8000)."
            ),
        ] = None,
        key: Annotated[
            str | None,
            typer.Option(
                "--key", metavar="KEY", envvar="FLOWPIN_API_KEY", help="API key for --api."
            ),
        ] = None,
        install: Annotated[
            list[str] | None,
            typer.Option(
                "--install",
                metavar="PACKAGE",
                help="Package whose install(engine) to call first, e.g. examples.helpdesk "
                "(database mode; repeatable).",
            ),
        ] = None,
        work: Annotated[
            bool, typer.Option("--work", help="Then work the started runs until idle (--db).")
        ] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", metavar="SECONDS", help="HTTP timeout.")
        ] = 30.0,
        db: DbOption = None,
        actions: ActionsOption = None,
    ) -> None:
        """Store each .eml FILE, submit email.received with its ref; one JSON line per file."""
        if api is not None:
            if db is not None or work or install:
                raise typer.BadParameter(
                    "--api sends to a server: --db, --work, --install are for the database mode"
                )
            failures = ingest_through_api(files, api, key, timeout)
        else:
            failures = ingest_into_db(files, db, actions, list(install or []), work)
        if failures:
            raise typer.Exit(1)
