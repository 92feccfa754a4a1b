"""Calling action handlers: async ones on the event loop, sync ones in a thread pool.

Input is validated against the action's input model after secrets are substituted (secrets are
resolved here, at call time, and never leave this function); output against its output model.
Whatever happens becomes an ``ActionResult``: an error is data for the interpreter, which applies
the retry policy and the SPEC §4.3 handling order.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from flowpin.clock import Clock
from flowpin.expressions.values import substitute_secrets
from flowpin.registry.actions import ActionContext, ActionError, RetryAfter
from flowpin.runtime.decisions import ActionResult, CallAction
from flowpin.store.bulk import dumps

log = logging.getLogger("flowpin.worker")

SecretLookup = Callable[[str, str], str]
"""(tenant_id, name) -> value; raises KeyError when the secret is unknown."""


def _error(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"category": category, "message": message, **extra}


class ActionExecutor:
    def __init__(
        self,
        registry: Any,
        clock: Clock,
        secrets: SecretLookup,
        *,
        threads: int = 16,
        stubs: dict[str, Callable[..., Any]] | None = None,
        max_output_bytes: int = 1024 * 1024,
    ) -> None:
        """``max_output_bytes``: bound on an action's output as JSON (SPEC §8 limits)."""
        self.registry = registry
        self.clock = clock
        self.secrets = secrets
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flowpin-action")
        self._sync = _SyncBatcher(self.pool, threads)
        self.stubs = stubs or {}
        self.max_output_bytes = max_output_bytes

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def execute(self, call: CallAction, context: dict[str, Any]) -> ActionResult:
        try:
            output = await self._execute(call, context)
        except _Failed as failed:
            return ActionResult(
                token=call.token, attempt=call.attempt, at=self.clock.now(), error=failed.error
            )
        return ActionResult(
            token=call.token, attempt=call.attempt, at=self.clock.now(), output=output
        )

    async def _execute(self, call: CallAction, context: dict[str, Any]) -> Any:
        stub = self.stubs.get(f"{call.action_id}@{call.version}") or self.stubs.get(call.action_id)
        spec = self.registry.action(call.action_id, call.version)
        if spec is None and stub is None:
            raise _Failed(
                _error(
                    "ValidationError",
                    f"action {call.action_id}@{call.version} is not registered in this worker",
                )
            )
        raw_input = call.input
        if call.step_id in context["secret_steps"]:
            try:
                raw_input = substitute_secrets(
                    call.input, lambda name: self.secrets(context["tenant_id"], name)
                )
            except KeyError as exc:
                raise _Failed(
                    _error("ValidationError", f"unknown secret {exc.args[0]!r}")
                ) from None
        ctx = ActionContext(
            run_id=context["run_id"],
            step_id=call.step_id,
            workflow_key=context["workflow_key"],
            version=context["version"],
            attempt=call.attempt,
            idempotency_key=call.idempotency_key,
            tenant_id=context["tenant_id"],
        )
        if stub is not None:
            handler: Callable[..., Any] = stub
            value: Any = raw_input
            is_async = inspect.iscoroutinefunction(stub)
            wants_ctx = _accepts_two(stub)
        else:
            handler = spec.handler
            is_async = spec.is_async
            wants_ctx = spec.takes_context
            try:
                value = spec.validate_input(raw_input)
            except ValidationError as exc:
                raise _Failed(
                    _error(
                        "ValidationError",
                        f"input of {call.action_id}@{call.version} is invalid: {_first_error(exc)}",
                        data={"errors": _errors(exc)},
                    )
                ) from None
        args = (value, ctx) if wants_ctx else (value,)
        timeout = call.timeout_ms / 1000 if call.timeout_ms else None
        try:
            if is_async:
                output = await asyncio.wait_for(handler(*args), timeout)
            else:
                pending = self._sync.submit(lambda: handler(*args))
                output = await (asyncio.wait_for(pending, timeout) if timeout else pending)
        except TimeoutError:
            raise _Failed(
                _error("TimeoutError", f"action timed out after {call.timeout_ms} ms")
            ) from None
        except RetryAfter as exc:
            raise _Failed(
                _error(
                    "TransientError",
                    str(exc) or "action asked to be retried later",
                    retryable=True,
                    retryAfterMs=int(exc.seconds * 1000),
                )
            ) from None
        except ActionError as exc:
            raise _Failed(
                _error("ActionError", exc.message, retryable=exc.retryable, data=exc.data)
            ) from None
        except Exception as exc:  # a handler's bug or its dependency's failure is data
            retryable = bool(spec.is_retryable(exc)) if spec is not None else False
            log.info("action %s@%s raised %r", call.action_id, call.version, exc)
            raise _Failed(
                _error("ActionError", f"{type(exc).__name__}: {exc}", retryable=retryable)
            ) from None
        if spec is None:
            return _to_json(output)
        try:
            validated = spec.validate_output(output)
        except ValidationError as exc:
            raise _Failed(
                _error(
                    "ValidationError",
                    f"output of {call.action_id}@{call.version} is invalid: {_first_error(exc)}",
                    data={"errors": _errors(exc)},
                )
            ) from None
        size = len(dumps(validated))
        if size > self.max_output_bytes:
            raise _Failed(
                _error(
                    "ValidationError",
                    f"output of {call.action_id}@{call.version} is {size} bytes as JSON; "
                    f"the limit is {self.max_output_bytes}",
                )
            )
        return validated


class _SyncBatcher:
    """Hands sync handler calls to the thread pool in chunks.

    One thread hop per call dominated a trivial action's cost (measured: more than the
    checkpoint), so the calls that become ready in one event-loop iteration are split into one
    chunk per thread; each thread runs its chunk and posts all results back at once. A slow
    handler delays only the calls queued behind it in its own chunk.
    """

    def __init__(self, pool: ThreadPoolExecutor, threads: int) -> None:
        self.pool = pool
        self.threads = threads
        self.queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self.scheduled = False

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.queue.append((fn, future))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.scheduled = False
        items, self.queue = self.queue, []
        size = max(1, -(-len(items) // self.threads))
        for start in range(0, len(items), size):
            self.pool.submit(self._run, loop, items[start : start + size])

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        chunk: list[tuple[Callable[[], Any], asyncio.Future[Any]]],
    ) -> None:
        done: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        for fn, future in chunk:
            try:
                done.append((future, fn(), None))
            except BaseException as exc:
                done.append((future, None, exc))
        loop.call_soon_threadsafe(self._deliver, done)

    @staticmethod
    def _deliver(done: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
        for future, value, exc in done:
            if future.done():
                continue  # timed out meanwhile
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(value)


class _Failed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


def _to_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _accepts_two(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{location}: {first['msg']}" if location else first["msg"]


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]


def now_of(clock: Clock) -> datetime:
    return clock.now()
