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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from flowpin.clock import Clock
from flowpin.expressions.values import substitute_secrets
from flowpin.observability import tracing
from flowpin.observability.metrics import ACTION_SECONDS
from flowpin.registry.actions import ActionContext, ActionError, RetryAfter
from flowpin.registry.errors import failure_message
from flowpin.runtime.decisions import ActionResult, CallAction
from flowpin.security.redaction import scrub_secrets
from flowpin.store.bulk import dumps

log = logging.getLogger("flowpin.worker")

Deliver = Callable[[Any, BaseException | None], None]
"""Receives a sync handler's return value or exception, on the event loop."""

MayStart = Callable[[], bool]
"""Asked in the thread right before a queued sync call would start: whether it still may."""

_Queued = tuple[Callable[[], Any], Deliver, MayStart | None, Any]

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
        self._latency: dict[tuple[str, int], Any] = {}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def execute(self, call: CallAction, context: dict[str, Any]) -> ActionResult:
        try:
            prepared = self._prepare(call, context)
        except _Failed as failed:
            return self._failure(call, failed)
        try:
            if prepared.is_async:
                output = await asyncio.wait_for(prepared.invoke(), prepared.timeout)
            else:
                pending = self._sync.submit(prepared.invoke, prepared.kind)
                output = await (
                    asyncio.wait_for(pending, prepared.timeout) if prepared.timeout else pending
                )
        except Exception as exc:
            return self._result(call, prepared, None, exc)
        return self._result(call, prepared, output, None)

    def submit(
        self,
        call: CallAction,
        context: dict[str, Any],
        on_done: Callable[[ActionResult], None],
        *,
        may_start: MayStart | None = None,
        on_dropped: Callable[[], None] | None = None,
    ) -> asyncio.Future[Any] | None:
        """The worker's form of ``execute``: ``on_done`` gets the result on the event loop.

        A sync handler costs no task and no future here, only a place in a thread's chunk;
        that per-call overhead was a large share of a trivial action step. Returns what can
        be cancelled (an async handler's task), if anything.

        A queued sync call cannot be cancelled, and may wait in its chunk behind slow calls
        while its worker lets go of the run (or its lease passes): ``may_start`` is asked in
        the thread right before the handler would start, and when it says no the handler is
        not called; ``on_dropped`` is then called on the loop instead of ``on_done`` (the run's
        next claimant makes the call).
        """
        try:
            prepared = self._prepare(call, context)
        except _Failed as failed:
            on_done(self._failure(call, failed))
            return None
        finished = False

        def finish(output: Any, exc: BaseException | None) -> None:
            nonlocal finished
            if finished:
                return  # timed out meanwhile, or the handler returned after its timeout
            finished = True
            if isinstance(exc, _NotStarted):
                if prepared.span is not None:
                    tracing.end_span(prepared.span, "not started: the run was let go")
                if on_dropped is not None:
                    on_dropped()
                return
            on_done(self._result(call, prepared, output, exc))

        if prepared.is_async:
            task = asyncio.ensure_future(asyncio.wait_for(prepared.invoke(), prepared.timeout))

            def collect(done: asyncio.Future[Any]) -> None:
                if not done.cancelled():
                    exc = done.exception()
                    finish(None if exc else done.result(), exc)

            task.add_done_callback(collect)
            return task
        self._sync.submit_callback(prepared.invoke, finish, may_start, prepared.kind)
        if prepared.timeout:
            asyncio.get_running_loop().call_later(prepared.timeout, finish, None, TimeoutError())
        return None

    def is_transactional(self, call: CallAction) -> bool:
        """Whether ``call`` runs inside the database transaction that records it (a stub
        never does)."""
        spec = self.registry.action(call.action_id, call.version)
        if spec is None or not spec.transactional:
            return False
        return not self._stub(call)

    def run_in_transaction(
        self, call: CallAction, context: dict[str, Any], connection: Any
    ) -> ActionResult:
        """Call a transactional handler on this thread with ``ctx.connection``; the caller
        owns the transaction (and rolls the handler's writes back if this is an error)."""
        try:
            prepared = self._prepare(call, context, connection=connection)
        except _Failed as failed:
            return self._failure(call, failed)
        try:
            output = prepared.invoke()
        except Exception as exc:
            return self._result(call, prepared, None, exc)
        return self._result(call, prepared, output, None)

    def _prepare(
        self, call: CallAction, context: dict[str, Any], connection: Any = None
    ) -> _Prepared:
        """Resolve the handler, substitute secrets and validate the input; ``_Failed`` if the
        call cannot be made."""
        stub = self._stub(call)
        spec = self.registry.action(call.action_id, call.version)
        if spec is None and stub is None:
            raise _Failed(
                _error(
                    "ValidationError",
                    f"action {call.action_id}@{call.version} is not registered in this worker",
                )
            )
        raw_input = call.input
        resolved: list[str] = []
        if call.step_id in context["secret_steps"]:

            def lookup(name: str) -> str:
                value = self.secrets(context["tenant_id"], name)
                resolved.append(value)
                return value

            try:
                raw_input = substitute_secrets(call.input, lookup)
            except KeyError as exc:
                name = exc.args[0]
                raise _Failed(
                    _error(
                        "ValidationError",
                        f"secret {name!r} not found (secret.not_found)",
                        data={"code": "secret.not_found", "secret": name},
                    )
                ) from None
        span = None
        if tracing.tracer() is not None:  # not even the attributes otherwise: every call asks
            span = tracing.start_span(
                f"action {call.action_id}@{call.version}",
                context.get("traceparent"),
                {
                    **tracing.run_attributes(
                        context["run_id"], context["workflow_key"], context["version"], call.step_id
                    ),
                    "flowpin.action": f"{call.action_id}@{call.version}",
                    "flowpin.attempt": call.attempt,
                },
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
                error = _error(
                    "ValidationError",
                    f"input of {call.action_id}@{call.version} is invalid: {_first_error(exc)}",
                    data={"errors": _errors(exc)},
                )
                if span is not None:
                    tracing.end_span(span, "ValidationError")
                raise _Failed(scrub_secrets(error, resolved)) from None
        if wants_ctx:  # a context only for a handler that takes one (most do not)
            ctx = ActionContext(
                run_id=context["run_id"],
                step_id=call.step_id,
                workflow_key=context["workflow_key"],
                version=context["version"],
                attempt=call.attempt,
                idempotency_key=call.idempotency_key,
                tenant_id=context["tenant_id"],
                fence=context.get("fence"),
                connection=connection,
                traceparent=None if span is None else tracing.traceparent_of(span),
            )
            args: tuple[Any, ...] = (value, ctx)
        else:
            args = (value,)
        timeout = call.timeout_ms / 1000 if call.timeout_ms else None
        return _Prepared(
            handler=handler,
            args=args,
            is_async=is_async,
            spec=None if stub is not None else spec,
            timeout=timeout,
            secrets=tuple(resolved),
            started=self.clock.now(),
            began=time.perf_counter(),
            span=span,
        )

    def _stub(self, call: CallAction) -> Callable[..., Any] | None:
        """The stub standing in for ``call``'s action (by ``id@version``, then by id), if any."""
        if not self.stubs:
            return None
        return self.stubs.get(f"{call.action_id}@{call.version}") or self.stubs.get(call.action_id)

    def _failure(
        self, call: CallAction, failed: _Failed, started: datetime | None = None
    ) -> ActionResult:
        return ActionResult(
            token=call.token,
            attempt=call.attempt,
            at=self.clock.now(),
            error=failed.error,
            started=started,
        )

    def _result(
        self, call: CallAction, prepared: _Prepared, output: Any, exc: BaseException | None
    ) -> ActionResult:
        """What the handler returned or raised, as data for the interpreter. The secret values
        resolved for the call are scrubbed from both: a handler echoing its secret must not
        put it into the run's state, the ledger or history."""
        latency = self._latency.get((call.action_id, call.version))
        if latency is None:  # the labelled child, looked up once per action (lock, f-string)
            latency = self._latency[call.action_id, call.version] = ACTION_SECONDS.labels(
                f"{call.action_id}@{call.version}"
            )
        latency.observe(time.perf_counter() - prepared.began)
        try:
            value = self._check(call, prepared, output, exc)
        except _Failed as failed:
            if prepared.secrets:
                failed.error = scrub_secrets(failed.error, prepared.secrets)
            if prepared.span is not None:
                tracing.end_span(prepared.span, failed.error.get("category"))
            return self._failure(call, failed, prepared.started)
        if prepared.span is not None:
            tracing.end_span(prepared.span)
        if prepared.secrets:
            value = scrub_secrets(value, prepared.secrets)
        return ActionResult(
            token=call.token,
            attempt=call.attempt,
            at=self.clock.now(),
            output=value,
            started=prepared.started,
        )

    def _check(
        self, call: CallAction, prepared: _Prepared, output: Any, exc: BaseException | None
    ) -> Any:
        spec = prepared.spec
        if isinstance(exc, TimeoutError):
            raise _Failed(_error("TimeoutError", f"action timed out after {call.timeout_ms} ms"))
        if isinstance(exc, RetryAfter):
            raise _Failed(
                _error(
                    "TransientError",
                    str(exc) or "action asked to be retried later",
                    retryable=True,
                    retryAfterMs=int(exc.seconds * 1000),
                )
            )
        if isinstance(exc, ActionError):
            raise _Failed(
                _error("ActionError", exc.message, retryable=exc.retryable, data=exc.data)
            )
        if exc is not None:  # a handler's bug or its dependency's failure is data
            if not isinstance(exc, Exception):
                raise exc
            retryable = bool(spec.is_retryable(exc)) if spec is not None else False
            log.info(
                "action %s@%s raised %s",
                call.action_id,
                call.version,
                scrub_secrets(repr(exc), prepared.secrets),
            )
            raise _Failed(_error("ActionError", failure_message(exc), retryable=retryable))
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


@dataclass(slots=True)
class _Prepared:
    handler: Callable[..., Any]
    args: tuple[Any, ...]
    is_async: bool
    spec: Any
    """The registered action; ``None`` for a stub (its output is taken as is)."""
    timeout: float | None
    secrets: tuple[str, ...] = ()
    """The secret values substituted into the input (scrubbed from the result)."""
    started: datetime | None = None
    """When the call was made (the run viewer's start and duration of the step)."""
    began: float = 0.0
    """``time.perf_counter()`` when the call was made (the action latency metric)."""
    span: Any = None
    """The call's OpenTelemetry span, when tracing (ended with the result)."""

    def invoke(self) -> Any:
        return self.handler(*self.args)

    @property
    def kind(self) -> Any:
        """What the call's time is averaged under (``_SyncBatcher``): its handler."""
        return self.handler


QUICK_CALL_SECONDS = 0.0002
"""An action whose calls take at most this long on average is *quick*: its calls share chunks."""
QUICK_CHUNK_SECONDS = 0.001
"""About how much work of quick calls one chunk takes on."""
QUICK_CHUNK_MAX = 64
"""The most calls of one chunk of quick calls (what one slow call could hold up behind it)."""


class _SyncBatcher:
    """Hands sync handler calls to the thread pool in chunks.

    One thread hop per call dominated a trivial action's cost (measured: more than the
    checkpoint), so the calls that become ready in one event-loop iteration are split into one
    chunk per thread; each thread runs its chunk and posts all results back at once. A slow
    handler delays only the calls queued behind it in its own chunk. A call's ``may_start``,
    if any, is asked right before it starts; a call that may not is skipped and delivered as
    ``_NotStarted``.

    Calls of a *quick* action (its calls' mean time, kept per action, at most
    ``QUICK_CALL_SECONDS``) are packed into fewer chunks, about ``QUICK_CHUNK_SECONDS`` of work
    and at most ``QUICK_CHUNK_MAX`` calls each: a chunk per thread woke up to 16 threads for
    microseconds of work each, and each took the GIL from the event loop and posted its results
    back on its own (measured on W1, 100 trivial calls per pass: ~10 % of the worker's time).
    An action not yet timed, or slower, is chunked as before.
    """

    def __init__(self, pool: ThreadPoolExecutor, threads: int) -> None:
        self.pool = pool
        self.threads = threads
        self.queue: list[_Queued] = []
        self.scheduled = False
        self.typical: dict[Any, float] = {}
        """By action: the mean seconds of its calls (a moving average, updated on the loop)."""

    def submit(self, fn: Callable[[], Any], kind: Any = None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def deliver(value: Any, exc: BaseException | None) -> None:
            if future.done():
                return  # timed out meanwhile
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(value)

        self.submit_callback(fn, deliver, kind=kind)
        return future

    def submit_callback(
        self,
        fn: Callable[[], Any],
        deliver: Deliver,
        may_start: MayStart | None = None,
        kind: Any = None,
    ) -> None:
        """Run ``fn`` in a thread; ``deliver(value, exception)`` is called on the loop.
        ``kind``: what the call's time is averaged under (its action); None: never quick."""
        self.queue.append((fn, deliver, may_start, kind))
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._flush, asyncio.get_running_loop())

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.scheduled = False
        items, self.queue = self.queue, []
        typical = self.typical
        quick: list[_Queued] = []
        others: list[_Queued] = []
        slowest = 0.0
        for item in items:
            seconds = typical.get(item[3]) if item[3] is not None else None
            if seconds is not None and seconds <= QUICK_CALL_SECONDS:
                quick.append(item)
                slowest = max(slowest, seconds)
            else:
                others.append(item)
        if others:
            size = max(1, -(-len(others) // self.threads))
            for start in range(0, len(others), size):
                self.pool.submit(self._run, loop, others[start : start + size])
        if quick:
            size = min(QUICK_CHUNK_MAX, max(1, int(QUICK_CHUNK_SECONDS / max(slowest, 1e-6))))
            size = max(size, -(-len(quick) // self.threads))
            for start in range(0, len(quick), size):
                self.pool.submit(self._run, loop, quick[start : start + size])

    def _run(self, loop: asyncio.AbstractEventLoop, chunk: list[_Queued]) -> None:
        done: list[tuple[Deliver, Any, BaseException | None]] = []
        timed: list[tuple[Any, float]] = []
        clock = time.perf_counter
        for fn, deliver, may_start, kind in chunk:
            if may_start is not None and not may_start():
                done.append((deliver, None, _NotStarted()))
                continue
            began = clock()
            try:
                done.append((deliver, fn(), None))
            except BaseException as exc:
                done.append((deliver, None, exc))
            if kind is not None:
                timed.append((kind, clock() - began))
        loop.call_soon_threadsafe(self._deliver, done, timed)

    def _deliver(
        self, done: list[tuple[Deliver, Any, BaseException | None]], timed: list[tuple[Any, float]]
    ) -> None:
        typical = self.typical
        for kind, seconds in timed:
            mean = typical.get(kind)
            typical[kind] = seconds if mean is None else mean + (seconds - mean) * 0.2
        for deliver, value, exc in done:
            try:
                deliver(value, exc)
            except Exception:  # one caller's failure must not lose the others' results
                log.exception("delivering an action result failed")


class _NotStarted(Exception):
    """A queued call its ``may_start`` stopped: the handler was not called."""


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
